//! The fixture catalog the endpoint tests read, written for the tests. Rows
//! are inserted out of id order on purpose, so an answer that forgets an
//! `ORDER BY` comes back in insertion order and fails.
//!
//! | product | what it covers |
//! |---|---|
//! | 1 | styles with and without `sale_price`, one with no photos and no skus (so no photo and no sku of the live API's shape); skus with gaps, out of order and duplicate sizes; duplicate and self-referencing related rows |
//! | 2 | a feature whose value is null, a duplicate feature; one style, no default |
//! | 3 | no features, no styles, no related rows |
//! | 4 | no default style; a style with photos and no skus, one with skus and no photos |
//! | 5 | two default styles |
//! | 7 | the dump's largest price |
//! | 11 | twelve styles, each with photos and skus (statement counts) |
#![allow(clippy::unwrap_used)]

use atelier::catalog::models::{Feature, Photo, Product, Related, Sku, Style};
use atelier::catalog::schema::{features, photos, product, related, skus, styles};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

pub const CREATED: &str = "2021-08-13T14:39:39.968Z";
pub const UPDATED: &str = "2022-01-02T03:04:05.120Z";
/// Text with everything JSON escapes and some things it must not: quotes,
/// backslash, control characters, DEL, non-ASCII, `</script>`.
pub const ODD_TEXT: &str =
    "a \"quote\", a \\ backslash,\nnew line\ttab\r\u{8}\u{c}\u{1}\u{1f}\u{7f} é 😀 </script>";

/// Odd text the admin API takes: quotes, backslash, SQL and template
/// syntax, non-ASCII, right-to-left script, `</script>`; none of the control
/// or bidirectional formatting characters it refuses.
pub const ODD_ADMIN_TEXT: &str =
    "a \"quote\", a \\ backslash, ' OR '1'='1; {{name}} %s é 😀 \u{5E9}\u{5DC}\u{5D5}\u{5DD} </script>";

/// Product 20: one style whose name, photo and sku size are [`ODD_TEXT`]
/// (style 900, photo 9000 with URL `https://x.example/` + the text, sku 9000).
pub fn insert_odd_text_product(conn: &mut PgConnection) {
    use diesel::connection::SimpleConnection;

    let sql_text = |s: &str| format!("'{}'", s.replace('\'', "''"));
    conn.batch_execute(&format!(
        "INSERT INTO product (id, name, slogan, description, category, default_price) \
         VALUES (20, 'Odd', 's', 'd', 'c', 1); \
         INSERT INTO styles (id, product_id, name, sale_price, original_price, default_style) \
         VALUES (900, 20, {odd}, NULL, 10, true); \
         INSERT INTO photos (id, style_id, url, thumbnail_url) VALUES (9000, 900, {url}, {odd}); \
         INSERT INTO skus (id, style_id, size, quantity) VALUES (9000, 900, {odd}, 3);",
        odd = sql_text(ODD_TEXT),
        url = sql_text(&format!("https://x.example/{ODD_TEXT}")),
    ))
    .unwrap();
}

/// The style of product 11 whose photos and skus the many-styles test reads.
pub const MANY_STYLES_PRODUCT: i32 = 11;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

fn product_row(id: i32, name: &str, category: &str, default_price: i32) -> Product {
    Product {
        id,
        name: name.into(),
        slogan: format!("Slogan of {name}"),
        description: format!("The {name}, described."),
        category: category.into(),
        default_price,
        created_at: at(CREATED),
        updated_at: at(UPDATED),
    }
}

fn style(
    id: i32,
    product_id: i32,
    name: &str,
    sale: Option<i32>,
    original: i32,
    default: bool,
) -> Style {
    Style {
        id,
        product_id,
        name: name.into(),
        sale_price: sale,
        original_price: original,
        default_style: default,
    }
}

fn feature(id: i32, product_id: i32, name: &str, value: Option<&str>) -> Feature {
    Feature {
        id,
        product_id,
        feature: name.into(),
        value: value.map(Into::into),
    }
}

fn photo(id: i32, style_id: i32) -> Photo {
    Photo {
        id,
        style_id,
        url: format!("https://images.example.com/{id}?fit=crop&w=668&q=80"),
        thumbnail_url: format!("https://images.example.com/{id}?fit=crop&w=300&q=80"),
    }
}

fn sku(id: i32, style_id: i32, size: &str, quantity: i32) -> Sku {
    Sku {
        id,
        style_id,
        size: size.into(),
        quantity,
    }
}

fn relation(id: i32, current: i32, related: i32) -> Related {
    Related {
        id,
        current_product_id: current,
        related_product_id: related,
    }
}

/// The products, in insertion order.
pub fn products() -> Vec<Product> {
    let mut camo = product_row(1, "Camo Onesie", "Jackets", 140);
    camo.slogan = "Blend in to your crowd".into();
    camo.description = "The So Fatigues will wake you up and fit you in. This high energy camo \
                        will have you blending in to even the wildest surroundings."
        .into();
    let mut slacks = product_row(4, "Slacker's Slacks", "Pants", 65);
    // Free text in the dump has quotes, commas and double spaces.
    slacks.description = "I'll tell you how \"great\" they are,  after I nap.".into();
    vec![
        product_row(11, "Many Styles", "Kicks", 99),
        camo,
        product_row(3, "Morning Joggers", "Pants", 40),
        product_row(2, "Bright Future Sunglasses", "Accessories", 69),
        product_row(5, "Heir Force Ones", "Kicks", 99),
        slacks,
        product_row(7, "Infinity Stone", "Accessories", 500_000_000),
    ]
}

/// Inserts the fixture catalog.
pub fn insert(conn: &mut PgConnection) {
    diesel::insert_into(product::table)
        .values(products())
        .execute(conn)
        .unwrap();

    diesel::insert_into(features::table)
        .values(vec![
            feature(2, 1, "Buttons", Some("Brass")),
            feature(1, 1, "Fabric", Some("Canvas")),
            feature(4, 2, "UV Protection", None),
            feature(3, 2, "Lenses", Some("Ultrasheen")),
            feature(5, 2, "Frames", Some("LightCompose")),
            feature(6, 2, "Frames", Some("LightCompose")),
        ])
        .execute(conn)
        .unwrap();

    let mut style_rows = vec![
        style(3, 1, "Ocean Blue & Grey", Some(100), 140, false),
        style(1, 1, "Forest Green & Black", None, 140, true),
        style(2, 1, "Desert Brown & Tan", None, 140, false),
        style(8, 2, "Black Lenses & Gold Frame", None, 69, false),
        style(21, 4, "Olive Green", Some(50), 65, false),
        style(20, 4, "Black", None, 65, false),
        style(30, 5, "White & White", None, 99, true),
        style(31, 5, "White & Red", Some(80), 99, true),
        style(40, 7, "Reality", None, 500_000_000, true),
    ];
    // Style 20 has a photo and no skus, style 21 a sku and no photos.
    let mut photo_rows = vec![
        photo(9, 1),
        photo(4, 1),
        photo(5, 2),
        photo(7, 8),
        photo(13, 20),
    ];
    let mut sku_rows = vec![
        sku(10, 1, "XS", 8),
        sku(2, 1, "S", 16),
        sku(7, 1, "XL", 15),
        sku(6, 1, "XL", 4),
        sku(11, 2, "M", 0),
        sku(12, 8, "One Size", 3),
        sku(14, 21, "M", 2),
    ];
    // Product 11: twelve styles (ids 1011..1000 descending), two photos and
    // three skus each.
    for n in (0..12).rev() {
        let style_id = 1000 + n;
        style_rows.push(style(
            style_id,
            MANY_STYLES_PRODUCT,
            &format!("Colour {n}"),
            None,
            99,
            n == 0,
        ));
        photo_rows.extend([
            photo(2000 + 2 * n + 1, style_id),
            photo(2000 + 2 * n, style_id),
        ]);
        sku_rows.extend([
            sku(3000 + 3 * n + 2, style_id, "L", n),
            sku(3000 + 3 * n, style_id, "S", n),
            sku(3000 + 3 * n + 1, style_id, "M", n),
        ]);
    }
    diesel::insert_into(styles::table)
        .values(style_rows)
        .execute(conn)
        .unwrap();
    diesel::insert_into(photos::table)
        .values(photo_rows)
        .execute(conn)
        .unwrap();
    diesel::insert_into(skus::table)
        .values(sku_rows)
        .execute(conn)
        .unwrap();

    diesel::insert_into(related::table)
        .values(vec![
            relation(5, 1, 2),
            relation(1, 1, 3),
            relation(4, 1, 3),
            relation(3, 1, 1),
            relation(6, 2, 1),
            relation(7, 11, 5),
        ])
        .execute(conn)
        .unwrap();
}
