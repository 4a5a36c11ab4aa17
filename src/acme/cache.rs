//! The cache directory: the account's credentials and each certificate with its key, every
//! file written whole (a temporary file renamed) and readable by the owner only (0600; the
//! directory 0700).

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::AcmeError;

/// Where an ACME client keeps what it must not lose.
#[derive(Clone, Debug)]
pub(super) struct Cache {
    dir: PathBuf,
    /// A stem that tells apart directories (CAs) and sets of names sharing the cache.
    account_stem: String,
    cert_stem: String,
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Cache {
    pub(super) fn new(dir: &Path, directory_url: &str, names: &[String]) -> Self {
        let first = names
            .first()
            .map(|n| n.replace('*', "_"))
            .unwrap_or_default();
        let mut all: Vec<&str> = vec![directory_url];
        all.extend(names.iter().map(String::as_str));
        Self {
            dir: dir.to_owned(),
            account_stem: format!("account-{}", short_hash(&[directory_url])),
            cert_stem: format!("cert-{first}-{}", short_hash(&all)),
        }
    }

    pub(super) fn account_file(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.account_stem))
    }

    pub(super) fn cert_file(&self) -> PathBuf {
        self.dir.join(format!("{}.pem", self.cert_stem))
    }

    pub(super) fn key_file(&self) -> PathBuf {
        self.dir.join(format!("{}.key", self.cert_stem))
    }

    /// Makes the directory (0700) if it is missing.
    pub(super) fn create_dir(&self) -> Result<(), AcmeError> {
        let io = |source| AcmeError::Cache {
            path: self.dir.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io)?;
        }
        Ok(())
    }

    /// The file's bytes, `None` if there is no such file.
    pub(super) fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, AcmeError> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(AcmeError::Cache {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Writes `data` to `path` (0600) through a temporary file renamed over it.
    pub(super) fn write(&self, path: &Path, data: &[u8]) -> Result<(), AcmeError> {
        let io = |source| AcmeError::Cache {
            path: path.to_owned(),
            source,
        };
        let tmp = path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io)?;
        file.write_all(data).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}
