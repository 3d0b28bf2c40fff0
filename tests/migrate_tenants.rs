//! Migrations across every tenant (`Tenancy::migrations`): schema per
//! tenant on Postgres, database per tenant on MariaDB and SQLite, the
//! shared database with a global migrator; failures, hand-made schemas,
//! concurrent runners and a runner killed halfway.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;

use common::{Databases, Kind, TestDb, backends_of, each_backend, each_backend_of};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::migration::{MigrationReport, MigrationTarget, Outcome, lock_key};
use sea_orm_tenant::prelude::*;

// ---------------------------------------------------------------------------
// The application's migrations. Tables are named without a schema.

struct CreateNote;
impl MigrationName for CreateNote {
    fn name(&self) -> &str {
        "m1_create_note"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for CreateNote {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("note")
                    .col(
                        ColumnDef::new("id")
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("body").string_len(200).not_null())
                    .to_owned(),
            )
            .await
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("note").to_owned())
            .await
    }
}

struct CreateLabel;
impl MigrationName for CreateLabel {
    fn name(&self) -> &str {
        "m2_create_label"
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

/// Adds `note.pinned`, then fails where a table named `poison` exists: on
/// Postgres and SQLite the added column must roll back with it.
struct AddPinned;
impl MigrationName for AddPinned {
    fn name(&self) -> &str {
        "m3_add_pinned"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for AddPinned {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Guarded, as MySQL migrations must be (no transactional DDL there).
        if !manager.has_column("note", "pinned").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table("note")
                        .add_column(ColumnDef::new("pinned").boolean().not_null().default(false))
                        .to_owned(),
                )
                .await?;
        }
        if manager.has_table("poison").await? {
            return Err(DbErr::Migration("poisoned tenant".into()));
        }
        Ok(())
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("note")
                    .drop_column("pinned")
                    .to_owned(),
            )
            .await
    }
}

/// Creates an index; opts out of transactions (on Postgres: `CONCURRENTLY`).
struct IndexBody;
impl MigrationName for IndexBody {
    fn name(&self) -> &str {
        "m4_index_body"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for IndexBody {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let sql = match db.get_database_backend() {
            DbBackend::Postgres => "CREATE INDEX CONCURRENTLY note_body_idx ON note (body)",
            _ => "CREATE INDEX note_body_idx ON note (body)",
        };
        db.execute_unprepared(sql).await.map(|_| ())
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let sql = match db.get_database_backend() {
            DbBackend::MySql => "DROP INDEX note_body_idx ON note",
            _ => "DROP INDEX note_body_idx",
        };
        db.execute_unprepared(sql).await.map(|_| ())
    }
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }
}

/// Writes a row and sleeps, so that two runners overlap (and a killed one
/// dies in the middle): a row per tenant tells how often it ran.
struct SlowStep;
impl MigrationName for SlowStep {
    fn name(&self) -> &str {
        "m3_slow_step"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for SlowStep {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("INSERT INTO note (body) VALUES ('m3 ran')")
            .await?;
        let sleep = match db.get_database_backend() {
            DbBackend::Postgres => "SELECT pg_sleep(0.2)",
            DbBackend::MySql => "SELECT SLEEP(0.2)",
            _ => "SELECT 1",
        };
        db.execute_unprepared(sleep).await?;
        manager
            .create_table(
                Table::create()
                    .table("late")
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .to_owned(),
            )
            .await
    }
}

/// Fails where a table named `poison2` exists.
struct Checkpoint;
impl MigrationName for Checkpoint {
    fn name(&self) -> &str {
        "m4_checkpoint"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for Checkpoint {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_table("poison2").await? {
            return Err(DbErr::Migration("checkpoint refused".into()));
        }
        Ok(())
    }
}

struct V2;
impl MigratorTrait for V2 {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateNote), Box::new(CreateLabel)]
    }
}
struct V3;
impl MigratorTrait for V3 {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateNote),
            Box::new(CreateLabel),
            Box::new(AddPinned),
        ]
    }
}
struct V4;
impl MigratorTrait for V4 {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateNote),
            Box::new(CreateLabel),
            Box::new(AddPinned),
            Box::new(IndexBody),
        ]
    }
}
struct V3Checked;
impl MigratorTrait for V3Checked {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateNote),
            Box::new(CreateLabel),
            Box::new(AddPinned),
            Box::new(Checkpoint),
        ]
    }
}
struct V3Slow;
impl MigratorTrait for V3Slow {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateNote),
            Box::new(CreateLabel),
            Box::new(SlowStep),
        ]
    }
}

/// Global tables, in the shared database, with a version table of their own.
struct CreateCountry;
impl MigrationName for CreateCountry {
    fn name(&self) -> &str {
        "g1_create_country"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for CreateCountry {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sot_country")
                    .if_not_exists()
                    .col(
                        ColumnDef::new("code")
                            .string_len(2)
                            .not_null()
                            .primary_key(),
                    )
                    .to_owned(),
            )
            .await
    }
}
struct Global;
impl MigratorTrait for Global {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateCountry)]
    }
    fn migration_table_name() -> DynIden {
        "seaql_migrations_global".into_iden()
    }
}
struct GlobalSameTable;
impl MigratorTrait for GlobalSameTable {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateCountry)]
    }
}

// ---------------------------------------------------------------------------
// Helpers.

fn tenant(i: usize) -> TenantId {
    TenantId::from(format!("t{i:03}").as_str())
}

/// Schema per tenant on Postgres (in `db`), database per tenant elsewhere
/// (registry in `db`), without a migrator.
fn level(t: &TestDb, dbs: &Databases, db: DatabaseConnection) -> Tenancy {
    own_tables(match t.kind {
        Kind::Postgres => Tenancy::schema_per_tenant(db),
        _ => Tenancy::database_per_tenant(dbs.url_for()).with_registry(db),
    })
    // Few cached pools: MariaDB allows 151 connections for every test at once.
    .max_pools(4)
}

/// The tables the tests read in a tenant's own schema or database, declared
/// global (rule 12 refuses a table declared nowhere): there every table is
/// the tenant's own. The migration bookkeeping (`seaql_migrations`) is the
/// crate's and never reachable through a tenant connection: see
/// [`bookkeeping`].
fn own_tables(tenancy: Tenancy) -> Tenancy {
    tenancy
        .global_table_named("note")
        .global_table_named("legacy")
        .global_table_named("late")
}

/// [`level`] on the test's database, with `V2` for provisioning.
fn tenancy(t: &TestDb, dbs: &Databases) -> Tenancy {
    level(t, dbs, t.db.clone()).with_migrator::<V2>()
}

async fn provision(tenancy: &Tenancy, n: usize) {
    for i in 1..=n {
        tenancy.provision(&tenant(i)).await.expect("provision");
    }
}

async fn deprovision_all(tenancy: &Tenancy) {
    for (t, _) in tenancy.tenants().await.expect("tenants") {
        tenancy.deprovision(&t).await.expect("deprovision");
    }
}

/// Runs SQL in the tenant's schema or database (outside the library's
/// migration path), as the application would.
async fn tenant_sql(tenancy: &Tenancy, t: &TenantId, sql: &str) -> Result<(), DbErr> {
    let conn = tenancy.connection(t).await?;
    conn.execute_unprepared(sql).await.map(|_| ())
}

/// DDL in the tenant's schema or database: a tenant connection refuses
/// it, so it runs on the unconfined transaction underneath (admin work).
async fn tenant_ddl(tenancy: &Tenancy, t: &TenantId, sql: &str) -> Result<(), DbErr> {
    let conn = tenancy.connection(t).await?;
    let txn = conn.begin().await?;
    txn.unconfined().execute_unprepared(sql).await?;
    txn.commit().await
}

/// Runs `sql` on the unconfined transaction of a tenant connection (so in
/// the tenant's schema or database): for the crate's own migration table,
/// which a tenant connection refuses (rule 12). The first row, or the error.
async fn bookkeeping(
    tenancy: &Tenancy,
    t: &TenantId,
    sql: &str,
) -> Result<Option<sea_orm::QueryResult>, DbErr> {
    let conn = tenancy.connection(t).await?;
    let txn = conn.begin().await?;
    let row = txn
        .unconfined()
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await;
    txn.rollback().await?;
    row
}

async fn count(tenancy: &Tenancy, t: &TenantId, sql: &str) -> i64 {
    if sql.contains("seaql_migrations") {
        return bookkeeping(tenancy, t, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .expect("a row")
            .try_get_by_index::<i64>(0)
            .expect("a count");
    }
    let conn = tenancy.connection(t).await.expect("connection");
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

/// Whether the tenant's `note` table has column `pinned` (looked up by
/// selecting it).
async fn has_pinned(tenancy: &Tenancy, t: &TenantId) -> bool {
    tenant_sql(tenancy, t, "SELECT pinned FROM note")
        .await
        .is_ok()
}

fn outcome<'r>(report: &'r MigrationReport, t: &TenantId) -> &'r Outcome {
    &report
        .tenant(t)
        .expect("the tenant is in the report")
        .outcome
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------
// up, status, down.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_status_and_down_across_every_tenant() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = tenancy(t, &dbs);
        provision(&tenancy, 5).await;

        let status = tenancy
            .migrations()
            .migrator::<V3>()
            .status()
            .await
            .expect("status");
        assert_eq!(status.targets.len(), 5, "{t}: {status:?}");
        for i in 1..=5 {
            assert_eq!(
                outcome(&status, &tenant(i)),
                &Outcome::Status {
                    applied: names(&["m1_create_note", "m2_create_label"]),
                    pending: names(&["m3_add_pinned"]),
                },
                "{t}"
            );
        }

        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let report = tenancy
            .migrations()
            .migrator::<V3>()
            .concurrency(3)
            .on_progress(move |_, done, total| {
                assert!(done <= total);
                counter.fetch_add(1, Ordering::SeqCst);
            })
            .up()
            .await
            .expect("up");
        assert!(report.is_ok(), "{t}: {report:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 5, "{t}: progress per tenant");
        for i in 1..=5 {
            assert_eq!(
                outcome(&report, &tenant(i)),
                &Outcome::Applied(names(&["m3_add_pinned"])),
                "{t}"
            );
            assert!(has_pinned(&tenancy, &tenant(i)).await, "{t}");
        }

        // A second run redoes nothing.
        let again = tenancy
            .migrations()
            .migrator::<V3>()
            .up()
            .await
            .expect("up");
        assert_eq!(
            again.count(|o| *o == Outcome::UpToDate),
            5,
            "{t}: {again:?}"
        );

        // The version table is the tenant's own.
        assert_eq!(
            count(
                &tenancy,
                &tenant(1),
                "SELECT COUNT(*) FROM seaql_migrations"
            )
            .await,
            3,
            "{t}"
        );
        if t.kind == Kind::Postgres {
            let public =
                t.db.query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT to_regclass('public.seaql_migrations') IS NULL AS absent",
                ))
                .await
                .expect("query")
                .expect("row");
            assert!(
                public.try_get::<bool>("", "absent").expect("bool"),
                "no public version table"
            );
        }

        let down = tenancy
            .migrations()
            .migrator::<V3>()
            .down(Some(1))
            .await
            .expect("down");
        for i in 1..=5 {
            assert_eq!(
                outcome(&down, &tenant(i)),
                &Outcome::RolledBack(names(&["m3_add_pinned"])),
                "{t}"
            );
            assert!(!has_pinned(&tenancy, &tenant(i)).await, "{t}");
        }
        deprovision_all(&tenancy).await;
        dbs.cleanup();
    })
    .await;
}

// ---------------------------------------------------------------------------
// Faults.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_tenant_37_of_100_rolls_back_and_a_rerun_finishes_it() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = tenancy(t, &dbs);
        provision(&tenancy, 100).await;
        let t37 = tenant(37);
        tenant_ddl(&tenancy, &t37, "CREATE TABLE poison (id INTEGER)")
            .await
            .expect("poison");

        let report = tenancy
            .migrations()
            .migrator::<V3>()
            .concurrency(4)
            .keep_going()
            .up()
            .await
            .expect("up");
        assert!(!report.is_ok(), "{t}");
        let failed: Vec<_> = report.failures().map(|r| r.target.to_string()).collect();
        assert_eq!(
            failed,
            ["t037"],
            "{t}: {report}: {:?}",
            report.failures().take(2).collect::<Vec<_>>()
        );
        let Outcome::Failed(err) = outcome(&report, &t37) else {
            panic!("{t}: t037 failed");
        };
        assert!(err.to_string().contains("poisoned tenant"), "{t}: {err}");
        assert_eq!(
            report.count(|o| matches!(o, Outcome::Applied(_))),
            99,
            "{t}: the others are migrated"
        );
        if t.kind != Kind::MySql {
            // Transactional DDL: the column added before the failure is gone.
            assert!(!has_pinned(&tenancy, &t37).await, "{t}: t037 rolled back");
        }
        assert_eq!(
            count(&tenancy, &t37, "SELECT COUNT(*) FROM seaql_migrations").await,
            2,
            "{t}: m3 not recorded for t037"
        );

        // The fix, then a rerun: only t037 runs.
        tenant_ddl(&tenancy, &t37, "DROP TABLE poison")
            .await
            .expect("cure");
        let rerun = tenancy
            .migrations()
            .migrator::<V3>()
            .up()
            .await
            .expect("rerun");
        assert!(rerun.is_ok(), "{t}: {rerun}");
        assert_eq!(
            outcome(&rerun, &t37),
            &Outcome::Applied(names(&["m3_add_pinned"])),
            "{t}"
        );
        assert_eq!(rerun.count(|o| *o == Outcome::UpToDate), 99, "{t}: {rerun}");

        // Stop at the first failure: with one at a time, tenants after t010
        // with work to do are not attempted (t011 forgets m3 too).
        tenant_ddl(&tenancy, &tenant(10), "CREATE TABLE poison (id INTEGER)")
            .await
            .expect("poison");
        for i in [10, 11] {
            // The crate's own table: admin work on the unconfined
            // transaction, never through a tenant connection (rule 12).
            tenant_ddl(
                &tenancy,
                &tenant(i),
                "DELETE FROM seaql_migrations WHERE version = 'm3_add_pinned'",
            )
            .await
            .expect("forget m3");
        }
        let stopped = tenancy
            .migrations()
            .migrator::<V3>()
            .concurrency(1)
            .up()
            .await
            .expect("up");
        assert!(
            matches!(outcome(&stopped, &tenant(10)), Outcome::Failed(_)),
            "{t}"
        );
        assert_eq!(outcome(&stopped, &tenant(9)), &Outcome::UpToDate, "{t}");
        assert_eq!(outcome(&stopped, &tenant(11)), &Outcome::Skipped, "{t}");
        // Postgres answers the up-to-date schemas from the catalog, so only
        // t011 is skipped there; elsewhere every tenant after t010 is.
        let skipped = if t.kind == Kind::Postgres { 1 } else { 90 };
        assert_eq!(
            stopped.count(|o| *o == Outcome::Skipped),
            skipped,
            "{t}: {stopped}"
        );
        assert!(!stopped.is_ok(), "{t}");

        deprovision_all(&tenancy).await;
        dbs.cleanup();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_with_several_pending_migrations_gets_all_or_none() {
    // Transactional DDL only: MySQL commits each migration as it goes.
    each_backend_of(&[Kind::Sqlite, Kind::Postgres], async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = tenancy(t, &dbs);
        provision(&tenancy, 2).await;
        tenant_ddl(&tenancy, &tenant(2), "CREATE TABLE poison2 (id INTEGER)")
            .await
            .expect("poison");
        let report = tenancy
            .migrations()
            .migrator::<V3Checked>()
            .keep_going()
            .up()
            .await
            .expect("up");
        assert_eq!(
            outcome(&report, &tenant(1)),
            &Outcome::Applied(names(&["m3_add_pinned", "m4_checkpoint"])),
            "{t}"
        );
        assert!(
            matches!(outcome(&report, &tenant(2)), Outcome::Failed(_)),
            "{t}"
        );
        // m3 succeeded in t002 before m4 failed: it rolled back with it.
        assert!(
            !has_pinned(&tenancy, &tenant(2)).await,
            "{t}: m3 rolled back"
        );
        assert_eq!(
            count(
                &tenancy,
                &tenant(2),
                "SELECT COUNT(*) FROM seaql_migrations"
            )
            .await,
            2,
            "{t}"
        );
        deprovision_all(&tenancy).await;
        dbs.cleanup();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_made_schema_is_reported_and_left_alone() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        // Provisioned without a migrator: an empty schema or database.
        let bare = level(t, &dbs, t.db.clone());
        let manual = TenantId::from("manual");
        bare.provision(&manual).await.expect("provision");
        tenant_ddl(
            &bare,
            &manual,
            "CREATE TABLE legacy (id INTEGER PRIMARY KEY)",
        )
        .await
        .expect("hand-made table");
        tenant_sql(&bare, &manual, "INSERT INTO legacy (id) VALUES (7)")
            .await
            .expect("hand-made row");

        let report = bare.migrations().migrator::<V2>().up().await.expect("up");
        assert_eq!(
            outcome(&report, &manual),
            &Outcome::Unmanaged { tables: 1 },
            "{t}"
        );
        assert!(!report.is_ok(), "{t}");
        // Untouched: the row is there, no version table was made.
        assert_eq!(
            count(&bare, &manual, "SELECT COUNT(*) FROM legacy").await,
            1,
            "{t}"
        );
        assert!(
            bookkeeping(&bare, &manual, "SELECT 1 FROM seaql_migrations")
                .await
                .is_err(),
            "{t}: no version table created"
        );
        assert!(
            tenant_sql(&bare, &manual, "SELECT 1 FROM note")
                .await
                .is_err(),
            "{t}: no migration ran"
        );
        bare.deprovision(&manual).await.expect("deprovision");
        dbs.cleanup();
    })
    .await;
}

// ---------------------------------------------------------------------------
// Concurrency.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_at_once_run_each_migration_once() {
    each_backend_of(&[Kind::Postgres, Kind::MySql], async |t: &TestDb| {
        let dbs = Databases::new(t);
        let first = tenancy(t, &dbs);
        provision(&first, 10).await;
        // A second app instance: its own Tenancy and pools.
        let second = tenancy(t, &dbs);
        let (one, two) = (
            first.migrations().migrator::<V3Slow>().concurrency(3),
            second.migrations().migrator::<V3Slow>().concurrency(3),
        );
        let (a, b) = tokio::join!(one.up(), two.up());
        let (a, b) = (a.expect("first"), b.expect("second"));
        assert!(a.is_ok() && b.is_ok(), "{t}: {a}\n{b}");
        for i in 1..=10 {
            let applied = [&a, &b]
                .iter()
                .filter(|r| matches!(outcome(r, &tenant(i)), Outcome::Applied(_)))
                .count();
            assert_eq!(applied, 1, "{t}: t{i:03} applied by exactly one runner");
            assert_eq!(
                count(
                    &first,
                    &tenant(i),
                    "SELECT COUNT(*) FROM note WHERE body = 'm3 ran'"
                )
                .await,
                1,
                "{t}: the migration ran once in t{i:03}"
            );
        }
        deprovision_all(&first).await;
        dbs.cleanup();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_to_date_schemas_are_answered_from_the_catalog_without_locking() {
    each_backend_of(&[Kind::Postgres], async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = tenancy(t, &dbs);
        provision(&tenancy, 3).await;
        // Another session holds t001's migration lock (a runner stuck there).
        let holder = t.db.begin().await.expect("begin");
        holder
            .execute_unprepared(&format!(
                "SELECT pg_advisory_xact_lock({})",
                lock_key("tenant_t001")
            ))
            .await
            .expect("lock");

        let noop = tenancy
            .migrations()
            .lock_wait(Duration::from_millis(500))
            .up()
            .await
            .expect("no-op");
        assert!(noop.is_ok(), "nothing pending: no lock taken: {noop}");
        assert_eq!(noop.count(|o| *o == Outcome::UpToDate), 3);

        // With work to do, the lock is honoured: t001 waits, times out, and
        // is reported; the others migrate.
        let blocked = tenancy
            .migrations()
            .migrator::<V3>()
            .keep_going()
            .lock_wait(Duration::from_millis(500))
            .up()
            .await
            .expect("up");
        assert!(
            matches!(outcome(&blocked, &tenant(1)), Outcome::Failed(_)),
            "{blocked}"
        );
        assert_eq!(blocked.count(|o| matches!(o, Outcome::Applied(_))), 2);
        drop(holder);
        let rerun = tenancy
            .migrations()
            .migrator::<V3>()
            .up()
            .await
            .expect("rerun");
        assert_eq!(
            outcome(&rerun, &tenant(1)),
            &Outcome::Applied(names(&["m3_add_pinned"]))
        );
        deprovision_all(&tenancy).await;
        dbs.cleanup();
    })
    .await;
}

/// The fast path reads the version tables a chunk of schemas at a time
/// (100), several chunks at once: each schema gets its own versions across
/// chunk boundaries, and no tenant with nothing to do takes its lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_schemas_are_answered_from_the_catalog_each_with_its_own_versions() {
    each_backend_of(&[Kind::Postgres], async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = tenancy(t, &dbs);
        let n = 230;
        let failed: Vec<String> = futures_util::stream::iter(1..=n)
            .map(|i| {
                let tenancy = &tenancy;
                async move {
                    tenancy
                        .provision(&tenant(i))
                        .await
                        .map_err(|e| e.to_string())
                }
            })
            .buffer_unordered(4)
            .filter_map(|r| std::future::ready(r.err()))
            .collect()
            .await;
        assert!(failed.is_empty(), "{failed:?}");
        // t150 (the second chunk) lost its second migration; t230 (the
        // third) records one the migrator does not know.
        tenant_ddl(&tenancy, &tenant(150), "DROP TABLE label")
            .await
            .expect("drop label");
        tenant_ddl(
            &tenancy,
            &tenant(150),
            "DELETE FROM seaql_migrations WHERE version = 'm2_create_label'",
        )
        .await
        .expect("forget m2");
        tenant_ddl(
            &tenancy,
            &tenant(230),
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m9_unknown', 0)",
        )
        .await
        .expect("record m9");
        // Another session holds every migration lock but t150's.
        let holder = t.db.begin().await.expect("begin");
        for i in (1..=n).filter(|&i| i != 150) {
            holder
                .execute_unprepared(&format!(
                    "SELECT pg_advisory_xact_lock({})",
                    lock_key(&format!("tenant_t{i:03}"))
                ))
                .await
                .expect("lock");
        }

        let report = tenancy
            .migrations()
            .concurrency(3)
            .keep_going()
            .lock_wait(Duration::from_millis(500))
            .up()
            .await
            .expect("up");
        drop(holder);
        for i in 1..=n {
            let got = outcome(&report, &tenant(i));
            match i {
                150 => assert_eq!(
                    got,
                    &Outcome::Applied(names(&["m2_create_label"])),
                    "t{i:03}"
                ),
                230 => assert!(
                    matches!(got, Outcome::Failed(e) if e.to_string().contains("`m9_unknown`")),
                    "t{i:03}: {got:?}"
                ),
                _ => assert_eq!(got, &Outcome::UpToDate, "t{i:03}: {report}"),
            }
        }
        let status = tenancy
            .migrations()
            .concurrency(3)
            .status()
            .await
            .expect("status");
        assert_eq!(
            status.count(|o| matches!(o, Outcome::Status { pending, .. } if pending.is_empty())),
            n - 1,
            "{status}"
        );
        deprovision_all(&tenancy).await;
        dbs.cleanup();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_outside_a_transaction_lands_in_the_tenant_schema() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        // A shared pool of ONE connection: any session state the run left
        // on it would show below.
        let one = match t.kind {
            Kind::Postgres => {
                let options = (*t.db.get_postgres_connection_pool().connect_options()).clone();
                let pool = sea_orm::sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .expect("a pool of one");
                sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
            }
            _ => t.db.clone(),
        };
        let tenancy = level(t, &dbs, one.clone()).with_migrator::<V2>();
        provision(&tenancy, 2).await;
        let report = tenancy.migrations().migrator::<V4>().up().await.expect("up");
        assert!(report.is_ok(), "{t}: {report}");
        assert_eq!(
            outcome(&report, &tenant(2)),
            &Outcome::Applied(names(&["m3_add_pinned", "m4_index_body"])),
            "{t}"
        );
        if t.kind == Kind::Postgres {
            for i in 1..=2 {
                let sql = format!(
                    "SELECT COUNT(*) AS n FROM pg_indexes WHERE schemaname = 'tenant_t{i:03}' AND indexname = 'note_body_idx'"
                );
                let row = t
                    .db
                    .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
                    .await
                    .expect("query")
                    .expect("row");
                assert_eq!(row.try_get::<i64>("", "n").expect("n"), 1, "index in tenant_t{i:03}");
            }
            assert!(
                t.db.query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT 1 FROM pg_indexes WHERE schemaname = 'public' AND indexname = 'note_body_idx'"
                ))
                .await
                .expect("query")
                .is_none(),
                "nothing in public"
            );
            // The session that ran CONCURRENTLY was the runner's own: the
            // shared connection keeps the server's search_path.
            let row = one
                .query_one_raw(Statement::from_string(DbBackend::Postgres, "SHOW search_path"))
                .await
                .expect("show")
                .expect("row");
            assert_eq!(
                row.try_get::<String>("", "search_path").expect("value"),
                "\"$user\", public"
            );
        }
        let down = tenancy
            .migrations()
            .migrator::<V4>()
            .down(Some(1))
            .await
            .expect("down");
        assert!(down.is_ok(), "{t}: {down}");
        deprovision_all(&tenancy).await;
        dbs.cleanup();
    })
    .await;
}

// ---------------------------------------------------------------------------
// The shared database: global tables and shared-schema tenants.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_database_runs_the_global_and_the_tenant_migrators_once() {
    each_backend(async |t: &TestDb| {
        let tenancy = Tenancy::shared_schema(t.db.clone()).with_migrator::<V2>();
        tenancy
            .provision(&TenantId::from("acme"))
            .await
            .expect("provision");
        tenancy
            .provision(&TenantId::from("globex"))
            .await
            .expect("provision");
        let report = tenancy
            .migrations()
            .migrator::<V3>()
            .global::<Global>()
            .up()
            .await
            .expect("up");
        assert!(report.is_ok(), "{t}: {report}");
        let targets: Vec<_> = report.targets.iter().map(|r| r.target.clone()).collect();
        assert_eq!(
            targets,
            [MigrationTarget::Global, MigrationTarget::Shared],
            "{t}"
        );
        assert_eq!(
            report.targets[0].outcome,
            Outcome::Applied(names(&["g1_create_country"])),
            "{t}"
        );
        assert_eq!(
            report.targets[1].outcome,
            Outcome::Applied(names(&["m3_add_pinned"])),
            "{t}"
        );
        let again = tenancy
            .migrations()
            .migrator::<V3>()
            .global::<Global>()
            .up()
            .await
            .expect("up");
        assert_eq!(again.count(|o| *o == Outcome::UpToDate), 2, "{t}: {again}");

        // Two migrators in one version table would corrupt each other.
        let clash = tenancy.migrations().global::<GlobalSameTable>().up().await;
        assert!(
            matches!(clash, Err(TenantError::Unsupported(_))),
            "{t}: {clash:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_without_a_migrator_or_a_tenant_list_are_refused() {
    for t in backends_of(&[Kind::Sqlite]).await {
        let dbs = Databases::new(&t);
        let no_migrator = Tenancy::schema_per_tenant(t.db.clone());
        assert!(matches!(
            no_migrator.migrations().up().await,
            Err(TenantError::Unsupported(_))
        ));
        let no_registry = Tenancy::database_per_tenant(dbs.url_for()).with_migrator::<V2>();
        assert!(matches!(
            no_registry.migrations().up().await,
            Err(TenantError::Unsupported(_))
        ));
        // With an explicit list it runs; an unknown tenant is reported.
        no_registry.provision(&tenant(1)).await.expect("provision");
        let report = no_registry
            .migrations()
            .only([tenant(1)])
            .migrator::<V3>()
            .up()
            .await
            .expect("up");
        assert!(report.is_ok(), "{report}");
        assert_eq!(
            outcome(&report, &tenant(1)),
            &Outcome::Applied(names(&["m3_add_pinned"]))
        );
        // With a registry, a listed tenant it does not know is that
        // tenant's failure; the others still run.
        let registered = Tenancy::database_per_tenant(dbs.url_for())
            .with_registry(t.db.clone())
            .with_migrator::<V2>();
        registered.provision(&tenant(2)).await.expect("provision");
        let ghost = TenantId::from("ghost");
        let report = registered
            .migrations()
            .migrator::<V3>()
            .keep_going()
            .only([ghost.clone(), tenant(2)])
            .up()
            .await
            .expect("up");
        assert!(
            matches!(
                outcome(&report, &ghost),
                Outcome::Failed(TenantError::UnknownTenant(_))
            ),
            "{report:?}"
        );
        assert_eq!(
            outcome(&report, &tenant(2)),
            &Outcome::Applied(names(&["m3_add_pinned"]))
        );
        registered
            .deprovision(&tenant(2))
            .await
            .expect("deprovision");
        no_registry
            .deprovision(&tenant(1))
            .await
            .expect("deprovision");
        dbs.cleanup();
        t.cleanup().await;
    }
}

// ---------------------------------------------------------------------------
// A runner killed halfway (a real process, killed with SIGKILL).

const KILL_URL: &str = "SOT_MIGRATE_KILL_URL";

/// The child process of `a_killed_runner_leaves_no_tenant_half_migrated`;
/// does nothing unless that test starts it.
#[tokio::test]
#[ignore = "started as a child process by a_killed_runner_leaves_no_tenant_half_migrated"]
async fn killed_runner_child() {
    let Ok(url) = std::env::var(KILL_URL) else {
        return;
    };
    let db = sea_orm::Database::connect(url).await.expect("connect");
    let tenancy = Tenancy::schema_per_tenant(db);
    let report = tenancy
        .migrations()
        .migrator::<V3Slow>()
        .concurrency(2)
        .up()
        .await;
    println!("child finished: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runner_leaves_no_tenant_half_migrated() {
    let Some(url) = server_url("a_killed_runner_leaves_no_tenant_half_migrated") else {
        return;
    };
    let name = common::unique_name();
    let server = sea_orm::Database::connect(url.clone())
        .await
        .expect("connect");
    server
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create database");
    let db_url = common::with_database(&url, &name);
    let db = sea_orm::Database::connect(db_url.clone())
        .await
        .expect("connect");
    let tenancy = own_tables(Tenancy::schema_per_tenant(db.clone())).with_migrator::<V2>();
    provision(&tenancy, 30).await;

    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["killed_runner_child", "--exact", "--ignored", "--nocapture"])
        .env(KILL_URL, &db_url)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the child runner");
    // Let it migrate a few tenants, then kill it in the middle of others.
    let migrated = |db: DatabaseConnection| async move {
        let mut n = 0;
        for i in 1..=30 {
            let sql = format!("SELECT to_regclass('tenant_t{i:03}.late') IS NOT NULL AS done");
            let row = db
                .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
                .await
                .expect("query")
                .expect("row");
            n += usize::from(row.try_get::<bool>("", "done").expect("bool"));
        }
        n
    };
    let mut waited = 0;
    while migrated(db.clone()).await < 4 && waited < 600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    child.kill().expect("kill the runner");
    let _ = child.wait();
    // Let the server notice the dead connection and finish its rollback.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = migrated(db.clone()).await;
    assert!(
        before < 30,
        "the runner was killed before the end ({before} done)"
    );
    println!("killed after {before} of 30 tenants");

    // Every tenant is either fully migrated or untouched.
    for i in 1..=30 {
        let t = tenant(i);
        let late = tenant_sql(&tenancy, &t, "SELECT 1 FROM late").await.is_ok();
        let ran = count(
            &tenancy,
            &t,
            "SELECT COUNT(*) FROM note WHERE body = 'm3 ran'",
        )
        .await;
        let recorded = count(
            &tenancy,
            &t,
            "SELECT COUNT(*) FROM seaql_migrations WHERE version = 'm3_slow_step'",
        )
        .await;
        assert!(
            (late, ran, recorded) == (true, 1, 1) || (late, ran, recorded) == (false, 0, 0),
            "t{i:03} half migrated: table {late}, rows {ran}, recorded {recorded}"
        );
    }
    // A rerun completes the rest, and only the rest.
    let rerun = tenancy
        .migrations()
        .migrator::<V3Slow>()
        .concurrency(4)
        .up()
        .await
        .expect("rerun");
    assert!(rerun.is_ok(), "{rerun}");
    assert_eq!(
        rerun.count(|o| matches!(o, Outcome::Applied(_))),
        30 - before,
        "{rerun}"
    );
    assert_eq!(migrated(db.clone()).await, 30);

    db.close().await.ok();
    server
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .expect("drop database");
}

fn server_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(!common::require_dbs(), "{test}: DATABASE_URL is not set");
            println!("skipped: {test} (DATABASE_URL not set)");
            None
        }
    }
}

/// The version ledger: a no-op run over schema per tenant reads one table
/// (`sea_orm_tenant_versions`) instead of every version table, and trusts
/// a row only while nothing can have changed the version table behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_ledger_is_trusted_only_while_nothing_changed_behind_it() {
    each_backend_of(&[Kind::Postgres], async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = tenancy(t, &dbs);
        provision(&tenancy, 4).await;
        let admin = |sql: &'static str| {
            let db = t.db.clone();
            async move {
                db.execute_unprepared(sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        };
        let rows = || async {
            t.db.query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) FROM public.sea_orm_tenant_versions",
            ))
            .await
            .expect("ledger")
            .expect("a row")
            .try_get_by_index::<i64>(0)
            .expect("a count")
        };
        // Provisioning recorded each schema's versions.
        assert_eq!(rows().await, 4);
        let both = Outcome::Status {
            applied: names(&["m1_create_note", "m2_create_label"]),
            pending: vec![],
        };
        let status = tenancy.migrations().status().await.expect("status");
        for i in 1..=4 {
            assert_eq!(outcome(&status, &tenant(i)), &both, "{status}");
        }

        // Changed behind the ledger: a hand-written DELETE (the trigger
        // forgets the row), a disabled trigger, a re-created version table.
        admin("DELETE FROM tenant_t001.seaql_migrations WHERE version = 'm2_create_label'").await;
        admin(
            "ALTER TABLE tenant_t002.seaql_migrations DISABLE TRIGGER sea_orm_tenant_versions; \
             DELETE FROM tenant_t002.seaql_migrations WHERE version = 'm2_create_label'",
        )
        .await;
        admin(
            "CREATE TABLE tenant_t003.v (LIKE tenant_t003.seaql_migrations INCLUDING ALL); \
             INSERT INTO tenant_t003.v SELECT * FROM tenant_t003.seaql_migrations \
               WHERE version = 'm1_create_note'; \
             ALTER TABLE tenant_t003.seaql_migrations RENAME TO old; \
             ALTER TABLE tenant_t003.v RENAME TO seaql_migrations",
        )
        .await;
        assert_eq!(rows().await, 3, "the trigger forgot t001's row");
        let one = Outcome::Status {
            applied: names(&["m1_create_note"]),
            pending: names(&["m2_create_label"]),
        };
        let status = tenancy.migrations().status().await.expect("status");
        for i in 1..=3 {
            assert_eq!(outcome(&status, &tenant(i)), &one, "t00{i}: {status}");
        }
        assert_eq!(outcome(&status, &tenant(4)), &both, "{status}");

        // Put right by hand, then a migration records every schema again.
        for i in 1..=3 {
            t.db.execute_unprepared(&format!(
                "INSERT INTO tenant_t00{i}.seaql_migrations VALUES ('m2_create_label', 0)"
            ))
            .await
            .expect("put right");
        }
        admin("ALTER TABLE tenant_t002.seaql_migrations ENABLE TRIGGER sea_orm_tenant_versions")
            .await;
        let up = tenancy
            .migrations()
            .migrator::<V3>()
            .up()
            .await
            .expect("up");
        assert_eq!(up.count(|o| matches!(o, Outcome::Applied(_))), 4, "{up}");
        assert_eq!(rows().await, 4);
        let status = tenancy
            .migrations()
            .migrator::<V3>()
            .status()
            .await
            .expect("status");
        assert_eq!(
            status.count(|o| matches!(o, Outcome::Status { pending, .. } if pending.is_empty())),
            4,
            "{status}"
        );

        // The crate's ledger and its trigger function are refused through
        // a tenant connection (rule 12, deny by default).
        for sql in [
            "SELECT * FROM sea_orm_tenant_versions",
            "SELECT * FROM public.sea_orm_tenant_versions",
            "DELETE FROM public.SEA_ORM_TENANT_VERSIONS",
            "SELECT public.sea_orm_tenant_versions_changed()",
        ] {
            assert!(
                tenant_sql(&tenancy, &tenant(4), sql).await.is_err(),
                "{sql}"
            );
        }
        // Deprovision forgets the schema's row.
        tenancy.deprovision(&tenant(1)).await.expect("deprovision");
        assert_eq!(rows().await, 3);
        deprovision_all(&tenancy).await;
        assert_eq!(rows().await, 0);
        dbs.cleanup();
    })
    .await;
}
