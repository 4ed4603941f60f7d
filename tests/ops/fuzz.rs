//! A property-based fuzzer against the contract: schemathesis (installed by
//! scripts/test.sh, see scripts/lib/fuzz-tools.sh) generates requests from
//! `docs/openapi.yaml` for every operation of every path, valid and not, and
//! checks each answer of the real binary on the fixture catalog, its admin
//! API on with a token schemathesis sends: no server error, only documented
//! statuses, content types and headers, bodies that match their schemas,
//! valid bodies taken and invalid ones refused, 405 with `Allow` for methods
//! a path does not answer, 401 without the token, and a photo gone once
//! deleted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;
use crate::common::process::Serve;
use crate::common::TestDb;

/// Test cases per operation, at most: the document has 28 operations (GET
/// and OPTIONS on the 9 public paths, the 6 admin operations and OPTIONS on
/// their 4 paths), some with few distinct inputs, and schemathesis adds the
/// methods they refuse and sequences of admin calls; over 4,000 cases in all.
const CASES_PER_OPERATION: u32 = 150;

/// The least number of cases a run must have sent, in all and to the six
/// admin operations: well under what a run sends, far over what one that
/// stopped early or skipped the admin API would.
const MIN_CASES: u64 = 3_000;
const MIN_ADMIN_CASES: u64 = 1_000;

/// schemathesis's settings beyond its command line. It learns links from
/// the URLs in answers by parsing them, and Python's parser raises on some
/// the admin API takes as photo URLs (`http://[x`), which ends the run:
/// the document's own links and those inferred from it are enough. The
/// search operations refuse with 400 some parameters each valid alone
/// (`min_price` over `max_price`, a `q` of more than 16 words or none to
/// search for), which OpenAPI 3.0 cannot express and their descriptions
/// document: for them a 400 to valid-looking data is no failure. Their
/// `category` values can be long enough (20 of 200 characters, each up to
/// 12 bytes percent-encoded) that the request target passes 4 KB: the 414
/// the document gives for that is a refusal as good as a 400.
const CONFIG: &str = "[phases.stateful.inference]\nalgorithms = [\"dependency-analysis\"]\n\n\
    [[operations]]\ninclude-operation-id = [\"listProducts\", \"countCategories\"]\n\
    checks.positive_data_acceptance.expected-statuses = \
    [\"2xx\", \"3xx\", \"400\", \"401\", \"403\", \"404\", \"409\", \"414\", \"429\", \"5xx\"]\n\
    checks.negative_data_rejection.expected-statuses = \
    [\"400\", \"401\", \"403\", \"404\", \"405\", \"406\", \"409\", \"414\", \"415\", \"422\", \"428\", \"429\", \"5xx\"]\n";

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
    let token = atelier::admin::auth::new_token("fuzz").unwrap();
    let (server, _) = Serve::new(&db.url)
        .envs(&[("ATELIER_LOG", "error"), ("ATELIER_CATALOG_POLL_MS", "0")])
        .env("ATELIER_ADMIN_TOKENS", &token.entry)
        .start("/health");
    let port = server.port;

    let report = std::env::temp_dir().join(format!("atelier-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&report);
    std::fs::create_dir_all(&report).unwrap();
    let config = report.join("schemathesis.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let output = Command::new(&st)
        // It keeps state in `.schemathesis` where it runs.
        .current_dir(&report)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.yaml"))
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", token.token),
        ])
        .args(["--checks", "all"])
        // Whether one identity can reach another's objects: every admin
        // token may do everything, so there is no other identity.
        .args(["--exclude-checks", "object_level_authorization"])
        .args(["--max-examples", &CASES_PER_OPERATION.to_string()])
        .args(["--seed", "1"])
        // One worker: with two, both can parse the same source at once for
        // Hypothesis's strategy descriptions, which CPython 3.11 fails with
        // "AST constructor recursion depth mismatch". On two cores the run
        // takes no longer.
        .args(["--workers", "1"])
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
        cases.all >= MIN_CASES && cases.admin >= MIN_ADMIN_CASES,
        "only {} cases were sent, {} to the admin operations:\n{stdout}",
        cases.all,
        cases.admin
    );
    println!(
        "schemathesis: {} cases, {} of them to the admin operations, no failure",
        cases.all, cases.admin
    );
}

/// Test cases sent, in all and to the admin operations.
struct Cases {
    all: u64,
    admin: u64,
}

/// The cases sent, from the run's NDJSON events. A case to the admin API
/// is one to the method and path of one of its routes: not OPTIONS, nor a
/// method schemathesis tries for its 405.
fn count_cases(report: &Path) -> Cases {
    let admin: Vec<String> = atelier::admin::admin_routes()
        .iter()
        .map(|route| {
            let path = format!("/admin{}", route.uri.path());
            format!("{} {}", route.method, common::path_shape(&path))
        })
        .collect();
    let mut cases = Cases { all: 0, admin: 0 };
    for entry in std::fs::read_dir(report).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ndjson") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines() {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            let Some(finished) = event.get("ScenarioFinished") else {
                continue;
            };
            let Some(sent) = finished["recorder"]["cases"].as_object() else {
                continue;
            };
            for case in sent.values() {
                cases.all += 1;
                let case = &case["value"];
                let operation = format!(
                    "{} {}",
                    case["method"].as_str().unwrap(),
                    common::path_shape(case["path"].as_str().unwrap())
                );
                if admin.contains(&operation) {
                    cases.admin += 1;
                }
            }
        }
    }
    cases
}
