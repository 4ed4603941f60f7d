//! The import's `warm` phase: the new tables read into the buffers of the
//! primary and of each read replica before the swap.
//!
//! The import writes its tables around PostgreSQL's buffers, and this kind
//! of machine gives back page cache it has not used lately: right after the
//! swap every request would read the new tables' pages from disk, all at
//! once. An instance reading a replica sees the swap when the replica
//! replays it, so each replica is waited for until it has replayed the new
//! tables, then warmed the same way, over its own connection. A replica is
//! a help here, never a condition: one that cannot be reached, or has not
//! caught up within [`REPLICA_CATCH_UP`], is named in a warning and swapped
//! in cold. The swap waits for the replicas again before it drops the
//! retired tables (see [`wait_for_replicas`]).

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text};

use crate::db::lag::{replica_name, with_connect_timeout};
use crate::db::prewarm;

/// How long the import waits for a replica to replay the new tables.
pub const REPLICA_CATCH_UP: Duration = Duration::from_secs(60);

/// How often a replica's replay position is asked while waiting for it.
const REPLAY_POLL: Duration = Duration::from_millis(100);

/// The new tables read into one server's buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warmed {
    /// `primary`, or a replica's `host:port/database` (no credentials).
    pub server: String,
    /// 8 KB blocks read; `None` when the server was left cold (the log says
    /// why).
    pub blocks: Option<i64>,
}

/// Reads `schema`'s tables, TOAST and indexes into the buffers of the
/// primary (`conn`), then of each of `replicas` once it has replayed them,
/// the replicas side by side. Creates `pg_prewarm` on the primary when the
/// import's role may; replicas have it by replication.
pub fn warm(
    conn: &mut PgConnection,
    schema: &str,
    replicas: &[String],
) -> QueryResult<Vec<Warmed>> {
    let primary = if prewarm::installed_or_created(conn)? {
        Some(prewarm::prewarm_schema(conn, schema)?.blocks())
    } else {
        tracing::warn!(
            "the pg_prewarm extension is not installed in this database: the new tables are \
             served from disk until requests have read them (CREATE EXTENSION pg_prewarm)"
        );
        None
    };
    let mut warmed = vec![Warmed {
        server: "primary".to_string(),
        blocks: primary,
    }];
    if replicas.is_empty() {
        return Ok(warmed);
    }
    // Everything the replicas need was written before this position.
    let written = current_wal_position(conn)?;
    std::thread::scope(|scope| {
        let warming: Vec<_> = replicas
            .iter()
            .map(|url| scope.spawn(|| warm_replica(url, schema, &written)))
            .collect();
        for (url, handle) in replicas.iter().zip(warming) {
            let server = replica_name(url);
            let blocks = match handle.join() {
                Ok(Ok(Some(blocks))) => Some(blocks),
                Ok(Ok(None)) => {
                    tracing::warn!(
                        "replica {server} had not replayed the new tables after {}s: they \
                         start cold there",
                        REPLICA_CATCH_UP.as_secs()
                    );
                    None
                }
                Ok(Err(error)) => {
                    tracing::warn!(
                        "the new tables were not read into replica {server}'s buffers: {error}"
                    );
                    None
                }
                Err(_) => {
                    tracing::warn!("warming replica {server} failed unexpectedly");
                    None
                }
            };
            warmed.push(Warmed { server, blocks });
        }
    });
    Ok(warmed)
}

/// Where the primary's WAL ends now.
pub fn current_wal_position(conn: &mut PgConnection) -> QueryResult<String> {
    diesel::select(diesel::dsl::sql::<Text>("pg_current_wal_lsn()::text")).get_result(conn)
}

/// Waits until each of `replicas` has replayed the primary's WAL up to
/// `written`, side by side, each for up to [`REPLICA_CATCH_UP`]; one that
/// cannot be reached or stays behind is named in a warning, and not waited
/// for longer.
pub fn wait_for_replicas(replicas: &[String], written: &str) {
    std::thread::scope(|scope| {
        for url in replicas {
            scope.spawn(move || {
                let replayed = PgConnection::establish(&with_connect_timeout(url))
                    .map_err(ReplicaError::from)
                    .and_then(|mut conn| Ok(wait_replayed(&mut conn, written)?));
                match replayed {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        "replica {} had not replayed the swap after {}s",
                        replica_name(url),
                        REPLICA_CATCH_UP.as_secs()
                    ),
                    Err(error) => tracing::warn!(
                        "could not tell whether replica {} replayed the swap: {error}",
                        replica_name(url)
                    ),
                }
            });
        }
    });
}

/// Whether the server on `conn` replayed the WAL up to `written` within
/// [`REPLICA_CATCH_UP`]; at once for a server that is not replaying.
fn wait_replayed(conn: &mut PgConnection, written: &str) -> QueryResult<bool> {
    let deadline = Instant::now() + REPLICA_CATCH_UP;
    // NULL on a server that is not replaying: nothing to wait for.
    let replayed = |conn: &mut PgConnection| -> QueryResult<Option<bool>> {
        diesel::select(
            diesel::dsl::sql::<Nullable<Bool>>("pg_last_wal_replay_lsn() >= ")
                .bind::<Text, _>(written)
                .sql("::pg_lsn"),
        )
        .get_result(conn)
    };
    while replayed(conn)? == Some(false) {
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(REPLAY_POLL);
    }
    Ok(true)
}

/// What can leave a replica cold.
#[derive(Debug, thiserror::Error)]
enum ReplicaError {
    #[error("connecting: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("{0}")]
    Database(#[from] diesel::result::Error),
    #[error("the pg_prewarm extension is not installed (it is created on the primary)")]
    NoExtension,
}

/// Waits until the replica at `url` has replayed the primary's WAL up to
/// `written`, then reads `schema` into its buffers: the blocks read, or
/// `None` if it did not catch up in time.
fn warm_replica(url: &str, schema: &str, written: &str) -> Result<Option<i64>, ReplicaError> {
    let mut conn = PgConnection::establish(&with_connect_timeout(url))?;
    if !wait_replayed(&mut conn, written)? {
        return Ok(None);
    }
    if !prewarm::installed(&mut conn)? {
        return Err(ReplicaError::NoExtension);
    }
    Ok(Some(prewarm::prewarm_schema(&mut conn, schema)?.blocks()))
}
