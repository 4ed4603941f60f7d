//! Building the search index (the tables of the schema `search`) from the
//! catalog's rows: in an import's staging schema, in ranges of products on
//! several connections at once, and all at once by `atelier search
//! refresh`. What a row holds is defined once, by the SQL functions of the
//! migration (`search.build_products`, `search.build_words_and_counts`),
//! which the triggers use too.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};

/// The schema the served search tables live in.
pub const SCHEMA: &str = "search";

/// Every table of the search index, each derived from `product` and
/// `features`.
pub const TABLES: [&str; 3] = ["products", "words", "category_prices"];

#[derive(QueryableByName)]
struct Built {
    #[diesel(sql_type = BigInt)]
    built: i64,
}

/// Builds the search rows of the products with ids in `lo..=hi` from the
/// catalog tables of schema `source` into the `products` table of schema
/// `target`. Returns the rows built. Statements: 1.
pub fn build_products(
    conn: &mut PgConnection,
    source: &str,
    target: &str,
    lo: i32,
    hi: i32,
) -> QueryResult<i64> {
    diesel::sql_query("SELECT search.build_products($1, $2, $3, $4) AS built")
        .bind::<Text, _>(source)
        .bind::<Text, _>(target)
        .bind::<Integer, _>(lo)
        .bind::<Integer, _>(hi)
        .get_result::<Built>(conn)
        .map(|b| b.built)
}

/// Builds the vocabulary and the per-category price counts of the catalog
/// in schema `source` into the tables of schema `target`. Statements: 1.
pub fn build_words_and_counts(
    conn: &mut PgConnection,
    source: &str,
    target: &str,
) -> QueryResult<()> {
    diesel::sql_query("SELECT search.build_words_and_counts($1, $2)")
        .bind::<Text, _>(source)
        .bind::<Text, _>(target)
        .execute(conn)
        .map(|_| ())
}

#[derive(QueryableByName)]
struct IdRange {
    #[diesel(sql_type = Nullable<Integer>)]
    lo: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    hi: Option<i32>,
}

/// `parts` ranges of product ids covering those of `schema`'s `product`
/// table, of about equal width (none for an empty table). Statements: 1.
pub fn id_ranges(
    conn: &mut PgConnection,
    schema: &str,
    parts: usize,
) -> QueryResult<Vec<(i32, i32)>> {
    let range = diesel::sql_query(format!(
        "SELECT min(id) AS lo, max(id) AS hi FROM {schema}.product"
    ))
    .get_result::<IdRange>(conn)?;
    let (Some(lo), Some(hi)) = (range.lo, range.hi) else {
        return Ok(Vec::new());
    };
    let parts = i64::try_from(parts.max(1)).unwrap_or(1);
    let width = (i64::from(hi) - i64::from(lo)) / parts + 1;
    Ok((0..parts)
        .map(|n| i64::from(lo) + n * width)
        .filter(|&start| start <= i64::from(hi))
        .map(|start| {
            let end = (start + width - 1).min(i64::from(hi));
            // Both lie between lo and hi, which are i32.
            (
                i32::try_from(start).unwrap_or(hi),
                i32::try_from(end).unwrap_or(hi),
            )
        })
        .collect())
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshReport {
    /// Products indexed.
    pub products: i64,
    pub elapsed: Duration,
}

/// `atelier search refresh`: builds the whole search index again from the
/// catalog's rows, for data loaded with the triggers off (a restore with
/// `--disable-triggers`, say), and to drop from the vocabulary the words no
/// product has any more. One transaction, which holds off writers of
/// `product` and `features` (never readers, who see the old index until it
/// commits), so no change made meanwhile is lost.
pub fn refresh(conn: &mut PgConnection) -> QueryResult<RefreshReport> {
    let started = Instant::now();
    let products = conn.transaction(|conn| {
        diesel::sql_query("LOCK TABLE public.product, public.features IN SHARE MODE")
            .execute(conn)?;
        for table in TABLES {
            diesel::sql_query(format!("DELETE FROM {SCHEMA}.{table}")).execute(conn)?;
        }
        let built = build_products(conn, "public", SCHEMA, i32::MIN, i32::MAX)?;
        build_words_and_counts(conn, "public", SCHEMA)?;
        // Every instance's cached searches are of the old index: announced
        // as a change to everything, delivered at commit. (The watcher's
        // count of writes would see it too, but only once this session's
        // statistics reach the server, which can take seconds.)
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(crate::catalog::changes::CHANNEL)
            .bind::<Text, _>(crate::catalog::changes::EVERYTHING)
            .execute(conn)?;
        Ok::<_, diesel::result::Error>(built)
    })?;
    Ok(RefreshReport {
        products,
        elapsed: started.elapsed(),
    })
}
