//! The Atelier Products API: the product catalog of the Project Catwalk front
//! end, served from PostgreSQL by one Rocket binary.

pub mod admin;
pub mod answers;
pub mod api;
pub mod app;
pub mod availability;
pub mod cache;
pub mod catalog;
pub mod changes;
pub mod compression;
pub mod config;
pub mod cors;
pub mod db;
pub mod dispatch;
pub mod error;
pub mod freshness;
pub mod generate;
pub mod import;
pub mod lag;
pub mod limits;
pub mod methods;
pub mod metrics;
pub mod migrations;
pub mod models;
pub mod naive;
pub mod prewarm;
pub mod replicas;
pub mod retry;
pub mod routes;
pub mod schema;
pub mod telemetry;
pub mod views;
