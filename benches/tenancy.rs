//! What a service built only on `Tenancy` pays on Postgres, with 1,000
//! tenants: `Tenancy::connection` per request against a plain pool with a
//! hand-written tenant filter, each on the same server in one run.
//!
//! Needs Postgres: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo bench --bench tenancy`. Without DATABASE_URL it says so and
//! exits. It creates databases and non-owner roles of its own and drops
//! them at the end.
//!
//! Paths (each a `Tenancy` over a pool of 10 with SeaORM's default
//! acquire ping, as a service has it):
//!
//! * `rls`: shared schema, tenant tables with the policies of
//!   [`rls`](sea_orm_tenant::rls) (declared): tenant-keeping connections;
//! * `rls_local`: the same with `HotTenants::off()`: every statement in a
//!   transaction of its own that sets the tenant (`SET LOCAL`), the road
//!   behind a transaction-mode pooler;
//! * `open`: shared schema without policies (declared): each statement
//!   alone in autocommit;
//! * `schema`: schema per tenant (1,000 schemas), tenant-keeping
//!   connections with the `search_path` at session level;
//! * `schema_local`: the same with `HotTenants::off()`: `SET LOCAL
//!   search_path` in a transaction per statement.
//!
//! Workloads: point selects `spread` evenly over the 1,000 tenants (each
//! seen once every 1,000 requests) or `hot` (one tenant); inserts likewise.
//!
//! Baselines, on the same server: the same SeaORM call on a table without
//! policies with `tenant_id = ?` written by hand, on a plain pool of 10
//! without the acquire ping (`plain`, the baseline that counts) and with
//! it (`plain_ping`, SeaORM's default); for schema per tenant, a plain
//! pool naming the schema in the statement. `plain_aa` is a second
//! no-ping pool doing exactly what `plain` does: the A/A control, whose
//! ratio shows the noise of the run.
//!
//! The paired run interleaves the variants in blocks (rotating order,
//! medians of block means), so background load hits them alike; its
//! ratios are the ones to quote. `PAIRED_ROUNDS` sets the rounds (default
//! 30); `TENANCY_CRITERION=1` also runs criterion groups of each path
//! against its baseline.
//!
//! The roles run with `synchronous_commit = on` (the server's default), as
//! a service would: an insert's WAL flush is part of both sides.

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use pg_support::PgEnv;
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, EntityTrait, QueryFilter, SqlxPostgresConnector, Statement,
};
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::rls::RlsPolicy;

/// The same table without policies, for the plain baselines.
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
const POOL: u32 = 10;

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
    let Some(rls_env) = rt.block_on(PgEnv::new("bench tenancy rls")) else {
        return;
    };
    let Some(open_env) = rt.block_on(PgEnv::new("bench tenancy open")) else {
        return;
    };
    let Some(schema_env) = rt.block_on(PgEnv::new("bench tenancy schemas")) else {
        return;
    };
    let v = rt.block_on(async {
        setup(&rls_env, true).await;
        setup(&open_env, false).await;
        schemas(&schema_env).await;
        Variants::new(&rls_env, &open_env, &schema_env).await
    });
    if std::env::var("TENANCY_CRITERION").is_ok_and(|v| v == "1") {
        let mut c = Criterion::default()
            .configure_from_args()
            .without_plots()
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20);
        groups(&mut c, &rt, &v);
        c.final_summary();
    }
    let rounds: usize = std::env::var("PAIRED_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(30);
    rt.block_on(paired(&v, rounds));
    rt.block_on(async {
        for tenancy in [&v.rls, &v.rls_local, &v.open, &v.schema, &v.schema_local] {
            tenancy.release_parked();
        }
        drop(v);
        rls_env.cleanup().await;
        open_env.cleanup().await;
        schema_env.cleanup().await;
    });
}

struct Variants {
    plain: DatabaseConnection,
    plain_aa: DatabaseConnection,
    plain_ping: DatabaseConnection,
    /// A no-ping pool of the schema-per-tenant database.
    plain_schemas: DatabaseConnection,
    rls: Tenancy,
    rls_local: Tenancy,
    open: Tenancy,
    schema: Tenancy,
    schema_local: Tenancy,
}

/// A pool of the application role, with or without the acquire ping.
async fn pool(env: &PgEnv, ping: bool) -> DatabaseConnection {
    let pool = PgPoolOptions::new()
        .max_connections(POOL)
        .test_before_acquire(ping)
        .connect_with(env.app_options())
        .await
        .expect("connect");
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

impl Variants {
    async fn new(rls_env: &PgEnv, open_env: &PgEnv, schema_env: &PgEnv) -> Variants {
        let rls_db = pool(rls_env, true).await;
        let open_db = pool(open_env, true).await;
        let schema_db = pool(schema_env, true).await;
        let shared = |db: &DatabaseConnection, rls| {
            Tenancy::shared_schema(db.clone())
                .tenant_table::<post::Entity>()
                .row_level_security(rls)
        };
        let v = Variants {
            plain: pool(rls_env, false).await,
            plain_aa: pool(rls_env, false).await,
            plain_ping: pool(rls_env, true).await,
            plain_schemas: pool(schema_env, false).await,
            rls: shared(&rls_db, true),
            rls_local: shared(&rls_db, true).hot_tenants(HotTenants::off()),
            open: shared(&open_db, false),
            schema: Tenancy::schema_per_tenant(schema_db.clone()).tenant_table::<post::Entity>(),
            schema_local: Tenancy::schema_per_tenant(schema_db)
                .tenant_table::<post::Entity>()
                .hot_tenants(HotTenants::off()),
        };
        // Registry lookups are cached per tenant (registry_ttl): warm them,
        // as a running service has, and check each path's wall.
        for t in 0..TENANTS {
            for tenancy in [&v.rls, &v.rls_local, &v.open, &v.schema, &v.schema_local] {
                tenancy.connection(&tenant(t)).await.expect("registered");
            }
        }
        assert!(v.rls.row_level_security_in_force().await.expect("rls"));
        assert!(!v.open.row_level_security_in_force().await.expect("open"));
        v
    }
}

async fn setup(env: &PgEnv, rls: bool) {
    env.admin_sql(
        "CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
         CREATE INDEX post_tenant_idx ON post (tenant_id);
         CREATE TABLE post_plain (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
         CREATE INDEX post_plain_tenant_idx ON post_plain (tenant_id);",
    )
    .await;
    if rls {
        RlsPolicy::for_entity::<post::Entity>()
            .grant_to(&env.role)
            .apply(&env.admin)
            .await
            .expect("policy");
    } else {
        env.admin_sql(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON post TO \"{role}\";
             GRANT USAGE ON SEQUENCE post_id_seq TO \"{role}\";",
            role = env.role
        ))
        .await;
    }
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
         ANALYZE post; ANALYZE post_plain;",
        registry = sea_orm_tenant::REGISTRY_TABLE,
        role = env.role,
        n = TENANTS * ROWS_PER_TENANT,
    ))
    .await;
}

/// Schema per tenant in a database of its own: 1,000 schemas
/// `tenant_t<i>`, provisioned by the owner, each with its tenant's rows.
async fn schemas(env: &PgEnv) {
    let admin = Tenancy::schema_per_tenant(env.admin.clone()).hot_tenants(HotTenants::off());
    for t in 0..TENANTS {
        admin.provision(&tenant(t)).await.expect("provision");
    }
    env.admin_sql(&format!(
        "DO $$ DECLARE t int; BEGIN FOR t IN 0..{last} LOOP
           EXECUTE format('CREATE TABLE tenant_t%s.post (id int PRIMARY KEY, \
             tenant_id text NOT NULL, title text NOT NULL)', t);
           EXECUTE format('INSERT INTO tenant_t%s.post SELECT g * {TENANTS} + %s + 1, %L, %L \
             FROM generate_series(0, {rows} - 1) AS g', t, t, 't' || t, 'title');
           EXECUTE format('GRANT USAGE ON SCHEMA tenant_t%s TO %I', t, '{role}');
           EXECUTE format('GRANT SELECT ON tenant_t%s.post TO %I', t, '{role}');
         END LOOP; END $$;
         GRANT SELECT ON {registry} TO \"{role}\";",
        last = TENANTS - 1,
        rows = ROWS_PER_TENANT,
        role = env.role,
        registry = sea_orm_tenant::REGISTRY_TABLE,
    ))
    .await;
}

fn tenant(t: usize) -> TenantId {
    TenantId::from(format!("t{t}"))
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The next request: a tenant (round robin over all of them) and one of
/// its rows. Tenant `t` owns ids `t + 1`, `t + 1 + TENANTS`, …
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    // Point selects, spread over 1,000 tenants.
    SpreadPlain,
    SpreadPlainAa,
    SpreadPlainPing,
    SpreadRls,
    SpreadRlsLocal,
    SpreadOpen,
    SpreadSchemaPlain,
    SpreadSchema,
    SpreadSchemaLocal,
    // Point selects of one tenant.
    HotPlain,
    HotRls,
    HotOpen,
    // Inserts.
    InsertPlain,
    InsertPlainPing,
    InsertSpreadRls,
    InsertSpreadRlsLocal,
    InsertSpreadOpen,
    InsertHotRls,
    InsertHotOpen,
}

async fn plain_select(db: &DatabaseConnection, (t, id): (usize, i32)) {
    let found = post_plain::Entity::find_by_id(id)
        .filter(post_plain::Column::TenantId.eq(format!("t{t}")))
        .one(db)
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

/// The plain pool naming the tenant's schema in the statement (what a
/// hand-written schema-per-tenant service sends).
async fn schema_plain_select(db: &DatabaseConnection, (t, id): (usize, i32)) {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT id, tenant_id, title FROM \"tenant_t{t}\".\"post\" WHERE id = $1"),
            [id.into()],
        ))
        .await
        .expect("select");
    assert!(row.is_some());
}

async fn plain_insert(db: &DatabaseConnection, (t, _): (usize, i32)) {
    post_plain::ActiveModel {
        tenant_id: Set(format!("t{t}")),
        title: Set("new".into()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert");
}

async fn tenancy_insert(tenancy: &Tenancy, (t, _): (usize, i32)) {
    let conn = tenancy.connection(&tenant(t)).await.expect("connection");
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
        Op::SpreadPlain => plain_select(&v.plain, spread()).await,
        Op::SpreadPlainAa => plain_select(&v.plain_aa, spread()).await,
        Op::SpreadPlainPing => plain_select(&v.plain_ping, spread()).await,
        Op::SpreadRls => tenancy_select(&v.rls, spread()).await,
        Op::SpreadRlsLocal => tenancy_select(&v.rls_local, spread()).await,
        Op::SpreadOpen => tenancy_select(&v.open, spread()).await,
        Op::SpreadSchemaPlain => schema_plain_select(&v.plain_schemas, spread()).await,
        Op::SpreadSchema => tenancy_select(&v.schema, spread()).await,
        Op::SpreadSchemaLocal => tenancy_select(&v.schema_local, spread()).await,
        Op::HotPlain => plain_select(&v.plain, hot()).await,
        Op::HotRls => tenancy_select(&v.rls, hot()).await,
        Op::HotOpen => tenancy_select(&v.open, hot()).await,
        Op::InsertPlain => plain_insert(&v.plain, spread()).await,
        Op::InsertPlainPing => plain_insert(&v.plain_ping, spread()).await,
        Op::InsertSpreadRls => tenancy_insert(&v.rls, spread()).await,
        Op::InsertSpreadRlsLocal => tenancy_insert(&v.rls_local, spread()).await,
        Op::InsertSpreadOpen => tenancy_insert(&v.open, spread()).await,
        Op::InsertHotRls => tenancy_insert(&v.rls, hot()).await,
        Op::InsertHotOpen => tenancy_insert(&v.open, hot()).await,
    }
}

fn groups(c: &mut Criterion, rt: &tokio::runtime::Runtime, v: &Variants) {
    let sets: [(&str, &[Op]); 4] = [
        (
            "spread",
            &[
                Op::SpreadPlain,
                Op::SpreadRls,
                Op::SpreadOpen,
                Op::SpreadSchema,
            ],
        ),
        ("hot", &[Op::HotPlain, Op::HotRls, Op::HotOpen]),
        (
            "insert",
            &[Op::InsertPlain, Op::InsertSpreadRls, Op::InsertSpreadOpen],
        ),
        ("insert_hot", &[Op::InsertPlain, Op::InsertHotRls]),
    ];
    for (name, ops) in sets {
        let mut g = c.benchmark_group(format!("tenancy_{name}"));
        for &op in ops {
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

/// Prints each variant against `plain` (no ping) and `plain_ping`.
fn table(title: &str, all: &[Op], medians: &[f64], base: Op, base_ping: Op) {
    let at = |op| medians[all.iter().position(|o| *o == op).expect("baseline")];
    println!("\n{title}");
    println!("| variant | µs/op | vs {base:?} | vs {base_ping:?} |");
    println!("|---|---:|---:|---:|");
    for (op, m) in all.iter().zip(medians) {
        println!(
            "| {op:?} | {m:.1} | {:.2}x | {:.2}x |",
            m / at(base),
            m / at(base_ping)
        );
    }
}

/// The workloads interleaved: 1,000 operations per block for reads (a
/// block sees each of the 1,000 tenants once), 200 per block for inserts.
async fn paired(v: &Variants, rounds: usize) {
    let reads = [
        Op::SpreadPlain,
        Op::SpreadPlainAa,
        Op::SpreadPlainPing,
        Op::SpreadRls,
        Op::SpreadRlsLocal,
        Op::SpreadOpen,
        Op::HotPlain,
        Op::HotRls,
        Op::HotOpen,
    ];
    let medians = interleave(v, &reads, rounds, TENANTS).await;
    table(
        &format!(
            "paired reads ({rounds} rounds x {TENANTS} ops, medians; spread = 1,000 \
             tenants evenly, hot = one tenant):"
        ),
        &reads,
        &medians,
        Op::SpreadPlain,
        Op::SpreadPlainPing,
    );
    let schema = [
        Op::SpreadPlain,
        Op::SpreadSchemaPlain,
        Op::SpreadSchema,
        Op::SpreadSchemaLocal,
        Op::SpreadPlainPing,
    ];
    let medians = interleave(v, &schema, rounds, TENANTS).await;
    table(
        &format!("paired schema per tenant reads ({rounds} rounds x {TENANTS} ops, medians):"),
        &schema,
        &medians,
        Op::SpreadPlain,
        Op::SpreadPlainPing,
    );
    let writes = [
        Op::InsertPlain,
        Op::InsertPlainPing,
        Op::InsertSpreadRls,
        Op::InsertSpreadRlsLocal,
        Op::InsertSpreadOpen,
        Op::InsertHotRls,
        Op::InsertHotOpen,
    ];
    let medians = interleave(v, &writes, rounds, 200).await;
    table(
        &format!("paired inserts ({rounds} rounds x 200 ops, medians):"),
        &writes,
        &medians,
        Op::InsertPlain,
        Op::InsertPlainPing,
    );
}
