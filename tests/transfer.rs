//! Export, import and erasure of one tenant (issue 24, points 2 and 3):
//! round trips on every backend and placement, across placements, with
//! text, integer and UUID tenant columns; an untrusted directory refused
//! with nothing changed; an erasure checked afterwards.

mod common;

use std::path::{Path, PathBuf};

use common::{Databases, Kind, TestDb, acme, each_backend_of, globex, unique_name};
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryOrder, Schema, Statement, prelude::*};
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, MigratorTrait, SchemaManager};
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::{ErasureCheck, Removed};
use sha2::{Digest, Sha256};

/// The parent: one column of each type the format carries that every
/// backend stores alike.
mod xp_project {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "xp_project")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: String,
        pub name: String,
        pub created_at: DateTimeUtc,
        pub meta: Option<Json>,
        pub logo: Option<Vec<u8>>,
        pub score: Option<f64>,
        pub due: Option<Date>,
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

/// The child, through a hand-written composite key `(tenant_id,
/// project_id)`; its name sorts before its parent's, so name order would
/// insert it first.
mod xp_item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "xp_item")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: String,
        pub project_id: i32,
        pub title: String,
        pub done: bool,
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

/// An integer tenant column.
mod xp_meter {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "xp_meter")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub reading: i32,
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

/// A UUID tenant column and a UUID key.
mod xp_doc {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "xp_doc")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
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

/// Creates the four tables wherever a tenant is provisioned.
struct XpMigrator;

impl MigratorTrait for XpMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateTables)]
    }
}

struct CreateTables;

impl MigrationName for CreateTables {
    fn name(&self) -> &str {
        "m0001_create_xp_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let (id, text, key, when, json, bytes, float) = match backend {
            DbBackend::Postgres => (
                "serial PRIMARY KEY",
                "text",
                "text",
                "timestamptz",
                "jsonb",
                "bytea",
                "double precision",
            ),
            DbBackend::MySql => (
                "int AUTO_INCREMENT PRIMARY KEY",
                "text",
                "varchar(63)",
                "timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP",
                "json",
                "blob",
                "double",
            ),
            _ => (
                "integer PRIMARY KEY AUTOINCREMENT",
                "text",
                "text",
                "text",
                "json_text",
                "blob",
                "real",
            ),
        };
        for sql in [
            format!(
                "CREATE TABLE xp_project (id {id}, tenant_id {key} NOT NULL, name {text} NOT NULL, \
                 created_at {when}, meta {json}, logo {bytes}, score {float}, due date, \
                 UNIQUE (tenant_id, id))"
            ),
            format!(
                "CREATE TABLE xp_item (id {id}, tenant_id {key} NOT NULL, project_id int NOT NULL, \
                 title {text} NOT NULL, done boolean NOT NULL, \
                 FOREIGN KEY (tenant_id, project_id) REFERENCES xp_project (tenant_id, id))"
            ),
        ] {
            db.execute_unprepared(&sql).await?;
        }
        let schema = Schema::new(backend);
        manager
            .create_table(schema.create_table_from_entity(xp_meter::Entity).to_owned())
            .await?;
        manager
            .create_table(schema.create_table_from_entity(xp_doc::Entity).to_owned())
            .await
    }
}

/// `tenancy` with the text tables declared and the migrator.
fn text_tables(tenancy: Tenancy) -> Tenancy {
    tenancy
        .with_migrator::<XpMigrator>()
        .tenant_table::<xp_project::Entity>()
        .tenant_table::<xp_item::Entity>()
}

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(unique_name())
}

/// Three projects (every type, nulls, unicode) and four items.
async fn plant(tenancy: &Tenancy, tenant: &TenantId) {
    let conn = tenancy.connection(tenant).await.unwrap();
    let when = |secs: i64| chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap();
    let projects = [
        xp_project::ActiveModel {
            name: Set("Zażółć gęślą jaźń 🐢 \"quoted\" 'single'\n".into()),
            created_at: Set(when(1)),
            meta: Set(Some(
                serde_json::json!({"plan": "gold", "seats": [1, 2, null]}),
            )),
            logo: Set(Some(vec![0, 1, 2, 0xfe, 0xff])),
            score: Set(Some(-2.5)),
            due: Set(chrono::NaiveDate::from_ymd_opt(2024, 2, 29)),
            ..Default::default()
        },
        xp_project::ActiveModel {
            name: Set("nulls".into()),
            created_at: Set(when(2)),
            meta: Set(None),
            logo: Set(None),
            score: Set(None),
            due: Set(None),
            ..Default::default()
        },
        xp_project::ActiveModel {
            name: Set("東京".into()),
            created_at: Set(when(3)),
            meta: Set(Some(serde_json::json!([]))),
            logo: Set(Some(Vec::new())),
            score: Set(Some(1e10)),
            due: Set(chrono::NaiveDate::from_ymd_opt(1999, 12, 31)),
            ..Default::default()
        },
    ];
    let mut ids = Vec::new();
    for project in projects {
        let id = xp_project::Entity::insert(project)
            .exec(&conn)
            .await
            .unwrap()
            .last_insert_id;
        ids.push(id);
    }
    for (n, project_id) in [ids[0], ids[0], ids[1], ids[2]].into_iter().enumerate() {
        let item = xp_item::ActiveModel {
            project_id: Set(project_id),
            title: Set(format!("item {n} – ünïcödé")),
            done: Set(n % 2 == 0),
            ..Default::default()
        };
        xp_item::Entity::insert(item).exec(&conn).await.unwrap();
    }
}

type Snapshot = (Vec<xp_project::Model>, Vec<xp_item::Model>);

/// The tenant's rows, through its connection, by id.
async fn snapshot(tenancy: &Tenancy, tenant: &TenantId) -> Snapshot {
    let conn = tenancy.connection(tenant).await.unwrap();
    let projects = xp_project::Entity::find()
        .order_by_asc(xp_project::Column::Id)
        .all(&conn)
        .await
        .unwrap();
    let items = xp_item::Entity::find()
        .order_by_asc(xp_item::Column::Id)
        .all(&conn)
        .await
        .unwrap();
    (projects, items)
}

/// `snapshot` as if it were `tenant`'s.
fn as_tenant((projects, items): &Snapshot, tenant: &TenantId) -> Snapshot {
    let t = tenant.to_string();
    (
        projects
            .iter()
            .map(|p| xp_project::Model {
                tenant_id: t.clone(),
                ..p.clone()
            })
            .collect(),
        items
            .iter()
            .map(|i| xp_item::Model {
                tenant_id: t.clone(),
                ..i.clone()
            })
            .collect(),
    )
}

/// A new project through the tenant's connection: its key must be above
/// every imported one (sequences raised on Postgres).
async fn add_project(tenancy: &Tenancy, tenant: &TenantId) -> i32 {
    let conn = tenancy.connection(tenant).await.unwrap();
    xp_project::Entity::insert(xp_project::ActiveModel {
        name: Set("after".into()),
        created_at: Set(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
        ..Default::default()
    })
    .exec(&conn)
    .await
    .unwrap_or_else(|e| panic!("a new row after the import: {e}"))
    .last_insert_id
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

fn manifest_tables(dir: &Path) -> Vec<String> {
    manifest(dir)["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Rows of `tenant` in `table` of the shared database, counted on the
/// owner's connection.
async fn rows(t: &TestDb, table: &str, tenant: &str) -> i64 {
    let sql = match t.backend() {
        DbBackend::Postgres => format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"),
        _ => format!("SELECT count(*) FROM {table} WHERE tenant_id = ?"),
    };
    t.db.query_one_raw(Statement::from_sql_and_values(
        t.backend(),
        sql,
        [tenant.into()],
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

#[tokio::test]
async fn a_tenant_survives_export_erase_and_import_in_its_shared_tables() {
    each_backend_of(&[Kind::Sqlite, Kind::Postgres, Kind::MySql], async |t| {
        let tenancy = text_tables(Tenancy::shared_schema(t.db.clone()));
        // `ACME`, acme's case twin, is a neighbour like any other (on
        // MySQL too, whatever the collation).
        let (acme, globex, twin) = (acme(), globex(), TenantId::from("ACME"));
        for tenant in [&acme, &globex, &twin] {
            tenancy.provision(tenant).await.unwrap();
            plant(&tenancy, tenant).await;
        }
        let before = snapshot(&tenancy, &acme).await;
        let theirs = snapshot(&tenancy, &globex).await;
        let twins = snapshot(&tenancy, &twin).await;
        let dir = temp_dir();

        let exported = tenancy.export(&acme, &dir).await.unwrap();
        assert_eq!(exported.rows_in("xp_project"), 3, "{t}: {exported}");
        assert_eq!(exported.rows_in("xp_item"), 4, "{t}: {exported}");
        let order = manifest_tables(&dir);
        let at = |name: &str| order.iter().position(|n| n == name).unwrap();
        assert!(
            at("xp_project") < at("xp_item"),
            "{t}: parents first: {order:?}"
        );
        // Only acme's rows, whatever globex holds.
        for table in ["xp_project", "xp_item"] {
            let text = std::fs::read_to_string(dir.join(format!("{table}.jsonl"))).unwrap();
            for line in text.lines() {
                let row: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(row["tenant_id"], "acme", "{t}: {line}");
            }
        }
        // Exporting into the same directory again is refused.
        assert!(
            matches!(
                tenancy.export(&acme, &dir).await,
                Err(TenantError::Transfer { .. })
            ),
            "{t}"
        );

        let erased = tenancy.erase(&acme).await.unwrap();
        assert_eq!(erased.removed.rows_in("xp_project"), 3, "{t}: {erased}");
        assert_eq!(erased.removed.rows_in("xp_item"), 4, "{t}: {erased}");
        assert!(erased.checked_registry(), "{t}: {erased}");
        assert!(
            erased.counted_tables().contains(&"xp_item".to_owned()),
            "{t}: {erased}"
        );

        tenancy.provision(&acme).await.unwrap();
        let imported = tenancy.import(&acme, &dir).await.unwrap();
        assert_eq!(imported.rows(), 7, "{t}: {imported}");
        assert_eq!(snapshot(&tenancy, &acme).await, before, "{t}");
        assert_eq!(
            snapshot(&tenancy, &globex).await,
            theirs,
            "{t}: globex untouched"
        );
        assert_eq!(
            snapshot(&tenancy, &twin).await,
            twins,
            "{t}: ACME untouched"
        );
        // New keys continue above every key of the table (globex's and
        // ACME's were planted after acme's: a sequence lowered to acme's
        // maximum would collide with them).
        let max = twins.0.iter().map(|p| p.id).max().unwrap();
        assert!(add_project(&tenancy, &acme).await > max, "{t}");

        // Into a tenant that is not empty: refused.
        let err = tenancy.import(&globex, &dir).await.unwrap_err();
        assert!(
            err.to_string().contains("import needs an empty tenant"),
            "{t}: {err}"
        );
        assert_eq!(snapshot(&tenancy, &globex).await, theirs, "{t}");
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

#[tokio::test]
async fn an_export_of_a_shared_tenant_imports_into_a_schema_or_database_of_its_own() {
    each_backend_of(&[Kind::Sqlite, Kind::Postgres, Kind::MySql], async |t| {
        let shared = text_tables(Tenancy::shared_schema(t.db.clone()));
        let acme = acme();
        shared.provision(&acme).await.unwrap();
        plant(&shared, &acme).await;
        let before = snapshot(&shared, &acme).await;
        let dir = temp_dir();
        shared.export(&acme, &dir).await.unwrap();

        let dbs = Databases::new(t);
        let mut targets = vec![(
            "database",
            text_tables(Tenancy::database_per_tenant(dbs.url_for())),
            TenantId::from("acme_db"),
        )];
        if t.kind == Kind::Postgres {
            targets.push((
                "schema",
                text_tables(Tenancy::schema_per_tenant(t.db.clone())),
                TenantId::from("acme_schema"),
            ));
        }
        for (place, target, copy) in &targets {
            target.provision(copy).await.unwrap();
            let report = target.import(copy, &dir).await.unwrap();
            assert_eq!(report.exported_as, acme, "{t} {place}");
            assert_eq!(report.rows(), 7, "{t} {place}: {report}");
            assert_eq!(
                snapshot(target, copy).await,
                as_tenant(&before, copy),
                "{t} {place}"
            );
            let max = before.0.iter().map(|p| p.id).max().unwrap();
            assert!(add_project(target, copy).await > max, "{t} {place}");

            // And back: exported from there, imported into the shared tables.
            let back = temp_dir();
            target.export(copy, &back).await.unwrap();
            let returned = TenantId::from("acme_back");
            shared.provision(&returned).await.unwrap();
            // The shared tables hold acme's keys: the copy collides, and
            // nothing of it stays.
            let err = shared.import(&returned, &back).await.unwrap_err();
            assert!(
                matches!(err, TenantError::Database { .. }),
                "{t} {place}: {err}"
            );
            assert_eq!(rows(t, "xp_project", "acme_back").await, 0, "{t} {place}");
            shared.erase(&acme).await.unwrap();
            shared.import(&returned, &back).await.unwrap();
            let mut expected = as_tenant(&before, &returned);
            let (projects, _) = snapshot(&shared, &returned).await;
            expected.0.push(projects.last().unwrap().clone());
            assert_eq!(snapshot(&shared, &returned).await, expected, "{t} {place}");
            shared.erase(&returned).await.unwrap();
            shared.provision(&acme).await.unwrap();
            shared.import(&acme, &dir).await.unwrap();

            let erased = target.erase(copy).await.unwrap();
            assert!(erased.removed.existed, "{t} {place}: {erased}");
            assert!(
                erased
                    .checked
                    .iter()
                    .any(|c| matches!(c, ErasureCheck::Database(_) | ErasureCheck::Schema(_))),
                "{t} {place}: {erased}"
            );
            let _ = std::fs::remove_dir_all(&back);
        }
        dbs.cleanup();
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

#[tokio::test]
async fn integer_and_uuid_tenants_round_trip_under_another_id() {
    each_backend_of(&[Kind::Sqlite, Kind::Postgres, Kind::MySql], async |t| {
        // Integer tenant column.
        let meters = Tenancy::shared_schema(t.db.clone())
            .with_migrator::<XpMigrator>()
            .tenant_table::<xp_meter::Entity>();
        let (t42, t43) = (TenantId::from(42), TenantId::from(43));
        meters.provision(&t42).await.unwrap();
        let conn = meters.connection(&t42).await.unwrap();
        for reading in [7, -1, i32::MAX] {
            xp_meter::Entity::insert(xp_meter::ActiveModel {
                reading: Set(reading),
                ..Default::default()
            })
            .exec(&conn)
            .await
            .unwrap();
        }
        let before = xp_meter::Entity::find()
            .order_by_asc(xp_meter::Column::Id)
            .all(&conn)
            .await
            .unwrap();
        drop(conn);
        let dir = temp_dir();
        meters.export(&t42, &dir).await.unwrap();
        assert_eq!(manifest(&dir)["tenant"], "42", "{t}");
        meters.erase(&t42).await.unwrap();
        meters.provision(&t43).await.unwrap();
        meters.import(&t43, &dir).await.unwrap();
        let conn = meters.connection(&t43).await.unwrap();
        let after = xp_meter::Entity::find()
            .order_by_asc(xp_meter::Column::Id)
            .all(&conn)
            .await
            .unwrap();
        let expected: Vec<_> = before
            .iter()
            .map(|m| xp_meter::Model {
                tenant_id: 43,
                ..m.clone()
            })
            .collect();
        assert_eq!(after, expected, "{t}");
        drop(conn);
        meters.erase(&t43).await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);

        // UUID tenant column and keys.
        let docs = Tenancy::shared_schema(t.db.clone())
            .with_migrator::<XpMigrator>()
            .tenant_table::<xp_doc::Entity>();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (ta, tb) = (TenantId::from(a), TenantId::from(b));
        docs.provision(&ta).await.unwrap();
        let conn = docs.connection(&ta).await.unwrap();
        for body in ["one", "два"] {
            xp_doc::Entity::insert(xp_doc::ActiveModel {
                id: Set(Uuid::new_v4()),
                body: Set(body.into()),
                ..Default::default()
            })
            .exec_without_returning(&conn)
            .await
            .unwrap();
        }
        let before = xp_doc::Entity::find()
            .order_by_asc(xp_doc::Column::Id)
            .all(&conn)
            .await
            .unwrap();
        drop(conn);
        let dir = temp_dir();
        docs.export(&ta, &dir).await.unwrap();
        docs.erase(&ta).await.unwrap();
        docs.provision(&tb).await.unwrap();
        docs.import(&tb, &dir).await.unwrap();
        let conn = docs.connection(&tb).await.unwrap();
        let after = xp_doc::Entity::find()
            .order_by_asc(xp_doc::Column::Id)
            .all(&conn)
            .await
            .unwrap();
        let expected: Vec<_> = before
            .iter()
            .map(|d| xp_doc::Model {
                tenant_id: b,
                ..d.clone()
            })
            .collect();
        assert_eq!(after, expected, "{t}");
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

/// A copy of the export in `dir`, changed by `change`.
fn tampered(dir: &Path, change: impl FnOnce(&Path)) -> PathBuf {
    let copy = temp_dir();
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    change(&copy);
    copy
}

/// Rewrites `manifest.json` in `dir`.
fn edit_manifest(dir: &Path, change: impl FnOnce(&mut serde_json::Value)) {
    let mut json = manifest(dir);
    change(&mut json);
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&json).unwrap(),
    )
    .unwrap();
}

/// Rewrites `table`'s file with `change` on its lines, and the manifest's
/// count and checksum to match: what an attacker who can write the
/// directory can do.
fn edit_rows(dir: &Path, table: &str, change: impl FnOnce(&mut Vec<String>)) {
    let path = dir.join(format!("{table}.jsonl"));
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    change(&mut lines);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, &text).unwrap();
    let sum: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    edit_manifest(dir, |m| {
        for t in m["tables"].as_array_mut().unwrap() {
            if t["name"] == table {
                t["rows"] = lines.len().into();
                t["sha256"] = sum.clone().into();
            }
        }
    });
}

#[tokio::test]
async fn an_untrusted_directory_is_refused_and_nothing_is_imported() {
    each_backend_of(&[Kind::Sqlite, Kind::Postgres, Kind::MySql], async |t| {
        let tenancy = text_tables(Tenancy::shared_schema(t.db.clone()));
        let (acme, globex) = (acme(), globex());
        for tenant in [&acme, &globex] {
            tenancy.provision(tenant).await.unwrap();
            plant(&tenancy, tenant).await;
        }
        let theirs = snapshot(&tenancy, &globex).await;
        let dir = temp_dir();
        tenancy.export(&acme, &dir).await.unwrap();
        tenancy.erase(&acme).await.unwrap();
        tenancy.provision(&acme).await.unwrap();

        type Change = Box<dyn FnOnce(&Path)>;
        let cases: Vec<(&str, Change, &str)> = vec![
            (
                "a row of another tenant",
                Box::new(|d| {
                    edit_rows(d, "xp_item", |lines| {
                        let last = lines.last_mut().unwrap();
                        *last = last.replace("\"tenant_id\":\"acme\"", "\"tenant_id\":\"globex\"");
                    })
                }),
                "a row of another tenant",
            ),
            (
                "the case twin of the tenant",
                Box::new(|d| {
                    edit_rows(d, "xp_item", |lines| {
                        let last = lines.last_mut().unwrap();
                        *last = last.replace("\"tenant_id\":\"acme\"", "\"tenant_id\":\"ACME\"");
                    })
                }),
                "a row of another tenant",
            ),
            (
                "a value of the wrong type in the last row",
                Box::new(|d| {
                    edit_rows(d, "xp_item", |lines| {
                        let last = lines.last_mut().unwrap();
                        *last = last
                            .replace("\"done\":true", "\"done\":\"yes\"")
                            .replace("\"done\":false", "\"done\":\"no\"");
                    })
                }),
                "column `done`",
            ),
            (
                "an extra column",
                Box::new(|d| {
                    edit_rows(d, "xp_item", |lines| {
                        let last = lines.last_mut().unwrap();
                        *last = last.replacen('{', "{\"owner\":1,", 1);
                    })
                }),
                "its columns are not the table's",
            ),
            (
                "a line of 17 MiB",
                Box::new(|d| {
                    edit_rows(d, "xp_item", |lines| {
                        lines.push(format!("{{\"title\":\"{}\"}}", "x".repeat(17 << 20)));
                    })
                }),
                "longer than 16 MiB",
            ),
            (
                "a file changed under its manifest",
                Box::new(|d| {
                    let path = d.join("xp_item.jsonl");
                    let text = std::fs::read_to_string(&path).unwrap();
                    std::fs::write(&path, text.replace("item 0", "item 9")).unwrap();
                }),
                "checksum",
            ),
            (
                "a table nobody declared, with quotes in its name",
                Box::new(|d| {
                    edit_manifest(d, |m| {
                        m["tables"][0]["name"] = "xp_item\"; DROP TABLE xp_project; --".into();
                        m["tables"][0].as_object_mut().unwrap().remove("file");
                    })
                }),
                "not a tenant table declared to this tenancy",
            ),
            (
                "another tenant column",
                Box::new(|d| {
                    edit_manifest(d, |m| {
                        for t in m["tables"].as_array_mut().unwrap() {
                            t["tenant_column"] = "name".into();
                        }
                    })
                }),
                "tenant column",
            ),
            (
                "a column missing",
                Box::new(|d| {
                    edit_manifest(d, |m| {
                        for t in m["tables"].as_array_mut().unwrap() {
                            if t["name"] == "xp_item" {
                                t["columns"].as_array_mut().unwrap().pop();
                            }
                        }
                    })
                }),
                "has no column",
            ),
            (
                "another format version",
                Box::new(|d| edit_manifest(d, |m| m["version"] = 2.into())),
                "format version 2",
            ),
            (
                "no manifest",
                Box::new(|d| std::fs::remove_file(d.join("manifest.json")).unwrap()),
                "reading the manifest",
            ),
        ];
        for (case, change, expected) in cases {
            let bad = tampered(&dir, change);
            let err = tenancy.import(&acme, &bad).await.unwrap_err();
            assert!(
                matches!(err, TenantError::Transfer { .. }),
                "{t}: {case}: {err}"
            );
            assert!(err.to_string().contains(expected), "{t}: {case}: {err}");
            for table in ["xp_project", "xp_item"] {
                assert_eq!(rows(t, table, "acme").await, 0, "{t}: {case}: {table}");
            }
            assert_eq!(snapshot(&tenancy, &globex).await, theirs, "{t}: {case}");
            let _ = std::fs::remove_dir_all(&bad);
        }
        // The untouched export still imports.
        tenancy.import(&acme, &dir).await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

#[tokio::test]
async fn erase_checks_every_place_and_a_second_call_finds_nothing() {
    each_backend_of(&[Kind::Sqlite, Kind::Postgres, Kind::MySql], async |t| {
        let dbs = Databases::new(t);
        let mut tenancies = vec![
            ("shared", text_tables(Tenancy::shared_schema(t.db.clone()))),
            (
                "database",
                text_tables(Tenancy::database_per_tenant(dbs.url_for())),
            ),
        ];
        if t.kind == Kind::Postgres {
            tenancies.push((
                "schema",
                text_tables(Tenancy::schema_per_tenant(t.db.clone())),
            ));
        }
        for (place, tenancy) in &tenancies {
            let tenant = TenantId::from(format!("erase_{place}"));
            tenancy.provision(&tenant).await.unwrap();
            plant(tenancy, &tenant).await;
            let report = tenancy.erase(&tenant).await.unwrap();
            assert!(report.removed.existed, "{t} {place}: {report}");
            match *place {
                "shared" => {
                    assert_eq!(report.removed.rows_in("xp_item"), 4, "{t}: {report}");
                    assert!(report.checked_registry(), "{t}: {report}");
                    assert!(report.counted_tables().len() >= 2, "{t}: {report}");
                    assert_eq!(rows(t, "xp_item", &tenant.to_string()).await, 0, "{t}");
                }
                "schema" => {
                    assert!(
                        matches!(report.removed.removed.as_slice(), [Removed::Schema { .. }]),
                        "{t}: {report}"
                    );
                    assert!(
                        report
                            .checked
                            .contains(&ErasureCheck::Schema(format!("tenant_{tenant}"))),
                        "{t}: {report}"
                    );
                    // Its row in the migration version ledger went too.
                    assert!(
                        report
                            .checked
                            .contains(&ErasureCheck::VersionLedger(format!("tenant_{tenant}"))),
                        "{t}: {report}"
                    );
                }
                _ => {
                    assert!(
                        matches!(
                            report.removed.removed.as_slice(),
                            [Removed::Database { .. }]
                        ),
                        "{t}: {report}"
                    );
                    assert!(!dbs.exists(t, &tenant.to_string()).await, "{t}: {report}");
                    assert!(
                        report
                            .checked
                            .iter()
                            .any(|c| matches!(c, ErasureCheck::Database(_))),
                        "{t}: {report}"
                    );
                }
            }
            assert!(
                report.checked.contains(&ErasureCheck::Caches),
                "{t} {place}: {report}"
            );
            assert!(
                matches!(
                    tenancy.connection(&tenant).await,
                    Err(TenantError::UnknownTenant(_))
                ),
                "{t} {place}"
            );
            let again = tenancy.erase(&tenant).await.unwrap();
            assert!(!again.removed.existed, "{t} {place}: {again}");
            assert!(
                again
                    .to_string()
                    .contains("nothing was left to erase; checked afterwards"),
                "{t} {place}: {again}"
            );
        }
        dbs.cleanup();
    })
    .await;
}

#[tokio::test]
async fn erase_that_leaves_rows_behind_says_so() {
    each_backend_of(&[Kind::Sqlite], async |t| {
        let tenancy = text_tables(Tenancy::shared_schema(t.db.clone()));
        let acme = acme();
        tenancy.provision(&acme).await.unwrap();
        plant(&tenancy, &acme).await;
        // A trigger that quietly keeps rows: the delete reports success.
        t.db.execute_unprepared(
            "CREATE TRIGGER keep_projects BEFORE DELETE ON xp_project BEGIN SELECT RAISE(IGNORE); END",
        )
        .await
        .unwrap();
        let err = tenancy.erase(&acme).await.unwrap_err();
        let TenantError::NotErased { tenant, left } = &err else {
            panic!("{t}: {err}");
        };
        assert_eq!(tenant, "acme");
        assert_eq!(left, &["3 row(s) in `xp_project`".to_owned()], "{t}: {err}");
    })
    .await;
}

#[tokio::test]
async fn a_large_tenant_moves_in_batches_and_reports_progress() {
    each_backend_of(&[Kind::Sqlite, Kind::Postgres], async |t| {
        let tenancy = text_tables(Tenancy::shared_schema(t.db.clone()));
        let acme = acme();
        tenancy.provision(&acme).await.unwrap();
        let conn = tenancy.connection(&acme).await.unwrap();
        let when = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        for chunk in 0..5 {
            let rows = (0..500).map(|n| xp_project::ActiveModel {
                name: Set(format!("project {chunk}-{n}")),
                created_at: Set(when),
                ..Default::default()
            });
            xp_project::Entity::insert_many(rows)
                .exec(&conn)
                .await
                .unwrap();
        }
        drop(conn);
        let before = snapshot(&tenancy, &acme).await;
        let dir = temp_dir();
        let seen = std::sync::Mutex::new(Vec::new());
        tenancy
            .export_with_progress(&acme, &dir, |p| {
                if p.table == "xp_project" {
                    seen.lock().unwrap().push((p.rows, p.table_done));
                }
            })
            .await
            .unwrap();
        let exported = std::mem::take(&mut *seen.lock().unwrap());
        assert_eq!(
            exported,
            [(1000, false), (2000, false), (2500, true)],
            "{t}: a report every thousand rows and at the end"
        );
        tenancy.erase(&acme).await.unwrap();
        tenancy.provision(&acme).await.unwrap();
        tenancy
            .import_with_progress(&acme, &dir, |p| {
                if p.table == "xp_project" {
                    assert_eq!(p.table_rows, Some(2500));
                    seen.lock().unwrap().push((p.rows, p.table_done));
                }
            })
            .await
            .unwrap();
        let imported = std::mem::take(&mut *seen.lock().unwrap());
        assert_eq!(
            imported.len(),
            6,
            "{t}: five batches of 500 and the end: {imported:?}"
        );
        assert_eq!(imported.last(), Some(&(2500, true)), "{t}");
        assert_eq!(snapshot(&tenancy, &acme).await, before, "{t}");
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

#[tokio::test]
async fn an_export_from_sqlite_imports_into_postgres_and_mysql() {
    // The source: a SQLite file of its own.
    let path = std::env::temp_dir().join(format!("{}.sqlite", unique_name()));
    let source = sea_orm::Database::connect(format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    let source = text_tables(Tenancy::shared_schema(source));
    let acme = acme();
    source.provision(&acme).await.unwrap();
    plant(&source, &acme).await;
    let before = snapshot(&source, &acme).await;
    let dir = temp_dir();
    source.export(&acme, &dir).await.unwrap();
    assert_eq!(manifest(&dir)["backend"], "sqlite");

    each_backend_of(&[Kind::Postgres, Kind::MySql], async |t| {
        let target = text_tables(Tenancy::shared_schema(t.db.clone()));
        let copy = TenantId::from("acme_from_sqlite");
        target.provision(&copy).await.unwrap();
        let report = target.import(&copy, &dir).await.unwrap();
        assert_eq!(report.rows(), 7, "{t}: {report}");
        assert_eq!(
            snapshot(&target, &copy).await,
            as_tenant(&before, &copy),
            "{t}"
        );
        let max = before.0.iter().map(|p| p.id).max().unwrap();
        assert!(add_project(&target, &copy).await > max, "{t}");
    })
    .await;
    if let Some(db) = source.database() {
        let _ = db.close_by_ref().await;
    }
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&dir);
}
