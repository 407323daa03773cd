//! A certificate authority of a test's own, for servers started with TLS (etcd,
//! nats-server): a CA and one server certificate for 127.0.0.1 it signed, made with the
//! `openssl` command line (Debian's `openssl` package, which `scripts/test.sh`
//! installs) in a temporary directory.
//!
//! Without `openssl` [`TestCa::new`] answers `None` after a loud message (the test is
//! skipped), unless `CI` is set: then it fails.

use std::path::PathBuf;
use std::process::Command;

use tempfile::TempDir;

use super::servers::server_binary;

/// A CA and the server certificate it signed; the files live as long as this.
pub struct TestCa {
    dir: TempDir,
}

impl TestCa {
    pub fn new() -> Option<Self> {
        let openssl = server_binary("openssl", "OPENSSL_BIN", "openssl", "TLS")?;
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let output = Command::new(&openssl)
                .current_dir(dir.path())
                .args(args)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem"],
            &["-days", "2", "-subj", "/CN=keeper test CA"],
        ]
        .concat());
        run(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat());
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyAgreement\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        Some(Self { dir })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA's certificate: what a client trusts.
    pub fn ca(&self) -> PathBuf {
        self.file("ca.pem")
    }

    /// The server's certificate and key.
    pub fn server(&self) -> (PathBuf, PathBuf) {
        (self.file("server.pem"), self.file("server.key"))
    }
}
