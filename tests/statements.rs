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
        // Twelve styles, 24 photos, 36 skus: styles with photos, then skus.
        ("/products/11/styles", Status::Ok, 2),
        ("/products/1/styles", Status::Ok, 2),
        // No styles: the join, then the existence check that tells 200 from 404.
        ("/products/3/styles", Status::Ok, 2),
        ("/products/42/styles", Status::NotFound, 2),
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
