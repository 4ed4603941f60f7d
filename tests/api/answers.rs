//! The stored answers, `/styles`' (`styles_answers`) and `/products/:id`'s
//! (`product_answers`): the import's rendering writes the bytes the
//! service's own rendering of the rows does, for every fixture product, odd
//! text included; the service answers from them; and every change to the
//! rows an answer is made from drops the answers it touches, so the rows
//! answer again.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::common::fixtures::insert_odd_text_product;
use crate::common::TestDb;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use rocket::http::Status;
use rocket::local::asynchronous::Client;

async fn uncached_client(db: &TestDb) -> Client {
    common::client_with(&db.url, &[("cache_enabled", serde_json::json!(false))]).await
}

async fn styles_body(client: &Client, id: i32) -> String {
    let response = client
        .get(format!("/products/{id}/styles"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok, "product {id}");
    response.into_string().await.unwrap()
}

fn product_ids(conn: &mut PgConnection) -> Vec<i32> {
    use atelier::catalog::schema::product;
    product::table
        .select(product::id)
        .order(product::id)
        .load(conn)
        .unwrap()
}

/// (product id, body) of every rendered answer.
fn rendered(conn: &mut PgConnection) -> Vec<(i32, String)> {
    use atelier::catalog::schema::styles_answers;
    styles_answers::table
        .order(styles_answers::product_id)
        .load(conn)
        .unwrap()
}

/// The stored answer of product `id`, if it has one.
fn stored_body(conn: &mut PgConnection, id: i32) -> Option<String> {
    rendered(conn)
        .into_iter()
        .find(|(product, _)| *product == id)
        .map(|(_, body)| body)
}

fn rendered_ids(conn: &mut PgConnection) -> Vec<i32> {
    rendered(conn).into_iter().map(|(id, _)| id).collect()
}

#[rocket::async_test]
async fn rendered_answers_are_the_bytes_the_rows_give() {
    let db = TestDb::with_fixtures();
    let mut conn = db.connect();
    insert_odd_text_product(&mut conn);
    let client = uncached_client(&db).await;
    let ids = product_ids(&mut conn);
    assert_eq!(ids, [1, 2, 3, 4, 5, 7, 11, 20]);

    // Nothing rendered yet: every answer comes from the rows.
    assert_eq!(rendered(&mut conn), []);
    let mut from_rows = Vec::new();
    for &id in &ids {
        from_rows.push((id, styles_body(&client, id).await));
    }

    assert_eq!(db.render_styles_answers(), 8);
    assert_eq!(rendered(&mut conn), from_rows);
    for (id, body) in &from_rows {
        assert_eq!(&styles_body(&client, *id).await, body, "product {id}");
    }
}

#[rocket::async_test]
async fn changes_drop_the_answers_they_touch() {
    let db = TestDb::with_rendered_fixtures();
    let mut conn = db.connect();
    let client = uncached_client(&db).await;
    let all = [1, 2, 3, 4, 5, 7, 11];
    assert_eq!(rendered_ids(&mut conn), all);

    // A photo of product 1 changes: only product 1's answer goes, and the
    // rows answer with the new URL.
    conn.batch_execute(
        "UPDATE photos SET url = 'https://changed.example/1'
          WHERE id = (SELECT min(ph.id) FROM photos ph JOIN styles s ON s.id = ph.style_id
                       WHERE s.product_id = 1)",
    )
    .unwrap();
    assert_eq!(rendered_ids(&mut conn), [2, 3, 4, 5, 7, 11]);
    assert!(styles_body(&client, 1)
        .await
        .contains(r#""url":"https://changed.example/1""#));

    // A sku is added to a style of product 2.
    conn.batch_execute(
        "INSERT INTO skus (id, style_id, size, quantity)
         SELECT 99001, min(id), 'XXL', 1 FROM styles WHERE product_id = 2",
    )
    .unwrap();
    assert_eq!(rendered_ids(&mut conn), [3, 4, 5, 7, 11]);
    assert!(styles_body(&client, 2)
        .await
        .contains(r#""99001":{"quantity":1,"size":"XXL"}"#));

    // A style moves from product 4 to product 3: both answers go.
    conn.batch_execute(
        "UPDATE styles SET product_id = 3 WHERE id = (SELECT min(id) FROM styles WHERE product_id = 4)",
    )
    .unwrap();
    assert_eq!(rendered_ids(&mut conn), [5, 7, 11]);
    assert_ne!(
        styles_body(&client, 3).await,
        r#"{"product_id":"3","results":[]}"#
    );

    // A style of product 5 is deleted, its photos and skus with it.
    conn.batch_execute(
        "DELETE FROM styles WHERE id = (SELECT min(id) FROM styles WHERE product_id = 5)",
    )
    .unwrap();
    assert_eq!(rendered_ids(&mut conn), [7, 11]);

    // A product that goes takes its answer with it; one that comes has none
    // and is answered from its rows.
    conn.batch_execute(
        "DELETE FROM product WHERE id = 7;
         INSERT INTO product (id, name, slogan, description, category, default_price)
         VALUES (30, 'New', 's', 'd', 'c', 1)",
    )
    .unwrap();
    assert_eq!(rendered_ids(&mut conn), [11]);
    assert_eq!(
        styles_body(&client, 30).await,
        r#"{"product_id":"30","results":[]}"#
    );

    // TRUNCATE fires no row trigger: its own trigger drops every answer.
    conn.batch_execute("TRUNCATE skus").unwrap();
    assert_eq!(rendered_ids(&mut conn), Vec::<i32>::new());
    assert!(!styles_body(&client, 11).await.contains("\"quantity\":0"));
    assert!(styles_body(&client, 11)
        .await
        .contains(r#""skus":{"null":{"quantity":null,"size":null}}"#));
}

/// Product 4 as the live API answered it: a style with a photo and no skus,
/// then one with a sku and no photos.
const PRODUCT_4_STYLES: &str = r#"{"product_id":"4","results":[{"style_id":20,"name":"Black","original_price":"65.00","sale_price":null,"default?":false,"photos":[{"thumbnail_url":"https://images.example.com/13?fit=crop&w=300&q=80","url":"https://images.example.com/13?fit=crop&w=668&q=80"}],"skus":{"null":{"quantity":null,"size":null}}},{"style_id":21,"name":"Olive Green","original_price":"65.00","sale_price":"50.00","default?":false,"photos":[{"thumbnail_url":null,"url":null}],"skus":{"14":{"quantity":2,"size":"M"}}}]}"#;

/// Style 3 of product 1, which has neither photos nor skus.
const STYLE_WITHOUT_CHILDREN: &str = r#"{"style_id":3,"name":"Ocean Blue & Grey","original_price":"140.00","sale_price":"100.00","default?":false,"photos":[{"thumbnail_url":null,"url":null}],"skus":{"null":{"quantity":null,"size":null}}}"#;

/// Style 1 of product 1, which has both.
const STYLE_WITH_CHILDREN: &str = r#"{"style_id":1,"name":"Forest Green & Black","original_price":"140.00","sale_price":null,"default?":true,"photos":[{"thumbnail_url":"https://images.example.com/4?fit=crop&w=300&q=80","url":"https://images.example.com/4?fit=crop&w=668&q=80"},{"thumbnail_url":"https://images.example.com/9?fit=crop&w=300&q=80","url":"https://images.example.com/9?fit=crop&w=668&q=80"}],"skus":{"2":{"quantity":16,"size":"S"},"6":{"quantity":4,"size":"XL"},"7":{"quantity":15,"size":"XL"},"10":{"quantity":8,"size":"XS"}}}"#;

async fn assert_live_api_placeholders(client: &Client) {
    assert_eq!(styles_body(client, 4).await, PRODUCT_4_STYLES);
    let product_1 = styles_body(client, 1).await;
    assert!(
        product_1.starts_with(&format!(
            r#"{{"product_id":"1","results":[{STYLE_WITH_CHILDREN},"#
        )),
        "{product_1}"
    );
    assert!(
        product_1.ends_with(&format!(",{STYLE_WITHOUT_CHILDREN}]}}")),
        "{product_1}"
    );
}

#[rocket::async_test]
async fn styles_without_photos_or_skus_answer_as_the_live_api_did() {
    let db = TestDb::with_fixtures();
    let mut conn = db.connect();
    let client = uncached_client(&db).await;
    // From the rows.
    assert_eq!(rendered(&mut conn), []);
    assert_live_api_placeholders(&client).await;
    // From the stored answers.
    db.render_styles_answers();
    assert_eq!(stored_body(&mut conn, 4).as_deref(), Some(PRODUCT_4_STYLES));
    assert_live_api_placeholders(&client).await;
}

/// Answers stored by an import that wrote `[]` and `{}` for a style without
/// photos or skus follow the contract once the database is migrated.
#[rocket::async_test]
async fn answers_stored_in_the_earlier_shape_follow_the_contract_after_migrating() {
    use atelier::db::migrations::MIGRATIONS;
    use diesel::migration::MigrationSource;
    use diesel::pg::Pg;
    use diesel_migrations::MigrationHarness;

    const PLACEHOLDERS: &str = "2026-12-01-000000_empty_styles_placeholders";
    let db = TestDb::empty();
    let mut conn = db.connect();
    let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS).unwrap();
    let before: Vec<_> = migrations
        .iter()
        .take_while(|m| m.name().to_string() != PLACEHOLDERS)
        .collect();
    assert!(before.len() < migrations.len(), "{PLACEHOLDERS} is missing");
    for _ in &before {
        conn.run_next_migration(MIGRATIONS).unwrap();
    }
    common::fixtures::insert(&mut conn);
    db.render_styles_answers();
    // What the import wrote before the placeholders: the reverse of the
    // migration, checked against the bytes of the earlier shape.
    conn.batch_execute(include_str!(
        "../../migrations/2026-12-01-000000_empty_styles_placeholders/down.sql"
    ))
    .unwrap();
    let earlier = PRODUCT_4_STYLES
        .replace(
            r#""skus":{"null":{"quantity":null,"size":null}}"#,
            r#""skus":{}"#,
        )
        .replace(
            r#""photos":[{"thumbnail_url":null,"url":null}]"#,
            r#""photos":[]"#,
        );
    assert!(earlier.contains(r#""photos":[],"#));
    assert_eq!(stored_body(&mut conn, 4), Some(earlier));

    atelier::db::migrations::run_pending(&mut conn).unwrap();
    // Every stored answer survived (none fell back to the rows), in the new
    // shape, and is served.
    assert_eq!(rendered_ids(&mut conn), [1, 2, 3, 4, 5, 7, 11]);
    let client = uncached_client(&db).await;
    assert_live_api_placeholders(&client).await;
    let migrated = rendered(&mut conn);
    conn.batch_execute("DELETE FROM styles_answers").unwrap();
    for (id, body) in migrated {
        assert_eq!(styles_body(&client, id).await, body, "product {id}");
    }
}

async fn product_body(client: &Client, id: i32) -> String {
    let response = client.get(format!("/products/{id}")).dispatch().await;
    assert_eq!(response.status(), Status::Ok, "product {id}");
    response.into_string().await.unwrap()
}

/// (product id, body) of every stored `/products/:id` answer.
fn stored_product_answers(conn: &mut PgConnection) -> Vec<(i32, String)> {
    use atelier::catalog::schema::product_answers;
    product_answers::table
        .order(product_answers::product_id)
        .load(conn)
        .unwrap()
}

fn stored_product_ids(conn: &mut PgConnection) -> Vec<i32> {
    stored_product_answers(conn)
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

#[rocket::async_test]
async fn stored_product_answers_are_the_bytes_the_rows_give() {
    let db = TestDb::with_fixtures();
    let mut conn = db.connect();
    insert_odd_text_product(&mut conn);
    conn.batch_execute(&format!(
        "UPDATE product SET description = {odd} WHERE id = 20;
         INSERT INTO features (id, product_id, feature, value) VALUES (900, 20, {odd}, {odd})",
        odd = format!("'{}'", common::fixtures::ODD_TEXT.replace('\'', "''")),
    ))
    .unwrap();
    let client = uncached_client(&db).await;
    let ids = product_ids(&mut conn);
    assert_eq!(ids, [1, 2, 3, 4, 5, 7, 11, 20]);

    assert_eq!(stored_product_answers(&mut conn), []);
    let mut from_rows = Vec::new();
    for &id in &ids {
        from_rows.push((id, product_body(&client, id).await));
    }
    assert!(from_rows[7]
        .1
        .contains(r#""value":"a \"quote\", a \\ backslash,\nnew line"#));

    assert_eq!(db.render_product_answers(), 8);
    // Stored: each answer without its id and campus, which the instance
    // writes in front.
    let expected: Vec<(i32, String)> = from_rows
        .iter()
        .map(|(id, body)| {
            let head = format!(r#"{{"id":{id},"campus":"hr-lax","#);
            (*id, body.strip_prefix(&head).unwrap().to_owned())
        })
        .collect();
    assert_eq!(stored_product_answers(&mut conn), expected);
    for (id, body) in &from_rows {
        assert_eq!(&product_body(&client, *id).await, body, "product {id}");
    }
}

#[rocket::async_test]
async fn changes_drop_the_product_answers_they_touch() {
    let db = TestDb::with_rendered_fixtures();
    let mut conn = db.connect();
    let client = uncached_client(&db).await;
    assert_eq!(stored_product_ids(&mut conn), [1, 2, 3, 4, 5, 7, 11]);

    // A feature of product 1 changes: only product 1's answer goes, and the
    // rows answer with the new value.
    conn.batch_execute(
        "UPDATE features SET value = 'Changed'
          WHERE id = (SELECT min(id) FROM features WHERE product_id = 1)",
    )
    .unwrap();
    assert_eq!(stored_product_ids(&mut conn), [2, 3, 4, 5, 7, 11]);
    assert!(product_body(&client, 1)
        .await
        .contains(r#""value":"Changed""#));

    // Product 3, which had no features, gets one.
    conn.batch_execute(
        "INSERT INTO features (id, product_id, feature, value) VALUES (99001, 3, 'Lining', 'Silk')",
    )
    .unwrap();
    assert_eq!(stored_product_ids(&mut conn), [2, 4, 5, 7, 11]);
    assert!(product_body(&client, 3)
        .await
        .ends_with(r#""features":[{"feature":"Lining","value":"Silk"}]}"#));

    // A feature moves from product 2 to product 4: both answers go.
    conn.batch_execute(
        "UPDATE features SET product_id = 4
          WHERE id = (SELECT min(id) FROM features WHERE product_id = 2)",
    )
    .unwrap();
    assert_eq!(stored_product_ids(&mut conn), [5, 7, 11]);

    // Product 5's own row changes.
    conn.batch_execute("UPDATE product SET name = 'Renamed' WHERE id = 5")
        .unwrap();
    assert_eq!(stored_product_ids(&mut conn), [7, 11]);
    assert!(product_body(&client, 5)
        .await
        .starts_with(r#"{"id":5,"campus":"hr-lax","name":"Renamed","#));

    // A product that goes takes its answer with it; one that comes has none
    // and is answered from its rows.
    conn.batch_execute(
        "DELETE FROM product WHERE id = 7;
         INSERT INTO product (id, name, slogan, description, category, default_price)
         VALUES (30, 'New', 's', 'd', 'c', 1)",
    )
    .unwrap();
    assert_eq!(stored_product_ids(&mut conn), [11]);
    let new = product_body(&client, 30).await;
    assert!(
        new.starts_with(
            r#"{"id":30,"campus":"hr-lax","name":"New","slogan":"s","description":"d","category":"c","default_price":"1.00","created_at":""#
        ),
        "{new}"
    );
    assert!(new.ends_with(r#"Z","features":[]}"#), "{new}");
    let response = client.get("/products/7").dispatch().await;
    assert_eq!(response.status(), Status::NotFound);

    // TRUNCATE fires no row trigger: its own trigger drops every answer.
    conn.batch_execute("TRUNCATE features").unwrap();
    assert_eq!(stored_product_ids(&mut conn), Vec::<i32>::new());
    assert!(product_body(&client, 11)
        .await
        .ends_with(r#","features":[]}"#));
}
