//! The real `keeper` process killed with SIGKILL in the middle of a run, then started
//! again on the same store file.
//!
//! `keeper sandbox` runs the whole keeper in one process against an Agave bank it creates
//! afresh on every start, so the second run cannot see the first run's chain (its threads
//! live at other addresses). What the kill and the restart can prove is about the store:
//! the file is intact (SQLite's integrity check, the schema, every row decodes), the
//! restarted keeper opens it and recovers its unfinished rows, and it records nothing
//! twice: every row of the killed run is still there for the same due time, each
//! confirmation unchanged, and no due time has two rows. That each execution ran once on
//! chain across crash windows is pinned in process (`daemon_faults`), where the
//! bank outlives the keeper.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::home::{stderr, stdout, Home, Lines};
use keeper::store::{ExecState, Store, SCHEMA_VERSION};

/// Every row: (thread, exec_count_at_build) to (state, signature).
fn rows(path: &Path) -> BTreeMap<(String, i64), (ExecState, String)> {
    let store = Store::open_existing(path).expect("the store opens");
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let conn = rusqlite::Connection::open(path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "SQLite's integrity check");
    let mut stmt = conn
        .prepare("SELECT id, thread, exec_count_at_build FROM executions ORDER BY id")
        .unwrap();
    let keys: Vec<(i64, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut by_due_time = BTreeMap::new();
    for (id, thread, exec_count) in keys {
        // Through the store's own decoding, which checks every column.
        let row = store.get(id).unwrap().expect("the row decodes");
        let previous = by_due_time.insert(
            (thread.clone(), exec_count),
            (row.state, row.signature.to_string()),
        );
        assert!(previous.is_none(), "two rows for {thread} at {exec_count}");
    }
    by_due_time
}

#[test]
fn a_keeper_killed_with_sigkill_restarts_on_an_intact_store_and_records_nothing_twice() {
    let home = Home::new();
    let store = home.store_path();
    let store_arg = store.to_str().unwrap();

    let mut child = home
        .command(
            &["sandbox", "--seconds", "120", "--sandbox-store", store_arg],
            &[],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("keeper starts");
    let mut lines = Lines::follow(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut confirmations = Vec::new();
    while confirmations.len() < 4 {
        let line = lines
            .next_before(deadline)
            .expect("four confirmations before the deadline");
        if line.contains(" confirm ") {
            // "slot N  confirm  LABEL run #K SIG": the run is what must not repeat.
            let run: Vec<String> = line
                .split_whitespace()
                .skip(3)
                .take(3)
                .map(str::to_string)
                .collect();
            assert!(!confirmations.contains(&run), "confirmed twice: {line}");
            confirmations.push(run);
        }
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed, not stopped: {status:?}");

    let killed = rows(&store);
    let confirmed: Vec<_> = killed
        .iter()
        .filter(|(_, (state, _))| *state == ExecState::Confirmed)
        .collect();
    assert!(
        confirmed.len() >= confirmations.len(),
        "every printed confirmation was recorded first: {killed:?}"
    );

    let out = home
        .command(
            &["sandbox", "--seconds", "4", "--sandbox-store", store_arg],
            &[],
        )
        .output()
        .expect("keeper runs again");
    assert!(
        out.status.success(),
        "the restart on the same store runs: {:?}\n{}\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("summary"), "{}", stdout(&out));

    let restarted = rows(&store);
    for (due_time, (state, signature)) in &killed {
        let (now, now_signature) = restarted
            .get(due_time)
            .unwrap_or_else(|| panic!("{due_time:?} kept its row"));
        if *state == ExecState::Confirmed {
            assert_eq!(
                (now, now_signature),
                (state, signature),
                "{due_time:?}: a confirmation is never redone"
            );
        } else {
            assert_ne!(
                *now,
                ExecState::Confirmed,
                "{due_time:?}: its thread is not in the new bank; nothing of it can land"
            );
        }
    }
    assert!(
        restarted.len() > killed.len(),
        "the restarted keeper executed its own threads too"
    );
}
