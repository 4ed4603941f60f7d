//! `atelier generate`: the real dump's format, proportions and defect
//! classes, deterministic per seed; and end to end, a generated dump imported
//! and served, checked against the CSV rows it came from.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use crate::common;
use crate::common::{generated_dump, TestDb};
use atelier::import::tables::Table;
use atelier::import::{self, ImportOptions};
use diesel::prelude::*;
use rocket::http::Status;
use serde_json::{json, Value};

fn read(dir: &Path, table: Table) -> String {
    std::fs::read_to_string(dir.join(table.file_name())).unwrap()
}

/// Data lines of a file (after the header), split on commas: every
/// generated field is either free of commas or skipped by the callers.
fn lines(text: &str) -> Vec<&str> {
    text.split('\n').skip(1).collect()
}

fn field(line: &str, i: usize) -> &str {
    line.split(',').nth(i).unwrap()
}

#[test]
fn the_same_seed_writes_the_same_bytes() {
    let a = generated_dump("seed-a", 2_000, 5);
    let b = generated_dump("seed-b", 2_000, 5);
    let c = generated_dump("seed-c", 2_000, 6);
    for table in Table::LOAD_ORDER {
        assert_eq!(
            read(&a.0, table),
            read(&b.0, table),
            "{}",
            table.file_name()
        );
        assert_ne!(
            read(&a.0, table),
            read(&c.0, table),
            "{}",
            table.file_name()
        );
    }
}

#[test]
fn files_have_the_real_headers_and_no_final_newline() {
    let dir = generated_dump("format", 500, 1);
    let headers = [
        (
            Table::Product,
            "id,name,slogan,description,category,default_price",
        ),
        (Table::Features, "id,product_id,feature,value"),
        (
            Table::Styles,
            "id,productId,name,sale_price,original_price,default_style",
        ),
        (Table::Photos, "id,styleId,url,thumbnail_url"),
        (Table::Skus, "id,styleId,size,quantity"),
        (Table::Related, "id,current_product_id,related_product_id"),
    ];
    for (table, header) in headers {
        let text = read(&dir.0, table);
        assert_eq!(text.split('\n').next().unwrap(), header);
        assert!(!text.ends_with('\n'), "{}", table.file_name());
    }
    let product = read(&dir.0, Table::Product);
    let first = lines(&product)[0];
    assert!(first.starts_with("1,\""), "{first}");
    // Strings quoted, the price bare.
    assert!(
        first.rsplit(',').next().unwrap().parse::<u32>().is_ok(),
        "{first}"
    );
}

fn ratio(part: usize, whole: usize) -> f64 {
    part as f64 / whole as f64
}

fn assert_near(name: &str, got: f64, target: f64) {
    assert!(
        (got - target).abs() <= target * 0.03,
        "{name}: {got:.3}, expected {target} within 3%"
    );
}

#[test]
fn proportions_are_the_real_dumps() {
    let dir = generated_dump("proportions", 10_000, 2);
    let count = |t| lines(&read(&dir.0, t)).len();
    let (products, styles) = (count(Table::Product), count(Table::Styles));
    assert_eq!(products, 10_000);
    assert_near(
        "features per product",
        ratio(count(Table::Features), products),
        2.22,
    );
    assert_near("styles per product", ratio(styles, products), 1.96);
    assert_near(
        "related per product",
        ratio(count(Table::Related), products),
        4.51,
    );
    assert_near(
        "photos per style",
        ratio(count(Table::Photos), styles),
        2.89,
    );
    assert_near("skus per style", ratio(count(Table::Skus), styles), 5.78);
}

#[test]
fn every_defect_class_of_the_real_dump_is_present() {
    let products = 100_000;
    let dir = generated_dump("defects", products, 3);

    let photos = read(&dir.0, Table::Photos);
    let photo_lines = lines(&photos);
    let unterminated = photo_lines.iter().filter(|l| !l.ends_with('"')).count();
    assert!(
        (50..=300).contains(&unterminated),
        "unterminated photo lines: {unterminated}"
    );
    let ids: Vec<u32> = photo_lines
        .iter()
        .map(|l| field(l, 0).parse().unwrap())
        .collect();
    assert!(
        ids.windows(2).any(|w| w[1] < w[0]),
        "photo ids out of order"
    );
    let max = *ids.iter().max().unwrap() as usize;
    assert!(
        max > ids.len(),
        "photo ids with gaps: {max} ids for {} rows",
        ids.len()
    );

    let skus = read(&dir.0, Table::Skus);
    let sku_lines = lines(&skus);
    let ids: Vec<u32> = sku_lines
        .iter()
        .map(|l| field(l, 0).parse().unwrap())
        .collect();
    assert!(ids.windows(2).any(|w| w[1] < w[0]), "sku ids out of order");
    let duplicate_sizes = sku_lines
        .windows(2)
        .filter(|w| field(w[0], 1) == field(w[1], 1) && field(w[0], 2) == field(w[1], 2))
        .count();
    assert!(duplicate_sizes > 0, "duplicate sizes within a style");

    let styles = read(&dir.0, Table::Styles);
    let mut defaults: BTreeMap<u32, u32> = BTreeMap::new();
    let mut on_sale = 0;
    let style_lines = lines(&styles);
    for line in &style_lines {
        let fields: Vec<&str> = line.rsplitn(4, ',').collect();
        let product: u32 = field(line, 1).parse().unwrap();
        *defaults.entry(product).or_default() += fields[0].parse::<u32>().unwrap();
        on_sale += usize::from(fields[2] != "null");
    }
    assert!(
        defaults.values().any(|&n| n == 0),
        "a product with no default style"
    );
    assert!(
        defaults.values().any(|&n| n == 2),
        "a product with two default styles"
    );
    assert_near("styles on sale", ratio(on_sale, style_lines.len()), 0.15);

    let features = read(&dir.0, Table::Features);
    let nulls = lines(&features)
        .iter()
        .filter(|l| l.ends_with(",null"))
        .count();
    assert!(nulls > 0, "features with a null value");

    let related = read(&dir.0, Table::Related);
    let rows: Vec<(u32, u32)> = lines(&related)
        .iter()
        .map(|l| (field(l, 1).parse().unwrap(), field(l, 2).parse().unwrap()))
        .collect();
    let dangling = rows
        .iter()
        .filter(|(_, to)| *to == 0 || *to > products)
        .count();
    assert!(
        (1..=20).contains(&dangling),
        "dangling related rows: {dangling}"
    );
    assert!(
        rows.iter().any(|(from, to)| from == to),
        "self-referencing related rows"
    );
    assert!(
        rows.windows(2).any(|w| w[0] == w[1]),
        "duplicate related rows"
    );

    let product = read(&dir.0, Table::Product);
    assert!(product.contains("\"\""), "escaped quotes in free text");
    assert!(product.contains(".  "), "double spaces in free text");
    assert!(product.contains("'"), "apostrophes in free text");
}

/// The expected API answers for `id`, computed from the CSV files alone.
struct Oracle {
    products: BTreeMap<u32, csv::StringRecord>,
    features: BTreeMap<u32, Vec<(u32, Value)>>,
    styles: BTreeMap<u32, Vec<csv::StringRecord>>,
    photos: BTreeMap<u32, Vec<(u32, Value)>>,
    skus: BTreeMap<u32, Vec<(u32, Value)>>,
    related: BTreeMap<u32, Vec<(u32, u32)>>,
    last_product: u32,
}

fn records(dir: &Path, table: Table) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(dir.join(table.file_name()))
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect()
}

fn null_or(value: &str) -> Value {
    if value == "null" {
        Value::Null
    } else {
        json!(value)
    }
}

impl Oracle {
    fn new(dir: &Path, last_product: u32) -> Self {
        let id = |r: &csv::StringRecord, i: usize| r[i].parse::<u32>().unwrap();
        let mut oracle = Oracle {
            products: BTreeMap::new(),
            features: BTreeMap::new(),
            styles: BTreeMap::new(),
            photos: BTreeMap::new(),
            skus: BTreeMap::new(),
            related: BTreeMap::new(),
            last_product,
        };
        for r in records(dir, Table::Product) {
            oracle.products.insert(id(&r, 0), r);
        }
        for r in records(dir, Table::Features) {
            let value = json!({"feature": &r[2], "value": null_or(&r[3])});
            oracle
                .features
                .entry(id(&r, 1))
                .or_default()
                .push((id(&r, 0), value));
        }
        for r in records(dir, Table::Styles) {
            oracle.styles.entry(id(&r, 1)).or_default().push(r);
        }
        // photos.csv has lines without their closing quote, which a CSV
        // reader would run together; its fields hold no commas.
        for line in lines(&read(dir, Table::Photos)) {
            let f: Vec<&str> = line.split(',').collect();
            let unquote = |s: &str| s.trim_start_matches('"').trim_end_matches('"').to_string();
            let value = json!({"thumbnail_url": unquote(f[3]), "url": unquote(f[2])});
            oracle
                .photos
                .entry(f[1].parse().unwrap())
                .or_default()
                .push((f[0].parse().unwrap(), value));
        }
        for r in records(dir, Table::Skus) {
            let value = json!({"quantity": id(&r, 3), "size": &r[2]});
            oracle
                .skus
                .entry(id(&r, 1))
                .or_default()
                .push((id(&r, 0), value));
        }
        for r in records(dir, Table::Related) {
            oracle
                .related
                .entry(id(&r, 1))
                .or_default()
                .push((id(&r, 0), id(&r, 2)));
        }
        oracle
    }

    fn price(value: &str) -> Value {
        json!(format!("{value}.00"))
    }

    fn product(&self, id: u32, created: &Value) -> Value {
        let r = &self.products[&id];
        let mut features = self.features.get(&id).cloned().unwrap_or_default();
        features.sort_by_key(|(id, _)| *id);
        json!({
            "id": id, "campus": "hr-lax", "name": &r[1], "slogan": &r[2],
            "description": &r[3], "category": &r[4], "default_price": Self::price(&r[5]),
            "created_at": created, "updated_at": created,
            "features": features.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        })
    }

    fn styles(&self, id: u32) -> String {
        let mut styles = self.styles.get(&id).cloned().unwrap_or_default();
        styles.sort_by_key(|r| r[0].parse::<u32>().unwrap());
        let results: Vec<String> = styles
            .iter()
            .map(|r| {
                let style_id: u32 = r[0].parse().unwrap();
                let mut photos = self.photos.get(&style_id).cloned().unwrap_or_default();
                photos.sort_by_key(|(id, _)| *id);
                let mut skus = self.skus.get(&style_id).cloned().unwrap_or_default();
                skus.sort_by_key(|(id, _)| *id);
                // Written out by hand: the contract fixes the key order. A
                // style without photos or skus has the live API's
                // placeholders.
                let mut skus: Vec<String> = skus.iter().map(|(id, v)| format!("\"{id}\":{v}")).collect();
                if skus.is_empty() {
                    skus.push(r#""null":{"quantity":null,"size":null}"#.into());
                }
                if photos.is_empty() {
                    photos.push((0, json!({"thumbnail_url": null, "url": null})));
                }
                let sale = if &r[3] == "null" { Value::Null } else { Self::price(&r[3]) };
                format!(
                    "{{\"style_id\":{style_id},\"name\":{},\"original_price\":{},\"sale_price\":{},\"default?\":{},\"photos\":{},\"skus\":{{{}}}}}",
                    json!(&r[2]),
                    Self::price(&r[4]),
                    sale,
                    &r[5] == "1",
                    json!(photos.into_iter().map(|(_, v)| v).collect::<Vec<_>>()),
                    skus.join(",")
                )
            })
            .collect();
        format!(
            "{{\"product_id\":\"{id}\",\"results\":[{}]}}",
            results.join(",")
        )
    }

    fn related(&self, id: u32) -> Value {
        let mut rows = self.related.get(&id).cloned().unwrap_or_default();
        rows.sort();
        json!(rows
            .into_iter()
            .map(|(_, to)| to)
            .filter(|to| (1..=self.last_product).contains(to))
            .collect::<Vec<_>>())
    }
}

#[rocket::async_test]
async fn a_generated_dump_is_imported_and_served_as_its_csv_says() {
    let products = 3_000;
    let dump = generated_dump("end-to-end", products, 11);
    let db = TestDb::migrated();
    let report = import::run(
        &db.url,
        &ImportOptions {
            max_reject_percent: 1.0,
            ..common::import_options(&dump.0)
        },
    )
    .unwrap();
    assert_eq!(
        report.file(Table::Product).unwrap().loaded,
        u64::from(products)
    );
    // Every product's /styles answer was rendered by the import, so the
    // answers below are the rendered ones, not the rows'.
    let rendered: i64 = atelier::catalog::schema::styles_answers::table
        .count()
        .get_result(&mut db.connect())
        .unwrap();
    assert_eq!(rendered, i64::from(products));
    let oracle = Oracle::new(&dump.0, products);
    let client = common::client(&db).await;

    let mut sample = vec![1, 2, 3, 1_500, products - 1, products];
    sample.extend((0..20).map(|k| 1 + (k * 149) % products));
    // A product with many styles, and one with none, if the dump has them.
    sample.extend(
        oracle
            .styles
            .iter()
            .max_by_key(|(_, s)| s.len())
            .map(|(id, _)| *id),
    );
    sample.extend((1..=products).find(|id| !oracle.styles.contains_key(id)));
    // A product with a style without photos, and one with a style without
    // skus: the dump has them in the real proportions.
    let product_with_a_style_lacking = |children: &BTreeMap<u32, Vec<(u32, Value)>>| {
        oracle.styles.iter().find_map(|(product, styles)| {
            styles
                .iter()
                .any(|s| !children.contains_key(&s[0].parse::<u32>().unwrap()))
                .then_some(*product)
        })
    };
    let without_photos = product_with_a_style_lacking(&oracle.photos);
    let without_skus = product_with_a_style_lacking(&oracle.skus);
    assert!(without_photos.is_some() && without_skus.is_some());
    sample.extend(without_photos.into_iter().chain(without_skus));
    for id in sample {
        let response = client.get(format!("/products/{id}")).dispatch().await;
        assert_eq!(response.status(), Status::Ok);
        let body: Value = serde_json::from_str(&response.into_string().await.unwrap()).unwrap();
        assert_eq!(
            body,
            oracle.product(id, &body["created_at"]),
            "product {id}"
        );

        let response = client
            .get(format!("/products/{id}/styles"))
            .dispatch()
            .await;
        assert_eq!(
            response.into_string().await.unwrap(),
            oracle.styles(id),
            "styles of {id}"
        );

        let response = client
            .get(format!("/products/{id}/related"))
            .dispatch()
            .await;
        let body: Value = serde_json::from_str(&response.into_string().await.unwrap()).unwrap();
        assert_eq!(body, oracle.related(id), "related of {id}");
    }
}
