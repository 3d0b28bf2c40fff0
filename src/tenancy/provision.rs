//! Provisioning: creating a tenant where its placement says, running the
//! migrator there and recording it in the registry; removing it again;
//! listing the provisioned tenants.

use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DbErr, TransactionSession, TransactionTrait};
use tracing::Instrument;

use super::{Placement, Tenancy, registry};
use crate::migration::{self, Place};
use crate::{
    TenantConnection, TenantEntity, TenantError, TenantId, TenantScoped, TenantTransaction,
};

/// Deletes a shared tenant's rows from `E`, the job
/// [`Tenancy::tenant_table`] registers for [`Tenancy::deprovision`].
pub(super) fn delete_rows<E: TenantEntity>(
    txn: &TenantTransaction,
) -> BoxFuture<'_, Result<(), DbErr>> {
    Box::pin(async move {
        E::scoped(txn.tenant()).delete_many().exec(txn).await?;
        Ok(())
    })
}

impl Tenancy {
    /// Creates the tenant where [`placement_for`](Self::placement_for)
    /// says, runs the migrator there, and records it in the registry.
    /// Idempotent: a second call, or a retry after a crash halfway, finishes
    /// the job and changes nothing that is already done.
    ///
    /// An id that cannot name a schema or database is
    /// [`TenantError::UnsafeName`], and nothing is created.
    pub async fn provision(&self, tenant: &TenantId) -> Result<(), TenantError> {
        self.check_id(tenant)?;
        // A failed read is not "not recorded": guessing would re-record a
        // provisioned tenant at another placement.
        let recorded = match &self.db {
            Some(db) => registry::read(&self.registry_db(db), tenant)
                .await
                .map_err(|e| TenantError::db("reading the tenant registry", e))?,
            None => None,
        };
        let placement = recorded.unwrap_or_else(|| self.placement_for(tenant));
        self.provision_as(tenant, placement).await
    }

    /// [`provision`](Self::provision) at an explicit placement (hybrid
    /// placement by configuration table: the registry keeps it).
    pub async fn provision_as(
        &self,
        tenant: &TenantId,
        placement: Placement,
    ) -> Result<(), TenantError> {
        self.check_id(tenant)?;
        let span = tracing::info_span!(
            target: "sea_orm_tenant",
            "provision",
            tenant = %tenant,
            isolation = placement.as_str()
        );
        self.provision_in(tenant, placement).instrument(span).await
    }

    async fn provision_in(
        &self,
        tenant: &TenantId,
        placement: Placement,
    ) -> Result<(), TenantError> {
        // Validate everything before creating anything.
        match placement {
            Placement::SharedSchema => {
                self.shared()?;
            }
            Placement::SchemaPerTenant => {
                self.schema_of(tenant)?;
            }
            Placement::DatabasePerTenant => {
                self.target(tenant)?;
            }
        }
        if let Some(db) = &self.db {
            registry::create(&self.registry_db(db))
                .await
                .map_err(|e| TenantError::db("creating the tenant registry", e))?;
        }
        match placement {
            Placement::SharedSchema => {
                if let Some(set) = &self.migrate {
                    let place = Place::shared(self.shared()?, set, migration::DEFAULT_LOCK_WAIT)
                        .pooled(self.pooler);
                    migration::provision_one(set, tenant, place).await?;
                }
            }
            Placement::SchemaPerTenant => {
                let schema = self.schema_of(tenant)?;
                let db = self.shared()?;
                db.execute_unprepared(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {}",
                    schema.pg_quoted()
                ))
                .await
                .map_err(|e| TenantError::db("creating a tenant schema", e))?;
                if let Some(set) = &self.migrate {
                    let place = Place::schema(db, &schema, migration::DEFAULT_LOCK_WAIT)
                        .pooled(self.pooler);
                    migration::provision_one(set, tenant, place).await?;
                }
            }
            Placement::DatabasePerTenant => {
                let (_, target) = self.target(tenant)?;
                target.create().await?;
                if let Some(set) = &self.migrate {
                    let pool = self.pool(tenant).await?;
                    let place = Place::database(&pool, tenant, migration::DEFAULT_LOCK_WAIT)
                        .pooled(self.pooler);
                    migration::provision_one(set, tenant, place).await?;
                }
            }
        }
        if let Some(db) = &self.db {
            registry::insert(&self.registry_db(db), tenant, placement)
                .await
                .map_err(|e| TenantError::db("recording the tenant", e))?;
        }
        self.known.insert(tenant.clone(), placement).await;
        Ok(())
    }

    /// Removes the tenant: forgets it in the registry first (so no new
    /// connection is handed out), then drops its schema or database
    /// (removes its SQLite file), or, for a shared tenant, deletes its rows
    /// from every [`tenant_table`](Self::tenant_table) in one transaction.
    ///
    /// Idempotent and safe to retry after a crash halfway: when the
    /// registry no longer knows the tenant, every place this tenancy could
    /// have put it is cleaned (rows, `tenant_<id>` schema, database or
    /// file), each only if it exists.
    pub async fn deprovision(&self, tenant: &TenantId) -> Result<(), TenantError> {
        let recorded = match &self.db {
            Some(db) => registry::read(&self.registry_db(db), tenant)
                .await
                .map_err(|e| TenantError::db("reading the tenant registry", e))?,
            None => Some(Placement::DatabasePerTenant),
        };
        let span = tracing::info_span!(
            target: "sea_orm_tenant",
            "deprovision",
            tenant = %tenant,
            isolation = recorded.map_or("unrecorded", Placement::as_str)
        );
        self.deprovision_in(tenant, recorded).instrument(span).await
    }

    async fn deprovision_in(
        &self,
        tenant: &TenantId,
        recorded: Option<Placement>,
    ) -> Result<(), TenantError> {
        let fail = |e| TenantError::db(format!("removing tenant `{tenant}`"), e);
        // No new connections from now on.
        if let Some(db) = &self.db
            && registry::exists(&self.registry_db(db))
                .await
                .map_err(fail)?
        {
            registry::delete(&self.registry_db(db), tenant)
                .await
                .map_err(fail)?;
        }
        self.known.invalidate(tenant).await;
        // Its parked transactions close, so none is handed out again.
        if let Some(hot) = &self.hot {
            hot.forget(tenant);
        }
        match recorded {
            Some(placement) => self.remove_data(tenant, placement).await,
            None => {
                // Not recorded (never provisioned, or a retry after the
                // registry row went): clean wherever it could be. A place
                // whose name the id cannot make holds nothing of it.
                let mut places = Vec::new();
                if self.db.is_some() {
                    places.push(Placement::SharedSchema);
                    if self.schema_of(tenant).is_ok() {
                        places.push(Placement::SchemaPerTenant);
                    }
                }
                if self.target(tenant).is_ok() {
                    places.push(Placement::DatabasePerTenant);
                }
                for placement in places {
                    self.remove_data(tenant, placement).await?;
                }
                Ok(())
            }
        }
    }

    async fn remove_data(
        &self,
        tenant: &TenantId,
        placement: Placement,
    ) -> Result<(), TenantError> {
        let fail = |e| TenantError::db(format!("removing tenant `{tenant}`"), e);
        match placement {
            Placement::SharedSchema => {
                let conn = TenantConnection::new(self.shared()?.clone(), tenant.clone())
                    .unnamed(self.pooler)
                    .confined_by(self.confiner.clone());
                let txn = conn.begin().await.map_err(fail)?;
                for delete in &self.tables {
                    delete(&txn).await.map_err(fail)?;
                }
                txn.commit().await.map_err(fail)?;
            }
            Placement::SchemaPerTenant => {
                let schema = self.schema_of(tenant)?;
                self.shared()?
                    .execute_unprepared(&format!(
                        "DROP SCHEMA IF EXISTS {} CASCADE",
                        schema.pg_quoted()
                    ))
                    .await
                    .map_err(fail)?;
            }
            Placement::DatabasePerTenant => {
                let (_, target) = self.target(tenant)?;
                if let Some(pool) = self.pools.remove(tenant).await {
                    let _ = pool.close().await;
                }
                target.drop_database().await?;
            }
        }
        Ok(())
    }

    /// Every provisioned tenant and its placement, from the registry,
    /// ordered by id. Ids come back as strings.
    pub async fn tenants(&self) -> Result<Vec<(TenantId, Placement)>, TenantError> {
        let db = self.db.as_ref().ok_or_else(|| {
            TenantError::Unsupported(
                "listing tenants needs a registry (Tenancy::with_registry)".into(),
            )
        })?;
        let fail = |e| TenantError::db("reading the tenant registry", e);
        if !registry::exists(&self.registry_db(db))
            .await
            .map_err(fail)?
        {
            return Ok(Vec::new());
        }
        registry::list(&self.registry_db(db)).await.map_err(fail)
    }
}
