//! The tenant registry: one row per provisioned tenant and its placement,
//! a SeaORM entity in the shared database.
//!
//! Two promises hold for every function here. A read answers "not there"
//! (`Ok(None)`, `Ok(false)`) only when the database said so: no row, or no
//! registry table yet (nothing was provisioned); a read that failed
//! otherwise is the error. And the key is compared exactly on every
//! backend, so `ACME` never finds, replaces or removes `acme` (rule 10).

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{ColumnDef, ExprTrait, OnConflict, Query, Table, TableCreateStatement};
use sea_orm::{
    ActiveValue, ConnectionTrait, DbBackend, ExecResult, Insert, QueryOrder, QueryResult,
    QuerySelect, QueryTrait, Schema, Statement,
};

use super::{Location, Placement};
use crate::TenantId;

/// Where the registry's statements run: the shared database, or behind a
/// transaction-mode pooler a tenant-less connection of ours, whose
/// statements are sent unnamed inside a transaction of their own (sqlx
/// would prepare them by name on a connection the pooler shares).
pub(crate) enum RegistryDb<'a> {
    /// The shared database itself.
    Direct(&'a DatabaseConnection),
    /// Behind a pooler: no tenant set (`app.tenant_id` is empty), nothing
    /// confined (the registry is a global table).
    Pooled(Box<crate::TenantConnection>),
}

impl<'a> RegistryDb<'a> {
    pub(super) fn new(db: &'a DatabaseConnection, pooler: bool) -> Self {
        if pooler && db.get_database_backend() == DbBackend::Postgres {
            RegistryDb::Pooled(Box::new(crate::TenantConnection::admin(db.clone())))
        } else {
            RegistryDb::Direct(db)
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for RegistryDb<'_> {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            RegistryDb::Direct(db) => db.get_database_backend(),
            RegistryDb::Pooled(conn) => conn.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            RegistryDb::Direct(db) => db.execute_raw(stmt).await,
            RegistryDb::Pooled(conn) => conn.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            RegistryDb::Direct(db) => db.execute_unprepared(sql).await,
            RegistryDb::Pooled(conn) => conn.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            RegistryDb::Direct(db) => db.query_one_raw(stmt).await,
            RegistryDb::Pooled(conn) => conn.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            RegistryDb::Direct(db) => db.query_all_raw(stmt).await,
            RegistryDb::Pooled(conn) => conn.query_all_raw(stmt).await,
        }
    }
}

/// The registry table: one row per provisioned tenant and its placement.
pub const REGISTRY_TABLE: &str = "sea_orm_tenant_registry";

/// One provisioned tenant (the table is [`REGISTRY_TABLE`]).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sea_orm_tenant_registry")]
pub struct Model {
    /// The tenant id as given, compared byte for byte (see [`key_column`]).
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(63))"
    )]
    pub tenant_id: String,
    /// Where it lives, as [`Placement::as_str`] writes it.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub placement: String,
    /// The server it lives on ([`MAIN_SERVER`](super::MAIN_SERVER) unless
    /// it was placed on another).
    #[sea_orm(column_type = "String(StringLen::N(32))", default_value = "main")]
    pub server: String,
}

/// The registry relates to nothing.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The registry key's type on MySQL/MariaDB.
const MYSQL_EXACT_KEY: &str = "VARCHAR(63) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";

/// The registry's key: tenant ids as given, compared byte for byte.
///
/// On MySQL/MariaDB a plain `VARCHAR` takes the table's collation, usually
/// case-insensitive, where `ACME` would be a duplicate of `acme` and
/// provisioning one would take over the other's entry (rule 10); the key
/// is `utf8mb4_bin` there. Postgres and SQLite compare text exactly, and
/// get the entity's type.
fn key_column(backend: DbBackend) -> ColumnDef {
    let key = if backend == DbBackend::MySql {
        ColumnType::custom(MYSQL_EXACT_KEY)
    } else {
        Column::TenantId.def().get_column_type().clone()
    };
    ColumnDef::new_with_type(Column::TenantId, key)
        .not_null()
        .to_owned()
}

/// `CREATE TABLE IF NOT EXISTS` for the registry on `backend`.
fn create_table(backend: DbBackend) -> TableCreateStatement {
    Table::create()
        .table(Entity)
        .if_not_exists()
        .col(key_column(backend).primary_key())
        .col(Schema::new(backend).get_column_def::<Entity>(Column::Placement))
        .col(server_column(backend))
        .to_owned()
}

/// The `server` column, `'main'` for rows written before it existed.
fn server_column(backend: DbBackend) -> ColumnDef {
    Schema::new(backend)
        .get_column_def::<Entity>(Column::Server)
        .default(super::MAIN_SERVER)
        .to_owned()
}

/// Creates the registry table unless it exists, with an exact key on
/// MySQL/MariaDB (also for a registry an earlier version made).
pub(super) async fn create(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    match db.execute(&create_table(db.get_database_backend())).await {
        Ok(_) => {}
        // Postgres: two first provisions at once both pass `IF NOT EXISTS`
        // and one fails on the catalog's unique key; the table is there.
        Err(_) if matches!(exists(db).await, Ok(true)) => {}
        Err(e) => return Err(e),
    }
    if db.get_database_backend() == DbBackend::MySql {
        key_exact_on_mysql(db).await?;
    }
    server_column_added(db).await
}

/// A registry made before tenants could live on several servers gets the
/// `server` column (every tenant it knows is on the main server); one
/// query when it has it.
async fn server_column_added(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let probe = Entity::find()
        .select_only()
        .column(Column::Server)
        .limit(1)
        .into_query();
    match db.query_one(&probe).await {
        Ok(_) => Ok(()),
        Err(e) if is_missing_column(&e) => {
            let alter = Table::alter()
                .table(Entity)
                .add_column(server_column(db.get_database_backend()))
                .to_owned();
            match db.execute(&alter).await {
                Ok(_) => Ok(()),
                // Added meanwhile by another process.
                Err(_) if db.query_one(&probe).await.is_ok() => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The migration that creates the registry (declared, with its
/// documentation, in [`crate::migration`]).
#[async_trait::async_trait]
impl sea_orm_migration::MigrationTrait for crate::migration::CreateRegistry {
    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        create(manager.get_connection()).await
    }

    /// Keeps the table: it records which tenants exist.
    async fn down(&self, _manager: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// A registry made before its key was exact (by an earlier version) gets an
/// exact key; one query when it already has it.
async fn key_exact_on_mysql(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let collation = Query::select()
        .column("COLLATION_NAME")
        .from(("information_schema", "COLUMNS"))
        .and_where(Expr::col("TABLE_SCHEMA").eq(Expr::cust("DATABASE()")))
        .and_where(Expr::col("TABLE_NAME").eq(Entity.table_name()))
        .and_where(Expr::col("COLUMN_NAME").eq(Column::TenantId.as_str()))
        .to_owned();
    let current: Option<String> = match db.query_one(&collation).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => None,
    };
    if current.as_deref() == Some("utf8mb4_bin") {
        return Ok(());
    }
    let alter = Table::alter()
        .table(Entity)
        .modify_column(key_column(DbBackend::MySql))
        .to_owned();
    db.execute(&alter).await.map(|_| ())
}

/// `tenant_id = ?` on the registry, exact on every backend: also on a
/// MySQL registry whose key an earlier version left case-insensitive and
/// that [`create`] has not made exact yet. (So reads filter with this
/// rather than `Entity::find_by_id`, whose plain `=` follows the
/// collation.)
fn key_is(tenant: &TenantId) -> Expr {
    crate::scope::exact_eq(
        Expr::col(Column::TenantId),
        Expr::val(tenant.as_str().into_owned()),
        true,
    )
}

/// Whether the registry table exists: `Ok(false)` only when the database
/// answered that there is no such table; a read that failed otherwise is
/// the error.
pub(super) async fn exists(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    let probe = Entity::find()
        .select_only()
        .expr(Expr::val(1))
        .limit(1)
        .into_query();
    match db.query_one(&probe).await {
        Ok(_) => Ok(true),
        Err(e) if is_missing_table(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The recorded placement of `tenant`: `Ok(None)` only when the registry
/// answered that it is not there (no row, or no registry table yet: nothing
/// was provisioned); any other failure is the error.
pub(super) async fn read(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Option<Location>, DbErr> {
    match Entity::find().filter(key_is(tenant)).one(db).await {
        Ok(row) => Ok(row.and_then(|row| location(&row.placement, &row.server))),
        Err(e) if is_missing_table(&e) => Ok(None),
        Err(e) if is_missing_column(&e) => {
            // A registry from before servers (not yet upgraded by a
            // provision): every tenant is on the main server.
            let legacy = Entity::find()
                .select_only()
                .column(Column::Placement)
                .filter(key_is(tenant))
                .into_tuple::<String>()
                .one(db)
                .await?;
            Ok(legacy.and_then(|p| location(&p, super::MAIN_SERVER)))
        }
        Err(e) => Err(e),
    }
}

/// The location a registry row names, or `None` when this version does
/// not know its placement or the server name is not one it would write.
fn location(placement: &str, server: &str) -> Option<Location> {
    Location::on(server, Placement::parse(placement)?).ok()
}

/// The upsert that records `tenant` at `location`.
fn upsert(tenant: &TenantId, location: &Location) -> Insert<ActiveModel> {
    Entity::insert(ActiveModel {
        tenant_id: ActiveValue::Set(tenant.as_str().into_owned()),
        placement: ActiveValue::Set(location.placement().as_str().to_owned()),
        server: ActiveValue::Set(location.server().to_owned()),
    })
    .on_conflict(
        OnConflict::column(Column::TenantId)
            .update_columns([Column::Placement, Column::Server])
            .to_owned(),
    )
}

/// Records `tenant` at `location`, replacing its earlier location.
/// Idempotent: recording the same again is no error (run without
/// `RETURNING`, so MySQL's "0 rows affected" for an unchanged row is not
/// taken for a row not inserted).
pub(super) async fn insert(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    location: &Location,
) -> Result<(), DbErr> {
    upsert(tenant, location)
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// Forgets `tenant` (nothing when it is not recorded).
pub(super) async fn delete(db: &impl ConnectionTrait, tenant: &TenantId) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(key_is(tenant))
        .exec(db)
        .await
        .map(|_| ())
}

/// Every recorded tenant and its location, ordered by id; rows whose
/// placement this version does not know are left out.
pub(super) async fn list(db: &impl ConnectionTrait) -> Result<Vec<(TenantId, Location)>, DbErr> {
    let rows: Vec<(String, String, String)> = match Entity::find()
        .select_only()
        .columns([Column::TenantId, Column::Placement, Column::Server])
        .order_by_asc(Column::TenantId)
        .into_tuple()
        .all(db)
        .await
    {
        Ok(rows) => rows,
        Err(e) if is_missing_column(&e) => Entity::find()
            .select_only()
            .columns([Column::TenantId, Column::Placement])
            .order_by_asc(Column::TenantId)
            .into_tuple::<(String, String)>()
            .all(db)
            .await?
            .into_iter()
            .map(|(t, p)| (t, p, super::MAIN_SERVER.to_owned()))
            .collect(),
        Err(e) => return Err(e),
    };
    Ok(rows
        .into_iter()
        .filter_map(|(tenant, placement, server)| {
            location(&placement, &server).map(|l| (TenantId::from(tenant), l))
        })
        .collect())
}

/// The database's "no such column" answer: Postgres 42703, MySQL/MariaDB
/// 1054, SQLite `no such column`.
pub(super) fn is_missing_column(err: &DbErr) -> bool {
    is_missing(err, "42703", 1054, "no such column")
}

/// The database's "no such table" answer: Postgres 42P01, MySQL/MariaDB
/// 1146 (SQLSTATE 42S02), SQLite `no such table`.
pub(super) fn is_missing_table(err: &DbErr) -> bool {
    is_missing(err, "42P01", 1146, "no such table")
}

/// Whether `err` is the database saying something is missing: Postgres
/// SQLSTATE `pg`, MySQL/MariaDB error number `mysql`, a SQLite message
/// starting with `sqlite`.
// A build without the MySQL or SQLite driver reads only `pg`.
#[allow(unused_variables)]
fn is_missing(err: &DbErr, pg: &str, mysql: u16, sqlite: &str) -> bool {
    let sqlx_err = match err {
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    let Some(db_err) = sqlx_err.as_database_error() else {
        return false;
    };
    #[cfg(feature = "sqlx-mysql")]
    if let Some(e) = db_err.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
        return e.number() == mysql;
    }
    #[cfg(feature = "sqlx-sqlite")]
    if db_err
        .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .is_some()
    {
        return db_err.message().starts_with(sqlite);
    }
    db_err.code().is_some_and(|c| c == pg)
}

#[cfg(test)]
mod tests {
    use sea_orm::Database;

    use super::*;

    const BACKENDS: [DbBackend; 3] = [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql];

    #[test]
    fn the_entity_is_the_registry_table() {
        assert_eq!(Entity.table_name(), REGISTRY_TABLE);
    }

    /// The statements that shape and change the table are the ones the
    /// hand-written registry sent.
    #[test]
    fn ddl_and_writes_as_before() {
        let acme = TenantId::from("ACME");
        for b in BACKENDS {
            let (create, insert) = match b {
                DbBackend::MySql => (
                    "CREATE TABLE IF NOT EXISTS `sea_orm_tenant_registry` ( `tenant_id` VARCHAR(63) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, `placement` varchar(32) NOT NULL, `server` varchar(32) NOT NULL DEFAULT 'main' )",
                    "INSERT INTO `sea_orm_tenant_registry` (`tenant_id`, `placement`, `server`) VALUES ('ACME', 'shared_schema', 'main') ON DUPLICATE KEY UPDATE `placement` = VALUES(`placement`), `server` = VALUES(`server`)",
                ),
                _ => (
                    r#"CREATE TABLE IF NOT EXISTS "sea_orm_tenant_registry" ( "tenant_id" varchar(63) NOT NULL PRIMARY KEY, "placement" varchar(32) NOT NULL, "server" varchar(32) NOT NULL DEFAULT 'main' )"#,
                    r#"INSERT INTO "sea_orm_tenant_registry" ("tenant_id", "placement", "server") VALUES ('ACME', 'shared_schema', 'main') ON CONFLICT ("tenant_id") DO UPDATE SET "placement" = "excluded"."placement", "server" = "excluded"."server""#,
                ),
            };
            assert_eq!(b.build(&create_table(b)).to_string(), create, "{b:?}");
            assert_eq!(
                upsert(&acme, &Location::new(Placement::SharedSchema))
                    .build(b)
                    .to_string(),
                insert,
                "{b:?}"
            );
            let q = |s: &str| match b {
                DbBackend::MySql => s.replace('"', "`"),
                _ => s.to_owned(),
            };
            assert_eq!(
                Entity::delete_many()
                    .filter(key_is(&acme))
                    .build(b)
                    .to_string(),
                q(
                    r#"DELETE FROM "sea_orm_tenant_registry" WHERE "tenant_id" = /*!BINARY*/('ACME')"#
                )
            );
            let probe = Entity::find()
                .select_only()
                .expr(Expr::val(1))
                .limit(1)
                .into_query();
            assert_eq!(
                b.build(&probe).to_string(),
                q(r#"SELECT 1 FROM "sea_orm_tenant_registry" LIMIT 1"#)
            );
            assert_eq!(
                Entity::find().filter(key_is(&acme)).build(b).to_string(),
                q(
                    r#"SELECT "sea_orm_tenant_registry"."tenant_id", "sea_orm_tenant_registry"."placement", "sea_orm_tenant_registry"."server" FROM "sea_orm_tenant_registry" WHERE "tenant_id" = /*!BINARY*/('ACME')"#
                )
            );
        }
        let alter = Table::alter()
            .table(Entity)
            .modify_column(key_column(DbBackend::MySql))
            .to_owned();
        assert_eq!(
            DbBackend::MySql.build(&alter).to_string(),
            "ALTER TABLE `sea_orm_tenant_registry` MODIFY COLUMN `tenant_id` VARCHAR(63) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL"
        );
    }

    #[tokio::test]
    async fn read_insert_delete_list_on_sqlite() -> Result<(), DbErr> {
        let db = Database::connect("sqlite::memory:").await?;
        let acme = TenantId::from("acme");
        // No table yet: nothing provisioned, not an error.
        assert!(!exists(&db).await?);
        assert_eq!(read(&db, &acme).await?, None);

        create(&db).await?;
        create(&db).await?;
        assert!(exists(&db).await?);
        insert(&db, &acme, &Location::new(Placement::SharedSchema)).await?;
        insert(&db, &acme, &Location::new(Placement::SharedSchema)).await?;
        assert_eq!(
            read(&db, &acme).await?,
            Some(Location::new(Placement::SharedSchema))
        );
        assert_eq!(read(&db, &TenantId::from("ACME")).await?, None);

        insert(&db, &acme, &Location::new(Placement::DatabasePerTenant)).await?;
        insert(
            &db,
            &TenantId::from("ACME"),
            &Location::new(Placement::SharedSchema),
        )
        .await?;
        assert_eq!(
            list(&db).await?,
            vec![
                (
                    TenantId::from("ACME"),
                    Location::new(Placement::SharedSchema)
                ),
                (acme.clone(), Location::new(Placement::DatabasePerTenant)),
            ]
        );

        delete(&db, &acme).await?;
        delete(&db, &acme).await?;
        assert_eq!(read(&db, &acme).await?, None);
        assert_eq!(
            read(&db, &TenantId::from("ACME")).await?,
            Some(Location::new(Placement::SharedSchema))
        );

        // A registry from before servers: read as on the main server, and
        // given the column by the next `create`.
        let old = Database::connect("sqlite::memory:").await?;
        old.execute_unprepared(
            "CREATE TABLE sea_orm_tenant_registry (tenant_id varchar(63) NOT NULL PRIMARY KEY, placement varchar(32) NOT NULL); \
             INSERT INTO sea_orm_tenant_registry VALUES ('acme', 'schema_per_tenant')",
        )
        .await?;
        let before = Some(Location::new(Placement::SchemaPerTenant));
        assert_eq!(read(&old, &acme).await?, before);
        assert_eq!(
            list(&old).await?,
            vec![(acme.clone(), Location::new(Placement::SchemaPerTenant))]
        );
        create(&old).await?;
        assert_eq!(read(&old, &acme).await?, before);
        let eu2 = Location::on("eu2", Placement::SharedSchema).expect("a name");
        insert(&old, &acme, &eu2).await?;
        assert_eq!(read(&old, &acme).await?, Some(eu2));

        // A read that fails for another reason is the error.
        db.close_by_ref().await?;
        assert!(read(&db, &acme).await.is_err());
        Ok(())
    }
}
