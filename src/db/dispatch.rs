//! The direct path to the database: a few threads, one per pooled connection,
//! taking work from shared queues, so request handlers never block a worker
//! and lookups of one kind that queue up together share one statement.
//!
//! Why coalesce: on a box shared with PostgreSQL a round trip costs more than
//! the rows it reads (each statement wakes a backend and crosses loopback TCP
//! twice), and under load requests queue for the connections anyway. So a
//! lookup by id joins the lane of its [`Kind`], and the thread that takes the
//! lane answers every lookup in it from one statement, the kind's
//! [`Load`] of all their ids. An idle thread takes a lookup at once, as a
//! batch of one: nothing here delays a request to gather others. A lookup of
//! an id that a thread is fetching right now joins that fetch, so a stampede
//! on one id is one fetch even with the response cache off.
//!
//! The dispatcher knows no kind: each is a `static` declared where its
//! statement lives (the catalog's are at the end of `catalog::queries`), told apart
//! by its address. Its lane is made on its first lookup; a new kind is one
//! more `static`, and nothing here changes.
//!
//! Why threads of its own: the queries are blocking (Diesel, libpq). Run on
//! Rocket's async workers they stall every other request on that worker,
//! cache hits included, for a whole round trip.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use diesel::{PgConnection, QueryResult};
use rocket::tokio::sync::oneshot;
use rustc_hash::FxBuildHasher;

use crate::db::error::DbError;
use crate::db::replicas::ReadPools;
use crate::db::retry::{self, Attempt};
use crate::metrics::DbMetrics;

/// The most lookups answered by one statement; more wait for the next one.
pub const MAX_BATCH: usize = 64;

/// What a lookup gets back: the value, `None` if nothing has that id.
pub type LookupResult<V> = Result<Option<V>, DbError>;

/// Loads the values of any number of ids in one statement: (id, value) for
/// each one that exists.
pub type Load<V> = fn(&mut PgConnection, &[i32]) -> QueryResult<Vec<(i32, V)>>;

/// A kind of lookup by id, and the statement that answers a batch of them.
///
/// Declare each kind as a `static` and look up through a reference to it:
/// the static's address is the kind's identity, which finds its lane. (A
/// `const` has no address of its own; its uses could land in several lanes
/// and batch less.)
pub struct Kind<V> {
    /// What it looks up, for logs.
    name: &'static str,
    /// The statement, also used one id at a time by the naive path.
    pub load: Load<V>,
}

impl<V> Kind<V> {
    /// The kind `name` (for logs), answered by `load`.
    pub const fn new(name: &'static str, load: Load<V>) -> Self {
        Kind { name, load }
    }

    /// Its identity: the address of its static.
    fn identity(&'static self) -> *const () {
        std::ptr::from_ref(self).cast()
    }
}

/// Work a thread runs on its own, after taking it out of the queues.
type Job = Box<dyn FnOnce(&Shared) + Send>;

/// The lookups of one kind: those waiting for a thread, and those that
/// arrived while a thread was already fetching their id.
struct Lane<V: 'static> {
    kind: &'static Kind<V>,
    queued: VecDeque<Waiting<V>>,
    /// Ids being fetched now, with the lookups that joined each fetch: a
    /// stampede on one id costs one fetch, whenever its lookups arrive.
    /// Fx: ids are small integers, hashed twice a lookup (in and out), where
    /// the default SipHash costs a few hundred instructions each time.
    in_flight: HashMap<i32, Vec<Waiting<V>>, FxBuildHasher>,
}

impl<V> Lane<V> {
    fn new(kind: &'static Kind<V>) -> Self {
        Lane {
            kind,
            queued: VecDeque::new(),
            in_flight: HashMap::default(),
        }
    }

    fn push(&mut self, waiting: Waiting<V>) {
        match self.in_flight.get_mut(&waiting.id) {
            Some(joined) => joined.push(waiting),
            None => self.queued.push_back(waiting),
        }
    }
}

/// A lane whatever the type of its values: what `Pending` holds, one per
/// kind, and all the dispatcher needs to choose and take work.
trait ErasedLane: Send {
    /// The identity of its kind (see [`Kind`]).
    fn kind(&self) -> *const ();

    /// When the lookup at the head of its queue was queued, if one is.
    fn oldest_seq(&self) -> Option<u64>;

    /// Lookups waiting in its queue.
    fn queued(&self) -> usize;

    /// Takes a batch from the head of its queue: the job that answers it.
    fn take_batch(&mut self) -> Job;

    /// The lane itself, for a typed push (`downcast_mut::<Lane<V>>`).
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<V: Clone + Send + 'static> ErasedLane for Lane<V> {
    fn kind(&self) -> *const () {
        self.kind.identity()
    }

    fn oldest_seq(&self) -> Option<u64> {
        self.queued.front().map(|w| w.seq)
    }

    fn queued(&self) -> usize {
        self.queued.len()
    }

    fn take_batch(&mut self) -> Job {
        let kind = self.kind;
        let mut batch = drain_batch(&mut self.queued);
        let ids = batch_ids(&batch);
        for id in &ids {
            self.in_flight.entry(*id).or_default();
        }
        Box::new(move |shared: &Shared| {
            shared
                .metrics
                .batch_size
                .with_label_values(&[kind.name])
                .observe(batch.len() as f64);
            let found = if ids.is_empty() {
                Ok(Vec::new())
            } else {
                // Caught here, not only by the thread: the ids must leave
                // `in_flight` whatever happens, or their lookups would wait
                // on a fetch that never ends.
                std::panic::catch_unwind(AssertUnwindSafe(|| shared.run(|c| (kind.load)(c, &ids))))
                    .unwrap_or_else(|_| {
                        Err(DbError::Failed(format!(
                            "a batched lookup of {} panicked",
                            kind.name
                        )))
                    })
            };
            {
                let mut pending = shared.lock();
                if let Some(lane) = pending.lane(kind) {
                    for id in &ids {
                        batch.extend(lane.in_flight.remove(id).unwrap_or_default());
                    }
                }
            }
            answer(batch, found);
        })
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

struct Waiting<V> {
    /// When it was queued, in queue order across every kind.
    seq: u64,
    id: i32,
    reply: oneshot::Sender<LookupResult<V>>,
}

/// Everything waiting for a thread.
#[derive(Default)]
struct Pending {
    /// A lane per kind looked up so far, made on its first lookup: a few, so
    /// finding one is a short scan.
    lanes: Vec<Box<dyn ErasedLane>>,
    reads: VecDeque<(u64, Job)>,
    next_seq: u64,
    /// Threads waiting for work, so a submit only wakes one when one sleeps.
    idle: usize,
    /// Wake-ups sent and not yet taken up: work submitted meanwhile waits for
    /// the thread already on its way, and goes in its batch.
    waking: usize,
    closed: bool,
}

impl Pending {
    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// The lane of `kind`, made on its first lookup. `None` only if a lane
    /// of that identity held another type, which one static cannot.
    fn lane<V: Clone + Send + 'static>(&mut self, kind: &'static Kind<V>) -> Option<&mut Lane<V>> {
        let identity = kind.identity();
        let at = match self
            .lanes
            .iter()
            .position(|lane| std::ptr::eq(lane.kind(), identity))
        {
            Some(at) => at,
            None => {
                self.lanes.push(Box::new(Lane::new(kind)));
                self.lanes.len() - 1
            }
        };
        self.lanes.get_mut(at)?.as_any_mut().downcast_mut()
    }

    /// The work that has waited longest: a batch of the lookups of its kind
    /// (oldest first), or a read.
    fn take_oldest(&mut self) -> Option<Job> {
        let oldest_lane = self
            .lanes
            .iter_mut()
            .filter_map(|lane| Some((lane.oldest_seq()?, lane)))
            .min_by_key(|(seq, _)| *seq);
        let oldest_read = self.reads.front().map(|(seq, _)| *seq);
        match oldest_lane {
            Some((seq, lane)) if oldest_read.is_none_or(|read| seq < read) => {
                Some(lane.take_batch())
            }
            _ => self.reads.pop_front().map(|(_, job)| job),
        }
    }
}

/// Up to [`MAX_BATCH`] lookups from the front of `queue`. A lookup whose
/// request gave up (timed out) is dropped: it is not worth a row.
fn drain_batch<V>(queue: &mut VecDeque<Waiting<V>>) -> Vec<Waiting<V>> {
    let mut batch = Vec::new();
    while batch.len() < MAX_BATCH {
        match queue.pop_front() {
            Some(w) if w.reply.is_closed() => {}
            Some(w) => batch.push(w),
            None => break,
        }
    }
    batch
}

/// The ids of a batch, ascending, each once.
fn batch_ids<V>(batch: &[Waiting<V>]) -> Vec<i32> {
    let mut ids: Vec<i32> = batch.iter().map(|w| w.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Answers every lookup of a batch from `found` (id, value), which holds
/// nothing for an id that does not exist; an error goes to all.
fn answer<V: Clone>(mut batch: Vec<Waiting<V>>, found: Result<Vec<(i32, V)>, DbError>) {
    let mut found: HashMap<i32, V, FxBuildHasher> = match found {
        Ok(found) => found.into_iter().collect(),
        Err(error) => {
            for waiting in batch {
                // A receiver that is gone gave up (timed out); nothing to do.
                let _ = waiting.reply.send(Err(error.clone()));
            }
            return;
        }
    };
    // The last lookup of an id takes the value, earlier ones get a copy.
    batch.sort_by_key(|w| w.id);
    let mut batch = batch.into_iter().peekable();
    while let Some(this) = batch.next() {
        let value = if batch.peek().is_some_and(|next| next.id == this.id) {
            found.get(&this.id).cloned()
        } else {
            found.remove(&this.id)
        };
        let _ = this.reply.send(Ok(value));
    }
}

/// What the threads share with the handle.
struct Shared {
    pending: Mutex<Pending>,
    work: Condvar,
    pools: Arc<ReadPools>,
    timeout: Duration,
    metrics: DbMetrics,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Every critical section is a push or a pop, which cannot leave the
        // queues half-changed, so a poisoned lock is still a sound one.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `queries` on a pooled connection, again on another one while the
    /// connection turns out to be dead (see `retry`); 503 when no connection
    /// comes within the timeout.
    fn run<T>(&self, queries: impl Fn(&mut PgConnection) -> QueryResult<T>) -> Result<T, DbError> {
        for _ in retry::attempts() {
            let (mut conn, source) = self.pools.checkout(self.timeout, &self.metrics)?;
            match retry::classify(queries(&mut conn)) {
                Attempt::Done(result) => {
                    if let Err(DbError::Failed(_)) = &result {
                        self.metrics.errors.with_label_values(&["query"]).inc();
                    }
                    return result;
                }
                // A replica that drops connections is skipped for a while.
                Attempt::Retry => self.pools.mark_down(source),
            }
        }
        retry::exhausted()
    }

    /// One thread: takes the oldest work, runs it, until the handle is gone.
    fn serve(&self) {
        loop {
            let job = {
                let mut pending = self.lock();
                loop {
                    if pending.closed {
                        return;
                    }
                    if let Some(job) = pending.take_oldest() {
                        break job;
                    }
                    pending.idle += 1;
                    pending = self
                        .work
                        .wait(pending)
                        .unwrap_or_else(PoisonError::into_inner);
                    pending.idle -= 1;
                    pending.waking = pending.waking.saturating_sub(1);
                }
            };
            // A panic would end this thread for good and leave the service
            // one connection short; it costs the requests of that job only
            // (their answers are dropped: a 500 each).
            if std::panic::catch_unwind(AssertUnwindSafe(|| job(self))).is_err() {
                tracing::error!("a database job panicked; its requests answer 500");
            }
        }
    }
}

/// The handle request handlers use; dropping it (with the Rocket instance)
/// stops the threads.
pub struct Dispatcher {
    shared: Arc<Shared>,
}

impl Dispatcher {
    /// Starts a thread per connection of each of `pools`; a request that
    /// gets no answer within `timeout` is answered 503, and so is every
    /// request while no database it could read is reachable (see
    /// `availability`).
    pub fn start(
        pools: Arc<ReadPools>,
        timeout: Duration,
        metrics: DbMetrics,
    ) -> std::io::Result<Self> {
        let threads = pools.size();
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            work: Condvar::new(),
            pools,
            timeout,
            metrics,
        });
        for n in 0..threads {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("atelier-db-{n}"))
                .spawn(move || shared.serve())?;
        }
        Ok(Dispatcher { shared })
    }

    /// Looks up `id` as `kind`, in a batch with the lookups of that kind
    /// waiting with it; `None` if nothing has that id.
    pub async fn lookup<V: Clone + Send + 'static>(
        &self,
        kind: &'static Kind<V>,
        id: i32,
    ) -> LookupResult<V> {
        if self.shared.pools.unreachable() {
            return Err(DbError::Unavailable);
        }
        let (reply, result) = oneshot::channel();
        self.submit(|pending| {
            let waiting = Waiting {
                seq: pending.seq(),
                id,
                reply,
            };
            match pending.lane(kind) {
                Some(lane) => lane.push(waiting),
                None => {
                    let _ = waiting.reply.send(Err(DbError::Failed(format!(
                        "the lane of {} holds values of another type",
                        kind.name
                    ))));
                }
            }
        });
        self.wait(result).await?
    }

    /// Runs `queries` on a pooled connection (retried on another one if the
    /// connection turns out to be dead).
    pub async fn read<T, F>(&self, queries: F) -> Result<T, DbError>
    where
        F: Fn(&mut PgConnection) -> QueryResult<T> + Send + 'static,
        T: Send + 'static,
    {
        if self.shared.pools.unreachable() {
            return Err(DbError::Unavailable);
        }
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |shared: &Shared| {
            let _ = reply.send(shared.run(queries));
        });
        self.submit(|pending| {
            let seq = pending.seq();
            pending.reads.push_back((seq, job));
        });
        self.wait(result).await?
    }

    fn submit(&self, push: impl FnOnce(&mut Pending)) {
        let mut pending = self.shared.lock();
        push(&mut pending);
        // Waking a thread costs a system call and a context switch; none is
        // needed while every thread is busy (each looks at the queues before
        // it sleeps) or one is already waking up.
        let wake = pending.idle > pending.waking;
        if wake {
            pending.waking += 1;
        }
        drop(pending);
        if wake {
            self.shared.work.notify_one();
        }
    }

    /// The result, or 503 after the pool timeout: every connection is busy
    /// or the database is unreachable.
    async fn wait<T>(&self, result: oneshot::Receiver<T>) -> Result<T, DbError> {
        match rocket::tokio::time::timeout(self.shared.timeout, result).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(_)) => Err(DbError::Failed(
                "a database thread dropped a request unanswered".into(),
            )),
            Err(_) => {
                self.shared
                    .metrics
                    .errors
                    .with_label_values(&["timeout"])
                    .inc();
                Err(DbError::Unavailable)
            }
        }
    }

    /// The pools reads come from.
    pub fn pools(&self) -> &Arc<ReadPools> {
        &self.shared.pools
    }

    /// What a scrape reads: the work waiting, and the pool's connections.
    /// Held weakly, so the metrics do not keep the threads alive.
    pub fn stats(&self) -> DispatcherStats {
        DispatcherStats(Arc::downgrade(&self.shared))
    }
}

/// The dispatcher's state as the metrics read it (see [`Dispatcher::stats`]).
pub struct DispatcherStats(std::sync::Weak<Shared>);

impl DispatcherStats {
    /// Lookups and reads waiting for a thread, connections in use and idle;
    /// `None` once the dispatcher is gone.
    pub fn read(&self) -> Option<(usize, u32, u32)> {
        let shared = self.0.upgrade()?;
        let waiting = {
            let pending = shared.lock();
            pending.reads.len() + pending.lanes.iter().map(|l| l.queued()).sum::<usize>()
        };
        let (in_use, idle) = shared.pools.connections();
        Some((waiting, in_use, idle))
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::db::availability::Availability;
    use std::sync::atomic::{AtomicBool, Ordering};

    use diesel::sql_types::{Array, BigInt, Integer};
    use diesel::{QueryableByName, RunQueryDsl};
    use rocket::futures::future::{join, join_all};
    use rocket::tokio::time::sleep;

    use super::*;
    use crate::db::pool::{PoolSettings, StatementCounter};

    fn nothing<V>(_: &mut PgConnection, _: &[i32]) -> QueryResult<Vec<(i32, V)>> {
        Ok(Vec::new())
    }

    static WORDS: Kind<String> = Kind::new("words", nothing);
    static NUMBERS: Kind<i64> = Kind::new("numbers", nothing);

    fn waiting(seq: u64, id: i32) -> (Waiting<String>, oneshot::Receiver<LookupResult<String>>) {
        let (reply, result) = oneshot::channel();
        (Waiting { seq, id, reply }, result)
    }

    /// Queues a lookup of `id` as `kind`, as `Dispatcher::lookup` does.
    fn queue<V: Clone + Send + 'static>(
        pending: &mut Pending,
        kind: &'static Kind<V>,
        id: i32,
    ) -> oneshot::Receiver<LookupResult<V>> {
        let (reply, result) = oneshot::channel();
        let seq = pending.seq();
        pending.lane(kind).unwrap().push(Waiting { seq, id, reply });
        result
    }

    #[test]
    fn each_lookup_gets_its_own_answer_duplicates_included() {
        let (batch, mut results): (Vec<_>, Vec<_>) =
            [7, 3, 7, 42].into_iter().map(|id| waiting(0, id)).unzip();
        assert_eq!(batch_ids(&batch), [3, 7, 42]);
        answer(batch, Ok(vec![(3, "three".into()), (7, "seven".into())]));
        let got: Vec<Option<String>> = results
            .iter_mut()
            .map(|a| a.try_recv().unwrap().unwrap())
            .collect();
        assert_eq!(
            got,
            [
                Some("seven".into()),
                Some("three".into()),
                Some("seven".into()),
                None
            ]
        );
    }

    #[test]
    fn a_batch_is_bounded_and_skips_lookups_given_up() {
        let (mut queue, mut results): (VecDeque<_>, Vec<_>) =
            (0..MAX_BATCH as i32 + 2).map(|id| waiting(0, id)).unzip();
        // The request for id 1 timed out.
        drop(results.remove(1));
        let batch = drain_batch(&mut queue);
        assert_eq!(batch.len(), MAX_BATCH);
        assert_eq!(batch_ids(&batch)[..3], [0, 2, 3]);
        assert_eq!(
            queue.iter().map(|w| w.id).collect::<Vec<_>>(),
            [MAX_BATCH as i32 + 1]
        );
    }

    #[test]
    fn a_lookup_of_an_id_in_flight_joins_its_fetch() {
        let mut lane = Lane::new(&WORDS);
        lane.in_flight.insert(7, Vec::new());
        let (first, _a) = waiting(1, 7);
        let (second, _b) = waiting(2, 8);
        lane.push(first);
        lane.push(second);
        assert_eq!(lane.in_flight[&7].len(), 1);
        assert_eq!(lane.queued.iter().map(|w| w.id).collect::<Vec<_>>(), [8]);
    }

    #[test]
    fn an_error_reaches_every_lookup() {
        let (batch, mut results): (Vec<_>, Vec<_>) =
            [1, 2].into_iter().map(|id| waiting(0, id)).unzip();
        answer(batch, Err(DbError::Unavailable));
        for result in &mut results {
            assert!(matches!(result.try_recv(), Ok(Err(DbError::Unavailable))));
        }
    }

    #[test]
    fn each_kind_has_a_lane_and_the_oldest_work_goes_first_whatever_its_kind() {
        let mut pending = Pending::default();
        let _results = (
            queue(&mut pending, &WORDS, 1),
            queue(&mut pending, &NUMBERS, 2),
        );
        let seq = pending.seq();
        pending.reads.push_back((seq, Box::new(|_: &Shared| {})));
        let _more = (
            queue(&mut pending, &WORDS, 3),
            queue(&mut pending, &NUMBERS, 4),
        );
        assert_eq!(pending.lanes.len(), 2);
        let queued = |pending: &mut Pending| {
            (
                pending.lane(&WORDS).unwrap().queued.len(),
                pending.lane(&NUMBERS).unwrap().queued.len(),
                pending.reads.len(),
            )
        };
        // The oldest lookup is a word: every queued word goes in its batch.
        assert!(pending.take_oldest().is_some());
        assert_eq!(queued(&mut pending), (0, 2, 1));
        let mut in_flight: Vec<i32> = pending
            .lane(&WORDS)
            .unwrap()
            .in_flight
            .keys()
            .copied()
            .collect();
        in_flight.sort_unstable();
        assert_eq!(in_flight, [1, 3]);
        // Then the numbers, queued before the read.
        assert!(pending.take_oldest().is_some());
        assert_eq!(queued(&mut pending), (0, 0, 1));
        assert!(pending.take_oldest().is_some());
        assert_eq!(queued(&mut pending), (0, 0, 0));
        assert!(pending.take_oldest().is_none());
        assert_eq!(pending.lanes.len(), 2);
    }

    /// A fourth kind, declared here as the catalog declares its three:
    /// squares, computed by PostgreSQL; multiples of 5 do not exist.
    static SQUARES: Kind<i64> = Kind::new("squares", squares);
    /// The ids of every batch `squares` answered.
    static SQUARE_BATCHES: Mutex<Vec<Vec<i32>>> = Mutex::new(Vec::new());
    /// `squares` waits until this is set: its thread stays busy while more
    /// lookups queue.
    static SQUARES_GO: AtomicBool = AtomicBool::new(false);

    #[derive(QueryableByName)]
    struct Square {
        #[diesel(sql_type = Integer)]
        id: i32,
        #[diesel(sql_type = BigInt)]
        square: i64,
    }

    fn squares(conn: &mut PgConnection, ids: &[i32]) -> QueryResult<Vec<(i32, i64)>> {
        SQUARE_BATCHES.lock().unwrap().push(ids.to_vec());
        while !SQUARES_GO.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let rows: Vec<Square> = diesel::sql_query(
            "SELECT id, id::int8 * id AS square FROM unnest($1) AS id WHERE id % 5 <> 0",
        )
        .bind::<Array<Integer>, _>(ids)
        .load(conn)?;
        Ok(rows.into_iter().map(|row| (row.id, row.square)).collect())
    }

    fn square_batches() -> Vec<Vec<i32>> {
        SQUARE_BATCHES.lock().unwrap().clone()
    }

    /// A dispatcher of one thread on `DATABASE_URL`'s server (these lookups
    /// read no table, so any database there will do).
    fn one_thread(statements: StatementCounter) -> Dispatcher {
        crate::config::load_dotenv();
        let url = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL must point at a PostgreSQL server (scripts/test.sh sets it)");
        let settings = PoolSettings {
            url,
            size: 1,
            timeout: Duration::from_secs(10),
            statement_timeout: None,
            min_idle: Some(0),
            naive: false,
            replica_urls: Vec::new(),
            replica_max_lag: None,
        };
        let metrics = crate::metrics::Metrics::new().db;
        Dispatcher::start(
            ReadPools::new(
                &settings,
                statements,
                Availability::counting_into(&metrics),
                &metrics,
            ),
            settings.timeout,
            metrics,
        )
        .unwrap()
    }

    #[rocket::async_test]
    async fn a_kind_declared_outside_the_dispatcher_batches_and_answers() {
        let statements = StatementCounter::default();
        let dispatcher = one_thread(statements.clone());
        let queued = || {
            dispatcher
                .shared
                .lock()
                .lane(&SQUARES)
                .map_or(0, |lane| lane.queued.len())
        };
        let (first, rest) = join(dispatcher.lookup(&SQUARES, 2), async {
            // The only thread is answering the first lookup...
            while square_batches().is_empty() {
                sleep(Duration::from_millis(1)).await;
            }
            // ...when these come, and queue behind it until it is done.
            let rest = join_all([3, 5, 3, 4].map(|id| dispatcher.lookup(&SQUARES, id)));
            let go = async {
                while queued() < 4 {
                    sleep(Duration::from_millis(1)).await;
                }
                SQUARES_GO.store(true, Ordering::SeqCst);
            };
            join(rest, go).await.0
        })
        .await;
        assert_eq!(first.unwrap(), Some(4));
        let rest: Vec<Option<i64>> = rest.into_iter().map(Result::unwrap).collect();
        assert_eq!(rest, [Some(9), None, Some(9), Some(16)]);
        assert_eq!(square_batches(), [vec![2], vec![3, 4, 5]]);
        assert_eq!(statements.total(), 2);
    }

    static PANICS: Kind<i64> = Kind::new("panics", panics);

    fn panics(_: &mut PgConnection, _: &[i32]) -> QueryResult<Vec<(i32, i64)>> {
        panic!("a load that panics (as this test means it to)")
    }

    #[rocket::async_test]
    async fn a_load_that_panics_answers_500_and_leaves_nothing_in_flight() {
        let dispatcher = one_thread(StatementCounter::default());
        // The second lookup would join a fetch left in flight, and wait
        // for it until the timeout: a 503.
        for _ in 0..2 {
            let result = dispatcher.lookup(&PANICS, 1).await;
            assert!(matches!(result, Err(DbError::Failed(_))), "{result:?}");
        }
        let mut pending = dispatcher.shared.lock();
        assert!(pending.lane(&PANICS).unwrap().in_flight.is_empty());
    }
}
