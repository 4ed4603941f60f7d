//! Catalog queries: everything one request reads, as plain functions over a
//! `PgConnection`. Each returns `QueryResult`; HTTP concerns live in `routes`.
//!
//! Every function issues a fixed number of statements, whatever the number of
//! rows involved: children come joined to their parent's row, or a level at
//! a time through Diesel's associations (`belonging_to` + `grouped_by`),
//! never with a query per parent.

use diesel::prelude::*;

use crate::catalog::anchors::ANCHOR_STRIDE;
use crate::catalog::models::{
    Feature, Photo, Product, ProductWithFeatures, Sku, Style, StyleWithChildren,
};
use crate::catalog::schema::{product, related};
use crate::catalog::views::{ProductBody, StylesView};
use crate::db::dispatch::Kind;

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
/// `k * ANCHOR_STRIDE` (see `anchors`), `None` while they have not been
/// read: a deep page starts from the nearest anchor instead of walking every
/// row before it, and a page past the last anchor starts from that one. So
/// no page value makes PostgreSQL walk more than the rows after its anchor:
/// past the end of the catalog, the few after the last one. (Anchors are up
/// to a watcher poll old; starting from one, rather than trusting it for
/// where the catalog ends, keeps rows added since then in their pages.)
/// Statements: 1.
pub fn list_products(
    conn: &mut PgConnection,
    page: Page,
    anchors: Option<&[i32]>,
) -> QueryResult<Vec<Product>> {
    let Some(offset) = page.offset() else {
        return Ok(Vec::new());
    };
    let start = anchors.and_then(|ids| {
        let k = usize::try_from(offset / ANCHOR_STRIDE)
            .unwrap_or(usize::MAX)
            .min(ids.len().saturating_sub(1));
        ids.get(k).filter(|_| k > 0).map(|id| (k, *id))
    });
    // Two fixed query shapes rather than a boxed one: Diesel caches the
    // prepared statement of a fixed shape, never of a boxed query.
    match start {
        Some((k, id)) => product::table
            .filter(product::id.ge(id))
            .order(product::id)
            .limit(i64::from(page.count))
            .offset(offset - ANCHOR_STRIDE * k as i64)
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
/// order, in product-id order. Statements: 1: the features come joined to
/// the products (one round trip, one snapshot, where `Feature::belonging_to`
/// would take two; see docs/PERFORMANCE.md) and are nested with
/// `grouped_by`.
pub fn find_products(
    conn: &mut PgConnection,
    ids: &[i32],
) -> QueryResult<Vec<(i32, ProductWithFeatures)>> {
    use crate::catalog::schema::features;

    let rows: Vec<(Product, Option<Feature>)> = product::table
        .left_join(features::table)
        .filter(product::id.eq_any(ids.to_vec()))
        .order((product::id, features::id))
        .select((Product::as_select(), Option::<Feature>::as_select()))
        .load(conn)?;
    let (products, features) = parents_and_children(rows);
    let features_per_product = features.grouped_by(&products);
    Ok(products
        .into_iter()
        .zip(features_per_product)
        .map(|(found, features)| (found.id, (found, features)))
        .collect())
}

/// For each product among `ids` that exists, in no particular order: its
/// `/products/:id` body (see [`ProductBody`]) from `product_answers`, or for
/// the products that have none there, rendered from their rows by
/// [`find_products`]. Statements: 1, and 1 more when some id has no stored
/// answer (a product without one, or no such product).
pub fn find_product_answers(
    conn: &mut PgConnection,
    ids: &[i32],
) -> QueryResult<Vec<(i32, ProductBody)>> {
    let mut answers: Vec<(i32, ProductBody)> = ByIds::<StoredProductAnswers>::new(ids)
        .load::<(i32, String)>(conn)?
        .into_iter()
        .map(|(id, body)| (id, ProductBody(body)))
        .collect();
    if answers.len() < ids.len() {
        let stored: std::collections::HashSet<i32> = answers.iter().map(|(id, _)| *id).collect();
        let missing: Vec<i32> = ids
            .iter()
            .copied()
            .filter(|id| !stored.contains(id))
            .collect();
        // A product with a stored answer cannot be among these: its answer
        // goes when its row does, and a new product has none yet.
        for (id, found) in find_products(conn, &missing)? {
            let body = ProductBody::render(found)
                .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
            answers.push((id, body));
        }
    }
    Ok(answers)
}

/// [`find_product_answers`]'s stored answers.
struct StoredProductAnswers;

impl StatementByIds for StoredProductAnswers {
    const SQL: &'static str = "SELECT product_answers.product_id, product_answers.body \
        FROM product_answers WHERE product_answers.product_id = ANY(";
    type SqlType = (diesel::sql_types::Integer, diesel::sql_types::Text);
}

/// The rows of a parent LEFT JOIN child, ordered by parent id: each parent
/// once, and the children that are there (a parent without any has one row
/// of NULLs), for `grouped_by` to nest.
fn parents_and_children<P, C>(rows: Vec<(P, Option<C>)>) -> (Vec<P>, Vec<C>)
where
    for<'a> &'a P: Identifiable<Id = &'a i32>,
{
    let mut parents: Vec<P> = Vec::new();
    let mut children = Vec::with_capacity(rows.len());
    for (parent, child) in rows {
        if parents.last().map(|p| *p.id()) != Some(*parent.id()) {
            parents.push(parent);
        }
        children.extend(child);
    }
    (parents, children)
}

/// The products among `ids` that exist, in id order. Statements: 1.
fn load_products(conn: &mut PgConnection, ids: &[i32]) -> QueryResult<Vec<Product>> {
    product::table
        .filter(product::id.eq_any(ids.to_vec()))
        .order(product::id)
        .select(Product::as_select())
        .load(conn)
}

/// A product's `/styles` body: the stored answer, or rendered from its rows
/// by [`render_styles`] when it has none; the same bytes either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StylesBody(pub String);

/// For each product among `ids` that exists, in product-id order: its
/// `/styles` body from `styles_answers`, or for the products that have none
/// there, rendered from their rows (see [`find_product_styles`]).
/// Statements: 1, and when some product has no stored answer 4 more in a
/// read-only transaction (6 with its BEGIN and COMMIT).
pub fn find_styles_answers(
    conn: &mut PgConnection,
    ids: &[i32],
) -> QueryResult<Vec<(i32, StylesBody)>> {
    use crate::catalog::schema::styles_answers;

    let stored: Vec<(i32, Option<String>)> = product::table
        .left_join(styles_answers::table)
        .filter(product::id.eq_any(ids.to_vec()))
        .order(product::id)
        .select((product::id, styles_answers::body.nullable()))
        .load(conn)?;
    let missing: Vec<i32> = stored
        .iter()
        .filter(|(_, body)| body.is_none())
        .map(|(id, _)| *id)
        .collect();
    // The rows' four statements see one snapshot, so an import that swaps
    // the tables meanwhile cannot give an answer half old, half new.
    let mut from_rows = if missing.is_empty() {
        Vec::new()
    } else {
        conn.build_transaction()
            .read_only()
            .repeatable_read()
            .run(|conn| find_product_styles(conn, &missing))?
    }
    .into_iter()
    .peekable();
    let mut answers = Vec::with_capacity(stored.len());
    for (id, body) in stored {
        match body {
            Some(body) => answers.push((id, StylesBody(body))),
            // The rows come for the missing ids, in the same order; a product
            // deleted between the statements is left out, as if it had gone
            // first.
            None => {
                if let Some((_, styles)) = from_rows.next_if(|(row_id, _)| *row_id == id) {
                    answers.push((id, render_styles(id, styles)?));
                }
            }
        }
    }
    Ok(answers)
}

/// The one renderer of `/styles` bodies, for the request path, the import
/// and every refresh of the stored answers: the [`StylesView`] of the rows,
/// serialized by serde.
pub fn render_styles(product_id: i32, styles: Vec<StyleWithChildren>) -> QueryResult<StylesBody> {
    serde_json::to_string(&StylesView::new(product_id, styles))
        .map(StylesBody)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
}

/// For each product among `ids` that exists, in product-id order: its styles
/// in id order, each with its photos and skus in id order (see
/// [`load_product_styles`]). Statements: 4, whatever the number of products,
/// styles, photos and skus.
pub fn find_product_styles(
    conn: &mut PgConnection,
    ids: &[i32],
) -> QueryResult<Vec<(i32, Vec<StyleWithChildren>)>> {
    let products = load_products(conn, ids)?;
    load_product_styles(conn, products)
}

/// The styles of `products` (in their order), each with its photos and skus,
/// through Diesel's associations: `Style::belonging_to` the products, then
/// `Photo::belonging_to` and `Sku::belonging_to` those styles, each loaded in
/// id order and nested with `grouped_by`. Statements: 3, whatever the number
/// of rows, all on the caller's connection.
pub fn load_product_styles(
    conn: &mut PgConnection,
    products: Vec<Product>,
) -> QueryResult<Vec<(i32, Vec<StyleWithChildren>)>> {
    use crate::catalog::schema::{photos, skus, styles};

    let style_rows: Vec<Style> = Style::belonging_to(&products)
        .order(styles::id)
        .select(Style::as_select())
        .load(conn)?;
    let photos_per_style = Photo::belonging_to(&style_rows)
        .order(photos::id)
        .select(Photo::as_select())
        .load(conn)?
        .grouped_by(&style_rows);
    let skus_per_style = Sku::belonging_to(&style_rows)
        .order(skus::id)
        .select(Sku::as_select())
        .load(conn)?
        .grouped_by(&style_rows);
    let nested: Vec<StyleWithChildren> = style_rows
        .into_iter()
        .zip(photos_per_style)
        .zip(skus_per_style)
        .map(|((style, photos), skus)| StyleWithChildren {
            style,
            photos,
            skus,
        })
        .collect();
    let styles_per_product = nested.grouped_by(&products);
    Ok(products
        .iter()
        .map(|p| p.id)
        .zip(styles_per_product)
        .collect())
}

/// For each product among `ids` that exists, in product-id order: the ids it
/// is related to, in related-row order. Statements: 1: the related rows come
/// outer-joined to the products, so "no related rows" and "no such product"
/// stay apart, nested with `grouped_by`.
pub fn find_related_ids_by_product(
    conn: &mut PgConnection,
    ids: &[i32],
) -> QueryResult<Vec<(i32, Vec<i32>)>> {
    use crate::catalog::models::{ProductKey, Related};

    let rows: Vec<(ProductKey, Option<Related>)> = product::table
        .left_join(related::table.on(related::current_product_id.eq(product::id)))
        .filter(product::id.eq_any(ids.to_vec()))
        .order((product::id, related::id))
        .select((ProductKey::as_select(), Option::<Related>::as_select()))
        .load(conn)?;
    let (products, related_rows) = parents_and_children(rows);
    let related_per_product = related_rows.grouped_by(&products);
    Ok(products
        .iter()
        .map(|p| p.id)
        .zip(related_per_product.into_iter().map(|rows| {
            rows.into_iter()
                .map(|r| r.related_product_id)
                .collect::<Vec<_>>()
        }))
        .collect())
}

/// For each product among `ids` that exists, in no particular order: the
/// ids it is related to, in related-row order, exactly as
/// [`find_related_ids_by_product`] gives them. Statements: 1, one row per
/// product: PostgreSQL gathers each product's related ids into an array, so
/// a product's answer is one row to read where the join sends one per
/// related row, and the statement, a type of its own, is found in Diesel's
/// statement cache by that type, without writing its SQL out first on every
/// execution. The rows stay rows: the answer is still rendered by serde.
pub fn find_related_ids(conn: &mut PgConnection, ids: &[i32]) -> QueryResult<Vec<(i32, Vec<i32>)>> {
    ByIds::<RelatedIds>::new(ids).load(conn)
}

/// [`find_related_ids`]' related ids as arrays.
struct RelatedIds;

impl StatementByIds for RelatedIds {
    const SQL: &'static str = "SELECT product.id, ARRAY(SELECT related.related_product_id \
        FROM related WHERE related.current_product_id = product.id ORDER BY related.id) \
        FROM product WHERE product.id = ANY(";
    type SqlType = (
        diesel::sql_types::Integer,
        diesel::sql_types::Array<diesel::sql_types::Integer>,
    );
}

/// A statement over a batch of ids written by hand: its SQL up to
/// `= ANY(`, to which the ids are bound as one array.
trait StatementByIds: 'static {
    const SQL: &'static str;
    type SqlType: diesel::sql_types::SqlType;
}

/// The statement `S` for `ids`: a type of its own for each `S`, so Diesel's
/// statement cache finds it by its type instead of writing its SQL out on
/// every execution (as it does for a query built with `eq_any`).
struct ByIds<'a, S> {
    ids: &'a [i32],
    statement: std::marker::PhantomData<S>,
}

impl<'a, S> ByIds<'a, S> {
    fn new(ids: &'a [i32]) -> Self {
        ByIds {
            ids,
            statement: std::marker::PhantomData,
        }
    }
}

impl<S: StatementByIds> diesel::query_builder::QueryId for ByIds<'_, S> {
    type QueryId = S;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<S: StatementByIds> diesel::query_builder::QueryFragment<diesel::pg::Pg> for ByIds<'_, S> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql(S::SQL);
        out.push_bind_param::<diesel::sql_types::Array<diesel::sql_types::Integer>, _>(&self.ids)?;
        out.push_sql(")");
        Ok(())
    }
}

impl<S: StatementByIds> diesel::query_builder::Query for ByIds<'_, S> {
    type SqlType = S::SqlType;
}

impl<S: StatementByIds> RunQueryDsl<PgConnection> for ByIds<'_, S> {}

// ---- Lookup kinds ----
//
// The lookups by product id that the dispatcher answers in batches (see
// `dispatch`): one static each, with the statement that answers any number
// of ids at once. A new kind is one more static here.

/// `GET /products/:id`.
pub static PRODUCTS: Kind<ProductBody> = Kind::new("products", find_product_answers);

/// `GET /products/:id/styles`.
pub static STYLES: Kind<StylesBody> = Kind::new("styles", find_styles_answers);

/// `GET /products/:id/related`.
pub static RELATED: Kind<Vec<i32>> = Kind::new("related", find_related_ids);

// ---- End of lookup kinds ----
