//! [`CertWatcher`]: reloads a [`Certificates`] or a [`CaRoots`] (client CA and CRLs) when its
//! files change (the `watch` feature).
//!
//! Each directory holding a certificate or key file is watched (not the files themselves), so
//! that a file replaced by a rename, an editor's save, or Kubernetes' update of a mounted
//! secret (a new `..data` symlink renamed over the old one, the files being symlinks through
//! it) is seen like a write. Changes are debounced: the reload runs once the directory has
//! been quiet for the debounce time (250 ms by default), and a failed reload (a file written
//! halfway, a key that does not match yet) is tried again on the next change.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{CaRoots, Certificates, TlsError};
use crate::transport::RuntimeError;

/// How long the directories must be quiet before a reload: 250 ms.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(250);

/// Watches the files of a [`Certificates`] or a [`CaRoots`] and reloads it when they change;
/// dropping it stops watching. Made by [`Certificates::watch`] and [`CaRoots::watch`].
#[must_use = "the files are watched only while the CertWatcher lives"]
pub struct CertWatcher {
    _watcher: notify::RecommendedWatcher,
    task: JoinHandle<()>,
    dirs: Vec<PathBuf>,
}

impl std::fmt::Debug for CertWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertWatcher")
            .field("dirs", &self.dirs)
            .finish_non_exhaustive()
    }
}

impl Drop for CertWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CertWatcher {
    /// The directories watched.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }
}

impl Certificates {
    /// Reloads these certificates whenever their files change, debounced by
    /// [`DEFAULT_DEBOUNCE`]; see [`watch_with`](Self::watch_with).
    pub fn watch(&self) -> Result<CertWatcher, TlsError> {
        self.watch_with(DEFAULT_DEBOUNCE)
    }

    /// Reloads these certificates ([`reload`](Self::reload): a certificate that fails keeps
    /// the old one and is logged at warn) once their directories have been quiet for
    /// `debounce` after a change. Must be called inside a tokio runtime; the reloads run on
    /// its blocking pool. Certificates given in memory are not watched.
    pub fn watch_with(&self, debounce: Duration) -> Result<CertWatcher, TlsError> {
        let certs = self.clone();
        watch_files(&self.files(), debounce, move || {
            // Failures are logged by reload itself, each with its file.
            let _ = certs.reload();
        })
    }
}

impl CaRoots {
    /// Reloads the client CA and CRL files whenever they change, debounced by
    /// [`DEFAULT_DEBOUNCE`]; see [`watch_with`](Self::watch_with).
    pub fn watch(&self) -> Result<CertWatcher, TlsError> {
        self.watch_with(DEFAULT_DEBOUNCE)
    }

    /// Reloads the client CA and CRL files ([`reload`](Self::reload): a failure keeps what
    /// was loaded and is logged at warn with the file) once their directories have been
    /// quiet for `debounce` after a change. Must be called inside a tokio runtime.
    pub fn watch_with(&self, debounce: Duration) -> Result<CertWatcher, TlsError> {
        let roots = self.clone();
        watch_files(&self.files(), debounce, move || {
            let _ = roots.reload();
        })
    }
}

fn watch_files(
    files: &[PathBuf],
    debounce: Duration,
    reload: impl Fn() + Clone + Send + 'static,
) -> Result<CertWatcher, TlsError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| TlsError::Watch {
        path: PathBuf::new(),
        source: RuntimeError::Missing.into(),
    })?;
    let dirs: BTreeSet<PathBuf> = files.iter().map(|f| parent(f)).collect();
    // One pending change is enough: the reload reads everything again anyway.
    let (tx, rx) = mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            // Reading the files (our own reload does) is no change.
            Ok(e) if matches!(e.kind, EventKind::Access(_)) => {}
            Ok(_) => {
                let _ = tx.try_send(());
            }
            Err(e) => tracing::warn!(error = %e, "certificate file watcher"),
        }
    })
    .map_err(|e| watch_error(Path::new(""), e))?;
    for dir in &dirs {
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|e| watch_error(dir, e))?;
    }
    let dirs: Vec<PathBuf> = dirs.into_iter().collect();
    tracing::info!(dirs = ?dirs, "watching certificate files");
    let task = runtime.spawn(reload_on_change(reload, rx, debounce));
    Ok(CertWatcher {
        _watcher: watcher,
        task,
        dirs,
    })
}

fn parent(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn watch_error(path: &Path, e: notify::Error) -> TlsError {
    TlsError::Watch {
        path: path.to_owned(),
        source: e.into(),
    }
}

async fn reload_on_change(
    reload: impl Fn() + Clone + Send + 'static,
    mut changes: mpsc::Receiver<()>,
    debounce: Duration,
) {
    while changes.recv().await.is_some() {
        // Wait for quiet: every further change within `debounce` starts the wait again.
        loop {
            match tokio::time::timeout(debounce, changes.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return,
                Err(_) => break,
            }
        }
        let reload = reload.clone();
        // The blocking pool's threads log to the subscriber of the watching task.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let done = tokio::task::spawn_blocking(move || {
            tracing::dispatcher::with_default(&dispatch, reload)
        });
        let _ = done.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watching_outside_a_runtime_says_why_in_the_source() {
        let e = watch_files(&[], DEFAULT_DEBOUNCE, || {}).unwrap_err();
        assert!(matches!(e, TlsError::Watch { .. }), "{e}");
        twinport_testkit::errors::assert_typed_cause::<RuntimeError>(&e);
    }
}
