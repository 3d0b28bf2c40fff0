//! [`Tenancy::erase`]: deprovision, then a check, place by place, that
//! nothing of the tenant is left, stated in an [`ErasureReport`].

use std::fmt;

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use super::database::Target;
use super::{DeprovisionReport, Tenancy, registry};
use crate::{TenantConnection, TenantError, TenantId};

/// What [`Tenancy::erase`] removed (its
/// [`DeprovisionReport`]) and what it checked afterwards to be gone. An
/// `Ok` report means every check found nothing of the tenant; a check
/// that finds something is [`TenantError::NotErased`].
///
/// ```
/// use sea_orm::{ConnectionTrait, Database, Schema};
/// use sea_orm_tenant::doc_entities::post;
/// use sea_orm_tenant::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = Database::connect("sqlite::memory:").await?;
/// db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(post::Entity)).await?;
/// let tenancy = Tenancy::shared_schema(db).tenant_table::<post::Entity>();
/// let acme = TenantId::from("acme");
/// tenancy.provision(&acme).await?;
/// let conn = tenancy.connection(&acme).await?;
/// conn.execute_unprepared("INSERT INTO post (title) VALUES ('a'), ('b')").await?;
/// drop(conn);
///
/// let report = tenancy.erase(&acme).await?;
/// assert!(report.removed.existed);
/// assert_eq!(report.removed.rows_in("post"), 2);
/// assert_eq!(
///     report.to_string(),
///     "tenant `acme` erased: deprovisioned (shared schema): 2 rows from `post`; \
///      checked afterwards: no registry row, nothing cached, 0 rows in `post`"
/// );
///
/// // A second call finds nothing left, and says so.
/// let again = tenancy.erase(&acme).await?;
/// assert!(!again.removed.existed);
/// assert!(again.to_string().starts_with("tenant `acme`: nothing was left to erase; checked afterwards"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErasureReport {
    /// What the deprovision removed, place by place.
    pub removed: DeprovisionReport,
    /// What was checked after the removal, each found empty or absent.
    pub checked: Vec<ErasureCheck>,
}

/// One check of [`Tenancy::erase`], made after the removal, that found
/// nothing of the tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErasureCheck {
    /// The registry has no row of the tenant.
    Registry,
    /// No pool of the tenant's database and no registry answer about it is
    /// cached in this `Tenancy`.
    Caches,
    /// Each of these declared tenant tables of the shared database was
    /// counted for the tenant: 0 rows.
    Rows(Vec<String>),
    /// The tenant's Postgres schema does not exist.
    Schema(String),
    /// The tenant's database (or SQLite file) does not exist.
    Database(String),
    /// The migration version ledger of a server has no row of the
    /// tenant's Postgres schema (named here).
    VersionLedger(String),
}

impl ErasureReport {
    /// Whether a check of this kind was made (and found nothing).
    pub fn checked_registry(&self) -> bool {
        self.checked.contains(&ErasureCheck::Registry)
    }

    /// The tables counted 0 rows for the tenant afterwards.
    pub fn counted_tables(&self) -> &[String] {
        self.checked
            .iter()
            .find_map(|c| match c {
                ErasureCheck::Rows(tables) => Some(tables.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }
}

impl fmt::Display for ErasureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenant = &self.removed.tenant;
        if self.removed.existed {
            let removed = self.removed.to_string();
            let removed = removed
                .strip_prefix(&format!("tenant `{tenant}` "))
                .unwrap_or(&removed);
            write!(f, "tenant `{tenant}` erased: {removed}")?;
        } else {
            write!(f, "tenant `{tenant}`: nothing was left to erase")?;
        }
        f.write_str("; checked afterwards: ")?;
        for (i, check) in self.checked.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match check {
                ErasureCheck::Registry => f.write_str("no registry row")?,
                ErasureCheck::Caches => f.write_str("nothing cached")?,
                ErasureCheck::Rows(tables) if tables.is_empty() => {
                    f.write_str("no declared table in the shared database")?;
                }
                ErasureCheck::Rows(tables) => {
                    let names: Vec<String> = tables.iter().map(|t| format!("`{t}`")).collect();
                    write!(f, "0 rows in {}", names.join(", "))?;
                }
                ErasureCheck::Schema(name) => write!(f, "no schema `{name}`")?,
                ErasureCheck::Database(name) => write!(f, "no database `{name}`")?,
                ErasureCheck::VersionLedger(name) => {
                    write!(f, "no version ledger row of `{name}`")?
                }
            }
        }
        Ok(())
    }
}

impl Tenancy {
    /// Erases `tenant`, provably: [`deprovision`](Self::deprovision)
    /// (its rows in every declared tenant table of the shared database,
    /// its schema or database with everything in it, its registry row, its
    /// cached pool and registry answer, its kept connections), then checks
    /// every place the tenant could be, whatever the registry said: the
    /// registry has no row of it, nothing of it is cached, each declared
    /// tenant table of the shared database counts 0 rows of it (through a
    /// connection confined to it), its schema `tenant_<id>` and its
    /// database (or file) do not exist. The [`ErasureReport`] states what
    /// went and each check; if a check finds something (a concurrent
    /// provision of the same id, a table a migration of another process
    /// just filled), the result is [`TenantError::NotErased`] naming it.
    ///
    /// Calling it again is safe: it reports that nothing was left.
    /// Other processes' caches are theirs: they learn of the removal from
    /// the registry after at most [`registry_ttl`](Self::registry_ttl).
    pub async fn erase(&self, tenant: &TenantId) -> Result<ErasureReport, TenantError> {
        let removed = self.deprovision(tenant).await?;
        let fail = |e| TenantError::db(format!("checking that tenant `{tenant}` is erased"), e);
        let mut checked = Vec::new();
        let mut left = Vec::new();
        if let Some(db) = &self.db {
            match registry::read(&self.registry_db(db), tenant)
                .await
                .map_err(fail)?
            {
                Some(_) => left.push("its registry row".to_owned()),
                None => checked.push(ErasureCheck::Registry),
            }
        }
        self.known.run_pending_tasks().await;
        self.pools.run_pending_tasks().await;
        if self.known.contains_key(tenant) || self.pools.contains_key(tenant) {
            left.push("a cached pool or registry answer".to_owned());
        } else {
            checked.push(ErasureCheck::Caches);
        }
        // Every server this tenancy could have put it on.
        let servers: Vec<String> = self.servers().map(str::to_owned).collect();
        for server in &servers {
            if let Ok(db) = self.server_database(server) {
                let (tables, rows) = self.count_shared(db, tenant).await.map_err(fail)?;
                left.extend(
                    rows.into_iter()
                        .map(|(table, n)| format!("{n} row(s) in `{table}`")),
                );
                checked.push(ErasureCheck::Rows(tables));
                if db.get_database_backend() == DbBackend::Postgres
                    && let Ok(schema) = self.schema_of(tenant)
                {
                    let found = db
                        .query_one_raw(Statement::from_sql_and_values(
                            DbBackend::Postgres,
                            "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                            [schema.as_str().into()],
                        ))
                        .await
                        .map_err(fail)?
                        .is_some();
                    if found {
                        left.push(format!("schema `{}`", schema.as_str()));
                    } else {
                        checked.push(ErasureCheck::Schema(schema.as_str().to_owned()));
                    }
                    if let Some(set) = &self.migrate
                        && let Some(ledger) = self
                            .ledgers
                            .get(server, &self.registry_db(db), &set.table(), false)
                            .await
                        && let Some(holds) = ledger.holds(schema.as_str())
                    {
                        let row = self
                            .registry_db(db)
                            .query_one_raw(holds)
                            .await
                            .map_err(fail)?;
                        if row.is_some() {
                            left.push(format!("the version ledger's row of `{}`", schema.as_str()));
                        } else {
                            checked.push(ErasureCheck::VersionLedger(schema.as_str().to_owned()));
                        }
                    }
                }
            }
            if let Ok((_, target)) = self.target_on(tenant, server) {
                if target.exists().await? {
                    left.push(format!("database `{}`", target.name()));
                } else {
                    checked.push(ErasureCheck::Database(target.name()));
                }
            }
        }
        if !left.is_empty() {
            return Err(TenantError::NotErased {
                tenant: tenant.to_string(),
                left,
            });
        }
        Ok(ErasureReport { removed, checked })
    }

    /// The declared tenant tables of the shared database that exist
    /// (counted 0 rows of `tenant`), and those that still hold rows of it.
    async fn count_shared(
        &self,
        db: &sea_orm::DatabaseConnection,
        tenant: &TenantId,
    ) -> Result<(Vec<String>, Vec<(String, u64)>), sea_orm::DbErr> {
        let mut tables: Vec<_> = self
            .catalog()
            .tables()
            .filter(|t| (t.value)(tenant).is_ok())
            .collect();
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        let conn = TenantConnection::new(db.clone(), tenant.clone())
            .unnamed(self.pooler)
            .confined_by(self.confiner.clone());
        let txn = conn.begin().await?;
        let (mut empty, mut full) = (Vec::new(), Vec::new());
        for table in tables {
            // A savepoint each: a table missing here aborts no more than
            // its own count.
            let savepoint = txn.begin().await?;
            match (table.io.count)(&savepoint).await {
                Ok(rows) => {
                    savepoint.commit().await?;
                    if rows == 0 {
                        empty.push(table.name.clone());
                    } else {
                        full.push((table.name.clone(), rows));
                    }
                }
                Err(e) if registry::is_missing_table(&e) => savepoint.rollback().await?,
                Err(e) => return Err(e),
            }
        }
        txn.rollback().await?;
        Ok((empty, full))
    }
}

impl Target {
    /// Whether the database (or the SQLite file, or one of its journal
    /// files) exists; looks, changes nothing.
    async fn exists(&self) -> Result<bool, TenantError> {
        #[allow(unused)]
        fn fail(e: impl crate::error::IntoDbErr) -> TenantError {
            TenantError::db("looking for a tenant database", e)
        }
        match self {
            Target::Sqlite(path) => Ok(["", "-wal", "-shm", "-journal"].iter().any(|suffix| {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                std::path::Path::new(&file).symlink_metadata().is_ok()
            })),
            #[cfg(feature = "sqlx-postgres")]
            Target::Postgres(options, name) => {
                use sea_orm::sqlx::Connection;
                let mut admin = sea_orm::sqlx::postgres::PgConnection::connect_with(
                    &(**options).clone().database("postgres"),
                )
                .await
                .map_err(fail)?;
                let found = sea_orm::sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(name.as_str())
                    .fetch_optional(&mut admin)
                    .await
                    .map_err(fail)?
                    .is_some();
                let _ = admin.close().await;
                Ok(found)
            }
            #[cfg(feature = "sqlx-mysql")]
            Target::MySql(options, name) => {
                use sea_orm::sqlx::Connection;
                let mut admin = sea_orm::sqlx::mysql::MySqlConnection::connect_with(
                    &(**options).clone().database("information_schema"),
                )
                .await
                .map_err(fail)?;
                let found = sea_orm::sqlx::query(
                    "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                )
                .bind(name.as_str())
                .fetch_optional(&mut admin)
                .await
                .map_err(fail)?
                .is_some();
                let _ = admin.close().await;
                Ok(found)
            }
        }
    }
}
