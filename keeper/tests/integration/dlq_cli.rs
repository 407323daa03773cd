//! `keeper dlq`: the real binary against a store file prepared through the library,
//! run with an empty environment and HOME pointed at a fresh temp dir.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Output,
};

use crate::home::{stderr, stdout, Home};

use keeper::{
    execution::builder::priority::ExecutionPriority,
    store::{ExecState, NewExecution, RetryDecision, Store},
};
use solana_sdk::{hash::Hash, pubkey::Pubkey, signature::Signature};

/// 2023-11-14 22:13:20 UTC: when the prepared entries died.
const T0: i64 = 1_700_000_000;

/// A fake home holding the store file.
struct Fixture {
    home: Home,
}

/// One dead-lettered execution the fixture prepared.
struct Entry {
    dead_letter: i64,
    execution: i64,
    thread: Pubkey,
    signature: Signature,
}

impl Fixture {
    fn new() -> Self {
        Fixture { home: Home::new() }
    }

    fn path(&self) -> &Path {
        self.home.path()
    }

    fn store_path(&self) -> PathBuf {
        self.home.store_path()
    }

    fn store(&self) -> Store {
        Store::open(self.store_path())
            .expect("open store")
            .with_clock(|| T0)
    }

    /// Persists an execution and fails it until it is dead-lettered with `reason`.
    fn dead_letter(&self, priority: ExecutionPriority, reason: &str) -> Entry {
        let store = self.store();
        let thread = Pubkey::new_unique();
        let signature = Signature::from([priority as u8 + 1; 64]);
        let execution = store
            .persist(NewExecution {
                thread,
                exec_count_at_build: 12,
                nonce_account: Some(Pubkey::new_unique()),
                nonce_value: Some(Hash::new_unique()),
                signature,
                transaction: vec![0; 200],
                priority,
                max_retries: 2,
                context: None,
                due_at: None,
            })
            .unwrap();
        store.mark_sent(execution, T0 - 60).unwrap();
        while store.schedule_retry(execution, T0, reason).unwrap() != RetryDecision::DeadLettered {}
        let dead_letter = store
            .dlq_list(100)
            .unwrap()
            .into_iter()
            .find(|d| d.execution_id == execution)
            .unwrap()
            .id;
        Entry {
            dead_letter,
            execution,
            thread,
            signature,
        }
    }

    /// The binary with only HOME (and `vars`) in its environment, run in the temp dir.
    fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        self.home
            .command(args, vars)
            .current_dir(self.path())
            .output()
            .expect("run keeper")
    }

    /// `keeper dlq <args> --store <the fixture's file>`.
    fn dlq(&self, args: &[&str]) -> Output {
        let store = self.store_path();
        let mut all = vec!["dlq"];
        all.extend_from_slice(args);
        all.extend(["--store", store.to_str().unwrap()]);
        self.run(&all, &[])
    }
}

fn assert_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

#[test]
fn list_prints_a_table_newest_first() {
    let f = Fixture::new();
    let old = f.dead_letter(ExecutionPriority::Low, "rpc: connection refused");
    let new = f.dead_letter(ExecutionPriority::Critical, "custom program error: 0x1771");
    let live = f.store().persist(NewExecution {
        thread: Pubkey::new_unique(),
        exec_count_at_build: 1,
        nonce_account: None,
        nonce_value: None,
        signature: Signature::default(),
        transaction: vec![1],
        priority: ExecutionPriority::High,
        max_retries: 3,
        context: None,
        due_at: None,
    });
    assert!(live.is_ok());

    let text = assert_ok(&f.dlq(&["list"]));
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split("  ").filter(|c| !c.is_empty()).collect();
    assert_eq!(
        header.iter().map(|c| c.trim()).collect::<Vec<_>>(),
        [
            "ID",
            "EXECUTION",
            "THREAD",
            "EXEC COUNT",
            "PRIORITY",
            "ATTEMPTS",
            "DEAD AT (UTC)",
            "REASON"
        ]
    );
    let row = |line: &str| {
        line.split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let first = row(lines[1]);
    assert_eq!(first[0], new.dead_letter.to_string());
    assert_eq!(first[1], new.execution.to_string());
    assert_eq!(first[2], new.thread.to_string());
    assert_eq!(
        &first[3..8],
        ["12", "critical", "3", "2023-11-14", "22:13:20"]
    );
    assert!(lines[1].ends_with("custom program error: 0x1771"), "{text}");
    assert_eq!(row(lines[2])[0], old.dead_letter.to_string());
    assert!(lines[2].ends_with("rpc: connection refused"), "{text}");
    assert_eq!(lines.len(), 5, "header, 2 rows, blank, footer:\n{text}");
    assert_eq!(
        lines[4],
        "2 entries; `keeper dlq show <ID>` for one in full"
    );

    let text = assert_ok(&f.dlq(&["list", "--limit", "1"]));
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.contains("showing the newest 1 of 2 entries (--limit to see more)"),
        "{text}"
    );
}

#[test]
fn list_finds_the_store_through_the_environment_and_the_default_path() {
    let f = Fixture::new();
    let entry = f.dead_letter(ExecutionPriority::High, "x");
    let store = f.store_path();
    let out = f.run(
        &["dlq", "list"],
        &[("KEEPER_STORE", store.to_str().unwrap())],
    );
    assert!(assert_ok(&out).contains(&entry.thread.to_string()));
    // ./keeper.sqlite in the working directory (the fixture's dir).
    let out = f.run(&["dlq", "list"], &[]);
    assert!(assert_ok(&out).contains(&entry.thread.to_string()));
}

#[test]
fn list_of_an_empty_queue_says_so() {
    let f = Fixture::new();
    drop(f.store());
    assert_eq!(
        assert_ok(&f.dlq(&["list"])),
        "the dead-letter queue is empty\n"
    );
}

#[test]
fn show_prints_the_entry_in_full() {
    let f = Fixture::new();
    let e = f.dead_letter(ExecutionPriority::High, "blockhash not found");
    let text = assert_ok(&f.dlq(&["show", &e.dead_letter.to_string()]));
    assert!(
        text.starts_with(&format!("dead letter {}\n", e.dead_letter)),
        "{text}"
    );
    for expected in [
        format!("  execution       {} (dead)", e.execution),
        format!("  thread          {}", e.thread),
        "  exec count      12 (the thread's exec_count when built: the due time)".into(),
        format!("  signature       {}", e.signature),
        "  priority        high (replay delay 10 s)".into(),
        "  attempts        3 (max retries 2)".into(),
        "  reason          blockhash not found".into(),
        "  dead at         2023-11-14 22:13:20 UTC (unix 1700000000)".into(),
        "  created at      2023-11-14 22:13:20 UTC (unix 1700000000)".into(),
        "  last sent at    2023-11-14 22:12:20 UTC (unix 1699999940)".into(),
        "  transaction     200 bytes".into(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn retry_moves_the_entry_back_to_replay_and_says_what_happens_next() {
    let f = Fixture::new();
    let e = f.dead_letter(ExecutionPriority::Medium, "x");
    let text = assert_ok(&f.dlq(&["retry", &e.dead_letter.to_string()]));
    assert!(
        text.starts_with(&format!(
            "dead letter {} is back in replay: execution {} (thread {}, exec count 12) is \
             pending with retry count 0, due now.",
            e.dead_letter, e.execution, e.thread
        )),
        "{text}"
    );
    assert!(
        text.contains("The running keeper picks it up within one replay tick"),
        "{text}"
    );

    let store = f.store();
    assert_eq!(store.dlq_len().unwrap(), 0);
    let execution = store.get(e.execution).unwrap().unwrap();
    assert_eq!(execution.state, ExecState::Pending);
    assert_eq!(execution.retry_count, 0);
    assert_eq!(
        store
            .due_for_replay(i64::MAX, 10)
            .unwrap()
            .iter()
            .map(|x| x.id)
            .collect::<Vec<_>>(),
        [e.execution]
    );

    // A second retry of the same id: it is no longer in the queue.
    let out = f.dlq(&["retry", &e.dead_letter.to_string()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn purge_deletes_one_entry_or_all() {
    let f = Fixture::new();
    let a = f.dead_letter(ExecutionPriority::Low, "x");
    let b = f.dead_letter(ExecutionPriority::Low, "y");
    let c = f.dead_letter(ExecutionPriority::Low, "z");
    let text = assert_ok(&f.dlq(&["purge", &a.dead_letter.to_string()]));
    assert_eq!(
        text,
        format!(
            "purged dead letter {} (execution {}, thread {}, exec count 12); if the thread is \
             still due, the keeper builds a new execution for it\n",
            a.dead_letter, a.execution, a.thread
        )
    );
    let store = f.store();
    assert_eq!(store.dlq_len().unwrap(), 2);
    assert_eq!(store.get(a.execution).unwrap(), None);

    assert_eq!(
        assert_ok(&f.dlq(&["purge", "--all"])),
        "purged 2 dead letters\n"
    );
    assert_eq!(store.dlq_len().unwrap(), 0);
    assert_eq!(store.get(b.execution).unwrap(), None);
    assert_eq!(store.get(c.execution).unwrap(), None);
}

#[test]
fn purge_needs_an_id_or_all_but_not_both() {
    let f = Fixture::new();
    drop(f.store());
    let out = f.dlq(&["purge"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--all"), "{}", stderr(&out));
    let out = f.dlq(&["purge", "1", "--all"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_ids_fail_with_a_clear_message() {
    let f = Fixture::new();
    f.dead_letter(ExecutionPriority::Low, "x");
    let path = f.store_path();
    for action in ["show", "retry", "purge"] {
        let out = f.dlq(&[action, "999"]);
        assert_eq!(out.status.code(), Some(1), "{action}");
        assert_eq!(stdout(&out), "", "{action}");
        assert_eq!(
            stderr(&out).trim_end(),
            format!(
                "error: no dead letter with id 999 in {}; `keeper dlq list` shows the ids",
                path.display()
            ),
            "{action}"
        );
    }
    assert_eq!(f.store().dlq_len().unwrap(), 1, "nothing changed");
}

#[test]
fn a_missing_store_file_is_named_and_not_created() {
    let f = Fixture::new();
    let path = f.path().join("elsewhere.sqlite");
    let out = f.run(&["dlq", "list", "--store", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "error: no keeper store at {} (from --store); the keeper daemon creates it when \
             it first runs; pass --store or set KEEPER_STORE to use another file",
            path.display()
        )
    );
    assert!(!path.exists());

    let out = f.run(&["dlq", "list"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: no keeper store at ./keeper.sqlite (from default)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_file_that_is_not_a_store_is_reported() {
    let f = Fixture::new();
    std::fs::write(f.store_path(), b"definitely not an sqlite database file!!").unwrap();
    let out = f.dlq(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(&format!(
            "error: cannot open keeper store {}: ",
            f.store_path().display()
        )),
        "{}",
        stderr(&out)
    );
}

/// Every `keeper dlq` action run on a file that is not a keeper store: each refused with
/// exit status 1, naming the file, and the file's bytes exactly as before.
fn assert_every_action_refuses(f: &Fixture, reason: &str) {
    let path = f.store_path();
    let before = fs::read(&path).unwrap();
    let actions: [&[&str]; 5] = [
        &["list"],
        &["show", "1"],
        &["retry", "1"],
        &["purge", "1"],
        &["purge", "--all"],
    ];
    for action in actions {
        let out = f.dlq(action);
        assert_eq!(out.status.code(), Some(1), "{action:?}: {}", stdout(&out));
        assert_eq!(
            stderr(&out),
            format!(
                "error: {} is not a keeper store ({reason}); it was left untouched. Pass \
                 --store (or set KEEPER_STORE) with the keeper's own store file, or move this \
                 file away so that `keeper run` creates a new store there\n",
                path.display()
            ),
            "{action:?}"
        );
        assert_eq!(
            fs::read(&path).unwrap(),
            before,
            "{action:?} changed the file"
        );
    }
}

#[test]
fn dlq_refuses_a_zero_byte_file_and_leaves_it_empty() {
    let f = Fixture::new();
    fs::write(f.store_path(), b"").unwrap();
    assert_every_action_refuses(
        &f,
        "it is empty: no keeper tables, no keeper application_id",
    );
    assert_eq!(fs::metadata(f.store_path()).unwrap().len(), 0);
}

#[test]
fn dlq_refuses_another_applications_sqlite_file_byte_for_byte_untouched() {
    let f = Fixture::new();
    {
        let conn = rusqlite::Connection::open(f.store_path()).unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');")
            .unwrap();
    }
    assert_every_action_refuses(&f, "it holds tables the keeper did not create: notes");

    // Another application that stamped its own id is refused by the id.
    let f = Fixture::new();
    {
        let conn = rusqlite::Connection::open(f.store_path()).unwrap();
        conn.execute_batch("PRAGMA application_id = 42;").unwrap();
    }
    assert_every_action_refuses(
        &f,
        "its application_id is 0x2a, not the keeper's 0x6b657072",
    );
}

#[test]
fn list_and_show_never_write_to_a_keeper_store() {
    let f = Fixture::new();
    let entry = f.dead_letter(ExecutionPriority::High, "blockhash expired");
    let before = fs::read(f.store_path()).unwrap();

    assert!(assert_ok(&f.dlq(&["list"])).contains(&entry.thread.to_string()));
    let shown = assert_ok(&f.dlq(&["show", &entry.dead_letter.to_string()]));
    assert!(shown.contains(&entry.signature.to_string()), "{shown}");

    assert_eq!(fs::read(f.store_path()).unwrap(), before);
}
