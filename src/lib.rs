//! The Atelier Products API: the product catalog of the Project Catwalk front
//! end, served from PostgreSQL by one Rocket binary.
//!
//! Layers, each importing only from those below it (checked by
//! `scripts/check-layout.py`): `config` and `metrics`; `db`; `catalog`;
//! `import` and `generate`; `http`; `admin`; `app`.

pub mod admin;
pub mod app;
pub mod catalog;
pub mod config;
pub mod db;
pub mod generate;
pub mod http;
pub mod import;
pub mod metrics;
