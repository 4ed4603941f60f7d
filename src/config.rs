//! Configuration: one figment, read once, from defaults, the environment and
//! `.env` (through dotenvy). Every variable is listed in docs/OPERATIONS.md,
//! "Settings".
//!
//! - `DATABASE_URL` (required), `DATABASE_POOL_SIZE`, `DATABASE_TIMEOUT`,
//!   `DATABASE_STATEMENT_TIMEOUT_MS`, `DATABASE_MIN_IDLE`,
//!   `DATABASE_REPLICA_URLS`, `DATABASE_REPLICA_MAX_LAG`
//! - `ROCKET_ADDRESS`, `ROCKET_PORT` (default 3000) and Rocket's other `ROCKET_*`
//! - `ATELIER_CAMPUS` (default `hr-lax`) and the other [`Settings`], among
//!   them `ATELIER_LOG` and `ATELIER_LOG_FORMAT`
//! - `DATABASE_NAIVE` (the benchmark's baseline path)
//! - `ATELIER_ADMIN_TOKENS`, `ATELIER_ADMIN_POOL_SIZE`,
//!   `ATELIER_ADMIN_DATABASE_URL` (the admin API) and `ATELIER_CHANGE_FEED`

use rocket::figment::providers::{Env, Serialized};
use rocket::figment::Figment;
use serde::{Deserialize, Serialize};

/// The name of the database in Rocket's configuration (`databases.atelier`).
pub const DATABASE_NAME: &str = "atelier";

/// The default largest admin request body (see
/// `admin::input::DEFAULT_MAX_BODY_BYTES`, which says why this size).
pub const DEFAULT_ADMIN_MAX_BODY_BYTES: u64 = 512 * 1024;

/// The port the live Atelier API's clients expect.
pub const DEFAULT_PORT: u16 = 3000;
/// Connections in the pool, and so database threads (see `dispatch`), unless
/// `DATABASE_POOL_SIZE` says otherwise: one per two cores, at least one.
///
/// Few, because lookups waiting together share a statement: the fewer the
/// threads, the more each statement answers. With PostgreSQL on the same
/// 2-core box, one connection beat two and more in alternating open-model
/// runs (docs/PERFORMANCE.md, "What made the difference"). A database on
/// another host, where a round trip is mostly waiting, wants more.
pub fn default_pool_size() -> u32 {
    u32::try_from(cores() / 2).unwrap_or(u32::MAX).max(1)
}

/// Seconds to wait for a pooled connection before answering 503.
pub const DEFAULT_POOL_TIMEOUT: u8 = 5;

/// Settings of the service itself (Rocket's and the pool's live in the
/// figment); each can be set as `ATELIER_<NAME>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Settings {
    /// The `campus` string of every product.
    pub campus: String,
    /// Whether answers are kept in memory.
    pub cache_enabled: bool,
    /// The most memory the cached answers may take, in MiB.
    pub cache_max_mb: u64,
    /// Whether every product's related ids are kept in memory for
    /// `/related` (`catalog::related`; needs the catalog watcher).
    pub related_in_memory: bool,
    /// How long an answer is kept, and how long clients may keep it.
    pub cache_ttl_seconds: u64,
    /// Whether cached answers and their 304s tell nginx to keep them only
    /// until the end of the current second (`X-Accel-Expires: @<second>`),
    /// so a change reaches nginx's clients within a second; browsers still
    /// get `cache_ttl_seconds`. Off without nginx in front: the header is of
    /// no use to anyone else.
    pub nginx_expires: bool,
    /// How often the catalog is checked for changes (0: never), in ms.
    pub catalog_poll_ms: u64,
    /// How the catalog watcher learns which products changed (see
    /// `changes`).
    pub change_feed: ChangeFeed,
    /// The admin API's tokens, as `name:sha256hex` entries separated by
    /// commas (see `admin::auth`); empty: no admin API at all.
    pub admin_tokens: String,
    /// Connections the admin API writes on, apart from the pool that serves
    /// reads, so a write waiting on a lock never holds up a read.
    pub admin_pool_size: u32,
    /// Where the admin API writes; empty: `DATABASE_URL`. An instance that
    /// reads a replica points this at the primary.
    pub admin_database_url: String,
    /// How long past its TTL a cached answer is still served, marked stale,
    /// while the database cannot answer.
    pub cache_stale_seconds: u64,
    /// Origins whose scripts may read the answers: `*` (any), or a comma
    /// list of origins such as `https://shop.example`.
    pub cors_origins: String,
    /// What is logged: a `tracing` filter (`info`, `warn,atelier=debug`,
    /// ...), from `ATELIER_LOG`.
    pub log_filter: String,
    /// `text` (one readable line per event) or `json` (one object per line).
    pub log_format: String,
    /// A second address (`host:port`) that serves only `/metrics`; when set,
    /// the API's own port does not serve it.
    pub metrics_address: Option<String>,
    /// The longest request target (path and query) accepted, in bytes; 414 beyond.
    pub max_url_bytes: usize,
    /// The most header bytes (names and values) a request may carry; 431 beyond.
    pub max_header_bytes: usize,
    /// The largest request body accepted, in bytes; 413 beyond.
    pub max_body_bytes: u64,
    /// The largest admin request body accepted, in bytes; 413 beyond.
    pub admin_max_body_bytes: u64,
}

/// How an instance learns that a product's styles, photos or skus changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeFeed {
    /// `notify` on a primary, `audit` on a replica.
    Auto,
    /// `LISTEN` for the announcements of the triggers and the admin API:
    /// within milliseconds of the commit, hand edits included. Only a
    /// primary delivers them.
    Notify,
    /// Poll `admin_audit` for writes not seen yet: works on a replica, and
    /// learns a write only once the replica has it; hand edits of styles,
    /// photos and skus then show through the watcher's whole-cache check.
    Audit,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            campus: "hr-lax".into(),
            cache_enabled: true,
            cache_max_mb: 32,
            related_in_memory: true,
            cache_ttl_seconds: 60,
            nginx_expires: false,
            catalog_poll_ms: 1000,
            change_feed: ChangeFeed::Auto,
            admin_tokens: String::new(),
            admin_pool_size: 2,
            admin_database_url: String::new(),
            cache_stale_seconds: 3600,
            cors_origins: "*".into(),
            log_filter: "info".into(),
            log_format: "text".into(),
            metrics_address: None,
            max_url_bytes: 4096,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 1024 * 1024,
            admin_max_body_bytes: DEFAULT_ADMIN_MAX_BODY_BYTES,
        }
    }
}

/// Async worker threads unless `workers` (`ROCKET_WORKERS`) is set: three
/// per core. No worker waits for the database (queries run on the
/// dispatcher's threads), yet on a box shared with PostgreSQL and the load
/// generator, one per core lost to three per core in every alternating run
/// (docs/PERFORMANCE.md, "What made the difference"): a worker preempted by
/// another process holds its queued tasks, and more workers leave fewer
/// stranded.
pub fn workers(figment: &Figment) -> usize {
    // Rocket's own default is the core count; only an explicit setting wins.
    std::env::var_os("ROCKET_WORKERS")
        .and_then(|_| figment.extract_inner::<usize>("workers").ok())
        .unwrap_or(3 * cores())
}

/// The cores this process may use (1 if that cannot be told).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Loads `.env` if there is one; variables already set win.
pub fn load_dotenv() {
    // A missing .env is the normal case in production.
    let _ = dotenvy::dotenv();
}

/// The database URL from the environment, with a message that says what to do.
pub fn database_url() -> anyhow::Result<String> {
    std::env::var("DATABASE_URL").map_err(|_| {
        anyhow::anyhow!(
            "DATABASE_URL is not set: export it or put it in .env, \
             e.g. DATABASE_URL=postgres://atelier:atelier@127.0.0.1:5432/atelier"
        )
    })
}

/// The read replicas' URLs (`DATABASE_REPLICA_URLS`, comma-separated) in a
/// figment made by [`figment`]; none when unset.
pub fn replica_urls(figment: &Figment) -> Vec<String> {
    figment
        .extract_inner::<String>(&format!("databases.{DATABASE_NAME}.replica_urls"))
        .map(|urls| split_urls(&urls))
        .unwrap_or_default()
}

/// A comma-separated list of URLs, each trimmed, the empty ones left out.
pub fn split_urls(urls: &str) -> Vec<String> {
    urls.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(String::from)
        .collect()
}

/// The pool settings that can come from `DATABASE_<NAME>` variables.
const DATABASE_VARIABLES: [&str; 7] = [
    "pool_size",
    "timeout",
    "statement_timeout_ms",
    "min_idle",
    "naive",
    "replica_urls",
    "replica_max_lag",
];

/// The full configuration for a service on `database_url`, with overrides from
/// the environment.
pub fn figment(database_url: &str) -> Figment {
    let db = |key: &str| format!("databases.{DATABASE_NAME}.{key}");
    Figment::from(rocket::Config::default())
        .merge(("port", DEFAULT_PORT))
        // No `Server: Rocket` header: it tells clients nothing they need.
        .merge(("ident", false))
        .merge(Serialized::defaults(Settings::default()))
        .merge((db("url"), database_url))
        .merge((db("pool_size"), default_pool_size()))
        .merge((db("timeout"), DEFAULT_POOL_TIMEOUT))
        .merge(Env::prefixed("ROCKET_").ignore(&["PROFILE"]).global())
        .merge(Env::prefixed("ATELIER_").ignore(&["LOG"]).global())
        // Not `log`, which Rocket reads as the old name of its `log_level`.
        .merge(
            Env::raw()
                .only(&["ATELIER_LOG"])
                .map(|_| "log_filter".into())
                .global(),
        )
        // DATABASE_POOL_SIZE and friends, onto `databases.atelier.*`.
        .merge(
            Env::prefixed("DATABASE_")
                .only(&DATABASE_VARIABLES)
                .map(move |key| db(key.as_str()).into())
                // Global, like the defaults above: a profile-scoped value
                // never overrides a global one.
                .global(),
        )
}
