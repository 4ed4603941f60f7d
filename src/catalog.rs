//! Catalog queries: everything one request reads, as plain functions over a
//! `PgConnection`. Each returns `QueryResult`; HTTP concerns live in `routes`.
//!
//! Every function issues a fixed number of statements, whatever the number of
//! rows involved: children come joined or aggregated into their parent's row,
//! never with a query per parent.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, Bool, Integer, Nullable, Text};

use crate::freshness::ANCHOR_STRIDE;
use crate::models::{Feature, Photo, Product, Sku, Style, StyleWithChildrenRow};
use crate::schema::{product, related};

/// A product with its features in feature-id order.
pub type ProductWithFeatures = (Product, Vec<Feature>);

/// A style with its photos and skus, each in id order.
pub type StyleWithChildren = (Style, Vec<Photo>, Vec<Sku>);

/// One page of the product list: `count` products, skipping `(page - 1) * count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub page: u64,
    /// Products per page.
    pub count: u32,
}

impl Page {
    /// Rows to skip, or `None` when the page starts beyond any possible row.
    pub fn offset(self) -> Option<i64> {
        let skip = (self.page - 1).checked_mul(u64::from(self.count))?;
        i64::try_from(skip).ok()
    }
}

/// One page of products ordered by id. `anchors[k]` is the id at offset
/// `k * ANCHOR_STRIDE` (see `freshness`): a deep page starts from the nearest
/// anchor instead of walking every row before it. Statements: 1 (0 when the
/// page lies beyond any possible row).
pub fn list_products(
    conn: &mut PgConnection,
    page: Page,
    anchors: &[i32],
) -> QueryResult<Vec<Product>> {
    let Some(offset) = page.offset() else {
        return Ok(Vec::new());
    };
    let anchor = usize::try_from(offset / ANCHOR_STRIDE)
        .ok()
        .filter(|k| *k > 0)
        .and_then(|k| anchors.get(k));
    // Two fixed query shapes rather than a boxed one: Diesel caches the
    // prepared statement of a fixed shape, never of a boxed query.
    match anchor {
        Some(&id) => product::table
            .filter(product::id.ge(id))
            .order(product::id)
            .limit(i64::from(page.count))
            .offset(offset % ANCHOR_STRIDE)
            .select(Product::as_select())
            .load(conn),
        None => product::table
            .order(product::id)
            .limit(i64::from(page.count))
            .offset(offset)
            .select(Product::as_select())
            .load(conn),
    }
}

/// The products among `ids` that exist, each with its features in feature-id
/// order, in product-id order. Statements: 1 (the features come joined to the
/// product rows), whatever the number of ids.
pub fn find_products(
    conn: &mut PgConnection,
    ids: &[i32],
) -> QueryResult<Vec<(i32, ProductWithFeatures)>> {
    use crate::schema::features;

    let rows: Vec<(Product, Option<Feature>)> = product::table
        .left_join(features::table)
        .filter(product::id.eq_any(ids.to_vec()))
        .order((product::id, features::id))
        .select((Product::as_select(), Option::<Feature>::as_select()))
        .load(conn)?;
    Ok(
        group_by_product(rows.into_iter().map(|(p, f)| (p.id, p, f)))
            .into_iter()
            .map(|(id, found, features)| (id, (found, features)))
            .collect(),
    )
}

/// A product's `/styles` answer: as the import rendered it, or (when its rows
/// changed since, or it came in some other way) its styles to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StylesAnswer {
    Rendered(String),
    Rows(Vec<StyleWithChildren>),
}

/// For each product among `ids` that exists, in product-id order: its
/// rendered styles answer from `styles_answers`, or for the products that
/// have none there, their styles with photos and skus (see
/// [`find_styles_by_product`]). Statements: 1, and 1 more when some product
/// has no rendered answer.
pub fn find_styles_answers(
    conn: &mut PgConnection,
    ids: &[i32],
) -> QueryResult<Vec<(i32, StylesAnswer)>> {
    use crate::schema::styles_answers;

    let rendered: Vec<(i32, Option<String>)> = product::table
        .left_join(styles_answers::table)
        .filter(product::id.eq_any(ids.to_vec()))
        .order(product::id)
        .select((product::id, styles_answers::body.nullable()))
        .load(conn)?;
    let missing: Vec<i32> = rendered
        .iter()
        .filter(|(_, body)| body.is_none())
        .map(|(id, _)| *id)
        .collect();
    let mut from_rows = if missing.is_empty() {
        Vec::new()
    } else {
        find_styles_by_product(conn, &missing)?
    }
    .into_iter()
    .peekable();
    let mut answers = Vec::with_capacity(rendered.len());
    for (id, body) in rendered {
        match body {
            Some(body) => answers.push((id, StylesAnswer::Rendered(body))),
            // The rows come for the missing ids, in the same order; a product
            // deleted between the two statements is left out, as if it had
            // gone first.
            None => {
                if let Some((_, styles)) = from_rows.next_if(|(row_id, _)| *row_id == id) {
                    answers.push((id, StylesAnswer::Rows(styles)));
                }
            }
        }
    }
    Ok(answers)
}

/// For each product among `ids` that exists, in product-id order: its styles
/// in id order, each with its photos and skus in id order. Statements: 1,
/// whatever the number of products, styles, photos and skus (see
/// [`ProductStylesQuery`]).
pub fn find_styles_by_product(
    conn: &mut PgConnection,
    ids: &[i32],
) -> QueryResult<Vec<(i32, Vec<StyleWithChildren>)>> {
    let rows: Vec<StyleWithChildrenRow> = ProductStylesQuery {
        product_ids: ids.to_vec(),
    }
    .load(conn)?;
    Ok(group_by_product(
        rows.into_iter()
            .map(|row| (row.product_id, (), style_with_children(row))),
    )
    .into_iter()
    .map(|(id, (), styles)| (id, styles))
    .collect())
}

/// A style and its children from the columns of one row of the styles query;
/// `None` for the row of a product without styles.
fn style_with_children(row: StyleWithChildrenRow) -> Option<StyleWithChildren> {
    let style = row.style?;
    let photos = row
        .photo_ids
        .into_iter()
        .zip(row.photo_urls)
        .zip(row.photo_thumbnail_urls)
        .map(|((id, url), thumbnail_url)| Photo {
            id,
            style_id: style.id,
            url,
            thumbnail_url,
        })
        .collect();
    let skus = row
        .sku_ids
        .into_iter()
        .zip(row.sku_sizes)
        .zip(row.sku_quantities)
        .map(|((id, size), quantity)| Sku {
            id,
            style_id: style.id,
            size,
            quantity,
        })
        .collect();
    Some((style, photos, skus))
}

/// Groups rows that come ordered by product id, one product's rows together,
/// into (product id, the first row's head, every row's child that is there).
/// A product with no children (an outer join's row of NULLs) keeps its group,
/// with no children, so "exists with none" and "does not exist" stay apart.
fn group_by_product<H, C>(
    rows: impl IntoIterator<Item = (i32, H, Option<C>)>,
) -> Vec<(i32, H, Vec<C>)> {
    let mut groups: Vec<(i32, H, Vec<C>)> = Vec::new();
    for (id, head, child) in rows {
        match groups.last_mut() {
            Some((last, _, children)) if *last == id => children.extend(child),
            _ => groups.push((id, head, child.into_iter().collect())),
        }
    }
    groups
}

/// Products' styles, each with its photos and skus, in one statement: one
/// row per style (by product id, then style id), the photos' and skus'
/// columns aggregated into arrays in id order, and the products themselves
/// joined first, so a product without styles is one row with no style and a
/// missing product no row at all.
///
/// Written as SQL because Diesel's query builder has no `LATERAL`. It replaces
/// the `belonging_to` + `grouped_by` loads (a statement per level) because on
/// a box shared with PostgreSQL each round trip costs more than the query:
/// measured, /styles went from 2 statements to 1 and from 1.9-2.7k to 3.1-3.8k RPS
/// (README, "Speed"). The SQL is fixed, so Diesel prepares it once per
/// connection, as it does the query builder's fixed shapes (tested); the
/// static `QueryId` lets its statement cache find it without hashing the text.
///
/// Each child table is sorted once in a subquery and aggregated in that order
/// (PostgreSQL keeps it when nothing else happens at the aggregate's level),
/// rather than with `array_agg(.. ORDER BY id)` per column, which sorts once
/// per column: pgbench of the query over 8 ids, 12k -> 15k products/s.
#[derive(Debug, Clone)]
pub struct ProductStylesQuery {
    pub product_ids: Vec<i32>,
}

impl ProductStylesQuery {
    const SELECT: &'static str = "\
SELECT p.id, s.id, s.product_id, s.name, s.sale_price, s.original_price, s.default_style, \
COALESCE(ph.ids, '{}'), COALESCE(ph.urls, '{}'), COALESCE(ph.thumbnail_urls, '{}'), \
COALESCE(sk.ids, '{}'), COALESCE(sk.sizes, '{}'), COALESCE(sk.quantities, '{}') \
FROM product p \
LEFT JOIN styles s ON s.product_id = p.id \
LEFT JOIN LATERAL (SELECT array_agg(id) AS ids, array_agg(url) AS urls, \
array_agg(thumbnail_url) AS thumbnail_urls FROM (SELECT id, url, thumbnail_url \
FROM photos WHERE photos.style_id = s.id ORDER BY id) o) ph ON true \
LEFT JOIN LATERAL (SELECT array_agg(id) AS ids, array_agg(size) AS sizes, \
array_agg(quantity) AS quantities FROM (SELECT id, size, quantity \
FROM skus WHERE skus.style_id = s.id ORDER BY id) o) sk ON true \
WHERE p.id = ANY(";
}

impl QueryId for ProductStylesQuery {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for ProductStylesQuery {
    type SqlType = (
        Integer,
        Nullable<(Integer, Integer, Text, Nullable<Integer>, Integer, Bool)>,
        Array<Integer>,
        Array<Text>,
        Array<Text>,
        Array<Integer>,
        Array<Text>,
        Array<Integer>,
    );
}

impl QueryFragment<Pg> for ProductStylesQuery {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(Self::SELECT);
        out.push_bind_param::<Array<Integer>, _>(&self.product_ids)?;
        out.push_sql(") ORDER BY p.id, s.id");
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for ProductStylesQuery {}

/// For each product among `ids` that exists, in product-id order: the ids it
/// is related to, in related-row order. Statements: 1 (the related rows come
/// outer-joined to the products, so "no related rows" and "no such product"
/// are told apart by the same statement).
pub fn find_related_ids_by_product(
    conn: &mut PgConnection,
    ids: &[i32],
) -> QueryResult<Vec<(i32, Vec<i32>)>> {
    let rows: Vec<(i32, Option<i32>)> = product::table
        .left_join(related::table.on(related::current_product_id.eq(product::id)))
        .filter(product::id.eq_any(ids.to_vec()))
        .order((product::id, related::id))
        .select((product::id, related::related_product_id.nullable()))
        .load(conn)?;
    Ok(
        group_by_product(rows.into_iter().map(|(id, r)| (id, (), r)))
            .into_iter()
            .map(|(id, (), related)| (id, related))
            .collect(),
    )
}
