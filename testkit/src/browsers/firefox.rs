//! Headless Firefox in a fresh profile that trusts the test CA.

use std::path::{Path, PathBuf};

use super::{BrowserRun, ONE_BROWSER};
use crate::fs::{path_arg, TempDir};
use crate::peers::{require, require_any, run};

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
    /// Firefox inherits the environment: `MOZ_LOG=nsHttp:5,WebTransport:5
    /// MOZ_LOG_FILE=/tmp/ff.log cargo test ...` writes its own logs (neqo's debug logs are
    /// compiled out of release builds).
    pub async fn open(&self, url: &str, ca: &Path) -> BrowserRun {
        let turn = ONE_BROWSER.lock().await;
        let profile = TempDir::new("firefox");
        let db = format!("sql:{}", profile.dir().display());
        let ca = path_arg(ca);
        let certutil = path_arg(&self.certutil);
        for args in [
            &["-N", "-d", &db, "--empty-password"][..],
            &[
                "-A",
                "-d",
                &db,
                "-n",
                crate::pki::CA_NAME,
                "-t",
                "C,,",
                "-i",
                ca,
            ],
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

        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(["--headless", "--no-remote", "--profile"])
            .arg(profile.dir())
            .arg(url)
            // Caches and crash reports in the profile, not in the user's home.
            .env("HOME", profile.dir())
            .env("XDG_CACHE_HOME", profile.path("cache"))
            .env("MOZ_CRASHREPORTER_DISABLE", "1")
            .env("MOZ_REMOTE_SETTINGS_DEVTOOLS", "1");
        BrowserRun::spawn("Firefox", cmd, profile, turn)
    }
}
