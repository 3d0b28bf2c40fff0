//! Provisioning: creating a tenant where its placement says, running the
//! migrator there and recording it in the registry; removing it again;
//! listing the provisioned tenants.

use std::sync::atomic::Ordering;

use sea_orm::{ConnectionTrait, DbErr, TransactionTrait};
use tracing::Instrument;

use super::removal::{DeprovisionReport, Removed, RemovedRows};
use super::{Location, Placement, SchemaName, Tenancy, registry};
use crate::connection::TenantTable;
use crate::migration::{self, Place};
use crate::{TenantConnection, TenantError, TenantId, TenantTransaction};

impl Tenancy {
    /// Creates the tenant where [`placement_for`](Self::placement_for)
    /// says, runs the migrator there, and records it in the registry.
    /// Idempotent: a second call, or a retry after a crash halfway, finishes
    /// the job and changes nothing that is already done.
    ///
    /// An id that cannot name a schema or database is
    /// [`TenantError::UnsafeName`], and nothing is created.
    ///
    /// Provision and [`deprovision`](Self::deprovision) of one tenant run
    /// one at a time (the tenant's lifecycle lock: in this process, and on
    /// Postgres and MySQL/MariaDB in the registry's database across
    /// processes), so the registry records a tenant exactly when it
    /// exists.
    pub async fn provision(&self, tenant: &TenantId) -> Result<(), TenantError> {
        self.check_id(tenant)?;
        let _lock = self.lifecycle_lock(tenant).await?;
        // A failed read is not "not recorded": guessing would re-record a
        // provisioned tenant at another placement.
        let recorded = match &self.db {
            Some(db) => registry::read(&self.registry_db(db), tenant)
                .await
                .map_err(|e| TenantError::db("reading the tenant registry", e))?,
            None => None,
        };
        let location = recorded.unwrap_or_else(|| Location::new(self.placement_for(tenant)));
        self.provision_traced(tenant, &location).await
    }

    /// [`provision`](Self::provision) at an explicit placement (hybrid
    /// placement by configuration table: the registry keeps it).
    pub async fn provision_as(
        &self,
        tenant: &TenantId,
        placement: Placement,
    ) -> Result<(), TenantError> {
        self.provision_at(tenant, Location::new(placement)).await
    }

    /// [`provision`](Self::provision) at an explicit location: a placement
    /// on one of the tenancy's servers ([`with_server`](Self::with_server)).
    /// The registry keeps the server; the tenant's connections go there.
    ///
    /// Provisioning a tenant again at another location than the one
    /// recorded is refused: that is a [`move_tenant`](Self::move_tenant).
    pub async fn provision_at(
        &self,
        tenant: &TenantId,
        location: Location,
    ) -> Result<(), TenantError> {
        self.check_id(tenant)?;
        let _lock = self.lifecycle_lock(tenant).await?;
        if let Some(db) = &self.db {
            let recorded = registry::read(&self.registry_db(db), tenant)
                .await
                .map_err(|e| TenantError::db("reading the tenant registry", e))?;
            if let Some(recorded) = recorded
                && recorded != location
            {
                return Err(TenantError::Unsupported(format!(
                    "tenant `{tenant}` lives at {recorded}, not {location}: move it with Tenancy::move_tenant"
                )));
            }
        }
        self.provision_traced(tenant, &location).await
    }

    /// Waits for `tenant`'s lifecycle lock (see [`lock`](super::lock)).
    pub(super) async fn lifecycle_lock(
        &self,
        tenant: &TenantId,
    ) -> Result<super::lock::Lifecycle, TenantError> {
        self.locks.lock(tenant, self.db.as_ref()).await
    }

    async fn provision_traced(
        &self,
        tenant: &TenantId,
        location: &Location,
    ) -> Result<(), TenantError> {
        let span = tracing::info_span!(
            target: "sea_orm_tenant",
            "provision",
            tenant = %tenant,
            isolation = location.placement().as_str(),
            server = location.server()
        );
        self.provision_in(tenant, location).instrument(span).await
    }

    async fn provision_in(
        &self,
        tenant: &TenantId,
        location: &Location,
    ) -> Result<(), TenantError> {
        // Not while it is being deprovisioned (by a caller outside the
        // lock); a life of its own from here.
        let life = self.lives.current(tenant)?;
        self.check_location(tenant, location)?;
        if !location.is_main() && self.db.is_none() {
            return Err(TenantError::Unsupported(
                "tenants on several servers need a registry (Tenancy::with_registry)".into(),
            ));
        }
        if let Some(db) = &self.db
            && !self.registry_made.load(Ordering::Acquire)
        {
            registry::create(&self.registry_db(db))
                .await
                .map_err(|e| TenantError::db("creating the tenant registry", e))?;
            self.registry_made.store(true, Ordering::Release);
        }
        self.create_storage(tenant, location, Some(&life)).await?;
        self.record(tenant, location, &life).await
    }

    /// Validates everything a tenant at `location` needs before anything
    /// is created: the server, and the name of its schema or database.
    pub(super) fn check_location(
        &self,
        tenant: &TenantId,
        location: &Location,
    ) -> Result<(), TenantError> {
        if !location.is_main() {
            self.server(location.server())?;
        }
        match location.placement() {
            Placement::SharedSchema => {
                self.server_db(location)?;
            }
            Placement::SchemaPerTenant => {
                self.server_db(location)?;
                self.schema_of(tenant)?;
            }
            Placement::DatabasePerTenant => {
                self.target_on(tenant, location.server())?;
            }
        }
        Ok(())
    }

    /// Creates the tenant's schema or database at `location` (shared: its
    /// tables exist) and runs the migrator there. Idempotent. With `life`,
    /// a database's pool is opened into the cache (the tenant's place);
    /// without, on a pool of its own that is closed again (a move's
    /// destination).
    pub(super) async fn create_storage(
        &self,
        tenant: &TenantId,
        location: &Location,
        life: Option<&super::Life>,
    ) -> Result<(), TenantError> {
        match location.placement() {
            Placement::SharedSchema => {
                if let Some(set) = &self.migrate {
                    let place =
                        Place::shared(self.server_db(location)?, set, migration::DEFAULT_LOCK_WAIT)
                            .pooled(self.pooler);
                    migration::provision_one(set, tenant, place).await?;
                }
            }
            Placement::SchemaPerTenant => {
                let schema = self.schema_of(tenant)?;
                let db = self.server_db(location)?;
                match &self.migrate {
                    // The schema is created in the migrations' transaction.
                    Some(set) => {
                        let ledger = self
                            .ledgers
                            .get(location.server(), &self.registry_db(db), &set.table(), true)
                            .await;
                        let place = Place::schema(db, &schema, migration::DEFAULT_LOCK_WAIT)
                            .pooled(self.pooler)
                            .creating_schema()
                            .with_ledger(ledger);
                        migration::provision_one(set, tenant, place).await?;
                    }
                    None => {
                        db.execute_unprepared(&migration::create_schema(&schema))
                            .await
                            .map_err(|e| TenantError::db("creating a tenant schema", e))?;
                    }
                }
            }
            Placement::DatabasePerTenant => {
                let (url, target) = self.target_on(tenant, location.server())?;
                target.create().await?;
                if let Some(set) = &self.migrate {
                    let (pool, own) = match life {
                        Some(life) => (self.pool(tenant, location.server(), life).await?, false),
                        None => (
                            super::database::open_own(tenant, &url, &target).await?,
                            true,
                        ),
                    };
                    let place = Place::database(&pool, tenant, migration::DEFAULT_LOCK_WAIT)
                        .pooled(self.pooler);
                    let migrated = migration::provision_one(set, tenant, place).await;
                    if own {
                        let _ = pool.close().await;
                    }
                    migrated?;
                }
            }
        }
        Ok(())
    }

    /// Records `tenant` at `location` in the registry (made again if it
    /// went since this tenancy made it) and caches the answer.
    async fn record(
        &self,
        tenant: &TenantId,
        location: &Location,
        life: &super::Life,
    ) -> Result<(), TenantError> {
        if let Some(db) = &self.db {
            let registry = self.registry_db(db);
            let recorded = match registry::insert(&registry, tenant, location).await {
                // The table went since this tenancy made it (dropped by
                // hand, or a clone given another registry): make it again.
                Err(e) if registry::is_missing_table(&e) => {
                    self.registry_made.store(false, Ordering::Release);
                    registry::create(&registry)
                        .await
                        .map_err(|e| TenantError::db("creating the tenant registry", e))?;
                    self.registry_made.store(true, Ordering::Release);
                    registry::insert(&registry, tenant, location).await
                }
                other => other,
            };
            recorded.map_err(|e| TenantError::db("recording the tenant", e))?;
        }
        self.remember(tenant, location.clone(), life).await;
        Ok(())
    }

    /// Removes the tenant: forgets it in the registry first (so no new
    /// connection is handed out), then drops its schema or database
    /// (removes its SQLite file), or, for a shared tenant, deletes its rows
    /// from every declared tenant table (declared with
    /// [`tenant_entity!`](crate::tenant_entity) or
    /// [`tenant_table`](Self::tenant_table)) in one transaction, in an
    /// order the foreign keys between them allow. The
    /// [`DeprovisionReport`](crate::DeprovisionReport) says what went, table
    /// by table, and whether there was a tenant at all.
    ///
    /// Final: from its start, every connection of this `Tenancy` (and its
    /// clones) to the tenant refuses each statement, transaction and
    /// stream with [`TenantError::UnknownTenant`], and
    /// [`connection`](Self::connection) is `UnknownTenant`; it waits for
    /// the work that began before (an open transaction included) to end
    /// before it removes anything, so once it returns nothing of the
    /// tenant is written anywhere through this `Tenancy`. Other processes
    /// learn of it through the registry, after at most
    /// [`registry_ttl`](Self::registry_ttl); a SQLite file's removal they
    /// see at their next [`connection`](Self::connection). Serialised with
    /// [`provision`](Self::provision) of the same tenant.
    ///
    /// Idempotent and safe to retry after a crash halfway: when the
    /// registry no longer knows the tenant, every place this tenancy could
    /// have put it is cleaned (rows, `tenant_<id>` schema, database or
    /// file), each only if it exists.
    pub async fn deprovision(&self, tenant: &TenantId) -> Result<DeprovisionReport, TenantError> {
        let _lock = self.lifecycle_lock(tenant).await?;
        let recorded = match &self.db {
            Some(db) => registry::read(&self.registry_db(db), tenant)
                .await
                .map_err(|e| TenantError::db("reading the tenant registry", e))?,
            None => None,
        };
        let span = tracing::info_span!(
            target: "sea_orm_tenant",
            "deprovision",
            tenant = %tenant,
            isolation = recorded
                .as_ref()
                .map_or("unrecorded", |l| l.placement().as_str()),
            server = recorded.as_ref().map_or("unrecorded", Location::server)
        );
        self.deprovision_in(tenant, recorded).instrument(span).await
    }

    async fn deprovision_in(
        &self,
        tenant: &TenantId,
        recorded: Option<Location>,
    ) -> Result<DeprovisionReport, TenantError> {
        let fail = |e| TenantError::db(format!("removing tenant `{tenant}`"), e);
        // No new connections from now on, and the statements of those
        // handed out are refused.
        let ending = self.lives.end(tenant);
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
        // Its kept connections close, so none is handed out again.
        if let Some(keeper) = &self.keeper {
            keeper.forget(tenant);
        }
        // Work that began before (a statement, an open transaction, a
        // stream) ends before anything is removed.
        ending.drained().await;
        let mut report = DeprovisionReport::new(tenant, recorded.as_ref().map(Location::placement));
        let places = match recorded {
            Some(location) => vec![location],
            None => self.possible_locations(tenant),
        };
        for location in places {
            if let Some(removed) = self.remove_data(tenant, &location).await? {
                report.push(removed);
            }
        }
        Ok(report)
    }

    /// Every place this tenancy could have put `tenant`, on every server,
    /// for cleaning up after a tenant the registry does not know (never
    /// provisioned, a retry after the registry row went, or no registry).
    /// A place whose name the id cannot make holds nothing of it.
    fn possible_locations(&self, tenant: &TenantId) -> Vec<Location> {
        let mut places = Vec::new();
        for server in self.servers() {
            let Ok(at) = Location::on(server, Placement::SharedSchema) else {
                continue;
            };
            if self.server_db(&at).is_ok() {
                places.push(at.clone());
                if self.schema_of(tenant).is_ok() {
                    places.push(Location::on(server, Placement::SchemaPerTenant).unwrap_or(at));
                }
            }
            if self.target_on(tenant, server).is_ok()
                && let Ok(at) = Location::on(server, Placement::DatabasePerTenant)
            {
                places.push(at);
            }
        }
        places
    }

    /// Removes the tenant's data at `location`, if there is any.
    pub(super) async fn remove_data(
        &self,
        tenant: &TenantId,
        location: &Location,
    ) -> Result<Option<Removed>, TenantError> {
        let fail = |e| TenantError::db(format!("removing tenant `{tenant}`"), e);
        match location.placement() {
            Placement::SharedSchema => {
                let conn = TenantConnection::new(self.server_db(location)?.clone(), tenant.clone())
                    .unnamed(self.pooler)
                    .confined_by(self.confiner.clone());
                let txn = conn.begin().await.map_err(fail)?;
                let rows = delete_rows(&txn, self.confiner.catalog().tables().collect())
                    .await
                    .map_err(fail)?;
                txn.commit().await.map_err(fail)?;
                Ok(Some(Removed::Rows(rows)))
            }
            Placement::SchemaPerTenant => {
                let schema = self.schema_of(tenant)?;
                let db = self.server_db(location)?;
                let rows = self
                    .count_rows(&self.registry_db(db), &schema)
                    .await
                    .map_err(fail)?;
                // Its versions' ledger row goes too (also when a move
                // dropped the schema already).
                if let Some(set) = &self.migrate
                    && let Some(ledger) = self
                        .ledgers
                        .get(
                            location.server(),
                            &self.registry_db(db),
                            &set.table(),
                            false,
                        )
                        .await
                    && let Some(sql) = ledger.forget(schema.as_str())
                {
                    self.registry_db(db)
                        .execute_unprepared(&sql)
                        .await
                        .map_err(fail)?;
                }
                let Some(rows) = rows else {
                    return Ok(None);
                };
                db.execute_unprepared(&format!(
                    "DROP SCHEMA IF EXISTS {} CASCADE",
                    schema.pg_quoted()
                ))
                .await
                .map_err(fail)?;
                Ok(Some(Removed::Schema {
                    name: schema.as_str().to_owned(),
                    rows,
                }))
            }
            Placement::DatabasePerTenant => {
                let (_, target) = self.target_on(tenant, location.server())?;
                if let Some(pool) = self.pools.remove(tenant).await {
                    let _ = pool.db.close().await;
                }
                let existed = target.drop_database().await?;
                Ok(existed.then(|| Removed::Database {
                    name: target.name(),
                }))
            }
        }
    }

    /// The rows of each declared tenant table in `schema`, or `None` when
    /// the schema does not exist. On the registry's connection, whose
    /// statements a pooler may carry.
    async fn count_rows(
        &self,
        db: &impl ConnectionTrait,
        schema: &SchemaName,
    ) -> Result<Option<Vec<RemovedRows>>, DbErr> {
        use sea_orm::{DbBackend, Statement};
        let exists = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                [schema.as_str().into()],
            ))
            .await?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let found = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')",
                [schema.as_str().into()],
            ))
            .await?;
        let catalog = self.confiner.catalog();
        let mut rows = Vec::new();
        for row in found {
            let table: String = row.try_get_by_index(0)?;
            if !catalog.tables().any(|t| t.name == table) {
                continue;
            }
            let count = db
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!(
                        "SELECT count(*) FROM {}.{}",
                        schema.pg_quoted(),
                        crate::rls::quote_ident(&table)
                    ),
                ))
                .await?
                .map(|row| row.try_get_by_index::<i64>(0))
                .transpose()?
                .unwrap_or(0);
            rows.push(RemovedRows::new(table, u64::try_from(count).unwrap_or(0)));
        }
        rows.sort_by(|a, b| a.table.cmp(&b.table));
        Ok(Some(rows))
    }

    /// Every provisioned tenant and its placement, from the registry,
    /// ordered by id. Ids come back as strings. (With several servers,
    /// [`locations`](Self::locations) says which server too.)
    pub async fn tenants(&self) -> Result<Vec<(TenantId, Placement)>, TenantError> {
        Ok(self
            .locations()
            .await?
            .into_iter()
            .map(|(t, l)| (t, l.placement()))
            .collect())
    }

    /// Every provisioned tenant and where it lives (placement and server),
    /// from the registry, ordered by id.
    pub async fn locations(&self) -> Result<Vec<(TenantId, Location)>, TenantError> {
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

/// Deletes the transaction's tenant's rows from every table in `tables`,
/// each under a savepoint, in passes: a delete a foreign key refuses (a
/// parent before its children) is tried again after the others, so no
/// declaration order is needed. A table that does not exist here, or whose
/// tenant column cannot hold the id (`ghost` in an integer column), holds
/// nothing of the tenant. Fails only when a pass removes nothing more.
pub(super) async fn delete_rows(
    txn: &TenantTransaction,
    mut left: Vec<&TenantTable>,
) -> Result<Vec<RemovedRows>, DbErr> {
    left.retain(|table| (table.value)(txn.tenant()).is_ok());
    left.sort_by(|a, b| a.name.cmp(&b.name));
    let mut removed = Vec::new();
    while !left.is_empty() {
        let mut refused = Vec::new();
        let mut first_error = None;
        for table in left.iter().copied() {
            let savepoint = txn.begin().await?;
            match (table.delete)(&savepoint).await {
                Ok(rows) => {
                    savepoint.commit().await?;
                    removed.push(RemovedRows::new(&table.name, rows));
                }
                Err(e) => {
                    savepoint.rollback().await?;
                    if !registry::is_missing_table(&e) {
                        first_error.get_or_insert(e);
                        refused.push(table);
                    }
                }
            }
        }
        if let Some(e) = first_error
            && refused.len() == left.len()
        {
            return Err(e);
        }
        left = refused;
    }
    removed.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(removed)
}
