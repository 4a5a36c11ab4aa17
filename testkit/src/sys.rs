//! This process's memory and CPU use, from `/proc` (0 where there is none).

use std::time::Duration;

/// This process's resident set size in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Watches this process's RSS from a thread of its own (every 10 ms, whatever the test's
/// runtime is doing) and reports the largest growth over the reading it started with.
pub struct RssWatch {
    start: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssWatch {
    /// Starts watching.
    pub fn start() -> Self {
        use std::sync::atomic::Ordering;
        let start = rss_kib();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut peak = start;
                while !stop.load(Ordering::SeqCst) {
                    peak = peak.max(rss_kib());
                    std::thread::sleep(Duration::from_millis(10));
                }
                peak.max(rss_kib())
            })
        };
        Self {
            start,
            stop,
            thread,
        }
    }

    /// The reading it started with, in KiB.
    pub fn start_kib(&self) -> u64 {
        self.start
    }

    /// Stops watching: the peak growth in KiB.
    pub fn peak_growth_kib(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let peak = self.thread.join().unwrap();
        peak.saturating_sub(self.start)
    }
}
