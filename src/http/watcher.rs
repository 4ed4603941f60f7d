//! The catalog watcher: keeps what the service derives from the catalog (the
//! response cache, the page anchors, the metrics) in step with it.
//!
//! A watcher polls, on a connection of its own, a version of the catalog:
//! the served tables' ids (an import swaps in new tables) and the write
//! counters of the tables whose changes are not announced. When it changes,
//! the response cache is emptied and the page anchors are rebuilt, so
//! answers are at most one poll interval stale; when `product` or `related`
//! is among what changed, the related ids in memory are dropped, and read
//! again on a thread of their own (see `catalog::related`). Between polls, on the same
//! connection, it hears which products' styles, photos or skus changed and
//! drops only their answers (see `changes`), within a tick of the commit.
//! It also counts, for the metrics, the changes and the products left
//! without a stored `/styles` answer (at most once a minute: at full scale
//! the count reads a million rows), and times the import in progress: from
//! the poll that first finds its staging schema to the one that finds it
//! gone (the schema is made at the import's start and dropped in its swap,
//! and replicas have it too, so an instance reading only replicas sees it).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};
use diesel::PgConnection;
use rocket::tokio::runtime::Handle;

use crate::catalog::anchors::PageAnchors;
use crate::catalog::changes::{Change, Listener};
use crate::catalog::related::RelatedInMemory;
use crate::config::ChangeFeed;
use crate::http::cache::ResponseCache;
use crate::metrics::Metrics;

/// How often the watcher reads the changes its connection has heard of.
/// Reading them costs no round trip (libpq has them buffered already), and
/// each tick adds its length, at most, to the time a change takes to show.
pub const CHANGES_TICK: Duration = Duration::from_millis(10);

/// The least time between two counts of the products without a stored
/// answer.
const MISSING_RECOUNT: Duration = Duration::from_secs(60);

#[derive(QueryableByName, PartialEq, Eq)]
struct Version {
    /// The whole catalog's.
    #[diesel(sql_type = Text)]
    version: String,
    /// The part of it the related ids in memory depend on: `product` and
    /// `related` (see `catalog::related`).
    #[diesel(sql_type = Text)]
    related: String,
}

/// The catalog's version: changes when a served table is replaced, or one
/// of `counted` is written, or the search index (`search.products`) is:
/// besides the triggers that follow writes to products, which are counted
/// already, `atelier search refresh` writes it alone.
fn catalog_version(conn: &mut PgConnection, counted: &[&str]) -> QueryResult<Version> {
    diesel::sql_query(
        "SELECT coalesce(string_agg(v.entry, ',' ORDER BY v.relname), '') AS version,
                coalesce(string_agg(v.entry, ',' ORDER BY v.relname)
                         FILTER (WHERE v.relname IN ('product', 'related') AND v.public), '')
                AS related
           FROM (SELECT c.relname, c.relnamespace = 'public'::regnamespace AS public,
                        c.oid::text || ':' ||
                        CASE WHEN c.relname = ANY ($1) OR c.relnamespace = 'search'::regnamespace
                             THEN coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0)::text
                             ELSE '' END AS entry
                   FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
                  WHERE c.relkind = 'r'
                    AND ((c.relnamespace = 'public'::regnamespace
                          AND c.relname IN ('product', 'features', 'styles', 'photos', 'skus', 'related'))
                      OR (c.relnamespace = 'search'::regnamespace AND c.relname = 'products'))) v",
    )
    .bind::<Array<Text>, _>(counted)
    .get_result::<Version>(conn)
}

#[derive(QueryableByName)]
struct Staging {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    staging: bool,
}

/// Whether an import is building the next catalog: its staging schema
/// exists (made when it starts, dropped by its swap; one killed midway
/// leaves it until the next import).
fn import_staging(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS staging")
        .bind::<Text, _>(crate::import::STAGING_SCHEMA)
        .get_result::<Staging>(conn)
        .map(|s| s.staging)
}

/// Polls, every `interval`, the catalog version of each database the
/// instance reads (its replicas, or the primary) and, when one changes,
/// clears `cache` and reloads `anchors` from it: each database's new catalog
/// is served within one interval of that database having it. Between polls
/// it drops the answers of the products it hears have changed, on each
/// database's connection as `feed` says (a replica learns a write once it
/// has replayed it). It holds the cache and anchors weakly: when the
/// application is gone, the watcher stops.
pub struct Watcher {
    databases: Vec<Watched>,
    interval: Duration,
    feed: ChangeFeed,
    cache: Weak<ResponseCache>,
    anchors: Weak<PageAnchors>,
    related: Weak<RelatedInMemory>,
    /// The runtime the cache's futures run on.
    runtime: Handle,
    metrics: Arc<Metrics>,
    /// When a poll first found an import's staging schema, while one is.
    import_seen: Option<Instant>,
}

/// One database the watcher polls.
struct Watched {
    url: String,
    /// The connection, and how it hears of changes.
    conn: Option<(PgConnection, Listener)>,
    version: Option<Version>,
    /// Whether the last poll failed: a failure is logged when it starts and
    /// when it ends, not once a poll through an outage.
    failing: bool,
    /// Whether the catalog changed since the products without an answer
    /// were counted, and when they were.
    recount: bool,
    counted: Option<Instant>,
    /// Whether the last successful poll found an import's staging schema
    /// (kept through a failed one: an outage says nothing of the import).
    staging: bool,
}

/// What the watcher keeps in step with the catalog.
pub struct Derived<'a> {
    pub cache: &'a Arc<ResponseCache>,
    pub anchors: &'a Arc<PageAnchors>,
    pub related: &'a Arc<RelatedInMemory>,
}

impl Watcher {
    /// A watcher of the databases at `urls`, polling every `interval`,
    /// hearing of changes as `feed` says, keeping `derived` in step; the
    /// cache's futures run on `runtime`.
    pub fn new(
        urls: Vec<String>,
        interval: Duration,
        feed: ChangeFeed,
        derived: Derived<'_>,
        runtime: Handle,
        metrics: Arc<Metrics>,
    ) -> Self {
        let Derived {
            cache,
            anchors,
            related,
        } = derived;
        Watcher {
            databases: urls
                .into_iter()
                .map(|url| Watched {
                    url,
                    conn: None,
                    version: None,
                    failing: false,
                    recount: true,
                    counted: None,
                    staging: false,
                })
                .collect(),
            interval,
            feed,
            cache: Arc::downgrade(cache),
            anchors: Arc::downgrade(anchors),
            related: Arc::downgrade(related),
            runtime,
            metrics,
            import_seen: None,
        }
    }

    /// One poll of every database: connects if needed, compares versions,
    /// refreshes on change. `false` once the application it serves is gone.
    pub fn poll(&mut self) -> bool {
        let (Some(cache), Some(anchors), Some(related)) = (
            self.cache.upgrade(),
            self.anchors.upgrade(),
            self.related.upgrade(),
        ) else {
            return false;
        };
        for watched in &mut self.databases {
            watched.poll(self.feed, &cache, &anchors, &related, &self.metrics);
        }
        if self.databases.iter().any(|watched| watched.staging) {
            let since = *self.import_seen.get_or_insert_with(Instant::now);
            self.metrics
                .import_running
                .set(since.elapsed().as_secs_f64());
        } else {
            self.import_seen = None;
            self.metrics.import_running.set(0.0);
        }
        true
    }

    /// Drops the answers of the products changed since the last call.
    /// `false` once the application it serves is gone.
    pub fn forget_changed(&mut self) -> bool {
        let Some(cache) = self.cache.upgrade() else {
            return false;
        };
        for watched in &mut self.databases {
            let Some((conn, listener)) = watched.conn.as_mut() else {
                continue;
            };
            match listener.changes(conn) {
                Ok(changes) => {
                    for change in changes {
                        match change {
                            Change::Product(id) => {
                                self.runtime.block_on(cache.forget_product(id));
                            }
                            Change::Everything => cache.clear(),
                        }
                    }
                }
                Err(e) => watched.lost(&e),
            }
        }
        true
    }

    /// Watches on a thread of its own until the application is gone.
    pub fn spawn(mut self) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("catalog-watcher".into())
            .spawn(move || {
                let mut next_poll = Instant::now() + self.interval;
                loop {
                    std::thread::sleep(CHANGES_TICK.min(self.interval));
                    if !self.forget_changed() {
                        break;
                    }
                    if Instant::now() >= next_poll {
                        next_poll = Instant::now() + self.interval;
                        if !self.poll() {
                            break;
                        }
                    }
                }
            })
            .map(|_| ())
    }
}

impl Watched {
    fn poll(
        &mut self,
        feed: ChangeFeed,
        cache: &ResponseCache,
        anchors: &PageAnchors,
        related: &Arc<RelatedInMemory>,
        metrics: &Metrics,
    ) {
        if self.conn.is_none() {
            let connected = PgConnection::establish(&self.url)
                .map_err(|e| e.to_string())
                .and_then(|mut conn| {
                    let listener = Listener::start(&mut conn, feed).map_err(|e| e.to_string())?;
                    Ok((conn, listener))
                });
            match connected {
                // A new connection has heard of nothing before it: the
                // version, unknown, empties the cache below.
                Ok(connected) => self.conn = Some(connected),
                Err(e) => {
                    self.failed(&e);
                    return;
                }
            }
        }
        let Some((conn, listener)) = self.conn.as_mut() else {
            return;
        };
        let outcome = catalog_version(conn, listener.unannounced_tables()).and_then(|version| {
            if self.version.as_ref() != Some(&version) {
                cache.clear();
                if self.version.as_ref().map(|v| &v.related) != Some(&version.related) {
                    related.forget();
                }
                anchors.reload(conn)?;
                if self.version.is_some() {
                    metrics.catalog_changes.inc();
                }
                self.version = Some(version);
                self.recount = true;
            }
            self.staging = import_staging(conn)?;
            if self.recount && self.counted.is_none_or(|t| t.elapsed() >= MISSING_RECOUNT) {
                use crate::catalog::answers::{count_missing, Stored};
                let styles = count_missing(conn, Stored::Styles)?;
                let product = count_missing(conn, Stored::Product)?;
                metrics.missing_styles_answers.set(styles);
                metrics.missing_product_answers.set(product);
                self.recount = false;
                self.counted = Some(Instant::now());
            }
            Ok(())
        });
        if outcome.is_ok() {
            related.load_if_due(&self.url);
        }
        match outcome {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!("catalog watcher: polling again");
            }
            Ok(()) => {}
            Err(e) => self.lost(&e),
        }
    }

    /// Reconnect next time; until then, answers are served as they are
    /// (through an outage too), and whatever this database says then counts
    /// as a change: announcements sent meanwhile were not heard.
    fn lost(&mut self, error: &diesel::result::Error) {
        self.failed(error);
        self.conn = None;
        self.version = None;
    }

    /// Logs a failure when it starts, not once a poll through an outage.
    fn failed(&mut self, error: &dyn std::fmt::Display) {
        if !self.failing {
            self.failing = true;
            tracing::warn!(
                "catalog watcher: {}; answers are served as they are until it polls again",
                error.to_string().trim_end()
            );
        }
    }
}
