//! How far behind the primary each read replica is, and whether it is too
//! far behind to be read: a replica is believed only while it keeps up.
//!
//! A monitor thread looks every [`CHECK_INTERVAL`], on connections of its
//! own, at the primary's WAL position (`pg_current_wal_lsn()`) and at each
//! replica's replay position (`pg_last_wal_replay_lsn()`), the age of its
//! last replayed commit and whether its WAL receiver streams. The lag of a
//! replica is how long ago the primary was first seen past the replica's
//! replay position: the age of the oldest WAL the replica has not replayed,
//! to within a check, with no clock shared between servers. A gap older
//! than what the monitor has seen (at start-up, say) is judged by the age of
//! the replica's last replayed commit instead, which is at least as old.
//!
//! A replica more than `DATABASE_REPLICA_MAX_LAG` behind, or whose WAL
//! receiver is not streaming, or that cannot be asked, is skipped (see
//! `replicas`) until two checks in a row find it streaming and within half
//! the bound: a replica hovering at the bound does not flap, and one whose
//! replay resumes is read again within a few checks of catching up. While
//! the primary cannot be asked, no replica is judged: the last verdict
//! stands. Each verdict that changes is logged.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable};

use crate::db::availability::Availability;

/// How often the monitor looks at the primary and the replicas.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// How long the monitor waits to connect (libpq's `connect_timeout`, whose
/// least effective value is 2): a replica that does not answer delays the
/// checks of the others by this, not by the kernel's TCP timeout.
const CONNECT_TIMEOUT_SECONDS: u32 = 2;

/// How long one of the monitor's statements may run.
const STATEMENT_TIMEOUT_MS: u32 = 1000;

/// How far back the monitor remembers the primary's WAL positions; a gap
/// older than this is judged by the age of the last replayed commit.
const HISTORY: Duration = Duration::from_secs(600);

/// Healthy checks in a row a skipped replica needs before it is read again:
/// two, so a WAL receiver seen for an instant between failed attempts to
/// connect (its status is hidden from roles without `pg_read_all_stats`)
/// does not bring a replica back.
const HEALTHY_CHECKS: u32 = 2;

/// What the service knows of one replica: written by the monitor, read on
/// every checkout and scrape.
#[derive(Debug)]
pub struct ReplicaLag {
    name: String,
    skipped: AtomicBool,
    /// The lag in microseconds; -1 while it cannot be told.
    lag_us: AtomicI64,
}

impl ReplicaLag {
    /// A replica called `name` (see [`replica_name`]), believed until judged.
    pub fn new(name: String) -> Self {
        ReplicaLag {
            name,
            skipped: AtomicBool::new(false),
            lag_us: AtomicI64::new(-1),
        }
    }

    /// Its name in logs, metrics and `/ready`: host, port and database.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether reads skip it for lag.
    pub fn skipped(&self) -> bool {
        self.skipped.load(Ordering::Relaxed)
    }

    /// How far behind the primary it is, `None` while that cannot be told
    /// (it or the primary cannot be asked).
    pub fn lag(&self) -> Option<Duration> {
        u64::try_from(self.lag_us.load(Ordering::Relaxed))
            .ok()
            .map(Duration::from_micros)
    }

    fn set_lag(&self, lag: Option<Duration>) {
        let us = lag.map_or(-1, |lag| i64::try_from(lag.as_micros()).unwrap_or(i64::MAX));
        self.lag_us.store(us, Ordering::Relaxed);
    }
}

/// Called when a replica starts being skipped for lag.
type Listener = Box<dyn Fn() + Send + Sync>;

/// The lag of every replica, shared by the monitor and the read pools; the
/// monitor stops once this is gone.
pub struct Lags {
    replicas: Vec<ReplicaLag>,
    listeners: Mutex<Vec<Listener>>,
}

impl Lags {
    /// One entry per replica, in `DATABASE_REPLICA_URLS` order.
    pub fn new(replicas: Vec<ReplicaLag>) -> Arc<Self> {
        Arc::new(Lags {
            replicas,
            listeners: Mutex::new(Vec::new()),
        })
    }

    /// The replica at `index`.
    pub fn get(&self, index: usize) -> Option<&ReplicaLag> {
        self.replicas.get(index)
    }

    /// Every replica, in `DATABASE_REPLICA_URLS` order.
    pub fn all(&self) -> &[ReplicaLag] {
        &self.replicas
    }

    /// Runs `listener` whenever a replica starts being skipped: what was
    /// read from it may be older than the primary's, and reads now go
    /// elsewhere (the response cache empties itself here).
    pub fn on_skip(&self, listener: impl Fn() + Send + Sync + 'static) {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(listener));
    }

    fn skipped_now(&self) {
        for listener in self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            listener();
        }
    }
}

/// A replica's name for people: `host:port/database`, never its user or
/// password; from a URL (`postgres://...`) or a `key=value` string.
pub fn replica_name(url: &str) -> String {
    let (mut host, mut port, mut db) = (None, None, None);
    if let Ok(parsed) = url::Url::parse(url) {
        host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .map(percent_decoded);
        port = parsed.port().map(|p| p.to_string());
        db = Some(percent_decoded(parsed.path().trim_start_matches('/'))).filter(|d| !d.is_empty());
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "host" => host = Some(value.into_owned()),
                "port" => port = Some(value.into_owned()),
                "dbname" => db = Some(value.into_owned()),
                _ => {}
            }
        }
    } else {
        for pair in url.split_whitespace() {
            if let Some((key, value)) = pair.split_once('=') {
                let value = value.trim_matches('\'').to_string();
                match key.trim() {
                    "host" | "hostaddr" => host = host.or(Some(value)),
                    "port" => port = Some(value),
                    "dbname" => db = Some(value),
                    _ => {}
                }
            }
        }
    }
    format!(
        "{}:{}/{}",
        host.as_deref().unwrap_or("localhost"),
        port.as_deref().unwrap_or("5432"),
        db.as_deref().unwrap_or("")
    )
}

/// `%2Fvar%2Frun%2Fpostgresql` as `/var/run/postgresql`.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` with libpq's `connect_timeout`, unless it sets one.
pub fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout") {
        return url.to_string();
    }
    if url.contains("://") {
        let glue = if url.contains('?') { '&' } else { '?' };
        format!("{url}{glue}connect_timeout={CONNECT_TIMEOUT_SECONDS}")
    } else {
        format!("{url} connect_timeout={CONNECT_TIMEOUT_SECONDS}")
    }
}

/// The primary's WAL positions as the monitor saw them: the first time each
/// new position was seen, oldest first, positions ascending.
#[derive(Debug, Default)]
struct History {
    seen: VecDeque<(Instant, u64)>,
}

impl History {
    /// The primary was at `lsn` at `at`.
    fn record(&mut self, at: Instant, lsn: u64) {
        match self.seen.back() {
            Some(&(_, last)) if lsn == last => {}
            // Positions only move on, unless DATABASE_URL now names another
            // server: what was seen of the old one says nothing.
            Some(&(_, last)) if lsn < last => {
                self.seen.clear();
                self.seen.push_back((at, lsn));
            }
            _ => self.seen.push_back((at, lsn)),
        }
        while self.seen.len() > 1 && self.seen.front().is_some_and(|(t, _)| *t + HISTORY < at) {
            self.seen.pop_front();
        }
    }

    /// The lag at `now` of a replica that has replayed up to `replay`, whose
    /// last replayed commit is `replay_age` old: zero if it has everything
    /// the primary had at the last look; else the time since the primary was
    /// first seen past `replay`; for a gap older than the history, the age
    /// of the last replayed commit (at least the history's length), and
    /// `None` if the replica has replayed no commit since it started.
    fn lag(&self, now: Instant, replay: u64, replay_age: Option<Duration>) -> Option<Duration> {
        let &(_, latest) = self.seen.back()?;
        if replay >= latest {
            return Some(Duration::ZERO);
        }
        let first_past = self.seen.partition_point(|&(_, lsn)| lsn <= replay);
        if first_past > 0 {
            let (at, _) = self.seen.get(first_past)?;
            return Some(now.saturating_duration_since(*at));
        }
        let (oldest, _) = self.seen.front()?;
        replay_age.map(|age| age.max(now.saturating_duration_since(*oldest)))
    }
}

/// Whether a replica is read, or skipped for lag, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    InUse,
    Lagging(Behind),
}

/// Why a replica is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behind {
    /// It was this far behind the primary.
    By(Duration),
    /// Its WAL receiver is not streaming.
    NotStreaming,
    /// It could not be asked, or its lag could not be told.
    Unknown,
}

/// One replica's verdict, from check to check.
#[derive(Debug)]
pub struct Judge {
    max_lag: Option<Duration>,
    verdict: Verdict,
    healthy: u32,
}

impl Judge {
    /// A judge skipping a replica more than `max_lag` behind (`None`: never).
    pub fn new(max_lag: Option<Duration>) -> Self {
        Judge {
            max_lag,
            verdict: Verdict::InUse,
            healthy: 0,
        }
    }

    /// The verdict so far.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// One check: whether the replica's WAL receiver streams (`None`: the
    /// replica could not be asked) and its lag (`None`: unknown). The new
    /// verdict, if it changed.
    pub fn judge(&mut self, streaming: Option<bool>, lag: Option<Duration>) -> Option<Verdict> {
        let max = self.max_lag?;
        let new = match self.verdict {
            Verdict::InUse => Verdict::Lagging(match (streaming, lag) {
                (None, _) | (Some(true), None) => Behind::Unknown,
                (Some(false), _) => Behind::NotStreaming,
                (Some(true), Some(lag)) if lag > max => Behind::By(lag),
                (Some(true), Some(_)) => return None,
            }),
            Verdict::Lagging(_) => {
                if streaming == Some(true) && lag.is_some_and(|lag| lag <= max / 2) {
                    self.healthy += 1;
                } else {
                    self.healthy = 0;
                }
                if self.healthy < HEALTHY_CHECKS {
                    return None;
                }
                Verdict::InUse
            }
        };
        self.healthy = 0;
        self.verdict = new;
        Some(new)
    }
}

#[derive(QueryableByName)]
struct PrimaryRow {
    #[diesel(sql_type = BigInt)]
    lsn: i64,
}

#[derive(QueryableByName)]
struct ReplicaRow {
    #[diesel(sql_type = Bool)]
    in_recovery: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    replay: Option<i64>,
    #[diesel(sql_type = Nullable<Double>)]
    replay_age: Option<f64>,
    #[diesel(sql_type = Bool)]
    streaming: bool,
}

/// The primary's WAL position, as a byte offset.
const PRIMARY_LSN: &str = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8 AS lsn";

/// A replica's replay position, the age of its last replayed commit, and
/// whether a WAL receiver streams. Roles without `pg_read_all_stats` see
/// the receiver's row but not its status: a receiver there counts as
/// streaming (the lag still shows a receiver that gets nothing).
const REPLICA_STATE: &str = "
    SELECT pg_is_in_recovery() AS in_recovery,
           (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8 AS replay,
           extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
             AS replay_age,
           EXISTS (SELECT 1 FROM pg_stat_wal_receiver
                    WHERE coalesce(status, 'streaming') = 'streaming') AS streaming";

/// A connection the monitor opens when it needs one.
struct Endpoint {
    url: String,
    conn: Option<PgConnection>,
    availability: Availability,
    /// Whether the last statement failed: logged when that starts.
    failing: bool,
}

impl Endpoint {
    fn new(url: &str, availability: Availability) -> Self {
        Endpoint {
            url: with_connect_timeout(url),
            conn: None,
            availability,
            failing: false,
        }
    }

    /// Runs `query` on the connection, opening it first if needed; `None`
    /// while the database is known to be down or the query fails. A
    /// connection that cannot be opened marks the database down (its probe
    /// then finds it back).
    fn ask<T>(
        &mut self,
        what: &str,
        query: impl FnOnce(&mut PgConnection) -> QueryResult<T>,
    ) -> Option<T> {
        if self.availability.is_down() {
            self.conn = None;
            return None;
        }
        if self.conn.is_none() {
            match PgConnection::establish(&self.url) {
                Ok(mut conn) => {
                    let setup = format!(
                        "SET application_name = 'atelier lag monitor'; \
                         SET statement_timeout = {STATEMENT_TIMEOUT_MS}"
                    );
                    if let Err(e) = conn.batch_execute(&setup) {
                        self.failed(what, &e);
                        return None;
                    }
                    self.conn = Some(conn);
                }
                Err(e) => {
                    self.availability.connect_failed(&self.url, &e);
                    return None;
                }
            }
        }
        let conn = self.conn.as_mut()?;
        match query(conn) {
            Ok(value) => {
                if self.failing {
                    self.failing = false;
                    tracing::info!("replica lag: {what} answers again");
                }
                Some(value)
            }
            Err(e) => {
                // A server that refuses the question (a primary that is in
                // recovery, say) keeps its connection; a lost one is opened
                // again next time.
                if crate::db::pool::is_connection_lost(&e) {
                    self.conn = None;
                }
                self.failed(what, &e);
                None
            }
        }
    }

    fn failed(&mut self, what: &str, error: &dyn std::fmt::Display) {
        if !self.failing {
            self.failing = true;
            tracing::warn!(
                "replica lag: {what} cannot be asked: {}",
                error.to_string().trim_end()
            );
        }
    }
}

/// What a check found on one replica.
struct Sample {
    replay: Option<u64>,
    replay_age: Option<Duration>,
    streaming: bool,
}

impl Sample {
    fn lag(&self, history: &History, now: Instant) -> Option<Duration> {
        match self.replay {
            Some(replay) => history.lag(now, replay, self.replay_age),
            // Not in recovery: a server of its own, behind nothing.
            None => Some(Duration::ZERO),
        }
    }
}

fn replica_sample(conn: &mut PgConnection) -> QueryResult<Sample> {
    let row: ReplicaRow = diesel::sql_query(REPLICA_STATE).get_result(conn)?;
    Ok(Sample {
        replay: row
            .replay
            .filter(|_| row.in_recovery)
            .map(|lsn| u64::try_from(lsn).unwrap_or(0)),
        replay_age: row
            .replay_age
            .and_then(|secs| Duration::try_from_secs_f64(secs.max(0.0)).ok()),
        streaming: row.streaming || !row.in_recovery,
    })
}

struct Watched {
    endpoint: Endpoint,
    judge: Judge,
}

/// The thread that judges the replicas (see the module's documentation).
pub struct Monitor {
    lags: Weak<Lags>,
    max_lag: Option<Duration>,
    primary: Endpoint,
    replicas: Vec<Watched>,
    history: History,
}

impl Monitor {
    /// A monitor of `replicas` (URL and availability, in the order of
    /// `lags`) against the primary at `primary_url`, skipping those more than
    /// `max_lag` behind (`None`: never; the lag is still measured).
    pub fn new(
        lags: &Arc<Lags>,
        max_lag: Option<Duration>,
        primary_url: &str,
        primary: Availability,
        replicas: Vec<(String, Availability)>,
    ) -> Self {
        Monitor {
            lags: Arc::downgrade(lags),
            max_lag,
            primary: Endpoint::new(primary_url, primary),
            replicas: replicas
                .into_iter()
                .map(|(url, availability)| Watched {
                    endpoint: Endpoint::new(&url, availability),
                    judge: Judge::new(max_lag),
                })
                .collect(),
            history: History::default(),
        }
    }

    /// One look at the primary and every replica. `false` once the
    /// application it serves is gone.
    pub fn check(&mut self) -> bool {
        let Some(lags) = self.lags.upgrade() else {
            return false;
        };
        let primary = self.primary.ask("the primary", |conn| {
            diesel::sql_query(PRIMARY_LSN).get_result::<PrimaryRow>(conn)
        });
        if let Some(row) = &primary {
            self.history
                .record(Instant::now(), u64::try_from(row.lsn).unwrap_or(0));
        }
        let mut skipped = false;
        for (watched, shared) in self.replicas.iter_mut().zip(lags.all()) {
            let sample = watched.endpoint.ask(shared.name(), replica_sample);
            let lag = match (&sample, &primary) {
                (Some(sample), Some(_)) => sample.lag(&self.history, Instant::now()),
                _ => None,
            };
            shared.set_lag(lag);
            if primary.is_none() {
                // Nothing to compare with: the last verdict stands.
                continue;
            }
            match watched
                .judge
                .judge(sample.as_ref().map(|s| s.streaming), lag)
            {
                Some(Verdict::Lagging(behind)) => {
                    shared.skipped.store(true, Ordering::Relaxed);
                    skipped = true;
                    log_skip(shared.name(), behind, self.max_lag);
                }
                Some(Verdict::InUse) => {
                    shared.skipped.store(false, Ordering::Relaxed);
                    tracing::info!(
                        "replica {} has caught up with the primary: reading it again",
                        shared.name()
                    );
                }
                None => {}
            }
        }
        if skipped {
            lags.skipped_now();
        }
        true
    }

    /// Checks every [`CHECK_INTERVAL`] on a thread of its own until the
    /// application is gone.
    pub fn spawn(mut self) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("atelier-replica-lag".into())
            .spawn(move || loop {
                std::thread::sleep(CHECK_INTERVAL);
                if !self.check() {
                    break;
                }
            })
            .map(|_| ())
    }
}

fn log_skip(name: &str, behind: Behind, max_lag: Option<Duration>) {
    let max = max_lag.unwrap_or_default().as_secs_f64();
    match behind {
        Behind::By(lag) => tracing::warn!(
            "replica {name} is {:.1}s behind the primary (DATABASE_REPLICA_MAX_LAG is {max}s): \
             reading elsewhere until it catches up",
            lag.as_secs_f64()
        ),
        Behind::NotStreaming => tracing::warn!(
            "replica {name} is not streaming from the primary: reading elsewhere until it \
             streams and has caught up"
        ),
        Behind::Unknown => {
            tracing::warn!("replica {name}: its lag cannot be told: reading elsewhere until it can")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(5);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn names_keep_host_port_and_database_never_credentials() {
        assert_eq!(
            replica_name("postgres://atelier:secret@10.0.0.7:5433/atelier"),
            "10.0.0.7:5433/atelier"
        );
        assert_eq!(
            replica_name("postgresql://atelier:secret@%2Fvar%2Frun%2Fpostgresql/atelier"),
            "/var/run/postgresql:5432/atelier"
        );
        assert_eq!(
            replica_name("postgres:///atelier?host=/tmp&port=5434&password=secret"),
            "/tmp:5434/atelier"
        );
        assert_eq!(
            replica_name("host=db.internal port=6432 dbname=atelier user=a password=secret"),
            "db.internal:6432/atelier"
        );
    }

    #[test]
    fn a_connect_timeout_is_added_unless_given() {
        assert_eq!(
            with_connect_timeout("postgres://a@h/db"),
            "postgres://a@h/db?connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://a@h/db?sslmode=disable"),
            "postgres://a@h/db?sslmode=disable&connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("host=h dbname=db"),
            "host=h dbname=db connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://a@h/db?connect_timeout=9"),
            "postgres://a@h/db?connect_timeout=9"
        );
    }

    #[test]
    fn lag_is_the_time_since_the_primary_was_first_seen_past_the_replay_position() {
        let start = Instant::now();
        let mut history = History::default();
        history.record(start, 100);
        history.record(start + secs(1), 100);
        history.record(start + secs(2), 200);
        history.record(start + secs(3), 300);
        let now = start + secs(10);
        // Everything the primary had at the last look.
        assert_eq!(history.lag(now, 300, None), Some(Duration::ZERO));
        assert_eq!(history.lag(now, 350, None), Some(Duration::ZERO));
        // Missing what the primary wrote after the first look.
        assert_eq!(history.lag(now, 100, None), Some(secs(8)));
        assert_eq!(history.lag(now, 250, None), Some(secs(7)));
        // Behind since before the first look: the last commit's age, at
        // least as long as the history.
        assert_eq!(history.lag(now, 50, Some(secs(1800))), Some(secs(1800)));
        assert_eq!(history.lag(now, 50, Some(secs(1))), Some(secs(10)));
        assert_eq!(history.lag(now, 50, None), None);
        // A primary that went back is another server: start again.
        history.record(now, 40);
        assert_eq!(history.lag(now, 50, None), Some(Duration::ZERO));
        assert_eq!(history.seen.len(), 1);
    }

    #[test]
    fn the_history_keeps_what_the_lag_needs_and_no_more() {
        let start = Instant::now();
        let mut history = History::default();
        history.record(start, 100);
        history.record(start + secs(1), 200);
        let now = start + HISTORY + Duration::from_millis(500);
        history.record(now, 300);
        assert_eq!(history.seen.len(), 2);
        assert_eq!(history.seen.front().map(|(_, lsn)| *lsn), Some(200));
        assert_eq!(history.lag(now, 100, None), None);
        assert_eq!(history.lag(now, 200, None), Some(Duration::ZERO));
    }

    #[test]
    fn a_replica_is_skipped_past_the_bound_and_back_after_two_checks_within_half() {
        let mut judge = Judge::new(Some(MAX));
        let streaming = Some(true);
        assert_eq!(judge.judge(streaming, Some(secs(5))), None);
        assert_eq!(
            judge.judge(streaming, Some(secs(6))),
            Some(Verdict::Lagging(Behind::By(secs(6))))
        );
        assert_eq!(judge.judge(streaming, Some(secs(4))), None);
        assert_eq!(judge.judge(streaming, Some(secs(2))), None);
        assert_eq!(judge.judge(streaming, Some(secs(3))), None);
        assert_eq!(judge.judge(streaming, Some(Duration::ZERO)), None);
        assert_eq!(
            judge.judge(streaming, Some(Duration::ZERO)),
            Some(Verdict::InUse)
        );
        assert_eq!(judge.verdict(), Verdict::InUse);
    }

    #[test]
    fn a_replica_not_streaming_or_not_told_is_skipped_whatever_its_lag() {
        let mut judge = Judge::new(Some(MAX));
        let zero = Some(Duration::ZERO);
        assert_eq!(
            judge.judge(Some(false), zero),
            Some(Verdict::Lagging(Behind::NotStreaming))
        );
        // Streaming for one check only, then not again.
        assert_eq!(judge.judge(Some(true), zero), None);
        assert_eq!(judge.judge(Some(false), zero), None);
        assert_eq!(judge.judge(Some(true), zero), None);
        assert_eq!(judge.judge(Some(true), zero), Some(Verdict::InUse));
        assert_eq!(
            judge.judge(Some(true), None),
            Some(Verdict::Lagging(Behind::Unknown))
        );
        assert_eq!(judge.judge(None, zero), None);
        assert_eq!(judge.verdict(), Verdict::Lagging(Behind::Unknown));
    }

    #[test]
    fn without_a_bound_nothing_is_skipped() {
        let mut judge = Judge::new(None);
        assert_eq!(judge.judge(Some(false), Some(secs(3600))), None);
        assert_eq!(judge.judge(None, None), None);
        assert_eq!(judge.verdict(), Verdict::InUse);
    }
}
