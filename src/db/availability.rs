//! Whether the database can be reached at all, as the pool last found out,
//! so that requests stop waiting for it once it is known to be gone.
//!
//! Without this, every request during an outage waits the whole pool timeout
//! for a connection that cannot come. Here the first failed attempt to open a
//! connection (refused, reset, the server shutting down: whatever the cause)
//! marks the database down: lookups then answer 503 at once, and a probe on a
//! thread of its own tries to connect every [`PROBE_INTERVAL`] until it can,
//! then marks it up again. A connection lost under a query does not mark it
//! down by itself (a restarted backend is replaced at once, see `retry`);
//! the new connection that cannot be opened does.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::metrics::DbMetrics;

/// How often the probe tries the database while it is down: the first
/// fresh answer comes at most this long, plus a connection's set-up, after
/// the database is back.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// The database's reachability, shared by the pool, the dispatcher and the
/// naive path (cloning shares it).
#[derive(Debug, Clone)]
pub struct Availability(Arc<State>);

#[derive(Debug)]
struct State {
    down: AtomicBool,
    probing: AtomicBool,
    /// When the current outage began, for the log line that ends it.
    since: Mutex<Option<Instant>>,
    /// Outages seen so far, for the metrics.
    outages: AtomicU64,
    /// Connections that could not be opened, for the metrics.
    connect_errors: prometheus::IntCounter,
}

impl Default for Availability {
    /// Counting failed connections in a counter of its own, in no registry.
    fn default() -> Self {
        let counter = prometheus::IntCounter::new("connect_errors", "connect_errors")
            .unwrap_or_else(|_| unreachable!("a valid metric name"));
        Availability::counting(counter)
    }
}

impl Availability {
    /// Reachable until found otherwise; failed connections count into the
    /// metrics' `connect` errors.
    pub fn counting_into(metrics: &DbMetrics) -> Self {
        Availability::counting(metrics.errors.with_label_values(&["connect"]))
    }

    /// Reachable until found otherwise; failed connections count into
    /// `connect_errors`.
    pub fn counting(connect_errors: prometheus::IntCounter) -> Self {
        Availability(Arc::new(State {
            down: AtomicBool::new(false),
            probing: AtomicBool::new(false),
            since: Mutex::new(None),
            outages: AtomicU64::new(0),
            connect_errors,
        }))
    }

    /// Whether the database is known to be unreachable right now.
    pub fn is_down(&self) -> bool {
        self.0.down.load(Ordering::Relaxed)
    }

    /// Outages that began since start-up.
    pub fn outages(&self) -> u64 {
        self.0.outages.load(Ordering::Relaxed)
    }

    /// A connection to `url` could not be opened (`cause`): marks the
    /// database down, unless it already is, and starts the probe.
    pub fn connect_failed(&self, url: &str, cause: &dyn std::fmt::Display) {
        self.0.connect_errors.inc();
        if self.0.down.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.0.since.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        self.0.outages.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            "database unreachable, answering 503 until it is back: {}",
            cause.to_string().trim_end()
        );
        self.start_probe(url.to_string());
    }

    fn start_probe(&self, url: String) {
        if self.0.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        // Held weakly: a probe outlives no application.
        let state = Arc::downgrade(&self.0);
        let spawned = std::thread::Builder::new()
            .name("atelier-db-probe".into())
            .spawn(move || loop {
                std::thread::sleep(PROBE_INTERVAL);
                let Some(state) = state.upgrade() else { return };
                if reachable(&url) {
                    Availability(state).came_back();
                    return;
                }
            });
        if let Err(e) = spawned {
            // Without a probe the database would stay "down" for good.
            tracing::error!("starting the database probe: {e}; not failing fast");
            self.0.probing.store(false, Ordering::Release);
            self.0.down.store(false, Ordering::Release);
        }
    }

    fn came_back(&self) {
        let since = self
            .0
            .since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.0.probing.store(false, Ordering::Release);
        self.0.down.store(false, Ordering::Release);
        tracing::info!(
            "database reachable again after {:.1}s",
            since.map_or(0.0, |t| t.elapsed().as_secs_f64())
        );
    }
}

/// Whether a new connection to `url` opens and answers.
fn reachable(url: &str) -> bool {
    PgConnection::establish(url).is_ok_and(|mut conn| conn.batch_execute("SELECT 1").is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_connect_marks_it_down_until_the_probe_connects() {
        let availability = Availability::default();
        assert!(!availability.is_down());
        // Port 1 on loopback: nothing listens there, so it stays down.
        availability.connect_failed("postgres://nobody@127.0.0.1:1/none", &"refused");
        assert!(availability.is_down());
        assert_eq!(availability.outages(), 1);
        // A second failure is the same outage.
        availability.connect_failed("postgres://nobody@127.0.0.1:1/none", &"refused");
        assert_eq!(availability.outages(), 1);
        std::thread::sleep(PROBE_INTERVAL * 3);
        assert!(availability.is_down());
        availability.came_back();
        assert!(!availability.is_down());
    }
}
