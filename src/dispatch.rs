//! The direct path to the database: a few threads, one per pooled connection,
//! taking work from shared queues, so request handlers never block a worker
//! and lookups of one kind that queue up together share one statement.
//!
//! Why coalesce: on a box shared with PostgreSQL a round trip costs more than
//! the rows it reads (each statement wakes a backend and crosses loopback TCP
//! twice), and under load requests queue for the connections anyway. So a
//! lookup (a product, a product's styles, its related ids) joins the queue of
//! its kind, and the thread that takes the queue answers every lookup in it
//! from one `= ANY($1)` statement (`catalog::find_products` and friends). An
//! idle thread takes a lookup at once, as a batch of one: nothing here delays
//! a request to gather others. A lookup of an id that a thread is fetching
//! right now joins that fetch, so a stampede on one product is one fetch
//! even with the response cache off.
//!
//! Why threads of its own: the queries are blocking (Diesel, libpq). Run on
//! Rocket's async workers they stall every other request on that worker,
//! cache hits included, for a whole round trip.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use diesel::r2d2;
use diesel::{PgConnection, QueryResult};
use rocket::tokio::sync::oneshot;

use crate::catalog::{self, ProductWithFeatures, StylesBody};
use crate::db::DbManager;
use crate::error::ApiError;
use crate::retry::{self, Attempt};

/// The most lookups answered by one statement; more wait for the next one.
pub const MAX_BATCH: usize = 64;

/// What a lookup gets back: the value, `None` if there is no such product.
pub type LookupResult<V> = Result<Option<V>, ApiError>;

/// Loads the values of any number of products in one statement: (product id,
/// value) for each one that exists.
pub type Load<V> = fn(&mut PgConnection, &[i32]) -> QueryResult<Vec<(i32, V)>>;

/// A kind of lookup: its lane and the statement that answers a batch of it.
pub struct Kind<V: 'static> {
    lane: fn(&mut Pending) -> &mut Lane<V>,
    /// The statement, also used one id at a time by the naive path.
    pub load: Load<V>,
}

/// `GET /products/:id`.
pub static PRODUCTS: Kind<ProductWithFeatures> = Kind {
    lane: |p| &mut p.products,
    load: catalog::find_products,
};

/// `GET /products/:id/styles`.
pub static STYLES: Kind<StylesBody> = Kind {
    lane: |p| &mut p.styles,
    load: catalog::find_styles_answers,
};

/// `GET /products/:id/related`.
pub static RELATED: Kind<Vec<i32>> = Kind {
    lane: |p| &mut p.related,
    load: catalog::find_related_ids_by_product,
};

/// Work a thread runs on its own, after taking it out of the queues.
type Job = Box<dyn FnOnce(&Shared) + Send>;

/// The lookups of one kind: those waiting for a thread, and those that
/// arrived while a thread was already fetching their id.
struct Lane<V> {
    queued: VecDeque<Waiting<V>>,
    /// Ids being fetched now, with the lookups that joined each fetch: a
    /// stampede on one id costs one fetch, whenever its lookups arrive.
    in_flight: HashMap<i32, Vec<Waiting<V>>>,
}

impl<V> Default for Lane<V> {
    fn default() -> Self {
        Lane {
            queued: VecDeque::new(),
            in_flight: HashMap::new(),
        }
    }
}

impl<V> Lane<V> {
    fn push(&mut self, waiting: Waiting<V>) {
        match self.in_flight.get_mut(&waiting.id) {
            Some(joined) => joined.push(waiting),
            None => self.queued.push_back(waiting),
        }
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
    products: Lane<ProductWithFeatures>,
    styles: Lane<StylesBody>,
    related: Lane<Vec<i32>>,
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

    /// The work that has waited longest: a batch of the lookups of its kind
    /// (oldest first), or a read.
    fn take_oldest(&mut self) -> Option<Job> {
        let heads = [
            self.products.queued.front().map(|w| w.seq),
            self.styles.queued.front().map(|w| w.seq),
            self.related.queued.front().map(|w| w.seq),
            self.reads.front().map(|(seq, _)| *seq),
        ];
        let (oldest, _) = heads
            .iter()
            .enumerate()
            .filter_map(|(i, seq)| seq.map(|s| (i, s)))
            .min_by_key(|(_, seq)| *seq)?;
        match oldest {
            0 => Some(self.take_batch(&PRODUCTS)),
            1 => Some(self.take_batch(&STYLES)),
            2 => Some(self.take_batch(&RELATED)),
            _ => self.reads.pop_front().map(|(_, job)| job),
        }
    }

    fn take_batch<V: Clone + Send>(&mut self, kind: &'static Kind<V>) -> Job {
        let lane = (kind.lane)(self);
        let mut batch = drain_batch(&mut lane.queued);
        let ids = batch_ids(&batch);
        for id in &ids {
            lane.in_flight.entry(*id).or_default();
        }
        Box::new(move |shared: &Shared| {
            let found = if ids.is_empty() {
                Ok(Vec::new())
            } else {
                // Caught here, not only by the thread: the ids must leave
                // `in_flight` whatever happens, or their lookups would wait
                // on a fetch that never ends.
                std::panic::catch_unwind(AssertUnwindSafe(|| shared.run(|c| (kind.load)(c, &ids))))
                    .unwrap_or_else(|_| Err(ApiError::Internal("a batched lookup panicked".into())))
            };
            {
                let mut pending = shared.lock();
                let lane = (kind.lane)(&mut pending);
                for id in &ids {
                    batch.extend(lane.in_flight.remove(id).unwrap_or_default());
                }
            }
            answer(batch, found);
        })
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

/// The product ids of a batch, ascending, each once.
fn batch_ids<V>(batch: &[Waiting<V>]) -> Vec<i32> {
    let mut ids: Vec<i32> = batch.iter().map(|w| w.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Answers every lookup of a batch from `found` (product id, value), which
/// holds nothing for a product that does not exist; an error goes to all.
fn answer<V: Clone>(mut batch: Vec<Waiting<V>>, found: Result<Vec<(i32, V)>, ApiError>) {
    let mut found: HashMap<i32, V> = match found {
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
    pool: r2d2::Pool<DbManager>,
    timeout: Duration,
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
    fn run<T>(&self, queries: impl Fn(&mut PgConnection) -> QueryResult<T>) -> Result<T, ApiError> {
        for _ in retry::attempts() {
            let mut conn = self
                .pool
                .get_timeout(self.timeout)
                .map_err(|_| ApiError::Unavailable)?;
            if let Attempt::Done(result) = retry::classify(queries(&mut conn)) {
                return result;
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
                log::error!("a database job panicked; its requests answer 500");
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
    /// Starts `pool.max_size()` threads over `pool`; a request that gets no
    /// answer within `timeout` is answered 503.
    pub fn start(pool: r2d2::Pool<DbManager>, timeout: Duration) -> std::io::Result<Self> {
        let threads = pool.max_size();
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            work: Condvar::new(),
            pool,
            timeout,
        });
        for n in 0..threads {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("atelier-db-{n}"))
                .spawn(move || shared.serve())?;
        }
        Ok(Dispatcher { shared })
    }

    /// Looks up product `id`; `None` if there is no such product.
    pub async fn lookup<V: Clone + Send>(&self, kind: &Kind<V>, id: i32) -> LookupResult<V> {
        let (reply, answer) = oneshot::channel();
        self.submit(|pending| {
            let seq = pending.seq();
            (kind.lane)(pending).push(Waiting { seq, id, reply });
        });
        self.wait(answer).await?
    }

    /// Runs `queries` on a pooled connection (retried on another one if the
    /// connection turns out to be dead).
    pub async fn read<T, F>(&self, queries: F) -> Result<T, ApiError>
    where
        F: Fn(&mut PgConnection) -> QueryResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |shared: &Shared| {
            let _ = reply.send(shared.run(queries));
        });
        self.submit(|pending| {
            let seq = pending.seq();
            pending.reads.push_back((seq, job));
        });
        self.wait(answer).await?
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

    /// The answer, or 503 after the pool timeout: every connection is busy
    /// or the database is unreachable.
    async fn wait<T>(&self, answer: oneshot::Receiver<T>) -> Result<T, ApiError> {
        match rocket::tokio::time::timeout(self.shared.timeout, answer).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(ApiError::Internal(
                "a database thread dropped a request unanswered".into(),
            )),
            Err(_) => Err(ApiError::Unavailable),
        }
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
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn waiting(seq: u64, id: i32) -> (Waiting<String>, oneshot::Receiver<LookupResult<String>>) {
        let (reply, answer) = oneshot::channel();
        (Waiting { seq, id, reply }, answer)
    }

    #[test]
    fn each_lookup_gets_its_own_answer_duplicates_included() {
        let (batch, mut answers): (Vec<_>, Vec<_>) =
            [7, 3, 7, 42].into_iter().map(|id| waiting(0, id)).unzip();
        assert_eq!(batch_ids(&batch), [3, 7, 42]);
        answer(batch, Ok(vec![(3, "three".into()), (7, "seven".into())]));
        let got: Vec<Option<String>> = answers
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
        let (mut queue, mut answers): (VecDeque<_>, Vec<_>) =
            (0..MAX_BATCH as i32 + 2).map(|id| waiting(0, id)).unzip();
        // The request for product 1 timed out.
        drop(answers.remove(1));
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
        let mut lane = Lane::<String>::default();
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
        let (batch, mut answers): (Vec<_>, Vec<_>) =
            [1, 2].into_iter().map(|id| waiting(0, id)).unzip();
        answer(batch, Err(ApiError::Unavailable));
        for answer in &mut answers {
            assert!(matches!(answer.try_recv(), Ok(Err(ApiError::Unavailable))));
        }
    }
}
