//! The Markdown report: one table per part measured, then the targets met or short.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::Command;
use std::time::Duration;

use crate::results::Results;
use crate::scenarios::{small_key, Small, BULK, CONN, SMALL};
use crate::Opts;

pub fn fmt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "–".into(),
    }
}

pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

pub fn report(
    opts: &Opts,
    res: &Results,
    load_before: &str,
    load_after: &str,
    took: Duration,
) -> String {
    let mut r = String::new();
    let _ = writeln!(
        r,
        "twinport benchmarks — {} — {} CPUs — load average {load_before} before, {load_after} after — {:.0} s",
        machine(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        took.as_secs_f64()
    );
    let _ = writeln!(r);
    if opts.wants("small") {
        let _ = writeln!(
            r,
            "## Small responses (13-byte body): {} runs × {} s, median, smallest and largest",
            opts.runs, opts.secs
        );
        let _ = writeln!(r);
        let _ = writeln!(
            r,
            "Responses completed in the window ÷ its length (oha: its 2xx count ÷ `-z`; h2load: its own rate over `-D`). p50 and p99 are medians; the ratios are of the median rates."
        );
        let _ = writeln!(r);
        let _ = writeln!(
            r,
            "| protocol | load | conns × streams | server | req/s | min | max | p50 ms | p99 ms | × bare | twinport ÷ it |"
        );
        let _ = writeln!(r, "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for s in SMALL {
            let bare = res.get("rps", &small_key(s, s.bare));
            let twinport = res.get("rps", &small_key(s, "twinport"));
            for &kind in s.servers {
                let key = small_key(s, kind);
                let Some((min, rps, max)) = res.spread("rps", &key) else {
                    continue;
                };
                let rps = Some(rps);
                let versus = if kind == "twinport" {
                    None
                } else {
                    ratio(twinport, rps)
                };
                let _ = writeln!(
                    r,
                    "| {} | {} | {} × {} | {kind} | {} | {} | {} | {} | {} | {} | {} |",
                    s.name,
                    s.tool,
                    s.conns,
                    s.streams,
                    fmt(rps, 0),
                    fmt(Some(min), 0),
                    fmt(Some(max), 0),
                    fmt(res.get("p50", &key), 3),
                    fmt(res.get("p99", &key), 3),
                    fmt(ratio(rps, bare), 3),
                    fmt(versus, 3)
                );
            }
        }
        let _ = writeln!(r);
    }
    if opts.wants("bulk") {
        let _ = writeln!(
            r,
            "## Throughput: {} MiB on one request, median of {} runs (MB = 10^6 bytes)",
            opts.bulk_bytes >> 20,
            opts.bulk_runs
        );
        let _ = writeln!(r);
        let _ = writeln!(r, "| protocol | direction | server | MB/s | × bare |");
        let _ = writeln!(r, "|---|---|---|---:|---:|");
        for (proto, dir, kinds) in BULK {
            let bare = res.get("mbps", &format!("{proto}|{dir}|{}", kinds[1]));
            for kind in *kinds {
                let v = res.get("mbps", &format!("{proto}|{dir}|{kind}"));
                let _ = writeln!(
                    r,
                    "| {} | {dir} | {kind} | {} | {} |",
                    proto_name(proto),
                    fmt(v, 0),
                    fmt(ratio(v, bare), 3)
                );
            }
        }
        let _ = writeln!(r);
    }
    if opts.wants("conn") || opts.wants("mem") {
        let _ = writeln!(
            r,
            "## Connection cost: new connections/s (full handshake + one GET, 4 at a time, median of {} × {} s); server RSS per idle connection (KiB)",
            opts.bulk_runs, opts.conn_secs
        );
        let _ = writeln!(r);
        let mut head = "| connection | server | new conns/s | × bare |".to_owned();
        let mut line = "|---|---|---:|---:|".to_owned();
        for c in &opts.idle_counts {
            let _ = write!(head, " KiB/conn @{c} | × bare |");
            line.push_str("---:|---:|");
        }
        let _ = writeln!(r, "{head}");
        let _ = writeln!(r, "{line}");
        for (proto, kinds) in CONN {
            let bare_cps = res.get("cps", &format!("{proto}|{}", kinds[1]));
            for kind in *kinds {
                let cps = res.get("cps", &format!("{proto}|{kind}"));
                let _ = write!(
                    r,
                    "| {} | {kind} | {} | {} |",
                    if *proto == "h2" {
                        "TCP+TLS (h2)"
                    } else {
                        "QUIC (h3)"
                    },
                    fmt(cps, 0),
                    fmt(ratio(cps, bare_cps), 3)
                );
                for c in &opts.idle_counts {
                    let v = res.get("rss", &format!("{proto}|{c}|{kind}"));
                    let bare = res.get("rss", &format!("{proto}|{c}|{}", kinds[1]));
                    let _ = write!(r, " {} | {} |", fmt(v, 1), fmt(ratio(v, bare), 2));
                }
                let _ = writeln!(r);
            }
        }
        let _ = writeln!(r);
    }
    let _ = writeln!(r, "## Targets");
    let _ = writeln!(r);
    let _ = writeln!(r, "| target | measured | |");
    let _ = writeln!(r, "|---|---:|---|");
    // `min` None: printed for information, no target.
    let mut target = |name: String, v: Option<f64>, min: Option<f64>| {
        let verdict = match (v, min) {
            (None, _) => "not measured",
            (Some(_), None) => "information",
            (Some(v), Some(min)) if v >= min => "met",
            (Some(_), Some(_)) => "short",
        };
        let _ = writeln!(r, "| {name} | {} | {verdict} |", fmt(v, 3));
    };
    let rps = |s: &Small, kind: &str| res.get("rps", &small_key(s, kind));
    for s in SMALL.iter().filter(|s| s.bare != "twinport") {
        target(
            format!("{} ({}) twinport ≥ 0.97 × bare req/s", s.name, s.tool),
            ratio(rps(s, "twinport"), rps(s, s.bare)),
            Some(0.97),
        );
        if s.servers.contains(&"axum-server") && s.name == "HTTP/2" {
            target(
                format!("HTTP/2 ({}) twinport ≥ 1.0 × axum-server req/s", s.tool),
                ratio(rps(s, "twinport"), rps(s, "axum-server")),
                Some(1.0),
            );
        }
    }
    // Against the C servers users could pick instead (issue 26).
    for s in SMALL {
        let versus = |kind: &str| ratio(rps(s, "twinport"), rps(s, kind));
        match s.name {
            "HTTP/1.1" | "HTTP/2" => {
                target(
                    format!("{} ({}) twinport ≥ 1.0 × nginx req/s", s.name, s.tool),
                    versus("nginx"),
                    Some(1.0),
                );
            }
            "HTTP/3" => target(
                format!(
                    "HTTP/3 ({}) twinport ≥ 1.0 × ngtcp2's example server req/s",
                    s.tool
                ),
                versus("ngtcp2"),
                Some(1.0),
            ),
            _ => {}
        }
        if s.name == "HTTP/2" {
            target(
                format!("HTTP/2 ({}) twinport ÷ h2o req/s", s.tool),
                versus("h2o"),
                None,
            );
            target(
                format!(
                    "HTTP/2 ({}) streams in the connection's task ÷ spawned (http2_spawn_streams)",
                    s.tool
                ),
                versus("twinport-spawn"),
                None,
            );
        }
    }
    target(
        "HTTP/3 ≥ 1.0 × HTTP/2 req/s, twinport, oha 10 × 10".into(),
        ratio(rps(&SMALL[3], "twinport"), rps(&SMALL[1], "twinport")),
        Some(1.0),
    );
    target(
        "HTTP/3, 2 QUIC workers ≥ 1.0 × 1 worker req/s (one core: no regression)".into(),
        ratio(rps(&SMALL[4], "twinport-w2"), rps(&SMALL[4], "twinport")),
        Some(1.0),
    );
    target(
        "HTTP/3 1 GiB download twinport ≥ 0.9 × bare h3".into(),
        ratio(
            res.get("mbps", "h3|down|twinport"),
            res.get("mbps", "h3|down|bare-h3"),
        ),
        Some(0.9),
    );
    if !res.notes.is_empty() {
        let _ = writeln!(r);
        let _ = writeln!(r, "Notes:");
        for n in &res.notes {
            let _ = writeln!(r, "- {n}");
        }
    }
    r
}

pub fn proto_name(p: &str) -> &'static str {
    if p == "h2" {
        "HTTP/2"
    } else {
        "HTTP/3"
    }
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let _ = std::io::stdout().flush();
    format!("{date} — {cpu}")
}
