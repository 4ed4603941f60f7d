//! What operators see of the real binary: one JSON log line per request
//! (method, path, status, latency, bytes, request id), the request id taken
//! from the client or made and returned, an error logged once with its
//! cause and never sent; and `/metrics` in the Prometheus text format, on an
//! address of its own, passing `promtool check metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::http::{self, RawResponse, Request};
use crate::common::process::{Output, Serve, Served};
use crate::common::{free_port, TestDb};
use serde_json::Value;

/// The log lines `server` wrote so far, parsed; waits until one matches
/// `until`.
fn lines_until(server: &Served, until: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match server.lines().recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
                let done = until(&value);
                seen.push(value);
                if done {
                    return seen;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("no log line came that the test waited for; saw {seen:#?}");
}

fn get(port: u16, path: &str, headers: &[&str]) -> Option<RawResponse> {
    http::fetch(port, &Request::get(path).headers(headers)).map(|bytes| http::parse(&bytes))
}

/// `atelier serve` on `db` logging JSON lines at `info`, its metrics on
/// `metrics_port`; returns once it answers.
fn start(db: &TestDb, metrics_port: u16) -> Served {
    let (server, _) = Serve::new(&db.url)
        .envs(&[
            ("ATELIER_LOG_FORMAT", "json"),
            ("ATELIER_LOG", "info"),
            ("ATELIER_CATALOG_POLL_MS", "0"),
        ])
        .env(
            "ATELIER_METRICS_ADDRESS",
            format!("127.0.0.1:{metrics_port}"),
        )
        .output(Output::Lines)
        .start("/health");
    server
}

fn is_request(line: &Value, request_id: &str) -> bool {
    line["target"] == "atelier::request" && line["request_id"] == request_id
}

#[test]
fn one_json_line_per_request_with_its_id_and_errors_logged_once() {
    let db = TestDb::with_fixtures();
    let metrics_port = free_port();
    let server = start(&db, metrics_port);
    let port = server.port;

    // The client's id is taken and returned.
    let response = get(port, "/products/1?x=1", &["X-Request-Id: checkout-42"]).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("X-Request-Id"), Some("checkout-42"));
    let lines = lines_until(&server, |l| is_request(l, "checkout-42"));
    let line = lines.last().unwrap();
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["uri"], "/products/1?x=1");
    assert_eq!(line["status"], 200);
    assert_eq!(line["bytes"], response.body.len() as u64);
    assert!(line["latency_ms"].as_f64().unwrap() > 0.0, "{line}");
    assert!(line["timestamp"].is_string(), "{line}");

    // One that is not sane is replaced by one of the service's.
    let response = get(port, "/products/2", &["X-Request-Id: has spaces"]).unwrap();
    let made = response.header("X-Request-Id").unwrap().to_string();
    assert!(made != "has spaces" && !made.is_empty(), "{made}");
    let lines = lines_until(&server, |l| is_request(l, &made));
    assert_eq!(lines.last().unwrap()["uri"], "/products/2");

    // HEAD is logged as HEAD.
    http::fetch(
        port,
        &Request::new("HEAD", "/products/3").header("X-Request-Id: head-1"),
    )
    .unwrap();
    let lines = lines_until(&server, |l| is_request(l, "head-1"));
    assert_eq!(lines.last().unwrap()["method"], "HEAD");

    // A 500: its cause is logged once, with the request's id; the client
    // gets a generic message.
    diesel::RunQueryDsl::execute(
        diesel::sql_query("ALTER TABLE related RENAME TO related_gone"),
        &mut db.connect(),
    )
    .unwrap();
    let response = get(port, "/products/1/related", &["X-Request-Id: broken-1"]).unwrap();
    assert_eq!(response.status, 500);
    assert_eq!(response.text(), r#"{"error":"internal server error"}"#);
    let lines = lines_until(&server, |l| is_request(l, "broken-1"));
    let errors: Vec<&Value> = lines
        .iter()
        .filter(|l| l["level"] == "ERROR" && l["request_id"] == "broken-1")
        .collect();
    assert_eq!(errors.len(), 1, "{lines:#?}");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains("related"), "{message}");
    assert_eq!(lines.last().unwrap()["status"], 500);

    // /metrics is on its own address, not the API's.
    assert_eq!(get(port, "/metrics", &[]).unwrap().status, 404);
    let metrics = get(metrics_port, "/metrics", &[]).unwrap();
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = metrics.text();
    for expected in [
        r#"atelier_http_requests_total{method="GET",route="/products/<id>",status="200"} 3"#,
        r#"atelier_http_requests_total{method="GET",route="/products/<id>/related",status="500"} 1"#,
        "atelier_http_request_duration_seconds_bucket{method=\"GET\",route=\"/products/<id>\",le=",
        "atelier_http_requests_in_flight ",
        "atelier_cache_misses_total ",
        "atelier_cache_hits_total ",
        "atelier_cache_bytes ",
        "atelier_db_queue_depth 0",
        "atelier_db_batch_size_bucket{kind=\"products\",le=\"1\"}",
        "atelier_db_statements_total ",
        r#"atelier_db_errors_total{kind="query"} 1"#,
        r#"atelier_db_connections{state="in_use"} 0"#,
        "atelier_db_up 1",
        "atelier_build_info{commit=",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    check_with_promtool(&text);
}

/// `promtool check metrics` (scripts/test.sh installs it) finds nothing
/// wrong with `text`.
fn check_with_promtool(text: &str) {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/test.sh installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool check metrics: {}{}\non\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
