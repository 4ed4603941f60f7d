//! Reads from a real streaming replica (`DATABASE_REPLICA_URLS`): requests
//! are answered from the replica, not the primary; a replica that cannot be
//! reached is skipped with no error to the client; an import on the primary
//! reaches an instance reading a replica once the replica has it, and is read
//! into the replica's buffers before its swap; a replica
//! that falls behind (replay paused, or its WAL receiver stopped) is skipped
//! and read again once it has caught up; and `ensure_replica` rebuilds a
//! replica that has lost its place.
//!
//! `scripts/test.sh` starts the replica (`scripts/lib/replica.sh`) and
//! exports `DATABASE_REPLICA_SERVER_URL`. Every test database is created on
//! the primary and appears on the replica by replication. To tell which
//! server answered, the tests pause the replica's replay, change the primary,
//! and look at what the service says. The tests that stop a replica's WAL
//! receiver or make it lose its place do so on a primary and replica of
//! their own ([`Pair`]), small clusters made for the test, as superuser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common;
use crate::common::replica::{eventually, replica_of, REPLAY};
use crate::common::{free_port, TestDb};
use atelier::import;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

/// The replica's replay paused until this is dropped, so the primary can be
/// changed behind it.
struct ReplayPaused(PgConnection);

impl ReplayPaused {
    fn new(replica_url: &str) -> Self {
        let mut conn = PgConnection::establish(replica_url).unwrap();
        conn.batch_execute("SELECT pg_wal_replay_pause()").unwrap();
        ReplayPaused(conn)
    }
}

impl Drop for ReplayPaused {
    fn drop(&mut self) {
        let _ = self.0.batch_execute("SELECT pg_wal_replay_resume()");
    }
}

/// An instance on `db` reading `replicas`; a replica it reads is never
/// skipped for lag unless `extra` sets `databases.atelier.replica_max_lag`
/// (the tests that pause replay to tell the servers apart need the replica
/// read however long they take).
async fn client_reading(db: &TestDb, replicas: &str, extra: &[(&str, Value)]) -> Client {
    let mut settings = vec![
        ("cache_enabled", json!(false)),
        ("databases.atelier.replica_urls", json!(replicas)),
        ("databases.atelier.replica_max_lag", json!(0)),
    ];
    settings.extend(extra.iter().cloned());
    common::client_with(&db.url, &settings).await
}

async fn product_name(client: &Client, id: i32) -> String {
    let response = client.get(format!("/products/{id}")).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let body: Value = serde_json::from_str(&response.into_string().await.unwrap()).unwrap();
    body["name"].as_str().unwrap().to_string()
}

fn rename_on_primary(db: &TestDb, id: i32, name: &str) {
    db.connect()
        .batch_execute(&format!(
            "UPDATE product SET name = '{name}' WHERE id = {id}"
        ))
        .unwrap();
}

/// Returns once the replica at `replica_url` has replayed the rename of
/// product `id` to `name` (at most 30 s).
fn until_replayed(replica_url: &str, id: i32, name: &str) {
    eventually("the replica to replay the rename", || {
        let mut conn = PgConnection::establish(replica_url).ok()?;
        let replayed: String = atelier::catalog::schema::product::table
            .find(id)
            .select(atelier::catalog::schema::product::name)
            .get_result(&mut conn)
            .ok()?;
        (replayed == name).then_some(())
    });
}

/// A port nothing listens on.
fn dead_url(db: &TestDb) -> String {
    let port = free_port();
    format!("postgres://atelier:atelier@127.0.0.1:{port}/{}", db.name)
}

#[rocket::async_test]
async fn reads_are_answered_by_the_replica() {
    let _turn = REPLAY.lock().await;
    let db = TestDb::with_fixtures();
    let replica = replica_of(&db);
    let from_replica = client_reading(&db, &replica, &[]).await;
    let from_primary = common::client_with(&db.url, &[("cache_enabled", json!(false))]).await;
    assert_eq!(product_name(&from_replica, 1).await, "Camo Onesie");

    let paused = ReplayPaused::new(&replica);
    rename_on_primary(&db, 1, "Renamed on the primary");
    assert_eq!(
        product_name(&from_primary, 1).await,
        "Renamed on the primary"
    );
    for uri in ["/products/1", "/products/1/styles", "/products/1/related"] {
        let response = from_replica.get(uri).dispatch().await;
        assert_eq!(response.status(), Status::Ok, "{uri}");
    }
    assert_eq!(product_name(&from_replica, 1).await, "Camo Onesie");
    // The replica counts the service's sessions on the test database.
    let sessions: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM pg_stat_activity \
          WHERE datname = current_database() AND pid <> pg_backend_pid())",
    ))
    .get_result(&mut PgConnection::establish(&replica).unwrap())
    .unwrap();
    assert!(sessions >= 1, "no session of the service on the replica");

    drop(paused);
    until_replayed(&replica, 1, "Renamed on the primary");
    assert_eq!(
        product_name(&from_replica, 1).await,
        "Renamed on the primary"
    );
}

#[rocket::async_test]
async fn a_replica_that_cannot_be_reached_is_skipped() {
    let _turn = REPLAY.lock().await;
    let db = TestDb::with_fixtures();
    let replica = replica_of(&db);

    // Only a dead replica: everything is read from the primary.
    let dead_only = client_reading(&db, &dead_url(&db), &[]).await;
    for _ in 0..10 {
        for uri in ["/products/1", "/products/1/styles", "/products/1/related"] {
            let response = dead_only.get(uri).dispatch().await;
            assert_eq!(response.status(), Status::Ok, "{uri}");
        }
    }

    // A dead replica and a live one: the live one answers.
    let paused = ReplayPaused::new(&replica);
    rename_on_primary(&db, 1, "Renamed on the primary");
    assert_eq!(product_name(&dead_only, 1).await, "Renamed on the primary");
    let both = client_reading(&db, &format!("{}, {replica}", dead_url(&db)), &[]).await;
    for _ in 0..10 {
        assert_eq!(product_name(&both, 1).await, "Camo Onesie");
    }
    drop(paused);
}

/// An import swaps new tables in on the primary; an instance that reads the
/// replica, with its cache on, serves what the replica has until the replica
/// replays the import, then the new catalog, without a restart: the catalog
/// watcher polls the database the instance reads, not the primary.
#[rocket::async_test]
async fn an_import_on_the_primary_reaches_an_instance_reading_the_replica() {
    let _turn = REPLAY.lock().await;
    let db = TestDb::with_fixtures();
    let replica = replica_of(&db);
    // The cache on, and the catalog watcher polling the replica.
    let client = client_reading(
        &db,
        &replica,
        &[
            ("cache_enabled", json!(true)),
            ("catalog_poll_ms", json!(100)),
        ],
    )
    .await;
    assert_eq!(product_name(&client, 1).await, "Camo Onesie");

    // The replica holds the import back for a while: the instance keeps
    // serving the catalog its database has, and re-caches it.
    let paused = ReplayPaused::new(&replica);
    let dump = common::generated_dump("replica-import", 50, 3);
    import::run(&db.url, &common::import_options(&dump.0)).unwrap();
    let imported: String = atelier::catalog::schema::product::table
        .find(1)
        .select(atelier::catalog::schema::product::name)
        .get_result(&mut db.connect())
        .unwrap();
    assert_ne!(imported, "Camo Onesie");
    for _ in 0..5 {
        rocket::tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(product_name(&client, 1).await, "Camo Onesie");
    }
    drop(paused);
    let started = Instant::now();
    let mut seen = None;
    while started.elapsed() < Duration::from_secs(30) {
        if product_name(&client, 1).await == imported {
            seen = Some(started.elapsed());
            break;
        }
        rocket::tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = seen.expect("the instance never served the imported catalog");
    eprintln!("served the imported catalog {seen:?} after the replica resumed replay");
}

/// The lag bound of the tests that let a replica fall behind, in seconds.
const MAX_LAG: f64 = 1.0;

/// Polls `probe` until it gives a value (at most 30 s), without holding up
/// the runtime.
async fn until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        rocket::tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET /ready`'s body, which must be a 200.
async fn ready(client: &Client) -> Value {
    let response = client.get("/ready").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    serde_json::from_str(&response.into_string().await.unwrap()).unwrap()
}

/// The state `/ready` gives the one replica, and its lag.
async fn replica_state(client: &Client) -> (String, Option<f64>) {
    let body = ready(client).await;
    let replicas = body["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 1, "{body}");
    (
        replicas[0]["state"].as_str().unwrap().to_string(),
        replicas[0]["lag_seconds"].as_f64(),
    )
}

/// The value of `series` (name and labels, as written) in `/metrics`.
async fn metric(client: &Client, series: &str) -> f64 {
    let response = client.get("/metrics").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let text = response.into_string().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

const FALLBACK_LAG: &str = r#"atelier_db_fallback_reads_total{reason="lag"}"#;
const FALLBACK_DOWN: &str = r#"atelier_db_fallback_reads_total{reason="down"}"#;
const SKIPPED_LAG: &str = r#"atelier_db_replica_skipped{reason="lag"}"#;
const SKIPPED_DOWN: &str = r#"atelier_db_replica_skipped{reason="down"}"#;

fn lag_series(replica_url: &str) -> String {
    format!(
        "atelier_db_replica_lag_seconds{{replica=\"{}\"}}",
        atelier::db::lag::replica_name(replica_url)
    )
}

/// Reads product 1 on every endpoint `rounds` times: each answer has the
/// primary's name for it. 4 reads a round.
async fn all_answer(client: &Client, rounds: usize, name: &str) {
    for _ in 0..rounds {
        for uri in ["/products/1/styles", "/products/1/related", "/products"] {
            let response = client.get(uri).dispatch().await;
            assert_eq!(response.status(), Status::Ok, "{uri}");
        }
        assert_eq!(product_name(client, 1).await, name);
    }
}

/// Replay paused past the bound: the instance reads the primary (every
/// answer has the primary's data, and the metrics count those reads), shows
/// the lag, and reads the replica again within a second of it catching up.
#[rocket::async_test]
async fn a_replica_whose_replay_is_paused_past_the_bound_is_skipped_until_it_catches_up() {
    let _turn = REPLAY.lock().await;
    let db = TestDb::with_fixtures();
    let replica = replica_of(&db);
    let client = client_reading(
        &db,
        &replica,
        &[("databases.atelier.replica_max_lag", json!(MAX_LAG))],
    )
    .await;
    // Judged by the age of its last replayed commit at start-up, the
    // replica may wait a few checks for the first time it has everything.
    until("the replica to be read", || async {
        (replica_state(&client).await.0 == "in_use").then_some(())
    })
    .await;
    let body = ready(&client).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(
        body["replicas"][0]["name"],
        format!("127.0.0.1:{}/{}", port_of(&replica), db.name)
    );
    assert_eq!(metric(&client, SKIPPED_LAG).await, 0.0);
    let before = metric(&client, FALLBACK_LAG).await;
    all_answer(&client, 1, "Camo Onesie").await;
    assert_eq!(metric(&client, FALLBACK_LAG).await, before);

    let paused = ReplayPaused::new(&replica);
    rename_on_primary(&db, 1, "Renamed on the primary");
    let (state, lag) = until("the replica to be skipped for lag", || async {
        let (state, lag) = replica_state(&client).await;
        (state != "in_use").then_some((state, lag))
    })
    .await;
    assert_eq!(state, "lagging");
    assert!(lag.unwrap() >= MAX_LAG, "{lag:?}");
    assert!(metric(&client, &lag_series(&replica)).await >= MAX_LAG);
    assert_eq!(metric(&client, SKIPPED_LAG).await, 1.0);
    assert_eq!(metric(&client, SKIPPED_DOWN).await, 0.0);
    let before = metric(&client, FALLBACK_LAG).await;
    all_answer(&client, 5, "Renamed on the primary").await;
    assert_eq!(metric(&client, FALLBACK_LAG).await - before, 20.0);
    assert_eq!(metric(&client, FALLBACK_DOWN).await, 0.0);

    drop(paused);
    until_replayed(&replica, 1, "Renamed on the primary");
    let caught_up = Instant::now();
    until("the replica to be read again", || async {
        (replica_state(&client).await.0 == "in_use").then_some(())
    })
    .await;
    let took = caught_up.elapsed();
    eprintln!("read again {took:?} after the replica caught up");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(metric(&client, SKIPPED_LAG).await, 0.0);
    let before = metric(&client, FALLBACK_LAG).await;
    all_answer(&client, 5, "Renamed on the primary").await;
    assert_eq!(metric(&client, FALLBACK_LAG).await, before);
    assert_eq!(metric(&client, FALLBACK_DOWN).await, 0.0);
}

fn port_of(url: &str) -> u16 {
    url::Url::parse(url).unwrap().port().unwrap()
}

/// A primary and its streaming replica of their own, small clusters made
/// for one test under a temporary directory on free ports: `initdb` for the
/// primary, then `ensure_replica` (scripts/lib/replica.sh) with
/// `REPLICA_DATA` for the replica. Both are stopped and removed on drop.
struct Pair {
    dir: std::path::PathBuf,
    primary_port: u16,
    replica_port: u16,
}

const PAIR_SLOT: &str = "atelier_pair";

impl Pair {
    fn new(tag: &str) -> Pair {
        let pair = Pair {
            dir: std::env::temp_dir().join(format!("atelier-pair-{}-{tag}", std::process::id())),
            primary_port: free_port(),
            replica_port: free_port(),
        };
        let _ = std::fs::remove_dir_all(&pair.dir);
        pair.script(
            r#"
            install -d -o postgres -g postgres -m 0700 "$PAIR_DIR"
            as_postgres "$(pg_bin)/initdb" -D "$PAIR_DIR/primary" -A trust -U postgres >/dev/null
            as_postgres sh -c "cat >> '$PAIR_DIR/primary/postgresql.conf'" <<CONF
            port = $MANAGED_PORT
            listen_addresses = '127.0.0.1'
            fsync = off
            shared_buffers = 16MB
            CONF
            as_postgres "$(pg_bin)/pg_ctl" -D "$PAIR_DIR/primary" -l "$PAIR_DIR/primary.log" -w start >/dev/null
            primary_psql -c "CREATE ROLE atelier LOGIN PASSWORD 'atelier' CREATEDB"
            ensure_replica
            "#,
            &[],
        );
        pair
    }

    /// Runs `script` in bash with scripts/lib/db.sh and replica.sh sourced,
    /// the pair's settings and `env` set; its output, which must end well.
    fn script(&self, script: &str, env: &[(&str, &str)]) -> String {
        // Heredoc lines start at the first column.
        let script: String = script
            .lines()
            .map(|l| format!("{}\n", l.trim_start()))
            .collect();
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -eo pipefail\n. scripts/lib/db.sh\n. scripts/lib/replica.sh\n{script}"
            ))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("PAIR_DIR", &self.dir)
            .env("MANAGED_PORT", self.primary_port.to_string())
            .env("REPLICA_DATA", self.dir.join("replica"))
            .env("REPLICA_PORT", self.replica_port.to_string())
            .env("REPLICA_SLOT", PAIR_SLOT)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{script}\n{text}");
        text
    }

    /// The primary's database `db` as the role `atelier` or the superuser.
    fn primary(&self, user: &str, db: &str) -> String {
        format!(
            "postgres://{user}:atelier@127.0.0.1:{}/{db}",
            self.primary_port
        )
    }

    fn replica(&self, user: &str, db: &str) -> String {
        format!(
            "postgres://{user}:atelier@127.0.0.1:{}/{db}",
            self.replica_port
        )
    }

    /// One value of `sql` on the server at `url`.
    fn value(url: &str, sql: &str) -> String {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(&format!(
            "({sql})::text"
        )))
        .get_result(&mut PgConnection::establish(url).unwrap())
        .unwrap()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg("-c")
            .arg(
                r#". scripts/lib/db.sh; . scripts/lib/replica.sh
                for d in replica primary; do
                  as_postgres "$(pg_bin)/pg_ctl" -D "$PAIR_DIR/$d" -m immediate stop
                done
                rm -rf "$PAIR_DIR""#,
            )
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("PAIR_DIR", &self.dir)
            .output();
    }
}

/// The WAL receiver stopped (its primary_conninfo pointed where nothing
/// listens): the replica counts as lagging whatever its position, the
/// instance reads the primary, the lag grows as the primary moves on, and
/// once it streams again and has caught up the replica is read again.
#[rocket::async_test]
async fn a_replica_whose_wal_receiver_stopped_is_skipped_until_it_streams_again() {
    let pair = Pair::new("receiver");
    let primary = pair.primary("atelier", "atelier_lag");
    diesel::sql_query("CREATE DATABASE atelier_lag")
        .execute(&mut PgConnection::establish(&pair.primary("atelier", "postgres")).unwrap())
        .unwrap();
    atelier::db::migrations::migrate(&primary).unwrap();
    common::fixtures::insert(&mut PgConnection::establish(&primary).unwrap());
    let replica = pair.replica("atelier", "atelier_lag");
    eventually("the replica to have the fixtures", || {
        let mut conn = PgConnection::establish(&replica).ok()?;
        let have: i64 = atelier::catalog::schema::product::table
            .count()
            .get_result(&mut conn)
            .ok()?;
        (have > 0).then_some(())
    });
    let client = common::client_with(
        &primary,
        &[
            ("cache_enabled", json!(false)),
            ("databases.atelier.replica_urls", json!(replica)),
            ("databases.atelier.replica_max_lag", json!(MAX_LAG)),
        ],
    )
    .await;
    until("the replica to be read", || async {
        (replica_state(&client).await.0 == "in_use").then_some(())
    })
    .await;

    // As superuser, on the replica: its WAL receiver starts again, towards
    // a port nothing listens on.
    let superuser = pair.replica("postgres", "postgres");
    let conninfo = Pair::value(&superuser, "SELECT current_setting('primary_conninfo')");
    // One statement each: ALTER SYSTEM runs in no transaction.
    let point_at = |conninfo: &str| {
        let mut conn = PgConnection::establish(&superuser).unwrap();
        conn.batch_execute(&format!(
            "ALTER SYSTEM SET primary_conninfo = '{}'",
            conninfo.replace('\'', "''")
        ))
        .unwrap();
        conn.batch_execute("SELECT pg_reload_conf()").unwrap();
    };
    point_at(&format!(
        "host=127.0.0.1 port={} user=postgres",
        free_port()
    ));
    let state = until("the replica to be skipped", || async {
        let (state, _) = replica_state(&client).await;
        (state != "in_use").then_some(state)
    })
    .await;
    assert_eq!(state, "lagging");
    assert_eq!(
        Pair::value(
            &superuser,
            "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'"
        ),
        "0"
    );
    rename_on_primary_at(&primary, 1, "Renamed on the primary");
    let lag = until("the lag to show", || async {
        let lag = metric(&client, &lag_series(&replica)).await;
        (lag > 0.0).then_some(lag)
    })
    .await;
    assert!(lag > 0.0);
    assert_eq!(metric(&client, SKIPPED_LAG).await, 1.0);
    let before = metric(&client, FALLBACK_LAG).await;
    all_answer(&client, 5, "Renamed on the primary").await;
    assert_eq!(metric(&client, FALLBACK_LAG).await - before, 20.0);

    point_at(&conninfo);
    until("the replica to be read again", || async {
        (replica_state(&client).await.0 == "in_use").then_some(())
    })
    .await;
    assert_eq!(
        Pair::value(&replica, "SELECT name FROM product WHERE id = 1"),
        "Renamed on the primary"
    );
    let before = metric(&client, FALLBACK_LAG).await;
    all_answer(&client, 5, "Renamed on the primary").await;
    assert_eq!(metric(&client, FALLBACK_LAG).await, before);
    assert_eq!(metric(&client, FALLBACK_DOWN).await, 0.0);
}

fn rename_on_primary_at(url: &str, id: i32, name: &str) {
    PgConnection::establish(url)
        .unwrap()
        .batch_execute(&format!(
            "UPDATE product SET name = '{name}' WHERE id = {id}"
        ))
        .unwrap();
}

/// A replica stopped while the primary writes more WAL than its slot may
/// hold loses its place for good (the slot is invalidated, the WAL removed);
/// `ensure_replica` finds it not streaming and rebuilds it, where it reuses
/// a replica that streams.
#[test]
fn ensure_replica_rebuilds_a_replica_that_lost_its_place() {
    let pair = Pair::new("place");
    let superuser = pair.primary("postgres", "postgres");
    let slot_status = || {
        Pair::value(
            &superuser,
            &format!("SELECT wal_status FROM pg_replication_slots WHERE slot_name = '{PAIR_SLOT}'"),
        )
    };
    assert_eq!(slot_status(), "reserved");
    // A replica that streams is reused as it is.
    let again = pair.script("ensure_replica", &[]);
    assert!(!again.contains("rebuilding"), "{again}");
    assert!(!again.contains("creating"), "{again}");

    // Stopped, while the primary moves four WAL segments on with its slot
    // bounded to one: the checkpoint gives the slot up.
    pair.script("replica_stop", &[]);
    let mut primary = PgConnection::establish(&superuser).unwrap();
    for sql in [
        "ALTER SYSTEM SET max_slot_wal_keep_size = '16MB'",
        "SELECT pg_reload_conf()",
        "CREATE TABLE written_while_away (n int)",
    ] {
        primary.batch_execute(sql).unwrap();
    }
    for n in 0..4 {
        primary
            .batch_execute(&format!(
                "INSERT INTO written_while_away VALUES ({n}); SELECT pg_switch_wal();"
            ))
            .unwrap();
    }
    primary.batch_execute("CHECKPOINT").unwrap();
    assert_eq!(slot_status(), "lost");
    pair.script("replica_start", &[]);
    assert_ne!(
        Pair::value(
            &pair.replica("postgres", "postgres"),
            "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'"
        ),
        "1"
    );

    let rebuilt = pair.script(
        "ensure_replica",
        &[
            ("REPLICA_STREAM_WAIT", "5"),
            ("REPLICA_MAX_SLOT_WAL_KEEP_SIZE", "16MB"),
        ],
    );
    assert!(
        rebuilt.contains("is not streaming from the primary"),
        "{rebuilt}"
    );
    assert!(rebuilt.contains("rebuilding it"), "{rebuilt}");
    assert_eq!(slot_status(), "reserved");
    let replica = pair.replica("postgres", "postgres");
    assert_eq!(
        Pair::value(&replica, "SELECT status FROM pg_stat_wal_receiver"),
        "streaming"
    );
    assert_eq!(
        Pair::value(&replica, "SELECT count(*) FROM written_while_away"),
        "4"
    );
    assert_eq!(
        Pair::value(&replica, "SELECT current_setting('primary_slot_name')"),
        PAIR_SLOT
    );
}

/// Before its swap an import reads the new tables into each replica's
/// buffers as well as the primary's, once the replica has replayed them: it
/// waits for a replica whose replay is paused, and reads there as many
/// blocks as on the primary. A replica it cannot reach is left cold and the
/// import goes on.
#[rocket::async_test]
async fn an_import_warms_the_new_tables_on_each_replica_once_it_has_replayed_them() {
    let _turn = REPLAY.lock().await;
    let db = TestDb::with_fixtures();
    // The suite's server is local: its superuser creates the extension,
    // which reaches the replica by replication.
    let port = db
        .url
        .rsplit_once(':')
        .unwrap()
        .1
        .split('/')
        .next()
        .unwrap();
    let created = std::process::Command::new("runuser")
        .args([
            "-u", "postgres", "--", "psql", "-q", "-p", port, "-d", &db.name,
        ])
        .args(["-c", "CREATE EXTENSION pg_prewarm"])
        .status()
        .unwrap();
    assert!(created.success());
    let replica = replica_of(&db);
    let dead = dead_url(&db);

    let paused = ReplayPaused::new(&replica);
    let resume = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        drop(paused);
    });
    let dump = common::generated_dump("replica-warm", 50, 3);
    let options = import::ImportOptions {
        replicas: vec![replica.clone(), dead.clone()],
        ..common::import_options(&dump.0)
    };
    let report = import::run(&db.url, &options).unwrap();
    resume.join().unwrap();

    let primary = report.warmed[0].blocks.expect("the primary was warmed");
    assert!(primary > 0);
    assert_eq!(
        report.warmed,
        vec![
            import::warm::Warmed {
                server: "primary".to_string(),
                blocks: Some(primary),
            },
            import::warm::Warmed {
                server: atelier::db::lag::replica_name(&replica),
                blocks: Some(primary),
            },
            import::warm::Warmed {
                server: atelier::db::lag::replica_name(&dead),
                blocks: None,
            },
        ]
    );
}
