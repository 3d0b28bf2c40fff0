//! [`TenantPool`] (being folded into [`Tenancy`](crate::Tenancy)).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::ColumnType;
use sea_orm::{DatabaseConnection, DatabaseConnectionType};

use super::hot::{HotSet, HotTenants};
use super::limits::Policy;
use super::{Backend, Confiner, TenantConnection};
use crate::{TenantEntity, TenantError, TenantId};

/// Checks a tenant id against the tenant column's type.
type TenantCheck = Arc<dyn Fn(&TenantId) -> Result<(), TenantError> + Send + Sync>;

/// Hands out [`TenantConnection`]s over one shared pool, with parked
/// transactions for hot tenants on Postgres.
///
/// A parked connection sits inside a fresh `BEGIN [READ ONLY]; SET LOCAL
/// app.tenant_id = '<id>'` transaction (no statement run, no lock, no
/// snapshot held), keyed by its tenant. A read of that tenant runs on a
/// read-only one in one round trip, with no pool acquire, and the
/// transaction is rolled back; a write runs on a read-write one and is
/// committed (two round trips). A background task then opens the next
/// transaction on the connection and parks it again. Every statement still
/// gets a transaction of its own, and the setting stays transaction-local.
/// Behind a transaction-mode pooler each parked connection pins one server
/// connection while parked; that setup is not tested yet. Transactions
/// opened with [`TransactionTrait::begin`] work as in
/// [`TenantConnection::new`].
///
/// Noisy neighbours: [`statement_timeout`](Self::statement_timeout) /
/// [`statement_timeout_for`](Self::statement_timeout_for) (Postgres),
/// [`max_concurrent_per_tenant`](Self::max_concurrent_per_tenant) and
/// [`on_database_time`](Self::on_database_time) apply to every connection
/// the pool hands out (so to the `http` feature's `TenantDb` too). All are
/// off by default, and off they cost nothing on the statement path.
///
/// Parked connections are taken from the shared pool: at most
/// [`HotTenants::max_parked`] (half of the pool by default), and one is
/// released whenever the pool runs dry. Tenant ids that are not plain
/// `[A-Za-z0-9_-]` are never parked. On SQLite and MySQL there is nothing
/// to park; the connections behave as [`TenantConnection::new`].
///
/// ```no_run
/// use sea_orm::{Database, EntityTrait};
/// use sea_orm_tenant::doc_entities::post;
/// use sea_orm_tenant::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sea_orm::DbErr> {
/// let db = Database::connect("postgres://app@localhost/app").await?;
/// let tenants = TenantPool::new(db).tenant_column::<post::Entity>();
/// let conn = tenants.connection(&TenantId::from("acme"))?; // checks the id fits the column
/// let first = post::Entity::find_by_id(1).one(&conn).await?;
/// # let _ = first;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TenantPool {
    db: DatabaseConnection,
    hot: Option<Arc<HotSet>>,
    check: Option<TenantCheck>,
    policy: Policy,
    confiner: Arc<Confiner>,
}

impl std::fmt::Debug for TenantPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantPool")
            .field("backend", &Backend(&self.db))
            .field("parked", &self.parked())
            .field("statement_timeout", &self.policy.timeout.is_some())
            .field("limits", &self.policy.limits)
            .finish()
    }
}

impl TenantPool {
    /// A pool with the default [`HotTenants`] limits.
    ///
    /// On Postgres this spawns a small tokio task that ages parked
    /// connections out, so call it inside a tokio runtime.
    pub fn new(db: DatabaseConnection) -> Self {
        Self::with_hot_tenants(db, HotTenants::default())
    }

    /// A pool that parks nothing: every connection is strict, as
    /// [`TenantConnection::new`].
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenants = TenantPool::strict(DatabaseConnection::default());
    /// let conn = tenants.connection(&TenantId::from("acme")).unwrap();
    /// assert_eq!(conn.tenant().to_string(), "acme");
    /// ```
    pub fn strict(db: DatabaseConnection) -> Self {
        TenantPool {
            db,
            hot: None,
            check: None,
            policy: Policy::default(),
            confiner: Confiner::registered(),
        }
    }

    /// A pool with the given hot-tenant limits.
    pub fn with_hot_tenants(db: DatabaseConnection, hot: HotTenants) -> Self {
        let set = match &db.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                Some(HotSet::new(db.get_postgres_connection_pool().clone(), &hot))
            }
            _ => None,
        };
        TenantPool {
            hot: set,
            ..Self::strict(db)
        }
    }

    /// Checks every tenant against the type of `E`'s tenant column in
    /// [`connection`](Self::connection), so a policy's cast cannot fail.
    ///
    /// It also declares `E`'s table as a tenant table to this pool's
    /// connections, which confine every statement on it (see
    /// [`TenantConnection::confine`]), as
    /// [`tenant_entity!`](crate::tenant_entity) does for the whole program.
    pub fn tenant_column<E: TenantEntity>(mut self) -> Self {
        self.check = Some(Arc::new(|tenant: &TenantId| {
            E::tenant_value(tenant).map(|_| ())
        }));
        self.confiner = self.confiner.with::<E>();
        self
    }

    /// Declares `E`'s table as a tenant table to this pool's connections
    /// without checking tenant ids against its column (see
    /// [`tenant_column`](Self::tenant_column)).
    pub fn tenant_table<E: TenantEntity>(mut self) -> Self {
        self.confiner = self.confiner.with::<E>();
        self
    }

    /// Checks every tenant against a column type in
    /// [`connection`](Self::connection).
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm::sea_query::ColumnType;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenants = TenantPool::strict(DatabaseConnection::default()).tenant_type(ColumnType::Integer);
    /// assert!(tenants.connection(&TenantId::from(42_i64)).is_ok());
    /// assert!(matches!(
    ///     tenants.connection(&TenantId::from("acme")),
    ///     Err(TenantError::ColumnType { .. })
    /// ));
    /// ```
    pub fn tenant_type(mut self, column_type: ColumnType) -> Self {
        self.check = Some(Arc::new(move |tenant: &TenantId| {
            tenant
                .to_value_for(&column_type, "(tenant pool)", "tenant column")
                .map(|_| ())
        }));
        self
    }

    /// A connection bound to `tenant`, or the reason the id does not fit
    /// the tenant column (see [`tenant_column`](Self::tenant_column)).
    pub fn connection(&self, tenant: &TenantId) -> Result<TenantConnection, TenantError> {
        if let Some(check) = &self.check {
            check(tenant)?;
        }
        let timeout = self.policy.timeout_for(tenant);
        let mut conn = TenantConnection::with_timeout(self.db.clone(), tenant.clone(), timeout);
        conn.hot = self.hot.clone();
        conn.limits = self.policy.limits.clone();
        conn.observer = self.policy.observer.clone();
        conn.confinement.by(self.confiner.clone());
        Ok(conn)
    }

    /// Runs every statement of every tenant under a Postgres
    /// `statement_timeout` of `timeout`, set with `SET LOCAL` in the
    /// transaction's opening round trip (also in hot tenants' parked
    /// transactions and in transactions opened with
    /// [`begin`](TransactionTrait::begin)). A statement that runs longer
    /// is cancelled by Postgres with SQLSTATE 57014 and its transaction
    /// rolled back; the setting never outlives the transaction. See
    /// [`TenantConnection::statement_timeout`] for the rounding and for
    /// SQLite and MySQL/MariaDB (ignored there: no setting that is not
    /// session state).
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenants = TenantPool::strict(DatabaseConnection::default())
    ///     .statement_timeout(Duration::from_secs(5));
    /// let conn = tenants.connection(&TenantId::from("acme")).unwrap();
    /// assert!(format!("{conn:?}").contains("statement_timeout: Some(5s)"));
    /// ```
    pub fn statement_timeout(self, timeout: Duration) -> Self {
        self.statement_timeout_for(move |_| Some(timeout))
    }

    /// A `statement_timeout` per tenant (per plan): `policy` is called in
    /// [`connection`](Self::connection) and its answer applies to that
    /// connection's statements as in
    /// [`statement_timeout`](Self::statement_timeout); `None` leaves the
    /// server's setting alone. Keep it cheap (an in-memory lookup): it
    /// runs for every connection handed out. Parked transactions of hot
    /// tenants opened under an earlier answer are not used for a
    /// connection with another one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let enterprise = ["acme"];
    /// let tenants = TenantPool::strict(DatabaseConnection::default()).statement_timeout_for(
    ///     move |t: &TenantId| {
    ///         if enterprise.contains(&&*t.as_str()) {
    ///             None // the server's default
    ///         } else {
    ///             Some(Duration::from_millis(500))
    ///         }
    ///     },
    /// );
    /// let free = tenants.connection(&TenantId::from("globex")).unwrap();
    /// assert!(format!("{free:?}").contains("statement_timeout: Some(500ms)"));
    /// let paying = tenants.connection(&TenantId::from("acme")).unwrap();
    /// assert!(format!("{paying:?}").contains("statement_timeout: None"));
    /// ```
    pub fn statement_timeout_for<F>(mut self, policy: F) -> Self
    where
        F: Fn(&TenantId) -> Option<Duration> + Send + Sync + 'static,
    {
        if !matches!(
            self.db.inner,
            DatabaseConnectionType::SqlxPostgresPoolConnection(_)
        ) {
            tracing::warn!(
                target: "sea_orm_tenant",
                "tenant pool: statement_timeout is only applied on Postgres; ignored here"
            );
        }
        self.policy.timeout = Some(Arc::new(policy));
        self
    }

    /// Lets each tenant have at most `max` (at least 1) database
    /// operations in flight through this pool's connections: a statement,
    /// a stream (until finished or dropped) or a transaction opened with
    /// [`begin`](TransactionTrait::begin) (until commit, rollback or drop;
    /// its statements and savepoints take no further permit) each hold
    /// one permit. Over the cap, an operation waits for a permit of its own
    /// tenant, up to [`concurrency_wait`](Self::concurrency_wait) (30 s
    /// unless set), then fails with [`TenantError::Busy`] (as a `DbErr`;
    /// see [`TenantError::is_busy`]) without sending anything. Other
    /// tenants never wait for it. Works on every backend.
    ///
    /// Keep `max` below the pool's `max_connections`, so that one tenant
    /// cannot take the whole pool. A task that holds a
    /// [`TenantTransaction`] and runs statements on the
    /// [`TenantConnection`] of the same tenant (rather than on the
    /// transaction) needs two permits: with `max` 1 it would wait for
    /// itself until `concurrency_wait` expires.
    ///
    /// Memory: one semaphore per tenant with work in flight; idle tenants
    /// are forgotten once more than 1024 (or twice the number busy at the
    /// last check) are tracked.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm::{Database, TransactionTrait};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sea_orm::DbErr> {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// let tenants = TenantPool::new(db)
    ///     .max_concurrent_per_tenant(1)
    ///     .concurrency_wait(Duration::from_millis(10));
    /// let acme = tenants.connection(&TenantId::from("acme"))?;
    /// let globex = tenants.connection(&TenantId::from("globex"))?;
    ///
    /// let txn = acme.begin().await?; // acme's one permit
    /// let err = acme.begin().await.unwrap_err(); // refused before taking a connection
    /// assert!(TenantError::is_busy(&err));
    /// drop(txn); // rolled back: the permit comes back
    /// let again = acme.begin().await?;
    /// # drop(again);
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
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenants = TenantPool::strict(DatabaseConnection::default())
    ///     .max_concurrent_per_tenant(4)
    ///     .concurrency_wait(Duration::from_millis(250));
    /// assert!(format!("{tenants:?}").contains("concurrency_wait: Some(250ms)"));
    /// ```
    pub fn concurrency_wait(mut self, wait: Duration) -> Self {
        self.policy.set_concurrency_wait(wait);
        self
    }

    /// Calls `hook` after every database operation of this pool's
    /// connections with the tenant and the time it took, to export as a
    /// per-tenant counter (no exporter is included). An operation is one
    /// statement (from the start of its transaction to its end, including
    /// waiting for a pooled connection, but not for a permit of
    /// [`max_concurrent_per_tenant`](Self::max_concurrent_per_tenant)), a
    /// whole stream, or, in a [`TenantTransaction`], its `begin`, each
    /// statement, and its `commit` or `rollback` (a transaction dropped
    /// without either is rolled back by SeaORM in the background, untimed).
    /// A statement that fails or is cancelled is counted too.
    ///
    /// The hook runs on the task that ran the statement, so keep it short
    /// and non-blocking (an atomic add, a metrics counter), and do not let
    /// it panic. The same time is recorded in microseconds in the
    /// `db_time_us` field of the `tenant_statement` tracing span.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use sea_orm::{ConnectionTrait, Database};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sea_orm::DbErr> {
    /// let statements = Arc::new(AtomicU64::new(0));
    /// let counter = statements.clone();
    /// let tenants = TenantPool::new(Database::connect("sqlite::memory:").await?).on_database_time(
    ///     move |tenant: &TenantId, elapsed: std::time::Duration| {
    ///         // e.g. metrics::counter!("db_time_us", "tenant" => tenant.to_string())
    ///         //          .increment(elapsed.as_micros() as u64);
    ///         let _ = (tenant, elapsed);
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     },
    /// );
    /// let conn = tenants.connection(&TenantId::from("acme"))?;
    /// conn.execute_unprepared("SELECT 1").await?;
    /// assert_eq!(statements.load(Ordering::Relaxed), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_database_time<F>(mut self, hook: F) -> Self
    where
        F: Fn(&TenantId, Duration) + Send + Sync + 'static,
    {
        self.policy.limits.on_time = Some(Arc::new(hook));
        self
    }

    /// Calls `callback` once for every statement of the connections
    /// handed out (see [`TenantConnection::metric_callback`]), and sets it
    /// on this pool's [`DatabaseConnection`], so that its plain SeaORM
    /// statements ([`database`](Self::database)) report to it too.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use sea_orm::{ConnectionTrait, Database};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sea_orm::DbErr> {
    /// let statements = Arc::new(AtomicUsize::new(0));
    /// let counter = statements.clone();
    /// let tenants = TenantPool::new(Database::connect("sqlite::memory:").await?)
    ///     .metric_callback(move |_: &sea_orm::metric::Info<'_>| {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     });
    /// let conn = tenants.connection(&TenantId::from("acme"))?;
    /// let select = |sql| sea_orm::Statement::from_string(conn.get_database_backend(), sql);
    /// conn.query_all_raw(select("SELECT 1")).await?;
    /// tenants.database().query_all_raw(select("SELECT 2")).await?;
    /// assert_eq!(statements.load(Ordering::Relaxed), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn metric_callback<F>(mut self, callback: F) -> Self
    where
        F: Fn(&sea_orm::metric::Info<'_>) + Send + Sync + 'static,
    {
        self.policy
            .set_metric_callback(callback, Some(&mut self.db));
        self
    }

    /// The shared connection underneath, without a tenant.
    pub fn database(&self) -> &DatabaseConnection {
        &self.db
    }

    /// How many connections are parked for hot tenants right now.
    pub fn parked(&self) -> usize {
        self.hot.as_ref().map_or(0, |h| h.parked())
    }

    /// Rolls back every parked transaction and returns its connection to
    /// the pool (for example before closing the pool or running DDL).
    pub fn release_parked(&self) {
        if let Some(hot) = &self.hot {
            hot.clear();
        }
    }
}
