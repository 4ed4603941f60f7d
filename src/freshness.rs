//! Keeping what the service derives from the catalog in step with it.
//!
//! A watcher polls, on a connection of its own, a version of the catalog:
//! the served tables' ids (an import swaps in new tables) and their write
//! counters. When it changes, the response cache is emptied and the page
//! anchors are rebuilt, so answers are at most one poll interval stale.
//!
//! Page anchors make deep pages cheap: the id of every 100th product, so
//! `?page=200000&count=5` starts from an index seek to the nearest anchor and
//! skips at most 99 rows instead of a million.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::PgConnection;

use crate::cache::ResponseCache;

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

/// Polls, every `interval`, the catalog version of each database the
/// instance reads (its replicas, or the primary) and, when one changes,
/// clears `cache` and reloads `anchors` from it: each database's new catalog
/// is served within one interval of that database having it. It holds them
/// weakly: when the application is gone, the watcher stops.
pub struct Watcher {
    databases: Vec<Watched>,
    interval: Duration,
    cache: Weak<ResponseCache>,
    anchors: Weak<PageAnchors>,
}

/// One database the watcher polls.
struct Watched {
    url: String,
    conn: Option<PgConnection>,
    version: Option<String>,
}

impl Watcher {
    /// A watcher of the databases at `urls`.
    pub fn new(
        urls: Vec<String>,
        interval: Duration,
        cache: &Arc<ResponseCache>,
        anchors: &Arc<PageAnchors>,
    ) -> Self {
        Watcher {
            databases: urls
                .into_iter()
                .map(|url| Watched {
                    url,
                    conn: None,
                    version: None,
                })
                .collect(),
            interval,
            cache: Arc::downgrade(cache),
            anchors: Arc::downgrade(anchors),
        }
    }

    /// One poll of every database: connects if needed, compares versions,
    /// refreshes on change. `false` once the application it serves is gone.
    pub fn poll(&mut self) -> bool {
        let (Some(cache), Some(anchors)) = (self.cache.upgrade(), self.anchors.upgrade()) else {
            return false;
        };
        for watched in &mut self.databases {
            watched.poll(&cache, &anchors);
        }
        true
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

impl Watched {
    fn poll(&mut self, cache: &ResponseCache, anchors: &PageAnchors) {
        if self.conn.is_none() {
            match PgConnection::establish(&self.url) {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => {
                    log::debug!("catalog watcher: {e}");
                    return;
                }
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let outcome = catalog_version(conn).and_then(|version| {
            if self.version.as_ref() != Some(&version) {
                cache.clear();
                anchors.reload(conn)?;
                self.version = Some(version);
            }
            Ok(())
        });
        if let Err(e) = outcome {
            // Reconnect next time; until then, answers are served as they
            // are, and whatever this database says then counts as a change.
            log::warn!("catalog watcher: {e}");
            self.conn = None;
            self.version = None;
        }
    }
}
