//! The migration command (`cli::run_cli_from`) driven with arguments:
//! SQLite files (a database per tenant) always, Postgres schema per tenant
//! when DATABASE_URL is set. Provision, list, status, down, up, a failing
//! tenant (exit code 1, the report names it and the cause), deprovision,
//! fresh, and bad arguments (exit code 2).

mod common;

use common::{Databases, Kind, TestDb, backends_of};
use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;
use sea_orm_tenant::cli::{CliOutcome, TenantCli};
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

/// Adds `note.pinned`, then fails where a table named `poison` exists.
struct AddPinned;
impl MigrationName for AddPinned {
    fn name(&self) -> &str {
        "m2_add_pinned"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for AddPinned {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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

struct Migrator;
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateNote), Box::new(AddPinned)]
    }
}

/// Runs `migrate <args>` and returns the outcome.
async fn migrate(cli: &TenantCli, args: &[&str]) -> CliOutcome {
    cli.run_from(std::iter::once("migrate").chain(args.iter().copied()))
        .await
}

/// The tenancy of `t`: SQLite files in `dbs`, or Postgres schemas.
fn tenancy(t: &TestDb, dbs: &Databases) -> Tenancy {
    match t.kind {
        Kind::Postgres => Tenancy::schema_per_tenant(t.db.clone()),
        _ => Tenancy::database_per_tenant(dbs.url_for()).with_registry(t.db.clone()),
    }
}

/// Makes `tenant`'s next `m2_add_pinned` fail.
async fn poison(t: &TestDb, dbs: &Databases, tenant: &str) {
    match t.kind {
        Kind::Postgres => {
            t.db.execute_unprepared(&format!(
                "CREATE TABLE \"tenant_{tenant}\".poison (id integer)"
            ))
            .await
            .expect("poison");
        }
        _ => {
            let url = (dbs.url_for())(&TenantId::from(tenant));
            let db = sea_orm::Database::connect(url)
                .await
                .expect("open the file");
            db.execute_unprepared("CREATE TABLE poison (id integer)")
                .await
                .expect("poison");
            db.close().await.ok();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_migrates_provisions_and_reports_every_tenant() {
    for t in backends_of(&[Kind::Sqlite, Kind::Postgres]).await {
        let dbs = Databases::new(&t);
        let cli = TenantCli::new(tenancy(&t, &dbs), Migrator);

        let provisioned = migrate(&cli, &["provision", "acme", "globex", "initech"]).await;
        assert!(provisioned.is_success(), "{t}: {provisioned}");
        assert!(
            provisioned.output().contains("acme: provisioned"),
            "{t}: {provisioned}"
        );
        assert!(
            provisioned
                .output()
                .contains("provisioned 3 of 3 tenant(s)"),
            "{t}: {provisioned}"
        );

        let listed = migrate(&cli, &["list"]).await;
        assert!(listed.is_success(), "{t}: {listed}");
        for tenant in ["acme", "globex", "initech"] {
            assert!(listed.output().contains(tenant), "{t}: {listed}");
        }
        assert!(listed.output().contains("3 tenant(s)"), "{t}: {listed}");

        let status = migrate(&cli, &["status"]).await;
        assert!(status.is_success(), "{t}: {status}");
        assert_eq!(status.reports().len(), 1);
        assert!(
            status.reports()[0].targets.iter().all(|r| matches!(
                &r.outcome,
                Outcome::Status { pending, .. } if pending.is_empty()
            ) || r.outcome == Outcome::UpToDate),
            "{t}: {status}"
        );

        let down = migrate(&cli, &["down", "-n", "1"]).await;
        assert!(down.is_success(), "{t}: {down}");
        assert!(
            down.output()
                .lines()
                .any(|l| l.contains("`globex`") && l.contains(": rolled back m2_add_pinned")),
            "{t}: {down}"
        );
        let pending = migrate(&cli, &["status"]).await;
        assert!(
            pending
                .output()
                .lines()
                .any(|l| l.contains("`acme`")
                    && l.contains(": 1 applied, 1 pending (m2_add_pinned)")),
            "{t}: {pending}"
        );

        // A failing tenant: exit code 1, the report names it and the cause;
        // with --keep-going the others migrate.
        poison(&t, &dbs, "globex").await;
        let up = migrate(&cli, &["up", "--keep-going"]).await;
        assert_eq!(up.code(), 1, "{t}: {up}");
        assert!(!up.is_success());
        let failure = up
            .output()
            .lines()
            .find(|l| l.contains("`globex`") && l.contains("failed"))
            .unwrap_or_else(|| panic!("{t}: no failure line for globex in:\n{up}"));
        assert!(failure.contains("poisoned tenant"), "{t}: {failure}");
        assert!(
            up.output()
                .lines()
                .any(|l| l.contains("`acme`") && l.contains(": applied m2_add_pinned")),
            "{t}: {up}"
        );
        assert!(
            up.output()
                .lines()
                .any(|l| l.contains("`initech`") && l.contains(": applied m2_add_pinned")),
            "{t}: {up}"
        );
        assert_eq!(
            std::process::ExitCode::from(up.clone()),
            std::process::ExitCode::from(1)
        );

        // Remove the broken tenant; the rest is up to date.
        let removed = migrate(&cli, &["deprovision", "globex"]).await;
        assert!(removed.is_success(), "{t}: {removed}");
        assert!(
            removed.output().contains("globex: deprovisioned"),
            "{t}: {removed}"
        );
        let listed = migrate(&cli, &["list"]).await;
        assert!(!listed.output().contains("globex"), "{t}: {listed}");
        let again = migrate(&cli, &["up"]).await;
        assert!(again.is_success(), "{t}: {again}");
        assert!(again.output().contains("0 failed"), "{t}: {again}");

        // fresh: everything rolled back, then applied again.
        let fresh = migrate(&cli, &["fresh"]).await;
        assert!(fresh.is_success(), "{t}: {fresh}");
        assert_eq!(fresh.reports().len(), 2, "{t}: {fresh}");
        assert!(
            fresh.output().lines().any(|l| l.contains("`acme`")
                && l.contains(": rolled back m2_add_pinned, m1_create_note")),
            "{t}: {fresh}"
        );
        assert!(
            fresh
                .output()
                .lines()
                .any(|l| l.contains("`acme`")
                    && l.contains(": applied m1_create_note, m2_add_pinned")),
            "{t}: {fresh}"
        );

        // Bad input never reaches the database: exit code 2.
        let bad = migrate(&cli, &["provision", "Acme Corp!"]).await;
        assert_eq!(bad.code(), 2, "{t}: {bad}");
        assert!(
            bad.error_message()
                .is_some_and(|m| m.contains("invalid tenant id")),
            "{t}: {bad}"
        );
        assert_eq!(migrate(&cli, &["sideways"]).await.code(), 2);
        let help = migrate(&cli, &["--help"]).await;
        assert!(
            help.is_success() && help.output().contains("provision"),
            "{help}"
        );

        // A provision that fails is that tenant's failure (code 1), not the command's.
        let unsafe_name = migrate(&cli, &["provision", "Bad"]).await;
        assert_eq!(unsafe_name.code(), 1, "{t}: {unsafe_name}");
        assert!(
            unsafe_name.output().contains("Bad: failed: "),
            "{t}: {unsafe_name}"
        );

        for tenant in ["acme", "initech"] {
            cli.tenancy()
                .deprovision(&TenantId::from(tenant))
                .await
                .expect("deprovision");
        }
        dbs.cleanup();
        t.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_start_exits_with_2() {
    for t in backends_of(&[Kind::Sqlite]).await {
        let dbs = Databases::new(&t);
        // No registry: a database-per-tenant tenancy cannot list its tenants.
        let cli = TenantCli::new(Tenancy::database_per_tenant(dbs.url_for()), Migrator);
        let up = migrate(&cli, &["up"]).await;
        assert_eq!(up.code(), 2, "{up}");
        assert!(
            up.error_message()
                .is_some_and(|m| m.contains("cannot list its tenants")),
            "{up}"
        );
        dbs.cleanup();
        t.cleanup().await;
    }
}
