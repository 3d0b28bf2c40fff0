//! [`Tenancy`]: the three isolation levels (shared schema, schema per
//! tenant, database per tenant) and hybrid placement behind one API.
//!
//! The same application code runs on every level: it asks
//! [`Tenancy::connection`] for a [`TenantConnection`] and uses it as any
//! SeaORM connection. Where a tenant lives is configuration.

mod database;
mod erase;
mod life;
mod lock;
mod naming;
mod placement;
mod pools;
mod provision;
mod registry;
mod relocate;
mod removal;
mod second_wall;
mod server;
mod undeclared;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbBackend};
use sea_orm_migration::MigratorTrait;

use database::{PoolLimits, Target};
pub use erase::{ErasureCheck, ErasureReport};
pub(crate) use life::Lives;
pub(crate) use life::{Held, Life, Stage};
use lock::Locks;
pub use naming::{MAX_NAME_LEN, Naming, SchemaName};
pub use placement::Placement;
use pools::{Known, TenantPool, known_cache, pool_cache};
pub use registry::REGISTRY_TABLE;
pub(crate) use relocate::TableRows;
pub use relocate::{
    MOVES_TABLE, MoveOptions, MovePhase, MoveReport, MoveStep, PendingMove, TableCheck,
};
pub use removal::{DeprovisionReport, Removed, RemovedRows};
use second_wall::{Reading, SecondWall};
pub use server::{Location, MAIN_SERVER, Server};

use crate::connection::{Confiner, Keeper, Policy};
use crate::migration::MigrationSet;
use crate::{HotTenants, TenantConnection, TenantEntity, TenantError, TenantId};

type UrlFor = Arc<dyn Fn(&TenantId) -> String + Send + Sync>;
type Resolver = Arc<dyn Fn(&TenantId) -> Option<Placement> + Send + Sync>;

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
    confiner: Arc<Confiner>,
    limits: PoolLimits,
    max_pools: u64,
    registry_ttl: Duration,
    pools: moka::future::Cache<TenantId, TenantPool>,
    known: moka::future::Cache<TenantId, Known>,
    /// Each tenant's life in this process, which deprovision ends.
    lives: Lives,
    /// The lifecycle lock of each tenant (provision, deprovision).
    locks: Locks,
    policy: Policy,
    /// The tenant-keeping connections of the shared database (Postgres).
    keeper: Option<Arc<Keeper>>,
    /// Whether the tenant tables carry row-level security policies.
    wall: SecondWall,
    /// Behind a transaction-mode pooler: statements sent unnamed, nothing
    /// kept.
    pooler: bool,
    /// The servers beside the main one, by name.
    servers: Arc<BTreeMap<String, Server>>,
    /// Set once this tenancy (or a clone) made sure the registry table
    /// exists, so provisioning does not ask again for every tenant.
    registry_made: Arc<std::sync::atomic::AtomicBool>,
    /// The migration version ledgers found or made, per server.
    pub(crate) ledgers: crate::migration::Ledgers,
}

impl fmt::Debug for Tenancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenancy")
            .field("default", &self.default)
            .field("naming", &self.naming)
            .field("databases", &self.url_for.is_some())
            .field("max_pools", &self.max_pools)
            .field("open_pools", &self.pools.entry_count())
            .field("servers", &self.servers.keys().collect::<Vec<_>>())
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
            confiner: Confiner::registered(),
            limits,
            max_pools,
            registry_ttl,
            pools: pool_cache(max_pools, limits.idle),
            known: known_cache(registry_ttl),
            lives: Lives::default(),
            locks: Locks::default(),
            policy: Policy::default(),
            keeper: None,
            wall: SecondWall::default(),
            pooler: false,
            servers: Arc::default(),
            registry_made: Arc::default(),
            ledgers: crate::migration::Ledgers::default(),
        }
        .hot_tenants(HotTenants::default())
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
        // Another database: its registry is made (or upgraded) again.
        self.registry_made = Arc::default();
        self
    }

    /// Several servers: adds `server`, on which tenants can be placed
    /// ([`provision_at`](Self::provision_at)) or to which they can be moved
    /// ([`move_tenant`](Self::move_tenant)). Shared tenants on it live in
    /// its own shared tables, schemas in its database, and databases per
    /// tenant where [`Server::with_databases`] says. The registry, on the
    /// main server, records each tenant's server; a tenant's connection
    /// goes to its server's pool only. A server added again under the
    /// same name replaces the first.
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # fn main() -> Result<(), TenantError> {
    /// let tenancy = Tenancy::schema_per_tenant(DatabaseConnection::default())
    ///     .with_server(Server::new("eu2", DatabaseConnection::default())?);
    /// assert_eq!(tenancy.servers().collect::<Vec<_>>(), ["main", "eu2"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_server(mut self, server: Server) -> Self {
        Arc::make_mut(&mut self.servers).insert(server.name().to_owned(), server);
        self
    }

    /// The names of the servers tenants can live on: [`MAIN_SERVER`]
    /// first, then those of [`with_server`](Self::with_server) by name.
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(MAIN_SERVER).chain(self.servers.keys().map(String::as_str))
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

    /// A tenant table for this `Tenancy` only: every
    /// [`connection`](Self::connection) confines each statement on it to
    /// its tenant (rule 12; see [`TenantConnection::confine`]),
    /// [`provision`](Self::provision) checks that a tenant id fits its
    /// tenant column, and [`deprovision`](Self::deprovision) deletes a
    /// shared tenant's rows from it.
    ///
    /// A table declared with [`tenant_entity!`](crate::tenant_entity) is
    /// all of this for every `Tenancy` of the program, without this call:
    /// one declaration is the whole truth about a table, whichever way it
    /// is made. A program whose tenancies use different tenant id types
    /// (an integer tenant column here, text there) declares those tables
    /// here, to their own `Tenancy`: a tenant id is checked against every
    /// table declared to its tenancy, and no id is an integer, a UUID and
    /// text at once.
    pub fn tenant_table<E: TenantEntity>(mut self) -> Self {
        self.confiner = self.confiner.with::<E>();
        self
    }

    /// A global table: one that belongs to no tenant (a country list).
    /// Every [`connection`](Self::connection) lets statements read and
    /// write it unconfined; a table declared neither tenant nor global is
    /// refused (rule 12). [`global_entity!`](crate::global_entity)
    /// declares one for the whole program.
    ///
    /// ```
    /// use sea_orm::{DatabaseConnection, DbBackend, Statement};
    /// use sea_orm_tenant::doc_entities::{country, post};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenancy = Tenancy::shared_schema(DatabaseConnection::default())
    ///     .tenant_table::<post::Entity>()
    ///     .global_table::<country::Entity>();
    /// # let _ = tenancy;
    /// ```
    pub fn global_table<E: sea_orm::EntityTrait>(self) -> Self {
        let name = crate::connection::table_name::<E>();
        self.global_table_named(&name)
    }

    /// A global table without an entity, by name; see
    /// [`global_table`](Self::global_table).
    pub fn global_table_named(mut self, name: &str) -> Self {
        self.confiner = self.confiner.with_global(name);
        self
    }

    /// Declares the database function `name` (a function of your own
    /// schema, or a built-in the allow-list leaves out) pure: a promise
    /// that it computes on its arguments alone, reads no table and keeps no
    /// state. Statements through every [`connection`](Self::connection) may
    /// then call it; any other function not on the backend's allow-list
    /// ([`allowed_functions`](crate::allowed_functions)) is refused.
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenancy = Tenancy::shared_schema(DatabaseConnection::default()).pure_function("slugify");
    /// # let _ = tenancy;
    /// ```
    pub fn pure_function(mut self, name: &str) -> Self {
        self.confiner = self.confiner.with_function(name);
        self
    }

    /// Declares the database type `name` one that statements may cast to:
    /// a promise that its input function reads no table (a Postgres enum,
    /// as SeaORM's `ActiveEnum` casts to; a domain whose checks read
    /// nothing). Casts to any other type but the plain scalar ones are
    /// refused (a cast to `regclass` looks up catalog objects).
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenancy = Tenancy::shared_schema(DatabaseConnection::default()).pure_type("tea");
    /// # let _ = tenancy;
    /// ```
    pub fn pure_type(mut self, name: &str) -> Self {
        self.confiner = self.confiner.with_type(name);
        self
    }

    /// Runs every statement of every tenant under a Postgres
    /// `statement_timeout` of `timeout`: on the session of the tenancy's
    /// kept connections, with the tenant, or with `SET LOCAL` in the
    /// opening round trip of a transaction per statement (and of
    /// transactions opened with
    /// [`begin`](sea_orm::TransactionTrait::begin)). A statement that runs
    /// longer is cancelled by Postgres with SQLSTATE 57014 and its
    /// transaction rolled back; the setting never outlives the
    /// transaction, and a tenant connection refuses statements that would
    /// change it. See [`TenantConnection::statement_timeout`] for the
    /// rounding and for SQLite and MySQL/MariaDB (ignored there: no
    /// setting that is not session state).
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

    /// A `statement_timeout` per tenant (per plan): `policy` is called in
    /// [`connection`](Self::connection) and its answer applies to that
    /// connection's statements as in
    /// [`statement_timeout`](Self::statement_timeout); `None` leaves the
    /// server's setting alone. Keep it cheap (an in-memory lookup): it
    /// runs for every connection handed out. A kept connection set under
    /// an earlier answer is set again before a statement under another.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let enterprise = ["acme"];
    /// let tenancy = Tenancy::shared_schema(DatabaseConnection::default()).statement_timeout_for(
    ///     move |t: &TenantId| {
    ///         if enterprise.contains(&&*t.as_str()) {
    ///             None // the server's default
    ///         } else {
    ///             Some(Duration::from_millis(500))
    ///         }
    ///     },
    /// );
    /// # let _ = tenancy;
    /// ```
    pub fn statement_timeout_for<F>(mut self, policy: F) -> Self
    where
        F: Fn(&TenantId) -> Option<Duration> + Send + Sync + 'static,
    {
        self.policy.timeout = Some(Arc::new(policy));
        self
    }

    /// Lets each tenant have at most `max` (at least 1) database
    /// operations in flight through this tenancy's connections, on every
    /// level: a statement, a stream (until finished or dropped) or a
    /// transaction opened with [`begin`](sea_orm::TransactionTrait::begin)
    /// (until commit, rollback or drop; its statements and savepoints take
    /// no further permit) each hold one permit. Over the cap, an operation
    /// waits for a permit of its own tenant, up to
    /// [`concurrency_wait`](Self::concurrency_wait) (30 s unless set), then
    /// fails with [`TenantError::Busy`] (as a `DbErr`; see
    /// [`TenantError::is_busy`]) without sending anything. Other tenants
    /// never wait for it.
    ///
    /// Keep `max` below the pool's `max_connections`, so that one tenant
    /// cannot take the whole pool. A task that holds a
    /// [`TenantTransaction`](crate::TenantTransaction) and runs statements on the
    /// [`TenantConnection`] of the same tenant (rather than on the
    /// transaction) needs two permits: with `max` 1 it would wait for
    /// itself until `concurrency_wait` expires.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm::{Database, TransactionTrait};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// let tenancy = Tenancy::shared_schema(db)
    ///     .max_concurrent_per_tenant(1)
    ///     .concurrency_wait(Duration::from_millis(10));
    /// let (acme, globex) = (TenantId::from("acme"), TenantId::from("globex"));
    /// tenancy.provision(&acme).await?;
    /// tenancy.provision(&globex).await?;
    /// let acme = tenancy.connection(&acme).await?;
    /// let globex = tenancy.connection(&globex).await?;
    ///
    /// let txn = acme.begin().await?; // acme's one permit
    /// let err = acme.begin().await.unwrap_err(); // refused before taking a connection
    /// assert!(TenantError::is_busy(&err));
    /// drop(txn); // rolled back: the permit comes back
    /// let other = globex.begin().await?; // globex has permits of its own
    /// # drop(other);
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_concurrent_per_tenant(mut self, max: usize) -> Self {
        self.policy.set_max_concurrent(max);
        self
    }

    /// How long an operation over its tenant's cap
    /// ([`max_concurrent_per_tenant`](Self::max_concurrent_per_tenant))
    /// waits for a permit before failing with [`TenantError::Busy`];
    /// 30 seconds unless set. `Duration::ZERO` refuses at once.
    pub fn concurrency_wait(mut self, wait: Duration) -> Self {
        self.policy.set_concurrency_wait(wait);
        self
    }

    /// Calls `hook` after every database operation of this tenancy's
    /// connections with the tenant and the time it took, to export as a
    /// per-tenant counter (no exporter is included). An operation is one
    /// statement (from the start of its transaction to its end, including
    /// waiting for a pooled connection, but not for a permit of
    /// [`max_concurrent_per_tenant`](Self::max_concurrent_per_tenant)), a
    /// whole stream, or, in a [`TenantTransaction`](crate::TenantTransaction), its `begin`, each
    /// statement, and its `commit` or `rollback` (a transaction dropped
    /// without either is rolled back in the background, untimed). A
    /// statement that fails or is cancelled is counted too.
    ///
    /// The hook runs on the task that ran the statement, so keep it short
    /// and non-blocking (an atomic add, a metrics counter), and do not let
    /// it panic. The same time is recorded in microseconds in the
    /// `db_time_us` field of the `tenant_statement` tracing span.
    pub fn on_database_time<F>(mut self, hook: F) -> Self
    where
        F: Fn(&TenantId, Duration) + Send + Sync + 'static,
    {
        self.policy.limits.on_time = Some(Arc::new(hook));
        self
    }

    /// Limits of the tenant-keeping connections of the shared Postgres
    /// database (shared schema and schema per tenant), replacing the
    /// defaults ([`HotTenants::default`]); `HotTenants::off()` keeps none.
    ///
    /// A tenant's statements need its tenant set on the session (for
    /// row-level security), its `search_path` (schema per tenant) or its
    /// statement timeout. The tenancy keeps connections of a pool of its
    /// own (the size and settings of the application's pool, never handed
    /// to other code) with those set at session level: a statement of the
    /// tenant a connection holds is one round trip, a switch adds one.
    /// `max_parked` bounds the connections kept idle (default: all of the
    /// pool), `per_tenant` those of one tenant, `max_idle` how long one is
    /// kept. Tenancies built over the same pool share one keeper, and so
    /// one budget (the first one's limits). Statements that need nothing
    /// set do not use it. Ignored on SQLite and MySQL, and behind a pooler
    /// ([`behind_pooler`](Self::behind_pooler)), where the tenant is set
    /// in each statement's transaction instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenancy = Tenancy::shared_schema(DatabaseConnection::default()).hot_tenants(HotTenants {
    ///     max_parked: Some(8),
    ///     per_tenant: 2,
    ///     max_idle: Duration::from_secs(5),
    /// });
    /// assert_eq!(tenancy.parked(), 0);
    /// ```
    pub fn hot_tenants(mut self, hot: HotTenants) -> Self {
        if let Some(old) = self.keeper.take() {
            old.clear();
        }
        #[cfg(not(feature = "sqlx-postgres"))]
        let _ = hot;
        self.keeper = match &self.db {
            Some(db) if !self.pooler => match &db.inner {
                #[cfg(feature = "sqlx-postgres")]
                sea_orm::DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                    Keeper::for_pool(db.get_postgres_connection_pool(), &hot)
                }
                _ => None,
            },
            _ => None,
        };
        self
    }

    /// Marks the databases of this tenancy as reached through a
    /// transaction-mode pooler such as PgBouncer (`pool_mode =
    /// transaction`). Its tenant connections then send every Postgres
    /// statement unnamed, inside the transaction that set the tenant
    /// (sqlx otherwise prepares statements by name and caches them on the
    /// client connection, which the pooler hands to other server
    /// connections), the registry and migrations run likewise, and no
    /// connection is kept with a session set, since the pooler's server
    /// connections serve other clients between transactions. Reads and writes cost
    /// one round trip more per statement (the unnamed statement is parsed
    /// each time). See the README, "Behind PgBouncer", for what works
    /// there and what does not.
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenancy = Tenancy::shared_schema(DatabaseConnection::default()).behind_pooler();
    /// assert_eq!(tenancy.parked(), 0);
    /// ```
    pub fn behind_pooler(mut self) -> Self {
        self.pooler = true;
        if let Some(old) = self.keeper.take() {
            old.clear();
        }
        // A pool of its own over the same options, without sqlx's cache of
        // named statements: a statement text cached on a client connection
        // would otherwise be sent by name, even when asked for unnamed.
        #[cfg(feature = "sqlx-postgres")]
        if let Some(db) = &self.db
            && let sea_orm::DatabaseConnectionType::SqlxPostgresPoolConnection(_) = &db.inner
        {
            let pool = db.get_postgres_connection_pool();
            let options = (*pool.connect_options())
                .clone()
                .statement_cache_capacity(0);
            let pool = pool.options().clone().connect_lazy_with(options);
            let mut db = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
            self.policy.observer.install(&mut db);
            self.db = Some(db);
        }
        self
    }

    /// Whether this tenancy goes through a transaction-mode pooler
    /// ([`behind_pooler`](Self::behind_pooler)).
    pub(crate) fn is_behind_pooler(&self) -> bool {
        self.pooler
    }

    /// How many tenant-keeping connections are idle right now, each
    /// holding its tenant (see [`hot_tenants`](Self::hot_tenants)).
    pub fn parked(&self) -> usize {
        self.keeper.as_ref().map_or(0, |k| k.kept())
    }

    /// Gives every idle tenant-keeping connection back to the tenancy's
    /// pool (for example before running DDL); the next statement of each
    /// tenant sets its session again.
    pub fn release_parked(&self) {
        if let Some(keeper) = &self.keeper {
            keeper.clear();
        }
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
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let failures = Arc::new(AtomicUsize::new(0));
    /// let counter = failures.clone();
    /// let tenancy = Tenancy::shared_schema(Database::connect("sqlite::memory:").await?)
    ///     // Declared, so the database (not the wall) fails the statement below.
    ///     .global_table_named("missing")
    ///     .metric_callback(move |info: &sea_orm::metric::Info<'_>| {
    ///         if info.failed {
    ///             counter.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     });
    /// let acme = TenantId::from("acme");
    /// tenancy.provision(&acme).await?; // its first look for the registry table fails: counted
    /// failures.store(0, Ordering::Relaxed);
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
    /// answer, or the default level (on the main server).
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
        let mut retried = false;
        loop {
            // Taken first: a deprovision that begins after this ends it,
            // and the connection's statements are refused.
            let life = self.lives.current_or_wait(tenant).await?;
            // No async block here: each level of futures nested in this
            // one is laid out again in every caller's (an extractor's).
            let conn = match self.registered_at(tenant, &life).await {
                Ok(location) => self.connect_as(tenant, &location, &life).await,
                Err(err) => Err(err),
            };
            match conn.and_then(|conn| life.check(tenant).map(|()| conn)) {
                Ok(conn) => return Ok(conn.living(life)),
                // A move switched meanwhile: once more, after its pause.
                Err(TenantError::Moved(_)) if !retried && life.stage() == Stage::Moved => {
                    retried = true;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// A connection bound to the current tenant (the ambient one, see
    /// [`with_tenant`](crate::with_tenant)): [`connection`](Self::connection)
    /// of [`current_tenant`](crate::current_tenant), in one call. For a
    /// background job started with [`spawn`](crate::spawn), which keeps the
    /// tenant (and the tracing span) of the request that started it.
    ///
    /// [`TenantError::Missing`] outside `with_tenant`; otherwise the errors
    /// of [`connection`](Self::connection).
    ///
    /// ```
    /// use sea_orm_tenant::{Tenancy, TenantError, TenantId, with_tenant_sync};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), TenantError> {
    /// # let db = sea_orm::Database::connect("sqlite::memory:").await.map_err(TenantError::from)?;
    /// let tenancy = Tenancy::shared_schema(db);
    /// let acme = TenantId::from("acme");
    /// tenancy.provision(&acme).await?;
    ///
    /// // In a request: the job keeps the tenant, and finds its connection.
    /// let job = with_tenant_sync(acme.clone(), || {
    ///     let tenancy = tenancy.clone();
    ///     sea_orm_tenant::spawn(async move {
    ///         let conn = tenancy.current_connection().await?;
    ///         Ok::<_, TenantError>(conn.tenant().clone())
    ///     })
    /// });
    /// assert_eq!(job.await.ok(), Some(Ok(acme)));
    /// assert_eq!(tenancy.current_connection().await.err(), Some(TenantError::Missing));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn current_connection(&self) -> Result<TenantConnection, TenantError> {
        self.connection(&crate::current_tenant()?).await
    }

    pub(super) async fn connect_as(
        &self,
        tenant: &TenantId,
        location: &Location,
        life: &Life,
    ) -> Result<TenantConnection, TenantError> {
        let placement = location.placement();
        // The keeper and the second wall's reading belong to the main
        // server; on another, statements take the transaction road and the
        // tenant is set unless RLS was declared off.
        let main = location.is_main();
        let keeper = if main { self.keeper.as_ref() } else { None };
        let (conn, keeper, wall) = match placement {
            Placement::SharedSchema => (
                TenantConnection::new(self.server_db(location)?.clone(), tenant.clone()),
                keeper,
                if main {
                    self.second_wall().await?
                } else {
                    Reading {
                        rls: self.wall.declared().unwrap_or(true),
                        triggers: true,
                    }
                },
            ),
            Placement::SchemaPerTenant => {
                let schema = self.schema_of(tenant)?;
                let conn = TenantConnection::new(self.server_db(location)?.clone(), tenant.clone())
                    .in_schema(schema.as_str());
                // The schema is set on the session either way; its tables
                // are not on the shared path, so their triggers are not
                // read: assumed.
                let wall = Reading {
                    rls: self.wall.declared().unwrap_or(false),
                    triggers: true,
                };
                (conn, keeper, wall)
            }
            Placement::DatabasePerTenant => {
                // A pool of the tenant's own database: what a trigger
                // leaves in its sessions reaches no other tenant.
                let db = self
                    .policy
                    .observed(self.pool(tenant, location.server(), life).await?);
                let wall = Reading {
                    rls: self.wall.declared().unwrap_or(false),
                    triggers: false,
                };
                (TenantConnection::new(db, tenant.clone()), None, wall)
            }
        };
        Ok(conn
            .placed(placement)
            .unnamed(self.pooler)
            .under(&self.policy)
            .confined_by(self.confiner.clone())
            .choose_road(wall.rls, wall.triggers, keeper))
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

    /// Where a provisioned tenant lives, and on which server, from the
    /// registry (cached for [`registry_ttl`](Self::registry_ttl)):
    /// [`TenantError::UnknownTenant`] when it was not provisioned.
    pub async fn location_of(&self, tenant: &TenantId) -> Result<Location, TenantError> {
        self.registered(tenant).await
    }

    /// Checks that `tenant` fits the tenant column of every declared
    /// table, so that a policy's cast can never fail later:
    /// [`TenantError::ColumnType`] otherwise.
    /// The tables and functions declared to this tenancy (program-wide
    /// declarations included).
    pub(crate) fn catalog(&self) -> &crate::connection::Catalog {
        self.confiner.catalog()
    }

    pub(crate) fn check_id(&self, tenant: &TenantId) -> Result<(), TenantError> {
        self.confiner
            .catalog()
            .tables()
            .try_for_each(|table| (table.value)(tenant).map(|_| ()))
    }

    /// Where the registry's statements run (see [`registry::RegistryDb`]).
    pub(crate) fn registry_db<'a>(&self, db: &'a DatabaseConnection) -> registry::RegistryDb<'a> {
        registry::RegistryDb::new(db, self.pooler)
    }

    fn shared(&self) -> Result<&DatabaseConnection, TenantError> {
        self.db
            .as_ref()
            .ok_or_else(|| TenantError::Unsupported("this tenancy has no shared database".into()))
    }

    /// The database of `location`'s server (shared tables, schemas).
    pub(super) fn server_db(
        &self,
        location: &Location,
    ) -> Result<&DatabaseConnection, TenantError> {
        if location.is_main() {
            self.shared()
        } else {
            Ok(&self.server(location.server())?.db)
        }
    }

    /// The database of the server named `server` (shared tables, schemas).
    pub(crate) fn server_database(&self, server: &str) -> Result<&DatabaseConnection, TenantError> {
        if server == MAIN_SERVER {
            self.shared()
        } else {
            Ok(&self.server(server)?.db)
        }
    }

    /// The server named `name` (not the main one).
    fn server(&self, name: &str) -> Result<&Server, TenantError> {
        self.servers.get(name).ok_or_else(|| {
            TenantError::Unsupported(format!(
                "no server `{name}` in this tenancy (Tenancy::with_server)"
            ))
        })
    }

    fn schema_of(&self, tenant: &TenantId) -> Result<SchemaName, TenantError> {
        if self.shared()?.get_database_backend() != DbBackend::Postgres {
            return Err(TenantError::Unsupported(
                "schema per tenant needs Postgres".into(),
            ));
        }
        self.naming.name_for(tenant)
    }

    /// The database of `tenant` on the server named `server`.
    fn target_on(&self, tenant: &TenantId, server: &str) -> Result<(String, Target), TenantError> {
        // The id is checked before it reaches the user's URL builder.
        self.naming.name_for(tenant)?;
        let url_for = if server == MAIN_SERVER {
            self.url_for.as_ref()
        } else {
            self.server(server)?.url_for.as_ref()
        };
        let url_for = url_for.ok_or_else(|| {
            TenantError::Unsupported(format!(
                "no database per tenant configured on server `{server}` (with_databases)"
            ))
        })?;
        let url = url_for(tenant);
        let target = Target::from_url(&url)?;
        Ok((url, target))
    }
}
