//! A migrator with its type erased, so a [`Tenancy`](crate::Tenancy) can
//! keep one without a type parameter.

use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use sea_orm_migration::{MigratorTrait, SchemaManager};

type OnTxn = for<'a> fn(&'a DatabaseTransaction, Option<u32>) -> BoxFuture<'a, Result<(), DbErr>>;
type OnDb = for<'a> fn(&'a DatabaseConnection, Option<u32>) -> BoxFuture<'a, Result<(), DbErr>>;
type OnNames =
    for<'a> fn(&'a DatabaseTransaction, &'a [String], bool) -> BoxFuture<'a, Result<(), DbErr>>;

/// One migration of a migrator: its name and whether it opted out of
/// transactions (`MigrationTrait::use_transaction() == Some(false)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) name: String,
    pub(crate) no_transaction: bool,
}

/// The functions of one `MigratorTrait` implementation.
#[derive(Clone, Copy)]
pub(crate) struct MigrationSet {
    pub(crate) type_name: &'static str,
    table: fn() -> String,
    steps: fn() -> Vec<Step>,
    /// Runs the named pending migrations inside the caller's transaction
    /// and records them ([`apply_in`]); `true` when the version table
    /// must be created first.
    pub(crate) apply_txn: OnNames,
    pub(crate) up_db: OnDb,
    pub(crate) down_txn: OnTxn,
    pub(crate) down_db: OnDb,
}

impl std::fmt::Debug for MigrationSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrationSet")
            .field("migrator", &self.type_name)
            .field("table", &(self.table)())
            .finish()
    }
}

impl MigrationSet {
    pub(crate) fn of<M: MigratorTrait + 'static>() -> Self {
        MigrationSet {
            type_name: std::any::type_name::<M>(),
            table: || M::migration_table_name().to_string(),
            steps: || {
                M::migrations()
                    .iter()
                    .map(|m| Step {
                        name: m.name().to_owned(),
                        no_transaction: m.use_transaction() == Some(false),
                    })
                    .collect()
            },
            apply_txn: |txn, names, install| Box::pin(apply_in::<M>(txn, names, install)),
            up_db: |db, steps| Box::pin(M::up(db, steps)),
            down_txn: |txn, steps| Box::pin(M::down(txn, steps)),
            down_db: |db, steps| Box::pin(M::down(db, steps)),
        }
    }

    /// The version table (`seaql_migrations` unless the migrator says).
    pub(crate) fn table(&self) -> String {
        (self.table)()
    }

    /// The migrations, in order.
    pub(crate) fn steps(&self) -> Vec<Step> {
        (self.steps)()
    }
}

/// Applies the migrations named in `names` (pending ones, in the
/// migrator's order) inside `txn`, then records them in the version table
/// with one `INSERT`; creates the version table first when `install`.
///
/// This is what `MigratorTrait::up` does, without what the caller's one
/// transaction makes redundant: `up` creates the version table four times
/// (`CREATE TABLE IF NOT EXISTS`), reads it again for the pending list the
/// caller already has, and wraps each migration in a savepoint. Each of
/// those is a round trip; provisioning thousands of tenant schemas paid
/// them per schema.
async fn apply_in<M: MigratorTrait>(
    txn: &DatabaseTransaction,
    names: &[String],
    install: bool,
) -> Result<(), DbErr> {
    if install {
        M::install(txn).await?;
    }
    let manager = SchemaManager::new(txn);
    let mut applied = Vec::with_capacity(names.len());
    for migration in M::migrations() {
        if names.iter().any(|n| n == migration.name()) {
            tracing::debug!(target: "sea_orm_tenant", "applying migration '{}'", migration.name());
            migration.up(&manager).await?;
            applied.push(migration.name().to_owned());
        }
    }
    if applied.is_empty() {
        return Ok(());
    }
    let applied_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut insert = Query::insert();
    insert
        .into_table(M::migration_table_name())
        .columns([Alias::new("version"), Alias::new("applied_at")]);
    for name in applied {
        insert
            .values([name.into(), applied_at.into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    txn.execute(&insert).await?;
    Ok(())
}
