//! The stored answers: each product's `/products/:id` body
//! (`product_answers`, see `views::ProductBody`) and its `/styles` body
//! (`styles_answers`), rendering them with the one renderer of each
//! (`ProductBody::render`, `catalog::render_styles`), for the import and for
//! `atelier answers refresh`, and counting the products that have none.
//!
//! A product without a stored answer is answered from its rows, so a missing
//! answer costs speed, never correctness. The triggers on the tables an
//! answer is made from (`product` and `features`; `styles`, `photos` and
//! `skus`) delete the answers a change touches; a refresh renders them again
//! while the API keeps serving.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::upsert::excluded;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::models::Product;
use crate::catalog::queries::{
    find_product_styles, find_products, load_product_styles, render_styles,
};
use crate::catalog::schema::product;
use crate::catalog::views::ProductBody;

/// The answers a table of stored answers holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// `GET /products/:id`'s, in `product_answers`.
    Product,
    /// `GET /products/:id/styles`', in `styles_answers`.
    Styles,
}

impl Stored {
    /// Both, in the order an import and a refresh render them.
    pub const ALL: [Stored; 2] = [Stored::Product, Stored::Styles];

    /// The table that holds them.
    pub fn table(self) -> &'static str {
        match self {
            Stored::Product => "product_answers",
            Stored::Styles => "styles_answers",
        }
    }

    /// The endpoint they answer, for messages.
    pub fn endpoint(self) -> &'static str {
        match self {
            Stored::Product => "/products/:id",
            Stored::Styles => "/products/:id/styles",
        }
    }

    /// Holds off writers of the tables they are made from, never readers.
    fn lock(self) -> &'static str {
        match self {
            Stored::Product => "LOCK TABLE product, features IN SHARE MODE",
            Stored::Styles => "LOCK TABLE styles, photos, skus IN SHARE MODE",
        }
    }
}

/// Runs `$body` with `$table` naming the schema module of `$stored`'s
/// table: the two tables have the same columns, but each is a type of its
/// own to Diesel, so one statement is written once and compiled per table.
macro_rules! with_answers_table {
    ($stored:expr, $table:ident => $body:expr) => {
        match $stored {
            $crate::catalog::answers::Stored::Product => {
                use $crate::catalog::schema::product_answers as $table;
                $body
            }
            $crate::catalog::answers::Stored::Styles => {
                use $crate::catalog::schema::styles_answers as $table;
                $body
            }
        }
    };
}
pub(crate) use with_answers_table;

/// Rendered answers: (product id, body), in product-id order.
pub type RenderedBatch = Vec<(i32, String)>;

/// Products a refresh renders per transaction.
const REFRESH_BATCH: i64 = 1_000;

/// Renders the answers of the products with ids in `lo..=hi`.
/// Statements: 2 (product), 4 (styles).
pub fn render_range(
    conn: &mut PgConnection,
    stored: Stored,
    lo: i32,
    hi: i32,
) -> QueryResult<RenderedBatch> {
    let in_range = product::table
        .filter(product::id.between(lo, hi))
        .order(product::id);
    match stored {
        Stored::Product => {
            let ids: Vec<i32> = in_range.select(product::id).load(conn)?;
            render_products(conn, &ids)
        }
        Stored::Styles => {
            let products: Vec<Product> = in_range.select(Product::as_select()).load(conn)?;
            render_styles_of(load_product_styles(conn, products)?)
        }
    }
}

/// Renders the answers of the products among `ids` that exist.
/// Statements: 1 (product), 4 (styles).
pub fn render_ids(
    conn: &mut PgConnection,
    stored: Stored,
    ids: &[i32],
) -> QueryResult<RenderedBatch> {
    match stored {
        Stored::Product => render_products(conn, ids),
        Stored::Styles => render_styles_of(find_product_styles(conn, ids)?),
    }
}

fn render_products(conn: &mut PgConnection, ids: &[i32]) -> QueryResult<RenderedBatch> {
    find_products(conn, ids)?
        .into_iter()
        .map(|(id, found)| {
            ProductBody::render(found)
                .map(|body| (id, body.0))
                .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
        })
        .collect()
}

fn render_styles_of(
    styles: Vec<(i32, Vec<crate::catalog::models::StyleWithChildren>)>,
) -> QueryResult<RenderedBatch> {
    styles
        .into_iter()
        .map(|(id, styles)| Ok((id, render_styles(id, styles)?.0)))
        .collect()
}

/// Renders and stores the answers of the products among `ids`, replacing
/// what is stored, in one transaction that holds off writers of the tables
/// they are made from (never readers) until it commits: an edit committed
/// meanwhile would otherwise be read before it and overwritten by an answer
/// without it. Edits that wait run after, and their triggers drop what they
/// touch. Returns the answers stored.
pub fn store_answers(conn: &mut PgConnection, stored: Stored, ids: &[i32]) -> QueryResult<usize> {
    conn.transaction(|conn| {
        diesel::sql_query(stored.lock()).execute(conn)?;
        let rendered = render_ids(conn, stored, ids)?;
        store_rendered(conn, stored, rendered)
    })
}

/// Stores `rendered` answers, replacing what is stored. The caller sees to
/// it that no edit of those products commits between their rendering and
/// its own commit: [`store_answers`] by locking out writers, an admin write
/// by holding the product (see `admin::writes`). Statements: 1.
pub fn store_rendered(
    conn: &mut PgConnection,
    stored: Stored,
    rendered: RenderedBatch,
) -> QueryResult<usize> {
    with_answers_table!(stored, answers => {
        let rows: Vec<_> = rendered
            .into_iter()
            .map(|(id, body)| (answers::product_id.eq(id), answers::body.eq(body)))
            .collect();
        diesel::insert_into(answers::table)
            .values(&rows)
            .on_conflict(answers::product_id)
            .do_update()
            .set(answers::body.eq(excluded(answers::body)))
            .execute(conn)
    })
}

/// Up to `limit` products after `after` that have no stored answer, in id
/// order.
fn without_answer(
    conn: &mut PgConnection,
    stored: Stored,
    after: i32,
    limit: i64,
) -> QueryResult<Vec<i32>> {
    with_answers_table!(stored, answers => product::table
        .left_join(answers::table)
        .filter(product::id.gt(after))
        .filter(answers::product_id.is_null())
        .order(product::id)
        .limit(limit)
        .select(product::id)
        .load(conn))
}

/// Products that have no stored answer.
pub fn count_missing(conn: &mut PgConnection, stored: Stored) -> QueryResult<i64> {
    with_answers_table!(stored, answers => product::table
        .left_join(answers::table)
        .filter(answers::product_id.is_null())
        .count()
        .get_result(conn))
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

/// Renders and stores the `stored` answers of `scope`, a batch per
/// transaction, in product-id order; with a progress bar on a terminal when
/// `progress`.
pub fn refresh(
    conn: &mut PgConnection,
    stored: Stored,
    scope: &RefreshScope,
    progress: bool,
) -> QueryResult<RefreshReport> {
    let started = Instant::now();
    let total = match scope {
        RefreshScope::All => product::table.count().get_result(conn)?,
        RefreshScope::Missing => count_missing(conn, stored)?,
        RefreshScope::Products(ids) => i64::try_from(ids.len()).unwrap_or(i64::MAX),
    };
    let bar = (progress && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(u64::try_from(total).unwrap_or(0));
        if let Ok(style) = ProgressStyle::with_template(&format!(
            "{} answers [{{bar:30}}] {{pos}}/{{len}} {{per_sec}} ETA {{eta}}",
            stored.table()
        )) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let mut written = 0u64;
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
            RefreshScope::Missing => without_answer(conn, stored, after, REFRESH_BATCH)?,
            RefreshScope::Products(_) => given
                .by_ref()
                .take(usize::try_from(REFRESH_BATCH).unwrap_or(1))
                .collect(),
        };
        let Some(&last) = ids.last() else { break };
        after = last;
        let n = store_answers(conn, stored, &ids)?;
        written += n as u64;
        if let Some(bar) = &bar {
            bar.inc(ids.len() as u64);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(RefreshReport {
        stored: written,
        elapsed: started.elapsed(),
    })
}
