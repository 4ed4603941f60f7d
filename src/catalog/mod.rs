//! The catalog: its tables (`schema`), their rows (`models`), the queries
//! that read them, the JSON views they render to, the stored `/styles`
//! answers, the page anchors, the related ids kept in memory, the change
//! feed and search. Above the
//! database layer, below HTTP.

pub mod anchors;
pub mod answers;
pub mod changes;
pub mod models;
pub mod queries;
pub mod related;
pub mod schema;
pub mod search;
pub mod views;
