//! Answers kept in memory as the bytes sent, per URL (per parsed page,
//! product or search, so spellings of one share it): bounded in bytes, one
//! load per key however many requests ask at once, each with a strong `ETag`
//! (a hash of the body) so clients and proxies can revalidate with
//! `If-None-Match` and get a 304. Emptied as soon as the catalog changes
//! (see `http::watcher`), one product's answers dropped as soon as that product
//! changes (see `changes`); fresh for the TTL, and after it still served,
//! marked stale, while the database cannot answer. An answer of 1 KB or more
//! is compressed for the clients that ask (see `compression`), once per
//! encoding, and the encoded bytes are kept with it.

use std::future::Future;
use std::io::Cursor;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::{CompResult, Op};
use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rustc_hash::FxBuildHasher;

use crate::catalog::queries::Page;
use crate::config::Settings;
use crate::http::compression::{self, Encoding};
use crate::http::error::{json_content_type, ApiError, JsonBody};
use crate::http::expires;
use crate::metrics::CacheMetrics;

/// A response body, its entity tag, and its compressed forms once asked for.
#[derive(Debug)]
pub struct CachedBody {
    /// Exactly as long as the body: a serializer's growing buffer can hold
    /// twice that, which would go unaccounted in the cache's byte budget.
    pub body: Box<[u8]>,
    /// `"<16 hex digits>"`, quotes included, as the header carries it.
    pub etag: String,
    /// When it was loaded, for `Age`.
    loaded: Instant,
    /// Until when it is fresh; after, it is served only when the database
    /// cannot answer.
    fresh_until: Instant,
    gzip: OnceLock<Option<Encoded>>,
    brotli: OnceLock<Option<Encoded>>,
    /// Whether a request is loading a fresh answer in its place (past its
    /// TTL): the others are answered with this one meanwhile.
    reloading: AtomicBool,
    /// Headers of this answer's own, sent with it (a search's correction,
    /// estimated counts); none for most.
    headers: Box<[(&'static str, Box<str>)]>,
}

/// A compressed form of a body, with its own entity tag (the body's with the
/// encoding's name): a cache must not answer one encoding's bytes for
/// another's validator.
#[derive(Debug)]
pub struct Encoded {
    /// The compressed bytes.
    pub body: Box<[u8]>,
    /// `"<the body's 16 hex digits>-<encoding>"`.
    pub etag: String,
}

impl CachedBody {
    /// `body`, fresh for `ttl` from now.
    pub fn new(body: Vec<u8>, ttl: Duration) -> Self {
        CachedBody::with_headers(body, Vec::new(), ttl)
    }

    /// `body` and headers of its own, fresh for `ttl` from now.
    pub fn with_headers(
        body: Vec<u8>,
        headers: Vec<(&'static str, String)>,
        ttl: Duration,
    ) -> Self {
        let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&body));
        let loaded = Instant::now();
        CachedBody {
            body: body.into_boxed_slice(),
            etag,
            loaded,
            fresh_until: loaded + ttl,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
            reloading: AtomicBool::new(false),
            headers: headers
                .into_iter()
                .map(|(name, value)| (name, value.into_boxed_str()))
                .collect(),
        }
    }

    /// Whether the body is large enough to be sent compressed, so that the
    /// answer varies with `Accept-Encoding`.
    pub fn compressible(&self) -> bool {
        self.body.len() >= compression::MIN_BYTES
    }

    fn is_fresh(&self, now: Instant) -> bool {
        now < self.fresh_until
    }

    /// The body in `encoding`, compressed on first use; `None` for identity,
    /// a body too small to compress, or one that compression does not make
    /// smaller. `true` with it when this call compressed it.
    fn encoded(&self, encoding: Encoding) -> (Option<&Encoded>, bool) {
        let slot = match encoding {
            Encoding::Identity => return (None, false),
            _ if !self.compressible() => return (None, false),
            Encoding::Gzip => &self.gzip,
            Encoding::Brotli => &self.brotli,
        };
        let mut compressed_now = false;
        let encoded = slot.get_or_init(|| {
            compressed_now = true;
            compression::compress(encoding, &self.body)
                .filter(|bytes| bytes.len() < self.body.len())
                .map(|bytes| Encoded {
                    body: bytes.into_boxed_slice(),
                    etag: format!("{}-{}\"", &self.etag[..17], encoding.token()),
                })
        });
        (encoded.as_ref(), compressed_now)
    }

    /// Bytes held, compressed forms included.
    fn weight(&self) -> usize {
        let encoded = |slot: &OnceLock<Option<Encoded>>| {
            slot.get()
                .and_then(Option::as_ref)
                .map_or(0, |e| e.body.len() + e.etag.len())
        };
        let headers: usize = self.headers.iter().map(|(_, value)| value.len()).sum();
        self.body.len() + self.etag.len() + encoded(&self.gzip) + encoded(&self.brotli) + headers
    }

    /// Whether an `If-None-Match` header value names this body, in any of
    /// its encodings: they are one representation's forms.
    pub fn matches(&self, if_none_match: &str) -> bool {
        // The 16 hex digits between the quotes.
        let digits = &self.etag[1..17];
        if_none_match.split(',').map(str::trim).any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*"
                || tag
                    .strip_prefix('"')
                    .and_then(|t| t.strip_prefix(digits))
                    .is_some_and(|rest| {
                        rest == "\""
                            || rest
                                .strip_prefix('-')
                                .and_then(|r| r.strip_suffix('"'))
                                .is_some_and(|token| Encoding::from_token(token).is_some())
                    })
        })
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

/// The cache key of a page of the product list: the [`request_key`] of its
/// canonical URL (`/products?page=P&count=C`), so every URL that asks for
/// the same page (`?page=01`, `?count=5&x=1`, no parameters) shares one
/// entry, and what a client adds to the query string makes no new one.
pub fn page_key(page: Page) -> u128 {
    let mut page_digits = itoa::Buffer::new();
    let mut count_digits = itoa::Buffer::new();
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in [
        b"/products?page=".as_slice(),
        page_digits.format(page.page).as_bytes(),
        b"&count=",
        count_digits.format(page.count).as_bytes(),
    ] {
        hasher.update(part);
    }
    hasher.digest128()
}

/// The cache key of a search answer (`/products` with a query or filters,
/// `/categories`): `path`, the parsed input as its parser writes it (the
/// words of `q` in normal form, the categories sorted, the price bounds)
/// and the page. Spellings of one search share one entry, and no URL's
/// [`request_key`] is one of these (they begin with a space, not a path).
pub fn search_key(path: &str, input: &[u8], page: Option<Page>) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(b" search ");
    hasher.update(path.as_bytes());
    hasher.update(&(input.len() as u64).to_le_bytes());
    hasher.update(input);
    if let Some(page) = page {
        hasher.update(&page.page.to_le_bytes());
        hasher.update(&page.count.to_le_bytes());
    }
    hasher.digest128()
}

/// What a load gives the cache: a body, and headers of the answer's own
/// for the few that have them.
pub trait Loaded {
    /// The body and the headers.
    fn into_parts(self) -> (Vec<u8>, Vec<(&'static str, String)>);
}

impl Loaded for JsonBody {
    fn into_parts(self) -> (Vec<u8>, Vec<(&'static str, String)>) {
        (self.0, Vec::new())
    }
}

/// A body with headers of its own (name, value).
pub struct WithHeaders(pub JsonBody, pub Vec<(&'static str, String)>);

impl Loaded for WithHeaders {
    fn into_parts(self) -> (Vec<u8>, Vec<(&'static str, String)>) {
        (self.0 .0, self.1)
    }
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

/// An answer, and whether it is past its TTL (served because the database
/// could not give a fresh one).
pub struct Answer {
    /// The body and its forms.
    pub body: Arc<CachedBody>,
    /// Past its TTL: sent with `Age` and a `Warning`.
    pub stale: bool,
}

/// The in-process response cache (or its absence, when disabled).
///
/// Serving stale answers: moka has no stale-while-error of its own, so each
/// entry is kept by moka for the TTL plus `cache_stale_seconds` (its hard
/// TTL) and carries its own end of freshness (the TTL). A hit past that is
/// loaded again by one request, while the others get the old answer, marked
/// stale (stale-while-revalidate); when that load answers 503, the old
/// answer is what it gets too, and stays until a load succeeds. One map rather
/// than a second one of last-known answers: a hit still costs one lookup,
/// and the byte budget covers the stale answers too, which the fresh ones
/// push out first as they are read less.
pub struct ResponseCache {
    entries: Option<Entries>,
    ttl: Duration,
    cache_control: &'static str,
    /// Whether answers carry `X-Accel-Expires` (see `expires`): set, and the
    /// cache on; without it they say `no-cache`, which nginx obeys.
    nginx_expires: bool,
    /// Entries dropped so far, counted before each drop: a load that saw it
    /// change may have read the rows from before the change that dropped
    /// its entry, and drops what it stored (see `get_or_load`).
    drops: AtomicU64,
    metrics: CacheMetrics,
}

impl ResponseCache {
    /// A cache as `settings` describe it, counting into `metrics`.
    pub fn new(settings: &Settings, metrics: CacheMetrics) -> Self {
        let ttl = Duration::from_secs(settings.cache_ttl_seconds);
        let evictions = metrics.evictions.clone();
        let entries = settings.cache_enabled.then(|| {
            Cache::builder()
                .max_capacity(settings.cache_max_mb * 1024 * 1024)
                .weigher(|_: &u128, value: &Arc<CachedBody>| {
                    u32::try_from(ENTRY_OVERHEAD + value.weight()).unwrap_or(u32::MAX)
                })
                .time_to_live(ttl + Duration::from_secs(settings.cache_stale_seconds))
                .eviction_listener(move |_, _, cause| {
                    let cause = match cause {
                        RemovalCause::Size => "size",
                        RemovalCause::Expired => "expired",
                        RemovalCause::Explicit => "cleared",
                        // A reload, or a compressed form weighed in: the
                        // answer is still there.
                        RemovalCause::Replaced => return,
                    };
                    evictions.with_label_values(&[cause]).inc();
                })
                .build_with_hasher(FxBuildHasher)
        });
        let cache_control = if entries.is_some() {
            format!("public, max-age={}", settings.cache_ttl_seconds)
        } else {
            "no-cache".to_string()
        };
        ResponseCache {
            entries,
            ttl: if settings.cache_enabled {
                ttl
            } else {
                Duration::ZERO
            },
            // Sent on every answer: made once and kept for the life of the
            // process rather than formatted per response.
            cache_control: Box::leak(cache_control.into_boxed_str()),
            nginx_expires: settings.nginx_expires && settings.cache_enabled,
            drops: AtomicU64::new(0),
            metrics,
        }
    }

    /// The answer for `key`: from the cache while fresh, else from `load`
    /// (run once for all the requests waiting on the same key); a stale one
    /// when `load` answers 503 and the cache still has one. Errors are not
    /// cached.
    pub async fn get_or_load<F, B>(&self, key: u128, load: F) -> Result<Answer, ApiError>
    where
        F: Future<Output = Result<B, ApiError>>,
        B: Loaded,
    {
        let ttl = self.ttl;
        let load = async move {
            load.await.map(|loaded| {
                let (body, headers) = loaded.into_parts();
                Arc::new(CachedBody::with_headers(body, headers, ttl))
            })
        };
        let Some(entries) = &self.entries else {
            return load.await.map(|body| Answer { body, stale: false });
        };
        if let Some(hit) = entries.get(&key).await {
            if hit.is_fresh(Instant::now()) {
                self.metrics.hits.inc();
                return Ok(Answer {
                    body: hit,
                    stale: false,
                });
            }
            // One request reloads; the others get this answer, stale,
            // rather than wait in line behind a database that may be slow
            // to answer or not answer at all.
            if hit.reloading.swap(true, Ordering::AcqRel) {
                self.metrics.stale_hits.inc();
                return Ok(Answer {
                    body: hit,
                    stale: true,
                });
            }
            let _reloading = Reloading(Arc::clone(&hit));
            return self.reload(entries, key, load).await;
        }
        self.metrics.misses.inc();
        let drops = self.drops.load(Ordering::Acquire);
        let loaded = load_once(entries, key, load).await;
        self.keep_unless_dropped(entries, key, drops).await;
        loaded
            .map(|body| Answer { body, stale: false })
            .map_err(|e| (*e).clone())
    }

    /// After a load that began when `drops` entries had been dropped: if
    /// any was dropped since, perhaps this very one for a change committed
    /// after its rows were read, its answer goes to the requests that
    /// waited for it and is not kept for the next ones.
    async fn keep_unless_dropped(&self, entries: &Entries, key: u128, drops: u64) {
        if self.drops.load(Ordering::Acquire) != drops {
            entries.invalidate(&key).await;
        }
    }

    /// Loads an answer past its TTL again (`and_compute_with`, so it cannot
    /// overwrite a newer one); keeps and returns the old one, stale, when the
    /// database cannot answer.
    async fn reload<F>(&self, entries: &Entries, key: u128, load: F) -> Result<Answer, ApiError>
    where
        F: Future<Output = Result<Arc<CachedBody>, ApiError>>,
    {
        let mut failed = None;
        let drops = self.drops.load(Ordering::Acquire);
        let outcome = reload_once(entries, key, load, &mut failed).await;
        self.keep_unless_dropped(entries, key, drops).await;
        let answer = |entry: moka::Entry<u128, Arc<CachedBody>>| {
            let body = entry.into_value();
            let stale = !body.is_fresh(Instant::now());
            if stale {
                self.metrics.stale_hits.inc();
            } else {
                self.metrics.misses.inc();
            }
            Answer { body, stale }
        };
        match (outcome, failed) {
            (CompResult::Removed(_) | CompResult::StillNone(_), Some(error)) => Err(error),
            (CompResult::StillNone(_), None) => Err(ApiError::Unavailable),
            (outcome, _) => outcome
                .into_entry()
                .map(answer)
                .ok_or(ApiError::Unavailable),
        }
    }

    /// The body of `answer` in `encoding` (`None`: send it as it is). A
    /// compression done now is counted, and a cached answer weighed again
    /// with its new form, unless a newer answer replaced it meanwhile.
    pub async fn encoded<'a>(
        &self,
        key: u128,
        answer: &'a Arc<CachedBody>,
        encoding: Encoding,
    ) -> Option<&'a Encoded> {
        let (encoded, compressed_now) = answer.encoded(encoding);
        if compressed_now && encoded.is_some() {
            self.metrics
                .compressions
                .with_label_values(&[encoding.token()])
                .inc();
            if let Some(entries) = &self.entries {
                let same = Arc::clone(answer);
                entries
                    .entry(key)
                    .and_compute_with(|current| async move {
                        match current {
                            Some(entry) if Arc::ptr_eq(entry.value(), &same) => Op::Put(same),
                            _ => Op::Nop,
                        }
                    })
                    .await;
            }
        }
        encoded
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

    /// Whether answers tell nginx to keep them only until the end of the
    /// current second (see `expires`).
    pub fn nginx_expires(&self) -> bool {
        self.nginx_expires
    }

    /// Bytes the entries are counted as taking, and how many there are.
    pub fn size(&self) -> (u64, u64) {
        self.entries.as_ref().map_or((0, 0), |entries| {
            (entries.weighted_size(), entries.entry_count())
        })
    }
}

/// Marks the end of a reload, whatever ends it (a request whose future is
/// dropped included), so the next request past the TTL tries again.
struct Reloading(Arc<CachedBody>);

impl Drop for Reloading {
    fn drop(&mut self) {
        self.0.reloading.store(false, Ordering::Release);
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

/// Replaces the answer of `key` by what `load` gives, unless a request ahead
/// in the key's queue already did; keeps it when `load` answers 503; drops
/// it on any other error, which goes to `failed`. Boxed for the reason
/// `load_once` is.
fn reload_once<'a, F>(
    entries: &'a Entries,
    key: u128,
    load: F,
    failed: &'a mut Option<ApiError>,
) -> Pin<Box<impl Future<Output = CompResult<u128, Arc<CachedBody>>> + 'a>>
where
    F: Future<Output = Result<Arc<CachedBody>, ApiError>> + 'a,
{
    Box::pin(
        entries
            .entry(key)
            .and_compute_with(move |current| async move {
                if current
                    .as_ref()
                    .is_some_and(|entry| entry.value().is_fresh(Instant::now()))
                {
                    return Op::Nop;
                }
                match load.await {
                    Ok(body) => Op::Put(body),
                    Err(ApiError::Unavailable) => {
                        *failed = Some(ApiError::Unavailable);
                        Op::Nop
                    }
                    Err(error) => {
                        *failed = Some(error);
                        Op::Remove
                    }
                }
            }),
    )
}

/// The response built from a cache entry: a 200 with its body in the
/// encoding negotiated, or a 304 when the client already has it.
pub struct CachedResponse {
    /// What is sent.
    pub answer: Answer,
    /// The encoding negotiated: identity unless the body was compressed.
    pub encoding: Encoding,
    /// The client's `If-None-Match` names it: a 304.
    pub not_modified: bool,
    /// The `Cache-Control` value (see `ResponseCache::cache_control`).
    pub cache_control: &'static str,
    /// Send `X-Accel-Expires` (see `ResponseCache::nginx_expires`), on the
    /// 304 too: nginx takes a revalidated answer's expiry from the 304, and
    /// without one would keep it for the `Cache-Control` max-age.
    pub nginx_expires: bool,
}

/// The bytes sent: the body or one of its compressed forms.
struct Bytes(Arc<CachedBody>, Encoding);

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        match self.0.encoded(self.1).0 {
            Some(encoded) => &encoded.body,
            None => &self.0.body,
        }
    }
}

impl<'r> Responder<'r, 'static> for CachedResponse {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = self.answer.body;
        // Compressed already (by `ResponseCache::encoded`): only read here.
        let encoded = body.encoded(self.encoding).0;
        let etag = encoded.map_or(&body.etag, |e| &e.etag);
        let mut response = Response::build();
        response
            .header(Header::new("ETag", etag.clone()))
            .header(Header::new("Cache-Control", self.cache_control));
        if self.nginx_expires {
            response.header(Header::new(
                expires::X_ACCEL_EXPIRES,
                expires::end_of_this_second(),
            ));
        }
        if body.compressible() {
            response.header(Header::new("Vary", "Accept-Encoding"));
        }
        if encoded.is_some() {
            response.header(Header::new("Content-Encoding", self.encoding.token()));
        }
        for (name, value) in body.headers.iter() {
            response.header(Header::new(*name, value.to_string()));
        }
        if self.answer.stale {
            response
                .header(Header::new(
                    "Age",
                    body.loaded.elapsed().as_secs().to_string(),
                ))
                .header(Header::new("Warning", "110 - \"Response is Stale\""));
        }
        if self.not_modified {
            response.status(Status::NotModified);
        } else {
            let len = encoded.map_or(body.body.len(), |e| e.body.len());
            // The body is in memory already: it goes to hyper as one chunk,
            // not in Rocket's default 4 KB pieces, each a task hand-off and a
            // `writev` of its own. (After `sized_body`, which resets it.)
            response
                .header(json_content_type())
                .sized_body(len, Cursor::new(Bytes(Arc::clone(&body), self.encoding)))
                .max_chunk_size(len.max(1));
        }
        response.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_key_is_the_key_of_its_canonical_url() {
        assert_eq!(
            page_key(Page { page: 12, count: 5 }),
            request_key("/products", Some("page=12&count=5"))
        );
        assert_ne!(
            page_key(Page { page: 1, count: 25 }),
            page_key(Page { page: 12, count: 5 })
        );
    }

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
