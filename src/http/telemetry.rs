//! What the service tells its operators: logs through `tracing`, set up once
//! per process ([`init`]), and the request fairing, the front door of every
//! request: it gives the request its id (`X-Request-Id`, the client's if it
//! sent a sane one), judges it against the size limits (`limits`), decides
//! its CORS headers (`cors`), and on the way out adds them, counts it in the
//! metrics and logs one line for it: method, path, status, latency, bytes
//! and request id. One fairing for all of it: each fairing is a boxed
//! future per request and phase, and each reads the request's headers.
//!
//! Rocket and r2d2 log through the `log` crate; `tracing-log` brings their
//! records in, at warnings and errors only unless the filter asks for
//! debugging: Rocket's own lines for every request would repeat this
//! module's, and even dropped they would cost each request their filtering.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::Header;
use rocket::response::Responder;
use rocket::{uri, Data, Orbit, Request, Response, Rocket};
use tracing::level_filters::LevelFilter;
use tracing::Level;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

use crate::config::Settings;
use crate::http::context::{context, RequestContext, RequestId, SeenHeaders};
use crate::http::cors::Cors;
use crate::http::error::ApiError;
use crate::http::limits::Limits;
use crate::metrics::Metrics;

/// The target of the per-request lines, to filter them on their own
/// (`ATELIER_LOG=info,atelier::request=warn` keeps everything else).
pub const REQUEST_TARGET: &str = "atelier::request";

/// Sets up logging for this process as `settings` say: the filter
/// (`ATELIER_LOG`) and the format (`ATELIER_LOG_FORMAT`, `text` or `json`),
/// one event per line on standard output.
pub fn init(settings: &Settings) -> anyhow::Result<()> {
    let filter = EnvFilter::builder()
        .parse(&settings.log_filter)
        .with_context(|| format!("ATELIER_LOG: {:?} is not a log filter", settings.log_filter))?;
    // Records of `log` below this are dropped at the macro, for nothing.
    let log_level = match filter.max_level_hint() {
        Some(level) if level > LevelFilter::INFO => level,
        _ => LevelFilter::WARN,
    };
    // Rocket's debug records print each request with its headers, and so
    // any credential a client sends (an admin token, or a front end's
    // Authorization sent by mistake): they are dropped, whatever the filter
    // says and whether or not admin tokens are configured.
    let keep =
        filter_fn(|meta| !(meta.target().starts_with("rocket") && *meta.level() > Level::INFO));
    let registry = tracing_subscriber::registry().with(filter).with(keep);
    let installed = match settings.log_format.as_str() {
        "json" => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(std::io::stdout),
            )
            .try_init(),
        "text" => registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_writer(std::io::stdout),
            )
            .try_init(),
        other => anyhow::bail!("ATELIER_LOG_FORMAT must be text or json, got {other:?}"),
    };
    installed.map_err(|e| anyhow::anyhow!("setting up the logs: {e}"))?;
    log::set_max_level(as_log_level(log_level));
    Ok(())
}

fn as_log_level(level: LevelFilter) -> log::LevelFilter {
    use log::LevelFilter as Log;
    match level {
        LevelFilter::TRACE => Log::Trace,
        LevelFilter::DEBUG => Log::Debug,
        LevelFilter::INFO => Log::Info,
        LevelFilter::WARN => Log::Warn,
        LevelFilter::ERROR => Log::Error,
        _ => Log::Off,
    }
}

/// Where a request over a size limit is sent instead of its own path: no
/// route serves it, so no handler runs (nothing is looked up or written),
/// and the not-found answer is replaced by the limit's error on the way out.
/// One place for every route, present and future, rather than a check in
/// each request guard.
fn refused_path() -> Origin<'static> {
    uri!("/.refused-over-a-size-limit")
}

/// The request fairing (see the module's documentation).
pub struct Requests {
    limits: Limits,
    metrics: Arc<Metrics>,
    cors: Cors,
}

impl Requests {
    /// Judges requests by `limits`, counts them into `metrics` and gives
    /// their answers the headers of `cors`.
    pub fn new(limits: Limits, metrics: Arc<Metrics>, cors: Cors) -> Self {
        Requests {
            limits,
            metrics,
            cors,
        }
    }
}

#[rocket::async_trait]
impl Fairing for Requests {
    fn info(&self) -> Info {
        Info {
            name: "Requests: ids, limits, CORS, metrics, logs",
            kind: Kind::Liftoff | Kind::Request | Kind::Response,
        }
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        self.metrics.http.prepare(rocket);
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        self.metrics.http.in_flight.inc();
        let started = Instant::now();
        let seen = SeenHeaders::read(request.headers());
        let id = seen
            .request_id
            .and_then(RequestId::from_client)
            .unwrap_or_default();
        let rejected = self.limits.judge(request, seen.bytes, seen.content_length);
        let cors = Some(self.cors.verdict(seen.origin));
        let (if_none_match, accept_encoding) = (seen.if_none_match, seen.accept_encoding);
        let method = request.method();
        let refused_path = rejected.as_ref().map(|_| {
            let path = request.uri().path().to_string();
            request.set_uri(refused_path());
            path
        });
        request.local_cache(|| RequestContext {
            started,
            method,
            id,
            rejected,
            refused_path,
            cors,
            if_none_match,
            accept_encoding,
        });
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let context = context(request);
        if let Some(refusal) = &context.rejected {
            if let Ok(rejected) = ApiError::from(*refusal).respond_to(request) {
                *response = rejected;
            }
        }
        // Lent from the request's context, which outlives the answer.
        response.set_header(Header::new("X-Request-Id", context.id.as_str()));
        // No admin answer may be kept by a cache, errors included: a 404
        // kept by nginx would be served to whoever asks next.
        let path = context
            .refused_path
            .as_deref()
            .unwrap_or_else(|| request.uri().path().as_str());
        if path.starts_with("/admin") {
            response.set_header(Header::new("Cache-Control", "no-store"));
        }
        if let Some(verdict) = context.cors {
            Cors::apply(verdict, response);
        }
        let latency = context.started.elapsed();
        self.metrics.http.in_flight.dec();
        self.metrics
            .http
            .observe(request.route(), response.status(), latency.as_secs_f64());
        tracing::info!(
            target: REQUEST_TARGET,
            method = %context.method,
            uri = %LoggedUri(context, request),
            status = response.status().code,
            // Microseconds are all a reader needs of it.
            latency_ms = (latency.as_secs_f64() * 1e6).round() / 1e3,
            bytes = response.body().preset_size().unwrap_or(0),
            request_id = context.id.as_str(),
            "request"
        );
    }
}

/// The request's URI for its log line: the path it came for, if it was
/// refused on arrival.
struct LoggedUri<'a, 'r>(&'a RequestContext, &'a Request<'r>);

impl std::fmt::Display for LoggedUri<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.refused_path {
            Some(path) => f.write_str(path),
            None => self.1.uri().fmt(f),
        }
    }
}
