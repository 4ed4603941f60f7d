//! `atelier import DIR`: loads the Atelier CSV dump into the database.
//!
//! The six files are checked row by row (see `tables`), streamed through
//! binary `COPY` into tables of a staging schema, indexed, constrained and
//! analysed there with the `/styles` answers and the search index derived
//! from them, and only then swapped for the served tables in one
//! transaction. Until that commit the served data is untouched: a failed or
//! killed import leaves it as it was, and the API answers throughout.
//! Every rejected row goes to a rejects report with its file, line and reason.

mod answers;
pub mod csv;
mod indexes;
mod progress;
mod sessions;
pub mod tables;
pub mod warm;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::pg::CopyFormat;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use roaring::RoaringBitmap;

pub use answers::render_answers;
pub use progress::ProgressMode;
pub use sessions::Sessions;

use self::csv::{Fields, RawRecord, RecordReader};
use self::progress::FileProgress;
use self::tables::{
    encode_row, HeaderMap, LoadedIds, RejectKind, Table, COPY_HEADER, COPY_TRAILER,
};
use crate::catalog::answers::Stored;
use crate::catalog::schema;
use crate::catalog::search::build as search;
use crate::db::migrations;

/// The schema the next data set is built in.
pub const STAGING_SCHEMA: &str = "atelier_import";
/// The schema the replaced tables are moved to by the swap, to be dropped
/// once readers have the new ones (removing their files takes seconds, and
/// no reader should wait for it).
const RETIRED_SCHEMA: &str = "atelier_retired";

/// A table an import replaces: its schema and its name (which is its name
/// in the staging schema too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Served {
    schema: &'static str,
    name: &'static str,
}

impl Served {
    fn public(name: &'static str) -> Served {
        Served {
            schema: "public",
            name,
        }
    }

    /// Whether it is one of the search index's tables, built from the
    /// loaded ones (see `catalog::search::build`).
    fn is_search(self) -> bool {
        self.schema == search::SCHEMA
    }
}

/// Every table an import replaces: the six of the dump, the stored answers
/// (derived from them, see `answers`), then the search index's.
fn served_tables() -> impl Iterator<Item = Served> {
    Table::LOAD_ORDER
        .iter()
        .map(|t| Served::public(t.table_name()))
        .chain(
            Stored::ALL
                .iter()
                .map(|stored| Served::public(stored.table())),
        )
        .chain(search::TABLES.iter().map(|&name| Served {
            schema: search::SCHEMA,
            name,
        }))
}

use crate::db::locks::IMPORT_LOCK;

/// How long an import waits for the admin writes in flight to commit.
const WRITES_IN_FLIGHT_TIMEOUT: &str = "30s";

/// What can stop an import. Rejected rows do not: they are reported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Database(#[from] diesel::result::Error),
    #[error("connecting to the database: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("writing the rejects report {path}: {source}")]
    Rejects {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another import is running on this database")]
    Busy,
    #[error(
        "{rejected} of {read} rows were rejected ({ratio:.2}%), more than the {limit:.2}% allowed \
         (--max-reject-percent); nothing was changed, see {rejects}"
    )]
    TooManyRejects {
        rejected: u64,
        read: u64,
        ratio: f64,
        limit: f64,
        rejects: String,
    },
    #[error("{0}")]
    Other(String),
}

impl ImportError {
    fn file(path: &Path, message: impl Into<String>) -> Self {
        ImportError::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// How to run an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The directory holding the six CSV files.
    pub dir: PathBuf,
    /// Where the rejects report goes.
    pub rejects: PathBuf,
    /// Abort (changing nothing) if more than this percentage of rows is rejected.
    pub max_reject_percent: f64,
    pub progress: ProgressMode,
    /// Yield to a service sharing the database (see `sessions`).
    pub gentle: bool,
    /// The database's read replicas (`DATABASE_REPLICA_URLS`): the new
    /// tables are read into their buffers too before the swap (see `warm`).
    pub replicas: Vec<String>,
}

/// What happened to one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileReport {
    pub read: u64,
    pub loaded: u64,
    pub repaired: u64,
    pub rejected: BTreeMap<RejectKind, u64>,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl FileReport {
    /// Rows rejected for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub files: Vec<(Table, FileReport)>,
    /// Time spent in each phase after loading: indexes, analyze, swap.
    pub phases: Vec<(&'static str, Duration)>,
    /// The batches the stored answers were rendered in: the products that
    /// exist divided by the batch size, rounded up, however sparse their ids.
    pub answer_batches: usize,
    /// The servers the new tables were read into before the swap: the
    /// primary, then each replica.
    pub warmed: Vec<warm::Warmed>,
    pub rejects: PathBuf,
    pub elapsed: Duration,
}

impl ImportReport {
    /// The report of one file.
    pub fn file(&self, table: Table) -> Option<&FileReport> {
        self.files.iter().find(|(t, _)| *t == table).map(|(_, r)| r)
    }
}

/// Writes rejected rows: `file,line,reason,raw`.
struct RejectsWriter {
    path: PathBuf,
    out: ::csv::Writer<BufWriter<File>>,
}

impl RejectsWriter {
    fn create(path: &Path) -> Result<Self, ImportError> {
        let error = |source| ImportError::Rejects {
            path: path.to_path_buf(),
            source,
        };
        let file = File::create(path).map_err(error)?;
        let mut out = ::csv::Writer::from_writer(BufWriter::new(file));
        out.write_record(["file", "line", "reason", "raw"])
            .map_err(|e| error(e.into()))?;
        Ok(RejectsWriter {
            path: path.to_path_buf(),
            out,
        })
    }

    fn write(
        &mut self,
        file: &str,
        line: u64,
        reason: &str,
        raw: &[u8],
    ) -> Result<(), ImportError> {
        let line = line.to_string();
        let raw = String::from_utf8_lossy(raw);
        self.out
            .write_record([file, line.as_str(), reason, &raw])
            .map_err(|e| ImportError::Rejects {
                path: self.path.clone(),
                source: e.into(),
            })
    }

    fn finish(mut self) -> Result<(), ImportError> {
        self.out.flush().map_err(|source| ImportError::Rejects {
            path: self.path.clone(),
            source,
        })
    }
}

/// A dump file opened and its header checked.
struct OpenFile {
    table: Table,
    path: PathBuf,
    reader: RecordReader<BufReader<File>>,
    header: HeaderMap,
    size: u64,
}

/// Opens every file and checks every header before anything is changed.
fn open_files(dir: &Path) -> Result<Vec<OpenFile>, ImportError> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for table in Table::LOAD_ORDER {
        let path = dir.join(table.file_name());
        match open_file(table, &path) {
            Ok(file) => files.push(file),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(ImportError::Other(format!(
            "the dump in {} cannot be imported:\n  {}",
            dir.display(),
            problems.join("\n  ")
        )))
    }
}

fn open_file(table: Table, path: &Path) -> Result<OpenFile, ImportError> {
    let file = File::open(path).map_err(|e| ImportError::file(path, e.to_string()))?;
    let size = file
        .metadata()
        .map_err(|e| ImportError::file(path, e.to_string()))?
        .len();
    let mut reader = RecordReader::new(
        BufReader::with_capacity(1 << 20, file),
        table.repairs_unterminated_quotes(),
    );
    let mut record = RawRecord::default();
    let read = reader
        .read(&mut record)
        .map_err(|e| ImportError::file(path, e.to_string()))?;
    if !read {
        return Err(ImportError::file(
            path,
            "the file is empty (no header line)",
        ));
    }
    let mut fields = Fields::default();
    fields
        .split(&record.bytes)
        .map_err(|e| ImportError::file(path, format!("header line: {e}")))?;
    let header = HeaderMap::new(table, &fields).map_err(|e| ImportError::file(path, e))?;
    Ok(OpenFile {
        table,
        path: path.to_path_buf(),
        reader,
        header,
        size,
    })
}

/// Streams one file into its staging table as binary `COPY` data.
fn stream_file(
    file: &mut OpenFile,
    loaded: &mut LoadedIds,
    rejects: &mut RejectsWriter,
    progress_mode: ProgressMode,
    copy: &mut dyn Write,
) -> Result<FileReport, ImportError> {
    let started = Instant::now();
    let mut report = FileReport::default();
    let mut progress = FileProgress::start(progress_mode, file.table.file_name(), file.size);
    let mut seen_own = RoaringBitmap::new();
    let mut record = RawRecord::default();
    let mut fields = Fields::default();
    let mut out = BufWriter::with_capacity(1 << 18, copy);
    let mut tuple = Vec::with_capacity(1024);
    let io_error = |e: std::io::Error| ImportError::file(&file.path, e.to_string());
    out.write_all(COPY_HEADER).map_err(io_error)?;
    let name = file.table.file_name();
    loop {
        let more = file.reader.read(&mut record).map_err(io_error)?;
        if !more {
            break;
        }
        report.read += 1;
        if report.read % 8192 == 0 {
            progress.update(report.read, file.reader.bytes_read());
        }
        let seen = match file.table {
            Table::Product => &loaded.products,
            Table::Styles => &loaded.styles,
            _ => &seen_own,
        };
        tuple.clear();
        let outcome = match fields.split(&record.bytes) {
            Err(e) => Err(tables::Reject::new(RejectKind::Malformed, e.to_string())),
            Ok(()) => encode_row(file.table, &file.header, &fields, seen, loaded, &mut tuple),
        };
        match outcome {
            Ok(id) => {
                out.write_all(&tuple).map_err(io_error)?;
                match file.table {
                    Table::Product => loaded.products.insert(id),
                    Table::Styles => loaded.styles.insert(id),
                    _ => seen_own.insert(id),
                };
                report.loaded += 1;
                report.repaired += u64::from(record.repaired);
            }
            Err(reject) => {
                let reason = if record.repaired {
                    format!("{} (after closing an unterminated quote)", reject.reason)
                } else {
                    reject.reason
                };
                // The report shows the line as it stands in the file.
                let raw = if record.repaired {
                    &record.bytes[..record.bytes.len() - 1]
                } else {
                    &record.bytes[..]
                };
                rejects.write(name, record.line, &reason, raw)?;
                *report.rejected.entry(reject.kind).or_default() += 1;
            }
        }
    }
    out.write_all(COPY_TRAILER).map_err(io_error)?;
    out.flush().map_err(io_error)?;
    progress.update(report.read, file.reader.bytes_read());
    progress.finish();
    report.bytes = file.size;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// `COPY`s one file into the staging table of the same name (the session's
/// search path is the staging schema).
fn load_file(
    conn: &mut PgConnection,
    file: &mut OpenFile,
    loaded: &mut LoadedIds,
    rejects: &mut RejectsWriter,
    progress: ProgressMode,
) -> Result<FileReport, ImportError> {
    use std::cell::RefCell;
    // Diesel's callback is `Fn`; the file's state lives in cells around it.
    let state = RefCell::new((file, loaded, rejects, None::<FileReport>));
    let write = |copy: &mut dyn Write| -> Result<(), ImportError> {
        let mut guard = state.borrow_mut();
        let (file, loaded, rejects, report) = &mut *guard;
        *report = Some(stream_file(file, loaded, rejects, progress, copy)?);
        Ok(())
    };
    // FREEZE writes the rows frozen and their pages all-visible, so the first
    // reads after the swap do not each dirty a page setting hint bits, and
    // index-only scans work at once. It needs the table emptied in the same
    // transaction as the COPY.
    macro_rules! copy_into {
        ($table:ident: $($column:ident),+) => {
            conn.transaction(|conn| {
                diesel::sql_query(concat!("TRUNCATE ", stringify!($table))).execute(conn)?;
                diesel::copy_from(schema::$table::table)
                    .from_raw_data(($(schema::$table::$column,)+), write)
                    .with_format(CopyFormat::Binary)
                    .with_freeze(true)
                    .execute(conn)
            })
        };
    }
    let table = state.borrow().0.table;
    let copied = match table {
        Table::Product => {
            copy_into!(product: id, name, slogan, description, category, default_price)
        }
        Table::Features => copy_into!(features: id, product_id, feature, value),
        Table::Styles => copy_into!(
            styles: id, product_id, name, sale_price, original_price, default_style
        ),
        Table::Photos => copy_into!(photos: id, style_id, url, thumbnail_url),
        Table::Skus => copy_into!(skus: id, style_id, size, quantity),
        Table::Related => copy_into!(related: id, current_product_id, related_product_id),
    }?;
    let (_, _, _, report) = state.into_inner();
    let report = report.ok_or_else(|| ImportError::Other("COPY wrote no data".into()))?;
    if copied as u64 != report.loaded {
        return Err(ImportError::Other(format!(
            "{}: COPY stored {copied} rows, expected {}",
            table.file_name(),
            report.loaded
        )));
    }
    Ok(report)
}

#[derive(QueryableByName)]
struct Ddl {
    #[diesel(sql_type = Text)]
    ddl: String,
}

/// The statements that give a staging table the indexes and constraints its
/// served twin has, read from the catalog so the staging tables follow
/// whatever the migrations made: primary and unique keys first (foreign keys
/// need them), then the other indexes, then checks and foreign keys, then
/// triggers.
fn twin_ddl(conn: &mut PgConnection, table: Served) -> Result<Vec<String>, ImportError> {
    // With an empty search path every name in the definitions comes out
    // schema-qualified, so pointing them at the staging schema is exact.
    diesel::sql_query("SET LOCAL search_path = pg_catalog").execute(conn)?;
    let rows: Vec<Ddl> = diesel::sql_query(
        "SELECT ddl FROM (
           SELECT format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', $1::text, $2::text,
                         conname, pg_get_constraintdef(oid)) AS ddl,
                  CASE contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 ELSE 3 END AS step, conname AS name
             FROM pg_constraint
            WHERE conrelid = format('%I.%I', $3::text, $2::text)::regclass
              AND contype IN ('p', 'u', 'f')
           UNION ALL
           SELECT pg_get_indexdef(i.indexrelid), 2, c.relname
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = format('%I.%I', $3::text, $2::text)::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
           UNION ALL
           SELECT pg_get_triggerdef(t.oid), 4, t.tgname
             FROM pg_trigger t
            WHERE t.tgrelid = format('%I.%I', $3::text, $2::text)::regclass
              AND NOT t.tgisinternal
         ) d ORDER BY step, name",
    )
    .bind::<Text, _>(STAGING_SCHEMA)
    .bind::<Text, _>(table.name)
    .bind::<Text, _>(table.schema)
    .load(conn)?;
    let on_served = format!(" ON {}.{} ", table.schema, table.name);
    let on_staging = format!(" ON {STAGING_SCHEMA}.{} ", table.name);
    Ok(rows
        .into_iter()
        .map(|row| {
            row.ddl.replacen(&on_served, &on_staging, 1).replace(
                " REFERENCES public.",
                &format!(" REFERENCES {STAGING_SCHEMA}."),
            )
        })
        .collect())
}

fn release_lock(conn: &mut PgConnection) {
    let _ = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(IMPORT_LOCK)
        .execute(conn);
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

/// Takes [`IMPORT_LOCK`] for this session: at once, or after the admin
/// writes in flight (which hold it shared) commit; new writes are refused
/// from the moment this waits. Another import holding it is an error.
fn take_import_lock(conn: &mut PgConnection) -> Result<(), ImportError> {
    let locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind::<BigInt, _>(IMPORT_LOCK)
        .get_result::<Locked>(conn)?;
    if locked.locked {
        return Ok(());
    }
    let another_import = diesel::sql_query(
        "SELECT EXISTS (
           SELECT 1 FROM pg_locks
            WHERE locktype = 'advisory' AND mode = 'ExclusiveLock' AND granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND classid = ($1 >> 32)::oid AND objid = ($1 & 4294967295)::oid
              AND objsubid = 1
         ) AS locked",
    )
    .bind::<BigInt, _>(IMPORT_LOCK)
    .get_result::<Locked>(conn)?;
    if another_import.locked {
        return Err(ImportError::Busy);
    }
    let waited = conn.transaction(|conn| {
        diesel::sql_query(format!(
            "SET LOCAL lock_timeout = '{WRITES_IN_FLIGHT_TIMEOUT}'"
        ))
        .execute(conn)?;
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(IMPORT_LOCK)
            .execute(conn)
    });
    match waited {
        Ok(_) => Ok(()),
        Err(e) => Err(ImportError::Other(format!(
            "waiting for the admin writes in flight to commit: {e}"
        ))),
    }
}

/// Products currently served (0 on a database not migrated yet).
pub fn count_products(database_url: &str) -> Result<i64, ImportError> {
    let mut conn = PgConnection::establish(database_url)?;
    migrations::run_pending(&mut conn).map_err(|e| ImportError::Other(e.to_string()))?;
    Ok(schema::product::table.count().get_result(&mut conn)?)
}

/// Imports the dump in `options.dir` into the database at `database_url`.
pub fn run(database_url: &str, options: &ImportOptions) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    let sessions = Sessions::new(database_url, options.gentle);
    sessions.lower_own_priority();
    let mut files = open_files(&options.dir)?;
    let mut conn = sessions.open()?;
    migrations::run_pending(&mut conn).map_err(|e| ImportError::Other(e.to_string()))?;
    take_import_lock(&mut conn)?;
    let result = import_locked(&mut conn, sessions, &mut files, options, started);
    if result.is_err() {
        // Best effort: a later import drops these schemas anyway.
        let _ = diesel::sql_query("RESET search_path").execute(&mut conn);
        for schema in [STAGING_SCHEMA, RETIRED_SCHEMA] {
            let _ = diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&mut conn);
        }
    }
    release_lock(&mut conn);
    result
}

/// What the staging tables get once their rows are in: the statements that
/// give them their served twins' keys, indexes, constraints and triggers
/// (see [`twin_ddl`]), for the dump's tables, the answers and the search
/// index's tables.
struct TwinDdl {
    loaded: Vec<Vec<String>>,
    answers: Vec<String>,
    search: Vec<Vec<String>>,
}

/// Makes the staging schema afresh, with a table `LIKE` each served one
/// (columns, defaults, checks; no indexes yet), and reads what the staging
/// tables get later.
fn create_staging(conn: &mut PgConnection) -> Result<TwinDdl, ImportError> {
    let mut staging_ddl = vec![
        format!("DROP SCHEMA IF EXISTS {RETIRED_SCHEMA} CASCADE"),
        format!("DROP SCHEMA IF EXISTS {STAGING_SCHEMA} CASCADE"),
        format!("CREATE SCHEMA {STAGING_SCHEMA}"),
    ];
    let mut twin = TwinDdl {
        loaded: Vec::new(),
        answers: Vec::new(),
        search: Vec::new(),
    };
    conn.transaction(|conn| {
        for table in served_tables() {
            let Served { schema, name } = table;
            staging_ddl.push(format!(
                "CREATE TABLE {STAGING_SCHEMA}.{name} (LIKE {schema}.{name} INCLUDING DEFAULTS \
                 INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE \
                 INCLUDING COMPRESSION)"
            ));
            if Stored::ALL.iter().any(|stored| stored.table() == name) {
                twin.answers.extend(twin_ddl(conn, table)?);
            } else if table.is_search() {
                twin.search.push(twin_ddl(conn, table)?);
            } else {
                twin.loaded.push(twin_ddl(conn, table)?);
            }
        }
        Ok::<_, ImportError>(())
    })?;
    for statement in &staging_ddl {
        diesel::sql_query(statement).execute(conn)?;
    }
    Ok(twin)
}

fn import_locked(
    conn: &mut PgConnection,
    sessions: Sessions<'_>,
    files: &mut [OpenFile],
    options: &ImportOptions,
    started: Instant,
) -> Result<ImportReport, ImportError> {
    // Index builds and foreign-key checks run in this session.
    diesel::sql_query("SET maintenance_work_mem = '256MB'").execute(conn)?;
    let twin = create_staging(conn)?;

    let mut rejects = RejectsWriter::create(&options.rejects)?;
    let mut loaded = LoadedIds::default();
    let mut reports = Vec::new();
    diesel::sql_query(format!("SET search_path = {STAGING_SCHEMA}")).execute(conn)?;
    for file in files.iter_mut() {
        let report = load_file(conn, file, &mut loaded, &mut rejects, options.progress)?;
        reports.push((file.table, report));
    }
    diesel::sql_query("RESET search_path").execute(conn)?;
    rejects.finish()?;

    let read: u64 = reports.iter().map(|(_, r)| r.read).sum();
    let rejected: u64 = reports.iter().map(|(_, r)| r.rejected_total()).sum();
    let ratio = 100.0 * rejected as f64 / read.max(1) as f64;
    if ratio > options.max_reject_percent {
        return Err(ImportError::TooManyRejects {
            rejected,
            read,
            ratio,
            limit: options.max_reject_percent,
            rejects: options.rejects.display().to_string(),
        });
    }

    let mut phases = Vec::new();
    let phase_started = Instant::now();
    progress::phase(options.progress, "building indexes and constraints");
    let parts = sessions.parts();
    let loaded: Vec<&String> = twin.loaded.iter().flatten().collect();
    indexes::build(conn, sessions, &loaded, parts)?;
    // The answers and the search index are built by queries on these
    // tables: without statistics the planner guesses their sizes, and a
    // batch of the answers' lookups can take a minute instead of a moment.
    for table in Table::LOAD_ORDER {
        diesel::sql_query(format!("ANALYZE {STAGING_SCHEMA}.{}", table.table_name()))
            .execute(conn)?;
    }
    phases.push(("indexes and constraints", phase_started.elapsed()));

    let phase_started = Instant::now();
    progress::phase(options.progress, "rendering the stored answers");
    let mut answer_batches = 0;
    for stored in Stored::ALL {
        answer_batches += answers::render_answers(stored, sessions, STAGING_SCHEMA, parts)?.batches;
    }
    // Their keys and foreign keys after the rows, like the loaded tables'.
    for statement in &twin.answers {
        diesel::sql_query(statement).execute(conn)?;
    }
    phases.push(("stored answers", phase_started.elapsed()));

    let phase_started = Instant::now();
    progress::phase(options.progress, "building the search index");
    build_search_index(conn, sessions, parts)?;
    // Its keys, indexes and foreign key after the rows, like the others'.
    let search: Vec<&String> = twin.search.iter().flatten().collect();
    indexes::build(conn, sessions, &search, parts)?;
    phases.push(("search index", phase_started.elapsed()));

    let phase_started = Instant::now();
    progress::phase(options.progress, "analyzing");
    // The loaded tables were analysed after their indexes.
    for table in served_tables().skip(Table::LOAD_ORDER.len()) {
        diesel::sql_query(format!("ANALYZE {STAGING_SCHEMA}.{}", table.name)).execute(conn)?;
    }
    phases.push(("analyze", phase_started.elapsed()));

    let phase_started = Instant::now();
    progress::phase(options.progress, "reading the new tables into memory");
    let warmed = warm::warm(conn, STAGING_SCHEMA, &options.replicas)?;
    phases.push(("warm", phase_started.elapsed()));

    let phase_started = Instant::now();
    progress::phase(options.progress, "swapping the new data in");
    swap(sessions, &options.replicas)?;
    phases.push(("swap", phase_started.elapsed()));

    Ok(ImportReport {
        files: reports,
        phases,
        answer_batches,
        warmed,
        rejects: options.rejects.clone(),
        elapsed: started.elapsed(),
    })
}

/// Builds the search index's rows in the staging schema from the loaded
/// tables: the products in `parts` ranges of ids, each on a connection of
/// its own (parsing the text is most of an import's CPU after the
/// answers), then the vocabulary and the counts on `conn`.
fn build_search_index(
    conn: &mut PgConnection,
    sessions: Sessions<'_>,
    parts: usize,
) -> Result<(), ImportError> {
    let ranges = search::id_ranges(conn, STAGING_SCHEMA, parts)?;
    std::thread::scope(|scope| {
        let workers: Vec<_> = ranges
            .iter()
            .map(|&(lo, hi)| {
                scope.spawn(move || -> Result<i64, ImportError> {
                    let mut conn = sessions.open()?;
                    Ok(search::build_products(
                        &mut conn,
                        STAGING_SCHEMA,
                        STAGING_SCHEMA,
                        lo,
                        hi,
                    )?)
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| ImportError::Other("a search index builder panicked".into()))??;
        }
        Ok::<_, ImportError>(())
    })?;
    search::build_words_and_counts(conn, STAGING_SCHEMA, STAGING_SCHEMA)?;
    Ok(())
}

/// How long the replaced tables are kept after the swap before they are
/// dropped: time for the service's sessions to run their statements again
/// against the new tables (see `swap`).
const RETIRED_GRACE: Duration = Duration::from_secs(1);
/// How long one attempt of the swap waits for the served tables: every
/// request that reads them queues behind a waiting swap, so a wait must stay
/// within what a request may take.
const SWAP_LOCK_WAIT: &str = "50ms";
/// The pause between two attempts: long enough for the queries that held
/// the tables to finish, and for those that queued behind the attempt.
const SWAP_RETRY_PAUSE_SECONDS: f64 = 0.2;
/// How long the swap keeps trying before the import gives up (changing
/// nothing): a reader holding the tables that long is not a request.
const SWAP_PATIENCE: &str = "60s";

/// The statement that takes the served tables for the swap, in attempts
/// that each wait at most [`SWAP_LOCK_WAIT`]: a failed attempt's locks are
/// released (its subtransaction rolled back) so the requests queued behind
/// it go on, and after [`SWAP_PATIENCE`] it fails with `lock_not_available`.
fn lock_served_tables(tables: &str) -> String {
    format!(
        "DO $swap$
         DECLARE
           started timestamptz := clock_timestamp();
         BEGIN
           LOOP
             BEGIN
               SET LOCAL lock_timeout = '{SWAP_LOCK_WAIT}';
               LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE;
               SET LOCAL lock_timeout = 0;
               RETURN;
             EXCEPTION WHEN lock_not_available THEN
               IF clock_timestamp() - started > interval '{SWAP_PATIENCE}' THEN
                 RAISE EXCEPTION USING
                   ERRCODE = 'lock_not_available',
                   MESSAGE = 'the served tables were held by other sessions for {SWAP_PATIENCE}; '
                     || 'nothing was changed',
                   HINT = 'pg_stat_activity shows who holds them';
               END IF;
             END;
             PERFORM pg_sleep({SWAP_RETRY_PAUSE_SECONDS});
           END LOOP;
         END
         $swap$"
    )
}

/// Replaces the served tables with the staging ones in one transaction, on
/// a session of normal priority: readers wait while it holds or waits for
/// the tables, so it takes them only when they come free within a moment
/// (see [`lock_served_tables`]) and only moves them, the served ones aside
/// into the retired schema and the staging ones into their place. The
/// retired tables are dropped after the commit and a grace, at the lowest
/// priority, while readers already use the new ones.
fn swap(sessions: Sessions<'_>, replicas: &[String]) -> Result<(), ImportError> {
    let tables: Vec<Served> = served_tables().collect();
    let served: Vec<String> = tables
        .iter()
        .map(|Served { schema, name }| format!("{schema}.{name}"))
        .collect();
    sessions.open_urgent()?.transaction(|conn| {
        diesel::sql_query(lock_served_tables(&served.join(", "))).execute(conn)?;
        diesel::sql_query(format!("CREATE SCHEMA {RETIRED_SCHEMA}")).execute(conn)?;
        for Served { schema, name } in &tables {
            diesel::sql_query(format!(
                "ALTER TABLE {schema}.{name} SET SCHEMA {RETIRED_SCHEMA}"
            ))
            .execute(conn)?;
            diesel::sql_query(format!(
                "ALTER TABLE {STAGING_SCHEMA}.{name} SET SCHEMA {schema}"
            ))
            .execute(conn)?;
        }
        diesel::sql_query(format!("DROP SCHEMA {STAGING_SCHEMA}")).execute(conn)?;
        Ok::<_, ImportError>(())
    })?;
    // A session's prepared statements still name the retired tables until
    // it runs them again: it locks them first and only then finds its plan
    // outdated. Dropping a table holds its lock while its buffers are
    // released and its files removed, so a request running such a statement
    // meanwhile would wait for that; after the grace the sessions in use
    // have planned again against the new tables. One table at a time, so a
    // straggler waits for one table's removal at most; those that refer to
    // others first. Releasing the buffers and removing the files is work
    // the service should not wait behind, so it runs at the lowest priority.
    // The grace counts on each replica from when it has replayed the swap:
    // one catching up replays what the primary did over seconds in a
    // moment, and would replay the drops before its sessions had planned
    // again.
    let mut idle = sessions.open_idle()?;
    if !replicas.is_empty() {
        let written = warm::current_wal_position(&mut idle)?;
        warm::wait_for_replicas(replicas, &written);
    }
    std::thread::sleep(RETIRED_GRACE);
    for Served { name, .. } in tables.iter().rev() {
        diesel::sql_query(format!("DROP TABLE {RETIRED_SCHEMA}.{name}")).execute(&mut idle)?;
    }
    diesel::sql_query(format!("DROP SCHEMA {RETIRED_SCHEMA}")).execute(&mut idle)?;
    Ok(())
}
