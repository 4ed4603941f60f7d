//! Keeping what the service derives from the catalog in step with it.
//!
//! A watcher polls, on a connection of its own, a version of the catalog:
//! the served tables' ids (an import swaps in new tables) and their write
//! counters. When it changes, the response cache is emptied and the page
//! anchors are rebuilt, so answers are at most one poll interval stale.
//! It also counts, for the metrics, the changes and the products left
//! without a stored `/styles` answer (at most once a minute: at full scale
//! the count reads a million rows).
//!
//! Page anchors make deep pages cheap: the id of every 100th product, so
//! `?page=200000&count=5` starts from an index seek to the nearest anchor and
//! skips at most 99 rows instead of a million.

use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::PgConnection;

use crate::cache::ResponseCache;
use crate::metrics::Metrics;

/// The least time between two counts of the products without a stored
/// answer.
const MISSING_RECOUNT: Duration = Duration::from_secs(60);

/// Products between two page anchors.
pub const ANCHOR_STRIDE: i64 = 100;

/// The id of every `ANCHOR_STRIDE`th product in id order: `ids[k]` is the id
/// at offset `k * ANCHOR_STRIDE`.
#[derive(Debug, Default)]
pub struct PageAnchors {
    ids: RwLock<Arc<Vec<i32>>>,
}

impl PageAnchors {
    /// The current anchors.
    pub fn current(&self) -> Arc<Vec<i32>> {
        match self.ids.read() {
            Ok(ids) => Arc::clone(&ids),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, ids: Vec<i32>) {
        let ids = Arc::new(ids);
        match self.ids.write() {
            Ok(mut guard) => *guard = ids,
            Err(poisoned) => *poisoned.into_inner() = ids,
        }
    }

    /// Reads the anchors from the database.
    pub fn reload(&self, conn: &mut PgConnection) -> QueryResult<()> {
        let ids = diesel::sql_query(
            "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM product) t
              WHERE n % $1 = 0 ORDER BY id",
        )
        .bind::<diesel::sql_types::BigInt, _>(ANCHOR_STRIDE)
        .load::<Anchor>(conn)?;
        self.replace(ids.into_iter().map(|a| a.id).collect());
        Ok(())
    }
}

#[derive(QueryableByName)]
struct Anchor {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: i32,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// The catalog's version: changes when a served table is replaced or written.
fn catalog_version(conn: &mut PgConnection) -> QueryResult<String> {
    diesel::sql_query(
        "SELECT coalesce(string_agg(c.oid::text || ':' ||
                  coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0)::text, ',' ORDER BY c.relname), '')
                AS version
           FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
            AND c.relname IN ('product', 'features', 'styles', 'photos', 'skus', 'related')",
    )
    .get_result::<Version>(conn)
    .map(|v| v.version)
}

/// Polls the catalog version every `interval` and, when it changes, clears
/// `cache` and reloads `anchors`. It holds them weakly: when the application
/// is gone, the watcher stops.
pub struct Watcher {
    url: String,
    interval: Duration,
    cache: Weak<ResponseCache>,
    anchors: Weak<PageAnchors>,
    conn: Option<PgConnection>,
    version: Option<String>,
    /// Whether the last poll failed: a failure is logged when it starts and
    /// when it ends, not once a poll through an outage.
    failing: bool,
    metrics: Arc<Metrics>,
    /// Whether the catalog changed since the products without an answer
    /// were counted, and when they were.
    recount: bool,
    counted: Option<Instant>,
}

impl Watcher {
    pub fn new(
        url: String,
        interval: Duration,
        cache: &Arc<ResponseCache>,
        anchors: &Arc<PageAnchors>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Watcher {
            url,
            interval,
            cache: Arc::downgrade(cache),
            anchors: Arc::downgrade(anchors),
            conn: None,
            version: None,
            failing: false,
            metrics,
            recount: true,
            counted: None,
        }
    }

    /// One poll: connects if needed, compares versions, refreshes on change.
    /// `false` once the application it serves is gone.
    pub fn poll(&mut self) -> bool {
        let (Some(cache), Some(anchors)) = (self.cache.upgrade(), self.anchors.upgrade()) else {
            return false;
        };
        if self.conn.is_none() {
            match PgConnection::establish(&self.url) {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => {
                    self.failed(&e);
                    return true;
                }
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return true;
        };
        let outcome = catalog_version(conn).and_then(|version| {
            if self.version.as_ref() != Some(&version) {
                cache.clear();
                anchors.reload(conn)?;
                if self.version.is_some() {
                    self.metrics.catalog_changes.inc();
                }
                self.version = Some(version);
                self.recount = true;
            }
            if self.recount && self.counted.is_none_or(|t| t.elapsed() >= MISSING_RECOUNT) {
                let missing = crate::answers::count_missing(conn)?;
                self.metrics.missing_answers.set(missing);
                self.recount = false;
                self.counted = Some(Instant::now());
            }
            Ok(())
        });
        match outcome {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!("catalog watcher: polling again");
            }
            Ok(()) => {}
            Err(e) => {
                // Reconnect next time; until then, answers are served as they are.
                // The version seen last is kept: an outage is no change to
                // the catalog, and the cache it fills survives it.
                self.failed(&e);
                self.conn = None;
            }
        }
        true
    }

    fn failed(&mut self, error: &dyn std::fmt::Display) {
        if !self.failing {
            self.failing = true;
            tracing::warn!(
                "catalog watcher: {}; answers are served as they are until it polls again",
                error.to_string().trim_end()
            );
        }
    }

    /// Polls on a thread of its own until the application is gone.
    pub fn spawn(mut self) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("catalog-watcher".into())
            .spawn(move || loop {
                std::thread::sleep(self.interval);
                if !self.poll() {
                    break;
                }
            })
            .map(|_| ())
    }
}
