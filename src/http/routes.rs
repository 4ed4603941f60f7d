//! The HTTP surface: the four endpoints of the Atelier contract, search
//! (`/products` with a query or filters, `/categories`), `/health`,
//! `/ready`, `/metrics`, `/openapi.json` and the JSON catchers. Each handler parses its input,
//! reads what it needs in one hand-off to a database thread (`Api::read`,
//! or `Api::lookup`, which answers concurrent lookups of one kind
//! together), and builds the view; the answer goes through the response
//! cache (`Api::respond_*`).

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use rocket::http::{ContentType, Status};
use rocket::{catch, catchers, get, routes, Catcher, Request, Route, State};

use crate::catalog::queries::{self, Page};
use crate::catalog::search::{self, SearchInput};
use crate::catalog::views::ReadyView;
use crate::catalog::views::{CategoryCountView, ProductView};
use crate::http::api::Api;
use crate::http::cache::{search_key, CachedResponse, ProductAnswer, WithHeaders};
use crate::http::cors::{COUNTS_ESTIMATED, SEARCH_CORRECTED};
use crate::http::error::{error_response, ApiError, JsonBody, StaticJson};
use crate::metrics::Metrics;

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
        parse_id("product id", segment).map(ProductId)
    }
}

/// Parses a path segment that holds the id named `what` ("product id"): a
/// positive 32-bit integer in plain decimal digits.
pub fn parse_id(what: &str, segment: &str) -> Result<i32, ApiError> {
    let invalid = || {
        ApiError::BadRequest(format!(
            "{what} must be a positive 32-bit integer, got {segment:?}"
        ))
    };
    if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match segment.parse::<i32>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(invalid()),
    }
}

/// The query parameters the product list and the category counts read,
/// gathered in one pass over the request's query, matched by name as
/// Rocket matches a route's own query parameters. Declared on the routes,
/// each parameter would build a form context of its own on every request.
#[derive(Default)]
struct ListQuery<'r> {
    page: Given<'r>,
    count: Given<'r>,
    q: Given<'r>,
    min_price: Given<'r>,
    max_price: Given<'r>,
    category: Vec<&'r str>,
}

impl<'r> ListQuery<'r> {
    fn read(api: &Api<'r>) -> Self {
        let mut query = ListQuery::default();
        for field in api.query_fields() {
            let given = match field.name.key_lossy().as_str() {
                "page" => &mut query.page,
                "count" => &mut query.count,
                "q" => &mut query.q,
                "min_price" => &mut query.min_price,
                "max_price" => &mut query.max_price,
                "category" => {
                    query.category.push(field.value);
                    continue;
                }
                _ => continue,
            };
            given.first.get_or_insert(field.value);
            given.times += 1;
        }
        query
    }

    /// Whether it asks for a search: a query or a filter.
    fn searches(&self) -> bool {
        [self.q, self.min_price, self.max_price]
            .iter()
            .any(|given| given.times > 0)
            || !self.category.is_empty()
    }

    /// The search it asks for (see [`SearchInput::parse`]).
    fn search(&self) -> Result<SearchInput, ApiError> {
        Ok(SearchInput::parse(
            self.q.once("q")?,
            &self.category,
            self.min_price.once("min_price")?,
            self.max_price.once("max_price")?,
        )?)
    }
}

/// A query parameter meant to be given at most once: its first value, and
/// how many times it was given.
#[derive(Default, Clone, Copy)]
struct Given<'r> {
    first: Option<&'r str>,
    times: usize,
}

impl<'r> Given<'r> {
    /// The one value of query parameter `name`, if given: given twice, it
    /// is ambiguous, so 400.
    fn once(self, name: &str) -> Result<Option<&'r str>, ApiError> {
        match self.times {
            0 | 1 => Ok(self.first),
            times => Err(ApiError::BadRequest(format!(
                "{name} must be given at most once, got it {times} times"
            ))),
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
        Some(p) if digits(p) && p.bytes().any(|b| b != b'0') => {
            p.parse::<u64>().unwrap_or(u64::MAX)
        }
        Some(p) => {
            return Err(ApiError::BadRequest(format!(
                "page must be an integer >= 1, got {p:?}"
            )))
        }
    };
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

fn product_not_found(id: ProductId) -> ApiError {
    ApiError::NotFound(format!("product {} does not exist", id.0))
}

/// `GET /products?page&count`: one page of products ordered by id; with a
/// query (`q`) or filters (`category`, `min_price`, `max_price`), one page
/// of the products they find (see [`search_products`]).
#[get("/products")]
pub async fn list_products(api: Api<'_>) -> Result<CachedResponse, ApiError> {
    let query = ListQuery::read(&api);
    let page = parse_page(query.page.once("page")?, query.count.once("count")?)?;
    if query.searches() {
        let input = query.search()?;
        // Boxed: the page's future, which every product list request
        // carries, stays as small as it was before search.
        return Box::pin(search_products(input, page, &api)).await;
    }
    let api = &api;
    api.respond_page(page, move || async move {
        let anchors = api.anchors();
        let rows = api
            .read(move |c| queries::list_products(c, page, anchors.as_deref().map(Vec::as_slice)))
            .await?;
        JsonBody::of(&ProductView::list(rows, &api.settings.campus))
    })
    .await
}

/// A header value of `text`: its bytes outside printable ASCII, and `%`,
/// percent-encoded (as in a URL), so any `q` can be sent.
fn header_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (b' '..=b'~').contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A search answer's own headers: [`SEARCH_CORRECTED`] when it searched
/// for a corrected `q`, [`COUNTS_ESTIMATED`] when its counts are estimates.
fn search_headers(corrected: Option<String>, estimated: bool) -> Vec<(&'static str, String)> {
    let corrected = corrected.map(|q| (SEARCH_CORRECTED, header_text(&q)));
    let estimated = estimated.then(|| (COUNTS_ESTIMATED, "true".to_string()));
    corrected.into_iter().chain(estimated).collect()
}

/// One page of the products a search finds, most relevant first, in the
/// shape of the product list; with [`SEARCH_CORRECTED`] when a misspelt
/// word was corrected. Cached under the parsed input (see
/// `cache::search_key`).
async fn search_products(
    input: SearchInput,
    page: Page,
    api: &Api<'_>,
) -> Result<CachedResponse, ApiError> {
    let key = search_key("/products", &input.key_bytes(), Some(page));
    api.respond_keyed(key, move || async move {
        let found = api
            .read(move |c| search::find_products(c, &input, page))
            .await?;
        let views = ProductView::list(found.rows, &api.settings.campus);
        let headers = search_headers(found.corrected, false);
        Ok(WithHeaders(JsonBody::of(&views)?, headers))
    })
    .await
}

/// `GET /categories?q&category&min_price&max_price`: how many products of
/// each category the search finds (every product, without parameters),
/// most first, then by name; with [`COUNTS_ESTIMATED`] when the counts of a
/// common query are estimated from a sample (see
/// `search::count_categories`).
#[get("/categories")]
pub async fn list_categories(api: Api<'_>) -> Result<CachedResponse, ApiError> {
    let input = ListQuery::read(&api).search()?;
    let key = search_key("/categories", &input.key_bytes(), None);
    let api = &api;
    api.respond_keyed(key, move || async move {
        let found = api
            .read(move |c| search::count_categories(c, &input))
            .await?;
        let estimated = found.rows.estimated;
        let views: Vec<CategoryCountView> = found
            .rows
            .counts
            .into_iter()
            .map(CategoryCountView::from)
            .collect();
        let headers = search_headers(found.corrected, estimated);
        Ok(WithHeaders(JsonBody::of(&views)?, headers))
    })
    .await
}

/// `GET /products/:id`: one product with its features.
#[get("/products/<id>")]
pub async fn get_product(id: &str, api: Api<'_>) -> Result<CachedResponse, ApiError> {
    let id = ProductId::parse(id)?;
    let api = &api;
    api.respond_about(id.0, ProductAnswer::Detail, move || async move {
        let body = api
            .lookup(&queries::PRODUCTS, id.0)
            .await?
            .ok_or_else(|| product_not_found(id))?;
        Ok(JsonBody(body.answer(id.0, &api.settings.campus)?))
    })
    .await
}

/// `GET /products/:id/styles`: a product's styles with photos and skus.
#[get("/products/<id>/styles")]
pub async fn get_product_styles(id: &str, api: Api<'_>) -> Result<CachedResponse, ApiError> {
    let id = ProductId::parse(id)?;
    let api = &api;
    api.respond_about(id.0, ProductAnswer::Styles, move || async move {
        let body = api
            .lookup(&queries::STYLES, id.0)
            .await?
            .ok_or_else(|| product_not_found(id))?;
        Ok(JsonBody(body.0.into_bytes()))
    })
    .await
}

/// `GET /products/:id/related`: the ids of related products, from memory
/// once the catalog watcher has read them (see `catalog::related`), else
/// from the database through the cache.
#[get("/products/<id>/related")]
pub async fn get_related_products(id: &str, api: Api<'_>) -> Result<CachedResponse, ApiError> {
    let id = ProductId::parse(id)?;
    // Found in memory faster than in the cache, and kept out of it, which
    // leaves its room to answers that cost a round trip.
    if let Some(snapshot) = api.related_in_memory() {
        return api
            .respond_made_now(async {
                let ids = snapshot.of(id.0).ok_or_else(|| product_not_found(id))?;
                JsonBody::of(&ids)
            })
            .await;
    }
    let api = &api;
    api.respond_about(id.0, ProductAnswer::Related, move || async move {
        let ids = api
            .lookup(&queries::RELATED, id.0)
            .await?
            .ok_or_else(|| product_not_found(id))?;
        JsonBody::of(&ids)
    })
    .await
}

/// `GET /health`: a fixed answer that touches nothing, for load balancers.
#[get("/health")]
pub fn health() -> StaticJson {
    StaticJson(br#"{"status":"ok"}"#)
}

/// How long `/ready` waits for the database before it answers 503: a
/// readiness probe gives up after a second by default.
const READY_TIMEOUT: Duration = Duration::from_millis(900);

/// `GET /ready`: 200 while the service can read its catalog (one row of
/// `product`, through the pool like any request: from a replica, or from
/// the primary while every replica is skipped), with what each replica is
/// to reads; 503 otherwise: at once while the database is known to be down,
/// else after [`READY_TIMEOUT`].
#[get("/ready")]
pub async fn ready(api: Api<'_>) -> Result<JsonBody, ApiError> {
    let read = api.read(|c| {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT 1 FROM product LIMIT 1").execute(c)
    });
    match rocket::tokio::time::timeout(READY_TIMEOUT, read).await {
        Ok(Ok(_)) => JsonBody::of(&ReadyView::new(api.replicas())),
        // A catalog that cannot be read (a missing table, say) is a reason
        // not to send traffic here, not an error of this request.
        Ok(Err(ApiError::Internal(detail))) => {
            tracing::warn!("not ready: the catalog cannot be read: {detail}");
            Err(ApiError::Unavailable)
        }
        Ok(Err(error)) => Err(error),
        Err(_) => Err(ApiError::Unavailable),
    }
}

/// `GET /metrics`: every metric in the Prometheus text format (see
/// `metrics`); served on `ATELIER_METRICS_ADDRESS` instead when that is set.
#[get("/metrics")]
pub fn metrics(metrics: &State<Arc<Metrics>>) -> (ContentType, String) {
    (crate::metrics::content_type(), metrics.render())
}

/// `GET /openapi.json`: the contract as OpenAPI 3.0.3, converted from
/// `docs/openapi.yaml` by build.rs, so the served document cannot drift from
/// the one the contract tests check answers against.
#[get("/openapi.json")]
pub fn openapi() -> StaticJson {
    StaticJson(include_bytes!(concat!(env!("OUT_DIR"), "/openapi.json")))
}

/// Every route of the API. Rocket tries the routes of a request's method
/// one by one, in rank order (its defaults run from -12, a static path, to
/// -4), until one matches; the catalog's four, which most requests are
/// for, are ranked ahead of the rest so they are tried first. No two of
/// them can match one path, nor can any of them and another route.
pub fn api_routes() -> Vec<Route> {
    let mut routes = routes![
        list_products,
        get_product,
        get_product_styles,
        get_related_products
    ];
    for route in &mut routes {
        route.rank = CATALOG_RANK;
    }
    routes.extend(routes![list_categories, health, ready, openapi]);
    routes
}

/// The rank of the catalog's routes: ahead of every default rank.
const CATALOG_RANK: isize = -13;

/// The route of `GET /metrics`, mounted on the API's address or its own.
pub fn metrics_routes() -> Vec<Route> {
    routes![metrics]
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
        413 => "the request body is too large".into(),
        503 => "the database is unavailable or busy; try again shortly".into(),
        500 => "internal server error".into(),
        _ => status.reason_lossy().to_lowercase(),
    }
}

/// Answers every status Rocket raises itself (no route, a failed guard,
/// a panic) with the contract's JSON error body. Rocket's 422 for an
/// unparsable request becomes the contract's 400; its 400 for a method it
/// does not know, on a path the service serves, becomes that path's 405.
#[catch(default)]
fn json_catcher(status: Status, request: &Request<'_>) -> Result<JsonCaught, ApiError> {
    let status = if status == Status::UnprocessableEntity {
        Status::BadRequest
    } else {
        status
    };
    // A request Rocket could not parse is routed nowhere; one whose target
    // survived (an unparsable one becomes `/`) failed on its method.
    if status == Status::BadRequest && request.route().is_none() && request.uri().path() != "/" {
        if let Some(allow) = crate::http::methods::allow_for(request) {
            return Err(ApiError::MethodNotAllowed { allow });
        }
    }
    Ok(JsonCaught(status, catcher_message(status, request)))
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
