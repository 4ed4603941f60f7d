//! The naive path to the database (`DATABASE_NAIVE=true`), kept as the
//! baseline that benchmarks measure the direct path (`dispatch`) against:
//! rocket_sync_db_pools' pool and `conn.run`, a ping per checkout, and one
//! statement per lookup, never a batch.
//!
//! Per request, rocket_sync_db_pools takes a semaphore, hops to a blocking
//! thread for the checkout (where r2d2 pings the server) and again for
//! `run`. The connections are the same `DbConnection`s as on the direct
//! path, and a read retries on another one by the same policy (`retry`).

use diesel::{PgConnection, QueryResult};
use rocket::fairing::Fairing;
use rocket::{Build, Orbit, Rocket};
use rocket_sync_db_pools::{database, PoolResult, Poolable};

use crate::db::availability::Availability;
use crate::db::dispatch::{Kind, LookupResult};
use crate::db::error::DbError;
use crate::db::pool::{build_pool, DbConnection, DbManager, PoolSettings, StatementCounter};
use crate::db::retry::{self, Attempt};

/// rocket_sync_db_pools' handle on the pool named `atelier`
/// ([`crate::config::DATABASE_NAME`]).
#[database("atelier")]
pub struct Db(DbConnection);

/// The fairing that opens the naive path's pool at ignition.
pub fn fairing() -> impl Fairing {
    Db::fairing()
}

impl Poolable for DbConnection {
    type Manager = DbManager;
    type Error = std::convert::Infallible;

    fn pool(db_name: &str, rocket: &Rocket<Build>) -> PoolResult<Self> {
        let settings = PoolSettings::from_rocket(db_name, rocket).map_err(|e| *e)?;
        let statements = rocket
            .state::<StatementCounter>()
            .cloned()
            .unwrap_or_default();
        let availability = rocket.state::<Availability>().cloned().unwrap_or_default();
        Ok(build_pool(&settings, statements, availability))
    }
}

/// Runs `queries` on a connection checked out of rocket_sync_db_pools' pool,
/// again on another one while the connection turns out to be dead; 503 when
/// no connection comes within the pool's timeout, or at once while the
/// database is known to be unreachable.
pub async fn read<T, F>(rocket: &Rocket<Orbit>, queries: F) -> Result<T, DbError>
where
    F: Fn(&mut PgConnection) -> QueryResult<T> + Clone + Send + 'static,
    T: Send + 'static,
{
    let down = || {
        rocket
            .state::<Availability>()
            .is_some_and(Availability::is_down)
    };
    for _ in retry::attempts() {
        if down() {
            return Err(DbError::Unavailable);
        }
        let db = Db::get_one(rocket).await.ok_or(DbError::Unavailable)?;
        let attempt = queries.clone();
        if let Attempt::Done(result) = retry::classify(db.run(move |c| attempt(c)).await) {
            return result;
        }
    }
    retry::exhausted()
}

/// Looks up `id` as `kind` on its own: the kind's statement for this one id.
pub async fn lookup<V: Send + 'static>(
    rocket: &Rocket<Orbit>,
    kind: &Kind<V>,
    id: i32,
) -> LookupResult<V> {
    let load = kind.load;
    let found = read(rocket, move |c| load(c, &[id])).await?;
    Ok(found.into_iter().find(|(k, _)| *k == id).map(|(_, v)| v))
}
