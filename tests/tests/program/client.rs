//! The program's `client` module without a bank: each builder's account list, in the
//! order and with the privileges the program's `Accounts` structs declare (restated here
//! by hand, so a key passed into the wrong slot fails), its instruction's discriminator,
//! the remaining accounts of an execution, and the readers of thread and nonce accounts
//! against the system's own nonce types. Every builder is also sent to the bank by the
//! flow tests beside this file.

use anchor_lang::{AccountSerialize, Discriminator};
use solana_nonce::state::{Data, DurableNonce, State};
use solana_nonce::versions::Versions;
use solana_sdk::account::Account;
use solana_sdk::account_utils::StateMut;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::pubkey::Pubkey;
use solana_sdk_ids::{system_program, sysvar};
use solana_system_interface::instruction as system_instruction;
use thread::client::{self, NonceData, NonceState, NONCE_ACCOUNT_LEN};
use thread::instruction as ix_data;
use thread::instructions::{CreateThreadArgs, InstructionPiece, UpdateThreadArgs};
use thread::state::{Durability, RateLimit, Thread, ThreadInstruction, Trigger, MAX_ID_LEN};
use thread_tests::{hand_built_thread, recorder};

/// The accounts a test names, one role each.
struct Keys {
    owner: Pubkey,
    thread: Pubkey,
    nonce: Pubkey,
    new_nonce: Pubkey,
    keeper: Pubkey,
    watched: Pubkey,
}

fn keys() -> Keys {
    let owner = Pubkey::new_unique();
    Keys {
        owner,
        thread: Thread::address(&owner, b"t").0,
        nonce: Pubkey::new_unique(),
        new_nonce: Pubkey::new_unique(),
        keeper: Pubkey::new_unique(),
        watched: Pubkey::new_unique(),
    }
}

fn signer_writable(key: Pubkey) -> AccountMeta {
    AccountMeta::new(key, true)
}

fn signer(key: Pubkey) -> AccountMeta {
    AccountMeta::new_readonly(key, true)
}

fn writable(key: Pubkey) -> AccountMeta {
    AccountMeta::new(key, false)
}

fn readonly(key: Pubkey) -> AccountMeta {
    AccountMeta::new_readonly(key, false)
}

/// The two accounts `emit_cpi!` adds to every instruction, last of the fixed ones.
fn event_accounts() -> [AccountMeta; 2] {
    [readonly(client::event_authority()), readonly(thread::ID)]
}

/// The sysvars and program the system program's nonce instructions take.
fn nonce_sysvars() -> [AccountMeta; 3] {
    [
        readonly(sysvar::recent_blockhashes::ID),
        readonly(sysvar::rent::ID),
        readonly(system_program::ID),
    ]
}

/// An absent optional account: Anchor passes the program id in its place.
fn absent() -> AccountMeta {
    readonly(thread::ID)
}

fn args(trigger: Trigger) -> CreateThreadArgs {
    CreateThreadArgs {
        id: b"t".to_vec(),
        trigger,
        instructions: vec![],
        fee_per_exec: 1_000,
        rate_limit: RateLimit::default(),
        deposit: 1,
        priority: None,
        lookup_tables: vec![],
    }
}

fn watching(address: Pubkey) -> Trigger {
    Trigger::Account {
        address,
        offset: 0,
        size: 8,
    }
}

/// Asserts `ix` is the thread program's instruction `D` with exactly `accounts`.
fn assert_instruction<D: Discriminator>(ix: &Instruction, accounts: Vec<AccountMeta>) {
    assert_eq!(ix.program_id, thread::ID);
    assert_eq!(&ix.data[..D::DISCRIMINATOR.len()], D::DISCRIMINATOR);
    assert_eq!(ix.accounts, accounts);
}

#[test]
fn owner_builders_put_each_account_in_its_slot() {
    let k = keys();
    let [event_authority, program] = event_accounts();
    let [blockhashes, rent, system] = nonce_sysvars();

    // `create_thread`, `update_thread` and `append_thread_instruction` take the same
    // accounts.
    let owner_thread_system = vec![
        signer_writable(k.owner),
        writable(k.thread),
        system.clone(),
        event_authority.clone(),
        program.clone(),
    ];
    let ix = client::create_thread(&k.owner, &k.thread, args(Trigger::Now));
    assert_instruction::<ix_data::CreateThread>(&ix, owner_thread_system.clone());
    let ix = client::create_thread_with_nonce(&k.owner, &k.thread, &k.nonce, args(Trigger::Now), 9);
    assert_instruction::<ix_data::CreateThreadWithNonce>(
        &ix,
        vec![
            signer_writable(k.owner),
            writable(k.thread),
            signer_writable(k.nonce),
            blockhashes.clone(),
            rent.clone(),
            system.clone(),
            event_authority.clone(),
            program.clone(),
        ],
    );
    let ix = client::update_thread(&k.owner, &k.thread, UpdateThreadArgs::default());
    assert_instruction::<ix_data::UpdateThread>(&ix, owner_thread_system.clone());
    let piece = InstructionPiece::Continuation {
        accounts: vec![],
        data: vec![1],
    };
    let ix = client::append_thread_instruction(&k.owner, &k.thread, piece);
    assert_instruction::<ix_data::AppendThreadInstruction>(&ix, owner_thread_system);
    let paused = vec![
        signer(k.owner),
        writable(k.thread),
        event_authority.clone(),
        program.clone(),
    ];
    let ix = client::pause_thread(&k.owner, &k.thread);
    assert_instruction::<ix_data::PauseThread>(&ix, paused.clone());
    let ix = client::resume_thread(&k.owner, &k.thread);
    assert_instruction::<ix_data::ResumeThread>(&ix, paused.clone());
    let ix = client::revoke_lease(&k.owner, &k.thread);
    assert_instruction::<ix_data::RevokeLease>(&ix, paused);
    let ix = client::withdraw_thread(&k.owner, &k.thread, 5);
    assert_instruction::<ix_data::WithdrawThread>(
        &ix,
        vec![
            signer_writable(k.owner),
            writable(k.thread),
            event_authority.clone(),
            program.clone(),
        ],
    );
}

#[test]
fn durability_and_deletion_builders_put_each_account_in_its_slot() {
    let k = keys();
    let with_nonce_sysvars = |mut accounts: Vec<AccountMeta>| {
        accounts.extend(nonce_sysvars());
        accounts.extend(event_accounts());
        accounts
    };

    let ix = client::delete_thread(&k.owner, &k.thread, Some(k.nonce), Some(k.keeper));
    assert_instruction::<ix_data::DeleteThread>(
        &ix,
        with_nonce_sysvars(vec![
            signer_writable(k.owner),
            writable(k.thread),
            writable(k.nonce),
            writable(k.keeper),
        ]),
    );
    let ix = client::delete_thread(&k.owner, &k.thread, None, None);
    assert_instruction::<ix_data::DeleteThread>(
        &ix,
        with_nonce_sysvars(vec![
            signer_writable(k.owner),
            writable(k.thread),
            absent(),
            absent(),
        ]),
    );
    let ix = client::make_thread_durable(&k.owner, &k.thread, &k.nonce, 9);
    assert_instruction::<ix_data::MakeThreadDurable>(
        &ix,
        with_nonce_sysvars(vec![
            signer_writable(k.owner),
            writable(k.thread),
            signer_writable(k.nonce),
        ]),
    );
    let ix = client::make_thread_non_durable(&k.owner, &k.thread, &k.nonce);
    assert_instruction::<ix_data::MakeThreadNonDurable>(
        &ix,
        with_nonce_sysvars(vec![
            signer_writable(k.owner),
            writable(k.thread),
            writable(k.nonce),
        ]),
    );
    let ix = client::rotate_thread_nonce(&k.owner, &k.thread, &k.nonce, &k.new_nonce);
    assert_instruction::<ix_data::RotateThreadNonce>(
        &ix,
        with_nonce_sysvars(vec![
            signer_writable(k.owner),
            writable(k.thread),
            writable(k.nonce),
            signer_writable(k.new_nonce),
        ]),
    );
}

#[test]
fn lease_builders_put_each_account_in_its_slot() {
    let k = keys();
    let [event_authority, program] = event_accounts();
    let [blockhashes, rent, system] = nonce_sysvars();

    let ix = client::claim_lease(&k.keeper, &k.thread, &k.nonce, 10, 20);
    assert_instruction::<ix_data::ClaimLease>(
        &ix,
        vec![
            signer_writable(k.keeper),
            writable(k.thread),
            writable(k.nonce),
            system.clone(),
            event_authority.clone(),
            program.clone(),
        ],
    );
    let ix = client::renew_lease(&k.keeper, &k.thread, &k.nonce, 10);
    assert_instruction::<ix_data::RenewLease>(
        &ix,
        vec![
            signer(k.keeper),
            writable(k.thread),
            readonly(k.nonce),
            event_authority.clone(),
            program.clone(),
        ],
    );
    let caller = Pubkey::new_unique();
    let release = vec![
        signer(caller),
        writable(k.thread),
        writable(k.keeper),
        readonly(k.nonce),
        event_authority.clone(),
        program.clone(),
    ];
    let ix = client::release_lease(&caller, &k.thread, &k.keeper, &k.nonce);
    assert_instruction::<ix_data::ReleaseLease>(&ix, release);
    let ix = client::forfeit_lease(&caller, &k.thread, &k.owner, &k.nonce, &k.new_nonce);
    assert_instruction::<ix_data::ForfeitLease>(
        &ix,
        vec![
            signer_writable(caller),
            writable(k.thread),
            writable(k.owner),
            readonly(k.nonce),
            signer_writable(k.new_nonce),
            blockhashes,
            rent,
            system,
            event_authority,
            program,
        ],
    );
}

#[test]
fn the_authority_goes_back_before_the_release_and_only_when_the_caller_holds_it() {
    let k = keys();
    let release = client::release_lease(&k.keeper, &k.thread, &k.keeper, &k.nonce);
    let handed_back = system_instruction::authorize_nonce_account(&k.nonce, &k.keeper, &k.thread);
    assert_eq!(
        client::return_nonce_authority(&k.nonce, &k.keeper, &k.thread),
        handed_back
    );
    assert_eq!(
        client::return_and_release(&k.keeper, &k.thread, &k.keeper, &k.nonce, true),
        [handed_back, release.clone()]
    );
    assert_eq!(
        client::return_and_release(&k.keeper, &k.thread, &k.keeper, &k.nonce, false),
        [release]
    );
}

#[test]
fn an_account_trigger_brings_its_watched_account_read_only_once() {
    let k = keys();
    let created = client::create_thread(&k.owner, &k.thread, args(watching(k.watched)));
    let durable = client::create_thread_with_nonce(
        &k.owner,
        &k.thread,
        &k.nonce,
        args(watching(k.watched)),
        9,
    );
    let updated = client::update_thread(
        &k.owner,
        &k.thread,
        UpdateThreadArgs {
            trigger: Some(watching(k.watched)),
            ..UpdateThreadArgs::default()
        },
    );
    for ix in [created, durable, updated] {
        assert_eq!(ix.accounts.last(), Some(&readonly(k.watched)));
        let named = ix.accounts.iter().filter(|m| m.pubkey == k.watched).count();
        assert_eq!(named, 1);
    }
    // An update that keeps the trigger names no watched account.
    let fee_only = UpdateThreadArgs {
        fee_per_exec: Some(1),
        ..UpdateThreadArgs::default()
    };
    let ix = client::update_thread(&k.owner, &k.thread, fee_only);
    assert_eq!(ix.accounts.len(), 5);
}

/// A thread storing two instructions that share accounts, watching `watched`.
fn sharing_thread(k: &Keys, a: Pubkey, b: Pubkey, second: Pubkey) -> Thread {
    let first = Instruction {
        program_id: recorder::ID,
        accounts: vec![signer(k.thread), writable(a), readonly(b)],
        data: vec![],
    };
    let then = Instruction {
        program_id: second,
        accounts: vec![writable(b), writable(k.keeper), readonly(a)],
        data: vec![],
    };
    let mut state = hand_built_thread(k.owner, b"t", 255, vec![first, then]);
    state.trigger = watching(k.watched);
    state
}

#[test]
fn an_execution_passes_each_stored_account_once_with_its_widest_privilege() {
    let k = keys();
    let (a, b, second) = (
        Pubkey::new_unique(),
        Pubkey::new_unique(),
        Pubkey::new_unique(),
    );
    let state = sharing_thread(&k, a, b, second);
    let [event_authority, program] = event_accounts();
    // The thread and the executor are fixed accounts already; no stored account signs
    // (the thread's signature is the program's to give); `b` is written by the second
    // instruction, so it is writable once. The owner comes last, writable, for a `Close`
    // answer to pay.
    let remaining = [
        writable(a),
        writable(b),
        readonly(recorder::ID),
        readonly(second),
        readonly(k.watched),
        writable(k.owner),
    ];

    let ix = client::exec_thread(&k.keeper, &k.thread, &state);
    let mut plain = vec![
        signer_writable(k.keeper),
        writable(k.thread),
        absent(),
        event_authority.clone(),
        program.clone(),
    ];
    plain.extend(remaining.clone());
    assert_instruction::<ix_data::ExecThread>(&ix, plain);

    let ix = client::exec_thread_after_advance(&k.keeper, &k.thread, &state);
    let mut durable = vec![
        signer_writable(k.keeper),
        writable(k.thread),
        readonly(sysvar::instructions::ID),
        event_authority,
        program,
    ];
    durable.extend(remaining);
    assert_instruction::<ix_data::ExecThread>(&ix, durable);

    let bare = client::exec_thread_bare(&k.keeper, &k.thread, false);
    assert_eq!(
        bare.accounts,
        client::exec_thread(&k.keeper, &k.thread, &state).accounts[..5]
    );
}

#[test]
fn a_durable_execution_passes_what_a_close_answer_hands_on() {
    let k = keys();
    let mut state = hand_built_thread(k.owner, b"t", 255, vec![]);
    state.durability = Durability::Durable {
        nonce_account: k.nonce,
    };
    let ix = client::exec_thread_after_advance(&k.keeper, &k.thread, &state);
    assert_eq!(
        ix.accounts[5..],
        [
            writable(k.owner),
            writable(k.nonce),
            readonly(system_program::ID)
        ]
    );
}

#[test]
fn a_durable_execution_advances_the_threads_nonce_first_with_the_executor_as_authority() {
    let k = keys();
    let mut state = hand_built_thread(k.owner, b"t", 255, vec![]);
    assert_eq!(
        client::durable_exec_thread(&k.keeper, &k.thread, &state),
        None
    );

    state.durability = Durability::Durable {
        nonce_account: k.nonce,
    };
    let [advance, exec] =
        client::durable_exec_thread(&k.keeper, &k.thread, &state).expect("durable");
    assert_eq!(
        advance,
        system_instruction::advance_nonce_account(&k.nonce, &k.keeper)
    );
    assert_eq!(
        exec,
        client::exec_thread_after_advance(&k.keeper, &k.thread, &state)
    );
}

#[test]
fn the_thread_address_is_the_programs_pda_and_none_for_an_id_that_is_no_seed() {
    let owner = Pubkey::new_unique();
    let longest = vec![b'x'; MAX_ID_LEN];
    assert_eq!(
        client::thread_address(&owner, &longest),
        Some(Thread::address(&owner, &longest).0)
    );
    assert_eq!(
        client::thread_address(&owner, &[b'x'; MAX_ID_LEN + 1]),
        None
    );
    assert_eq!(
        client::event_authority(),
        Pubkey::find_program_address(&[b"__event_authority"], &thread::ID).0
    );
}

#[test]
fn a_thread_account_decodes_and_anything_else_does_not() {
    let owner = Pubkey::new_unique();
    let stored = recorder::record_ix(owner, owner, 1);
    let state = hand_built_thread(owner, b"decoded", 254, vec![stored.clone()]);
    let mut data = Vec::new();
    state.try_serialize(&mut data).unwrap();

    let decoded = client::decode_thread(&data).expect("a thread");
    assert_eq!(
        (decoded.owner, decoded.id.as_slice(), decoded.bump),
        (owner, &b"decoded"[..], 254)
    );
    assert_eq!(decoded.instructions, [ThreadInstruction::from(stored)]);
    data[0] ^= 1;
    assert!(client::decode_thread(&data).is_err(), "wrong discriminator");
    assert!(client::decode_thread(&[]).is_err());
}

/// 80 bytes of system-program data holding `versions`, as the runtime writes them.
fn nonce_data(versions: Versions) -> Vec<u8> {
    let mut account = Account::new(1, NONCE_ACCOUNT_LEN, &system_program::ID);
    account.set_state(&versions).unwrap();
    account.data
}

#[test]
fn nonce_data_read_by_hand_agree_with_the_system_types() {
    let authority = Pubkey::new_unique();
    let value = DurableNonce::from_blockhash(&Hash::new_unique());
    let initialized = State::Initialized(Data::new(authority, value, 5_000));
    let expected = NonceState {
        authority,
        durable_nonce: value.as_hash().to_bytes(),
    };

    let current = nonce_data(Versions::new(initialized.clone()));
    assert_eq!(
        NonceData::parse(&current),
        Some(NonceData::Current(expected))
    );
    assert_eq!(NonceState::parse(&current), Some(expected));

    // The legacy layout reads the same, but the program refuses it.
    let legacy = nonce_data(Versions::Legacy(Box::new(initialized)));
    assert_eq!(NonceData::parse(&legacy), Some(NonceData::Legacy(expected)));
    assert_eq!(NonceState::parse(&legacy), None);

    let blank = nonce_data(Versions::new(State::Uninitialized));
    assert_eq!(NonceData::parse(&blank), Some(NonceData::Uninitialized));
    assert_eq!(
        NonceData::parse(&blank).and_then(NonceData::initialized),
        None
    );

    let mut unknown_version = current.clone();
    unknown_version[0] = 2;
    assert_eq!(NonceData::parse(&unknown_version), None);
    assert_eq!(NonceData::parse(&current[..NONCE_ACCOUNT_LEN - 1]), None);
    assert_eq!(NonceData::parse(&[current.clone(), vec![0]].concat()), None);
}
