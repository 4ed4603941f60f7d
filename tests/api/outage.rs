//! A database outage, made by cutting a TCP proxy between the service and
//! PostgreSQL: once the database is known to be gone, uncached requests get
//! a 503 with `Retry-After` at once instead of after the pool timeout;
//! cached answers are served through the outage, past their TTL, marked
//! stale; and the first fresh answer comes within a second of the database
//! being back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common;
use crate::common::TestDb;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::tokio::net::{TcpListener, TcpStream};
use rocket::tokio::task::JoinHandle;
use serde_json::json;

/// A TCP proxy to PostgreSQL that the test can cut (every connection
/// dropped, new ones refused) and restore, on the same port.
struct Proxy {
    addr: SocketAddr,
    upstream: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let proxy = Proxy {
            addr,
            upstream,
            tasks: Arc::default(),
        };
        proxy.accept(listener);
        proxy
    }

    fn accept(&self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        let tasks = Arc::clone(&self.tasks);
        let acceptor = rocket::tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let upstream = upstream.clone();
                let pipe = rocket::tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ =
                            rocket::tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(acceptor);
    }

    /// What stopping the database does: open connections drop, new ones
    /// are refused.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    async fn restore(&self) {
        // The listener of the cut acceptor is closed once its task is gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => return self.accept(listener),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    rocket::tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("rebinding the proxy: {e}"),
            }
        }
    }
}

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let scheme_end = url.find("://").unwrap() + 3;
    let at = url[scheme_end..]
        .find('@')
        .map_or(scheme_end, |i| scheme_end + i + 1);
    let rest = &url[at..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    format!("{}{addr}{}", &url[..at], &rest[end..])
}

/// The `host:port` of `url`.
fn address_of(url: &str) -> String {
    let scheme_end = url.find("://").unwrap() + 3;
    let at = url[scheme_end..]
        .find('@')
        .map_or(scheme_end, |i| scheme_end + i + 1);
    let rest = &url[at..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:5432")
    }
}

async fn get(client: &Client, uri: &str) -> (Status, Option<String>, Option<String>, String) {
    let response =
        rocket::tokio::time::timeout(Duration::from_secs(30), client.get(uri).dispatch())
            .await
            .unwrap_or_else(|_| panic!("{uri} did not answer"));
    let status = response.status();
    let warning = response.headers().get_one("Warning").map(String::from);
    let retry = response.headers().get_one("Retry-After").map(String::from);
    (
        status,
        warning,
        retry,
        response.into_string().await.unwrap_or_default(),
    )
}

#[rocket::async_test]
async fn an_outage_answers_503_at_once_serves_stale_answers_and_recovers_within_a_second() {
    let db = TestDb::with_rendered_fixtures();
    let proxy = Proxy::start(address_of(&db.url)).await;
    let client = common::client_with(
        &through(&db.url, proxy.addr),
        &[
            ("cache_ttl_seconds", json!(1)),
            ("databases.atelier.pool_size", json!(2)),
            ("databases.atelier.timeout", json!(5)),
        ],
    )
    .await;
    let cached = ["/products/1", "/products/1/styles", "/products?page=1"];
    let mut fresh = Vec::new();
    for uri in cached {
        let (status, warning, _, body) = get(&client, uri).await;
        assert_eq!((status, warning), (Status::Ok, None), "{uri}");
        fresh.push(body);
    }

    proxy.cut();
    // Past the TTL of everything cached.
    rocket::tokio::time::sleep(Duration::from_millis(1100)).await;

    // The first request finds its connection dropped, and that no new one
    // can be opened: the database is known to be down from then on.
    let started = Instant::now();
    let (status, _, retry, _) = get(&client, "/products/2").await;
    let first_503 = started.elapsed();
    assert_eq!(status, Status::ServiceUnavailable);
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(
        first_503 < Duration::from_secs(1),
        "first 503 after {first_503:?}"
    );
    let mut slowest_503 = Duration::ZERO;
    for uri in [
        "/products/3",
        "/products/2/styles",
        "/products/4/related",
        "/products?page=2",
    ] {
        let started = Instant::now();
        let (status, _, retry, _) = get(&client, uri).await;
        slowest_503 = slowest_503.max(started.elapsed());
        assert_eq!(status, Status::ServiceUnavailable, "{uri}");
        assert_eq!(retry.as_deref(), Some("1"), "{uri}");
    }
    assert!(
        slowest_503 < Duration::from_millis(100),
        "a 503 took {slowest_503:?}"
    );

    // The cached answers, past their TTL, are still served, marked stale.
    let mut stale_served = 0;
    for _ in 0..10 {
        for (uri, body) in cached.iter().zip(&fresh) {
            let response = client.get(*uri).dispatch().await;
            assert_eq!(response.status(), Status::Ok, "{uri}");
            assert_eq!(
                response.headers().get_one("Warning"),
                Some("110 - \"Response is Stale\""),
                "{uri}"
            );
            let age: u64 = response.headers().get_one("Age").unwrap().parse().unwrap();
            assert!(age >= 1, "{uri}: Age {age}");
            assert_eq!(&response.into_string().await.unwrap(), body, "{uri}");
            stale_served += 1;
        }
    }
    let metrics = client
        .rocket()
        .state::<Arc<atelier::metrics::Metrics>>()
        .unwrap()
        .render();
    for expected in [
        "atelier_db_up 0".to_string(),
        "atelier_db_outages 1".to_string(),
        format!("atelier_cache_stale_hits_total {stale_served}"),
    ] {
        assert!(
            metrics.lines().any(|l| l == expected),
            "no {expected} in\n{metrics}"
        );
    }
    let ready = client.get("/ready").dispatch().await;
    assert_eq!(ready.status(), Status::ServiceUnavailable);
    let health = client.get("/health").dispatch().await;
    assert_eq!(health.status(), Status::Ok);

    proxy.restore().await;
    let back = Instant::now();
    let recovered = loop {
        let (status, warning, _, _) = get(&client, "/products/2").await;
        if status == Status::Ok {
            assert_eq!(warning, None);
            break back.elapsed();
        }
        assert!(back.elapsed() < Duration::from_secs(5), "never recovered");
        rocket::tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        recovered <= Duration::from_secs(1),
        "recovered after {recovered:?}"
    );
    for uri in cached {
        let (status, warning, _, _) = get(&client, uri).await;
        assert_eq!((status, warning), (Status::Ok, None), "{uri} fresh again");
    }
    println!(
        "outage: first 503 after {first_503:?}, slowest later 503 {slowest_503:?}, \
         {stale_served} stale answers served, first fresh answer {recovered:?} after the \
         database was back"
    );
}

#[rocket::async_test]
async fn a_service_started_without_its_database_answers_503_at_once() {
    let client = common::client_with(
        "postgres://atelier:atelier@127.0.0.1:1/atelier",
        &[("databases.atelier.timeout", json!(5))],
    )
    .await;
    let mut slowest = Duration::ZERO;
    for uri in [
        "/products/1",
        "/products/1/styles",
        "/products/1/related",
        "/products",
    ] {
        let started = Instant::now();
        let (status, _, retry, _) = get(&client, uri).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(status, Status::ServiceUnavailable, "{uri}");
        assert_eq!(retry.as_deref(), Some("1"));
    }
    assert!(slowest < Duration::from_secs(1), "a 503 took {slowest:?}");
}
