//! Page anchors make deep pages cheap: the id of every 100th product, so
//! `?page=200000&count=5` starts from an index seek to the nearest anchor and
//! skips at most 99 rows instead of a million. The catalog watcher
//! (`http::watcher`) rereads them whenever the catalog changes.

use std::sync::{Arc, RwLock};

use diesel::prelude::*;
use diesel::PgConnection;

/// Products between two page anchors.
pub const ANCHOR_STRIDE: i64 = 100;

/// The id of every `ANCHOR_STRIDE`th product in id order: `ids[k]` is the id
/// at offset `k * ANCHOR_STRIDE`. Until they are first read there are none,
/// which is not the same as a catalog without products.
#[derive(Debug, Default)]
pub struct PageAnchors {
    ids: RwLock<Option<Arc<Vec<i32>>>>,
}

impl PageAnchors {
    /// The current anchors, `None` until they have been read.
    pub fn current(&self) -> Option<Arc<Vec<i32>>> {
        match self.ids.read() {
            Ok(ids) => ids.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn replace(&self, ids: Vec<i32>) {
        let ids = Some(Arc::new(ids));
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
