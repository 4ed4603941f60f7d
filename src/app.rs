//! Assembles the Rocket application in one place, so `atelier serve` and the
//! tests run exactly the same thing.

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::{Build, Rocket};

use crate::config::Settings;
use crate::db::{Db, StatementCounter};
use crate::routes::{api_catchers, api_routes};

/// The application for `figment` (see [`crate::config::figment`]): the pool,
/// the settings, the routes and the JSON catchers.
pub fn build(figment: Figment) -> Rocket<Build> {
    rocket::custom(figment)
        // Managed before the pool fairing runs, which reads it.
        .manage(StatementCounter::default())
        .attach(AdHoc::config::<Settings>())
        .attach(Db::fairing())
        .mount("/", api_routes())
        .register("/", api_catchers())
}
