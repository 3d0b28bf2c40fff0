//! What the statement confinement (rule 12) costs: a plain SeaORM call
//! through a confining `TenantConnection` against the scoped builder on the
//! plain `DatabaseConnection`, and against the same call with the
//! confinement switched off (`TenantConnection::__unconfined`), side by side
//! in one run.
//!
//! ```text
//! cargo bench --all-features --bench confinement
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --all-features --bench confinement
//! ```
//!
//! * **SQLite**, in memory, one connection (on SeaORM's default pool, which
//!   pings before each acquire, and on one with `test_before_acquire(false)`):
//!   the doc entities' `post` table,
//!   1,000 rows over 10 tenants (tenant `t<k>` owns ids `100k+1 ..= 100k+100`,
//!   so a page of ten ids is ten rows of one tenant whatever the filter).
//!   Workloads: a point select by key and a 10-row page
//!   (`find().filter(id >= x).order_by_asc(id).limit(10)`). Variants:
//!   - `baseline`: `post::Entity::scoped(&t)…` on the `DatabaseConnection`;
//!   - `confined`: the plain builder (`post::Entity::find_by_id(id)`) through
//!     `Tenancy::shared_schema(db).hot_tenants(HotTenants::off())
//!     .tenant_table::<post::Entity>().connection(&t)`;
//!   - `unconfined`: the plain builder through the same connection after
//!     `__unconfined()` (statements sent as written: the "before");
//!   - `plain`: the plain builder on the `DatabaseConnection`, no tenant
//!     filter (SeaORM's own floor);
//!   - `control` (paired run only): the baseline again, an A/A control.
//! * **Postgres** (skipped, with one line, when `DATABASE_URL` is unset): a
//!   hot tenant's point select through `Tenancy::shared_schema(db)
//!   .tenant_table::<post::Entity>()`, `confined` against `unconfined` (and,
//!   in the paired run, `unconfined` again as an A/A control), on
//!   a pool with sqlx's default acquire ping and on one without it. A
//!   database and a non-owner role of its own, the table under the
//!   policies of `sea_orm_tenant::rls` (as in `benches/connection.rs`), so
//!   both variants read the same rows; dropped at the end.
//!
//! Criterion measures each variant in its own time slot; then a paired run
//! interleaves the variants in blocks (rotating order, medians of block
//! means), so background load on a small machine hits them alike. Its
//! medians and ratios are the ones to quote; they are printed as one table
//! at the end, with the CPU time of the whole process per operation (every
//! thread, from `/proc/self/task/*/schedstat`; the Postgres server's CPU is
//! not in it). Before the Postgres part, a timing loop without a database
//! shows where the confinement's time goes (building the statement,
//! `confine`, stand-ins for its parts, and the boxed statement future).

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use sea_orm::ActiveValue::Set;
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, SqlxPostgresConnector,
    Value, Values,
};
use sea_orm_tenant::doc_entities::{self, post};
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::rls::RlsPolicy;

/// SQLite: tenants.
const LITE_TENANTS: i32 = 10;
/// SQLite: rows per tenant.
const LITE_ROWS: i32 = 100;
/// Postgres: tenants (the data set of `benches/connection.rs`).
const PG_TENANTS: usize = 200;
/// Postgres: rows per tenant.
const PG_ROWS: usize = 20;
/// The tenant every measured statement is for.
const HOT: &str = "t1";

/// SQLite, the timing loop, Postgres, then the table of the paired runs.
fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut c = Criterion::default()
        .configure_from_args()
        .without_plots()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20);
    let mut summary = Vec::new();
    sqlite(&mut c, &rt, &mut summary);
    breakdown();
    postgres(&mut c, &rt, &mut summary);
    c.final_summary();
    print_summary(&summary);
}

/// One line of the final table.
struct Row {
    /// The workload and pool, with the paired run's shape.
    workload: String,
    /// What is measured.
    variant: &'static str,
    /// Its medians.
    median: Median,
    /// Wall-clock median over the baseline's.
    ratio: f64,
    /// CPU median over the baseline's.
    cpu_ratio: Option<f64>,
}

/// Spreads the operations over the hot tenant's rows.
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The next operation's number.
fn next() -> usize {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------
// SQLite

/// The tenant of row `id` (1-based): ids `100k+1 ..= 100k+100` are `t<k>`.
fn lite_tenant_of(id: i32) -> String {
    format!("t{}", (id - 1) / LITE_ROWS)
}

/// The hot tenant's ids: 101 ..= 200.
fn lite_id(i: usize) -> i32 {
    LITE_ROWS + 1 + (i % LITE_ROWS as usize) as i32
}

/// The first id of a page of ten of the hot tenant's rows: 101 ..= 191.
fn lite_page_start(i: usize) -> i32 {
    LITE_ROWS + 1 + (i % (LITE_ROWS as usize - 9)) as i32
}

/// The 10-row page on top of `select`.
fn page(select: Select<post::Entity>, from: i32) -> Select<post::Entity> {
    select
        .filter(post::Column::Id.gte(from))
        .order_by_asc(post::Column::Id)
        .limit(10)
}

/// The SQLite variants.
#[derive(Clone, Copy, Debug)]
enum Lite {
    Baseline,
    Confined,
    Unconfined,
    Plain,
    /// A/A control (paired run only): the baseline again, to show how far
    /// two identical variants land apart.
    Control,
}

impl Lite {
    /// Every variant; the first is the baseline of the ratios.
    const ALL: [Lite; 5] = [
        Lite::Baseline,
        Lite::Confined,
        Lite::Unconfined,
        Lite::Plain,
        Lite::Control,
    ];
    /// The variants criterion measures.
    const MEASURED: [Lite; 4] = [
        Lite::Baseline,
        Lite::Confined,
        Lite::Unconfined,
        Lite::Plain,
    ];

    /// The variant in the table.
    fn label(self) -> &'static str {
        match self {
            Lite::Baseline => "baseline: scoped builder on DatabaseConnection",
            Lite::Confined => "confined: plain builder through TenantConnection",
            Lite::Unconfined => "unconfined: same through __unconfined()",
            Lite::Plain => "plain: plain builder on DatabaseConnection, no tenant filter",
            Lite::Control => "A/A control: baseline again",
        }
    }

    /// The variant in criterion's group.
    fn id(self) -> &'static str {
        match self {
            Lite::Baseline => "baseline",
            Lite::Confined => "confined",
            Lite::Unconfined => "unconfined",
            Lite::Plain => "plain",
            Lite::Control => "control",
        }
    }
}

/// The SQLite database and the connections of the variants.
struct LiteConns {
    /// The plain connection (baseline and plain).
    db: DatabaseConnection,
    /// The hot tenant.
    tenant: TenantId,
    /// The confining tenant connection.
    confined: TenantConnection,
    /// The same, switched off.
    unconfined: TenantConnection,
}

/// The database and the connections; `ping`: sqlx's (and SeaORM's)
/// default acquire ping, a round trip to the connection's worker thread.
async fn lite_setup(ping: bool) -> LiteConns {
    let mut options = ConnectOptions::new("sqlite::memory:");
    options
        .max_connections(1)
        .test_before_acquire(ping)
        .sqlx_logging(false);
    let db = Database::connect(options).await.expect("sqlite");
    doc_entities::create_tables(&db).await.expect("tables");
    let rows = (1..=LITE_TENANTS * LITE_ROWS).map(|id| post::ActiveModel {
        id: Set(id),
        tenant_id: Set(lite_tenant_of(id)),
        title: Set(format!("title {id}")),
    });
    post::Entity::insert_many(rows)
        .exec(&db)
        .await
        .expect("rows");
    let tenant = TenantId::from(HOT);
    let tenancy = Tenancy::shared_schema(db.clone())
        .hot_tenants(HotTenants::off())
        .tenant_table::<post::Entity>();
    tenancy.provision(&tenant).await.expect("provision");
    let confined = tenancy.connection(&tenant).await.expect("connection");
    let unconfined = confined.clone().__unconfined();
    LiteConns {
        db,
        tenant,
        confined,
        unconfined,
    }
}

/// One point select; whether it found the row.
async fn lite_point(v: &LiteConns, which: Lite, id: i32) -> bool {
    let found = match which {
        Lite::Baseline | Lite::Control => {
            post::Entity::scoped(&v.tenant)
                .find_by_id(id)
                .one(&v.db)
                .await
        }
        Lite::Confined => post::Entity::find_by_id(id).one(&v.confined).await,
        Lite::Unconfined => post::Entity::find_by_id(id).one(&v.unconfined).await,
        Lite::Plain => post::Entity::find_by_id(id).one(&v.db).await,
    };
    found.expect("select").is_some()
}

/// One 10-row page; the rows.
async fn lite_page(v: &LiteConns, which: Lite, from: i32) -> Vec<post::Model> {
    match which {
        Lite::Baseline | Lite::Control => {
            page(post::Entity::scoped(&v.tenant).find(), from)
                .all(&v.db)
                .await
        }
        Lite::Confined => page(post::Entity::find(), from).all(&v.confined).await,
        Lite::Unconfined => page(post::Entity::find(), from).all(&v.unconfined).await,
        Lite::Plain => page(post::Entity::find(), from).all(&v.db).await,
    }
    .expect("select")
}

/// Every variant reads what it should before anything is timed; prints
/// the confined SQL when `print`.
async fn lite_check(v: &LiteConns, print: bool) {
    let other = 1; // t0's row
    assert!(!lite_point(v, Lite::Baseline, other).await);
    assert!(!lite_point(v, Lite::Confined, other).await, "not confined");
    assert!(lite_point(v, Lite::Unconfined, other).await);
    for which in Lite::ALL {
        assert!(lite_point(v, which, lite_id(0)).await, "{which:?}");
        let rows = lite_page(v, which, lite_page_start(0)).await;
        assert_eq!(rows.len(), 10, "{which:?}");
        assert!(rows.iter().all(|r| r.tenant_id == HOT), "{which:?}");
    }
    if print {
        let stmt = post::Entity::find_by_id(7)
            .limit(1)
            .build(DbBackend::Sqlite);
        let sent = v.confined.confine(stmt).expect("confine");
        println!("sqlite, confined point select sends: {}", sent.sql);
    }
}

/// The SQLite part, on both pools.
fn sqlite(c: &mut Criterion, rt: &tokio::runtime::Runtime, summary: &mut Vec<Row>) {
    for ping in [true, false] {
        sqlite_pool(c, rt, summary, ping);
    }
}

/// The SQLite part on one pool: criterion groups, then the paired runs.
fn sqlite_pool(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    summary: &mut Vec<Row>,
    ping: bool,
) {
    let v = rt.block_on(lite_setup(ping));
    rt.block_on(lite_check(&v, ping));
    let label = if ping { "default pool" } else { "no-ping pool" };
    let group = |workload: &str| format!("sqlite_{workload}/{}", label.replace(' ', "_"));

    let mut g = c.benchmark_group(group("point_select"));
    for which in Lite::MEASURED {
        g.bench_function(BenchmarkId::from_parameter(which.id()), |b| {
            b.to_async(rt)
                .iter(|| async { assert!(lite_point(&v, which, lite_id(next())).await) })
        });
    }
    g.finish();
    let mut g = c.benchmark_group(group("select_10_rows"));
    for which in Lite::MEASURED {
        g.bench_function(BenchmarkId::from_parameter(which.id()), |b| {
            b.to_async(rt).iter(|| async {
                assert_eq!(
                    lite_page(&v, which, lite_page_start(next())).await.len(),
                    10
                )
            })
        });
    }
    g.finish();

    let (rounds, block) = (60, 200);
    let medians = rt.block_on(interleave(&Lite::ALL, rounds, block, |which| {
        let v = &v;
        async move { assert!(lite_point(v, which, lite_id(next())).await) }
    }));
    let workload = format!("SQLite point select, {label} ({rounds} rounds x {block} ops)");
    push(summary, &workload, &Lite::ALL.map(Lite::label), &medians);
    let medians = rt.block_on(interleave(&Lite::ALL, rounds, block, |which| {
        let v = &v;
        async move { assert_eq!(lite_page(v, which, lite_page_start(next())).await.len(), 10) }
    }));
    let workload = format!("SQLite 10-row select, {label} ({rounds} rounds x {block} ops)");
    push(summary, &workload, &Lite::ALL.map(Lite::label), &medians);
    rt.block_on(async { v.db.close().await.ok() });
}

// ---------------------------------------------------------------------------
// Where the time goes, without a database

/// Nanoseconds per call of `op`, median of `rounds` rounds of `n` calls.
fn ns_per_op(rounds: usize, n: usize, mut op: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                op();
            }
            start.elapsed().as_secs_f64() * 1e9 / n as f64
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

/// Times the synchronous work of a SQLite point select: building the
/// statement (plain and scoped), `TenantConnection::confine`, and
/// stand-ins for what `confine` does per call (a moka lookup keyed by the
/// SQL, the clone of the planned SQL, the tenant as a value, the values
/// `Vec`). The stand-ins are built from the same crates the same way, not
/// the crate's private code, so read them as orders of magnitude.
fn breakdown() {
    let tenant = TenantId::from(HOT);
    let conn = TenantConnection::new(DatabaseConnection::default(), tenant.clone())
        .tenant_table::<post::Entity>();
    let plain = || post::Entity::find_by_id(black_box(150)).limit(1);
    let stmt = plain().build(DbBackend::Sqlite);
    let confined = conn.confine(stmt.clone()).expect("confine");
    let (rounds, n) = (31, 20_000);
    let mut lines: Vec<(&str, f64)> = Vec::new();

    lines.push((
        "build plain find_by_id(..).limit(1) (SQLite)",
        ns_per_op(rounds, n, || {
            black_box(plain().build(DbBackend::Sqlite));
        }),
    ));
    lines.push((
        "build scoped find_by_id(..).limit(1) (SQLite)",
        ns_per_op(rounds, n, || {
            black_box(
                post::Entity::scoped(black_box(&tenant))
                    .find_by_id(black_box(150))
                    .limit(1)
                    .build(DbBackend::Sqlite),
            );
        }),
    ));
    lines.push((
        "Statement clone (the input to confine, below subtracted)",
        ns_per_op(rounds, n, || {
            black_box(black_box(&stmt).clone());
        }),
    ));
    let confine = ns_per_op(rounds, n, || {
        black_box(conn.confine(black_box(&stmt).clone()).expect("confine"));
    });
    lines.push(("confine(clone of statement)", confine));

    // Stand-ins for confine's parts.
    let cache: moka::sync::Cache<String, Arc<String>> = moka::sync::Cache::new(4096);
    cache.insert(stmt.sql.clone(), Arc::new(confined.sql.clone()));
    lines.push((
        "  moka::sync::Cache::get(&sql) (4096 entries max, 1 present)",
        ns_per_op(rounds, n, || {
            black_box(cache.get(black_box(&stmt.sql)));
        }),
    ));
    let map: std::collections::HashMap<String, Arc<String>> =
        [(stmt.sql.clone(), Arc::new(confined.sql.clone()))].into();
    lines.push((
        "  for scale: std HashMap::get(&sql) (SipHash of the same key)",
        ns_per_op(rounds, n, || {
            black_box(map.get(black_box(&stmt.sql)));
        }),
    ));
    lines.push((
        "  clone of the planned SQL (String)",
        ns_per_op(rounds, n, || {
            black_box(black_box(&confined.sql).clone());
        }),
    ));
    lines.push((
        "  post::Entity::tenant_value(&tenant)",
        ns_per_op(rounds, n, || {
            black_box(post::Entity::tenant_value(black_box(&tenant)).expect("value"));
        }),
    ));
    let own = stmt.values.clone().map(|v| v.0).unwrap_or_default();
    lines.push((
        "  values Vec: own values chained with the tenant's, collected",
        ns_per_op(rounds, n, || {
            let own = black_box(&own).clone();
            let tenant: Vec<Value> = vec![Value::String(Some("t1".into()))];
            let values: Vec<Value> = own.into_iter().chain(tenant).collect();
            black_box(Values(values));
        }),
    ));
    lines.push((
        "  for scale: clone of the statement's own values",
        ns_per_op(rounds, n, || {
            black_box(black_box(&own).clone());
        }),
    ));
    println!("\nwhere the time goes (no database; median of {rounds} x {n} calls, ns per call):");
    println!("| step | ns |");
    println!("|---|---:|");
    for (step, ns) in lines {
        println!("| {step} | {ns:.0} |");
    }

    // The statement futures are boxed (async_trait); their state is
    // written into the box, and the profile shows that copy.
    let db = DatabaseConnection::default();
    let tenant_future = ConnectionTrait::query_one_raw(&conn, stmt.clone());
    let db_future = ConnectionTrait::query_one_raw(&db, stmt.clone());
    let sizes = (
        std::mem::size_of_val(&*tenant_future),
        std::mem::size_of_val(&*db_future),
    );
    drop((tenant_future, db_future));
    let tenant_box = ns_per_op(rounds, n / 10, || {
        drop(black_box(ConnectionTrait::query_one_raw(
            &conn,
            black_box(&stmt).clone(),
        )));
    });
    let db_box = ns_per_op(rounds, n / 10, || {
        drop(black_box(ConnectionTrait::query_one_raw(
            &db,
            black_box(&stmt).clone(),
        )));
    });
    println!(
        "boxed query_one_raw future (created and dropped unpolled, with the statement clone): \
         TenantConnection {} bytes, {tenant_box:.0} ns; DatabaseConnection {} bytes, {db_box:.0} ns",
        sizes.0, sizes.1
    );
}

// ---------------------------------------------------------------------------
// Postgres

/// The Postgres variants.
#[derive(Clone, Copy, Debug)]
enum Pg {
    Confined,
    Unconfined,
    /// A/A control (paired run only): the unconfined variant again, on a
    /// connection of its own, to show how far two identical variants land
    /// apart.
    Control,
}

impl Pg {
    /// Every variant; the first is the baseline of the ratios.
    const ALL: [Pg; 3] = [Pg::Unconfined, Pg::Confined, Pg::Control];
    /// The variants criterion measures.
    const MEASURED: [Pg; 2] = [Pg::Unconfined, Pg::Confined];

    /// The variant in the table.
    fn label(self) -> &'static str {
        match self {
            Pg::Confined => "confined: Tenancy hot tenant",
            Pg::Unconfined => "unconfined: same through __unconfined()",
            Pg::Control => "A/A control: unconfined again",
        }
    }

    /// The variant in criterion's group.
    fn id(self) -> &'static str {
        match self {
            Pg::Confined => "confined",
            Pg::Unconfined => "unconfined",
            Pg::Control => "control",
        }
    }
}

/// Ids of the hot tenant's rows: t1 owns ids 2, 202, 402, …
fn pg_id(i: usize) -> i32 {
    (2 + (i % PG_ROWS) * PG_TENANTS) as i32
}

/// The RLS table and its rows, as in `benches/connection.rs`.
async fn pg_setup(env: &pg_support::PgEnv) {
    env.admin_sql(
        "CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);",
    )
    .await;
    RlsPolicy::for_entity::<post::Entity>()
        .grant_to(&env.role)
        .apply(&env.admin)
        .await
        .expect("policy");
    env.admin_sql(&format!(
        "INSERT INTO post (tenant_id, title)
            SELECT 't' || (g % {PG_TENANTS}), 'title ' || g FROM generate_series(0, {n} - 1) g;
         ANALYZE post;",
        n = PG_TENANTS * PG_ROWS,
    ))
    .await;
}

/// One point select; the row must be there.
async fn pg_point(conn: &TenantConnection, id: i32) {
    let row = post::Entity::find_by_id(id)
        .one(conn)
        .await
        .expect("select");
    assert!(row.is_some());
}

/// The Postgres part, on both pools, when `DATABASE_URL` is set.
fn postgres(c: &mut Criterion, rt: &tokio::runtime::Runtime, summary: &mut Vec<Row>) {
    if std::env::var("DATABASE_URL").is_err() {
        println!("benches/confinement: DATABASE_URL is not set; the Postgres part is skipped.");
        return;
    }
    let Some(env) = rt.block_on(pg_support::PgEnv::new("bench confinement")) else {
        return;
    };
    rt.block_on(pg_setup(&env));
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
        let label = if ping { "default pool" } else { "no-ping pool" };
        // Inside the runtime: the hot-tenant cache spawns a task.
        let tenancy = rt.block_on(async {
            let tenancy = Tenancy::shared_schema(db.clone()).tenant_table::<post::Entity>();
            env.provisioned(tenancy, &[HOT]).await
        });
        let hot = TenantId::from(HOT);
        let confined = rt.block_on(tenancy.connection(&hot)).expect("connection");
        let unconfined = confined.clone().__unconfined();
        let control = rt
            .block_on(tenancy.connection(&hot))
            .expect("connection")
            .__unconfined();
        let conn = |which: Pg| match which {
            Pg::Confined => &confined,
            Pg::Unconfined => &unconfined,
            Pg::Control => &control,
        };
        rt.block_on(async {
            // Another tenant's row is not there either way (RLS).
            let other = post::Entity::find_by_id(1).one(&confined).await;
            assert!(other.expect("select").is_none());
            for _ in 0..10 {
                pg_point(&confined, pg_id(next())).await;
            }
        });
        if ping {
            let sent = confined
                .confine(
                    post::Entity::find_by_id(7)
                        .limit(1)
                        .build(DbBackend::Postgres),
                )
                .expect("confine");
            println!("postgres, confined point select sends: {}", sent.sql);
        }

        let mut g = c.benchmark_group(format!("pg_point_select/{}", label.replace(' ', "_")));
        g.measurement_time(Duration::from_secs(3)).sample_size(30);
        for which in Pg::MEASURED {
            g.bench_function(BenchmarkId::from_parameter(which.id()), |b| {
                b.to_async(rt)
                    .iter(|| async { pg_point(conn(which), pg_id(next())).await })
            });
        }
        g.finish();

        let (rounds, block) = (150, 100);
        let medians = rt.block_on(interleave(&Pg::ALL, rounds, block, |which| {
            pg_point(conn(which), pg_id(next()))
        }));
        let workload =
            format!("Postgres hot-tenant point select, {label} ({rounds} rounds x {block} ops)");
        push(summary, &workload, &Pg::ALL.map(Pg::label), &medians);
        rt.block_on(async {
            tenancy.release_parked();
            db.close().await.ok()
        });
    }
    rt.block_on(env.cleanup());
}

// ---------------------------------------------------------------------------
// The paired run and the table

/// The medians of one variant in the paired run, per operation.
#[derive(Clone, Copy, Debug)]
struct Median {
    /// Wall-clock µs.
    wall: f64,
    /// CPU µs of the whole process (every thread: tokio's workers, the
    /// SQLite worker thread, sqlx's background tasks), `None` where
    /// `/proc/self/task/*/schedstat` cannot be read. The database server's
    /// own CPU (Postgres) is not in it.
    cpu: Option<f64>,
}

/// The CPU time (ns) every thread of this process has run so far, from
/// `/proc/self/task/*/schedstat` (Linux); `None` elsewhere.
fn cpu_ns() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread that ended since the listing has nothing to add.
        let Ok(stat) = std::fs::read_to_string(path) else {
            continue;
        };
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// The median of `xs` (sorts it).
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

/// Runs `rounds` rounds of one block per variant, in rotating order, and
/// returns the median per-operation wall-clock and CPU time (µs) of each
/// variant.
async fn interleave<T: Copy, F, Fut>(
    all: &[T],
    rounds: usize,
    block: usize,
    mut op: F,
) -> Vec<Median>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut wall: Vec<Vec<f64>> = vec![Vec::new(); all.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); all.len()];
    for round in 0..rounds {
        for k in 0..all.len() {
            let i = (k + round) % all.len();
            let cpu_start = cpu_ns();
            let start = Instant::now();
            for _ in 0..block {
                op(all[i]).await;
            }
            wall[i].push(start.elapsed().as_secs_f64() * 1e6 / block as f64);
            if let (Some(a), Some(b)) = (cpu_start, cpu_ns()) {
                cpu[i].push(b.saturating_sub(a) as f64 / 1e3 / block as f64);
            }
        }
    }
    wall.iter_mut()
        .zip(cpu.iter_mut())
        .map(|(wall, cpu)| Median {
            wall: median(wall),
            cpu: (cpu.len() == wall.len()).then(|| median(cpu)),
        })
        .collect()
}

/// Adds one workload's medians to the summary, each as a ratio to the
/// first variant (the baseline).
fn push(summary: &mut Vec<Row>, workload: &str, labels: &[&'static str], medians: &[Median]) {
    let base = medians[0];
    for (label, m) in labels.iter().zip(medians) {
        summary.push(Row {
            workload: workload.to_owned(),
            variant: label,
            median: *m,
            ratio: m.wall / base.wall,
            cpu_ratio: m.cpu.zip(base.cpu).map(|(c, b)| c / b),
        });
    }
}

/// Prints the paired runs' table.
fn print_summary(summary: &[Row]) {
    println!("\nconfinement, paired run (medians of block means, µs per operation):");
    println!("| workload | variant | wall µs | ratio | CPU µs | CPU ratio |");
    println!("|---|---|---:|---:|---:|---:|");
    for row in summary {
        let (cpu, cpu_ratio) = match (row.median.cpu, row.cpu_ratio) {
            (Some(c), Some(r)) => (format!("{c:.1}"), format!("{r:.2}x")),
            _ => ("n/a".into(), "n/a".into()),
        };
        println!(
            "| {} | {} | {:.1} | {:.2}x | {cpu} | {cpu_ratio} |",
            row.workload, row.variant, row.median.wall, row.ratio
        );
    }
    println!("(ratios: to the first variant of the workload; CPU: every thread of this process)");
}
