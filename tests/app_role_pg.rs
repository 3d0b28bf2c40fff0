//! The RLS recipe end to end as a non-owner application role (issue 23,
//! point 2): the owner runs the migrations (the registry migration, the
//! tables with their policies, the grants) and provisions three tenants;
//! the application role reads and writes through `Tenancy::connection`,
//! and its start-up check passes; migrations go down and up across the
//! tenants, more than once, without `tuple concurrently updated`; a
//! revoked grant is named by the check. Shared schema and schema per
//! tenant. Postgres only.

mod pg_support;

use std::marker::PhantomData;
use std::sync::OnceLock;
use std::time::Duration;

use pg_support::PgEnv;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Set, Statement,
};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::doc_entities::{country, post};
use sea_orm_tenant::migration::{CreateRegistry, MigrationReport};
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::rls::{Access, Grants, RlsPolicy, RlsReport, RoleCheck};

/// The application role of one test (roles are cluster-wide, so each
/// test has its own, and its migrations read it from here).
trait AppRole: Send + Sync + 'static {
    fn cell() -> &'static OnceLock<String>;
    fn name() -> String {
        Self::cell().get().cloned().unwrap_or_default()
    }
}

struct SharedRole;
impl AppRole for SharedRole {
    fn cell() -> &'static OnceLock<String> {
        static ROLE: OnceLock<String> = OnceLock::new();
        &ROLE
    }
}

struct SchemaRole;
impl AppRole for SchemaRole {
    fn cell() -> &'static OnceLock<String> {
        static ROLE: OnceLock<String> = OnceLock::new();
        &ROLE
    }
}

const POST: &str =
    "CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL)";
const COUNTRY: &str = "CREATE TABLE country (code text PRIMARY KEY, name text NOT NULL); \
     INSERT INTO country VALUES ('fr', 'France'), ('jp', 'Japan')";

/// The tenant table `post` with its policy and the role's grants on it.
struct CreatePost<R>(PhantomData<R>);

impl<R> MigrationName for CreatePost<R> {
    fn name(&self) -> &str {
        "m20261206_000001_create_post"
    }
}

#[async_trait::async_trait]
impl<R: AppRole> MigrationTrait for CreatePost<R> {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(POST).await?;
        RlsPolicy::for_entity::<post::Entity>()
            .grant_to(&R::name())
            .up(manager)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        RlsPolicy::for_entity::<post::Entity>()
            .grant_to(&R::name())
            .down(manager)
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE post")
            .await?;
        Ok(())
    }
}

/// The global table `country`, and the role's grants on it and on the
/// registry.
struct CreateCountry<R>(PhantomData<R>);

impl<R> MigrationName for CreateCountry<R> {
    fn name(&self) -> &str {
        "m20261206_000002_create_country"
    }
}

fn shared_grants<R: AppRole>() -> Result<Grants, TenantError> {
    Ok(Grants::to(&R::name())?
        .global_table::<country::Entity>(Access::Read)
        .registry())
}

#[async_trait::async_trait]
impl<R: AppRole> MigrationTrait for CreateCountry<R> {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(COUNTRY).await?;
        shared_grants::<R>()?.up(manager).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        shared_grants::<R>()?.down(manager).await?;
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE country")
            .await?;
        Ok(())
    }
}

/// Shared schema: one migrator for everything.
struct SharedMigrator<R>(PhantomData<R>);

impl<R: AppRole> MigratorTrait for SharedMigrator<R> {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateRegistry),
            Box::new(CreateCountry::<R>(PhantomData)),
            Box::new(CreatePost::<R>(PhantomData)),
        ]
    }
}

/// Schema per tenant: what runs in each tenant's schema.
struct TenantMigrator<R>(PhantomData<R>);

impl<R: AppRole> MigratorTrait for TenantMigrator<R> {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreatePost::<R>(PhantomData))]
    }
}

/// Schema per tenant: what runs once in `public`.
struct GlobalMigrator<R>(PhantomData<R>);

impl<R: AppRole> MigratorTrait for GlobalMigrator<R> {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateRegistry),
            Box::new(CreateCountry::<R>(PhantomData)),
        ]
    }
}

const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

fn assert_migrated(report: &MigrationReport, what: &str) {
    let failures: Vec<String> = report.failures().map(|f| f.to_string()).collect();
    assert!(
        !failures
            .iter()
            .any(|f| f.contains("tuple concurrently updated")),
        "{what}: {failures:?}"
    );
    assert!(report.is_ok(), "{what}: {failures:?}");
}

fn check() -> RoleCheck {
    RoleCheck::new()
        .tenant_table::<post::Entity>()
        .global_table::<country::Entity>(Access::Read)
}

fn assert_check_ok(report: &RlsReport, tables: usize) {
    assert!(report.is_ok(), "{report}");
    assert!(!report.superuser && !report.bypass_rls);
    assert_eq!(report.tables.len(), tables, "{report:?}");
}

/// As the application role: each tenant writes a post and reads back
/// its own posts only, and reads the global table.
async fn use_as_app(app: &DatabaseConnection, tenancy: &Tenancy, round: usize) {
    for name in TENANTS {
        let conn = tenancy
            .connection(&TenantId::from(name))
            .await
            .unwrap_or_else(|e| panic!("connection for {name}: {e}"));
        post::ActiveModel {
            title: Set(format!("{name} round {round}")),
            ..Default::default()
        }
        .insert(&conn)
        .await
        .unwrap_or_else(|e| panic!("{name} inserts: {e}"));
        let posts = post::Entity::find()
            .all(&conn)
            .await
            .unwrap_or_else(|e| panic!("{name} reads: {e}"));
        assert_eq!(posts.len(), 1, "{name}: {posts:?}");
        assert!(posts.iter().all(|p| p.tenant_id == name));
        let countries = country::Entity::find()
            .all(&conn)
            .await
            .unwrap_or_else(|e| panic!("{name} reads the global table: {e}"));
        assert_eq!(countries.len(), 2);
    }
    // Without a tenant the role sees no post: the policies hold.
    let seen = app
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) FROM post",
        ))
        .await;
    if let Ok(Some(row)) = seen {
        assert_eq!(row.try_get_by_index::<i64>(0).ok(), Some(0));
    }
}

#[tokio::test]
async fn shared_schema_recipe_as_a_non_owner_role() {
    let Some(env) = PgEnv::new("shared_schema_recipe_as_a_non_owner_role").await else {
        return;
    };
    SharedRole::cell().get_or_init(|| env.role.clone());
    let owner = Tenancy::shared_schema(env.admin.clone())
        .tenant_table::<post::Entity>()
        .with_migrator::<SharedMigrator<SharedRole>>();
    assert_migrated(
        &owner
            .migrations()
            .lock_wait(Duration::from_secs(30))
            .up()
            .await
            .expect("up"),
        "first up",
    );
    for name in TENANTS {
        owner
            .provision(&TenantId::from(name))
            .await
            .unwrap_or_else(|e| panic!("provision {name}: {e}"));
    }

    let app = env.app(4).await;
    let tenancy = Tenancy::shared_schema(app.clone())
        .tenant_table::<post::Entity>()
        .global_table::<country::Entity>()
        .row_level_security(true);
    assert_check_ok(
        &tenancy
            .check_application_role(check())
            .await
            .expect("check"),
        1,
    );
    use_as_app(&app, &tenancy, 0).await;

    for round in 1..=2 {
        tenancy.release_parked();
        let migrations = owner.migrations().lock_wait(Duration::from_secs(30));
        assert_migrated(&migrations.down(None).await.expect("down"), "down");
        assert_migrated(&migrations.up().await.expect("up"), "up");
        let report = tenancy
            .check_application_role(check())
            .await
            .expect("check");
        assert_check_ok(&report, 1);
        use_as_app(&app, &tenancy, round).await;
    }

    // A missing grant is named, with the statement that gives it.
    env.admin_sql(&format!(
        "REVOKE SELECT ON country FROM \"{0}\"; REVOKE SELECT ON sea_orm_tenant_registry FROM \"{0}\"; \
         REVOKE USAGE ON SEQUENCE post_id_seq FROM \"{0}\"",
        env.role
    ))
    .await;
    let report = tenancy
        .check_application_role(check())
        .await
        .expect("check");
    let problems = report.problems();
    for table in ["country", "sea_orm_tenant_registry"] {
        let expected = format!(
            "the role `{0}` cannot SELECT table `public.{table}`: GRANT SELECT ON TABLE \"public\".\"{table}\" TO \"{0}\"",
            env.role
        );
        assert!(problems.contains(&expected), "{report}");
    }
    let sequence = format!(
        "the role `{0}` cannot use sequence `public.post_id_seq` (USAGE): GRANT USAGE, SELECT ON SEQUENCE \"public\".\"post_id_seq\" TO \"{0}\"",
        env.role
    );
    assert!(problems.contains(&sequence), "{report}");
    assert_eq!(problems.len(), 3, "{report}");

    tenancy.release_parked();
    drop((tenancy, owner, app));
    env.cleanup().await;
}

#[tokio::test]
async fn schema_per_tenant_recipe_as_a_non_owner_role() {
    let Some(env) = PgEnv::new("schema_per_tenant_recipe_as_a_non_owner_role").await else {
        return;
    };
    SchemaRole::cell().get_or_init(|| env.role.clone());
    let owner = Tenancy::schema_per_tenant(env.admin.clone())
        .tenant_table::<post::Entity>()
        .with_migrator::<TenantMigrator<SchemaRole>>();
    assert_migrated(
        &owner
            .migrations()
            .global::<GlobalMigrator<SchemaRole>>()
            .up()
            .await
            .expect("global up"),
        "global up",
    );
    // Three tenants provisioned at once: their migrations grant at once.
    let owner_ref = &owner;
    let provisioned = futures_util::future::join_all(
        TENANTS.map(|name| async move { owner_ref.provision(&TenantId::from(name)).await }),
    )
    .await;
    for (name, result) in TENANTS.iter().zip(provisioned) {
        result.unwrap_or_else(|e| panic!("provision {name}: {e}"));
    }

    let app = env.app(4).await;
    let tenancy = Tenancy::schema_per_tenant(app.clone())
        .tenant_table::<post::Entity>()
        .global_table::<country::Entity>()
        .row_level_security(true);
    let report = tenancy
        .check_application_role(check())
        .await
        .expect("check");
    assert_check_ok(&report, 3);
    assert!(
        report
            .tables
            .iter()
            .any(|t| t.table == "tenant_globex.post")
    );
    use_as_app(&app, &tenancy, 0).await;

    for round in 1..=3 {
        tenancy.release_parked();
        let migrations = owner
            .migrations()
            .concurrency(4)
            .lock_wait(Duration::from_secs(30));
        assert_migrated(
            &migrations.down(None).await.expect("down"),
            &format!("down, round {round}"),
        );
        assert_migrated(
            &migrations.up().await.expect("up"),
            &format!("up, round {round}"),
        );
        let report = tenancy
            .check_application_role(check())
            .await
            .expect("check");
        assert_check_ok(&report, 3);
        use_as_app(&app, &tenancy, round).await;
    }

    // The grants named each tenant's schema, never `public`'s.
    let public_grant = env
        .admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT count(*) FROM pg_namespace n, aclexplode(n.nspacl) a \
                 JOIN pg_roles r ON r.oid = a.grantee \
                 WHERE n.nspname = 'public' AND r.rolname = '{}'",
                env.role
            ),
        ))
        .await
        .expect("acl")
        .and_then(|row| row.try_get_by_index::<i64>(0).ok());
    assert_eq!(public_grant, Some(0));

    // A missing grant is named, with the statement that gives it.
    env.admin_sql(&format!(
        "REVOKE USAGE ON SCHEMA tenant_globex FROM \"{0}\"; REVOKE DELETE ON tenant_initech.post FROM \"{0}\"",
        env.role
    ))
    .await;
    let report = tenancy
        .check_application_role(check())
        .await
        .expect("check");
    let problems = report.problems();
    let role = &env.role;
    for expected in [
        format!(
            "the role `{role}` cannot use schema `tenant_globex` (USAGE): GRANT USAGE ON SCHEMA \"tenant_globex\" TO \"{role}\""
        ),
        format!(
            "the role `{role}` cannot DELETE table `tenant_initech.post`: GRANT DELETE ON TABLE \"tenant_initech\".\"post\" TO \"{role}\""
        ),
    ] {
        assert!(problems.contains(&expected), "{report}");
    }
    assert_eq!(problems.len(), 2, "{report}");

    tenancy.release_parked();
    drop((tenancy, owner, app));
    env.cleanup().await;
}

/// Grants on objects outside the migration's schema (here the schema
/// `sot_global` and its `country`), run from many tenants' migrations at once, take turns
/// (the advisory lock), where Postgres would refuse concurrent ones with
/// `tuple concurrently updated`; the grants on each tenant's own table
/// need no lock.
#[tokio::test]
async fn grants_outside_the_schema_take_turns() {
    let Some(env) = PgEnv::new("grants_outside_the_schema_take_turns").await else {
        return;
    };
    let schemas: Vec<String> = (0..6).map(|i| format!("sot_grants_{i}")).collect();
    env.admin_sql(&format!(
        "CREATE SCHEMA sot_global; SET search_path TO sot_global; {COUNTRY}; RESET search_path"
    ))
    .await;
    for schema in &schemas {
        env.admin_sql(&format!(
            "CREATE SCHEMA \"{schema}\"; CREATE TABLE \"{schema}\".post \
             (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL)"
        ))
        .await;
    }
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let options = std::str::FromStr::from_str(&url)
        .map(|o: sea_orm::sqlx::postgres::PgConnectOptions| o.database(&env.db_name));
    let owner = pg_support::pool(options.expect("a Postgres URL"), 8).await;
    let role = env.role.clone();
    // Every run is in its transaction, its own grants done, before any
    // grants on the shared objects.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(schemas.len()));
    let runs = schemas.iter().map(|schema| {
        let (owner, role, barrier) = (owner.clone(), role.clone(), barrier.clone());
        async move {
            use sea_orm::TransactionTrait;
            let txn = owner.begin().await?;
            txn.execute_unprepared(&format!("SET LOCAL search_path TO \"{schema}\""))
                .await?;
            let own = Grants::to(&role)?.tenant_table::<post::Entity>();
            let shared = Grants::to(&role)?
                .schema("sot_global")
                .global_table::<country::Entity>(Access::Read);
            let own_statements = own.statements(&txn).await?;
            let shared_statements = shared.statements(&txn).await?;
            own.apply(&txn).await?;
            barrier.wait().await;
            shared.apply(&txn).await?;
            // Hold the transaction a little, as a migration would.
            tokio::time::sleep(Duration::from_millis(50)).await;
            txn.commit().await?;
            Ok::<_, TenantError>((own_statements, shared_statements))
        }
    });
    let results = futures_util::future::join_all(runs).await;
    for result in &results {
        let (own, shared) = result.as_ref().expect("grants");
        assert!(
            !own.iter().any(|s| s.contains("pg_advisory_xact_lock")),
            "{own:?}"
        );
        assert!(!own.iter().any(|s| s.contains("\"public\"")), "{own:?}");
        assert!(
            own.iter()
                .any(|s| s.starts_with("GRANT USAGE, SELECT ON SEQUENCE"))
        );
        if !shared.is_empty() {
            assert!(shared[0].contains("pg_advisory_xact_lock"), "{shared:?}");
        }
    }
    // Everything is held now: a rerun grants nothing.
    let again = Grants::to(&role)
        .expect("role")
        .schema("sot_global")
        .global_table::<country::Entity>(Access::Read)
        .statements(&owner)
        .await
        .expect("plan");
    assert!(again.is_empty(), "{again:?}");
    let app = env.app(1).await;
    for schema in &schemas {
        app.execute_unprepared(&format!(
            "INSERT INTO \"{schema}\".post (tenant_id, title) VALUES ('a', 'x')"
        ))
        .await
        .unwrap_or_else(|e| panic!("{schema}: {e}"));
    }
    app.execute_unprepared("SELECT * FROM sot_global.country")
        .await
        .expect("country");
    drop(app);
    owner.close().await.ok();
    env.cleanup().await;
}
