//! Every bad input the owner can give is refused before anything is signed: the refusal
//! names the field and a fix, and the bank shows nothing was sent (no thread, no fee).

mod common;

use std::path::Path;

use common::{spec, trigger, Bench, MEMO};
use solana_sdk::signature::Signer;
use thread_cli::commands::{self, CommandError};
use thread_cli::spec::{load, AccountSpec, CreateSpec, InstructionSpec, TriggerSpec};
use thread_cli::Refusal;

/// Runs `create` with `bad` and returns its refusal, checking nothing reached the bank.
async fn refused(bench: &Bench, bad: &CreateSpec) -> Refusal {
    let before = bench.lamports(&bench.owner.pubkey()).await;
    let refusal = match commands::create(bench.owner(), bad).await {
        Err(CommandError::Refused(refusal)) => refusal,
        other => panic!("{:?} should be refused, got {other:?}", bad.id),
    };
    assert_eq!(
        bench.lamports(&bench.owner.pubkey()).await,
        before,
        "no fee paid"
    );
    if let Some(thread) = thread::client::thread_address(&bench.owner.pubkey(), bad.id.as_bytes()) {
        assert!(!bench.exists(&thread).await, "no thread created");
    }
    refusal
}

fn with_trigger(trigger: TriggerSpec) -> CreateSpec {
    spec("bad", trigger)
}

fn with_account(account: AccountSpec) -> CreateSpec {
    let mut bad = spec("bad", trigger("now"));
    bad.instructions[0].accounts.push(account);
    bad
}

fn with_data(data: &str) -> CreateSpec {
    let mut bad = spec("bad", trigger("now"));
    bad.instructions[0].data = Some(data.into());
    bad
}

#[tokio::test]
async fn each_bad_spec_is_refused_naming_its_field() {
    let bench = Bench::start().await;
    let stranger = bench.other.pubkey().to_string();
    let cases: Vec<(CreateSpec, &str, &str)> = vec![
        (
            with_trigger(trigger("hourly")),
            "trigger.kind",
            "unknown trigger kind",
        ),
        (
            with_trigger(TriggerSpec {
                schedule: Some("61 * * * *".into()),
                ..trigger("cron")
            }),
            "trigger.schedule",
            "not a cron expression",
        ),
        (with_trigger(trigger("cron")), "trigger.schedule", "missing"),
        (
            with_trigger(TriggerSpec {
                seconds: Some(5),
                ..trigger("cron")
            }),
            "trigger.seconds",
            "not used by a cron trigger",
        ),
        (
            with_trigger(TriggerSpec {
                seconds: Some(0),
                ..trigger("interval")
            }),
            "trigger.seconds",
            "at least 1 second",
        ),
        (
            with_trigger(TriggerSpec {
                at: Some("tomorrow".into()),
                ..trigger("timestamp")
            }),
            "trigger.at",
            "RFC 3339",
        ),
        (
            with_trigger(TriggerSpec {
                address: Some("not-a-key".into()),
                size: Some(8),
                ..trigger("account")
            }),
            "trigger.address",
            "not a public key",
        ),
        (
            with_account(AccountSpec {
                pubkey: stranger,
                is_signer: true,
                is_writable: true,
            }),
            "instructions[0].accounts[1].is_signer",
            "can sign only as the thread",
        ),
        (
            with_account(AccountSpec {
                pubkey: "xyz".into(),
                is_signer: false,
                is_writable: false,
            }),
            "instructions[0].accounts[1].pubkey",
            "not a public key",
        ),
        (
            with_data("deadbeef"),
            "instructions[0].data",
            "names no encoding",
        ),
        (
            with_data("hex:abc"),
            "instructions[0].data",
            "not valid hex",
        ),
        (
            with_data("base64:!!"),
            "instructions[0].data",
            "not valid base64",
        ),
        (
            with_data("base58:0OIl"),
            "instructions[0].data",
            "not valid base58",
        ),
        (
            CreateSpec {
                fee_per_exec: 2_000_000,
                deposit: 1_000_000,
                ..spec("bad", trigger("now"))
            },
            "fee_per_exec",
            "above the deposit",
        ),
        (spec(&"x".repeat(33), trigger("now")), "id", "33 bytes"),
        (
            CreateSpec {
                instructions: vec![InstructionSpec {
                    program: thread::ID.to_string(),
                    accounts: vec![],
                    data: None,
                }],
                ..spec("bad", trigger("now"))
            },
            "instructions[0].program",
            "thread program itself",
        ),
        (
            CreateSpec {
                instructions: vec![],
                ..spec("bad", trigger("now"))
            },
            "instructions",
            "1 to 8",
        ),
        (
            CreateSpec {
                max_lease_slots: Some(10),
                ..spec("bad", trigger("now"))
            },
            "max_lease_slots",
            "not durable",
        ),
        (
            CreateSpec {
                priority: Some("urgent".into()),
                ..spec("bad", trigger("now"))
            },
            "priority",
            "unknown priority",
        ),
    ];
    for (bad, field, problem) in cases {
        let refusal = refused(&bench, &bad).await;
        assert_eq!(refusal.field, field, "{refusal}");
        assert!(refusal.problem.contains(problem), "{field}: {refusal}");
        assert!(!refusal.fix.is_empty(), "{field} has a fix");
    }
}

#[tokio::test]
async fn a_second_thread_with_the_same_id_is_refused_before_signing() {
    let bench = Bench::start().await;
    bench.create(&spec("twice", trigger("now"))).await;
    let before = bench.lamports(&bench.owner.pubkey()).await;
    let err = commands::create(bench.owner(), &spec("twice", trigger("now")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CommandError::Refused(ref r) if r.field == "id"),
        "{err}"
    );
    assert_eq!(bench.lamports(&bench.owner.pubkey()).await, before);
}

#[test]
fn spec_files_load_as_toml_or_json_and_are_left_untouched() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for name in ["daily-memo.toml", "on-change.json"] {
        let path = examples.join(name);
        let before = std::fs::read(&path).unwrap();
        let spec: CreateSpec = load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        spec.plan(&solana_sdk::pubkey::Pubkey::new_unique())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(std::fs::read(&path).unwrap(), before, "{name} unchanged");
    }
    let dir = tempfile::tempdir().unwrap();
    let unknown_key = dir.path().join("typo.toml");
    std::fs::write(
        &unknown_key,
        "id = \"x\"\nfee_per_exec = 1\ndeposit = 1\ninstrutions = []\n",
    )
    .unwrap();
    let refusal = load::<CreateSpec>(&unknown_key).unwrap_err();
    assert!(refusal.problem.contains("instrutions"), "{refusal}");
    let yaml = dir.path().join("spec.yaml");
    std::fs::write(&yaml, "id: x").unwrap();
    assert!(load::<CreateSpec>(&yaml)
        .unwrap_err()
        .problem
        .contains(".toml nor .json"));
}

#[test]
fn an_update_with_nothing_to_change_is_refused() {
    let refusal = thread_cli::spec::UpdateSpec::default()
        .plan(&solana_sdk::pubkey::Pubkey::new_unique())
        .unwrap_err();
    assert_eq!(refusal.field, "update");
    let memo_signer = thread_cli::spec::UpdateSpec {
        instructions: Some(vec![InstructionSpec {
            program: MEMO.into(),
            accounts: vec![AccountSpec {
                pubkey: MEMO.into(),
                is_signer: true,
                is_writable: false,
            }],
            data: None,
        }]),
        ..Default::default()
    };
    let refusal = memo_signer
        .plan(&solana_sdk::pubkey::Pubkey::new_unique())
        .unwrap_err();
    assert_eq!(refusal.field, "instructions[0].accounts[0].is_signer");
}

#[test]
fn lookup_tables_in_a_spec_are_addresses_or_refused_by_index() {
    let table = solana_sdk::pubkey::Pubkey::new_unique();
    let owner = solana_sdk::pubkey::Pubkey::new_unique();
    let mut create = spec("with-tables", trigger("now"));
    create.lookup_tables = vec![table.to_string()];
    assert_eq!(create.plan(&owner).unwrap().args.lookup_tables, vec![table]);

    create.lookup_tables = vec![table.to_string(), "not-a-key".into()];
    assert_eq!(create.plan(&owner).unwrap_err().field, "lookup_tables[1]");

    let clear = thread_cli::spec::UpdateSpec {
        lookup_tables: Some(vec![]),
        ..Default::default()
    };
    let args = clear
        .plan(&solana_sdk::pubkey::Pubkey::new_unique())
        .unwrap();
    assert_eq!(
        args.lookup_tables,
        Some(vec![]),
        "an empty list clears, and is a change"
    );
}
