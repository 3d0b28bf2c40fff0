//! Migrations across a thousand tenant schemas (the scale targets of issue
//! 5): provision 1,000 schema-per-tenant tenants of the five-table,
//! three-migration demo application of `examples/migrate_tenants`, migrate
//! them, then add a fourth migration to all of them.
//!
//! Needs Postgres: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo bench --bench migrate_tenants`. Without DATABASE_URL it says so
//! and exits. Each concurrency level works in a fresh database
//! `sot_bench_<pid>_<n>`, dropped at the end.
//!
//! Steps that change the schemas cannot repeat cheaply (a second run is a
//! no-op), so they run once and the bench prints their wall time:
//!
//! 1. provision: `CREATE SCHEMA` and the registry row, 1,000 times
//!    (`Tenancy::provision` without a migrator), `concurrency` at a time;
//! 2. migrate: `migrations().up()` applies the three migrations in every
//!    schema;
//! 3. fourth migration: `up()` with a migrator that adds a column and an
//!    index to `invoice` in every schema.
//!
//! What repeats cheaply is measured by criterion (10 samples): the no-op
//! `up()` over 1,000 up-to-date schemas (the catalog fast path) and
//! `status()`. Those are warm figures: on one pool, sqlx's statement cache
//! keeps the prepared catalog queries, so Postgres stops planning them. The
//! first no-op after the migration is also timed once and printed: that
//! is closer to what a deploy (a fresh process) sees.
//!
//! Environment: `SOT_BENCH_TENANTS` (default 1000) and
//! `SOT_BENCH_CONCURRENCY`, a comma-separated list of levels (default
//! `4`; e.g. `1,4,8`), each level a full run in its own database.

#[path = "../examples/migrate_tenants/app.rs"]
mod app;
#[path = "support/bench_db.rs"]
mod bench_db;

use std::time::{Duration, Instant};

use std::str::FromStr;

use bench_db::{BenchDb, env_or, pool};
use criterion::{Criterion, SamplingMode};
use futures_util::StreamExt;
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm_migration::prelude::*;
use sea_orm_tenant::migration::{MigrationReport, Outcome};
use sea_orm_tenant::prelude::*;

/// The demo application with a fourth migration.
struct Migrator4;

impl MigratorTrait for Migrator4 {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = app::Migrator::migrations();
        all.push(Box::new(app::AddInvoiceDueDate));
        all
    }
}

fn check(step: &str, report: &MigrationReport, n: usize, pred: impl Fn(&Outcome) -> bool) {
    assert!(report.is_ok(), "{step}: {report}");
    assert_eq!(report.count(pred), n, "{step}: {report}");
}

/// The one-shot figures of one level, printed at the end.
struct Level {
    concurrency: usize,
    provision: Duration,
    migrate: Duration,
    noop: Duration,
    fourth: Duration,
    noop_after: Duration,
}

fn main() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!(
            "benches/migrate_tenants: DATABASE_URL is not set; this bench needs Postgres. Nothing run."
        );
        return;
    };
    let server = PgConnectOptions::from_str(&url).expect("DATABASE_URL is a Postgres URL");
    let tenants: usize = env_or("SOT_BENCH_TENANTS", 1000);
    let levels: Vec<usize> = std::env::var("SOT_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "4".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Defaults first, so command-line flags (`-- --measurement-time 2`) win.
    let mut c = Criterion::default()
        .without_plots()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10)
        .configure_from_args();
    let ids: Vec<TenantId> = (1..=tenants)
        .map(|i| TenantId::from(format!("t{i:04}")))
        .collect();
    let mut figures = Vec::new();

    for (n, &concurrency) in levels.iter().enumerate() {
        let db = rt.block_on(BenchDb::create(
            &server,
            format!("sot_bench_{}_{n}", std::process::id()),
        ));
        let shared = rt.block_on(pool(db.options(), concurrency as u32 + 2));
        let tenancy = Tenancy::schema_per_tenant(shared.clone());
        let say = |what: &str, d: Duration| {
            println!(
                "migrate_tenants c={concurrency}: {what}: {:.2} s",
                d.as_secs_f64()
            );
        };

        // 1. Provision: schemas and registry rows, no migrations yet.
        let t = Instant::now();
        rt.block_on(async {
            let tenancy = &tenancy;
            let failed: Vec<String> = futures_util::stream::iter(ids.iter())
                .map(|id| async move {
                    tenancy
                        .provision(id)
                        .await
                        .map_err(|e| format!("{id}: {e}"))
                })
                .buffer_unordered(concurrency)
                .filter_map(|r| std::future::ready(r.err()))
                .collect()
                .await;
            assert!(failed.is_empty(), "provisioning failed: {failed:?}");
        });
        let provision = t.elapsed();
        say(&format!("provision {tenants} schemas"), provision);

        // 2. Migrate: three migrations in every schema.
        let t = Instant::now();
        let report = rt
            .block_on(
                tenancy
                    .migrations()
                    .migrator::<app::Migrator>()
                    .concurrency(concurrency)
                    .up(),
            )
            .expect("migrate");
        let migrate = t.elapsed();
        check(
            "migrate",
            &report,
            tenants,
            |o| matches!(o, Outcome::Applied(m) if m.len() == 3),
        );
        say(
            &format!("migrate {tenants} schemas (3 migrations)"),
            migrate,
        );

        // A no-op, once, for the summary (criterion measures it below).
        let t = Instant::now();
        let report = rt
            .block_on(
                tenancy
                    .migrations()
                    .migrator::<app::Migrator>()
                    .concurrency(concurrency)
                    .up(),
            )
            .expect("no-op");
        let noop = t.elapsed();
        check("no-op", &report, tenants, |o| *o == Outcome::UpToDate);
        say(
            &format!("no-op up over {tenants} schemas (first, cold)"),
            noop,
        );

        let mut group = c.benchmark_group(format!("migrate_tenants_{tenants}"));
        // Each iteration takes tens of milliseconds: equal-sized samples.
        group.sampling_mode(SamplingMode::Flat);
        group.bench_function(format!("noop_up/c{concurrency}"), |b| {
            b.to_async(&rt).iter(|| {
                let tenancy = &tenancy;
                async move {
                    let report = tenancy
                        .migrations()
                        .migrator::<app::Migrator>()
                        .concurrency(concurrency)
                        .up()
                        .await
                        .expect("no-op");
                    assert!(report.is_ok());
                    report
                }
            })
        });
        group.bench_function(format!("status/c{concurrency}"), |b| {
            b.to_async(&rt).iter(|| {
                let tenancy = &tenancy;
                async move {
                    tenancy
                        .migrations()
                        .migrator::<app::Migrator>()
                        .concurrency(concurrency)
                        .status()
                        .await
                        .expect("status")
                }
            })
        });
        group.finish();

        // 3. A fourth migration in every schema.
        let t = Instant::now();
        let report = rt
            .block_on(
                tenancy
                    .migrations()
                    .migrator::<Migrator4>()
                    .concurrency(concurrency)
                    .up(),
            )
            .expect("fourth migration");
        let fourth = t.elapsed();
        check(
            "fourth",
            &report,
            tenants,
            |o| matches!(o, Outcome::Applied(m) if m.len() == 1),
        );
        say(&format!("fourth migration in {tenants} schemas"), fourth);

        let t = Instant::now();
        let report = rt
            .block_on(
                tenancy
                    .migrations()
                    .migrator::<Migrator4>()
                    .concurrency(concurrency)
                    .up(),
            )
            .expect("no-op after the fourth");
        let noop_after = t.elapsed();
        check("no-op after", &report, tenants, |o| *o == Outcome::UpToDate);
        say(
            &format!("no-op up over {tenants} schemas (4 migrations)"),
            noop_after,
        );

        rt.block_on(shared.close()).ok();
        drop(db);
        figures.push(Level {
            concurrency,
            provision,
            migrate,
            noop,
            fourth,
            noop_after,
        });
    }

    println!();
    println!(
        "| concurrency | provision {tenants} | migrate {tenants} (3 migrations) | provision + migrate | first no-op up | fourth migration | no-op up (4) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for f in &figures {
        println!(
            "| {} | {:.1} s | {:.1} s | {:.1} s | {:.2} s | {:.1} s | {:.2} s |",
            f.concurrency,
            f.provision.as_secs_f64(),
            f.migrate.as_secs_f64(),
            (f.provision + f.migrate).as_secs_f64(),
            f.noop.as_secs_f64(),
            f.fourth.as_secs_f64(),
            f.noop_after.as_secs_f64(),
        );
    }
    c.final_summary();
}
