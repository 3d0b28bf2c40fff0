//! One declaration is the whole truth (issue 23, point 1): tables declared
//! only with `tenant_entity!` are erased by `deprovision`, which says what
//! it removed, table by table, and whether the tenant existed.

mod common;

use common::{Kind, TestDb, acme, each_backend_of, globex, unique_name};
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Statement};
use sea_orm_tenant::Removed;
use sea_orm_tenant::prelude::*;

/// A parent table, declared only with `tenant_entity!`.
mod dp_project {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "dp_project")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: String,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    sea_orm_tenant::tenant_entity!(Entity => Column::TenantId);
}

/// A child of `dp_project` through a composite foreign key: it sorts after
/// its parent, so a delete in name order meets the key first.
mod dp_task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "dp_task")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: String,
        pub project_id: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    sea_orm_tenant::tenant_entity!(Entity => Column::TenantId);
}

async fn create_tables(db: &impl ConnectionTrait) {
    let (id, text) = match db.get_database_backend() {
        DbBackend::Postgres => ("serial PRIMARY KEY", "text"),
        DbBackend::MySql => ("int AUTO_INCREMENT PRIMARY KEY", "varchar(63)"),
        _ => ("integer PRIMARY KEY AUTOINCREMENT", "text"),
    };
    for sql in [
        format!(
            "CREATE TABLE dp_project (id {id}, tenant_id {text} NOT NULL, name {text} NOT NULL, \
             UNIQUE (tenant_id, id))"
        ),
        format!(
            "CREATE TABLE dp_task (id {id}, tenant_id {text} NOT NULL, project_id int NOT NULL, \
             FOREIGN KEY (tenant_id, project_id) REFERENCES dp_project (tenant_id, id))"
        ),
    ] {
        db.execute_unprepared(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Two projects with three tasks between them, written with plain SeaORM
/// through the tenant's connection.
async fn plant(tenancy: &Tenancy, tenant: &TenantId) {
    let conn = tenancy.connection(tenant).await.unwrap();
    for name in ["a", "b"] {
        let project = dp_project::ActiveModel {
            name: Set(name.to_owned()),
            ..Default::default()
        };
        let id = dp_project::Entity::insert(project)
            .exec(&conn)
            .await
            .unwrap()
            .last_insert_id;
        let tasks = if name == "a" { 2 } else { 1 };
        for _ in 0..tasks {
            let task = dp_task::ActiveModel {
                project_id: Set(id),
                ..Default::default()
            };
            dp_task::Entity::insert(task).exec(&conn).await.unwrap();
        }
    }
}

/// Rows of `tenant` in `table`, counted on the owner's connection.
async fn rows(t: &TestDb, table: &str, tenant: &TenantId) -> i64 {
    let sql = match t.backend() {
        DbBackend::Postgres => format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"),
        _ => format!("SELECT count(*) FROM {table} WHERE tenant_id = ?"),
    };
    let row =
        t.db.query_one_raw(Statement::from_sql_and_values(
            t.backend(),
            sql,
            [tenant.to_string().into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn deprovision_erases_every_table_declared_only_with_the_macro() {
    each_backend_of(&[Kind::Sqlite, Kind::Postgres, Kind::MySql], async |t| {
        create_tables(&t.db).await;
        // No `tenant_table` call: the macro is the only declaration.
        let tenancy = Tenancy::shared_schema(t.db.clone());
        let (acme, globex) = (acme(), globex());
        for tenant in [&acme, &globex] {
            tenancy.provision(tenant).await.unwrap();
            plant(&tenancy, tenant).await;
        }

        let report = tenancy.deprovision(&acme).await.unwrap();
        assert!(report.existed, "{t}: {report}");
        assert_eq!(report.recorded, Some(Placement::SharedSchema), "{t}");
        let [Removed::Rows(tables)] = report.removed.as_slice() else {
            panic!("{t}: one shared place expected: {report:?}");
        };
        let counts: Vec<(&str, u64)> = tables.iter().map(|r| (r.table.as_str(), r.rows)).collect();
        assert_eq!(counts, [("dp_project", 2), ("dp_task", 3)], "{t}");
        assert_eq!(
            report.to_string(),
            "tenant `acme` deprovisioned (shared schema): 2 rows from `dp_project`, \
             3 rows from `dp_task`",
            "{t}"
        );
        for table in ["dp_project", "dp_task"] {
            assert_eq!(rows(t, table, &acme).await, 0, "{t}: acme's {table}");
        }
        assert_eq!(rows(t, "dp_project", &globex).await, 2, "{t}: globex kept");
        assert_eq!(rows(t, "dp_task", &globex).await, 3, "{t}: globex kept");

        // Provisioned again, the id starts empty.
        tenancy.provision(&acme).await.unwrap();
        let conn = tenancy.connection(&acme).await.unwrap();
        assert!(
            dp_task::Entity::find().all(&conn).await.unwrap().is_empty(),
            "{t}"
        );
        drop(conn);
        tenancy.deprovision(&acme).await.unwrap();

        // A second call says there was nothing left.
        let again = tenancy.deprovision(&acme).await.unwrap();
        assert!(!again.existed, "{t}: {again}");
        assert_eq!(again.rows(), 0, "{t}");
        assert_eq!(
            again.to_string(),
            "tenant `acme` was not provisioned: nothing of it was found",
            "{t}"
        );
    })
    .await;
}

#[tokio::test]
async fn deprovision_of_an_id_never_provisioned_says_so() {
    each_backend_of(&[Kind::Sqlite, Kind::Postgres, Kind::MySql], async |t| {
        create_tables(&t.db).await;
        let tenancy = Tenancy::shared_schema(t.db.clone());
        tenancy.provision(&acme()).await.unwrap();
        plant(&tenancy, &acme()).await;
        let ghost = TenantId::from("ghost");
        // An integer tenant table beside the text ones: `ghost` cannot be
        // in it, so it holds nothing of `ghost` (and is no error).
        let tenancy = tenancy.tenant_table::<common::ledger::Entity>();
        let report = tenancy.deprovision(&ghost).await.unwrap();
        assert!(!report.existed, "{t}: {report}");
        assert_eq!(report.recorded, None, "{t}");
        assert_eq!(report.rows(), 0, "{t}");
        assert_eq!(rows(t, "dp_task", &acme()).await, 3, "{t}: acme untouched");
    })
    .await;
}

#[tokio::test]
async fn deprovision_reports_the_schema_it_dropped() {
    each_backend_of(&[Kind::Postgres], async |t| {
        let tenancy = Tenancy::schema_per_tenant(t.db.clone());
        let acme = acme();
        tenancy.provision(&acme).await.unwrap();
        let schema = "tenant_acme";
        // The tenant's own copy of the tables, in its schema.
        let owner = t.pool_of(1).await;
        owner
            .execute_unprepared(&format!("SET search_path TO \"{schema}\""))
            .await
            .unwrap();
        create_tables(&owner).await;
        owner.close().await.unwrap();
        plant(&tenancy, &acme).await;

        let report = tenancy.deprovision(&acme).await.unwrap();
        assert!(report.existed, "{report}");
        let [Removed::Schema { name, rows }] = report.removed.as_slice() else {
            panic!("one schema expected: {report:?}");
        };
        assert_eq!(name, schema);
        let counts: Vec<(&str, u64)> = rows.iter().map(|r| (r.table.as_str(), r.rows)).collect();
        assert_eq!(counts, [("dp_project", 2), ("dp_task", 3)]);
        assert_eq!(
            report.to_string(),
            format!(
                "tenant `acme` deprovisioned (schema per tenant): dropped schema `{name}` \
                 (2 rows in `dp_project`, 3 rows in `dp_task`)"
            )
        );
        let again = tenancy.deprovision(&acme).await.unwrap();
        assert!(!again.existed, "{again}");
        assert!(again.removed.is_empty(), "{again:?}");
    })
    .await;
}

#[tokio::test]
async fn deprovision_reports_the_file_it_removed() {
    let dir = std::env::temp_dir().join(unique_name());
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.clone();
    let tenancy = Tenancy::database_per_tenant(move |tenant: &TenantId| {
        format!(
            "sqlite://{}?mode=rwc",
            base.join(format!("{tenant}.db")).display()
        )
    });
    let acme = acme();
    tenancy.provision(&acme).await.unwrap();
    let report = tenancy.deprovision(&acme).await.unwrap();
    assert!(report.existed, "{report}");
    assert!(
        matches!(report.removed.as_slice(), [Removed::Database { name }] if name.ends_with("acme.db")),
        "{report:?}"
    );
    let again = tenancy.deprovision(&acme).await.unwrap();
    assert!(!again.existed, "{again}");
    let _ = std::fs::remove_dir_all(&dir);
}
