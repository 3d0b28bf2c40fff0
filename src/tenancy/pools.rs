//! The caches in front of the databases: the bounded cache of tenant
//! pools (database per tenant) and the cache of registry answers that
//! [`Tenancy::connection`] reads.

use std::path::PathBuf;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use super::database::{self, FileId, OpenError, Target};
use super::life::Life;
use super::{Location, Tenancy, registry};
use crate::{TenantError, TenantId};

/// A cached pool of a tenant's database, with what it was opened on: the
/// tenant's [`Life`] then, and for SQLite the file.
#[derive(Clone)]
pub(super) struct TenantPool {
    pub(super) db: DatabaseConnection,
    life: Life,
    file: Option<(PathBuf, FileId)>,
}

/// A registry answer as cached: the placement, and the tenant's [`Life`]
/// when it was read (an answer from before a deprovision is not used).
#[derive(Clone)]
pub(super) struct Known {
    location: Location,
    life: Life,
}

impl Tenancy {
    /// How many tenant pools are open right now.
    pub async fn open_pools(&self) -> u64 {
        self.pools.run_pending_tasks().await;
        self.pools.entry_count()
    }

    /// The cached pool of a tenant's database, opened once on first use.
    ///
    /// A cached pool is used only while it serves the tenant as it is now:
    /// opened under `life` (not before a deprovision in this process), and
    /// for SQLite on the file that is there now (one `stat`: another
    /// process may have removed it, `UnknownTenant`, or provisioned a new
    /// one, which gets a new pool).
    pub(super) async fn pool(
        &self,
        tenant: &TenantId,
        server: &str,
        life: &Life,
    ) -> Result<DatabaseConnection, TenantError> {
        if let Some(pool) = self.pools.get(tenant).await {
            if self.serves(tenant, &pool, life).await? {
                return Ok(pool.db);
            }
            // A stale pool: dropped here, closed once its last connection
            // handed out is back.
            self.pools.invalidate(tenant).await;
        }
        let (url, target) = self.target_on(tenant, server)?;
        let limits = self.limits;
        let opened_under = life.clone();
        let pool = self
            .pools
            .try_get_with(tenant.clone(), async move {
                #[allow(irrefutable_let_patterns)] // a SQLite-only build
                let file = if let Target::Sqlite(path) = &target {
                    Some((path.clone(), database::sqlite_file(path)?))
                } else {
                    None
                };
                let db = database::open(&url, &target, limits).await?;
                Ok(TenantPool {
                    db,
                    life: opened_under,
                    file,
                })
            })
            .await
            .map_err(|err| match &*err {
                OpenError::Unknown => TenantError::UnknownTenant(tenant.to_string()),
                OpenError::Failed(e) => e.clone(),
            })?;
        if self.serves(tenant, &pool, life).await? {
            Ok(pool.db)
        } else {
            // Opened by a request from before a deprovision that ran
            // meanwhile.
            self.pools.invalidate(tenant).await;
            Err(TenantError::UnknownTenant(tenant.to_string()))
        }
    }

    /// Whether a cached `pool` serves `tenant` at `life`; `UnknownTenant`
    /// when its SQLite file is gone (and the registry answer is dropped
    /// too).
    async fn serves(
        &self,
        tenant: &TenantId,
        pool: &TenantPool,
        life: &Life,
    ) -> Result<bool, TenantError> {
        if !life.is_alive() || !pool.life.same(life) {
            return Ok(false);
        }
        let Some((path, opened)) = &pool.file else {
            return Ok(true);
        };
        match database::sqlite_file(path) {
            Ok(now) => Ok(now == *opened),
            Err(OpenError::Unknown) => {
                self.pools.invalidate(tenant).await;
                self.known.invalidate(tenant).await;
                Err(TenantError::UnknownTenant(tenant.to_string()))
            }
            Err(OpenError::Failed(e)) => Err(e),
        }
    }

    /// A pool for migrating a tenant's database: the cached one when it is
    /// open and serves the tenant as it is now, else a one-connection pool
    /// of its own (`true`: the caller closes it), so a run over thousands
    /// of databases holds only as many connections as it migrates at once.
    pub(crate) async fn migration_pool(
        &self,
        tenant: &TenantId,
        server: &str,
    ) -> Result<(DatabaseConnection, bool), TenantError> {
        let life = self.lives.current(tenant)?;
        if let Some(pool) = self.pools.get(tenant).await
            && self.serves(tenant, &pool, &life).await?
        {
            return Ok((pool.db, false));
        }
        let (url, target) = self.target_on(tenant, server)?;
        Ok((database::open_own(tenant, &url, &target).await?, true))
    }

    /// The location of a provisioned tenant, from the registry.
    pub(super) async fn registered(&self, tenant: &TenantId) -> Result<Location, TenantError> {
        let life = self.lives.current(tenant)?;
        self.registered_at(tenant, &life).await
    }

    /// The placement of a provisioned tenant whose life in this process
    /// is `life`, from the registry (or its cached answer).
    pub(super) async fn registered_at(
        &self,
        tenant: &TenantId,
        life: &Life,
    ) -> Result<Location, TenantError> {
        let Some(db) = &self.db else {
            // Database per tenant without a registry: the database is the
            // record (opening a missing one is UnknownTenant).
            return Ok(Location::new(super::Placement::DatabasePerTenant));
        };
        if let Some(known) = self.known.get(tenant).await
            && known.life.same(life)
        {
            life.check(tenant)?;
            return Ok(known.location);
        }
        // Not cached: an id that cannot fit a tenant column is refused
        // before the registry is asked (and was never provisioned).
        self.check_id(tenant)?;
        // Only a registry that answered is an answer: a read that failed
        // (a lost connection, a pooler error, a revoked grant) is a database
        // error, never `UnknownTenant`, and only found tenants are cached.
        let location = registry::read(&self.registry_db(db), tenant)
            .await
            .map_err(|e| TenantError::db("reading the tenant registry", e))?;
        let location = location.ok_or_else(|| TenantError::UnknownTenant(tenant.to_string()))?;
        // Not cached for a life that ended (or moved) meanwhile.
        life.check(tenant)?;
        self.remember(tenant, location.clone(), life).await;
        Ok(location)
    }

    /// Caches the registry's answer for `tenant`, read at `life`.
    pub(super) async fn remember(&self, tenant: &TenantId, location: Location, life: &Life) {
        let known = Known {
            location,
            life: life.clone(),
        };
        self.known.insert(tenant.clone(), known).await;
    }
}

/// The cache of tenant pools: at most `max` open, each closed after `idle`
/// unused.
pub(super) fn pool_cache(max: u64, idle: Duration) -> moka::future::Cache<TenantId, TenantPool> {
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
pub(super) fn known_cache(ttl: Duration) -> moka::future::Cache<TenantId, Known> {
    moka::future::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(ttl)
        .build()
}
