//! The Solana CLI config file (`config.yml`): the few top-level keys the
//! keeper reads from it, and `~` expansion for the paths it names.
//!
//! Must not: read the file itself or decide which file to read (that is
//! `resolve.rs`).

use std::path::{Path, PathBuf};

/// A line of a Solana CLI config file that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct CliConfigParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: &'static str,
}

/// The keys the keeper reads from a Solana CLI config file. Other keys, and
/// nested mappings such as `address_labels`, are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SolanaCliConfig {
    /// `json_rpc_url`.
    pub json_rpc_url: Option<String>,
    /// `websocket_url` (the CLI writes `""` for "derive from json_rpc_url").
    pub websocket_url: Option<String>,
    /// `keypair_path`, as written (no `~` expansion).
    pub keypair_path: Option<String>,
    /// `commitment`.
    pub commitment: Option<String>,
}

impl SolanaCliConfig {
    /// Parses the top-level `key: value` lines of the CLI's YAML file.
    /// Values may be plain, `'single'` or `"double"` quoted, and followed by a
    /// `# comment`; empty, `~` and `null` values count as unset. Indented
    /// lines, comments, document markers and unknown keys are skipped. Only a
    /// broken quoted value of a key the keeper reads is an error.
    pub fn parse(text: &str) -> Result<Self, CliConfigParseError> {
        let mut out = SolanaCliConfig::default();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with([' ', '\t', '#', '-', '.']) {
                continue;
            }
            let Some((key, rest)) = split_key(line) else {
                continue;
            };
            let slot = match key {
                "json_rpc_url" => &mut out.json_rpc_url,
                "websocket_url" => &mut out.websocket_url,
                "keypair_path" => &mut out.keypair_path,
                "commitment" => &mut out.commitment,
                _ => continue,
            };
            let value = parse_scalar(rest).map_err(|reason| CliConfigParseError {
                line: index + 1,
                reason,
            })?;
            *slot = value.filter(|v| !v.is_empty());
        }
        Ok(out)
    }
}

/// Splits `key: value` (or `key:` at the end of the line); the key may be quoted.
fn split_key(line: &str) -> Option<(&str, &str)> {
    let (key, rest) = match line.find(": ") {
        Some(i) => (&line[..i], &line[i + 2..]),
        None => (line.strip_suffix(':')?, ""),
    };
    let key = key.trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(key);
    Some((key, rest))
}

/// Parses one YAML scalar: plain, single- or double-quoted, with an optional
/// trailing comment. `Ok(None)` is YAML's null.
fn parse_scalar(raw: &str) -> Result<Option<String>, &'static str> {
    let s = raw.trim();
    let (value, rest) = if let Some(body) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = body.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some(e @ ('"' | '\\' | '/' | ' ')) => value.push(e),
                    _ => return Err("unsupported escape in double-quoted value"),
                },
                c => value.push(c),
            }
        }
        let end = end.ok_or("unterminated double-quoted value")?;
        (value, &body[end..])
    } else if let Some(body) = s.strip_prefix('\'') {
        let mut value = String::new();
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().map(|&(_, n)| n) == Some('\'') {
                    chars.next();
                    value.push('\'');
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                value.push(c);
            }
        }
        let end = end.ok_or("unterminated single-quoted value")?;
        (value, &body[end..])
    } else {
        // A plain scalar ends at a comment: `#` at the start or after a blank.
        let cut = s
            .char_indices()
            .find(|&(i, c)| c == '#' && (i == 0 || s[..i].ends_with(|p: char| p.is_whitespace())))
            .map_or(s.len(), |(i, _)| i);
        let value = s[..cut].trim_end();
        if matches!(value, "" | "~" | "null" | "Null" | "NULL") {
            return Ok(None);
        }
        return Ok(Some(value.to_string()));
    };
    let rest = rest.trim_start();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err("unexpected text after closing quote");
    }
    Ok(Some(value))
}

/// Replaces a leading `~` component with the home directory, if known.
pub fn expand_tilde(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) if rest.as_os_str().is_empty() => home.to_path_buf(),
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}
