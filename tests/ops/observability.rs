//! What operators watch the service with is held to the service itself:
//!
//! - the Grafana dashboard (`deploy/grafana/atelier.json`) is a well-formed
//!   dashboard (rows, panels that do not overlap, the `instance` variable in
//!   every query) and every query parses (`promtool check rules` on a rules
//!   file made of them, Grafana's variables replaced);
//! - the alert rules (`deploy/prometheus/atelier-rules.yml`) pass `promtool
//!   check rules` and their unit tests (`promtool test rules`), every alert
//!   has a `for:`, a severity, a runbook that is a section of
//!   docs/OPERATIONS.md, and a test where it fires and one where it stays
//!   quiet; the scrape config passes `promtool check config`;
//! - every metric the dashboard, the rules and their tests name is one that
//!   `/metrics` exports, read from the real application;
//! - docker-compose.yml runs Prometheus and Grafana on the shipped files.
//!
//! promtool comes from Debian's prometheus package (scripts/test.sh
//! installs it, scripts/lib/deploy-tools.sh).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::replica::{replica_of, REPLAY};
use crate::common::{Scratch, TestDb};
use diesel::connection::SimpleConnection;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn dashboard() -> Value {
    serde_json::from_str(&read("deploy/grafana/atelier.json"))
        .unwrap_or_else(|e| panic!("deploy/grafana/atelier.json is not JSON: {e}"))
}

/// Runs promtool with `args`; panics with its output unless it succeeds.
fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool (Debian's prometheus package; scripts/test.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}:\n{text}");
    text
}

/// Every panel of the dashboard that is not a row.
fn panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"]
        .as_array()
        .expect("the dashboard's panels")
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

/// Every query of the dashboard: (panel id, refId, expression).
fn dashboard_queries(dashboard: &Value) -> Vec<(u64, String, String)> {
    let mut queries = Vec::new();
    for panel in panels(dashboard) {
        let id = panel["id"].as_u64().unwrap();
        for target in panel["targets"].as_array().unwrap() {
            queries.push((
                id,
                target["refId"].as_str().unwrap().to_string(),
                target["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    queries
}

/// Every expression of the alert rules.
fn rule_exprs() -> Vec<String> {
    let rules = yaml("deploy/prometheus/atelier-rules.yml");
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| r["expr"].as_str().unwrap().to_string())
        .collect()
}

/// The series the rules' unit tests feed in.
fn test_series() -> Vec<String> {
    let tests = yaml("deploy/prometheus/atelier-rules.test.yml");
    tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["input_series"].as_array().unwrap())
        .map(|s| s["series"].as_str().unwrap().to_string())
        .collect()
}

/// The service's metric names in a PromQL expression or series: the
/// identifiers starting with `atelier_`, outside quoted label values.
fn atelier_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut chars = expr.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c == '"' || c == '\'' {
            while let Some((_, inner)) = chars.next() {
                if inner == '\\' {
                    chars.next();
                } else if inner == c {
                    break;
                }
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut end = start + c.len_utf8();
            while let Some(&(i, next)) = chars.peek() {
                if next.is_ascii_alphanumeric() || next == '_' || next == ':' {
                    end = i + next.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &expr[start..end];
            if word.starts_with("atelier_") {
                names.insert(word.to_string());
            }
        }
    }
    names
}

/// The anchors GitHub gives the headings of a markdown file.
fn anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| {
            line.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

#[test]
fn the_dashboard_is_well_formed_and_every_query_parses() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "atelier");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dashboard["schemaVersion"].as_u64().is_some());

    // The variables: a Prometheus data source, and the instances.
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    assert_eq!(variable("datasource")["type"], "datasource");
    assert_eq!(variable("datasource")["query"], "prometheus");
    let instance = variable("instance");
    assert_eq!(instance["type"], "query");
    assert_eq!(instance["multi"], true);
    assert_eq!(instance["includeAll"], true);
    assert_eq!(instance["allValue"], ".*");

    // Rows first, then their panels; every panel on the 24-column grid,
    // none over another, each id once.
    let all = dashboard["panels"].as_array().unwrap();
    assert_eq!(all[0]["type"], "row", "the first panel is a row");
    let mut ids = BTreeSet::new();
    let mut cells: Vec<(u64, [u64; 4])> = Vec::new();
    for panel in all {
        let id = panel["id"].as_u64().expect("a panel id");
        assert!(ids.insert(id), "panel id {id} twice");
        let g = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| g[k].as_u64().unwrap());
        assert!(w > 0 && h > 0 && x + w <= 24, "panel {id}: {g}");
        for (other, [ox, oy, ow, oh]) in &cells {
            let apart = x + w <= *ox || *ox + ow <= x || y + h <= *oy || *oy + oh <= y;
            assert!(apart, "panels {id} and {other} overlap");
        }
        cells.push((id, [x, y, w, h]));
        assert!(panel["title"].as_str().is_some_and(|t| !t.is_empty()));
        if panel["type"] == "row" {
            assert_eq!(panel["collapsed"], false, "row {id}: its panels follow it");
            continue;
        }
        assert!(
            ["timeseries", "stat", "table"].contains(&panel["type"].as_str().unwrap()),
            "panel {id}: {}",
            panel["type"]
        );
        assert!(
            panel["description"].as_str().is_some_and(|t| !t.is_empty()),
            "panel {id} says what it shows"
        );
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "panel {id}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {id} has no query");
        let refs: BTreeSet<_> = targets.iter().map(|t| t["refId"].as_str()).collect();
        assert_eq!(refs.len(), targets.len(), "panel {id}: refIds repeat");
    }

    // Each query: for the instances chosen, and PromQL that parses once
    // Grafana's variables are replaced by what they stand for.
    let queries = dashboard_queries(&dashboard);
    let mut rules = Vec::new();
    for (id, ref_id, expr) in &queries {
        assert!(
            expr.contains(r#"instance=~"$instance""#),
            "panel {id} {ref_id} ignores the instance variable: {expr}"
        );
        let substituted = expr
            .replace("$__rate_interval", "1m")
            .replace("$__interval", "1m")
            .replace("$__range", "1h")
            .replace("$instance", ".*");
        assert!(
            !substituted.contains('$'),
            "panel {id} {ref_id}: a variable this test does not know: {expr}"
        );
        rules
            .push(json!({"record": format!("dashboard:panel_{id}_{ref_id}"), "expr": substituted}));
    }
    assert!(queries.len() >= 20, "{} queries", queries.len());
    let scratch = Scratch::new("dashboard-queries");
    // JSON is YAML: promtool reads it as a rules file.
    let file = scratch.0.join("queries.yml");
    let groups = json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(&file, serde_json::to_string_pretty(&groups).unwrap()).unwrap();
    let checked = promtool(&["check", "rules", file.to_str().unwrap()]);
    assert!(
        checked.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{checked}"
    );
}

#[test]
fn every_alert_passes_promtool_and_its_tests_fire_and_stay_quiet() {
    let path = |file: &str| repo(file).to_string_lossy().into_owned();
    promtool(&[
        "check",
        "rules",
        &path("deploy/prometheus/atelier-rules.yml"),
    ]);
    // The config names the rules file; its check reads that too.
    promtool(&["check", "config", &path("deploy/prometheus/prometheus.yml")]);
    let tested = promtool(&[
        "test",
        "rules",
        &path("deploy/prometheus/atelier-rules.test.yml"),
    ]);
    assert!(tested.contains("SUCCESS"), "{tested}");

    let operations = anchors(&read("docs/OPERATIONS.md"));
    let rules = yaml("deploy/prometheus/atelier-rules.yml");
    let mut alerts = BTreeSet::new();
    for rule in rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
    {
        let name = rule["alert"].as_str().expect("alerting rules only");
        assert!(alerts.insert(name.to_string()), "{name} twice");
        assert!(rule["for"].as_str().is_some(), "{name} has no for:");
        let severity = rule["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("page" | "ticket")),
            "{name}: severity {severity:?}"
        );
        assert!(
            rule["annotations"]["summary"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{name} has no summary"
        );
        let runbook = rule["annotations"]["runbook"].as_str().unwrap_or("");
        let anchor = runbook
            .strip_prefix("docs/OPERATIONS.md#")
            .unwrap_or_else(|| panic!("{name}: runbook {runbook:?} is not docs/OPERATIONS.md#..."));
        assert!(
            operations.contains(anchor),
            "{name}: docs/OPERATIONS.md has no section #{anchor}"
        );
        assert!(
            rule["expr"].as_str().unwrap().contains(r#"job="atelier""#),
            "{name} does not select the scrape job"
        );
    }
    for wanted in [
        "AtelierInstanceDown",
        "AtelierNotReady",
        "AtelierHigh5xxRatio",
        "AtelierSlowP99",
        "AtelierServingStale",
        "AtelierReplicaSkipped",
        "AtelierCacheHitRatioCollapse",
        "AtelierImportRunningLong",
        "AtelierAnswersMissing",
    ] {
        assert!(alerts.contains(wanted), "no alert {wanted}");
    }

    // Each alert: a case where it fires, and one where it does not.
    let tests = yaml("deploy/prometheus/atelier-rules.test.yml");
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for case in tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().unwrap())
    {
        let name = case["alertname"].as_str().unwrap().to_string();
        assert!(alerts.contains(&name), "a test of an unknown alert {name}");
        let expected = case["exp_alerts"].as_array().map_or(0, Vec::len);
        let counts = cases.entry(name).or_default();
        if expected > 0 {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
    }
    for alert in &alerts {
        let (firing, quiet) = cases.get(alert).copied().unwrap_or_default();
        assert!(
            firing >= 1 && quiet >= 1,
            "{alert}: {firing} firing and {quiet} quiet cases"
        );
    }

    // The job the rules and the dashboard select is the one scraped.
    let config = yaml("deploy/prometheus/prometheus.yml");
    assert_eq!(config["scrape_configs"][0]["job_name"], "atelier");
    assert_eq!(config["rule_files"][0], "atelier-rules.yml");
}

async fn get_text(client: &Client, uri: &str) -> (Status, String) {
    let response = client.get(uri).dispatch().await;
    let status = response.status();
    (status, response.into_string().await.unwrap_or_default())
}

/// The sample names of a text-format exposition (`_bucket`, `_sum` and
/// `_count` for a histogram).
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

#[rocket::async_test]
async fn every_metric_the_dashboard_and_the_rules_name_is_exported() {
    // This test reads the shared replica: not while a test pauses it.
    let _turn = REPLAY.lock().await;
    let mut named = BTreeSet::new();
    for (_, _, expr) in dashboard_queries(&dashboard()) {
        named.extend(atelier_names(&expr));
    }
    for expr in rule_exprs().iter().chain(&test_series()) {
        named.extend(atelier_names(expr));
    }
    assert!(named.len() >= 20, "{named:?}");

    // The application as deployed with a replica, the catalog watcher on,
    // after a request of each kind: every family has something to show.
    let db = TestDb::with_fixtures();
    let replica = replica_of(&db);
    let client = common::client_with(
        &db.url,
        &[
            ("databases.atelier.replica_urls", json!(replica)),
            ("catalog_poll_ms", json!(100)),
        ],
    )
    .await;
    for uri in [
        "/products?count=2",
        "/products/1",
        "/products/1/styles",
        "/products/1/related",
        "/products/1",
        "/ready",
    ] {
        assert_eq!(get_text(&client, uri).await.0, Status::Ok, "{uri}");
    }
    // Some are set by the watcher: it has a few polls to set them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (text, missing) = loop {
        let (status, text) = get_text(&client, "/metrics").await;
        assert_eq!(status, Status::Ok);
        let have = exported(&text);
        let missing: Vec<&String> = named.iter().filter(|n| !have.contains(*n)).collect();
        if missing.is_empty() || Instant::now() > deadline {
            break (text, missing.into_iter().cloned().collect::<Vec<_>>());
        }
        rocket::tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        missing.is_empty(),
        "named by the dashboard or the rules, not exported: {missing:?}\n{text}"
    );
}

/// The value of an unlabelled sample in `/metrics`.
async fn sample(client: &Client, name: &str) -> f64 {
    let (_, text) = get_text(client, "/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

#[rocket::async_test]
async fn an_import_is_timed_from_its_staging_schema_to_its_swap() {
    let db = TestDb::with_fixtures();
    let client = common::client_with(&db.url, &[("catalog_poll_ms", json!(50))]).await;
    let name = "atelier_import_running_seconds";
    assert_eq!(sample(&client, name).await, 0.0);

    // What an import does first, and last (its swap drops the schema).
    let schema = atelier::import::STAGING_SCHEMA;
    db.connect()
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = 0.0;
    while seen < 0.2 {
        assert!(Instant::now() < deadline, "the import was never timed");
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
        seen = sample(&client, name).await;
    }
    db.connect()
        .batch_execute(&format!("DROP SCHEMA {schema}"))
        .unwrap();
    while sample(&client, name).await != 0.0 {
        assert!(Instant::now() < deadline, "the import's end was never seen");
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn docker_compose_runs_prometheus_and_grafana_on_the_shipped_files() {
    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    let mounts = |service: &str| -> BTreeMap<String, String> {
        services[service]["volumes"]
            .as_array()
            .unwrap_or_else(|| panic!("docker-compose.yml: no service {service}"))
            .iter()
            .filter_map(|v| {
                let mut parts = v.as_str()?.split(':');
                let (from, to) = (parts.next()?, parts.next()?);
                from.starts_with("./")
                    .then(|| (to.to_string(), from.to_string()))
            })
            .collect()
    };
    let prometheus = mounts("prometheus");
    let grafana = mounts("grafana");
    for from in prometheus.values().chain(grafana.values()) {
        assert!(
            repo(from).is_file(),
            "docker-compose.yml mounts {from}, which is not there"
        );
    }
    // Prometheus: its config, and the rules file beside it, as rule_files says.
    assert_eq!(
        prometheus["/etc/prometheus/prometheus.yml"],
        "./deploy/prometheus/prometheus.yml"
    );
    assert_eq!(
        prometheus["/etc/prometheus/atelier-rules.yml"],
        "./deploy/prometheus/atelier-rules.yml"
    );
    let command: Vec<&str> = services["prometheus"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(command.contains(&"--config.file=/etc/prometheus/prometheus.yml"));

    // It scrapes the instances nginx sends requests to.
    let config = yaml("deploy/prometheus/prometheus.yml");
    let targets: BTreeSet<&str> = config["scrape_configs"][0]["static_configs"][0]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let upstreams = read("deploy/nginx/upstreams.compose.conf");
    let upstreams: BTreeSet<&str> = upstreams
        .lines()
        .filter_map(|l| l.strip_prefix("server "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(targets, upstreams);

    // Grafana: the data source and the dashboard provider in its
    // provisioning directories, the dashboard where the provider looks.
    assert_eq!(
        grafana["/etc/grafana/provisioning/datasources/atelier.yml"],
        "./deploy/grafana/datasource.yml"
    );
    assert_eq!(
        grafana["/etc/grafana/provisioning/dashboards/atelier.yml"],
        "./deploy/grafana/dashboards.yml"
    );
    let provider = yaml("deploy/grafana/dashboards.yml");
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    assert_eq!(
        grafana[&format!("{path}/atelier.json")],
        "./deploy/grafana/atelier.json"
    );
    let source = yaml("deploy/grafana/datasource.yml");
    assert_eq!(source["datasources"][0]["type"], "prometheus");
    assert_eq!(source["datasources"][0]["url"], "http://prometheus:9090");
    assert!(services["prometheus"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p.as_str().is_some_and(|p| p.ends_with(":9090"))));
}
