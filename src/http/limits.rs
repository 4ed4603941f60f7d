//! Size limits on what a request may carry: its target (path and query),
//! its headers and its body. A request over one gets a JSON 414, 431 or 413
//! (`error`), without touching the database, whatever route it was for.
//!
//! Rocket cannot refuse a request from a fairing, so the request fairing
//! (`telemetry`) judges it on arrival and keeps the verdict with the
//! request, and sends it to a path no route serves, so that no handler
//! runs (nothing is looked up or written); the answer is replaced by the
//! error on the way out. Hyper's
//! own limit on a request head (about 400 KB) still applies before all
//! this; it answers a bare 431.

use rocket::http::Method;
use rocket::Request;

use crate::config::Settings;

/// The limit a request broke: answered 414, 431 or 413 (see `error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The target is longer than this many bytes.
    UriTooLong(usize),
    /// The headers are larger than this many bytes.
    HeadersTooLarge(usize),
    /// The declared body is larger than this many bytes.
    BodyTooLarge(u64),
}

/// The limits of one application.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest path and query (`ATELIER_MAX_URL_BYTES`).
    pub max_url_bytes: usize,
    /// Most header bytes, names and values (`ATELIER_MAX_HEADER_BYTES`).
    pub max_header_bytes: usize,
    /// Largest declared body (`ATELIER_MAX_BODY_BYTES`).
    pub max_body_bytes: u64,
}

impl Limits {
    /// The limits `settings` set.
    pub fn new(settings: &Settings) -> Self {
        Limits {
            max_url_bytes: settings.max_url_bytes,
            max_header_bytes: settings.max_header_bytes,
            max_body_bytes: settings.max_body_bytes,
        }
    }

    /// The limit `request` breaks, if any, given the size of its headers as
    /// on the wire (`name: value\r\n` each) and its first `Content-Length`:
    /// the request fairing reads both in its one pass over the headers.
    pub fn judge(
        &self,
        request: &Request<'_>,
        header_bytes: usize,
        content_length: Option<&str>,
    ) -> Option<Refusal> {
        let uri = request.uri();
        let target = uri.path().len() + uri.query().map_or(0, |q| q.len() + 1);
        if target > self.max_url_bytes {
            return Some(Refusal::UriTooLong(self.max_url_bytes));
        }
        if header_bytes > self.max_header_bytes {
            return Some(Refusal::HeadersTooLarge(self.max_header_bytes));
        }
        // Only methods with a body are asked: GET bodies are never read.
        if !matches!(
            request.method(),
            Method::Get | Method::Head | Method::Options
        ) {
            let declared = content_length.and_then(|n| n.trim().parse::<u64>().ok());
            if declared.is_some_and(|n| n > self.max_body_bytes) {
                return Some(Refusal::BodyTooLarge(self.max_body_bytes));
            }
        }
        None
    }
}
