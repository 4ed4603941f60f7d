//! Schema migrations embedded in the binary and applied at start-up.
//!
//! Several instances (or parallel tests) starting at once on one database
//! would race to create the same tables, so every run holds a PostgreSQL
//! advisory lock for its whole length.

use crate::db::locks::MIGRATION_LOCK;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// The migrations of `migrations/`, fixed at build time (see `build.rs`).
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Holds the migration lock for the duration of `work`.
fn with_migration_lock<T>(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(conn)?;
    let result = work(conn);
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(conn);
    let value = result?;
    unlocked?;
    Ok(value)
}

/// Applies every pending migration; returns the versions applied.
pub fn run_pending(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    with_migration_lock(conn, |conn| {
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("applying migrations: {e}"))?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
}

/// Reverts the most recent migration; returns its version.
pub fn revert_last(conn: &mut PgConnection) -> anyhow::Result<String> {
    with_migration_lock(conn, |conn| {
        let reverted = conn
            .revert_last_migration(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("reverting a migration: {e}"))?;
        Ok(reverted.to_string())
    })
}

/// Connects to `database_url` and applies every pending migration.
pub fn migrate(database_url: &str) -> anyhow::Result<Vec<String>> {
    let mut conn = PgConnection::establish(database_url)
        .map_err(|e| anyhow::anyhow!("connecting to the database: {e}"))?;
    run_pending(&mut conn)
}
