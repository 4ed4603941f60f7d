//! The one error type of the HTTP layer, and the JSON every error answers with.
//!
//! Policy, mapped once here: a missing row is 404, bad input is 400, a
//! missing or wrong admin token is 401 with `WWW-Authenticate`, a method a
//! path does not answer is 405 (with `Allow`), a write that conflicts with
//! the data is 409, a request over a size limit is 413, 414 or 431, a
//! database that cannot be reached (or a pool with no free connection) is
//! 503 with `Retry-After`, as is a write refused while an import runs,
//! anything else is 500 with the detail logged, once, and never sent to the
//! client.

use std::io::Cursor;

use diesel::result::Error as DieselError;
use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde::Serialize;

use crate::catalog::search::InputError;
use crate::db::error::DbError;
use crate::http::limits::Refusal;

/// The body of every error response: `{"error": "..."}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
}

/// An error a handler answers with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; the message says how to fix it.
    #[error("{0}")]
    BadRequest(String),
    /// The resource does not exist; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// The admin API was asked without a valid token; the message says
    /// what was wrong, never what was sent.
    #[error("{message}")]
    Unauthorized {
        message: &'static str,
        /// A token was sent and is not one of the configured ones.
        invalid_token: bool,
    },
    /// The write contradicts the data as it stands; the message says how.
    #[error("{0}")]
    Conflict(String),
    /// The path exists, but not for this method; `allow` lists its methods.
    #[error("this path answers only {allow}")]
    MethodNotAllowed { allow: &'static str },
    /// The request target is longer than the limit, in bytes.
    #[error("the URL is longer than the {0} bytes this service accepts")]
    UriTooLong(usize),
    /// The request's headers are larger than the limit, in bytes.
    #[error("the request headers are larger than the {0} bytes this service accepts")]
    HeadersTooLarge(usize),
    /// The client took too long to send what it announced; the message says
    /// what.
    #[error("{0}")]
    RequestTimeout(String),
    /// The request body is larger than a limit; the message names it.
    #[error("{0}")]
    TooLarge(String),
    /// The database is down or every connection is busy.
    #[error("the database is unavailable; try again shortly")]
    Unavailable,
    /// The service cannot do this now, and says when to try again.
    #[error("{message}")]
    RetryLater {
        message: String,
        retry_after_seconds: u32,
    },
    /// Anything else. The detail is logged, the client sees a generic message.
    #[error("internal server error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> Status {
        match self {
            ApiError::BadRequest(_) => Status::BadRequest,
            ApiError::NotFound(_) => Status::NotFound,
            ApiError::Unauthorized { .. } => Status::Unauthorized,
            ApiError::Conflict(_) => Status::Conflict,
            ApiError::MethodNotAllowed { .. } => Status::MethodNotAllowed,
            ApiError::UriTooLong(_) => Status::UriTooLong,
            ApiError::HeadersTooLarge(_) => Status::RequestHeaderFieldsTooLarge,
            ApiError::TooLarge(_) => Status::PayloadTooLarge,
            ApiError::RequestTimeout(_) => Status::RequestTimeout,
            ApiError::Unavailable | ApiError::RetryLater { .. } => Status::ServiceUnavailable,
            ApiError::Internal(_) => Status::InternalServerError,
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable => ApiError::Unavailable,
            DbError::NotFound => ApiError::NotFound("not found".into()),
            DbError::Failed(detail) => ApiError::Internal(detail),
        }
    }
}

impl From<InputError> for ApiError {
    fn from(error: InputError) -> Self {
        ApiError::BadRequest(error.0)
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::UriTooLong(limit) => ApiError::UriTooLong(limit),
            Refusal::HeadersTooLarge(limit) => ApiError::HeadersTooLarge(limit),
            Refusal::BodyTooLarge(limit) => ApiError::TooLarge(format!(
                "the request body is larger than the {limit} bytes this service accepts"
            )),
        }
    }
}

impl From<DieselError> for ApiError {
    fn from(error: DieselError) -> Self {
        ApiError::from(DbError::from(error))
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(error: serde_json::Error) -> Self {
        ApiError::Internal(format!("serializing a response: {error}"))
    }
}

/// `application/json; charset=utf-8`, the content type of every answer.
/// A header made of static text: a `ContentType` would be formatted into a
/// new string on every response.
pub fn json_content_type() -> Header<'static> {
    Header::new("Content-Type", "application/json; charset=utf-8")
}

/// A response body already serialized to JSON.
#[derive(Debug, Clone)]
pub struct JsonBody(pub Vec<u8>);

impl JsonBody {
    /// Serializes `value` as the body of a response.
    pub fn of<T: Serialize>(value: &T) -> Result<Self, ApiError> {
        Ok(JsonBody(serde_json::to_vec(value)?))
    }
}

impl<'r> Responder<'r, 'static> for JsonBody {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Response::build()
            .header(json_content_type())
            .sized_body(self.0.len(), Cursor::new(self.0))
            .ok()
    }
}

/// A response body fixed at build time, sent from where it lies rather than
/// copied into a new buffer on every request.
#[derive(Debug, Clone, Copy)]
pub struct StaticJson(pub &'static [u8]);

impl<'r> Responder<'r, 'static> for StaticJson {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Response::build()
            .header(json_content_type())
            .sized_body(self.0.len(), Cursor::new(self.0))
            .ok()
    }
}

/// Seconds a client is asked to wait before it tries a 503 again: the
/// database probe looks more often than that (see `availability`).
pub const RETRY_AFTER_SECONDS: &str = "1";

/// Builds the JSON error response for `status` with `message`; a 503 says
/// when to try again.
pub fn error_response(status: Status, message: &str) -> Response<'static> {
    // Serializing a struct of one string cannot fail; the fallback keeps the
    // answer well-formed JSON regardless.
    let body = serde_json::to_vec(&ErrorBody { error: message })
        .unwrap_or_else(|_| br#"{"error":"internal server error"}"#.to_vec());
    let mut response = Response::build();
    response
        .status(status)
        .header(json_content_type())
        .sized_body(body.len(), Cursor::new(body));
    if status == Status::ServiceUnavailable {
        response.header(Header::new("Retry-After", RETRY_AFTER_SECONDS));
    }
    response.finalize()
}

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        // A 503 is not logged here: the request line shows it, and the
        // database's state changes are logged once each (`availability`).
        if let ApiError::Internal(detail) = &self {
            tracing::error!(
                request_id = crate::http::context::request_id(request),
                method = %request.method(),
                uri = %request.uri(),
                "internal error: {detail}"
            );
        }
        let mut response = error_response(self.status(), &self.to_string());
        match self {
            ApiError::Unauthorized { invalid_token, .. } => {
                // RFC 6750: the scheme a client should use, and whether the
                // token it sent was refused.
                response.set_header(Header::new(
                    "WWW-Authenticate",
                    if invalid_token {
                        r#"Bearer realm="atelier-admin", error="invalid_token""#
                    } else {
                        r#"Bearer realm="atelier-admin""#
                    },
                ));
            }
            ApiError::RetryLater {
                retry_after_seconds,
                ..
            } => {
                response.set_header(Header::new("Retry-After", retry_after_seconds.to_string()));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.set_header(Header::new("Allow", allow));
            }
            _ => {}
        }
        Ok(response)
    }
}
