//! Run with: `cargo run --release --example serve [-- --addr 127.0.0.1:4433] [--metrics 127.0.0.1:9464] [--mtls | --mtls-required] [--client-ca FILE] [--client-crl FILE] [--workers N [--steering kernel|forwarder]] [--server-id ID] [--fleet-key FILE]`
//!
//! JetStream's example made real: one axum app served over HTTP/1.1 and HTTP/2 (TCP + TLS) and
//! HTTP/3 (QUIC) on the same port. Generates development certificates in certs/ if missing.
//! The first line on stdout names the address, e.g.
//! `listening on https://127.0.0.1:4433 (HTTP/1.1, HTTP/2 over TLS; HTTP/3 over QUIC)`.
//!
//! - `GET /` — a small page showing which protocol served it (examples/app/dist). Its query
//!   parameters: `?wt=1` / `?ws=1` run its WebTransport / WebSocket echo on load; `?h3=1`
//!   first moves to HTTP/3 (fetches `/whoami` until HTTP/3 carries one, as a browser following
//!   Alt-Svc does, then loads the page again over it); `?report=/path` POSTs what the page saw
//!   as JSON to that path of the server once done (the test kit's `/kit/report`)
//! - `GET /whoami` — this request's ConnectionInfo and HTTP version, as JSON
//! - `GET /peer` — the client's address, from axum's own `ConnectInfo<SocketAddr>`
//! - `/ws` — a WebSocket echo (axum's `WebSocketUpgrade`) over HTTP/1.1, HTTP/2 and HTTP/3; its first
//!   message names the HTTP version that carried it (the page's `?ws=1` runs it on load)
//! - `POST /echo` — streams the request body back
//! - `GET /bytes/{n}` — streams n bytes
//! - WebTransport `/wt/echo` — echoes bidirectional streams, unidirectional streams (on a new
//!   stream from the server) and datagrams; a bidirectional stream saying `whoami` gets the
//!   session's ConnectionInfo, one saying `close` closes the session; the page's "WebTransport echo" button opens it
//!   (or `/?wt=1`, which runs it on load)
//!
//! `--metrics HOST:PORT` serves twinport's metrics (OpenTelemetry names, see the README) for
//! Prometheus at `http://HOST:PORT/metrics`, on a listener of its own.
//!
//! `--mtls` asks for client certificates (verified against certs/ca.pem, anonymous clients
//! welcome); `--mtls-required` refuses clients without one. `--client-ca FILE` trusts another
//! client CA than certs/ca.pem, `--client-crl FILE` (PEM or DER, repeatable) refuses the client
//! certificates it revokes; both files are watched, and a new CRL or CA applies to new
//! handshakes at once. Ctrl-C or SIGTERM drains for 10 seconds.
//!
//! `--workers`, `--server-id` and `--fleet-key` run HTTP/3 on several cores and make this
//! process one instance of a fleet (examples/serve/fleet.rs). Started with sockets (systemd
//! socket activation, `systemfd -s tcp::4433 -s udp::4433 -- ...`), it serves on those
//! instead of binding `--addr`: the README's "Restarts and fleets" shows a systemd unit pair.
//!
//! It serves with `twinport::serve`, the one call of the README's quick start, on sockets it
//! binds first (so that it can print a port-0 address), with WebTransport added to the HTTP/3
//! endpoint.

mod app;
mod certs;
mod fleet;
mod metrics;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use twinport::dev_certs::DevCerts;
use twinport::{tls::CertWatcher, CaRoots, ClientAuth, TlsError};

const USAGE: &str = "usage: serve [--addr HOST:PORT] [--metrics HOST:PORT] [--mtls | --mtls-required] [--client-ca FILE] [--client-crl FILE]... [--workers N [--steering kernel|forwarder]] [--server-id ID] [--fleet-key FILE] (certificates: see examples/serve/certs.rs; fleet: examples/serve/fleet.rs)";

struct Args {
    addr: SocketAddr,
    metrics: Option<SocketAddr>,
    mtls: Option<bool>,
    client_ca: Option<PathBuf>,
    client_crls: Vec<PathBuf>,
    certs: certs::CertArgs,
    fleet: fleet::FleetArgs,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 4433)),
        metrics: None,
        mtls: None,
        client_ca: None,
        client_crls: Vec::new(),
        certs: certs::CertArgs::default(),
        fleet: fleet::FleetArgs::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--addr" => {
                let v = it
                    .next()
                    .ok_or("--addr needs a value such as 127.0.0.1:4433")?;
                args.addr = v
                    .parse()
                    .map_err(|e| format!("--addr {v:?} is not an IP address and port: {e}"))?;
            }
            "--metrics" => {
                let v = it
                    .next()
                    .ok_or("--metrics needs a value such as 127.0.0.1:9464")?;
                let addr = v
                    .parse()
                    .map_err(|e| format!("--metrics {v:?} is not an IP address and port: {e}"))?;
                args.metrics = Some(addr);
            }
            "--client-ca" => args.client_ca = Some(file_arg("--client-ca", it.next())?),
            "--client-crl" => args.client_crls.push(file_arg("--client-crl", it.next())?),
            "--mtls" => args.mtls = Some(false),
            "--mtls-required" => args.mtls = Some(true),
            "-h" | "--help" => return Err(format!("{USAGE}\n  {}", certs::USAGE)),
            other if args.certs.parse(other, &mut it)? => {}
            other if args.fleet.parse(other, &mut it)? => {}
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if args.mtls.is_none() && (args.client_ca.is_some() || !args.client_crls.is_empty()) {
        return Err(format!(
            "--client-ca and --client-crl need --mtls or --mtls-required\n{USAGE}"
        ));
    }
    Ok(args)
}

fn file_arg(flag: &str, value: Option<String>) -> Result<PathBuf, String> {
    value
        .map(PathBuf::from)
        .ok_or_else(|| format!("{flag} needs a file\n{USAGE}"))
}

/// The client CA (certs/ca.pem unless `--client-ca`) with the `--client-crl` files, watched.
fn client_roots(args: &Args, dev_ca: &std::path::Path) -> Result<(CaRoots, CertWatcher), TlsError> {
    let mut roots = CaRoots::from_pem_file(args.client_ca.as_deref().unwrap_or(dev_ca))?;
    for crl in &args.client_crls {
        roots = roots.crl_file(crl)?;
    }
    let watcher = roots.watch()?;
    Ok((roots, watcher))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,twinport=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // Sockets handed over by systemd or systemfd are taken before any other thread runs
    // (reading them clears LISTEN_FDS from the environment).
    let served = twinport::inherited_sockets(None)
        .map_err(|e| -> Box<dyn std::error::Error> { format!("inherited sockets: {e}").into() })
        .and_then(|inherited| {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(run(inherited))
        });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {}", twinport::transport::ErrorChain::new(&*e));
            ExitCode::FAILURE
        }
    }
}

/// The sockets this process was started with (socket activation), if any.
type Inherited = Option<(std::net::TcpListener, std::net::UdpSocket)>;

async fn run(inherited: Inherited) -> Result<(), Box<dyn std::error::Error>> {
    let mut args = parse_args()?;
    let fleet = std::mem::take(&mut args.fleet).load()?;
    if let Some(addr) = args.metrics {
        metrics::install(addr).map_err(|e| format!("--metrics {addr}: {e}"))?;
        eprintln!("metrics on http://{addr}/metrics");
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let certs = DevCerts::ensure(root.join("certs"))?;

    let (mut tls, keep) = match args.certs.server_tls(args.addr).await? {
        Some((tls, keep)) => (tls, Some(keep)),
        None => (certs.server_tls()?, None),
    };
    let mut _client_ca_watcher = None;
    if let Some(required) = args.mtls {
        let (roots, watcher) = client_roots(&args, &certs.ca_pem)?;
        _client_ca_watcher = Some(watcher);
        tls = tls.client_auth(if required {
            ClientAuth::Required(roots)
        } else {
            ClientAuth::Optional(roots)
        });
    }

    let app = app::router(&root.join("examples/app/dist"))
        .layer(tower_http::trace::TraceLayer::new_for_http());

    let tls = fleet.tls(tls);
    let sockets = match inherited {
        Some(sockets) => {
            eprintln!("serving on inherited sockets (LISTEN_FDS); --addr is not used");
            sockets
        }
        None => twinport::bind_same_port(args.addr)?,
    };
    let addr = sockets.0.local_addr()?;
    let serving = twinport::serve(sockets, app, tls)
        .http3(move |h3| fleet.http3(h3.webtransport("/wt/echo", app::wt_echo_handler())));

    println!("listening on https://{addr} (HTTP/1.1, HTTP/2 over TLS; HTTP/3 over QUIC)");
    std::io::stdout().flush()?;
    if keep.is_none() {
        eprintln!(
            "try: curl --cacert {} https://localhost:{}/whoami",
            certs.ca_pem.display(),
            addr.port()
        );
    }
    let client_ca = args.client_ca.as_deref().unwrap_or(&certs.ca_pem).display();
    match args.mtls {
        Some(true) => {
            eprintln!("mTLS required: clients must present a certificate signed by {client_ca}")
        }
        Some(false) => eprintln!(
            "mTLS optional: a client certificate signed by {client_ca} shows up in /whoami"
        ),
        None => {}
    }
    for crl in &args.client_crls {
        eprintln!(
            "client certificates revoked by {} are refused",
            crl.display()
        );
    }

    let report = serving.await?;
    eprintln!(
        "stopped; {} connection(s) cut at the deadline, {} closed while lingering",
        report.cut, report.lingering
    );
    Ok(())
}
