//! What the RLS wall costs: `TenantConnection` against a plain pool with a
//! hand-written tenant filter, and against the naive four-round-trip way
//! (BEGIN, set_config, statement, COMMIT).
//!
//! Needs Postgres: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo bench --bench connection`. Without DATABASE_URL it says so and
//! exits. It creates a database and a non-owner role of its own and drops
//! them at the end.
//!
//! Variants, each on two pools of 10 connections: sqlx's default
//! (`test_before_acquire`: a ping before every acquire, SeaORM's default
//! too) and one without that ping (the hardest baseline):
//!
//! * `plain`: the shared pool, a table without RLS, `tenant_id = ?` written by hand;
//! * `naive`: BEGIN; set_config(.., true); statement; COMMIT, on the RLS table;
//! * `strict`: `TenantConnection::new` (folded BEGIN; read-only reads end
//!   with a queued ROLLBACK);
//! * `hot`: `Tenancy::shared_schema` (parked transactions for hot tenants,
//!   the default), for a hot tenant;
//! * `hot_cold`: the same tenancy, each call a tenant not parked (cold),
//!   including `Tenancy::connection` (every tenant provisioned, the
//!   registry answer cached for the whole run);
//! * `floor` (paired run only): reads inside one open transaction that set
//!   the tenant once, the cost of the RLS policy alone.
//!
//! After the criterion groups, a paired run interleaves the variants in
//! blocks (rotating order, medians of block means), so background load on
//! a small machine hits them alike; its ratios are the ones to quote.
//!
//! The bench role runs with `synchronous_commit = off`, so that the write
//! rows measure round trips rather than the machine's fsync latency.

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlxPostgresConnector,
    Statement, TransactionTrait,
};
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::rls::RlsPolicy;

/// The same table without RLS, for the plain baseline.
mod post_plain {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "post_plain")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: String,
        pub title: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

const TENANTS: usize = 200;
const ROWS_PER_TENANT: usize = 20;
const HOT: &str = "t1";

fn main() {
    if std::env::var("DATABASE_URL").is_err() {
        println!(
            "benches/connection: DATABASE_URL is not set; this bench needs Postgres. Nothing run."
        );
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let Some(env) = rt.block_on(pg_support::PgEnv::new("bench connection")) else {
        return;
    };
    rt.block_on(setup(&env));
    let mut c = Criterion::default()
        .configure_from_args()
        .without_plots()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20);
    for ping in [true, false] {
        let db = rt.block_on(async {
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .test_before_acquire(ping)
                .connect_with(env.app_options())
                .await
                .expect("connect");
            SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
        });
        let label = if ping { "ping" } else { "noping" };
        // Inside the runtime: the hot-tenant cache spawns a task.
        let hot = rt.block_on(async {
            let tenants: Vec<String> = (0..TENANTS).map(|t| format!("t{t}")).collect();
            let tenants: Vec<&str> = tenants.iter().map(String::as_str).collect();
            let tenancy =
                Tenancy::shared_schema(db.clone()).registry_ttl(Duration::from_secs(86_400));
            env.provisioned(tenancy, &tenants).await
        });
        let strict = TenantConnection::new(db.clone(), TenantId::from(HOT));
        let hot_conn = rt
            .block_on(hot.connection(&TenantId::from(HOT)))
            .expect("conn");
        let variants = Variants {
            db: db.clone(),
            strict,
            hot_conn,
            hot: hot.clone(),
        };
        point(&mut c, &rt, label, &variants);
        ten_rows(&mut c, &rt, label, &variants);
        insert(&mut c, &rt, label, &variants);
        transaction(&mut c, &rt, label, &variants);
        rt.block_on(paired(label, &variants));
        rt.block_on(async {
            hot.release_parked();
            db.close().await.ok()
        });
        drop(variants);
        drop(hot);
    }
    c.final_summary();
    rt.block_on(env.cleanup());
}

struct Variants {
    db: DatabaseConnection,
    strict: TenantConnection,
    hot_conn: TenantConnection,
    hot: Tenancy,
}

async fn setup(env: &pg_support::PgEnv) {
    env.admin_sql(
        "CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
         CREATE TABLE post_plain (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
         CREATE INDEX post_plain_tenant_idx ON post_plain (tenant_id);",
    )
    .await;
    RlsPolicy::for_entity::<post::Entity>()
        .grant_to(&env.role)
        .apply(&env.admin)
        .await
        .expect("policy");
    env.admin_sql(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON post_plain TO \"{role}\";
         INSERT INTO post (tenant_id, title)
            SELECT 't' || (g % {TENANTS}), 'title ' || g FROM generate_series(0, {n} - 1) g;
         INSERT INTO post_plain SELECT * FROM post;
         SELECT setval('post_plain_id_seq', (SELECT max(id) FROM post_plain));
         ANALYZE post; ANALYZE post_plain;
         ALTER ROLE \"{role}\" SET synchronous_commit = off;",
        role = env.role,
        n = TENANTS * ROWS_PER_TENANT,
    ))
    .await;
}

/// Ids of the hot tenant's rows: t1 owns ids 2, 202, 402, …
fn hot_id(i: usize) -> i32 {
    (2 + (i % ROWS_PER_TENANT) * TENANTS) as i32
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn next() -> usize {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A cold tenant: one of the 200, round robin, so none stays parked.
fn cold_tenant(i: usize) -> (TenantId, i32) {
    let t = i % TENANTS;
    (TenantId::from(format!("t{t}")), (t + 1) as i32)
}

async fn naive<F, T>(db: &DatabaseConnection, tenant: &str, work: F) -> Result<T, DbErr>
where
    F: for<'a> FnOnce(
        &'a sea_orm::DatabaseTransaction,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<T, DbErr>> + Send + 'a>>,
{
    let txn = db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('app.tenant_id', $1, true)",
        [tenant.into()],
    ))
    .await?;
    let out = work(&txn).await?;
    txn.commit().await?;
    Ok(out)
}

fn point(c: &mut Criterion, rt: &tokio::runtime::Runtime, label: &str, v: &Variants) {
    let mut g = c.benchmark_group(format!("point_select/{label}"));
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    g.bench_function(BenchmarkId::from_parameter("plain"), |b| {
        b.to_async(rt).iter(|| async {
            post_plain::Entity::find_by_id(hot_id(next()))
                .filter(post_plain::Column::TenantId.eq(HOT))
                .one(&v.db)
                .await
                .expect("select")
                .expect("row")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("naive"), |b| {
        b.to_async(rt).iter(|| async {
            naive(&v.db, HOT, |txn| {
                Box::pin(async move { post::Entity::find_by_id(hot_id(next())).one(txn).await })
            })
            .await
            .expect("select")
            .expect("row")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("strict"), |b| {
        b.to_async(rt).iter(|| async {
            post::Entity::find_by_id(hot_id(next()))
                .one(&v.strict)
                .await
                .expect("select")
                .expect("row")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("hot"), |b| {
        b.to_async(rt).iter(|| async {
            post::Entity::find_by_id(hot_id(next()))
                .one(&v.hot_conn)
                .await
                .expect("select")
                .expect("row")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("hot_cold"), |b| {
        b.to_async(rt).iter(|| async {
            let (tenant, id) = cold_tenant(next());
            let conn = v.hot.connection(&tenant).await.expect("conn");
            post::Entity::find_by_id(id)
                .one(&conn)
                .await
                .expect("select")
                .expect("row")
        })
    });
    g.finish();
}

fn ten_rows(c: &mut Criterion, rt: &tokio::runtime::Runtime, label: &str, v: &Variants) {
    let mut g = c.benchmark_group(format!("select_10_rows/{label}"));
    g.bench_function(BenchmarkId::from_parameter("plain"), |b| {
        b.to_async(rt).iter(|| async {
            let rows = post_plain::Entity::find()
                .filter(post_plain::Column::TenantId.eq(HOT))
                .order_by_asc(post_plain::Column::Id)
                .limit(10)
                .all(&v.db)
                .await
                .expect("select");
            assert_eq!(rows.len(), 10);
        })
    });
    let rls = || {
        post::Entity::find()
            .order_by_asc(post::Column::Id)
            .limit(10)
    };
    g.bench_function(BenchmarkId::from_parameter("naive"), |b| {
        b.to_async(rt).iter(|| async {
            let rows = naive(&v.db, HOT, |txn| {
                Box::pin(async move { rls().all(txn).await })
            })
            .await
            .expect("select");
            assert_eq!(rows.len(), 10);
        })
    });
    g.bench_function(BenchmarkId::from_parameter("strict"), |b| {
        b.to_async(rt).iter(|| async {
            assert_eq!(rls().all(&v.strict).await.expect("select").len(), 10);
        })
    });
    g.bench_function(BenchmarkId::from_parameter("hot"), |b| {
        b.to_async(rt).iter(|| async {
            assert_eq!(rls().all(&v.hot_conn).await.expect("select").len(), 10);
        })
    });
    g.finish();
}

fn insert(c: &mut Criterion, rt: &tokio::runtime::Runtime, label: &str, v: &Variants) {
    let mut g = c.benchmark_group(format!("insert/{label}"));
    g.bench_function(BenchmarkId::from_parameter("plain"), |b| {
        b.to_async(rt).iter(|| async {
            post_plain::ActiveModel {
                tenant_id: Set(HOT.into()),
                title: Set("new".into()),
                ..Default::default()
            }
            .insert(&v.db)
            .await
            .expect("insert")
        })
    });
    let model = || post::ActiveModel {
        tenant_id: Set(HOT.into()),
        title: Set("new".into()),
        ..Default::default()
    };
    g.bench_function(BenchmarkId::from_parameter("naive"), |b| {
        b.to_async(rt).iter(|| async {
            naive(&v.db, HOT, |txn| {
                Box::pin(async move { model().insert(txn).await })
            })
            .await
            .expect("insert")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("strict"), |b| {
        b.to_async(rt)
            .iter(|| async { model().insert(&v.strict).await.expect("insert") })
    });
    g.bench_function(BenchmarkId::from_parameter("hot"), |b| {
        b.to_async(rt)
            .iter(|| async { model().insert(&v.hot_conn).await.expect("insert") })
    });
    g.finish();
}

/// Five statements: two point selects, an update, an insert, a count.
async fn five<C: ConnectionTrait>(c: &C, plain: bool) -> Result<(), DbErr> {
    let (table, filter) = if plain {
        ("post_plain", format!(" AND tenant_id = '{HOT}'"))
    } else {
        ("post", String::new())
    };
    let sql = |s: String| Statement::from_string(DbBackend::Postgres, s);
    let id = hot_id(next());
    c.query_one_raw(sql(format!(
        "SELECT * FROM {table} WHERE id = {id}{filter}"
    )))
    .await?;
    c.query_one_raw(sql(format!(
        "SELECT * FROM {table} WHERE id = {}{filter}",
        hot_id(next())
    )))
    .await?;
    c.execute_raw(sql(format!(
        "UPDATE {table} SET title = 'x' WHERE id = {id}{filter}"
    )))
    .await?;
    c.execute_raw(sql(format!(
        "INSERT INTO {table} (tenant_id, title) VALUES ('{HOT}', 'txn')"
    )))
    .await?;
    c.query_one_raw(sql(format!(
        "SELECT count(*) FROM {table} WHERE id < 100{filter}"
    )))
    .await?;
    Ok(())
}

fn transaction(c: &mut Criterion, rt: &tokio::runtime::Runtime, label: &str, v: &Variants) {
    let mut g = c.benchmark_group(format!("transaction_5_statements/{label}"));
    g.bench_function(BenchmarkId::from_parameter("plain"), |b| {
        b.to_async(rt).iter(|| async {
            let txn = v.db.begin().await.expect("begin");
            five(&txn, true).await.expect("five");
            txn.commit().await.expect("commit");
        })
    });
    g.bench_function(BenchmarkId::from_parameter("naive"), |b| {
        b.to_async(rt).iter(|| async {
            naive(&v.db, HOT, |txn| {
                Box::pin(async move { five(txn, false).await })
            })
            .await
            .expect("five")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("tenant_connection"), |b| {
        b.to_async(rt).iter(|| async {
            let txn = v.hot_conn.begin().await.expect("begin");
            five(&txn, false).await.expect("five");
            txn.commit().await.expect("commit");
        })
    });
    g.finish();
}

#[derive(Clone, Copy, Debug)]
enum Point {
    Plain,
    Naive,
    Strict,
    Hot,
    HotCold,
    /// Reads inside one open transaction that set the tenant once: the
    /// cost of the RLS policy alone, no per-statement transaction.
    Floor,
}

async fn point_once(v: &Variants, which: Point, floor: &TenantTransaction) {
    let id = hot_id(next());
    let found = match which {
        Point::Plain => post_plain::Entity::find_by_id(id)
            .filter(post_plain::Column::TenantId.eq(HOT))
            .one(&v.db)
            .await
            .map(|r| r.is_some()),
        Point::Naive => naive(&v.db, HOT, |txn| {
            Box::pin(async move { post::Entity::find_by_id(id).one(txn).await })
        })
        .await
        .map(|r| r.is_some()),
        Point::Strict => post::Entity::find_by_id(id)
            .one(&v.strict)
            .await
            .map(|r| r.is_some()),
        Point::Hot => post::Entity::find_by_id(id)
            .one(&v.hot_conn)
            .await
            .map(|r| r.is_some()),
        Point::HotCold => {
            let (tenant, id) = cold_tenant(next());
            let conn = v.hot.connection(&tenant).await.expect("conn");
            post::Entity::find_by_id(id)
                .one(&conn)
                .await
                .map(|r| r.is_some())
        }
        Point::Floor => post::Entity::find_by_id(id)
            .one(floor)
            .await
            .map(|r| r.is_some()),
    };
    assert!(found.expect("select"));
}

/// A write workload of the paired run.
#[derive(Clone, Copy, Debug)]
enum Write {
    InsertPlain,
    InsertNaive,
    InsertStrict,
    InsertHot,
    Txn5Plain,
    Txn5Naive,
    Txn5TenantConnection,
}

async fn write_once(v: &Variants, which: Write) {
    let model = || post::ActiveModel {
        tenant_id: Set(HOT.into()),
        title: Set("new".into()),
        ..Default::default()
    };
    match which {
        Write::InsertPlain => {
            post_plain::ActiveModel {
                tenant_id: Set(HOT.into()),
                title: Set("new".into()),
                ..Default::default()
            }
            .insert(&v.db)
            .await
            .expect("insert");
        }
        Write::InsertNaive => {
            naive(&v.db, HOT, |txn| {
                Box::pin(async move { model().insert(txn).await })
            })
            .await
            .expect("insert");
        }
        Write::InsertStrict => {
            model().insert(&v.strict).await.expect("insert");
        }
        Write::InsertHot => {
            model().insert(&v.hot_conn).await.expect("insert");
        }
        Write::Txn5Plain => {
            let txn = v.db.begin().await.expect("begin");
            five(&txn, true).await.expect("five");
            txn.commit().await.expect("commit");
        }
        Write::Txn5Naive => {
            naive(&v.db, HOT, |txn| {
                Box::pin(async move { five(txn, false).await })
            })
            .await
            .expect("five");
        }
        Write::Txn5TenantConnection => {
            let txn = v.hot_conn.begin().await.expect("begin");
            five(&txn, false).await.expect("five");
            txn.commit().await.expect("commit");
        }
    }
}

/// Runs `rounds` rounds of one block per variant, in rotating order, and
/// returns the median per-operation time (µs) of each variant.
async fn interleave<T: Copy, F, Fut>(all: &[T], rounds: usize, block: usize, mut op: F) -> Vec<f64>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); all.len()];
    for round in 0..rounds {
        for k in 0..all.len() {
            let i = (k + round) % all.len();
            let start = Instant::now();
            for _ in 0..block {
                op(all[i]).await;
            }
            samples[i].push(start.elapsed().as_secs_f64() * 1e6 / block as f64);
        }
    }
    samples
        .iter_mut()
        .map(|xs| {
            xs.sort_by(|a, b| a.total_cmp(b));
            xs[xs.len() / 2]
        })
        .collect()
}

fn table<T: std::fmt::Debug>(title: &str, all: &[T], medians: &[f64], base: &[usize]) {
    println!("\n{title}");
    println!("| variant | µs/op | vs plain |");
    println!("|---|---:|---:|");
    for (i, (which, m)) in all.iter().zip(medians).enumerate() {
        println!("| {which:?} | {m:.1} | {:.2}x |", m / medians[base[i]]);
    }
}

/// The workloads again, the variants interleaved in blocks so that
/// background load on the machine hits them alike; prints the median
/// per-operation time of each and its ratio to `plain`.
async fn paired(label: &str, v: &Variants) {
    let points = [
        Point::Plain,
        Point::Naive,
        Point::Strict,
        Point::Hot,
        Point::HotCold,
        Point::Floor,
    ];
    let floor = v.hot_conn.begin().await.expect("begin");
    let medians = interleave(&points, 30, 100, |p| point_once(v, p, &floor)).await;
    floor.rollback().await.expect("rollback");
    table(
        &format!("paired point select, pool `{label}` (30 rounds x 100 ops, medians):"),
        &points,
        &medians,
        &[0; 6],
    );
    let writes = [
        Write::InsertPlain,
        Write::InsertNaive,
        Write::InsertStrict,
        Write::InsertHot,
        Write::Txn5Plain,
        Write::Txn5Naive,
        Write::Txn5TenantConnection,
    ];
    let medians = interleave(&writes, 15, 40, |w| write_once(v, w)).await;
    table(
        &format!("paired writes, pool `{label}` (15 rounds x 40 ops, medians):"),
        &writes,
        &medians,
        &[0, 0, 0, 0, 4, 4, 4],
    );
}
