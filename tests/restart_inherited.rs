//! A restart through inherited sockets drops nothing: systemfd hands the sockets to a shell
//! loop that starts the example again whenever it exits; SIGTERM to the running example while
//! curl makes requests on new HTTP/1.1 and HTTP/2 connections: every request is answered, some
//! by each process (told apart by their logs), including requests that connected while no
//! process was running (the kernel keeps the listening socket and its backlog). HTTP/3 works
//! on the new process. What cannot be kept: QUIC connections. One held open across the
//! SIGTERM is ended by the old process; one held open across a crash (SIGKILL) is reset by the
//! next process within 1 s of its next request (`--server-id` and `--fleet-key`, as
//! tests/fleet_restart.rs without inheritance).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod inherit;

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inherit::*;
use twinport_quinn::quinn;
use twinport_testkit::clients::{quic_client_trusting, H3};
use twinport_testkit::fs::path_arg;
use twinport_testkit::peers::require;
use twinport_testkit::servers::example_binary;
use twinport_testkit::{bounded, eventually, init_tracing, TempDir};

/// One request of the client loop.
#[derive(Debug)]
struct Outcome {
    n: u64,
    version: &'static str,
    started: Instant,
    took: Duration,
    result: Result<u16, String>,
}

/// The request numbers (`?n=N`) in an example's log.
fn served_in(log: &str) -> BTreeSet<u64> {
    log.match_indices("?n=")
        .filter_map(|(at, _)| {
            let digits: String = log[at + 3..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// A fleet key file, readable by its owner only.
fn key_file(path: &Path) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    writeln!(file, "{}", "5a".repeat(32)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_through_inherited_sockets_drops_nothing() {
    init_tracing();
    let Some(systemfd) = require("systemfd") else {
        return;
    };
    let Some(curl) = require("curl") else { return };
    let Some(bin) = example_binary() else { return };
    let dir = TempDir::new("inherit-restart");
    let d = dir.dir().display();
    key_file(&dir.path("fleet.key"));
    // Each example: its pid first (the shell's, which exec keeps), its log in a file of its own.
    std::fs::write(
        dir.path("one.sh"),
        format!(
            "echo $$ >> \"{d}/pids\"\nexec \"{}\" --server-id 1 --fleet-key \"{d}/fleet.key\" 2>\"{d}/log.$$\"\n",
            bin.display()
        ),
    )
    .unwrap();
    // Started again whenever it exits, after half a second (so that requests come while no
    // process runs), at most 10 times (a crash loop ends).
    std::fs::write(
        dir.path("loop.sh"),
        format!(
            "i=0\nwhile [ $i -lt 10 ]; do\n  i=$((i+1))\n  sh \"{d}/one.sh\"\n  sleep 0.5\ndone\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let looped = dir.path("loop.sh");
    let mut launched = Launched::systemfd(
        &systemfd,
        port,
        &["sh", path_arg(&looped)],
        dir.path("stderr"),
    );
    let addr = launched.listening().await;
    assert_eq!(addr.port(), port);
    let pids = || -> Vec<u32> {
        std::fs::read_to_string(dir.path("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    let log =
        |pid: u32| std::fs::read_to_string(dir.path(&format!("log.{pid}"))).unwrap_or_default();
    eventually("the first example's pid", || pids().len() == 1).await;
    let old = pids()[0];

    // A QUIC connection to the first process, held across the restart.
    let quic = quic_client_trusting(&ca_pem());
    let mut held = H3::connect_with(addr, quic.clone()).await.unwrap();
    assert_eq!(held.get("/whoami").await.status, 200);

    // Two clients, HTTP/1.1 and HTTP/2, each making requests one after another on new
    // connections, numbered.
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let clients: Vec<_> = ["--http1.1", "--http2"]
        .into_iter()
        .map(|version| {
            let (stop, outcomes, next, curl) =
                (stop.clone(), outcomes.clone(), next.clone(), curl.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let started = Instant::now();
                    let result = curl_get(&curl, port, version, &format!("/whoami?n={n}"))
                        .await
                        .map(|(status, _)| status);
                    outcomes.lock().unwrap().push(Outcome {
                        n,
                        version,
                        started,
                        took: started.elapsed(),
                        result,
                    });
                }
            })
        })
        .collect();
    let answered_since = |since: Instant| {
        outcomes
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.started >= since && o.result.is_ok())
            .count()
    };
    let began = Instant::now();
    eventually("20 requests answered by the first process", || {
        answered_since(began) >= 20
    })
    .await;

    let term = Instant::now();
    signal("-TERM", old).await;
    let second = launched.listening().await;
    let restarted = Instant::now();
    assert_eq!(second, addr);
    eventually("the second example's pid", || pids().len() == 2).await;
    let new = pids()[1];
    eventually("20 requests answered by the second process", || {
        answered_since(restarted) >= 20
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        bounded(30, "the client loops", client).await.unwrap();
    }
    eventually("the first process exited", || !alive(old)).await;

    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let (old_log, new_log) = (log(old), log(new));
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result != Ok(200)).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed across the restart: {failed:#?}\n\
         the first process after the SIGTERM:\n{}",
        failed.len(),
        outcomes.len(),
        old_log
            .split_once("SIGTERM")
            .map_or(old_log.as_str(), |(_, after)| after)
    );
    for (pid, l) in [(old, &old_log), (new, &new_log)] {
        assert!(
            l.contains("serving on inherited sockets"),
            "process {pid} did not serve on the inherited sockets:\n{l}"
        );
    }
    assert!(
        old_log.contains("stopped;"),
        "the first process did not drain:\n{old_log}"
    );
    let (by_old, by_new) = (served_in(&old_log), served_in(&new_log));
    let all: BTreeSet<u64> = outcomes.iter().map(|o| o.n).collect();
    assert!(by_old.is_disjoint(&by_new), "{by_old:?} {by_new:?}");
    let by_either: BTreeSet<u64> = by_old.union(&by_new).copied().collect();
    assert_eq!(by_either, all, "every request was served by one of the two");
    assert!(
        by_old.len() >= 20 && by_new.len() >= 20,
        "{by_old:?} {by_new:?}"
    );
    // Requests that connected while no process accepted (after the old one stopped, before
    // the new one started): the kernel's backlog kept them for the new process.
    let queued: Vec<_> = outcomes
        .iter()
        .filter(|o| o.started < restarted && by_new.contains(&o.n))
        .map(|o| (o.n, o.version, o.took))
        .collect();
    let longest = outcomes.iter().map(|o| o.took).max().unwrap();
    eprintln!(
        "{} requests ({} by pid {old}, {} by pid {new}); new process serving {:?} after \
         SIGTERM; served by the new process after waiting in the backlog: {queued:?}; longest \
         request {longest:?}",
        outcomes.len(),
        by_old.len(),
        by_new.len(),
        restarted - term,
    );
    assert!(
        !queued.is_empty(),
        "no request waited for the new process: the test did not test the backlog"
    );

    // HTTP/3 on the new process.
    let mut h3 = H3::connect_with(addr, quic.clone()).await.unwrap();
    let reply = h3.get("/whoami?n=0").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["protocol"], "HTTP/3");
    h3.close().await;
    assert!(
        served_in(&log(new)).contains(&0),
        "HTTP/3 served by another process"
    );

    // The QUIC connection held across the SIGTERM: the old process closed it as it drained
    // (or the new one resets it at the client's next request).
    let ended = ask_and_wait_for_the_end(&mut held).await;
    eprintln!("the QUIC connection held across the SIGTERM: {ended:?}");
    match ended {
        Some(Ended::BeforeTheRequest(quinn::ConnectionError::ApplicationClosed(_))) => {}
        Some(Ended::After(quinn::ConnectionError::Reset, after))
            if after < Duration::from_secs(1) => {}
        other => panic!("the QUIC connection held across the SIGTERM: {other:?}"),
    }

    // A crash: the connection held across it is reset by the next process (same server ID
    // and fleet key), at the latest within 1 s of the client's next request.
    let mut held = H3::connect_with(addr, quic.clone()).await.unwrap();
    assert_eq!(held.get("/whoami").await.status, 200);
    signal("-KILL", new).await;
    assert_eq!(launched.listening().await, addr);
    let ended = ask_and_wait_for_the_end(&mut held).await;
    eprintln!("the QUIC connection held across a crash: {ended:?}");
    match ended {
        Some(Ended::BeforeTheRequest(quinn::ConnectionError::Reset)) => {}
        Some(Ended::After(quinn::ConnectionError::Reset, after))
            if after < Duration::from_secs(1) => {}
        other => panic!("not a stateless reset within 1 s of the next request: {other:?}"),
    }
}

/// How a QUIC connection held across a restart ended.
#[derive(Debug)]
enum Ended {
    /// Before the client asked again (the old process closed it, or a packet of the client's
    /// own, an acknowledgement, drew the new process's reset).
    BeforeTheRequest(quinn::ConnectionError),
    /// This long after the client's next request.
    After(quinn::ConnectionError, Duration),
}

/// Sends a request on `h3` (if it is still open) and waits 1 s for the connection to end;
/// `None` if it did not.
async fn ask_and_wait_for_the_end(h3: &mut H3) -> Option<Ended> {
    if let Some(reason) = h3.conn.close_reason() {
        return Some(Ended::BeforeTheRequest(reason));
    }
    let asked = Instant::now();
    let mut send = h3.send.clone();
    let request = tokio::spawn(async move {
        let req = http::Request::get(twinport_testkit::clients::uri("/whoami"))
            .body(())
            .unwrap();
        let _ = send.send_request(req).await;
    });
    let closed = tokio::time::timeout(Duration::from_secs(1), h3.conn.closed()).await;
    request.abort();
    closed
        .ok()
        .map(|reason| Ended::After(reason, asked.elapsed()))
}
