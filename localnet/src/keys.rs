//! Keypair files in the Solana CLI's format (a JSON array of 64 bytes).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use solana_sdk::signature::Keypair;

/// Reads the keypair at `path`, or creates one there (mode 0600, written whole) if the
/// file does not exist. A file that exists but is not a keypair is an error, never
/// overwritten.
pub fn load_or_create(path: &Path) -> anyhow::Result<Keypair> {
    if path.exists() {
        let text = fs::read_to_string(path)
            .with_context(|| format!("reading keypair file {}", path.display()))?;
        let bytes: Vec<u8> = serde_json::from_str(&text).with_context(|| {
            format!(
                "keypair file {} is not a JSON array of bytes; give another path or remove it",
                path.display()
            )
        })?;
        return Keypair::try_from(bytes.as_slice()).with_context(|| {
            format!(
                "keypair file {} does not hold a valid keypair",
                path.display()
            )
        });
    }
    let keypair = Keypair::new();
    let json = serde_json::to_string(&keypair.to_bytes().to_vec())?;
    let partial = path.with_extension("json.partial");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("creating keypair file {}", partial.display()))?;
    file.write_all(json.as_bytes())?;
    file.sync_all()?;
    fs::rename(&partial, path)
        .with_context(|| format!("moving keypair file into place at {}", path.display()))?;
    Ok(keypair)
}

#[cfg(test)]
mod tests {
    use solana_sdk::signer::Signer;

    use super::*;

    #[test]
    fn a_missing_file_is_created_private_and_read_back_as_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keeper.json");
        let created = load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        assert_eq!(load_or_create(&path).unwrap().pubkey(), created.pubkey());
    }

    #[test]
    fn a_file_that_is_not_a_keypair_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keeper.json");
        fs::write(&path, "not json").unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("not a JSON array"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "not json");
    }
}
