//! The `atelier` binary itself: `migrate` applies the schema, `serve`
//! migrates and then answers HTTP on the configured port, and a missing
//! `DATABASE_URL` is a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::http::{self, Request};
use crate::common::process::{atelier, Output, Serve, Served};
use crate::common::{free_port, TestDb};
use atelier::config;
use diesel::prelude::*;

#[test]
fn migrate_applies_the_schema_and_is_idempotent() {
    let db = TestDb::empty();
    for expected in ["applied 20210813000000", "the schema is up to date"] {
        let output = atelier()
            .arg("migrate")
            .env("DATABASE_URL", &db.url)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
    let tables: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public')",
    ))
    .get_result(&mut db.connect())
    .unwrap();
    assert_eq!(
        tables, 10,
        "six tables, the two stored answers, the admin audit and Diesel's migration table"
    );
}

#[test]
fn missing_database_url_is_a_clear_error() {
    let output = atelier().arg("serve").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL is not set"), "{stderr}");
}

#[test]
fn default_port_is_3000() {
    if std::env::var_os("ROCKET_PORT").is_none() {
        let port: u16 = config::figment("postgres://x/y")
            .extract_inner("port")
            .unwrap();
        assert_eq!(port, 3000);
    }
}

/// `GET path` on 127.0.0.1:`port`: the response as it came off the wire,
/// or `None` when nothing answered.
fn http_get(port: u16, path: &str) -> Option<String> {
    http::fetch(port, &Request::get(path)).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// `atelier serve` on `db` and a free port with `settings`, Rocket's own
/// log off unless they say otherwise, its output going to `output`; returns
/// once it answers `path`, with that first answer.
fn serve(
    db: &TestDb,
    settings: &[(&str, &str)],
    output: Output,
    path: &str,
) -> (Served, u16, String) {
    let (server, first) = Serve::new(&db.url)
        .env("ROCKET_LOG_LEVEL", "off")
        .envs(settings)
        .output(output)
        .start(path);
    let port = server.port;
    (server, port, first)
}

#[test]
fn serve_migrates_then_answers_on_its_port() {
    let db = TestDb::empty();
    // This test writes behind the service's back and reads at once.
    let (_server, port, response) = serve(
        &db,
        &[
            ("ATELIER_CAMPUS", "hr-nyc"),
            ("ATELIER_CACHE_ENABLED", "false"),
        ],
        Output::Null,
        "/products?count=1",
    );
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\n[]"), "{response}");
    // The schema is there: serve migrated the empty database.
    let mut conn = db.connect();
    diesel::sql_query(
        "INSERT INTO product (id, name, slogan, description, category, default_price, created_at, updated_at)
         VALUES (8, 'YEasy 350', 'Just jumped over jumpman', 'So fresh.', 'Kicks', 450,
                 '2021-08-13T14:39:39.968Z', '2021-08-13T14:39:39.968Z')",
    )
    .execute(&mut conn)
    .unwrap();
    let response = http_get(port, "/products?count=1").unwrap();
    assert!(
        response.ends_with(
            r#"[{"id":8,"campus":"hr-nyc","name":"YEasy 350","slogan":"Just jumped over jumpman","description":"So fresh.","category":"Kicks","default_price":"450.00","created_at":"2021-08-13T14:39:39.968Z","updated_at":"2021-08-13T14:39:39.968Z"}]"#
        ),
        "{response}"
    );
}

#[test]
fn import_prints_a_summary_and_if_empty_seeds_only_once() {
    let db = TestDb::migrated();
    let rejects =
        std::env::temp_dir().join(format!("atelier-cli-rejects-{}.csv", std::process::id()));
    let run = || {
        atelier()
            .arg("import")
            .arg(common::defects_dir())
            .arg("--if-empty")
            .arg("--max-reject-percent")
            .arg("100")
            .arg("--rejects")
            .arg(&rejects)
            .env("DATABASE_URL", &db.url)
            .output()
            .unwrap()
    };
    let first = run();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let photos = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("photos.csv"))
        .unwrap();
    let columns: Vec<&str> = photos.split_whitespace().collect();
    // file, read, loaded, repaired, rejected, then rates and reasons.
    assert_eq!(
        &columns[..5],
        ["photos.csv", "7", "5", "2", "2"],
        "{stdout}"
    );
    assert!(
        photos.contains("malformed quoting: 1, missing reference: 1"),
        "{photos}"
    );
    assert!(
        stdout.contains(&format!("rejected rows are in {}", rejects.display())),
        "{stdout}"
    );

    let second = run();
    assert!(second.status.success());
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        "the database already holds 5 products; nothing imported\n"
    );
    let _ = std::fs::remove_file(&rejects);
}

#[test]
fn import_of_a_missing_directory_fails_clearly() {
    let output = atelier()
        .args(["import", "/nonexistent/dump"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the dump in /nonexistent/dump cannot be imported"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/nonexistent/dump/product.csv: No such file"),
        "{stderr}"
    );
}

#[test]
fn database_variables_reach_the_pool() {
    // A value that cannot be a pool size must stop start-up and be named:
    // proof the variable is read (it once lost to the built-in default).
    let db = TestDb::migrated();
    let output = Serve::new(&db.url).env("DATABASE_POOL_SIZE", "many").run();
    assert!(!output.status.success());
    // Rocket logs to standard output.
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        log.contains("found string \"many\", expected u32 for key \"POOL_SIZE\""),
        "{log}"
    );
}

#[test]
fn a_replica_lag_bound_that_is_not_seconds_stops_start_up() {
    let db = TestDb::migrated();
    for (value, said) in [("-1", "got -1"), ("soon", "got \"soon\"")] {
        let output = Serve::new(&db.url)
            .env("DATABASE_REPLICA_URLS", &db.url)
            .env("DATABASE_REPLICA_MAX_LAG", value)
            .run();
        assert!(!output.status.success());
        let log = String::from_utf8_lossy(&output.stdout);
        assert!(
            log.contains(&format!(
                "DATABASE_REPLICA_MAX_LAG must be a number of seconds >= 0, {said}"
            )),
            "{log}"
        );
    }
}

/// A database loaded straight into the six tables has no stored answers;
/// `atelier answers refresh` stores the bytes the rows give, for the
/// products asked for, then for the missing ones, and fails clearly when
/// the database is unreachable.
#[test]
fn answers_refresh_stores_what_the_rows_give() {
    use atelier::catalog::schema::styles_answers;

    let db = TestDb::with_fixtures();
    let mut conn = db.connect();
    let ids = [1, 2, 3, 4, 5, 7, 11];
    let from_rows: Vec<(i32, String)> =
        atelier::catalog::queries::find_styles_answers(&mut conn, &ids)
            .unwrap()
            .into_iter()
            .map(|(id, body)| (id, body.0))
            .collect();
    let stored = |conn: &mut PgConnection| -> Vec<(i32, String)> {
        styles_answers::table
            .order(styles_answers::product_id)
            .load(conn)
            .unwrap()
    };
    assert_eq!(stored(&mut conn), []);
    let stored_product_ids = |conn: &mut PgConnection| -> Vec<i32> {
        use atelier::catalog::schema::product_answers;
        product_answers::table
            .order(product_answers::product_id)
            .select(product_answers::product_id)
            .load(conn)
            .unwrap()
    };

    let refresh = |args: &[&str], url: &str| {
        let output = atelier()
            .args(["answers", "refresh"])
            .args(args)
            .env("DATABASE_URL", url)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = refresh(&["--product", "4", "1", "42"], &db.url);
    assert!(ok, "{stderr}");
    let said: Vec<&str> = stdout.lines().collect();
    assert_eq!(said.len(), 2, "{stdout}");
    assert!(
        said[0].starts_with("stored 2 /products/:id answers in "),
        "{stdout}"
    );
    assert!(
        said[1].starts_with("stored 2 /products/:id/styles answers in "),
        "{stdout}"
    );
    assert_eq!(stored_product_ids(&mut conn), [1, 4]);
    let only_two: Vec<(i32, String)> = from_rows
        .iter()
        .filter(|(id, _)| [1, 4].contains(id))
        .cloned()
        .collect();
    assert_eq!(stored(&mut conn), only_two);

    let (ok, stdout, stderr) = refresh(&["--missing"], &db.url);
    assert!(ok, "{stderr}");
    let said: Vec<&str> = stdout.lines().collect();
    assert_eq!(said.len(), 2, "{stdout}");
    assert!(
        said[0].starts_with("stored 5 /products/:id answers in "),
        "{stdout}"
    );
    assert!(
        said[1].starts_with("stored 5 /products/:id/styles answers in "),
        "{stdout}"
    );
    assert_eq!(stored(&mut conn), from_rows);
    assert_eq!(stored_product_ids(&mut conn), ids);

    // Nothing listens on this port.
    let port = free_port();
    let (ok, _, stderr) = refresh(
        &[],
        &format!("postgres://atelier:atelier@127.0.0.1:{port}/x"),
    );
    assert!(!ok);
    assert!(stderr.contains("connecting to the database"), "{stderr}");
}

/// SIGTERM (what systemd and a rolling restart send) drains: requests in
/// flight when it arrives are answered in full, new connections are no
/// longer taken, and the process exits 0 within the grace period.
#[test]
fn sigterm_answers_the_requests_in_flight_then_exits_0() {
    use diesel::connection::SimpleConnection;

    let db = TestDb::with_fixtures();
    let (mut server, port, alone) = serve(
        &db,
        &[
            ("ROCKET_SHUTDOWN", "{grace=5,mercy=2}"),
            ("ATELIER_CACHE_ENABLED", "false"),
        ],
        Output::Null,
        "/products/1",
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    assert!(alone.starts_with("HTTP/1.1 200 OK\r\n"), "{alone}");
    let body = |response: &str| response.split("\r\n\r\n").nth(1).map(str::to_owned);

    // Requests held in flight: their statements wait on a lock taken here.
    let mut lock = db.connect();
    lock.batch_execute("BEGIN; LOCK TABLE product IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let in_flight: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || http_get(port, "/products/1")))
        .collect();
    let mut watch = db.connect();
    while !common::waits_on_a_lock(&mut watch, "") {
        assert!(Instant::now() < deadline, "no request reached the database");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Time for every request to have been read and queued.
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));
    // Draining: the listener is closed, so a new client is not served.
    let late = http_get(port, "/health");
    assert!(
        late.as_deref().is_none_or(str::is_empty),
        "served after SIGTERM: {late:?}"
    );
    lock.batch_execute("ROLLBACK").unwrap();
    for request in in_flight {
        let response = request
            .join()
            .unwrap()
            .expect("an in-flight request was dropped");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert_eq!(body(&response), body(&alone));
    }
    let exit_deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.try_wait() {
            break status;
        }
        assert!(
            Instant::now() < exit_deadline,
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}

/// `atelier prewarm` says what to do when the extension cannot be created
/// by its role, and once a superuser has created it reads every table,
/// TOAST table and index of the catalog.
#[test]
fn prewarm_reads_the_catalog_or_says_why_not() {
    let db = TestDb::with_fixtures();
    let prewarm = || {
        let output = atelier()
            .arg("prewarm")
            .env("DATABASE_URL", &db.url)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, _, stderr) = prewarm();
    assert!(!ok);
    assert!(
        stderr.contains("a superuser can run CREATE EXTENSION pg_prewarm"),
        "{stderr}"
    );

    // The suite's server is local: its superuser creates the extension.
    let port = url_port(&db.url);
    let created = Command::new("runuser")
        .args([
            "-u", "postgres", "--", "psql", "-q", "-p", &port, "-d", &db.name,
        ])
        .args(["-c", "CREATE EXTENSION pg_prewarm"])
        .status()
        .unwrap();
    assert!(created.success());
    let (ok, stdout, stderr) = prewarm();
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("primary: read "), "{stdout}");

    let report = atelier::db::prewarm::prewarm(&mut db.connect()).unwrap();
    let names: Vec<&str> = report
        .relations
        .iter()
        .map(|r| r.relation.as_str())
        .collect();
    let indexes: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
           WHERE (c.relnamespace = 'public'::regnamespace
                  AND c.relname <> '__diesel_schema_migrations')
              OR c.oid IN (SELECT reltoastrelid FROM pg_class
                            WHERE relnamespace = 'public'::regnamespace
                              AND relname <> '__diesel_schema_migrations'))",
    ))
    .get_result(&mut db.connect())
    .unwrap();
    assert_eq!(
        report
            .relations
            .iter()
            .filter(|r| r.relation.ends_with("_pkey")
                || r.relation.ends_with("_idx")
                || r.relation.ends_with("_index"))
            .count() as i64,
        indexes,
        "{names:?}"
    );
    for table in [
        "product",
        "features",
        "styles",
        "photos",
        "skus",
        "related",
        "styles_answers",
    ] {
        assert!(names.contains(&table), "{table} in {names:?}");
    }
    assert!(
        names.iter().any(|n| n.starts_with("pg_toast.")),
        "{names:?}"
    );
    assert!(report.blocks() > 0);
}

fn url_port(url: &str) -> String {
    url.rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap()
        .to_string()
}

/// Sends `method path` with `headers` and a JSON `body`; the raw response.
fn http_send(port: u16, method: &str, path: &str, headers: &[String], body: &str) -> String {
    let request = Request::new(method, path).json(body).headers(headers);
    String::from_utf8_lossy(&http::fetch(port, &request).unwrap()).into_owned()
}

#[test]
fn a_token_from_token_new_opens_the_admin_api_and_reaches_no_log() {
    let db = TestDb::with_fixtures();
    let made = atelier().args(["token", "new", "ops"]).output().unwrap();
    assert!(made.status.success());
    let stdout = String::from_utf8_lossy(&made.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let token = lines[0].strip_prefix("token: ").unwrap();
    let entry = lines[1].strip_prefix("entry: ").unwrap();
    assert!(token.starts_with("atl_") && token.len() == 68, "{stdout}");
    assert_eq!(
        entry,
        format!("ops:{}", atelier::admin::auth::hash_hex(token))
    );
    assert!(String::from_utf8_lossy(&made.stderr).contains("shown only now and stored nowhere"));

    // Logging everything Rocket and the service log, into files read at
    // the end.
    let logs = std::env::temp_dir().join(format!("atelier-cli-admin-{}", std::process::id()));
    let (server, port, _) = serve(
        &db,
        &[
            ("ROCKET_LOG_LEVEL", "debug"),
            ("ATELIER_LOG", "trace"),
            ("ATELIER_ADMIN_TOKENS", entry),
        ],
        Output::Files(logs),
        "/health",
    );
    let wrong = atelier::admin::auth::new_token("x").unwrap().token;
    let refused = http_send(
        port,
        "PATCH",
        "/admin/styles/1",
        &[format!("Authorization: Bearer {wrong}")],
        r#"{"sale_price":"99.00"}"#,
    );
    assert!(
        refused.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{refused}"
    );
    assert!(
        refused.contains(
            "www-authenticate: Bearer realm=\"atelier-admin\", error=\"invalid_token\"\r\n"
        ),
        "{refused}"
    );
    let written = http_send(
        port,
        "PATCH",
        "/admin/styles/1",
        &[format!("Authorization: Bearer {token}")],
        r#"{"sale_price":"99.00"}"#,
    );
    assert!(written.starts_with("HTTP/1.1 200 OK\r\n"), "{written}");
    assert!(written.contains(r#""sale_price":"99.00""#), "{written}");

    let logged = server.logs();
    assert!(
        logged.contains("method=PATCH uri=/admin/styles/1 status=401"),
        "{logged}"
    );
    assert!(
        logged.contains("method=PATCH uri=/admin/styles/1 status=200"),
        "{logged}"
    );
    assert!(
        logged.contains("`debug` would log every request's headers, credentials included"),
        "{logged}"
    );
    assert!(
        !logged.contains(token) && !logged.contains(&wrong),
        "{logged}"
    );
    assert!(!logged.contains(&token[4..20]) && !logged.contains(&wrong[4..20]));

    // A token pasted where its hash belongs stops the start, and the
    // message does not repeat it.
    let output = Serve::new(&db.url)
        .env("ATELIER_ADMIN_TOKENS", format!("ops:{token}"))
        .run();
    assert!(!output.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("holds a token, not its hash"), "{said}");
    assert!(!said.contains(&token[4..20]), "{said}");
}

#[test]
fn an_authorization_header_reaches_no_log_at_trace_without_admin_tokens() {
    let db = TestDb::with_fixtures();
    let logs = std::env::temp_dir().join(format!("atelier-cli-trace-{}", std::process::id()));
    let (server, port, _) = serve(
        &db,
        &[("ROCKET_LOG_LEVEL", "debug"), ("ATELIER_LOG", "trace")],
        Output::Files(logs),
        "/health",
    );
    let secret = "Bearer sk_live_9f8e7d6c5b4a39281706";
    let answered = http_send(
        port,
        "GET",
        "/products/1",
        &[format!("Authorization: {secret}")],
        "",
    );
    assert!(answered.starts_with("HTTP/1.1 200 OK\r\n"), "{answered}");
    let logged = server.logs();
    assert!(
        logged.contains("method=GET uri=/products/1 status=200"),
        "{logged}"
    );
    assert!(!logged.contains("sk_live_9f8e7d6c5b4a39281706"), "{logged}");
    assert!(
        !logged.to_ascii_lowercase().contains("authorization"),
        "{logged}"
    );
}
