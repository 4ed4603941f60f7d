//! What happens when the database is not there for a request: unreachable,
//! every connection busy, or connections cut under the service. Each answer
//! is a JSON 503 (never a 500 or a hang), and the service recovers by itself.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common;
use crate::common::TestDb;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

/// Generous bound so a hang fails the test instead of blocking the suite.
const NO_HANG: Duration = Duration::from_secs(60);

async fn get(client: &Client, uri: &str) -> (Status, Value) {
    let response = rocket::tokio::time::timeout(NO_HANG, client.get(uri).dispatch())
        .await
        .unwrap_or_else(|_| panic!("{uri} did not answer"));
    let status = response.status();
    let body = response.into_string().await.unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap())
}

fn unavailable() -> Value {
    json!({"error": "the database is unavailable; try again shortly"})
}

#[rocket::async_test]
async fn unreachable_database_is_503_and_bad_input_still_400() {
    // Port 1 on loopback: nothing listens there.
    let client = common::client_with(
        "postgres://atelier:atelier@127.0.0.1:1/atelier",
        &[
            ("databases.atelier.timeout", json!(1)),
            ("cache_enabled", json!(false)),
        ],
    )
    .await;
    for uri in [
        "/products",
        "/products/1",
        "/products/1/styles",
        "/products/1/related",
    ] {
        assert_eq!(
            get(&client, uri).await,
            (Status::ServiceUnavailable, unavailable()),
            "{uri}"
        );
    }
    let (status, _) = get(&client, "/products/abc").await;
    assert_eq!(status, Status::BadRequest);
}

#[rocket::async_test]
async fn every_connection_busy_is_503_until_one_is_free() {
    let db = TestDb::with_fixtures();
    let client = common::client_with(
        &db.url,
        &[
            ("databases.atelier.pool_size", json!(1)),
            ("databases.atelier.timeout", json!(1)),
            ("cache_enabled", json!(false)),
        ],
    )
    .await;
    // Another session holds the table, so the one connection's statement
    // waits for it: every request behind it waits for a connection.
    let mut admin = db.connect();
    admin
        .batch_execute("BEGIN; LOCK TABLE product IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    for uri in ["/products/1/related", "/products/1", "/products?page=2"] {
        assert_eq!(
            get(&client, uri).await,
            (Status::ServiceUnavailable, unavailable()),
            "{uri}"
        );
    }
    admin.batch_execute("ROLLBACK").unwrap();
    assert_eq!(
        get(&client, "/products/1/related").await,
        (Status::Ok, json!([3, 1, 3, 2]))
    );
}

#[rocket::async_test]
async fn connections_cut_under_the_service_are_replaced() {
    let db = TestDb::with_fixtures();
    let client = common::client_with(
        &db.url,
        &[
            ("databases.atelier.pool_size", json!(2)),
            ("cache_enabled", json!(false)),
        ],
    )
    .await;
    let expected = (Status::Ok, json!([3, 1, 3, 2]));
    for _ in 0..3 {
        assert_eq!(get(&client, "/products/1/related").await, expected);
    }
    // What a database restart does to every open connection.
    let mut admin = db.connect();
    let cut: Vec<bool> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .load::<Cut>(&mut admin)
    .unwrap()
    .into_iter()
    .map(|c| c.cut)
    .collect();
    assert!(!cut.is_empty() && cut.iter().all(|c| *c), "{cut:?}");
    // Every request succeeds: a dead connection is discarded and the read
    // retried on a new one.
    for _ in 0..4 {
        assert_eq!(get(&client, "/products/1/related").await, expected);
    }
}

#[derive(QueryableByName)]
struct Cut {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    cut: bool,
}
