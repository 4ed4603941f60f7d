//! The admin API under `/admin`: authenticated writes of sale prices, names,
//! default flags, photos and stock, each answered with the resource written
//! in the public shape (plus the ids an admin needs).
//!
//! Mounted only when `ATELIER_ADMIN_TOKENS` names a token: an instance
//! without one has no admin route at all. Every route checks the token
//! first (see `auth`), then its input (see `input`), then writes in one
//! transaction (see `writes`) on a small pool of its own, so a write that
//! waits on a lock never holds a connection the public routes read on.
//! After the commit, this instance drops the product's cached answers at
//! once; every other instance does within a tick of its watcher (see
//! `changes`).

pub mod auth;
pub mod input;
pub mod writes;

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2;
use diesel::PgConnection;
use rocket::http::{Header, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Responder, Response};
use rocket::{delete, get, patch, post, put, routes, Build, Request, Rocket, Route};
use serde::Serialize;

use self::auth::{bearer_token, AdminTokens};
use self::input::{AdminJson, NewPhoto, PhotoList, SkuChange, StyleChange};
use self::writes::{Author, WriteError, Written};
use crate::catalog::views::{AdminPhotoView, AdminSkuView, StyleView};
use crate::config::Settings;
use crate::config::DATABASE_NAME;
use crate::db::availability::Availability;
use crate::db::pool::{build_pool, DbManager, PoolSettings, StatementCounter};
use crate::http::cache::ResponseCache;
use crate::http::error::{json_content_type, ApiError, JsonBody};
use crate::http::routes::parse_id;

/// What the admin routes share: the tokens and the pool they write on.
pub struct AdminState {
    tokens: AdminTokens,
    pool: r2d2::Pool<DbManager>,
    timeout: Duration,
    /// Whether the primary is known to be unreachable: writes then answer
    /// 503 at once instead of waiting the pool's timeout.
    primary: Availability,
}

/// What a blocking thread needs to check out an admin connection.
#[derive(Clone)]
struct Checkout {
    pool: r2d2::Pool<DbManager>,
    timeout: Duration,
    primary: Availability,
}

impl Checkout {
    /// A connection of the admin pool, or 503 as soon as the primary is
    /// known to be down (within a step of the first failed connection), or
    /// once `timeout` has passed with every connection busy.
    fn connection(&self) -> Result<r2d2::PooledConnection<DbManager>, ApiError> {
        let deadline = std::time::Instant::now() + self.timeout;
        loop {
            if self.primary.is_down() {
                return Err(ApiError::Unavailable);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(ApiError::Unavailable);
            }
            if let Ok(conn) = self.pool.get_timeout(left.min(CHECKOUT_STEP)) {
                return Ok(conn);
            }
        }
    }
}

impl AdminState {
    fn checkout(&self) -> Checkout {
        Checkout {
            pool: self.pool.clone(),
            timeout: self.timeout,
            primary: self.primary.clone(),
        }
    }
}

/// How long a write waits for a connection before it looks again whether
/// the primary is known to be down.
const CHECKOUT_STEP: Duration = Duration::from_millis(100);

/// Mounts the admin API if a token is configured; fails the launch, saying
/// which entry is wrong, if the tokens cannot be read.
pub async fn attach(rocket: Rocket<Build>) -> Result<Rocket<Build>, Rocket<Build>> {
    let Some(settings) = rocket.state::<Settings>().cloned() else {
        tracing::error!("the admin API needs the settings");
        return Err(rocket);
    };
    let tokens = match AdminTokens::parse(&settings.admin_tokens) {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::error!("{e}");
            return Err(rocket);
        }
    };
    if tokens.is_empty() {
        return Ok(rocket);
    }
    let reads = match PoolSettings::from_rocket(DATABASE_NAME, &rocket) {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!("database configuration: {e}");
            return Err(rocket);
        }
    };
    let pool = PoolSettings {
        url: if settings.admin_database_url.is_empty() {
            reads.url
        } else {
            settings.admin_database_url.clone()
        },
        size: settings.admin_pool_size.max(1),
        timeout: reads.timeout,
        // A write bounds its own waits (its lock timeout, see `writes`); a
        // statement timeout would cancel a write that is merely slow.
        statement_timeout: None,
        // Opened on the first write: most instances never take one.
        min_idle: Some(0),
        replica_urls: Vec::new(),
        replica_max_lag: None,
        naive: false,
    };
    tracing::info!(
        "admin API: tokens {:?}, {} connections",
        tokens.names().collect::<Vec<_>>(),
        pool.size
    );
    let primary = rocket
        .state::<std::sync::Arc<crate::metrics::Metrics>>()
        .map_or_else(Default::default, |metrics| {
            Availability::counting_into(&metrics.db)
        });
    let state = AdminState {
        tokens,
        // Its statements are not the public routes': a counter of its own.
        // Its connections that cannot be opened count with the others';
        // its own availability, since a primary down for writes says
        // nothing of the replicas reads come from.
        pool: build_pool(&pool, StatementCounter::default(), primary.clone()),
        timeout: pool.timeout,
        primary,
    };
    Ok(rocket.manage(state).mount("/admin", admin_routes()))
}

/// An authenticated admin request: the token's name, and what a write needs.
pub struct Admin<'r> {
    state: &'r AdminState,
    cache: &'r ResponseCache,
    token_name: &'r str,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Admin<'r> {
    type Error = ApiError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let rocket = request.rocket();
        let (Some(state), Some(cache)) = (
            rocket.state::<AdminState>(),
            rocket.state::<Arc<ResponseCache>>(),
        ) else {
            let error = ApiError::Internal("the admin API was mounted without its state".into());
            return Outcome::Error((error.status(), error));
        };
        let refused = |message, invalid_token| {
            let error = ApiError::Unauthorized {
                message,
                invalid_token,
            };
            Outcome::Error((error.status(), error))
        };
        let Some(header) = request.headers().get_one("Authorization") else {
            return refused(
                "the admin API needs an `Authorization: Bearer <token>` header",
                false,
            );
        };
        let Some(token) = bearer_token(header) else {
            return refused("the Authorization header must be `Bearer <token>`", false);
        };
        match state.tokens.verify(token) {
            Some(token_name) => Outcome::Success(Admin {
                state,
                cache,
                token_name,
            }),
            None => refused("the token is not one this service accepts", true),
        }
    }
}

impl Admin<'_> {
    /// Runs `work` on a connection of the admin pool, on a blocking thread,
    /// once: a write is never run twice. After the commit, forgets the
    /// written product's cached answers here.
    async fn write<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection, Author<'_>) -> Result<Written<T>, WriteError> + Send + 'static,
        T: Send + 'static,
    {
        let checkout = self.state.checkout();
        let author = self.token_name.to_string();
        let written = rocket::tokio::task::spawn_blocking(move || {
            let mut conn = checkout.connection()?;
            work(&mut conn, Author(&author)).map_err(ApiError::from)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("an admin write failed: {e}")))??;
        self.cache.forget_product(written.product_id).await;
        Ok(written.value)
    }

    /// Runs `read` on a connection of the admin pool, on a blocking thread.
    async fn read<T, F>(&self, read: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, WriteError> + Send + 'static,
        T: Send + 'static,
    {
        let checkout = self.state.checkout();
        rocket::tokio::task::spawn_blocking(move || {
            let mut conn = checkout.connection()?;
            read(&mut conn).map_err(ApiError::from)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("an admin read failed: {e}")))?
    }
}

/// An admin answer: JSON that no cache may keep, and for a resource
/// created, where it is.
pub struct AdminAnswer {
    status: Status,
    body: JsonBody,
    location: Option<String>,
}

impl AdminAnswer {
    fn ok<T: Serialize>(value: &T) -> Result<Self, ApiError> {
        Ok(AdminAnswer {
            status: Status::Ok,
            body: JsonBody::of(value)?,
            location: None,
        })
    }
}

impl<'r> Responder<'r, 'static> for AdminAnswer {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response
            .status(self.status)
            .header(json_content_type())
            .header(Header::new("Cache-Control", "no-store"));
        if let Some(location) = self.location {
            response.header(Header::new("Location", location));
        }
        response
            .sized_body(self.body.0.len(), Cursor::new(self.body.0))
            .ok()
    }
}

/// `PATCH /admin/styles/:style_id`: `{"name", "original_price",
/// "sale_price", "default?"}`, any of them; answers the style as
/// `/products/:id/styles` lists it.
#[patch("/styles/<id>", data = "<change>")]
pub async fn update_style(
    id: &str,
    admin: Result<Admin<'_>, ApiError>,
    change: Result<AdminJson<StyleChange>, ApiError>,
) -> Result<AdminAnswer, ApiError> {
    let admin = admin?;
    let id = parse_id("style id", id)?;
    let AdminJson(change) = change?;
    let style = admin
        .write(move |conn, author| writes::update_style(conn, author, id, &change))
        .await?;
    AdminAnswer::ok(&StyleView::from(style))
}

/// `GET /admin/styles/:style_id/photos`: the style's photos with their ids.
#[get("/styles/<id>/photos")]
pub async fn style_photos(
    id: &str,
    admin: Result<Admin<'_>, ApiError>,
) -> Result<AdminAnswer, ApiError> {
    let admin = admin?;
    let id = parse_id("style id", id)?;
    let photos = admin
        .read(move |conn| writes::style_photos(conn, id))
        .await?;
    AdminAnswer::ok(&AdminPhotoView::all(photos))
}

/// `POST /admin/styles/:style_id/photos`: `{"thumbnail_url", "url"}`;
/// answers 201 with the photo and its id, and its `Location`.
#[post("/styles/<id>/photos", data = "<photo>")]
pub async fn add_photo(
    id: &str,
    admin: Result<Admin<'_>, ApiError>,
    photo: Result<AdminJson<NewPhoto>, ApiError>,
) -> Result<AdminAnswer, ApiError> {
    let admin = admin?;
    let id = parse_id("style id", id)?;
    let AdminJson(photo) = photo?;
    let added = admin
        .write(move |conn, author| writes::add_photo(conn, author, id, &photo))
        .await?;
    let location = format!("/admin/photos/{}", added.id);
    Ok(AdminAnswer {
        status: Status::Created,
        body: JsonBody::of(&AdminPhotoView::from(added))?,
        location: Some(location),
    })
}

/// `PUT /admin/styles/:style_id/photos`: `[{"thumbnail_url", "url"}, ...]`,
/// every photo of the style in order (`[]`: none); answers them with their
/// new ids.
#[put("/styles/<id>/photos", data = "<list>")]
pub async fn replace_photos(
    id: &str,
    admin: Result<Admin<'_>, ApiError>,
    list: Result<AdminJson<PhotoList>, ApiError>,
) -> Result<AdminAnswer, ApiError> {
    let admin = admin?;
    let id = parse_id("style id", id)?;
    let AdminJson(list) = list?;
    let photos = admin
        .write(move |conn, author| writes::replace_photos(conn, author, id, &list))
        .await?;
    AdminAnswer::ok(&AdminPhotoView::all(photos))
}

/// `DELETE /admin/photos/:photo_id`: answers the photos its style has left.
#[delete("/photos/<id>")]
pub async fn remove_photo(
    id: &str,
    admin: Result<Admin<'_>, ApiError>,
) -> Result<AdminAnswer, ApiError> {
    let admin = admin?;
    let id = parse_id("photo id", id)?;
    let left = admin
        .write(move |conn, author| writes::remove_photo(conn, author, id))
        .await?;
    AdminAnswer::ok(&AdminPhotoView::all(left))
}

/// `PATCH /admin/skus/:sku_id`: `{"quantity", "size"}`, either or both;
/// answers the sku with its id.
#[patch("/skus/<id>", data = "<change>")]
pub async fn update_sku(
    id: &str,
    admin: Result<Admin<'_>, ApiError>,
    change: Result<AdminJson<SkuChange>, ApiError>,
) -> Result<AdminAnswer, ApiError> {
    let admin = admin?;
    let id = parse_id("sku id", id)?;
    let AdminJson(change) = change?;
    let sku = admin
        .write(move |conn, author| writes::update_sku(conn, author, id, &change))
        .await?;
    AdminAnswer::ok(&AdminSkuView::from(sku))
}

/// Every admin route, to mount under `/admin`.
pub fn admin_routes() -> Vec<Route> {
    routes![
        update_style,
        style_photos,
        add_photo,
        replace_photos,
        remove_photo,
        update_sku
    ]
}
