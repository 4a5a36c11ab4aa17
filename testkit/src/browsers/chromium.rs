//! Headless Chromium in a fresh profile that accepts the test server's key.

use std::path::PathBuf;

use super::{BrowserRun, ONE_BROWSER};
use crate::fs::TempDir;
use crate::peers::{require_any, run};

/// Headless Chromium (`chromium` or `chromium-browser`).
pub struct Chromium {
    program: PathBuf,
}

impl Chromium {
    /// Chromium from `PATH`, or a skip (see [`require`](crate::peers::require)).
    pub fn require() -> Option<Self> {
        let program = require_any(&["chromium", "chromium-browser"])?;
        Some(Self { program })
    }

    /// Opens `url` in headless Chromium (real time, no DOM dump), in a fresh profile that
    /// accepts the server certificate whose SPKI sha256 (base64) is `spki`; `extra` flags come
    /// before the URL. For the kit's pages, which report to the server. Chromium writes its
    /// net-log to `netlog.json` in the profile ([`BrowserRun::profile_path`]): it names, for
    /// one, the WebTransport draft each session negotiated.
    pub async fn open(&self, url: &str, spki: &str, extra: &[&str]) -> BrowserRun {
        let turn = ONE_BROWSER.lock().await;
        let profile = TempDir::new("chromium");
        let mut cmd = tokio::process::Command::new(&self.program);
        let netlog = format!("--log-net-log={}", profile.path("netlog.json").display());
        cmd.args(base_args(&profile, spki))
            .arg(netlog)
            .args(extra)
            .arg(url)
            .env("HOME", profile.dir());
        BrowserRun::spawn("Chromium", cmd, profile, turn)
    }

    /// The DOM of `url` once the page has settled (10 s of virtual time), loaded in a fresh
    /// profile that accepts the server certificate whose SPKI sha256 (base64) is `spki`;
    /// `extra` flags come before the URL.
    pub async fn dom(&self, url: &str, spki: &str, extra: &[&str]) -> String {
        let _turn = ONE_BROWSER.lock().await;
        let profile = TempDir::new("chromium");
        let mut args = base_args(&profile, spki);
        args.extend(["--virtual-time-budget=10000", "--dump-dom"].map(String::from));
        args.extend(extra.iter().map(|a| a.to_string()));
        args.push(url.to_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&self.program, &args).await.stdout
    }
}

/// Headless, in `profile`, trusting the key `spki`, with nothing reaching for the internet.
fn base_args(profile: &TempDir, spki: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("--user-data-dir={}", profile.dir().display()));
    args.push(format!("--ignore-certificate-errors-spki-list={spki}"));
    args
}

/// The text of the page element with this id in `dom`, up to its first child element.
pub fn shown<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let rest = &dom[start..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find('<')?;
    Some(&rest[open..open + close])
}
