//! Errors and reports people can read (issue 23, points 7 and 9): a
//! migration report names each failed tenant and why, a tenant error is
//! one sentence, `007` is explained, and a tenant transaction commits
//! without an extra import.

mod common;

use sea_orm::sea_query::ColumnType;
use sea_orm::{ConnectionTrait, DbErr, TransactionTrait};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::migration::Outcome;
use sea_orm_tenant::prelude::*;

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
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
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

struct CreateLate;
impl MigrationName for CreateLate {
    fn name(&self) -> &str {
        "m2_create_late"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for CreateLate {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("late")
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .to_owned(),
            )
            .await
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("late").to_owned())
            .await
    }
}

struct V1;
impl MigratorTrait for V1 {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateNote)]
    }
}

struct V2;
impl MigratorTrait for V2 {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateNote), Box::new(CreateLate)]
    }
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(common::unique_name());
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

#[tokio::test]
async fn a_migration_report_names_each_failed_tenant_and_its_cause() {
    let dir = temp_dir();
    let tenancy = Tenancy::sqlite_files(&dir)
        .global_table_named("note")
        .global_table_named("late")
        .with_migrator::<V1>();
    for t in ["acme", "globex", "initech"] {
        tenancy
            .provision(&TenantId::from(t))
            .await
            .expect("provision");
    }
    // globex already has a table `late`: m2 fails there, and only there.
    let conn = tenancy
        .connection(&TenantId::from("globex"))
        .await
        .expect("globex");
    let txn = conn.begin().await.expect("begin");
    txn.unconfined()
        .execute_unprepared("CREATE TABLE late (x INTEGER)")
        .await
        .expect("poison");
    txn.commit().await.expect("commit");

    let report = tenancy
        .migrations()
        .migrator::<V2>()
        .only(["acme", "globex", "initech"].map(TenantId::from))
        .keep_going()
        .up()
        .await
        .expect("up");
    assert_eq!(report.count(Outcome::is_failure), 1, "{report}");
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("2 changed") && lines[0].contains("1 failed"),
        "{text}"
    );
    // One line per failure: the target, where it lives, and the cause
    // (the database's own message), not only a count.
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].starts_with("  tenant `globex` (its own database): failed: "),
        "{text}"
    );
    assert!(lines[1].contains("already exists"), "{text}");
    assert!(lines[1].contains("while migrating"), "{text}");
    assert!(!text.contains("Error converting"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tenant_error_in_a_db_err_reads_as_its_own_sentence() {
    let err: DbErr = TenantError::UnknownTenant("acme".into()).into();
    assert_eq!(TenantError::describe(&err), "tenant: unknown tenant `acme`");
    // `?` still finds it by type on the way back.
    assert_eq!(
        TenantError::from(err),
        TenantError::UnknownTenant("acme".into())
    );
    // A database error whose cause carries a tenant error says the sentence.
    let wrapped = TenantError::Database {
        context: "opening the tenant's pool".into(),
        source: TenantError::Busy {
            tenant: "acme".into(),
            limit: 2,
        }
        .into(),
    };
    assert_eq!(
        wrapped.to_string(),
        "tenant: database error while opening the tenant's pool: \
         tenant: busy: tenant `acme` already has 2 database operations in flight (its cap)"
    );
}

#[test]
fn zero_led_ids_are_explained() {
    let err = TenantId::from("007")
        .to_value_for(&ColumnType::Integer, "org_ledger", "org_id")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains(
            "`007` is not the canonical spelling of 7; integer tenant ids have no leading zeros"
        ),
        "{err}"
    );
    // From outside, refused before any column is asked, saying why even a
    // text tenant column does not take it.
    let parsed = TenantId::parse("007")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(parsed.contains("not the canonical spelling"), "{parsed}");
    assert!(parsed.contains("even for a text tenant column"), "{parsed}");
}

/// `TenantTransaction::commit` and `rollback` need no import of SeaORM's
/// `TransactionSession` (this file imports none).
#[tokio::test]
async fn a_tenant_transaction_commits_without_an_extra_import() {
    let db = sea_orm::Database::connect("sqlite::memory:")
        .await
        .expect("sqlite");
    let conn = TenantConnection::new(db, TenantId::from("acme"));
    let txn = conn.begin().await.expect("begin");
    txn.commit().await.expect("commit");
    let txn = conn.begin().await.expect("begin");
    let nested = txn.begin().await.expect("savepoint");
    nested.rollback().await.expect("rollback to savepoint");
    txn.rollback().await.expect("rollback");
}
