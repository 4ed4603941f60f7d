//! The stored `/styles` answers (`styles_answers`): rendering them with the
//! one renderer (`catalog::render_styles`), for the import and for
//! `atelier answers refresh`, and counting the products that have none.
//!
//! A product without a stored answer is answered from its rows, so a missing
//! answer costs speed, never correctness. The triggers on `styles`, `photos`
//! and `skus` delete the answers a change touches; a refresh renders them
//! again while the API keeps serving.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::upsert::excluded;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::models::Product;
use crate::catalog::queries::{
    find_product_styles, load_product_styles, render_styles, StylesBody,
};
use crate::catalog::schema::{product, styles_answers};

/// Rendered answers: (product id, body), in product-id order.
pub type RenderedBatch = Vec<(i32, StylesBody)>;

/// Products a refresh renders per transaction.
const REFRESH_BATCH: i64 = 1_000;

/// Renders the answers of the products with ids in `lo..=hi`. Statements: 4.
pub fn render_range(conn: &mut PgConnection, lo: i32, hi: i32) -> QueryResult<RenderedBatch> {
    let products: Vec<Product> = product::table
        .filter(product::id.between(lo, hi))
        .order(product::id)
        .select(Product::as_select())
        .load(conn)?;
    render_all(load_product_styles(conn, products)?)
}

/// Renders the answers of the products among `ids` that exist. Statements: 4.
pub fn render_ids(conn: &mut PgConnection, ids: &[i32]) -> QueryResult<RenderedBatch> {
    render_all(find_product_styles(conn, ids)?)
}

fn render_all(
    styles: Vec<(i32, Vec<crate::catalog::models::StyleWithChildren>)>,
) -> QueryResult<RenderedBatch> {
    styles
        .into_iter()
        .map(|(id, styles)| Ok((id, render_styles(id, styles)?)))
        .collect()
}

/// Renders and stores the answers of the products among `ids`, replacing
/// what is stored, in one transaction that holds off writers of the styles,
/// photos and skus (never readers) until it commits: an edit committed
/// meanwhile would otherwise be read before it and overwritten by an answer
/// without it. Edits that wait run after, and their triggers drop what they
/// touch. Returns the answers stored.
pub fn store_answers(conn: &mut PgConnection, ids: &[i32]) -> QueryResult<usize> {
    conn.transaction(|conn| {
        diesel::sql_query("LOCK TABLE styles, photos, skus IN SHARE MODE").execute(conn)?;
        let rendered = render_ids(conn, ids)?;
        store_rendered(conn, rendered)
    })
}

/// Stores `rendered` answers, replacing what is stored. The caller sees to
/// it that no edit of those products commits between their rendering and
/// its own commit: [`store_answers`] by locking out writers, an admin write
/// by holding the product (see `admin::writes`). Statements: 1.
pub fn store_rendered(conn: &mut PgConnection, rendered: RenderedBatch) -> QueryResult<usize> {
    let rows: Vec<_> = rendered
        .into_iter()
        .map(|(id, body)| {
            (
                styles_answers::product_id.eq(id),
                styles_answers::body.eq(body.0),
            )
        })
        .collect();
    diesel::insert_into(styles_answers::table)
        .values(&rows)
        .on_conflict(styles_answers::product_id)
        .do_update()
        .set(styles_answers::body.eq(excluded(styles_answers::body)))
        .execute(conn)
}

/// Products that have no stored answer.
pub fn count_missing(conn: &mut PgConnection) -> QueryResult<i64> {
    product::table
        .left_join(styles_answers::table)
        .filter(styles_answers::product_id.is_null())
        .count()
        .get_result(conn)
}

/// Which products a refresh renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshScope {
    /// Every product.
    All,
    /// The products that have no stored answer.
    Missing,
    /// These products (unknown ids are skipped).
    Products(Vec<i32>),
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshReport {
    pub stored: u64,
    pub elapsed: Duration,
}

/// Renders and stores the answers of `scope`, a batch per transaction, in
/// product-id order; with a progress bar on a terminal when `progress`.
pub fn refresh(
    conn: &mut PgConnection,
    scope: &RefreshScope,
    progress: bool,
) -> QueryResult<RefreshReport> {
    let started = Instant::now();
    let total = match scope {
        RefreshScope::All => product::table.count().get_result(conn)?,
        RefreshScope::Missing => count_missing(conn)?,
        RefreshScope::Products(ids) => i64::try_from(ids.len()).unwrap_or(i64::MAX),
    };
    let bar = (progress && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(u64::try_from(total).unwrap_or(0));
        if let Ok(style) =
            ProgressStyle::with_template("answers [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let mut stored = 0u64;
    let mut after = 0;
    let mut given = match scope {
        RefreshScope::Products(ids) => {
            let mut ids = ids.clone();
            ids.sort_unstable();
            ids.dedup();
            ids
        }
        _ => Vec::new(),
    }
    .into_iter();
    loop {
        // Keyset batches: each transaction short, nothing held between them.
        let ids: Vec<i32> = match scope {
            RefreshScope::All => product::table
                .filter(product::id.gt(after))
                .order(product::id)
                .limit(REFRESH_BATCH)
                .select(product::id)
                .load(conn)?,
            RefreshScope::Missing => product::table
                .left_join(styles_answers::table)
                .filter(product::id.gt(after))
                .filter(styles_answers::product_id.is_null())
                .order(product::id)
                .limit(REFRESH_BATCH)
                .select(product::id)
                .load(conn)?,
            RefreshScope::Products(_) => given
                .by_ref()
                .take(usize::try_from(REFRESH_BATCH).unwrap_or(1))
                .collect(),
        };
        let Some(&last) = ids.last() else { break };
        after = last;
        let n = store_answers(conn, &ids)?;
        stored += n as u64;
        if let Some(bar) = &bar {
            bar.inc(ids.len() as u64);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(RefreshReport {
        stored,
        elapsed: started.elapsed(),
    })
}
