//! The test harness shared by every file in `tests/`.
//!
//! [`each_backend`] runs one test body against every database this machine
//! offers, each a fresh database with the test tables created:
//!
//! - SQLite always (a temporary file, so the pool has several connections
//!   and concurrency tests exercise real locking);
//! - Postgres when `DATABASE_URL` is set;
//! - MySQL / MariaDB when `MYSQL_URL` is set.
//!
//! For a server a fresh database named `sot_<random>` is created from the
//! URL's connection and dropped again when the body is done, whether it
//! passed or panicked (a killed run leaves `sot_*` databases behind; `.ci/run`
//! drops them). A missing URL prints one `skipped: …` line per test binary;
//! with `SEA_ORM_TENANT_REQUIRE_DBS=1` it fails the test instead.
#![allow(dead_code)]

use std::fmt;
use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::FutureExt;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait,
};
use sea_orm_tenant::doc_entities::{comment, country, post, post_tag, tag};

pub mod bouncer;
pub mod confine;
pub mod entities;
pub mod legacy;
pub mod logs;
pub mod post_migrator;
pub mod second_server;
pub mod tenant_dbs;

pub use entities::{document, handle, ledger};
#[allow(unused_imports)]
pub use tenant_dbs::{Databases, env};

/// The prefix of every database (and SQLite file) the harness creates.
pub const DB_PREFIX: &str = "sot_";

/// Which server a [`TestDb`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    MySql,
}

impl Kind {
    /// The name used in assertion messages and skip lines.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "Postgres",
            Kind::MySql => "MySQL/MariaDB",
        }
    }

    fn env_var(self) -> Option<&'static str> {
        match self {
            Kind::Sqlite => None,
            Kind::Postgres => Some("DATABASE_URL"),
            Kind::MySql => Some("MYSQL_URL"),
        }
    }
}

/// One fresh, empty database to run a test against.
///
/// `Display` prints the backend's name, for assertion messages:
/// `assert_eq!(rows, 1, "{t}: ...")`.
pub struct TestDb {
    pub kind: Kind,
    /// A connection (pool) to the fresh database.
    pub db: DatabaseConnection,
    owner: Owner,
}

/// What to remove when the test is done.
enum Owner {
    File(PathBuf),
    Server {
        admin: DatabaseConnection,
        name: String,
    },
}

impl fmt::Display for TestDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.label())
    }
}

impl TestDb {
    /// The SeaORM backend of this database.
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Whether this is MySQL/MariaDB (whose upserts and re-reads differ).
    pub fn is_mysql(&self) -> bool {
        self.kind == Kind::MySql
    }

    /// A pool of its own of `max` connections to this (server) database,
    /// with the same options as [`db`](Self::db): on a pool of one the next
    /// borrower is certain.
    pub async fn pool_of(&self, max: u32) -> DatabaseConnection {
        match self.kind {
            Kind::Postgres => {
                let options = (*self.db.get_postgres_connection_pool().connect_options()).clone();
                let pool = sea_orm::sqlx::postgres::PgPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .unwrap_or_else(|e| panic!("{self}: pool of {max}: {e}"));
                sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
            }
            Kind::MySql => {
                let options = (*self.db.get_mysql_connection_pool().connect_options()).clone();
                let pool = sea_orm::sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .unwrap_or_else(|e| panic!("{self}: pool of {max}: {e}"));
                sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool(pool)
            }
            Kind::Sqlite => panic!("pool_of is for server databases"),
        }
    }

    /// Creates every test table (see [`create_tables`]).
    pub async fn create_tables(&self) {
        create_tables(&self.db)
            .await
            .unwrap_or_else(|err| panic!("{self}: creating the test tables failed: {err}"));
    }

    /// Closes the pool and drops the database (or removes the SQLite file).
    pub async fn cleanup(self) {
        let TestDb { kind, db, owner } = self;
        let _ = db.close().await;
        match owner {
            Owner::File(path) => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Owner::Server { admin, name } => {
                if let Err(err) = admin.execute_unprepared(&drop_sql(kind, &name)).await {
                    note(&format!(
                        "{}: could not drop database {name}: {err}",
                        kind.label()
                    ));
                }
                let _ = admin.close().await;
            }
        }
    }
}

/// Every backend kind, in the order the tests run them.
pub const ALL: [Kind; 3] = [Kind::Sqlite, Kind::Postgres, Kind::MySql];

/// Every database this machine offers, each fresh and empty.
///
/// SQLite always; Postgres and MySQL/MariaDB when their URLs are set.
pub async fn backends() -> Vec<TestDb> {
    backends_of(&ALL).await
}

/// The databases of `kinds` that this machine offers, each fresh and empty.
pub async fn backends_of(kinds: &[Kind]) -> Vec<TestDb> {
    let mut dbs = Vec::new();
    let mut required = Vec::new();
    for &kind in kinds {
        match kind {
            Kind::Sqlite => dbs.push(sqlite().await),
            _ => match server(kind).await {
                Ok(db) => dbs.extend(db),
                Err(why) => required.push(why),
            },
        }
    }
    if !required.is_empty() {
        // Leave nothing behind before failing.
        for db in dbs {
            db.cleanup().await;
        }
        panic!("{}", required.join("\n"));
    }
    dbs
}

/// Runs `test` once per backend, on a fresh database with the test tables.
///
/// Every backend runs even when one fails; then the test fails naming each
/// backend that failed and why. Databases are dropped in every case.
pub async fn each_backend(test: impl AsyncFn(&TestDb)) {
    each_backend_of(&ALL, test).await;
}

/// [`each_backend`] restricted to `kinds` (to keep a known bug on one
/// backend in an `#[ignore]`d test while the others still run).
pub async fn each_backend_of(kinds: &[Kind], test: impl AsyncFn(&TestDb)) {
    let mut failures = Vec::new();
    for t in backends_of(kinds).await {
        let run = async {
            t.create_tables().await;
            test(&t).await;
        };
        let outcome = AssertUnwindSafe(run).catch_unwind().await;
        if let Err(panic) = outcome {
            failures.push(format!("[{t}] {}", panic_message(&*panic)));
        }
        t.cleanup().await;
    }
    if !failures.is_empty() {
        panic!(
            "failed on {} backend(s):\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked".to_owned()
    }
}

/// Creates the test tables: the crate's doc entities (`post`, `comment`,
/// `tag`, `post_tag`, global `country`), this harness's [`ledger`]
/// (integer tenant), [`document`] (UUID tenant) and [`handle`] (a unique
/// column besides the key), and the [`legacy`] copies of the doc entities
/// whose foreign keys check ids only.
pub async fn create_tables(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    // Parents before children: `comment` and `post_tag` reference `post` and `tag`.
    create_table(db, post::Entity).await?;
    create_table(db, tag::Entity).await?;
    create_table(db, comment::Entity).await?;
    create_table(db, post_tag::Entity).await?;
    create_table(db, country::Entity).await?;
    create_table(db, ledger::Entity).await?;
    create_table(db, document::Entity).await?;
    create_table(db, handle::Entity).await?;
    create_table(db, legacy::post::Entity).await?;
    create_table(db, legacy::tag::Entity).await?;
    create_table(db, legacy::comment::Entity).await?;
    create_table(db, legacy::post_tag::Entity).await?;
    Ok(())
}

/// `CREATE TABLE` and its indexes for one entity, from its definition.
pub async fn create_table<E: EntityTrait>(
    db: &DatabaseConnection,
    entity: E,
) -> Result<(), sea_orm::DbErr> {
    sea_orm_tenant::doc_entities::create_table(db, entity).await
}

/// Whether `SEA_ORM_TENANT_REQUIRE_DBS=1`: missing servers fail instead of skipping.
pub fn require_dbs() -> bool {
    std::env::var("SEA_ORM_TENANT_REQUIRE_DBS").is_ok_and(|v| v == "1")
}

/// A unique name: `sot_` and 24 hex digits.
pub fn unique_name() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{DB_PREFIX}{}", &random[..24])
}

fn connect_options(url: String) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(8)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    options
}

async fn sqlite() -> TestDb {
    let path = std::env::temp_dir().join(format!("{}.sqlite", unique_name()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let db = Database::connect(connect_options(url))
        .await
        .unwrap_or_else(|err| panic!("SQLite: cannot open {}: {err}", path.display()));
    TestDb {
        kind: Kind::Sqlite,
        db,
        owner: Owner::File(path),
    }
}

/// A fresh database on the server named by `kind`'s URL, or `None` (after
/// one `skipped:` line) when the URL is unset or the server cannot be
/// reached; under `SEA_ORM_TENANT_REQUIRE_DBS=1` that is an `Err` saying why.
///
/// A server that could not be reached is not tried again by later tests of
/// the same binary.
async fn server(kind: Kind) -> Result<Option<TestDb>, String> {
    static POSTGRES_DOWN: OnceLock<String> = OnceLock::new();
    static MYSQL_DOWN: OnceLock<String> = OnceLock::new();
    let down = match kind {
        Kind::Postgres => &POSTGRES_DOWN,
        _ => &MYSQL_DOWN,
    };
    let var = kind.env_var().expect("a server backend");
    let Some(url) = std::env::var(var).ok().filter(|url| !url.is_empty()) else {
        return skip(kind, &format!("{var} not set"));
    };
    if let Some(why) = down.get() {
        return skip(kind, why);
    }
    match create_server_db(kind, &url).await {
        Ok(db) => Ok(Some(db)),
        Err(err) => skip(
            kind,
            down.get_or_init(|| format!("cannot use {var}: {err}")),
        ),
    }
}

async fn create_server_db(kind: Kind, url: &str) -> Result<TestDb, sea_orm::DbErr> {
    let mut admin_options = connect_options(url.to_owned());
    admin_options
        .max_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5));
    let admin = Database::connect(admin_options).await?;
    let name = unique_name();
    let create = match kind {
        Kind::Postgres => format!(r#"CREATE DATABASE "{name}""#),
        _ => format!("CREATE DATABASE `{name}`"),
    };
    admin.execute_unprepared(&create).await?;
    match Database::connect(connect_options(with_database(url, &name))).await {
        Ok(db) => Ok(TestDb {
            kind,
            db,
            owner: Owner::Server { admin, name },
        }),
        Err(err) => {
            let _ = admin.execute_unprepared(&drop_sql(kind, &name)).await;
            Err(err)
        }
    }
}

fn drop_sql(kind: Kind, name: &str) -> String {
    match kind {
        Kind::Postgres => format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#),
        _ => format!("DROP DATABASE IF EXISTS `{name}`"),
    }
}

/// `url` with its database (the path) replaced by `name`; the query string is kept.
///
/// ```text
/// postgres://u@h:5432/test?sslmode=disable -> postgres://u@h:5432/sot_x?sslmode=disable
/// ```
pub fn with_database(url: &str, name: &str) -> String {
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

/// Skips `kind`, printing one line per test binary; under
/// `SEA_ORM_TENANT_REQUIRE_DBS=1` returns why the test must fail instead.
fn skip(kind: Kind, why: &str) -> Result<Option<TestDb>, String> {
    if require_dbs() {
        return Err(format!(
            "{} tests are required (SEA_ORM_TENANT_REQUIRE_DBS=1) but cannot run: {why}",
            kind.label()
        ));
    }
    static POSTGRES: OnceLock<()> = OnceLock::new();
    static MYSQL: OnceLock<()> = OnceLock::new();
    let once = match kind {
        Kind::Postgres => &POSTGRES,
        _ => &MYSQL,
    };
    once.get_or_init(|| note(&format!("skipped: {} tests ({why})", kind.label())));
    Ok(None)
}

/// Writes a line to the real stderr, past the test harness's capture.
fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs `future` and fails the test when it takes longer than `secs`.
pub async fn within<F: Future>(secs: u64, what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {secs} s"))
}

// ---------------------------------------------------------------------------
// Fixtures shared by the tests.

/// Tenant A of every test.
pub fn acme() -> sea_orm_tenant::TenantId {
    sea_orm_tenant::TenantId::from("acme")
}

/// Tenant B of every test: the neighbour whose rows must stay invisible.
pub fn globex() -> sea_orm_tenant::TenantId {
    sea_orm_tenant::TenantId::from("globex")
}

/// Inserts a post for `tenant` through the scoped builder and returns it as stored.
pub async fn add_post(t: &TestDb, tenant: &sea_orm_tenant::TenantId, title: &str) -> post::Model {
    use sea_orm::ActiveValue::Set;
    use sea_orm_tenant::{TenantEntity, TenantScoped};
    let model = post::ActiveModel {
        title: Set(title.to_owned()),
        ..Default::default()
    };
    post::Entity::scoped(tenant)
        .insert(model)
        .exec_with_returning(&t.db)
        .await
        .unwrap_or_else(|err| panic!("{t}: inserting post {title:?} for {tenant}: {err}"))
}

/// Inserts a comment on `post_id` for `tenant` and returns it as stored.
pub async fn add_comment(
    t: &TestDb,
    tenant: &sea_orm_tenant::TenantId,
    post_id: i32,
    body: &str,
) -> comment::Model {
    use sea_orm::ActiveValue::Set;
    use sea_orm_tenant::{TenantEntity, TenantScoped};
    let model = comment::ActiveModel {
        post_id: Set(post_id),
        body: Set(body.to_owned()),
        ..Default::default()
    };
    comment::Entity::scoped(tenant)
        .insert(model)
        .exec_with_returning(&t.db)
        .await
        .unwrap_or_else(|err| panic!("{t}: inserting comment {body:?} for {tenant}: {err}"))
}

/// Every post of every tenant, by id: what is really in the table.
pub async fn all_posts(t: &TestDb) -> Vec<post::Model> {
    use sea_orm::QueryOrder;
    post::Entity::find()
        .order_by_asc(post::Column::Id)
        .all(&t.db)
        .await
        .unwrap_or_else(|err| panic!("{t}: reading every post: {err}"))
}
