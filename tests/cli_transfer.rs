//! `export`, `import` and `erase` of the migration command
//! (`cli::TenantCli`), on every backend: the final reports, the refusals
//! and their exit codes.

mod common;

use common::{Kind, acme, each_backend_of, unique_name};
use sea_orm::ActiveValue::Set;
use sea_orm::{EntityTrait, QueryOrder, Schema};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::cli::{CliOutcome, TenantCli};
use sea_orm_tenant::prelude::*;

mod cx_note {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cx_note")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: String,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl sea_orm_tenant::TenantEntity for Entity {
        fn tenant_column() -> Column {
            Column::TenantId
        }
    }
}

struct CreateNote;
impl MigrationName for CreateNote {
    fn name(&self) -> &str {
        "m1_create_cx_note"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for CreateNote {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(schema.create_table_from_entity(cx_note::Entity).to_owned())
            .await
    }
}

struct Migrator;
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateNote)]
    }
}

async fn migrate(cli: &TenantCli, args: &[&str]) -> CliOutcome {
    cli.run_from(std::iter::once("migrate").chain(args.iter().copied()))
        .await
}

async fn notes(tenancy: &Tenancy, tenant: &TenantId) -> Vec<String> {
    let conn = tenancy.connection(tenant).await.unwrap();
    cx_note::Entity::find()
        .order_by_asc(cx_note::Column::Id)
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.body)
        .collect()
}

#[tokio::test]
async fn export_erase_and_import_from_the_command_line() {
    each_backend_of(&[Kind::Sqlite, Kind::Postgres, Kind::MySql], async |t| {
        let tenancy = Tenancy::shared_schema(t.db.clone()).tenant_table::<cx_note::Entity>();
        let cli = TenantCli::new(tenancy, Migrator);
        let tenancy = cli.tenancy().clone();
        let acme = acme();
        let out = migrate(&cli, &["provision", "acme"]).await;
        assert!(out.is_success(), "{t}: {out}");
        let conn = tenancy.connection(&acme).await.unwrap();
        for body in ["first", "zweite Notiz ✓"] {
            cx_note::Entity::insert(cx_note::ActiveModel {
                body: Set(body.into()),
                ..Default::default()
            })
            .exec(&conn)
            .await
            .unwrap();
        }
        drop(conn);
        let before = notes(&tenancy, &acme).await;

        let dir = std::env::temp_dir().join(unique_name());
        let dir_arg = dir.to_str().unwrap();
        let out = migrate(&cli, &["export", "acme", dir_arg]).await;
        assert!(out.is_success(), "{t}: {out}");
        assert!(out.output().starts_with("tenant `acme` exported to "), "{t}: {out}");
        assert!(out.output().contains("2 rows of `cx_note`"), "{t}: {out}");
        let again = migrate(&cli, &["export", "acme", dir_arg]).await;
        assert!(!again.is_success(), "{t}: {again}");
        assert!(
            again.error_message().is_some_and(|e| e.contains("already holds an export")),
            "{t}: {again}"
        );

        let out = migrate(&cli, &["erase", "acme"]).await;
        assert!(out.is_success(), "{t}: {out}");
        assert!(
            out.output().contains("acme: tenant `acme` erased: deprovisioned (shared schema): 2 rows from `cx_note`; checked afterwards: no registry row, nothing cached, 0 rows in "),
            "{t}: {out}"
        );
        assert!(out.output().contains("erased 1 of 1 tenant(s)"), "{t}: {out}");
        let out = migrate(&cli, &["erase", "acme"]).await;
        assert!(out.is_success(), "{t}: {out}");
        assert!(out.output().contains("nothing was left to erase"), "{t}: {out}");

        // Into a tenant not provisioned: refused.
        let out = migrate(&cli, &["import", "acme", dir_arg]).await;
        assert!(!out.is_success(), "{t}: {out}");
        assert!(out.error_message().is_some_and(|e| e.contains("unknown tenant")), "{t}: {out}");

        assert!(migrate(&cli, &["provision", "acme"]).await.is_success(), "{t}");
        let out = migrate(&cli, &["import", "acme", dir_arg]).await;
        assert!(out.is_success(), "{t}: {out}");
        // (`handle`, declared by the test harness for the whole binary, is
        // exported and imported too, empty.)
        assert!(
            out.output().starts_with("tenant `acme` imported: 2 rows of `cx_note`"),
            "{t}: {out}"
        );
        assert_eq!(notes(&tenancy, &acme).await, before, "{t}");

        let out = migrate(&cli, &["import", "acme", dir_arg]).await;
        assert!(!out.is_success(), "{t}: {out}");
        assert!(
            out.error_message().is_some_and(|e| e.contains("import needs an empty tenant")),
            "{t}: {out}"
        );
        let missing = dir.join("missing");
        let out = migrate(&cli, &["import", "acme", missing.to_str().unwrap()]).await;
        assert!(!out.is_success(), "{t}: {out}");
        assert!(
            out.error_message().is_some_and(|e| e.contains("reading the manifest")),
            "{t}: {out}"
        );
        assert_eq!(notes(&tenancy, &acme).await, before, "{t}");
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

#[tokio::test]
async fn move_from_the_command_line() {
    each_backend_of(&[Kind::Sqlite, Kind::Postgres, Kind::MySql], async |t| {
        let dbs = common::Databases::new(t);
        let tenancy = Tenancy::shared_schema(t.db.clone())
            .with_databases(dbs.url_for())
            .tenant_table::<cx_note::Entity>();
        let cli = TenantCli::new(tenancy, Migrator);
        let tenancy = cli.tenancy().clone();
        let acme = acme();
        assert!(
            migrate(&cli, &["provision", "acme"]).await.is_success(),
            "{t}"
        );
        let conn = tenancy.connection(&acme).await.unwrap();
        for body in ["first", "second"] {
            cx_note::Entity::insert(cx_note::ActiveModel {
                body: Set(body.into()),
                ..Default::default()
            })
            .exec(&conn)
            .await
            .unwrap();
        }
        drop(conn);

        let out = migrate(
            &cli,
            &["move", "acme", "database_per_tenant", "--pause", "3"],
        )
        .await;
        assert!(out.is_success(), "{t}: {out}");
        assert!(
            out.output().starts_with(
                "tenant `acme` moved from shared_schema on main to database_per_tenant on main: "
            ),
            "{t}: {out}"
        );
        assert!(
            out.output().contains("\n  cx_note: 2 rows, checksum "),
            "{t}: {out}"
        );
        assert_eq!(notes(&tenancy, &acme).await, ["first", "second"], "{t}");
        let out = migrate(&cli, &["list"]).await;
        assert!(
            out.output().contains("acme  database_per_tenant\n"),
            "{t}: {out}"
        );

        // Refusals: a server the tenancy does not have, nothing to resume.
        let out = migrate(
            &cli,
            &["move", "acme", "shared_schema", "--server", "nowhere"],
        )
        .await;
        assert!(!out.is_success(), "{t}: {out}");
        assert!(
            out.error_message()
                .is_some_and(|e| e.contains("no server `nowhere`")),
            "{t}: {out}"
        );
        let out = migrate(&cli, &["move", "acme", "--rollback"]).await;
        assert!(out.output().contains("has no pending move"), "{t}: {out}");
        let out = migrate(&cli, &["move", "acme", "--resume"]).await;
        assert!(!out.is_success(), "{t}: {out}");

        let out = migrate(&cli, &["move", "acme", "shared_schema"]).await;
        assert!(out.is_success(), "{t}: {out}");
        assert_eq!(notes(&tenancy, &acme).await, ["first", "second"], "{t}");
        assert!(!dbs.exists(t, "acme").await, "{t}");
        assert!(migrate(&cli, &["erase", "acme"]).await.is_success(), "{t}");
        dbs.cleanup();
    })
    .await;
}
