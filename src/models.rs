//! Row models: one struct per table, exactly as Diesel reads and writes it.
//! Nothing here knows about HTTP or JSON; `views` turns rows into responses.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;

use crate::schema::{features, photos, product, related, skus, styles};

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
