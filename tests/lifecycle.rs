//! The tenant lifecycle (issue 13, items 5–8): deprovision is final, for
//! connections held across it, for work in flight, for other instances,
//! and when provision and deprovision of one tenant run at once.

mod common;
mod pg_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{acme, unique_name};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, Statement};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    TransactionTrait,
};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::prelude::*;

// ---------------------------------------------------------------------------
// The application's migrator: the post table, no schema named.

use common::post_migrator::Migrator;

// ---------------------------------------------------------------------------
// Helpers.

fn unknown<T>(result: &Result<T, TenantError>) -> bool {
    matches!(result, Err(TenantError::UnknownTenant(_)))
}

fn new_post(title: &str) -> post::ActiveModel {
    post::ActiveModel {
        title: Set(title.to_owned()),
        ..Default::default()
    }
}

/// A write through `conn` with plain SeaORM (the connection confines it).
async fn write(conn: &impl ConnectionTrait, title: &str) -> Result<(), DbErr> {
    post::Entity::insert(new_post(title))
        .exec_without_returning(conn)
        .await
        .map(|_| ())
}

async fn titles(conn: &TenantConnection) -> Vec<String> {
    let mut titles: Vec<String> = post::Entity::find()
        .all(conn)
        .await
        .unwrap_or_else(|e| panic!("read for {}: {e}", conn.tenant()))
        .into_iter()
        .map(|p| p.title)
        .collect();
    titles.sort();
    titles
}

/// Rows of `tenant` in `db`'s post table, read without any tenant.
async fn rows_of(db: &DatabaseConnection, tenant: &str) -> u64 {
    post::Entity::find()
        .filter(post::Column::TenantId.eq(tenant))
        .count(db)
        .await
        .expect("count rows")
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name());
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

async fn sqlite_file(dir: &Path, name: &str) -> DatabaseConnection {
    let url = format!("sqlite://{}?mode=rwc", dir.join(name).display());
    Database::connect(url).await.expect("open sqlite")
}

fn files(dir: &Path) -> Tenancy {
    Tenancy::sqlite_files(dir)
        .with_migrator::<Migrator>()
        .tenant_table::<post::Entity>()
}

// ---------------------------------------------------------------------------
// 5. A connection held across deprovision writes nowhere.

/// Shared schema on SQLite: a connection taken before `deprovision`
/// writes nothing after it, and no row of the tenant remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_connection_does_not_write_after_deprovision_sqlite() {
    let dir = temp_dir();
    let db = sqlite_file(&dir, "shared.db").await;
    let tenancy = Tenancy::shared_schema(db.clone())
        .with_migrator::<Migrator>()
        .tenant_table::<post::Entity>();
    let a = acme();
    tenancy.provision(&a).await.expect("provision");
    let held = tenancy.connection(&a).await.expect("connection");
    write(&held, "before").await.expect("write before");

    tenancy.deprovision(&a).await.expect("deprovision");
    let after = write(&held, "after").await;
    assert!(after.is_err(), "a held connection wrote after deprovision");
    assert_eq!(rows_of(&db, "acme").await, 0, "a row of acme remains");
    // Its transactions too.
    assert!(held.begin().await.is_err(), "began after deprovision");
    assert!(unknown(&tenancy.connection(&a).await));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Hybrid placement on Postgres: a schema tenant's connection held across
/// `deprovision` does not fall through to `public.post` (as a superuser,
/// so no policy stops it: the connection itself must).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_schema_tenant_connection_does_not_fall_through_to_public() {
    let Some(env) = pg_support::PgEnv::new("held_schema_tenant").await else {
        return;
    };
    let tenancy = Tenancy::shared_schema(env.admin.clone())
        .with_migrator::<Migrator>()
        .tenant_table::<post::Entity>()
        .place_with(|t| (t.to_string() == "big").then_some(Placement::SchemaPerTenant));
    let (small, big) = (TenantId::from("small"), TenantId::from("big"));
    tenancy.provision(&small).await.expect("provision small");
    tenancy.provision(&big).await.expect("provision big");
    let held = tenancy.connection(&big).await.expect("connection");
    assert_eq!(held.placement(), Placement::SchemaPerTenant);
    write(&held, "before").await.expect("write before");
    let held_txn_conn = tenancy.connection(&big).await.expect("connection");

    tenancy.deprovision(&big).await.expect("deprovision");
    let after = write(&held, "after").await;
    assert!(after.is_err(), "a held connection wrote after deprovision");
    assert!(
        held_txn_conn.begin().await.is_err(),
        "began after deprovision"
    );
    assert_eq!(
        rows_of(&env.admin, "big").await,
        0,
        "a row of big in public.post"
    );
    assert!(unknown(&tenancy.connection(&big).await));
    tenancy.release_parked();
    tenancy.deprovision(&small).await.expect("cleanup");
    env.cleanup().await;
}

// ---------------------------------------------------------------------------
// 6. Deprovision and work in flight (SQLite files).

/// While `deprovision` waits for an open transaction, the tenant gets no
/// new connection and the transaction writes nothing more; afterwards the
/// tenant is unknown, and a new `provision` gives a working, empty tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprovision_waits_for_work_in_flight_and_then_the_tenant_is_gone() {
    let dir = temp_dir();
    let tenancy = files(&dir);
    let a = acme();
    tenancy.provision(&a).await.expect("provision");
    let conn = tenancy.connection(&a).await.expect("connection");
    write(&conn, "one").await.expect("write");
    write(&conn, "two").await.expect("write");
    let txn = conn.begin().await.expect("begin");
    write(&txn, "in flight")
        .await
        .expect("write in the transaction");

    let gone = tokio::spawn({
        let tenancy = tenancy.clone();
        let a = a.clone();
        async move { tenancy.deprovision(&a).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !gone.is_finished(),
        "deprovision did not wait for the transaction"
    );
    let during = tenancy.connection(&a).await;
    assert!(
        unknown(&during),
        "a connection while deprovisioning: {:?}",
        during.as_ref().map(|_| "Ok")
    );
    assert!(
        write(&txn, "late").await.is_err(),
        "the open transaction wrote after deprovision began"
    );
    drop(txn);
    common::within(10, "deprovision", gone)
        .await
        .expect("join")
        .expect("deprovision");

    assert!(unknown(&tenancy.connection(&a).await), "after deprovision");
    tenancy.provision(&a).await.expect("provision again");
    let fresh = tenancy.connection(&a).await.expect("connection again");
    assert!(
        titles(&fresh).await.is_empty(),
        "rows of the deleted tenant"
    );
    write(&fresh, "new").await.expect("write to the new tenant");
    assert_eq!(titles(&fresh).await, ["new"]);
    tenancy.deprovision(&a).await.expect("cleanup");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// 7. Another instance and a deprovisioned SQLite tenant.

/// Instance B has a pool open on acme's file when instance A deprovisions
/// acme: B hands out no connection whose writes fail half-way (here: none
/// at all, within the registry TTL or after it), and once A provisions
/// acme again B serves the new file, not the old pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_stops_serving_a_deprovisioned_sqlite_tenant() {
    let dir = temp_dir();
    let registry = sqlite_file(&dir, "registry.db").await;
    let ttl = Duration::from_millis(400);
    let instance = || {
        files(&dir)
            .with_registry(registry.clone())
            .registry_ttl(ttl)
    };
    let (a_side, b_side) = (instance(), instance());
    let a = acme();
    a_side.provision(&a).await.expect("provision");
    let held = b_side.connection(&a).await.expect("B: connection");
    write(&held, "from B").await.expect("B: write");

    a_side.deprovision(&a).await.expect("deprovision");
    let mut handed_out = 0;
    for i in 0..5 {
        match b_side.connection(&a).await {
            Ok(conn) => {
                handed_out += 1;
                // Handed out within the TTL: then its writes work.
                write(&conn, &format!("w{i}"))
                    .await
                    .unwrap_or_else(|e| panic!("B: connection {i} handed out, write failed: {e}"));
            }
            Err(TenantError::UnknownTenant(_)) => {}
            Err(e) => panic!("B: connection {i}: {e}"),
        }
    }
    assert_eq!(handed_out, 0, "B handed out connections to a deleted file");
    assert!(
        write(&held, "held").await.is_err(),
        "B: held connection wrote"
    );
    assert!(!dir.join("tenant_acme.db").exists(), "the file came back");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert!(unknown(&b_side.connection(&a).await), "B: after the TTL");

    // Provisioned again by A: B serves the new file.
    a_side.provision(&a).await.expect("provision again");
    let again = b_side.connection(&a).await.expect("B: connection again");
    write(&again, "new")
        .await
        .expect("B: write to the new file");
    assert_eq!(titles(&again).await, ["new"]);
    a_side.deprovision(&a).await.expect("cleanup");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// 8. Provision and deprovision of one tenant at once.

/// Whether the registry and the tenant's place agree: listed iff served.
async fn agrees(tenancy: &Tenancy, tenant: &TenantId) -> Result<(), String> {
    let listed = tenancy
        .tenants()
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .any(|(t, _)| t == tenant);
    let served = match tenancy.connection(tenant).await {
        Ok(conn) => {
            // Served means usable.
            post::Entity::find()
                .count(&conn)
                .await
                .map_err(|e| format!("served but unusable: {e}"))?;
            true
        }
        Err(TenantError::UnknownTenant(_)) => false,
        Err(e) => return Err(e.to_string()),
    };
    if listed == served {
        Ok(())
    } else {
        Err(format!("listed {listed}, served {served}"))
    }
}

/// SQLite files with a registry: 30 rounds of provision and deprovision
/// of acme at once on clones of one `Tenancy`; after each round the
/// registry agrees with what exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_and_deprovision_at_once_agree_with_the_registry_sqlite() {
    let dir = temp_dir();
    let registry = sqlite_file(&dir, "registry.db").await;
    let tenancy = files(&dir).with_registry(registry);
    let a = acme();
    let mut disagreements = Vec::new();
    for round in 0..30 {
        if let Err(e) = tenancy.provision(&a).await {
            disagreements.push(format!("round {round}: setup: {e}"));
        }
        let (p, d) = tokio::join!(
            tokio::spawn({
                let (tenancy, a) = (tenancy.clone(), a.clone());
                async move { tenancy.provision(&a).await }
            }),
            tokio::spawn({
                let (tenancy, a) = (tenancy.clone(), a.clone());
                async move { tenancy.deprovision(&a).await }
            }),
        );
        if let Err(e) = p.expect("join") {
            disagreements.push(format!("round {round}: provision: {e}"));
        }
        if let Err(e) = d.expect("join") {
            disagreements.push(format!("round {round}: deprovision: {e}"));
        }
        if let Err(e) = agrees(&tenancy, &a).await {
            disagreements.push(format!("round {round}: {e}"));
        }
        if let Err(e) = tenancy.deprovision(&a).await {
            disagreements.push(format!("round {round}: reset: {e}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} problems in 30 rounds: {disagreements:#?}",
        disagreements.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Postgres, two instances (two `Tenancy` values on separate pools), a
/// schema tenant: 30 rounds of provision on one and deprovision on the
/// other at once; the registry agrees with the schemas after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_and_deprovision_on_two_instances_agree_pg() {
    let Some(env) = pg_support::PgEnv::new("lifecycle_two_instances").await else {
        return;
    };
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let url = common::with_database(&url, &env.db_name);
    let instance = async || {
        Tenancy::schema_per_tenant(Database::connect(&url).await.expect("connect"))
            .with_migrator::<Migrator>()
            .hot_tenants(HotTenants::off())
    };
    let (one, two) = (instance().await, instance().await);
    let a = acme();
    let mut disagreements = Vec::new();
    for round in 0..30 {
        if let Err(e) = one.provision(&a).await {
            disagreements.push(format!("round {round}: setup: {e}"));
        }
        let (p, d) = tokio::join!(
            tokio::spawn({
                let (one, a) = (one.clone(), a.clone());
                async move { one.provision(&a).await }
            }),
            tokio::spawn({
                let (two, a) = (two.clone(), a.clone());
                async move { two.deprovision(&a).await }
            }),
        );
        if let Err(e) = p.expect("join") {
            disagreements.push(format!("round {round}: provision: {e}"));
        }
        if let Err(e) = d.expect("join") {
            disagreements.push(format!("round {round}: deprovision: {e}"));
        }
        let schema = env
            .admin
            .query_one_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_acme'",
            ))
            .await
            .expect("schema lookup")
            .is_some();
        let listed = two
            .tenants()
            .await
            .expect("tenants")
            .iter()
            .any(|(t, _)| t == &a);
        if schema != listed {
            disagreements.push(format!("round {round}: listed {listed}, schema {schema}"));
        }
        if let Err(e) = two.deprovision(&a).await {
            disagreements.push(format!("round {round}: reset: {e}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} problems in 30 rounds: {disagreements:#?}",
        disagreements.len()
    );
    env.cleanup().await;
}
