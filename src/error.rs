//! The one error type of the HTTP layer, and the JSON every error answers with.
//!
//! Policy, mapped once here: a missing row is 404, bad input is 400, a database
//! that cannot be reached (or a pool with no free connection) is 503, anything
//! else is 500 with the detail logged and never sent to the client.

use std::io::Cursor;

use diesel::result::Error as DieselError;
use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde::Serialize;

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
    /// The database is down or every connection is busy.
    #[error("the database is unavailable; try again shortly")]
    Unavailable,
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
            ApiError::Unavailable => Status::ServiceUnavailable,
            ApiError::Internal(_) => Status::InternalServerError,
        }
    }
}

impl From<DieselError> for ApiError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => ApiError::NotFound("not found".into()),
            lost if crate::db::is_connection_lost(&lost) => ApiError::Unavailable,
            other => ApiError::Internal(other.to_string()),
        }
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

/// Builds the JSON error response for `status` with `message`.
pub fn error_response(status: Status, message: &str) -> Response<'static> {
    // Serializing a struct of one string cannot fail; the fallback keeps the
    // answer well-formed JSON regardless.
    let body = serde_json::to_vec(&ErrorBody { error: message })
        .unwrap_or_else(|_| br#"{"error":"internal server error"}"#.to_vec());
    Response::build()
        .status(status)
        .header(json_content_type())
        .sized_body(body.len(), Cursor::new(body))
        .finalize()
}

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        match &self {
            ApiError::Internal(detail) => {
                log::error!("{} {}: {detail}", request.method(), request.uri())
            }
            ApiError::Unavailable => {
                log::warn!(
                    "{} {}: database unavailable",
                    request.method(),
                    request.uri()
                )
            }
            _ => {}
        }
        Ok(error_response(self.status(), &self.to_string()))
    }
}
