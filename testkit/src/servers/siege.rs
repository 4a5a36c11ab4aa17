//! [`Siege`]: a hardened server under attack, with the well-behaved HTTP/3 client served on a
//! connection of its own throughout and the process's RSS watched.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::hardened::{start, Opts, Srv};
use crate::clients::{served_h3_meanwhile, H3};
use crate::sys::RssWatch;
use crate::time::bounded;

/// A hardened server under attack.
pub struct Siege {
    /// The server.
    pub srv: Srv,
    stop: Arc<AtomicBool>,
    good: JoinHandle<usize>,
    rss: RssWatch,
}

impl Siege {
    /// Starts a hardened server with `opts`, serves one request (so one-time allocations are
    /// behind us), starts the well-behaved client and then the RSS watch.
    pub async fn begin(opts: Opts) -> Self {
        let srv = start(opts);
        let mut warm = H3::connect(srv.addr, None).await.unwrap();
        assert_eq!(warm.get("/ok").await.text(), "ok");
        warm.close().await;
        let stop = Arc::new(AtomicBool::new(false));
        let good = served_h3_meanwhile(srv.addr, stop.clone());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let rss = RssWatch::start();
        Self {
            srv,
            stop,
            good,
            rss,
        }
    }

    /// Ends the siege (the attackers must be gone): the well-behaved client must have been
    /// served all along, RSS must not have grown by `rss_limit_kib` or more at any moment, and
    /// the server must settle (no connection, handler or body left). `what` names the attack.
    pub async fn end(self, what: &str, rss_limit_kib: u64) {
        self.stop.store(true, Ordering::SeqCst);
        let rounds = bounded(30, "the well-behaved client to finish", self.good)
            .await
            .unwrap_or_else(|e| panic!("{what}: the well-behaved client failed: {e}"));
        let start = self.rss.start_kib();
        let growth = self.rss.peak_growth_kib();
        eprintln!("{what}: good client served {rounds} times, RSS {start} KiB + peak {growth} KiB");
        assert!(
            rounds > 0,
            "{what}: the well-behaved client was never served"
        );
        assert!(
            growth < rss_limit_kib,
            "{what}: RSS grew by {} MiB (limit {} MiB)",
            growth / 1024,
            rss_limit_kib / 1024
        );
        self.srv.settles(what).await;
        self.srv.stop().await;
    }
}
