//! The real application on a real socket, for what the local client cannot
//! show (framing headers, connections, slow clients), and a raw HTTP/1.1
//! client that sends exactly the bytes a test gives.

use std::net::SocketAddr;
use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket::tokio::io::{AsyncReadExt, AsyncWriteExt};
use rocket::tokio::net::TcpStream;
use rocket::tokio::sync::oneshot;
use rocket::Shutdown;

/// The application listening on a port of its own on loopback; shut down
/// when dropped.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: Shutdown,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}

/// Serves the real application on `database_url` with `overrides` (as
/// [`super::client_with`]) on a free port.
pub async fn serve(database_url: &str, overrides: &[(&str, serde_json::Value)]) -> Server {
    let figment = super::test_figment(database_url, overrides)
        .merge(("address", "127.0.0.1"))
        .merge(("port", 0));
    let (ready, started) = oneshot::channel();
    let rocket = atelier::app::build(figment).attach(AdHoc::on_liftoff("Test port", |rocket| {
        Box::pin(async move {
            let _ = ready.send((rocket.config().port, rocket.shutdown()));
        })
    }));
    rocket::tokio::spawn(rocket.launch());
    let (port, shutdown) = rocket::tokio::time::timeout(Duration::from_secs(30), started)
        .await
        .expect("the server started within 30 s")
        .expect("the server started");
    Server {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        shutdown,
    }
}

/// A response as it came off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `head` (the request line and headers, without the blank line that
/// ends them; `Connection: close` is added) and reads the response to the
/// end of the connection.
pub async fn send(addr: SocketAddr, head: &str) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connecting");
    let request = format!("{}\r\nConnection: close\r\n\r\n", head.trim_end());
    stream.write_all(request.as_bytes()).await.expect("sending");
    let mut bytes = Vec::new();
    rocket::tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut bytes))
        .await
        .expect("an answer within 30 s")
        .expect("reading");
    parse(&bytes)
}

/// `GET path` with a `Host` and the extra header lines given.
pub async fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> RawResponse {
    request(addr, "GET", path, headers).await
}

/// `METHOD path` with a `Host` and the extra header lines given.
pub async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[&str]) -> RawResponse {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}");
    for header in headers {
        head.push_str("\r\n");
        head.push_str(header);
    }
    send(addr, &head).await
}

/// Parses a whole HTTP/1.1 response (sized bodies only: the service sends
/// no chunked ones).
pub fn parse(bytes: &[u8]) -> RawResponse {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    RawResponse {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    }
}
