//! Statements per request, counted by the pool's own connections (Diesel
//! instrumentation): a fixed number per endpoint, whatever the number of
//! styles, photos and skus, and none at all for a request rejected as bad.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::common::TestDb;
use atelier::db::pool::StatementCounter;
use rocket::http::Status;
use rocket::local::asynchronous::Client;

async fn statements_for(client: &Client, uri: &str, status: Status) -> u64 {
    let counter = client.rocket().state::<StatementCounter>().unwrap().clone();
    let before = counter.total();
    let response = client.get(uri).dispatch().await;
    assert_eq!(response.status(), status, "{uri}");
    counter.total() - before
}

/// Product 60: sixty styles, each with two photos and three skus; product
/// 61: one style with one photo and one sku.
fn insert_products_with_1_and_60_styles(db: &TestDb) {
    use diesel::connection::SimpleConnection;
    db.connect()
        .batch_execute(
            "INSERT INTO product (id, name, slogan, description, category, default_price)
             VALUES (60, 'Sixty', 's', 'd', 'c', 1), (61, 'One', 's', 'd', 'c', 1);
             INSERT INTO styles (id, product_id, name, sale_price, original_price, default_style)
             SELECT 6000 + n, 60, 'Style ' || n, NULL, 10, n = 0 FROM generate_series(0, 59) n;
             INSERT INTO styles VALUES (6100, 61, 'Only', NULL, 10, true);
             INSERT INTO photos (id, style_id, url, thumbnail_url)
             SELECT 60000 + n, 6000 + n / 2, 'https://x.example/' || n, 'https://x.example/t' || n
               FROM generate_series(0, 119) n;
             INSERT INTO photos VALUES (61000, 6100, 'https://x.example/u', 'https://x.example/t');
             INSERT INTO skus (id, style_id, size, quantity)
             SELECT 60000 + n, 6000 + n / 3, 'S', n FROM generate_series(0, 179) n;
             INSERT INTO skus VALUES (61000, 6100, 'M', 1);",
        )
        .unwrap();
}

#[rocket::async_test]
async fn statements_per_request() {
    let db = TestDb::with_fixtures();
    insert_products_with_1_and_60_styles(&db);
    let client = common::client_with(&db.url, &[("cache_enabled", serde_json::json!(false))]).await;
    let cases = [
        // No stored answers (the fixtures are inserted, not imported): one
        // statement finds none, four more load the product, its styles, their
        // photos and their skus, whatever their number (sixty styles, 120
        // photos, 180 skus, or one of each, or no styles at all), between
        // the BEGIN and COMMIT of one snapshot.
        ("/products/60/styles", Status::Ok, 7),
        ("/products/61/styles", Status::Ok, 7),
        ("/products/11/styles", Status::Ok, 7),
        ("/products/3/styles", Status::Ok, 7),
        // No product: the first statement tells 404 already.
        ("/products/42/styles", Status::NotFound, 1),
        ("/products", Status::Ok, 1),
        ("/products?page=2&count=1000", Status::Ok, 1),
        // No stored answer: one statement finds none, one more reads the
        // product with its features joined (no rows tells 404).
        ("/products/1", Status::Ok, 2),
        ("/products/42", Status::NotFound, 2),
        // The product with its related rows joined: no rows tells 404, a
        // product row with no child tells "none".
        ("/products/1/related", Status::Ok, 1),
        ("/products/3/related", Status::Ok, 1),
        ("/products/42/related", Status::NotFound, 1),
        ("/products/abc", Status::BadRequest, 0),
        ("/products?count=0", Status::BadRequest, 0),
    ];
    for (uri, status, expected) in cases {
        // Twice: the first request on a connection prepares statements, the
        // second reuses them; neither may add a statement.
        for _ in 0..2 {
            assert_eq!(
                statements_for(&client, uri, status).await,
                expected,
                "{uri}"
            );
        }
    }
}

/// A stored `/styles` answer is one statement, which also tells 404, with
/// one style or sixty; after `atelier answers refresh` too.
#[rocket::async_test]
async fn stored_styles_answers_take_one_statement() {
    let db = TestDb::with_fixtures();
    insert_products_with_1_and_60_styles(&db);
    let client = common::client_with(&db.url, &[("cache_enabled", serde_json::json!(false))]).await;
    let uris = [
        ("/products/60/styles", Status::Ok),
        ("/products/61/styles", Status::Ok),
        ("/products/11/styles", Status::Ok),
        ("/products/3/styles", Status::Ok),
        ("/products/42/styles", Status::NotFound),
    ];
    let mut from_rows = Vec::new();
    for (uri, status) in uris {
        let response = client.get(uri).dispatch().await;
        assert_eq!(response.status(), status);
        from_rows.push(response.into_string().await);
    }
    let report = atelier::catalog::answers::refresh(
        &mut db.connect(),
        atelier::catalog::answers::Stored::Styles,
        &atelier::catalog::answers::RefreshScope::Missing,
        false,
    )
    .unwrap();
    assert_eq!(report.stored, 9);
    for ((uri, status), body) in uris.into_iter().zip(from_rows) {
        for _ in 0..2 {
            assert_eq!(statements_for(&client, uri, status).await, 1, "{uri}");
        }
        let response = client.get(uri).dispatch().await;
        assert_eq!(response.into_string().await, body, "{uri}");
    }
}

/// A stored `/products/:id` answer is one statement, with no feature or
/// several; an id no product has takes a second, which finds no rows; the
/// answers are the bytes the rows gave before `atelier answers refresh`.
#[rocket::async_test]
async fn stored_product_answers_take_one_statement() {
    use atelier::catalog::answers::{refresh, RefreshScope, Stored};

    let db = TestDb::with_fixtures();
    let client = common::client_with(&db.url, &[("cache_enabled", serde_json::json!(false))]).await;
    let uris = [
        ("/products/1", Status::Ok, 1),
        ("/products/2", Status::Ok, 1),
        ("/products/11", Status::Ok, 1),
        ("/products/42", Status::NotFound, 2),
    ];
    let mut from_rows = Vec::new();
    for (uri, status, _) in uris {
        let response = client.get(uri).dispatch().await;
        assert_eq!(response.status(), status);
        from_rows.push(response.into_string().await);
    }
    let report = refresh(
        &mut db.connect(),
        Stored::Product,
        &RefreshScope::Missing,
        false,
    )
    .unwrap();
    assert_eq!(report.stored, 7);
    for ((uri, status, expected), body) in uris.into_iter().zip(from_rows) {
        for _ in 0..2 {
            assert_eq!(
                statements_for(&client, uri, status).await,
                expected,
                "{uri}"
            );
        }
        let response = client.get(uri).dispatch().await;
        assert_eq!(response.into_string().await, body, "{uri}");
    }
}

/// Lookups that wait for the connection together are answered by one
/// statement per kind, and each gets exactly the answer it gets alone.
#[rocket::async_test]
async fn lookups_waiting_together_share_one_statement_per_kind() {
    use rocket::futures::future::{join, join_all};

    let db = TestDb::with_rendered_fixtures();
    let client = common::client_with(
        &db.url,
        &[
            ("databases.atelier.pool_size", serde_json::json!(1)),
            ("cache_enabled", serde_json::json!(false)),
        ],
    )
    .await;
    let uris = [
        "/products/1",
        "/products/11",
        "/products/42",
        "/products/1",
        "/products/1/styles",
        "/products/11/styles",
        "/products/3/styles",
        "/products/42/styles",
        "/products/1/related",
        "/products/3/related",
        "/products/42/related",
        "/products/1/related",
    ];
    let fetch = |uri: &'static str| {
        let client = &client;
        async move {
            let response = client.get(uri).dispatch().await;
            (response.status(), response.into_string().await)
        }
    };
    let mut alone = Vec::new();
    for uri in uris {
        alone.push(fetch(uri).await);
    }

    // The first lookup takes the only connection and waits on a lock held
    // here; everything else queues behind it until the lock goes.
    let counter = client.rocket().state::<StatementCounter>().unwrap().clone();
    let lock = common::ProductLock::take(&db);
    let before = counter.total();
    let (gate, together) = join(fetch("/products/2/related"), async {
        common::until_a_lock_is_waited_on(&db).await;
        join(join_all(uris.map(fetch)), lock.release_soon()).await.0
    })
    .await;
    assert_eq!(gate.0, Status::Ok);
    assert_eq!(together, alone);
    // The gate's statement, then one for each kind: stored product answers
    // (and a second for 42, which has none: no product has that id),
    // stored styles answers, related.
    assert_eq!(counter.total() - before, 5);
}

/// With the cache off, lookups of a product that is being fetched join that
/// fetch: a stampede on one id is one statement, whenever its requests come.
#[rocket::async_test]
async fn lookups_of_an_id_in_flight_join_its_fetch() {
    use rocket::futures::future::{join, join_all};

    let db = TestDb::with_rendered_fixtures();
    let client = common::client_with(
        &db.url,
        &[
            ("databases.atelier.pool_size", serde_json::json!(2)),
            ("cache_enabled", serde_json::json!(false)),
        ],
    )
    .await;
    let fetch = || async {
        let response = client.get("/products/11/styles").dispatch().await;
        (response.status(), response.into_string().await)
    };
    let alone = fetch().await;
    let counter = client.rocket().state::<StatementCounter>().unwrap().clone();
    let lock = common::ProductLock::take(&db);
    let before = counter.total();
    // The first fetch waits on the lock; the others come while it waits,
    // with a second connection idle that could have fetched them again.
    let (first, rest) = join(fetch(), async {
        common::until_a_lock_is_waited_on(&db).await;
        join(join_all((0..20).map(|_| fetch())), lock.release_soon())
            .await
            .0
    })
    .await;
    assert_eq!(first, alone);
    assert!(rest.iter().all(|answer| *answer == alone));
    assert_eq!(counter.total() - before, 1);
}

/// A connection to `db` as the pool makes them (its statements counted, run
/// on generic plans).
fn pooled_connection(db: &TestDb) -> atelier::db::pool::DbConnection {
    use diesel::r2d2::ManageConnection;
    atelier::db::pool::DbManager::new(db.url.clone(), StatementCounter::default())
        .connect()
        .unwrap()
}

/// Every catalog statement has a fixed shape, so Diesel prepares it once per
/// connection and reuses it: calling everything again prepares nothing new.
/// And a pooled connection runs each with its generic plan, never planning an
/// execution anew (PostgreSQL's default would, for every one of these).
#[test]
fn catalog_statements_are_prepared_and_planned_once_per_connection() {
    use atelier::catalog::queries::{self, Page};
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;

    let db = TestDb::with_fixtures();
    let mut pooled = pooled_connection(&db);
    let conn: &mut PgConnection = &mut pooled;
    // (prepared statements, executions planned anew, executions on the
    // generic plan). Raw SQL is never cached by Diesel, so this adds nothing.
    let plans = |conn: &mut PgConnection| -> (i64, i64, i64) {
        diesel::select(diesel::dsl::sql::<(BigInt, BigInt, BigInt)>(
            "count(*), coalesce(sum(custom_plans), 0)::int8, coalesce(sum(generic_plans), 0)::int8 \
             FROM pg_prepared_statements",
        ))
        .get_result(conn)
        .unwrap()
    };
    let mut counts = Vec::new();
    for _ in 0..2 {
        for ids in [&[1][..], &[3, 11], &[42], &[1, 2, 3, 4, 5, 7, 11]] {
            queries::find_products(conn, ids).unwrap();
            queries::find_product_answers(conn, ids).unwrap();
            queries::find_styles_answers(conn, ids).unwrap();
            queries::find_related_ids_by_product(conn, ids).unwrap();
            queries::find_related_ids(conn, ids).unwrap();
        }
        queries::list_products(conn, Page { page: 1, count: 5 }, None).unwrap();
        counts.push(plans(conn));
    }
    // products with features, product answers, styles answers, products,
    // styles, photos, skus, products with related, related ids as arrays,
    // one page shape; 37 and 74 executions (no answers are stored here, so
    // every id set reads the products with features again, and every one
    // with a product in it the styles' rows too).
    assert_eq!(counts, [(10, 0, 37), (10, 0, 74)]);
}

/// `/related`'s statement (one array of ids per product) answers exactly
/// what the textbook loader (the join nested with `grouped_by`) does:
/// products with related rows, without (an empty list), and ids that are
/// no product (left out).
#[test]
fn related_ids_as_arrays_are_the_grouped_rows() {
    use atelier::catalog::queries;
    use diesel::PgConnection;

    let db = TestDb::with_fixtures();
    let mut pooled = pooled_connection(&db);
    let conn: &mut PgConnection = &mut pooled;
    let all: Vec<i32> = (0..=20).chain([999_999]).collect();
    for ids in [&[1][..], &[3, 11], &[999_999], &all] {
        let mut arrays = queries::find_related_ids(conn, ids).unwrap();
        arrays.sort_unstable();
        let grouped = queries::find_related_ids_by_product(conn, ids).unwrap();
        assert_eq!(arrays, grouped, "{ids:?}");
    }
    let with_related = queries::find_related_ids(conn, &all).unwrap();
    assert!(with_related.iter().any(|(_, ids)| ids.is_empty()));
    assert!(with_related.iter().any(|(_, ids)| ids.len() > 1));
}

/// With the catalog watcher on, `/related` is answered from memory once the
/// watcher has read every product's related ids: no statement, and the
/// database's answers byte for byte (ids in related-row order, duplicates
/// and the product itself kept, `[]` for a product with none, 404 for no
/// product). A hand edit of `related` drops the copy (the next requests
/// ask the database) and the next copy has the edit.
#[rocket::async_test]
async fn related_ids_in_memory_take_no_statement_and_follow_the_catalog() {
    use atelier::metrics::Metrics;
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let db = TestDb::with_fixtures();
    let uris: Vec<String> = (1..=12)
        .chain([42, i32::MAX])
        .map(|id| format!("/products/{id}/related"))
        .collect();
    let off = serde_json::json!(false);
    let from_database = common::client_with(&db.url, &[("cache_enabled", off.clone())]).await;
    let mut expected = Vec::new();
    for uri in &uris {
        let response = from_database.get(uri.as_str()).dispatch().await;
        expected.push((response.status(), response.into_string().await.unwrap()));
    }
    assert_eq!(expected[0].1, "[3,1,3,2]");
    assert_eq!(expected[2], (Status::Ok, "[]".to_string()));
    assert_eq!(expected[12].0, Status::NotFound);

    let client = common::client_with(
        &db.url,
        &[
            ("cache_enabled", off),
            ("catalog_poll_ms", serde_json::json!(50)),
        ],
    )
    .await;
    let metrics = client.rocket().state::<Arc<Metrics>>().unwrap().clone();
    let products: i64 = atelier::catalog::schema::product::table
        .count()
        .get_result(&mut db.connect())
        .unwrap();
    let until_in_memory = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while metrics.related_in_memory.get() != products {
            assert!(Instant::now() < deadline, "{what}: never read into memory");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    until_in_memory("at start");
    for (uri, (status, body)) in uris.iter().zip(&expected) {
        assert_eq!(statements_for(&client, uri, *status).await, 0, "{uri}");
        let response = client.get(uri.as_str()).dispatch().await;
        assert_eq!(&response.into_string().await.unwrap(), body, "{uri}");
    }

    db.connect()
        .batch_execute("INSERT INTO related VALUES (100, 3, 11), (101, 3, 2)")
        .unwrap();
    // The copy is read again with the edit: answered with no statement.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let statements = statements_for(&client, "/products/3/related", Status::Ok).await;
        let response = client.get("/products/3/related").dispatch().await;
        let body = response.into_string().await.unwrap();
        if statements == 0 && body == "[11,2]" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edit never reached memory: {body}"
        );
        rocket::tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until_in_memory("after the edit");
}

/// With the cache on, a `/related` answer made from memory is sent as a
/// cached one is (its tag, `Cache-Control`, 304 for a matching
/// `If-None-Match`), with the same tag as the database's answer, and is not
/// kept: the cache stays empty.
#[rocket::async_test]
async fn related_ids_from_memory_carry_their_tag_and_stay_out_of_the_cache() {
    use atelier::metrics::Metrics;
    use rocket::http::Header;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let db = TestDb::with_fixtures();
    let from_database = common::client_with(&db.url, &[]).await;
    let expected = from_database.get("/products/1/related").dispatch().await;
    let tag = expected.headers().get_one("ETag").unwrap().to_string();
    let cache_control = expected
        .headers()
        .get_one("Cache-Control")
        .unwrap()
        .to_string();

    let client = common::client_with(&db.url, &[("catalog_poll_ms", serde_json::json!(50))]).await;
    let metrics = client.rocket().state::<Arc<Metrics>>().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while metrics.related_in_memory.get() == 0 {
        assert!(Instant::now() < deadline, "never read into memory");
        rocket::tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..3 {
        let response = client.get("/products/1/related").dispatch().await;
        assert_eq!(response.status(), Status::Ok);
        assert_eq!(response.headers().get_one("ETag"), Some(tag.as_str()));
        assert_eq!(
            response.headers().get_one("Cache-Control"),
            Some(cache_control.as_str())
        );
        assert_eq!(response.into_string().await.unwrap(), "[3,1,3,2]");
    }
    let unchanged = client
        .get("/products/1/related")
        .header(Header::new("If-None-Match", tag.clone()))
        .dispatch()
        .await;
    assert_eq!(unchanged.status(), Status::NotModified);
    // Neither looked up in the cache nor kept there, where the database's
    // client missed once and hit after.
    assert_eq!(
        (metrics.cache.hits.get(), metrics.cache.misses.get()),
        (0, 0)
    );
    from_database.get("/products/1/related").dispatch().await;
    let database_metrics = from_database.rocket().state::<Arc<Metrics>>().unwrap();
    assert_eq!(
        (
            database_metrics.cache.hits.get(),
            database_metrics.cache.misses.get()
        ),
        (1, 1)
    );
}
