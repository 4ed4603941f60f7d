//! Catalog queries: everything one request reads, as plain functions over a
//! `PgConnection`. Each returns `QueryResult`; HTTP concerns live in `routes`.
//!
//! Every function issues a fixed number of statements, whatever the number of
//! rows involved: children are loaded in bulk with `belonging_to` and stitched
//! with `grouped_by`, never with a query per parent.

use diesel::dsl::exists;
use diesel::prelude::*;

use crate::freshness::ANCHOR_STRIDE;
use crate::models::{Feature, Photo, Product, Sku, Style};
use crate::schema::{product, related, styles};

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
/// no such product. Statements: 2 whatever the number of styles, photos and
/// skus: the styles with their photos joined (in style, then photo id order),
/// then the skus of all of them (`belonging_to` + `grouped_by`). A product
/// without styles takes the same two: the join, then the existence check.
pub fn find_product_styles(
    conn: &mut PgConnection,
    product_id: i32,
) -> QueryResult<Option<Vec<StyleWithChildren>>> {
    use crate::schema::{photos, skus};

    let rows: Vec<(Style, Option<Photo>)> = styles::table
        .left_join(photos::table)
        .filter(styles::product_id.eq(product_id))
        .order((styles::id, photos::id))
        .select((Style::as_select(), Option::<Photo>::as_select()))
        .load(conn)?;
    if rows.is_empty() {
        // A style row proves its product exists (foreign key); no style row
        // proves nothing, so only then is the product itself looked up.
        return Ok(product_exists(conn, product_id)?.then(Vec::new));
    }
    let mut found: Vec<Style> = Vec::new();
    let mut photos: Vec<Vec<Photo>> = Vec::new();
    for (style, photo) in rows {
        if found.last().map(|s| s.id) != Some(style.id) {
            found.push(style);
            photos.push(Vec::new());
        }
        if let (Some(photo), Some(group)) = (photo, photos.last_mut()) {
            group.push(photo);
        }
    }
    let skus = Sku::belonging_to(&found)
        .order(skus::id)
        .select(Sku::as_select())
        .load(conn)?
        .grouped_by(&found);
    Ok(Some(
        found
            .into_iter()
            .zip(photos)
            .zip(skus)
            .map(|((style, photos), skus)| (style, photos, skus))
            .collect(),
    ))
}

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
