//! A migrator with its type erased, so a [`Tenancy`](crate::Tenancy) can
//! keep one without a type parameter.

use futures_util::future::BoxFuture;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};
use sea_orm_migration::MigratorTrait;

type OnTxn = for<'a> fn(&'a DatabaseTransaction, Option<u32>) -> BoxFuture<'a, Result<(), DbErr>>;
type OnDb = for<'a> fn(&'a DatabaseConnection, Option<u32>) -> BoxFuture<'a, Result<(), DbErr>>;

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
    pub(crate) up_txn: OnTxn,
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
            up_txn: |txn, steps| Box::pin(M::up(txn, steps)),
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
