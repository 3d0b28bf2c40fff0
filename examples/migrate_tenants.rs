//! `migrate_tenants`: run a demo application's migrations in every tenant,
//! from the command line, with a progress bar and a per-tenant report.
//!
//! ```text
//! # SQLite: one file per tenant in ./tenants, the registry in ./tenants/registry.db
//! cargo run --example migrate_tenants -- provision acme
//! cargo run --example migrate_tenants -- up
//! cargo run --example migrate_tenants -- status
//! cargo run --example migrate_tenants -- down --steps 1
//! cargo run --example migrate_tenants -- drop acme
//!
//! # Postgres: a schema per tenant (`tenant_<id>`), global tables in `public`
//! cargo run --example migrate_tenants -- --database-url postgres://postgres@127.0.0.1/app \
//!     --concurrency 8 --keep-going up
//!
//! # MySQL/MariaDB: a database per tenant on that server, the registry in `app`
//! cargo run --example migrate_tenants -- --database-url mysql://root@127.0.0.1/app status
//!
//! # Many tenants at once (for a scale run)
//! cargo run --release --example migrate_tenants -- --database-url postgres://… provision-many t 1000
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
use std::time::Instant;

use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use sea_orm_tenant::migration::{MigrationReport, Outcome};
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
    /// How many tenants migrate at once.
    #[arg(long, global = true, default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Keep migrating the other tenants after one failed.
    #[arg(long, global = true)]
    keep_going: bool,
    /// Only this tenant (repeatable); every provisioned tenant by default.
    #[arg(long, global = true, value_name = "TENANT")]
    only: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply every pending migration in every tenant.
    Up,
    /// Roll back the last migrations in every tenant.
    Down {
        /// How many migrations to roll back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// Show what is pending, changing nothing.
    Status,
    /// Create a tenant and migrate it.
    Provision { tenant: String },
    /// Drop a tenant's schema or database, and forget it.
    Drop { tenant: String },
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
    let concurrency = usize::from(cli.concurrency);
    let (tenancy, postgres) = open(&cli.database_url, concurrency).await?;
    let mut only = Vec::with_capacity(cli.only.len());
    for tenant in &cli.only {
        only.push(TenantId::parse(tenant)?);
    }
    let configure = |bar: &ProgressBar| {
        let bar = bar.clone();
        let mut m = tenancy.migrations().concurrency(concurrency).on_progress(
            move |report, done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(report.target.to_string());
            },
        );
        if postgres {
            m = m.global::<app::GlobalMigrator>();
        }
        if cli.keep_going {
            m = m.keep_going();
        }
        if !only.is_empty() {
            m = m.only(only.clone());
        }
        m
    };
    let bar = progress_bar();
    let report = match cli.command {
        Command::Up => finish(&bar, configure(&bar).up().await?),
        Command::Down { steps } => finish(&bar, configure(&bar).down(Some(steps)).await?),
        Command::Status => finish(&bar, configure(&bar).status().await?),
        Command::Provision { tenant } => {
            let tenant = TenantId::parse(&tenant)?;
            tenancy.provision(&tenant).await?;
            println!("provisioned `{tenant}` and applied every migration");
            return Ok(ExitCode::SUCCESS);
        }
        Command::Drop { tenant } => {
            let tenant = TenantId::parse(&tenant)?;
            let known = tenancy.tenants().await?.iter().any(|(t, _)| *t == tenant);
            tenancy.deprovision(&tenant).await?;
            if known {
                println!("dropped `{tenant}`");
            } else {
                println!("`{tenant}` was not provisioned; removed whatever was left of it");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::ProvisionMany { prefix, count } => {
            return provision_many(&tenancy, &bar, &prefix, count, concurrency).await;
        }
    };
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("[{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// Clears the bar and prints every target that is not up to date, then
/// the summary.
fn finish(bar: &ProgressBar, report: MigrationReport) -> MigrationReport {
    bar.finish_and_clear();
    for target in &report.targets {
        let quiet = match &target.outcome {
            Outcome::UpToDate => true,
            Outcome::Status { pending, .. } => pending.is_empty(),
            _ => false,
        };
        if !quiet {
            println!("{target}");
        }
    }
    println!("{report}");
    report
}

/// Provisions `<prefix>0001` … `<prefix><count>`, `concurrency` at a time.
async fn provision_many(
    tenancy: &Tenancy,
    bar: &ProgressBar,
    prefix: &str,
    count: u32,
    concurrency: usize,
) -> Result<ExitCode, Box<dyn Error>> {
    let width = count.to_string().len().max(4);
    let mut tenants = Vec::with_capacity(count as usize);
    for i in 1..=count {
        tenants.push(TenantId::parse(&format!("{prefix}{i:0width$}"))?);
    }
    let started = Instant::now();
    bar.set_length(u64::from(count));
    let failures: Vec<String> = futures_util::stream::iter(tenants)
        .map(|tenant| async move {
            let result = tenancy.provision(&tenant).await;
            bar.inc(1);
            result.err().map(|e| format!("{tenant}: failed: {e}"))
        })
        .buffer_unordered(concurrency)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    bar.finish_and_clear();
    for failure in &failures {
        println!("{failure}");
    }
    println!(
        "provisioned {} of {count} tenant(s) in {:.2?}",
        count as usize - failures.len(),
        started.elapsed()
    );
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
