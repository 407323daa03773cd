//! The keeper's signing key: loading it from a `solana-keygen` file, with one
//! distinct error for each way that can go wrong.
//!
//! Owns reading and checking the keypair file. Must not print, log or put
//! into an error any byte of the file: messages name the path, the length or
//! the position of a bad element, never a value.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use solana_sdk::signature::Keypair;

/// Bytes in a keypair file: a 32-byte ed25519 secret key, then its 32-byte
/// public key.
pub const KEYPAIR_LENGTH: usize = 64;

/// Why a keypair could not be loaded.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum KeypairError {
    /// There is no file at the path.
    #[error(
        "keypair file {} does not exist; create one with `solana-keygen new -o {}`",
        path.display(),
        path.display()
    )]
    Missing {
        /// The path looked at.
        path: PathBuf,
    },
    /// The file exists but cannot be read (permissions, a directory, ...).
    #[error("keypair file {} cannot be read", path.display())]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not JSON.
    #[error(
        "keypair file {} is not JSON (expected a JSON array of {KEYPAIR_LENGTH} bytes, as \
         written by solana-keygen): error at line {line}, column {column}",
        path.display()
    )]
    NotJson {
        /// The path.
        path: PathBuf,
        /// Where parsing stopped.
        line: usize,
        /// Where parsing stopped.
        column: usize,
    },
    /// The file is JSON but not an array of integers from 0 to 255.
    #[error(
        "keypair file {} is not a JSON array of bytes: {what}",
        path.display()
    )]
    NotByteArray {
        /// The path.
        path: PathBuf,
        /// What is wrong, by position only.
        what: String,
    },
    /// The array does not hold 64 bytes.
    #[error(
        "keypair file {} holds {len} bytes, expected {KEYPAIR_LENGTH} (32-byte secret key \
         followed by 32-byte public key)",
        path.display()
    )]
    WrongLength {
        /// The path.
        path: PathBuf,
        /// How many bytes it holds.
        len: usize,
    },
    /// The 64 bytes are not an ed25519 keypair: the public half is not the
    /// key derived from the secret half.
    #[error(
        "keypair file {} is not a valid ed25519 keypair: its public key does not match its \
         secret key",
        path.display()
    )]
    Mismatch {
        /// The path.
        path: PathBuf,
    },
}

impl KeypairError {
    /// A stable label for this kind of error, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        self.into()
    }

    /// The keypair path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            KeypairError::Missing { path }
            | KeypairError::Unreadable { path, .. }
            | KeypairError::NotJson { path, .. }
            | KeypairError::NotByteArray { path, .. }
            | KeypairError::WrongLength { path, .. }
            | KeypairError::Mismatch { path } => path,
        }
    }
}

/// Loads the keypair file at `path` (a JSON array of 64 bytes).
pub fn load_keypair(path: &Path) -> Result<Keypair, KeypairError> {
    let bytes = fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => KeypairError::Missing {
            path: path.to_path_buf(),
        },
        _ => KeypairError::Unreadable {
            path: path.to_path_buf(),
            source,
        },
    })?;
    parse_keypair(&bytes, path)
}

/// Permission bits of a keypair file that let anyone but its owner read or change it.
pub const GROUP_OTHER_BITS: u32 = 0o077;

/// A warning when the keypair file at `path` can be read or written by its group or
/// by others (a signing key anyone on the host can copy, or swap for their own), as
/// ssh warns about a private key; `None` when only the owner has access, or when the
/// mode cannot be read (the load reports that). Names the path and the mode, never a
/// byte of the key.
pub fn permission_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
        if mode & GROUP_OTHER_BITS == 0 {
            return None;
        }
        let who = match (mode & 0o070 != 0, mode & 0o007 != 0) {
            (true, true) => "its group and others",
            (true, false) => "its group",
            _ => "others",
        };
        Some(format!(
            "keypair file {} has mode {mode:04o}: {who} can read or change the keeper's \
             signing key; run `chmod 600 {}`",
            path.display(),
            path.display()
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Parses the contents of a keypair file; `path` is only used in errors.
pub fn parse_keypair(contents: &[u8], path: &Path) -> Result<Keypair, KeypairError> {
    let path = || path.to_path_buf();
    // Parse to a generic value first: serde's own messages for a typed
    // `Vec<u8>` would quote the offending value.
    let value: serde_json::Value =
        serde_json::from_slice(contents).map_err(|e| KeypairError::NotJson {
            path: path(),
            line: e.line(),
            column: e.column(),
        })?;
    let serde_json::Value::Array(items) = value else {
        return Err(KeypairError::NotByteArray {
            path: path(),
            what: format!("top-level value is {}", kind_of(&value)),
        });
    };
    let mut bytes = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let byte = item.as_u64().and_then(|n| u8::try_from(n).ok());
        match byte {
            Some(b) => bytes.push(b),
            None => {
                return Err(KeypairError::NotByteArray {
                    path: path(),
                    what: format!("element {index} is not an integer from 0 to 255"),
                })
            }
        }
    }
    if bytes.len() != KEYPAIR_LENGTH {
        return Err(KeypairError::WrongLength {
            path: path(),
            len: bytes.len(),
        });
    }
    let keypair =
        Keypair::try_from(bytes.as_slice()).map_err(|_| KeypairError::Mismatch { path: path() });
    bytes.fill(0);
    keypair
}

fn kind_of(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_sdk::signer::Signer;

    fn write(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, contents).unwrap();
        path
    }

    fn json(bytes: &[u8]) -> Vec<u8> {
        serde_json::to_vec(bytes).unwrap()
    }

    #[test]
    fn loads_a_solana_keygen_file() {
        let dir = tempfile::tempdir().unwrap();
        let original = Keypair::new();
        let path = write(dir.path(), "id.json", &json(&original.to_bytes()));
        let loaded = load_keypair(&path).unwrap();
        assert_eq!(loaded.pubkey(), original.pubkey());
    }

    #[test]
    fn accepts_surrounding_whitespace() {
        let dir = tempfile::tempdir().unwrap();
        let original = Keypair::new();
        let mut text = b"\n  ".to_vec();
        text.extend(json(&original.to_bytes()));
        text.extend(b"\n");
        let path = write(dir.path(), "id.json", &text);
        assert_eq!(load_keypair(&path).unwrap().pubkey(), original.pubkey());
    }

    #[test]
    fn missing_file_says_how_to_create_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.json");
        let err = load_keypair(&path).unwrap_err();
        assert_eq!(err.kind(), "missing");
        assert_eq!(
            err.to_string(),
            format!(
                "keypair file {p} does not exist; create one with `solana-keygen new -o {p}`",
                p = path.display()
            )
        );
    }

    #[test]
    fn unreadable_path_is_unreadable_not_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_keypair(dir.path()).unwrap_err();
        assert_eq!(err.kind(), "unreadable");
        assert_eq!(
            err.to_string(),
            format!("keypair file {} cannot be read", dir.path().display())
        );
        assert!(std::error::Error::source(&err).is_some());
    }

    #[cfg(unix)]
    #[test]
    fn file_without_read_permission_is_unreadable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "id.json", &json(&Keypair::new().to_bytes()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
        if fs::read(&path).is_ok() {
            // Running as root: permissions do not stop reads, nothing to test.
            return;
        }
        let err = load_keypair(&path).unwrap_err();
        assert_eq!(err.kind(), "unreadable");
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("ermission denied"), "{source}");
    }

    #[test]
    fn non_json_file_is_not_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "id.json", b"not json at all");
        let err = load_keypair(&path).unwrap_err();
        assert_eq!(err.kind(), "not_json");
        assert!(
            err.to_string()
                .starts_with(&format!("keypair file {} is not JSON", path.display())),
            "{err}"
        );
    }

    #[test]
    fn binary_file_is_not_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "id.json", &[0xff; 64]);
        assert_eq!(load_keypair(&path).unwrap_err().kind(), "not_json");
    }

    #[test]
    fn json_that_is_not_a_byte_array_is_rejected_without_echoing_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "id.json", b"{\"secret\": 1}");
        let err = load_keypair(&path).unwrap_err();
        assert_eq!(err.kind(), "not_byte_array");
        assert!(
            err.to_string().ends_with("top-level value is an object"),
            "{err}"
        );

        let mut bytes: Vec<u64> = vec![7; 64];
        bytes[3] = 4242;
        let path = write(dir.path(), "big.json", &serde_json::to_vec(&bytes).unwrap());
        let err = load_keypair(&path).unwrap_err();
        assert_eq!(err.kind(), "not_byte_array");
        let msg = err.to_string();
        assert!(
            msg.ends_with("element 3 is not an integer from 0 to 255"),
            "{msg}"
        );
        assert!(!msg.contains("4242"), "{msg}");
    }

    #[test]
    fn wrong_length_says_64_expected() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "id.json", &json(&[1u8; 32]));
        let err = load_keypair(&path).unwrap_err();
        assert_eq!(err.kind(), "wrong_length");
        assert_eq!(
            err.to_string(),
            format!(
                "keypair file {} holds 32 bytes, expected 64 (32-byte secret key followed by \
                 32-byte public key)",
                path.display()
            )
        );
    }

    #[test]
    fn public_half_not_matching_secret_is_a_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Keypair::new().to_bytes();
        bytes[32..].copy_from_slice(&Keypair::new().to_bytes()[32..]);
        let path = write(dir.path(), "id.json", &json(&bytes));
        let err = load_keypair(&path).unwrap_err();
        assert_eq!(err.kind(), "mismatch");
        assert_eq!(
            err.to_string(),
            format!(
                "keypair file {} is not a valid ed25519 keypair: its public key does not match \
                 its secret key",
                path.display()
            )
        );
    }

    #[test]
    fn errors_never_contain_secret_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let keypair = Keypair::new();
        let mut bytes = keypair.to_bytes();
        bytes[63] ^= 1;
        let path = write(dir.path(), "id.json", &json(&bytes));
        let err = load_keypair(&path).unwrap_err();
        let shown = format!("{err} {err:?}");
        let secret = json(&bytes[..32]);
        let secret = String::from_utf8(secret).unwrap();
        assert!(!shown.contains(secret.trim_matches(['[', ']'])), "{shown}");
        assert_eq!(err.path(), path);
    }
}
