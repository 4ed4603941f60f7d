//! The OpenAPI document against the service: every answer to the fixture
//! catalog (from the rows and from the rendered `/styles` answers), every
//! error, 304 and 503 is checked against what `docs/openapi.yaml` documents
//! for its path and status — status, headers, content type and body — using
//! the document as the service itself serves it at `/openapi.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::fixtures::{self, insert_odd_text_product};
use common::TestDb;
use rocket::http::{Header, Status};
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
}

impl<'a> Expect<'a> {
    fn get(uri: &'a str, path: Option<&'a str>, status: Status) -> Self {
        Expect {
            uri,
            path,
            status,
            if_none_match: None,
            method: "get",
        }
    }
}

/// A documented answer, as the checks saw it.
struct Checked {
    body: Option<Value>,
    etag: Option<String>,
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
    ]
    .into_iter()
    .map(|uri| (uri.to_string(), "/products"))
    .collect();
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
    ] {
        cases.push((
            format!("/products?{query}"),
            Some("/products"),
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
}
