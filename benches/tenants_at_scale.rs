//! Ten thousand tenant schemas on one box (point 5 of issue 24): whether
//! provisioning stays linear in the number of tenants, and what a no-op
//! `up` over every schema costs, at 1,000, 3,000 and 10,000 tenants.
//!
//! Needs Postgres: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo bench --bench tenants_at_scale`. Without DATABASE_URL it says so
//! and exits. It works in a database of its own, `sot_scale_<pid>`,
//! dropped at the end (10,000 schemas of the demo application take about
//! 2 GB), and runs for about 10 minutes on a 2-core machine, dropping the
//! database included.
//!
//! The tenants are those of `examples/migrate_tenants`: schema per tenant,
//! five tables in three migrations, provisioned through
//! `Tenancy::provision` with the migrator, `concurrency` at a time. For
//! each population N:
//!
//! 1. setup, untimed by criterion: provision tenants until there are N
//!    (printed: how long it took, tenants per second, the process's
//!    resident memory);
//! 2. the first no-op `up` over the N + 1 targets (N schemas and the
//!    global migrator in `public`) on a fresh pool, as a deploy sees it
//!    (printed);
//! 3. criterion: the no-op `up` again, repeated on that pool;
//! 4. criterion: provisioning a batch of `batch` new tenants on top of the
//!    N (and those of earlier samples). The time per tenant staying flat
//!    from N = 1,000 to 10,000 is what "linear" means here. These samples
//!    add tenants (a few hundred per level), so the next level grows from
//!    there.
//!
//! Environment: `SOT_BENCH_POPULATIONS` (default `1000,3000,10000`),
//! `SOT_BENCH_CONCURRENCY` (default 8), `SOT_BENCH_BATCH` (default 16).

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
use sea_orm_tenant::migration::{MigrationReport, Outcome};
use sea_orm_tenant::prelude::*;

/// This process's resident memory now and at its peak, in MB (Linux).
fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or_else(|| "?".to_owned(), |kb| format!("{:.0} MB", kb / 1024.0))
    };
    format!("RSS {}, peak {}", field("VmRSS:"), field("VmHWM:"))
}

/// The tenant ids `s00001`, `s00002`, …: the n-th is `id(n)`.
fn id(n: usize) -> TenantId {
    TenantId::from(format!("s{n:05}"))
}

/// Provisions tenants `from..to`, `concurrency` at a time.
async fn provision(tenancy: &Tenancy, from: usize, to: usize, concurrency: usize) {
    let failed: Vec<String> = futures_util::stream::iter(from..to)
        .map(|n| async move {
            let id = id(n);
            tenancy
                .provision(&id)
                .await
                .map_err(|e| format!("{id}: {e}"))
        })
        .buffer_unordered(concurrency)
        .filter_map(|r| std::future::ready(r.err()))
        .collect()
        .await;
    assert!(failed.is_empty(), "provisioning failed: {failed:?}");
}

async fn noop(tenancy: &Tenancy, concurrency: usize) -> MigrationReport {
    let report = tenancy
        .migrations()
        .global::<app::GlobalMigrator>()
        .concurrency(concurrency)
        .up()
        .await
        .expect("no-op up");
    assert!(report.is_ok(), "{report}");
    report
}

/// The one-shot figures of one population, printed at the end.
struct Level {
    tenants: usize,
    grown: usize,
    growth: Duration,
    first_noop: Duration,
    rss: String,
}

fn main() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!(
            "benches/tenants_at_scale: DATABASE_URL is not set; this bench needs Postgres. Nothing run."
        );
        return;
    };
    let server = PgConnectOptions::from_str(&url).expect("DATABASE_URL is a Postgres URL");
    let populations: Vec<usize> = std::env::var("SOT_BENCH_POPULATIONS")
        .unwrap_or_else(|_| "1000,3000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .collect();
    let concurrency: usize = env_or("SOT_BENCH_CONCURRENCY", 8).max(1);
    let batch: usize = env_or("SOT_BENCH_BATCH", 16).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Defaults first, so command-line flags (`-- --measurement-time 2`) win.
    let mut c = Criterion::default()
        .without_plots()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(10)
        .configure_from_args();
    let db = rt.block_on(BenchDb::create(
        &server,
        format!("sot_scale_{}", std::process::id()),
    ));
    let started = Instant::now();
    // The next tenant to provision (ids are numbered from 1).
    let mut next = 1;
    let mut figures = Vec::new();

    for &tenants in &populations {
        // A fresh pool and tenancy per level: the first no-op below sees
        // new connections, as a deploy does.
        let shared = rt.block_on(pool(db.options(), concurrency as u32 + 2));
        let tenancy = Tenancy::schema_per_tenant(shared.clone()).with_migrator::<app::Migrator>();

        // 1. Grow to N (untimed by criterion).
        let from = next;
        let t = Instant::now();
        if next <= tenants {
            rt.block_on(provision(&tenancy, next, tenants + 1, concurrency));
            next = tenants + 1;
        }
        let growth = t.elapsed();
        let grown = next - from;
        let have = next - 1;
        println!(
            "tenants_at_scale: {grown} tenants provisioned to reach {have} in {:.1} s \
             ({:.1} ms per tenant, {:.0} per second, concurrency {concurrency}); {}",
            growth.as_secs_f64(),
            growth.as_secs_f64() * 1000.0 / grown.max(1) as f64,
            grown as f64 / growth.as_secs_f64().max(1e-9),
            rss()
        );

        // 2. The first no-op, on this level's new pool.
        let t = Instant::now();
        let report = rt.block_on(noop(&tenancy, concurrency));
        let first_noop = t.elapsed();
        // Every schema up to date (the global target too, after the first
        // level, which applies it).
        assert_eq!(report.targets.len(), have + 1);
        assert!(
            report.count(|o| *o == Outcome::UpToDate) >= have,
            "{report}"
        );
        println!(
            "tenants_at_scale: first no-op up over {} targets: {:.3} s; {}",
            report.targets.len(),
            first_noop.as_secs_f64(),
            rss()
        );

        let mut group = c.benchmark_group(format!("tenants_at_scale_{tenants}"));
        group.sampling_mode(SamplingMode::Flat);
        // 3. The no-op again, on the same pool.
        group.bench_function(format!("noop_up/{}_targets", have + 1), |b| {
            b.to_async(&rt).iter(|| noop(&tenancy, concurrency))
        });
        // 4. A batch of new tenants on top of those there.
        let mut counter = next;
        group.bench_function(format!("provision/{batch}_more"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let tenancy = &tenancy;
                let from = counter;
                counter += iters as usize * batch;
                async move {
                    let t = Instant::now();
                    provision(tenancy, from, from + iters as usize * batch, concurrency).await;
                    t.elapsed() / batch as u32
                }
            })
        });
        group.finish();
        next = counter;
        println!(
            "tenants_at_scale: {} tenants after the provisioning samples; {}",
            next - 1,
            rss()
        );
        rt.block_on(shared.close()).ok();
        figures.push(Level {
            tenants,
            grown,
            growth,
            first_noop,
            rss: rss(),
        });
    }
    drop(db);

    println!();
    println!(
        "| population | grown by | setup time | ms per tenant | first no-op up (N + 1 targets) | memory after |"
    );
    println!("|---:|---:|---:|---:|---:|---|");
    for f in &figures {
        println!(
            "| {} | {} | {:.1} s | {:.1} | {:.2} s | {} |",
            f.tenants,
            f.grown,
            f.growth.as_secs_f64(),
            f.growth.as_secs_f64() * 1000.0 / f.grown.max(1) as f64,
            f.first_noop.as_secs_f64(),
            f.rss,
        );
    }
    println!(
        "tenants_at_scale: whole run {:.0} s (criterion's provision figures are per tenant)",
        started.elapsed().as_secs_f64()
    );
    c.final_summary();
}
