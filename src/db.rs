//! The connection pool: PostgreSQL connections handed to request handlers
//! through `rocket_sync_db_pools`, built by our own `Poolable` so that
//! checkout costs no round trip and dead connections are still discarded.
//!
//! r2d2's default `test_on_check_out` pings the server before every request;
//! here each connection instead watches its own queries (Diesel
//! instrumentation) and marks itself broken when one fails because the
//! connection is gone, and r2d2 drops it on return. The same hook counts
//! statements, which tests and operators read from [`StatementCounter`].

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{
    AnsiTransactionManager, Connection, InstrumentationEvent, SimpleConnection, TransactionManager,
};
use diesel::r2d2::{self, ManageConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::PgConnection;
use rocket::{Build, Rocket};
use rocket_sync_db_pools::{database, Config, PoolResult, Poolable};

/// The name of the database in Rocket's configuration (`databases.atelier`).
pub const DATABASE_NAME: &str = "atelier";

/// The pool as a request guard and `conn.run(...)` hand-off.
#[database("atelier")]
pub struct Db(DbConnection);

/// Total SQL statements started by every pooled connection of one app.
#[derive(Debug, Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    /// Statements started so far.
    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A pooled PostgreSQL connection that knows whether it is still usable.
pub struct DbConnection {
    conn: PgConnection,
    broken: Arc<AtomicBool>,
}

impl Deref for DbConnection {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for DbConnection {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

/// Whether a query error means the connection itself is gone.
pub fn is_connection_lost(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

/// Opens connections for the pool and decides which ones to throw away.
#[derive(Debug, Clone)]
pub struct DbManager {
    url: String,
    statements: StatementCounter,
}

impl DbManager {
    /// A manager for `url` whose connections count into `statements`.
    pub fn new(url: impl Into<String>, statements: StatementCounter) -> Self {
        DbManager {
            url: url.into(),
            statements,
        }
    }
}

impl ManageConnection for DbManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        let mut conn = PgConnection::establish(&self.url).map_err(r2d2::Error::ConnectionError)?;
        let broken = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&broken);
        let counter = Arc::clone(&self.statements.0);
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::StartQuery { .. } => {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            InstrumentationEvent::FinishQuery {
                error: Some(error), ..
            } if is_connection_lost(error) => flag.store(true, Ordering::Relaxed),
            _ => {}
        });
        Ok(DbConnection { conn, broken })
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking()
            || conn.broken.load(Ordering::Relaxed)
            || AnsiTransactionManager::is_broken_transaction_manager(&mut conn.conn)
    }
}

/// Pool settings: `databases.atelier.{url,pool_size,timeout}` in Rocket's
/// figment, and `min_idle`: connections kept open while idle (default: all of
/// them, so the first requests after start-up find the pool warm).
pub fn build_pool(
    config: &Config,
    min_idle: Option<u32>,
    statements: StatementCounter,
) -> r2d2::Pool<DbManager> {
    r2d2::Pool::builder()
        .max_size(config.pool_size)
        .min_idle(min_idle)
        .connection_timeout(Duration::from_secs(u64::from(config.timeout)))
        // Health is tracked by `has_broken`; a ping per checkout would double
        // the round trips of a one-statement request.
        .test_on_check_out(false)
        // Connections are opened in the background, not before start-up: the
        // service starts (and answers 503) while the database is down, and
        // recovers by itself when it is back.
        .build_unchecked(DbManager::new(config.url.clone(), statements))
}

impl Poolable for DbConnection {
    type Manager = DbManager;
    type Error = std::convert::Infallible;

    fn pool(db_name: &str, rocket: &Rocket<Build>) -> PoolResult<Self> {
        let config = Config::from(db_name, rocket)?;
        let statements = rocket
            .state::<StatementCounter>()
            .cloned()
            .unwrap_or_default();
        let min_idle = Config::figment(db_name, rocket)
            .extract_inner::<u32>("min_idle")
            .ok();
        Ok(build_pool(&config, min_idle, statements))
    }
}
