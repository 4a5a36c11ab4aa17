//! [`OpensslCa`]: a client-certificate CA run with the `openssl ca` command, as an operator
//! runs one: certificates issued, revoked (`openssl ca -revoke`) and CRLs written
//! (`openssl ca -gencrl`), independent of the Rust code under test.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fs::TempDir;

const CONFIG: &str = r#"
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = DIR
database = $dir/index.txt
new_certs_dir = $dir
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 1
policy = policy_any
unique_subject = no
[ policy_any ]
commonName = supplied
[ req ]
distinguished_name = dn
[ dn ]
[ v3_ca ]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ client ]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"#;

/// An `openssl ca` directory: `ca.pem`, its key, its database; clients as `NAME.pem` /
/// `NAME.key`.
pub struct OpensslCa {
    dir: TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl OpensslCa {
    /// A new CA named `cn` (P-256), valid for 30 days.
    pub fn new(tag: &str, cn: &str) -> Self {
        let dir = TempDir::new(tag);
        let d = dir.dir();
        std::fs::write(
            d.join("openssl.cnf"),
            CONFIG.replace("DIR", &d.display().to_string()),
        )
        .unwrap();
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::write(d.join("serial"), "1000\n").unwrap();
        std::fs::write(d.join("crlnumber"), "1000\n").unwrap();
        // Self-signed, with the CA extensions of the configuration.
        new_key_request(
            d,
            &["-x509", "-extensions", "v3_ca", "-days", "30"],
            "ca",
            cn,
        );
        Self { dir }
    }

    /// A file of the CA's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path(name)
    }

    /// Issues a client certificate with common name `name`: `NAME.pem`, `NAME.key`.
    pub fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
        let d = self.dir.dir();
        let (csr, pem, key) = (
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.key"),
        );
        new_key_request(d, &[], name, name);
        openssl(
            d,
            &[
                "ca",
                "-batch",
                "-config",
                "openssl.cnf",
                "-extensions",
                "client",
                "-notext",
                "-in",
                &csr,
                "-out",
                &pem,
            ],
        );
        (self.path(&pem), self.path(&key))
    }

    /// Revokes `name`'s certificate in the CA's database (`openssl ca -revoke`).
    pub fn revoke(&self, name: &str) {
        let pem = format!("{name}.pem");
        openssl(
            self.dir.dir(),
            &["ca", "-config", "openssl.cnf", "-revoke", &pem],
        );
    }

    /// Writes the CA's CRL (`openssl ca -gencrl`, PEM) to `to`, by a rename.
    pub fn write_crl(&self, to: &Path) {
        let tmp = self.path("crl.tmp.pem");
        openssl(
            self.dir.dir(),
            &[
                "ca",
                "-config",
                "openssl.cnf",
                "-gencrl",
                "-out",
                crate::fs::path_arg(&tmp),
            ],
        );
        std::fs::rename(&tmp, to).unwrap();
    }
}

/// `openssl req -new` for a new P-256 key without a passphrase, written to `NAME.key`, and the
/// subject `/CN=cn`; with `-x509` in `args` the output `NAME.pem` is a certificate, otherwise
/// the request `NAME.csr`.
fn new_key_request(dir: &Path, args: &[&str], name: &str, cn: &str) {
    let key = format!("{name}.key");
    let out = format!(
        "{name}.{}",
        if args.contains(&"-x509") {
            "pem"
        } else {
            "csr"
        }
    );
    let subj = format!("/CN={cn}");
    let mut all = vec!["req", "-new", "-config", "openssl.cnf"];
    all.extend_from_slice(args);
    all.extend([
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ]);
    all.extend(["-keyout", &key, "-out", &out, "-subj", &subj]);
    openssl(dir, &all);
}
