//! Cross-origin reads from browsers (CORS): which origins' scripts may read
//! the answers (`ATELIER_CORS_ORIGINS`: any, by default, the catalog being
//! public and read-only; or a list), the headers every answer carries for
//! them, and the answer to a preflight `OPTIONS`.
//!
//! Not `rocket_cors`: its fairing parses and formats its headers on every
//! response, where here every header value is made once at start-up. The
//! request fairing (`telemetry`) decides each request's headers from its
//! `Origin` on arrival ([`Cors::verdict`]), in its one pass over the
//! headers, and adds them on the way out ([`Cors::apply`]): a cached hit pays
//! one header insertion (two with an `Origin`), and no fairing of its own.
//! The preflight routes are the ones `methods` makes for each path, which
//! also answer `Allow`.

use rocket::http::{Header, Status};
use rocket::{Request, Response};

/// Headers a script may send cross-origin beyond the CORS-safelisted ones:
/// `Authorization` (front ends written for the live API send one),
/// `If-None-Match` (revalidation), `Content-Type` (for JSON bodies) and
/// `X-Request-Id` (tracing a request through). Lower case, as browsers send
/// them in `Access-Control-Request-Headers`.
pub const ALLOWED_HEADERS: [&str; 4] = [
    "authorization",
    "if-none-match",
    "content-type",
    "x-request-id",
];

/// Headers scripts may read besides the safelisted ones.
const EXPOSED_HEADERS: &str = "ETag, X-Request-Id";

/// The header in which a search that corrected a misspelling says what it
/// searched for instead (see `routes`); a front end shows it, so scripts
/// may read it too.
pub const SEARCH_CORRECTED: &str = "X-Search-Corrected";
/// The header saying that a search's category counts are estimates (see
/// `routes`); a front end may show them as such.
pub const COUNTS_ESTIMATED: &str = "X-Counts-Estimated";
/// Those and a search's own headers, on the answers that have one.
const EXPOSED_WITH_SEARCH: &str = "ETag, X-Request-Id, X-Search-Corrected, X-Counts-Estimated";

/// How long a browser may keep a preflight's answer, in seconds (Chromium
/// keeps at most two hours, Firefox a day).
const MAX_AGE: &str = "86400";

/// Which origins may read the answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    /// Any origin: `Access-Control-Allow-Origin: *`.
    Any,
    /// Only these (scheme, host and port, as browsers send `Origin`); the
    /// answer names the origin and says it varies with `Origin`.
    Listed(Vec<&'static str>),
}

/// The CORS headers of one answer, decided when its request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorsVerdict {
    /// The answer varies with `Origin` (the origins are listed).
    vary: bool,
    /// Its `Access-Control-Allow-Origin`, if any.
    allowed: Option<&'static str>,
    /// The request has an `Origin`: a script of another origin asks.
    from_script: bool,
}

/// The CORS policy of one application, its header values made once.
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Origins,
}

impl Cors {
    /// The policy `setting` describes: `*`, or origins separated by commas.
    pub fn new(setting: &str) -> Result<Self, String> {
        let listed: Vec<&str> = setting
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .collect();
        if listed.is_empty() || listed == ["*"] {
            return Ok(Cors {
                origins: Origins::Any,
            });
        }
        let mut origins = Vec::new();
        for origin in listed {
            let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && origin.bytes().all(|b| b.is_ascii_graphic() && b != b',');
            if !valid {
                return Err(format!(
                    "ATELIER_CORS_ORIGINS: {origin:?} is not an origin such as https://shop.example \
                     (scheme, host, optional port, no path), nor *"
                ));
            }
            // Kept for the life of the process: answers name them by reference.
            origins.push(&*Box::leak(origin.to_ascii_lowercase().into_boxed_str()));
        }
        Ok(Cors {
            origins: Origins::Listed(origins),
        })
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin`.
    fn allowed(&self, origin: Option<&str>) -> Option<&'static str> {
        match &self.origins {
            Origins::Any => Some("*"),
            Origins::Listed(listed) => {
                let origin = origin?;
                listed
                    .iter()
                    .copied()
                    .find(|allowed| allowed.eq_ignore_ascii_case(origin))
            }
        }
    }

    /// What the answer to a request from `origin` (its `Origin` header, if
    /// any) gets.
    pub fn verdict(&self, origin: Option<&str>) -> CorsVerdict {
        CorsVerdict {
            vary: matches!(self.origins, Origins::Listed(_)),
            allowed: self.allowed(origin),
            from_script: origin.is_some(),
        }
    }

    /// The CORS headers `verdict` gives an answer.
    pub fn apply(verdict: CorsVerdict, response: &mut Response<'_>) {
        if verdict.vary {
            response.adjoin_header(Header::new("Vary", "Origin"));
        }
        if let Some(allowed) = verdict.allowed {
            response.set_header(Header::new("Access-Control-Allow-Origin", allowed));
            // Only a script can read headers, and only one of another origin
            // needs telling which.
            if verdict.from_script {
                // A search's correction and estimates are headers the page
                // shows.
                let headers = response.headers();
                let exposed =
                    if headers.contains(SEARCH_CORRECTED) || headers.contains(COUNTS_ESTIMATED) {
                        EXPOSED_WITH_SEARCH
                    } else {
                        EXPOSED_HEADERS
                    };
                response.set_header(Header::new("Access-Control-Expose-Headers", exposed));
            }
        }
    }

    /// The answer to `OPTIONS` on a path that answers `methods`: 204 with
    /// `Allow`, and for a preflight from an allowed origin the methods, the
    /// headers asked for that are allowed, and how long to keep it. A
    /// header asked for that is not allowed is left out, so the browser
    /// refuses the request rather than the service.
    pub fn preflight<'r>(&self, request: &Request<'_>, methods: &'static str) -> Response<'r> {
        let mut response = Response::build();
        response
            .status(Status::NoContent)
            .header(Header::new("Allow", methods));
        let origin = request.headers().get_one("Origin");
        if origin.is_some() && self.allowed(origin).is_some() {
            response
                .header(Header::new("Access-Control-Allow-Methods", methods))
                .header(Header::new("Access-Control-Max-Age", MAX_AGE))
                .header(Header::new("Vary", "Access-Control-Request-Headers"));
            let asked = request
                .headers()
                .get("Access-Control-Request-Headers")
                .flat_map(|value| value.split(','))
                .map(|name| name.trim().to_ascii_lowercase())
                .filter(|name| !name.is_empty())
                .collect::<Vec<_>>();
            let allowed = if asked.is_empty() {
                ALLOWED_HEADERS.join(", ")
            } else {
                asked
                    .into_iter()
                    .filter(|name| ALLOWED_HEADERS.contains(&name.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if !allowed.is_empty() {
                response.header(Header::new("Access-Control-Allow-Headers", allowed));
            }
        }
        response.finalize()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_setting_is_any_or_a_list_of_origins() {
        assert_eq!(Cors::new("*").unwrap().origins, Origins::Any);
        assert_eq!(Cors::new("").unwrap().origins, Origins::Any);
        let listed = Cors::new("https://shop.example, http://localhost:8080").unwrap();
        assert_eq!(
            listed.origins,
            Origins::Listed(vec!["https://shop.example", "http://localhost:8080"])
        );
        assert_eq!(
            listed.allowed(Some("HTTPS://shop.example")),
            Some("https://shop.example")
        );
        assert_eq!(listed.allowed(Some("https://evil.example")), None);
        assert_eq!(listed.allowed(None), None);
        assert_eq!(
            Cors::new("*").unwrap().verdict(None),
            CorsVerdict {
                vary: false,
                allowed: Some("*"),
                from_script: false
            }
        );
        assert_eq!(
            listed.verdict(Some("https://shop.example")),
            CorsVerdict {
                vary: true,
                allowed: Some("https://shop.example"),
                from_script: true
            }
        );
        assert_eq!(listed.verdict(None).allowed, None);
        for bad in ["shop.example", "https://shop.example/", "https://a b"] {
            assert!(Cors::new(bad).is_err(), "{bad}");
        }
    }
}
