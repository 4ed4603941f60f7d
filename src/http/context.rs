//! What the request fairing (`telemetry`) keeps with each request, in one
//! entry of the request's local cache: when it arrived, its method, its id,
//! the size limit it broke, if any, its CORS verdict, and where the headers
//! read later are. The id is sent back in `X-Request-Id` and written in the
//! request's log line and in any error it logs: the client's own when it
//! sent a sane one (so a front end can follow its request through), else
//! one made here. Kept apart from the fairing so the error type and the
//! request guard, which the fairing's answers go through, can read it too.
//!
//! The fairing reads every header the service looks at in the one pass over
//! them that the header limit needs anyway ([`SeenHeaders`]): each lookup by
//! name in Rocket's header map hashes the name with SipHash, byte by byte,
//! where comparing the few headers a request has by length and name is a
//! handful of instructions each.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use rocket::http::{HeaderMap, Method};
use rocket::Request;

use crate::http::cors::CorsVerdict;
use crate::http::limits::Refusal;

/// The longest request id taken from a client.
const MAX_REQUEST_ID: usize = 128;

/// What the request fairing keeps with a request.
pub struct RequestContext {
    /// When the fairing saw it arrive.
    pub started: Instant,
    /// As it arrived: Rocket answers HEAD by running the GET route, and
    /// says GET from then on.
    pub method: Method,
    /// Its id (see the module's documentation).
    pub id: RequestId,
    /// The size limit it broke, if any.
    pub rejected: Option<Refusal>,
    /// The path it came for, when it was refused and sent elsewhere: the log
    /// line names that one.
    pub refused_path: Option<String>,
    /// The CORS headers its answer gets, decided from its `Origin`.
    pub cors: Option<CorsVerdict>,
    /// Where its `If-None-Match` is.
    pub if_none_match: HeaderAt,
    /// Where its `Accept-Encoding` is.
    pub accept_encoding: HeaderAt,
}

/// The request's context, as the fairing set it on arrival; for a request
/// that arrived without the fairing (an application built without it), one
/// made now.
pub fn context<'r>(request: &'r Request<'_>) -> &'r RequestContext {
    request.local_cache(|| RequestContext {
        started: Instant::now(),
        method: request.method(),
        id: RequestId::new(),
        rejected: None,
        refused_path: None,
        cors: None,
        if_none_match: HeaderAt::Unknown,
        accept_encoding: HeaderAt::Unknown,
    })
}

/// The request's id.
pub fn request_id<'r>(request: &'r Request<'_>) -> &'r str {
    context(request).id.as_str()
}

/// Where a header is among a request's headers, as the fairing saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderAt {
    /// Not looked for: found by name when asked.
    Unknown,
    /// The request has none.
    Absent,
    /// The first one is the n-th of the request's headers, in the order
    /// Rocket's header map yields them.
    At(usize),
}

impl HeaderAt {
    /// The first value of the header `name` in `headers`, which this says
    /// where to find. Checked against the name there, and looked up by name
    /// if it is not the one (the map changed since the fairing saw it).
    pub fn find<'h>(self, headers: &'h HeaderMap<'_>, name: &str) -> Option<&'h str> {
        match self {
            HeaderAt::Absent => None,
            HeaderAt::Unknown => headers.get_one(name),
            HeaderAt::At(n) => match headers.iter().nth(n) {
                Some(header) if header.name.as_str().eq_ignore_ascii_case(name) => {
                    match header.value {
                        Cow::Borrowed(value) => Some(value),
                        Cow::Owned(_) => headers.get_one(name),
                    }
                }
                _ => headers.get_one(name),
            },
        }
    }
}

/// What the fairing reads of a request's headers, in one pass over them.
pub struct SeenHeaders<'h> {
    /// Their size as on the wire: `name: value\r\n` each.
    pub bytes: usize,
    /// The first `X-Request-Id`.
    pub request_id: Option<&'h str>,
    /// The first `Origin`.
    pub origin: Option<&'h str>,
    /// The first `Content-Length`.
    pub content_length: Option<&'h str>,
    /// Where the first `If-None-Match` is.
    pub if_none_match: HeaderAt,
    /// Where the first `Accept-Encoding` is.
    pub accept_encoding: HeaderAt,
}

impl<'h> SeenHeaders<'h> {
    /// Reads `headers`.
    pub fn read(headers: &'h HeaderMap<'_>) -> Self {
        let mut seen = SeenHeaders {
            bytes: 0,
            request_id: None,
            origin: None,
            content_length: None,
            if_none_match: HeaderAt::Absent,
            accept_encoding: HeaderAt::Absent,
        };
        for (n, header) in headers.iter().enumerate() {
            let name = header.name.as_str();
            let value = match header.value {
                Cow::Borrowed(value) => value,
                // Rocket's iterator lends every value; were one ever owned,
                // the header is counted and the rest found by name.
                Cow::Owned(ref value) => {
                    seen.bytes += name.len() + value.len() + 4;
                    continue;
                }
            };
            seen.bytes += name.len() + value.len() + 4;
            // Told apart by length first: most names match none of these.
            let slot = match name.len() {
                6 if name.eq_ignore_ascii_case("Origin") => &mut seen.origin,
                12 if name.eq_ignore_ascii_case("X-Request-Id") => &mut seen.request_id,
                14 if name.eq_ignore_ascii_case("Content-Length") => &mut seen.content_length,
                13 if name.eq_ignore_ascii_case("If-None-Match") => {
                    first_at(&mut seen.if_none_match, n);
                    continue;
                }
                15 if name.eq_ignore_ascii_case("Accept-Encoding") => {
                    first_at(&mut seen.accept_encoding, n);
                    continue;
                }
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        seen
    }
}

fn first_at(at: &mut HeaderAt, n: usize) {
    if *at == HeaderAt::Absent {
        *at = HeaderAt::At(n);
    }
}

/// A request's id, kept in the context itself: sent and logged by
/// reference, it costs no allocation.
pub struct RequestId {
    len: usize,
    bytes: [u8; MAX_REQUEST_ID],
}

impl RequestId {
    /// An id no other request of this process has, and unlikely in
    /// another's: a random prefix drawn at start-up and a counter, e.g.
    /// `3f9a1c02-27`.
    pub fn new() -> Self {
        static PREFIX: OnceLock<[u8; 9]> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let prefix = PREFIX.get_or_init(|| {
            // A fresh `RandomState` is seeded from the system's randomness.
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u32(std::process::id());
            let mut prefix = [b'-'; 9];
            let hex = format!("{:08x}", hasher.finish() as u32);
            prefix[..8].copy_from_slice(&hex.as_bytes()[..8]);
            prefix
        });
        let mut counter = itoa::Buffer::new();
        let counter = counter.format(NEXT.fetch_add(1, Ordering::Relaxed));
        let mut id = RequestId {
            len: 0,
            bytes: [0; MAX_REQUEST_ID],
        };
        id.push(prefix);
        id.push(counter.as_bytes());
        id
    }

    /// The client's id, if it is sane: short, and only characters that
    /// cannot break a log line or a header.
    pub fn from_client(id: &str) -> Option<Self> {
        if !is_sane_request_id(id) {
            return None;
        }
        let mut taken = RequestId {
            len: 0,
            bytes: [0; MAX_REQUEST_ID],
        };
        taken.push(id.as_bytes());
        Some(taken)
    }

    fn push(&mut self, part: &[u8]) {
        if let Some(room) = self.bytes.get_mut(self.len..self.len + part.len()) {
            room.copy_from_slice(part);
            self.len += part.len();
        }
    }

    /// The id as sent.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written in it.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId::new()
    }
}

/// Whether a client's `X-Request-Id` can be taken as it is: short, and only
/// characters that cannot break a log line or a header.
fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocket::http::Header;

    #[test]
    fn only_sane_request_ids_are_taken() {
        for id in ["abc", "3f9a1c02-1b", "req:42/a+b=c@d_e.f"] {
            assert!(is_sane_request_id(id), "{id}");
            assert_eq!(
                RequestId::from_client(id).map(|i| i.as_str().to_string()),
                Some(id.to_string())
            );
        }
        let long = "a".repeat(MAX_REQUEST_ID + 1);
        for id in ["", "with space", "new\nline", "quote\"", "é", long.as_str()] {
            assert!(!is_sane_request_id(id), "{id:?}");
        }
        let longest = "a".repeat(MAX_REQUEST_ID);
        assert!(RequestId::from_client(&longest).is_some_and(|i| i.as_str() == longest));
        let (one, two) = (RequestId::new(), RequestId::new());
        assert_ne!(one.as_str(), two.as_str());
        assert_eq!(one.as_str().as_bytes()[8], b'-');
        assert_eq!(one.as_str()[..9], two.as_str()[..9]);
    }

    #[test]
    fn one_pass_finds_the_headers_by_any_case() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("Host", "localhost"),
            ("accept-encoding", "br"),
            ("ORIGIN", "https://shop.example"),
            ("If-None-Match", "\"a\""),
            ("x-request-id", "r-1"),
            ("X-Request-Id", "r-2"),
        ] {
            headers.add(Header::new(name, value));
        }
        let seen = SeenHeaders::read(&headers);
        assert_eq!(seen.origin, Some("https://shop.example"));
        assert_eq!(seen.request_id, Some("r-1"));
        assert_eq!(seen.content_length, None);
        assert_eq!(
            seen.if_none_match.find(&headers, "If-None-Match"),
            Some("\"a\"")
        );
        assert_eq!(
            seen.accept_encoding.find(&headers, "Accept-Encoding"),
            Some("br")
        );
        let wire: usize = headers
            .iter()
            .map(|h| h.name().len() + h.value().len() + 4)
            .sum();
        assert_eq!(seen.bytes, wire);
        assert_eq!(HeaderAt::Absent.find(&headers, "Host"), None);
        assert_eq!(HeaderAt::Unknown.find(&headers, "host"), Some("localhost"));
        // A position that names another header falls back to the name.
        assert_eq!(
            HeaderAt::At(0).find(&headers, "Origin"),
            Some("https://shop.example")
        );
    }
}
