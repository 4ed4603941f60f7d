//! The service's metrics in the Prometheus text format, from the
//! `prometheus` crate: one registry per application (tests run several in
//! one process), the families every layer counts into, and `GET /metrics`.
//!
//! A cached hit is the hottest path there is, so what it touches is
//! prepared once: each route's histogram and its counters for the usual
//! statuses are looked up at lift-off, and a request finds them by the
//! address of its route (a short scan), never by hashing label strings.
//! Values that only matter when scraped (the cache's size, the queue depth,
//! connections in use) are read at the scrape, not kept up per request.

use std::sync::{Mutex, OnceLock, PoisonError};

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use rocket::http::{ContentType, Status};
use rocket::{Orbit, Rocket, Route};

/// Request latency buckets, in seconds: a cached hit takes tens of
/// microseconds, a 503 after the pool timeout five seconds.
const LATENCY_BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

/// The statuses a route's counters are prepared for; others are found by
/// their labels.
const USUAL_STATUSES: [u16; 8] = [200, 204, 304, 400, 404, 405, 500, 503];

/// Every metric of one application.
pub struct Metrics {
    registry: Registry,
    /// Requests: counts, latency, in flight.
    pub http: HttpMetrics,
    /// The response cache.
    pub cache: CacheMetrics,
    /// The database threads, the pool and the database's reachability.
    pub db: DbMetrics,
    /// Products without a stored `/styles` answer (`answers::count_missing`),
    /// counted by the catalog watcher when the catalog changes; -1 until then.
    pub missing_styles_answers: IntGauge,
    /// Products without a stored `/products/:id` answer, counted with
    /// `missing_styles_answers`.
    pub missing_product_answers: IntGauge,
    /// Changes to the catalog the watcher has seen (an import is one).
    pub catalog_changes: IntCounter,
    /// Products whose related ids are in memory (`catalog::related`); 0
    /// while `/related` asks the database.
    pub related_in_memory: IntGauge,
    /// Seconds since the watcher first saw an import's staging schema in a
    /// database the instance reads; 0 while there is none.
    pub import_running: prometheus::Gauge,
    /// What reads the values only a scrape needs (see the module's
    /// documentation), each registered by the part that owns them.
    scrapers: Mutex<Vec<Scraper>>,
}

/// Sets the gauges of one part of the application before a scrape.
type Scraper = Box<dyn Fn(&Metrics) + Send + Sync>;

/// What the HTTP layer counts.
pub struct HttpMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Requests between the request fairing and the response fairing.
    pub in_flight: IntGauge,
    /// Each route's prepared metrics, filled at lift-off, by route address
    /// (sorted: every path has its OPTIONS and 405 routes too).
    routes: OnceLock<Vec<(usize, RouteMetrics)>>,
    /// Requests no route answered (404s, limits, bad requests).
    unmatched: OnceLock<RouteMetrics>,
}

/// One route's latency histogram and its counters for the usual statuses,
/// each made on first use (so only statuses seen are exported).
pub struct RouteMetrics {
    labels: [String; 2],
    latency: Histogram,
    usual: [OnceLock<IntCounter>; USUAL_STATUSES.len()],
}

/// What the response cache counts (each field's help text says what).
#[derive(Clone)]
pub struct CacheMetrics {
    pub hits: IntCounter,
    pub misses: IntCounter,
    pub stale_hits: IntCounter,
    pub evictions: IntCounterVec,
    pub compressions: IntCounterVec,
    pub bytes: IntGauge,
    pub entries: IntGauge,
}

/// What the database layer counts (each field's help text says what).
#[derive(Clone)]
pub struct DbMetrics {
    /// Lookups answered by one statement, by kind.
    pub batch_size: HistogramVec,
    /// Statements started by every pooled connection.
    pub statements: IntCounter,
    /// Failures by kind: `connect`, `connection_lost`, `timeout`, `query`.
    pub errors: IntCounterVec,
    pub queue_depth: IntGauge,
    pub connections: IntGaugeVec,
    pub up: IntGauge,
    pub outages: IntGauge,
    /// Each replica's lag behind the primary, by name; -1 while unknown.
    pub replica_lag: GaugeVec,
    /// Replicas skipped now, by reason: `lag` or `down`.
    pub replica_skipped: IntGaugeVec,
    /// Reads sent to the primary because the replicas were skipped, by
    /// reason: `lag` (at least one was behind) or `down`.
    pub fallback_reads: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let metric = IntCounter::new(name, help).unwrap_or_else(|e| invalid(name, &e));
    register(registry, name, metric.clone());
    metric
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric =
        IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| invalid(name, &e));
    register(registry, name, metric.clone());
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let metric = IntGauge::new(name, help).unwrap_or_else(|e| invalid(name, &e));
    register(registry, name, metric.clone());
    metric
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric =
        IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| invalid(name, &e));
    register(registry, name, metric.clone());
    metric
}

fn float_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let metric = GaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| invalid(name, &e));
    register(registry, name, metric.clone());
    metric
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let metric = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .unwrap_or_else(|e| invalid(name, &e));
    register(registry, name, metric.clone());
    metric
}

fn register<C: prometheus::core::Collector + 'static>(registry: &Registry, name: &str, metric: C) {
    if let Err(e) = registry.register(Box::new(metric)) {
        invalid(name, &e);
    }
}

/// The names and help texts are constants of this module, checked by its
/// tests: a bad one is a bug to fix here, not a condition to handle.
fn invalid(name: &str, error: &prometheus::Error) -> ! {
    panic!("metric {name}: {error}")
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl HttpMetrics {
    /// The HTTP families, registered in `r`.
    fn new(r: &Registry) -> Self {
        HttpMetrics {
            requests: counter_vec(
                r,
                "atelier_http_requests_total",
                "HTTP requests answered, by method, route and status.",
                &["method", "route", "status"],
            ),
            latency: histogram_vec(
                r,
                "atelier_http_request_duration_seconds",
                "Time from a request's headers to its response, by method and route.",
                &["method", "route"],
                LATENCY_BUCKETS.to_vec(),
            ),
            in_flight: gauge(
                r,
                "atelier_http_requests_in_flight",
                "Requests being answered now.",
            ),
            routes: OnceLock::new(),
            unmatched: OnceLock::new(),
        }
    }
}

impl CacheMetrics {
    /// The response cache's families, registered in `r`.
    fn new(r: &Registry) -> Self {
        CacheMetrics {
            hits: counter(
                r,
                "atelier_cache_hits_total",
                "Answers served fresh from the response cache.",
            ),
            misses: counter(
                r,
                "atelier_cache_misses_total",
                "Answers the response cache did not hold fresh, loaded from the database.",
            ),
            stale_hits: counter(
                r,
                "atelier_cache_stale_hits_total",
                "Answers past their TTL served because the database could not answer.",
            ),
            evictions: counter_vec(
                r,
                "atelier_cache_evictions_total",
                "Answers the response cache dropped, by cause (size, expired, cleared).",
                &["cause"],
            ),
            compressions: counter_vec(
                r,
                "atelier_cache_compressions_total",
                "Answers compressed, by encoding: once per cached answer and encoding.",
                &["encoding"],
            ),
            bytes: gauge(
                r,
                "atelier_cache_bytes",
                "Memory the cached answers are counted as taking, bookkeeping included.",
            ),
            entries: gauge(r, "atelier_cache_entries", "Answers in the response cache."),
        }
    }
}

impl DbMetrics {
    /// The database layer's families, registered in `r`.
    fn new(r: &Registry) -> Self {
        DbMetrics {
            batch_size: histogram_vec(
                r,
                "atelier_db_batch_size",
                "Lookups answered by one statement, by kind.",
                &["kind"],
                vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
            ),
            statements: counter(
                r,
                "atelier_db_statements_total",
                "SQL statements started by the pooled connections.",
            ),
            errors: counter_vec(
                r,
                "atelier_db_errors_total",
                "Database failures by kind: connect, connection_lost, timeout, query.",
                &["kind"],
            ),
            queue_depth: gauge(
                r,
                "atelier_db_queue_depth",
                "Lookups and reads waiting for a database thread.",
            ),
            connections: gauge_vec(
                r,
                "atelier_db_connections",
                "Pooled connections, by state (in_use, idle).",
                &["state"],
            ),
            up: gauge(
                r,
                "atelier_db_up",
                "1 while a database reads come from (the primary or a replica) is reachable, 0 while \
                 all are known to be down.",
            ),
            outages: gauge(
                r,
                "atelier_db_outages",
                "Times a database (the primary or a replica) was found unreachable since start-up.",
            ),
            replica_lag: float_gauge_vec(
                r,
                "atelier_db_replica_lag_seconds",
                "How far each read replica is behind the primary, in seconds; -1 while that \
                 cannot be told.",
                &["replica"],
            ),
            replica_skipped: gauge_vec(
                r,
                "atelier_db_replica_skipped",
                "Read replicas skipped now, by reason: lag (behind, not streaming) or down.",
                &["reason"],
            ),
            fallback_reads: counter_vec(
                r,
                "atelier_db_fallback_reads_total",
                "Reads sent to the primary because every replica was skipped, by reason: lag \
                 (at least one was behind) or down.",
                &["reason"],
            ),
        }
    }
}

impl Metrics {
    /// Every family, registered in a registry of its own.
    pub fn new() -> Self {
        let r = Registry::new();
        let build = gauge_vec(
            &r,
            "atelier_build_info",
            "The running build: its version and commit, always 1.",
            &["version", "commit"],
        );
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("ATELIER_COMMIT")])
            .set(1);
        let http = HttpMetrics::new(&r);
        let cache = CacheMetrics::new(&r);
        let db = DbMetrics::new(&r);
        let missing_styles_answers = gauge(
            &r,
            "atelier_styles_answers_missing",
            "Products without a stored /styles answer (answered from their rows); -1 before \
             the first count.",
        );
        missing_styles_answers.set(-1);
        let missing_product_answers = gauge(
            &r,
            "atelier_product_answers_missing",
            "Products without a stored /products/:id answer (answered from their rows); -1 \
             before the first count.",
        );
        missing_product_answers.set(-1);
        let catalog_changes = counter(
            &r,
            "atelier_catalog_changes_total",
            "Changes to the catalog seen by the watcher (an import, an edit).",
        );
        let related_in_memory = gauge(
            &r,
            "atelier_related_in_memory_products",
            "Products whose related ids are kept in memory for /related; 0 while /related asks \
             the database (before the first read, after a change to the catalog, or when off).",
        );
        let import_running = prometheus::Gauge::new(
            "atelier_import_running_seconds",
            "Seconds since an import's staging schema was first seen in a database this instance \
             reads (0: no import running); counted by the catalog watcher.",
        )
        .unwrap_or_else(|e| invalid("atelier_import_running_seconds", &e));
        register(&r, "atelier_import_running_seconds", import_running.clone());
        Metrics {
            registry: r,
            http,
            cache,
            db,
            missing_styles_answers,
            missing_product_answers,
            catalog_changes,
            related_in_memory,
            import_running,
            scrapers: Mutex::new(Vec::new()),
        }
    }

    /// Runs `scraper` before every scrape, to set the gauges it reads.
    pub fn on_scrape(&self, scraper: impl Fn(&Metrics) + Send + Sync + 'static) {
        self.scrapers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(scraper));
    }

    /// The registry's families in the Prometheus text format, the gauges
    /// read for it first.
    pub fn render(&self) -> String {
        for scraper in self
            .scrapers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            scraper(self);
        }
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding the metrics failed: {e}\n"))
    }
}

/// The content type of the text format.
pub fn content_type() -> ContentType {
    ContentType::new("text", "plain").with_params([("version", "0.0.4"), ("charset", "utf-8")])
}

impl HttpMetrics {
    /// Prepares the metrics of every GET route (at lift-off, once the routes
    /// are final); the others (OPTIONS, 405) are rare enough to be found by
    /// their labels.
    pub fn prepare(&self, rocket: &Rocket<Orbit>) {
        let mut routes: Vec<_> = rocket
            .routes()
            .filter(|route| route.method == rocket::http::Method::Get)
            .map(|route| (route_address(route), self.route_metrics(route)))
            .collect();
        routes.sort_unstable_by_key(|(address, _)| *address);
        let _ = self.routes.set(routes);
        let _ = self.unmatched.set(self.prepared("", "unmatched"));
    }

    fn route_metrics(&self, route: &Route) -> RouteMetrics {
        self.prepared(route.method.as_str(), route.uri.as_str())
    }

    fn prepared(&self, method: &str, route: &str) -> RouteMetrics {
        RouteMetrics {
            latency: self.latency.with_label_values(&[method, route]),
            labels: [method.to_string(), route.to_string()],
            usual: Default::default(),
        }
    }

    /// Counts one answered request of `route` (`None`: no route answered).
    pub fn observe(&self, route: Option<&Route>, status: Status, seconds: f64) {
        let prepared = match route {
            Some(route) => {
                let address = route_address(route);
                let found = self.routes.get().and_then(|routes| {
                    let at = routes.binary_search_by_key(&address, |(a, _)| *a).ok()?;
                    routes.get(at).map(|(_, metrics)| metrics)
                });
                let Some(found) = found else {
                    let labels = [route.method.as_str(), route.uri.as_str()];
                    self.latency.with_label_values(&labels).observe(seconds);
                    let status = status.code.to_string();
                    self.requests
                        .with_label_values(&[labels[0], labels[1], &status])
                        .inc();
                    return;
                };
                found
            }
            None => match self.unmatched.get() {
                Some(unmatched) => unmatched,
                None => return,
            },
        };
        prepared.latency.observe(seconds);
        let labels = || [prepared.labels[0].as_str(), prepared.labels[1].as_str()];
        match USUAL_STATUSES.iter().position(|s| *s == status.code) {
            Some(i) => prepared.usual[i]
                .get_or_init(|| {
                    let [method, route] = labels();
                    self.requests
                        .with_label_values(&[method, route, &status.code.to_string()])
                })
                .inc(),
            None => {
                let [method, route] = labels();
                self.requests
                    .with_label_values(&[method, route, &status.code.to_string()])
                    .inc()
            }
        }
    }
}

/// A route's identity: its address in the finished router, stable for the
/// life of the application.
fn route_address(route: &Route) -> usize {
    std::ptr::from_ref(route) as usize
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_family_is_valid_and_rendered() {
        let metrics = Metrics::new();
        metrics.cache.hits.inc();
        let text = metrics.render();
        assert!(text.contains("atelier_cache_hits_total 1"), "{text}");
        assert!(text.contains("atelier_build_info{"), "{text}");
        assert!(text.contains("atelier_styles_answers_missing -1"), "{text}");
        assert!(
            text.contains("atelier_product_answers_missing -1"),
            "{text}"
        );
        assert!(text.contains("atelier_import_running_seconds 0"), "{text}");
    }
}
