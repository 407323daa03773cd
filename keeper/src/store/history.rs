//! History in the store, newest first: a thread's (what `keeper explain` shows of the
//! keeper's side) and every thread's (the dashboard's recent executions).

use rusqlite::params;
use solana_sdk::pubkey::Pubkey;

use super::sql_limit;
use super::{Execution, Store, StoreError};

impl Store {
    /// The last `limit` executions of `thread`, newest due time first.
    pub fn executions_of_thread(
        &self,
        thread: &Pubkey,
        limit: usize,
    ) -> Result<Vec<Execution>, StoreError> {
        let limit = sql_limit(limit);
        self.executions_where(
            "WHERE e.thread = ?1 ORDER BY e.exec_count_at_build DESC, e.id DESC LIMIT ?2",
            params![thread.to_string(), limit],
        )
    }

    /// The last `limit` executions of any thread, the most recently changed first.
    pub fn recent_executions(&self, limit: usize) -> Result<Vec<Execution>, StoreError> {
        let limit = sql_limit(limit);
        self.executions_where(
            "ORDER BY e.updated_at DESC, e.id DESC LIMIT ?1",
            params![limit],
        )
    }
}

#[cfg(test)]
mod tests {
    use solana_sdk::pubkey::Pubkey;
    use solana_sdk::signature::Signature;

    use super::super::test_support::{new_execution, store};

    #[test]
    fn a_threads_executions_come_newest_first_and_only_its_own() {
        let store = store();
        let thread = Pubkey::new_unique();
        for exec_count in [0, 2, 1] {
            let mut new = new_execution();
            new.thread = thread;
            new.exec_count_at_build = exec_count;
            new.signature = Signature::from([exec_count as u8; 64]);
            store.persist(new).unwrap();
        }
        let mut other = new_execution();
        other.thread = Pubkey::new_unique();
        other.signature = Signature::from([9; 64]);
        store.persist(other).unwrap();

        let counts: Vec<u64> = store
            .executions_of_thread(&thread, 10)
            .unwrap()
            .iter()
            .map(|row| row.exec_count_at_build)
            .collect();
        assert_eq!(counts, [2, 1, 0]);
        assert_eq!(store.executions_of_thread(&thread, 2).unwrap().len(), 2);
    }

    #[test]
    fn recent_executions_come_most_recently_changed_first_across_threads() {
        let now = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(100));
        let clock = now.clone();
        let store = store().with_clock(move || clock.load(std::sync::atomic::Ordering::SeqCst));
        let mut ids = Vec::new();
        for n in 0..3u8 {
            let mut new = new_execution();
            new.thread = Pubkey::new_unique();
            new.signature = Signature::from([n; 64]);
            ids.push(store.persist(new).unwrap());
            now.fetch_add(10, std::sync::atomic::Ordering::SeqCst);
        }
        // The first one changes last.
        store.mark_sent(ids[0], 200).unwrap();

        let recent: Vec<i64> = store
            .recent_executions(10)
            .unwrap()
            .iter()
            .map(|row| row.id)
            .collect();
        assert_eq!(recent, [ids[0], ids[2], ids[1]]);
        assert_eq!(store.recent_executions(1).unwrap().len(), 1);
    }
}
