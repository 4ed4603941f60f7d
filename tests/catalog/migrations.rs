//! The schema as the migrations build it: each `down.sql` undoes its
//! `up.sql`, concurrent start-ups do not race, the tables are the contract's,
//! every foreign key has an index, and `src/catalog/schema.rs` matches the database.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Barrier};

use crate::common::{schema_signature, Line, TestDb};
use atelier::db::migrations::{self, MIGRATIONS};
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_migrations::MigrationHarness;

/// Migrations that change rows, not the schema (tested with their data).
const DATA_ONLY: [&str; 1] = ["20261201000000"];

#[test]
fn each_down_undoes_its_up() {
    let db = TestDb::empty();
    let mut conn = db.connect();
    let count = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .unwrap()
        .len();
    assert!(count > 0);
    for _ in 0..count {
        let before = schema_signature(&mut conn, "public");
        let version = conn.run_next_migration(MIGRATIONS).unwrap().to_string();
        let after_up = schema_signature(&mut conn, "public");
        if !DATA_ONLY.contains(&version.as_str()) {
            assert_ne!(before, after_up, "{version} changes nothing");
        }
        conn.revert_last_migration(MIGRATIONS).unwrap();
        assert_eq!(
            schema_signature(&mut conn, "public"),
            before,
            "down of {version}"
        );
        conn.run_next_migration(MIGRATIONS).unwrap();
        assert_eq!(
            schema_signature(&mut conn, "public"),
            after_up,
            "redo of {version}"
        );
    }
    assert!(!conn.has_pending_migration(MIGRATIONS).unwrap());
    // And all the way back down again leaves nothing behind.
    for _ in 0..count {
        migrations::revert_last(&mut conn).unwrap();
    }
    assert_eq!(schema_signature(&mut conn, "public"), Vec::<String>::new());
}

#[test]
fn concurrent_start_ups_apply_each_migration_once() {
    let db = TestDb::empty();
    let count = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .unwrap()
        .len();
    let starters = 8;
    let barrier = Arc::new(Barrier::new(starters));
    let handles: Vec<_> = (0..starters)
        .map(|_| {
            let url = db.url.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).unwrap();
                barrier.wait();
                migrations::run_pending(&mut conn)
            })
        })
        .collect();
    let mut applied = 0;
    for handle in handles {
        applied += handle.join().unwrap().unwrap().len();
    }
    assert_eq!(applied, count);
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

fn columns(conn: &mut PgConnection) -> Vec<Column> {
    diesel::sql_query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text
           FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
          ORDER BY table_name, ordinal_position",
    )
    .load(conn)
    .unwrap()
}

#[test]
fn tables_and_columns_are_the_contracts() {
    let db = TestDb::migrated();
    let got: Vec<String> = columns(&mut db.connect())
        .into_iter()
        .map(|c| {
            format!(
                "{}.{} {} {}",
                c.table_name, c.column_name, c.data_type, c.is_nullable
            )
        })
        .collect();
    let expected = [
        "admin_audit.id bigint NO",
        "admin_audit.at timestamp with time zone NO",
        "admin_audit.token_name text NO",
        "admin_audit.action text NO",
        "admin_audit.resource text NO",
        "admin_audit.resource_id integer NO",
        "admin_audit.product_id integer NO",
        "admin_audit.change jsonb NO",
        "admin_audit.before jsonb YES",
        "admin_audit.after jsonb YES",
        "admin_audit.xact bigint NO",
        "features.id integer NO",
        "features.product_id integer NO",
        "features.feature text NO",
        "features.value text YES",
        "photos.id integer NO",
        "photos.style_id integer NO",
        "photos.url text NO",
        "photos.thumbnail_url text NO",
        "product.id integer NO",
        "product.name text NO",
        "product.slogan text NO",
        "product.description text NO",
        "product.category text NO",
        "product.default_price integer NO",
        "product.created_at timestamp with time zone NO",
        "product.updated_at timestamp with time zone NO",
        "product_answers.product_id integer NO",
        "product_answers.body text NO",
        "related.id integer NO",
        "related.current_product_id integer NO",
        "related.related_product_id integer NO",
        "skus.id integer NO",
        "skus.style_id integer NO",
        "skus.size text NO",
        "skus.quantity integer NO",
        "styles.id integer NO",
        "styles.product_id integer NO",
        "styles.name text NO",
        "styles.sale_price integer YES",
        "styles.original_price integer NO",
        "styles.default_style boolean NO",
        "styles_answers.product_id integer NO",
        "styles_answers.body text NO",
    ];
    assert_eq!(got, expected);
}

fn lines(conn: &mut PgConnection, sql: &str) -> Vec<String> {
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect()
}

#[test]
fn foreign_keys_and_their_indexes() {
    let db = TestDb::migrated();
    let mut conn = db.connect();
    let foreign_keys = lines(
        &mut conn,
        "SELECT format('%s.%s -> %s', c.conrelid::regclass, a.attname, c.confrelid::regclass) AS line
           FROM pg_constraint c
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
          WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
          ORDER BY 1",
    );
    assert_eq!(
        foreign_keys,
        [
            "features.product_id -> product",
            "photos.style_id -> styles",
            "product_answers.product_id -> product",
            "related.current_product_id -> product",
            "related.related_product_id -> product",
            "skus.style_id -> styles",
            "styles.product_id -> product",
            "styles_answers.product_id -> product",
        ]
    );
    // A foreign-key column is unindexed when no index starts with it.
    let unindexed = lines(
        &mut conn,
        "SELECT format('%s.%s', c.conrelid::regclass, a.attname) AS line
           FROM pg_constraint c
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
          WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
            AND NOT EXISTS (SELECT 1 FROM pg_index i
                             WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])",
    );
    assert_eq!(unindexed, Vec::<String>::new());
    let primary_keys = lines(
        &mut conn,
        "SELECT format('%s %s', conrelid::regclass, pg_get_constraintdef(oid)) AS line
           FROM pg_constraint
          WHERE contype = 'p' AND connamespace = 'public'::regnamespace
            AND conrelid::regclass::text <> '__diesel_schema_migrations'
          ORDER BY 1",
    );
    assert_eq!(
        primary_keys,
        [
            "admin_audit PRIMARY KEY (id)",
            "features PRIMARY KEY (id)",
            "photos PRIMARY KEY (id)",
            "product PRIMARY KEY (id)",
            "product_answers PRIMARY KEY (product_id)",
            "related PRIMARY KEY (id)",
            "skus PRIMARY KEY (id)",
            "styles PRIMARY KEY (id)",
            "styles_answers PRIMARY KEY (product_id)",
        ]
    );
}

/// The `diesel::table!` blocks `diesel print-schema` writes for the database.
fn printed_table_blocks(columns: &[Column]) -> String {
    let mut out = String::new();
    let mut current = "";
    for column in columns {
        if column.table_name != current {
            if !current.is_empty() {
                out.push_str("    }\n}\n\n");
            }
            current = &column.table_name;
            // The key is the first column: `id`, or `product_id` for
            // styles_answers.
            out.push_str(&format!(
                "diesel::table! {{\n    {current} ({}) {{\n",
                column.column_name
            ));
        }
        let sql_type = match column.data_type.as_str() {
            "integer" => "Int4",
            "bigint" => "Int8",
            "jsonb" => "Jsonb",
            "text" => "Text",
            "boolean" => "Bool",
            "timestamp with time zone" => "Timestamptz",
            other => panic!("no Diesel type for {other}"),
        };
        let sql_type = if column.is_nullable == "YES" {
            format!("Nullable<{sql_type}>")
        } else {
            sql_type.to_string()
        };
        out.push_str(&format!("        {} -> {sql_type},\n", column.column_name));
    }
    out.push_str("    }\n}\n");
    out
}

#[test]
fn schema_rs_is_what_print_schema_prints() {
    let db = TestDb::migrated();
    let expected = printed_table_blocks(&columns(&mut db.connect()));
    let schema_rs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/catalog/schema.rs"
    ))
    .unwrap();
    assert!(
        schema_rs.contains(&expected),
        "src/catalog/schema.rs is stale: run `diesel print-schema` (or `diesel migration run`).\nexpected:\n{expected}"
    );
}
