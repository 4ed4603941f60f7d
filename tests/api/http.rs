//! HTTP beyond the contract's bodies: HEAD on every GET route (cached
//! answers and 304s included), OPTIONS and 405 on every path, CORS as a
//! browser exercises it, readiness, compression per encoding, and the size
//! limits, on the real application (on a real socket where framing shows).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::http::{self, RawResponse};
use crate::common::TestDb;
use rocket::http::{Header, Status};
use serde_json::{json, Value};

/// Headers whose values differ between two answers to the same request.
const PER_REQUEST: [&str; 2] = ["x-request-id", "date"];

fn stable_headers(response: &RawResponse) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = response
        .headers
        .iter()
        .filter(|(name, _)| !PER_REQUEST.contains(&name.to_ascii_lowercase().as_str()))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    headers.sort();
    headers
}

#[rocket::async_test]
async fn head_answers_every_get_route_with_its_headers_and_no_body() {
    let db = TestDb::with_rendered_fixtures();
    let server = http::serve(&db.url, &[]).await;
    for path in [
        "/products",
        "/products?page=1&count=1000",
        "/products/1",
        "/products/1/styles",
        "/products/1/related",
        "/products/42",
        "/products/abc",
        "/health",
        "/ready",
        "/openapi.json",
    ] {
        // The first GET fills the cache; HEAD then answers from it.
        for accept in ["", "Accept-Encoding: gzip, deflate, br, zstd"] {
            let extra: Vec<&str> = [accept].into_iter().filter(|h| !h.is_empty()).collect();
            let get = http::get(server.addr, path, &extra).await;
            let head = http::request(server.addr, "HEAD", path, &extra).await;
            assert_eq!(head.status, get.status, "HEAD {path}");
            assert_eq!(
                stable_headers(&head),
                stable_headers(&get),
                "HEAD {path} {accept}"
            );
            assert!(head.body.is_empty(), "HEAD {path}: {:?}", head.text());
            assert!(head.header("X-Request-Id").is_some(), "HEAD {path}");
            assert_eq!(
                get.header("Content-Length"),
                Some(get.body.len().to_string().as_str()),
                "GET {path}"
            );
            // A HEAD that names the ETag is a 304, like the GET.
            if let Some(tag) = get.header("ETag") {
                let if_none_match = format!("If-None-Match: {tag}");
                let mut headers = extra.clone();
                headers.push(&if_none_match);
                let get = http::get(server.addr, path, &headers).await;
                let head = http::request(server.addr, "HEAD", path, &headers).await;
                assert_eq!((get.status, head.status), (304, 304), "{path}");
                assert_eq!(stable_headers(&head), stable_headers(&get), "304 {path}");
                assert!(get.body.is_empty() && head.body.is_empty());
            }
        }
    }
    // /metrics changes between two requests; its headers do not.
    let get = http::get(server.addr, "/metrics", &[]).await;
    let head = http::request(server.addr, "HEAD", "/metrics", &[]).await;
    assert_eq!((get.status, head.status), (200, 200));
    assert_eq!(head.header("Content-Type"), get.header("Content-Type"));
    assert!(head.body.is_empty());
}

#[rocket::async_test]
async fn options_on_every_path_is_204_with_allow_and_unknown_paths_stay_404() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    for uri in [
        "/products",
        "/products/1",
        "/products/1/styles",
        "/products/1/related",
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
    ] {
        let response = client.options(uri).dispatch().await;
        assert_eq!(response.status(), Status::NoContent, "{uri}");
        assert_eq!(
            response.headers().get_one("Allow"),
            Some("GET, HEAD, OPTIONS")
        );
    }
    let response = client.options("/nope").dispatch().await;
    assert_eq!(response.status(), Status::NotFound);
}

/// The preflight Chromium sends before `fetch(url, {headers: {Authorization:
/// ...}})` from a page on another origin, header for header.
const CHROMIUM_PREFLIGHT: [&str; 12] = [
    "Accept: */*",
    "Accept-Encoding: gzip, deflate, br, zstd",
    "Accept-Language: en-US,en;q=0.9",
    "Access-Control-Request-Headers: authorization",
    "Access-Control-Request-Method: GET",
    "Origin: http://localhost:8080",
    "Referer: http://localhost:8080/",
    "Sec-Fetch-Dest: empty",
    "Sec-Fetch-Mode: cors",
    "Sec-Fetch-Site: same-site",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/131.0.0.0 Safari/537.36",
    "Connection: keep-alive",
];

/// The request Chromium sends once the preflight allowed it.
const CHROMIUM_GET: [&str; 9] = [
    "Accept: */*",
    "Accept-Encoding: gzip, deflate, br, zstd",
    "Authorization: Bearer 0123456789abcdef",
    "Origin: http://localhost:8080",
    "Referer: http://localhost:8080/",
    "Sec-Fetch-Dest: empty",
    "Sec-Fetch-Mode: cors",
    "Sec-Fetch-Site: same-site",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/131.0.0.0 Safari/537.36",
];

#[rocket::async_test]
async fn a_browser_on_any_origin_may_read_the_catalog_by_default() {
    let db = TestDb::with_fixtures();
    let server = http::serve(&db.url, &[]).await;
    let preflight = http::request(server.addr, "OPTIONS", "/products/1", &CHROMIUM_PREFLIGHT).await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(
        preflight.header("Access-Control-Allow-Methods"),
        Some("GET, HEAD, OPTIONS")
    );
    assert_eq!(
        preflight.header("Access-Control-Allow-Headers"),
        Some("authorization")
    );
    assert_eq!(preflight.header("Access-Control-Max-Age"), Some("86400"));
    assert!(preflight.body.is_empty());
    assert_eq!(preflight.header("Content-Length"), None);

    let get = http::get(server.addr, "/products/1", &CHROMIUM_GET).await;
    assert_eq!(get.status, 200);
    assert_eq!(get.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(
        get.header("Access-Control-Expose-Headers"),
        Some("ETag, X-Request-Id")
    );
    // Errors are readable too, and a client without an Origin still gets
    // the origin rule, so a shared cache can keep one answer for all.
    let missing = http::get(server.addr, "/products/42", &CHROMIUM_GET).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("Access-Control-Allow-Origin"), Some("*"));
    let plain = http::get(server.addr, "/products/1", &[]).await;
    assert_eq!(plain.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(plain.header("Vary"), None);

    // Every header a front end sends is allowed, in the browser's spelling;
    // one that is not allowed is left out, so the browser refuses the call.
    let asked = http::request(
        server.addr,
        "OPTIONS",
        "/products/1/styles",
        &[
            "Origin: http://localhost:8080",
            "Access-Control-Request-Method: GET",
            "Access-Control-Request-Headers: authorization,if-none-match,x-forbidden",
        ],
    )
    .await;
    assert_eq!(
        asked.header("Access-Control-Allow-Headers"),
        Some("authorization, if-none-match")
    );
    let unasked = http::request(
        server.addr,
        "OPTIONS",
        "/products",
        &[
            "Origin: http://localhost:8080",
            "Access-Control-Request-Method: GET",
        ],
    )
    .await;
    let allowed = unasked.header("Access-Control-Allow-Headers").unwrap();
    assert!(allowed.contains("authorization") && allowed.contains("if-none-match"));
}

#[rocket::async_test]
async fn a_list_of_origins_admits_only_those() {
    let db = TestDb::with_fixtures();
    let server = http::serve(
        &db.url,
        &[(
            "cors_origins",
            json!("https://shop.example, http://localhost:8080"),
        )],
    )
    .await;
    let preflight = http::request(server.addr, "OPTIONS", "/products/1", &CHROMIUM_PREFLIGHT).await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("Access-Control-Allow-Origin"),
        Some("http://localhost:8080")
    );
    assert!(preflight.headers_named("Vary").contains(&"Origin"));
    let get = http::get(server.addr, "/products/1", &CHROMIUM_GET).await;
    assert_eq!(
        get.header("Access-Control-Allow-Origin"),
        Some("http://localhost:8080")
    );
    assert_eq!(get.headers_named("Vary"), ["Origin"]);

    let stranger: Vec<&str> = CHROMIUM_PREFLIGHT
        .iter()
        .map(|h| {
            if h.starts_with("Origin:") {
                "Origin: https://evil.example"
            } else {
                h
            }
        })
        .collect();
    let preflight = http::request(server.addr, "OPTIONS", "/products/1", &stranger).await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("Access-Control-Allow-Origin"), None);
    assert_eq!(preflight.header("Access-Control-Allow-Methods"), None);
    let get = http::get(
        server.addr,
        "/products/1",
        &["Origin: https://evil.example"],
    )
    .await;
    assert_eq!(get.status, 200);
    assert_eq!(get.header("Access-Control-Allow-Origin"), None);
    // The answer varies with Origin even for a client that sent none.
    let plain = http::get(server.addr, "/products/1", &[]).await;
    assert_eq!(plain.headers_named("Vary"), ["Origin"]);
}

#[rocket::async_test]
async fn an_invalid_origin_list_stops_start_up() {
    let db = TestDb::migrated();
    let rocket = atelier::app::build(common::test_figment(
        &db.url,
        &[("cors_origins", json!("shop.example"))],
    ));
    let error = rocket.ignite().await.expect_err("no start-up");
    // Looking at the error marks it handled (Rocket panics otherwise).
    assert!(matches!(
        error.kind(),
        rocket::error::ErrorKind::FailedFairings(_)
    ));
}

#[rocket::async_test]
async fn ready_while_the_catalog_can_be_read_and_health_regardless() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let response = client.get("/ready").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        response.into_string().await.unwrap(),
        r#"{"status":"ready","replicas":[]}"#
    );
    // Never cached: a catalog that cannot be read shows at once.
    diesel::RunQueryDsl::execute(
        diesel::sql_query("ALTER TABLE product RENAME TO product_away"),
        &mut db.connect(),
    )
    .unwrap();
    let response = client.get("/ready").dispatch().await;
    assert_eq!(response.status(), Status::ServiceUnavailable);

    let unreachable = common::client_with(
        "postgres://atelier:atelier@127.0.0.1:1/atelier",
        &[("databases.atelier.timeout", json!(5))],
    )
    .await;
    let started = Instant::now();
    let response = unreachable.get("/ready").dispatch().await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(response.headers().get_one("Retry-After"), Some("1"));
    let body: Value = serde_json::from_str(&response.into_string().await.unwrap()).unwrap();
    assert!(body["error"].is_string());
    let response = unreachable.get("/health").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn compressions(client: &rocket::local::asynchronous::Client) -> (u64, u64) {
    let metrics = client
        .rocket()
        .state::<std::sync::Arc<atelier::metrics::Metrics>>()
        .unwrap();
    let text = metrics.render();
    let count = |encoding: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(&format!(
                    "atelier_cache_compressions_total{{encoding=\"{encoding}\"}}"
                ))
            })
            .map_or(0, |l| l.rsplit(' ').next().unwrap().parse().unwrap())
    };
    (count("gzip"), count("br"))
}

#[rocket::async_test]
async fn large_answers_are_compressed_as_asked_once_per_encoding() {
    let db = TestDb::with_rendered_fixtures();
    for cache in [true, false] {
        let client = common::client_with(&db.url, &[("cache_enabled", json!(cache))]).await;
        let uri = "/products?count=1000";
        let plain = client.get(uri).dispatch().await;
        assert_eq!(plain.headers().get_one("Content-Encoding"), None);
        assert_eq!(plain.headers().get_one("Vary"), Some("Accept-Encoding"));
        let identity_tag = plain.headers().get_one("ETag").unwrap().to_string();
        let identity = plain.into_bytes().await.unwrap();
        assert!(identity.len() >= 1024, "{}", identity.len());

        let mut tags = vec![identity_tag.clone()];
        for (accept, token, decode) in [
            ("gzip, deflate", "gzip", gunzip as fn(&[u8]) -> Vec<u8>),
            ("gzip, deflate, br, zstd", "br", unbrotli),
            ("br;q=0.5, gzip;q=1", "gzip", gunzip),
        ] {
            for _ in 0..3 {
                let response = client
                    .get(uri)
                    .header(Header::new("Accept-Encoding", accept))
                    .dispatch()
                    .await;
                assert_eq!(response.status(), Status::Ok);
                assert_eq!(response.headers().get_one("Content-Encoding"), Some(token));
                assert_eq!(response.headers().get_one("Vary"), Some("Accept-Encoding"));
                let tag = response.headers().get_one("ETag").unwrap().to_string();
                assert_eq!(tag, format!("{}-{token}\"", &identity_tag[..17]));
                tags.push(tag.clone());
                let bytes = response.into_bytes().await.unwrap();
                assert!(bytes.len() < identity.len() / 2, "{token}: {}", bytes.len());
                assert_eq!(decode(&bytes), identity, "{accept}");
                // Revalidating with the encoding's tag is a 304 with that tag.
                let response = client
                    .get(uri)
                    .header(Header::new("Accept-Encoding", accept))
                    .header(Header::new("If-None-Match", tag.clone()))
                    .dispatch()
                    .await;
                assert_eq!(response.status(), Status::NotModified);
                assert_eq!(response.headers().get_one("ETag"), Some(tag.as_str()));
            }
        }
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), 3, "one tag per encoding: {tags:?}");
        // Kept with the cached answer: each encoding compressed once; without
        // the cache, once per request that asks.
        let (gzip, br) = compressions(&client);
        if cache {
            assert_eq!((gzip, br), (1, 1));
        } else {
            assert_eq!((gzip, br), (12, 6));
        }

        // An answer under 1 KB is sent as it is, and does not vary.
        let small = client
            .get("/products/3/related")
            .header(Header::new("Accept-Encoding", "gzip, br"))
            .dispatch()
            .await;
        assert_eq!(small.headers().get_one("Content-Encoding"), None);
        assert_eq!(small.headers().get_one("Vary"), None);
    }
}

#[rocket::async_test]
async fn requests_over_a_size_limit_are_json_errors() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let statements = || {
        client
            .rocket()
            .state::<atelier::db::pool::StatementCounter>()
            .unwrap()
            .total()
    };
    let before = statements();
    let long = format!("/products/1?{}", "a".repeat(5000));
    let cases = [
        (
            client.get(long.clone()),
            Status::UriTooLong,
            "the URL is longer than the 4096 bytes this service accepts",
        ),
        (
            client
                .get("/products/1")
                .header(Header::new("X-Padding", "b".repeat(17 * 1024))),
            Status::RequestHeaderFieldsTooLarge,
            "the request headers are larger than the 16384 bytes this service accepts",
        ),
        (
            client
                .post("/products")
                .header(Header::new("Content-Length", "2000000")),
            Status::PayloadTooLarge,
            "the request body is larger than the 1048576 bytes this service accepts",
        ),
        (
            client.get("/nope".to_string() + &"/x".repeat(3000)),
            Status::UriTooLong,
            "the URL is longer than the 4096 bytes this service accepts",
        ),
        (
            client
                .get("/health")
                .header(Header::new("X-Padding", "b".repeat(17 * 1024))),
            Status::RequestHeaderFieldsTooLarge,
            "the request headers are larger than the 16384 bytes this service accepts",
        ),
    ];
    for (request, status, message) in cases {
        let response = request.dispatch().await;
        assert_eq!(response.status(), status);
        assert_eq!(
            response.headers().get_one("Content-Type"),
            Some("application/json; charset=utf-8")
        );
        let body: Value = serde_json::from_str(&response.into_string().await.unwrap()).unwrap();
        assert_eq!(body, json!({ "error": message }));
    }
    assert_eq!(statements(), before, "no lookup for a request over a limit");
    // Just under the limits is fine.
    let response = client
        .get(format!("/products/1?{}", "a".repeat(4000)))
        .header(Header::new("X-Padding", "b".repeat(15 * 1024)))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
}

/// Slow and idle clients hold a connection each, never a worker: with 200
/// idle connections open and a client sending its headers a byte at a time,
/// ordinary requests are answered as fast as ever.
#[rocket::async_test]
async fn idle_and_slow_clients_do_not_hold_up_the_others() {
    use rocket::tokio::io::AsyncWriteExt;
    use rocket::tokio::net::TcpStream;

    let db = TestDb::with_fixtures();
    let server = http::serve(&db.url, &[("workers", json!(2))]).await;
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Half of them sent a request line and stopped there.
    for stream in idle.iter_mut().take(100) {
        stream
            .write_all(b"GET /products/1 HTTP/1.1\r\n")
            .await
            .unwrap();
    }
    let addr = server.addr;
    let slowloris = rocket::tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /products/1 HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        for byte in b"X-Slow: ".iter().cycle().take(40) {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            rocket::tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut slowest = Duration::ZERO;
    for n in 0..50 {
        let started = Instant::now();
        let response = http::get(server.addr, &format!("/products/{}", n % 5 + 1), &[]).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(response.status, 200);
    }
    assert!(
        !slowloris.is_finished(),
        "the slow client was still sending"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "slowest answer {slowest:?}"
    );
    slowloris.abort();
    drop(idle);
}

#[rocket::async_test]
async fn a_cleartext_http2_client_is_not_served() {
    use rocket::tokio::io::{AsyncReadExt, AsyncWriteExt};

    let db = TestDb::with_fixtures();
    let server = http::serve(&db.url, &[]).await;
    let mut stream = rocket::tokio::net::TcpStream::connect(server.addr)
        .await
        .unwrap();
    // HTTP/2 with prior knowledge: the preface, then an empty SETTINGS frame.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut bytes = Vec::new();
    rocket::tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes))
        .await
        .expect("the connection ends within 10 s")
        .unwrap();
    // An HTTP/2 server answers with its own SETTINGS frame (type 4); an
    // HTTP/1.1-only one refuses the request line, or just closes.
    assert!(
        bytes.is_empty() || bytes.starts_with(b"HTTP/1.1 "),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
}
