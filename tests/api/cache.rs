//! The response cache: a cached answer is the fresh one, byte for byte;
//! entity tags and `If-None-Match` give 304s; one load per URL however many
//! ask at once; errors are never cached; a change to the catalog shows within
//! one watcher poll; deep pages are right across page anchors.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::common;
use crate::common::{plain, TestDb};
use atelier::db::pool::StatementCounter;
use diesel::prelude::*;
use rocket::http::{Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::json;

const URIS: [&str; 8] = [
    "/products",
    "/products?page=2&count=3",
    "/products/1",
    "/products/2",
    "/products/1/styles",
    "/products/11/styles",
    "/products/1/related",
    "/products/3/related",
];

fn etag(response: &LocalResponse<'_>) -> String {
    response.headers().get_one("ETag").unwrap().to_string()
}

fn statements(client: &Client) -> u64 {
    client.rocket().state::<StatementCounter>().unwrap().total()
}

async fn body(client: &Client, uri: &str) -> String {
    client
        .get(uri)
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap()
}

/// The `id` of every product in a `GET /products` body, in order.
fn listed_ids(body: &str) -> Vec<i64> {
    serde_json::from_str::<serde_json::Value>(body)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect()
}

#[rocket::async_test]
async fn cached_answers_are_the_fresh_ones() {
    let db = TestDb::with_fixtures();
    let cached = common::client(&db).await;
    let fresh = common::client_with(&db.url, &[("cache_enabled", json!(false))]).await;
    for uri in URIS {
        // Twice on the cached app: a miss, then a hit.
        for _ in 0..2 {
            let a = cached.get(uri).dispatch().await;
            let b = fresh.get(uri).dispatch().await;
            assert_eq!(a.status(), Status::Ok);
            assert_eq!(etag(&a), etag(&b), "{uri}");
            assert_eq!(
                a.headers().get_one("Cache-Control"),
                Some("public, max-age=60")
            );
            assert_eq!(b.headers().get_one("Cache-Control"), Some("no-cache"));
            assert_eq!(a.into_string().await, b.into_string().await, "{uri}");
        }
    }
}

#[rocket::async_test]
async fn a_hit_runs_no_statement() {
    let db = TestDb::with_rendered_fixtures();
    let client = common::client(&db).await;
    let before = statements(&client);
    client.get("/products/11/styles").dispatch().await;
    assert_eq!(statements(&client) - before, 1);
    let before = statements(&client);
    for _ in 0..5 {
        assert_eq!(
            client.get("/products/11/styles").dispatch().await.status(),
            Status::Ok
        );
    }
    assert_eq!(statements(&client) - before, 0);
}

#[rocket::async_test]
async fn if_none_match_gives_304() {
    let db = TestDb::with_fixtures();
    for cache in [true, false] {
        let client = common::client_with(&db.url, &[("cache_enabled", json!(cache))]).await;
        let response = client.get("/products/1").dispatch().await;
        let tag = etag(&response);
        assert!(
            tag.starts_with('"') && tag.ends_with('"') && tag.len() == 18,
            "{tag}"
        );
        for (header, status) in [
            (tag.clone(), Status::NotModified),
            (format!("W/{tag}"), Status::NotModified),
            (format!("\"0000000000000000\", {tag}"), Status::NotModified),
            ("*".to_string(), Status::NotModified),
            ("\"0000000000000000\"".to_string(), Status::Ok),
        ] {
            let response = client
                .get("/products/1")
                .header(Header::new("If-None-Match", header.clone()))
                .dispatch()
                .await;
            assert_eq!(
                response.status(),
                status,
                "cache {cache}, If-None-Match: {header}"
            );
            assert_eq!(etag(&response), tag);
            let body = response.into_string().await.unwrap_or_default();
            assert_eq!(body.is_empty(), status == Status::NotModified);
        }
    }
}

#[rocket::async_test]
async fn a_stampede_loads_once() {
    use rocket::futures::future::{join, join_all};

    let db = TestDb::with_rendered_fixtures();
    let client = common::client(&db).await;
    // The first fetch waits on a lock until all 50 have asked: whatever
    // their timing, they must share that one fetch.
    let lock = common::ProductLock::take(&db);
    let before = statements(&client);
    let requests = (0..50).map(|_| async {
        let response = client.get("/products/11/styles").dispatch().await;
        (response.status(), response.into_string().await)
    });
    let release = async {
        common::until_a_lock_is_waited_on(&db).await;
        lock.release_soon().await;
    };
    let (answers, ()) = join(join_all(requests), release).await;
    assert!(answers
        .iter()
        .all(|a| *a == answers[0] && a.0 == Status::Ok));
    assert_eq!(statements(&client) - before, 1, "one load: one statement");
}

fn insert_product(db: &TestDb, id: i32) {
    diesel::sql_query(format!(
        "INSERT INTO product (id, name, slogan, description, category, default_price)
         VALUES ({id}, 'New', 'New', 'New.', 'Pants', 5)"
    ))
    .execute(&mut db.connect())
    .unwrap();
}

#[rocket::async_test]
async fn errors_are_never_cached() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    assert_eq!(
        client.get("/products/50").dispatch().await.status(),
        Status::NotFound
    );
    insert_product(&db, 50);
    assert_eq!(
        client.get("/products/50").dispatch().await.status(),
        Status::Ok
    );
}

#[rocket::async_test]
async fn a_change_to_the_catalog_shows_within_a_poll() {
    let db = TestDb::with_fixtures();
    let client = common::client_with(&db.url, &[("catalog_poll_ms", json!(100))]).await;
    let old = body(&client, "/products?page=2").await;
    insert_product(&db, 12);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let new = body(&client, "/products?page=2").await;
        if new != old {
            assert_eq!(listed_ids(&new), [7, 11, 12]);
            break;
        }
        assert!(Instant::now() < deadline, "the new product never showed");
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Inserts a product `P<id>` in category Pants for each of `ids`.
fn insert_pants(db: &TestDb, ids: &[i32]) {
    let values: Vec<String> = ids
        .iter()
        .map(|id| format!("({id}, 'P{id}', 'S', 'D.', 'Pants', 1)"))
        .collect();
    diesel::sql_query(format!(
        "INSERT INTO product (id, name, slogan, description, category, default_price) VALUES {}",
        values.join(",")
    ))
    .execute(&mut db.connect())
    .unwrap();
}

#[rocket::async_test]
async fn deep_pages_are_right_across_anchors() {
    let db = TestDb::migrated();
    // 2,600 products with gaps in their ids: an anchor every 100 offsets.
    let ids: Vec<i32> = (0..2_600).map(|i| 3 * i + 1 + i / 500).collect();
    insert_pants(&db, &ids);
    let client = common::client_with(&db.url, &[("cache_enabled", json!(false))]).await;
    for (page, count) in [
        (1, 7),
        (14, 7),
        (15, 7),
        (29, 7),
        (101, 1),
        (100, 1),
        (142, 7),
        (143, 7),
        (144, 7),
        (286, 7),
        (287, 7),
        (371, 7),
        (372, 7),
        (373, 7),
        (2, 1000),
        (3, 1000),
        (4, 1000),
        (1000, 1),
        (1001, 1),
        (1002, 1),
        (2600, 1),
        (2601, 1),
        (100, 13),
        (200, 13),
    ] {
        let start = ((page - 1) * count).min(ids.len());
        let end = (page * count).min(ids.len());
        let expected = &ids[start..end];
        let before = statements(&client);
        let page_body = body(&client, &format!("/products?page={page}&count={count}")).await;
        assert_eq!(statements(&client) - before, 1);
        let got: Vec<i32> = listed_ids(&page_body)
            .into_iter()
            .map(|id| id as i32)
            .collect();
        assert_eq!(got, expected, "page {page}, count {count}");
    }
}

#[rocket::async_test]
async fn health_touches_nothing() {
    let client = common::client_with(
        "postgres://atelier:atelier@127.0.0.1:1/atelier",
        &[("catalog_poll_ms", json!(0))],
    )
    .await;
    let response = client.get("/health").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.into_string().await.unwrap(), r#"{"status":"ok"}"#);
}

#[rocket::async_test]
async fn the_naive_path_answers_the_same() {
    let db = TestDb::with_fixtures();
    let direct = common::client_with(&db.url, &[("cache_enabled", json!(false))]).await;
    let naive = common::client_with(
        &db.url,
        &[
            ("cache_enabled", json!(false)),
            ("databases.atelier.naive", json!(true)),
        ],
    )
    .await;
    for uri in URIS.iter().chain(&["/products/42", "/products/abc"]) {
        let a = direct.get(*uri).dispatch().await;
        let b = naive.get(*uri).dispatch().await;
        assert_eq!(a.status(), b.status(), "{uri}");
        assert_eq!(a.into_string().await, b.into_string().await, "{uri}");
    }
}

/// Past its TTL, an answer is loaded again by one request while the others
/// get the old one at once, marked stale, instead of waiting behind it.
#[rocket::async_test]
async fn past_its_ttl_one_request_reloads_and_the_others_get_the_old_answer() {
    use rocket::futures::future::join;

    let db = TestDb::with_fixtures();
    let client = common::client_with(&db.url, &[("cache_ttl_seconds", json!(1))]).await;
    let first = client.get("/products/1").dispatch().await;
    assert_eq!(first.headers().get_one("Warning"), None);
    let old = first.into_string().await.unwrap();
    rocket::tokio::time::sleep(Duration::from_millis(1100)).await;

    // The reload waits on a lock until the other request has its answer.
    let lock = common::ProductLock::take(&db);
    let reload = async {
        let response = client.get("/products/1").dispatch().await;
        (
            response.headers().get_one("Warning").map(String::from),
            response.into_string().await.unwrap(),
        )
    };
    let meanwhile = async {
        common::until_a_lock_is_waited_on(&db).await;
        let started = Instant::now();
        let response = client.get("/products/1").dispatch().await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(
            response.headers().get_one("Warning"),
            Some("110 - \"Response is Stale\"")
        );
        assert!(response.headers().get_one("Age").is_some());
        assert_eq!(response.into_string().await.unwrap(), old);
        lock.release_soon().await;
    };
    let ((warning, body), ()) = join(reload, meanwhile).await;
    assert_eq!(warning, None, "the reloading request gets the fresh answer");
    assert_eq!(body, old);
    let after = client.get("/products/1").dispatch().await;
    assert_eq!(after.headers().get_one("Warning"), None);
}

/// Rows and index entries of `product` read so far, as the statistics
/// have them: a backend reports its counts once idle for a second, so
/// this waits that out first.
fn product_tuples_read(db: &TestDb) -> i64 {
    std::thread::sleep(Duration::from_millis(1500));
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::bigint \
           FROM pg_stat_user_tables WHERE relname = 'product')",
    ))
    .get_result(&mut db.connect())
    .unwrap()
}

#[rocket::async_test]
async fn pages_far_past_the_end_read_only_the_rows_after_the_last_anchor() {
    let db = TestDb::migrated();
    insert_pants(&db, &(1..=2_650).collect::<Vec<i32>>());
    // The watcher's first poll, before the first request, reads the anchors.
    let client = common::client_with(
        &plain(&db.url),
        &[
            ("cache_enabled", json!(false)),
            ("catalog_poll_ms", json!(60_000)),
        ],
    )
    .await;
    let before = product_tuples_read(&db);
    for uri in [
        "/products?page=9000000&count=1000",
        "/products?page=4&count=1000",
        "/products?page=18446744073709551615&count=1000",
        "/products?page=99999999999999999999999999&count=1",
    ] {
        let response = client.get(uri).dispatch().await;
        assert_eq!(response.status(), Status::Ok, "{uri}");
        assert_eq!(response.into_string().await.unwrap(), "[]", "{uri}");
    }
    // Four pages, each at most the 50 rows after the last anchor (2,600).
    let read = product_tuples_read(&db) - before;
    assert!(read <= 4 * 51, "{read} rows read for four empty pages");
    // The last pages still hold their products, a row added since the
    // anchors were read included.
    let page = body(&client, "/products?page=2650&count=1").await;
    assert_eq!(listed_ids(&page), [2650]);
    insert_product(&db, 2651);
    let page = body(&client, "/products?page=266&count=10").await;
    assert_eq!(listed_ids(&page), [2651]);
}

#[rocket::async_test]
async fn junk_in_the_query_string_makes_no_new_cache_entry() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let first = body(&client, "/products?page=1&count=5").await;
    let before = statements(&client);
    for uri in [
        "/products",
        "/products?page=01&count=5",
        "/products?page=1&count=005",
        "/products?count=5&page=1",
        "/products?count=5&x=1",
        "/products?page=1&utm_source=mail&x=%FF",
        "/products?page=%31",
    ] {
        let response = client.get(uri).dispatch().await;
        assert_eq!(response.status(), Status::Ok, "{uri}");
        assert_eq!(response.into_string().await.unwrap(), first, "{uri}");
    }
    assert_eq!(statements(&client), before, "every one a cache hit");
}

#[rocket::async_test]
async fn a_query_stuck_behind_a_lock_is_cancelled_and_answers_503() {
    let db = TestDb::with_fixtures();
    let client = common::client_with(
        &db.url,
        &[
            ("cache_enabled", json!(false)),
            ("databases.atelier.timeout", json!(30)),
            ("databases.atelier.statement_timeout_ms", json!(200)),
        ],
    )
    .await;
    let lock = common::ProductLock::take(&db);
    // Without a statement timeout the read would wait for the lock, which
    // is released after 5 s, and answer 200 then.
    let release = rocket::tokio::spawn(async move {
        rocket::tokio::time::sleep(Duration::from_secs(5)).await;
        lock.release_soon().await;
    });
    let response = client.get("/products?page=1&count=3").dispatch().await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert_eq!(response.headers().get_one("Retry-After"), Some("1"));
    assert_eq!(
        response.into_string().await.unwrap(),
        r#"{"error":"the database is unavailable; try again shortly"}"#
    );
    release.await.unwrap();
    // The connection is still good: the next read answers.
    let response = client.get("/products?page=1&count=3").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
}
