//! `Tenancy`: the three isolation levels, hybrid placement, provisioning
//! and the pool cache, on every backend this machine offers.

mod common;
mod pg_support;

use std::collections::BTreeMap;

use common::{Databases, Kind, TestDb, acme, each_backend, each_backend_of, globex};
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, DbBackend, PaginatorTrait, Statement, TransactionTrait};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::REGISTRY_TABLE;
use sea_orm_tenant::doc_entities::{comment, post, post_tag, tag};
use sea_orm_tenant::prelude::*;

// ---------------------------------------------------------------------------
// The application's migrator: the tenant tables, no schema named.

use common::post_migrator::Migrator;

// ---------------------------------------------------------------------------
// Helpers.

fn unknown(result: Result<TenantConnection, TenantError>) -> bool {
    matches!(result, Err(TenantError::UnknownTenant(_)))
}

async fn write(conn: &TenantConnection, title: &str) -> post::Model {
    let model = post::ActiveModel {
        title: Set(title.to_owned()),
        ..Default::default()
    };
    conn.scoped::<post::Entity>()
        .insert(model)
        .exec_with_returning(conn)
        .await
        .unwrap_or_else(|e| panic!("insert {title:?} for {}: {e}", conn.tenant()))
}

async fn titles(conn: &TenantConnection) -> Vec<String> {
    let mut titles: Vec<String> = conn
        .scoped::<post::Entity>()
        .find()
        .all(conn)
        .await
        .unwrap_or_else(|e| panic!("read for {}: {e}", conn.tenant()))
        .into_iter()
        .map(|p| p.title)
        .collect();
    titles.sort();
    titles
}

/// `tenancy` (a schema or database per tenant) with `post` declared a
/// tenant table, as [`shared`] and the hybrid tenancies declare it (rule
/// 12: a table declared nowhere is refused).
fn declared(tenancy: Tenancy) -> Tenancy {
    tenancy.tenant_table::<post::Entity>()
}

/// `current_setting` reads which `search_path` / `statement_timeout` a
/// statement runs under: the tests' device (`SHOW` is refused on a tenant
/// connection), declared because the wall refuses it by default.
fn reading_settings(tenancy: Tenancy) -> Tenancy {
    tenancy.pure_function("current_setting")
}

fn shared(t: &TestDb) -> Tenancy {
    Tenancy::shared_schema(t.db.clone())
        .with_migrator::<Migrator>()
        .tenant_table::<comment::Entity>()
        .tenant_table::<post_tag::Entity>()
        .tenant_table::<tag::Entity>()
        .tenant_table::<post::Entity>()
}

/// The acceptance behaviours every level must show.
async fn core_behaviours(t: &TestDb, tenancy: &Tenancy, level: Placement) {
    let (a, g) = (acme(), globex());
    assert!(
        unknown(tenancy.connection(&a).await),
        "{t}/{level}: unprovisioned tenant"
    );
    for tenant in [&a, &g] {
        tenancy.provision(tenant).await.expect("provision");
        tenancy.provision(tenant).await.expect("provision again");
    }
    let ca = tenancy.connection(&a).await.expect("acme");
    let cg = tenancy.connection(&g).await.expect("globex");
    assert_eq!(ca.placement(), level, "{t}");
    write(&ca, "a1").await;
    write(&ca, "a2").await;
    let g1 = write(&cg, "g1").await;
    assert_eq!(titles(&ca).await, ["a1", "a2"], "{t}/{level}");
    assert_eq!(titles(&cg).await, ["g1"], "{t}/{level}");
    // By id, another tenant's row is not there.
    let by_id = ca
        .scoped::<post::Entity>()
        .find_by_id(g1.id)
        .one(&ca)
        .await
        .expect("find");
    assert!(by_id.is_none() || by_id.is_some_and(|p| p.tenant_id == "acme"));
    // A transaction of the connection sees the same.
    let txn = ca.begin().await.expect("begin");
    let n = txn
        .scoped::<post::Entity>()
        .find()
        .count(&txn)
        .await
        .expect("count");
    txn.commit().await.expect("commit");
    assert_eq!(n, 2, "{t}/{level}: in a transaction");

    let listed: Vec<String> = tenancy
        .tenants()
        .await
        .map(|v| v.into_iter().map(|(id, _)| id.to_string()).collect())
        .unwrap_or_else(|_| vec!["acme".into(), "globex".into()]);
    assert_eq!(listed, ["acme", "globex"], "{t}/{level}");

    tenancy.deprovision(&a).await.expect("deprovision");
    tenancy.deprovision(&a).await.expect("deprovision again");
    assert!(
        unknown(tenancy.connection(&a).await),
        "{t}/{level}: deprovisioned"
    );
    // The neighbour is untouched.
    assert_eq!(titles(&cg).await, ["g1"], "{t}/{level}");
    // Provisioned again, the tenant starts empty.
    tenancy.provision(&a).await.expect("re-provision");
    let ca = tenancy.connection(&a).await.expect("acme again");
    assert!(
        titles(&ca).await.is_empty(),
        "{t}/{level}: fresh after re-provision"
    );
    tenancy.deprovision(&a).await.expect("cleanup acme");
    tenancy.deprovision(&g).await.expect("cleanup globex");
}

// ---------------------------------------------------------------------------
// The levels.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_schema_level() {
    each_backend(async |t: &TestDb| {
        let tenancy = shared(t);
        core_behaviours(t, &tenancy, Placement::SharedSchema).await;
        // Deprovisioning removed every row of the tenant, in every table.
        assert_eq!(common::all_posts(t).await.len(), 0, "{t}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_per_tenant_level() {
    each_backend_of(&[Kind::Postgres], async |t: &TestDb| {
        let tenancy =
            declared(Tenancy::schema_per_tenant(t.db.clone())).with_migrator::<Migrator>();
        core_behaviours(t, &tenancy, Placement::SchemaPerTenant).await;
        // Nothing landed in public's post table.
        assert_eq!(common::all_posts(t).await.len(), 0, "{t}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_per_tenant_is_postgres_only() {
    each_backend_of(&[Kind::Sqlite, Kind::MySql], async |t: &TestDb| {
        let tenancy = Tenancy::schema_per_tenant(t.db.clone());
        let err = tenancy.provision(&acme()).await.expect_err("refused");
        assert!(matches!(err, TenantError::Unsupported(_)), "{t}: {err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_per_tenant_level() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = declared(Tenancy::database_per_tenant(dbs.url_for()))
            .with_registry(t.db.clone())
            .with_migrator::<Migrator>();
        core_behaviours(t, &tenancy, Placement::DatabasePerTenant).await;
        assert!(!dbs.exists(t, "acme").await, "{t}: acme's database dropped");
        dbs.cleanup();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_per_tenant_without_registry() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy =
            declared(Tenancy::database_per_tenant(dbs.url_for())).with_migrator::<Migrator>();
        // Asking for an unprovisioned tenant creates nothing.
        assert!(unknown(tenancy.connection(&acme()).await), "{t}");
        assert!(!dbs.exists(t, "acme").await, "{t}: no database created");
        tenancy.provision(&acme()).await.expect("provision");
        assert!(dbs.exists(t, "acme").await, "{t}");
        let conn = tenancy.connection(&acme()).await.expect("acme");
        write(&conn, "a1").await;
        assert_eq!(titles(&conn).await, ["a1"], "{t}");
        drop(conn);
        tenancy.deprovision(&acme()).await.expect("deprovision");
        tenancy
            .deprovision(&acme())
            .await
            .expect("deprovision again");
        assert!(unknown(tenancy.connection(&acme()).await), "{t}");
        assert!(!dbs.exists(t, "acme").await, "{t}");
        dbs.cleanup();
    })
    .await;
}

// ---------------------------------------------------------------------------
// Bad input.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_names_are_refused_and_create_nothing() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let mut levels = vec![Tenancy::database_per_tenant(dbs.url_for())];
        if t.kind == Kind::Postgres {
            levels.push(Tenancy::schema_per_tenant(t.db.clone()));
        }
        let long = "a".repeat(64);
        for tenancy in &levels {
            for bad in [
                "../x",
                "a\"b",
                "a'b",
                long.as_str(),
                "public",
                "pg_catalog",
                "Acme",
            ] {
                let err = tenancy
                    .provision(&TenantId::from(bad))
                    .await
                    .expect_err("refused");
                assert!(
                    matches!(err, TenantError::UnsafeName { .. }),
                    "{t}: {bad:?}: {err}"
                );
                assert!(
                    matches!(
                        tenancy.connection(&TenantId::from(bad)).await,
                        Err(TenantError::UnsafeName { .. } | TenantError::UnknownTenant(_))
                    ),
                    "{t}: {bad:?}"
                );
            }
        }
        // Nothing was created: no file, no schema.
        let files = std::fs::read_dir(&dbs.dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(files, 0, "{t}: files created");
        if t.kind == Kind::Postgres {
            let row =
                t.db.query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT count(*)::int4 AS n FROM pg_namespace WHERE nspname LIKE 'tenant_%'",
                ))
                .await
                .expect("count")
                .expect("row");
            let n: i32 = row.try_get("", "n").expect("n");
            assert_eq!(n, 0, "{t}: schemas created");
        }
        dbs.cleanup();
    })
    .await;
}

// ---------------------------------------------------------------------------
// Schema per tenant: search_path never outlives its transaction.

/// The `search_path` a statement runs under (`current_setting`, as `SHOW`
/// is refused on a tenant connection; see [`reading_settings`]).
async fn path<C: ConnectionTrait>(c: &C) -> String {
    let show = Statement::from_string(
        DbBackend::Postgres,
        "SELECT current_setting('search_path') AS search_path",
    );
    c.query_one_raw(show)
        .await
        .expect("current_setting('search_path')")
        .expect("row")
        .try_get("", "search_path")
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_path_never_carries_over_on_a_pool_of_one() {
    each_backend_of(&[Kind::Postgres], async |t: &TestDb| {
        let one = t.pool_of(1).await;
        let tenancy = reading_settings(declared(Tenancy::schema_per_tenant(one.clone())))
            .with_migrator::<Migrator>();
        let shared = reading_settings(Tenancy::shared_schema(one.clone()));
        let (a, g) = (acme(), globex());
        tenancy.provision(&a).await.expect("acme");
        tenancy.provision(&g).await.expect("globex");
        shared
            .provision_as(&TenantId::from("small"), Placement::SharedSchema)
            .await
            .expect("small");
        let default = path(&one).await;
        assert!(!default.contains("tenant_"), "{default}");
        for round in 0..3 {
            for tenant in [&a, &g] {
                let conn = tenancy.connection(tenant).await.expect("conn");
                write(&conn, &format!("{tenant}-{round}")).await;
                assert_eq!(path(&conn).await, format!("tenant_{tenant}, public"));
                let txn = conn.begin().await.expect("begin");
                assert_eq!(path(&txn).await, format!("tenant_{tenant}, public"));
                txn.rollback().await.expect("rollback");
                // The one pooled connection, right after: no tenant schema.
                assert_eq!(path(&one).await, default, "after {tenant}");
                let small = shared
                    .connection(&TenantId::from("small"))
                    .await
                    .expect("small");
                assert_eq!(path(&small).await, default, "shared level after {tenant}");
            }
        }
        let ca = tenancy.connection(&a).await.expect("acme");
        assert_eq!(titles(&ca).await, ["acme-0", "acme-1", "acme-2"]);
        tenancy.deprovision(&a).await.expect("drop acme");
        tenancy.deprovision(&g).await.expect("drop globex");
        one.close().await.expect("close");
    })
    .await;
}

// ---------------------------------------------------------------------------
// The pool cache.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_cache_evicts_and_reopens_without_losing_writes() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = declared(Tenancy::database_per_tenant(dbs.url_for()))
            .with_migrator::<Migrator>()
            .max_pools(2);
        let tenants: Vec<TenantId> = (0..5).map(|i| TenantId::from(format!("t{i}"))).collect();
        for tenant in &tenants {
            tenancy.provision(tenant).await.expect("provision");
        }
        for round in 0..3 {
            for tenant in &tenants {
                let conn = tenancy.connection(tenant).await.expect("conn");
                write(&conn, &format!("{tenant}-{round}")).await;
                assert!(tenancy.open_pools().await <= 2, "{t}: pool bound");
            }
        }
        // A burst of first requests for one cold tenant.
        let cold = &tenants[0];
        let burst = (0..16).map(|_| tenancy.connection(cold));
        for conn in futures_util::future::join_all(burst).await {
            conn.expect("burst");
        }
        let mut counts = BTreeMap::new();
        for tenant in &tenants {
            let conn = tenancy.connection(tenant).await.expect("conn");
            counts.insert(tenant.to_string(), titles(&conn).await.len());
        }
        assert!(counts.values().all(|&n| n == 3), "{t}: {counts:?}");
        assert!(tenancy.open_pools().await <= 2, "{t}");
        for tenant in &tenants {
            tenancy.deprovision(tenant).await.expect("deprovision");
        }
        dbs.cleanup();
    })
    .await;
}

// ---------------------------------------------------------------------------
// Hybrid placement.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_placement_routes_each_tenant() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = shared(t)
            .with_databases(dbs.url_for())
            .place_with(|t| (t.to_string() == "bigco").then_some(Placement::DatabasePerTenant));
        let (small, big) = (TenantId::from("small"), TenantId::from("bigco"));
        tenancy.provision(&small).await.expect("small");
        tenancy.provision(&big).await.expect("bigco");
        let mut expected = vec![
            ("bigco".to_string(), Placement::DatabasePerTenant),
            ("small".to_string(), Placement::SharedSchema),
        ];
        let mid = TenantId::from("midco");
        if t.kind == Kind::Postgres {
            tenancy
                .provision_as(&mid, Placement::SchemaPerTenant)
                .await
                .expect("midco");
            expected.insert(1, ("midco".to_string(), Placement::SchemaPerTenant));
        }
        let listed: Vec<(String, Placement)> = tenancy
            .tenants()
            .await
            .expect("list")
            .into_iter()
            .map(|(id, p)| (id.to_string(), p))
            .collect();
        assert_eq!(listed, expected, "{t}");

        let cs = tenancy.connection(&small).await.expect("small");
        let cb = tenancy.connection(&big).await.expect("bigco");
        assert_eq!(cs.placement(), Placement::SharedSchema);
        assert_eq!(cb.placement(), Placement::DatabasePerTenant);
        write(&cs, "s1").await;
        write(&cb, "b1").await;
        assert_eq!(titles(&cs).await, ["s1"], "{t}");
        assert_eq!(titles(&cb).await, ["b1"], "{t}");
        // bigco's row is in its own database, not in the shared table.
        let in_shared: Vec<String> = common::all_posts(t)
            .await
            .into_iter()
            .map(|p| p.tenant_id)
            .collect();
        assert_eq!(in_shared, ["small"], "{t}");
        assert!(dbs.exists(t, "bigco").await, "{t}");
        assert!(!dbs.exists(t, "small").await, "{t}");
        if t.kind == Kind::Postgres {
            let cm = tenancy.connection(&mid).await.expect("midco");
            assert_eq!(cm.placement(), Placement::SchemaPerTenant);
            write(&cm, "m1").await;
            assert_eq!(titles(&cm).await, ["m1"]);
            tenancy.deprovision(&mid).await.expect("midco");
        }
        tenancy.deprovision(&big).await.expect("bigco");
        tenancy.deprovision(&small).await.expect("small");
        assert!(!dbs.exists(t, "bigco").await, "{t}");
        assert!(tenancy.tenants().await.expect("list").is_empty(), "{t}");
        dbs.cleanup();
    })
    .await;
}

// ---------------------------------------------------------------------------
// Tracing: every statement's span carries the tenant and the level.

mod spans {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    /// `(tenant, placement)` of every `tenant_statement` span.
    #[derive(Clone, Default)]
    pub struct Recorder(pub Arc<Mutex<Vec<(String, String)>>>);

    struct Fields(String, String);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            match field.name() {
                "tenant" => self.0 = format!("{value:?}"),
                "placement" => self.1 = format!("{value:?}").trim_matches('"').to_owned(),
                _ => {}
            }
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            match field.name() {
                "tenant" => self.0 = value.to_owned(),
                "placement" => self.1 = value.to_owned(),
                _ => {}
            }
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorder {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _id: &tracing::span::Id,
            _ctx: Context<'_, S>,
        ) {
            if attrs.metadata().name() == "tenant_statement" {
                let mut fields = Fields(String::new(), String::new());
                attrs.record(&mut fields);
                if let Ok(mut seen) = self.0.lock() {
                    seen.push((fields.0, fields.1));
                }
            }
        }
    }

    pub fn install() -> (Recorder, tracing::subscriber::DefaultGuard) {
        let recorder = Recorder::default();
        let subscriber = tracing_subscriber::registry().with(recorder.clone());
        (recorder, tracing::subscriber::set_default(subscriber))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn statement_spans_carry_tenant_and_level() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = shared(t)
            .with_databases(dbs.url_for())
            .place_with(|t| (t.to_string() == "bigco").then_some(Placement::DatabasePerTenant));
        let (small, big) = (TenantId::from("small"), TenantId::from("bigco"));
        tenancy.provision(&small).await.expect("small");
        tenancy.provision(&big).await.expect("bigco");
        let (recorder, guard) = spans::install();
        for tenant in [&small, &big] {
            let conn = tenancy.connection(tenant).await.expect("conn");
            write(&conn, "x").await;
            titles(&conn).await;
        }
        drop(guard);
        let seen = recorder.0.lock().expect("lock").clone();
        assert!(
            seen.contains(&("small".into(), "shared_schema".into())),
            "{t}: {seen:?}"
        );
        assert!(
            seen.contains(&("bigco".into(), "database_per_tenant".into())),
            "{t}: {seen:?}"
        );
        assert!(seen.len() >= 4, "{t}: {seen:?}");
        tenancy.deprovision(&big).await.expect("bigco");
        tenancy.deprovision(&small).await.expect("small");
        dbs.cleanup();
    })
    .await;
}

// ---------------------------------------------------------------------------
// Crash halfway: provision and deprovision finish the job on retry.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_and_deprovision_finish_after_a_crash_halfway() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let mut levels = vec![(
            "database",
            declared(Tenancy::database_per_tenant(dbs.url_for()))
                .with_registry(t.db.clone())
                .with_migrator::<Migrator>(),
        )];
        if t.kind == Kind::Postgres {
            levels.push((
                "schema",
                declared(Tenancy::schema_per_tenant(t.db.clone())).with_migrator::<Migrator>(),
            ));
        }
        for (level, tenancy) in &levels {
            let a = acme();
            // Provision crashed after creating the empty schema/database,
            // before migrating and recording it.
            match *level {
                "schema" => {
                    t.db.execute_unprepared("CREATE SCHEMA tenant_acme")
                        .await
                        .expect("schema");
                }
                _ => {
                    tenancy.provision(&a).await.expect("provision");
                    tenancy.deprovision(&a).await.expect("deprovision");
                    let url = dbs.url_for()(&a);
                    match t.kind {
                        Kind::Sqlite => {
                            std::fs::write(dbs.dir.join("acme.db"), b"").expect("file");
                        }
                        _ => {
                            let name = url.rsplit('/').next().unwrap_or_default().to_owned();
                            let quote = if t.kind == Kind::Postgres { '"' } else { '`' };
                            t.db.execute_unprepared(&format!(
                                "CREATE DATABASE {quote}{name}{quote}"
                            ))
                            .await
                            .expect("database");
                        }
                    }
                }
            }
            assert!(
                unknown(tenancy.connection(&a).await),
                "{t}/{level}: half made"
            );
            tenancy.provision(&a).await.expect("retry provision");
            let conn = tenancy.connection(&a).await.expect("acme");
            write(&conn, "a1").await;
            assert_eq!(titles(&conn).await, ["a1"], "{t}/{level}");
            drop(conn);
            // Deprovision crashed after forgetting the tenant in the
            // registry, before dropping its data.
            t.db.execute_unprepared(&format!(
                "DELETE FROM {} WHERE tenant_id = 'acme'",
                REGISTRY_TABLE
            ))
            .await
            .expect("forget");
            tenancy.deprovision(&a).await.expect("retry deprovision");
            assert!(!dbs.exists(t, "acme").await, "{t}/{level}: database left");
            if t.kind == Kind::Postgres {
                let left =
                    t.db.query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT 1 AS x FROM pg_namespace WHERE nspname = 'tenant_acme'",
                    ))
                    .await
                    .expect("lookup");
                assert!(left.is_none(), "{t}/{level}: schema left");
            }
        }
        dbs.cleanup();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_provisions_at_once_all_succeed() {
    each_backend_of(&[Kind::Postgres, Kind::Sqlite], async |t: &TestDb| {
        let tenancy = match t.kind {
            Kind::Postgres => Tenancy::schema_per_tenant(t.db.clone()),
            _ => Tenancy::shared_schema(t.db.clone()),
        }
        .with_migrator::<Migrator>();
        // Nothing provisioned yet: every call creates the registry table.
        let ids: Vec<TenantId> = (0..6)
            .map(|i| TenantId::from(format!("first{i}").as_str()))
            .collect();
        let results =
            futures_util::future::join_all(ids.iter().map(|id| tenancy.provision(id))).await;
        for (id, result) in ids.iter().zip(results) {
            assert!(result.is_ok(), "{t}: {id}: {result:?}");
        }
        for id in &ids {
            tenancy.deprovision(id).await.expect("deprovision");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noisy_neighbour_limits_apply_on_every_level() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let record = seen.clone();
        let tenancy = match t.kind {
            Kind::Postgres => Tenancy::schema_per_tenant(t.db.clone()),
            _ => Tenancy::database_per_tenant(dbs.url_for()).with_registry(t.db.clone()),
        }
        .with_migrator::<Migrator>()
        // pg_sleep makes the slow statement; current_setting shows the
        // timeout (SHOW is refused): test devices the wall refuses by default.
        .pure_function("pg_sleep")
        .pure_function("current_setting")
        .statement_timeout(std::time::Duration::from_millis(100))
        .max_concurrent_per_tenant(1)
        .concurrency_wait(std::time::Duration::from_millis(20))
        .on_database_time(move |tenant, _| {
            if let Ok(mut seen) = record.lock() {
                seen.push(tenant.to_string());
            }
        });
        tenancy.provision(&acme()).await.expect("provision");
        tenancy.provision(&globex()).await.expect("provision");
        let a = tenancy.connection(&acme()).await.expect("acme");
        let b = tenancy.connection(&globex()).await.expect("globex");

        // The cap: acme's one permit is held by its transaction.
        let txn = a.begin().await.expect("begin");
        let busy = a
            .execute_unprepared("SELECT 1")
            .await
            .expect_err("over the cap");
        assert!(TenantError::is_busy(&busy), "{t}: {busy}");
        b.execute_unprepared("SELECT 1")
            .await
            .expect("globex is not held up");
        txn.commit().await.expect("commit");
        a.execute_unprepared("SELECT 1")
            .await
            .expect("the permit came back");

        // The hook saw both tenants.
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert!(
            seen.iter().any(|s| s == "acme") && seen.iter().any(|s| s == "globex"),
            "{t}: {seen:?}"
        );

        if t.kind == Kind::Postgres {
            // The timeout, inside the tenant's schema transaction.
            let slow = a
                .execute_unprepared("SELECT pg_sleep(1)")
                .await
                .expect_err("cancelled");
            assert!(
                slow.to_string().contains("statement timeout"),
                "{t}: {slow}"
            );
            let row = a
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT current_setting('statement_timeout') AS statement_timeout",
                ))
                .await
                .expect("current_setting('statement_timeout')")
                .expect("row");
            assert_eq!(
                row.try_get::<String>("", "statement_timeout")
                    .expect("value"),
                "100ms"
            );
        }
        drop((a, b));
        tenancy.deprovision(&acme()).await.expect("deprovision");
        tenancy.deprovision(&globex()).await.expect("deprovision");
        dbs.cleanup();
    })
    .await;
}

// ---------------------------------------------------------------------------
// A registry read that failed is not "not there" (issue 10, hole 8).

fn database_error(result: &Result<TenantConnection, TenantError>) -> bool {
    matches!(result, Err(TenantError::Database { .. }))
}

/// A registry that could not be read (its pool closed) makes
/// `connection` a database error on every backend, never `UnknownTenant`
/// (which the HTTP layer answers with 404 for a real customer); the same
/// for `tenants()`, which must not answer an empty list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_registry_read_is_a_database_error_not_an_unknown_tenant() {
    each_backend(async |t: &TestDb| {
        let a = acme();
        shared(t).provision(&a).await.expect("provision");
        // Another process's Tenancy: nothing cached yet.
        let tenancy = shared(t);
        let _ = t.db.clone().close().await;
        let result = tenancy.connection(&a).await;
        assert!(
            database_error(&result),
            "{t}: a failed registry read must be a database error: {:?}",
            result.map(|c| c.tenant().clone())
        );
        let listed = tenancy.tenants().await;
        assert!(
            matches!(listed, Err(TenantError::Database { .. })),
            "{t}: tenants() on a failed read: {listed:?}"
        );
        // A registry that does not exist yet still means nothing is provisioned.
    })
    .await;
}

/// Postgres, as an application role the registry's `SELECT` was revoked
/// from (what a misconfigured grant or a pooler in front of the wrong
/// database looks like): a database error, not cached; once the grant is
/// back the same `Tenancy` hands the connection out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_registry_is_a_database_error_and_is_not_cached() {
    let Some(env) =
        pg_support::PgEnv::new("an_unreadable_registry_is_a_database_error_and_is_not_cached")
            .await
    else {
        return;
    };
    let a = acme();
    // Provisioned by the owner; the table is there.
    Tenancy::shared_schema(env.admin.clone())
        .provision(&a)
        .await
        .expect("provision as owner");
    let app = env.app(2).await;
    let tenancy = Tenancy::shared_schema(app.clone());
    for attempt in 0..2 {
        let result = tenancy.connection(&a).await;
        assert!(
            database_error(&result),
            "attempt {attempt}: SELECT denied on the registry must be a database error: {:?}",
            result.map(|c| c.tenant().clone())
        );
    }
    assert!(matches!(
        tenancy.tenants().await,
        Err(TenantError::Database { .. })
    ));
    // A tenant that is really not there is still UnknownTenant once readable.
    env.admin_sql(&format!(
        "GRANT SELECT ON {REGISTRY_TABLE} TO \"{}\"",
        env.role
    ))
    .await;
    let conn = tenancy
        .connection(&a)
        .await
        .expect("the failure was not cached as `not there`");
    assert_eq!(conn.tenant(), &a);
    assert!(unknown(tenancy.connection(&globex()).await));
    drop((conn, tenancy, app));
    env.cleanup().await;
}

/// A fresh database without a registry table: nothing is provisioned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_registry_table_still_means_no_tenant() {
    each_backend(async |t: &TestDb| {
        let tenancy = shared(t);
        assert!(unknown(tenancy.connection(&acme()).await), "{t}");
        assert_eq!(tenancy.tenants().await.expect("tenants"), [], "{t}");
    })
    .await;
}

/// Database per tenant without a registry: a tenant's file that cannot be
/// looked up (its directory is not a directory) is a database error, not
/// an unknown tenant; a file that is not there is `UnknownTenant`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_tenant_file_check_is_a_database_error() {
    let dir = std::env::temp_dir().join(common::unique_name());
    std::fs::create_dir_all(&dir).expect("temp dir");
    assert!(unknown(
        Tenancy::sqlite_files(&dir).connection(&acme()).await
    ));
    let not_a_dir = dir.join("plain-file");
    std::fs::write(&not_a_dir, b"").expect("file");
    let result = Tenancy::sqlite_files(&not_a_dir).connection(&acme()).await;
    assert!(
        database_error(&result),
        "{:?}",
        result.map(|c| c.tenant().clone())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
