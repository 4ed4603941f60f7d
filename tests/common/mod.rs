//! Shared test support, for every suite (each `tests/<suite>/main.rs` has
//! it as `mod common`): a fresh PostgreSQL database per test, the real
//! Rocket application on top of it, and the schema as the catalog describes
//! it; raw HTTP ([`http`]), the `atelier` binary as a process
//! ([`process`]) and the shared streaming replica ([`replica`]).
//!
//! Nothing here is per test binary but [`replica::REPLAY`] and the counters
//! that keep names apart within a process (databases, scratch directories).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod fixtures;
pub mod http;
pub mod process;
pub mod replica;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use atelier::db::migrations;
use atelier::import::tables::Table;
use atelier::import::{ImportOptions, ProgressMode};
use atelier::{app, config};
use diesel::prelude::*;
use diesel::sql_types::Text;
use rocket::local::asynchronous::Client;

/// The server every test database is created on: `DATABASE_URL`, as
/// `scripts/test.sh` exports it. Its role must be allowed to create databases.
pub fn server_url() -> String {
    atelier::config::load_dotenv();
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must point at a PostgreSQL server (scripts/test.sh sets it)")
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (head, rest) = url.split_at(scheme_end);
    let query = rest.find('?').map_or("", |i| &rest[i..]);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    format!("{head}{authority}/{name}{query}")
}

/// `path` with each parameter's name left out, as the OpenAPI document
/// (`{style_id}`) and a route (`<id>`) write it, so the two compare.
pub fn path_shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') || segment.starts_with('<') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
    server: String,
}

impl TestDb {
    /// An empty database (no migrations applied).
    pub fn empty() -> TestDb {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let server = server_url();
        let name = format!(
            "atelier_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = PgConnection::establish(&server).expect("connecting to DATABASE_URL");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("creating a test database (does the role have CREATEDB?)");
        let url = with_database(&server, &name);
        TestDb { name, url, server }
    }

    /// A database with every migration applied.
    pub fn migrated() -> TestDb {
        let db = TestDb::empty();
        migrations::migrate(&db.url).expect("migrating the test database");
        db
    }

    /// A migrated database holding the fixture catalog.
    pub fn with_fixtures() -> TestDb {
        let db = TestDb::migrated();
        fixtures::insert(&mut db.connect());
        db
    }

    /// A migrated database holding the fixture catalog, with every product's
    /// `/products/:id` and `/styles` answers rendered as an import leaves
    /// them.
    pub fn with_rendered_fixtures() -> TestDb {
        let db = TestDb::with_fixtures();
        db.render_product_answers();
        db.render_styles_answers();
        db
    }

    /// Renders every product's `/styles` answer, as an import does.
    pub fn render_styles_answers(&self) -> u64 {
        self.render_answers(atelier::catalog::answers::Stored::Styles)
    }

    /// Renders every product's `/products/:id` answer, as an import does.
    pub fn render_product_answers(&self) -> u64 {
        self.render_answers(atelier::catalog::answers::Stored::Product)
    }

    fn render_answers(&self, stored: atelier::catalog::answers::Stored) -> u64 {
        atelier::import::render_answers(
            stored,
            atelier::import::Sessions::new(&self.url, false),
            "public",
            2,
        )
        .expect("rendering the stored answers")
        .rows
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connecting to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.server) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

/// The configuration of the application the tests run on `database_url`,
/// with `overrides` (figment key, value) on top of the defaults.
pub fn test_figment(
    database_url: &str,
    overrides: &[(&str, serde_json::Value)],
) -> rocket::figment::Figment {
    // Nothing connects in the background (connections on demand, no catalog
    // watcher unless a test asks): a test process that exits while a thread
    // is still connecting can crash in OpenSSL's exit handlers.
    let mut figment = config::figment(database_url)
        .merge(("log_level", "critical"))
        .merge(("databases.atelier.min_idle", 0))
        .merge(("catalog_poll_ms", 0));
    for (key, value) in overrides {
        figment = figment.merge((*key, value.clone()));
    }
    figment
}

/// The real application on `database_url`, with `overrides` (figment key,
/// value) on top of the defaults.
pub async fn client_with(database_url: &str, overrides: &[(&str, serde_json::Value)]) -> Client {
    Client::untracked(app::build(test_figment(database_url, overrides)))
        .await
        .expect("a valid Rocket application")
}

/// The real application on `db`.
pub async fn client(db: &TestDb) -> Client {
    client_with(&db.url, &[]).await
}

/// A row of one text column, for raw SQL that gives lines.
#[derive(QueryableByName, Debug)]
pub struct Line {
    #[diesel(sql_type = Text)]
    pub line: String,
}

/// Every column, index, constraint and trigger of the tables in `schema`, its
/// functions (with a hash of their bodies) and its sequences, one sorted line
/// each: two databases with the same signature have the same schema.
pub fn schema_signature(conn: &mut PgConnection, schema: &str) -> Vec<String> {
    diesel::sql_query(
        "SELECT line FROM (
           SELECT format('column %s.%s %s null=%s default=%s', table_name, column_name,
                         data_type, is_nullable, column_default) AS line
             FROM information_schema.columns
            WHERE table_schema = $1 AND table_name <> '__diesel_schema_migrations'
           UNION ALL
           SELECT format('index %s', regexp_replace(indexdef, ' ON \\S+\\.', ' ON '))
             FROM pg_indexes
            WHERE schemaname = $1 AND tablename <> '__diesel_schema_migrations'
           UNION ALL
           SELECT format('trigger %s', regexp_replace(pg_get_triggerdef(t.oid), ' ON \\S+\\.', ' ON '))
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relnamespace = $1::regnamespace AND NOT t.tgisinternal
           UNION ALL
           SELECT format('compression %s.%s %s', c.relname, a.attname, a.attcompression)
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r'
              AND a.attcompression <> ''
           UNION ALL
           SELECT format('function %s %s', p.oid::regprocedure, md5(p.prosrc))
             FROM pg_proc p WHERE p.pronamespace = $1::regnamespace
           UNION ALL
           SELECT format('sequence %s', c.relname)
             FROM pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'S' 
           UNION ALL
           SELECT format('constraint %s %s %s %s', c.relname, con.conname,
                         pg_get_constraintdef(con.oid), con.convalidated)
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
            WHERE con.connamespace = $1::regnamespace
              AND c.relname <> '__diesel_schema_migrations'
         ) lines ORDER BY line",
    )
    .bind::<Text, _>(schema)
    .load::<Line>(conn)
    .unwrap()
    .into_iter()
    .map(|l| l.line)
    .collect()
}

/// A quiet import of the dump in `dir`, its rejects written beside it,
/// whatever their share.
pub fn import_options(dir: &Path) -> ImportOptions {
    ImportOptions {
        dir: dir.to_path_buf(),
        rejects: dir.join("rejects.csv"),
        max_reject_percent: 100.0,
        progress: ProgressMode::Quiet,
        gentle: false,
        replicas: Vec::new(),
    }
}

/// `url` without TLS: a test that runs the catalog watcher's thread may end
/// while it connects, and OpenSSL's exit handlers then crash.
pub fn plain(url: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode=disable")
}

/// The importer's defects fixture (see its README).
pub fn defects_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/defects")
}

/// A scratch directory removed at the end of the test.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new directory named after `name`, the process and a number of its
    /// own: tests that share a process may give the same name.
    pub fn new(name: &str) -> Scratch {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "atelier-test-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A copy of the defects fixture in this directory.
    pub fn with_defects(name: &str) -> Scratch {
        let scratch = Scratch::new(name);
        for table in Table::LOAD_ORDER {
            std::fs::copy(
                defects_dir().join(table.file_name()),
                scratch.0.join(table.file_name()),
            )
            .unwrap();
        }
        scratch
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A generated dump of `products` products in a scratch directory.
pub fn generated_dump(name: &str, products: u32, seed: u64) -> Scratch {
    let scratch = Scratch::new(name);
    atelier::generate::generate(&atelier::generate::GenerateOptions {
        products,
        out: scratch.0.clone(),
        seed,
    })
    .expect("generating a dump");
    scratch
}

/// A session of `db` holding the `product` table locked: every statement
/// that reads it waits until [`ProductLock::release_soon`]. Tests use it to
/// keep a fetch in flight while other requests arrive, whatever the timing.
pub struct ProductLock(PgConnection);

impl ProductLock {
    pub fn take(db: &TestDb) -> ProductLock {
        use diesel::connection::SimpleConnection;
        let mut conn = db.connect();
        conn.batch_execute("BEGIN; LOCK TABLE product IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        ProductLock(conn)
    }

    /// Releases the lock after 300 ms: time for every request started before
    /// to have been polled to its wait.
    pub async fn release_soon(mut self) {
        use diesel::connection::SimpleConnection;
        rocket::tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        self.0.batch_execute("ROLLBACK").unwrap();
    }
}

/// Whether a session of the database `conn` is connected to waits for a
/// lock, running a statement that starts with `query_start` (`""`: any).
pub fn waits_on_a_lock(conn: &mut PgConnection, query_start: &str) -> bool {
    let waiting: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "(SELECT count(*) FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'
             AND query LIKE '{query_start}%')"
    )))
    .get_result(conn)
    .unwrap();
    waiting > 0
}

/// Returns once a session of `db` runs a statement that starts with
/// `query_start` and waits on a lock (at most 30 s).
pub async fn until_waiting(db: &TestDb, query_start: &str) {
    let mut conn = db.connect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !waits_on_a_lock(&mut conn, query_start) {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing waited on {query_start:?}"
        );
        rocket::tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Returns once a session of `db` waits for a lock (at most 30 s).
pub async fn until_a_lock_is_waited_on(db: &TestDb) {
    until_waiting(db, "").await;
}

/// A TCP port on loopback that nothing listens on right now, for a server
/// a test starts as its own process.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
