//! Database per tenant: where a tenant's database lives, creating and
//! dropping it, and opening its pool.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

#[cfg(feature = "sqlx-mysql")]
use sea_orm::sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError};
#[cfg(feature = "sqlx-postgres")]
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
#[cfg(feature = "sqlx-sqlite")]
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
use sea_orm::sqlx::{self, AssertSqlSafe, Connection};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr};

#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
use super::naming::SchemaName;
use crate::{TenantError, TenantId};

/// A tenant's database, as its URL names it.
pub(crate) enum Target {
    /// A SQLite file.
    #[cfg_attr(not(feature = "sqlx-sqlite"), allow(dead_code))]
    Sqlite(PathBuf),
    /// A database on a Postgres server.
    #[cfg(feature = "sqlx-postgres")]
    Postgres(Box<PgConnectOptions>, SchemaName),
    /// A database on a MySQL/MariaDB server.
    #[cfg(feature = "sqlx-mysql")]
    MySql(Box<MySqlConnectOptions>, SchemaName),
}

/// A tenant database URL for a driver this build leaves out.
#[allow(dead_code)]
fn not_enabled(scheme: &str, feature: &str) -> TenantError {
    TenantError::Unsupported(format!(
        "a {scheme} tenant database URL needs sea-orm-tenant's `{feature}` feature"
    ))
}

#[allow(dead_code)]
fn bad_url(err: impl crate::error::IntoDbErr) -> TenantError {
    TenantError::db("reading a tenant database URL", err)
}

impl Target {
    pub(crate) fn from_url(url: &str) -> Result<Self, TenantError> {
        if url.starts_with("sqlite:") {
            #[cfg(feature = "sqlx-sqlite")]
            {
                let options = SqliteConnectOptions::from_str(url).map_err(bad_url)?;
                Ok(Target::Sqlite(options.get_filename().to_path_buf()))
            }
            #[cfg(not(feature = "sqlx-sqlite"))]
            Err(not_enabled("sqlite:", "sqlx-sqlite"))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            #[cfg(feature = "sqlx-postgres")]
            {
                let options = PgConnectOptions::from_str(url).map_err(bad_url)?;
                let name = SchemaName::parse(options.get_database().unwrap_or_default())?;
                Ok(Target::Postgres(Box::new(options), name))
            }
            #[cfg(not(feature = "sqlx-postgres"))]
            Err(not_enabled("postgres:", "sqlx-postgres"))
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            #[cfg(feature = "sqlx-mysql")]
            {
                let options = MySqlConnectOptions::from_str(url).map_err(bad_url)?;
                let name = SchemaName::parse(options.get_database().unwrap_or_default())?;
                Ok(Target::MySql(Box::new(options), name))
            }
            #[cfg(not(feature = "sqlx-mysql"))]
            Err(not_enabled("mysql:", "sqlx-mysql"))
        } else {
            Err(TenantError::Unsupported(
                "a tenant database URL must start with sqlite:, postgres: or mysql:".into(),
            ))
        }
    }

    /// Creates the database (or the empty SQLite file) unless it exists.
    pub(crate) async fn create(&self) -> Result<(), TenantError> {
        fn fail(e: impl crate::error::IntoDbErr) -> TenantError {
            TenantError::db("creating a tenant database", e)
        }
        match self {
            Target::Sqlite(path) => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map_err(fail)?;
            }
            #[cfg(feature = "sqlx-postgres")]
            Target::Postgres(options, name) => {
                let mut admin = pg_admin(options).await.map_err(fail)?;
                let exists = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(name.as_str())
                    .fetch_optional(&mut admin)
                    .await
                    .map_err(fail)?
                    .is_some();
                if !exists {
                    let sql = format!("CREATE DATABASE {}", name.pg_quoted());
                    match sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await {
                        Ok(_) => {}
                        // Created concurrently by another provisioner.
                        Err(e) if pg_code(&e).is_some_and(|c| c == "42P04" || c == "23505") => {}
                        Err(e) => return Err(fail(e)),
                    }
                }
                let _ = admin.close().await;
            }
            #[cfg(feature = "sqlx-mysql")]
            Target::MySql(options, name) => {
                let sql = format!("CREATE DATABASE IF NOT EXISTS {}", name.mysql_quoted());
                mysql_admin_execute(options, sql).await.map_err(fail)?;
            }
        }
        Ok(())
    }

    /// The database's name, or the SQLite file's path.
    pub(crate) fn name(&self) -> String {
        match self {
            Target::Sqlite(path) => path.display().to_string(),
            #[cfg(feature = "sqlx-postgres")]
            Target::Postgres(_, name) => name.as_str().to_owned(),
            #[cfg(feature = "sqlx-mysql")]
            Target::MySql(_, name) => name.as_str().to_owned(),
        }
    }

    /// Drops the database (or removes the SQLite file) if it exists, and
    /// says whether it did.
    pub(crate) async fn drop_database(&self) -> Result<bool, TenantError> {
        fn fail(e: impl crate::error::IntoDbErr) -> TenantError {
            TenantError::db("dropping a tenant database", e)
        }
        match self {
            Target::Sqlite(path) => {
                let mut existed = false;
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    match std::fs::remove_file(file) {
                        Ok(()) => existed |= suffix.is_empty(),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(fail(e)),
                    }
                }
                Ok(existed)
            }
            #[cfg(feature = "sqlx-postgres")]
            Target::Postgres(options, name) => {
                let mut admin = pg_admin(options).await.map_err(fail)?;
                let sql = format!("DROP DATABASE {} WITH (FORCE)", name.pg_quoted());
                let result = sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await;
                let _ = admin.close().await;
                match result {
                    Ok(_) => Ok(true),
                    // invalid_catalog_name: there was none.
                    Err(e) if pg_code(&e).as_deref() == Some("3D000") => Ok(false),
                    Err(e) => Err(fail(e)),
                }
            }
            #[cfg(feature = "sqlx-mysql")]
            Target::MySql(options, name) => {
                let sql = format!("DROP DATABASE {}", name.mysql_quoted());
                match mysql_admin_execute(options, sql).await {
                    Ok(()) => Ok(true),
                    // ER_DB_DROP_EXISTS: there was none.
                    Err(e) if mysql_number(&e) == Some(1008) => Ok(false),
                    Err(e) => Err(fail(e)),
                }
            }
        }
    }
}

/// The MySQL error number of `err`, if the server sent one.
#[cfg(feature = "sqlx-mysql")]
fn mysql_number(err: &sqlx::Error) -> Option<u16> {
    err.as_database_error()?
        .try_downcast_ref::<MySqlDatabaseError>()
        .map(|e| e.number())
}

/// A connection to the server's `postgres` database, for creating and
/// dropping tenant databases.
#[cfg(feature = "sqlx-postgres")]
async fn pg_admin(options: &PgConnectOptions) -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect_with(&options.clone().database("postgres")).await
}

/// Runs one statement (`sql` quotes every name it holds) on a connection
/// of its own to a MySQL server, outside any tenant database.
#[cfg(feature = "sqlx-mysql")]
async fn mysql_admin_execute(
    options: &MySqlConnectOptions,
    sql: String,
) -> Result<(), sqlx::Error> {
    let mut admin =
        MySqlConnection::connect_with(&options.clone().database("information_schema")).await?;
    let result = sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await;
    let _ = admin.close().await;
    result.map(|_| ())
}

#[cfg(feature = "sqlx-postgres")]
fn pg_code(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

/// Why a tenant's pool could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The database (or file) does not exist: not provisioned.
    Unknown,
    /// Anything else.
    Failed(TenantError),
}

/// Which file a SQLite path names: device and inode on Unix (elsewhere
/// only whether it exists), so that a pool opened on a file that was
/// removed, or replaced by a new provision, is told from one on the file
/// there now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileId(u64, u64);

impl FileId {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileId(meta.dev(), meta.ino())
    }

    #[cfg(not(unix))]
    fn of(_meta: &std::fs::Metadata) -> Self {
        FileId(0, 0)
    }
}

/// The file a tenant's SQLite path names now: [`OpenError::Unknown`] when
/// there is none (only "no such file" or "not a file" is "not
/// provisioned"; a lookup that failed otherwise, such as for permissions,
/// is a database error). One `stat`.
pub(crate) fn sqlite_file(path: &Path) -> Result<FileId, OpenError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(FileId::of(&meta)),
        Ok(_) => Err(OpenError::Unknown),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(OpenError::Unknown),
        Err(e) => Err(OpenError::Failed(TenantError::db(
            "looking up a tenant database file",
            e,
        ))),
    }
}

/// Limits of one tenant's pool.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolLimits {
    pub(crate) max_connections: u32,
    pub(crate) idle: Duration,
}

/// Opens the pool of an existing tenant database; never creates one.
pub(crate) async fn open(
    url: &str,
    target: &Target,
    limits: PoolLimits,
) -> Result<DatabaseConnection, OpenError> {
    #[allow(irrefutable_let_patterns)] // a SQLite-only build
    if let Target::Sqlite(path) = target {
        sqlite_file(path)?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(limits.max_connections)
        .min_connections(0)
        .idle_timeout(limits.idle)
        .sqlx_logging(false);
    match Database::connect(options).await {
        Ok(db) => Ok(db),
        Err(err) if is_unknown_database(&err) => Err(OpenError::Unknown),
        Err(err) => Err(OpenError::Failed(TenantError::db(
            "opening a tenant database",
            err,
        ))),
    }
}

/// A one-connection pool of an existing tenant database, for work that
/// is not the tenant's traffic (a migration run over thousands of
/// databases, a move's destination); the caller closes it.
/// `UnknownTenant` when the database does not exist.
pub(crate) async fn open_own(
    tenant: &TenantId,
    url: &str,
    target: &Target,
) -> Result<DatabaseConnection, TenantError> {
    let limits = PoolLimits {
        max_connections: 1,
        idle: Duration::from_secs(60),
    };
    open(url, target, limits).await.map_err(|e| match e {
        OpenError::Unknown => TenantError::UnknownTenant(tenant.to_string()),
        OpenError::Failed(e) => e,
    })
}

/// Postgres 3D000 (`database "…" does not exist`), MySQL 1049 (`Unknown
/// database`).
fn is_unknown_database(err: &DbErr) -> bool {
    let sqlx_err = match err {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    let Some(db_err) = sqlx_err.as_database_error() else {
        return false;
    };
    #[cfg(feature = "sqlx-mysql")]
    if let Some(mysql) = db_err.try_downcast_ref::<MySqlDatabaseError>() {
        return mysql.number() == 1049;
    }
    db_err.code().is_some_and(|c| c == "3D000")
}
