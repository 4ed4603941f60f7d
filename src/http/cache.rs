//! Answers kept in memory as the bytes sent, per URL (per parsed page,
//! product or search, so spellings of one share it): bounded in bytes, one
//! load per key however many requests ask at once (a product's answers: one
//! fetch, which the dispatcher shares; see `OneLoad`), each with a strong `ETag`
//! (a hash of the body) so clients and proxies can revalidate with
//! `If-None-Match` and get a 304. Emptied as soon as the catalog changes
//! (see `http::watcher`), one product's answers dropped as soon as that product
//! changes (see `changes`); fresh for the TTL, and after it still served,
//! marked stale, while the database cannot answer. An answer of 1 KB or more
//! is compressed for the clients that ask (see `compression`), once per
//! encoding, and the encoded bytes are kept with it. Each thread remembers
//! the last few answers it found (see [`Recent`]), so a hot answer is found
//! there before moka is asked.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::{CompResult, Op};
use moka::policy::EvictionPolicy;
use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::tokio::sync::{mpsc, oneshot};
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
    /// Whether it went into the cache: one that did not is weighed again
    /// with a compressed form by no one.
    kept: AtomicBool,
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

/// `"` + `n`'s 16 hex digits + `"`, as `format!("\"{n:016x}\"")` writes it,
/// without the formatting machinery: an answer made on every request (see
/// `catalog::related`) makes a tag each time.
fn quoted_hex(n: u64) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut tag = String::with_capacity(18);
    tag.push('"');
    for shift in (0..16).rev() {
        tag.push(char::from(DIGITS[(n >> (shift * 4)) as usize & 15]));
    }
    tag.push('"');
    tag
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
        let etag = quoted_hex(xxhash_rust::xxh3::xxh3_64(&body));
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
            kept: AtomicBool::new(false),
        }
    }

    /// A copy of this answer, for the cache to keep, allocated by the
    /// calling thread (see [`Keeper`]); its compressed forms are made again
    /// when first asked for.
    fn kept_copy(&self) -> CachedBody {
        CachedBody {
            body: self.body.clone(),
            etag: self.etag.clone(),
            loaded: self.loaded,
            fresh_until: self.fresh_until,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
            reloading: AtomicBool::new(false),
            headers: self.headers.clone(),
            kept: AtomicBool::new(true),
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

/// The share of the byte budget (one part in this many) that must be free
/// for a new answer to get in without the doorkeeper's say (see
/// [`ResponseCache::admit`]).
const ADMISSION_MARGIN: u64 = 32;

/// The answers a thread found in the cache lately, one per slot, by key:
/// the thread's next request for one of them is answered from here: an
/// index, four comparisons and a reference count, where moka's lookup
/// walks its hash table, logs the read in a queue both workers write, and
/// stamps the entry's access time.
///
/// A slot serves its answer only while the answer is fresh and nothing was
/// dropped from the cache since it was found there (`ResponseCache::drops`,
/// which every change to the catalog moves): it is never older than what
/// moka would have answered. moka does not see these reads, so its
/// recency order counts a hot answer once per thread and TTL; when it
/// evicts one still here, the slot serves it until the TTL ends, as moka
/// would have, had it kept it. Only small answers are kept in a slot, so
/// what the slots keep alive beyond the cache's budget stays small.
struct Recent {
    slots: [Option<RecentAnswer>; RECENT_SLOTS],
}

/// Slots per thread: a power of two.
const RECENT_SLOTS: usize = 64;

/// The largest body a slot keeps: the slots of one thread keep alive at
/// most `RECENT_SLOTS` times this, whatever the cache evicts.
const RECENT_MAX_BYTES: usize = 32 * 1024;

/// One slot's answer: whose and under which key, and the count of drops
/// when it was found in the cache.
struct RecentAnswer {
    cache: u64,
    key: u128,
    drops: u64,
    body: Arc<CachedBody>,
}

thread_local! {
    static RECENT: std::cell::RefCell<Recent> = const {
        std::cell::RefCell::new(Recent {
            slots: [const { None }; RECENT_SLOTS],
        })
    };
}

impl Recent {
    /// The slot of `key`: keys are hashes already, so their low bits will do.
    fn slot(key: u128) -> usize {
        (key as usize) & (RECENT_SLOTS - 1)
    }

    /// This thread's answer for `key` of cache `cache`, if it was found
    /// when `drops` entries had been dropped, as now, and is still fresh
    /// (the clock read only then: a miss does not pay for it).
    fn find(cache: u64, key: u128, drops: u64) -> Option<Arc<CachedBody>> {
        RECENT
            .try_with(|recent| {
                let recent = recent.try_borrow().ok()?;
                let answer = recent.slots[Self::slot(key)].as_ref()?;
                (answer.cache == cache
                    && answer.key == key
                    && answer.drops == drops
                    && answer.body.is_fresh(Instant::now()))
                .then(|| Arc::clone(&answer.body))
            })
            .ok()
            .flatten()
    }

    /// Keeps `body`, found in cache `cache` under `key` when `drops`
    /// entries had been dropped, in its slot on this thread, if it is small.
    fn keep(cache: u64, key: u128, drops: u64, body: &Arc<CachedBody>) {
        if body.body.len() > RECENT_MAX_BYTES {
            return;
        }
        // A thread being torn down keeps nothing; nor does a borrow that
        // cannot be had (none is held across this call).
        let _ = RECENT.try_with(|recent| {
            if let Ok(mut recent) = recent.try_borrow_mut() {
                recent.slots[Self::slot(key)] = Some(RecentAnswer {
                    cache,
                    key,
                    drops,
                    body: Arc::clone(body),
                });
            }
        });
    }
}

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

/// What makes the requests that miss one key at once cost one load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OneLoad {
    /// The cache: the first request loads, the others wait for its answer
    /// (a map of the keys being loaded, shared by every worker).
    Here,
    /// The load itself, which joins a fetch of the same rows already in
    /// flight (the dispatcher's lookups by id): each request renders its own
    /// answer from that one fetch, and no shared map is written on a miss.
    Downstream,
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
    /// Tells this cache's answers apart from another's in a thread's
    /// [`Recent`] slots (tests build many caches in one process).
    id: u64,
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
    /// The keys being loaded now, with the requests waiting for each load.
    loading: Loading,
    /// The byte budget, and which new answers are worth a place in it once
    /// it is spent (see [`ResponseCache::admit`]).
    max_bytes: u64,
    doorkeeper: Doorkeeper,
    /// Which keys may have an entry: a lookup for one that cannot is a
    /// miss without asking moka (see [`Presence`]).
    presence: Arc<Presence>,
    /// The thread that puts new answers into the cache (none if it could
    /// not be started: requests then put them there themselves).
    keeper: Option<Keeper>,
    metrics: CacheMetrics,
}

impl ResponseCache {
    /// A cache as `settings` describe it, counting into `metrics`.
    pub fn new(settings: &Settings, metrics: CacheMetrics) -> Self {
        let ttl = Duration::from_secs(settings.cache_ttl_seconds);
        let evictions = metrics.evictions.clone();
        let max_bytes = settings.cache_max_mb * 1024 * 1024;
        let most_entries = if settings.cache_enabled {
            max_bytes / ENTRY_OVERHEAD as u64
        } else {
            0
        };
        let presence = Arc::new(Presence::new(most_entries));
        let (added, removed) = (Arc::clone(&presence), Arc::clone(&presence));
        let entries = settings.cache_enabled.then(|| {
            Cache::builder()
                .max_capacity(max_bytes)
                // The doorkeeper (`admit`) decides what gets in; TinyLFU's
                // admission would second-guess it with a sketch fed only by
                // the lookups `Presence` lets through, and turn away new
                // answers that miss often but are never looked up in moka.
                .eviction_policy(EvictionPolicy::lru())
                // moka weighs each entry once, as it goes in (whichever call
                // puts it there): where `Presence` counts it in.
                .weigher(move |key: &u128, value: &Arc<CachedBody>| {
                    added.added(*key);
                    u32::try_from(ENTRY_OVERHEAD + value.weight()).unwrap_or(u32::MAX)
                })
                .time_to_live(ttl + Duration::from_secs(settings.cache_stale_seconds))
                .eviction_listener(move |key: Arc<u128>, _, cause| {
                    removed.removed(*key);
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
        let keeper = entries
            .as_ref()
            .and_then(|entries| Keeper::start(entries.clone()));
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        ResponseCache {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
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
            keeper,
            loading: Loading::default(),
            max_bytes,
            doorkeeper: Doorkeeper::new(most_entries),
            presence,
            metrics,
        }
    }

    /// The answer for `key`: from the cache while fresh, else from the
    /// future `load` makes (one load for all the requests missing the same
    /// key at once, made so as `one_load` says); a stale one when that load
    /// answers 503 and the cache still has one. Errors are not cached.
    pub async fn get_or_load<L, F, B>(
        &self,
        key: u128,
        one_load: OneLoad,
        load: L,
    ) -> Result<Answer, ApiError>
    where
        L: FnOnce() -> F,
        F: Future<Output = Result<B, ApiError>>,
        B: Loaded,
    {
        let ttl = self.ttl;
        // Made only when it is needed, and boxed: a whole lookup's future,
        // which this future would otherwise hold, and every request (hits
        // included) allocate and copy with it.
        let load = move || {
            Box::pin(async move {
                load().await.map(|loaded| {
                    let (body, headers) = loaded.into_parts();
                    Arc::new(CachedBody::with_headers(body, headers, ttl))
                })
            })
        };
        let Some(entries) = &self.entries else {
            return load().await.map(|body| Answer { body, stale: false });
        };
        // Read before the lookup: a drop after it makes the answer found
        // unfit for this thread's slot.
        let drops = self.drops.load(Ordering::Acquire);
        if let Some(body) = Recent::find(self.id, key, drops) {
            self.metrics.hits.inc();
            return Ok(Answer { body, stale: false });
        }
        let hit = if self.presence.may_hold(key) {
            entries.get(&key).await
        } else {
            None
        };
        if let Some(hit) = hit {
            if hit.is_fresh(Instant::now()) {
                self.metrics.hits.inc();
                Recent::keep(self.id, key, drops, &hit);
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
            // Boxed: a reload is rare (once a TTL at most), and its future
            // large; every request's future would carry it.
            return Box::pin(self.reload(entries, key, load())).await;
        }
        self.metrics.misses.inc();
        let loaded = match one_load {
            OneLoad::Here => self.load_missing(entries, key, load()).await,
            // Not boxed as `load_missing` is: the load is boxed already,
            // and so is the insertion, whose future is large.
            OneLoad::Downstream => self.load_and_keep(entries, key, load()).await,
        };
        loaded.map(|body| Answer { body, stale: false })
    }

    /// The answer `load` gives, made now and not kept: for answers cheaper
    /// to make than to look up (see `catalog::related`). Sent as a cached
    /// one is, with its tag and `Cache-Control`.
    pub async fn made_now<F, B>(&self, load: F) -> Result<Answer, ApiError>
    where
        F: Future<Output = Result<B, ApiError>>,
        B: Loaded,
    {
        let (body, headers) = load.await?.into_parts();
        Ok(Answer {
            body: Arc::new(CachedBody::with_headers(body, headers, self.ttl)),
            stale: false,
        })
    }

    /// Loads `key`, missing from the cache, once for all the requests that
    /// miss it together, and keeps the answer if [`ResponseCache::admit`]
    /// lets it in. Boxed, and out of `get_or_load`'s body: the load's future
    /// is a whole lookup's, which every request's future (hits included)
    /// would otherwise carry and copy, where a hit needs only `get`'s.
    fn load_missing<'a, F>(
        &'a self,
        entries: &'a Entries,
        key: u128,
        load: F,
    ) -> Pin<Box<impl Future<Output = Result<Arc<CachedBody>, ApiError>> + 'a>>
    where
        F: Future<Output = Result<Arc<CachedBody>, ApiError>> + 'a,
    {
        Box::pin(async move {
            loop {
                let lead = match self.loading.join(key) {
                    Joined::Lead(lead) => lead,
                    Joined::Wait(answer) => match answer.await {
                        Ok(answer) => return answer,
                        // The request loading it went away (its client
                        // did): the answer may be kept by now, or this
                        // request loads it.
                        Err(_) => match entries.get(&key).await {
                            Some(hit) if hit.is_fresh(Instant::now()) => return Ok(hit),
                            _ => continue,
                        },
                    },
                };
                let loaded = self.load_and_keep(entries, key, load).await;
                lead.answer(&loaded);
                return loaded;
            }
        })
    }

    /// What `load` gives for `key`, kept if [`ResponseCache::admit`] lets it
    /// in and no entry was dropped while it loaded: the dropped one may be
    /// this very one, for a change committed after its rows were read, and
    /// its answer then goes to the requests that asked, not to the next ones.
    async fn load_and_keep<F>(&self, entries: &Entries, key: u128, load: F) -> LoadResult
    where
        F: Future<Output = LoadResult>,
    {
        let drops = self.drops.load(Ordering::Acquire);
        let loaded = load.await;
        if let Ok(body) = &loaded {
            if self.drops.load(Ordering::Acquire) == drops && self.admit(key, body) {
                // Boxed: moka's insertion is a large future, which every
                // request's future (hits included) would otherwise carry,
                // for the few answers let in.
                Box::pin(async move {
                    match self.keeper.as_ref().and_then(|k| k.keep(key, body)) {
                        // Kept (or the keeper gone) by the time the answer
                        // is sent: the next request for it finds it.
                        Some(kept) => {
                            let _ = kept.await;
                        }
                        None => {
                            body.kept.store(true, Ordering::Relaxed);
                            entries.insert(key, Arc::clone(body)).await;
                        }
                    }
                    self.keep_unless_dropped(entries, key, drops).await;
                })
                .await;
            }
        }
        loaded
    }

    /// Whether a new answer gets a place in the cache: always while the
    /// byte budget has room; once it is spent, only the answer of a key
    /// missed before, lately (TinyLFU's doorkeeper); moka then evicts the
    /// least recently used. moka's own admission (TinyLFU) would turn most
    /// answers asked for once away too, but only after inserting each one,
    /// queueing the insertion for its housekeeping, comparing it with a
    /// victim and removing it again, on every miss; a catalog read at
    /// random would pay that on nearly every request, for nothing.
    ///
    /// "Room" leaves a margin of [`ADMISSION_MARGIN`] of the budget: a full
    /// cache that evicts an answer to take one in is an answer's weight
    /// short of full, and without the margin the next miss would find room
    /// there, get in unasked for, evict another, and so on, so that full
    /// or not, a good share of misses paid for an insertion and an eviction.
    fn admit(&self, key: u128, body: &CachedBody) -> bool {
        let Some(entries) = &self.entries else {
            return false;
        };
        let weight = (ENTRY_OVERHEAD + body.weight()) as u64;
        entries.weighted_size() + weight + self.max_bytes / ADMISSION_MARGIN <= self.max_bytes
            || self.doorkeeper.seen_again(key, entries.entry_count())
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
        let outcome = reload_once(entries, self.keeper.as_ref(), key, load, &mut failed).await;
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
            if let (Some(entries), true) = (&self.entries, answer.kept.load(Ordering::Relaxed)) {
                let same = Arc::clone(answer);
                // Boxed, as the reload: once an answer and encoding.
                Box::pin(entries.entry(key).and_compute_with(|current| async move {
                    match current {
                        Some(entry) if Arc::ptr_eq(entry.value(), &same) => Op::Put(same),
                        _ => Op::Nop,
                    }
                }))
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

/// What a load of a key ends in, for the requests that waited for it.
type LoadResult = Result<Arc<CachedBody>, ApiError>;

/// The keys being loaded, each with the requests waiting for its load: one
/// load per key however many requests miss it at once, whether or not its
/// answer is then kept. A lock held for a map insertion or removal; the
/// keys are hashes already, so Fx will do.
#[derive(Default)]
struct Loading(Mutex<HashMap<u128, Vec<oneshot::Sender<LoadResult>>, FxBuildHasher>>);

/// A request's part in the load of a key: it loads, or it waits for the
/// answer of the request that does (an error if that one went away first).
enum Joined<'a> {
    Lead(Lead<'a>),
    Wait(oneshot::Receiver<LoadResult>),
}

impl Loading {
    fn join(&self, key: u128) -> Joined<'_> {
        let mut loading = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match loading.get_mut(&key) {
            Some(waiting) => {
                let (reply, answer) = oneshot::channel();
                waiting.push(reply);
                Joined::Wait(answer)
            }
            None => {
                loading.insert(key, Vec::new());
                Joined::Lead(Lead { loading: self, key })
            }
        }
    }

    fn finish(&self, key: u128) -> Vec<oneshot::Sender<LoadResult>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key)
            .unwrap_or_default()
    }
}

/// The request loading a key. However it ends (its future dropped
/// included) the key stops loading; if it ends without answering, the
/// requests that waited try again.
struct Lead<'a> {
    loading: &'a Loading,
    key: u128,
}

impl Lead<'_> {
    /// Gives the answer to every request that waited for it.
    fn answer(self, loaded: &LoadResult) {
        for waiting in self.loading.finish(self.key) {
            // A receiver that is gone gave up; nothing to do.
            let _ = waiting.send(loaded.clone());
        }
        std::mem::forget(self);
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        // The senders go with the entry: their requests load again.
        self.loading.finish(self.key);
    }
}

/// The thread that makes the cache's copy of each answer it keeps, and
/// puts the answers let in there, running moka's housekeeping after: what
/// the cache keeps for long (the answers, and for the answers let in,
/// moka's entries and order nodes) is then allocated by this thread alone.
/// Made by the workers, it sat in the allocator's pages among their
/// requests' short-lived allocations, which then spread over many more
/// pages: on a full cache every request paid for that in memory stalls,
/// even one that never asked the cache. A request waits for its answer to
/// be kept (or copied) before sending it, as when it kept it itself.
struct Keeper {
    jobs: mpsc::Sender<KeeperJob>,
}

/// What the keeper is asked to do.
enum KeeperJob {
    /// Keep a copy of `body` under `key`; `kept` is told once it is in
    /// (the request then makes the drop check, as for one it kept itself).
    Keep {
        key: u128,
        body: Arc<CachedBody>,
        kept: oneshot::Sender<()>,
    },
    /// Make a copy of `body` for a request to put in the cache itself (a
    /// reload, which replaces an entry only if no newer one did).
    Copy {
        body: Arc<CachedBody>,
        copied: oneshot::Sender<Arc<CachedBody>>,
    },
}

/// Jobs waiting for the keeper at most; past that, requests keep their
/// answers themselves.
const KEEPER_QUEUE: usize = 256;

impl Keeper {
    /// Starts the keeper of `entries`; `None` if its thread cannot be
    /// started. The thread ends with the cache.
    fn start(entries: Entries) -> Option<Keeper> {
        let (jobs, mut queue) = mpsc::channel::<KeeperJob>(KEEPER_QUEUE);
        let runtime = rocket::tokio::runtime::Builder::new_current_thread()
            .build()
            .ok()?;
        std::thread::Builder::new()
            .name("cache-keeper".into())
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some(job) = queue.recv().await {
                        match job {
                            KeeperJob::Keep { key, body, kept } => {
                                entries.insert(key, Arc::new(body.kept_copy())).await;
                                let _ = kept.send(());
                            }
                            KeeperJob::Copy { body, copied } => {
                                let _ = copied.send(Arc::new(body.kept_copy()));
                            }
                        }
                        if queue.is_empty() {
                            entries.run_pending_tasks().await;
                        }
                    }
                });
            })
            .ok()?;
        Some(Keeper { jobs })
    }

    /// Hands `body` to the keeper to keep under `key`; `None` when it
    /// cannot take it (its queue full, or its thread gone): the caller
    /// keeps it itself.
    fn keep(&self, key: u128, body: &Arc<CachedBody>) -> Option<oneshot::Receiver<()>> {
        let (kept, done) = oneshot::channel();
        let body = Arc::clone(body);
        self.jobs
            .try_send(KeeperJob::Keep { key, body, kept })
            .ok()?;
        Some(done)
    }

    /// The keeper's copy of `body`, marked kept; `body` itself if the
    /// keeper cannot make one.
    async fn copy(keeper: Option<&Keeper>, body: Arc<CachedBody>) -> Arc<CachedBody> {
        if let Some(keeper) = keeper {
            let (copied, copy) = oneshot::channel();
            let job = KeeperJob::Copy {
                body: Arc::clone(&body),
                copied,
            };
            if keeper.jobs.try_send(job).is_ok() {
                if let Ok(copy) = copy.await {
                    return copy;
                }
            }
        }
        body.kept.store(true, Ordering::Relaxed);
        body
    }
}

/// Which keys may have an entry in the cache: a count of entries per slot,
/// each key counted in two slots picked by bits of the key (a hash) that
/// the doorkeeper does not use. moka's weigher counts every entry in as
/// moka takes it (before it is in its table), and its eviction listener
/// counts every entry out as it goes (evicted, expired, dropped or
/// replaced), so a key with a slot that counts none has no entry. A lookup
/// for such a key is a miss without asking moka, whose `get` walks cold
/// lines of its table and records each miss for its eviction policy: with
/// eight slots an entry and two a key, few misses of a full cache get
/// there (one slot a key sent several times as many), and most read one.
/// A count too high would only send a key's misses to moka again; too
/// low, a hit would become a miss, so the count is taken in moka's own
/// hooks, which every insertion and removal passes through.
struct Presence {
    slots: Box<[AtomicU16]>,
}

impl Presence {
    /// For a cache of at most `entries` answers (0: no cache).
    fn new(entries: u64) -> Self {
        let slots = usize::try_from(entries)
            .unwrap_or(usize::MAX)
            .saturating_mul(8)
            .next_power_of_two();
        Presence {
            slots: (0..slots).map(|_| AtomicU16::new(0)).collect(),
        }
    }

    /// The two slots of `key`: from bits 32 and up of each half.
    /// (Truncations intended.)
    fn slots(&self, key: u128) -> [&AtomicU16; 2] {
        let mask = self.slots.len() - 1;
        [
            &self.slots[(key >> 32) as usize & mask],
            &self.slots[(key >> 96) as usize & mask],
        ]
    }

    /// Whether `key` may have an entry.
    fn may_hold(&self, key: u128) -> bool {
        self.slots(key)
            .iter()
            .all(|slot| slot.load(Ordering::Acquire) != 0)
    }

    /// `key` is getting an entry.
    fn added(&self, key: u128) {
        for slot in self.slots(key) {
            slot.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// An entry of `key` is gone.
    fn removed(&self, key: u128) {
        for slot in self.slots(key) {
            // Never below zero: a count too high only costs a lookup.
            let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
    }
}

/// In a large window, one key in this many counts its mark, as this many
/// (see [`Doorkeeper::seen_again`]).
const MARK_SAMPLE: usize = 8;

/// The smallest window whose marks are counted by sample.
const SAMPLED_WINDOW: usize = 1024;

/// The keys missed lately, as bits (two per key, from the key's own hash
/// bits), forgotten all at once when as many keys have been marked as the
/// cache holds answers now: a key missed twice within that window is likely
/// to be asked for again before the least recently used answer would be
/// evicted, one missed once is not. The answers held, not the most the
/// budget could hold (answers of no bytes): with answers of a few KB, that
/// window let in twice as many answers asked for at random, each an
/// insertion and an eviction, none likely to be asked for again.
struct Doorkeeper {
    bits: Box<[AtomicU64]>,
    marked: AtomicUsize,
}

impl Doorkeeper {
    /// For a cache of at most `entries` answers.
    fn new(entries: u64) -> Self {
        let most = usize::try_from(entries).unwrap_or(usize::MAX).max(1);
        // Sixteen bits a key: with two of them set per key, a key never
        // missed passes for one missed before about 1.4% of the time when
        // the window is full (with eight, 5%), and each one that does costs
        // an insertion and an eviction. The default 32 MB cache takes 64 KB.
        let words = if entries == 0 {
            1
        } else {
            (most.saturating_mul(16) / 64).next_power_of_two()
        };
        Doorkeeper {
            bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
            marked: AtomicUsize::new(0),
        }
    }

    /// Whether `key` was marked within the window, which ends once `window`
    /// keys have been marked (the answers the cache holds); marks it if not.
    fn seen_again(&self, key: u128, window: u64) -> bool {
        let mask = self.bits.len() * 64 - 1;
        // The key is a hash: its low and high halves are two independent
        // positions. (Truncations intended.)
        let at = [(key as usize) & mask, ((key >> 64) as usize) & mask];
        let bit = |i: usize| (&self.bits[i / 64], 1u64 << (i % 64));
        if at.iter().all(|&i| {
            let (word, bit) = bit(i);
            word.load(Ordering::Relaxed) & bit != 0
        }) {
            return true;
        }
        for i in at {
            let (word, bit) = bit(i);
            // Written only if not set: both workers mark, and each write
            // takes the line from the other core.
            if word.load(Ordering::Relaxed) & bit == 0 {
                word.fetch_or(bit, Ordering::Relaxed);
            }
        }
        // In a window of thousands of keys, marks are counted one key in
        // MARK_SAMPLE (by bits of the key no position uses) as that many:
        // the count would be written by every miss, from both workers,
        // where it needs no exactness.
        let window = usize::try_from(window).unwrap_or(usize::MAX).max(1);
        let counted_as = if window >= SAMPLED_WINDOW {
            MARK_SAMPLE
        } else {
            1
        };
        if !((key >> 120) as usize).is_multiple_of(counted_as) {
            return false;
        }
        if self.marked.fetch_add(counted_as, Ordering::Relaxed) + counted_as >= window {
            self.marked.store(0, Ordering::Relaxed);
            for word in self.bits.iter() {
                word.store(0, Ordering::Relaxed);
            }
        }
        false
    }
}

/// Replaces the answer of `key` by what `load` gives, unless a request ahead
/// in the key's queue already did; keeps it when `load` answers 503; drops
/// it on any other error, which goes to `failed`. Boxed for the reason
/// `load_missing` is.
fn reload_once<'a, F>(
    entries: &'a Entries,
    keeper: Option<&'a Keeper>,
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
                    Ok(body) => Op::Put(Keeper::copy(keeper, body).await),
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

/// The bytes sent: the body or one of its compressed forms, shared with the
/// cache (`bytes::Bytes::from_owner`), not copied.
struct SentBytes(Arc<CachedBody>, Encoding);

impl AsRef<[u8]> for SentBytes {
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
            // The body is in memory already: it goes to hyper as it is, in
            // one chunk, with this answer's reference to it (not a new one:
            // every count taken and let go is a write to a line the other
            // worker, answering the same body, writes too).
            response
                .header(json_content_type())
                .shared_body(bytes::Bytes::from_owner(SentBytes(body, self.encoding)));
        }
        response.ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_tag_is_the_hash_in_sixteen_hex_digits_quoted() {
        for n in [0, 1, 0xab, 0x0123_4567_89ab_cdef, u64::MAX] {
            assert_eq!(quoted_hex(n), format!("\"{n:016x}\""));
        }
    }

    #[test]
    fn a_large_window_ends_after_about_as_many_keys_counted_by_sample() {
        let doorkeeper = Doorkeeper::new(100_000);
        let key = |n: u128| xxhash_rust::xxh3::xxh3_128(&n.to_le_bytes());
        let window = 8192;
        let (mut n, mut counted) = (0, 0);
        loop {
            n += 1;
            doorkeeper.seen_again(key(n), window);
            let now = doorkeeper.marked.load(Ordering::Relaxed);
            if now < counted {
                break;
            }
            counted = now;
        }
        assert!(counted.is_multiple_of(MARK_SAMPLE));
        assert!(
            (7_000..9_500).contains(&n),
            "the window ended after {n} keys"
        );
    }

    #[test]
    fn the_doorkeeper_lets_in_a_key_missed_again_within_its_window() {
        let doorkeeper = Doorkeeper::new(1000);
        let key = |n: u128| xxhash_rust::xxh3::xxh3_128(&n.to_le_bytes());
        assert!(!doorkeeper.seen_again(key(1), 1000));
        assert!(doorkeeper.seen_again(key(1), 1000));
        let passed = (2..1001)
            .filter(|&n| doorkeeper.seen_again(key(n), 1000))
            .count();
        assert!(passed < 50, "{passed} of 999 keys never missed passed");
        // A thousand keys marked in all: the window starts again, empty.
        let mut n = 1001;
        while doorkeeper.marked.load(Ordering::Relaxed) != 0 {
            doorkeeper.seen_again(key(n), 1000);
            n += 1;
        }
        assert!(!doorkeeper.seen_again(key(1), 1000));
    }

    fn small_cache() -> ResponseCache {
        let settings = Settings {
            cache_max_mb: 1,
            ..Settings::default()
        };
        ResponseCache::new(&settings, crate::metrics::Metrics::new().cache)
    }

    /// Asks for `key`, counting the loads in `loads`.
    async fn ask(cache: &ResponseCache, key: u128, loads: &AtomicUsize) {
        cache
            .get_or_load(key, OneLoad::Here, || async {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok(JsonBody(vec![b'x'; 100 * 1024]))
            })
            .await
            .unwrap();
    }

    #[rocket::async_test]
    async fn an_answer_let_in_is_kept_as_the_keepers_copy() {
        let cache = small_cache();
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(JsonBody(b"[1,2]".to_vec()))
        };
        let answered = cache.get_or_load(7, OneLoad::Here, load).await.unwrap();
        // Kept by the time the answer is given, as a copy of its own.
        let kept = cache.entries.as_ref().unwrap().get(&7).await.unwrap();
        assert!(!Arc::ptr_eq(&answered.body, &kept));
        assert_eq!(&*kept.body, b"[1,2]");
        assert_eq!(kept.etag, answered.body.etag);
        assert_eq!(kept.fresh_until, answered.body.fresh_until);
        assert!(kept.kept.load(Ordering::Relaxed));
        assert!(!answered.body.kept.load(Ordering::Relaxed));
        // The next request is answered from the copy, not loaded again.
        let again = cache.get_or_load(7, OneLoad::Here, load).await.unwrap();
        assert!(Arc::ptr_eq(&again.body, &kept));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[rocket::async_test]
    async fn once_full_a_key_is_kept_from_its_second_miss() {
        let cache = small_cache();
        let loads = AtomicUsize::new(0);
        // While there is room, every answer is kept.
        ask(&cache, 1, &loads).await;
        ask(&cache, 1, &loads).await;
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        for key in 2..20 {
            ask(&cache, key, &loads).await;
        }
        cache.entries.as_ref().unwrap().run_pending_tasks().await;
        // Full: an answer asked for once is not kept; asked for again, it is.
        let before = loads.load(Ordering::SeqCst);
        for _ in 0..3 {
            ask(&cache, 100, &loads).await;
        }
        assert_eq!(loads.load(Ordering::SeqCst) - before, 2);
    }

    /// Keys as requests make them: hashes, spread over the presence slots.
    fn hashed(n: u64) -> u128 {
        xxhash_rust::xxh3::xxh3_128(&n.to_le_bytes())
    }

    /// The entries the presence slots count, and the entries moka has.
    async fn presence_and_entries(cache: &ResponseCache) -> (u64, u64) {
        let entries = cache.entries.as_ref().unwrap();
        entries.run_pending_tasks().await;
        let slots = cache.presence.slots.iter();
        let counted = slots
            .map(|slot| u64::from(slot.load(Ordering::SeqCst)))
            .sum();
        (counted, entries.entry_count())
    }

    #[rocket::async_test]
    async fn presence_counts_every_entry_in_and_out() {
        let cache = small_cache();
        let loads = AtomicUsize::new(0);
        assert!(!cache.presence.may_hold(hashed(1)));
        ask(&cache, hashed(1), &loads).await;
        assert!(cache.presence.may_hold(hashed(1)));
        // More than fit: moka evicts some.
        for n in 2..40 {
            ask(&cache, hashed(n), &loads).await;
            ask(&cache, hashed(n), &loads).await;
        }
        let (counted, entries) = presence_and_entries(&cache).await;
        assert!(entries < 39, "{entries} entries");
        assert_eq!(counted, 2 * entries);

        cache.clear();
        assert_eq!(presence_and_entries(&cache).await, (0, 0));

        // Dropped: counted out; asked for again, loaded once and then found.
        let cache = small_cache();
        ask(&cache, hashed(1), &loads).await;
        ask(&cache, hashed(2), &loads).await;
        cache.forget(&[hashed(1)]).await;
        assert_eq!(presence_and_entries(&cache).await, (2, 1));
        assert!(!cache.presence.may_hold(hashed(1)));
        let before = loads.load(Ordering::SeqCst);
        ask(&cache, hashed(1), &loads).await;
        ask(&cache, hashed(1), &loads).await;
        assert_eq!(loads.load(Ordering::SeqCst) - before, 1);
    }

    /// Weighing an entry in again with its compressed form replaces it in
    /// moka: the replaced one is counted out, the new one in.
    #[rocket::async_test]
    async fn an_entry_weighed_again_is_still_found() {
        let cache = small_cache();
        let loads = AtomicUsize::new(0);
        let key = hashed(7);
        ask(&cache, key, &loads).await;
        let answer = cache
            .get_or_load(key, OneLoad::Here, || async { Ok(JsonBody(Vec::new())) })
            .await
            .unwrap();
        assert!(cache
            .encoded(key, &answer.body, Encoding::Gzip)
            .await
            .is_some());
        assert_eq!(presence_and_entries(&cache).await, (2, 1));
        ask(&cache, key, &loads).await;
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    /// A full cache one answer's weight short of its budget (as it is after
    /// evicting one answer for another) keeps a new answer asked for once
    /// out: it would fit, but only the doorkeeper lets it in.
    #[rocket::async_test]
    async fn an_answer_that_would_just_fit_a_full_cache_waits_for_its_second_miss() {
        let cache = small_cache();
        let entries = cache.entries.as_ref().unwrap();
        let loads = AtomicUsize::new(0);
        // Its size as moka counts it after each insertion, as in service
        // between answers.
        for key in 2..20 {
            ask(&cache, key, &loads).await;
            entries.run_pending_tasks().await;
        }
        let weight = (ENTRY_OVERHEAD + 100 * 1024) as u64;
        let free = cache.max_bytes - entries.weighted_size();
        assert!(free >= weight, "{free} bytes free");
        assert!(free < weight + cache.max_bytes / ADMISSION_MARGIN, "{free}");

        let before = loads.load(Ordering::SeqCst);
        for _ in 0..3 {
            ask(&cache, 200, &loads).await;
        }
        assert_eq!(loads.load(Ordering::SeqCst) - before, 2);
    }

    #[rocket::async_test]
    async fn requests_missing_a_key_together_share_one_load_kept_or_not() {
        use rocket::futures::future::join_all;

        let cache = small_cache();
        let loads = AtomicUsize::new(0);
        let answers = join_all((0..10).map(|_| {
            cache.get_or_load(7, OneLoad::Here, || async {
                loads.fetch_add(1, Ordering::SeqCst);
                rocket::tokio::task::yield_now().await;
                Ok(JsonBody(b"[1]".to_vec()))
            })
        }))
        .await;
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(answers.iter().all(|a| Arc::ptr_eq(
            &a.as_ref().unwrap().body,
            &answers[0].as_ref().unwrap().body
        )));
    }

    #[rocket::async_test]
    async fn when_the_loading_request_goes_away_a_waiting_one_loads() {
        use rocket::futures::FutureExt;

        let cache = small_cache();
        let mut first = Box::pin(cache.get_or_load(7, OneLoad::Here, || async {
            rocket::futures::future::pending::<()>().await;
            Ok(JsonBody(b"never".to_vec()))
        }));
        assert!((&mut first).now_or_never().is_none());
        let second =
            cache.get_or_load(7, OneLoad::Here, || async { Ok(JsonBody(b"[1]".to_vec())) });
        let mut second = Box::pin(second);
        assert!((&mut second).now_or_never().is_none());
        drop(first);
        let answer = second.await.unwrap();
        assert_eq!(&*answer.body.body, b"[1]");
    }

    /// Asks `cache` for `key`, loaded as `body`: the body answered, and
    /// whether it was loaded.
    async fn ask_small(cache: &ResponseCache, key: u128, body: &str) -> (String, bool) {
        let loaded = AtomicBool::new(false);
        let answer = cache
            .get_or_load(key, OneLoad::Here, || async {
                loaded.store(true, Ordering::SeqCst);
                Ok(JsonBody(body.as_bytes().to_vec()))
            })
            .await
            .unwrap();
        let text = String::from_utf8(answer.body.body.to_vec()).unwrap();
        (text, loaded.load(Ordering::SeqCst))
    }

    #[rocket::async_test]
    async fn a_threads_slot_answers_until_a_drop_and_only_for_its_cache() {
        let cache = small_cache();
        let key = hashed(3);
        assert_eq!(ask_small(&cache, key, "[1]").await, ("[1]".into(), true));
        // Found in moka, then in this thread's slot: neither loads.
        assert_eq!(ask_small(&cache, key, "[2]").await, ("[1]".into(), false));
        assert!(Recent::find(cache.id, key, 0).is_some());
        assert_eq!(ask_small(&cache, key, "[2]").await, ("[1]".into(), false));
        assert_eq!(cache.metrics.hits.get(), 2);

        // Another cache on the same thread, the same key: its own answer.
        let other = small_cache();
        assert_eq!(ask_small(&other, key, "[9]").await, ("[9]".into(), true));

        // Any drop retires every slot's answer, this one's included.
        cache.forget(&[hashed(4)]).await;
        assert!(Recent::find(cache.id, key, 1).is_none());
        assert_eq!(ask_small(&cache, key, "[2]").await, ("[1]".into(), false));
        cache.forget(&[key]).await;
        assert_eq!(ask_small(&cache, key, "[2]").await, ("[2]".into(), true));
        cache.clear();
        assert_eq!(ask_small(&cache, key, "[3]").await, ("[3]".into(), true));
    }

    #[rocket::async_test]
    async fn a_threads_slot_keeps_no_large_answer_and_serves_no_stale_one() {
        let cache = small_cache();
        let loads = AtomicUsize::new(0);
        ask(&cache, hashed(5), &loads).await;
        ask(&cache, hashed(5), &loads).await;
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(Recent::find(cache.id, hashed(5), 0).is_none());

        let key = hashed(6);
        ask_small(&cache, key, "[1]").await;
        ask_small(&cache, key, "[1]").await;
        assert!(Recent::find(cache.id, key, 0).is_some());
        // An answer past its TTL (one of no TTL is past it at once).
        let past = Arc::new(CachedBody::with_headers(
            b"[1]".to_vec(),
            Vec::new(),
            Duration::ZERO,
        ));
        Recent::keep(cache.id, key, 0, &past);
        assert!(Recent::find(cache.id, key, 0).is_none());
    }

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
