//! Text for the operator: what `keeper dlq` prints. Pure functions of store records,
//! so the binary only chooses which to print and the wording is tested here.

use std::fmt::Write as _;

use super::{DeadLetter, DeadLetterDetail, Execution};

/// Longest reason shown in a list row; `show` prints it whole.
pub const REASON_WIDTH: usize = 60;

/// `keeper dlq list`: a table, newest first, and a footer saying how many there are.
/// `total` is the queue's length, which may exceed `entries.len()` (the limit).
pub fn dlq_table(entries: &[DeadLetter], total: usize) -> String {
    if entries.is_empty() {
        return "the dead-letter queue is empty\n".to_string();
    }
    let header = [
        "ID",
        "EXECUTION",
        "THREAD",
        "EXEC COUNT",
        "PRIORITY",
        "ATTEMPTS",
        "DEAD AT (UTC)",
        "REASON",
    ];
    let rows: Vec<[String; 8]> = entries
        .iter()
        .map(|e| {
            [
                e.id.to_string(),
                e.execution_id.to_string(),
                e.thread.to_string(),
                e.exec_count_at_build.to_string(),
                e.priority.as_str().to_string(),
                e.attempts.to_string(),
                utc(e.dead_at),
                one_line(&e.reason, REASON_WIDTH),
            ]
        })
        .collect();
    let mut out = table(&header, &rows);
    if total > entries.len() {
        let _ = writeln!(
            out,
            "\nshowing the newest {} of {total} entries (--limit to see more); \
             `keeper dlq show <ID>` for one in full",
            entries.len()
        );
    } else {
        let _ = writeln!(
            out,
            "\n{total} {}; `keeper dlq show <ID>` for one in full",
            if total == 1 { "entry" } else { "entries" }
        );
    }
    out
}

/// `keeper dlq show`: every field of the entry and its execution.
pub fn dlq_detail(d: &DeadLetterDetail) -> String {
    let e = &d.execution;
    let entry = &d.entry;
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "  {name:<16}{value}");
    };
    let header = format!("dead letter {}\n", entry.id);
    field("execution", format!("{} ({})", e.id, e.state));
    field("thread", e.thread.to_string());
    field(
        "exec count",
        format!(
            "{} (the thread's exec_count when built: the due time)",
            e.exec_count_at_build
        ),
    );
    field("signature", e.signature.to_string());
    field(
        "priority",
        format!(
            "{} (replay delay {} s)",
            e.priority.as_str(),
            e.priority.replay_delay().as_secs()
        ),
    );
    field(
        "attempts",
        format!("{} (max retries {})", entry.attempts, e.max_retries),
    );
    field("reason", indent_continuation(&entry.reason));
    field("dead at", stamp(entry.dead_at));
    field("created at", stamp(e.created_at));
    field(
        "last sent at",
        e.last_sent_at.map_or_else(|| "never".to_string(), stamp),
    );
    field("updated at", stamp(e.updated_at));
    field(
        "nonce account",
        e.nonce_account
            .map_or_else(|| "none (not durable)".to_string(), |k| k.to_string()),
    );
    field(
        "nonce value",
        e.nonce_value
            .map_or_else(|| "none".to_string(), |h| h.to_string()),
    );
    field("transaction", format!("{} bytes", e.transaction.len()));
    header + &out
}

/// `keeper dlq retry`: what was done and what happens next.
pub fn dlq_retried(dead_letter_id: i64, e: &Execution) -> String {
    format!(
        "dead letter {dead_letter_id} is back in replay: execution {} (thread {}, exec count \
         {}) is pending with retry count 0, due now.\n\
         The running keeper picks it up within one replay tick, rebuilds it with a fresh \
         nonce if the old one advanced, and sends it; if the thread already ran that due \
         time on chain, it is marked superseded instead.\n",
        e.id, e.thread, e.exec_count_at_build
    )
}

/// `keeper dlq purge <ID>`.
pub fn dlq_purged(entry: &DeadLetter) -> String {
    format!(
        "purged dead letter {} (execution {}, thread {}, exec count {}); if the thread is \
         still due, the keeper builds a new execution for it\n",
        entry.id, entry.execution_id, entry.thread, entry.exec_count_at_build
    )
}

/// `keeper dlq purge --all`.
pub fn dlq_purged_all(n: usize) -> String {
    format!(
        "purged {n} dead {}\n",
        if n == 1 { "letter" } else { "letters" }
    )
}

/// `2023-11-14 22:13:20 UTC (unix 1700000000)`.
/// `rows` under `header`, each column as wide as its widest cell, the last left ragged.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header);
    for row in rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

fn stamp(unix: i64) -> String {
    format!("{} UTC (unix {unix})", utc(unix))
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` in UTC; beyond chrono's range (±262,000
/// years, only a corrupt row), the number itself.
pub fn utc(unix: i64) -> String {
    match chrono::DateTime::from_timestamp(unix, 0) {
        Some(instant) => instant.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => format!("unix {unix}"),
    }
}

/// The text on one line (whitespace runs collapsed), cut to `max` characters with `…`.
pub fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

/// Continuation lines of a multi-line value, indented under the value column.
fn indent_continuation(text: &str) -> String {
    text.lines()
        .collect::<Vec<_>>()
        .join(&format!("\n{:18}", ""))
}

#[cfg(test)]
mod tests {
    use solana_sdk::{hash::Hash, pubkey::Pubkey, signature::Signature};

    use super::*;
    use crate::store::{ExecState, ExecutionPriority};

    fn entry(id: i64, reason: &str) -> DeadLetter {
        DeadLetter {
            id,
            execution_id: id + 10,
            thread: Pubkey::new_from_array([id as u8; 32]),
            exec_count_at_build: 4,
            signature: Signature::from([1u8; 64]),
            priority: ExecutionPriority::High,
            reason: reason.into(),
            attempts: 4,
            dead_at: 1_700_000_000,
        }
    }

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(-1), "1969-12-31 23:59:59");
        assert_eq!(utc(i64::MAX), format!("unix {}", i64::MAX));
    }

    #[test]
    fn table_aligns_columns_and_counts_entries() {
        let text = dlq_table(&[entry(2, "blockhash\nnot found"), entry(1, "x")], 2);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID  EXECUTION  THREAD"), "{text}");
        let reason_col = lines[0].find("REASON").unwrap();
        assert_eq!(&lines[1][reason_col..], "blockhash not found");
        assert_eq!(&lines[2][reason_col..], "x");
        assert!(lines[1].contains("2023-11-14 22:13:20"), "{text}");
        assert!(lines[1].contains(" high "), "{text}");
        assert_eq!(
            lines.last().unwrap(),
            &"2 entries; `keeper dlq show <ID>` for one in full"
        );
    }

    #[test]
    fn table_says_when_the_limit_hides_entries() {
        let text = dlq_table(&[entry(9, "x")], 5);
        assert!(
            text.contains("showing the newest 1 of 5 entries (--limit to see more)"),
            "{text}"
        );
    }

    #[test]
    fn empty_table_says_so() {
        assert_eq!(dlq_table(&[], 0), "the dead-letter queue is empty\n");
    }

    #[test]
    fn long_reasons_are_cut_in_the_table() {
        let long = "e".repeat(200);
        assert_eq!(one_line(&long, 10), format!("{}…", "e".repeat(9)));
        assert_eq!(one_line("a  b\n c", 10), "a b c");
    }

    #[test]
    fn detail_shows_every_field() {
        let entry = entry(3, "line one\nline two");
        let execution = Execution {
            id: entry.execution_id,
            thread: entry.thread,
            exec_count_at_build: 4,
            nonce_account: Some(Pubkey::new_from_array([9; 32])),
            nonce_value: Some(Hash::new_from_array([8; 32])),
            signature: entry.signature,
            transaction: vec![0; 300],
            priority: ExecutionPriority::High,
            state: ExecState::Dead,
            retry_count: 3,
            max_retries: 3,
            created_at: 1_699_999_000,
            updated_at: 1_700_000_000,
            next_attempt_at: 1_699_999_990,
            last_sent_at: None,
            last_error: Some("line one\nline two".into()),
            context: None,
            due_at: None,
        };
        let text = dlq_detail(&DeadLetterDetail {
            entry: entry.clone(),
            execution: execution.clone(),
        });
        assert!(text.starts_with("dead letter 3\n"), "{text}");
        for expected in [
            "  execution       13 (dead)".to_string(),
            format!("  thread          {}", entry.thread),
            format!("  signature       {}", entry.signature),
            "  priority        high (replay delay 10 s)".to_string(),
            "  attempts        4 (max retries 3)".to_string(),
            format!("  reason          line one\n{:18}line two", ""),
            "  dead at         2023-11-14 22:13:20 UTC (unix 1700000000)".to_string(),
            "  last sent at    never".to_string(),
            format!("  nonce account   {}", Pubkey::new_from_array([9; 32])),
            "  transaction     300 bytes".to_string(),
        ] {
            assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
        }
    }
}
