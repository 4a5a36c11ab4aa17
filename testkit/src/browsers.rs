//! Browsers as test peers, without a browser driver: headless [`Firefox`] and [`Chromium`],
//! each in a fresh profile, one browser at a time per test process (two on a 2-core machine
//! starve each other's pages).
//!
//! - Firefox trusts the test CA through its profile's NSS database (`certutil`, from
//!   libnss3-tools), its `user.js` turns off everything that would reach for the internet
//!   (first-run pages, telemetry, updates, safe browsing, captive portal detection, remote
//!   settings...), and nothing forces QUIC: it moves to HTTP/3 through Alt-Svc on its own. Its
//!   pages report by POSTing to the server ([`Reports`]);
//!   [`FirefoxRun::report`] waits for that, and the whole process group is killed on every path.
//! - Chromium trusts the server by its key (`--ignore-certificate-errors-spki-list`) and
//!   hands back the page's DOM ([`Chromium::dom`], [`shown`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};

use crate::app::browser::Reports;
use crate::fs::{path_arg, TempDir};
use crate::peers::{require, require_any, run};
use crate::time::LIMIT;

/// Held while a browser runs: one at a time per test process.
static ONE_BROWSER: Mutex<()> = Mutex::const_new(());

/// The prefs of a Firefox test profile: HTTP/3 despite a CA that is not Mozilla's (without
/// this Firefox stays on HTTP/2 when an imported root is in use), and nothing that would
/// reach for the internet this machine may not have.
const FIREFOX_PREFS: &[(&str, &str)] = &[
    (
        "network.http.http3.disable_when_third_party_roots_found",
        "false",
    ),
    ("browser.shell.checkDefaultBrowser", "false"),
    ("browser.startup.homepage_override.mstone", "\"ignore\""),
    ("startup.homepage_welcome_url", "\"\""),
    ("startup.homepage_welcome_url.additional", "\"\""),
    ("browser.aboutwelcome.enabled", "false"),
    ("browser.newtabpage.enabled", "false"),
    ("browser.sessionstore.resume_from_crash", "false"),
    ("datareporting.policy.dataSubmissionEnabled", "false"),
    ("datareporting.healthreport.uploadEnabled", "false"),
    ("toolkit.telemetry.enabled", "false"),
    ("toolkit.telemetry.unified", "false"),
    ("toolkit.telemetry.server", "\"\""),
    ("app.normandy.enabled", "false"),
    ("app.normandy.api_url", "\"\""),
    ("app.shield.optoutstudies.enabled", "false"),
    ("app.update.disabledForTesting", "true"),
    ("app.update.auto", "false"),
    ("browser.safebrowsing.malware.enabled", "false"),
    ("browser.safebrowsing.phishing.enabled", "false"),
    ("browser.safebrowsing.downloads.enabled", "false"),
    ("browser.safebrowsing.blockedURIs.enabled", "false"),
    ("browser.safebrowsing.update.enabled", "false"),
    ("network.captive-portal-service.enabled", "false"),
    ("network.connectivity-service.enabled", "false"),
    ("captivedetect.canonicalURL", "\"\""),
    // Release builds ignore this unless MOZ_REMOTE_SETTINGS_DEVTOOLS=1 (set in `open`).
    (
        "services.settings.server",
        "\"data:,#remote-settings-dummy/v1\"",
    ),
    ("extensions.update.enabled", "false"),
    ("extensions.getAddons.cache.enabled", "false"),
    ("extensions.blocklist.enabled", "false"),
    ("browser.search.update", "false"),
    ("browser.region.update.enabled", "false"),
    ("browser.region.network.url", "\"\""),
    ("geo.provider.network.url", "\"\""),
    ("browser.discovery.enabled", "false"),
    ("media.gmp-manager.url", "\"\""),
    // Glean: a negative port discards every ping instead of uploading it.
    ("telemetry.fog.test.localhost_port", "-1"),
    (
        "browser.newtabpage.activity-stream.unifiedAds.endpoint",
        "\"\"",
    ),
    (
        "browser.newtabpage.activity-stream.unifiedAds.spocs.enabled",
        "false",
    ),
    (
        "browser.newtabpage.activity-stream.unifiedAds.tiles.enabled",
        "false",
    ),
    ("browser.newtabpage.activity-stream.showSponsored", "false"),
    (
        "browser.newtabpage.activity-stream.showSponsoredTopSites",
        "false",
    ),
    ("browser.topsites.contile.enabled", "false"),
    ("dom.push.enabled", "false"),
    ("dom.push.serverURL", "\"\""),
    ("network.trr.mode", "5"),
    ("security.OCSP.enabled", "0"),
    ("network.predictor.enabled", "false"),
    ("network.prefetch-next", "false"),
    ("network.dns.disablePrefetch", "true"),
    ("network.http.speculative-parallel-limit", "0"),
];

/// Headless Firefox (Debian's `firefox-esr`, or `firefox`) and NSS's `certutil`.
pub struct Firefox {
    program: PathBuf,
    certutil: PathBuf,
}

impl Firefox {
    /// Firefox and `certutil` from `PATH`, or a skip (see [`require`]).
    pub fn require() -> Option<Self> {
        let program = require_any(&["firefox-esr", "firefox"])?;
        let certutil = require("certutil")?;
        Some(Self { program, certutil })
    }

    /// Opens `url` in headless Firefox, in a fresh profile trusting the CA of the PEM file `ca`.
    /// Firefox inherits the environment: `MOZ_LOG=nsHttp:5,neqo_http3::*:5
    /// MOZ_LOG_FILE=/tmp/ff.log cargo test ...` writes its own logs.
    pub async fn open(&self, url: &str, ca: &Path) -> FirefoxRun {
        let turn = ONE_BROWSER.lock().await;
        let profile = TempDir::new("firefox");
        let db = format!("sql:{}", profile.dir().display());
        let ca = path_arg(ca);
        let certutil = path_arg(&self.certutil);
        for args in [
            &["-N", "-d", &db, "--empty-password"][..],
            &["-A", "-d", &db, "-n", crate::CA_NAME, "-t", "C,,", "-i", ca],
        ] {
            let out = run(Path::new(certutil), args).await;
            assert!(
                out.success,
                "certutil {args:?}: {}{}",
                out.stdout, out.stderr
            );
        }
        let prefs: String = FIREFOX_PREFS
            .iter()
            .map(|(k, v)| format!("user_pref(\"{k}\", {v});\n"))
            .collect();
        std::fs::write(profile.path("user.js"), prefs).unwrap();

        let stderr = std::fs::File::create(profile.path("stderr.txt")).unwrap();
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(["--headless", "--no-remote", "--profile"])
            .arg(profile.dir())
            .arg(url)
            // Caches and crash reports in the profile, not in the user's home.
            .env("HOME", profile.dir())
            .env("XDG_CACHE_HOME", profile.path("cache"))
            .env("MOZ_CRASHREPORTER_DISABLE", "1")
            .env("MOZ_REMOTE_SETTINGS_DEVTOOLS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true);
        let child = cmd.spawn().expect("starting Firefox");
        FirefoxRun {
            pid: child.id(),
            child,
            profile,
            _turn: turn,
        }
    }
}

/// A running Firefox; dropping it kills its whole process group.
pub struct FirefoxRun {
    child: tokio::process::Child,
    pid: Option<u32>,
    profile: TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl FirefoxRun {
    /// The report the page `page` POSTs to the server of `reports`; fails the test if
    /// Firefox exits first or nothing comes within [`LIMIT`].
    pub async fn report(&mut self, reports: &Reports, page: &str) -> Value {
        tokio::select! {
            report = reports.next(page) => report,
            status = self.child.wait() => {
                panic!("Firefox exited ({status:?}) before {page} reported: {}", self.stderr())
            }
            _ = tokio::time::sleep(LIMIT) => {
                panic!("{page} did not report within {LIMIT:?}: {}", self.stderr())
            }
        }
    }

    /// What Firefox wrote to its standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.profile.path("stderr.txt")).unwrap_or_default()
    }

    /// Kills Firefox and every process it started, and waits for it.
    pub async fn close(mut self) {
        self.kill_group();
        let _ = crate::time::within(self.child.wait()).await;
    }

    fn kill_group(&mut self) {
        if let Some(pid) = self.pid.take() {
            // Its own process group (`process_group(0)`): the content processes too.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for FirefoxRun {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// Headless Chromium (`chromium` or `chromium-browser`).
pub struct Chromium {
    program: PathBuf,
}

impl Chromium {
    /// Chromium from `PATH`, or a skip (see [`require`]).
    pub fn require() -> Option<Self> {
        let program = require_any(&["chromium", "chromium-browser"])?;
        Some(Self { program })
    }

    /// The DOM of `url` once the page has settled (10 s of virtual time), loaded in a fresh
    /// profile that accepts the server certificate whose SPKI sha256 (base64) is `spki`;
    /// `extra` flags come before the URL.
    pub async fn dom(&self, url: &str, spki: &str, extra: &[&str]) -> String {
        let _turn = ONE_BROWSER.lock().await;
        let profile = TempDir::new("chromium");
        let user_dir = format!("--user-data-dir={}", profile.dir().display());
        let spki_flag = format!("--ignore-certificate-errors-spki-list={spki}");
        let mut args = vec![
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &user_dir,
            &spki_flag,
            "--virtual-time-budget=10000",
            "--dump-dom",
        ];
        args.extend_from_slice(extra);
        args.push(url);
        run(&self.program, &args).await.stdout
    }
}

/// The text of the page element with this id in `dom`, up to its first child element.
pub fn shown<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let rest = &dom[start..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find('<')?;
    Some(&rest[open..open + close])
}
