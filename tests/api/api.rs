//! The four endpoints through the real Rocket application on a real
//! PostgreSQL database holding the fixture catalog: exact JSON, orderings,
//! empty cases, pagination and every error of the contract.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::common::fixtures::{CREATED, UPDATED};
use crate::common::TestDb;
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

/// Status and parsed body of `GET uri`, checking the content type on the way.
async fn get(client: &Client, uri: &str) -> (Status, Value) {
    let response = client.get(uri).dispatch().await;
    let status = response.status();
    assert_eq!(
        response.content_type(),
        Some(ContentType::new("application", "json").with_params(("charset", "utf-8"))),
        "content type of {uri}"
    );
    let body = response.into_string().await.unwrap_or_default();
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: {e}: {body}"));
    (status, value)
}

fn product_json(id: i32, name: &str, category: &str, price: &str) -> Value {
    json!({
        "id": id,
        "campus": "hr-lax",
        "name": name,
        "slogan": format!("Slogan of {name}"),
        "description": format!("The {name}, described."),
        "category": category,
        "default_price": price,
        "created_at": CREATED,
        "updated_at": UPDATED,
    })
}

fn camo_onesie() -> Value {
    json!({
        "id": 1,
        "campus": "hr-lax",
        "name": "Camo Onesie",
        "slogan": "Blend in to your crowd",
        "description": "The So Fatigues will wake you up and fit you in. This high energy camo will have you blending in to even the wildest surroundings.",
        "category": "Jackets",
        "default_price": "140.00",
        "created_at": "2021-08-13T14:39:39.968Z",
        "updated_at": "2022-01-02T03:04:05.120Z",
    })
}

fn slackers_slacks() -> Value {
    json!({
        "id": 4,
        "campus": "hr-lax",
        "name": "Slacker's Slacks",
        "slogan": "Slogan of Slacker's Slacks",
        "description": "I'll tell you how \"great\" they are,  after I nap.",
        "category": "Pants",
        "default_price": "65.00",
        "created_at": CREATED,
        "updated_at": UPDATED,
    })
}

fn photo(id: i32) -> Value {
    json!({
        "thumbnail_url": format!("https://images.example.com/{id}?fit=crop&w=300&q=80"),
        "url": format!("https://images.example.com/{id}?fit=crop&w=668&q=80"),
    })
}

fn error(message: &str) -> Value {
    json!({ "error": message })
}

#[rocket::async_test]
async fn product_list_first_page_by_default() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let (status, body) = get(&client, "/products").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(
        body,
        json!([
            camo_onesie(),
            product_json(2, "Bright Future Sunglasses", "Accessories", "69.00"),
            product_json(3, "Morning Joggers", "Pants", "40.00"),
            slackers_slacks(),
            product_json(5, "Heir Force Ones", "Kicks", "99.00"),
        ])
    );
}

#[rocket::async_test]
async fn product_list_pages() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let ids = |body: Value| -> Vec<i64> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect()
    };
    // Ids with a gap (6, 8-10 missing); inserted out of order.
    let cases: [(&str, &[i64]); 9] = [
        ("/products?page=1", &[1, 2, 3, 4, 5]),
        ("/products?page=2", &[7, 11]),
        ("/products?page=3", &[]),
        ("/products?count=3&page=3", &[11]),
        ("/products?count=2&page=2", &[3, 4]),
        ("/products?count=1000", &[1, 2, 3, 4, 5, 7, 11]),
        ("/products?count=1&page=7", &[11]),
        ("/products?page=99999999999999999999999999", &[]),
        ("/products?page=9223372036854775807&count=1000", &[]),
    ];
    for (uri, expected) in cases {
        let (status, body) = get(&client, uri).await;
        assert_eq!(status, Status::Ok, "{uri}");
        assert_eq!(ids(body), expected, "{uri}");
    }
    let (_, body) = get(&client, "/products?page=4&count=2").await;
    assert_eq!(
        body,
        json!([product_json(11, "Many Styles", "Kicks", "99.00")])
    );
    let (_, body) = get(&client, "/products?page=6&count=1").await;
    assert_eq!(
        body,
        json!([product_json(
            7,
            "Infinity Stone",
            "Accessories",
            "500000000.00"
        )])
    );
}

#[rocket::async_test]
async fn product_with_features_in_id_order() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let (status, body) = get(&client, "/products/1").await;
    assert_eq!(status, Status::Ok);
    let mut expected = camo_onesie();
    expected["features"] = json!([
        {"feature": "Fabric", "value": "Canvas"},
        {"feature": "Buttons", "value": "Brass"},
    ]);
    assert_eq!(body, expected);
}

#[rocket::async_test]
async fn product_with_null_and_duplicate_features() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let (status, body) = get(&client, "/products/2").await;
    assert_eq!(status, Status::Ok);
    let mut expected = product_json(2, "Bright Future Sunglasses", "Accessories", "69.00");
    expected["features"] = json!([
        {"feature": "Lenses", "value": "Ultrasheen"},
        {"feature": "UV Protection", "value": null},
        {"feature": "Frames", "value": "LightCompose"},
        {"feature": "Frames", "value": "LightCompose"},
    ]);
    assert_eq!(body, expected);
}

#[rocket::async_test]
async fn product_without_features() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let (status, body) = get(&client, "/products/3").await;
    assert_eq!(status, Status::Ok);
    let mut expected = product_json(3, "Morning Joggers", "Pants", "40.00");
    expected["features"] = json!([]);
    assert_eq!(body, expected);
}

#[rocket::async_test]
async fn product_fields_come_in_contract_order() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let body = client
        .get("/products/3")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert_eq!(
        body,
        format!(
            "{{\"id\":3,\"campus\":\"hr-lax\",\"name\":\"Morning Joggers\",\
             \"slogan\":\"Slogan of Morning Joggers\",\
             \"description\":\"The Morning Joggers, described.\",\"category\":\"Pants\",\
             \"default_price\":\"40.00\",\"created_at\":\"{CREATED}\",\
             \"updated_at\":\"{UPDATED}\",\"features\":[]}}"
        )
    );
}

#[rocket::async_test]
async fn styles_with_photos_and_skus() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let (status, body) = get(&client, "/products/1/styles").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(
        body,
        json!({
            "product_id": "1",
            "results": [
                {
                    "style_id": 1,
                    "name": "Forest Green & Black",
                    "original_price": "140.00",
                    "sale_price": null,
                    "default?": true,
                    "photos": [photo(4), photo(9)],
                    "skus": {
                        "2": {"quantity": 16, "size": "S"},
                        "6": {"quantity": 4, "size": "XL"},
                        "7": {"quantity": 15, "size": "XL"},
                        "10": {"quantity": 8, "size": "XS"},
                    }
                },
                {
                    "style_id": 2,
                    "name": "Desert Brown & Tan",
                    "original_price": "140.00",
                    "sale_price": null,
                    "default?": false,
                    "photos": [photo(5)],
                    "skus": {"11": {"quantity": 0, "size": "M"}}
                },
                {
                    "style_id": 3,
                    "name": "Ocean Blue & Grey",
                    "original_price": "140.00",
                    "sale_price": "100.00",
                    "default?": false,
                    "photos": [{"thumbnail_url": null, "url": null}],
                    "skus": {"null": {"quantity": null, "size": null}}
                }
            ]
        })
    );
}

#[rocket::async_test]
async fn styles_keep_key_and_field_order() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let response = client.get("/products/1/styles").dispatch().await;
    let body = response.into_string().await.unwrap();
    // serde_json::Value would sort keys; the raw text must keep sku ids in
    // numeric order and photo fields thumbnail_url first.
    let skus = r#""skus":{"2":{"quantity":16,"size":"S"},"6":{"quantity":4,"size":"XL"},"7":{"quantity":15,"size":"XL"},"10":{"quantity":8,"size":"XS"}}"#;
    assert!(body.contains(skus), "{body}");
    assert!(body.starts_with(r#"{"product_id":"1","results":[{"style_id":1,"name":"Forest Green & Black","original_price":"140.00","sale_price":null,"default?":true,"photos":[{"thumbnail_url":"#), "{body}");
}

/// Text with quotes, backslashes, control characters and non-ASCII in a
/// style, its photos and its skus comes out byte for byte as serde_json
/// writes it, after its trip through the styles query's arrays.
#[rocket::async_test]
async fn styles_text_comes_out_exactly() {
    use common::fixtures::{insert_odd_text_product, ODD_TEXT as odd};

    let db = TestDb::with_fixtures();
    insert_odd_text_product(&mut db.connect());
    let client = common::client(&db).await;
    let response = client.get("/products/20/styles").dispatch().await;
    let body = response.into_string().await.unwrap();
    let text = |s: &str| serde_json::to_string(s).unwrap();
    let expected = format!(
        r#"{{"product_id":"20","results":[{{"style_id":900,"name":{odd},"original_price":"10.00","sale_price":null,"default?":true,"photos":[{{"thumbnail_url":{odd},"url":{url}}}],"skus":{{"9000":{{"quantity":3,"size":{odd}}}}}}}]}}"#,
        odd = text(odd),
        url = text(&format!("https://x.example/{odd}")),
    );
    assert_eq!(body, expected);
}

#[rocket::async_test]
async fn styles_with_no_default_and_with_two_defaults() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let (_, body) = get(&client, "/products/4/styles").await;
    assert_eq!(
        body,
        json!({
            "product_id": "4",
            "results": [
                {"style_id": 20, "name": "Black", "original_price": "65.00", "sale_price": null,
                 "default?": false, "photos": [photo(13)], "skus": {"null": {"quantity": null, "size": null}}},
                {"style_id": 21, "name": "Olive Green", "original_price": "65.00", "sale_price": "50.00",
                 "default?": false, "photos": [{"thumbnail_url": null, "url": null}], "skus": {"14": {"quantity": 2, "size": "M"}}},
            ]
        })
    );
    let (_, body) = get(&client, "/products/5/styles").await;
    assert_eq!(
        body,
        json!({
            "product_id": "5",
            "results": [
                {"style_id": 30, "name": "White & White", "original_price": "99.00", "sale_price": null,
                 "default?": true, "photos": [{"thumbnail_url": null, "url": null}], "skus": {"null": {"quantity": null, "size": null}}},
                {"style_id": 31, "name": "White & Red", "original_price": "99.00", "sale_price": "80.00",
                 "default?": true, "photos": [{"thumbnail_url": null, "url": null}], "skus": {"null": {"quantity": null, "size": null}}},
            ]
        })
    );
}

#[rocket::async_test]
async fn styles_of_a_product_without_styles() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let (status, body) = get(&client, "/products/3/styles").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body, json!({"product_id": "3", "results": []}));
}

#[rocket::async_test]
async fn styles_with_the_largest_price() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let (_, body) = get(&client, "/products/7/styles").await;
    assert_eq!(
        body,
        json!({"product_id": "7", "results": [
            {"style_id": 40, "name": "Reality", "original_price": "500000000.00", "sale_price": null,
             "default?": true, "photos": [{"thumbnail_url": null, "url": null}], "skus": {"null": {"quantity": null, "size": null}}}
        ]})
    );
}

#[rocket::async_test]
async fn styles_of_many_styles_are_grouped_to_their_style() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let (_, body) = get(&client, "/products/11/styles").await;
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 12);
    for (n, style) in results.iter().enumerate() {
        let n = n as i32;
        let id = 3000 + 3 * n;
        assert_eq!(
            style,
            &json!({
                "style_id": 1000 + n,
                "name": format!("Colour {n}"),
                "original_price": "99.00",
                "sale_price": null,
                "default?": n == 0,
                "photos": [photo(2000 + 2 * n), photo(2000 + 2 * n + 1)],
                "skus": {
                    id.to_string(): {"quantity": n, "size": "S"},
                    (id + 1).to_string(): {"quantity": n, "size": "M"},
                    (id + 2).to_string(): {"quantity": n, "size": "L"},
                }
            })
        );
    }
}

#[rocket::async_test]
async fn related_in_row_order_with_duplicates_and_self_references() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let (status, body) = get(&client, "/products/1/related").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body, json!([3, 1, 3, 2]));
    let (_, body) = get(&client, "/products/2/related").await;
    assert_eq!(body, json!([1]));
}

#[rocket::async_test]
async fn related_of_a_product_without_related_rows() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let (status, body) = get(&client, "/products/3/related").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body, json!([]));
}

#[rocket::async_test]
async fn campus_is_configurable() {
    let db = TestDb::with_fixtures();
    let client = common::client_with(&db.url, &[("campus", json!("hr-rfp"))]).await;
    let (_, body) = get(&client, "/products/3").await;
    assert_eq!(body["campus"], json!("hr-rfp"));
}

#[rocket::async_test]
async fn unknown_products_are_404() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    for suffix in ["", "/styles", "/related"] {
        let uri = format!("/products/42{suffix}");
        let (status, body) = get(&client, &uri).await;
        assert_eq!(status, Status::NotFound, "{uri}");
        assert_eq!(body, error("product 42 does not exist"), "{uri}");
    }
    // The largest valid id is still a lookup, not a parse error.
    let (status, _) = get(&client, "/products/2147483647").await;
    assert_eq!(status, Status::NotFound);
}

#[rocket::async_test]
async fn invalid_product_ids_are_400() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    for id in [
        "abc",
        "-3",
        "0",
        "99999999999",
        "2147483648",
        "1.5",
        "%2B1",
        "1e3",
        "%20",
    ] {
        for suffix in ["", "/styles", "/related"] {
            let uri = format!("/products/{id}{suffix}");
            let (status, body) = get(&client, &uri).await;
            assert_eq!(status, Status::BadRequest, "{uri}");
            let message = body["error"].as_str().unwrap();
            assert!(
                message.starts_with("product id must be a positive 32-bit integer, got "),
                "{uri}: {message}"
            );
        }
    }
    let (_, body) = get(&client, "/products/abc").await;
    assert_eq!(
        body,
        error("product id must be a positive 32-bit integer, got \"abc\"")
    );
}

#[rocket::async_test]
async fn invalid_pages_are_400() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let cases = [
        (
            "/products?page=abc",
            "page must be an integer >= 1, got \"abc\"",
        ),
        (
            "/products?page=-1",
            "page must be an integer >= 1, got \"-1\"",
        ),
        (
            "/products?page=0",
            "page must be an integer >= 1, got \"0\"",
        ),
        (
            "/products?page=00",
            "page must be an integer >= 1, got \"00\"",
        ),
        (
            "/products?page=1.5",
            "page must be an integer >= 1, got \"1.5\"",
        ),
        ("/products?page=", "page must be an integer >= 1, got \"\""),
        (
            "/products?count=0",
            "count must be an integer from 1 to 1000, got \"0\"",
        ),
        (
            "/products?count=5000",
            "count must be an integer from 1 to 1000, got \"5000\"",
        ),
        (
            "/products?count=1001",
            "count must be an integer from 1 to 1000, got \"1001\"",
        ),
        (
            "/products?count=-5",
            "count must be an integer from 1 to 1000, got \"-5\"",
        ),
        (
            "/products?count=%2B5",
            "count must be an integer from 1 to 1000, got \"+5\"",
        ),
        (
            "/products?count=ten&page=1",
            "count must be an integer from 1 to 1000, got \"ten\"",
        ),
        (
            "/products?page=null&page=null",
            "page must be given at most once, got it 2 times",
        ),
        (
            "/products?page=1&count=5&count=6",
            "count must be given at most once, got it 2 times",
        ),
    ];
    for (uri, message) in cases {
        let (status, body) = get(&client, uri).await;
        assert_eq!(status, Status::BadRequest, "{uri}");
        assert_eq!(body, error(message), "{uri}");
    }
}

#[rocket::async_test]
async fn unknown_paths_and_methods_are_json_errors() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let (status, body) = get(&client, "/nope").await;
    assert_eq!(status, Status::NotFound);
    assert_eq!(
        body,
        error("no resource at /nope: the API serves /products, /products/:id, /products/:id/styles and /products/:id/related")
    );
    let (status, _) = get(&client, "/products/1/styles/extra").await;
    assert_eq!(status, Status::NotFound);

    // Other methods on an unknown path are 404 too.
    let response = client.post("/nope").dispatch().await;
    assert_eq!(response.status(), Status::NotFound);
}

#[rocket::async_test]
async fn other_methods_on_known_paths_are_405_with_allow() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    for uri in [
        "/products",
        "/products?page=2",
        "/products/1",
        "/products/1/styles",
        "/products/abc/related",
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
    ] {
        for request in [
            client.post(uri),
            client.put(uri),
            client.delete(uri),
            client.patch(uri),
        ] {
            let response = request.dispatch().await;
            assert_eq!(response.status(), Status::MethodNotAllowed, "{uri}");
            assert_eq!(
                response.headers().get_one("Allow"),
                Some("GET, HEAD, OPTIONS"),
                "{uri}"
            );
            let body: Value = serde_json::from_str(&response.into_string().await.unwrap()).unwrap();
            assert_eq!(
                body,
                error("this path answers only GET, HEAD, OPTIONS"),
                "{uri}"
            );
        }
    }
}

#[rocket::async_test]
async fn head_answers_like_get_without_a_body() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let response = client.head("/products/1").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.into_string().await.unwrap_or_default(), "");
}
