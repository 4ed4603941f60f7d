//! What a handler needs from the application, as one request guard: the
//! database (by the direct path or the naive one), the response cache with
//! conditional requests, the page anchors and the settings.

use std::future::Future;
use std::sync::Arc;

use diesel::{PgConnection, QueryResult};
use rocket::form::ValueField;
use rocket::http::uri::Query;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Orbit, Rocket};

use crate::catalog::anchors::PageAnchors;
use crate::catalog::queries::Page;
use crate::catalog::related::{RelatedInMemory, RelatedSnapshot};
use crate::config::Settings;
use crate::db::dispatch::{Dispatcher, Kind, LookupResult};
use crate::db::naive;
use crate::db::replicas::ReplicaStatus;
use crate::http::cache::{
    page_key, product_key, Answer, CachedResponse, Loaded, OneLoad, ProductAnswer, ResponseCache,
};
use crate::http::compression;
use crate::http::context::{context, HeaderAt};
use crate::http::error::{ApiError, JsonBody};

/// Which path to the database this application takes.
#[derive(Clone, Copy)]
enum Database<'r> {
    /// The dispatcher's threads (see `dispatch`), the default.
    Direct(&'r Dispatcher),
    /// rocket_sync_db_pools (see `naive`), with `DATABASE_NAIVE=true`.
    Naive(&'r Rocket<Orbit>),
}

/// What a handler reads of the application, managed as one state: the
/// request guard then costs one lookup in Rocket's map of states, where a
/// lookup for each part would cost one apiece on every request.
pub struct ApiState {
    /// The dispatcher, unless the app was built for the naive path.
    pub dispatcher: Option<Arc<Dispatcher>>,
    /// The response cache.
    pub cache: Arc<ResponseCache>,
    /// The product list's page anchors.
    pub anchors: Arc<PageAnchors>,
    /// Every product's related ids, when they are kept in memory.
    pub related: Arc<RelatedInMemory>,
    /// The settings.
    pub settings: Settings,
}

/// The application as one handler sees it. Nothing is checked out until
/// asked, so input is validated (400) before a connection is held, and a bad
/// request gets its 400 even while the database is down.
pub struct Api<'r> {
    database: Database<'r>,
    state: &'r ApiState,
    pub settings: &'r Settings,
    if_none_match: Option<&'r str>,
    /// Where the request's `Accept-Encoding` is, read only for an answer
    /// large enough to compress.
    accept_encoding: HeaderAt,
    headers: &'r rocket::http::HeaderMap<'r>,
    query: Option<Query<'r>>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Api<'r> {
    type Error = &'static str;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let rocket = request.rocket();
        let Some(state) = rocket.state::<ApiState>() else {
            return Outcome::Error((
                rocket::http::Status::InternalServerError,
                "the application was built without its state",
            ));
        };
        // The app starts a dispatcher unless it was built for the naive path.
        let database = match &state.dispatcher {
            Some(dispatcher) => Database::Direct(dispatcher),
            None => Database::Naive(rocket),
        };
        // Where the request fairing found the headers: no lookup by name.
        let context = context(request);
        Outcome::Success(Api {
            database,
            state,
            settings: &state.settings,
            if_none_match: context
                .if_none_match
                .find(request.headers(), "If-None-Match"),
            accept_encoding: context.accept_encoding,
            headers: request.headers(),
            query: request.uri().query(),
        })
    }
}

impl<'r> Api<'r> {
    /// The request's query parameters, decoded and named as Rocket's own
    /// query parameters see them.
    pub fn query_fields(&self) -> impl Iterator<Item = ValueField<'r>> {
        self.query
            .into_iter()
            .flat_map(|query| query.segments())
            .map(ValueField::from)
    }

    /// Runs `queries` on one pooled connection: on the direct path, on one
    /// of the dispatcher's threads (see `dispatch`); on the naive path, with
    /// rocket_sync_db_pools (see `naive`). Every request here only reads, so
    /// when the connection turns out to be dead (the database restarted, say)
    /// the queries run again on another one instead of failing the client
    /// (see `retry`).
    pub async fn read<T, F>(&self, queries: F) -> Result<T, ApiError>
    where
        F: Fn(&mut PgConnection) -> QueryResult<T> + Clone + Send + 'static,
        T: Send + 'static,
    {
        match self.database {
            Database::Direct(dispatcher) => dispatcher.read(queries).await.map_err(ApiError::from),
            Database::Naive(rocket) => naive::read(rocket, queries).await.map_err(ApiError::from),
        }
    }

    /// Looks up product `id` as `kind` (one of the statics at the end of
    /// `catalog`); `None` if there is no such product. On the direct path
    /// lookups of one kind that wait together are answered by one statement
    /// (see `dispatch`); the naive path runs the same statement for this one
    /// id.
    pub async fn lookup<V: Clone + Send + 'static>(
        &self,
        kind: &'static Kind<V>,
        id: i32,
    ) -> LookupResult<V> {
        match self.database {
            Database::Direct(dispatcher) => dispatcher.lookup(kind, id).await,
            Database::Naive(rocket) => naive::lookup(rocket, kind, id).await,
        }
    }

    /// Every read replica: its name, whether reads use it, its lag (none on
    /// the naive path, which reads only the primary).
    pub fn replicas(&self) -> Vec<ReplicaStatus> {
        match self.database {
            Database::Direct(dispatcher) => dispatcher.pools().replica_states(),
            Database::Naive(_) => Vec::new(),
        }
    }

    /// Every product's related ids, if they are in memory (see
    /// `catalog::related`).
    pub fn related_in_memory(&self) -> Option<Arc<RelatedSnapshot>> {
        self.state.related.current()
    }

    /// The current page anchors, `None` until they have been read.
    pub fn anchors(&self) -> Option<std::sync::Arc<Vec<i32>>> {
        self.state.anchors.current()
    }

    /// Answers with the cached body of `page` of the product list, or with
    /// what the future `load` makes produces (once for every request waiting
    /// on that page; made only then, so a hit never holds it),
    /// compressed as the client asks if it is large enough; 304 when the
    /// client's `If-None-Match` names it. The key is the parsed page, not the
    /// URL (see `cache::page_key`).
    pub fn respond_page<'a, L, F>(
        &'a self,
        page: Page,
        load: L,
    ) -> impl Future<Output = Result<CachedResponse, ApiError>> + 'a
    where
        L: FnOnce() -> F + 'a,
        F: Future<Output = Result<JsonBody, ApiError>> + 'a,
    {
        self.respond_as(page_key(page), OneLoad::Here, load)
    }

    /// As [`Api::respond_page`], for `answer` about product `id`: cached under
    /// the product's own key, whatever URL named it, so a change to the
    /// product drops it (see `cache::product_key`). `load` reads its rows
    /// with [`Api::lookup`]: on the dispatcher, requests missing the same
    /// answer at once join one fetch there, and the cache keeps no map of
    /// its own for them (see `cache::OneLoad`).
    pub fn respond_about<'a, L, F>(
        &'a self,
        id: i32,
        answer: ProductAnswer,
        load: L,
    ) -> impl Future<Output = Result<CachedResponse, ApiError>> + 'a
    where
        L: FnOnce() -> F + 'a,
        F: Future<Output = Result<JsonBody, ApiError>> + 'a,
    {
        let one_load = match self.database {
            Database::Direct(_) => OneLoad::Downstream,
            Database::Naive(_) => OneLoad::Here,
        };
        self.respond_as(product_key(id, answer), one_load, load)
    }

    /// As [`Api::respond_page`], for an answer cached under `key` (see
    /// `cache::search_key`), whose load may give a header of its own.
    pub fn respond_keyed<'a, L, F, B>(
        &'a self,
        key: u128,
        load: L,
    ) -> impl Future<Output = Result<CachedResponse, ApiError>> + 'a
    where
        L: FnOnce() -> F + 'a,
        F: Future<Output = Result<B, ApiError>> + 'a,
        B: Loaded + 'a,
    {
        self.respond_as(key, OneLoad::Here, load)
    }

    /// As [`Api::respond_about`], for an answer made now and not kept in
    /// the cache: one cheaper to make than to look up there.
    pub async fn respond_made_now<F>(&self, load: F) -> Result<CachedResponse, ApiError>
    where
        F: Future<Output = Result<JsonBody, ApiError>>,
    {
        let answer = self.state.cache.made_now(load).await?;
        self.respond_with(0, answer).await
    }

    async fn respond_as<L, F, B>(
        &self,
        key: u128,
        one_load: OneLoad,
        load: L,
    ) -> Result<CachedResponse, ApiError>
    where
        L: FnOnce() -> F,
        F: Future<Output = Result<B, ApiError>>,
        B: Loaded,
    {
        let answer = self.state.cache.get_or_load(key, one_load, load).await?;
        self.respond_with(key, answer).await
    }

    /// `answer`, cached under `key` or not kept, as the client asked for it:
    /// 304 if its tag matches, compressed if it is large enough.
    async fn respond_with(&self, key: u128, answer: Answer) -> Result<CachedResponse, ApiError> {
        let not_modified = self
            .if_none_match
            .is_some_and(|tags| answer.body.matches(tags));
        let mut encoding = compression::Encoding::Identity;
        if answer.body.compressible() {
            encoding =
                compression::negotiate(self.accept_encoding.find(self.headers, "Accept-Encoding"));
            // Compressed here, once per cached answer, not in the responder
            // (a 304 names the encoding's tag too).
            if self
                .state
                .cache
                .encoded(key, &answer.body, encoding)
                .await
                .is_none()
            {
                encoding = compression::Encoding::Identity;
            }
        }
        Ok(CachedResponse {
            answer,
            encoding,
            not_modified,
            cache_control: self.state.cache.cache_control(),
            nginx_expires: self.state.cache.nginx_expires(),
        })
    }
}
