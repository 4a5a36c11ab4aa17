//! What is measured: small responses, bulk transfers, new connections and idle memory, each
//! a table of scenarios and the function that runs them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::env::{Env, Pins};
use crate::results::Results;
use crate::{Opts, Res};

/// A small-response scenario: which protocol, which load generator, which servers.
pub struct Small {
    pub name: &'static str,
    pub tool: &'static str,
    pub version: &'static str,
    pub conns: u32,
    pub streams: u32,
    pub servers: &'static [&'static str],
    pub bare: &'static str,
}

/// The TCP servers of the small-response scenarios; the second is the reference ("× bare").
/// After the crate's servers, the C and Go ones users could pick instead (`peers`).
const TCP: &[&str] = &["twinport", "bare", "axum-server", "nginx", "h2o", "caddy"];
/// HTTP/2's, with twinport's streams each in a task of its own (`http2_spawn_streams`) beside
/// them: the change of issue 26 within one run.
const H2: &[&str] = &[
    "twinport",
    "bare",
    "axum-server",
    "twinport-spawn",
    "nginx",
    "h2o",
    "caddy",
];
/// The QUIC servers, likewise.
const QUIC: &[&str] = &["twinport", "bare-h3", "salvo", "ngtcp2", "caddy"];
/// Two QUIC workers against one (the reference): pinned to one core with the load on the
/// other, this shows what the workers cost, not how they scale.
const WORKERS: &[&str] = &["twinport-w2", "twinport"];

pub const SMALL: &[Small] = &[
    Small::new("HTTP/1.1", "oha", "1.1", (50, 1), TCP),
    Small::new("HTTP/2", "oha", "2", (10, 10), H2),
    Small::new("HTTP/2", "h2load", "2", (10, 10), H2),
    Small::new("HTTP/3", "oha", "3", (10, 10), QUIC),
    Small::new("HTTP/3, 2 workers", "oha", "3", (10, 10), WORKERS),
];

impl Small {
    /// `conns` connections of `streams` concurrent requests each, against `servers`, the
    /// second of which is the reference.
    const fn new(
        name: &'static str,
        tool: &'static str,
        version: &'static str,
        (conns, streams): (u32, u32),
        servers: &'static [&'static str],
    ) -> Self {
        Small {
            name,
            tool,
            version,
            conns,
            streams,
            servers,
            bare: servers[1],
        }
    }
}

pub fn small_key(s: &Small, server: &str) -> String {
    format!("{}|{}|{}", s.name, s.tool, server)
}

pub fn small(env: &Env, opts: &Opts, res: &mut Results) -> Res<()> {
    let mut kinds: Vec<&'static str> = vec![
        "twinport",
        "twinport-w2",
        "twinport-spawn",
        "bare",
        "axum-server",
        "bare-h3",
    ];
    if opts.salvo {
        kinds.push("salvo");
    }
    kinds.extend(crate::peers::PEERS.iter().map(|p| p.kind));
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
                        if let (0, Some(took), Some(own)) = (round, x.tool_secs, x.tool_rps) {
                            if took > opts.secs as f64 + 1.0 {
                                res.note(format!(
                                    "{} {} {kind}: oha took {took:.1} s for the {} s window (waiting for the connections to close); its own rate, {own:.0} req/s, would be {:.0}× too low; counted: {:.0} responses/s over the window",
                                    s.name, s.tool, opts.secs, x.rps / own, x.rps
                                ));
                            }
                        }
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
    if let Ok(split) = std::fs::read_to_string(env.worker_stats()) {
        res.note(format!(
            "twinport-w2, its QUIC workers' counters at the end: {split}"
        ));
    }
    Ok(())
}

/// 1 GiB each way; on HTTP/2 with twinport's streams spawned beside (the handler that reads or
/// writes the body runs in the connection's task by default).
pub const BULK: &[(&str, &str, &[&str])] = &[
    ("h2", "down", &["twinport", "bare", "twinport-spawn"]),
    ("h2", "up", &["twinport", "bare", "twinport-spawn"]),
    ("h3", "down", &["twinport", "bare-h3"]),
    ("h3", "up", &["twinport", "bare-h3"]),
];

pub fn bulk(env: &Env, opts: &Opts, res: &mut Results) -> Res<()> {
    let mut servers = BTreeMap::new();
    for kind in ["twinport", "bare", "bare-h3", "twinport-spawn"] {
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

pub const CONN: &[(&str, &[&str])] = &[
    // The second of each is the reference ("× bare"); twinport-ring is twinport on ring's
    // classical key exchange, against clients offering X25519MLKEM768 first as browsers do.
    ("h2", &["twinport", "bare", "axum-server", "twinport-ring"]),
    ("h3", &["twinport", "bare-h3", "twinport-ring"]),
];

pub fn connrate(env: &Env, opts: &Opts, res: &mut Results) -> Res<()> {
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

pub fn memory(env: &Env, opts: &Opts, res: &mut Results) -> Res<()> {
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
pub fn idle_rss(env: &Env, proto: &str, kind: &'static str, count: usize) -> Res<f64> {
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
