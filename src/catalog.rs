//! Catalog queries: everything one request reads, as plain functions over a
//! `PgConnection`. Each returns `QueryResult`; HTTP concerns live in `routes`.
//!
//! Every function issues a fixed number of statements, whatever the number of
//! rows involved: children come joined or aggregated into their parent's row,
//! never with a query per parent.

use diesel::dsl::exists;
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

/// A product and its features, or `None` if there is no such product.
/// Statements: 1 (the features come joined to the product row).
pub fn find_product(conn: &mut PgConnection, id: i32) -> QueryResult<Option<ProductWithFeatures>> {
    use crate::schema::features;

    let rows: Vec<(Product, Option<Feature>)> = product::table
        .left_join(features::table)
        .filter(product::id.eq(id))
        .order(features::id)
        .select((Product::as_select(), Option::<Feature>::as_select()))
        .load(conn)?;
    let mut rows = rows.into_iter();
    Ok(rows.next().map(|(found, first)| {
        let features = first
            .into_iter()
            .chain(rows.filter_map(|(_, f)| f))
            .collect();
        (found, features)
    }))
}

/// The styles of a product with their photos and skus, or `None` if there is
/// no such product. Statements: 1, whatever the number of styles, photos and
/// skus (see [`ProductStylesQuery`]).
pub fn find_product_styles(
    conn: &mut PgConnection,
    product_id: i32,
) -> QueryResult<Option<Vec<StyleWithChildren>>> {
    let rows: Vec<StyleWithChildrenRow> = ProductStylesQuery { product_id }.load(conn)?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .filter_map(|row| {
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
            })
            .collect(),
    ))
}

/// A product's styles, each with its photos and skus, in one statement: one
/// row per style (in id order), the photos' and skus' columns aggregated into
/// arrays in id order, and the product itself joined first, so a product
/// without styles is one row with no style and a missing product no row at
/// all.
///
/// Written as SQL because Diesel's query builder has no `LATERAL`. It replaces
/// the `belonging_to` + `grouped_by` loads (a statement per level) because on
/// a box shared with PostgreSQL each round trip costs more than the query:
/// measured, /styles went from 2 statements to 1 and from 1.9-2.7k to 3.1-3.8k RPS
/// (README, "Speed"). The SQL is fixed, so Diesel prepares it once per
/// connection, as it does the query builder's fixed shapes (tested); the
/// static `QueryId` lets its statement cache find it without hashing the text.
#[derive(Debug, Clone, Copy)]
pub struct ProductStylesQuery {
    pub product_id: i32,
}

impl ProductStylesQuery {
    const SELECT: &'static str = "\
SELECT s.id, s.product_id, s.name, s.sale_price, s.original_price, s.default_style, \
COALESCE(ph.ids, '{}'), COALESCE(ph.urls, '{}'), COALESCE(ph.thumbnail_urls, '{}'), \
COALESCE(sk.ids, '{}'), COALESCE(sk.sizes, '{}'), COALESCE(sk.quantities, '{}') \
FROM product p \
LEFT JOIN styles s ON s.product_id = p.id \
LEFT JOIN LATERAL (SELECT array_agg(id ORDER BY id) AS ids, \
array_agg(url ORDER BY id) AS urls, array_agg(thumbnail_url ORDER BY id) AS thumbnail_urls \
FROM photos WHERE photos.style_id = s.id) ph ON true \
LEFT JOIN LATERAL (SELECT array_agg(id ORDER BY id) AS ids, \
array_agg(size ORDER BY id) AS sizes, array_agg(quantity ORDER BY id) AS quantities \
FROM skus WHERE skus.style_id = s.id) sk ON true \
WHERE p.id = ";
}

impl QueryId for ProductStylesQuery {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for ProductStylesQuery {
    type SqlType = (
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
        out.push_bind_param::<Integer, _>(&self.product_id)?;
        out.push_sql(" ORDER BY s.id");
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for ProductStylesQuery {}

/// The ids a product is related to, in related-row order, or `None` if there
/// is no such product. Statements: 1 when it has related rows, 2 otherwise.
pub fn find_related_product_ids(
    conn: &mut PgConnection,
    product_id: i32,
) -> QueryResult<Option<Vec<i32>>> {
    let ids: Vec<i32> = related::table
        .filter(related::current_product_id.eq(product_id))
        .order(related::id)
        .select(related::related_product_id)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(product_exists(conn, product_id)?.then(Vec::new));
    }
    Ok(Some(ids))
}

/// Whether a product with this id exists. Statements: 1.
pub fn product_exists(conn: &mut PgConnection, id: i32) -> QueryResult<bool> {
    diesel::select(exists(product::table.find(id))).get_result(conn)
}
