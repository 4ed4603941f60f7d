//! Row models: one struct per table, exactly as Diesel reads and writes it,
//! and the nested rows the queries build from them (a style with its children).
//! Nothing here knows about HTTP or JSON; `views` turns rows into responses.

use chrono::{DateTime, Utc};
use diesel::associations::BelongsTo;
use diesel::pg::Pg;
use diesel::prelude::*;

use crate::catalog::schema::{admin_audit, features, photos, product, related, skus, styles};

/// A row of `product`.
#[derive(Queryable, Selectable, Identifiable, Insertable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = product, check_for_backend(Pg))]
pub struct Product {
    pub id: i32,
    pub name: String,
    pub slogan: String,
    pub description: String,
    pub category: String,
    /// Whole currency units, as in the dump.
    pub default_price: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A row of `features`: one named attribute of a product.
#[derive(
    Queryable, Selectable, Identifiable, Associations, Insertable, Debug, Clone, PartialEq, Eq,
)]
#[diesel(table_name = features, belongs_to(Product), check_for_backend(Pg))]
pub struct Feature {
    pub id: i32,
    pub product_id: i32,
    pub feature: String,
    pub value: Option<String>,
}

/// A row of `styles`: one colourway of a product.
#[derive(
    Queryable, Selectable, Identifiable, Associations, Insertable, Debug, Clone, PartialEq, Eq,
)]
#[diesel(table_name = styles, belongs_to(Product), check_for_backend(Pg))]
pub struct Style {
    pub id: i32,
    pub product_id: i32,
    pub name: String,
    pub sale_price: Option<i32>,
    pub original_price: i32,
    pub default_style: bool,
}

/// A row of `photos`: one picture of a style.
#[derive(
    Queryable, Selectable, Identifiable, Associations, Insertable, Debug, Clone, PartialEq, Eq,
)]
#[diesel(table_name = photos, belongs_to(Style), check_for_backend(Pg))]
pub struct Photo {
    pub id: i32,
    pub style_id: i32,
    pub url: String,
    pub thumbnail_url: String,
}

/// A row of `skus`: the stock of one size of a style.
#[derive(
    Queryable, Selectable, Identifiable, Associations, Insertable, Debug, Clone, PartialEq, Eq,
)]
#[diesel(table_name = skus, belongs_to(Style), check_for_backend(Pg))]
pub struct Sku {
    pub id: i32,
    pub style_id: i32,
    pub size: String,
    pub quantity: i32,
}

/// A product's key alone: the parent of rows that need nothing else of it,
/// so a join does not carry the product's text once per child.
#[derive(Queryable, Selectable, Identifiable, Debug, Clone, Copy, PartialEq, Eq)]
#[diesel(table_name = product, check_for_backend(Pg))]
pub struct ProductKey {
    pub id: i32,
}

/// A row of `related`: "shoppers who look at `current_product_id` also look at
/// `related_product_id`".
#[derive(
    Queryable, Selectable, Identifiable, Associations, Insertable, Debug, Clone, PartialEq, Eq,
)]
#[diesel(
    table_name = related,
    belongs_to(Product, foreign_key = current_product_id),
    belongs_to(ProductKey, foreign_key = current_product_id),
    check_for_backend(Pg)
)]
pub struct Related {
    pub id: i32,
    pub current_product_id: i32,
    pub related_product_id: i32,
}

/// What an admin write changes in a row of `styles`: `None` leaves a column
/// as it is; `sale_price: Some(None)` clears the sale.
#[derive(AsChangeset, Debug, Clone, Default, PartialEq, Eq)]
#[diesel(table_name = styles, check_for_backend(Pg))]
pub struct StyleChanges {
    pub name: Option<String>,
    pub sale_price: Option<Option<i32>>,
    pub original_price: Option<i32>,
    pub default_style: Option<bool>,
}

/// What an admin write changes in a row of `skus`: `None` leaves a column
/// as it is.
#[derive(AsChangeset, Debug, Clone, Default, PartialEq, Eq)]
#[diesel(table_name = skus, check_for_backend(Pg))]
pub struct SkuChanges {
    pub size: Option<String>,
    pub quantity: Option<i32>,
}

/// A row of `admin_audit` as a write adds it; the id, the time and the
/// transaction are the database's.
#[derive(Insertable, Debug, Clone, PartialEq)]
#[diesel(table_name = admin_audit, check_for_backend(Pg))]
pub struct NewAuditEntry<'a> {
    pub token_name: &'a str,
    pub action: &'a str,
    pub resource: &'a str,
    pub resource_id: i32,
    pub product_id: i32,
    pub change: serde_json::Value,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// A row of `admin_audit`: one write through the admin API.
#[derive(Queryable, Selectable, Identifiable, Debug, Clone, PartialEq)]
#[diesel(table_name = admin_audit, check_for_backend(Pg))]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The configured name of the token that wrote.
    pub token_name: String,
    pub action: String,
    pub resource: String,
    pub resource_id: i32,
    pub product_id: i32,
    /// What was asked, as validated.
    pub change: serde_json::Value,
    /// The resource before and after, as the admin API answers it.
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// The writing transaction (see `changes::AuditCursor`).
    pub xact: i64,
}

/// A product with its features in feature-id order.
pub type ProductWithFeatures = (Product, Vec<Feature>);

/// A style with its photos and skus, each in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StyleWithChildren {
    pub style: Style,
    pub photos: Vec<Photo>,
    pub skus: Vec<Sku>,
}

/// A nested style belongs to its style's product, so a batch of them is
/// grouped by product with `grouped_by` like the rows it was built from.
impl BelongsTo<Product> for StyleWithChildren {
    type ForeignKey = i32;
    type ForeignKeyColumn = styles::product_id;

    fn foreign_key(&self) -> Option<&i32> {
        Some(&self.style.product_id)
    }

    fn foreign_key_column() -> styles::product_id {
        styles::product_id
    }
}

/// One category and how many products (of those a search found) have it:
/// a row of `search.category_prices` summed, or of `search.products`
/// counted.
#[derive(QueryableByName, Debug, Clone, PartialEq, Eq)]
pub struct CategoryCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub category: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub count: i64,
}
