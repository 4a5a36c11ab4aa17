//! The benchmark runner: starts every server pinned to CPU 0, drives the loads pinned to
//! CPU 1, and prints one Markdown table of medians and ratios, with the targets met or short.
//! Beside the crate's servers it runs nginx, h2o, Caddy and ngtcp2's example server when
//! they are installed (`peers`); a missing one's rows are skipped with a note.
//! Run it through `bench/run.sh` (which builds it and raises the open-file limit).
//!
//! `run [--quick] [--runs N] [--secs S] [--only small,bulk,conn,mem]`

mod env;
mod peers;
mod report;
mod results;
mod scenarios;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use env::{Env, Pins};
use report::report;
use results::Results;
use scenarios::{bulk, connrate, memory, small};

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
