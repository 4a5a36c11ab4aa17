//! The servers users could pick instead of twinport: nginx, h2o, Caddy and ngtcp2's example
//! server, each from its Debian package, each one process with one worker, serving the same
//! 13-byte body with the harness's certificate, its configuration written by a function of
//! this module into `target/release/peers/KIND/`. Missing programs skip their rows.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use twinport_bench::HELLO;

use crate::env::{Env, Pins, Server};
use crate::Res;

/// One server from outside the crate: where its program is looked for, which package
/// installs it, and which sockets it opens on the harness's port.
pub struct Peer {
    pub kind: &'static str,
    programs: &'static [&'static str],
    package: &'static str,
    tcp: bool,
    udp: bool,
}

pub const PEERS: &[Peer] = &[
    Peer {
        kind: "nginx",
        programs: &["nginx"],
        package: "nginx",
        tcp: true,
        udp: false,
    },
    Peer {
        kind: "h2o",
        programs: &["h2o"],
        package: "h2o",
        tcp: true,
        udp: false,
    },
    Peer {
        kind: "caddy",
        programs: &["caddy"],
        package: "caddy",
        tcp: true,
        udp: true,
    },
    Peer {
        kind: "ngtcp2",
        // The example server built on GnuTLS (Debian's ngtcp2-server), or one of its twins
        // built on another TLS library: the same options.
        programs: &[
            "gtlsserver",
            "wsslserver",
            "osslserver",
            "qtlsserver",
            "bsslserver",
        ],
        package: "ngtcp2-server",
        tcp: false,
        udp: true,
    },
];

pub fn peer(kind: &str) -> Option<&'static Peer> {
    PEERS.iter().find(|p| p.kind == kind)
}

/// What a configuration needs: its directory, the port, the certificate and key files.
pub struct Setup {
    pub dir: PathBuf,
    pub port: u16,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Starts `peer` on `port`, pinned like the crate's servers; its output goes to
/// `DIR/output.log`. Ready once its sockets are bound.
pub fn start(env: &Env, peer: &'static Peer, port: u16) -> Res<Server> {
    let program = find(peer.programs).ok_or_else(|| {
        format!(
            "{} not installed (Debian package {}): its rows are skipped",
            peer.programs[0], peer.package
        )
    })?;
    let dir = env.bin.join("peers").join(peer.kind);
    fs::create_dir_all(&dir)?;
    let certs = twinport_bench::certs(&env.certs)?;
    let setup = Setup {
        dir: dir.canonicalize()?,
        port,
        cert: certs.server_pem.canonicalize()?,
        key: certs.server_key.canonicalize()?,
    };
    let mut cmd = Pins::cmd(env.pins.server, &program);
    match peer.kind {
        "nginx" => {
            let conf = setup.dir.join("nginx.conf");
            fs::write(&conf, nginx_conf(&setup))?;
            cmd.arg("-p").arg(&setup.dir).arg("-c").arg(&conf);
            cmd.args(["-e", "stderr"]);
        }
        "h2o" => {
            fs::write(setup.dir.join("hello.txt"), HELLO)?;
            let conf = setup.dir.join("h2o.conf");
            fs::write(&conf, h2o_conf(&setup, running_as_root()))?;
            cmd.arg("-c").arg(&conf);
        }
        "caddy" => {
            let conf = setup.dir.join("Caddyfile");
            fs::write(&conf, caddyfile(&setup))?;
            cmd.arg("run").arg("--config").arg(&conf);
            cmd.args(["--adapter", "caddyfile"]);
            // Its data and config directories inside ours; one OS thread running Go code.
            for var in ["HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"] {
                cmd.env(var, &setup.dir);
            }
            cmd.env("GOMAXPROCS", "1");
        }
        "ngtcp2" => {
            let htdocs = setup.dir.join("htdocs");
            fs::create_dir_all(&htdocs)?;
            fs::write(htdocs.join("index.html"), HELLO)?;
            fs::write(setup.dir.join("mime.types"), "text/plain html\n")?;
            cmd.args(ngtcp2_args(&setup));
        }
        other => return Err(format!("no configuration for {other}").into()),
    }
    let log = setup.dir.join("output.log");
    let out = File::create(&log)?;
    let child = cmd
        .current_dir(&setup.dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()?;
    let mut server = Server {
        kind: peer.kind,
        port,
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = |peer: &Peer| {
        (!peer.tcp || bound("/proc/net/tcp", port, "0A"))
            && (!peer.udp || bound("/proc/net/udp", port, "07"))
    };
    while !ready(peer) {
        let exited = server.child.try_wait()?;
        if exited.is_some() || Instant::now() > deadline {
            let said = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = said.lines().rev().take(5).collect();
            return Err(format!(
                "{} did not start ({}): {}",
                peer.kind,
                exited.map_or("timeout".into(), |s| s.to_string()),
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    Ok(server)
}

/// nginx: one process (no master), one worker's event loop; HTTP/1.1 and HTTP/2 on one TLS
/// listener, a fixed `return`, no access log, no limit on requests per connection (nginx
/// closes a connection after 1,000 requests by default; the crate's servers never do).
pub fn nginx_conf(s: &Setup) -> String {
    let dir = s.dir.display();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log stderr error;
events {{
    worker_connections 16384;
}}
http {{
    access_log off;
    server_tokens off;
    keepalive_requests 1000000000;
    keepalive_timeout 75s;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            default_type "text/plain; charset=utf-8";
            return 200 "{HELLO}";
        }}
    }}
}}
"#,
        port = s.port,
        cert = s.cert.display(),
        key = s.key.display(),
    )
}

/// h2o 2.2: one thread; HTTP/1.1 and HTTP/2 on one TLS listener; the 13-byte body from a
/// file (h2o 2.2 has no fixed-response directive; its open-file cache keeps the file open),
/// without ETag, as text/plain. No access log (none unless configured). As root it would
/// switch to `nobody` unless told to stay.
pub fn h2o_conf(s: &Setup, root: bool) -> String {
    let user = if root { "user: root\n" } else { "" };
    format!(
        r#"{user}num-threads: 1
error-log: /dev/stderr
listen:
  host: 127.0.0.1
  port: {port}
  ssl:
    certificate-file: {cert}
    key-file: {key}
    minimum-version: TLSv1.2
    ocsp-update-interval: 0
file.mime.addtypes:
  "text/plain; charset=utf-8": .txt
file.etag: OFF
hosts:
  default:
    paths:
      "/":
        file.file: {dir}/hello.txt
"#,
        port = s.port,
        cert = s.cert.display(),
        key = s.key.display(),
        dir = s.dir.display(),
    )
}

/// Caddy 2.6: HTTP/1.1, HTTP/2 and HTTP/3 on the port (TCP and UDP), a fixed `respond`, the
/// admin API off, no automatic HTTPS (the certificate is given), errors only in its log
/// (access logs are off unless configured). One worker: `GOMAXPROCS=1`, set by [`start`].
pub fn caddyfile(s: &Setup) -> String {
    format!(
        "{{
\tadmin off
\tauto_https off
\tlog {{
\t\toutput stderr
\t\tlevel ERROR
\t}}
\tservers {{
\t\tprotocols h1 h2 h3
\t}}
}}

https://:{port} {{
\tbind 127.0.0.1
\ttls {cert} {key}
\trespond \"{HELLO}\" 200
}}
",
        port = s.port,
        cert = s.cert.display(),
        key = s.key.display(),
    )
}

/// ngtcp2's example server (single-threaded): HTTP/3 only, serving `DIR/htdocs/index.html`
/// (the 13 bytes) for `/` as text/plain, its per-packet and per-request dumps off, its
/// defaults otherwise (idle timeout 30 s, 100 concurrent streams per connection).
pub fn ngtcp2_args(s: &Setup) -> Vec<String> {
    vec![
        "--quiet".into(),
        "--no-quic-dump".into(),
        "--no-http-dump".into(),
        format!("--htdocs={}", s.dir.join("htdocs").display()),
        format!("--mime-types-file={}", s.dir.join("mime.types").display()),
        "127.0.0.1".into(),
        s.port.to_string(),
        s.key.display().to_string(),
        s.cert.display().to_string(),
    ]
}

/// The first of `programs` found in PATH or the system directories (nginx is in
/// `/usr/sbin`, which a user's PATH may lack).
fn find(programs: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        dirs.push(PathBuf::from(d));
    }
    programs
        .iter()
        .flat_map(|p| dirs.iter().map(move |d| d.join(p)))
        .find(|p| p.is_file())
}

/// Whether a socket on 127.0.0.1:`port` in `state` (0A: TCP listening, 07: UDP bound)
/// appears in `table` (`/proc/net/tcp` or `/proc/net/udp`).
fn bound(table: &str, port: u16, state: &str) -> bool {
    let local = format!("0100007F:{port:04X}");
    fs::read_to_string(Path::new(table)).is_ok_and(|t| {
        t.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&state)
        })
    })
}

fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}
