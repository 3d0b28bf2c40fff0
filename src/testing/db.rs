//! [`TestDb`]: a fresh database or schema for one test, removed afterwards.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

use crate::{Naming, Tenancy, TenantError, TenantId};

/// Where a test's data lives, and so what to remove.
#[derive(Clone, Debug)]
enum Place {
    /// SQLite: the directory of the file, and of the tenants' files.
    Sqlite { dir: PathBuf },
    /// The database `name` on the server of the URL `server`.
    Database { server: String },
    /// The Postgres schema `name` in the database of the URL `server`.
    Schema { server: String },
}

/// A fresh, empty database (or Postgres schema) for one test, and the
/// tenancies built on it.
///
/// | constructor | what it creates | isolation levels |
/// |---|---|---|
/// | [`sqlite`](Self::sqlite) | a SQLite file in a new temporary directory | shared schema, database per tenant (files beside it) |
/// | [`sqlite_memory`](Self::sqlite_memory) | an in-memory SQLite database (one connection) | shared schema, database per tenant (files in a temporary directory) |
/// | [`postgres`](Self::postgres) | a database on the server of the URL | all three |
/// | [`postgres_schema`](Self::postgres_schema) | a schema in the URL's database (cheaper than a database) | shared schema, database per tenant, schema per tenant without global tables |
/// | [`mysql`](Self::mysql) | a database on the server of the URL | shared schema, database per tenant |
///
/// **Removal.** [`cleanup`](Self::cleanup) closes the pool and removes the
/// database or schema, every tenant database, schema and file it made,
/// and reports an error. If you do not call it, dropping the `TestDb`
/// does the same, best effort: it blocks the dropping thread while a
/// helper thread with a runtime of its own removes them (Postgres
/// databases with `WITH (FORCE)`, MySQL after killing the sessions still
/// in them, waiting at most 10 s for a lock), and prints a line on standard
/// error if that fails. A panicking test is cleaned the same way, as the `TestDb`
/// is dropped while unwinding; only a killed process leaves `sot_*`
/// databases behind.
///
/// ```
/// use sea_orm::ConnectionTrait;
/// use sea_orm_tenant::testing::TestDb;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = TestDb::sqlite().await?;
/// db.connection().execute_unprepared("CREATE TABLE note (id INTEGER PRIMARY KEY)").await?;
/// assert!(db.name().starts_with("sot_"));
/// db.cleanup().await?;
/// # Ok(())
/// # }
/// ```
pub struct TestDb {
    db: DatabaseConnection,
    name: String,
    url: String,
    place: Place,
    removed: bool,
}

impl fmt::Debug for TestDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDb")
            .field("backend", &self.backend())
            .field("name", &self.name)
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for TestDb {
    /// The backend's name (`SQLite`, `Postgres`, `MySQL`), for assertion
    /// messages: `assert!(ok, "{db}: …")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.backend() {
            DbBackend::Postgres => "Postgres",
            DbBackend::MySql => "MySQL",
            _ => "SQLite",
        })
    }
}

impl TestDb {
    /// A SQLite file in a new temporary directory (a pool of several
    /// connections, so concurrency is real).
    pub async fn sqlite() -> Result<Self, TenantError> {
        let (name, dir) = temp_dir()?;
        let url = format!("sqlite://{}?mode=rwc", dir.join("main.db").display());
        let place = Place::Sqlite { dir };
        match connect(&url, 8, None).await {
            Ok(db) => Ok(TestDb::new(db, name, url, place)),
            Err(e) => Err(fail_after(e, &place, &name).await),
        }
    }

    /// An in-memory SQLite database, on a pool of one connection that is
    /// never recycled (each in-memory connection is a database of its own).
    /// Tenants placed in a database of their own get files in a temporary
    /// directory.
    pub async fn sqlite_memory() -> Result<Self, TenantError> {
        let (name, dir) = temp_dir()?;
        let url = "sqlite::memory:".to_owned();
        let mut options = options(&url, 1);
        options
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
        let place = Place::Sqlite { dir };
        match Database::connect(options).await {
            Ok(db) => Ok(TestDb::new(db, name, url, place)),
            Err(e) => Err(fail_after(TenantError::db("opening SQLite", e), &place, &name).await),
        }
    }

    /// A new database on the Postgres server of `url` (created through
    /// `url`'s own database, which must exist and let the user create
    /// databases).
    ///
    /// ```no_run
    /// # use sea_orm_tenant::testing::TestDb;
    /// # async fn example() -> Result<(), sea_orm_tenant::TenantError> {
    /// let db = TestDb::postgres("postgres://postgres@127.0.0.1/postgres").await?;
    /// let tenancy = db.schema_per_tenant();
    /// # Ok(())
    /// # }
    /// ```
    pub async fn postgres(url: &str) -> Result<Self, TenantError> {
        Self::server_database(url, DbBackend::Postgres).await
    }

    /// A new schema in the Postgres database of `url`, made the pool's
    /// `search_path`: cheaper than a database. Schema per tenant works,
    /// with tenant schemas `sot_<hex>_<tenant>`, but its tenants see
    /// `public` of that database as the global schema: test global tables
    /// with [`postgres`](Self::postgres).
    pub async fn postgres_schema(url: &str) -> Result<Self, TenantError> {
        let name = unique_name();
        let server = url.to_owned();
        let admin = connect(url, 1, None).await?;
        let created = admin
            .execute_unprepared(&format!("CREATE SCHEMA \"{name}\""))
            .await
            .map_err(|e| TenantError::db("creating the test schema", e));
        let _ = admin.close().await;
        created?;
        let place = Place::Schema { server };
        match connect(url, 8, Some(&name)).await {
            Ok(db) => Ok(TestDb::new(db, name, url.to_owned(), place)),
            Err(e) => Err(fail_after(e, &place, &name).await),
        }
    }

    /// A new database on the MySQL/MariaDB server of `url`.
    pub async fn mysql(url: &str) -> Result<Self, TenantError> {
        Self::server_database(url, DbBackend::MySql).await
    }

    /// Every backend this machine offers, each fresh: SQLite always,
    /// Postgres when the environment variable `DATABASE_URL` is set, MySQL
    /// when `MYSQL_URL` is. A variable that is not set prints one line
    /// (`skipped: Postgres (DATABASE_URL not set)`) on standard error.
    ///
    /// ```
    /// # use sea_orm_tenant::testing::TestDb;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sea_orm_tenant::TenantError> {
    /// for db in TestDb::each_from_env().await? {
    ///     let tenancy = db.shared_schema();
    ///     db.provision(&tenancy, ["acme"]).await?;
    ///     db.cleanup().await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn each_from_env() -> Result<Vec<TestDb>, TenantError> {
        let mut dbs = vec![TestDb::sqlite().await?];
        for (var, label, backend) in [
            ("DATABASE_URL", "Postgres", DbBackend::Postgres),
            ("MYSQL_URL", "MySQL", DbBackend::MySql),
        ] {
            match std::env::var(var) {
                Ok(url) if !url.is_empty() => {
                    dbs.push(Self::server_database(&url, backend).await?);
                }
                _ => eprintln!("skipped: {label} ({var} not set)"),
            }
        }
        Ok(dbs)
    }

    async fn server_database(url: &str, backend: DbBackend) -> Result<Self, TenantError> {
        let name = unique_name();
        let admin = connect(url, 1, None).await?;
        let created = admin
            .execute_unprepared(&format!("CREATE DATABASE {}", quoted(backend, &name)))
            .await
            .map_err(|e| TenantError::db("creating the test database", e));
        let _ = admin.close().await;
        created?;
        let own = with_database(url, &name);
        let place = Place::Database {
            server: url.to_owned(),
        };
        match connect(&own, 8, None).await {
            Ok(db) => Ok(TestDb::new(db, name, own, place)),
            Err(e) => Err(fail_after(e, &place, &name).await),
        }
    }

    fn new(db: DatabaseConnection, name: String, url: String, place: Place) -> Self {
        TestDb {
            db,
            name,
            url,
            place,
            removed: false,
        }
    }

    /// The pool of the fresh database (with the schema as its
    /// `search_path` for [`postgres_schema`](Self::postgres_schema)).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The backend.
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// The database's (or schema's) name: `sot_` and 24 hex digits.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of the fresh database (for a schema, of the database that
    /// holds it; for SQLite in memory, `sqlite::memory:`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A shared-schema tenancy on this database: add your migrator and
    /// tables as usual (`.with_migrator::<Migrator>()`).
    pub fn shared_schema(&self) -> Tenancy {
        Tenancy::shared_schema(self.db.clone())
    }

    /// A schema-per-tenant tenancy on this database (Postgres): tenant
    /// schemas are named `sot_<hex>_<tenant>` and removed with it.
    pub fn schema_per_tenant(&self) -> Tenancy {
        Tenancy::schema_per_tenant(self.db.clone()).naming(self.tenant_naming())
    }

    /// A database-per-tenant tenancy whose registry is this database:
    /// SQLite files beside it (`<dir>/tenant_<id>.db`), or databases
    /// `sot_<hex>_<tenant>` on the same server; removed with it.
    pub fn database_per_tenant(&self) -> Tenancy {
        let tenancy = match &self.place {
            Place::Sqlite { dir } => Tenancy::sqlite_files(dir),
            Place::Database { server } | Place::Schema { server } => {
                let (server, naming) = (server.clone(), self.tenant_naming());
                Tenancy::database_per_tenant(move |t| {
                    // Only called with ids that passed the naming rule.
                    let name = naming
                        .name_for(t)
                        .map(|n| n.to_string())
                        .unwrap_or_default();
                    with_database(&server, &name)
                })
                .naming(self.tenant_naming())
            }
        };
        tenancy.with_registry(self.db.clone())
    }

    /// Provisions each id on `tenancy` (creating its schema, database or
    /// rows and running the tenancy's migrator) and returns the ids.
    ///
    /// ```
    /// # use sea_orm_tenant::testing::TestDb;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sea_orm_tenant::TenantError> {
    /// let db = TestDb::sqlite().await?;
    /// let tenancy = db.database_per_tenant();
    /// let [acme] = db.provision(&tenancy, ["acme"]).await?;
    /// assert_eq!(tenancy.tenants().await?.len(), 1);
    /// # let _ = acme;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn provision<const N: usize>(
        &self,
        tenancy: &Tenancy,
        ids: [&str; N],
    ) -> Result<[TenantId; N], TenantError> {
        let mut tenants = Vec::with_capacity(N);
        for id in ids {
            let tenant = TenantId::parse(id)?;
            tenancy.provision(&tenant).await?;
            tenants.push(tenant);
        }
        tenants.try_into().map_err(|_| {
            TenantError::Unsupported("provisioned a different number of tenants".into())
        })
    }

    /// Closes the pool and removes everything this `TestDb` created: the
    /// database or schema, and every tenant database, schema and file
    /// made through it. Errors are returned (a drop only prints them).
    pub async fn cleanup(mut self) -> Result<(), TenantError> {
        self.removed = true;
        let db = std::mem::take(&mut self.db);
        let _ = db.close().await;
        remove(&self.place, &self.name).await
    }

    /// Tenant schemas and databases: `sot_<hex>_<tenant>`.
    fn tenant_naming(&self) -> Naming {
        // A `sot_` name and `_` fit the prefix rule (`[a-z0-9_]`, at most 40 bytes).
        Naming::prefix(&format!("{}_", self.name)).unwrap_or_default()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let (place, name) = (self.place.clone(), self.name.clone());
        if let Place::Sqlite { dir } = &place {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        // No await in a drop: a thread with a runtime of its own.
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| TenantError::db("starting a runtime to drop the test database", e))?;
            runtime.block_on(remove(&place, &name))
        })
        .join();
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!(
                "sea-orm-tenant: could not remove test database {}: {e}",
                self.name
            ),
            Err(_) => eprintln!(
                "sea-orm-tenant: could not remove test database {}",
                self.name
            ),
        }
    }
}

/// `sot_` and 24 hex digits.
fn unique_name() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("sot_{}", &random[..24])
}

/// A new temporary directory named by a unique name.
fn temp_dir() -> Result<(String, PathBuf), TenantError> {
    let name = unique_name();
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir)
        .map_err(|e| TenantError::db("creating a temporary directory", e))?;
    Ok((name, dir))
}

fn options(url: &str, max: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    options
}

async fn connect(
    url: &str,
    max: u32,
    search_path: Option<&str>,
) -> Result<DatabaseConnection, TenantError> {
    let mut options = options(url, max);
    if let Some(schema) = search_path {
        options.set_schema_search_path(schema);
    }
    Database::connect(options)
        .await
        .map_err(|e| TenantError::db("connecting to the test database", e))
}

/// `error`, after removing what was made before it.
async fn fail_after(error: TenantError, place: &Place, name: &str) -> TenantError {
    let _ = remove(place, name).await;
    error
}

fn quoted(backend: DbBackend, name: &str) -> String {
    match backend {
        DbBackend::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// Removes the database or schema `name` and every `name_<tenant>`
/// database and schema beside it (SQLite: the directory).
async fn remove(place: &Place, name: &str) -> Result<(), TenantError> {
    let server = match place {
        Place::Sqlite { dir } => {
            return match std::fs::remove_dir_all(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(TenantError::db("removing the test directory", e))
                }
                _ => Ok(()),
            };
        }
        Place::Database { server } | Place::Schema { server } => server,
    };
    let admin = connect(server, 1, None).await?;
    let result = remove_on(&admin, place, name).await;
    let _ = admin.close().await;
    result.map_err(|e| TenantError::db("removing the test database", e))
}

async fn remove_on(
    admin: &DatabaseConnection,
    place: &Place,
    name: &str,
) -> Result<(), sea_orm::DbErr> {
    let backend = admin.get_database_backend();
    let pattern = format!("{name}\\_%");
    let list = |sql: &str| {
        Statement::from_sql_and_values(backend, sql, [name.into(), pattern.clone().into()])
    };
    // A transaction left open by the test (its runtime may be blocked in
    // this very drop) must not make the removal wait forever.
    match backend {
        DbBackend::MySql => {
            admin
                .execute_unprepared("SET SESSION lock_wait_timeout = 10")
                .await?;
            // The counterpart of Postgres' `WITH (FORCE)`, best effort.
            let sessions = admin
                .query_all_raw(list(
                    "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? OR DB LIKE ?",
                ))
                .await?;
            for session in sessions {
                // BIGINT UNSIGNED on MySQL, signed on MariaDB.
                let id = session
                    .try_get::<u64>("", "id")
                    .or_else(|_| session.try_get::<i64>("", "id").map(|id| id as u64));
                if let Ok(id) = id {
                    let _ = admin.execute_unprepared(&format!("KILL {id}")).await;
                }
            }
        }
        _ => {
            admin.execute_unprepared("SET lock_timeout = '10s'").await?;
        }
    }
    // Schemas first (in the URL's database), then databases.
    if let Place::Schema { .. } = place {
        let rows = admin
            .query_all_raw(list(
                "SELECT nspname AS name FROM pg_catalog.pg_namespace WHERE nspname = $1 OR nspname LIKE $2",
            ))
            .await?;
        for row in rows {
            let schema: String = row.try_get("", "name")?;
            admin
                .execute_unprepared(&format!(
                    "DROP SCHEMA IF EXISTS {} CASCADE",
                    quoted(backend, &schema)
                ))
                .await?;
        }
    }
    let sql = match backend {
        DbBackend::MySql => {
            "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ? OR SCHEMA_NAME LIKE ?"
        }
        _ => {
            "SELECT datname AS name FROM pg_catalog.pg_database WHERE datname = $1 OR datname LIKE $2"
        }
    };
    for row in admin.query_all_raw(list(sql)).await? {
        let database: String = row.try_get("", "name")?;
        let drop = match backend {
            DbBackend::MySql => format!("DROP DATABASE IF EXISTS {}", quoted(backend, &database)),
            _ => format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quoted(backend, &database)
            ),
        };
        admin.execute_unprepared(&drop).await?;
    }
    Ok(())
}

/// `url` with its database (the path) replaced by `name`; the query string
/// is kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_the_database_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/test?sslmode=disable", "sot_x"),
            "postgres://u@h:5432/sot_x?sslmode=disable"
        );
        assert_eq!(
            with_database("mysql://root@h", "sot_x"),
            "mysql://root@h/sot_x"
        );
    }

    #[test]
    fn names_fit_the_tenant_naming_rule() {
        let name = unique_name();
        assert_eq!(name.len(), 28);
        let naming = Naming::prefix(&format!("{name}_")).expect("a valid prefix");
        assert!(naming.name_for(&TenantId::from("acme")).is_ok());
    }
}
