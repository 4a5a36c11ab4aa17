//! Hot reload: certificate files replaced on disk (a rename, a broken write, Kubernetes'
//! `..data` symlink swap) while HTTP/1.1, HTTP/2 and HTTP/3 clients run. New connections on
//! every protocol get the new certificate (its serial checked), connections already open go
//! on, no request fails, and a write that cannot be loaded keeps the old certificate.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use twinport::{tls::CertWatcher, Certificates, ServerTls};
use twinport_testkit::clients::{
    empty, quic_serial, serial_hex, tls_connect_as, tls_serial, Hyper, Proto, H3,
};
use twinport_testkit::logs::Logs;
use twinport_testkit::peers::{h3_seen, python, real_peers_see_at, require};
use twinport_testkit::pki::Id;
use twinport_testkit::servers::Both;
use twinport_testkit::{eventually, within, Pki, TempDir};

const NAME: &str = "reload.test";
/// A write that leaves the files unloadable.
type BrokenWrite<'a> = Box<dyn Fn() + 'a>;

const DEBOUNCE: Duration = Duration::from_millis(100);

fn issue(serial: u8) -> Id {
    Pki::get().issue_server("reload", &[NAME, "localhost"], &[0x30, serial])
}

/// Writes `id` as `cert.pem` / `key.pem` in `dir`, each by a rename (as most tools do).
fn install(dir: &Path, id: &Id) {
    for (name, data) in [("cert.pem", &id.chain_pem), ("key.pem", &id.key_pem)] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, data).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
}

/// Both transports serving the certificate files `cert` and `key`, watched: the certificates,
/// the watcher (dropping it ends the watching) and the servers.
async fn serve_watched(cert: PathBuf, key: PathBuf) -> (Certificates, CertWatcher, Both) {
    let certs = Certificates::builder()
        .pem_files(cert, key)
        .build()
        .unwrap();
    let watcher = certs.watch_with(DEBOUNCE).unwrap();
    let both = Both::serve(&ServerTls::from_certificates(&certs)).await;
    (certs, watcher, both)
}

/// What a client looping on new connections of one protocol saw.
#[derive(Default)]
struct Observed {
    serials: Vec<String>,
    failures: Vec<String>,
}

/// A new connection per round on `proto` (`GET /info`, which must answer 200), until `stop`.
fn client_loop(
    proto: Proto,
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<Observed>>, JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Observed::default()));
    let out = seen.clone();
    let task = tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let got = match proto {
                Proto::H3 => h3_seen(addr, NAME).await.and_then(|s| {
                    if s.status == 200 {
                        Ok(s.serial)
                    } else {
                        Err(format!("status {}", s.status))
                    }
                }),
                Proto::H1 | Proto::H2 => one_tcp(addr, proto).await,
            };
            {
                let mut seen = out.lock().unwrap();
                match got {
                    Ok(serial) => seen.serials.push(serial),
                    Err(e) => seen.failures.push(e),
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    (seen, task)
}

/// A connection of `proto` asking for `NAME`: the serial of the certificate it was served, the
/// client and the task driving it.
async fn connect_named(
    addr: std::net::SocketAddr,
    proto: Proto,
) -> Result<(String, Hyper, JoinHandle<()>), String> {
    let io = tls_connect_as(addr, Some(NAME), &[proto.alpn()], None)
        .await
        .map_err(|e| e.to_string())?;
    let serial = tls_serial(&io);
    let (client, task) = Hyper::handshake(io, proto)
        .await
        .map_err(|e| e.to_string())?;
    Ok((serial, client, task))
}

/// `GET /info` on a new connection of `proto`: the serial of the certificate it was served.
async fn one_tcp(addr: std::net::SocketAddr, proto: Proto) -> Result<String, String> {
    let (serial, mut client, _task) = connect_named(addr, proto).await?;
    let resp = client
        .send(client.request("GET", "/info", empty()))
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != 200 {
        return Err(format!("status {}", resp.status()));
    }
    Ok(serial)
}

fn last(seen: &Mutex<Observed>) -> Option<String> {
    seen.lock().unwrap().serials.last().cloned()
}

/// New connections over HTTP/1.1, HTTP/2 (one request each) and HTTP/3 all get the
/// certificate with `serial`; `what` names the moment in a failure.
async fn every_protocol_sees(both: &Both, serial: &str, what: &str) {
    for proto in [Proto::H1, Proto::H2] {
        assert_eq!(
            one_tcp(both.addr, proto).await.unwrap(),
            serial,
            "{what}: {proto:?}"
        );
    }
    assert_eq!(
        h3_seen(both.addr, NAME).await.unwrap().serial,
        serial,
        "{what}: h3"
    );
}

/// Waits until `certs` serves the certificate with `serial` for [`NAME`].
async fn picked_up(certs: &Certificates, serial: &str, what: &str) {
    eventually(what, || {
        certs
            .lookup(Some(NAME))
            .is_some_and(|k| serial_hex(&k.cert[0]) == serial)
    })
    .await;
}

/// curl (h1, h2) and aioquic (h3) on new connections all see `serial`.
async fn real_peers_see(addr: std::net::SocketAddr, ca: &Path, serial: &str) {
    let (Some(curl), Some(python)) = (require("curl"), python("aioquic")) else {
        return;
    };
    real_peers_see_at((&curl, &python), addr, NAME, ca, "/info", serial).await;
}

#[tokio::test]
async fn files_swapped_while_h1_h2_h3_clients_run_serve_the_new_certificate_without_a_failed_request(
) {
    let dir = TempDir::new("reload-swap");
    std::fs::write(dir.path("ca.pem"), Pki::get().ca_pem()).unwrap();
    let (old, new) = (issue(1), issue(2));
    install(dir.dir(), &old);
    let (_certs, _watcher, both) = serve_watched(dir.path("cert.pem"), dir.path("key.pem")).await;
    real_peers_see(both.addr, &dir.path("ca.pem"), "3001").await;

    // Connections opened before the swap, used again after it.
    let (_, mut h1, _t1) = connect_named(both.addr, Proto::H1).await.unwrap();
    let (_, mut h2, _t2) = connect_named(both.addr, Proto::H2).await.unwrap();
    let mut h3 = H3::connect_as(both.addr, Pki::get().quic_client(None), NAME)
        .await
        .unwrap();
    let h3_serial = quic_serial(&h3.conn);

    let stop = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = [Proto::H1, Proto::H2, Proto::H3]
        .into_iter()
        .map(|p| (p, client_loop(p, both.addr, stop.clone())))
        .collect();
    for (p, (seen, _)) in &loops {
        eventually(&format!("{p:?} served the old certificate"), || {
            last(seen).as_deref() == Some("3001")
        })
        .await;
    }

    install(dir.dir(), &new);
    for (p, (seen, _)) in &loops {
        eventually(
            &format!("{p:?} new connections get the new certificate"),
            || last(seen).as_deref() == Some("3002"),
        )
        .await;
    }
    stop.store(true, Ordering::SeqCst);
    for (p, (seen, task)) in loops {
        within(task).await.unwrap();
        let seen = seen.lock().unwrap();
        assert!(
            seen.failures.is_empty(),
            "{p:?}: requests failed: {:?}",
            seen.failures
        );
        // Old until the swap, new after it, never back.
        let first_new = seen.serials.iter().position(|s| s == "3002").unwrap();
        assert!(
            seen.serials[..first_new].iter().all(|s| s == "3001"),
            "{p:?}: {:?}",
            seen.serials
        );
        assert!(
            seen.serials[first_new..].iter().all(|s| s == "3002"),
            "{p:?}: {:?}",
            seen.serials
        );
    }
    real_peers_see(both.addr, &dir.path("ca.pem"), "3002").await;

    // The connections open before the swap are untouched: still served, on their certificate.
    assert_eq!(h1.get_json("/info").await["version"], "HTTP/1.1");
    assert_eq!(h2.get_json("/info").await["version"], "HTTP/2.0");
    assert_eq!(h3.get("/info").await.status, 200);
    assert_eq!(h3_serial, "3001");
    h3.close().await;
    both.stop().await;
}

#[tokio::test]
async fn a_broken_write_keeps_the_old_certificate_and_logs_why_and_a_good_write_recovers() {
    let logs = Logs::capture();
    let dir = TempDir::new("reload-broken");
    std::fs::write(dir.path("ca.pem"), Pki::get().ca_pem()).unwrap();
    let (old, new, other) = (issue(3), issue(4), issue(5));
    install(dir.dir(), &old);
    let (certs, _watcher, both) = serve_watched(dir.path("cert.pem"), dir.path("key.pem")).await;
    let cert_file = dir.path("cert.pem").display().to_string();
    let key_file = dir.path("key.pem").display().to_string();

    let broken: [(&str, BrokenWrite<'_>, &str, &str); 3] = [
        (
            "bad PEM",
            Box::new(|| {
                std::fs::write(
                    dir.path("cert.pem"),
                    "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n",
                )
                .unwrap()
            }),
            &cert_file,
            "invalid PEM",
        ),
        (
            "a key that does not match",
            Box::new(|| std::fs::write(dir.path("cert.pem"), &other.chain_pem).unwrap()),
            &key_file,
            "does not match",
        ),
        (
            "a missing file",
            Box::new(|| std::fs::remove_file(dir.path("cert.pem")).unwrap()),
            &cert_file,
            "file not found",
        ),
    ];
    for (what, write, file, reason) in broken {
        logs.clear();
        write();
        eventually(&format!("{what}: a warning naming {file}"), || {
            logs.lines_at("WARN")
                .iter()
                .any(|l| l.contains(file) && l.contains(reason) && l.contains("still serving"))
        })
        .await;
        let err = certs.reload().unwrap_err().to_string();
        assert!(err.contains(file) && err.contains(reason), "{what}: {err}");
        every_protocol_sees(&both, "3003", what).await;
    }

    install(dir.dir(), &new);
    picked_up(&certs, "3004", "the good write is picked up").await;
    every_protocol_sees(&both, "3004", "after the good write").await;
    real_peers_see(both.addr, &dir.path("ca.pem"), "3004").await;
    assert!(
        logs.text().contains("certificate reloaded"),
        "{}",
        logs.text()
    );
    both.stop().await;
}

#[tokio::test]
async fn a_kubernetes_style_symlink_swap_is_picked_up() {
    use std::os::unix::fs::symlink;
    let dir = TempDir::new("reload-k8s");
    std::fs::write(dir.path("ca.pem"), Pki::get().ca_pem()).unwrap();
    let mount = dir.path("secret");
    // What the kubelet makes: ..TIMESTAMP/{tls.crt,tls.key}, ..data -> ..TIMESTAMP, and
    // tls.crt -> ..data/tls.crt, tls.key -> ..data/tls.key.
    let version = |name: &str, id: &Id| {
        let v = mount.join(name);
        std::fs::create_dir_all(&v).unwrap();
        std::fs::write(v.join("tls.crt"), &id.chain_pem).unwrap();
        std::fs::write(v.join("tls.key"), &id.key_pem).unwrap();
    };
    version("..2026_12_01_10_00_00.1", &issue(6));
    symlink("..2026_12_01_10_00_00.1", mount.join("..data")).unwrap();
    symlink("..data/tls.crt", mount.join("tls.crt")).unwrap();
    symlink("..data/tls.key", mount.join("tls.key")).unwrap();

    let (certs, _watcher, both) = serve_watched(mount.join("tls.crt"), mount.join("tls.key")).await;
    assert_eq!(h3_seen(both.addr, NAME).await.unwrap().serial, "3006");

    // The update: a new version directory, a ..data_tmp symlink renamed over ..data (atomic),
    // then the old version removed.
    version("..2026_12_01_11_00_00.2", &issue(7));
    symlink("..2026_12_01_11_00_00.2", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join("..2026_12_01_10_00_00.1")).unwrap();

    picked_up(&certs, "3007", "the swapped secret is served").await;
    every_protocol_sees(&both, "3007", "after the swap").await;
    real_peers_see(both.addr, &dir.path("ca.pem"), "3007").await;
    both.stop().await;
}
