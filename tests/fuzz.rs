//! A property-based fuzzer against the contract: schemathesis (installed by
//! scripts/test.sh, see scripts/lib/fuzz-tools.sh) generates requests from
//! `docs/openapi.yaml` for every operation of every path, valid and not, and
//! checks each answer of the real binary on the fixture catalog: no server
//! error, only documented statuses, content types and headers, bodies that
//! match their schemas, 405 with `Allow` for methods a path does not
//! answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestDb;

/// Test cases per operation, at most: the document has 16 operations (GET
/// and OPTIONS on 8 paths), some with few distinct inputs, and schemathesis
/// adds the methods they refuse; well over 1,000 cases in all.
const CASES_PER_OPERATION: u32 = 150;

/// The least number of cases a run must have sent.
const MIN_CASES: u64 = 1_000;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The schemathesis command (scripts/lib/fuzz-tools.sh's virtualenv).
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap();
    let version = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lib/fuzz-tools.sh"),
    )
    .unwrap()
    .lines()
    .find_map(|line| line.strip_prefix("SCHEMATHESIS_VERSION="))
    .unwrap()
    .trim()
    .to_string();
    cache
        .join("atelier")
        .join(format!("schemathesis-{version}"))
        .join("bin/schemathesis")
}

#[test]
fn schemathesis_finds_nothing_the_document_does_not_allow() {
    let st = schemathesis();
    assert!(
        st.exists(),
        "{} is missing: scripts/test.sh installs it (scripts/lib/fuzz-tools.sh)",
        st.display()
    );
    let db = TestDb::with_rendered_fixtures();
    common::fixtures::insert_odd_text_product(&mut db.connect());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_atelier"))
            .arg("serve")
            .current_dir(std::env::temp_dir())
            .env("DATABASE_URL", &db.url)
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .env("ATELIER_LOG", "error")
            .env("ATELIER_CATALOG_POLL_MS", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "atelier serve never listened");
        std::thread::sleep(Duration::from_millis(50));
    }

    let report = std::env::temp_dir().join(format!("atelier-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&report);
    std::fs::create_dir_all(&report).unwrap();
    let output = Command::new(&st)
        // It keeps state in `.schemathesis` where it runs.
        .current_dir(&report)
        .arg("run")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.yaml"))
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .args(["--checks", "all"])
        // Checks of ids and auth this read-only, anonymous API has none of:
        // a product id that no product has is a 404, as documented.
        .args(["--exclude-checks", "positive_data_acceptance,use_after_free,ensure_resource_availability,ignored_auth,object_level_authorization"])
        .args(["--max-examples", &CASES_PER_OPERATION.to_string()])
        .args(["--seed", "1"])
        .args(["--workers", "2"])
        .args(["--generation-database", "none"])
        .args(["--request-timeout", "10"])
        .args(["--report", "ndjson"])
        .arg("--report-dir")
        .arg(&report)
        .arg("--no-color")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis failed:\n{stdout}\n{stderr}"
    );
    let cases = count_cases(&report);
    let _ = std::fs::remove_dir_all(&report);
    assert!(
        cases >= MIN_CASES,
        "only {cases} cases were sent:\n{stdout}"
    );
    println!("schemathesis: {cases} cases, no failure");
}

/// Test cases sent, from the run's NDJSON events.
fn count_cases(report: &Path) -> u64 {
    let mut cases = 0;
    for entry in std::fs::read_dir(report).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ndjson") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines() {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(finished) = event.get("ScenarioFinished") {
                cases += finished["recorder"]["cases"]
                    .as_object()
                    .map_or(0, |c| c.len() as u64);
            }
        }
    }
    cases
}
