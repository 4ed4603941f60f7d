//! `atelier prewarm`: reads the catalog's tables, their TOAST data and their
//! indexes into PostgreSQL's shared buffers with `pg_prewarm`, so a server
//! that was just restarted answers at full speed at once instead of after
//! minutes of random reads from disk.
//!
//! `pg_prewarm.autoprewarm` (the extension's library preloaded) does the same
//! by itself at every start from the list of blocks it saved; this command is
//! for servers without it, after an import, or for a replica.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// What can stop a prewarm.
#[derive(Debug, thiserror::Error)]
pub enum PrewarmError {
    #[error(
        "the pg_prewarm extension is not installed in this database and could not be created \
         ({0}); a superuser can run CREATE EXTENSION pg_prewarm, or preload it with \
         shared_preload_libraries = 'pg_prewarm' for autoprewarm"
    )]
    NoExtension(String),
    #[error("{0}")]
    Database(#[from] diesel::result::Error),
}

/// One relation read in.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Prewarmed {
    #[diesel(sql_type = Text)]
    pub relation: String,
    /// 8 KB blocks read.
    #[diesel(sql_type = BigInt)]
    pub blocks: i64,
}

/// What a prewarm read.
#[derive(Debug, Clone)]
pub struct PrewarmReport {
    pub relations: Vec<Prewarmed>,
    pub elapsed: Duration,
}

impl PrewarmReport {
    /// Blocks read in all.
    pub fn blocks(&self) -> i64 {
        self.relations.iter().map(|r| r.blocks).sum()
    }
}

/// Reads every table of the `public` schema, its TOAST table and every index
/// of both into shared buffers: the indexes first (every lookup descends
/// one), then the tables, smallest first. Creates the extension if it can.
pub fn prewarm(conn: &mut PgConnection) -> Result<PrewarmReport, PrewarmError> {
    if !installed(conn)? {
        diesel::sql_query("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            .execute(conn)
            .map_err(|e| PrewarmError::NoExtension(e.to_string()))?;
    }
    Ok(prewarm_schema(conn, "public")?)
}

/// Whether the `pg_prewarm` extension is installed in this database.
pub fn installed(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_prewarm')",
    ))
    .get_result(conn)
}

/// Whether the extension is installed, creating it first when it is not and
/// the session's role is a superuser (the only one who may); never fails
/// for want of the privilege, unlike [`prewarm`].
pub fn installed_or_created(conn: &mut PgConnection) -> QueryResult<bool> {
    if installed(conn)? {
        return Ok(true);
    }
    let superuser: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
    ))
    .get_result(conn)?;
    if superuser {
        diesel::sql_query("CREATE EXTENSION IF NOT EXISTS pg_prewarm").execute(conn)?;
    }
    Ok(superuser)
}

/// Reads the tables of `schema` (but Diesel's own), their TOAST tables and
/// all their indexes into shared buffers, indexes first, then tables
/// smallest first; the extension must be installed (see [`installed`]).
pub fn prewarm_schema(conn: &mut PgConnection, schema: &str) -> QueryResult<PrewarmReport> {
    let started = Instant::now();
    let relations = diesel::sql_query(
        "WITH tables AS (
           SELECT c.oid, c.reltoastrelid FROM pg_class c
            WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r'
              AND c.relname <> '__diesel_schema_migrations'),
         relations AS (
           SELECT oid FROM tables
           UNION ALL SELECT reltoastrelid FROM tables WHERE reltoastrelid <> 0
           UNION ALL SELECT i.indexrelid FROM pg_index i
                      WHERE i.indrelid IN (SELECT oid FROM tables
                                           UNION ALL SELECT reltoastrelid FROM tables))
         SELECT relation, pg_prewarm(oid) AS blocks FROM (
           SELECT r.oid, r.oid::regclass::text AS relation
             FROM relations r JOIN pg_class c ON c.oid = r.oid
            ORDER BY c.relkind = 'i' DESC, c.relpages) ordered",
    )
    .bind::<Text, _>(schema)
    .load::<Prewarmed>(conn)?;
    Ok(PrewarmReport {
        relations,
        elapsed: started.elapsed(),
    })
}
