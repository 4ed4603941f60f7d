//! Answers kept in memory as the bytes sent, per URL: bounded in bytes, one
//! load per key however many requests ask at once, each with a strong `ETag`
//! (a hash of the body) so clients and proxies can revalidate with
//! `If-None-Match` and get a 304. Emptied as soon as the catalog changes
//! (see `freshness`), one product's answers dropped as soon as that product
//! changes (see `changes`), and in any case after the TTL.

use std::future::Future;
use std::io::Cursor;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rustc_hash::FxBuildHasher;

use crate::config::Settings;
use crate::error::{json_content_type, ApiError, JsonBody};

/// A response body and its entity tag.
#[derive(Debug)]
pub struct CachedBody {
    /// Exactly as long as the body: a serializer's growing buffer can hold
    /// twice that, which would go unaccounted in the cache's byte budget.
    pub body: Box<[u8]>,
    /// `"<16 hex digits>"`, quotes included, as the header carries it.
    pub etag: String,
}

impl CachedBody {
    pub fn new(body: Vec<u8>) -> Self {
        let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&body));
        CachedBody {
            body: body.into_boxed_slice(),
            etag,
        }
    }

    /// Whether an `If-None-Match` header value names this body.
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == self.etag)
    }
}

/// The cache key of a request: a 128-bit hash of its path and query, so a
/// hit allocates nothing (a collision is as likely as a random 128-bit match).
pub fn request_key(path: &str, query: Option<&str>) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(path.as_bytes());
    if let Some(query) = query {
        hasher.update(b"?");
        hasher.update(query.as_bytes());
    }
    hasher.digest128()
}

/// The answers about one product that are cached, by the path that asks for
/// each (its canonical form: no query, no leading zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductAnswer {
    /// `/products/:id`
    Detail,
    /// `/products/:id/styles`
    Styles,
    /// `/products/:id/related`
    Related,
}

impl ProductAnswer {
    /// The answers a change to a product's styles, photos or skus can
    /// change. `/related` lists ids only, and the product list pages hold
    /// product fields, which no such change touches.
    pub const CHANGED_WITH_STYLES: [ProductAnswer; 2] =
        [ProductAnswer::Detail, ProductAnswer::Styles];

    fn suffix(self) -> &'static [u8] {
        match self {
            ProductAnswer::Detail => b"",
            ProductAnswer::Styles => b"/styles",
            ProductAnswer::Related => b"/related",
        }
    }
}

/// The cache key of `answer` about product `id`: the [`request_key`] of its
/// canonical path, written on the stack so a hit allocates nothing. Every
/// URL that names the product (`/products/007`, `/products/7?x=1`) shares
/// this one entry, so dropping it drops the product's answer for all.
pub fn product_key(id: i32, answer: ProductAnswer) -> u128 {
    const PREFIX: &[u8] = b"/products/";
    // The prefix, at most 11 characters of an i32, the longest suffix.
    let mut path = [0u8; 32];
    let mut digits = itoa::Buffer::new();
    let mut len = 0;
    for part in [PREFIX, digits.format(id).as_bytes(), answer.suffix()] {
        if let Some(room) = path.get_mut(len..len + part.len()) {
            room.copy_from_slice(part);
            len += part.len();
        }
    }
    xxhash_rust::xxh3::xxh3_128(&path[..len])
}

/// What an entry costs besides its body and tag: the key, the `Arc`, and
/// moka's own bookkeeping (entry info, access and write-order nodes, hash
/// table slot), measured by filling the cache with small answers and
/// reading the server's memory (docs/PERFORMANCE.md, "What made the difference").
/// Counting the real cost keeps `cache_max_mb` close to the memory the
/// cache takes.
const ENTRY_OVERHEAD: usize = 1024;

/// The answers, by `request_key`. Keys are already hashes, so the cheapest
/// mixing will do: Fx is two multiplications, the default SipHash a few
/// hundred instructions on every hit.
type Entries = Cache<u128, Arc<CachedBody>, FxBuildHasher>;

/// The in-process response cache (or its absence, when disabled).
pub struct ResponseCache {
    entries: Option<Entries>,
    cache_control: &'static str,
    /// Entries dropped so far, counted before each drop: a load that saw it
    /// change may have read the rows from before the change that dropped
    /// its entry, and drops what it stored (see `get_or_load`).
    drops: AtomicU64,
}

impl ResponseCache {
    /// A cache as `settings` describe it.
    pub fn new(settings: &Settings) -> Self {
        let entries = settings.cache_enabled.then(|| {
            Cache::builder()
                .max_capacity(settings.cache_max_mb * 1024 * 1024)
                .weigher(|_: &u128, value: &Arc<CachedBody>| {
                    let bytes = ENTRY_OVERHEAD + value.body.len() + value.etag.len();
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .time_to_live(Duration::from_secs(settings.cache_ttl_seconds))
                .build_with_hasher(FxBuildHasher)
        });
        let cache_control = if entries.is_some() {
            format!("public, max-age={}", settings.cache_ttl_seconds)
        } else {
            "no-cache".to_string()
        };
        ResponseCache {
            entries,
            // Sent on every answer: made once and kept for the life of the
            // process rather than formatted per response.
            cache_control: Box::leak(cache_control.into_boxed_str()),
            drops: AtomicU64::new(0),
        }
    }

    /// The answer for `key`, from the cache or from `load` (run once for all
    /// the requests waiting on the same key). Errors are not cached.
    pub async fn get_or_load<F>(&self, key: u128, load: F) -> Result<Arc<CachedBody>, ApiError>
    where
        F: Future<Output = Result<JsonBody, ApiError>>,
    {
        let load = async { load.await.map(|body| Arc::new(CachedBody::new(body.0))) };
        let Some(entries) = &self.entries else {
            return load.await;
        };
        if let Some(hit) = entries.get(&key).await {
            return Ok(hit);
        }
        let drops = self.drops.load(Ordering::Acquire);
        let loaded = load_once(entries, key, load).await;
        if self.drops.load(Ordering::Acquire) != drops {
            // Something was dropped while this loaded: perhaps this very
            // entry, for a change committed after its rows were read. Its
            // answer goes to the requests that waited for it, and is not
            // kept for the next ones.
            entries.invalidate(&key).await;
        }
        loaded.map_err(|e| (*e).clone())
    }

    /// Forgets every answer (the catalog changed).
    pub fn clear(&self) {
        if let Some(entries) = &self.entries {
            self.drops.fetch_add(1, Ordering::AcqRel);
            entries.invalidate_all();
        }
    }

    /// Forgets the answers under `keys` (what they answer changed).
    pub async fn forget(&self, keys: &[u128]) {
        if let Some(entries) = &self.entries {
            self.drops.fetch_add(1, Ordering::AcqRel);
            for key in keys {
                entries.invalidate(key).await;
            }
        }
    }

    /// Forgets product `id`'s answers that a change to its styles, photos or
    /// skus can change.
    pub async fn forget_product(&self, id: i32) {
        self.forget(&ProductAnswer::CHANGED_WITH_STYLES.map(|answer| product_key(id, answer)))
            .await;
    }

    /// `Cache-Control` for answers: shared caches may keep them as long as
    /// this one does.
    pub fn cache_control(&self) -> &'static str {
        self.cache_control
    }
}

/// Loads `key` once for all the requests that miss it together. Boxed, and
/// out of `get_or_load`'s body: moka's loading future is ~3 KB, which every
/// request's future (hits included) would otherwise carry and copy, where a
/// hit needs only `get`'s.
fn load_once<'a, F>(
    entries: &'a Entries,
    key: u128,
    load: F,
) -> Pin<Box<impl Future<Output = Result<Arc<CachedBody>, Arc<ApiError>>> + 'a>>
where
    F: Future<Output = Result<Arc<CachedBody>, ApiError>> + 'a,
{
    Box::pin(entries.try_get_with(key, load))
}

/// The response built from a cache entry: a 200 with its body, or a 304
/// when the client already has it.
pub struct CachedResponse {
    pub body: Arc<CachedBody>,
    pub not_modified: bool,
    pub cache_control: &'static str,
}

struct Bytes(Arc<CachedBody>);

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0.body
    }
}

impl<'r> Responder<'r, 'static> for CachedResponse {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response
            .header(Header::new("ETag", self.body.etag.clone()))
            .header(Header::new("Cache-Control", self.cache_control));
        if self.not_modified {
            response.status(Status::NotModified);
        } else {
            let len = self.body.body.len();
            // The body is in memory already: it goes to hyper as one chunk,
            // not in Rocket's default 4 KB pieces, each a task hand-off and a
            // `writev` of its own. (After `sized_body`, which resets it.)
            response
                .header(json_content_type())
                .sized_body(len, Cursor::new(Bytes(self.body)))
                .max_chunk_size(len.max(1));
        }
        response.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_key_is_the_key_of_its_canonical_path() {
        for id in [1, 7, 42, 1_000_011, i32::MAX, i32::MIN] {
            for (answer, suffix) in [
                (ProductAnswer::Detail, ""),
                (ProductAnswer::Styles, "/styles"),
                (ProductAnswer::Related, "/related"),
            ] {
                assert_eq!(
                    product_key(id, answer),
                    request_key(&format!("/products/{id}{suffix}"), None),
                    "{id}{suffix}"
                );
            }
        }
    }
}
