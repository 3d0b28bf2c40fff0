//! [`CreateRegistry`]: the tenant registry, created by the application's
//! own migrations.

use sea_orm_migration::MigrationName;

/// A sea-orm-migration migration that creates the tenant registry
/// ([`REGISTRY_TABLE`](crate::REGISTRY_TABLE)), the one table the crate
/// owns, so that the migrations after it can grant on it (see
/// [`Grants::registry`](crate::rls::Grants::registry)).
///
/// Put it first in the migrator the owner runs in the shared database:
/// the application's `Migrator` for shared-schema tenants, or the
/// [`global`](crate::migration::TenantMigrations::global) migrator for
/// schema per tenant (never in a migrator that runs in each tenant's
/// schema or database: the registry belongs to none of them).
///
/// `up` is `CREATE TABLE IF NOT EXISTS` (with an exact key on
/// MySQL/MariaDB), so a registry that [`Tenancy::provision`](crate::Tenancy::provision)
/// already made, as it still does when no migration did, is kept. `down`
/// leaves the table: it records which tenants exist, and rolling back the
/// application's migrations must not forget them. Drop it by hand once
/// every tenant is deprovisioned.
///
/// ```
/// use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
/// use sea_orm_migration::prelude::*;
/// use sea_orm_tenant::migration::CreateRegistry;
///
/// struct Migrator;
/// impl MigratorTrait for Migrator {
///     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
///         vec![Box::new(CreateRegistry) /* , your migrations */]
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), DbErr> {
/// let db = Database::connect("sqlite::memory:").await?;
/// Migrator::up(&db, None).await?;
/// let probe = Statement::from_string(DbBackend::Sqlite, "SELECT count(*) FROM sea_orm_tenant_registry");
/// assert!(db.query_one_raw(probe.clone()).await.is_ok());
/// Migrator::down(&db, None).await?; // the registry stays
/// assert!(db.query_one_raw(probe).await.is_ok());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreateRegistry;

impl MigrationName for CreateRegistry {
    fn name(&self) -> &str {
        "m20261206_000000_sea_orm_tenant_registry"
    }
}

// `MigrationTrait` is implemented next to the registry's DDL, in
// `tenancy/registry.rs`.
