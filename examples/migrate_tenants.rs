//! `migrate_tenants`: run a demo application's migrations in every tenant,
//! from the command line, with a progress bar and a per-tenant report.
//!
//! The command itself is the library's ([`sea_orm_tenant::cli`], feature
//! `cli`); this example adds what only an application knows: where its
//! tenants live (`--database-url`), its migrators, and a `provision-many`
//! command for scale runs.
//!
//! ```text
//! # SQLite: one file per tenant in ./tenants, the registry in ./tenants/registry.db
//! cargo run --example migrate_tenants --features cli -- provision acme globex
//! cargo run --example migrate_tenants --features cli -- up
//! cargo run --example migrate_tenants --features cli -- status
//! cargo run --example migrate_tenants --features cli -- down -n 1      # or --steps 1
//! cargo run --example migrate_tenants --features cli -- list
//! cargo run --example migrate_tenants --features cli -- deprovision acme   # or drop acme
//!
//! # Postgres: a schema per tenant (`tenant_<id>`), global tables in `public`
//! cargo run --example migrate_tenants --features cli -- --database-url postgres://postgres@127.0.0.1/app \
//!     --concurrency 8 --keep-going up
//!
//! # MySQL/MariaDB: a database per tenant on that server, the registry in `app`
//! cargo run --example migrate_tenants --features cli -- --database-url mysql://root@127.0.0.1/app status
//!
//! # Many tenants at once (for a scale run)
//! cargo run --release --example migrate_tenants --features cli -- --database-url postgres://… provision-many t 1000
//! ```
//!
//! It prints one line per tenant that is not up to date, then a summary,
//! and exits with 1 when a tenant failed (2 when the run could not start).
//! The demo application (five tables in three migrations, and on Postgres
//! a global `currency` table) is in `migrate_tenants/app.rs`.

#[path = "migrate_tenants/app.rs"]
mod app;

use std::error::Error;
use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use sea_orm_tenant::cli::{MigrateArgs, MigrateCommand, MigrateOptions, TenantCli};
use sea_orm_tenant::prelude::*;

/// Migrate every tenant of the demo application.
#[derive(Parser, Debug)]
#[command(name = "migrate_tenants")]
struct Cli {
    /// Where the tenants live: a directory of SQLite files, `postgres://…`
    /// (a schema per tenant in that database) or `mysql://…` (a database
    /// per tenant on that server; the registry in the database named).
    #[arg(long, global = true, default_value = "./tenants")]
    database_url: String,
    #[command(flatten)]
    options: MigrateOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The library's commands: up, down, status, fresh, provision,
    /// deprovision (drop), list.
    #[command(flatten)]
    Migrate(MigrateCommand),
    /// Provision `<prefix>0001` … `<prefix><count>`.
    ProvisionMany {
        prefix: String,
        #[arg(value_parser = clap::value_parser!(u32).range(1..=100_000))]
        count: u32,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Box<dyn Error>> {
    let (tenancy, postgres) = open(&cli.database_url, usize::from(cli.options.concurrency)).await?;
    let command = match cli.command {
        Command::Migrate(command) => command,
        Command::ProvisionMany { prefix, count } => {
            let width = count.to_string().len().max(4);
            let mut tenants = Vec::with_capacity(count as usize);
            for i in 1..=count {
                tenants.push(TenantId::parse(&format!("{prefix}{i:0width$}"))?);
            }
            MigrateCommand::Provision { tenants }
        }
    };
    let mut migrate = TenantCli::new(tenancy, app::Migrator);
    if postgres {
        migrate = migrate.global(app::GlobalMigrator);
    }
    let args = MigrateArgs {
        options: cli.options,
        command,
    };
    Ok(migrate.execute(args).await.into())
}

/// The tenancy the URL names, and whether it is Postgres.
async fn open(url: &str, pool: usize) -> Result<(Tenancy, bool), Box<dyn Error>> {
    // A few spare connections: the registry and the global migrator.
    let pool = u32::try_from(pool + 2).unwrap_or(u32::MAX);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let db = connect(url, pool).await?;
        let tenancy = Tenancy::schema_per_tenant(db);
        return Ok((tenancy.with_migrator::<app::Migrator>(), true));
    }
    if let Some(rest) = url.strip_prefix("mysql://") {
        // `mysql://user@host:port/registry_db?options`: tenants' databases
        // are `tenant_<id>` on the same server, with the same options.
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, format!("?{query}")),
            None => (rest, String::new()),
        };
        let server = match path.rsplit_once('/') {
            Some((server, db)) if !db.is_empty() => format!("mysql://{server}"),
            _ => {
                return Err("a mysql:// URL must name the database that keeps the registry".into());
            }
        };
        let db = connect(url, pool).await?;
        let naming = Naming::default();
        let tenancy = Tenancy::database_per_tenant(move |t| {
            // Only called with ids that passed the naming rule.
            let name = naming
                .name_for(t)
                .map(|n| n.to_string())
                .unwrap_or_default();
            format!("{server}/{name}{query}")
        })
        .with_registry(db)
        .pool_connections(1);
        return Ok((tenancy.with_migrator::<app::Migrator>(), false));
    }
    if url.contains("://") && !url.starts_with("sqlite://") {
        return Err(format!(
            "unsupported --database-url `{url}`: use a directory, postgres://… or mysql://…"
        )
        .into());
    }
    let dir = Path::new(url.strip_prefix("sqlite://").unwrap_or(url));
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the directory {}: {e}", dir.display()))?;
    let registry = format!("sqlite://{}?mode=rwc", dir.join("registry.db").display());
    let tenancy = Tenancy::sqlite_files(dir)
        .with_registry(connect(&registry, pool).await?)
        .pool_connections(1);
    Ok((tenancy.with_migrator::<app::Migrator>(), false))
}

async fn connect(url: &str, max: u32) -> Result<DatabaseConnection, Box<dyn Error>> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max)
        .connect_timeout(std::time::Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .map_err(|e| format!("cannot connect to the database: {e}").into())
}
