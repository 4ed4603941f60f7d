//! How every instance learns, within a second, which products' styles,
//! photos or skus changed, so it drops only their cached answers.
//!
//! On a primary, the catalog watcher's connection `LISTEN`s on [`CHANNEL`]:
//! the triggers on `styles`, `photos` and `skus` announce each product a
//! change touches, whoever makes it (admin writes, hand edits); PostgreSQL
//! delivers the announcements when the change commits. A replica delivers none (NOTIFY is not replicated), and an
//! announcement from the primary would come before the replica has the
//! change. So an instance that reads a replica polls its own database's
//! `admin_audit` instead ([`AuditCursor`]): it learns of a write once the
//! rows it reads have it.
//!
//! Neither can miss a change for good: the watcher empties the whole cache
//! whenever its connection had to be opened again (see `http::watcher`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable};

use crate::config::ChangeFeed;

/// The channel the changes are announced on; the payload is the product id
/// in decimal, or [`EVERYTHING`].
pub const CHANNEL: &str = "atelier_catalog";

/// The payload that announces a change to every product (a TRUNCATE).
pub const EVERYTHING: &str = "*";

/// How often an instance on a replica looks for admin writes it has not
/// seen: one index lookup that usually finds nothing.
pub const AUDIT_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// This product's styles, photos or skus.
    Product(i32),
    /// Anything at all.
    Everything,
}

impl Change {
    /// The change an announcement's payload names, if it names one.
    pub fn from_payload(payload: &str) -> Option<Change> {
        if payload == EVERYTHING {
            return Some(Change::Everything);
        }
        payload.parse().ok().map(Change::Product)
    }
}

/// The served tables whose changes only the watcher's whole-cache check
/// notices. With announcements, that leaves the product rows, features and
/// related rows (which no admin write touches): emptying every cache for a
/// change that names its product would cost every instance its cache at
/// each admin write.
const UNANNOUNCED: [&str; 3] = ["product", "features", "related"];

/// Every served table of the dump.
const SERVED: [&str; 6] = ["product", "features", "styles", "photos", "skus", "related"];

/// A connection's way of learning of changes, started on it.
pub enum Listener {
    /// `LISTEN` on a primary.
    Notify,
    /// `admin_audit` polled, on a replica.
    Audit(AuditCursor),
}

impl Listener {
    /// Starts listening on `conn` as `feed` says; `auto` asks the database
    /// whether it is a replica.
    pub fn start(conn: &mut PgConnection, feed: ChangeFeed) -> QueryResult<Listener> {
        let notify = match feed {
            ChangeFeed::Notify => true,
            ChangeFeed::Audit => false,
            ChangeFeed::Auto => !in_recovery(conn)?,
        };
        if notify {
            diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(conn)?;
            Ok(Listener::Notify)
        } else {
            AuditCursor::start(conn).map(Listener::Audit)
        }
    }

    /// The served tables whose write counters the catalog version must
    /// include: the changes this listener does not hear of.
    pub fn unannounced_tables(&self) -> &'static [&'static str] {
        match self {
            Listener::Notify => &UNANNOUNCED,
            Listener::Audit(_) => &SERVED,
        }
    }

    /// The changes since the last call. With `LISTEN` this reads what the
    /// connection has received, without a round trip; on a replica it asks
    /// the database every [`AUDIT_POLL_INTERVAL`].
    pub fn changes(&mut self, conn: &mut PgConnection) -> QueryResult<Vec<Change>> {
        match self {
            Listener::Notify => {
                let mut changes = Vec::new();
                for notification in conn.notifications_iter() {
                    let notification = notification?;
                    match Change::from_payload(&notification.payload) {
                        Some(change) => changes.push(change),
                        None => tracing::debug!(
                            "change feed: ignoring the payload {:?}",
                            notification.payload
                        ),
                    }
                }
                Ok(changes)
            }
            Listener::Audit(cursor) => cursor.poll(conn),
        }
    }
}

#[derive(QueryableByName)]
struct Recovery {
    #[diesel(sql_type = Bool)]
    in_recovery: bool,
}

fn in_recovery(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::sql_query("SELECT pg_is_in_recovery() AS in_recovery")
        .get_result::<Recovery>(conn)
        .map(|r| r.in_recovery)
}

/// Where a replica's instance is in `admin_audit`: the xmin of the snapshot
/// it last read with, and the rows at or above it it has seen.
///
/// Rows appear in commit order, not in id order, so "ids above the last one
/// seen" would miss a write that took its id first and committed last. But
/// a transaction that a snapshot does not see has an id at or above that
/// snapshot's xmin, so reading the rows of transactions from the last
/// horizon on finds every new one; those seen already are skipped.
pub struct AuditCursor {
    horizon: i64,
    /// Rows seen with `xact >= horizon`, by id: their `xact`.
    seen: HashMap<i64, i64>,
    next_poll: Instant,
}

#[derive(QueryableByName)]
struct AuditRow {
    #[diesel(sql_type = BigInt)]
    horizon: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    xact: Option<i64>,
    #[diesel(sql_type = Nullable<Integer>)]
    product_id: Option<i32>,
}

/// The current snapshot's xmin, and the audit rows of transactions from
/// `$1` on, in one statement (so with one snapshot).
const AUDIT_SINCE: &str = "
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon,
           a.id, a.xact, a.product_id
      FROM (SELECT 1) AS one
      LEFT JOIN admin_audit a ON a.xact >= $1
     ORDER BY a.id";

impl AuditCursor {
    /// A cursor at the database's present: what is there now is not news.
    fn start(conn: &mut PgConnection) -> QueryResult<AuditCursor> {
        let mut cursor = AuditCursor {
            horizon: i64::MAX,
            seen: HashMap::new(),
            next_poll: Instant::now(),
        };
        cursor.read(conn)?;
        Ok(cursor)
    }

    fn poll(&mut self, conn: &mut PgConnection) -> QueryResult<Vec<Change>> {
        if Instant::now() < self.next_poll {
            return Ok(Vec::new());
        }
        self.next_poll = Instant::now() + AUDIT_POLL_INTERVAL;
        self.read(conn)
    }

    /// The products of the rows not seen yet; moves the horizon on.
    fn read(&mut self, conn: &mut PgConnection) -> QueryResult<Vec<Change>> {
        // The first read, from i64::MAX, finds no row: only the horizon.
        let rows: Vec<AuditRow> = diesel::sql_query(AUDIT_SINCE)
            .bind::<BigInt, _>(self.horizon)
            .load(conn)?;
        let mut changes = Vec::new();
        let mut horizon = self.horizon;
        for row in rows {
            horizon = row.horizon;
            if let (Some(id), Some(xact), Some(product)) = (row.id, row.xact, row.product_id) {
                if self.seen.insert(id, xact).is_none() {
                    changes.push(Change::Product(product));
                }
            }
        }
        self.horizon = horizon;
        self.seen.retain(|_, xact| *xact >= horizon);
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_a_product_or_everything() {
        assert_eq!(Change::from_payload("42"), Some(Change::Product(42)));
        assert_eq!(Change::from_payload("*"), Some(Change::Everything));
        assert_eq!(Change::from_payload("x"), None);
        assert_eq!(Change::from_payload(""), None);
    }
}
