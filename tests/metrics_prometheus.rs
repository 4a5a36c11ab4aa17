#![allow(clippy::unwrap_used)]
//! The example's `--metrics` end to end: the example binary under load from curl (HTTP/1.1,
//! HTTP/2), aioquic and ngtcp2's client (HTTP/3), scraped every second by Debian's real
//! Prometheus, whose query API must then count exactly the requests sent on each protocol;
//! `promtool check metrics` passes on the exposition, and the active gauges are back at 0
//! within a second of the load.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use std::future::Future;

use twinport_testkit::fs::{path_arg, workspace};
use twinport_testkit::pebble::free_port;
use twinport_testkit::peers::{peer_script, python, require, run};
use twinport_testkit::servers::ExampleProcess;
use twinport_testkit::TempDir;

/// Polls `check` every 100 ms until it answers `Some`, for at most `limit`.
async fn poll_until<T, F: Future<Output = Option<T>>>(
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> Option<T> {
    let end = tokio::time::Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if tokio::time::Instant::now() > end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Requests per client: distinct counts, so that a mix-up shows.
const H1: usize = 7;
const H2: usize = 5;
const AIOQUIC: usize = 4;
const NGTCP2: usize = 3;

async fn curl_load(curl: &Path, ca: &Path, port: u16, version: &str, n: usize) {
    let url = format!("https://localhost:{port}/whoami");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let mut args = vec![
        "-sS",
        version,
        "--cacert",
        path_arg(ca),
        "--resolve",
        &resolve,
        "-w",
        "%{http_code} %{http_version}\n",
    ];
    for _ in 0..n {
        args.extend(["-o", "/dev/null", &url]);
    }
    let out = run(curl, &args).await;
    assert!(out.success, "curl {version}: {}", out.stderr);
    assert_eq!(
        out.stdout.lines().filter(|l| l.starts_with("200 ")).count(),
        n,
        "{}",
        out.stdout
    );
}

/// Sums of a PromQL query's vector by one label, as Prometheus's HTTP API answers it.
async fn query(curl: &Path, prometheus: &str, promql: &str, by: &str) -> BTreeMap<String, f64> {
    let url = format!("http://{prometheus}/api/v1/query");
    let promql = format!("query={promql}");
    let out = run(curl, &["-sS", "--data-urlencode", &promql, &url]).await;
    let answer: Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    let mut sums = BTreeMap::new();
    for row in answer["data"]["result"].as_array().into_iter().flatten() {
        let key = row["metric"][by].as_str().unwrap_or("").to_owned();
        let value = row["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        sums.insert(key, value);
    }
    sums
}

/// Each sample of `metric` in an exposition, by its whole line's labels.
fn samples<'a>(exposition: &'a str, metric: &str) -> Vec<(&'a str, f64)> {
    exposition
        .lines()
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
        .filter_map(|l| {
            let (head, value) = l.rsplit_once(' ')?;
            Some((head, value.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn prometheus_counts_the_examples_requests_by_protocol() {
    let (Some(prometheus), Some(promtool), Some(curl)) =
        (require("prometheus"), require("promtool"), require("curl"))
    else {
        return;
    };
    let metrics = format!("127.0.0.1:{}", free_port());
    let Some(example) = ExampleProcess::start(&["--metrics", &metrics]).await else {
        return;
    };
    let port = example.addr.port();
    let ca = workspace().join("certs/ca.pem");

    // Prometheus first, scraping every second, so that it has seen the metrics at 0.
    let dir = TempDir::new("prometheus");
    let config = dir.path("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: twinport\n    \
             static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let web = format!("127.0.0.1:{}", free_port());
    let _prometheus = tokio::process::Command::new(&prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    curl_load(&curl, &ca, port, "--http1.1", H1).await;
    curl_load(&curl, &ca, port, "--http2", H2).await;
    if let Some(python) = python("aioquic") {
        let port = port.to_string();
        let script = peer_script("h3_client.py");
        let mut args = vec![path_arg(&script), "--port", &port, "--ca", path_arg(&ca)];
        for _ in 0..AIOQUIC {
            args.extend(["--request", "GET", "/whoami"]);
        }
        let out = run(&python, &args).await;
        let answer: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("aioquic: {e}: {}{}", out.stdout, out.stderr));
        let statuses: Vec<_> = answer["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].clone())
            .collect();
        assert_eq!(statuses, vec![Value::from(200); AIOQUIC], "{answer}");
    }
    let ngtcp2 = require("gtlsclient");
    if let Some(gtls) = &ngtcp2 {
        let download = TempDir::new("gtls-metrics");
        let download_arg = format!("--download={}", download.dir().display());
        let port = port.to_string();
        let urls: Vec<String> = (0..NGTCP2)
            .map(|i| format!("https://localhost:{port}/bytes/{}", i + 1))
            .collect();
        let mut args = vec![
            "--exit-on-all-streams-close",
            "--no-quic-dump",
            "--sni=localhost",
            "--timeout=10s",
            &download_arg,
            "127.0.0.1",
            &port,
        ];
        args.extend(urls.iter().map(String::as_str));
        let out = run(gtls, &args).await;
        assert!(out.success, "gtlsclient: {}\n{}", out.stdout, out.stderr);
    }
    let h3 =
        AIOQUIC * usize::from(python("aioquic").is_some()) + NGTCP2 * usize::from(ngtcp2.is_some());

    // Within a second of the load, nothing is active any more.
    let exposition_url = format!("http://{metrics}/metrics");
    let settled = poll_until(Duration::from_secs(1), || async {
        let out = run(&curl, &["-sS", &exposition_url]).await;
        let active = samples(&out.stdout, "http_server_active_requests")
            .into_iter()
            .chain(samples(&out.stdout, "twinport_connection_active"))
            .all(|(_, v)| v == 0.0);
        active.then_some(out.stdout)
    })
    .await;
    let exposition = settled.expect("active requests and connections back at 0 within 1 s");
    assert!(
        !samples(&exposition, "http_server_request_duration_seconds_count").is_empty(),
        "{exposition}"
    );

    // promtool reads the exposition from its standard input.
    let mut check = tokio::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    let mut stdin = check.stdin.take().unwrap();
    stdin.write_all(exposition.as_bytes()).await.unwrap();
    drop(stdin);
    let checked = check.wait_with_output().await.unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // Prometheus, scraping every second, counts what was sent on each protocol.
    let want: BTreeMap<String, f64> = [("1.1", H1), ("2", H2), ("3", h3)]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(v, n)| (v.to_owned(), n as f64))
        .collect();
    let promql = "sum by (network_protocol_version) (http_server_request_duration_seconds_count)";
    let seen = poll_until(Duration::from_secs(30), || async {
        let got = query(&curl, &web, promql, "network_protocol_version").await;
        (got == want).then_some(got)
    })
    .await;
    assert!(
        seen.is_some(),
        "Prometheus never counted {want:?}; last: {:?}",
        query(&curl, &web, promql, "network_protocol_version").await
    );
}
