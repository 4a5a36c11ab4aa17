//! Where the servers and the loads run: CPU pins, the server processes, the load tools.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{peers, Res};

/// Where processes run: the servers on one CPU, the load on another.
pub struct Pins {
    pub server: Option<&'static str>,
    pub client: Option<&'static str>,
}

impl Pins {
    pub fn detect() -> Self {
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

    pub fn cmd(cpu: Option<&str>, program: &Path) -> Command {
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

pub struct Env {
    pub bin: PathBuf,
    pub certs: PathBuf,
    pub oha: Option<PathBuf>,
    pub h2load: Option<PathBuf>,
    pub pins: Pins,
}

/// A running server, killed on drop.
pub struct Server {
    pub kind: &'static str,
    pub port: u16,
    pub child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Env {
    pub fn start(&self, kind: &'static str) -> Res<Server> {
        let (tcp, udp) = twinport::bind_same_port("127.0.0.1:0".parse()?)?;
        let port = tcp.local_addr()?.port();
        drop((tcp, udp));
        if let Some(peer) = peers::peer(kind) {
            return peers::start(self, peer, port);
        }
        let mut child = Pins::cmd(self.pins.server, &self.bin.join("server"))
            .arg(kind)
            .arg(port.to_string())
            .arg(&self.certs)
            .env("TWINPORT_BENCH_WORKER_STATS", self.worker_stats())
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

    /// Where a server with several QUIC workers writes their counters.
    pub fn worker_stats(&self) -> std::path::PathBuf {
        self.bin.join("worker-stats.txt")
    }

    pub fn load(&self, args: &[String]) -> Res<serde_json::Value> {
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

    /// One oha run: (req/s, p50 ms, p99 ms). The rate is the successful (2xx) responses
    /// divided by the window asked for (`-z`), not oha's own rate: that divides by oha's
    /// whole time, which against a server that leaves its HTTP/3 connections open until
    /// their idle timeout (Caddy, ngtcp2) includes 30 s of waiting after the window. The
    /// requests in flight at the deadline (at most conns × streams) are aborted (HTTP/1.1)
    /// or finish just after it (HTTP/2 and 3): at most 100 responses, under 0.1 % here.
    pub fn oha(
        &self,
        port: u16,
        version: &str,
        conns: u32,
        streams: u32,
        secs: u64,
    ) -> Res<Sample> {
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
        let (mut ok, mut other) = (0u64, 0u64);
        for (status, n) in v["statusCodeDistribution"]
            .as_object()
            .ok_or("no status codes")?
        {
            let n = n.as_u64().unwrap_or(0);
            if status.starts_with('2') {
                ok += n;
            } else {
                other += n;
            }
        }
        if ok == 0 || other > 0 {
            return Err(format!("oha: {ok} responses 2xx, {other} not").into());
        }
        let size = v["summary"]["sizePerRequest"].as_u64();
        if size != Some(twinport_bench::HELLO.len() as u64) {
            return Err(format!("oha: {size:?} bytes per response, not 13").into());
        }
        Ok(Sample {
            rps: ok as f64 / secs as f64,
            p50: v["metrics"]["latency_ms"]["p50"].as_f64(),
            p99: v["metrics"]["latency_ms"]["p99"].as_f64(),
            tool_secs: v["summary"]["total"].as_f64(),
            tool_rps: v["summary"]["requestsPerSec"].as_f64(),
        })
    }

    /// One h2load run: req/s (h2load reports no percentiles).
    pub fn h2load(&self, port: u16, conns: u32, streams: u32, secs: u64) -> Res<Sample> {
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
            tool_secs: None,
            tool_rps: None,
        })
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub rps: f64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    /// The tool's own duration and rate, when they differ from what is counted (oha).
    pub tool_secs: Option<f64>,
    pub tool_rps: Option<f64>,
}
