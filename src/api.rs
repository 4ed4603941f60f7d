//! What a handler needs from the application, as one request guard: the
//! database (by the direct path or the naive one), the response cache with
//! conditional requests, the page anchors and the settings.

use std::future::Future;

use diesel::{PgConnection, QueryResult};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Orbit, Rocket};

use crate::cache::{request_key, Answer, ResponseCache};
use crate::config::Settings;
use crate::db::{is_connection_lost, Db, DirectPool};
use crate::error::{ApiError, JsonBody};
use crate::freshness::PageAnchors;

/// A bound on retries after lost connections, far above any pool size in
/// use, so a database that keeps dropping connections cannot hold a request.
const MAX_READ_ATTEMPTS: u32 = 256;

/// The application as one handler sees it. Nothing is checked out until
/// asked, so input is validated (400) before a connection is held, and a bad
/// request gets its 400 even while the database is down.
pub struct Api<'r> {
    rocket: &'r Rocket<Orbit>,
    direct: Option<&'r DirectPool>,
    cache: &'r ResponseCache,
    anchors: &'r PageAnchors,
    pub settings: &'r Settings,
    key: u128,
    if_none_match: Option<&'r str>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Api<'r> {
    type Error = &'static str;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let rocket = request.rocket();
        let (Some(cache), Some(anchors), Some(settings)) = (
            rocket.state::<std::sync::Arc<ResponseCache>>(),
            rocket.state::<std::sync::Arc<PageAnchors>>(),
            rocket.state::<Settings>(),
        ) else {
            return Outcome::Error((
                rocket::http::Status::InternalServerError,
                "the application was built without its state",
            ));
        };
        Outcome::Success(Api {
            rocket,
            direct: rocket.state::<DirectPool>(),
            cache,
            anchors,
            settings,
            key: request_key(
                request.uri().path().as_str(),
                request.uri().query().map(|q| q.as_str()),
            ),
            if_none_match: request.headers().get_one("If-None-Match"),
        })
    }
}

impl Api<'_> {
    /// Runs `queries` on one pooled connection. Every request here only
    /// reads, so when the connection turns out to be dead (the database
    /// restarted, say) the queries run again on another one instead of failing
    /// the client. A dead connection is discarded on return, so after a
    /// restart the pool empties itself of them; if the database is really
    /// gone, the client gets its 503.
    ///
    /// The direct path runs the queries on the request's own worker thread,
    /// with no hand-off at all: an async semaphore with one permit per pooled
    /// connection is taken first, so a worker only ever blocks for the round
    /// trips of a checked-out connection, never waiting for one. By default
    /// there are as many workers as connections (see `config::workers`); with
    /// more, the extra ones stay free for cache hits.
    pub async fn read<T, F>(&self, queries: F) -> Result<T, ApiError>
    where
        F: Fn(&mut PgConnection) -> QueryResult<T> + Clone + Send + 'static,
        T: Send + 'static,
    {
        let Some(direct) = self.direct else {
            return self.read_naive(queries).await;
        };
        let _permit = rocket::tokio::time::timeout(direct.timeout, direct.permits.acquire())
            .await
            .map_err(|_| ApiError::Unavailable)?
            .map_err(|_| ApiError::Unavailable)?;
        for _ in 1..MAX_READ_ATTEMPTS {
            let mut conn = direct
                .pool
                .get_timeout(direct.timeout)
                .map_err(|_| ApiError::Unavailable)?;
            match queries(&mut conn) {
                Err(error) if is_connection_lost(&error) => continue,
                other => return Ok(other?),
            }
        }
        Err(ApiError::Unavailable)
    }

    /// The naive path: rocket_sync_db_pools' checkout, then its `run`.
    async fn read_naive<T, F>(&self, queries: F) -> Result<T, ApiError>
    where
        F: Fn(&mut PgConnection) -> QueryResult<T> + Clone + Send + 'static,
        T: Send + 'static,
    {
        for _ in 1..MAX_READ_ATTEMPTS {
            let db = Db::get_one(self.rocket)
                .await
                .ok_or(ApiError::Unavailable)?;
            let attempt = queries.clone();
            match db.run(move |c| attempt(c)).await {
                Err(error) if is_connection_lost(&error) => continue,
                other => return Ok(other?),
            }
        }
        Err(ApiError::Unavailable)
    }

    /// The current page anchors.
    pub fn anchors(&self) -> std::sync::Arc<Vec<i32>> {
        self.anchors.current()
    }

    /// Answers with the cached body for this URL, or with what `load`
    /// produces (once for every request waiting on this URL); 304 when the
    /// client's `If-None-Match` names it.
    pub async fn respond<F>(&self, load: F) -> Result<Answer, ApiError>
    where
        F: Future<Output = Result<JsonBody, ApiError>>,
    {
        let body = self.cache.get_or_load(self.key, load).await?;
        let not_modified = self.if_none_match.is_some_and(|tags| body.matches(tags));
        Ok(Answer {
            body,
            not_modified,
            cache_control: self.cache.cache_control(),
        })
    }
}
