//! An import against a live database: killed with SIGKILL at any phase it
//! leaves the served data as it was, and the API answers throughout an
//! import, old data before the swap and new data after it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::process::atelier;
use crate::common::{defects_dir, import_options, Line, TestDb};
use atelier::import;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use rocket::http::Status;

/// Row count and a hash of every row (timestamps aside) of each served table.
fn fingerprint(conn: &mut PgConnection) -> Vec<String> {
    ["product", "features", "styles", "photos", "skus", "related"]
        .iter()
        .map(|table| {
            diesel::sql_query(format!(
                "SELECT format('{table} %s %s', count(*), coalesce(sum(hashtextextended(
                   (to_jsonb(t) - 'created_at' - 'updated_at')::text, 0)), 0)) AS line
                 FROM public.{table} t"
            ))
            .get_result::<Line>(conn)
            .unwrap()
            .line
        })
        .collect()
}

/// Waits until no other session is connected to the database: a killed
/// client's server process finishes its current statement before it notices.
fn wait_for_other_sessions(conn: &mut PgConnection) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let others: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid())",
        ))
        .get_result(conn)
        .unwrap();
        if others == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the killed import's session never ended"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_import_killed_at_any_phase_changes_nothing() {
    let db = TestDb::migrated();
    import::run(&db.url, &import_options(&defects_dir())).unwrap();
    let mut conn = db.connect();
    let before = fingerprint(&mut conn);

    let dump = common::generated_dump("kill", 20_000, 4);
    for phase in [
        "loading product.csv",
        "loading styles.csv",
        "loading photos.csv",
        "loading skus.csv",
        "building indexes and constraints",
        "analyzing",
    ] {
        let mut child = atelier()
            .args(["import", dump.0.to_str().unwrap(), "--rejects"])
            .arg(dump.0.join("rejects.csv"))
            .env("DATABASE_URL", &db.url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = Vec::new();
        for line in stderr.lines() {
            let line = line.unwrap();
            let reached = line.starts_with(&format!("import: {phase}"));
            seen.push(line);
            if reached {
                break;
            }
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "the import finished before it was killed at {phase}: {seen:?}"
        );
        wait_for_other_sessions(&mut conn);
        assert_eq!(fingerprint(&mut conn), before, "killed at {phase}");
    }

    // The next import cleans up after the killed ones and completes.
    let report = import::run(&db.url, &import_options(&dump.0)).unwrap();
    let after = fingerprint(&mut conn);
    assert_ne!(after, before);
    let products = report
        .file(atelier::import::tables::Table::Product)
        .unwrap()
        .loaded;
    assert!(
        after[0].starts_with(&format!("product {products} ")),
        "{after:?}"
    );
}

#[rocket::async_test]
async fn the_api_answers_throughout_an_import() {
    let db = TestDb::migrated();
    import::run(&db.url, &import_options(&defects_dir())).unwrap();
    let client =
        common::client_with(&db.url, &[("catalog_poll_ms", serde_json::json!(1000))]).await;
    let old = client
        .get("/products/1/styles")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();

    let dump = common::generated_dump("live", 20_000, 9);
    let url = db.url.clone();
    let dir = dump.0.clone();
    let importer = std::thread::spawn(move || import::run(&url, &import_options(&dir)).map(|_| ()));
    let mut answers = Vec::new();
    while !importer.is_finished() {
        let response = client.get("/products/1/styles").dispatch().await;
        assert_eq!(response.status(), Status::Ok);
        answers.push(response.into_string().await.unwrap());
        rocket::tokio::time::sleep(Duration::from_millis(5)).await;
    }
    importer.join().unwrap().unwrap();
    // Cached answers follow the catalog within one watcher poll (1 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    let new = loop {
        let body = client
            .get("/products/1/styles")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap();
        answers.push(body.clone());
        if body != old {
            break body;
        }
        assert!(Instant::now() < deadline, "the new data never showed");
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        answers.len() > 10,
        "only {} answers during the import",
        answers.len()
    );
    // Old data up to the swap, new data after: never a mix, never going back.
    let switched = answers
        .iter()
        .position(|a| *a != old)
        .unwrap_or(answers.len());
    assert!(answers[..switched].iter().all(|a| *a == old));
    assert!(answers[switched..].iter().all(|a| *a == new));
    assert!(
        new.starts_with("{\"product_id\":\"1\",\"results\":[{\"style_id\":1,"),
        "{new}"
    );
}

/// A session that holds a served table (a long report, a dump) keeps the
/// swap waiting, but not every other reader: the swap takes the tables in
/// short attempts, so a reader queued behind one goes on when it ends, and
/// the import completes once the tables are free.
#[rocket::async_test]
async fn a_swap_waiting_for_a_held_table_lets_other_readers_through() {
    let db = TestDb::migrated();
    import::run(&db.url, &import_options(&defects_dir())).unwrap();
    let count = |conn: &mut PgConnection| -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM product)",
        ))
        .get_result(conn)
        .unwrap()
    };
    let mut holder = db.connect();
    let before = count(&mut holder);
    holder
        .batch_execute("BEGIN; SELECT count(*) FROM product")
        .unwrap();

    let dump = common::generated_dump("swap-wait", 2_000, 3);
    let url = db.url.clone();
    let dir = dump.0.clone();
    let importer = std::thread::spawn(move || import::run(&url, &import_options(&dir)));
    common::until_waiting(&db, "DO $swap$").await;

    // Behind a swap that waited for as long as the holder holds the table,
    // these would time out.
    let mut reader = db.connect();
    reader
        .batch_execute("SET statement_timeout = '10s'")
        .unwrap();
    for _ in 0..5 {
        assert_eq!(count(&mut reader), before);
    }
    assert!(!importer.is_finished());

    holder.batch_execute("COMMIT").unwrap();
    importer.join().unwrap().unwrap();
    assert_eq!(count(&mut reader), 2_000);
}
