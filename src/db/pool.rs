//! The connection pool: an r2d2 pool of [`DbConnection`]s, PostgreSQL
//! connections that cost no round trip at checkout and are still discarded
//! once dead. On the direct path (the default) the dispatcher's threads
//! (`dispatch`) own the pool and run every query of the requests on it; only
//! on the naive path (`DATABASE_NAIVE=true`) does rocket_sync_db_pools build
//! and hand out the same connections instead (`naive`), with a ping per
//! checkout. Either way the settings come from `databases.atelier`, read
//! with rocket_sync_db_pools' `Config`.
//!
//! r2d2's default `test_on_check_out` pings the server before every request;
//! here each connection instead watches its own queries (Diesel
//! instrumentation) and marks itself broken when one fails because the
//! connection is gone, and r2d2 drops it on return (what a read does then is
//! `retry`'s). The same hook counts statements, which tests and operators
//! read from [`StatementCounter`].

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{
    AnsiTransactionManager, Connection, InstrumentationEvent, SimpleConnection, TransactionManager,
};
use diesel::r2d2::{self, ManageConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::PgConnection;
use rocket::{Build, Rocket};
use rocket_sync_db_pools::Config;

use crate::db::availability::Availability;
use crate::metrics::DbMetrics;

/// What every pooled connection of one app counts: the SQL statements it
/// started, and the queries that found it gone. Cloning shares the counts,
/// which are the metrics' own (`metrics::DbMetrics`) when the app has them.
#[derive(Debug, Clone)]
pub struct StatementCounter {
    statements: prometheus::IntCounter,
    lost: prometheus::IntCounter,
}

impl Default for StatementCounter {
    /// Counts of their own, in no registry.
    fn default() -> Self {
        let counter = |name: &str| {
            prometheus::IntCounter::new(name, name)
                .unwrap_or_else(|_| unreachable!("a valid metric name"))
        };
        StatementCounter {
            statements: counter("statements"),
            lost: counter("connections_lost"),
        }
    }
}

impl StatementCounter {
    /// Counts into `statements` and `lost`.
    pub fn new(statements: prometheus::IntCounter, lost: prometheus::IntCounter) -> Self {
        StatementCounter { statements, lost }
    }

    /// Counts into the metrics' statement counter and their `connection_lost`
    /// errors.
    pub fn counting_into(metrics: &DbMetrics) -> Self {
        StatementCounter::new(
            metrics.statements.clone(),
            metrics.errors.with_label_values(&["connection_lost"]),
        )
    }

    /// Statements started so far.
    pub fn total(&self) -> u64 {
        self.statements.get()
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

/// Whether a query error means the connection itself is gone: by this, a
/// connection marks itself broken (below), and a read runs again on another
/// one (`retry`).
pub fn is_connection_lost(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

/// Whether a query error means the server cancelled the statement for
/// running past `statement_timeout`. Diesel has no kind for it, so the
/// server's words (SQLSTATE 57014's message) tell.
pub fn is_statement_timeout(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
            if info.message().contains("statement timeout")
    )
}

/// Opens connections for the pool and decides which ones to throw away.
#[derive(Debug, Clone)]
pub struct DbManager {
    url: String,
    statements: StatementCounter,
    statement_timeout: Option<Duration>,
}

impl DbManager {
    /// A manager for `url` whose connections count into `statements`.
    pub fn new(url: impl Into<String>, statements: StatementCounter) -> Self {
        DbManager {
            url: url.into(),
            statements,
            statement_timeout: None,
        }
    }

    /// The same, with every statement of its connections cancelled by the
    /// server after `timeout` (`None`: never).
    pub fn with_statement_timeout(self, timeout: Option<Duration>) -> Self {
        DbManager {
            statement_timeout: timeout,
            ..self
        }
    }
}

impl ManageConnection for DbManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        let mut conn = PgConnection::establish(&self.url).map_err(r2d2::Error::ConnectionError)?;
        // Every catalog statement has a fixed shape whose best plan does not
        // depend on its parameters (index lookups of `= ANY($1)`, a LIMIT on
        // the primary key), yet PostgreSQL's default `auto` mode compared the
        // generic plan, costed for an unknown array, with custom ones and
        // kept planning each execution anew, which cost more than running
        // the statement (docs/PERFORMANCE.md, "What made the difference").
        conn.batch_execute("SET plan_cache_mode = force_generic_plan")
            .map_err(r2d2::Error::QueryError)?;
        // No statement outlives the request that asked for it: past the
        // checkout timeout the client has had its 503 already, and a
        // statement still running would only hold the connection the next
        // requests wait for.
        if let Some(timeout) = self.statement_timeout {
            conn.batch_execute(&format!("SET statement_timeout = {}", timeout.as_millis()))
                .map_err(r2d2::Error::QueryError)?;
        }
        let broken = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&broken);
        let counter = self.statements.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::StartQuery { .. } => counter.statements.inc(),
            InstrumentationEvent::FinishQuery {
                error: Some(error), ..
            } if is_connection_lost(error) => {
                counter.lost.inc();
                flag.store(true, Ordering::Relaxed)
            }
            // Logged here, once per statement, however many requests were
            // waiting on it; each of them answers 503.
            InstrumentationEvent::FinishQuery {
                query,
                error: Some(error),
                ..
            } if is_statement_timeout(error) => {
                tracing::warn!("a statement ran past statement_timeout and was cancelled: {query}")
            }
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

/// The pool's settings, from `databases.atelier` in Rocket's figment.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub url: String,
    pub size: u32,
    pub timeout: Duration,
    /// Connections kept open while idle (default: all of them, so the first
    /// requests after start-up find the pool warm).
    pub min_idle: Option<u32>,
    /// How long the server lets one statement run before cancelling it
    /// (`DATABASE_STATEMENT_TIMEOUT_MS`; default: `timeout`; 0: no limit).
    pub statement_timeout: Option<Duration>,
    /// The naive path: a ping per checkout and rocket_sync_db_pools'
    /// hand-offs, kept so benchmarks can show what the direct path saves.
    pub naive: bool,
    /// Read replicas (`DATABASE_REPLICA_URLS`, comma-separated): the direct
    /// path reads from them, and from `url` only when none answers.
    pub replica_urls: Vec<String>,
    /// How far behind the primary a replica may be and still be read
    /// (`DATABASE_REPLICA_MAX_LAG`, seconds; default
    /// [`DEFAULT_REPLICA_MAX_LAG`]; 0: never skipped for lag).
    pub replica_max_lag: Option<Duration>,
}

/// How far behind the primary a replica may be, unless
/// `DATABASE_REPLICA_MAX_LAG` says otherwise: a few seconds, far above the
/// milliseconds a streaming replica normally lags, far below the minutes of
/// one that has lost its place.
pub const DEFAULT_REPLICA_MAX_LAG: Duration = Duration::from_secs(5);

impl PoolSettings {
    /// Reads the settings of the pool named `db_name`.
    pub fn from_rocket(
        db_name: &str,
        rocket: &Rocket<Build>,
    ) -> Result<Self, Box<rocket::figment::Error>> {
        let config = Config::from(db_name, rocket).map_err(Box::new)?;
        let figment = Config::figment(db_name, rocket);
        let timeout = Duration::from_secs(u64::from(config.timeout));
        let statement_timeout = match figment.extract_inner::<u64>("statement_timeout_ms") {
            Ok(0) => None,
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => Some(timeout),
        };
        let replica_max_lag = match figment.find_value("replica_max_lag") {
            Err(_) => Some(DEFAULT_REPLICA_MAX_LAG),
            Ok(value) => {
                let invalid = |got: String| {
                    Box::new(rocket::figment::Error::from(format!(
                        "DATABASE_REPLICA_MAX_LAG must be a number of seconds >= 0, got {got}"
                    )))
                };
                match value.deserialize::<f64>() {
                    Ok(0.0) => None,
                    Ok(seconds) => Some(
                        Duration::try_from_secs_f64(seconds)
                            .map_err(|_| invalid(seconds.to_string()))?,
                    ),
                    Err(_) => {
                        return Err(invalid(
                            value
                                .as_str()
                                .map_or_else(|| format!("{value:?}"), |s| format!("{s:?}")),
                        ))
                    }
                }
            }
        };
        Ok(PoolSettings {
            url: config.url,
            size: config.pool_size,
            timeout,
            statement_timeout,
            min_idle: figment.extract_inner::<u32>("min_idle").ok(),
            naive: figment.extract_inner::<bool>("naive").unwrap_or(false),
            replica_urls: figment
                .extract_inner::<String>("replica_urls")
                .map(|urls| crate::config::split_urls(&urls))
                .unwrap_or_default(),
            replica_max_lag,
        })
    }
}

/// Builds a pool. Connections are opened in the background, not before
/// start-up: the service starts (and answers 503) while the database is down,
/// and recovers by itself when it is back. A connection that cannot be
/// opened marks the database down in `availability`.
pub fn build_pool(
    settings: &PoolSettings,
    statements: StatementCounter,
    availability: Availability,
) -> r2d2::Pool<DbManager> {
    r2d2::Pool::builder()
        .max_size(settings.size)
        .min_idle(settings.min_idle)
        // Every checkout gives its own timeout (`settings.timeout`); what
        // this one sets is how long r2d2 waits, at most, between two tries
        // at opening a connection (half of it), and so how long after the
        // database is back the pool has its connections again.
        .connection_timeout(crate::db::availability::PROBE_INTERVAL * 2)
        // Health is tracked by `has_broken`; a ping per checkout doubles the
        // round trips of a one-statement request. The naive path keeps it.
        .test_on_check_out(settings.naive)
        .error_handler(Box::new(ConnectErrors {
            url: settings.url.clone(),
            availability,
        }))
        .build_unchecked(
            DbManager::new(settings.url.clone(), statements)
                .with_statement_timeout(settings.statement_timeout),
        )
}

/// What r2d2 does with a connection it could not open: instead of a log line
/// per attempt (r2d2's default), the database is marked down, which is
/// logged once per outage. A failed checkout ping (the naive path's) is a
/// dead connection, not an unreachable database: it is dropped and replaced.
#[derive(Debug)]
struct ConnectErrors {
    url: String,
    availability: Availability,
}

impl r2d2::HandleError<r2d2::Error> for ConnectErrors {
    fn handle_error(&self, error: r2d2::Error) {
        match error {
            r2d2::Error::ConnectionError(cause) => {
                self.availability.connect_failed(&self.url, &cause)
            }
            r2d2::Error::QueryError(cause) => {
                tracing::debug!("a pooled connection failed its check: {cause}")
            }
        }
    }
}
