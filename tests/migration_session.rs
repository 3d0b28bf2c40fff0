//! A migration's session settings never stay on the shared pool (issue
//! 13): a tenant migration that runs plain `SET`s leaves the pool's
//! connection as it found it, on Postgres (shared schema and schema per
//! tenant) and MySQL/MariaDB, on a pool of ONE connection so that the next
//! statement is sure to get the migrated connection.

mod common;

use common::{Kind, TestDb, each_backend_of};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::prelude::*;

/// Session-level changes of every kind a migration could make.
const PG_SETS: &str = "SET statement_timeout = '123s'; SET lock_timeout = '1ms'; \
     SET work_mem = '7MB'; SET app.tenant_id = 'evil'";
const MYSQL_SETS: &str = "SET SESSION lock_wait_timeout = 7, SESSION sql_mode = 'ANSI_QUOTES', \
     @leftover = 'evil'";

struct SetThings;
impl MigrationName for SetThings {
    fn name(&self) -> &str {
        "m1_set_things"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for SetThings {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let sql = match db.get_database_backend() {
            DbBackend::Postgres => PG_SETS,
            _ => MYSQL_SETS,
        };
        db.execute_unprepared("CREATE TABLE IF NOT EXISTS marker (id INT PRIMARY KEY)")
            .await?;
        db.execute_unprepared(sql).await?;
        Ok(())
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE marker").await?;
        db.execute_unprepared(match db.get_database_backend() {
            DbBackend::Postgres => PG_SETS,
            _ => MYSQL_SETS,
        })
        .await?;
        Ok(())
    }
}

struct Migrator;
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(SetThings)]
    }
}

/// The settings a migration above changes, as the pool's next statement
/// sees them.
async fn settings(db: &DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT current_setting('statement_timeout') || ' ' || current_setting('lock_timeout') \
             || ' ' || current_setting('work_mem') \
             || ' [' || coalesce(current_setting('app.tenant_id', true), '') || ']'"
        }
        _ => {
            "SELECT CONCAT(@@SESSION.lock_wait_timeout, ' ', @@SESSION.sql_mode, ' [', \
             IFNULL(@leftover, ''), ']')"
        }
    };
    let mut seen = Vec::new();
    // Every connection of the pool (there is one): ask a few times.
    for _ in 0..3 {
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .expect("settings")
            .expect("a row");
        seen.push(row.try_get_by_index::<String>(0).expect("text"));
    }
    seen
}

#[tokio::test]
async fn a_migrations_session_settings_do_not_stay_on_the_shared_pool() {
    each_backend_of(&[Kind::Postgres, Kind::MySql], async |t: &TestDb| {
        let db = t.pool_of(1).await;
        let before = settings(&db).await;
        let mut tenancies = vec![Tenancy::shared_schema(db.clone()).with_migrator::<Migrator>()];
        if t.kind == Kind::Postgres {
            tenancies.push(Tenancy::schema_per_tenant(db.clone()).with_migrator::<Migrator>());
        }
        for tenancy in &tenancies {
            let acme = TenantId::from("acme");
            tenancy.provision(&acme).await.expect("provision");
            assert_eq!(settings(&db).await, before, "{t}: after provision");
            let report = tenancy.migrations().down(None).await.expect("down");
            assert!(report.is_ok(), "{t}: {report}");
            assert_eq!(settings(&db).await, before, "{t}: after down");
            let report = tenancy.migrations().up().await.expect("up");
            assert!(report.is_ok(), "{t}: {report}");
            assert_eq!(settings(&db).await, before, "{t}: after up");
            tenancy.deprovision(&acme).await.expect("deprovision");
        }
        db.close().await.ok();
    })
    .await;
}
