//! Text for `keeper dlq --fleet`: the fleet's dead letters, as `keeper dlq` prints the
//! store's.

use std::fmt::Write as _;

use super::queue::FleetDeadLetter;
use crate::store::report::{one_line, table, utc, REASON_WIDTH};

/// `keeper dlq --fleet list`: oldest first.
pub fn table_of(letters: &[FleetDeadLetter]) -> String {
    if letters.is_empty() {
        return "the fleet's dead-letter stream is empty\n".to_string();
    }
    let header = [
        "ID",
        "THREAD",
        "EXEC COUNT",
        "PRIORITY",
        "ATTEMPTS",
        "KEEPER",
        "DEAD AT (UTC)",
        "REASON",
    ];
    let rows: Vec<[String; 8]> = letters
        .iter()
        .map(|l| {
            let (thread, count, priority) = match &l.item {
                Some(item) => (
                    item.thread.to_string(),
                    item.exec_count.to_string(),
                    item.priority.as_str().to_string(),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            [
                l.id.to_string(),
                thread,
                count,
                priority,
                l.attempts.to_string(),
                l.keeper.clone(),
                utc(l.dead_at),
                one_line(&l.reason, REASON_WIDTH),
            ]
        })
        .collect();
    let mut out = table(&header, &rows);
    let _ = writeln!(
        out,
        "\n{} in the fleet's stream; `keeper dlq --fleet show <ID>` for one in full",
        letters.len()
    );
    out
}

/// `keeper dlq --fleet show <ID>`.
pub fn detail_of(l: &FleetDeadLetter) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "dead letter {} (the fleet's stream)", l.id);
    match &l.item {
        Some(item) => {
            let _ = writeln!(out, "thread      {}", item.thread);
            let _ = writeln!(
                out,
                "exec count  {} (run #{})",
                item.exec_count,
                item.exec_count + 1
            );
            let _ = writeln!(out, "priority    {}", item.priority.as_str());
            let submitter = item.submitter.map_or("any".to_string(), |k| k.to_string());
            let _ = writeln!(out, "submitter   {submitter}");
        }
        None => {
            let _ = writeln!(out, "not an execution: nothing to retry; purge it");
        }
    }
    let _ = writeln!(out, "attempts    {}", l.attempts);
    let _ = writeln!(out, "keeper      {}", l.keeper);
    let _ = writeln!(out, "dead at     {}", utc(l.dead_at));
    let _ = writeln!(out, "reason      {}", l.reason);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::builder::priority::ExecutionPriority;
    use crate::fleet::WorkItem;
    use solana_sdk::pubkey::Pubkey;

    #[test]
    fn a_letter_prints_as_a_row_and_in_full_and_poison_says_so() {
        let item = WorkItem {
            thread: Pubkey::new_unique(),
            exec_count: 4,
            submitter: None,
            priority: ExecutionPriority::High,
        };
        let letter = FleetDeadLetter {
            id: 7,
            item: Some(item),
            reason: "simulation failed: custom program error: 0x1785".into(),
            attempts: 6,
            keeper: "K".into(),
            dead_at: 0,
        };
        let poison = FleetDeadLetter {
            id: 8,
            item: None,
            reason: "not an execution".into(),
            ..letter.clone()
        };
        let listed = table_of(&[letter.clone(), poison.clone()]);
        assert!(listed.starts_with("ID"), "{listed}");
        assert!(listed.contains(&item.thread.to_string()));
        assert!(listed.contains("2 in the fleet's stream"));
        let shown = detail_of(&letter);
        assert!(shown.contains("exec count  4 (run #5)"), "{shown}");
        assert!(shown.contains("submitter   any"));
        assert!(detail_of(&poison).contains("nothing to retry; purge it"));
        assert_eq!(table_of(&[]), "the fleet's dead-letter stream is empty\n");
    }
}
