//! [`Tenancy`]: the three isolation levels (shared schema, schema per
//! tenant, database per tenant) and hybrid placement behind one API.
//!
//! The same application code runs on every level: it asks
//! [`Tenancy::connection`] for a [`TenantConnection`] and uses it as any
//! SeaORM connection. Where a tenant lives is configuration.

mod database;
mod naming;
mod undeclared;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Alias, ColumnDef, Expr, ExprTrait, OnConflict, Order, Query, Table};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionSession, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use tracing::Instrument;

use database::{OpenError, PoolLimits, Target};
pub use naming::{MAX_NAME_LEN, Naming, SchemaName};

use crate::connection::{Confiner, Policy};
use crate::migration::{self, MigrationSet, Place};
use crate::{
    TenantConnection, TenantEntity, TenantError, TenantId, TenantScoped, TenantTransaction,
};

/// The registry table: one row per provisioned tenant and its placement.
pub const REGISTRY_TABLE: &str = "sea_orm_tenant_registry";

/// Where one tenant's data lives.
///
/// ```
/// use sea_orm_tenant::Placement;
///
/// assert_eq!(Placement::SchemaPerTenant.as_str(), "schema_per_tenant");
/// assert_eq!(Placement::parse("database_per_tenant"), Some(Placement::DatabasePerTenant));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Rows in the shared tables, told apart by the tenant column.
    SharedSchema,
    /// A Postgres schema of its own (`tenant_<id>`), chosen per
    /// transaction with `SET LOCAL search_path`.
    SchemaPerTenant,
    /// A database (or SQLite file) of its own.
    DatabasePerTenant,
}

impl Placement {
    /// The name stored in the registry and recorded in tracing spans.
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::SharedSchema => "shared_schema",
            Placement::SchemaPerTenant => "schema_per_tenant",
            Placement::DatabasePerTenant => "database_per_tenant",
        }
    }

    /// The inverse of [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Placement::SharedSchema,
            Placement::SchemaPerTenant,
            Placement::DatabasePerTenant,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type UrlFor = Arc<dyn Fn(&TenantId) -> String + Send + Sync>;
type Resolver = Arc<dyn Fn(&TenantId) -> Option<Placement> + Send + Sync>;
type DeleteRows = for<'a> fn(&'a TenantTransaction) -> BoxFuture<'a, Result<(), DbErr>>;

fn delete_rows<E: TenantEntity>(txn: &TenantTransaction) -> BoxFuture<'_, Result<(), DbErr>> {
    Box::pin(async move {
        E::scoped(txn.tenant()).delete_many().exec(txn).await?;
        Ok(())
    })
}

/// Multi-tenancy at one of three isolation levels, or a mix of them.
///
/// * [`shared_schema`](Self::shared_schema): every tenant in the shared
///   tables (the tenant column, and RLS on Postgres);
/// * [`schema_per_tenant`](Self::schema_per_tenant) (Postgres): a schema
///   per tenant, named by the [`Naming`] rule (`tenant_<id>`); every
///   transaction runs `SET LOCAL search_path TO "tenant_<id>", public`, so
///   global tables stay in `public` and entities name no schema;
/// * [`database_per_tenant`](Self::database_per_tenant): a database or
///   SQLite file per tenant, with a bounded cache of pools.
///
/// Hybrid placement: start from shared or schema per tenant and add
/// [`with_databases`](Self::with_databases) and a resolver
/// ([`place_with`](Self::place_with)) or explicit
/// [`provision_as`](Self::provision_as); the placement of every
/// provisioned tenant is kept in the registry table
/// ([`REGISTRY_TABLE`]) of the shared database, which
/// [`connection`](Self::connection) reads (cached for
/// [`registry_ttl`](Self::registry_ttl)).
///
/// A tenant that was not provisioned is [`TenantError::UnknownTenant`],
/// never an empty result and never a new database.
///
/// ```
/// use sea_orm::{ConnectionTrait, Database, EntityTrait, Schema};
/// use sea_orm_tenant::doc_entities::post;
/// use sea_orm_tenant::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sea_orm::DbErr> {
/// let db = Database::connect("sqlite::memory:").await?;
/// # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(post::Entity)).await?;
/// let tenancy = Tenancy::shared_schema(db).tenant_table::<post::Entity>();
/// let acme = TenantId::from("acme");
/// assert!(matches!(tenancy.connection(&acme).await, Err(TenantError::UnknownTenant(_))));
///
/// tenancy.provision(&acme).await?;
/// let conn = tenancy.connection(&acme).await?;
/// assert_eq!(conn.scoped::<post::Entity>().find().all(&conn).await?.len(), 0);
/// tenancy.deprovision(&acme).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Tenancy {
    default: Placement,
    db: Option<DatabaseConnection>,
    url_for: Option<UrlFor>,
    resolver: Option<Resolver>,
    naming: Naming,
    migrate: Option<MigrationSet>,
    tables: Vec<DeleteRows>,
    confiner: Arc<Confiner>,
    limits: PoolLimits,
    max_pools: u64,
    registry_ttl: Duration,
    pools: moka::future::Cache<TenantId, DatabaseConnection>,
    known: moka::future::Cache<TenantId, Placement>,
    policy: Policy,
}

impl fmt::Debug for Tenancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenancy")
            .field("default", &self.default)
            .field("naming", &self.naming)
            .field("databases", &self.url_for.is_some())
            .field("max_pools", &self.max_pools)
            .field("open_pools", &self.pools.entry_count())
            .finish()
    }
}

impl Tenancy {
    fn new(default: Placement, db: Option<DatabaseConnection>, url_for: Option<UrlFor>) -> Self {
        let limits = PoolLimits {
            max_connections: 2,
            idle: Duration::from_secs(300),
        };
        let registry_ttl = Duration::from_secs(30);
        let max_pools = 64;
        Tenancy {
            default,
            db,
            url_for,
            resolver: None,
            naming: Naming::default(),
            migrate: None,
            tables: Vec::new(),
            confiner: Confiner::registered(),
            limits,
            max_pools,
            registry_ttl,
            pools: pool_cache(max_pools, limits.idle),
            known: known_cache(registry_ttl),
            policy: Policy::default(),
        }
    }

    /// Every tenant in the shared tables of `db`, told apart by the tenant
    /// column (and on Postgres by the RLS policies of [`rls`](crate::rls)).
    pub fn shared_schema(db: DatabaseConnection) -> Self {
        Self::new(Placement::SharedSchema, Some(db), None)
    }

    /// A Postgres schema per tenant in `db` (`tenant_<id>` by default, see
    /// [`naming`](Self::naming)). Global tables stay in `public`.
    ///
    /// ```no_run
    /// use sea_orm::Database;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sea_orm::DbErr> {
    /// let db = Database::connect("postgres://app@localhost/app").await?;
    /// let tenancy = Tenancy::schema_per_tenant(db);
    /// let acme = TenantId::from("acme");
    /// tenancy.provision(&acme).await?;            // CREATE SCHEMA "tenant_acme" + migrations
    /// let conn = tenancy.connection(&acme).await?; // every transaction: SET LOCAL search_path
    /// # let _ = conn;
    /// # Ok(())
    /// # }
    /// ```
    pub fn schema_per_tenant(db: DatabaseConnection) -> Self {
        Self::new(Placement::SchemaPerTenant, Some(db), None)
    }

    /// A database per tenant: `url_for` gives the URL of a tenant's
    /// database (`postgres://…/tenant_acme`, `mysql://…/tenant_acme`,
    /// `sqlite:///var/lib/app/tenant_acme.db`). It is only called with ids
    /// that passed the [`Naming`] rule (`[a-z0-9_]`, not reserved), and the
    /// database name in the URL must pass it too. Pools are cached, at most
    /// [`max_pools`](Self::max_pools) open.
    ///
    /// Without a registry ([`with_registry`](Self::with_registry)) a tenant
    /// exists when its database (or file) does.
    ///
    /// ```
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sea_orm::DbErr> {
    /// let dir = std::env::temp_dir().join(format!("doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    /// let tenancy = Tenancy::sqlite_files(&dir);
    /// let acme = TenantId::from("acme");
    /// tenancy.provision(&acme).await?;                 // creates tenant_acme.db
    /// let conn = tenancy.connection(&acme).await?;
    /// # let _ = conn;
    /// tenancy.deprovision(&acme).await?;               // removes it
    /// assert!(matches!(tenancy.connection(&acme).await, Err(TenantError::UnknownTenant(_))));
    /// # Ok(())
    /// # }
    /// ```
    pub fn database_per_tenant(
        url_for: impl Fn(&TenantId) -> String + Send + Sync + 'static,
    ) -> Self {
        Self::new(Placement::DatabasePerTenant, None, Some(Arc::new(url_for)))
    }

    /// Database per tenant with SQLite files in `dir` (the embedded
    /// default): tenant `acme` is `<dir>/tenant_acme.db`.
    pub fn sqlite_files(dir: impl AsRef<std::path::Path>) -> Self {
        let dir = dir.as_ref().to_path_buf();
        let naming = Naming::default();
        Self::database_per_tenant(move |t| {
            // Only called with ids that passed the naming rule.
            let name = naming
                .name_for(t)
                .map(|n| n.to_string())
                .unwrap_or_default();
            format!("sqlite://{}", dir.join(format!("{name}.db")).display())
        })
    }

    /// Hybrid placement: adds databases per tenant (see
    /// [`database_per_tenant`](Self::database_per_tenant)) to a shared or
    /// schema-per-tenant tenancy, for the tenants placed there.
    pub fn with_databases(
        mut self,
        url_for: impl Fn(&TenantId) -> String + Send + Sync + 'static,
    ) -> Self {
        self.url_for = Some(Arc::new(url_for));
        self
    }

    /// Keeps the tenant registry (ids and placements) in `db`, for a
    /// database-per-tenant tenancy (the other levels keep it in their own
    /// database). Needed for [`tenants`](Self::tenants) there.
    pub fn with_registry(mut self, db: DatabaseConnection) -> Self {
        self.db = Some(db);
        self
    }

    /// Hybrid placement: where [`provision`](Self::provision) puts a
    /// tenant; `None` keeps the default level. Read at provisioning only:
    /// afterwards the registry says where a tenant is.
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenancy = Tenancy::shared_schema(DatabaseConnection::default())
    ///     .with_databases(|t| format!("sqlite:///var/lib/app/tenant_{t}.db"))
    ///     .place_with(|t| (t.to_string() == "bigco").then_some(Placement::DatabasePerTenant));
    /// assert_eq!(tenancy.placement_for(&TenantId::from("bigco")), Placement::DatabasePerTenant);
    /// assert_eq!(tenancy.placement_for(&TenantId::from("small")), Placement::SharedSchema);
    /// ```
    pub fn place_with(
        mut self,
        resolver: impl Fn(&TenantId) -> Option<Placement> + Send + Sync + 'static,
    ) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// The naming rule for schema, database and file names.
    pub fn naming(mut self, naming: Naming) -> Self {
        self.naming = naming;
        self
    }

    /// The application's migrator, run by [`provision`](Self::provision)
    /// in the tenant's schema or database (in the shared database for
    /// shared tenants).
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_migration::prelude::*;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// struct Migrator;
    /// impl MigratorTrait for Migrator {
    ///     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
    /// }
    /// let tenancy = Tenancy::shared_schema(DatabaseConnection::default()).with_migrator::<Migrator>();
    /// # let _ = tenancy;
    /// ```
    pub fn with_migrator<M: MigratorTrait + 'static>(mut self) -> Self {
        self.migrate = Some(MigrationSet::of::<M>());
        self
    }

    /// A tenant table: every [`connection`](Self::connection) confines
    /// each statement on it to its tenant (rule 12; see
    /// [`TenantConnection::confine`]), and
    /// [`deprovision`](Self::deprovision) deletes a shared tenant's rows
    /// from every such table (in one transaction, in the order registered:
    /// register children first).
    ///
    /// Tables declared with [`tenant_entity!`](crate::tenant_entity) are
    /// confined without this; it is still needed for `deprovision`.
    pub fn tenant_table<E: TenantEntity>(mut self) -> Self {
        self.tables.push(delete_rows::<E>);
        self.confiner = self.confiner.with::<E>();
        self
    }

    /// Runs every statement of [`connection`](Self::connection)s under a
    /// Postgres `statement_timeout` (`SET LOCAL`, folded into each
    /// transaction's opening round trip; ignored on SQLite and MySQL), as
    /// [`TenantPool::statement_timeout`](crate::TenantPool::statement_timeout)
    /// does for a pool.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenancy = Tenancy::schema_per_tenant(DatabaseConnection::default())
    ///     .statement_timeout(Duration::from_secs(2))
    ///     .max_concurrent_per_tenant(4)
    ///     .concurrency_wait(Duration::from_millis(500))
    ///     .on_database_time(|tenant, elapsed| {
    ///         // e.g. metrics::counter!("db_time_us", "tenant" => tenant.to_string())
    ///         let _ = (tenant, elapsed);
    ///     });
    /// # let _ = tenancy;
    /// ```
    pub fn statement_timeout(self, timeout: Duration) -> Self {
        self.statement_timeout_for(move |_| Some(timeout))
    }

    /// A `statement_timeout` per tenant or plan (`None`: the server's
    /// default); see
    /// [`TenantPool::statement_timeout_for`](crate::TenantPool::statement_timeout_for).
    pub fn statement_timeout_for<F>(mut self, policy: F) -> Self
    where
        F: Fn(&TenantId) -> Option<Duration> + Send + Sync + 'static,
    {
        self.policy.timeout = Some(Arc::new(policy));
        self
    }

    /// At most `max` database operations in flight per tenant (a statement,
    /// a stream or an open transaction each hold one permit), on every
    /// level; over it an operation waits up to
    /// [`concurrency_wait`](Self::concurrency_wait), then fails with
    /// [`TenantError::Busy`]. See
    /// [`TenantPool::max_concurrent_per_tenant`](crate::TenantPool::max_concurrent_per_tenant).
    pub fn max_concurrent_per_tenant(mut self, max: usize) -> Self {
        self.policy.set_max_concurrent(max);
        self
    }

    /// How long an operation over its tenant's cap waits for a permit
    /// (30 seconds unless set).
    pub fn concurrency_wait(mut self, wait: Duration) -> Self {
        self.policy.set_concurrency_wait(wait);
        self
    }

    /// Calls `hook` with the tenant and the time of every database
    /// operation of the connections handed out, for per-tenant metrics;
    /// see [`TenantPool::on_database_time`](crate::TenantPool::on_database_time).
    pub fn on_database_time<F>(mut self, hook: F) -> Self
    where
        F: Fn(&TenantId, Duration) + Send + Sync + 'static,
    {
        self.policy.limits.on_time = Some(Arc::new(hook));
        self
    }

    /// Calls `callback` once for every statement of the connections
    /// handed out, with SeaORM's [`metric::Info`](sea_orm::metric::Info)
    /// (the statement as sent, its time, whether it failed; see
    /// [`TenantConnection::metric_callback`]), and sets it with
    /// [`DatabaseConnection::set_metric_callback`] on the shared database
    /// held when it is called and on each tenant database's pool, so that
    /// plain SeaORM statements report to it too: set it once, here.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), TenantError> {
    /// let failures = Arc::new(AtomicUsize::new(0));
    /// let counter = failures.clone();
    /// let tenancy = Tenancy::shared_schema(Database::connect("sqlite::memory:").await?)
    ///     .metric_callback(move |info: &sea_orm::metric::Info<'_>| {
    ///         if info.failed {
    ///             counter.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     });
    /// let acme = TenantId::from("acme");
    /// tenancy.provision(&acme).await?;
    /// let conn = tenancy.connection(&acme).await?;
    /// let missing = Statement::from_string(DbBackend::Sqlite, "SELECT * FROM missing");
    /// assert!(conn.query_all_raw(missing).await.is_err());
    /// assert_eq!(failures.load(Ordering::Relaxed), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn metric_callback<F>(mut self, callback: F) -> Self
    where
        F: Fn(&sea_orm::metric::Info<'_>) + Send + Sync + 'static,
    {
        self.policy.set_metric_callback(callback, self.db.as_mut());
        self
    }

    /// At most `n` tenant pools open at once (64 by default): the least
    /// recently used one is closed beyond that.
    pub fn max_pools(mut self, n: u64) -> Self {
        self.max_pools = n;
        self.pools = pool_cache(n, self.limits.idle);
        self
    }

    /// A tenant pool unused for `idle` is closed (5 minutes by default).
    pub fn pool_idle_timeout(mut self, idle: Duration) -> Self {
        self.limits.idle = idle;
        self.pools = pool_cache(self.max_pools, idle);
        self
    }

    /// Connections per tenant pool (2 by default).
    pub fn pool_connections(mut self, n: u32) -> Self {
        self.limits.max_connections = std::cmp::max(n, 1);
        self
    }

    /// How long [`connection`](Self::connection) trusts a registry lookup
    /// (30 s by default). Provisioning and deprovisioning through this
    /// `Tenancy` update the cache at once; another process's changes are
    /// seen after at most this long.
    pub fn registry_ttl(mut self, ttl: Duration) -> Self {
        self.registry_ttl = ttl;
        self.known = known_cache(ttl);
        self
    }

    /// Where [`provision`](Self::provision) puts `tenant`: the resolver's
    /// answer, or the default level.
    pub fn placement_for(&self, tenant: &TenantId) -> Placement {
        self.resolver
            .as_ref()
            .and_then(|r| r(tenant))
            .unwrap_or(self.default)
    }

    /// The shared database (shared schema, schema per tenant, or the
    /// registry of a database-per-tenant tenancy).
    pub fn database(&self) -> Option<&DatabaseConnection> {
        self.db.as_ref()
    }

    /// How many tenant pools are open right now.
    pub async fn open_pools(&self) -> u64 {
        self.pools.run_pending_tasks().await;
        self.pools.entry_count()
    }

    /// A connection bound to `tenant`, in its schema or database.
    ///
    /// [`TenantError::UnknownTenant`] when the tenant was not provisioned
    /// (the registry answered that it is not there, or has no table yet);
    /// [`TenantError::Database`] when the registry (or, for database per
    /// tenant without a registry, the tenant's database or file) could not
    /// be read: a failed read is never taken for "not there", and only
    /// tenants found are cached; [`TenantError::UnsafeName`] when its id
    /// cannot name a schema or database. The first request for a tenant's database opens its pool
    /// once, however many requests arrive together.
    pub async fn connection(&self, tenant: &TenantId) -> Result<TenantConnection, TenantError> {
        let placement = self.registered(tenant).await?;
        self.connect_as(tenant, placement).await
    }

    async fn connect_as(
        &self,
        tenant: &TenantId,
        placement: Placement,
    ) -> Result<TenantConnection, TenantError> {
        let conn = match placement {
            Placement::SharedSchema => {
                TenantConnection::new(self.shared()?.clone(), tenant.clone())
            }
            Placement::SchemaPerTenant => {
                let schema = self.schema_of(tenant)?;
                TenantConnection::new(self.shared()?.clone(), tenant.clone())
                    .in_schema(schema.as_str())
            }
            Placement::DatabasePerTenant => {
                let db = self.policy.observed(self.pool(tenant).await?);
                TenantConnection::new(db, tenant.clone())
            }
        };
        Ok(conn
            .with_level(placement.as_str())
            .under(&self.policy)
            .confined_by(self.confiner.clone()))
    }

    /// The migrator of [`with_migrator`](Self::with_migrator).
    pub(crate) fn migration_set(&self) -> Option<MigrationSet> {
        self.migrate
    }

    /// The level new tenants get unless the resolver says otherwise.
    pub(crate) fn default_placement(&self) -> Placement {
        self.default
    }

    /// The shared database, or `Unsupported`.
    pub(crate) fn shared_db(&self) -> Result<&DatabaseConnection, TenantError> {
        self.shared()
    }

    /// The validated schema of a schema-per-tenant tenant.
    pub(crate) fn schema_name(&self, tenant: &TenantId) -> Result<SchemaName, TenantError> {
        self.schema_of(tenant)
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

    /// Where a provisioned tenant lives (`UnknownTenant` otherwise).
    pub(crate) async fn placement_of(&self, tenant: &TenantId) -> Result<Placement, TenantError> {
        self.registered(tenant).await
    }

    fn shared(&self) -> Result<&DatabaseConnection, TenantError> {
        self.db
            .as_ref()
            .ok_or_else(|| TenantError::Unsupported("this tenancy has no shared database".into()))
    }

    fn schema_of(&self, tenant: &TenantId) -> Result<SchemaName, TenantError> {
        if self.shared()?.get_database_backend() != DbBackend::Postgres {
            return Err(TenantError::Unsupported(
                "schema per tenant needs Postgres".into(),
            ));
        }
        self.naming.name_for(tenant)
    }

    fn target(&self, tenant: &TenantId) -> Result<(String, Target), TenantError> {
        // The id is checked before it reaches the user's URL builder.
        self.naming.name_for(tenant)?;
        let url_for = self.url_for.as_ref().ok_or_else(|| {
            TenantError::Unsupported(
                "no database per tenant configured (Tenancy::with_databases)".into(),
            )
        })?;
        let url = url_for(tenant);
        let target = Target::from_url(&url)?;
        Ok((url, target))
    }

    /// The cached pool of a tenant's database, opened once on first use.
    async fn pool(&self, tenant: &TenantId) -> Result<DatabaseConnection, TenantError> {
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

    /// The placement of a provisioned tenant, from the registry.
    async fn registered(&self, tenant: &TenantId) -> Result<Placement, TenantError> {
        let Some(db) = &self.db else {
            // Database per tenant without a registry: the database is the
            // record (opening a missing one is UnknownTenant).
            return Ok(Placement::DatabasePerTenant);
        };
        if let Some(p) = self.known.get(tenant).await {
            return Ok(p);
        }
        // Only a registry that answered is an answer: a read that failed
        // (a lost connection, a pooler error, a revoked grant) is a database
        // error, never `UnknownTenant`, and only found tenants are cached.
        let placement = registry_read(db, tenant)
            .await
            .map_err(|e| TenantError::db("reading the tenant registry", e))?;
        let placement = placement.ok_or_else(|| TenantError::UnknownTenant(tenant.to_string()))?;
        self.known.insert(tenant.clone(), placement).await;
        Ok(placement)
    }

    /// Creates the tenant where [`placement_for`](Self::placement_for)
    /// says, runs the migrator there, and records it in the registry.
    /// Idempotent: a second call, or a retry after a crash halfway, finishes
    /// the job and changes nothing that is already done.
    ///
    /// An id that cannot name a schema or database is
    /// [`TenantError::UnsafeName`], and nothing is created.
    pub async fn provision(&self, tenant: &TenantId) -> Result<(), TenantError> {
        // A failed read is not "not recorded": guessing would re-record a
        // provisioned tenant at another placement.
        let recorded = match &self.db {
            Some(db) => registry_read(db, tenant)
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
            registry_create(db)
                .await
                .map_err(|e| TenantError::db("creating the tenant registry", e))?;
        }
        match placement {
            Placement::SharedSchema => {
                if let Some(set) = &self.migrate {
                    let place = Place::shared(self.shared()?, set, migration::DEFAULT_LOCK_WAIT);
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
                    let place = Place::schema(db, &schema, migration::DEFAULT_LOCK_WAIT);
                    migration::provision_one(set, tenant, place).await?;
                }
            }
            Placement::DatabasePerTenant => {
                let (_, target) = self.target(tenant)?;
                target.create().await?;
                if let Some(set) = &self.migrate {
                    let pool = self.pool(tenant).await?;
                    let place = Place::database(&pool, tenant, migration::DEFAULT_LOCK_WAIT);
                    migration::provision_one(set, tenant, place).await?;
                }
            }
        }
        if let Some(db) = &self.db {
            registry_insert(db, tenant, placement)
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
            Some(db) => registry_read(db, tenant)
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
            && registry_exists(db).await.map_err(fail)?
        {
            registry_delete(db, tenant).await.map_err(fail)?;
        }
        self.known.invalidate(tenant).await;
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
        if !registry_exists(db).await.map_err(fail)? {
            return Ok(Vec::new());
        }
        let select = Query::select()
            .columns(["tenant_id", "placement"])
            .from(REGISTRY_TABLE)
            .order_by("tenant_id", Order::Asc)
            .to_owned();
        let rows = db.query_all(&select).await.map_err(fail)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("", "tenant_id").map_err(fail)?;
            let placement: String = row.try_get("", "placement").map_err(fail)?;
            if let Some(p) = Placement::parse(&placement) {
                out.push((TenantId::from(id), p));
            }
        }
        Ok(out)
    }
}

fn pool_cache(max: u64, idle: Duration) -> moka::future::Cache<TenantId, DatabaseConnection> {
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

fn known_cache(ttl: Duration) -> moka::future::Cache<TenantId, Placement> {
    moka::future::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(ttl)
        .build()
}

async fn registry_create(db: &DatabaseConnection) -> Result<(), DbErr> {
    let create = Table::create()
        .table(REGISTRY_TABLE)
        .if_not_exists()
        .col(registry_key_column(db.get_database_backend()).primary_key())
        .col(ColumnDef::new("placement").string_len(32).not_null())
        .to_owned();
    match db.execute(&create).await {
        Ok(_) => {}
        // Postgres: two first provisions at once both pass `IF NOT EXISTS`
        // and one fails on the catalog's unique key; the table is there.
        Err(_) if matches!(registry_exists(db).await, Ok(true)) => {}
        Err(e) => return Err(e),
    }
    if db.get_database_backend() == DbBackend::MySql {
        registry_key_exact_on_mysql(db).await?;
    }
    Ok(())
}

/// The registry's key: tenant ids as given, compared byte for byte.
///
/// On MySQL/MariaDB a plain `VARCHAR` takes the table's collation, usually
/// case-insensitive, where `ACME` would be a duplicate of `acme` and
/// provisioning one would take over the other's entry (rule 10); the key
/// is `utf8mb4_bin` there. Postgres and SQLite compare text exactly.
fn registry_key_column(backend: DbBackend) -> ColumnDef {
    let mut key = ColumnDef::new("tenant_id");
    if backend == DbBackend::MySql {
        key.custom(Alias::new(MYSQL_EXACT_KEY));
    } else {
        key.string_len(63);
    }
    key.not_null().to_owned()
}

/// The registry key's type on MySQL/MariaDB.
const MYSQL_EXACT_KEY: &str = "VARCHAR(63) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";

/// A registry made before its key was exact (by an earlier version) gets an
/// exact key; one query when it already has it.
async fn registry_key_exact_on_mysql(db: &DatabaseConnection) -> Result<(), DbErr> {
    let collation = Query::select()
        .column("COLLATION_NAME")
        .from(("information_schema", "COLUMNS"))
        .and_where(Expr::col("TABLE_SCHEMA").eq(Expr::cust("DATABASE()")))
        .and_where(Expr::col("TABLE_NAME").eq(REGISTRY_TABLE))
        .and_where(Expr::col("COLUMN_NAME").eq("tenant_id"))
        .to_owned();
    let current: Option<String> = match db.query_one(&collation).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => None,
    };
    if current.as_deref() == Some("utf8mb4_bin") {
        return Ok(());
    }
    let alter = Table::alter()
        .table(REGISTRY_TABLE)
        .modify_column(registry_key_column(DbBackend::MySql))
        .to_owned();
    db.execute(&alter).await.map(|_| ())
}

/// `tenant_id = ?` on the registry, exact on every backend.
fn registry_key_is(tenant: &TenantId) -> Expr {
    crate::scope::exact_eq(
        Expr::col("tenant_id"),
        Expr::val(tenant.as_str().into_owned()),
        true,
    )
}

/// Whether the registry table exists: `Ok(false)` only when the database
/// answered that there is no such table; a read that failed otherwise is
/// the error.
async fn registry_exists(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let select = Query::select()
        .expr(Expr::val(1))
        .from(REGISTRY_TABLE)
        .limit(1)
        .to_owned();
    match db.query_one(&select).await {
        Ok(_) => Ok(true),
        Err(e) if is_missing_table(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The recorded placement of `tenant`: `Ok(None)` only when the registry
/// answered that it is not there (no row, or no registry table yet: nothing
/// was provisioned); any other failure is the error.
async fn registry_read(
    db: &DatabaseConnection,
    tenant: &TenantId,
) -> Result<Option<Placement>, DbErr> {
    match registry_lookup(db, tenant).await {
        Ok(placement) => Ok(placement),
        Err(e) if is_missing_table(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The database's "no such table" answer: Postgres 42P01, MySQL/MariaDB
/// 1146 (SQLSTATE 42S02), SQLite `no such table`.
fn is_missing_table(err: &DbErr) -> bool {
    let sqlx_err = match err {
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    let Some(db_err) = sqlx_err.as_database_error() else {
        return false;
    };
    if let Some(mysql) = db_err.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
        return mysql.number() == 1146;
    }
    if db_err
        .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .is_some()
    {
        return db_err.message().starts_with("no such table");
    }
    db_err.code().is_some_and(|c| c == "42P01")
}

async fn registry_lookup(
    db: &DatabaseConnection,
    tenant: &TenantId,
) -> Result<Option<Placement>, DbErr> {
    let select = Query::select()
        .column("placement")
        .from(REGISTRY_TABLE)
        .and_where(registry_key_is(tenant))
        .to_owned();
    let Some(row) = db.query_one(&select).await? else {
        return Ok(None);
    };
    let placement: String = row.try_get("", "placement")?;
    Ok(Placement::parse(&placement))
}

async fn registry_insert(
    db: &DatabaseConnection,
    tenant: &TenantId,
    placement: Placement,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(REGISTRY_TABLE)
        .columns(["tenant_id", "placement"])
        .values([
            tenant.as_str().into_owned().into(),
            placement.as_str().into(),
        ])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(
            OnConflict::column("tenant_id")
                .update_column("placement")
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

async fn registry_delete(db: &DatabaseConnection, tenant: &TenantId) -> Result<(), DbErr> {
    let delete = Query::delete()
        .from_table(REGISTRY_TABLE)
        .and_where(registry_key_is(tenant))
        .to_owned();
    db.execute(&delete).await.map(|_| ())
}
