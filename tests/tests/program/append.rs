//! Threads too large for one transaction: created with their first piece and paused in
//! one transaction, written piece by piece with `append_thread_instruction`, resumed, and
//! run, every transaction within the packet limit; appends refused by name with nothing
//! moved when the thread is live, the piece breaks a stored rule, or the signer is not
//! the owner; the owner pays the rent of what it adds.

use anchor_lang::Space;
use keeper::execution::builder::tables::MAX_TRANSACTION_BYTES;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::Transaction;
use thread::client;
use thread::errors::ThreadError;
use thread::instructions::InstructionPiece;
use thread::state::{Thread, ThreadAccountMeta, ThreadInstruction, Trigger};
use thread_tests::{recorder, Fixture, ThreadSpec};

use crate::common::{fixture_with_record, record_of};

/// Bytes of accounts and data per piece: well inside a transaction with its signature,
/// keys and the creation's other arguments.
const PIECE_BUDGET: usize = 500;

fn wire_size(tx: &Transaction) -> u64 {
    u64::try_from(1 + 64 * tx.signatures.len() + tx.message.serialize().len()).unwrap()
}

fn readonly(count: usize) -> Vec<ThreadAccountMeta> {
    (0..count)
        .map(|_| ThreadAccountMeta {
            pubkey: Pubkey::new_unique(),
            is_signer: false,
            is_writable: false,
        })
        .collect()
}

/// Accounts the wide echo names: with the execution's own keys, as many as a legacy
/// transaction's static keys may be in the bank (38); more would need a lookup table,
/// which `keeper/tests/integration/lookup_tables.rs` covers.
const ECHOED_ACCOUNTS: usize = 26;

/// A recorder call the thread signs, then a responder echo naming [`ECHOED_ACCOUNTS`]
/// accounts with 600 bytes of data (an untagged return value: no answer).
fn wide_list(thread: Pubkey, record: Pubkey) -> Vec<ThreadInstruction> {
    let mut echo = ThreadInstruction::from(responder::echo(&responder::ID, &[7; 600]));
    echo.accounts = readonly(ECHOED_ACCOUNTS);
    vec![
        ThreadInstruction::from(recorder::record_ix(thread, record, 1)),
        echo,
    ]
}

async fn send(fx: &mut Fixture, ixs: &[solana_sdk::instruction::Instruction]) -> u64 {
    let owner = fx.owner.insecure_clone();
    let tx = fx.signed_tx(ixs, &owner).await;
    let size = wire_size(&tx);
    fx.process_tx(tx).await.assert_ok();
    size
}

#[tokio::test]
async fn a_thread_too_large_for_one_transaction_is_written_in_pieces_and_runs() {
    let (mut fx, record) = fixture_with_record().await;
    let owner = fx.owner.pubkey();
    let id = b"wide".to_vec();
    let (thread, _) = Thread::address(&owner, &id);
    let list = wide_list(thread, record);
    let args = |instructions| {
        let mut spec = ThreadSpec::new("wide", Trigger::Now, record);
        spec.instructions = instructions;
        spec.into_args()
    };

    let whole = client::create_thread(&owner, &thread, args(list.clone()));
    let signer = fx.owner.insecure_clone();
    let one_tx = fx.signed_tx(&[whole], &signer).await;
    assert!(
        wire_size(&one_tx) > MAX_TRANSACTION_BYTES,
        "the list does not fit one transaction: {} bytes",
        wire_size(&one_tx)
    );

    let plan = client::create_in_pieces(&owner, &thread, &list, PIECE_BUDGET, |first| {
        client::create_thread(&owner, &thread, args(first))
    })
    .unwrap();
    assert!(plan.appends.len() >= 3, "{} appends", plan.appends.len());
    let mut sizes = vec![send(&mut fx, &plan.create).await];
    assert!(fx.thread(thread).await.paused, "created paused");
    for append in &plan.appends {
        sizes.push(send(&mut fx, append).await);
    }
    assert!(
        sizes.iter().all(|size| *size <= MAX_TRANSACTION_BYTES),
        "every transaction fits: {sizes:?}"
    );
    let state = fx.thread(thread).await;
    assert_eq!(state.instructions, list, "written exactly");
    assert!(!state.paused, "the last append resumed it");
    assert_eq!(fx.account(thread).await.unwrap().data.len(), state.space());

    fx.exec(thread).await.assert_ok();
    assert_eq!(record_of(&mut fx, record).await.1, 1, "it ran");
}

#[tokio::test]
async fn appends_are_refused_by_name_with_nothing_moved_and_the_owner_pays_the_rent() {
    let (mut fx, record) = fixture_with_record().await;
    let owner = fx.owner.insecure_clone();
    let (thread, outcome) = fx
        .create_thread(
            ThreadSpec::new("live", Trigger::Slot { slot: u64::MAX }, record)
                .for_owner(&owner.pubkey()),
        )
        .await;
    outcome.assert_ok();
    let append = |piece| client::append_thread_instruction(&owner.pubkey(), &thread, piece);
    let more = |accounts| InstructionPiece::Continuation {
        accounts,
        data: vec![],
    };

    let live = fx.process(&[append(more(readonly(1)))], &[&owner]).await;
    live.assert_error(ThreadError::ThreadNotPaused);
    fx.process(&[client::pause_thread(&owner.pubkey(), &thread)], &[&owner])
        .await
        .assert_ok();

    let stranger = Keypair::new();
    let foreign_signer = vec![ThreadAccountMeta {
        pubkey: stranger.pubkey(),
        is_signer: true,
        is_writable: false,
    }];
    let mut self_call = ThreadInstruction::from(recorder::record_ix(thread, record, 1));
    self_call.program_id = thread::ID;
    let refusals = [
        (more(foreign_signer), ThreadError::ForeignSigner),
        (
            InstructionPiece::Instruction {
                instruction: self_call,
            },
            ThreadError::SelfInvocationNotAllowed,
        ),
        (
            more(readonly(thread::state::MAX_ACCOUNTS_PER_INSTRUCTION)),
            ThreadError::TooManyAccounts,
        ),
    ];
    for (piece, error) in refusals {
        let before = (
            fx.account(thread).await.unwrap(),
            fx.balance(owner.pubkey()).await,
        );
        fx.process(&[append(piece)], &[&owner])
            .await
            .assert_error(error);
        let thread_after = fx.account(thread).await.unwrap();
        assert_eq!(thread_after, before.0, "{error:?}: the thread is unchanged");
        assert_eq!(
            fx.balance(owner.pubkey()).await,
            before.1 - thread_tests::LAMPORTS_PER_SIGNATURE,
            "{error:?}: only the transaction fee"
        );
    }
    // Up to the instruction cap, then refused.
    let spare = thread::state::MAX_INSTRUCTIONS - fx.thread(thread).await.instructions.len();
    for _ in 0..spare {
        let ix = ThreadInstruction::from(recorder::record_ix(thread, record, 1));
        fx.process(
            &[append(InstructionPiece::Instruction { instruction: ix })],
            &[&owner],
        )
        .await
        .assert_ok();
    }
    let ninth = ThreadInstruction::from(recorder::record_ix(thread, record, 1));
    fx.process(
        &[append(InstructionPiece::Instruction { instruction: ninth })],
        &[&owner],
    )
    .await
    .assert_error(ThreadError::TooManyInstructions);

    // Another key signing as the owner.
    let executor = fx.executor.insecure_clone();
    let not_owner =
        client::append_thread_instruction(&executor.pubkey(), &thread, more(readonly(1)));
    fx.process(&[not_owner], &[&executor])
        .await
        .assert_error(ThreadError::NotOwner);

    // A valid piece: the owner pays exactly the rent of the larger account.
    let (old, owner_before) = (
        fx.account(thread).await.unwrap(),
        fx.balance(owner.pubkey()).await,
    );
    let last_before = fx.thread(thread).await.instructions.last().unwrap().clone();
    fx.process(&[append(more(readonly(5)))], &[&owner])
        .await
        .assert_ok();
    let new = fx.account(thread).await.unwrap();
    assert_eq!(
        new.data.len(),
        old.data.len() + 5 * ThreadAccountMeta::INIT_SPACE
    );
    let rent = fx.rent_for(new.data.len()).await - fx.rent_for(old.data.len()).await;
    assert_eq!(
        new.lamports - old.lamports,
        rent,
        "the thread gained the rent"
    );
    assert!(
        owner_before - fx.balance(owner.pubkey()).await >= rent,
        "the owner paid it"
    );
    let last = fx.thread(thread).await.instructions.last().unwrap().clone();
    assert_eq!(last.accounts.len(), last_before.accounts.len() + 5);
    assert_eq!(last.program_id, last_before.program_id);
}
