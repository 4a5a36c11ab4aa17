//! The benchmark runner: starts every server pinned to CPU 0, drives the loads pinned to
//! CPU 1, and prints one Markdown table of medians and ratios, with the targets met or short.
//! Run it through `bench/run.sh` (which builds it and raises the open-file limit).
//!
//! `run [--quick] [--runs N] [--secs S] [--only small,bulk,conn,mem]`

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn Error>>;

struct Opts {
    runs: usize,
    secs: u64,
    bulk_runs: usize,
    bulk_bytes: u64,
    conn_secs: u64,
    idle_counts: Vec<usize>,
    only: Vec<String>,
    salvo: bool,
}

impl Opts {
    fn parse() -> Res<Self> {
        let mut o = Opts {
            runs: 5,
            secs: 5,
            bulk_runs: 3,
            bulk_bytes: 1 << 30,
            conn_secs: 3,
            idle_counts: vec![1_000, 10_000],
            only: vec![],
            salvo: true,
        };
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            match a.as_str() {
                "--quick" => {
                    o.runs = 1;
                    o.secs = 2;
                    o.bulk_runs = 1;
                    o.bulk_bytes = 64 << 20;
                    o.conn_secs = 2;
                    o.idle_counts = vec![1_000];
                }
                "--runs" => o.runs = it.next().ok_or("--runs N")?.parse()?,
                "--secs" => o.secs = it.next().ok_or("--secs S")?.parse()?,
                "--only" => {
                    o.only = it
                        .next()
                        .ok_or("--only small,bulk,conn,mem")?
                        .split(',')
                        .map(str::to_owned)
                        .collect()
                }
                "--no-salvo" => o.salvo = false,
                other => return Err(format!("unknown argument {other:?}").into()),
            }
        }
        Ok(o)
    }

    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

/// Where processes run: the servers on one CPU, the load on another.
struct Pins {
    server: Option<&'static str>,
    client: Option<&'static str>,
}

impl Pins {
    fn detect() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let taskset = Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if taskset && cpus >= 2 {
            Pins {
                server: Some("0"),
                client: Some("1"),
            }
        } else {
            Pins {
                server: None,
                client: None,
            }
        }
    }

    fn cmd(cpu: Option<&str>, program: &Path) -> Command {
        match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu).arg(program);
                c
            }
            None => Command::new(program),
        }
    }
}

struct Env {
    bin: PathBuf,
    certs: PathBuf,
    oha: Option<PathBuf>,
    h2load: Option<PathBuf>,
    pins: Pins,
}

/// A running server, killed on drop.
struct Server {
    kind: &'static str,
    port: u16,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Env {
    fn start(&self, kind: &'static str) -> Res<Server> {
        let (tcp, udp) = twinport::bind_same_port("127.0.0.1:0".parse()?)?;
        let port = tcp.local_addr()?.port();
        drop((tcp, udp));
        let mut child = Pins::cmd(self.pins.server, &self.bin.join("server"))
            .arg(kind)
            .arg(port.to_string())
            .arg(&self.certs)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let server = Server { kind, port, child };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.trim() == "ready" => {}
            _ => return Err(format!("server {kind} did not start").into()),
        }
        std::thread::sleep(Duration::from_millis(300));
        Ok(server)
    }

    fn load(&self, args: &[String]) -> Res<serde_json::Value> {
        let out = Pins::cmd(self.pins.client, &self.bin.join("load"))
            .args(args)
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "load {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    /// One oha run: (req/s, p50 ms, p99 ms).
    fn oha(&self, port: u16, version: &str, conns: u32, streams: u32, secs: u64) -> Res<Sample> {
        let oha = self.oha.as_ref().ok_or("oha is not installed")?;
        let mut cmd = Pins::cmd(self.pins.client, oha);
        cmd.args(["--no-tui", "--output-format", "json", "--insecure"])
            .args(["-z", &format!("{secs}s")])
            .args(["-c", &conns.to_string()])
            .args(["--http-version", version]);
        if streams > 1 {
            cmd.args(["-p", &streams.to_string()]);
        }
        let out = cmd
            .arg(format!("https://127.0.0.1:{port}/"))
            .stderr(Stdio::null())
            .output()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("oha output: {e}: {}", String::from_utf8_lossy(&out.stdout)))?;
        let success = v["summary"]["successRate"].as_f64().unwrap_or(0.0);
        if success < 0.99 {
            return Err(format!("oha: success rate {success}").into());
        }
        Ok(Sample {
            rps: v["summary"]["requestsPerSec"].as_f64().ok_or("no req/s")?,
            p50: v["metrics"]["latency_ms"]["p50"].as_f64(),
            p99: v["metrics"]["latency_ms"]["p99"].as_f64(),
        })
    }

    /// One h2load run: req/s (h2load reports no percentiles).
    fn h2load(&self, port: u16, conns: u32, streams: u32, secs: u64) -> Res<Sample> {
        let h2load = self.h2load.as_ref().ok_or("h2load is not installed")?;
        let out = Pins::cmd(self.pins.client, h2load)
            .args(["-c", &conns.to_string(), "-m", &streams.to_string()])
            .args(["-D", &secs.to_string(), "--warm-up-time", "1"])
            .arg(format!("https://127.0.0.1:{port}/"))
            .stderr(Stdio::null())
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let rps = text
            .lines()
            .find(|l| l.starts_with("finished in"))
            .and_then(|l| l.split(", ").nth(1))
            .and_then(|s| s.trim_end_matches(" req/s").parse().ok())
            .ok_or_else(|| format!("h2load output: {text}"))?;
        let failed = text
            .lines()
            .find(|l| l.starts_with("requests:"))
            .and_then(|l| l.split(", ").find(|p| p.ends_with("failed")))
            .and_then(|p| p.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        if failed > 0 {
            return Err(format!("h2load: {failed} requests failed").into());
        }
        Ok(Sample {
            rps,
            p50: None,
            p99: None,
        })
    }
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    rps: f64,
    p50: Option<f64>,
    p99: Option<f64>,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Collected numbers by (section, row key, server).
#[derive(Default)]
struct Results {
    values: BTreeMap<(String, String), Vec<f64>>,
    notes: Vec<String>,
}

impl Results {
    fn add(&mut self, metric: &str, key: &str, v: f64) {
        self.values
            .entry((metric.to_owned(), key.to_owned()))
            .or_default()
            .push(v);
    }

    fn get(&self, metric: &str, key: &str) -> Option<f64> {
        let mut v = self
            .values
            .get(&(metric.to_owned(), key.to_owned()))?
            .clone();
        (!v.is_empty()).then(|| median(&mut v))
    }

    fn note(&mut self, n: String) {
        eprintln!("  note: {n}");
        self.notes.push(n);
    }
}

/// A small-response scenario: which protocol, which load generator, which servers.
struct Small {
    name: &'static str,
    tool: &'static str,
    version: &'static str,
    conns: u32,
    streams: u32,
    servers: &'static [&'static str],
    bare: &'static str,
}

const SMALL: &[Small] = &[
    Small {
        name: "HTTP/1.1",
        tool: "oha",
        version: "1.1",
        conns: 50,
        streams: 1,
        servers: &["twinport", "bare", "axum-server"],
        bare: "bare",
    },
    Small {
        name: "HTTP/2",
        tool: "oha",
        version: "2",
        conns: 10,
        streams: 10,
        servers: &["twinport", "bare", "axum-server"],
        bare: "bare",
    },
    Small {
        name: "HTTP/2",
        tool: "h2load",
        version: "2",
        conns: 10,
        streams: 10,
        servers: &["twinport", "bare", "axum-server"],
        bare: "bare",
    },
    Small {
        name: "HTTP/3",
        tool: "oha",
        version: "3",
        conns: 10,
        streams: 10,
        servers: &["twinport", "bare-h3", "salvo"],
        bare: "bare-h3",
    },
];

fn small_key(s: &Small, server: &str) -> String {
    format!("{}|{}|{}", s.name, s.tool, server)
}

fn main() -> Res<()> {
    let opts = Opts::parse()?;
    let bin = std::env::current_exe()?
        .parent()
        .ok_or("no exe dir")?
        .to_path_buf();
    let certs = bin.join("bench-certs");
    twinport_bench::certs(&certs)?;
    let env = Env {
        oha: which("oha"),
        h2load: which("h2load"),
        pins: Pins::detect(),
        bin,
        certs,
    };
    let mut res = Results::default();
    let started = Instant::now();
    let load_before = loadavg();
    eprintln!(
        "twinport bench: {} runs x {} s per small-response point; pinning: {}",
        opts.runs,
        opts.secs,
        match (env.pins.server, env.pins.client) {
            (Some(s), Some(c)) => format!("servers on CPU {s}, load on CPU {c}"),
            _ => "none (taskset missing or one CPU)".into(),
        }
    );

    if opts.wants("small") {
        small(&env, &opts, &mut res)?;
    }
    if opts.wants("bulk") {
        bulk(&env, &opts, &mut res)?;
    }
    if opts.wants("conn") {
        connrate(&env, &opts, &mut res)?;
    }
    if opts.wants("mem") {
        memory(&env, &opts, &mut res)?;
    }
    let load_after = loadavg();
    let report = report(&opts, &res, &load_before, &load_after, started.elapsed());
    println!("{report}");
    let path = env.bin.join("bench-report.md");
    std::fs::write(&path, &report)?;
    eprintln!("written to {}", path.display());
    Ok(())
}

fn small(env: &Env, opts: &Opts, res: &mut Results) -> Res<()> {
    let mut kinds: Vec<&'static str> = vec!["twinport", "bare", "axum-server", "bare-h3"];
    if opts.salvo {
        kinds.push("salvo");
    }
    let mut servers = BTreeMap::new();
    for kind in kinds {
        match env.start(kind) {
            Ok(s) => {
                servers.insert(kind, s);
            }
            Err(e) => res.note(format!("{kind}: {e}")),
        }
    }
    for round in 0..opts.runs {
        eprintln!("small responses: round {}/{}", round + 1, opts.runs);
        for s in SMALL {
            for &kind in s.servers {
                let Some(server) = servers.get(kind) else {
                    continue;
                };
                let sample = match s.tool {
                    "oha" => {
                        if round == 0 {
                            // Warm-up: connection pools, allocator, branch predictors.
                            let _ = env.oha(server.port, s.version, s.conns, s.streams, 1);
                        }
                        env.oha(server.port, s.version, s.conns, s.streams, opts.secs)
                    }
                    _ => env.h2load(server.port, s.conns, s.streams, opts.secs),
                };
                match sample {
                    Ok(x) => {
                        let key = small_key(s, server.kind);
                        res.add("rps", &key, x.rps);
                        if let Some(p) = x.p50 {
                            res.add("p50", &key, p);
                        }
                        if let Some(p) = x.p99 {
                            res.add("p99", &key, p);
                        }
                    }
                    Err(e) => res.note(format!("{} {} {kind}: {e}", s.name, s.tool)),
                }
            }
        }
    }
    Ok(())
}

const BULK: &[(&str, &str, &[&str])] = &[
    ("h2", "down", &["twinport", "bare"]),
    ("h2", "up", &["twinport", "bare"]),
    ("h3", "down", &["twinport", "bare-h3"]),
    ("h3", "up", &["twinport", "bare-h3"]),
];

fn bulk(env: &Env, opts: &Opts, res: &mut Results) -> Res<()> {
    let mut servers = BTreeMap::new();
    for kind in ["twinport", "bare", "bare-h3"] {
        servers.insert(kind, env.start(kind)?);
    }
    for round in 0..opts.bulk_runs {
        eprintln!("bulk: round {}/{}", round + 1, opts.bulk_runs);
        for (proto, dir, kinds) in BULK {
            for kind in *kinds {
                let port = servers[kind].port;
                let args = [
                    "bulk".into(),
                    proto.to_string(),
                    dir.to_string(),
                    opts.bulk_bytes.to_string(),
                    port.to_string(),
                    env.certs.display().to_string(),
                ];
                match env.load(&args) {
                    Ok(v) => res.add(
                        "mbps",
                        &format!("{proto}|{dir}|{kind}"),
                        v["mb_per_s"].as_f64().unwrap_or(f64::NAN),
                    ),
                    Err(e) => res.note(format!("bulk {proto} {dir} {kind}: {e}")),
                }
            }
        }
    }
    Ok(())
}

const CONN: &[(&str, &[&str])] = &[
    // The second of each is the reference ("× bare"); twinport-ring is twinport on ring's
    // classical key exchange, against clients offering X25519MLKEM768 first as browsers do.
    ("h2", &["twinport", "bare", "axum-server", "twinport-ring"]),
    ("h3", &["twinport", "bare-h3", "twinport-ring"]),
];

fn connrate(env: &Env, opts: &Opts, res: &mut Results) -> Res<()> {
    let mut servers = BTreeMap::new();
    for kind in [
        "twinport",
        "twinport-ring",
        "bare",
        "axum-server",
        "bare-h3",
    ] {
        servers.insert(kind, env.start(kind)?);
    }
    for round in 0..opts.bulk_runs {
        eprintln!("new connections: round {}/{}", round + 1, opts.bulk_runs);
        for (proto, kinds) in CONN {
            for kind in *kinds {
                let args = [
                    "connrate".into(),
                    proto.to_string(),
                    opts.conn_secs.to_string(),
                    "4".into(),
                    servers[kind].port.to_string(),
                    env.certs.display().to_string(),
                ];
                match env.load(&args) {
                    Ok(v) => {
                        let errors = v["errors"].as_u64().unwrap_or(0);
                        if errors > 0 {
                            res.note(format!("connrate {proto} {kind}: {errors} failed"));
                        }
                        res.add(
                            "cps",
                            &format!("{proto}|{kind}"),
                            v["per_sec"].as_f64().unwrap_or(f64::NAN),
                        )
                    }
                    Err(e) => res.note(format!("connrate {proto} {kind}: {e}")),
                }
            }
        }
    }
    Ok(())
}

fn memory(env: &Env, opts: &Opts, res: &mut Results) -> Res<()> {
    for &count in &opts.idle_counts {
        for (proto, kinds) in CONN {
            for kind in *kinds {
                eprintln!("idle memory: {count} {proto} connections to {kind}");
                match idle_rss(env, proto, kind, count) {
                    Ok(kib) => res.add("rss", &format!("{proto}|{count}|{kind}"), kib),
                    Err(e) => res.note(format!("idle {proto} {count} {kind}: {e}")),
                }
            }
        }
    }
    Ok(())
}

/// The server's RSS growth per idle connection, in KiB.
fn idle_rss(env: &Env, proto: &str, kind: &'static str, count: usize) -> Res<f64> {
    let mut server = env.start(kind)?;
    let pid = server.child.id();
    let before = twinport_bench::rss_kib(pid).ok_or("no RSS")?;
    let mut client = Pins::cmd(env.pins.client, &env.bin.join("load"))
        .args(["idle", proto, &count.to_string(), &server.port.to_string()])
        .arg(&env.certs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = client.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let v: serde_json::Value =
        serde_json::from_str(&line).map_err(|e| format!("idle client said {line:?}: {e}"))?;
    let opened = v["opened"].as_u64().unwrap_or(0);
    // Let the server settle (buffers, timers) before reading.
    std::thread::sleep(Duration::from_secs(1));
    let after = twinport_bench::rss_kib(pid).ok_or("no RSS")?;
    drop(client.stdin.take());
    let _ = client.wait();
    let _ = server.child.kill();
    if opened < count as u64 {
        return Err(format!("only {opened} of {count} connections opened").into());
    }
    Ok(after.saturating_sub(before) as f64 / opened as f64)
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "–".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn report(
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
            "## Small responses (13-byte body): median of {} runs × {} s",
            opts.runs, opts.secs
        );
        let _ = writeln!(r);
        let _ = writeln!(
            r,
            "| protocol | load | conns × streams | server | req/s | p50 ms | p99 ms | × bare |"
        );
        let _ = writeln!(r, "|---|---|---|---|---:|---:|---:|---:|");
        for s in SMALL {
            let bare = res.get("rps", &small_key(s, s.bare));
            for &kind in s.servers {
                let key = small_key(s, kind);
                let rps = res.get("rps", &key);
                if rps.is_none() {
                    continue;
                }
                let _ = writeln!(
                    r,
                    "| {} | {} | {} × {} | {kind} | {} | {} | {} | {} |",
                    s.name,
                    s.tool,
                    s.conns,
                    s.streams,
                    fmt(rps, 0),
                    fmt(res.get("p50", &key), 3),
                    fmt(res.get("p99", &key), 3),
                    fmt(ratio(rps, bare), 3)
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
    let mut target = |name: String, v: Option<f64>, min: f64| {
        let verdict = match v {
            Some(v) if v >= min => "met",
            Some(_) => "short",
            None => "not measured",
        };
        let _ = writeln!(r, "| {name} | {} | {verdict} |", fmt(v, 3));
    };
    let rps = |s: &Small, kind: &str| res.get("rps", &small_key(s, kind));
    for s in SMALL {
        target(
            format!("{} ({}) twinport ≥ 0.97 × bare req/s", s.name, s.tool),
            ratio(rps(s, "twinport"), rps(s, s.bare)),
            0.97,
        );
        if s.servers.contains(&"axum-server") && s.name == "HTTP/2" {
            target(
                format!("HTTP/2 ({}) twinport ≥ 1.0 × axum-server req/s", s.tool),
                ratio(rps(s, "twinport"), rps(s, "axum-server")),
                1.0,
            );
        }
    }
    target(
        "HTTP/3 ≥ 0.9 × HTTP/2 req/s, twinport, oha 10 × 10".into(),
        ratio(rps(&SMALL[3], "twinport"), rps(&SMALL[1], "twinport")),
        0.9,
    );
    target(
        "HTTP/3 1 GiB download twinport ≥ 0.9 × bare h3".into(),
        ratio(
            res.get("mbps", "h3|down|twinport"),
            res.get("mbps", "h3|down|bare-h3"),
        ),
        0.9,
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

fn proto_name(p: &str) -> &'static str {
    if p == "h2" {
        "HTTP/2"
    } else {
        "HTTP/3"
    }
}

fn machine() -> String {
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
