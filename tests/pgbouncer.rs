//! The tenant wall through PgBouncer in transaction mode (`.ci/pgbouncer.sh`,
//! `PGBOUNCER_URL`): many client connections share two server connections
//! per database, and a server connection goes to the next client after
//! every transaction. Tables are made through the direct connection; all
//! tenant traffic goes through PgBouncer, every tenancy wrapped in
//! [`pooled`]. Each run checks: no error, no lost write (exact counts read
//! straight from Postgres), no carry-over (a tenant only ever sees its own
//! rows and setting; an untenanted query through PgBouncer sees no tenant
//! setting and the default `search_path`), and no stall.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::bouncer::{self, Bounced, pooled};
use common::within;
use futures_util::TryStreamExt;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, Statement, TransactionTrait,
};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::migration::Outcome;
use sea_orm_tenant::prelude::*;

/// The overall limit of a run: the issue saw stalls, never slowness.
const LIMIT_SECS: u64 = 60;

/// The restart test takes it exclusively: the others share it, so that a
/// restart never cuts another test's connections in this binary.
static RESTART_GATE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

// ---------------------------------------------------------------------------
// The application's migrations: `post` from its entity, no schema named.

use common::post_migrator::Migrator;

/// `Migrator` and a second migration, for the migration run.
struct MigratorV2;
impl MigratorTrait for MigratorV2 {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreatePost), Box::new(CreateLabel)]
    }
}

use common::post_migrator::CreatePost;

struct CreateLabel;
impl MigrationName for CreateLabel {
    fn name(&self) -> &str {
        "m0002_create_label"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for CreateLabel {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("label")
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .col(ColumnDef::new("name").string_len(50).not_null())
                    .to_owned(),
            )
            .await
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("label").to_owned())
            .await
    }
}

// ---------------------------------------------------------------------------
// Levels and setup.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Shared,
    Schema,
}

impl Level {
    /// A tenancy of this level on `db` (post declared as a tenant table),
    /// with `current_setting` declared: [`session`] reads the tenant and
    /// `search_path` each statement runs under, the test's device for a
    /// carry-over (the wall refuses the function by default, rule 12).
    fn on(self, db: DatabaseConnection) -> Tenancy {
        match self {
            Level::Shared => Tenancy::shared_schema(db),
            Level::Schema => Tenancy::schema_per_tenant(db),
        }
        .with_migrator::<Migrator>()
        .tenant_table::<post::Entity>()
        .pure_function("current_setting")
    }

    /// Where tenant `t`'s posts are, for reading them straight from Postgres.
    fn post_table(self, t: &str) -> String {
        match self {
            Level::Shared => "public.post".to_owned(),
            Level::Schema => format!("\"tenant_{t}\".post"),
        }
    }
}

/// Provisions `tenants` through the direct connection (the schemas, the
/// tables and the registry rows are made straight on Postgres) and returns
/// the tenancy for the traffic, through PgBouncer.
async fn setup(b: &Bounced, level: Level, tenants: &[&str]) -> Tenancy {
    if level == Level::Shared {
        common::create_table(&b.direct, post::Entity)
            .await
            .expect("create post");
    }
    let direct = level.on(b.direct.clone());
    for t in tenants {
        direct
            .provision(&TenantId::from(*t))
            .await
            .unwrap_or_else(|e| panic!("provisioning {t} (direct): {e}"));
    }
    pooled(level.on(b.pooled.clone()))
}

fn stmt(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

/// The tenant setting ('' when none) and `search_path` as a statement on
/// `c` sees them.
async fn session<C: ConnectionTrait>(c: &C) -> Result<(String, String), DbErr> {
    let row = c
        .query_one_raw(stmt(
            "SELECT coalesce(current_setting('app.tenant_id', true), '') AS t, \
                    current_setting('search_path') AS p",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no row".into()))?;
    Ok((row.try_get("", "t")?, row.try_get("", "p")?))
}

async fn count<C: ConnectionTrait>(c: &C, sql: &str) -> i64 {
    c.query_one_raw(stmt(sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("a count")
}

/// The `search_path` of an untenanted connection straight to Postgres.
async fn default_path(b: &Bounced) -> String {
    session(&b.direct).await.expect("direct session").1
}

/// Every post of `t`, read straight from Postgres; fails on a row of
/// another tenant there.
async fn stored(b: &Bounced, level: Level, t: &str) -> i64 {
    let table = level.post_table(t);
    let foreign = count(
        &b.direct,
        &format!("SELECT count(*) FROM {table} WHERE tenant_id <> '{t}'"),
    )
    .await;
    if level == Level::Schema {
        assert_eq!(foreign, 0, "rows of other tenants in {table}");
    }
    count(
        &b.direct,
        &format!("SELECT count(*) FROM {table} WHERE tenant_id = '{t}'"),
    )
    .await
}

// ---------------------------------------------------------------------------
// What a run found.

/// Errors and leaks of a run, across tasks.
#[derive(Default)]
struct Findings {
    errors: AtomicUsize,
    leaks: AtomicUsize,
    /// The first messages of each kind, for the failure message.
    samples: std::sync::Mutex<Vec<String>>,
}

impl Findings {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.sample(what);
    }

    fn leak(&self, what: String) {
        self.leaks.fetch_add(1, Ordering::Relaxed);
        self.sample(format!("LEAK: {what}"));
    }

    fn sample(&self, what: String) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() < 12 && !samples.contains(&what) {
            samples.push(what);
        }
    }

    fn counts(&self) -> (usize, usize) {
        (
            self.errors.load(Ordering::Relaxed),
            self.leaks.load(Ordering::Relaxed),
        )
    }

    fn report(&self) -> String {
        let (errors, leaks) = self.counts();
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "{errors} error(s), {leaks} leak(s); first distinct:\n  {}",
            samples.join("\n  ")
        )
    }

    fn assert_clean(&self, what: &str) {
        assert_eq!(self.counts(), (0, 0), "{what}: {}", self.report());
    }
}

/// Committed rows per tenant, as acknowledged to the tasks.
struct Written(BTreeMap<String, AtomicI64>);

impl Written {
    fn new(tenants: &[&str]) -> Arc<Self> {
        Arc::new(Written(
            tenants
                .iter()
                .map(|t| ((*t).to_owned(), AtomicI64::new(0)))
                .collect(),
        ))
    }

    fn add(&self, t: &str, n: i64) {
        self.0[t].fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self, t: &str) -> i64 {
        self.0[t].load(Ordering::Relaxed)
    }
}

/// Checks that `rows` are all `t`'s.
fn own_rows(found: &Findings, t: &str, op: &str, rows: &[post::Model]) {
    if let Some(other) = rows.iter().find(|p| p.tenant_id != t) {
        found.leak(format!("{t} {op} saw a row of {}", other.tenant_id));
    }
}

/// Checks the tenant setting and `search_path` a tenant statement sees.
fn own_session(found: &Findings, level: Level, t: &str, op: &str, (s, p): (String, String)) {
    if s != t {
        found.leak(format!("{t} {op}: app.tenant_id is {s:?}"));
    }
    let schema = format!("tenant_{t}");
    let in_own = p.contains(&schema);
    let in_any = p.contains("tenant_");
    let ok = match level {
        Level::Shared => !in_any,
        Level::Schema => in_own && !p.replace(&schema, "").contains("tenant_"),
    };
    if !ok {
        found.leak(format!("{t} {op}: search_path is {p:?}"));
    }
}

/// One request's worth of work for tenant `t`: a write, a read, the
/// session as the tenant sees it, a committed and a rolled-back
/// transaction, and a stream. Stops at the first error (recorded).
async fn request(
    tenancy: &Tenancy,
    level: Level,
    t: &str,
    tag: &str,
    written: &Written,
    found: &Findings,
) {
    if let Err(e) = request_inner(tenancy, level, t, tag, written, found).await {
        found.error(format!("{t} {e}"));
    }
}

async fn request_inner(
    tenancy: &Tenancy,
    level: Level,
    t: &str,
    tag: &str,
    written: &Written,
    found: &Findings,
) -> Result<(), String> {
    let id = TenantId::from(t);
    let conn = tenancy
        .connection(&id)
        .await
        .map_err(|e| format!("connection: {e}"))?;
    let new = |title: String| post::ActiveModel {
        title: Set(title),
        ..Default::default()
    };

    // A plain SeaORM write: the connection gives it the tenant.
    let row = new(format!("{tag}-w"))
        .insert(&conn)
        .await
        .map_err(|e| format!("insert: {e}"))?;
    written.add(t, 1);
    own_rows(found, t, "insert", std::slice::from_ref(&row));

    // A plain read.
    let rows = post::Entity::find()
        .all(&conn)
        .await
        .map_err(|e| format!("find: {e}"))?;
    own_rows(found, t, "find", &rows);

    let s = session(&conn).await.map_err(|e| format!("session: {e}"))?;
    own_session(found, level, t, "session", s);

    // A transaction, committed.
    let txn = conn.begin().await.map_err(|e| format!("begin: {e}"))?;
    for i in 0..2 {
        new(format!("{tag}-c{i}"))
            .insert(&txn)
            .await
            .map_err(|e| format!("insert in txn: {e}"))?;
    }
    let rows = post::Entity::find()
        .all(&txn)
        .await
        .map_err(|e| format!("find in txn: {e}"))?;
    own_rows(found, t, "find in txn", &rows);
    let s = session(&txn)
        .await
        .map_err(|e| format!("session in txn: {e}"))?;
    own_session(found, level, t, "session in txn", s);
    txn.commit().await.map_err(|e| format!("commit: {e}"))?;
    written.add(t, 2);

    // A transaction, rolled back.
    let txn = conn
        .begin()
        .await
        .map_err(|e| format!("begin (rollback): {e}"))?;
    new(format!("{tag}-r"))
        .insert(&txn)
        .await
        .map_err(|e| format!("insert before rollback: {e}"))?;
    let n = post::Entity::find()
        .count(&txn)
        .await
        .map_err(|e| format!("count in txn: {e}"))?;
    if n == 0 {
        found.error(format!(
            "{t}: its own insert is not visible in its transaction"
        ));
    }
    txn.rollback().await.map_err(|e| format!("rollback: {e}"))?;

    // A stream.
    let rows: Vec<post::Model> = post::Entity::find()
        .stream(&conn)
        .await
        .map_err(|e| format!("stream: {e}"))?
        .try_collect()
        .await
        .map_err(|e| format!("stream item: {e}"))?;
    own_rows(found, t, "stream", &rows);
    Ok(())
}

/// Until `stop`: untenanted queries through PgBouncer, which must never see
/// a tenant setting or a tenant `search_path` left by another client.
async fn observe(
    db: DatabaseConnection,
    default: String,
    stop: Arc<AtomicBool>,
    found: Arc<Findings>,
) {
    while !stop.load(Ordering::Relaxed) {
        check_untenanted(&db, &default, &found, "observer").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// [`session`] as a simple query (no prepared statement): plain SeaORM
/// statements are prepared by name by sqlx, which a transaction-mode
/// pooler cannot carry (the README says so); an untenanted check must not
/// depend on that.
async fn session_simple(db: &DatabaseConnection) -> Result<(String, String), String> {
    use sea_orm::sqlx::Row;
    let row = sea_orm::sqlx::raw_sql(
        "SELECT coalesce(current_setting('app.tenant_id', true), '') AS t, \
                current_setting('search_path') AS p",
    )
    .fetch_one(db.get_postgres_connection_pool())
    .await
    .map_err(|e| e.to_string())?;
    Ok((
        row.try_get::<String, _>("t").map_err(|e| e.to_string())?,
        row.try_get::<String, _>("p").map_err(|e| e.to_string())?,
    ))
}

async fn check_untenanted(db: &DatabaseConnection, default: &str, found: &Findings, who: &str) {
    match session_simple(db).await {
        Ok((s, p)) => {
            if !s.is_empty() {
                found.leak(format!("{who}: untenanted query saw app.tenant_id = {s:?}"));
            }
            if p != default {
                found.leak(format!("{who}: untenanted query saw search_path = {p:?}"));
            }
        }
        Err(e) => found.error(format!("{who}: untenanted query: {e}")),
    }
}

/// Many tasks over a few tenants through PgBouncer, then the checks.
async fn many_tasks(level: Level) {
    let _gate = RESTART_GATE.read().await;
    let Some(b) = Bounced::new().await else {
        return;
    };
    const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
    const TASKS: usize = 32;
    const ROUNDS: usize = 6;
    let tenancy = setup(&b, level, &TENANTS).await;
    let default = default_path(&b).await;
    let written = Written::new(&TENANTS);
    let found = Arc::new(Findings::default());
    let stop = Arc::new(AtomicBool::new(false));
    let observer = tokio::spawn(observe(
        b.pooled.clone(),
        default.clone(),
        stop.clone(),
        found.clone(),
    ));
    let started = Instant::now();
    within(LIMIT_SECS, &format!("{level:?}: {TASKS} tasks"), async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let (tenancy, written, found) = (tenancy.clone(), written.clone(), found.clone());
                tokio::spawn(async move {
                    for round in 0..ROUNDS {
                        // Tenants alternate on every task and round.
                        let t = TENANTS[(task + round) % TENANTS.len()];
                        let tag = format!("{task}-{round}");
                        request(&tenancy, level, t, &tag, &written, &found).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a task panicked");
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    observer.await.expect("observer");
    let elapsed = started.elapsed();

    // No carry-over once the run is over either: plain queries through
    // PgBouncer (several, to meet both server connections).
    for _ in 0..20 {
        check_untenanted(&b.pooled, &default, &found, "after the run").await;
    }
    let stats = b.pool_stats().await;
    found.assert_clean(&format!("{level:?} through PgBouncer ({elapsed:?})"));
    // No lost write, no extra row: exactly what was acknowledged.
    for t in TENANTS {
        let expected = (ROUNDS * TASKS / TENANTS.len()) as i64;
        assert!(written.get(t) >= expected * 3, "{t}: {}", written.get(t));
        assert_eq!(
            stored(&b, level, t).await,
            written.get(t),
            "{level:?}: {t}'s rows"
        );
    }
    // The traffic really went through PgBouncer's two server connections.
    let stats = stats.expect("PgBouncer has a pool for the test database");
    assert_eq!(
        stats.get("pool_mode").map(String::as_str),
        Some("transaction")
    );
    drop(tenancy);
    b.cleanup().await;
}

// ---------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_schema_many_tasks_through_pgbouncer() {
    many_tasks(Level::Shared).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schema_per_tenant_many_tasks_through_pgbouncer() {
    many_tasks(Level::Schema).await;
}

/// One hot tenant reads over and over; the other tenants' requests still
/// each finish well within the limit, and nothing is parked behind the
/// pooler (a parked transaction would hold one of the two server
/// connections for as long as it is parked).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_tenant_does_not_starve_the_others_through_pgbouncer() {
    let _gate = RESTART_GATE.read().await;
    let Some(b) = Bounced::new().await else {
        return;
    };
    const HOT: &str = "hot";
    const COLD: [&str; 3] = ["cold1", "cold2", "cold3"];
    let mut all = vec![HOT];
    all.extend(COLD);
    let tenancy = setup(&b, Level::Shared, &all).await;
    let default = default_path(&b).await;
    let written = Written::new(&all);
    let found = Arc::new(Findings::default());
    let slowest = Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let parked_seen = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    within(LIMIT_SECS, "hot and cold tenants", async {
        let mut tasks = Vec::new();
        for task in 0..16 {
            let (tenancy, found, parked_seen) =
                (tenancy.clone(), found.clone(), parked_seen.clone());
            tasks.push(tokio::spawn(async move {
                let id = TenantId::from(HOT);
                for i in 0..60 {
                    let read = async {
                        let conn = tenancy.connection(&id).await.map_err(|e| e.to_string())?;
                        post::Entity::find()
                            .all(&conn)
                            .await
                            .map_err(|e| e.to_string())
                    };
                    match read.await {
                        Ok(rows) => own_rows(&found, HOT, "hot read", &rows),
                        Err(e) => found.error(format!("{HOT} read {task}/{i}: {e}")),
                    }
                    parked_seen.fetch_max(tenancy.parked(), Ordering::Relaxed);
                }
            }));
        }
        for task in 0..6 {
            let t = COLD[task % COLD.len()];
            let (tenancy, written, found, slowest) = (
                tenancy.clone(),
                written.clone(),
                found.clone(),
                slowest.clone(),
            );
            tasks.push(tokio::spawn(async move {
                for round in 0..5 {
                    let begun = Instant::now();
                    let tag = format!("cold{task}-{round}");
                    let work = request(&tenancy, Level::Shared, t, &tag, &written, &found);
                    if tokio::time::timeout(Duration::from_secs(20), work)
                        .await
                        .is_err()
                    {
                        found.error(format!("{t}: a request starved for 20 s"));
                    }
                    let took = begun.elapsed();
                    let mut slowest = slowest.lock().unwrap_or_else(|e| e.into_inner());
                    *slowest = (*slowest).max(took);
                }
            }));
        }
        for task in tasks {
            task.await.expect("a task panicked");
        }
    })
    .await;
    for _ in 0..10 {
        check_untenanted(&b.pooled, &default, &found, "after the run").await;
    }
    let slowest = *slowest.lock().unwrap_or_else(|e| e.into_inner());
    found.assert_clean(&format!(
        "hot tenant ({:?}, slowest cold request {slowest:?})",
        started.elapsed()
    ));
    for t in COLD {
        assert_eq!(stored(&b, Level::Shared, t).await, written.get(t), "{t}");
    }
    assert_eq!(
        parked_seen.load(Ordering::Relaxed),
        0,
        "parked behind the pooler"
    );
    // Enable once Tenancy::parked lands:
    assert_eq!(
        tenancy.parked(),
        0,
        "nothing parked behind a transaction-mode pooler"
    );
    drop(tenancy);
    b.cleanup().await;
}

/// The registry through PgBouncer: provision (schema per tenant and a
/// shared-schema tenant: hybrid placement), list, connect, deprovision, and
/// a second tenancy (a fresh cache) reading the same registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registry_through_pgbouncer() {
    let _gate = RESTART_GATE.read().await;
    let Some(b) = Bounced::new().await else {
        return;
    };
    let tenancy = pooled(Level::Schema.on(b.pooled.clone()));
    let (a, g, s) = (
        TenantId::from("acme"),
        TenantId::from("globex"),
        TenantId::from("small"),
    );
    within(LIMIT_SECS, "the registry through PgBouncer", async {
        assert!(matches!(
            tenancy.connection(&a).await,
            Err(TenantError::UnknownTenant(_))
        ));
        for t in [&a, &g] {
            tenancy
                .provision(t)
                .await
                .unwrap_or_else(|e| panic!("provision {t}: {e}"));
        }
        tenancy
            .provision_as(&s, Placement::SharedSchema)
            .await
            .unwrap_or_else(|e| panic!("provision_as {s} shared: {e}"));
        let listed = |v: Vec<(TenantId, Placement)>| -> Vec<(String, Placement)> {
            v.into_iter().map(|(id, p)| (id.to_string(), p)).collect()
        };
        assert_eq!(
            listed(tenancy.tenants().await.expect("tenants")),
            [
                ("acme".to_owned(), Placement::SchemaPerTenant),
                ("globex".to_owned(), Placement::SchemaPerTenant),
                ("small".to_owned(), Placement::SharedSchema),
            ]
        );
        // A second tenancy, with nothing cached, reads the same registry.
        let fresh = pooled(Level::Schema.on(b.pooled.clone()));
        let written = Written::new(&["acme", "globex", "small"]);
        let found = Findings::default();
        for (t, level) in [
            ("acme", Level::Schema),
            ("globex", Level::Schema),
            ("small", Level::Shared),
        ] {
            for tenancy in [&tenancy, &fresh] {
                request(tenancy, level, t, "registry", &written, &found).await;
            }
        }
        found.assert_clean("requests after provisioning");
        assert_eq!(stored(&b, Level::Schema, "acme").await, written.get("acme"));
        assert_eq!(
            stored(&b, Level::Shared, "small").await,
            written.get("small")
        );

        tenancy.deprovision(&a).await.expect("deprovision acme");
        tenancy
            .deprovision(&a)
            .await
            .expect("deprovision acme again");
        assert!(matches!(
            tenancy.connection(&a).await,
            Err(TenantError::UnknownTenant(_))
        ));
        assert_eq!(
            listed(fresh.tenants().await.expect("tenants")),
            [
                ("globex".to_owned(), Placement::SchemaPerTenant),
                ("small".to_owned(), Placement::SharedSchema),
            ]
        );
        let gone = count(
            &b.direct,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_acme'",
        )
        .await;
        assert_eq!(gone, 0, "acme's schema is dropped");
        for t in [&g, &s] {
            tenancy.deprovision(t).await.expect("deprovision");
        }
        assert!(tenancy.tenants().await.expect("tenants").is_empty());
    })
    .await;
    drop(tenancy);
    b.cleanup().await;
}

/// A migration run over several tenant schemas through PgBouncer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_over_tenant_schemas_through_pgbouncer() {
    let _gate = RESTART_GATE.read().await;
    let Some(b) = Bounced::new().await else {
        return;
    };
    let names: Vec<String> = (1..=6).map(|i| format!("t{i:03}")).collect();
    let tenants: Vec<&str> = names.iter().map(String::as_str).collect();
    let tenancy = setup(&b, Level::Schema, &tenants).await;
    within(LIMIT_SECS, "migrations through PgBouncer", async {
        let report = tenancy
            .migrations()
            .migrator::<MigratorV2>()
            .concurrency(3)
            .up()
            .await
            .expect("up");
        assert!(report.is_ok(), "{report:?}");
        for t in &tenants {
            assert_eq!(
                report.tenant(&TenantId::from(*t)).map(|r| &r.outcome),
                Some(&Outcome::Applied(vec!["m0002_create_label".to_owned()])),
                "{t}: {report:?}"
            );
            let sql = format!("SELECT count(*) FROM \"tenant_{t}\".seaql_migrations");
            assert_eq!(count(&b.direct, &sql).await, 2, "{t}'s version table");
            let sql = format!("SELECT count(*) FROM \"tenant_{t}\".label");
            assert_eq!(count(&b.direct, &sql).await, 0, "{t}'s new table");
        }
        let again = tenancy
            .migrations()
            .migrator::<MigratorV2>()
            .up()
            .await
            .expect("up again");
        assert_eq!(
            again.count(|o| *o == Outcome::UpToDate),
            tenants.len(),
            "{again:?}"
        );
        let down = tenancy
            .migrations()
            .migrator::<MigratorV2>()
            .down(Some(1))
            .await
            .expect("down");
        assert!(down.is_ok(), "{down:?}");
        let left = count(
            &b.direct,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'label'",
        )
        .await;
        assert_eq!(left, 0, "label rolled back everywhere");
    })
    .await;
    // Nothing of a migration's session is left on the server connections.
    let default = default_path(&b).await;
    let found = Findings::default();
    for _ in 0..10 {
        check_untenanted(&b.pooled, &default, &found, "after the migrations").await;
    }
    found.assert_clean("after the migrations");
    drop(tenancy);
    b.cleanup().await;
}

/// PgBouncer restarted in the middle of a run: errors may surface while it
/// is down, then requests work again, and no tenant state survives (no
/// request ever sees another tenant's rows or setting).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pgbouncer_restarted_mid_run() {
    let _gate = RESTART_GATE.write().await;
    let Some(b) = Bounced::new().await else {
        return;
    };
    const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
    let tenancy = setup(&b, Level::Shared, &TENANTS).await;
    let default = default_path(&b).await;
    // Acknowledged writes, and writes whose outcome is unknown (an error).
    let written = Written::new(&TENANTS);
    let before = Arc::new(Findings::default());
    let during = Arc::new(Findings::default());
    let after = Arc::new(Findings::default());
    // 0: before the restart, 1: during it, 2: after it answered again.
    let phase = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    within(LIMIT_SECS, "PgBouncer restarted mid-run", async {
        let tasks: Vec<_> = (0..12)
            .map(|task| {
                let (tenancy, written, phase, stop) = (
                    tenancy.clone(),
                    written.clone(),
                    phase.clone(),
                    stop.clone(),
                );
                let found = [before.clone(), during.clone(), after.clone()];
                tokio::spawn(async move {
                    let mut round = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let t = TENANTS[(task + round) % TENANTS.len()];
                        let at = phase.load(Ordering::SeqCst);
                        let tag = format!("{task}-{round}");
                        // Writes that errored may or may not have landed:
                        // they are counted apart.
                        let sink = Written::new(&TENANTS);
                        request(&tenancy, Level::Shared, t, &tag, &sink, &found[at]).await;
                        // A request that started before the phase changed
                        // and failed is counted in the phase it started.
                        written.add(t, sink.get(t));
                        round += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        phase.store(1, Ordering::SeqCst);
        bouncer::restart().await;
        // Answers again: a plain query through the test's pool works.
        let mut ready = false;
        for _ in 0..100 {
            if session(&b.pooled).await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "no query through PgBouncer works after its restart");
        // Requests begun right at the end of the restart may still meet a
        // connection that was cut: give the pools a moment.
        tokio::time::sleep(Duration::from_millis(500)).await;
        phase.store(2, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2000)).await;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.expect("a task panicked");
        }
    })
    .await;
    // The next requests work, one after another, for every tenant.
    let next = Findings::default();
    for round in 0..3 {
        for t in TENANTS {
            let sink = Written::new(&TENANTS);
            request(
                &tenancy,
                Level::Shared,
                t,
                &format!("next-{round}"),
                &sink,
                &next,
            )
            .await;
            written.add(t, sink.get(t));
        }
    }
    for _ in 0..10 {
        check_untenanted(&b.pooled, &default, &next, "after the restart").await;
    }
    let (_, leaks_during) = during.counts();
    // A request begun before the restart and cut by it fails, and is
    // counted in the phase it began: before the restart only leaks count.
    let (_, leaks_before) = before.counts();
    let summary = format!(
        "{:?}; before: {}; during: {}; after: {}; next: {}",
        started.elapsed(),
        before.report(),
        during.report(),
        after.report(),
        next.report()
    );
    assert_eq!(
        leaks_during, 0,
        "no leak while PgBouncer restarts: {summary}"
    );
    assert_eq!(leaks_before, 0, "no leak before the restart: {summary}");
    after.assert_clean(&format!("after the restart ({summary})"));
    next.assert_clean(&format!("the next requests ({summary})"));
    // Every acknowledged write is there; unacknowledged ones may be too.
    for t in TENANTS {
        let stored = stored(&b, Level::Shared, t).await;
        assert!(
            stored >= written.get(t),
            "{t}: {stored} rows stored, {} acknowledged ({summary})",
            written.get(t)
        );
    }
    drop(tenancy);
    b.cleanup().await;
}
