//! Where the direct path's reads go: the read replicas in turn
//! (`DATABASE_REPLICA_URLS`), skipping for a while one that could not be
//! reached or dropped its connection, and the primary (`DATABASE_URL`) when
//! none is configured or none is left. Writes, migrations and imports never
//! come here: they use `DATABASE_URL` directly.
//!
//! A replica is marked down when a checkout fails within a short timeout or a
//! query loses its connection; reads go elsewhere at once, so clients see no
//! error. It is tried again once its pool has opened connections again in
//! the background, or after [`DOWN_FOR`] at the latest.
//!
//! Each pool has its own [`Availability`]: a replica that cannot be reached
//! is skipped until its probe connects again, and reads answer 503 at once
//! only while no database they could come from is reachable.
//!
//! A replica too far behind the primary (`DATABASE_REPLICA_MAX_LAG`, judged
//! by `lag`) is skipped the same way until it catches up, and its reads go
//! to the primary. While the primary is known to be down, a replica skipped
//! for lag is still read: an answer a little old beats none, as with the
//! response cache's stale answers.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::r2d2::{self, PooledConnection};

use crate::db::availability::Availability;
use crate::db::error::DbError;
use crate::db::lag::{replica_name, Lags, Monitor, ReplicaLag};
use crate::db::pool::{build_pool, DbManager, PoolSettings, StatementCounter};
use crate::metrics::DbMetrics;

/// How long a replica that failed is skipped before it is tried again.
pub const DOWN_FOR: Duration = Duration::from_secs(2);

/// How long a checkout from a replica may take before the replica counts as
/// unreachable. Each replica's pool has a connection per database thread, so
/// a checkout never waits for a busy connection, only for a new one.
const REPLICA_CHECKOUT: Duration = Duration::from_millis(500);

/// How long a checkout from the primary waits before it looks again whether
/// the databases have been found unreachable meanwhile: a request that was
/// already waiting for a connection when they went away answers 503 within
/// this, not after the whole pool timeout.
const CHECKOUT_SLICE: Duration = Duration::from_millis(25);

/// Which database a connection reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Primary,
    /// The replica at this index of `DATABASE_REPLICA_URLS`.
    Replica(usize),
}

struct Replica {
    pool: r2d2::Pool<DbManager>,
    availability: Availability,
    /// Until when (milliseconds since `started`) it is skipped; 0: up.
    down_until_ms: AtomicU64,
}

/// The pools reads are served from.
pub struct ReadPools {
    primary: r2d2::Pool<DbManager>,
    primary_availability: Availability,
    replicas: Vec<Replica>,
    /// Each replica's lag and whether it is skipped for it, in the order of
    /// `replicas`.
    lags: Arc<Lags>,
    /// Reads sent to the primary because every replica was skipped: for lag
    /// (at least one was), or because all were down.
    fallback_lag: prometheus::IntCounter,
    fallback_down: prometheus::IntCounter,
    next: AtomicUsize,
    started: Instant,
}

/// What a replica is to reads right now, as `/ready` and the metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// Read in turn with the others.
    InUse,
    /// Skipped: too far behind the primary, not streaming, or its lag
    /// cannot be told.
    Lagging,
    /// Skipped: it cannot be reached, or dropped a connection.
    Down,
}

/// One replica as `/ready` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaStatus {
    /// `host:port/database`.
    pub name: String,
    pub state: ReplicaState,
    /// How far behind the primary it is; `None` while that cannot be told.
    pub lag: Option<Duration>,
}

impl ReadPools {
    /// The primary's pool, watched by `primary`, and one per replica in
    /// `settings`, each watched by an availability of its own that counts
    /// into `metrics`; all count statements into `statements`. With
    /// replicas, the primary keeps no idle connections: it is only the
    /// fallback.
    pub fn new(
        settings: &PoolSettings,
        statements: StatementCounter,
        primary: Availability,
        metrics: &DbMetrics,
    ) -> Arc<Self> {
        let replicas: Vec<Replica> = settings
            .replica_urls
            .iter()
            .map(|url| {
                let availability = Availability::counting_into(metrics);
                Replica {
                    pool: build_pool(
                        &PoolSettings {
                            url: url.clone(),
                            ..settings.clone()
                        },
                        statements.clone(),
                        availability.clone(),
                    ),
                    availability,
                    down_until_ms: AtomicU64::new(0),
                }
            })
            .collect();
        let mut names: Vec<String> = Vec::new();
        for url in &settings.replica_urls {
            let name = replica_name(url);
            // Two entries for one server would share their metrics.
            let name = if names.contains(&name) {
                format!("{name}#{}", names.len() + 1)
            } else {
                name
            };
            names.push(name);
        }
        let lags = Lags::new(names.into_iter().map(ReplicaLag::new).collect());
        let primary_settings = if replicas.is_empty() {
            settings.clone()
        } else {
            PoolSettings {
                min_idle: Some(0),
                ..settings.clone()
            }
        };
        Arc::new(ReadPools {
            primary: build_pool(&primary_settings, statements, primary.clone()),
            primary_availability: primary,
            replicas,
            lags,
            fallback_lag: metrics.fallback_reads.with_label_values(&["lag"]),
            fallback_down: metrics.fallback_reads.with_label_values(&["down"]),
            next: AtomicUsize::new(0),
            started: Instant::now(),
        })
    }

    /// Connections each pool holds at most: one per database thread.
    pub fn size(&self) -> u32 {
        self.primary.max_size()
    }

    /// Whether no database reads could come from is reachable right now:
    /// reads then answer 503 at once.
    pub fn unreachable(&self) -> bool {
        self.primary_availability.is_down()
            && self.replicas.iter().all(|r| r.availability.is_down())
    }

    /// Outages of any of the databases since start-up.
    pub fn outages(&self) -> u64 {
        self.replicas
            .iter()
            .map(|r| r.availability.outages())
            .sum::<u64>()
            + self.primary_availability.outages()
    }

    /// Connections in use and idle, over every pool.
    pub fn connections(&self) -> (u32, u32) {
        std::iter::once(&self.primary)
            .chain(self.replicas.iter().map(|r| &r.pool))
            .map(|pool| pool.state())
            .fold((0, 0), |(in_use, idle), state| {
                (
                    in_use + state.connections - state.idle_connections,
                    idle + state.idle_connections,
                )
            })
    }

    /// A connection to the next replica that is up and keeps up, or to the
    /// primary; 503 when not even the primary gives one within `timeout`, or
    /// as soon as every database is known to be unreachable.
    pub fn checkout(
        &self,
        timeout: Duration,
        metrics: &DbMetrics,
    ) -> Result<(PooledConnection<DbManager>, Source), DbError> {
        let deadline = Instant::now() + timeout;
        let mut lagging = false;
        if let Some(found) = self.replica_connection(timeout, false, &mut lagging) {
            return Ok(found);
        }
        loop {
            if self.primary_availability.is_down() {
                if lagging {
                    if let Some(found) = self.replica_connection(timeout, true, &mut lagging) {
                        return Ok(found);
                    }
                }
                return Err(DbError::Unavailable);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                metrics.errors.with_label_values(&["timeout"]).inc();
                return Err(DbError::Unavailable);
            }
            if let Ok(conn) = self.primary.get_timeout(left.min(CHECKOUT_SLICE)) {
                if !self.replicas.is_empty() {
                    if lagging {
                        self.fallback_lag.inc();
                    } else {
                        self.fallback_down.inc();
                    }
                }
                return Ok((conn, Source::Primary));
            }
        }
    }

    /// A connection to the next replica worth trying, skipping those behind
    /// unless `even_lagging` (then noting in `lagging` that one was).
    fn replica_connection(
        &self,
        timeout: Duration,
        even_lagging: bool,
        lagging: &mut bool,
    ) -> Option<(PooledConnection<DbManager>, Source)> {
        let count = self.replicas.len();
        if count == 0 {
            return None;
        }
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        for k in 0..count {
            let index = (first + k) % count;
            let replica = &self.replicas[index];
            if !self.worth_trying(replica) {
                continue;
            }
            if !even_lagging && self.lags.get(index).is_some_and(ReplicaLag::skipped) {
                *lagging = true;
                continue;
            }
            match replica.pool.get_timeout(REPLICA_CHECKOUT.min(timeout)) {
                Ok(conn) => {
                    replica.down_until_ms.store(0, Ordering::Relaxed);
                    return Some((conn, Source::Replica(index)));
                }
                Err(e) => {
                    tracing::warn!(
                        "replica {} is unreachable, reading elsewhere: {e}",
                        self.name(index)
                    );
                    self.mark_down(Source::Replica(index));
                }
            }
        }
        None
    }

    fn name(&self, index: usize) -> &str {
        self.lags.get(index).map_or("?", ReplicaLag::name)
    }

    /// Every replica: its name, whether reads use it, and its lag.
    pub fn replica_states(&self) -> Vec<ReplicaStatus> {
        self.replicas
            .iter()
            .zip(self.lags.all())
            .map(|(replica, lag)| ReplicaStatus {
                name: lag.name().to_string(),
                state: if !self.worth_trying(replica) {
                    ReplicaState::Down
                } else if lag.skipped() {
                    ReplicaState::Lagging
                } else {
                    ReplicaState::InUse
                },
                lag: lag.lag(),
            })
            .collect()
    }

    /// The replicas' lags, for whoever needs to know when one is skipped.
    pub fn lags(&self) -> &Arc<Lags> {
        &self.lags
    }

    /// The monitor that judges the replicas' lag against the primary of
    /// `settings` (`None` without replicas); started by the caller.
    pub fn lag_monitor(&self, settings: &PoolSettings) -> Option<Monitor> {
        if self.replicas.is_empty() {
            return None;
        }
        Some(Monitor::new(
            &self.lags,
            settings.replica_max_lag,
            &settings.url,
            self.primary_availability.clone(),
            settings
                .replica_urls
                .iter()
                .cloned()
                .zip(self.replicas.iter().map(|r| r.availability.clone()))
                .collect(),
        ))
    }

    /// Skips `source` for [`DOWN_FOR`] (nothing for the primary, which is
    /// always the last resort).
    pub fn mark_down(&self, source: Source) {
        if let Source::Replica(index) = source {
            if let Some(replica) = self.replicas.get(index) {
                let until = self.elapsed_ms() + DOWN_FOR.as_millis() as u64;
                replica.down_until_ms.store(until.max(1), Ordering::Relaxed);
            }
        }
    }

    /// Reachable, and up, or down but with connections again (its pool
    /// reconnects by itself), or down for long enough to try again.
    fn worth_trying(&self, replica: &Replica) -> bool {
        if replica.availability.is_down() {
            return false;
        }
        let until = replica.down_until_ms.load(Ordering::Relaxed);
        until == 0 || self.elapsed_ms() >= until || replica.pool.state().idle_connections > 0
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
