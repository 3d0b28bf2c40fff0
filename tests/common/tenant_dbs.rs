//! Per-tenant databases for tests of database per tenant.

use std::path::PathBuf;

use sea_orm::{ConnectionTrait, Statement};
use sea_orm_tenant::TenantId;

use super::{Kind, TestDb, unique_name, with_database};

/// Where a test's per-tenant databases go: a fresh directory of SQLite
/// files, or `sot_<random>_<tenant>` databases on the test's server.
pub struct Databases {
    pub kind: Kind,
    pub dir: PathBuf,
    pub prefix: String,
}

impl Databases {
    pub fn new(t: &TestDb) -> Self {
        let dir = std::env::temp_dir().join(unique_name());
        std::fs::create_dir_all(&dir).expect("temp dir");
        Databases {
            kind: t.kind,
            dir,
            prefix: format!("{}_", unique_name()),
        }
    }

    pub fn url_for(&self) -> impl Fn(&TenantId) -> String + Send + Sync + 'static {
        let (kind, dir, prefix) = (self.kind, self.dir.clone(), self.prefix.clone());
        move |t: &TenantId| match kind {
            Kind::Sqlite => format!("sqlite://{}", dir.join(format!("{t}.db")).display()),
            Kind::Postgres => with_database(&env("DATABASE_URL"), &format!("{prefix}{t}")),
            Kind::MySql => with_database(&env("MYSQL_URL"), &format!("{prefix}{t}")),
        }
    }

    /// Whether tenant `t`'s database exists, looked up without `Tenancy`.
    pub async fn exists(&self, t: &TestDb, tenant: &str) -> bool {
        let name = format!("{}{tenant}", self.prefix);
        let sql = match self.kind {
            Kind::Sqlite => return self.dir.join(format!("{tenant}.db")).exists(),
            Kind::Postgres => format!("SELECT 1 AS x FROM pg_database WHERE datname = '{name}'"),
            Kind::MySql => format!(
                "SELECT 1 AS x FROM information_schema.schemata WHERE schema_name = '{name}'"
            ),
        };
        t.db.query_one_raw(Statement::from_string(t.backend(), sql))
            .await
            .expect("lookup")
            .is_some()
    }

    pub fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn env(var: &str) -> String {
    std::env::var(var).unwrap_or_default()
}
