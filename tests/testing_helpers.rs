//! The test helpers (`testing`): a fresh database or schema per test on
//! each backend, tenants provisioned, everything removed afterwards (by
//! `cleanup` and by drop); with `axum`, requests that carry the tenant.
//! SQLite always; Postgres and MySQL/MariaDB when DATABASE_URL / MYSQL_URL
//! are set.

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::testing::TestDb;

mod note {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "note")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: String,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    sea_orm_tenant::tenant_entity!(Entity => Column::TenantId);
}

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
                    .col(
                        ColumnDef::new("tenant_id")
                            .string_len(63)
                            .not_null()
                            .extra("/*!COLLATE utf8mb4_bin*/"),
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

struct Migrator;
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateNote)]
    }
}

/// The server URL in `var`, or `None` after one `skipped:` line (a
/// failure under `SEA_ORM_TENANT_REQUIRE_DBS=1`).
fn url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("SEA_ORM_TENANT_REQUIRE_DBS").as_deref() != Ok("1"),
                "{test}: {var} is not set"
            );
            println!("skipped: {test} on {var} ({var} not set)");
            None
        }
    }
}

/// Every kind of fresh database this machine offers, and whether it is a
/// Postgres schema.
async fn fresh_dbs(test: &str) -> Vec<(TestDb, bool)> {
    let mut dbs = vec![
        (TestDb::sqlite().await.expect("sqlite"), false),
        (
            TestDb::sqlite_memory().await.expect("sqlite in memory"),
            false,
        ),
    ];
    if let Some(url) = url("DATABASE_URL", test) {
        dbs.push((
            TestDb::postgres(&url).await.expect("postgres database"),
            false,
        ));
        dbs.push((
            TestDb::postgres_schema(&url)
                .await
                .expect("postgres schema"),
            true,
        ));
    }
    if let Some(url) = url("MYSQL_URL", test) {
        dbs.push((TestDb::mysql(&url).await.expect("mysql database"), false));
    }
    dbs
}

/// Whether the database or schema `name` exists, asked from `url`'s
/// database (SQLite: whether the directory does).
async fn exists(backend: DbBackend, url: &str, name: &str, schema: bool) -> bool {
    let admin = sea_orm::Database::connect(url).await.expect("connect");
    let sql = match (backend, schema) {
        (DbBackend::Postgres, true) => "SELECT 1 AS x FROM pg_namespace WHERE nspname = $1",
        (DbBackend::Postgres, false) => "SELECT 1 AS x FROM pg_database WHERE datname = $1",
        _ => "SELECT 1 AS x FROM information_schema.schemata WHERE schema_name = ?",
    };
    let found = admin
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
        .await
        .expect("lookup")
        .is_some();
    admin.close().await.ok();
    found
}

/// Adds a note for the connection's tenant and reads every note it sees.
async fn round_trip(conn: &TenantConnection, body: &str) -> Vec<note::Model> {
    note::Entity::insert(note::ActiveModel {
        body: Set(body.to_owned()),
        ..Default::default()
    })
    .exec(conn)
    .await
    .expect("insert");
    note::Entity::find().all(conn).await.expect("select")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_gets_a_fresh_database_with_tenants_and_loses_it_afterwards() {
    for (db, is_schema) in fresh_dbs("fresh databases").await {
        let (backend, name) = (db.backend(), db.name().to_owned());
        let tenancy = db.shared_schema().with_migrator::<Migrator>();
        let [acme, globex] = db
            .provision(&tenancy, ["acme", "globex"])
            .await
            .unwrap_or_else(|e| panic!("{db}: provision: {e}"));
        let acme_conn = tenancy.connection(&acme).await.expect("acme");
        let globex_conn = tenancy.connection(&globex).await.expect("globex");
        assert_eq!(round_trip(&acme_conn, "a").await.len(), 1, "{db}");
        let seen = round_trip(&globex_conn, "g").await;
        assert_eq!(seen.len(), 1, "{db}: globex sees only its own note");
        assert_eq!(seen[0].tenant_id, "globex", "{db}");
        drop((acme_conn, globex_conn, tenancy));

        // Database per tenant beside it: the registry here, the tenants'
        // databases (or files) removed with it.
        let per_db = db.database_per_tenant().with_migrator::<Migrator>();
        let [initech] = db.provision(&per_db, ["initech"]).await.expect("provision");
        let conn = per_db.connection(&initech).await.expect("initech");
        assert_eq!(round_trip(&conn, "i").await.len(), 1, "{db}");
        drop((conn, per_db));

        db.cleanup().await.expect("cleanup");
        match backend {
            DbBackend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                assert!(!dir.exists(), "SQLite: {} removed", dir.display());
            }
            _ => {
                let server = if backend == DbBackend::MySql {
                    std::env::var("MYSQL_URL").expect("url")
                } else {
                    std::env::var("DATABASE_URL").expect("url")
                };
                assert!(
                    !exists(backend, &server, &name, is_schema).await,
                    "{backend:?}: {name} dropped"
                );
                assert!(
                    !exists(backend, &server, &format!("{name}_initech"), false).await,
                    "{backend:?}: the tenant's database dropped"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_per_tenant_schemas_go_with_the_test() {
    let Some(url) = url("DATABASE_URL", "schema per tenant") else {
        return;
    };
    for db in [
        TestDb::postgres(&url).await.expect("database"),
        TestDb::postgres_schema(&url).await.expect("schema"),
    ] {
        let name = db.name().to_owned();
        let tenancy = db.schema_per_tenant().with_migrator::<Migrator>();
        let [acme] = db.provision(&tenancy, ["acme"]).await.expect("provision");
        let conn = tenancy.connection(&acme).await.expect("acme");
        assert_eq!(round_trip(&conn, "a").await.len(), 1);
        let schema = format!("{name}_acme");
        assert!(
            exists(DbBackend::Postgres, db.url(), &schema, true).await,
            "{schema} exists while the test runs"
        );
        drop((conn, tenancy));
        db.cleanup().await.expect("cleanup");
        assert!(!exists(DbBackend::Postgres, &url, &schema, true).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_test_db_is_removed_too() {
    let sqlite = TestDb::sqlite().await.expect("sqlite");
    let dir = std::env::temp_dir().join(sqlite.name());
    assert!(dir.exists());
    drop(sqlite);
    assert!(!dir.exists(), "the directory went with the drop");

    for (var, backend) in [
        ("DATABASE_URL", DbBackend::Postgres),
        ("MYSQL_URL", DbBackend::MySql),
    ] {
        let Some(url) = url(var, "drop") else {
            continue;
        };
        let db = match backend {
            DbBackend::Postgres => TestDb::postgres(&url).await,
            _ => TestDb::mysql(&url).await,
        }
        .expect("fresh database");
        let name = db.name().to_owned();
        let tenancy = db.shared_schema().with_migrator::<Migrator>();
        db.provision(&tenancy, ["acme"]).await.expect("provision");
        assert!(exists(backend, &url, &name, false).await);
        drop(db); // the tenancy's pool is still open: dropped all the same
        assert!(
            !exists(backend, &url, &name, false).await,
            "{backend:?}: {name} dropped on drop"
        );
        drop(tenancy);
    }
}

/// On a current-thread runtime (`#[tokio::test]`'s default) the drop
/// blocks the only worker; a transaction the test left open cannot finish,
/// and the removal still completes.
#[tokio::test]
async fn a_drop_on_a_current_thread_runtime_with_an_open_transaction_completes() {
    use sea_orm::TransactionTrait;
    for (var, backend) in [
        ("DATABASE_URL", DbBackend::Postgres),
        ("MYSQL_URL", DbBackend::MySql),
    ] {
        let Some(url) = url(var, "drop with an open transaction") else {
            continue;
        };
        let db = match backend {
            DbBackend::Postgres => TestDb::postgres(&url).await,
            _ => TestDb::mysql(&url).await,
        }
        .expect("fresh database");
        let name = db.name().to_owned();
        db.connection()
            .execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await
            .expect("create");
        let txn = db.connection().begin().await.expect("begin");
        txn.execute_unprepared("INSERT INTO t (id) VALUES (1)")
            .await
            .expect("insert");
        let started = std::time::Instant::now();
        drop(db);
        assert!(
            !exists(backend, &url, &name, false).await,
            "{backend:?}: {name} dropped despite the open transaction"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        drop(txn);
    }
}

#[cfg(feature = "axum")]
mod web {
    use axum::extract::Json;
    use axum::http::Method;
    use axum::{Router, routing::get};
    use sea_orm::{ActiveValue::Set, EntityTrait};
    use sea_orm_tenant::http::{TenantDb, TenantLayer, TenantResolver};
    use sea_orm_tenant::testing::{TestDb, TestRequest, request};

    use super::{Migrator, note};

    async fn list(TenantDb(db): TenantDb) -> Result<Json<Vec<note::Model>>, String> {
        note::Entity::find()
            .all(&db)
            .await
            .map(Json)
            .map_err(|e| e.to_string())
    }

    async fn add(TenantDb(db): TenantDb, body: String) -> Result<String, String> {
        let row = note::Entity::insert(note::ActiveModel {
            body: Set(body),
            ..Default::default()
        })
        .exec(&db)
        .await
        .map_err(|e| e.to_string())?;
        Ok(row.last_insert_id.to_string())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_carry_the_tenant_to_the_service() {
        let db = TestDb::sqlite().await.expect("sqlite");
        let tenancy = db.shared_schema().with_migrator::<Migrator>();
        db.provision(&tenancy, ["acme", "globex"])
            .await
            .expect("provision");
        let app: Router = Router::new()
            .route("/notes", get(list).post(add))
            .layer(TenantLayer::new(
                TenantResolver::new().header("x-tenant-id"),
            ))
            .with_state(tenancy);

        let added = TestRequest::post("/notes")
            .tenant("acme")
            .body("hello")
            .send(app.clone())
            .await
            .expect("send");
        assert_eq!(added.status, 200, "{}", added.text());

        let acme = request(Method::GET, "/notes")
            .tenant("acme")
            .send(app.clone())
            .await
            .expect("send");
        assert_eq!(acme.status, 200);
        let notes: Vec<serde_json::Value> = acme.json().expect("json");
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["body"], "hello");

        let globex = TestRequest::get("/notes")
            .tenant("globex")
            .send(app.clone())
            .await
            .expect("send");
        assert_eq!(
            globex.json::<Vec<serde_json::Value>>().expect("json").len(),
            0
        );

        let unknown = TestRequest::get("/notes")
            .tenant("nobody")
            .send(app.clone())
            .await
            .expect("send");
        assert_eq!(unknown.status, 404, "{}", unknown.text());
        let invalid = TestRequest::get("/notes")
            .tenant("no way!")
            .send(app.clone())
            .await
            .expect("send");
        assert!(invalid.status.is_client_error(), "{}", invalid.status);
        let missing = TestRequest::get("/notes").send(app).await.expect("send");
        assert!(missing.status.is_client_error(), "{}", missing.status);
        db.cleanup().await.expect("cleanup");
    }
}
