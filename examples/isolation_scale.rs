//! The scale run of `Tenancy` (a measurement, not a test): provision many
//! tenants at one level, then serve requests spread over all of them.
//!
//! ```text
//! cargo run --release --example isolation_scale -- --level schema-pg
//! cargo run --release --example isolation_scale -- --level files-sqlite
//! cargo run --release --example isolation_scale -- --level shared-pg
//! cargo run --release --example isolation_scale -- --level shared-sqlite
//! ```
//!
//! One level per process, so the resident memory printed is that level's.
//! Postgres levels use `DATABASE_URL` (a superuser, default
//! `postgres://postgres@127.0.0.1:5432/test`) and work in a fresh
//! database `sot_scale_<pid>` that is dropped at the end.

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use futures_util::StreamExt;
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbErr, Schema};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::prelude::*;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Level {
    SharedPg,
    SchemaPg,
    SharedSqlite,
    FilesSqlite,
}

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, value_enum)]
    level: Level,
    #[arg(long, default_value_t = 1000)]
    tenants: usize,
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    #[arg(long, default_value_t = 64)]
    max_pools: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreatePost)]
    }
}

struct CreatePost;

impl MigrationName for CreatePost {
    fn name(&self) -> &str {
        "m0001_create_post"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePost {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        let mut create = schema.create_table_from_entity(post::Entity);
        manager
            .create_table(create.if_not_exists().to_owned())
            .await
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn custom(e: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(e.to_string())
}

async fn request(tenancy: &Tenancy, tenant: &TenantId, write: bool) -> Result<(), DbErr> {
    let conn = tenancy.connection(tenant).await?;
    if write {
        let row = post::ActiveModel {
            title: Set("r".into()),
            ..Default::default()
        };
        conn.scoped::<post::Entity>()
            .insert(row)
            .exec(&conn)
            .await?;
    } else {
        conn.scoped::<post::Entity>()
            .find_by_id(1)
            .one(&conn)
            .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), DbErr> {
    let args = Args::parse();
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("sot_scale_{pid}"));
    std::fs::create_dir_all(&dir).map_err(custom)?;
    let name = format!("sot_scale_{pid}");
    let admin = if matches!(args.level, Level::SharedPg | Level::SchemaPg) {
        let admin = Database::connect(base.clone()).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        Some(admin)
    } else {
        None
    };
    let pg_url = match base.rsplit_once('/') {
        Some((root, _)) => format!("{root}/{name}"),
        None => base.clone(),
    };
    let connect = |url: String| async move {
        let mut options = ConnectOptions::new(url);
        options.max_connections(16).sqlx_logging(false);
        Database::connect(options).await
    };
    let tenancy = match args.level {
        Level::SharedPg => Tenancy::shared_schema(connect(pg_url.clone()).await?),
        Level::SchemaPg => Tenancy::schema_per_tenant(connect(pg_url.clone()).await?),
        Level::SharedSqlite => Tenancy::shared_schema(
            connect(format!(
                "sqlite://{}?mode=rwc",
                dir.join("shared.db").display()
            ))
            .await?,
        ),
        Level::FilesSqlite => Tenancy::sqlite_files(&dir),
    }
    .with_migrator::<Migrator>()
    .max_pools(args.max_pools);

    let tenants: Vec<TenantId> = (0..args.tenants)
        .map(|i| TenantId::from(format!("t{i}")))
        .collect();

    // Provision: the first alone (creates the registry), then 4 at a time.
    let started = Instant::now();
    tenancy.provision(&tenants[0]).await?;
    let results: Vec<Result<(), TenantError>> = futures_util::stream::iter(&tenants[1..])
        .map(|t| tenancy.provision(t))
        .buffer_unordered(4)
        .collect()
        .await;
    for r in results {
        r?;
    }
    let provision = started.elapsed();

    // Cold first requests: the earliest tenants were evicted long ago
    // (file level) or never served.
    let mut cold = Vec::new();
    for t in tenants.iter().take(100) {
        let started = Instant::now();
        request(&tenancy, t, false).await?;
        cold.push(started.elapsed());
    }
    cold.sort();
    let cold_median = cold[cold.len() / 2];
    let cold_p95 = cold[cold.len() * 95 / 100];

    // Requests spread over every tenant, one in ten a write.
    let started = Instant::now();
    let results: Vec<Result<(), DbErr>> = futures_util::stream::iter(0..args.requests)
        .map(|i| {
            let tenancy = &tenancy;
            let t = &tenants[(i * 7919) % tenants.len()];
            async move { request(tenancy, t, i % 10 == 0).await }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let serve = started.elapsed();
    for r in results {
        r?;
    }
    let open_pools = tenancy.open_pools().await;
    let rss = rss_kib();

    println!(
        "level={:?} tenants={} provision={:.1}s ({:.1} ms/tenant) cold_first_request median={:.2}ms p95={:.2}ms requests={} rps={:.0} open_pools={} rss={}MiB",
        args.level,
        args.tenants,
        provision.as_secs_f64(),
        provision.as_secs_f64() * 1000.0 / args.tenants as f64,
        ms(cold_median),
        ms(cold_p95),
        args.requests,
        args.requests as f64 / serve.as_secs_f64(),
        open_pools,
        rss / 1024,
    );

    drop(tenancy);
    if let Some(admin) = admin {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
