//! What a service built only on `Tenancy` pays, with a thousand tenants:
//! `Tenancy::connection` per request against a plain pool with a
//! hand-written tenant filter, as a non-owner role under RLS.
//!
//! Needs Postgres: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo bench --bench tenancy`. Without DATABASE_URL it says so and
//! exits. It creates a database and a non-owner role of its own and drops
//! them at the end.
//!
//! Workloads, each on two pools of 10 connections, sqlx's default
//! (`test_before_acquire`: a ping before every acquire, SeaORM's default)
//! and one without that ping (the hardest baseline):
//!
//! * `spread`: point selects spread evenly over 1,000 tenants, one
//!   `Tenancy::connection` per request (10,000 per criterion sample set);
//! * `hot`: point selects of one tenant, one `Tenancy::connection` per
//!   request;
//! * `insert`: one insert per request, tenants spread evenly.
//!
//! Each is measured against `plain`: the same SeaORM call on the shared
//! pool, on a table without RLS, `tenant_id = ?` written by hand.
//!
//! The paired run after the criterion groups interleaves the variants in
//! blocks (rotating order, medians of block means), so background load on
//! a small machine hits them alike; its ratios are the ones to quote. It
//! also measures the alternatives for a cold tenant, written with sqlx
//! directly:
//!
//! * `cold_pinged`: the design before: the pool's checked acquire (a ping
//!   on the default pool), then `BEGIN READ ONLY; SET LOCAL …`, then the
//!   statement (the `ROLLBACK` queued);
//! * `cold_folded`: the lower bound of folding everything into one round
//!   trip: `BEGIN READ ONLY; SET LOCAL …; SELECT …; ROLLBACK` as one simple
//!   query, values written into the SQL (not something the crate may do
//!   with a user's values; a measurement of what it would buy).
//!
//! The bench role runs with `synchronous_commit = off`, so that the write
//! rows measure round trips rather than the machine's fsync latency.

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use sea_orm::sqlx::postgres::{PgPool, PgPoolOptions};
use sea_orm::sqlx::{self, Connection};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    SqlxPostgresConnector,
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

const TENANTS: usize = 1_000;
const ROWS_PER_TENANT: usize = 10;
const HOT: usize = 1;

fn main() {
    if std::env::var("DATABASE_URL").is_err() {
        println!(
            "benches/tenancy: DATABASE_URL is not set; this bench needs Postgres. Nothing run."
        );
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let Some(env) = rt.block_on(pg_support::PgEnv::new("bench tenancy")) else {
        return;
    };
    rt.block_on(setup(&env));
    let mut c = Criterion::default()
        .configure_from_args()
        .without_plots()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    let rounds: usize = std::env::var("PAIRED_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40);
    for ping in [true, false] {
        let label = if ping { "ping" } else { "noping" };
        let v = rt.block_on(async {
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .test_before_acquire(ping)
                .connect_with(env.app_options())
                .await
                .expect("connect");
            let db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone());
            let tenancy = Tenancy::shared_schema(db.clone()).tenant_table::<post::Entity>();
            let strict = Tenancy::shared_schema(db.clone())
                .tenant_table::<post::Entity>()
                .hot_tenants(HotTenants::off());
            // Registry lookups are cached per tenant (registry_ttl): warm
            // them, as a running service has.
            for t in 0..TENANTS {
                tenancy.connection(&tenant(t)).await.expect("registered");
                strict.connection(&tenant(t)).await.expect("registered");
            }
            Variants {
                pool,
                db,
                tenancy,
                strict,
            }
        });
        groups(&mut c, &rt, label, &v);
        rt.block_on(paired(label, &v, rounds));
        rt.block_on(async {
            v.tenancy.release_parked();
            v.db.close().await.ok()
        });
    }
    c.final_summary();
    rt.block_on(env.cleanup());
}

struct Variants {
    pool: PgPool,
    db: DatabaseConnection,
    tenancy: Tenancy,
    strict: Tenancy,
}

async fn setup(env: &pg_support::PgEnv) {
    env.admin_sql(
        "CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
         CREATE INDEX post_tenant_idx ON post (tenant_id);
         CREATE TABLE post_plain (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
         CREATE INDEX post_plain_tenant_idx ON post_plain (tenant_id);",
    )
    .await;
    RlsPolicy::for_entity::<post::Entity>()
        .grant_to(&env.role)
        .apply(&env.admin)
        .await
        .expect("policy");
    // The tenants are provisioned by the owner (the registry table is
    // created then); the application role only reads the registry.
    let admin = Tenancy::shared_schema(env.admin.clone()).hot_tenants(HotTenants::off());
    for t in 0..TENANTS {
        admin.provision(&tenant(t)).await.expect("provision");
    }
    env.admin_sql(&format!(
        "GRANT SELECT ON {registry} TO \"{role}\";
         GRANT SELECT, INSERT, UPDATE, DELETE ON post_plain TO \"{role}\";
         GRANT USAGE ON SEQUENCE post_plain_id_seq TO \"{role}\";
         INSERT INTO post (tenant_id, title)
            SELECT 't' || (g % {TENANTS}), 'title ' || g FROM generate_series(0, {n} - 1) g;
         INSERT INTO post_plain SELECT * FROM post;
         SELECT setval('post_plain_id_seq', (SELECT max(id) FROM post_plain));
         ANALYZE post; ANALYZE post_plain;
         ALTER ROLE \"{role}\" SET synchronous_commit = off;",
        registry = sea_orm_tenant::REGISTRY_TABLE,
        role = env.role,
        n = TENANTS * ROWS_PER_TENANT,
    ))
    .await;
}

fn tenant(t: usize) -> TenantId {
    TenantId::from(format!("t{t}"))
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The next request: a tenant (round robin over all of them, so each is
/// seen once every 1,000 requests) and one of its rows. Tenant `t` owns
/// ids `t + 1`, `t + 1 + TENANTS`, …
fn spread() -> (usize, i32) {
    let i = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = i % TENANTS;
    let k = (i / TENANTS) % ROWS_PER_TENANT;
    (t, (t + 1 + k * TENANTS) as i32)
}

fn hot() -> (usize, i32) {
    let i = COUNTER.fetch_add(1, Ordering::Relaxed);
    let k = i % ROWS_PER_TENANT;
    (HOT, (HOT + 1 + k * TENANTS) as i32)
}

/// One variant of the paired run.
#[derive(Clone, Copy, Debug)]
enum Op {
    SpreadPlain,
    SpreadTenancy,
    SpreadNoParking,
    SpreadColdPinged,
    SpreadColdFolded,
    HotPlain,
    HotTenancy,
    InsertPlain,
    InsertTenancy,
}

async fn plain_select(v: &Variants, (t, id): (usize, i32)) {
    let found = post_plain::Entity::find_by_id(id)
        .filter(post_plain::Column::TenantId.eq(format!("t{t}")))
        .one(&v.db)
        .await
        .expect("select");
    assert!(found.is_some());
}

async fn tenancy_select(tenancy: &Tenancy, (t, id): (usize, i32)) {
    let conn = tenancy.connection(&tenant(t)).await.expect("connection");
    let found = post::Entity::find_by_id(id)
        .one(&conn)
        .await
        .expect("select");
    assert!(found.is_some());
}

/// The design before this bench: a checked acquire, the opener, the
/// statement, the `ROLLBACK` queued (sent with the release ping).
async fn cold_pinged(pool: &PgPool, (t, id): (usize, i32)) {
    let mut conn = pool.acquire().await.expect("acquire");
    let mut txn = conn
        .begin_with(sqlx::AssertSqlSafe(format!(
            "BEGIN READ ONLY; SET LOCAL app.tenant_id = 't{t}'"
        )))
        .await
        .expect("begin");
    let row = sqlx::query("SELECT id, tenant_id, title FROM post WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(format!("t{t}"))
        .fetch_optional(&mut *txn)
        .await
        .expect("select");
    assert!(row.is_some());
}

/// Everything in one round trip (values written into the SQL).
async fn cold_folded(pool: &PgPool, (t, id): (usize, i32)) {
    let mut conn = pool.acquire().await.expect("acquire");
    let sql = format!(
        "BEGIN READ ONLY; SET LOCAL app.tenant_id = 't{t}'; \
         SELECT id, tenant_id, title FROM post WHERE id = {id} AND tenant_id = 't{t}'; ROLLBACK"
    );
    let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
        .expect("select");
    assert_eq!(rows.len(), 1);
}

async fn plain_insert(v: &Variants, (t, _): (usize, i32)) {
    post_plain::ActiveModel {
        tenant_id: Set(format!("t{t}")),
        title: Set("new".into()),
        ..Default::default()
    }
    .insert(&v.db)
    .await
    .expect("insert");
}

async fn tenancy_insert(v: &Variants, (t, _): (usize, i32)) {
    let conn = v.tenancy.connection(&tenant(t)).await.expect("connection");
    // No tenant set: the connection fills it in.
    post::ActiveModel {
        title: Set("new".into()),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .expect("insert");
}

async fn once(v: &Variants, op: Op) {
    match op {
        Op::SpreadPlain => plain_select(v, spread()).await,
        Op::SpreadTenancy => tenancy_select(&v.tenancy, spread()).await,
        Op::SpreadNoParking => tenancy_select(&v.strict, spread()).await,
        Op::SpreadColdPinged => cold_pinged(&v.pool, spread()).await,
        Op::SpreadColdFolded => cold_folded(&v.pool, spread()).await,
        Op::HotPlain => plain_select(v, hot()).await,
        Op::HotTenancy => tenancy_select(&v.tenancy, hot()).await,
        Op::InsertPlain => plain_insert(v, spread()).await,
        Op::InsertTenancy => tenancy_insert(v, spread()).await,
    }
}

fn groups(c: &mut Criterion, rt: &tokio::runtime::Runtime, label: &str, v: &Variants) {
    let sets = [
        ("spread", [Op::SpreadPlain, Op::SpreadTenancy]),
        ("hot", [Op::HotPlain, Op::HotTenancy]),
        ("insert", [Op::InsertPlain, Op::InsertTenancy]),
    ];
    for (name, ops) in sets {
        let mut g = c.benchmark_group(format!("tenancy_{name}/{label}"));
        for op in ops {
            g.bench_function(BenchmarkId::from_parameter(format!("{op:?}")), |b| {
                b.to_async(rt).iter(|| once(v, op))
            });
        }
        g.finish();
    }
}

/// Runs `rounds` rounds of one block per variant, in rotating order, and
/// returns the median per-operation time (µs) of each variant.
async fn interleave(v: &Variants, all: &[Op], rounds: usize, block: usize) -> Vec<f64> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); all.len()];
    for round in 0..rounds {
        for k in 0..all.len() {
            let i = (k + round) % all.len();
            let start = Instant::now();
            for _ in 0..block {
                once(v, all[i]).await;
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

fn table(title: &str, all: &[Op], medians: &[f64], base: &[usize]) {
    println!("\n{title}");
    println!("| variant | µs/op | vs plain |");
    println!("|---|---:|---:|");
    for (i, (op, m)) in all.iter().zip(medians).enumerate() {
        println!("| {op:?} | {m:.1} | {:.2}x |", m / medians[base[i]]);
    }
}

/// The workloads interleaved: 1,000 operations per block for the spread
/// reads (each tenant once), so a block is 1,000 tenants seen once.
async fn paired(label: &str, v: &Variants, rounds: usize) {
    let reads = [
        Op::SpreadPlain,
        Op::SpreadTenancy,
        Op::SpreadNoParking,
        Op::SpreadColdPinged,
        Op::SpreadColdFolded,
        Op::HotPlain,
        Op::HotTenancy,
    ];
    let medians = interleave(v, &reads, rounds, TENANTS).await;
    table(
        &format!(
            "paired reads, pool `{label}` ({rounds} rounds x {TENANTS} ops, medians; \
             spread = 1,000 tenants evenly):"
        ),
        &reads,
        &medians,
        &[0, 0, 0, 0, 0, 5, 5],
    );
    let writes = [Op::InsertPlain, Op::InsertTenancy];
    let medians = interleave(v, &writes, rounds, 200).await;
    table(
        &format!("paired inserts, pool `{label}` ({rounds} rounds x 200 ops, medians):"),
        &writes,
        &medians,
        &[0, 0],
    );
}
