//! The example server (`examples/serve`) as a user runs it: its own process, started with the
//! arguments a test gives, the address taken from its first line on stdout.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::peers::missing;
use crate::time::bounded;

/// The example's binary, built by `cargo test` next to the test's own
/// (`TWINPORT_EXAMPLE_BIN` names another: a target directory shared by several checkouts
/// holds only the last `examples/serve` built); `None`, skipped or failed as peers are, when
/// it is not there.
pub fn example_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("TWINPORT_EXAMPLE_BIN") {
        return Some(bin.into());
    }
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("examples").join("serve");
    if bin.is_file() {
        Some(bin)
    } else {
        missing(&format!(
            "{} is not built (cargo test builds it)",
            bin.display()
        ))
    }
}

/// A running example process; killed when dropped.
pub struct ExampleProcess {
    /// The process.
    pub child: Child,
    /// The address it printed: TCP and UDP.
    pub addr: SocketAddr,
}

impl ExampleProcess {
    /// Starts the example with `args` (`--addr 127.0.0.1:0` unless they name one); returns
    /// once it printed its address. `None` when the binary is not built (see
    /// [`example_binary`]).
    pub async fn start(args: &[&str]) -> Option<Self> {
        let bin = example_binary()?;
        let mut cmd = Command::new(bin);
        if !args.contains(&"--addr") {
            cmd.args(["--addr", "127.0.0.1:0"]);
        }
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the example");
        let stdout = child.stdout.take().expect("its stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = bounded(60, "the example's first line", lines.next_line())
            .await
            .expect("reading its stdout")
            .unwrap_or_default();
        let addr = line
            .strip_prefix("listening on https://")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("the example's first line names no address: {line:?}"));
        Some(Self { child, addr })
    }
}
