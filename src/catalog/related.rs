//! Every product's related ids in memory, for `GET /products/:id/related`.
//!
//! `related` is the one relation whose answer is smaller than the work of
//! fetching it: a handful of integers per product, written only by an
//! import (the admin API changes styles, photos and skus). So the catalog
//! watcher (`http::watcher`) reads the whole table, with the product ids, in
//! chunks, into three flat arrays (8 bytes a product and 4 a related row: about
//! 26 MB for the full Atelier catalog) and a request finds its product by
//! binary search, with no round trip. It is a copy with a known age: the
//! watcher drops it the moment it sees the catalog change (an import's
//! swap, or a write to `product` or `related`) and reads the new one on a
//! thread of its own; until that is in, and whenever the watcher is off,
//! the route asks the database as before (`queries::RELATED`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use prometheus::IntGauge;

use crate::catalog::models::{ProductKey, Related};
use crate::catalog::schema::{product, related};

/// Products read per statement while loading: bounds the rows libpq holds
/// at once.
const LOAD_CHUNK: i64 = 50_000;

/// The oldest a snapshot gets before it is read again, though no change was
/// seen: a watcher reading a replica sees an import's swap but not a hand
/// edit of `related` on the primary (a standby does not count replayed
/// writes), and a copy must not stay wrong for ever.
pub const MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// The related ids of every product, as the database had them at one
/// moment (one snapshot).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RelatedSnapshot {
    /// Every product's id, ascending.
    products: Vec<i32>,
    /// Where the related ids of `products[i]` start in `related`; one entry
    /// more than `products`, the last the end.
    starts: Vec<u32>,
    /// Every product's related ids, product after product, each product's
    /// in related-row order.
    related: Vec<i32>,
    /// When its reading began: what it holds is at least this recent.
    read_at: Option<Instant>,
}

impl RelatedSnapshot {
    /// The related ids of product `id` in related-row order, as
    /// `queries::find_related_ids` gives them; `None` if there is no such
    /// product.
    pub fn of(&self, id: i32) -> Option<&[i32]> {
        let i = self.products.binary_search(&id).ok()?;
        let start = *self.starts.get(i)? as usize;
        let end = *self.starts.get(i + 1)? as usize;
        self.related.get(start..end)
    }

    /// Products it holds.
    pub fn products(&self) -> usize {
        self.products.len()
    }

    /// Reads every product's related ids, in chunks of [`LOAD_CHUNK`]
    /// products: each chunk's keys, then their related rows with
    /// `belonging_to`, ordered, and `grouped_by`, the two in one
    /// repeatable-read transaction of their own. One transaction for the
    /// whole read would hold a snapshot for seconds, and on a replica that
    /// holds replay back (a change whose cleanup the snapshot still needs
    /// waits for it); a change committed between two chunks changes the
    /// catalog's version, and the watcher drops this copy and reads again.
    /// Statements: 4 per chunk (with BEGIN and COMMIT), and 3 more.
    pub fn load(conn: &mut PgConnection) -> QueryResult<RelatedSnapshot> {
        let mut snapshot = RelatedSnapshot {
            starts: vec![0],
            read_at: Some(Instant::now()),
            ..RelatedSnapshot::default()
        };
        let mut after = i32::MIN;
        loop {
            let (keys, rows) =
                conn.build_transaction()
                    .repeatable_read()
                    .read_only()
                    .run(|conn| {
                        let keys: Vec<ProductKey> = product::table
                            .filter(product::id.gt(after))
                            .order(product::id)
                            .limit(LOAD_CHUNK)
                            .select(ProductKey::as_select())
                            .load(conn)?;
                        let rows: Vec<Related> = Related::belonging_to(&keys)
                            .order((related::current_product_id, related::id))
                            .select(Related::as_select())
                            .load(conn)?;
                        QueryResult::Ok((keys, rows))
                    })?;
            let Some(last) = keys.last() else { break };
            after = last.id;
            for (key, rows) in keys.iter().zip(rows.grouped_by(&keys)) {
                snapshot.products.push(key.id);
                snapshot
                    .related
                    .extend(rows.iter().map(|r| r.related_product_id));
                let end = u32::try_from(snapshot.related.len()).map_err(|_| {
                    diesel::result::Error::QueryBuilderError(
                        "more related rows than can be kept in memory".into(),
                    )
                })?;
                snapshot.starts.push(end);
            }
        }
        Ok(snapshot)
    }
}

/// The snapshot the routes read, and its loading.
pub struct RelatedInMemory {
    /// Whether a snapshot is kept at all (`ATELIER_RELATED_IN_MEMORY`, and
    /// never on the naive path).
    enabled: bool,
    current: RwLock<Current>,
    loading: AtomicBool,
    /// Products in the current snapshot; 0 while there is none.
    products: IntGauge,
}

/// The snapshot served, and how many times one was forgotten: a load that
/// began before the last `forget` is outdated. One lock for both, so a
/// `forget` is never undone by a load that checked just before it.
#[derive(Default)]
struct Current {
    snapshot: Option<Arc<RelatedSnapshot>>,
    generation: u64,
}

impl RelatedInMemory {
    /// Kept in memory if `enabled`, its size counted in `products`.
    pub fn new(enabled: bool, products: IntGauge) -> Self {
        RelatedInMemory {
            enabled,
            current: RwLock::new(Current::default()),
            loading: AtomicBool::new(false),
            products,
        }
    }

    /// The current snapshot, `None` while there is none (the route asks
    /// the database then).
    pub fn current(&self) -> Option<Arc<RelatedSnapshot>> {
        self.read().snapshot.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Current> {
        self.current.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops the snapshot, and any being loaded: the catalog changed.
    pub fn forget(&self) {
        let mut current = self.write();
        current.generation += 1;
        current.snapshot = None;
        self.products.set(0);
    }

    /// Puts `snapshot`, whose load began at `generation`, in place unless
    /// something was forgotten since; whether it did.
    fn put(&self, generation: u64, snapshot: RelatedSnapshot) -> bool {
        let mut current = self.write();
        if current.generation != generation {
            return false;
        }
        self.products
            .set(i64::try_from(snapshot.products()).unwrap_or(i64::MAX));
        current.snapshot = Some(Arc::new(snapshot));
        true
    }

    /// Starts reading a snapshot from the database at `url` on a thread of
    /// its own, unless one younger than [`MAX_AGE`] is there or one is
    /// being read; the current one is served until the new one replaces it.
    /// Kept only if nothing was forgotten meanwhile; a failed read is logged
    /// and tried again at the next call.
    pub fn load_if_due(self: &Arc<Self>, url: &str) {
        let fresh = self
            .current()
            .and_then(|s| s.read_at)
            .is_some_and(|read_at| read_at.elapsed() < MAX_AGE);
        if !self.enabled || fresh || self.loading.swap(true, Ordering::AcqRel) {
            return;
        }
        let generation = self.read().generation;
        let this = Arc::clone(self);
        let url = url.to_string();
        let spawned = std::thread::Builder::new()
            .name("related-loader".into())
            .spawn(move || {
                let started = Instant::now();
                let loaded = PgConnection::establish(&url)
                    .map_err(|e| e.to_string())
                    .and_then(|mut conn| {
                        RelatedSnapshot::load(&mut conn).map_err(|e| e.to_string())
                    });
                match loaded {
                    Ok(snapshot) => {
                        let products = snapshot.products();
                        // Not if the catalog changed while it was read: the
                        // next call reads the new one.
                        let kept = this.put(generation, snapshot);
                        if kept {
                            tracing::info!(
                                "related ids of {products} products in memory, read in {:.1}s",
                                started.elapsed().as_secs_f64()
                            );
                        }
                    }
                    Err(e) => tracing::warn!(
                        "reading the related ids into memory: {e}; /related asks the database"
                    ),
                }
                this.loading.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            tracing::warn!("starting the related ids' loader: {e}");
            self.loading.store(false, Ordering::Release);
        }
    }
}
