//! Search on the real application and a real PostgreSQL, with exact
//! answers on a catalog written for it: stemming, the last word as a
//! prefix, phrases, exclusions, misspellings corrected (and said so),
//! accents, relevance by field, each filter and their combination,
//! `/categories`, empty results, every refusal, pages, the cache's keys and
//! its emptying on a change, the triggers, `atelier search refresh`, and
//! the index an import builds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common;
use crate::common::TestDb;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

/// The catalog these tests search. Product 1 and 12 have "jacket" in the
/// name, 7 in the category (and slogan), 9 in the slogan, 10 in a feature
/// value, 4 and 6 in the description (6 in "Jacket-free").
const CATALOG: &str = r#"
INSERT INTO product (id, name, slogan, description, category, default_price) VALUES
  (12, 'Denim Jacket', 'Classic blue', 'Washed denim.', 'Jackets', 110),
  (1, 'Camo Jacket', 'Blend in to your crowd', 'A rugged coat for walking.', 'Jackets', 140),
  (2, 'Bright Future Sunglasses', 'You''ve got to wear shades', 'Lenses that keep the glare away.', 'Accessories', 69),
  (3, 'Running Shoes', 'Faster than anything', 'Built for those who run every morning.', 'Kicks', 90),
  (4, 'Morning Joggers', 'Make yourself a morning person', 'Comfortable for jogging, and not a jacket.', 'Pants', 40),
  (5, 'Café Crème Tee', 'Warm, dry, and ready', 'Soft cotton for the café.', 'Shirts', 25),
  (6, 'Heir Force Ones', 'A sneaker dynasty', 'Jacket-free style on rubber soles.', 'Kicks', 99),
  (7, 'Urban Parka', 'Jacket weather ahead', 'A warm parka.', 'Jackets', 200),
  (8, 'Slacker''s Slacks', 'Comfortable for everything, or nothing', 'Relaxed slacks.', 'Pants', 65),
  (9, 'Rain Coat', 'Better than a jacket', 'Keeps you dry.', 'Coats', 120),
  (10, 'Field Vest', 'Pockets everywhere', 'A vest with pockets.', 'Vests', 75),
  (13, 'Naïve Hoodie', 'Soft and simple', 'A hoodie.', 'Sweaters', 55);
INSERT INTO features (id, product_id, feature, value) VALUES
  (1, 1, 'Fabric', 'Canvas'), (2, 1, 'Buttons', 'Brass'), (3, 2, 'Lenses', 'Ultrasheen'),
  (4, 2, 'UV Protection', NULL), (5, 3, 'Sole', 'Rubber'), (6, 4, 'Material', '100% Cotton'),
  (7, 5, 'Fabric', 'Cotton'), (8, 6, 'Sole', 'Rubber'), (9, 6, 'Material', 'Leather'),
  (10, 7, 'Fabric', 'Down'), (11, 9, 'Fabric', 'Nylon'), (12, 10, 'Cut', 'Jacket cut'),
  (13, 12, 'Fabric', 'Denim'), (14, 13, 'Fabric', 'Fleece');
"#;

/// Every product with "jacket" (or "jackets"), most relevant first.
const JACKET: [i64; 7] = [1, 12, 7, 9, 10, 4, 6];

fn catalog() -> TestDb {
    let db = TestDb::migrated();
    db.connect().batch_execute(CATALOG).unwrap();
    db
}

/// `text` as a query-string value: everything but letters and digits
/// percent-encoded.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An answer: status, `X-Search-Corrected`, body.
struct Answer {
    status: Status,
    corrected: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `id` of every product listed.
    fn ids(&self) -> Vec<i64> {
        assert_eq!(self.status, Status::Ok, "{}", self.body);
        self.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect()
    }

    /// The error sentence of a 400.
    fn refusal(&self) -> String {
        assert_eq!(self.status, Status::BadRequest, "{}", self.body);
        self.json()["error"].as_str().unwrap().to_string()
    }
}

async fn get(client: &Client, uri: &str) -> Answer {
    let response = client.get(uri.to_string()).dispatch().await;
    let status = response.status();
    let corrected = response
        .headers()
        .get_one("X-Search-Corrected")
        .map(str::to_string);
    let body = response.into_string().await.unwrap_or_default();
    Answer {
        status,
        corrected,
        body,
    }
}

/// The ids `/products?q=<q>` lists, checking that it corrected nothing.
async fn found(client: &Client, q: &str) -> Vec<i64> {
    let answer = get(client, &format!("/products?q={}&count=100", enc(q))).await;
    assert_eq!(answer.corrected, None, "{q}");
    answer.ids()
}

#[rocket::async_test]
async fn relevance_is_name_then_category_slogan_features_description_then_id() {
    let db = catalog();
    let client = common::client(&db).await;
    assert_eq!(found(&client, "jacket").await, JACKET);
    // The name before the description, whatever the ids.
    assert_eq!(found(&client, "coat").await, [9, 1]);
}

#[rocket::async_test]
async fn words_are_stemmed() {
    let db = catalog();
    let client = common::client(&db).await;
    assert_eq!(found(&client, "jackets").await, JACKET);
    assert_eq!(found(&client, "runs").await, [3]);
    assert_eq!(found(&client, "running").await, [3]);
    assert_eq!(found(&client, "pockets").await, [10]);
}

#[rocket::async_test]
async fn the_last_word_is_also_a_prefix() {
    let db = catalog();
    let client = common::client(&db).await;
    assert_eq!(found(&client, "jack").await, JACKET);
    assert_eq!(found(&client, "sungl").await, [2]);
    assert_eq!(found(&client, "camo jack").await, [1]);
    // Only the last: "jack" first is a word no product has, so it is
    // corrected (below), where as the last word it was not.
    let answer = get(&client, "/products?q=jack%20camo").await;
    assert_eq!(answer.corrected.as_deref(), Some("jacket camo"));
    assert_eq!(answer.ids(), [1]);
}

#[rocket::async_test]
async fn phrases_keep_their_words_together_and_in_order() {
    let db = catalog();
    let client = common::client(&db).await;
    assert_eq!(found(&client, "\"sneaker dynasty\"").await, [6]);
    assert_eq!(
        found(&client, "\"dynasty sneaker\"").await,
        Vec::<i64>::new()
    );
    assert_eq!(found(&client, "\"rugged coat\"").await, [1]);
    assert_eq!(found(&client, "rugged \"coat").await, [1]);
}

#[rocket::async_test]
async fn excluded_words_and_phrases_leave_their_products_out() {
    let db = catalog();
    let client = common::client(&db).await;
    assert_eq!(found(&client, "jacket -camo").await, [12, 7, 9, 10, 4, 6]);
    assert_eq!(found(&client, "rubber -\"heir force\"").await, [3]);
    // An excluded word anywhere, the description included.
    assert_eq!(
        found(&client, "jacket -walking").await,
        [12, 7, 9, 10, 4, 6]
    );
}

#[rocket::async_test]
async fn a_misspelt_word_is_corrected_and_the_answer_says_so() {
    let db = catalog();
    let client = common::client(&db).await;
    let answer = get(&client, "/products?q=jaket&count=100").await;
    assert_eq!(answer.corrected.as_deref(), Some("jacket"));
    assert_eq!(answer.ids(), JACKET);
    let answer = get(&client, "/products?q=sunglases%20bright").await;
    assert_eq!(answer.corrected.as_deref(), Some("sunglasses bright"));
    assert_eq!(answer.ids(), [2]);
    // As the last word, "sunglases" begins the stem of "sunglasses": found,
    // nothing to correct.
    assert_eq!(found(&client, "sunglases").await, [2]);
    // The words spelt right stay as they were written; the header is
    // percent-encoded UTF-8 where it is not ASCII.
    let answer = get(&client, &format!("/products?q={}", enc("Crème TEA"))).await;
    assert_eq!(answer.corrected.as_deref(), Some("cr%C3%A8me tee"));
    assert_eq!(answer.ids(), [5]);
    let answer = get(&client, "/categories?q=jaket").await;
    assert_eq!(answer.corrected.as_deref(), Some("jacket"));
    // A word that finds nothing and is like no word of the catalog.
    let answer = get(&client, "/products?q=zzqxv").await;
    assert_eq!((answer.ids(), answer.corrected), (vec![], None));
}

#[rocket::async_test]
async fn accents_and_case_do_not_matter() {
    let db = catalog();
    let client = common::client(&db).await;
    for q in ["cafe", "CAFÉ CRÈME", "creme", "café"] {
        assert_eq!(found(&client, q).await, [5], "{q}");
    }
    for q in ["naive", "Naïve", "NAIVE hoodie"] {
        assert_eq!(found(&client, q).await, [13], "{q}");
    }
}

#[rocket::async_test]
async fn each_filter_with_and_without_q() {
    let db = catalog();
    let client = common::client(&db).await;
    let ids = |uri: &'static str| {
        let client = &client;
        async move { get(client, uri).await.ids() }
    };
    assert_eq!(ids("/products?category=Kicks").await, [3, 6]);
    assert_eq!(
        ids("/products?category=Pants&category=Kicks").await,
        [3, 4, 6, 8]
    );
    // Exact: no stemming, no case folding.
    assert_eq!(ids("/products?category=kicks").await, Vec::<i64>::new());
    assert_eq!(ids("/products?min_price=100").await, [1, 7, 9, 12]);
    assert_eq!(ids("/products?max_price=40.00").await, [4, 5]);
    // Whole-unit prices: 69.01 to 99.99 is 70 to 99.
    assert_eq!(
        ids("/products?min_price=69.01&max_price=99.99").await,
        [3, 6, 10]
    );
    assert_eq!(ids("/products?q=jacket&min_price=100").await, [1, 12, 7, 9]);
    assert_eq!(ids("/products?q=jacket&category=Jackets").await, [1, 12, 7]);
    assert_eq!(ids("/products?q=jacket&max_price=75").await, [10, 4]);
}

#[rocket::async_test]
async fn filters_and_q_combine() {
    let db = catalog();
    let client = common::client(&db).await;
    let answer = get(
        &client,
        "/products?q=rubber&category=Kicks&category=Pants&max_price=95&min_price=50",
    )
    .await;
    assert_eq!(answer.ids(), [3]);
    let answer = get(
        &client,
        "/products?q=jacket%20-denim&category=Jackets&category=Coats&min_price=120",
    )
    .await;
    assert_eq!(answer.ids(), [1, 7, 9]);
}

#[rocket::async_test]
async fn the_answer_is_the_product_list_shape() {
    let db = catalog();
    let client = common::client(&db).await;
    // Product 1 is also the first of the product list: the same bytes.
    let list = get(&client, "/products?count=1").await;
    let search = get(&client, "/products?q=camo").await;
    assert_eq!(search.body, list.body);
    assert_eq!(search.json()[0]["default_price"], json!("140.00"));
}

#[rocket::async_test]
async fn categories_are_counted_most_first_then_by_name() {
    let db = catalog();
    let client = common::client(&db).await;
    let counts = |uri: &'static str| {
        let client = &client;
        async move {
            let answer = get(client, uri).await;
            assert_eq!(answer.status, Status::Ok, "{}", answer.body);
            answer.json()
        }
    };
    assert_eq!(
        counts("/categories").await,
        json!([
            {"category": "Jackets", "count": 3}, {"category": "Kicks", "count": 2},
            {"category": "Pants", "count": 2}, {"category": "Accessories", "count": 1},
            {"category": "Coats", "count": 1}, {"category": "Shirts", "count": 1},
            {"category": "Sweaters", "count": 1}, {"category": "Vests", "count": 1}
        ])
    );
    assert_eq!(
        get(&client, "/categories").await.body,
        "[{\"category\":\"Jackets\",\"count\":3},{\"category\":\"Kicks\",\"count\":2},\
         {\"category\":\"Pants\",\"count\":2},{\"category\":\"Accessories\",\"count\":1},\
         {\"category\":\"Coats\",\"count\":1},{\"category\":\"Shirts\",\"count\":1},\
         {\"category\":\"Sweaters\",\"count\":1},{\"category\":\"Vests\",\"count\":1}]"
    );
    assert_eq!(
        counts("/categories?q=jacket").await,
        json!([
            {"category": "Jackets", "count": 3}, {"category": "Coats", "count": 1},
            {"category": "Kicks", "count": 1}, {"category": "Pants", "count": 1},
            {"category": "Vests", "count": 1}
        ])
    );
    assert_eq!(
        counts("/categories?min_price=60&max_price=100").await,
        json!([
            {"category": "Kicks", "count": 2}, {"category": "Accessories", "count": 1},
            {"category": "Pants", "count": 1}, {"category": "Vests", "count": 1}
        ])
    );
    assert_eq!(
        counts("/categories?q=jacket&max_price=110").await,
        json!([
            {"category": "Jackets", "count": 1}, {"category": "Kicks", "count": 1},
            {"category": "Pants", "count": 1}, {"category": "Vests", "count": 1}
        ])
    );
    assert_eq!(
        counts("/categories?category=Kicks&category=Coats").await,
        json!([{"category": "Kicks", "count": 2}, {"category": "Coats", "count": 1}])
    );
    assert_eq!(counts("/categories?q=zzqxv").await, json!([]));
}

/// A catalog larger than the sample category counts read (9,003 products
/// against 8,192): 9,000 tees, half Shirts and half Tops, and 3 zebra caps.
const LARGE_CATALOG: &str = "
INSERT INTO product (id, name, slogan, description, category, default_price)
  SELECT g, 'Plain Tee ' || g, 'Soft', 'Cotton.',
         CASE WHEN g % 2 = 0 THEN 'Shirts' ELSE 'Tops' END, 20
    FROM generate_series(1, 9000) g;
INSERT INTO product (id, name, slogan, description, category, default_price) VALUES
  (9001, 'Zebra Cap', 'Stripes', 'A cap.', 'Hats', 30),
  (9002, 'Zebra Cap Two', 'Stripes', 'A cap.', 'Hats', 30),
  (9003, 'Zebra Visor', 'Stripes', 'A visor.', 'Hats', 30);
";

#[derive(QueryableByName)]
struct Sampled {
    #[diesel(sql_type = diesel::sql_types::Text)]
    category: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    tees: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    sampled: i64,
}

#[rocket::async_test]
async fn counts_of_a_common_query_in_a_large_catalog_are_estimated_from_a_sample() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    conn.batch_execute(LARGE_CATALOG).unwrap();
    let client = common::client(&db).await;
    let counts = |uri: &'static str| {
        let client = &client;
        async move {
            let response = client.get(uri).dispatch().await;
            assert_eq!(response.status(), Status::Ok);
            let estimated = response
                .headers()
                .get_one("X-Counts-Estimated")
                .map(str::to_string);
            let body: Value = serde_json::from_str(&response.into_string().await.unwrap()).unwrap();
            (body, estimated)
        }
    };
    // Without q, and for a rare word, counted.
    assert_eq!(
        counts("/categories").await,
        (
            json!([{"category": "Shirts", "count": 4500}, {"category": "Tops", "count": 4500},
                   {"category": "Hats", "count": 3}]),
            None
        )
    );
    assert_eq!(
        counts("/categories?q=zebra").await,
        (json!([{"category": "Hats", "count": 3}]), None)
    );
    // For a common one, each category's share of the same blocks of the
    // table every time, scaled to the catalog.
    let sample: Vec<Sampled> = diesel::sql_query(
        "SELECT category, count(*) FILTER (WHERE product_id <= 9000) AS tees, count(*) AS sampled
           FROM search.products TABLESAMPLE SYSTEM (100.0 * 8192 / 9003) REPEATABLE (0)
          GROUP BY category",
    )
    .load(&mut conn)
    .unwrap();
    let in_sample: i64 = sample.iter().map(|s| s.sampled).sum();
    assert!(in_sample < 9003, "the sample is not the whole catalog");
    let mut expected: Vec<(i64, String)> = sample
        .iter()
        .filter(|s| s.tees > 0)
        .map(|s| {
            let estimate = (s.tees as f64 * 9003.0 / in_sample as f64).round() as i64;
            (estimate, s.category.clone())
        })
        .collect();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let expected: Vec<Value> = expected
        .into_iter()
        .map(|(count, category)| json!({"category": category, "count": count}))
        .collect();
    let (body, estimated) = counts("/categories?q=tee").await;
    assert_eq!(
        (body.clone(), estimated),
        (Value::from(expected), Some("true".to_string()))
    );
    // And near the truth: 4,500 each.
    for entry in body.as_array().unwrap() {
        let count = entry["count"].as_i64().unwrap();
        assert!((4000..=5000).contains(&count), "{entry}");
    }
}

#[rocket::async_test]
async fn nothing_found_is_an_empty_list() {
    let db = catalog();
    let client = common::client(&db).await;
    for uri in [
        "/products?q=zzqxv",
        "/products?q=jacket&category=Socks",
        "/products?q=sunglasses&min_price=70",
        "/products?category=Socks",
        "/products?min_price=1000",
        "/products?min_price=99.50&max_price=99.60",
        // Only stop words.
        "/products?q=the%20and",
    ] {
        let answer = get(&client, uri).await;
        assert_eq!(
            (answer.body.as_str(), answer.corrected),
            ("[]", None),
            "{uri}"
        );
    }
    let empty = TestDb::migrated();
    let client = common::client(&empty).await;
    assert_eq!(get(&client, "/products?q=jacket").await.body, "[]");
    assert_eq!(get(&client, "/categories").await.body, "[]");
}

#[rocket::async_test]
async fn pages_of_a_search() {
    let db = catalog();
    let client = common::client(&db).await;
    let page = |n: u32| format!("/products?q=jacket&count=2&page={n}");
    assert_eq!(get(&client, &page(1)).await.ids(), [1, 12]);
    assert_eq!(get(&client, &page(2)).await.ids(), [7, 9]);
    assert_eq!(get(&client, &page(4)).await.ids(), [6]);
    assert_eq!(get(&client, &page(5)).await.ids(), Vec::<i64>::new());
    // A search has at most 10,000 results: a page past them is empty.
    assert_eq!(
        get(&client, "/products?category=Kicks&count=5&page=2001")
            .await
            .ids(),
        Vec::<i64>::new()
    );
    assert_eq!(
        get(
            &client,
            "/products?category=Kicks&page=99999999999999999999"
        )
        .await
        .ids(),
        Vec::<i64>::new()
    );
    assert_eq!(
        get(&client, "/products?q=jacket&page=0").await.refusal(),
        "page must be an integer >= 1, got \"0\""
    );
}

#[rocket::async_test]
async fn every_refusal_is_a_400_with_a_sentence() {
    let db = catalog();
    let client = common::client(&db).await;
    let long = "a".repeat(201);
    let many = "word ".repeat(17);
    let categories = "category=c&".repeat(21);
    let cases: Vec<(String, String)> = vec![
        ("/products?q=".into(), "q must not be empty".into()),
        (
            format!("/products?q={long}"),
            "q must be at most 200 characters, got 201".into(),
        ),
        (
            "/categories?category=a%00b".into(),
            "category must not contain a NUL character".into(),
        ),
        (
            "/products?q=a&q=b".into(),
            "q must be given at most once, got it 2 times".into(),
        ),
        (
            "/products?q=%21%21%21".into(),
            "q must hold a word to search for (letters or digits), got \"!!!\"".into(),
        ),
        (
            "/products?q=-camo".into(),
            "q must hold a word to search for, not only words to exclude, got \"-camo\"".into(),
        ),
        (
            format!("/products?q={}", enc(&many)),
            "q may hold at most 16 words, got 17".into(),
        ),
        (
            "/products?min_price=abc".into(),
            "min_price must be a price such as 140 or 140.00 (at most 9 digits before the \
             point and 2 after), got \"abc\""
                .into(),
        ),
        (
            "/products?max_price=1.234".into(),
            "max_price must be a price such as 140 or 140.00 (at most 9 digits before the \
             point and 2 after), got \"1.234\""
                .into(),
        ),
        (
            "/products?max_price=-1".into(),
            "max_price must be a price such as 140 or 140.00 (at most 9 digits before the \
             point and 2 after), got \"-1\""
                .into(),
        ),
        (
            "/products?min_price=1234567890".into(),
            "min_price must be a price such as 140 or 140.00 (at most 9 digits before the \
             point and 2 after), got \"1234567890\""
                .into(),
        ),
        (
            "/products?min_price=100&max_price=99.99".into(),
            "min_price must not be over max_price, got 100 and 99.99".into(),
        ),
        (
            "/products?min_price=1&min_price=2".into(),
            "min_price must be given at most once, got it 2 times".into(),
        ),
        (
            format!("/products?{categories}"),
            "category may be given at most 20 times, got it 21 times".into(),
        ),
        (
            "/products?category=".into(),
            "category must not be empty".into(),
        ),
        (
            format!("/products?category={long}"),
            "category must be at most 200 characters, got 201".into(),
        ),
        (
            "/products?q=camo&count=0".into(),
            "count must be an integer from 1 to 1000, got \"0\"".into(),
        ),
        ("/categories?q=".into(), "q must not be empty".into()),
        (
            "/categories?min_price=5&max_price=4".into(),
            "min_price must not be over max_price, got 5 and 4".into(),
        ),
        (
            "/categories?max_price=x".into(),
            "max_price must be a price such as 140 or 140.00 (at most 9 digits before the \
             point and 2 after), got \"x\""
                .into(),
        ),
    ];
    for (uri, sentence) in cases {
        assert_eq!(get(&client, &uri).await.refusal(), sentence, "{uri}");
    }
    // Refused before any connection is held: with no database at all.
    let client = common::client_with("postgres://atelier:atelier@127.0.0.1:1/atelier", &[]).await;
    assert_eq!(
        get(&client, "/products?q=").await.refusal(),
        "q must not be empty"
    );
}

#[rocket::async_test]
async fn without_search_parameters_the_list_is_what_it_was() {
    let db = catalog();
    let client = common::client(&db).await;
    let plain = get(&client, "/products?page=1&count=3").await;
    assert_eq!(plain.ids(), [1, 2, 3]);
    // Other parameters are ignored as before, and share the answer.
    assert_eq!(
        get(&client, "/products?x=jacket").await.ids(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(plain.corrected, None);
}

#[rocket::async_test]
async fn spellings_of_one_search_share_one_cached_answer() {
    let db = catalog();
    // The catalog watcher is off: only the cache can answer an old answer.
    let client = common::client(&db).await;
    let first = get(&client, "/products?q=jacket").await;
    let by_category = get(&client, "/products?category=Pants&category=Kicks").await;
    db.connect()
        .batch_execute("UPDATE product SET name = 'Camo Coat' WHERE id = 1")
        .unwrap();
    for uri in [
        "/products?q=%20JACKET%20%20",
        "/products?q=Jacket!&page=1",
        "/products?count=5&q=jacket",
    ] {
        assert_eq!(get(&client, uri).await.body, first.body, "{uri}");
    }
    assert_eq!(
        get(
            &client,
            "/products?category=Kicks&category=Pants&category=Kicks"
        )
        .await
        .body,
        by_category.body
    );
    // Another search is read afresh.
    assert_eq!(found(&client, "coat").await, [1, 9]);
}

#[rocket::async_test]
async fn a_change_to_a_product_shows_in_searches_within_a_poll() {
    let db = catalog();
    let client = common::client_with(&db.url, &[("catalog_poll_ms", json!(100))]).await;
    assert_eq!(get(&client, "/products?q=parka").await.ids(), [7]);
    let counted = get(&client, "/categories?q=parka").await.body;
    db.connect()
        .batch_execute("UPDATE product SET name = 'Camo Parka', category = 'Coats' WHERE id = 1")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&client, "/products?q=parka").await.ids() != [1, 7] {
        assert!(Instant::now() < deadline, "the change never showed");
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(get(&client, "/categories?q=parka").await.body, counted);
}

#[rocket::async_test]
async fn triggers_keep_the_index_current() {
    let db = catalog();
    let client = common::client_with(&db.url, &[("cache_enabled", json!(false))]).await;
    let mut conn = db.connect();
    conn.batch_execute(
        "INSERT INTO features (id, product_id, feature, value) VALUES (20, 13, 'Pocket', 'Kangaroo')",
    )
    .unwrap();
    assert_eq!(found(&client, "kangaroo").await, [13]);
    conn.batch_execute("UPDATE features SET product_id = 8 WHERE id = 20")
        .unwrap();
    assert_eq!(found(&client, "kangaroo").await, [8]);
    conn.batch_execute("DELETE FROM features WHERE id = 20")
        .unwrap();
    assert_eq!(found(&client, "kangaroo").await, Vec::<i64>::new());
    // A new product, with a word the catalog did not have: it can be
    // corrected to at once.
    conn.batch_execute(
        "INSERT INTO product (id, name, slogan, description, category, default_price)
         VALUES (30, 'Zephyr Windbreaker', 'Light', 'Light.', 'Jackets', 80)",
    )
    .unwrap();
    let answer = get(&client, "/products?q=windbraker").await;
    assert_eq!(answer.corrected.as_deref(), Some("windbreaker"));
    assert_eq!(answer.ids(), [30]);
    // Prices and categories: the counts follow.
    conn.batch_execute("UPDATE product SET default_price = 500, category = 'Coats' WHERE id = 30")
        .unwrap();
    assert_eq!(
        get(&client, "/categories?min_price=500").await.json(),
        json!([{"category": "Coats", "count": 1}])
    );
    conn.batch_execute("DELETE FROM product WHERE id IN (2, 30)")
        .unwrap();
    assert_eq!(found(&client, "sunglasses").await, Vec::<i64>::new());
    assert_eq!(
        get(&client, "/categories?min_price=500").await.json(),
        json!([])
    );
    let categories = get(&client, "/categories").await.json();
    assert!(
        !categories.to_string().contains("Accessories"),
        "{categories}"
    );
}

#[rocket::async_test]
async fn refresh_rebuilds_what_was_loaded_without_the_triggers() {
    let db = catalog();
    let mut conn = db.connect();
    conn.batch_execute(
        "ALTER TABLE product DISABLE TRIGGER product_search;
         ALTER TABLE features DISABLE TRIGGER features_search;
         INSERT INTO product (id, name, slogan, description, category, default_price)
         VALUES (30, 'Zephyr Windbreaker', 'Light', 'Light.', 'Jackets', 80);
         UPDATE features SET value = 'Wool' WHERE id = 14;
         ALTER TABLE product ENABLE TRIGGER product_search;
         ALTER TABLE features ENABLE TRIGGER features_search;
         DELETE FROM product WHERE id = 13;",
    )
    .unwrap();
    // The watcher polls, so a refresh's new answers replace cached ones.
    let client = common::client_with(&db.url, &[("catalog_poll_ms", json!(100))]).await;
    assert_eq!(found(&client, "zephyr").await, Vec::<i64>::new());
    let words = |conn: &mut PgConnection| {
        diesel::sql_query(
            "SELECT word AS line FROM search.words WHERE word IN ('naive', 'zephyr') ORDER BY 1",
        )
        .load::<Line>(conn)
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
    };
    assert_eq!(words(&mut conn), ["naive"]);
    let report = atelier::catalog::search::build::refresh(&mut conn).unwrap();
    assert_eq!(report.products, 12);
    let deadline = Instant::now() + Duration::from_secs(10);
    while found(&client, "zephyr").await != [30] {
        assert!(
            Instant::now() < deadline,
            "the refreshed index never showed"
        );
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(words(&mut conn), ["zephyr"]);
    assert_eq!(
        get(&client, "/categories?category=Jackets").await.json(),
        json!([{"category": "Jackets", "count": 4}])
    );
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

#[rocket::async_test]
async fn an_import_builds_the_index_and_swaps_it_in() {
    let db = catalog();
    let migrated = common::schema_signature(&mut db.connect(), "search");
    let dir = common::Scratch::with_defects("search-import");
    atelier::import::run(
        &db.url,
        &atelier::import::ImportOptions {
            dir: dir.0.clone(),
            rejects: dir.0.join("rejects.csv"),
            max_reject_percent: 100.0,
            progress: atelier::import::ProgressMode::Quiet,
            gentle: false,
            replicas: Vec::new(),
        },
    )
    .unwrap();
    let mut conn = db.connect();
    assert_eq!(common::schema_signature(&mut conn, "search"), migrated);
    let client = common::client(&db).await;
    // The dump's products, not the catalog the import replaced.
    assert_eq!(found(&client, "onesie").await, [1]);
    assert_eq!(found(&client, "ultrasheen").await, [2]);
    assert_eq!(found(&client, "parka").await, Vec::<i64>::new());
    let categories = get(&client, "/categories").await.json();
    let total: i64 = categories
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_i64().unwrap())
        .sum();
    let products: i64 = atelier::catalog::schema::product::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(total, products);
    // The triggers came with the tables.
    conn.batch_execute("UPDATE product SET name = 'Camo Windbreaker' WHERE id = 1")
        .unwrap();
    let client = common::client(&db).await;
    assert_eq!(found(&client, "windbreaker").await, [1]);
}

#[rocket::async_test]
async fn categories_answers_head_and_options_and_refuses_other_methods() {
    let db = catalog();
    let client = common::client(&db).await;
    let head = client.head("/categories").dispatch().await;
    assert_eq!(head.status(), Status::Ok);
    let options = client.options("/categories").dispatch().await;
    assert_eq!(options.status(), Status::NoContent);
    assert_eq!(
        options.headers().get_one("Allow"),
        Some("GET, HEAD, OPTIONS")
    );
    let post = client.post("/categories").dispatch().await;
    assert_eq!(post.status(), Status::MethodNotAllowed);
}

#[rocket::async_test]
async fn scripts_of_another_origin_may_read_the_correction() {
    let db = catalog();
    let client = common::client(&db).await;
    let origin = Header::new("Origin", "https://shop.example");
    let corrected = client
        .get("/products?q=jaket")
        .header(origin.clone())
        .dispatch()
        .await;
    assert_eq!(
        corrected.headers().get_one("Access-Control-Expose-Headers"),
        Some("ETag, X-Request-Id, X-Search-Corrected, X-Counts-Estimated")
    );
    let plain = client
        .get("/products?q=jacket")
        .header(origin)
        .dispatch()
        .await;
    assert_eq!(
        plain.headers().get_one("Access-Control-Expose-Headers"),
        Some("ETag, X-Request-Id")
    );
}
