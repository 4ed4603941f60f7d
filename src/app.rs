//! Assembles the Rocket application in one place, so `atelier serve` and the
//! tests run exactly the same thing.

use std::sync::Arc;
use std::time::Duration;

use rocket::config::LogLevel;
use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::shield::Shield;
use rocket::{Build, Rocket};

use crate::admin;
use crate::catalog::anchors::PageAnchors;
use crate::catalog::related::RelatedInMemory;
use crate::config::Settings;
use crate::config::DATABASE_NAME;
use crate::db::availability::Availability;
use crate::db::dispatch::Dispatcher;
use crate::db::naive;
use crate::db::pool::{PoolSettings, StatementCounter};
use crate::db::replicas::ReadPools;
use crate::db::replicas::ReplicaState;
use crate::http::api::ApiState;
use crate::http::cache::ResponseCache;
use crate::http::cors::Cors;
use crate::http::limits::Limits;
use crate::http::routes::{api_catchers, api_routes, metrics_routes};
use crate::http::telemetry::Requests;
use crate::http::watcher::{Derived, Watcher};
use crate::metrics::Metrics;

/// The application for `figment` (see [`crate::config::figment`]): the pool
/// (direct, or rocket_sync_db_pools' when `naive`), the database's
/// availability, the response cache, the catalog watcher, the metrics, the
/// request fairing (ids, limits, logs), CORS, the routes (with `OPTIONS`
/// and 405 for every path, see `methods`), the admin API when a token is
/// configured, and the JSON catchers.
pub fn build(figment: Figment) -> Rocket<Build> {
    let metrics = Arc::new(Metrics::new());
    rocket::custom(without_header_logging(figment))
        // An empty Shield replaces Rocket's default one: its three browser
        // security headers mean nothing on JSON and cost a header-map insert
        // each on every response.
        .attach(Shield::new())
        .manage(StatementCounter::counting_into(&metrics.db))
        .manage(Availability::counting_into(&metrics.db))
        .manage(metrics)
        .manage(Arc::new(PageAnchors::default()))
        .attach(AdHoc::config::<Settings>())
        .attach(AdHoc::try_on_ignite("Requests and CORS", attach_http))
        .attach(AdHoc::try_on_ignite("Database pool", attach_pool))
        .attach(AdHoc::try_on_ignite("Response cache", attach_cache))
        .attach(AdHoc::try_on_ignite("Admin API", admin::attach))
        .mount("/", api_routes())
        .register("/", api_catchers())
        // Last: it reads the routes every other part has mounted.
        .attach(AdHoc::on_ignite("OPTIONS and 405", |rocket| async {
            crate::http::methods::add_method_routes(rocket)
        }))
}

/// The request fairing, which adds the CORS headers too, the CORS policy
/// for the preflight routes, and `/metrics` on the API's address or its own.
async fn attach_http(rocket: Rocket<Build>) -> Result<Rocket<Build>, Rocket<Build>> {
    let (Some(settings), Some(metrics)) = (
        rocket.state::<Settings>().cloned(),
        rocket.state::<Arc<Metrics>>().cloned(),
    ) else {
        tracing::error!("the request fairing needs the settings and the metrics");
        return Err(rocket);
    };
    let cors = match Cors::new(&settings.cors_origins) {
        Ok(cors) => cors,
        Err(e) => {
            tracing::error!("{e}");
            return Err(rocket);
        }
    };
    let rocket = rocket
        .attach(Requests::new(
            Limits::new(&settings),
            Arc::clone(&metrics),
            cors.clone(),
        ))
        .manage(cors);
    match settings.metrics_address {
        None => Ok(rocket.mount("/", metrics_routes())),
        Some(address) => match metrics_server(&address, metrics) {
            Ok(server) => Ok(rocket.attach(server)),
            Err(e) => {
                tracing::error!("ATELIER_METRICS_ADDRESS: {e}");
                Err(rocket)
            }
        },
    }
}

/// A second server, on `address`, that answers only `GET /metrics`, started
/// once the API is up.
fn metrics_server(address: &str, metrics: Arc<Metrics>) -> Result<AdHoc, String> {
    use std::net::ToSocketAddrs;
    let socket = address
        .to_socket_addrs()
        .map_err(|e| format!("{address:?} is not host:port: {e}"))?
        .next()
        .ok_or_else(|| format!("{address:?} names no address"))?;
    let figment = Figment::from(rocket::Config::default())
        .merge(("address", socket.ip()))
        .merge(("port", socket.port()))
        .merge(("ident", false))
        .merge(("log_level", "critical"))
        .merge(("workers", 1));
    Ok(AdHoc::on_liftoff("Metrics server", move |_| {
        Box::pin(async move {
            let server = rocket::custom(figment)
                .manage(metrics)
                .mount("/", metrics_routes())
                .register("/", api_catchers());
            rocket::tokio::spawn(async move {
                if let Err(e) = server.launch().await {
                    tracing::error!("the metrics server stopped: {e}");
                }
            });
        })
    }))
}

/// Rocket's `debug` log level writes out every request with its headers,
/// and so whatever credentials a client sends: `normal` is as far as
/// Rocket's own logging goes.
fn without_header_logging(figment: Figment) -> Figment {
    let debug = figment
        .extract_inner::<LogLevel>("log_level")
        .is_ok_and(|level| level == LogLevel::Debug);
    if debug {
        // Rocket's logger is not set up yet.
        eprintln!(
            "log level: `debug` would log every request's headers, credentials \
             included; logging at `normal` instead"
        );
        figment.merge(("log_level", LogLevel::Normal))
    } else {
        figment
    }
}

async fn attach_pool(rocket: Rocket<Build>) -> Result<Rocket<Build>, Rocket<Build>> {
    let settings = match PoolSettings::from_rocket(DATABASE_NAME, &rocket) {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!("database configuration: {e}");
            return Err(rocket);
        }
    };
    let (Some(metrics), Some(availability)) = (
        rocket.state::<Arc<Metrics>>().cloned(),
        rocket.state::<Availability>().cloned(),
    ) else {
        tracing::error!("the database pool needs the metrics and the availability");
        return Err(rocket);
    };
    if settings.naive {
        metrics.on_scrape(move |m| {
            m.db.up.set(i64::from(!availability.is_down()));
            m.db.outages
                .set(i64::try_from(availability.outages()).unwrap_or(i64::MAX));
        });
        return Ok(rocket.attach(naive::fairing()));
    }
    let statements = rocket
        .state::<StatementCounter>()
        .cloned()
        .unwrap_or_default();
    let pools = ReadPools::new(&settings, statements, availability, &metrics.db);
    {
        let pools = Arc::downgrade(&pools);
        metrics.on_scrape(move |m| {
            if let Some(pools) = pools.upgrade() {
                m.db.up.set(i64::from(!pools.unreachable()));
                m.db.outages
                    .set(i64::try_from(pools.outages()).unwrap_or(i64::MAX));
                scrape_replicas(&pools, m);
            }
        });
    }
    if let Some(mut monitor) = pools.lag_monitor(&settings) {
        // The first look happens before the first request, so a replica
        // found behind at start-up is never read; later ones on the
        // monitor's own thread.
        let monitor = rocket::tokio::task::spawn_blocking(move || {
            monitor.check();
            monitor
        })
        .await;
        match monitor.map(crate::db::lag::Monitor::spawn) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("starting the replica lag monitor: {e}"),
            Err(e) => tracing::error!("starting the replica lag monitor: {e}"),
        }
    }
    match Dispatcher::start(pools, settings.timeout, metrics.db.clone()) {
        Ok(dispatcher) => {
            let stats = dispatcher.stats();
            metrics.on_scrape(move |m| {
                if let Some((waiting, in_use, idle)) = stats.read() {
                    m.db.queue_depth
                        .set(i64::try_from(waiting).unwrap_or(i64::MAX));
                    m.db.connections
                        .with_label_values(&["in_use"])
                        .set(i64::from(in_use));
                    m.db.connections
                        .with_label_values(&["idle"])
                        .set(i64::from(idle));
                }
            });
            Ok(rocket.manage(Arc::new(dispatcher)))
        }
        Err(e) => {
            tracing::error!("starting the database threads: {e}");
            Err(rocket)
        }
    }
}

/// The replicas' gauges: each one's lag, and how many are skipped and why.
fn scrape_replicas(pools: &ReadPools, m: &Metrics) {
    let states = pools.replica_states();
    if states.is_empty() {
        return;
    }
    let (mut lagging, mut down) = (0, 0);
    for replica in &states {
        match replica.state {
            ReplicaState::InUse => {}
            ReplicaState::Lagging => lagging += 1,
            ReplicaState::Down => down += 1,
        }
        m.db.replica_lag
            .with_label_values(&[replica.name.as_str()])
            .set(replica.lag.map_or(-1.0, |lag| lag.as_secs_f64()));
    }
    m.db.replica_skipped
        .with_label_values(&["lag"])
        .set(lagging);
    m.db.replica_skipped.with_label_values(&["down"]).set(down);
}

async fn attach_cache(rocket: Rocket<Build>) -> Result<Rocket<Build>, Rocket<Build>> {
    let (Some(settings), Some(anchors), Some(metrics)) = (
        rocket.state::<Settings>().cloned(),
        rocket.state::<Arc<PageAnchors>>().cloned(),
        rocket.state::<Arc<Metrics>>().cloned(),
    ) else {
        tracing::error!("the response cache needs the settings, page anchors and metrics");
        return Err(rocket);
    };
    let cache = Arc::new(ResponseCache::new(&settings, metrics.cache.clone()));
    let pool = match PoolSettings::from_rocket(DATABASE_NAME, &rocket) {
        Ok(pool) => pool,
        Err(e) => {
            tracing::error!("database configuration: {e}");
            return Err(rocket);
        }
    };
    // Only with a watcher to keep it in step with the catalog, and not on
    // the naive path, which measures the plain way.
    let related = Arc::new(RelatedInMemory::new(
        settings.related_in_memory && settings.catalog_poll_ms > 0 && !pool.naive,
        metrics.related_in_memory.clone(),
    ));
    {
        let cache = Arc::downgrade(&cache);
        metrics.on_scrape(move |m| {
            if let Some(cache) = cache.upgrade() {
                let (bytes, entries) = cache.size();
                m.cache.bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
                m.cache
                    .entries
                    .set(i64::try_from(entries).unwrap_or(i64::MAX));
            }
        });
    }
    // What was read from a replica now skipped may be older than what the
    // primary, which its reads go to now, has: forget it.
    if let Some(dispatcher) = rocket.state::<Arc<Dispatcher>>() {
        let cache = Arc::downgrade(&cache);
        dispatcher.pools().lags().on_skip(move || {
            if let Some(cache) = cache.upgrade() {
                cache.clear();
            }
        });
    }
    if settings.catalog_poll_ms > 0 {
        // The databases reads come from: the replicas, and the primary that
        // serves their reads while they are skipped.
        let urls = if pool.replica_urls.is_empty() || pool.naive {
            vec![pool.url]
        } else {
            pool.replica_urls.into_iter().chain([pool.url]).collect()
        };
        let mut watcher = Watcher::new(
            urls,
            Duration::from_millis(settings.catalog_poll_ms),
            settings.change_feed,
            Derived {
                cache: &cache,
                anchors: &anchors,
                related: &related,
            },
            rocket::tokio::runtime::Handle::current(),
            metrics,
        );
        // The first look happens before the first request, so deep pages are
        // fast from the start; later ones on the watcher's own thread.
        let watcher = rocket::tokio::task::spawn_blocking(move || {
            watcher.poll();
            watcher
        })
        .await;
        match watcher.map(Watcher::spawn) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("starting the catalog watcher: {e}"),
            Err(e) => tracing::error!("starting the catalog watcher: {e}"),
        }
    }
    let state = ApiState {
        dispatcher: rocket.state::<Arc<Dispatcher>>().cloned(),
        cache: Arc::clone(&cache),
        anchors,
        related,
        settings,
    };
    Ok(rocket.manage(cache).manage(state))
}
