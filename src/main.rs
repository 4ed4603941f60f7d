//! The `atelier` command line: the one entry point for serving, migrating and
//! loading data. Each subcommand is a thin call into the library.

use anyhow::Context;
use clap::{Parser, Subcommand};

use atelier::{app, config, migrations};

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
}

fn main() -> anyhow::Result<()> {
    config::load_dotenv();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve => serve(),
        Command::Migrate => migrate().map(|_| ()),
    }
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
    let url = migrate()?;
    rocket::execute(app::build(config::figment(&url)).launch())
        .map(|_| ())
        .context("serving the API")
}
