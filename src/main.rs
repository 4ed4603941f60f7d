//! The `atelier` command line: the one entry point for serving, migrating and
//! loading data. Each subcommand is a thin call into the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use diesel::Connection;

use atelier::catalog::answers::{self, RefreshScope, Stored};
use atelier::catalog::search;
use atelier::db::migrations;
use atelier::generate::{self, GenerateOptions};
use atelier::http::telemetry;
use atelier::import::{self, ImportOptions, ImportReport, ProgressMode};
use atelier::{admin, app, config};

/// mimalloc rather than glibc's malloc: a request's few dozen short-lived
/// allocations (Rocket's and hyper's header maps and values, boxed futures,
/// the task each request runs in), made on one worker thread and often freed
/// on another, cost glibc several times what they cost mimalloc.
///
/// Its arenas are committed lazily here, not eagerly as by default, which
/// kept tens of megabytes more resident for nothing. Memory it frees goes
/// back to the system after its default delay (10 ms), not at once: a
/// request that compresses its answer allocates and frees the encoder's
/// tables, and given back at once they were faulted in and zeroed again by
/// the next request, which took half of a compressing server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_arena_eager_commit`, by its place in mimalloc.h's
/// `mi_option_t` (v2), which libmimalloc-sys does not name.
#[cfg(target_os = "linux")]
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Sets the allocator's options (see [`ALLOCATOR`]) before the program's
/// first allocation: mimalloc reserves its first arena then, before `main`,
/// and commits it as the option says at that moment. Run by the loader,
/// from `.init_array`, like a C constructor.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;

#[cfg(target_os = "linux")]
extern "C" fn tune_allocator() {
    // SAFETY: mi_option_set only stores a value in mimalloc's static option
    // table, before anything else runs; any option and value are accepted.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
    }
}

#[derive(Parser)]
#[command(name = "atelier", version, about = "The Atelier Products API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the API.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Load the Atelier CSV dump in DIR, replacing the served data atomically.
    Import {
        /// Directory holding product.csv, features.csv, styles.csv,
        /// photos.csv, skus.csv and related.csv.
        dir: PathBuf,
        /// Where to write the rejected rows (file, line, reason, raw line).
        #[arg(long, default_value = "import-rejects.csv")]
        rejects: PathBuf,
        /// Abort, changing nothing, if more than this percentage of all rows
        /// is rejected (a truncated or wrong file, most likely).
        #[arg(long, default_value_t = 1.0)]
        max_reject_percent: f64,
        /// Print only the summary.
        #[arg(long)]
        quiet: bool,
        /// Do nothing if the database already holds products (for scripts
        /// that seed a fresh database).
        #[arg(long)]
        if_empty: bool,
        /// Yield to a service reading the same database: one session at a
        /// time without parallel workers, at the lowest CPU and I/O priority
        /// (slower alone; see docs/OPERATIONS.md).
        #[arg(long)]
        gentle: bool,
    },
    /// Manage the stored `/products/:id` and `/styles` answers.
    Answers {
        #[command(subcommand)]
        command: AnswersCommand,
    },
    /// Manage the search index.
    Search {
        #[command(subcommand)]
        command: SearchCommand,
    },
    /// Read the catalog (tables, TOAST, indexes) into PostgreSQL's buffers
    /// with pg_prewarm, on DATABASE_URL and every DATABASE_REPLICA_URLS.
    Prewarm,
    /// Manage the admin API's tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Write a synthetic dump in the real dump's format to DIR.
    Generate {
        /// Number of products (the real dump has 1000011).
        #[arg(long, default_value_t = 10_000)]
        products: u32,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Random seed: the same seed writes the same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum AnswersCommand {
    /// Render and store the `/products/:id` and `/styles` answers of every
    /// product (or of those given), for data loaded or edited by other means
    /// than an import.
    /// The API keeps serving meanwhile.
    Refresh {
        /// Only the products that have no stored answer.
        #[arg(long, conflicts_with = "product")]
        missing: bool,
        /// Only these products (repeatable).
        #[arg(long, value_name = "ID", num_args = 1..)]
        product: Vec<i32>,
    },
}

#[derive(Subcommand)]
enum SearchCommand {
    /// Build the search index again from the catalog's rows, for data loaded
    /// with the triggers that keep it current off, and to drop the words no
    /// product has any more. Holds off writers of products and features
    /// until it is done; the API keeps serving the old index meanwhile.
    Refresh,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a token for the admin API: prints the token (once; it is stored
    /// nowhere) and the entry that makes an instance accept it.
    New {
        /// Who or what uses it (letters, digits, '-', '_', '.'), as the audit
        /// log records each write.
        name: String,
    },
}

fn main() -> anyhow::Result<()> {
    config::load_dotenv();
    match Cli::parse().command {
        Command::Serve => serve(),
        Command::Migrate => migrate().map(|_| ()),
        Command::Import {
            dir,
            rejects,
            max_reject_percent,
            quiet,
            if_empty,
            gentle,
        } => import_dump(
            ImportOptions {
                dir,
                rejects,
                max_reject_percent,
                progress: if quiet {
                    ProgressMode::Quiet
                } else {
                    ProgressMode::Auto
                },
                gentle,
                // Read from the configuration by `import_dump`.
                replicas: Vec::new(),
            },
            if_empty,
        ),
        Command::Answers {
            command: AnswersCommand::Refresh { missing, product },
        } => refresh_answers(if missing {
            RefreshScope::Missing
        } else if !product.is_empty() {
            RefreshScope::Products(product)
        } else {
            RefreshScope::All
        }),
        Command::Search {
            command: SearchCommand::Refresh,
        } => refresh_search(),
        Command::Prewarm => prewarm_databases(),
        Command::Token {
            command: TokenCommand::New { name },
        } => new_token(&name),
        Command::Generate {
            products,
            out,
            seed,
        } => generate_dump(GenerateOptions {
            products,
            out,
            seed,
        }),
    }
}

/// `atelier import`: the dump into DATABASE_URL, unless `if_empty` and the
/// database already holds products.
fn import_dump(mut options: ImportOptions, if_empty: bool) -> anyhow::Result<()> {
    let url = config::database_url()?;
    options.replicas = config::replica_urls(&config::figment(&url));
    if if_empty {
        let products = import::count_products(&url)?;
        if products > 0 {
            println!("the database already holds {products} products; nothing imported");
            return Ok(());
        }
    }
    let report = import::run(&url, &options)?;
    print_import_report(&report);
    Ok(())
}

/// `atelier answers refresh`: the stored answers of `scope`, both kinds.
fn refresh_answers(scope: RefreshScope) -> anyhow::Result<()> {
    let url = migrate()?;
    let mut conn = diesel::PgConnection::establish(&url).context("connecting to the database")?;
    for stored in Stored::ALL {
        let report = answers::refresh(&mut conn, stored, &scope, true)
            .with_context(|| format!("refreshing the stored {} answers", stored.endpoint()))?;
        println!(
            "stored {} {} answers in {:.1}s",
            report.stored,
            stored.endpoint(),
            report.elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// `atelier search refresh`: the search index built again.
fn refresh_search() -> anyhow::Result<()> {
    let url = migrate()?;
    let mut conn = diesel::PgConnection::establish(&url).context("connecting to the database")?;
    let report = search::build::refresh(&mut conn).context("refreshing the search index")?;
    println!(
        "indexed {} products for search in {:.1}s",
        report.products,
        report.elapsed.as_secs_f64()
    );
    Ok(())
}

/// `atelier prewarm`: the catalog into the buffers of the primary and of
/// every replica the service is configured to read.
fn prewarm_databases() -> anyhow::Result<()> {
    let url = config::database_url()?;
    let replicas = config::replica_urls(&config::figment(&url));
    let targets = std::iter::once(url.as_str()).chain(replicas.iter().map(String::as_str));
    for (n, target) in targets.enumerate() {
        let name = if n == 0 {
            "primary".to_string()
        } else {
            format!("replica {n}")
        };
        let mut conn = diesel::PgConnection::establish(target)
            .with_context(|| format!("connecting to the {name}"))?;
        let report = atelier::db::prewarm::prewarm(&mut conn)
            .with_context(|| format!("prewarming the {name}"))?;
        println!(
            "{name}: read {} relations, {} MB, in {:.1}s",
            report.relations.len(),
            report.blocks() * 8 / 1024,
            report.elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// `atelier token new`: a new admin token and the entry that accepts it.
fn new_token(name: &str) -> anyhow::Result<()> {
    let made = admin::auth::new_token(name).map_err(anyhow::Error::msg)?;
    println!("token: {}", made.token);
    println!("entry: {}", made.entry);
    eprintln!(
        "Give the token to {name}: it is shown only now and stored nowhere. Add the \
         entry to ATELIER_ADMIN_TOKENS (entries are separated by commas) and restart \
         the instances."
    );
    Ok(())
}

/// `atelier generate`: a dump in the Atelier CSV format.
fn generate_dump(options: GenerateOptions) -> anyhow::Result<()> {
    let report = generate::generate(&options)
        .with_context(|| format!("writing the dump to {}", options.out.display()))?;
    let total: u64 = report.rows.iter().map(|(_, n)| n).sum();
    for (table, rows) in &report.rows {
        println!("{:>14} {rows:>12} rows", table.file_name());
    }
    println!(
        "{:>14} {total:>12} rows in {:.1}s to {}",
        "total",
        report.elapsed.as_secs_f64(),
        options.out.display()
    );
    Ok(())
}

fn print_import_report(report: &ImportReport) {
    println!(
        "{:>14} {:>11} {:>11} {:>9} {:>9} {:>11} {:>8}  rejected by reason",
        "file", "read", "loaded", "repaired", "rejected", "rows/s", "seconds"
    );
    for (table, file) in &report.files {
        let seconds = file.elapsed.as_secs_f64();
        let reasons: Vec<String> = file
            .rejected
            .iter()
            .map(|(kind, n)| format!("{kind}: {n}"))
            .collect();
        println!(
            "{:>14} {:>11} {:>11} {:>9} {:>9} {:>11.0} {:>8.1}  {}",
            table.file_name(),
            file.read,
            file.loaded,
            file.repaired,
            file.rejected_total(),
            file.read as f64 / seconds.max(1e-6),
            seconds,
            reasons.join(", ")
        );
    }
    for (phase, elapsed) in &report.phases {
        println!("{phase:>25}: {:.1}s", elapsed.as_secs_f64());
    }
    for warmed in &report.warmed {
        match warmed.blocks {
            Some(blocks) => println!(
                "read into {}'s buffers before the swap: {} MB",
                warmed.server,
                blocks * 8 / 1024
            ),
            None => println!("left cold on {} (see the warning)", warmed.server),
        }
    }
    println!(
        "imported in {:.1}s; rejected rows are in {}",
        report.elapsed.as_secs_f64(),
        report.rejects.display()
    );
}

fn migrate() -> anyhow::Result<String> {
    let url = config::database_url()?;
    let applied = migrations::migrate(&url)?;
    if applied.is_empty() {
        eprintln!("migrations: the schema is up to date");
    } else {
        eprintln!("migrations: applied {}", applied.join(", "));
    }
    Ok(url)
}

fn serve() -> anyhow::Result<()> {
    let figment = config::figment(&config::database_url()?);
    let settings: config::Settings = figment.extract().context("reading the settings")?;
    telemetry::init(&settings)?;
    let url = migrate()?;
    report_missing_answers(url.clone());
    let workers = config::workers(&figment);
    let runtime = rocket::tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("rocket-worker-thread")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let figment = figment.merge(("workers", workers));
    runtime
        .block_on(app::build(figment).launch())
        .map(|_| ())
        .context("serving the API")
}

/// Says, without holding up start-up, how many products have no stored
/// answer of each kind: each is answered from its rows, at several times
/// the cost, until `atelier answers refresh --missing` renders it.
fn report_missing_answers(url: String) {
    std::thread::spawn(move || {
        let mut conn = match diesel::PgConnection::establish(&url) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!("answers: counting the products without a stored answer: {e}");
                return;
            }
        };
        for stored in Stored::ALL {
            let endpoint = stored.endpoint();
            match answers::count_missing(&mut conn, stored) {
                Ok(0) => tracing::info!("answers: every product has a stored {endpoint} answer"),
                Ok(n) => tracing::warn!(
                    "answers: {n} products have no stored {endpoint} answer and are answered \
                     from their rows; `atelier answers refresh --missing` stores them"
                ),
                Err(e) => tracing::warn!(
                    "answers: counting the products without a stored {endpoint} answer: {e}"
                ),
            }
        }
    });
}
