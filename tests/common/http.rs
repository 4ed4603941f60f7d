//! Raw HTTP/1.1, for what a Rocket local client cannot show (framing
//! headers, connections, slow clients) and for servers in another process
//! (`atelier serve`, nginx): one client for every test that needs the bytes
//! on the wire.
//!
//! - [`Request`] is the bytes of one request: exactly those, with no
//!   header a test did not ask for but `Host` and `Connection: close`.
//! - [`send`], [`get`] and [`request`] send one on a connection of its own
//!   from an async test (tokio); [`fetch`] and [`exchange_on`] from a
//!   blocking one (std). Every wait is bounded.
//! - [`parse`] reads one response, [`parse_all`] pipelined ones.
//! - [`serve`] runs the real application on a real socket in this process.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rocket::fairing::AdHoc;
use rocket::tokio::io::{AsyncReadExt, AsyncWriteExt};
use rocket::tokio::sync::oneshot;
use rocket::Shutdown;

/// How long any exchange may take before the test fails instead of hanging.
const WITHIN: Duration = Duration::from_secs(30);

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
    let (port, shutdown) = rocket::tokio::time::timeout(WITHIN, started)
        .await
        .expect("the server started within 30 s")
        .expect("the server started");
    Server {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        shutdown,
    }
}

/// One HTTP/1.1 request as it goes on the wire: the request line, `Host`,
/// the header lines given in their order, `Connection: close` (unless
/// [`Request::keep_alive`]), a blank line, and the body.
#[derive(Clone, Debug)]
pub struct Request {
    method: String,
    path: String,
    headers: Vec<String>,
    body: Vec<u8>,
    close: bool,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            close: true,
        }
    }

    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    /// One more header line (`Name: value`).
    pub fn header(mut self, line: impl Into<String>) -> Request {
        self.headers.push(line.into());
        self
    }

    /// More header lines, in their order.
    pub fn headers<S: AsRef<str>>(mut self, lines: &[S]) -> Request {
        self.headers
            .extend(lines.iter().map(|line| line.as_ref().to_string()));
        self
    }

    /// A JSON body, with its `Content-Type` and `Content-Length`.
    pub fn json(self, body: &str) -> Request {
        let mut request = self
            .header("Content-Type: application/json")
            .header(format!("Content-Length: {}", body.len()));
        request.body = body.as_bytes().to_vec();
        request
    }

    /// Bytes after the head as they are, with no header for them: for a
    /// body that is not the `Content-Length` the test announced.
    pub fn then_bytes(mut self, bytes: &[u8]) -> Request {
        self.body = bytes.to_vec();
        self
    }

    /// Without `Connection: close`: a request pipelined before others.
    pub fn keep_alive(mut self) -> Request {
        self.close = false;
        self
    }

    /// The bytes of the request, its `Host` header naming `host`.
    pub fn to_bytes(&self, host: impl std::fmt::Display) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\nHost: {host}\r\n", self.method, self.path);
        for line in &self.headers {
            head.push_str(line.trim_end());
            head.push_str("\r\n");
        }
        if self.close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Writes `bytes` on a new connection to `addr` and reads until the server
/// closes it (at most 30 s): everything that came back.
pub async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = rocket::tokio::net::TcpStream::connect(addr)
        .await
        .expect("connecting");
    stream.write_all(bytes).await.expect("sending");
    let mut response = Vec::new();
    rocket::tokio::time::timeout(WITHIN, stream.read_to_end(&mut response))
        .await
        .expect("an answer within 30 s")
        .expect("reading");
    response
}

/// Sends `request` to `addr` on a connection of its own; its response.
pub async fn send(addr: SocketAddr, request: &Request) -> RawResponse {
    parse(&exchange(addr, &request.to_bytes(addr)).await)
}

/// `GET path` with the extra header lines given.
pub async fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> RawResponse {
    request(addr, "GET", path, headers).await
}

/// `METHOD path` with the extra header lines given.
pub async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[&str]) -> RawResponse {
    send(addr, &Request::new(method, path).headers(headers)).await
}

/// Blocking: writes `bytes` on `stream` and reads until the other end
/// closes it; every wait bounded (30 s in all).
pub fn exchange_on(mut stream: std::net::TcpStream, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let deadline = Instant::now() + WITHIN;
    stream.set_read_timeout(Some(WITHIN))?;
    stream.set_write_timeout(Some(WITHIN))?;
    stream.write_all(bytes)?;
    let mut response = Vec::new();
    let mut buffer = [0; 8192];
    loop {
        if Instant::now() >= deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the server did not close the connection within 30 s",
            ));
        }
        match stream.read(&mut buffer)? {
            0 => return Ok(response),
            n => response.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Blocking: sends `request` to 127.0.0.1:`port` on a connection of its own
/// and returns what came back, or `None` when nothing listens there or the
/// connection failed (a server starting, or gone).
pub fn fetch(port: u16, request: &Request) -> Option<Vec<u8>> {
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let host = stream.peer_addr().ok()?;
    exchange_on(stream, &request.to_bytes(host)).ok()
}

/// A response as it came off the wire.
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status line and headers, as sent.
    pub head: String,
}

impl RawResponse {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
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

/// The first value of header `name` among `headers` (name, value), the
/// name in any case.
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The head and the body as text, as a failed assertion should show them.
impl std::fmt::Debug for RawResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n\n{}", self.head, self.text())
    }
}

/// The head of the response at the start of `bytes`, and what follows it.
fn parse_head(bytes: &[u8]) -> (RawResponse, &[u8]) {
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
    let response = RawResponse {
        status,
        headers,
        body: Vec::new(),
        head,
    };
    (response, &bytes[end + 4..])
}

/// Parses one whole HTTP/1.1 response, everything after its head being its
/// body (the service sends no chunked ones; a HEAD answer's is empty).
pub fn parse(bytes: &[u8]) -> RawResponse {
    let (mut response, rest) = parse_head(bytes);
    response.body = rest.to_vec();
    response
}

/// Parses the responses to pipelined requests, in order: each body is its
/// `Content-Length`, or the rest without one.
pub fn parse_all(mut bytes: &[u8]) -> Vec<RawResponse> {
    let mut responses = Vec::new();
    while !bytes.is_empty() {
        let (mut response, rest) = parse_head(bytes);
        let length = response
            .header("Content-Length")
            .map_or(rest.len(), |length| length.parse().unwrap());
        response.body = rest[..length].to_vec();
        bytes = &rest[length..];
        responses.push(response);
    }
    responses
}
