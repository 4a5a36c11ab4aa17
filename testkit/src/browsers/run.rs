//! A running browser: waiting for its page's report, killing its process group.

use std::process::Stdio;

use serde_json::Value;
use tokio::sync::MutexGuard;

use crate::apps::browser::Reports;
use crate::fs::TempDir;
use crate::time::LIMIT;

/// A running browser in its own process group; dropping it kills the group.
pub struct BrowserRun {
    name: &'static str,
    child: tokio::process::Child,
    pid: Option<u32>,
    profile: TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl BrowserRun {
    /// Starts `cmd` (browser `name`, profile in `profile`) in a process group of its own, its
    /// standard error going to the profile's `stderr.txt`.
    pub(super) fn spawn(
        name: &'static str,
        mut cmd: tokio::process::Command,
        profile: TempDir,
        turn: MutexGuard<'static, ()>,
    ) -> Self {
        let stderr = std::fs::File::create(profile.path("stderr.txt")).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self {
            name,
            pid: child.id(),
            child,
            profile,
            _turn: turn,
        }
    }

    /// The report the page `page` POSTs to the server of `reports`; fails the test if the
    /// browser exits first or nothing comes within [`LIMIT`].
    pub async fn report(&mut self, reports: &Reports, page: &str) -> Value {
        let name = self.name;
        tokio::select! {
            report = reports.next(page) => report,
            status = self.child.wait() => {
                panic!("{name} exited ({status:?}) before {page} reported: {}", self.stderr())
            }
            _ = tokio::time::sleep(LIMIT) => {
                panic!("{page} did not report within {LIMIT:?}: {}", self.stderr())
            }
        }
    }

    /// `name` inside the browser's (temporary) profile directory.
    pub fn profile_path(&self, name: &str) -> std::path::PathBuf {
        self.profile.path(name)
    }

    /// What the browser wrote to its standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.profile.path("stderr.txt")).unwrap_or_default()
    }

    /// Kills the browser and every process it started, and waits for it.
    pub async fn close(mut self) {
        self.kill_group();
        let _ = crate::time::within(self.child.wait()).await;
    }

    fn kill_group(&mut self) {
        if let Some(pid) = self.pid.take() {
            // Its own process group (`process_group(0)`): its child processes too.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for BrowserRun {
    fn drop(&mut self) {
        self.kill_group();
    }
}
