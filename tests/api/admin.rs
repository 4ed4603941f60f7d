//! The admin API through the real Rocket application on a real PostgreSQL
//! database holding the fixture catalog: tokens, every validation error,
//! exact answers and audit rows, odd text stored literally, concurrent
//! writes, invalidation across two instances (by NOTIFY and by the audit
//! log), and writes while an import runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common;
use crate::common::fixtures::ODD_ADMIN_TEXT;
use crate::common::{plain, Scratch, TestDb};
use atelier::admin::auth::{new_token, NewToken};
use atelier::catalog::models::AuditEntry;
use atelier::catalog::schema::{admin_audit, styles_answers};
use diesel::prelude::*;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::{json, Value};

/// Two tokens, as an operator would configure them.
struct Tokens {
    ops: NewToken,
    stock: NewToken,
}

impl Tokens {
    fn new() -> Tokens {
        Tokens {
            ops: new_token("ops").unwrap(),
            stock: new_token("stock-sync").unwrap(),
        }
    }

    fn config(&self) -> String {
        format!("{},{}", self.ops.entry, self.stock.entry)
    }
}

/// The application on `url` with the admin API, and `overrides`.
async fn admin_client(url: &str, tokens: &Tokens, overrides: &[(&str, Value)]) -> Client {
    let mut all = vec![("admin_tokens", json!(tokens.config()))];
    all.extend(overrides.iter().cloned());
    common::client_with(url, &all).await
}

struct Answer {
    status: Status,
    body: Value,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        common::http::find_header(&self.headers, name)
    }
}

async fn answer(response: LocalResponse<'_>) -> Answer {
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect();
    let text = response.into_string().await.unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    Answer {
        status,
        body,
        headers,
    }
}

/// Sends `method uri` with `body` as `token` (none: no Authorization).
async fn send(
    client: &Client,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let mut request = match method {
        "GET" => client.get(uri.to_string()),
        "POST" => client.post(uri.to_string()),
        "PUT" => client.put(uri.to_string()),
        "PATCH" => client.patch(uri.to_string()),
        "DELETE" => client.delete(uri.to_string()),
        other => panic!("{other}"),
    };
    if let Some(token) = token {
        request = request.header(Header::new("Authorization", format!("Bearer {token}")));
    }
    if let Some(body) = body {
        request = request.header(ContentType::JSON).body(body);
    }
    answer(request.dispatch().await).await
}

async fn public(client: &Client, uri: &str) -> (Status, String, String) {
    let response = client.get(uri.to_string()).dispatch().await;
    let status = response.status();
    let etag = response.headers().get_one("ETag").unwrap_or("").to_string();
    (
        status,
        etag,
        response.into_string().await.unwrap_or_default(),
    )
}

async fn styles_of(client: &Client, product: i32) -> Value {
    let (status, _, body) = public(client, &format!("/products/{product}/styles")).await;
    assert_eq!(status, Status::Ok);
    serde_json::from_str(&body).unwrap()
}

/// No write took effect: the audit is empty and style 1 is as the fixtures
/// have it.
async fn assert_nothing_written(db: &TestDb, client: &Client) {
    assert_eq!(audit(db), []);
    assert_eq!(styles_of(client, 1).await["results"][0], style_1(json!({})));
}

fn audit(db: &TestDb) -> Vec<AuditEntry> {
    admin_audit::table
        .order(admin_audit::id)
        .select(AuditEntry::as_select())
        .load(&mut db.connect())
        .unwrap()
}

fn stored_answer(db: &TestDb, product: i32) -> Option<String> {
    styles_answers::table
        .find(product)
        .select(styles_answers::body)
        .first(&mut db.connect())
        .optional()
        .unwrap()
}

/// Product `product`'s `/styles` body as the rows render it now.
fn rendered_from_rows(db: &TestDb, product: i32) -> String {
    let (id, body) = atelier::catalog::answers::render_ids(
        &mut db.connect(),
        atelier::catalog::answers::Stored::Styles,
        &[product],
    )
    .unwrap()
    .pop()
    .unwrap();
    assert_eq!(id, product);
    body
}

fn photo(id: i32) -> Value {
    json!({
        "photo_id": id,
        "thumbnail_url": format!("https://images.example.com/{id}?fit=crop&w=300&q=80"),
        "url": format!("https://images.example.com/{id}?fit=crop&w=668&q=80"),
    })
}

fn public_photo(id: i32) -> Value {
    json!({
        "thumbnail_url": format!("https://images.example.com/{id}?fit=crop&w=300&q=80"),
        "url": format!("https://images.example.com/{id}?fit=crop&w=668&q=80"),
    })
}

/// Style 1 of the fixtures as `/products/1/styles` lists it, with `changes`.
fn style_1(changes: Value) -> Value {
    let mut style = json!({
        "style_id": 1,
        "name": "Forest Green & Black",
        "original_price": "140.00",
        "sale_price": null,
        "default?": true,
        "photos": [public_photo(4), public_photo(9)],
        "skus": {
            "2": {"quantity": 16, "size": "S"},
            "6": {"quantity": 4, "size": "XL"},
            "7": {"quantity": 15, "size": "XL"},
            "10": {"quantity": 8, "size": "XS"},
        },
    });
    for (key, value) in changes.as_object().unwrap() {
        style[key] = value.clone();
    }
    style
}

#[rocket::async_test]
async fn without_a_token_configured_there_is_no_admin_api() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let token = new_token("ops").unwrap().token;
    let got = send(
        &client,
        "PATCH",
        "/admin/styles/1",
        Some(&token),
        Some(r#"{"sale_price":"99.00"}"#),
    )
    .await;
    assert_eq!(got.status, Status::NotFound);
    assert!(got.body["error"]
        .as_str()
        .unwrap()
        .starts_with("no resource at /admin/styles/1"));
    assert_eq!(audit(&db), []);
}

#[rocket::async_test]
async fn a_missing_or_wrong_token_is_401_and_writes_nothing() {
    let db = TestDb::with_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[]).await;
    let body = Some(r#"{"sale_price":"99.00"}"#);
    let cases: [(Option<String>, &str, &str); 5] = [
        (
            None,
            "the admin API needs an `Authorization: Bearer <token>` header",
            r#"Bearer realm="atelier-admin""#,
        ),
        (
            Some("Basic b3BzOm9wcw==".into()),
            "the Authorization header must be `Bearer <token>`",
            r#"Bearer realm="atelier-admin""#,
        ),
        (
            Some(format!("Bearer {}", new_token("ops").unwrap().token)),
            "the token is not one this service accepts",
            r#"Bearer realm="atelier-admin", error="invalid_token""#,
        ),
        (
            // The hash is what the configuration holds, not a token.
            Some(format!(
                "Bearer {}",
                tokens.ops.entry.split_once(':').unwrap().1
            )),
            "the token is not one this service accepts",
            r#"Bearer realm="atelier-admin", error="invalid_token""#,
        ),
        (
            Some(format!("Bearer {}x", tokens.ops.token)),
            "the token is not one this service accepts",
            r#"Bearer realm="atelier-admin", error="invalid_token""#,
        ),
    ];
    for (authorization, message, challenge) in cases {
        for (method, uri, body) in [
            ("PATCH", "/admin/styles/1", body),
            // The token is checked before the id and the body.
            ("PATCH", "/admin/styles/abc", Some("{not json")),
            ("GET", "/admin/styles/1/photos", None),
            ("POST", "/admin/styles/1/photos", Some("{}")),
            ("PUT", "/admin/styles/1/photos", Some("[]")),
            ("DELETE", "/admin/photos/4", None),
            ("PATCH", "/admin/skus/2", Some(r#"{"quantity":1}"#)),
        ] {
            let mut request = match method {
                "GET" => client.get(uri),
                "POST" => client.post(uri),
                "PUT" => client.put(uri),
                "PATCH" => client.patch(uri),
                _ => client.delete(uri),
            };
            if let Some(value) = &authorization {
                request = request.header(Header::new("Authorization", value.clone()));
            }
            if let Some(body) = body {
                request = request.header(ContentType::JSON).body(body);
            }
            let got = answer(request.dispatch().await).await;
            assert_eq!(
                got.status,
                Status::Unauthorized,
                "{method} {uri} {authorization:?}"
            );
            assert_eq!(got.body, json!({ "error": message }));
            assert_eq!(got.header("WWW-Authenticate"), Some(challenge));
        }
    }
    assert_nothing_written(&db, &client).await;

    // Either configured token writes, and the audit names it.
    for (token, name, price) in [
        (&tokens.ops, "ops", "99.00"),
        (&tokens.stock, "stock-sync", "98.00"),
    ] {
        let got = send(
            &client,
            "PATCH",
            "/admin/styles/1",
            Some(&token.token),
            Some(&format!(r#"{{"sale_price":"{price}"}}"#)),
        )
        .await;
        assert_eq!(got.status, Status::Ok);
        assert_eq!(got.body, style_1(json!({ "sale_price": price })));
        assert_eq!(audit(&db).last().unwrap().token_name, name);
    }
}

#[rocket::async_test]
async fn each_validation_error_is_a_400_sentence_and_writes_nothing() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[]).await;
    let token = Some(tokens.ops.token.as_str());
    let url = "https://images.example.com/new";
    let long_url = format!("https://x.example/{}", "a".repeat(2048));
    let long_name = "n".repeat(256);
    let cases: Vec<(&str, &str, String, Status, &str)> = vec![
        // Ids.
        ("PATCH", "/admin/styles/abc", r#"{"name":"x"}"#.into(), Status::BadRequest,
         r#"style id must be a positive 32-bit integer, got "abc""#),
        ("PATCH", "/admin/styles/0", r#"{"name":"x"}"#.into(), Status::BadRequest,
         r#"style id must be a positive 32-bit integer, got "0""#),
        ("PATCH", "/admin/skus/99999999999", r#"{"quantity":1}"#.into(), Status::BadRequest,
         r#"sku id must be a positive 32-bit integer, got "99999999999""#),
        ("DELETE", "/admin/photos/-4", String::new(), Status::BadRequest,
         r#"photo id must be a positive 32-bit integer, got "-4""#),
        // Unknown ids.
        ("PATCH", "/admin/styles/999", r#"{"name":"x"}"#.into(), Status::NotFound,
         "style 999 does not exist"),
        ("GET", "/admin/styles/999/photos", String::new(), Status::NotFound,
         "style 999 does not exist"),
        ("POST", "/admin/styles/999/photos", format!(r#"{{"thumbnail_url":"{url}","url":"{url}"}}"#),
         Status::NotFound, "style 999 does not exist"),
        ("PUT", "/admin/styles/999/photos", "[]".into(), Status::NotFound,
         "style 999 does not exist"),
        ("DELETE", "/admin/photos/999", String::new(), Status::NotFound,
         "photo 999 does not exist"),
        ("PATCH", "/admin/skus/999", r#"{"quantity":1}"#.into(), Status::NotFound,
         "sku 999 does not exist"),
        // Malformed JSON, wrong types, unknown fields.
        ("PATCH", "/admin/styles/1", r#"{"name":"x""#.into(), Status::BadRequest,
         "the body is not valid JSON: EOF while parsing an object at line 1 column 11"),
        ("PATCH", "/admin/styles/1", String::new(), Status::BadRequest,
         "the body is not valid JSON: EOF while parsing a value at line 1 column 0"),
        ("PATCH", "/admin/styles/1", r#"{"name":"x"} []"#.into(), Status::BadRequest,
         "the body is not valid JSON: trailing characters at line 1 column 14"),
        ("PATCH", "/admin/styles/1", "[]".into(), Status::BadRequest,
         "the body must be a JSON object"),
        ("PATCH", "/admin/styles/1", r#"["Forest", 150]"#.into(), Status::BadRequest,
         "the body must be a JSON object"),
        ("PATCH", "/admin/skus/2", "5".into(), Status::BadRequest,
         "the body must be a JSON object"),
        ("PATCH", "/admin/styles/1", r#"{"salePrice":"9.00"}"#.into(), Status::BadRequest,
         "the body: unknown field `salePrice`, expected one of `name`, `original_price`, `sale_price`, `default?` at line 1 column 12"),
        ("PATCH", "/admin/styles/1", r#"{"default?":"yes"}"#.into(), Status::BadRequest,
         r#"default?: invalid type: string "yes", expected a boolean at line 1 column 17"#),
        ("PATCH", "/admin/styles/1", r#"{"default?":null}"#.into(), Status::BadRequest,
         "default?: invalid type: null, expected a boolean at line 1 column 16"),
        ("PATCH", "/admin/styles/1", r#"{"name":5}"#.into(), Status::BadRequest,
         "name: invalid type: integer `5`, expected a string at line 1 column 9"),
        ("PATCH", "/admin/styles/1", "{}".into(), Status::BadRequest,
         "the body changes nothing: give at least one of name, original_price, sale_price and default?"),
        // Prices.
        ("PATCH", "/admin/styles/1", r#"{"sale_price":"99.5"}"#.into(), Status::BadRequest,
         r#"sale_price: a price is in whole units (the catalog keeps no cents), got "99.5" at line 1 column 20"#),
        ("PATCH", "/admin/styles/1", r#"{"sale_price":99.5}"#.into(), Status::BadRequest,
         "sale_price: a price is in whole units (the catalog keeps no cents), got 99.5 at line 1 column 18"),
        ("PATCH", "/admin/styles/1", r#"{"sale_price":"abc"}"#.into(), Status::BadRequest,
         r#"sale_price: a price is written like "99.00" or 99, got "abc" at line 1 column 19"#),
        ("PATCH", "/admin/styles/1", r#"{"original_price":-1}"#.into(), Status::BadRequest,
         "original_price: a price cannot be negative, got -1 at line 1 column 20"),
        ("PATCH", "/admin/styles/1", r#"{"original_price":"-1.00"}"#.into(), Status::BadRequest,
         r#"original_price: a price cannot be negative, got "-1.00" at line 1 column 25"#),
        ("PATCH", "/admin/styles/1", r#"{"original_price":500000001}"#.into(), Status::BadRequest,
         "original_price: a price is at most 500000000 (the catalog's range), got 500000001 at line 1 column 27"),
        ("PATCH", "/admin/styles/1", r#"{"original_price":null}"#.into(), Status::BadRequest,
         r#"original_price: invalid type: null, expected a price in whole units, like 99 or "99.00" at line 1 column 22"#),
        // Names.
        ("PATCH", "/admin/styles/1", r#"{"name":" "}"#.into(), Status::BadRequest,
         "name: must not be empty or only white space at line 1 column 12"),
        ("PATCH", "/admin/styles/1", format!(r#"{{"name":"{long_name}"}}"#), Status::BadRequest,
         "name: must be at most 255 characters long, got 256 at line 1 column 267"),
        ("PATCH", "/admin/styles/1", r#"{"name":"a\u0000"}"#.into(), Status::BadRequest,
         "name: must not contain the NUL character (\\u0000), which the database cannot store at line 1 column 18"),
        // Skus.
        ("PATCH", "/admin/skus/2", r#"{"quantity":-1}"#.into(), Status::BadRequest,
         "quantity: a quantity cannot be negative, got -1 at line 1 column 14"),
        ("PATCH", "/admin/skus/2", r#"{"quantity":2147483648}"#.into(), Status::BadRequest,
         "quantity: a quantity is at most 2147483647, got 2147483648 at line 1 column 22"),
        ("PATCH", "/admin/skus/2", r#"{"quantity":1.5}"#.into(), Status::BadRequest,
         "quantity: a quantity is a whole number, got 1.5 at line 1 column 15"),
        ("PATCH", "/admin/skus/2", r#"{"quantity":"3"}"#.into(), Status::BadRequest,
         r#"quantity: invalid type: string "3", expected a whole number of items, 0 or more at line 1 column 15"#),
        ("PATCH", "/admin/skus/2", r#"{"size":""}"#.into(), Status::BadRequest,
         "size: must not be empty or only white space at line 1 column 11"),
        ("PATCH", "/admin/skus/2", r#"{"colour":"red"}"#.into(), Status::BadRequest,
         "the body: unknown field `colour`, expected `quantity` or `size` at line 1 column 9"),
        ("PATCH", "/admin/skus/2", "{}".into(), Status::BadRequest,
         "the body changes nothing: give quantity, size or both"),
        // Photos.
        ("POST", "/admin/styles/1/photos", format!(r#"{{"url":"{url}"}}"#), Status::BadRequest,
         "the body: missing field `thumbnail_url` at line 1 column 40"),
        ("POST", "/admin/styles/1/photos", format!(r#"{{"thumbnail_url":"ftp://x/","url":"{url}"}}"#),
         Status::BadRequest,
         r#"thumbnail_url: must be an absolute http:// or https:// URL, got "ftp://x/" at line 1 column 27"#),
        ("POST", "/admin/styles/1/photos", format!(r#"{{"thumbnail_url":"/a.jpg","url":"{url}"}}"#),
         Status::BadRequest,
         r#"thumbnail_url: must be an absolute http:// or https:// URL, got "/a.jpg" at line 1 column 25"#),
        ("POST", "/admin/styles/1/photos", format!(r#"{{"thumbnail_url":"{url}","url":"https://"}}"#),
         Status::BadRequest,
         r#"url: must name a host, got "https://" at line 1 column 67"#),
        ("POST", "/admin/styles/1/photos", format!(r#"{{"thumbnail_url":"{url}","url":"https://x/a b"}}"#),
         Status::BadRequest,
         "url: must not contain white space or control characters (percent-encode them) at line 1 column 72"),
        ("POST", "/admin/styles/1/photos", format!(r#"{{"thumbnail_url":"{url}","url":"{long_url}"}}"#),
         Status::BadRequest,
         "url: must be at most 2048 bytes long, got 2066 at line 1 column 2125"),
        ("PUT", "/admin/styles/1/photos", format!(r#"{{"thumbnail_url":"{url}","url":"{url}"}}"#),
         Status::BadRequest, "the body must be a JSON array of photos"),
        ("PUT", "/admin/styles/1/photos", format!(r#"[{{"thumbnail_url":"{url}","url":"{url}"}},["{url}","{url}"]]"#),
         Status::BadRequest, "photo 2 of the body must be a JSON object"),
        ("PUT", "/admin/styles/1/photos", format!(r#"[{{"thumbnail_url":"{url}","url":"{url}","alt":"x"}}]"#),
         Status::BadRequest,
         "[0]: unknown field `alt`, expected `thumbnail_url` or `url` at line 1 column 95"),
        ("PUT", "/admin/styles/1/photos",
         format!("[{}]", vec![format!(r#"{{"thumbnail_url":"{url}","url":"{url}"}}"#); 101].join(",")),
         Status::BadRequest, "a style has at most 100 photos, the body has 101"),
    ];
    let mut wrong = Vec::new();
    for (method, uri, body, status, message) in &cases {
        let body = (!body.is_empty()).then_some(body.as_str());
        let got = send(&client, method, uri, token, body).await;
        if (got.status, &got.body) != (*status, &json!({ "error": message })) {
            wrong.push(format!(
                "{method} {uri} {body:?}: {} {}",
                got.status, got.body
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // A body that is not JSON by its type, or over the limit.
    let got = answer(
        client
            .patch("/admin/styles/1")
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", tokens.ops.token),
            ))
            .header(ContentType::Form)
            .body("name=x")
            .dispatch()
            .await,
    )
    .await;
    assert_eq!(got.status, Status::BadRequest);
    assert_eq!(
        got.body["error"],
        "the body must be JSON (Content-Type: application/json), not application/x-www-form-urlencoded"
    );
    let small = admin_client(&db.url, &tokens, &[("admin_max_body_bytes", json!(64))]).await;
    let got = send(
        &small,
        "PATCH",
        "/admin/styles/1",
        token,
        Some(&format!(r#"{{"name":"{}"}}"#, "n".repeat(100))),
    )
    .await;
    assert_eq!(got.status, Status::PayloadTooLarge);
    assert_eq!(
        got.body["error"],
        "the body is larger than the 64 bytes an admin request may carry"
    );

    // Nothing was written: the rows, the stored answers and the audit.
    assert_nothing_written(&db, &client).await;
    assert_eq!(stored_answer(&db, 1), Some(rendered_from_rows(&db, 1)));
}

/// The answer to a request over a size limit is that error whatever the
/// route would have answered, so the write must not happen either: a client
/// told 414, 431 or 413 takes it that nothing was written.
#[rocket::async_test]
async fn a_write_over_a_size_limit_is_refused_and_writes_nothing() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[("max_body_bytes", json!(64))]).await;
    let photo =
        r#"{"thumbnail_url":"https://img.example/t.jpg","url":"https://img.example/u.jpg"}"#;
    let photos = format!("[{photo}]");
    let long_uri = format!("/admin/styles/1?{}", "a".repeat(5000));
    let padding = "p".repeat(17_000);
    let too_long = "the URL is longer than the 4096 bytes this service accepts";
    let too_many_headers =
        "the request headers are larger than the 16384 bytes this service accepts";
    let too_large = "the request body is larger than the 64 bytes this service accepts";
    let cases = [
        (
            "PATCH",
            long_uri.as_str(),
            Some(r#"{"name":"Renamed"}"#),
            None,
            Status::UriTooLong,
            too_long,
        ),
        (
            "PATCH",
            "/admin/skus/2",
            Some(r#"{"quantity":0}"#),
            Some(Header::new("X-Padding", padding)),
            Status::RequestHeaderFieldsTooLarge,
            too_many_headers,
        ),
        (
            "POST",
            "/admin/styles/1/photos",
            Some(photo),
            None,
            Status::PayloadTooLarge,
            too_large,
        ),
        (
            "PUT",
            "/admin/styles/1/photos",
            Some(photos.as_str()),
            None,
            Status::PayloadTooLarge,
            too_large,
        ),
        // A DELETE reads no body, but says it sends one.
        (
            "DELETE",
            "/admin/photos/4",
            None,
            Some(Header::new("Content-Length", "65")),
            Status::PayloadTooLarge,
            too_large,
        ),
    ];
    for (method, uri, body, extra, status, message) in cases {
        let mut request = match method {
            "POST" => client.post(uri),
            "PUT" => client.put(uri),
            "PATCH" => client.patch(uri),
            _ => client.delete(uri),
        }
        .header(Header::new(
            "Authorization",
            format!("Bearer {}", tokens.ops.token),
        ));
        if let Some(body) = body {
            // The local client sends no Content-Length of its own.
            request = request
                .header(ContentType::JSON)
                .header(Header::new("Content-Length", body.len().to_string()))
                .body(body);
        }
        if let Some(header) = extra {
            request = request.header(header);
        }
        let got = answer(request.dispatch().await).await;
        assert_eq!(
            (got.status, &got.body),
            (status, &json!({ "error": message })),
            "{method} {}",
            &uri[..uri.len().min(40)]
        );
    }
    assert_nothing_written(&db, &client).await;
    assert_eq!(stored_answer(&db, 1), Some(rendered_from_rows(&db, 1)));
}

#[rocket::async_test]
async fn a_style_change_answers_the_style_and_shows_at_once_with_a_new_etag() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[]).await;
    let token = Some(tokens.ops.token.as_str());
    // Cached before the write, under both spellings of the URL.
    let (_, etag_before, before) = public(&client, "/products/1/styles").await;
    let (_, _, before_odd) = public(&client, "/products/001/styles?x=1").await;
    assert_eq!(before, before_odd);

    let got = send(
        &client,
        "PATCH",
        "/admin/styles/1",
        token,
        Some(r#"{"sale_price":"99.00","original_price":150,"name":"Forest","default?":false}"#),
    )
    .await;
    assert_eq!(got.status, Status::Ok);
    assert_eq!(got.header("Cache-Control"), Some("no-store"));
    let changed = style_1(json!({
        "name": "Forest",
        "original_price": "150.00",
        "sale_price": "99.00",
        "default?": false,
    }));
    assert_eq!(got.body, changed);

    // The next read is the new answer, from the stored answer the write
    // rendered (byte for byte what the rows give), with a new ETag.
    let (status, etag_after, after) = public(&client, "/products/1/styles").await;
    assert_eq!(status, Status::Ok);
    assert_ne!(etag_after, etag_before);
    let styles: Value = serde_json::from_str(&after).unwrap();
    assert_eq!(styles["results"][0], changed);
    assert_eq!(stored_answer(&db, 1).as_deref(), Some(after.as_str()));
    assert_eq!(after, rendered_from_rows(&db, 1));
    assert_eq!(public(&client, "/products/001/styles?x=1").await.2, after);

    // A sale ends with null; the other fields stay.
    let got = send(
        &client,
        "PATCH",
        "/admin/styles/1",
        token,
        Some(r#"{"sale_price":null}"#),
    )
    .await;
    assert_eq!(got.status, Status::Ok);
    let ended = style_1(json!({
        "name": "Forest",
        "original_price": "150.00",
        "default?": false,
    }));
    assert_eq!(got.body, ended);
    assert_eq!(styles_of(&client, 1).await["results"][0], ended);

    // The audit: who, what, before and after, in order.
    let entries = audit(&db);
    assert_eq!(entries.len(), 2);
    let first = &entries[0];
    assert_eq!(
        (
            first.token_name.as_str(),
            first.action.as_str(),
            first.resource.as_str()
        ),
        ("ops", "update style", "style")
    );
    assert_eq!((first.resource_id, first.product_id), (1, 1));
    assert_eq!(
        first.change,
        json!({"name": "Forest", "original_price": "150.00", "sale_price": "99.00", "default?": false})
    );
    assert_eq!(first.before, Some(style_1(json!({}))));
    assert_eq!(first.after, Some(changed.clone()));
    assert_eq!(entries[1].change, json!({ "sale_price": null }));
    assert_eq!(entries[1].before, Some(changed));
    assert_eq!(entries[1].after, Some(ended));
    assert!(entries[0].at <= entries[1].at && entries[0].id < entries[1].id);
}

#[rocket::async_test]
async fn photos_are_added_replaced_and_removed() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[]).await;
    let token = Some(tokens.ops.token.as_str());
    let photos = |ids: &[i32]| Value::Array(ids.iter().map(|&id| photo(id)).collect());

    let got = send(&client, "GET", "/admin/styles/1/photos", token, None).await;
    assert_eq!((got.status, got.body), (Status::Ok, photos(&[4, 9])));

    // Added after the largest photo id of the catalog (2023).
    let got = send(
        &client,
        "POST",
        "/admin/styles/1/photos",
        token,
        Some(r#"{"thumbnail_url":"https://img.example/t.jpg","url":"https://img.example/u.jpg"}"#),
    )
    .await;
    assert_eq!(got.status, Status::Created);
    assert_eq!(got.header("Location"), Some("/admin/photos/2024"));
    let added = json!({
        "photo_id": 2024,
        "thumbnail_url": "https://img.example/t.jpg",
        "url": "https://img.example/u.jpg",
    });
    assert_eq!(got.body, added);
    let shown =
        json!({"thumbnail_url": "https://img.example/t.jpg", "url": "https://img.example/u.jpg"});
    assert_eq!(
        styles_of(&client, 1).await["results"][0]["photos"],
        json!([public_photo(4), public_photo(9), shown])
    );

    // Removed: the answer is what the style has left.
    let got = send(&client, "DELETE", "/admin/photos/4", token, None).await;
    assert_eq!(got.status, Status::Ok);
    assert_eq!(got.body, json!([photo(9), added]));
    let got = send(&client, "DELETE", "/admin/photos/4", token, None).await;
    assert_eq!(
        (got.status, got.body),
        (Status::NotFound, json!({"error": "photo 4 does not exist"}))
    );

    // Replaced: new ids, past every id handed out before (2024 is gone
    // and not handed out again), in the order given.
    let got = send(&client, "DELETE", "/admin/photos/2024", token, None).await;
    assert_eq!(got.body, photos(&[9]));
    let got = send(
        &client,
        "PUT",
        "/admin/styles/1/photos",
        token,
        Some(
            r#"[{"thumbnail_url":"https://img.example/b-t","url":"https://img.example/b"},
                {"thumbnail_url":"https://img.example/a-t","url":"https://img.example/a"}]"#,
        ),
    )
    .await;
    assert_eq!(got.status, Status::Ok);
    let replaced = json!([
        {"photo_id": 2025, "thumbnail_url": "https://img.example/b-t", "url": "https://img.example/b"},
        {"photo_id": 2026, "thumbnail_url": "https://img.example/a-t", "url": "https://img.example/a"},
    ]);
    assert_eq!(got.body, replaced);
    assert_eq!(
        styles_of(&client, 1).await["results"][0]["photos"],
        json!([
            {"thumbnail_url": "https://img.example/b-t", "url": "https://img.example/b"},
            {"thumbnail_url": "https://img.example/a-t", "url": "https://img.example/a"},
        ])
    );

    // No photos at all: the public answer has the live API's placeholder.
    let got = send(&client, "PUT", "/admin/styles/1/photos", token, Some("[]")).await;
    assert_eq!((got.status, got.body), (Status::Ok, json!([])));
    assert_eq!(
        styles_of(&client, 1).await["results"][0]["photos"],
        json!([{"thumbnail_url": null, "url": null}])
    );
    assert_eq!(stored_answer(&db, 1), Some(rendered_from_rows(&db, 1)));

    // Every write in the audit, with the photos before and after.
    let entries = audit(&db);
    let actions: Vec<(&str, &str, i32)> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.resource.as_str(), e.resource_id))
        .collect();
    assert_eq!(
        actions,
        [
            ("add photo", "photo", 2024),
            ("remove photo", "photo", 4),
            ("remove photo", "photo", 2024),
            ("replace photos", "style", 1),
            ("replace photos", "style", 1),
        ]
    );
    assert_eq!(
        (entries[0].before.clone(), entries[0].after.clone()),
        (None, Some(added))
    );
    assert_eq!(
        (entries[1].before.clone(), entries[1].after.clone()),
        (Some(photo(4)), None)
    );
    assert_eq!(entries[3].before, Some(photos(&[9])));
    assert_eq!(entries[3].after, Some(replaced.clone()));
    assert_eq!(entries[4].change, json!([]));
    assert_eq!(
        (entries[4].before.clone(), entries[4].after.clone()),
        (Some(replaced), Some(json!([])))
    );
}

#[rocket::async_test]
async fn a_style_has_at_most_100_photos() {
    let db = TestDb::with_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[]).await;
    let token = Some(tokens.ops.token.as_str());
    let one = r#"{"thumbnail_url":"https://img.example/t","url":"https://img.example/u"}"#;
    let hundred = format!("[{}]", vec![one; 100].join(","));
    assert_eq!(
        send(
            &client,
            "PUT",
            "/admin/styles/2/photos",
            token,
            Some(&hundred)
        )
        .await
        .status,
        Status::Ok
    );
    let got = send(&client, "POST", "/admin/styles/2/photos", token, Some(one)).await;
    assert_eq!(got.status, Status::Conflict);
    assert_eq!(
        got.body,
        json!({"error": "style 2 has 100 photos, the most a style may have; remove one first"})
    );
    assert_eq!(audit(&db).len(), 1);
}

#[rocket::async_test]
async fn a_sku_change_answers_the_sku() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[]).await;
    let token = Some(tokens.stock.token.as_str());
    assert_eq!(
        styles_of(&client, 1).await["results"][0]["skus"]["6"],
        json!({"quantity": 4, "size": "XL"})
    );
    let got = send(
        &client,
        "PATCH",
        "/admin/skus/6",
        token,
        Some(r#"{"quantity":0}"#),
    )
    .await;
    assert_eq!(
        (got.status, &got.body),
        (
            Status::Ok,
            &json!({"sku_id": 6, "quantity": 0, "size": "XL"})
        )
    );
    let got = send(
        &client,
        "PATCH",
        "/admin/skus/6",
        token,
        Some(r#"{"quantity":12,"size":"XXL"}"#),
    )
    .await;
    assert_eq!(
        got.body,
        json!({"sku_id": 6, "quantity": 12, "size": "XXL"})
    );
    assert_eq!(
        styles_of(&client, 1).await["results"][0]["skus"]["6"],
        json!({"quantity": 12, "size": "XXL"})
    );
    let entries = audit(&db);
    assert_eq!(entries.len(), 2);
    assert_eq!(
        (
            entries[0].token_name.as_str(),
            entries[0].action.as_str(),
            entries[0].resource_id
        ),
        ("stock-sync", "update sku", 6)
    );
    assert_eq!(entries[0].change, json!({"quantity": 0}));
    assert_eq!(
        entries[0].before,
        Some(json!({"sku_id": 6, "quantity": 4, "size": "XL"}))
    );
    assert_eq!(
        entries[1].after,
        Some(json!({"sku_id": 6, "quantity": 12, "size": "XXL"}))
    );
    assert_eq!(stored_answer(&db, 1), Some(rendered_from_rows(&db, 1)));
}

#[rocket::async_test]
async fn odd_text_is_stored_and_served_literally() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[]).await;
    let token = Some(tokens.ops.token.as_str());
    let texts = [
        "Robert'); DROP TABLE styles;--",
        "x' OR '1'='1",
        "$$; DELETE FROM photos; $$",
        r"\'; \\ \x00 %s %n {{name}} ${name}",
        ODD_ADMIN_TEXT,
    ];
    for text in texts {
        let body = json!({ "name": text }).to_string();
        let got = send(&client, "PATCH", "/admin/styles/2", token, Some(&body)).await;
        assert_eq!(got.status, Status::Ok, "{text}");
        assert_eq!(got.body["name"], text);
        assert_eq!(styles_of(&client, 1).await["results"][1]["name"], text);
        let body = json!({ "size": text }).to_string();
        let got = send(&client, "PATCH", "/admin/skus/11", token, Some(&body)).await;
        assert_eq!(got.body, json!({"sku_id": 11, "quantity": 0, "size": text}));
        assert_eq!(
            styles_of(&client, 1).await["results"][1]["skus"]["11"]["size"],
            text
        );
        let stored: String = atelier::catalog::schema::styles::table
            .find(2)
            .select(atelier::catalog::schema::styles::name)
            .first(&mut db.connect())
            .unwrap();
        assert_eq!(stored, text);
    }
    // URLs keep quotes, percent-encoded backslashes and SQL as they are.
    let url = r#"https://x.example/';DROP/**/TABLE/**/photos;--"%5C%5C?q='1'"#;
    let body = json!({ "thumbnail_url": url, "url": url }).to_string();
    let got = send(
        &client,
        "POST",
        "/admin/styles/2/photos",
        token,
        Some(&body),
    )
    .await;
    assert_eq!(got.status, Status::Created);
    assert_eq!(got.body["url"], url);
    assert_eq!(
        styles_of(&client, 1).await["results"][1]["photos"][1],
        json!({ "thumbnail_url": url, "url": url })
    );
    // Every table is still there, and the stored answer is the rows'.
    assert_eq!(
        styles_of(&client, 5).await["results"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(stored_answer(&db, 1), Some(rendered_from_rows(&db, 1)));
    assert_eq!(audit(&db).len(), 2 * texts.len() + 1);
}

/// Text a front end would show as something other than what was stored:
/// terminal escapes, line breaks, C1 controls, and the bidirectional
/// overrides that make "gpj.exe" read as "exe.jpg".
#[rocket::async_test]
async fn names_with_control_or_bidi_override_characters_are_refused() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[]).await;
    let token = Some(tokens.ops.token.as_str());
    let control = |code: &str| {
        format!(
            "must not contain control characters (tabs, line breaks, escapes: \
             U+0001-U+001F, U+007F-U+009F), got U+{code}"
        )
    };
    let bidi = |code: &str| {
        format!(
            "must not contain bidirectional formatting characters (U+202A-U+202E, \
             U+2066-U+2069), which make text read in another order than it is written, \
             got U+{code}"
        )
    };
    let cases = [
        (
            "/admin/styles/1",
            r#"{"name":"\u001b[2J\u001b[31mSale"}"#,
            format!("name: {}", control("001B")),
        ),
        (
            "/admin/styles/1",
            r#"{"name":"Forest\nGreen"}"#,
            format!("name: {}", control("000A")),
        ),
        (
            "/admin/styles/1",
            r#"{"name":"Forest\u0085Green"}"#,
            format!("name: {}", control("0085")),
        ),
        (
            "/admin/styles/1",
            r#"{"name":"Sale \u202Egpj.exe"}"#,
            format!("name: {}", bidi("202E")),
        ),
        (
            "/admin/skus/2",
            r#"{"size":"XL\u2066"}"#,
            format!("size: {}", bidi("2066")),
        ),
        (
            "/admin/skus/2",
            r#"{"size":"X\tL"}"#,
            format!("size: {}", control("0009")),
        ),
    ];
    for (uri, body, expected) in cases {
        let got = send(&client, "PATCH", uri, token, Some(body)).await;
        assert_eq!(got.status, Status::BadRequest, "{body}");
        // The position is where the field's value ends: the body's end.
        let column = body.len();
        let expected = format!("{expected} at line 1 column {column}");
        assert_eq!(got.body, json!({ "error": expected }), "{body}");
    }
    assert_nothing_written(&db, &client).await;
}

/// URLs that parsers read two ways (a browser takes `\` for `/`, so
/// `https://a\@b/` goes to `a` where another parser sees user `a\` on `b`),
/// that no parser can read, or that carry credentials: each a 400 naming the
/// field, and nothing stored.
#[rocket::async_test]
async fn photo_urls_that_parsers_read_differently_are_refused() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[]).await;
    let token = Some(tokens.ops.token.as_str());
    let host = "must name its host by a domain name (letters, digits, '-' and '_', the last \
                label starting with a letter) or an IPv4 address, got";
    let cases = [
        (r"http://[abc", format!(r#"{host} "http://[abc""#)),
        (r"http://[::1]x", format!(r#"{host} "http://[::1]x""#)),
        (r"http://a.1/", format!(r#"{host} "http://a.1/""#)),
        (
            r"http://1.2.3.256/",
            format!(r#"{host} "http://1.2.3.256/""#),
        ),
        (
            r"https://a\\@b/",
            "must not contain a backslash, which browsers read as a slash (percent-encode it: %5C)"
                .to_string(),
        ),
        (
            r"https://u:p@img.example/",
            r#"must not carry a user name or password, got "https://u:p@img.example/""#.to_string(),
        ),
        (
            r"https://img.example/\u202Egpj.exe",
            "must not contain bidirectional formatting characters (U+202A-U+202E, \
             U+2066-U+2069), which make text read in another order than it is written, \
             got U+202E"
                .to_string(),
        ),
        (
            r"https://xn--a.example/",
            r#"is not a valid URL (invalid international domain name): "https://xn--a.example/""#
                .to_string(),
        ),
    ];
    for (url, expected) in cases {
        let body = format!(r#"{{"thumbnail_url":"https://img.example/t","url":"{url}"}}"#);
        let got = send(
            &client,
            "POST",
            "/admin/styles/1/photos",
            token,
            Some(&body),
        )
        .await;
        assert_eq!(got.status, Status::BadRequest, "{url}");
        let column = body.len();
        assert_eq!(
            got.body,
            json!({ "error": format!("url: {expected} at line 1 column {column}") }),
            "{url}"
        );
    }
    assert_nothing_written(&db, &client).await;
}

/// `setval` is not undone by a rollback: a write asking for more photo ids
/// than are left must not move the sequence, or every later photo write
/// would be refused for good, even one the ids left could serve.
#[rocket::async_test]
async fn a_photo_write_past_the_last_id_leaves_the_ids_below_it_usable() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[]).await;
    let token = Some(tokens.ops.token.as_str());
    let top = i32::MAX - 2;
    diesel::sql_query(format!(
        "INSERT INTO photos (id, style_id, thumbnail_url, url) \
         VALUES ({top}, 3, 'https://img.example/t', 'https://img.example/u')"
    ))
    .execute(&mut db.connect())
    .unwrap();
    let one = r#"{"thumbnail_url":"https://img.example/t","url":"https://img.example/u"}"#;
    let three = format!("[{one},{one},{one}]");
    let got = send(
        &client,
        "PUT",
        "/admin/styles/2/photos",
        token,
        Some(&three),
    )
    .await;
    assert_eq!(got.status, Status::Conflict);
    assert_eq!(got.body, json!({"error": "no photo ids are left"}));
    for id in [i32::MAX - 1, i32::MAX] {
        let got = send(&client, "POST", "/admin/styles/2/photos", token, Some(one)).await;
        assert_eq!(got.status, Status::Created, "{:?}", got.body);
        assert_eq!(got.body["photo_id"], id);
    }
    let got = send(&client, "POST", "/admin/styles/2/photos", token, Some(one)).await;
    assert_eq!(got.status, Status::Conflict);
    assert_eq!(got.body, json!({"error": "no photo ids are left"}));
    assert_eq!(audit(&db).len(), 2);
}

#[rocket::async_test]
async fn fifty_concurrent_writes_to_one_style_end_in_one_of_them() {
    use rocket::futures::future::join_all;

    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[("admin_pool_size", json!(4))]).await;
    let token = tokens.ops.token.as_str();
    let bodies: Vec<Value> = (0..50)
        .map(|n| json!({ "name": format!("Name {n}"), "sale_price": 100 + n }))
        .collect();
    let writes = bodies.iter().map(|body| {
        let body = body.to_string();
        let client = &client;
        async move { send(client, "PATCH", "/admin/styles/1", Some(token), Some(&body)).await }
    });
    let answers = join_all(writes).await;
    for got in &answers {
        assert_eq!(got.status, Status::Ok, "{:?}", got.body);
    }
    let written: Vec<(String, String)> = (0..50)
        .map(|n| (format!("Name {n}"), format!("{}.00", 100 + n)))
        .collect();
    let styles = styles_of(&client, 1).await;
    let last = &styles["results"][0];
    let state = (
        last["name"].as_str().unwrap().to_string(),
        last["sale_price"].as_str().unwrap().to_string(),
    );
    assert!(written.contains(&state), "{state:?}");
    // 50 audit rows, each one's "before" the "after" of the one before it:
    // the writes ran one after another, none lost, and the last is served.
    let entries = audit(&db);
    assert_eq!(entries.len(), 50);
    for pair in entries.windows(2) {
        assert_eq!(pair[1].before, pair[0].after);
    }
    assert_eq!(entries[49].after.as_ref(), Some(last));
    let mut names: Vec<String> = entries
        .iter()
        .map(|e| e.change["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut expected: Vec<String> = written.into_iter().map(|(name, _)| name).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(stored_answer(&db, 1), Some(rendered_from_rows(&db, 1)));
}

/// Writes through one instance and reads from another until the new value
/// shows: it must within a second of the write's answer.
async fn shows_on_the_other_instance(feed: &str) {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let url = plain(&db.url);
    let watching = [
        ("catalog_poll_ms", json!(1000)),
        ("change_feed", json!(feed)),
    ];
    let writer = admin_client(&url, &tokens, &watching).await;
    let reader = common::client_with(&url, &watching).await;
    for round in 0..3 {
        // Cached on the reader (a second read is a hit: same ETag).
        let (_, etag, before) = public(&reader, "/products/1/styles").await;
        assert_eq!(public(&reader, "/products/1/styles").await.1, etag);
        let price = format!("{}.00", 90 + round);
        let got = send(
            &writer,
            "PATCH",
            "/admin/styles/1",
            Some(&tokens.ops.token),
            Some(&json!({ "sale_price": price }).to_string()),
        )
        .await;
        assert_eq!(got.status, Status::Ok);
        let written = Instant::now();
        loop {
            let (status, new_etag, body) = public(&reader, "/products/1/styles").await;
            assert_eq!(status, Status::Ok);
            if body != before {
                let styles: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(styles["results"][0]["sale_price"], price);
                assert_ne!(new_etag, etag);
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(1),
                "{feed}: the other instance still served the old answer after 1 s"
            );
            rocket::tokio::time::sleep(Duration::from_millis(5)).await;
        }
        eprintln!(
            "{feed}: shown on the other instance after {:?}",
            written.elapsed()
        );
    }
    // Other products' answers stayed cached: no statement for a hit.
    let statements = reader
        .rocket()
        .state::<atelier::db::pool::StatementCounter>()
        .unwrap()
        .clone();
    public(&reader, "/products/2/styles").await;
    let before = statements.total();
    public(&reader, "/products/2/styles").await;
    assert_eq!(statements.total(), before);
}

#[rocket::async_test]
async fn a_write_shows_on_another_instance_within_a_second_by_notify() {
    shows_on_the_other_instance("notify").await;
}

#[rocket::async_test]
async fn a_write_shows_on_another_instance_within_a_second_by_the_audit_log() {
    shows_on_the_other_instance("audit").await;
}

#[rocket::async_test]
async fn a_hand_edit_of_a_photo_drops_only_that_products_answers() {
    let db = TestDb::with_rendered_fixtures();
    let url = plain(&db.url);
    let client = common::client_with(
        &url,
        &[
            ("catalog_poll_ms", json!(1000)),
            ("change_feed", json!("notify")),
        ],
    )
    .await;
    let (_, _, before) = public(&client, "/products/1/styles").await;
    let statements = client
        .rocket()
        .state::<atelier::db::pool::StatementCounter>()
        .unwrap()
        .clone();
    public(&client, "/products/2").await;
    diesel::sql_query("UPDATE photos SET url = 'https://changed.example/' WHERE id = 4")
        .execute(&mut db.connect())
        .unwrap();
    let edited = Instant::now();
    loop {
        let (_, _, body) = public(&client, "/products/1/styles").await;
        if body != before {
            assert!(body.contains("https://changed.example/"));
            break;
        }
        assert!(
            edited.elapsed() < Duration::from_secs(1),
            "the edit never showed"
        );
        rocket::tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The whole cache was not emptied: /products/2 is still a hit.
    let before = statements.total();
    public(&client, "/products/2").await;
    assert_eq!(statements.total(), before);
}

#[rocket::async_test]
async fn writes_are_refused_while_an_import_holds_its_lock() {
    use diesel::sql_types::BigInt;

    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[]).await;
    let token = Some(tokens.ops.token.as_str());
    let mut import = db.connect();
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(atelier::db::locks::IMPORT_LOCK)
        .execute(&mut import)
        .unwrap();
    let refused = json!({
        "error": "an import is replacing the catalog; nothing was written, try again when it is done"
    });
    for (method, uri, body) in [
        (
            "PATCH",
            "/admin/styles/1",
            Some(r#"{"sale_price":"99.00"}"#),
        ),
        (
            "POST",
            "/admin/styles/1/photos",
            Some(r#"{"thumbnail_url":"https://x/t","url":"https://x/u"}"#),
        ),
        ("PUT", "/admin/styles/1/photos", Some("[]")),
        ("DELETE", "/admin/photos/4", None),
        ("PATCH", "/admin/skus/2", Some(r#"{"quantity":1}"#)),
    ] {
        let got = send(&client, method, uri, token, body).await;
        assert_eq!(got.status, Status::ServiceUnavailable, "{method} {uri}");
        assert_eq!(got.header("Retry-After"), Some("30"));
        assert_eq!(got.body, refused);
    }
    assert_nothing_written(&db, &client).await;
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(atelier::db::locks::IMPORT_LOCK)
        .execute(&mut import)
        .unwrap();
    let got = send(
        &client,
        "PATCH",
        "/admin/styles/1",
        token,
        Some(r#"{"sale_price":"99.00"}"#),
    )
    .await;
    assert_eq!(got.status, Status::Ok);
    assert_eq!(
        styles_of(&client, 1).await["results"][0]["sale_price"],
        "99.00"
    );
}

#[rocket::async_test]
async fn an_import_waits_for_writes_in_flight_and_refuses_writes_until_its_swap() {
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;

    let db = TestDb::migrated();
    let dump = Scratch::with_defects("admin-import");
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[("cache_enabled", json!(false))]).await;
    let token = Some(tokens.ops.token.as_str());
    let options = common::import_options(&dump.0);
    atelier::import::run(&db.url, &options).unwrap();

    // A write in flight holds the import lock shared: an import started
    // meanwhile waits for it instead of failing, and new writes are
    // refused from then on.
    let mut in_flight = db.connect();
    in_flight.batch_execute("BEGIN").unwrap();
    diesel::sql_query("SELECT pg_advisory_xact_lock_shared($1)")
        .bind::<BigInt, _>(atelier::db::locks::IMPORT_LOCK)
        .execute(&mut in_flight)
        .unwrap();
    // And a reader holds `product`, so the import, once started, waits at
    // its swap: from its start to its swap, writes are refused.
    let mut reader = db.connect();
    reader
        .batch_execute("BEGIN; SELECT count(*) FROM product")
        .unwrap();
    let url = db.url.clone();
    let import = std::thread::spawn(move || atelier::import::run(&url, &options));
    common::until_waiting(&db, "SELECT pg_advisory_lock").await;
    let body = Some(r#"{"sale_price":"11.00"}"#);
    let got = send(&client, "PATCH", "/admin/styles/1", token, body).await;
    assert_eq!(got.status, Status::ServiceUnavailable);
    assert_eq!(got.header("Retry-After"), Some("30"));
    in_flight.batch_execute("COMMIT").unwrap();
    common::until_waiting(&db, "DO $swap$").await;
    let got = send(&client, "PATCH", "/admin/styles/1", token, body).await;
    assert_eq!(got.status, Status::ServiceUnavailable);
    reader.batch_execute("COMMIT").unwrap();
    import.join().unwrap().unwrap();

    // After the swap a write goes to the new tables, and stays.
    let got = send(&client, "PATCH", "/admin/styles/1", token, body).await;
    assert_eq!(got.status, Status::Ok);
    assert_eq!(got.body["sale_price"], "11.00");
    assert_eq!(
        styles_of(&client, 1).await["results"][0]["sale_price"],
        "11.00"
    );
    assert_eq!(audit(&db).len(), 1);
    assert_eq!(stored_answer(&db, 1), Some(rendered_from_rows(&db, 1)));
}

/// The admin API on a real socket, for requests whose body is announced and
/// never sent: only a server that reads it would wait.
async fn admin_server(db: &TestDb, tokens: &Tokens) -> common::http::Server {
    common::http::serve(&db.url, &[("admin_tokens", json!(tokens.config()))]).await
}

/// Sends `method path` announcing a body of `length` bytes and sending only
/// its first 20 (Rocket itself waits for the first few bytes of any body
/// before routing), then reads the answer.
async fn send_partial_body(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    length: u64,
) -> common::http::RawResponse {
    let mut request = common::http::Request::new(method, path)
        .header("Content-Type: application/json")
        .header(format!("Content-Length: {length}"))
        .then_bytes(b"[{\"thumbnail_url\": \"h");
    if let Some(token) = token {
        request = request.header(format!("Authorization: Bearer {token}"));
    }
    common::http::send(addr, &request).await
}

#[rocket::async_test]
async fn an_unauthenticated_admin_body_is_never_read() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let server = admin_server(&db, &tokens).await;
    // Each request announces a body and sends none: the 401 can only come
    // back if the body is not waited for.
    for (token, invalid) in [(None, false), (Some("not-a-token"), true)] {
        for (method, path) in [
            ("PUT", "/admin/styles/1/photos"),
            ("POST", "/admin/styles/1/photos"),
            ("PATCH", "/admin/styles/1"),
        ] {
            let got = send_partial_body(server.addr, method, path, token, 60_000).await;
            assert_eq!(got.status, 401, "{method} {path} {token:?}");
            assert_eq!(got.header("Cache-Control"), Some("no-store"));
            let expected = if invalid {
                "the token is not one this service accepts"
            } else {
                "the admin API needs an `Authorization: Bearer <token>` header"
            };
            assert_eq!(
                got.text(),
                json!({ "error": expected }).to_string(),
                "{method} {path}"
            );
        }
    }
    assert!(audit(&db).is_empty());
}

#[rocket::async_test]
async fn an_admin_body_over_the_admin_limit_is_refused_unread() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let server = admin_server(&db, &tokens).await;
    // Under the service's 1 MiB limit, over the admin API's 512 KiB.
    let got = send_partial_body(
        server.addr,
        "PUT",
        "/admin/styles/1/photos",
        Some(&tokens.ops.token),
        600_000,
    )
    .await;
    assert_eq!(got.status, 413);
    assert_eq!(
        got.text(),
        r#"{"error":"the body is larger than the 524288 bytes an admin request may carry"}"#
    );
    assert!(audit(&db).is_empty());
}

#[rocket::async_test]
async fn an_admin_body_that_stops_arriving_is_408() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let server = admin_server(&db, &tokens).await;
    let started = Instant::now();
    let got = send_partial_body(
        server.addr,
        "PATCH",
        "/admin/styles/1",
        Some(&tokens.ops.token),
        100,
    )
    .await;
    assert_eq!(got.status, 408);
    assert_eq!(
        got.text(),
        r#"{"error":"the body did not arrive within 10 seconds"}"#
    );
    assert!(started.elapsed() >= Duration::from_secs(10));
    assert!(audit(&db).is_empty());
}

#[rocket::async_test]
async fn admin_errors_are_never_cacheable() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    let client = admin_client(&db.url, &tokens, &[]).await;
    let token = Some(tokens.ops.token.as_str());
    for (method, uri, token, body, status) in [
        (
            "GET",
            "/admin/styles/999/photos",
            token,
            None,
            Status::NotFound,
        ),
        ("DELETE", "/admin/photos/999", token, None, Status::NotFound),
        (
            "PATCH",
            "/admin/styles/1",
            token,
            Some("[]"),
            Status::BadRequest,
        ),
        (
            "GET",
            "/admin/styles/1/photos",
            None,
            None,
            Status::Unauthorized,
        ),
        ("GET", "/admin/nothing-here", token, None, Status::NotFound),
    ] {
        let got = send(&client, method, uri, token, body).await;
        assert_eq!(got.status, status, "{method} {uri}");
        assert_eq!(
            got.header("Cache-Control"),
            Some("no-store"),
            "{method} {uri}"
        );
    }
}

#[rocket::async_test]
async fn writes_answer_503_at_once_while_the_primary_is_down() {
    let db = TestDb::with_rendered_fixtures();
    let tokens = Tokens::new();
    // Reads come from the test database; writes go to a port nothing
    // listens on, with a pool timeout far longer than the test waits.
    let down = format!(
        "postgres://atelier:atelier@127.0.0.1:{}/atelier",
        common::free_port()
    );
    let client = admin_client(
        &db.url,
        &tokens,
        &[
            ("admin_database_url", json!(down)),
            ("databases.atelier.timeout", json!(60)),
        ],
    )
    .await;
    let token = Some(tokens.ops.token.as_str());
    for (method, uri, body) in [
        ("PATCH", "/admin/styles/1", Some(r#"{"name":"Renamed"}"#)),
        ("PATCH", "/admin/styles/1", Some(r#"{"name":"Again"}"#)),
        ("GET", "/admin/styles/1/photos", None),
        ("DELETE", "/admin/photos/4", None),
    ] {
        let got = rocket::tokio::time::timeout(
            Duration::from_secs(20),
            send(&client, method, uri, token, body),
        )
        .await
        .unwrap_or_else(|_| panic!("{method} {uri} waited for the pool's timeout"));
        assert_eq!(got.status, Status::ServiceUnavailable, "{method} {uri}");
        assert_eq!(got.header("Retry-After"), Some("1"), "{method} {uri}");
        assert_eq!(
            got.body,
            json!({"error": "the database is unavailable; try again shortly"})
        );
    }
    // The catalog is still read from its own database.
    assert_eq!(public(&client, "/products/1").await.0, Status::Ok);
}
