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
use crate::cache::ResponseCache;
use crate::config::Settings;
use crate::db::{PoolSettings, StatementCounter, DATABASE_NAME};
use crate::dispatch::Dispatcher;
use crate::freshness::{PageAnchors, Watcher};
use crate::naive;
use crate::replicas::ReadPools;
use crate::routes::{api_catchers, api_routes};

/// The application for `figment` (see [`crate::config::figment`]): the pool
/// (direct, or rocket_sync_db_pools' when `naive`), the response cache, the
/// catalog watcher, the routes, the admin API when a token is configured,
/// and the JSON catchers.
pub fn build(figment: Figment) -> Rocket<Build> {
    rocket::custom(without_header_logging(figment))
        // An empty Shield replaces Rocket's default one: its three browser
        // security headers mean nothing on JSON and cost a header-map insert
        // each on every response.
        .attach(Shield::new())
        .manage(StatementCounter::default())
        .manage(Arc::new(PageAnchors::default()))
        .attach(AdHoc::config::<Settings>())
        .attach(AdHoc::try_on_ignite("Database pool", attach_pool))
        .attach(AdHoc::try_on_ignite("Response cache", attach_cache))
        .attach(AdHoc::try_on_ignite("Admin API", admin::attach))
        .mount("/", api_routes())
        .register("/", api_catchers())
}

/// Rocket's `debug` log level writes out every request with its headers,
/// and so the admin API's tokens: with a token configured, `normal` is as
/// far as logging goes.
fn without_header_logging(figment: Figment) -> Figment {
    let admin = figment
        .extract_inner::<String>("admin_tokens")
        .is_ok_and(|tokens| !tokens.trim().is_empty());
    let debug = figment
        .extract_inner::<LogLevel>("log_level")
        .is_ok_and(|level| level == LogLevel::Debug);
    if admin && debug {
        // Rocket's logger is not set up yet.
        eprintln!(
            "log level: `debug` would log the admin API's tokens with each request's \
             headers; logging at `normal` instead"
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
            log::error!("database configuration: {e}");
            return Err(rocket);
        }
    };
    if settings.naive {
        return Ok(rocket.attach(naive::fairing()));
    }
    let statements = rocket
        .state::<StatementCounter>()
        .cloned()
        .unwrap_or_default();
    match Dispatcher::start(ReadPools::new(&settings, statements), settings.timeout) {
        Ok(dispatcher) => Ok(rocket.manage(dispatcher)),
        Err(e) => {
            log::error!("starting the database threads: {e}");
            Err(rocket)
        }
    }
}

async fn attach_cache(rocket: Rocket<Build>) -> Result<Rocket<Build>, Rocket<Build>> {
    let (Some(settings), Some(anchors)) = (
        rocket.state::<Settings>().cloned(),
        rocket.state::<Arc<PageAnchors>>().cloned(),
    ) else {
        log::error!("the response cache needs the settings and page anchors");
        return Err(rocket);
    };
    let cache = Arc::new(ResponseCache::new(&settings));
    if settings.catalog_poll_ms > 0 {
        // The databases reads come from: the replicas, or the primary.
        let urls = match PoolSettings::from_rocket(DATABASE_NAME, &rocket) {
            Ok(pool) if pool.replica_urls.is_empty() || pool.naive => vec![pool.url],
            Ok(pool) => pool.replica_urls,
            Err(e) => {
                log::error!("database configuration: {e}");
                return Err(rocket);
            }
        };
        let mut watcher = Watcher::new(
            urls,
            Duration::from_millis(settings.catalog_poll_ms),
            settings.change_feed,
            &cache,
            &anchors,
            rocket::tokio::runtime::Handle::current(),
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
            Ok(Err(e)) => log::error!("starting the catalog watcher: {e}"),
            Err(e) => log::error!("starting the catalog watcher: {e}"),
        }
    }
    Ok(rocket.manage(cache))
}
