//! The caches in front of the databases: the bounded cache of tenant
//! pools (database per tenant) and the cache of registry answers that
//! [`Tenancy::connection`] reads.

use std::time::Duration;

use sea_orm::DatabaseConnection;

use super::database::{self, OpenError, PoolLimits};
use super::{Placement, Tenancy, registry};
use crate::{TenantError, TenantId};

impl Tenancy {
    /// How many tenant pools are open right now.
    pub async fn open_pools(&self) -> u64 {
        self.pools.run_pending_tasks().await;
        self.pools.entry_count()
    }

    /// The cached pool of a tenant's database, opened once on first use.
    pub(super) async fn pool(&self, tenant: &TenantId) -> Result<DatabaseConnection, TenantError> {
        if let Some(db) = self.pools.get(tenant).await {
            return Ok(db);
        }
        let (url, target) = self.target(tenant)?;
        let limits = self.limits;
        self.pools
            .try_get_with(tenant.clone(), async move {
                database::open(&url, &target, limits).await
            })
            .await
            .map_err(|err| match &*err {
                OpenError::Unknown => TenantError::UnknownTenant(tenant.to_string()),
                OpenError::Failed(e) => e.clone(),
            })
    }

    /// A pool for migrating a tenant's database: the cached one when it is
    /// open, else a one-connection pool of its own (`true`: the caller
    /// closes it), so a run over thousands of databases holds only as many
    /// connections as it migrates at once.
    pub(crate) async fn migration_pool(
        &self,
        tenant: &TenantId,
    ) -> Result<(DatabaseConnection, bool), TenantError> {
        if let Some(db) = self.pools.get(tenant).await {
            return Ok((db, false));
        }
        let (url, target) = self.target(tenant)?;
        let limits = PoolLimits {
            max_connections: 1,
            idle: Duration::from_secs(60),
        };
        match database::open(&url, &target, limits).await {
            Ok(db) => Ok((db, true)),
            Err(OpenError::Unknown) => Err(TenantError::UnknownTenant(tenant.to_string())),
            Err(OpenError::Failed(e)) => Err(e),
        }
    }

    /// The placement of a provisioned tenant, from the registry.
    pub(super) async fn registered(&self, tenant: &TenantId) -> Result<Placement, TenantError> {
        let Some(db) = &self.db else {
            // Database per tenant without a registry: the database is the
            // record (opening a missing one is UnknownTenant).
            return Ok(Placement::DatabasePerTenant);
        };
        if let Some(p) = self.known.get(tenant).await {
            return Ok(p);
        }
        // Not cached: an id that cannot fit a tenant column is refused
        // before the registry is asked (and was never provisioned).
        self.check_id(tenant)?;
        // Only a registry that answered is an answer: a read that failed
        // (a lost connection, a pooler error, a revoked grant) is a database
        // error, never `UnknownTenant`, and only found tenants are cached.
        let placement = registry::read(&self.registry_db(db), tenant)
            .await
            .map_err(|e| TenantError::db("reading the tenant registry", e))?;
        let placement = placement.ok_or_else(|| TenantError::UnknownTenant(tenant.to_string()))?;
        self.known.insert(tenant.clone(), placement).await;
        Ok(placement)
    }
}

/// The cache of tenant pools: at most `max` open, each closed after `idle`
/// unused.
pub(super) fn pool_cache(
    max: u64,
    idle: Duration,
) -> moka::future::Cache<TenantId, DatabaseConnection> {
    // An evicted pool is dropped here; it closes once the last connection
    // handed out from it is dropped, so in-flight requests finish.
    // Strict LRU: moka's default (TinyLFU) may refuse to admit a newly
    // opened pool, which would then be reopened on every request.
    moka::future::Cache::builder()
        .max_capacity(max)
        .time_to_idle(idle)
        .eviction_policy(moka::policy::EvictionPolicy::lru())
        .build()
}

/// The cache of registry answers: a found tenant's placement, trusted for
/// `ttl`.
pub(super) fn known_cache(ttl: Duration) -> moka::future::Cache<TenantId, Placement> {
    moka::future::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(ttl)
        .build()
}
