//! The HTTP surface: the four endpoints of the Atelier contract and the JSON
//! catchers. Each handler parses its input, makes one `conn.run(...)` hand-off
//! holding all of its queries, and builds the view.

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome};
use rocket::{catch, catchers, get, routes, Catcher, Orbit, Request, Rocket, Route, State};

use crate::catalog::{self, Page};
use crate::config::Settings;
use diesel::{PgConnection, QueryResult};

use crate::db::{is_connection_lost, Db};
use crate::error::{error_response, ApiError, JsonBody};
use crate::views::{ProductDetailView, ProductView, StylesView};

/// Products per page when `count` is not given.
pub const DEFAULT_COUNT: u32 = 5;
/// The largest `count` a client may ask for.
pub const MAX_COUNT: u32 = 1000;

/// A product id from the path: a positive 32-bit integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductId(pub i32);

impl ProductId {
    /// Parses a path segment; only plain decimal digits are accepted.
    pub fn parse(segment: &str) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::BadRequest(format!(
                "product id must be a positive 32-bit integer, got {segment:?}"
            ))
        };
        if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        match segment.parse::<i32>() {
            Ok(id) if id > 0 => Ok(ProductId(id)),
            _ => Err(invalid()),
        }
    }
}

/// Parses the `page` and `count` query parameters of `GET /products`.
pub fn parse_page(page: Option<&str>, count: Option<&str>) -> Result<Page, ApiError> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let page = match page {
        None => 1,
        // Any number of digits is a valid page; one too large for u64 is
        // simply past the end.
        Some(p) if digits(p) => p.parse::<u64>().unwrap_or(u64::MAX),
        Some(p) => {
            return Err(ApiError::BadRequest(format!(
                "page must be an integer >= 1, got {p:?}"
            )))
        }
    };
    if page == 0 {
        return Err(ApiError::BadRequest(
            "page must be an integer >= 1, got \"0\"".into(),
        ));
    }
    let count = match count {
        None => DEFAULT_COUNT,
        Some(c) => match c.parse::<u32>() {
            Ok(n) if digits(c) && (1..=MAX_COUNT).contains(&n) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "count must be an integer from 1 to {MAX_COUNT}, got {c:?}"
                )))
            }
        },
    };
    Ok(Page { page, count })
}

/// Access to the pool that checks out nothing until asked, so that input is
/// validated (400) before a connection is held, and a bad request gets its
/// 400 even while the database is down.
pub struct Pool<'r>(&'r Rocket<Orbit>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Pool<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(Pool(request.rocket()))
    }
}

impl Pool<'_> {
    /// Checks out a pooled connection, or answers 503 after the pool timeout.
    pub async fn connection(&self) -> Result<Db, ApiError> {
        Db::get_one(self.0).await.ok_or(ApiError::Unavailable)
    }

    /// Runs `queries` on one pooled connection (a single hand-off to a
    /// blocking thread). Every request here only reads, so when the
    /// connection turns out to be dead (the database restarted, say) the
    /// queries run again on another one instead of failing the client. Each
    /// dead connection is discarded on return, so after a restart the pool
    /// empties itself of them and opens new ones; if the database is really
    /// gone, opening one fails and the client gets its 503.
    pub async fn read<T, F>(&self, queries: F) -> Result<T, ApiError>
    where
        F: Fn(&mut PgConnection) -> QueryResult<T> + Clone + Send + 'static,
        T: Send + 'static,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let attempt = queries.clone();
            let outcome = self.connection().await?.run(move |c| attempt(c)).await;
            match outcome {
                Err(error) if is_connection_lost(&error) && attempts < MAX_READ_ATTEMPTS => {}
                other => return Ok(other?),
            }
        }
    }
}

/// A bound on [`Pool::read`]'s retries, far above any pool size in use, so a
/// database that keeps dropping connections cannot hold a request forever.
const MAX_READ_ATTEMPTS: u32 = 256;

fn product_not_found(id: ProductId) -> ApiError {
    ApiError::NotFound(format!("product {} does not exist", id.0))
}

/// `GET /products?page&count`: one page of products ordered by id.
#[get("/products?<page>&<count>")]
pub async fn list_products(
    page: Option<&str>,
    count: Option<&str>,
    pool: Pool<'_>,
    settings: &State<Settings>,
) -> Result<JsonBody, ApiError> {
    let page = parse_page(page, count)?;
    let rows = pool.read(move |c| catalog::list_products(c, page)).await?;
    let views: Vec<ProductView> = rows
        .into_iter()
        .map(|row| ProductView::new(row, &settings.campus))
        .collect();
    JsonBody::of(&views)
}

/// `GET /products/:id`: one product with its features.
#[get("/products/<id>")]
pub async fn get_product(
    id: &str,
    pool: Pool<'_>,
    settings: &State<Settings>,
) -> Result<JsonBody, ApiError> {
    let id = ProductId::parse(id)?;
    let found = pool
        .read(move |c| catalog::find_product(c, id.0))
        .await?
        .ok_or_else(|| product_not_found(id))?;
    JsonBody::of(&ProductDetailView::new(found, &settings.campus))
}

/// `GET /products/:id/styles`: a product's styles with photos and skus.
#[get("/products/<id>/styles")]
pub async fn get_product_styles(id: &str, pool: Pool<'_>) -> Result<JsonBody, ApiError> {
    let id = ProductId::parse(id)?;
    let styles = pool
        .read(move |c| catalog::find_product_styles(c, id.0))
        .await?
        .ok_or_else(|| product_not_found(id))?;
    JsonBody::of(&StylesView::new(id.0, styles))
}

/// `GET /products/:id/related`: the ids of related products.
#[get("/products/<id>/related")]
pub async fn get_related_products(id: &str, pool: Pool<'_>) -> Result<JsonBody, ApiError> {
    let id = ProductId::parse(id)?;
    let ids = pool
        .read(move |c| catalog::find_related_product_ids(c, id.0))
        .await?
        .ok_or_else(|| product_not_found(id))?;
    JsonBody::of(&ids)
}

/// Every route of the API.
pub fn api_routes() -> Vec<Route> {
    routes![
        list_products,
        get_product,
        get_product_styles,
        get_related_products
    ]
}

/// The client-facing sentence for a status no handler answered itself.
fn catcher_message(status: Status, request: &Request<'_>) -> String {
    match status.code {
        400 | 422 => "the request is malformed".into(),
        404 => format!(
            "no resource at {}: the API serves /products, /products/:id, \
             /products/:id/styles and /products/:id/related",
            request.uri().path()
        ),
        405 => "only GET and HEAD are supported".into(),
        503 => "the database is unavailable or busy; try again shortly".into(),
        500 => "internal server error".into(),
        _ => status.reason_lossy().to_lowercase(),
    }
}

/// Answers every status Rocket raises itself (no route, a failed guard,
/// a panic) with the contract's JSON error body. Rocket's 422 for an
/// unparsable request becomes the contract's 400.
#[catch(default)]
fn json_catcher(status: Status, request: &Request<'_>) -> JsonCaught {
    let status = if status == Status::UnprocessableEntity {
        Status::BadRequest
    } else {
        status
    };
    JsonCaught(status, catcher_message(status, request))
}

/// A catcher's answer: a status and a sentence.
pub struct JsonCaught(Status, String);

impl<'r> rocket::response::Responder<'r, 'static> for JsonCaught {
    fn respond_to(self, _: &'r Request<'_>) -> rocket::response::Result<'static> {
        Ok(error_response(self.0, &self.1))
    }
}

/// The JSON catchers.
pub fn api_catchers() -> Vec<Catcher> {
    catchers![json_catcher]
}
