//! The HTTP layer: routes and their parameters, the one error type and its
//! mapping from the layers below, the response cache and compression, and
//! the fairings (request ids, telemetry, CORS, limits, methods), plus the
//! watcher that keeps the cache in step with the catalog and the expiry that
//! keeps nginx's copies within a second of it.

pub mod api;
pub mod cache;
pub mod compression;
pub mod context;
pub mod cors;
pub mod error;
pub mod expires;
pub mod limits;
pub mod methods;
pub mod routes;
pub mod telemetry;
pub mod watcher;
