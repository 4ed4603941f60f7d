//! Methods a path does not answer: Rocket answers them 404, as if the path
//! did not exist; HTTP says 405 with the methods it does answer (`Allow`).
//! And `OPTIONS`, which browsers send as a CORS preflight.
//!
//! Both come from the route table itself, at ignition, once every route is
//! mounted: for each path, an `OPTIONS` route (see `cors`) and a 405 route
//! for every other method, so a new route needs nothing here and `Allow`
//! always says what the path really answers. A path with a GET route
//! answers HEAD too (Rocket runs the GET route without sending its body).
//! A method Rocket does not know at all (`QUERY`, say) never reaches a
//! route: Rocket answers it 400 as a malformed request, which the catcher
//! turns into the path's 405 with [`allow_for`].

use std::collections::BTreeMap;

use rocket::http::Method;
use rocket::route::{Handler, Outcome};
use rocket::{Build, Data, Request, Rocket, Route};

use crate::http::cors::Cors;
use crate::http::error::ApiError;

/// The methods a 405 route is made for when a path does not answer them.
const OTHER_METHODS: [Method; 7] = [
    Method::Get,
    Method::Put,
    Method::Post,
    Method::Delete,
    Method::Patch,
    Method::Head,
    Method::Trace,
];

/// Adds to `rocket` the `OPTIONS` and 405 routes of every path its routes
/// serve (see the module's documentation).
pub fn add_method_routes(rocket: Rocket<Build>) -> Rocket<Build> {
    // Paths by their shape (`/products/<>`: two routes whose dynamic
    // segments are named differently are one path), with the path as
    // written and the methods routed.
    let mut paths: BTreeMap<String, (String, Vec<Method>)> = BTreeMap::new();
    for route in rocket.routes() {
        let path = route.uri.path().to_string();
        let (_, methods) = paths
            .entry(shape(&path))
            .or_insert_with(|| (path, Vec::new()));
        if !methods.contains(&route.method) {
            methods.push(route.method);
        }
    }
    let mut routes = Vec::new();
    let mut table = Vec::new();
    for (shape, (path, mut methods)) in paths {
        if methods.contains(&Method::Get) && !methods.contains(&Method::Head) {
            methods.push(Method::Head);
        }
        let answered_options = methods.contains(&Method::Options);
        if !answered_options {
            methods.push(Method::Options);
        }
        let allow = allow_header(&methods);
        table.push((shape, allow));
        if !answered_options {
            routes.push(Route::new(Method::Options, &path, Options { allow }));
        }
        for method in OTHER_METHODS {
            if !methods.contains(&method) {
                routes.push(Route::new(method, &path, NotAllowed { allow }));
            }
        }
    }
    rocket.mount("/", routes).manage(Paths(table))
}

/// Every path's shape and the methods it answers.
struct Paths(Vec<(String, &'static str)>);

/// The methods the path of `request` answers (its `Allow`), if it is a path
/// the service serves.
pub fn allow_for(request: &Request<'_>) -> Option<&'static str> {
    let paths = request.rocket().state::<Paths>()?;
    let path = request.uri().path();
    let segments: Vec<&str> = path.as_str().split('/').collect();
    paths
        .0
        .iter()
        .find(|(shape, _)| matches_shape(shape, &segments))
        .map(|(_, allow)| *allow)
}

/// Whether the path split into `segments` is an instance of `shape`.
fn matches_shape(shape: &str, segments: &[&str]) -> bool {
    let mut path = segments.iter();
    for expected in shape.split('/') {
        match expected {
            "<..>" => return true,
            "<>" => match path.next() {
                Some(segment) if !segment.is_empty() => {}
                _ => return false,
            },
            literal => {
                if path.next() != Some(&literal) {
                    return false;
                }
            }
        }
    }
    path.next().is_none()
}

/// `path` with every dynamic segment's name left out.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('<') {
                if segment.ends_with("..>") {
                    "<..>"
                } else {
                    "<>"
                }
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `GET, HEAD, OPTIONS`: the methods in the order HTTP lists them, made once
/// per path and kept for the life of the process.
fn allow_header(methods: &[Method]) -> &'static str {
    let order = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];
    let listed: Vec<&str> = order
        .iter()
        .filter(|m| methods.contains(m))
        .map(|m| m.as_str())
        .collect();
    Box::leak(listed.join(", ").into_boxed_str())
}

/// Answers a method the path does not serve: 405 with `Allow`.
#[derive(Clone)]
struct NotAllowed {
    allow: &'static str,
}

#[rocket::async_trait]
impl Handler for NotAllowed {
    async fn handle<'r>(&self, request: &'r Request<'_>, _: Data<'r>) -> Outcome<'r> {
        Outcome::from(request, ApiError::MethodNotAllowed { allow: self.allow })
    }
}

/// Answers `OPTIONS`: 204 with `Allow`, and the CORS preflight headers.
#[derive(Clone)]
struct Options {
    allow: &'static str,
}

#[rocket::async_trait]
impl Handler for Options {
    async fn handle<'r>(&self, request: &'r Request<'_>, _: Data<'r>) -> Outcome<'r> {
        match request.rocket().state::<Cors>() {
            Some(cors) => Outcome::Success(cors.preflight(request, self.allow)),
            None => Outcome::from(
                request,
                ApiError::Internal("the application was built without its CORS policy".into()),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_told_apart_by_shape_and_allow_lists_in_order() {
        assert_eq!(shape("/products/<id>/styles"), "/products/<>/styles");
        assert_eq!(shape("/products/<product_id>"), shape("/products/<id>"));
        assert_eq!(shape("/files/<path..>"), "/files/<..>");
        assert_eq!(
            allow_header(&[Method::Options, Method::Get, Method::Head]),
            "GET, HEAD, OPTIONS"
        );
        let split = |p: &'static str| p.split('/').collect::<Vec<_>>();
        assert!(matches_shape(
            "/products/<>/styles",
            &split("/products/7/styles")
        ));
        assert!(!matches_shape("/products/<>/styles", &split("/products/7")));
        assert!(!matches_shape("/products/<>", &split("/products/7/styles")));
        assert!(!matches_shape("/products/<>", &split("/products/")));
        assert!(matches_shape("/products", &split("/products")));
        assert!(matches_shape("/files/<..>", &split("/files/a/b")));
    }
}
