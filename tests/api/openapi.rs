//! The OpenAPI document against the service: every answer to the fixture
//! catalog (from the rows and from the rendered `/styles` answers), every
//! error, 304 and 503, and every answer and refusal of the admin API, is
//! checked against what `docs/openapi.yaml` documents for its path and
//! status — status, headers, content type and body — using the document
//! as the service itself serves it at `/openapi.json`. The admin API's
//! request schemas are held to the rules the service reads bodies by.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::common::fixtures::{self, insert_odd_text_product};
use crate::common::TestDb;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Map, Value};

/// The contract's content type, which every answer with a body carries.
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Rewrites the OpenAPI 3.0 dialect into JSON Schema (draft 7), for a
/// validator that knows only JSON Schema:
/// - `nullable: true` is OpenAPI's own keyword (JSON Schema ignores it, so
///   every `null` would be rejected by `type`): `type: T` becomes
///   `type: [T, "null"]`, an `enum` gains `null` unless it lists it already
///   (as `enum: [null]`, how OpenAPI 3.0.3 writes "only null"), and a schema
///   with no `type` becomes `anyOf: [schema, {type: null}]`;
/// - `x-propertyNames`, the document's stand-in for `propertyNames` (which
///   OpenAPI 3.0 lacks), becomes `propertyNames`, so sku keys are checked too.
///
/// It walks every value, examples included: no example of the document holds
/// a `nullable: true` or an `x-propertyNames`, and walking only the schema
/// keywords would silently miss one added in a new place.
fn to_json_schema(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(to_json_schema).collect()),
        Value::Object(object) => {
            let mut schema: Map<String, Value> = object
                .into_iter()
                .map(|(key, value)| {
                    let key = if key == "x-propertyNames" {
                        "propertyNames".to_string()
                    } else {
                        key
                    };
                    (key, to_json_schema(value))
                })
                .collect();
            match schema.remove("nullable") {
                Some(Value::Bool(true)) => {}
                Some(other) => {
                    // `nullable: false`, the default: nothing to add.
                    assert_eq!(other, Value::Bool(false), "nullable must be a boolean");
                    return Value::Object(schema);
                }
                None => return Value::Object(schema),
            }
            if let Some(Value::Array(values)) = schema.get_mut("enum") {
                if !values.contains(&Value::Null) {
                    values.push(Value::Null);
                }
            }
            match schema.remove("type") {
                Some(Value::String(t)) => {
                    schema.insert("type".into(), json!([t, "null"]));
                    Value::Object(schema)
                }
                Some(other) => panic!("an OpenAPI 3.0 `type` is one string, got {other}"),
                None => json!({"anyOf": [schema, {"type": "null"}]}),
            }
        }
        scalar => scalar,
    }
}

/// The served document, and its schemas as JSON Schema.
struct Contract {
    document: Value,
    schemas: Value,
}

/// What one request is expected to answer.
struct Expect<'a> {
    uri: &'a str,
    /// The documented path the URI is an instance of; `None` for a URI that
    /// no path matches (the document's `NotFound` response).
    path: Option<&'a str>,
    status: Status,
    if_none_match: Option<&'a str>,
    /// The method, lower case as the document keys it.
    method: &'a str,
    /// Sent as they are, after the headers above.
    headers: Vec<Header<'static>>,
    /// Sent as JSON, unless `headers` name another content type.
    body: Option<String>,
}

impl<'a> Expect<'a> {
    fn get(uri: &'a str, path: Option<&'a str>, status: Status) -> Self {
        Expect {
            uri,
            path,
            status,
            if_none_match: None,
            method: "get",
            headers: Vec::new(),
            body: None,
        }
    }

    /// `method uri` of the admin API with `authorization` (none: no
    /// header) and `body`.
    fn admin(
        method: &'a str,
        uri: &'a str,
        authorization: Option<&str>,
        body: Option<&str>,
        status: Status,
    ) -> Self {
        Expect {
            method,
            headers: authorization
                .map(|value| Header::new("Authorization", value.to_string()))
                .into_iter()
                .collect(),
            body: body.map(str::to_string),
            ..Expect::get(uri, Some(admin_path(uri)), status)
        }
    }
}

/// A documented answer, as the checks saw it.
struct Checked {
    body: Option<Value>,
    etag: Option<String>,
    headers: Vec<(String, String)>,
}

impl Checked {
    fn header(&self, name: &str) -> Option<&str> {
        common::http::find_header(&self.headers, name)
    }
}

impl Contract {
    /// Reads the document from the service: this also checks the route.
    async fn fetch(client: &Client) -> Contract {
        let response = client.get("/openapi.json").dispatch().await;
        assert_eq!(response.status(), Status::Ok);
        assert_eq!(
            response.headers().get_one("Content-Type"),
            Some(CONTENT_TYPE)
        );
        let document: Value = serde_json::from_str(&response.into_string().await.unwrap()).unwrap();
        let schemas = to_json_schema(document["components"]["schemas"].clone());
        assert!(schemas.is_object(), "the document has no component schemas");
        Contract { document, schemas }
    }

    /// `value`, or what its `$ref` (a pointer into the document) names.
    fn resolve<'d>(&'d self, value: &'d Value) -> &'d Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("only local references are expected: {reference}"));
                self.resolve(
                    self.document
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("dangling reference {reference}")),
                )
            }
            None => value,
        }
    }

    /// The response the document gives for `status` of `METHOD path`, or
    /// the `NotFound` response for a URI no path matches.
    fn response(&self, path: Option<&str>, method: &str, status: Status) -> Result<&Value, String> {
        let response = match path {
            Some(path) => {
                let operation = self.resolve(&self.document["paths"][path][method]);
                if !operation.is_object() && status == Status::MethodNotAllowed {
                    // A method the path does not list.
                    return Ok(
                        self.resolve(&self.document["components"]["responses"]["MethodNotAllowed"])
                    );
                }
                if !operation.is_object() {
                    return Err(format!("the document has no {method} {path}"));
                }
                operation["responses"]
                    .get(status.code.to_string())
                    .ok_or_else(|| format!("{method} {path} does not document {status}"))?
            }
            None => &self.document["components"]["responses"]["NotFound"],
        };
        Ok(self.resolve(response))
    }

    /// A validator for `schema` (an OpenAPI schema object of the document).
    /// The schema is put in a document of its own that also holds the
    /// component schemas, at the same place as in the OpenAPI document, so
    /// its `#/components/schemas/...` references resolve as written; `allOf`
    /// because draft 7 ignores everything beside a `$ref`.
    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let root = json!({
            "allOf": [to_json_schema(schema.clone())],
            "components": {"schemas": self.schemas},
        });
        jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("a schema of the document does not compile: {e}: {root}"))
    }

    /// The errors of `instance` against `schema`, one line each.
    fn errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        self.validator(schema)
            .iter_errors(instance)
            .map(|e| format!("at `{}`: {e}", e.instance_path()))
            .collect()
    }

    /// Sends the request and checks its answer against the document: the
    /// expected status, documented for the path; every documented header
    /// present and valid; the content type; the body valid against the
    /// documented schema (or absent where none is documented). Problems are
    /// added to `failures`, so one run reports all of them.
    async fn check(
        &self,
        client: &Client,
        expect: Expect<'_>,
        failures: &mut Vec<String>,
    ) -> Checked {
        let uri = expect.uri;
        let mut fail = |what: String| failures.push(format!("{uri}: {what}"));
        let method = expect
            .method
            .to_ascii_uppercase()
            .parse::<rocket::http::Method>()
            .unwrap();
        let mut request = client.req(method, uri);
        if let Some(tag) = expect.if_none_match {
            request = request.header(Header::new("If-None-Match", tag.to_string()));
        }
        if let Some(body) = expect.body {
            if !expect
                .headers
                .iter()
                .any(|h| h.name().as_str().eq_ignore_ascii_case("Content-Type"))
            {
                request = request.header(ContentType::JSON);
            }
            request = request.body(body);
        }
        for header in expect.headers {
            request = request.header(header);
        }
        let response = request.dispatch().await;
        let status = response.status();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let text = response.into_string().await.unwrap_or_default();
        let checked = Checked {
            body: serde_json::from_str(&text).ok(),
            etag: header("ETag"),
            headers: headers.clone(),
        };
        if status != expect.status {
            fail(format!(
                "status {status}, expected {}: {text}",
                expect.status
            ));
        }
        let documented = match self.response(expect.path, expect.method, status) {
            Ok(documented) => documented,
            Err(e) => {
                fail(e);
                return checked;
            }
        };

        if let Some(documented_headers) = documented.get("headers").and_then(Value::as_object) {
            for (name, spec) in documented_headers {
                let spec = self.resolve(spec);
                match header(name) {
                    None if spec["required"] == json!(true) => {
                        fail(format!("{status}: no {name} header"))
                    }
                    None => {}
                    Some(value) => {
                        for e in self.errors(&spec["schema"], &Value::String(value.clone())) {
                            fail(format!("{status}: header {name}: {value:?}: {e}"));
                        }
                    }
                }
            }
        }

        let Some(content) = documented.get("content") else {
            if !text.is_empty() {
                fail(format!("{status} documents no body, got {text:?}"));
            }
            return checked;
        };
        match header("Content-Type") {
            Some(content_type) if content_type == CONTENT_TYPE => {}
            other => fail(format!("{status}: content type {other:?}")),
        }
        let Some(media) = content.get("application/json") else {
            fail(format!("{status} documents no application/json body"));
            return checked;
        };
        let Some(body) = &checked.body else {
            fail(format!("{status}: the body is not JSON: {text:?}"));
            return checked;
        };
        for e in self.errors(&media["schema"], body) {
            fail(format!("{status}: {e}; body {text}"));
        }
        checked
    }
}

fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} answers differ from docs/openapi.yaml:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The fixture catalog plus the odd-text product, the `/styles` answers
/// rendered as an import leaves them when `rendered`.
fn catalog(rendered: bool) -> TestDb {
    let db = TestDb::with_fixtures();
    insert_odd_text_product(&mut db.connect());
    if rendered {
        db.render_styles_answers();
    }
    db
}

/// Every page shape and every endpoint of every product of `db`, each
/// also asked again with its ETag for the 304.
async fn check_catalog(db: &TestDb) {
    let client = common::client(db).await;
    let contract = Contract::fetch(&client).await;
    let mut failures = Vec::new();

    let mut ids: Vec<i32> = fixtures::products().iter().map(|p| p.id).collect();
    ids.push(20);
    let mut requests: Vec<(String, &str)> = [
        "/products",
        "/products?page=2",
        "/products?count=1&page=7",
        "/products?page=1&count=1000",
        "/products?page=99",
        "/products?q=camo%20sl",
        "/products?q=sunglases%20bright",
        "/products?q=zzqxv",
        "/products?category=Pants&category=Kicks&min_price=40&max_price=99.99",
    ]
    .into_iter()
    .map(|uri| (uri.to_string(), "/products"))
    .collect();
    for uri in [
        "/categories",
        "/categories?q=slacks",
        "/categories?q=sunglases%20bright",
        "/categories?q=zzqxv",
        "/categories?min_price=50",
    ] {
        requests.push((uri.to_string(), "/categories"));
    }
    for id in ids {
        requests.extend([
            (format!("/products/{id}"), "/products/{product_id}"),
            (
                format!("/products/{id}/styles"),
                "/products/{product_id}/styles",
            ),
            (
                format!("/products/{id}/related"),
                "/products/{product_id}/related",
            ),
        ]);
    }

    for (uri, path) in &requests {
        let checked = contract
            .check(
                &client,
                Expect::get(uri, Some(*path), Status::Ok),
                &mut failures,
            )
            .await;
        let Some(etag) = checked.etag else { continue };
        contract
            .check(
                &client,
                Expect {
                    if_none_match: Some(&etag),
                    ..Expect::get(uri, Some(*path), Status::NotModified)
                },
                &mut failures,
            )
            .await;
    }
    assert_no_failures(&failures);
}

#[rocket::async_test]
async fn answers_from_the_rows_match_the_document() {
    check_catalog(&catalog(false)).await;
}

#[rocket::async_test]
async fn answers_from_the_rendered_styles_match_the_document() {
    check_catalog(&catalog(true)).await;
}

#[rocket::async_test]
async fn errors_match_the_document() {
    let db = TestDb::with_fixtures();
    let client = common::client(&db).await;
    let contract = Contract::fetch(&client).await;
    let mut failures = Vec::new();

    let mut cases: Vec<(String, Option<&str>, Status)> = Vec::new();
    for (suffix, path) in [
        ("", "/products/{product_id}"),
        ("/styles", "/products/{product_id}/styles"),
        ("/related", "/products/{product_id}/related"),
    ] {
        for id in ["abc", "0", "-1", "2147483648", "99999999999", "1.5"] {
            cases.push((
                format!("/products/{id}{suffix}"),
                Some(path),
                Status::BadRequest,
            ));
        }
        for id in ["42", "2147483647"] {
            cases.push((
                format!("/products/{id}{suffix}"),
                Some(path),
                Status::NotFound,
            ));
        }
    }
    for query in [
        "page=0",
        "page=-1",
        "page=abc",
        "count=0",
        "count=1001",
        "count=abc",
        "q=",
        "q=-camo",
        "min_price=abc",
        "min_price=2&max_price=1",
        "category=",
    ] {
        cases.push((
            format!("/products?{query}"),
            Some("/products"),
            Status::BadRequest,
        ));
    }
    for query in ["q=", "max_price=1.234"] {
        cases.push((
            format!("/categories?{query}"),
            Some("/categories"),
            Status::BadRequest,
        ));
    }
    for uri in ["/nope", "/products/1/styles/extra", "/openapi.yaml"] {
        cases.push((uri.to_string(), None, Status::NotFound));
    }
    for (uri, path, status) in &cases {
        contract
            .check(&client, Expect::get(uri, *path, *status), &mut failures)
            .await;
    }
    // Other methods answer as the document says: 405, and 204 for OPTIONS;
    // on an unknown path, 404.
    for (method, status) in [
        ("post", Status::MethodNotAllowed),
        ("put", Status::MethodNotAllowed),
        ("delete", Status::MethodNotAllowed),
        ("patch", Status::MethodNotAllowed),
        ("options", Status::NoContent),
    ] {
        for (uri, path) in [
            ("/products", "/products"),
            ("/products/1", "/products/{product_id}"),
            ("/products/1/styles", "/products/{product_id}/styles"),
            ("/products/1/related", "/products/{product_id}/related"),
            ("/health", "/health"),
            ("/ready", "/ready"),
            ("/metrics", "/metrics"),
            ("/openapi.json", "/openapi.json"),
        ] {
            contract
                .check(
                    &client,
                    Expect {
                        method,
                        ..Expect::get(uri, Some(path), status)
                    },
                    &mut failures,
                )
                .await;
        }
    }
    contract
        .check(
            &client,
            Expect {
                method: "post",
                ..Expect::get("/nope", None, Status::NotFound)
            },
            &mut failures,
        )
        .await;
    // Over a size limit.
    let long = format!("/products/1?{}", "a".repeat(5000));
    contract
        .check(
            &client,
            Expect::get(&long, Some("/products/{product_id}"), Status::UriTooLong),
            &mut failures,
        )
        .await;
    assert_no_failures(&failures);
}

#[rocket::async_test]
async fn an_unreachable_database_matches_the_document() {
    // Port 1 on loopback: nothing listens there.
    let client = common::client_with(
        "postgres://atelier:atelier@127.0.0.1:1/atelier",
        &[
            ("databases.atelier.timeout", json!(1)),
            ("cache_enabled", json!(false)),
        ],
    )
    .await;
    // Served without the database.
    let contract = Contract::fetch(&client).await;
    let mut failures = Vec::new();
    for (uri, path) in [
        ("/products", "/products"),
        ("/products/1", "/products/{product_id}"),
        ("/products/1/styles", "/products/{product_id}/styles"),
        ("/products/1/related", "/products/{product_id}/related"),
    ] {
        contract
            .check(
                &client,
                Expect::get(uri, Some(path), Status::ServiceUnavailable),
                &mut failures,
            )
            .await;
    }
    contract
        .check(
            &client,
            Expect::get("/health", Some("/health"), Status::Ok),
            &mut failures,
        )
        .await;
    contract
        .check(
            &client,
            Expect::get("/ready", Some("/ready"), Status::ServiceUnavailable),
            &mut failures,
        )
        .await;
    assert_no_failures(&failures);
}

/// `/ready` with a replica, as the document describes it: the replica by
/// name (no credentials), down, its lag unknown, while the primary serves.
#[rocket::async_test]
async fn ready_with_a_replica_that_cannot_be_reached_matches_the_document() {
    let db = TestDb::with_fixtures();
    let port = common::free_port();
    let replica = format!("postgres://atelier:secret@127.0.0.1:{port}/{}", db.name);
    let client = common::client_with(
        &db.url,
        &[("databases.atelier.replica_urls", json!(replica))],
    )
    .await;
    let contract = Contract::fetch(&client).await;
    let mut failures = Vec::new();
    let checked = contract
        .check(
            &client,
            Expect::get("/ready", Some("/ready"), Status::Ok),
            &mut failures,
        )
        .await;
    assert_no_failures(&failures);
    assert_eq!(
        checked.body,
        Some(json!({
            "status": "ready",
            "replicas": [
                {"name": format!("127.0.0.1:{port}/{}", db.name), "state": "down", "lag_seconds": null}
            ]
        }))
    );
}

#[rocket::async_test]
async fn the_document_is_served_as_openapi_3_0_json() {
    let db = TestDb::migrated();
    let client = common::client(&db).await;
    let contract = Contract::fetch(&client).await;
    let document = &contract.document;
    assert_eq!(document["openapi"], json!("3.0.3"));
    for path in [
        "/products",
        "/products/{product_id}",
        "/products/{product_id}/styles",
        "/products/{product_id}/related",
        "/health",
        "/openapi.json",
    ] {
        let ok = contract.response(Some(path), "get", Status::Ok).unwrap();
        assert!(
            ok["content"]["application/json"]["schema"].is_object(),
            "GET {path}: no JSON schema for 200"
        );
    }
    // Every component schema compiles: a broken one fails here, not only
    // when an answer happens to reach it.
    for name in contract.schemas.as_object().unwrap().keys() {
        contract.validator(&json!({"$ref": format!("#/components/schemas/{name}")}));
    }
    // The document describes itself.
    let mut failures = Vec::new();
    let checked = contract
        .check(
            &client,
            Expect::get("/openapi.json", Some("/openapi.json"), Status::Ok),
            &mut failures,
        )
        .await;
    assert_no_failures(&failures);
    assert_eq!(checked.body.as_ref(), Some(document));
}

/// `valid` with the member at `pointer` set to `replacement`, or removed.
fn changed(valid: &Value, pointer: &str, replacement: Option<Value>) -> Value {
    let mut value = valid.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match (value.pointer_mut(parent).unwrap(), replacement) {
        (Value::Object(object), Some(new)) => {
            object.insert(key.to_string(), new);
        }
        (Value::Object(object), None) => {
            object.remove(key).unwrap();
        }
        (Value::Array(items), Some(new)) => items[key.parse::<usize>().unwrap()] = new,
        (other, _) => panic!("{pointer}: cannot change {other}"),
    }
    value
}

/// The schemas reject what the contract forbids, including shapes the
/// fixture catalog cannot produce: a valid answer passes, and each change of
/// it that breaks the contract fails.
#[rocket::async_test]
async fn the_document_rejects_what_the_contract_forbids() {
    // The document is served without the database.
    let client = common::client_with("postgres://atelier:atelier@127.0.0.1:1/atelier", &[]).await;
    let contract = Contract::fetch(&client).await;
    let check = |name: &str, valid: Value, breaks: &[(&str, Option<Value>)]| {
        let schema = json!({"$ref": format!("#/components/schemas/{name}")});
        assert_eq!(
            contract.errors(&schema, &valid),
            Vec::<String>::new(),
            "{name}"
        );
        for (pointer, replacement) in breaks {
            let broken = changed(&valid, pointer, replacement.clone());
            assert!(
                !contract.errors(&schema, &broken).is_empty(),
                "{name} accepts {broken}"
            );
        }
    };

    check(
        "Styles",
        json!({
            "product_id": "1",
            "results": [
                {"style_id": 1, "name": "Forest Green & Black", "original_price": "140.00",
                 "sale_price": null, "default?": true,
                 "photos": [{"thumbnail_url": "https://x.example/t", "url": "https://x.example/u"}],
                 "skus": {"1": {"quantity": 8, "size": "XS"}}},
                {"style_id": 3, "name": "Ocean Blue & Grey", "original_price": "140.00",
                 "sale_price": "100.00", "default?": false,
                 "photos": [{"thumbnail_url": null, "url": null}],
                 "skus": {"null": {"quantity": null, "size": null}}},
            ]
        }),
        &[
            ("/product_id", Some(json!(1))),
            ("/results/0/style_id", Some(json!("1"))),
            ("/results/0/style_id", None),
            ("/results/0/styleId", Some(json!(1))),
            ("/results/0/original_price", Some(json!("140"))),
            ("/results/0/original_price", Some(json!(140))),
            ("/results/0/sale_price", Some(json!("100.5"))),
            ("/results/0/default?", Some(json!(1))),
            ("/results/0/photos", Some(json!([]))),
            ("/results/0/photos/0/url", None),
            ("/results/0/skus", Some(json!({}))),
            (
                "/results/0/skus",
                Some(json!([{"quantity": 8, "size": "XS"}])),
            ),
            (
                "/results/0/skus/a1",
                Some(json!({"quantity": 8, "size": "XS"})),
            ),
            ("/results/0/skus/1/quantity", Some(json!("8"))),
        ],
    );
    check(
        "ProductDetail",
        json!({
            "id": 2, "campus": "hr-lax", "name": "Bright Future Sunglasses",
            "slogan": "You've got to wear shades", "description": "Where you're going",
            "category": "Accessories", "default_price": "69.00",
            "created_at": "2021-08-13T14:39:39.968Z", "updated_at": "2021-08-13T14:39:39.968Z",
            "features": [{"feature": "Lenses", "value": "Ultrasheen"},
                         {"feature": "UV Protection", "value": null}]
        }),
        &[
            ("/id", Some(json!("2"))),
            ("/id", Some(json!(0))),
            ("/default_price", Some(json!("69"))),
            ("/created_at", Some(json!("2021-08-13T14:39:39Z"))),
            ("/updated_at", Some(json!("2021-08-13 14:39:39.968"))),
            ("/campus", None),
            ("/features/1/value", None),
            ("/features/0/feature", Some(json!(null))),
        ],
    );
    check(
        "Related",
        json!([2, 3, 8, 7]),
        &[("/0", Some(json!("2"))), ("/1", Some(json!(null)))],
    );
    check(
        "Error",
        json!({"error": "product 42 does not exist"}),
        &[
            ("/error", Some(json!(42))),
            ("/detail", Some(json!("x"))),
            ("/error", None),
        ],
    );
    check(
        "AdminPhotos",
        json!([{"photo_id": 5655720, "thumbnail_url": "https://img.example/t.jpg",
                "url": "https://img.example/u.jpg"}]),
        &[
            ("/0/photo_id", Some(json!("5655720"))),
            ("/0/photo_id", Some(json!(0))),
            ("/0/photo_id", None),
            ("/0/url", Some(json!(null))),
            (
                "/0",
                Some(json!({"thumbnail_url": "https://img.example/t.jpg",
                               "url": "https://img.example/u.jpg"})),
            ),
        ],
    );
    check(
        "AdminSku",
        json!({"sku_id": 1, "quantity": 0, "size": "XS"}),
        &[
            ("/sku_id", None),
            ("/quantity", Some(json!("0"))),
            ("/quantity", Some(json!(null))),
            ("/size", Some(json!(null))),
            ("/style_id", Some(json!(1))),
        ],
    );
}

/// The application on `url` with the admin API and `overrides`, and the
/// `Authorization` value of the token it accepts.
async fn admin_client(url: &str, overrides: &[(&str, Value)]) -> (Client, String) {
    let made = atelier::admin::auth::new_token("ops").unwrap();
    let mut all = vec![("admin_tokens", json!(made.entry))];
    all.extend(overrides.iter().cloned());
    (
        common::client_with(url, &all).await,
        format!("Bearer {}", made.token),
    )
}

const STYLE: &str = "/admin/styles/{style_id}";
const STYLE_PHOTOS: &str = "/admin/styles/{style_id}/photos";
const PHOTO: &str = "/admin/photos/{photo_id}";
const SKU: &str = "/admin/skus/{sku_id}";
const NEW_PHOTO: &str =
    r#"{"thumbnail_url":"https://img.example/t.jpg","url":"https://img.example/u.jpg"}"#;

/// The documented admin path `uri` is an instance of.
fn admin_path(uri: &str) -> &'static str {
    let path = uri.split('?').next().unwrap_or(uri);
    match path.split('/').collect::<Vec<_>>()[..] {
        ["", "admin", "styles", _] => STYLE,
        ["", "admin", "styles", _, "photos"] => STYLE_PHOTOS,
        ["", "admin", "photos", _] => PHOTO,
        ["", "admin", "skus", _] => SKU,
        _ => panic!("{path} is no admin path"),
    }
}

/// Every admin operation's answers to the fixture catalog (the odd-text
/// product's style 900 included), and each of its refusals: the answers of
/// `tests/admin.rs`, held to the document.
#[rocket::async_test]
async fn admin_answers_match_the_document() {
    let db = catalog(true);
    let (client, bearer) = admin_client(&db.url, &[]).await;
    let contract = Contract::fetch(&client).await;
    let mut failures = Vec::new();
    let auth = Some(bearer.as_str());
    let hundred = format!("[{}]", vec![NEW_PHOTO; 100].join(","));
    let odd_name = json!({ "name": fixtures::ODD_ADMIN_TEXT }).to_string();
    let long_uri = format!("/admin/styles/1?{}", "a".repeat(5000));
    let all_four = r#"{"name":"Ocean","original_price":150,"sale_price":null,"default?":true}"#;
    let ftp = r#"{"thumbnail_url":"ftp://x/","url":"https://x/"}"#;

    // Style 3 has neither photos nor skus, 21 a sku and no photos, 900 the
    // odd text; style 2 has 100 photos once they are put.
    #[rustfmt::skip]
    let cases: [(&str, &str, Option<&str>, Status); 40] = [
        ("patch", "/admin/styles/1", Some(r#"{"sale_price":"99.00"}"#), Status::Ok),
        ("patch", "/admin/styles/3", Some(all_four), Status::Ok),
        ("patch", "/admin/styles/900", Some(&odd_name), Status::Ok),
        ("get", "/admin/styles/1/photos", None, Status::Ok),
        ("get", "/admin/styles/3/photos", None, Status::Ok),
        ("get", "/admin/styles/900/photos", None, Status::Ok),
        ("post", "/admin/styles/21/photos", Some(NEW_PHOTO), Status::Created),
        ("put", "/admin/styles/2/photos", Some(&hundred), Status::Ok),
        ("put", "/admin/styles/20/photos", Some("[]"), Status::Ok),
        ("delete", "/admin/photos/4", None, Status::Ok),
        ("delete", "/admin/photos/7", None, Status::Ok),
        ("patch", "/admin/skus/2", Some(r#"{"quantity":0}"#), Status::Ok),
        ("patch", "/admin/skus/9000", Some(r#"{"quantity":5,"size":"XL"}"#), Status::Ok),
        ("post", "/admin/styles/2/photos", Some(NEW_PHOTO), Status::Conflict),
        // Ids.
        ("patch", "/admin/styles/abc", Some(r#"{"name":"x"}"#), Status::BadRequest),
        ("get", "/admin/styles/0/photos", None, Status::BadRequest),
        ("post", "/admin/styles/-1/photos", Some(NEW_PHOTO), Status::BadRequest),
        ("put", "/admin/styles/1.5/photos", Some("[]"), Status::BadRequest),
        ("delete", "/admin/photos/2147483648", None, Status::BadRequest),
        ("patch", "/admin/skus/x", Some(r#"{"quantity":1}"#), Status::BadRequest),
        ("patch", "/admin/styles/999", Some(r#"{"name":"x"}"#), Status::NotFound),
        ("get", "/admin/styles/999/photos", None, Status::NotFound),
        ("post", "/admin/styles/999/photos", Some(NEW_PHOTO), Status::NotFound),
        ("put", "/admin/styles/999/photos", Some("[]"), Status::NotFound),
        ("delete", "/admin/photos/999", None, Status::NotFound),
        ("patch", "/admin/skus/999", Some(r#"{"quantity":1}"#), Status::NotFound),
        // Bodies.
        ("patch", "/admin/styles/1", Some("{}"), Status::BadRequest),
        ("patch", "/admin/styles/1", Some(r#"{"name":" "}"#), Status::BadRequest),
        ("patch", "/admin/styles/1", Some(r#"{"sale_price":"99.50"}"#), Status::BadRequest),
        ("patch", "/admin/styles/1", Some(r#"{"salePrice":"9"}"#), Status::BadRequest),
        ("patch", "/admin/styles/1", Some("[]"), Status::BadRequest),
        ("patch", "/admin/styles/1", Some(r#"{"name":"x""#), Status::BadRequest),
        ("patch", "/admin/styles/1", Some(""), Status::BadRequest),
        ("post", "/admin/styles/1/photos", Some(r#"{"url":"https://x/"}"#), Status::BadRequest),
        ("post", "/admin/styles/1/photos", Some(ftp), Status::BadRequest),
        ("put", "/admin/styles/1/photos", Some(NEW_PHOTO), Status::BadRequest),
        ("put", "/admin/styles/1/photos", Some("[5]"), Status::BadRequest),
        ("patch", "/admin/skus/2", Some(r#"{"quantity":-1}"#), Status::BadRequest),
        ("patch", "/admin/skus/2", Some(r#"{"size":null}"#), Status::BadRequest),
        ("patch", &long_uri, Some(r#"{"name":"x"}"#), Status::UriTooLong),
    ];
    for (method, uri, body, status) in cases {
        contract
            .check(
                &client,
                Expect::admin(method, uri, auth, body, status),
                &mut failures,
            )
            .await;
    }

    // `Location` names the photo the body is.
    let added = contract
        .check(
            &client,
            Expect::admin(
                "post",
                "/admin/styles/1/photos",
                auth,
                Some(NEW_PHOTO),
                Status::Created,
            ),
            &mut failures,
        )
        .await;
    let photo_id = added.body.as_ref().unwrap()["photo_id"].as_i64().unwrap();
    assert_eq!(
        added.header("Location"),
        Some(format!("/admin/photos/{photo_id}").as_str())
    );
    assert_eq!(added.header("Cache-Control"), Some("no-store"));

    // A body that is not JSON by its type.
    contract
        .check(
            &client,
            Expect {
                headers: vec![
                    Header::new("Authorization", bearer.clone()),
                    Header::new("Content-Type", "application/x-www-form-urlencoded"),
                ],
                body: Some("name=x".into()),
                method: "patch",
                ..Expect::get("/admin/styles/1", Some(STYLE), Status::BadRequest)
            },
            &mut failures,
        )
        .await;

    // 401 on every operation, before the id and the body are read; the
    // challenge says whether a token was sent and refused.
    let stranger = format!(
        "Bearer {}",
        atelier::admin::auth::new_token("x").unwrap().token
    );
    let challenge = r#"Bearer realm="atelier-admin""#;
    let refused = r#"Bearer realm="atelier-admin", error="invalid_token""#;
    for (authorization, expected) in [
        (None, challenge),
        (Some("Basic b3BzOm9wcw=="), challenge),
        (Some(stranger.as_str()), refused),
    ] {
        #[rustfmt::skip]
        let requests = [
            ("patch", "/admin/styles/1", Some(r#"{"name":"x"}"#)),
            ("patch", "/admin/styles/abc", Some("{not json")),
            ("get", "/admin/styles/1/photos", None),
            ("post", "/admin/styles/1/photos", Some(NEW_PHOTO)),
            ("put", "/admin/styles/1/photos", Some("[]")),
            ("delete", "/admin/photos/5", None),
            ("patch", "/admin/skus/2", Some(r#"{"quantity":1}"#)),
        ];
        for (method, uri, body) in requests {
            let expect = Expect::admin(method, uri, authorization, body, Status::Unauthorized);
            let got = contract.check(&client, expect, &mut failures).await;
            assert_eq!(got.header("WWW-Authenticate"), Some(expected), "{uri}");
        }
    }

    // Other methods answer 405 and OPTIONS 204, without a token.
    for (uri, answered) in [
        ("/admin/styles/1", &["patch"][..]),
        ("/admin/styles/1/photos", &["get", "post", "put"][..]),
        ("/admin/photos/5", &["delete"][..]),
        ("/admin/skus/2", &["patch"][..]),
    ] {
        for method in ["get", "post", "put", "patch", "delete", "options"] {
            if answered.contains(&method) {
                continue;
            }
            let status = if method == "options" {
                Status::NoContent
            } else {
                Status::MethodNotAllowed
            };
            let expect = Expect::admin(method, uri, None, None, status);
            contract.check(&client, expect, &mut failures).await;
        }
    }
    assert_no_failures(&failures);
}

/// 413 by `ATELIER_ADMIN_MAX_BODY_BYTES` and by `ATELIER_MAX_BODY_BYTES`, and 503 while an
/// import runs and while the database cannot be reached, held to the
/// document with the `Retry-After` each says.
#[rocket::async_test]
async fn admin_refusals_of_size_imports_and_outages_match_the_document() {
    use diesel::sql_types::BigInt;
    use diesel::RunQueryDsl;

    let db = TestDb::with_rendered_fixtures();
    let (small, bearer) = admin_client(
        &db.url,
        &[
            ("admin_max_body_bytes", json!(64)),
            ("max_body_bytes", json!(200)),
        ],
    )
    .await;
    let contract = Contract::fetch(&small).await;
    let mut failures = Vec::new();
    let long_name = format!(r#"{{"name":"{}"}}"#, "n".repeat(100));
    let over_admin_limit = Expect::admin(
        "patch",
        "/admin/styles/1",
        Some(&bearer),
        Some(&long_name),
        Status::PayloadTooLarge,
    );
    contract
        .check(&small, over_admin_limit, &mut failures)
        .await;
    let mut over_body_limit = Expect::admin(
        "delete",
        "/admin/photos/4",
        Some(&bearer),
        None,
        Status::PayloadTooLarge,
    );
    over_body_limit
        .headers
        .push(Header::new("Content-Length", "201"));
    contract.check(&small, over_body_limit, &mut failures).await;

    #[rustfmt::skip]
    let writes = [
        ("patch", "/admin/styles/1", Some(r#"{"name":"x"}"#)),
        ("post", "/admin/styles/1/photos", Some(NEW_PHOTO)),
        ("put", "/admin/styles/1/photos", Some("[]")),
        ("delete", "/admin/photos/4", None),
        ("patch", "/admin/skus/2", Some(r#"{"quantity":1}"#)),
    ];
    let (client, bearer) = admin_client(&db.url, &[]).await;
    let auth = Some(bearer.as_str());
    let mut import = db.connect();
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(atelier::db::locks::IMPORT_LOCK)
        .execute(&mut import)
        .unwrap();
    for (method, uri, body) in writes {
        let expect = Expect::admin(method, uri, auth, body, Status::ServiceUnavailable);
        let got = contract.check(&client, expect, &mut failures).await;
        assert_eq!(got.header("Retry-After"), Some("30"), "{method} {uri}");
    }
    // Reads go on during an import.
    let read = Expect::admin("get", "/admin/styles/1/photos", auth, None, Status::Ok);
    contract.check(&client, read, &mut failures).await;

    // Port 1 on loopback: nothing listens there.
    let (down, bearer) = admin_client(
        "postgres://atelier:atelier@127.0.0.1:1/atelier",
        &[("databases.atelier.timeout", json!(1))],
    )
    .await;
    let auth = Some(bearer.as_str());
    for (method, uri, body) in writes
        .into_iter()
        .chain([("get", "/admin/styles/1/photos", None)])
    {
        let expect = Expect::admin(method, uri, auth, body, Status::ServiceUnavailable);
        let got = contract.check(&down, expect, &mut failures).await;
        assert_eq!(got.header("Retry-After"), Some("1"), "{method} {uri}");
    }
    assert_no_failures(&failures);
}

/// The document's admin operations are the admin API's routes, each behind
/// `bearerAuth` and documenting every refusal its handler can make; each
/// admin path has its OPTIONS.
#[rocket::async_test]
async fn the_document_has_every_admin_route_and_no_other() {
    let client = common::client_with("postgres://atelier:atelier@127.0.0.1:1/atelier", &[]).await;
    let contract = Contract::fetch(&client).await;
    let routes: Vec<(String, String)> = {
        let mut routes: Vec<(String, String)> = atelier::admin::admin_routes()
            .iter()
            .map(|route| {
                (
                    route.method.as_str().to_ascii_lowercase(),
                    common::path_shape(&format!("/admin{}", route.uri.path())),
                )
            })
            .collect();
        routes.sort();
        routes
    };
    let mut documented = Vec::new();
    for (path, item) in contract.document["paths"].as_object().unwrap() {
        if !path.starts_with("/admin/") {
            continue;
        }
        assert!(item["options"].is_object(), "OPTIONS {path}");
        for (method, operation) in item.as_object().unwrap() {
            if matches!(method.as_str(), "parameters" | "options") {
                continue;
            }
            documented.push((method.clone(), common::path_shape(path)));
            assert_eq!(
                operation["security"],
                json!([{"bearerAuth": []}]),
                "{method} {path}"
            );
            let mut statuses: Vec<&str> = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            statuses.sort();
            let mut expected = vec!["200", "400", "401", "404", "414", "431", "500", "503"];
            if method != "get" {
                expected.extend(["409", "413"]);
            }
            // A body that stops arriving; a DELETE reads none.
            if matches!(method.as_str(), "post" | "put" | "patch") {
                expected.push("408");
            }
            if method == "post" {
                expected[0] = "201";
            }
            expected.sort();
            assert_eq!(statuses, expected, "{method} {path}");
        }
    }
    documented.sort();
    assert_eq!(documented, routes);
    assert_eq!(
        contract.document["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        json!("bearer")
    );
}

/// Whether the document's schema for the body of `method path` takes
/// `text` (which is not JSON at all: no).
fn document_takes(contract: &Contract, method: &str, path: &str, text: &str) -> bool {
    let body = contract.resolve(&contract.document["paths"][path][method]["requestBody"]);
    let schema = &body["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {path} documents no JSON body");
    serde_json::from_str::<Value>(text)
        .is_ok_and(|value| contract.errors(schema, &value).is_empty())
}

/// The request schemas take exactly the bodies the admin API takes (the
/// rules of `admin::input`), the edges of each rule on both sides, but for
/// what JSON Schema cannot say, asserted as such.
#[rocket::async_test]
async fn the_admin_body_schemas_take_what_the_admin_api_takes() {
    use atelier::admin::input::{parse_body, NewPhoto, PhotoList, SkuChange, StyleChange};

    let client = common::client_with("postgres://atelier:atelier@127.0.0.1:1/atelier", &[]).await;
    let contract = Contract::fetch(&client).await;
    let text = |value: Value| value.to_string();
    let mut style_changes: Vec<String> = [
        r#"{"sale_price":"99.00"}"#,
        r#"{"sale_price":"99"}"#,
        r#"{"sale_price":"99.000000"}"#,
        r#"{"sale_price":"0"}"#,
        r#"{"sale_price":"000000000099"}"#,
        r#"{"sale_price":"0000000000099"}"#,
        r#"{"sale_price":"000500000000.00"}"#,
        r#"{"sale_price":"500000000"}"#,
        r#"{"sale_price":"500000001"}"#,
        r#"{"sale_price":"499999999"}"#,
        r#"{"sale_price":"99.50"}"#,
        r#"{"sale_price":"99."}"#,
        r#"{"sale_price":".00"}"#,
        r#"{"sale_price":"+1"}"#,
        r#"{"sale_price":"-0"}"#,
        r#"{"sale_price":" 1"}"#,
        r#"{"sale_price":"1,00"}"#,
        r#"{"sale_price":"١"}"#,
        r#"{"sale_price":""}"#,
        r#"{"sale_price":99}"#,
        r#"{"sale_price":99.0}"#,
        r#"{"sale_price":1e2}"#,
        r#"{"sale_price":-0}"#,
        r#"{"sale_price":0}"#,
        r#"{"sale_price":500000000}"#,
        r#"{"sale_price":500000001}"#,
        r#"{"sale_price":-1}"#,
        r#"{"sale_price":99.5}"#,
        r#"{"sale_price":null}"#,
        r#"{"sale_price":true}"#,
        r#"{"sale_price":[]}"#,
        r#"{"original_price":"140.00"}"#,
        r#"{"original_price":null}"#,
        r#"{"name":"x"}"#,
        r#"{"name":" a "}"#,
        r#"{"name":""}"#,
        r#"{"name":" \t\r\n"}"#,
        r#"{"name":"\u0085\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\u000b\u000c"}"#,
        // Not white space to Unicode, so text.
        r#"{"name":"\ufeff"}"#,
        r#"{"name":"\u200b"}"#,
        r#"{"name":"\u001c"}"#,
        r#"{"name":"\u0001"}"#,
        r#"{"name":"a\u0000"}"#,
        r#"{"name":"\u0000"}"#,
        r#"{"name":null}"#,
        r#"{"name":5}"#,
        r#"{"default?":true}"#,
        r#"{"default?":null}"#,
        r#"{"default?":"true"}"#,
        r#"{"name":"x","original_price":150,"sale_price":null,"default?":false}"#,
        r#"{}"#,
        r#"[]"#,
        r#""x""#,
        r#"null"#,
        r#"{"x":1}"#,
        r#"{"name":"x","x":1}"#,
        r#"{"name":"x"} {}"#,
    ]
    .map(str::to_string)
    .into();
    for (chars, c) in [(255, "é"), (256, "é"), (255, "😀"), (256, "😀"), (255, " ")] {
        style_changes.push(text(json!({ "name": c.repeat(chars) })));
    }

    let mut sku_changes: Vec<String> = [
        r#"{"quantity":0}"#,
        r#"{"quantity":2147483647}"#,
        r#"{"quantity":2147483648}"#,
        r#"{"quantity":-1}"#,
        r#"{"quantity":5.0}"#,
        r#"{"quantity":5.5}"#,
        r#"{"quantity":"5"}"#,
        r#"{"quantity":null}"#,
        r#"{"size":"XL"}"#,
        r#"{"size":"\u2028"}"#,
        r#"{"size":null}"#,
        r#"{"quantity":1,"size":"M"}"#,
        r#"{"colour":"red"}"#,
        r#"{}"#,
    ]
    .map(str::to_string)
    .into();
    for chars in [100, 101] {
        sku_changes.push(text(json!({ "size": "s".repeat(chars) })));
    }

    let url_of_bytes = |bytes: usize, fill: &str| {
        let head = "https://x.example/";
        let mut url = head.to_string();
        while url.len() + fill.len() <= bytes {
            url.push_str(fill);
        }
        assert_eq!(url.len(), bytes, "{fill:?}");
        url
    };
    let urls: Vec<String> = [
        "https://images.example.com/a?w=300&q=80",
        "HTTP://x",
        "hTtPs://x",
        "http://x/",
        "http://x?q",
        "http://x#f",
        "http://user@x.example:8080/p",
        "http://a@b@c/",
        "https://@x",
        "https://x@",
        "http://[::1]:80/",
        "http://[::1]",
        "http://[::1]x",
        "http://[::1]:",
        "http://[::1]:65536",
        "http://[abc",
        "http://[",
        "http://[]",
        "http://x:65535/",
        "http://x:65536/",
        "http://x:0000080/",
        "http://x:+80/",
        "http://x:-80/",
        "http://x:/",
        "http://x:80:80/",
        "http://:80/",
        "https://",
        "https:///path",
        "https://?q",
        "https://#f",
        "ftp://x/",
        "/relative",
        "http:/x",
        "httpx://x",
        "https://x.example/a b",
        "https://x.example/a\u{1}",
        "https://x.example/\u{a0}",
        "https://x.example/\u{85}",
        "https://x.example/\u{7f}",
        "https://x.example/\u{200b}",
        "https://x.example/é",
        "https://x.ex\u{e9}mple/",
        "https://x.example/';DROP/**/TABLE/**/photos;--\"\\",
        "http://x\\y/",
        "https://a\\@b/",
        "https://x.example/%5C",
        "https://x.example/\u{202e}gpj.exe",
        "https://x.example/\u{2069}",
        "https://x.example/\u{200f}",
        "http://1.2.3.4/",
        "http://0.0.0.0:0/",
        "http://255.255.255.255/",
        "http://1.2.3.256/",
        "http://01.2.3.4/",
        "http://1.2.3/",
        "http://1.2.3.4.5/",
        "http://1.2.3.4a/",
        "http://1.2.3.a/",
        "http://0x7f.1/",
        "http://a.1/",
        "http://a.b1/",
        "http://ab--cd.example/",
        "http://-x-.example/",
        "http://a_b.example/",
        "http://a..b/",
        "http://.a/",
        "http://a./",
        "http://x%41.example/",
        "https://xn--bcher-kva.example/",
    ]
    .map(str::to_string)
    .into_iter()
    .chain([
        url_of_bytes(2048, "a"),
        url_of_bytes(2049, "a"),
        url_of_bytes(2048, "é"),
    ])
    .collect();
    let mut photos: Vec<String> = urls
        .iter()
        .flat_map(|url| {
            [
                json!({"thumbnail_url": url, "url": "https://x.example/u"}),
                json!({"thumbnail_url": "https://x.example/t", "url": url}),
            ]
        })
        .map(text)
        .collect();
    photos.extend(
        [
            r#"{"url":"https://x/"}"#,
            r#"{"thumbnail_url":"https://x/","url":"https://x/","alt":"x"}"#,
            r#"{"thumbnail_url":"https://x/","url":null}"#,
            r#"{"thumbnail_url":"https://x/","url":5}"#,
            r#"["https://x/","https://x/"]"#,
        ]
        .map(str::to_string),
    );
    let photo = r#"{"thumbnail_url":"https://x/t","url":"https://x/u"}"#;
    let list = |n: usize| format!("[{}]", vec![photo; n].join(","));
    let lists: Vec<String> = [
        list(0),
        list(1),
        list(100),
        list(101),
        "{}".into(),
        format!("[{photo},[]]"),
        "[null]".into(),
        format!(r#"[{photo},{{"url":"https://x/"}}]"#),
    ]
    .into();

    fn api_takes<T: atelier::admin::input::AdminBody>(text: &str) -> bool {
        parse_body::<T>(text.as_bytes()).is_ok()
    }
    let mut differ = Vec::new();
    let mut compare = |method: &str, path: &str, text: &str, api: bool| {
        let document = document_takes(&contract, method, path, text);
        if document != api {
            differ.push(format!(
                "{method} {path} {text:.120}: the API {api}, the document {document}"
            ));
        }
    };
    for text in &style_changes {
        compare("patch", STYLE, text, api_takes::<StyleChange>(text));
    }
    for text in &sku_changes {
        compare("patch", SKU, text, api_takes::<SkuChange>(text));
    }
    for text in &photos {
        compare("post", STYLE_PHOTOS, text, api_takes::<NewPhoto>(text));
    }
    for text in &lists {
        compare("put", STYLE_PHOTOS, text, api_takes::<PhotoList>(text));
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));

    // What a schema cannot say: a URL's length in bytes (`maxLength`
    // counts characters), a key given twice (a schema sees the value JSON
    // makes of it, the last one) and whether an `xn--` label is valid
    // punycode.
    let multibyte = text(json!({"thumbnail_url": url_of_bytes(2050, "é"), "url": "https://x/u"}));
    let twice = r#"{"name":"a","name":"b"}"#;
    assert_eq!(
        (
            document_takes(&contract, "post", STYLE_PHOTOS, &multibyte),
            api_takes::<NewPhoto>(&multibyte)
        ),
        (true, false)
    );
    assert_eq!(
        (
            document_takes(&contract, "patch", STYLE, twice),
            api_takes::<StyleChange>(twice)
        ),
        (true, false)
    );
    let bad_punycode = r#"{"thumbnail_url":"https://xn--a.example/","url":"https://x/u"}"#;
    assert_eq!(
        (
            document_takes(&contract, "post", STYLE_PHOTOS, bad_punycode),
            api_takes::<NewPhoto>(bad_punycode)
        ),
        (true, false)
    );
}
