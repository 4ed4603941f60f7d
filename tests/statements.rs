//! Statements per request, counted by the pool's own connections (Diesel
//! instrumentation): a fixed number per endpoint, whatever the number of
//! styles, photos and skus, and none at all for a request rejected as bad.
#![allow(clippy::unwrap_used)]

mod common;

use atelier::db::StatementCounter;
use common::TestDb;
use rocket::http::Status;
use rocket::local::asynchronous::Client;

async fn statements_for(client: &Client, uri: &str, status: Status) -> u64 {
    let counter = client.rocket().state::<StatementCounter>().unwrap().clone();
    let before = counter.total();
    let response = client.get(uri).dispatch().await;
    assert_eq!(response.status(), status, "{uri}");
    counter.total() - before
}

#[rocket::async_test]
async fn statements_per_request() {
    let db = TestDb::with_fixtures();
    let client = common::client_with(&db.url, &[("cache_enabled", serde_json::json!(false))]).await;
    let cases = [
        // Twelve styles, 24 photos, 36 skus: one statement, photos and skus
        // aggregated per style.
        ("/products/11/styles", Status::Ok, 1),
        ("/products/1/styles", Status::Ok, 1),
        // No styles, or no product: the same statement tells 200 from 404.
        ("/products/3/styles", Status::Ok, 1),
        ("/products/42/styles", Status::NotFound, 1),
        ("/products", Status::Ok, 1),
        ("/products?page=2&count=1000", Status::Ok, 1),
        ("/products/1", Status::Ok, 1),
        ("/products/42", Status::NotFound, 1),
        ("/products/1/related", Status::Ok, 1),
        ("/products/3/related", Status::Ok, 2),
        ("/products/42/related", Status::NotFound, 2),
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

/// Every catalog statement has a fixed shape, so Diesel prepares it once per
/// connection and reuses it: calling everything again prepares nothing new.
#[test]
fn catalog_statements_are_prepared_once_per_connection() {
    use atelier::catalog::{self, Page};
    use diesel::prelude::*;

    let db = TestDb::with_fixtures();
    let mut conn = PgConnection::establish(&db.url).unwrap();
    let prepared = |conn: &mut PgConnection| -> i64 {
        // Raw SQL is never cached by Diesel, so this one adds nothing itself.
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pg_prepared_statements)",
        ))
        .get_result(conn)
        .unwrap()
    };
    let mut counts = Vec::new();
    for _ in 0..2 {
        for id in [1, 3, 11, 42] {
            catalog::find_product(&mut conn, id).unwrap();
            catalog::find_product_styles(&mut conn, id).unwrap();
            catalog::find_related_product_ids(&mut conn, id).unwrap();
        }
        catalog::list_products(&mut conn, Page { page: 1, count: 5 }, &[]).unwrap();
        counts.push(prepared(&mut conn));
    }
    // product, styles, related, the existence check, one page shape.
    assert_eq!(counts, [5, 5]);
}
