//! What the request fairing (`telemetry`) keeps with each request, in one
//! entry of the request's local cache: when it arrived, its method, its id
//! and the size limit it broke, if any. The id is sent back in
//! `X-Request-Id` and written in the request's log line and in any error it
//! logs: the client's own when it sent a sane one (so a front end can follow
//! its request through), else one made here. Kept apart from the fairing so
//! the error type, which the fairing uses, can name the request too.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use rocket::http::Method;
use rocket::Request;

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
    pub id: String,
    /// The size limit it broke, if any.
    pub rejected: Option<Refusal>,
    /// The path it came for, when it was refused and sent elsewhere: the log
    /// line names that one.
    pub refused_path: Option<String>,
}

/// The id for a request: the client's `X-Request-Id` if it is sane, else a
/// new one.
pub fn id_for(request: &Request<'_>) -> String {
    match request.headers().get_one("X-Request-Id") {
        Some(id) if is_sane_request_id(id) => id.to_string(),
        _ => new_request_id(),
    }
}

/// The request's context, as the fairing set it on arrival; for a request
/// that arrived without the fairing (an application built without it), one
/// made now.
pub fn context<'r>(request: &'r Request<'_>) -> &'r RequestContext {
    request.local_cache(|| RequestContext {
        started: Instant::now(),
        method: request.method(),
        id: new_request_id(),
        rejected: None,
        refused_path: None,
    })
}

/// The request's id.
pub fn request_id<'r>(request: &'r Request<'_>) -> &'r str {
    &context(request).id
}

/// An id no other request of this process has, and unlikely in another's:
/// a random prefix drawn at start-up and a counter, e.g. `3f9a1c02-27`.
/// Written by hand rather than by `format!`: this runs on every request
/// without an id of its own, cached hits included.
fn new_request_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| {
        // A fresh `RandomState` is seeded from the system's randomness.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        format!("{:08x}-", hasher.finish() as u32)
    });
    let mut counter = itoa::Buffer::new();
    let counter = counter.format(NEXT.fetch_add(1, Ordering::Relaxed));
    let mut id = String::with_capacity(prefix.len() + counter.len());
    id.push_str(prefix);
    id.push_str(counter);
    id
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

    #[test]
    fn only_sane_request_ids_are_taken() {
        for id in ["abc", "3f9a1c02-1b", "req:42/a+b=c@d_e.f"] {
            assert!(is_sane_request_id(id), "{id}");
        }
        let long = "a".repeat(MAX_REQUEST_ID + 1);
        for id in ["", "with space", "new\nline", "quote\"", "é", long.as_str()] {
            assert!(!is_sane_request_id(id), "{id:?}");
        }
        assert_ne!(new_request_id(), new_request_id());
    }
}
