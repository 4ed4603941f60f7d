//! Reads from a real streaming replica (`DATABASE_REPLICA_URLS`): requests
//! are answered from the replica, not the primary; a replica that cannot be
//! reached is skipped with no error to the client; and an import on the
//! primary reaches an instance reading a replica once the replica has it.
//!
//! `scripts/test.sh` starts the replica (`scripts/lib/replica.sh`) and
//! exports `DATABASE_REPLICA_SERVER_URL`. Every test database is created on
//! the primary and appears on the replica by replication. To tell which
//! server answered, the tests pause the replica's replay, change the primary,
//! and look at what the service says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use atelier::import::{self, ImportOptions, ProgressMode};
use common::{with_database, TestDb};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

/// Pausing replay stops it for every database on the replica: these tests
/// take turns.
static REPLAY: rocket::tokio::sync::Mutex<()> = rocket::tokio::sync::Mutex::const_new(());

fn replica_server_url() -> String {
    atelier::config::load_dotenv();
    std::env::var("DATABASE_REPLICA_SERVER_URL").expect(
        "DATABASE_REPLICA_SERVER_URL must point at a streaming replica of DATABASE_URL's \
         server: run scripts/test.sh, which starts one",
    )
}

/// `db` as the replica serves it, once the replica has caught up with it.
fn replica_of(db: &TestDb) -> String {
    let url = with_database(&replica_server_url(), &db.name);
    let expected: i64 = atelier::catalog::schema::product::table
        .count()
        .get_result(&mut db.connect())
        .unwrap();
    eventually("the replica to catch up", || {
        let mut conn = PgConnection::establish(&url).ok()?;
        let have: i64 = atelier::catalog::schema::product::table
            .count()
            .get_result(&mut conn)
            .ok()?;
        (have == expected).then_some(())
    });
    url
}

/// Polls `probe` until it gives a value (at most 30 s).
fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

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

async fn client_reading(db: &TestDb, replicas: &str, extra: &[(&str, Value)]) -> Client {
    let mut settings = vec![
        ("cache_enabled", json!(false)),
        ("databases.atelier.replica_urls", json!(replicas)),
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

/// A port nothing listens on.
fn dead_url(db: &TestDb) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
    eventually("the replica to replay the rename", || {
        let mut conn = PgConnection::establish(&replica).ok()?;
        let name: String = atelier::catalog::schema::product::table
            .find(1)
            .select(atelier::catalog::schema::product::name)
            .get_result(&mut conn)
            .ok()?;
        (name == "Renamed on the primary").then_some(())
    });
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
    let client = {
        let figment = atelier::config::figment(&db.url)
            .merge(("log_level", "critical"))
            .merge(("databases.atelier.min_idle", 0))
            .merge(("databases.atelier.replica_urls", replica.clone()))
            .merge(("catalog_poll_ms", 100));
        Client::untracked(atelier::app::build(figment))
            .await
            .unwrap()
    };
    assert_eq!(product_name(&client, 1).await, "Camo Onesie");

    // The replica holds the import back for a while: the instance keeps
    // serving the catalog its database has, and re-caches it.
    let paused = ReplayPaused::new(&replica);
    let dump = common::generated_dump("replica-import", 50, 3);
    import::run(
        &db.url,
        &ImportOptions {
            dir: dump.0.clone(),
            rejects: dump.0.join("rejects.csv"),
            max_reject_percent: 100.0,
            progress: ProgressMode::Quiet,
        },
    )
    .unwrap();
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
