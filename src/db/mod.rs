//! The database layer: connection pools, the batching dispatcher, replicas
//! and their availability, retries, migrations and prewarming. It knows
//! nothing of HTTP: it answers with its own [`error::DbError`], which the
//! HTTP layer maps to a status once.

pub mod availability;
pub mod dispatch;
pub mod error;
pub mod lag;
pub mod locks;
pub mod migrations;
pub mod naive;
pub mod pool;
pub mod prewarm;
pub mod replicas;
pub mod retry;
