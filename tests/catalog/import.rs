//! `atelier import` on dumps written for the tests: exact database contents
//! and exact rejects for every defect class, atomicity when an import fails
//! or is killed, repeatability, and the API answering throughout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::common;
use crate::common::{defects_dir, import_options, schema_signature, Line, Scratch, TestDb};
use atelier::import::tables::{RejectKind, Table};
use atelier::import::{self, ImportError, ImportOptions, ImportReport};
use diesel::prelude::*;
use serde_json::{json, Value};

fn options(dir: &Path, rejects: &Path) -> ImportOptions {
    ImportOptions {
        rejects: rejects.to_path_buf(),
        ..import_options(dir)
    }
}

fn import_dir(db: &TestDb, dir: &Path, rejects: &Path) -> Result<ImportReport, ImportError> {
    import::run(&db.url, &options(dir, rejects))
}

fn schema_exists(conn: &mut PgConnection, name: &str) -> bool {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{name}')"
    )))
    .get_result(conn)
    .unwrap()
}

/// Every row of `table` as JSON (without `product`'s timestamps), by id.
fn rows(conn: &mut PgConnection, table: &str) -> Vec<Value> {
    diesel::sql_query(format!(
        "SELECT (to_jsonb(t) - 'created_at' - 'updated_at')::text AS line FROM public.{table} t ORDER BY id"
    ))
    .load::<Line>(conn)
    .unwrap()
    .into_iter()
    .map(|l| serde_json::from_str(&l.line).unwrap())
    .collect()
}

/// The whole served data set, table by table.
fn contents(conn: &mut PgConnection) -> Vec<(&'static str, Vec<Value>)> {
    Table::LOAD_ORDER
        .iter()
        .map(|t| (t.table_name(), rows(conn, t.table_name())))
        .collect()
}

fn product(
    id: i32,
    name: &str,
    slogan: &str,
    description: &str,
    category: &str,
    price: i32,
) -> Value {
    json!({"id": id, "name": name, "slogan": slogan, "description": description,
           "category": category, "default_price": price})
}

fn style(
    id: i32,
    product_id: i32,
    name: &str,
    sale: Option<i32>,
    original: i32,
    default: bool,
) -> Value {
    json!({"id": id, "product_id": product_id, "name": name, "sale_price": sale,
           "original_price": original, "default_style": default})
}

fn photo(id: i32, style_id: i32) -> Value {
    json!({"id": id, "style_id": style_id,
           "url": format!("https://img.example/{id}-full"),
           "thumbnail_url": format!("https://img.example/{id}-thumb")})
}

fn expected_defects_contents() -> Vec<(&'static str, Vec<Value>)> {
    vec![
        (
            "product",
            vec![
                product(
                    1,
                    "Camo Onesie",
                    "Blend in to your crowd",
                    "The So Fatigues will wake you up, and \"fit\" you in.",
                    "Jackets",
                    140,
                ),
                product(
                    2,
                    "Bright Future Sunglasses",
                    "You've got to wear shades",
                    "Where you're going.  Two spaces.",
                    "Accessories",
                    69,
                ),
                product(
                    3,
                    "Morning Joggers",
                    "Make yourself a morning person",
                    "Joggers.",
                    "Pants",
                    40,
                ),
                product(
                    6,
                    "Infinity Stone",
                    "Reality",
                    "Stone.",
                    "Accessories",
                    500_000_000,
                ),
                product(
                    8,
                    "Quoted null",
                    "null",
                    "The word null, quoted.",
                    "Pants",
                    10,
                ),
            ],
        ),
        (
            "styles",
            vec![
                style(1, 1, "Forest Green & Black", None, 140, true),
                style(2, 1, "Desert Brown & Tan", None, 140, false),
                style(3, 1, "Ocean Blue & Grey", Some(100), 140, false),
                style(4, 2, "Black Lenses & Black Frame", None, 69, false),
                style(5, 6, "Reality", None, 500_000_000, true),
                style(6, 6, "Space", None, 500_000_000, true),
            ],
        ),
        (
            "features",
            vec![
                json!({"id": 1, "product_id": 1, "feature": "Fabric", "value": "Canvas"}),
                json!({"id": 2, "product_id": 1, "feature": "Buttons", "value": "Brass"}),
                json!({"id": 3, "product_id": 2, "feature": "UV Protection", "value": null}),
                json!({"id": 4, "product_id": 2, "feature": "Lenses", "value": "Ultrasheen"}),
                json!({"id": 6, "product_id": 8, "feature": "Value", "value": "null"}),
            ],
        ),
        (
            "related",
            vec![
                json!({"id": 1, "current_product_id": 1, "related_product_id": 2}),
                json!({"id": 2, "current_product_id": 1, "related_product_id": 3}),
                json!({"id": 3, "current_product_id": 1, "related_product_id": 3}),
                json!({"id": 4, "current_product_id": 1, "related_product_id": 1}),
                json!({"id": 7, "current_product_id": 2, "related_product_id": 1}),
            ],
        ),
        (
            "photos",
            vec![
                photo(1, 1),
                photo(2, 1),
                photo(3, 2),
                photo(6, 5),
                photo(8, 3),
            ],
        ),
        (
            "skus",
            vec![
                json!({"id": 1, "style_id": 1, "size": "S", "quantity": 16}),
                json!({"id": 2, "style_id": 1, "size": "XS", "quantity": 8}),
                json!({"id": 3, "style_id": 1, "size": "XL", "quantity": 15}),
                json!({"id": 4, "style_id": 1, "size": "XL", "quantity": 4}),
                json!({"id": 7, "style_id": 2, "size": "One Size", "quantity": 3}),
            ],
        ),
    ]
}

const EXPECTED_REJECTS: &str = "\
file,line,reason,raw
product.csv,5,id 3 appears earlier in product.csv,\"3,\"\"Duplicate Joggers\"\",\"\"Again\"\",\"\"Again.\"\",\"\"Pants\"\",40\"
product.csv,6,\"default_price \"\"12.5\"\" is not a whole number from 0 to 2147483647\",\"4,\"\"Broken Price\"\",\"\"Half off\"\",\"\"Half.\"\",\"\"Pants\"\",12.5\"
product.csv,7,\"expected 6 fields, found 5\",\"5,\"\"Too Few\"\",\"\"Fields\"\",\"\"Short.\"\",\"\"Pants\"\"\"
product.csv,9,name is null but required,\"7,null,\"\"Nameless\"\",\"\"No name.\"\",\"\"Pants\"\",10\"
styles.csv,8,product_id 4 is not a loaded row of product.csv,\"7,4,\"\"Orphan\"\",null,12,1\"
styles.csv,9,\"default_style \"\"yes\"\" is not 1 or 0\",\"8,1,\"\"Bad Flag\"\",null,140,yes\"
styles.csv,10,product_id 99 is not a loaded row of product.csv,\"9,99,\"\"Nowhere\"\",null,1,0\"
features.csv,6,product_id 5 is not a loaded row of product.csv,\"5,5,\"\"Orphan\"\",\"\"Nobody\"\"\"
related.csv,6,related_product_id 0 is not a loaded row of product.csv,\"5,2,0\"
related.csv,7,related_product_id 1000 is not a loaded row of product.csv,\"6,2,1000\"
photos.csv,5,style_id 7 is not a loaded row of styles.csv,\"4,7,\"\"https://img.example/4-full\"\",\"\"https://img.example/4-thumb\"\"\"
photos.csv,6,text follows the closing quote of a field (after closing an unterminated quote),\"5,1,\"\"https://img.example/5-full,\"\"https://img.example/5-thumb\"\"\"
skus.csv,6,\"quantity \"\"-1\"\" is not a whole number from 0 to 2147483647\",\"5,3,\"\"M\"\",-1\"
skus.csv,7,style_id 9 is not a loaded row of styles.csv,\"6,9,\"\"M\"\",1\"
";

#[test]
fn every_defect_class_is_loaded_repaired_or_rejected_exactly() {
    let db = TestDb::migrated();
    let scratch = Scratch::new("defects");
    let rejects = scratch.0.join("rejects.csv");
    let report = import_dir(&db, &defects_dir(), &rejects).unwrap();

    assert_eq!(contents(&mut db.connect()), expected_defects_contents());
    assert_eq!(std::fs::read_to_string(&rejects).unwrap(), EXPECTED_REJECTS);

    use RejectKind::*;
    // file, rows read, loaded, repaired, rejected by reason
    type Expected<'a> = (Table, u64, u64, u64, &'a [(RejectKind, u64)]);
    let expected: [Expected; 6] = [
        (
            Table::Product,
            9,
            5,
            0,
            &[(ColumnCount, 1), (InvalidValue, 2), (DuplicateId, 1)],
        ),
        (
            Table::Styles,
            9,
            6,
            0,
            &[(InvalidValue, 1), (MissingReference, 2)],
        ),
        (Table::Features, 6, 5, 0, &[(MissingReference, 1)]),
        (Table::Related, 7, 5, 0, &[(MissingReference, 2)]),
        (
            Table::Photos,
            7,
            5,
            2,
            &[(Malformed, 1), (MissingReference, 1)],
        ),
        (
            Table::Skus,
            7,
            5,
            0,
            &[(InvalidValue, 1), (MissingReference, 1)],
        ),
    ];
    for (table, read, loaded, repaired, rejected) in expected {
        let file = report.file(table).unwrap();
        assert_eq!(
            (
                file.read,
                file.loaded,
                file.repaired,
                file.rejected.clone().into_iter().collect::<Vec<_>>()
            ),
            (read, loaded, repaired, rejected.to_vec()),
            "{}",
            table.file_name()
        );
    }
}

#[test]
fn timestamps_are_the_time_of_the_import() {
    let db = TestDb::migrated();
    let scratch = Scratch::new("timestamps");
    let before = chrono::Utc::now();
    import_dir(&db, &defects_dir(), &scratch.0.join("rejects.csv")).unwrap();
    let after = chrono::Utc::now();
    use atelier::catalog::schema::product::dsl::*;
    let stamps: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> = product
        .select((created_at, updated_at))
        .load(&mut db.connect())
        .unwrap();
    assert_eq!(stamps.len(), 5);
    for (created, updated) in stamps {
        assert_eq!(created, updated);
        assert!(
            before - chrono::Duration::seconds(1) <= created && created <= after,
            "{created}"
        );
    }
}

#[test]
fn the_served_schema_is_the_migrated_one_after_an_import() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let migrated = schema_signature(&mut conn, "public");
    let scratch = Scratch::new("schema");
    import_dir(&db, &defects_dir(), &scratch.0.join("rejects.csv")).unwrap();
    assert_eq!(schema_signature(&mut conn, "public"), migrated);
    assert!(!schema_exists(&mut conn, import::STAGING_SCHEMA));
}

#[test]
fn a_gentle_import_loads_the_same_data_and_leaves_no_schema_behind() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let migrated = schema_signature(&mut conn, "public");
    let scratch = Scratch::new("gentle");
    let rejects = scratch.0.join("rejects.csv");
    let gentle = ImportOptions {
        gentle: true,
        ..options(&defects_dir(), &rejects)
    };
    // On a thread of its own: a gentle import lowers its caller's priority.
    let report = std::thread::scope(|s| s.spawn(|| import::run(&db.url, &gentle)).join())
        .unwrap()
        .unwrap();
    assert_eq!(contents(&mut conn), expected_defects_contents());
    assert_eq!(std::fs::read_to_string(&rejects).unwrap(), EXPECTED_REJECTS);
    assert_eq!(report.file(Table::Product).unwrap().loaded, 5);
    assert_eq!(schema_signature(&mut conn, "public"), migrated);
    assert!(!schema_exists(&mut conn, import::STAGING_SCHEMA));
    assert!(!schema_exists(&mut conn, "atelier_retired"));
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

#[derive(QueryableByName)]
struct BackendPid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// The nice value of process `pid`, from /proc (field 19 of its stat line).
fn nice_of(pid: i32) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(16).unwrap().parse().unwrap()
}

#[test]
fn a_gentle_session_has_no_parallel_workers_and_the_lowest_priority_it_may_have() {
    let db = TestDb::migrated();
    let mut plain = import::Sessions::new(&db.url, false).open().unwrap();
    let mut gentle = import::Sessions::new(&db.url, true).open().unwrap();
    let setting = |conn: &mut PgConnection| -> String {
        diesel::sql_query("SELECT current_setting('max_parallel_maintenance_workers') AS value")
            .get_result::<Setting>(conn)
            .unwrap()
            .value
    };
    assert_ne!(setting(&mut plain), "0");
    assert_eq!(setting(&mut gentle), "0");
    let pid = |conn: &mut PgConnection| -> i32 {
        diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<BackendPid>(conn)
            .unwrap()
            .pid
    };
    assert_eq!(nice_of(pid(&mut plain)), 0);
    // The database runs on this machine; as root (or the server's own user)
    // its processes may be reniced, otherwise they keep their priority.
    let permitted = may_renice(pid(&mut gentle));
    assert_eq!(nice_of(pid(&mut gentle)), if permitted { 19 } else { 0 });
}

/// Whether this process may lower process `pid`'s priority: as root, or as
/// the user it runs as.
fn may_renice(pid: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let owner: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    let me = std::fs::read_to_string("/proc/self/status").unwrap();
    let mine: u32 = me
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    mine == 0 || mine == owner
}

#[test]
fn importing_twice_gives_the_same_database() {
    let db = TestDb::migrated();
    let scratch = Scratch::new("twice");
    let rejects = scratch.0.join("rejects.csv");
    import_dir(&db, &defects_dir(), &rejects).unwrap();
    let first = contents(&mut db.connect());
    import_dir(&db, &defects_dir(), &rejects).unwrap();
    assert_eq!(contents(&mut db.connect()), first);
    assert_eq!(std::fs::read_to_string(&rejects).unwrap(), EXPECTED_REJECTS);
}

#[test]
fn a_missing_file_or_wrong_header_changes_nothing() {
    let db = TestDb::migrated();
    let good = Scratch::new("good");
    import_dir(&db, &defects_dir(), &good.0.join("rejects.csv")).unwrap();
    let before = contents(&mut db.connect());

    let missing = Scratch::with_defects("missing");
    std::fs::remove_file(missing.0.join("skus.csv")).unwrap();
    let error = import_dir(&db, &missing.0, &missing.0.join("rejects.csv")).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("cannot be imported"), "{message}");
    assert!(
        message.contains(&format!("{}: ", missing.0.join("skus.csv").display())),
        "{message}"
    );

    let header = Scratch::with_defects("header");
    std::fs::write(
        header.0.join("features.csv"),
        "id,product,feature,value\n1,1,\"a\",\"b\"",
    )
    .unwrap();
    let message = import_dir(&db, &header.0, &header.0.join("rejects.csv"))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("features.csv: header has columns [id,product,feature,value], expected [id,product_id,feature,value]"),
        "{message}"
    );

    assert_eq!(contents(&mut db.connect()), before);
}

#[test]
fn too_many_rejects_abort_after_loading_and_change_nothing() {
    let db = TestDb::migrated();
    let good = Scratch::new("first");
    import_dir(&db, &defects_dir(), &good.0.join("rejects.csv")).unwrap();
    let mut conn = db.connect();
    let before = contents(&mut conn);
    let signature = schema_signature(&mut conn, "public");

    // A dump where most rows are bad: every table was loaded into staging
    // before the import gave up.
    let bad = Scratch::with_defects("bad");
    std::fs::write(bad.0.join("product.csv"), "id,name,slogan,description,category,default_price\n9,\"Only\",\"One\",\"Row.\",\"Pants\",1").unwrap();
    let mut opts = options(&bad.0, &bad.0.join("rejects.csv"));
    opts.max_reject_percent = 5.0;
    let error = import::run(&db.url, &opts).unwrap_err();
    assert!(
        matches!(error, ImportError::TooManyRejects { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("nothing was changed"), "{error}");

    assert_eq!(contents(&mut conn), before);
    assert_eq!(schema_signature(&mut conn, "public"), signature);
    assert!(!schema_exists(&mut conn, import::STAGING_SCHEMA));
}

#[derive(QueryableByName)]
struct Pages {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pages: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    visible: i32,
}

#[test]
fn imported_pages_are_all_visible() {
    // Loaded with COPY FREEZE: no first read has to dirty a page to set hint
    // bits, and index-only scans work at once.
    let db = TestDb::migrated();
    let dump = common::generated_dump("frozen", 2_000, 8);
    import_dir(&db, &dump.0, &dump.0.join("rejects.csv")).unwrap();
    let mut conn = db.connect();
    for table in Table::LOAD_ORDER {
        let pages: Pages = diesel::sql_query(format!(
            "SELECT relpages AS pages, relallvisible AS visible FROM pg_class
              WHERE oid = 'public.{}'::regclass",
            table.table_name()
        ))
        .get_result(&mut conn)
        .unwrap();
        assert!(pages.pages > 0, "{}", table.table_name());
        assert_eq!(pages.visible, pages.pages, "{}", table.table_name());
    }
}

/// A dump of `dense` products with ids from 1, and products with ids near
/// 2^31: each with one style, one photo and one sku.
fn write_sparse_dump(dir: &Path, dense: i32, sparse: &[i32]) -> Vec<i32> {
    let ids: Vec<i32> = (1..=dense).chain(sparse.iter().copied()).collect();
    let mut files: Vec<(&str, String)> = vec![
        (
            "product.csv",
            "id,name,slogan,description,category,default_price\n".into(),
        ),
        ("features.csv", "id,product_id,feature,value\n".into()),
        (
            "styles.csv",
            "id,productId,name,sale_price,original_price,default_style\n".into(),
        ),
        ("photos.csv", "id,styleId,url,thumbnail_url\n".into()),
        ("skus.csv", "id,styleId,size,quantity\n".into()),
        (
            "related.csv",
            "id,current_product_id,related_product_id\n".into(),
        ),
    ];
    for (n, id) in ids.iter().enumerate() {
        let style = n + 1;
        files[0].1 +=
            &format!("{id},\"Product {id}\",\"Slogan\",\"Description\",\"Jackets\",140\n");
        files[2].1 += &format!("{style},{id},\"Forest Green\",null,140,1\n");
        files[3].1 += &format!(
            "{style},{style},\"https://img.example/{style}.jpg\",\"https://img.example/{style}-t.jpg\"\n"
        );
        files[4].1 += &format!("{style},{style},\"M\",{}\n", n % 30);
    }
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    ids
}

#[test]
fn sparse_ids_render_their_answers_in_as_few_batches_as_dense_ones() {
    let db = TestDb::migrated();
    let scratch = Scratch::new("sparse");
    let dump = scratch.0.join("dump");
    std::fs::create_dir_all(&dump).unwrap();
    // The original service's test rows reach 987,654,326; these reach the
    // largest id a product can have.
    let ids = write_sparse_dump(&dump, 2_001, &[987_654_326, 2_147_483_600, i32::MAX]);
    let report = import_dir(&db, &dump, &scratch.0.join("rejects.csv")).unwrap();
    // 2,004 products, 2,000 a batch: 2 batches of each kind of answer (by
    // id arithmetic it would be over a million).
    assert_eq!(report.answer_batches, 4);
    let mut conn = db.connect();
    use atelier::catalog::answers::{render_ids, Stored};
    use atelier::catalog::schema::{product_answers, styles_answers};
    let styles: Vec<(i32, String)> = styles_answers::table
        .order(styles_answers::product_id)
        .select((styles_answers::product_id, styles_answers::body))
        .load(&mut conn)
        .unwrap();
    let products: Vec<(i32, String)> = product_answers::table
        .order(product_answers::product_id)
        .select((product_answers::product_id, product_answers::body))
        .load(&mut conn)
        .unwrap();
    for (stored, answers) in [(Stored::Styles, &styles), (Stored::Product, &products)] {
        assert_eq!(answers.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);
        let rendered = render_ids(&mut conn, stored, &[i32::MAX]).unwrap();
        assert_eq!(rendered.as_slice(), &answers[answers.len() - 1..]);
    }
    let (styles_last, product_last) = (&styles.last().unwrap().1, &products.last().unwrap().1);
    assert!(
        styles_last.starts_with(&format!("{{\"product_id\":\"{}\",", i32::MAX)),
        "{styles_last}"
    );
    let head = format!(
        "\"name\":\"Product {}\",\"slogan\":\"Slogan\",\"description\":\"Description\",\
         \"category\":\"Jackets\",\"default_price\":\"140.00\",\"created_at\":\"",
        i32::MAX
    );
    assert!(product_last.starts_with(&head), "{product_last}");
    assert!(
        product_last.ends_with("Z\",\"features\":[]}"),
        "{product_last}"
    );
}
