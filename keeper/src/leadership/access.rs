//! How a keeper gets into a guarded etcd: the user and password of a cluster with auth
//! enabled, and the CA that signed its `https://` endpoints' certificates, both read
//! from the files `[daemon.leadership]` names.
//!
//! Owns reading those files once, at start-up, with an error naming the key and the
//! file. Must not: talk to etcd (the client in [`super::etcd`] does, with these).

use std::fmt;
use std::path::Path;

use super::config::LeadershipConfig;

/// A user and password for etcd's auth; the password is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// What the etcd client presents and trusts beyond plain HTTP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcdAccess {
    /// Auth enabled on the cluster: the client authenticates before its first call to
    /// each endpoint, and again when a token is no longer taken.
    pub credentials: Option<Credentials>,
    /// PEM certificates trusted for `https://` endpoints, besides the public web roots.
    pub ca_pem: Option<Vec<u8>>,
}

/// A file of `[daemon.leadership]` that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("daemon.leadership.{key} {path}: {reason}")]
pub struct AccessFileError {
    pub key: &'static str,
    pub path: String,
    pub reason: String,
}

impl EtcdAccess {
    /// The access `config` names, its files read now.
    pub fn from_config(config: &LeadershipConfig) -> Result<Self, AccessFileError> {
        let credentials = match (&config.user, &config.password_file) {
            (Some(user), Some(path)) => {
                let password = read("password_file", path)?;
                let password = String::from_utf8(password)
                    .map_err(|_| file_error("password_file", path, "not UTF-8 text"))?;
                let password = password.trim().to_string();
                if password.is_empty() {
                    return Err(file_error("password_file", path, "the file is empty"));
                }
                Some(Credentials {
                    user: user.clone(),
                    password,
                })
            }
            _ => None,
        };
        let ca_pem = match &config.ca_file {
            Some(path) => {
                let pem = read("ca_file", path)?;
                if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
                    return Err(file_error(
                        "ca_file",
                        path,
                        "no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)",
                    ));
                }
                Some(pem)
            }
            None => None,
        };
        Ok(Self {
            credentials,
            ca_pem,
        })
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, AccessFileError> {
    std::fs::read(path).map_err(|e| file_error(key, path, &e.to_string()))
}

fn file_error(key: &'static str, path: &Path, reason: &str) -> AccessFileError {
    AccessFileError {
        key,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_are_read_once_and_a_bad_one_is_named_by_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("password");
        std::fs::write(&password, "s3cret\n").unwrap();
        let config = LeadershipConfig {
            user: Some("keeper".into()),
            password_file: Some(password.clone()),
            ..LeadershipConfig::default()
        };
        let access = EtcdAccess::from_config(&config).unwrap();
        let credentials = access.credentials.unwrap();
        assert_eq!(
            credentials.password, "s3cret",
            "the newline is not part of it"
        );
        assert!(!format!("{credentials:?}").contains("s3cret"));

        std::fs::write(&password, " \n").unwrap();
        let error = EtcdAccess::from_config(&config).unwrap_err();
        assert_eq!(error.key, "password_file");
        assert!(error.to_string().contains("empty"), "{error}");

        let missing = LeadershipConfig {
            ca_file: Some(dir.path().join("nope.pem")),
            ..LeadershipConfig::default()
        };
        let error = EtcdAccess::from_config(&missing).unwrap_err();
        assert!(
            error.to_string().starts_with("daemon.leadership.ca_file "),
            "{error}"
        );
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let error = EtcdAccess::from_config(&LeadershipConfig {
            ca_file: Some(not_pem),
            ..LeadershipConfig::default()
        })
        .unwrap_err();
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
        assert_eq!(
            EtcdAccess::from_config(&LeadershipConfig::default()).unwrap(),
            EtcdAccess::default()
        );
    }
}
