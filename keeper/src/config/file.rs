//! The keeper's TOML config file: its shape ([`KeeperFile`], with the
//! `[daemon]` table as [`DaemonTable`]), the full dotted key a parser error
//! points at, and the daemon's settings flattened to `(key, value)` rows.
//!
//! Must not: read the file or layer its values (that is `resolve.rs`).

use std::{collections::BTreeSet, ops::Range, path::PathBuf};

use serde::Deserialize;

use super::daemon::DaemonConfig;
use super::{Resolved, Source};

/// The keeper's TOML file. Keys are [`Config`](super::Config)'s field names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeeperFile {
    pub(super) rpc_url: Option<String>,
    pub(super) ws_url: Option<String>,
    pub(super) keypair_path: Option<PathBuf>,
    pub(super) program_id: Option<String>,
    pub(super) log_level: Option<String>,
    pub(super) commitment: Option<String>,
    pub(super) store_path: Option<PathBuf>,
    pub(super) daemon: Option<DaemonConfig>,
}

/// The `[daemon]` table of the keeper's TOML file.
pub(super) struct DaemonTable {
    /// The table over [`DaemonConfig::default`].
    pub(super) config: DaemonConfig,
    /// The file.
    pub(super) source: Source,
    /// The full keys of the values the file sets (`daemon.leases.lease_slots`).
    pub(super) keys: BTreeSet<String>,
}

/// One entry of a TOML document: its full dotted key, where its key and value
/// are in the text, and whether the value is a table.
pub(super) struct Entry {
    pub(super) key: String,
    key_span: Range<usize>,
    value_span: Range<usize>,
    pub(super) table: bool,
}

/// Every entry of a TOML document, a table before its entries; none if the
/// text is not TOML.
pub(super) fn entries(text: &str) -> Vec<Entry> {
    fn walk(table: &toml::de::DeTable<'_>, prefix: &str, out: &mut Vec<Entry>) {
        for (key, value) in table {
            let key_text = key.get_ref();
            let full = match prefix {
                "" => key_text.to_string(),
                _ => format!("{prefix}.{key_text}"),
            };
            let inner = match value.get_ref() {
                toml::de::DeValue::Table(inner) => Some(inner),
                _ => None,
            };
            out.push(Entry {
                key: full.clone(),
                key_span: key.span(),
                value_span: value.span(),
                table: inner.is_some(),
            });
            if let Some(inner) = inner {
                walk(inner, &full, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(root) = toml::de::DeTable::parse(text) {
        walk(root.get_ref(), "", &mut out);
    }
    out
}

/// The full dotted key (`daemon.tick_ms`) that a parser error in `text`
/// points at: its key, or its value unless that is a table.
pub(super) fn key_at(text: &str, error: &toml::de::Error) -> Option<String> {
    let span = error.span()?;
    let within = |outer: &Range<usize>| outer.start <= span.start && span.end <= outer.end;
    entries(text)
        .into_iter()
        .find(|e| within(&e.key_span) || (!e.table && within(&e.value_span)))
        .map(|e| e.key)
}

/// Each value of `daemon` as `(full key, value)`: scalars of a table before
/// its subtables. Strings are shown without quotes.
pub(super) fn daemon_settings(daemon: &DaemonConfig) -> Vec<(String, String)> {
    fn walk(table: &toml::Table, prefix: &str, out: &mut Vec<(String, String)>) {
        let (tables, values): (Vec<_>, Vec<_>) =
            table.iter().partition(|(_, value)| value.is_table());
        for (key, value) in values {
            let shown = match value {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push((format!("{prefix}.{key}"), shown));
        }
        for (key, value) in tables {
            if let toml::Value::Table(inner) = value {
                walk(inner, &format!("{prefix}.{key}"), out);
            }
        }
    }
    let mut out = Vec::new();
    // Serializing plain numbers, strings and tables cannot fail.
    if let Ok(toml::Value::Table(table)) = toml::Value::try_from(daemon) {
        walk(&table, "daemon", &mut out);
    }
    out
}

impl Resolved {
    /// Each daemon setting as `(key, value, where it came from)`, one row per
    /// value (`daemon.leases.lease_slots`), for display.
    pub fn daemon_fields(&self) -> Vec<(String, String, String)> {
        daemon_settings(&self.config.daemon)
            .into_iter()
            .map(|(key, value)| {
                let source = self.sources.daemon.get(&key).unwrap_or(&Source::Default);
                let source = source.to_string();
                (key, value, source)
            })
            .collect()
    }
}
