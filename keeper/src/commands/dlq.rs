//! `keeper dlq`: the dead-letter queue of the keeper's store, or with `--fleet` the
//! fleet's dead-letter stream on NATS. The wording is `store::report`'s and
//! `fleet::report`'s; this is the binary's side.

use anyhow::{Context, Result};
use keeper::Resolved;

use crate::DlqCommand;

/// `keeper dlq [--fleet] ACTION`.
pub fn dlq(resolved: &Resolved, fleet: bool, action: &DlqCommand) -> Result<()> {
    if fleet {
        fleet_dlq(resolved, action)
    } else {
        local(resolved, action)
    }
}

/// `keeper dlq --fleet ...`: the same actions on the fleet's dead-letter stream, which
/// every keeper of the fleet sees; needs `daemon.fleet.nats_urls`.
fn fleet_dlq(resolved: &Resolved, action: &DlqCommand) -> Result<()> {
    use keeper::fleet::{report, WorkQueue};

    let config = &resolved.config.daemon.fleet;
    if !config.enabled() {
        anyhow::bail!(
            "--fleet: no fleet is configured; set daemon.fleet.nats_urls in the keeper config \
             file (--config) to the fleet's NATS servers"
        );
    }
    config
        .validate_settings()
        .map_err(|e| anyhow::anyhow!("invalid {e}"))?;
    let id_of = |id: i64| {
        u64::try_from(id)
            .map_err(|_| anyhow::anyhow!("ID: {id} is not a dead letter id (they are positive)"))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let queue = WorkQueue::connect(config).await?;
        let letters = queue.dead_letters().await?;
        let find = |id: u64| {
            letters
                .iter()
                .find(|l| l.id == id)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no dead letter with id {id} in the fleet's stream; `keeper dlq --fleet list` shows the ids"))
        };
        match *action {
            DlqCommand::List { limit } => {
                let newest = &letters[letters.len().saturating_sub(limit)..];
                print!("{}", report::table_of(newest));
            }
            DlqCommand::Show { id } => print!("{}", report::detail_of(&find(id_of(id)?)?)),
            DlqCommand::Retry { id } => {
                let letter = find(id_of(id)?)?;
                let item = queue.retry_dead_letter(letter.id).await?;
                println!(
                    "dead letter {} is back in the fleet's work stream: thread {} run #{}",
                    letter.id,
                    item.thread,
                    item.exec_count + 1
                );
            }
            DlqCommand::Purge { id: Some(id), .. } => {
                let letter = find(id_of(id)?)?;
                queue.purge_dead_letter(letter.id).await?;
                println!("dead letter {} purged from the fleet's stream", letter.id);
            }
            DlqCommand::Purge { id: None, .. } => {
                for letter in &letters {
                    queue.purge_dead_letter(letter.id).await?;
                }
                println!("{} dead letters purged from the fleet's stream", letters.len());
            }
        }
        Ok(())
    })
}

/// `keeper dlq ...`: opens the existing store (never creates one) and runs one
/// action. Unknown ids and a missing file are errors, so the exit status is 1.
fn local(resolved: &Resolved, action: &DlqCommand) -> Result<()> {
    use keeper::store::{report, Store, StoreError};

    let path = &resolved.config.store_path;
    // A reader never writes: list and show open the file read-only; every action
    // refuses a file that is not a keeper store before touching it.
    let opened = match action {
        DlqCommand::List { .. } | DlqCommand::Show { .. } => Store::open_read_only(path),
        DlqCommand::Retry { .. } | DlqCommand::Purge { .. } => Store::open_existing(path),
    };
    let store = opened.map_err(|e| match e {
        StoreError::Missing { .. } => anyhow::anyhow!(
            "no keeper store at {} (from {}); the keeper daemon creates it when it first \
             runs; pass --store or set KEEPER_STORE to use another file",
            path.display(),
            resolved.sources.store_path
        ),
        e => e.into(),
    })?;
    let unknown = |id: i64| {
        anyhow::anyhow!(
            "no dead letter with id {id} in {}; `keeper dlq list` shows the ids",
            path.display()
        )
    };
    let not_found = |e: &StoreError| {
        matches!(
            e,
            StoreError::NotFound {
                what: "dead letter",
                ..
            }
        )
    };
    match *action {
        DlqCommand::List { limit } => {
            let entries = store.dlq_list(limit)?;
            let total = store.dlq_len()?;
            print!("{}", report::dlq_table(&entries, total));
        }
        DlqCommand::Show { id } => {
            let detail = store.dlq_show(id)?.ok_or_else(|| unknown(id))?;
            print!("{}", report::dlq_detail(&detail));
        }
        DlqCommand::Retry { id } => match store.dlq_retry(id) {
            Ok(execution) => print!("{}", report::dlq_retried(id, &execution)),
            Err(e) if not_found(&e) => return Err(unknown(id)),
            Err(e) => return Err(e.into()),
        },
        DlqCommand::Purge { id: Some(id), .. } => {
            let detail = store.dlq_show(id)?.ok_or_else(|| unknown(id))?;
            match store.dlq_purge(id) {
                Ok(()) => print!("{}", report::dlq_purged(&detail.entry)),
                Err(e) if not_found(&e) => return Err(unknown(id)),
                Err(e) => return Err(e.into()),
            }
        }
        DlqCommand::Purge { id: None, .. } => {
            print!("{}", report::dlq_purged_all(store.dlq_purge_all()?));
        }
    }
    Ok(())
}
