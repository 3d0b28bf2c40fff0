//! [`TenantConnection`]: a connection bound to one tenant.
//!
//! It implements SeaORM's [`ConnectionTrait`], [`TransactionTrait`] and
//! [`StreamTrait`], so every SeaORM call (`.all(&conn)`, loaders, joins,
//! raw [`Statement`]s) accepts it.
//!
//! # Every backend: the first wall
//!
//! Every statement, whatever built it (plain SeaORM, the scoped builders,
//! raw SQL, `execute_unprepared`), on the connection, its transactions and
//! its streams, is confined to the tenant before it is sent (rule 12; see
//! [`TenantConnection::confine`]): reads get the tenant predicate on every
//! declared tenant table they reference, writes change only the tenant's
//! rows, inserts get the tenant, and what cannot be confined with
//! certainty is refused with [`TenantError::Refused`] before anything is
//! sent. Tenant tables are those declared with
//! [`tenant_entity!`](crate::tenant_entity), [`Tenancy::tenant_table`]
//! (crate::Tenancy::tenant_table) or [`TenantPool::tenant_column`].
//!
//! # Postgres: the second wall
//!
//! Every statement runs in a transaction that set `app.tenant_id` to the
//! connection's tenant with `SET LOCAL` (or `set_config(.., true)` when the
//! id is not plain `[A-Za-z0-9_-]`), so row-level security policies written
//! by [`rls`](crate::rls) isolate raw SQL, unscoped builders, loaders and
//! hand-written joins as well. The setting is transaction-local and never
//! outlives its transaction:
//!
//! * a read (a query whose first word is `SELECT`) runs in a
//!   `READ ONLY` transaction that is rolled back; a `SELECT` that turns out
//!   to write is refused by Postgres there and re-run as a write;
//! * anything else runs in a read-write transaction that is committed;
//! * an error rolls back; a future dropped mid-statement, or a connection
//!   that failed mid-statement, is closed rather than returned to the pool;
//! * [`TransactionTrait::begin`] opens one transaction, sets the tenant
//!   once, and keeps SeaORM's commit, rollback and savepoint semantics;
//!   savepoint rollbacks cannot undo the setting, which was made before
//!   them.
//!
//! Nothing is set at session level, as a transaction-mode pooler needs;
//! running behind one is not tested yet (sqlx's prepared statements need
//! `statement_cache_capacity(0)` or a pooler that tracks them there).
//!
//! Raw SQL cannot leave session state behind either: a statement that
//! visibly changes a setting at session level (`SET`, `RESET`,
//! `set_config(.., .., false)`, `SET ROLE`, `SET SESSION AUTHORIZATION`,
//! `UPDATE pg_settings`, …) or ends the tenant's transaction is refused
//! with [`TenantError::SessionState`] before anything is sent, and what a
//! function or a `DO` block changes is undone before commit: a read-write
//! transaction stashes the session's tenant setting, `search_path`, role
//! and session authorization when it opens and sets them back in the
//! commit's round trip. See the README's "second wall" section for exactly
//! what is and is not covered.
//!
//! Statements that cannot run inside a transaction block (`VACUUM`,
//! `CREATE INDEX CONCURRENTLY`) and transaction control in raw SQL
//! (`COMMIT` inside `execute_unprepared`) do not belong on a tenant
//! connection; run them on [`TenantConnection::database`].
//!
//! [`TenantConnection::new`] is the strict mode: each statement leases a
//! pooled connection, and a read takes two round trips (`BEGIN READ ONLY;
//! SET LOCAL …` folded into one, then the statement; the `ROLLBACK` is
//! queued and sent when the connection goes back to the pool), a write
//! three (the `COMMIT` is awaited). [`TenantPool`] adds parked
//! transactions for hot tenants: a read is one round trip, a write two
//! (see the README's performance section for the numbers).
//!
//! # SQLite and MySQL
//!
//! There is no row-level security there: the first wall is the wall. A
//! `TenantConnection` confines every statement as above; the scoped
//! builders (`conn.scoped::<post::Entity>()`) add the tenant themselves
//! too, so they cost nothing more.

mod confine;
mod hot;
mod limits;
mod pg;
mod session_guard;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use sea_orm::sea_query::ColumnType;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseConnectionType, DatabaseTransaction,
    DbBackend, DbErr, ExecResult, IsolationLevel, QueryResult, Statement, StreamTrait,
    TransactionError, TransactionOptions, TransactionSession, TransactionStream, TransactionTrait,
};

use confine::Confinement;
pub(crate) use confine::Confiner;
#[doc(hidden)]
pub use confine::{Registration, describe};
use hot::HotSet;
pub use hot::HotTenants;
pub(crate) use limits::Policy;
use limits::{DbTimeHook, Limits, Meter, Permit};
use pg::{Begin, Lease, Op, Out};
use tracing::Instrument;

use crate::{Scoped, TenantEntity, TenantError, TenantId};

/// The Postgres setting the tenant is stored in, read by the policies of
/// [`rls`](crate::rls): `current_setting('app.tenant_id', true)`.
pub const TENANT_SETTING: &str = pg::SETTING;

/// A database connection bound to one tenant.
///
/// Cheap to create and to clone (per request): it holds the shared
/// [`DatabaseConnection`] and the tenant. Every statement is confined to
/// the tenant on every backend, or refused (see [`confine`](Self::confine)).
/// On Postgres every statement also runs in a transaction that first set
/// `app.tenant_id` with `SET LOCAL`, so the RLS policies of
/// [`rls`](crate::rls) are a second wall.
///
/// ```no_run
/// use sea_orm::{ConnectionTrait, Database, DbBackend, EntityTrait, Statement};
/// use sea_orm_tenant::doc_entities::post;
/// use sea_orm_tenant::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sea_orm::DbErr> {
/// let db = Database::connect("postgres://app@localhost/app").await?;
/// let conn = TenantConnection::new(db.clone(), TenantId::from("acme"));
///
/// // Plain SeaORM and raw SQL only see acme's rows (for tables declared
/// // with `tenant_entity!`; and with the policies of `sea_orm_tenant::rls`
/// // in place, RLS filters them a second time).
/// let posts = post::Entity::find().all(&conn).await?;
/// let rows = conn
///     .query_all_raw(Statement::from_string(DbBackend::Postgres, "SELECT * FROM post"))
///     .await?;
/// assert_eq!(posts.len(), rows.len());
///
/// // The scoped builders, without repeating the tenant.
/// let mine = conn.scoped::<post::Entity>().find().all(&conn).await?;
/// # let _ = mine;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TenantConnection {
    db: DatabaseConnection,
    tenant: TenantId,
    begin: Begin,
    hot: Option<Arc<HotSet>>,
    /// The Postgres schema of every transaction (schema per tenant).
    schema: Option<Arc<str>>,
    /// `SET LOCAL statement_timeout` of every transaction (Postgres).
    timeout: Option<Duration>,
    /// `SET LOCAL search_path …` for transactions opened with `begin()`
    /// (schema per tenant, Postgres).
    search_path: Option<Arc<str>>,
    /// The per-tenant cap and the database-time hook of the pool.
    limits: Limits,
    /// The isolation level, for tracing spans.
    level: &'static str,
    /// The statement confinement (rule 12).
    confinement: Confinement,
}

impl std::fmt::Debug for TenantConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantConnection")
            .field("tenant", &self.tenant)
            .field("backend", &Backend(&self.db))
            .field("hot_tenants", &self.hot.is_some())
            .field("isolation", &self.level)
            .field("statement_timeout", &self.timeout)
            .field("limits", &self.limits)
            .finish()
    }
}

impl TenantConnection {
    /// Binds `db` to `tenant`, in strict mode (no parked transactions).
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"));
    /// assert_eq!(conn.tenant().to_string(), "acme");
    /// ```
    pub fn new(db: DatabaseConnection, tenant: TenantId) -> Self {
        Self::with_timeout(db, tenant, None)
    }

    fn with_timeout(db: DatabaseConnection, tenant: TenantId, timeout: Option<Duration>) -> Self {
        let begin = Begin::opener(&tenant, None, timeout);
        TenantConnection {
            db,
            tenant,
            begin,
            hot: None,
            schema: None,
            timeout,
            search_path: None,
            limits: Limits::default(),
            level: "shared_schema",
            confinement: Confinement::default(),
        }
    }

    /// Confines this connection's statements with `confiner`.
    pub(crate) fn confined_by(mut self, confiner: Arc<Confiner>) -> Self {
        self.confinement.by(confiner);
        self
    }

    /// Sends statements as written, without the confinement: the
    /// "before" of the benchmarks, and the check that the tests fail
    /// without it. Not for applications.
    #[doc(hidden)]
    pub fn __unconfined(mut self) -> Self {
        self.confinement.off();
        self
    }

    /// `stmt` as this connection sends it: confined to its tenant (see
    /// the README, "What the connection confines and refuses"), or the
    /// reason it is refused. Every statement the connection runs goes
    /// through this first; call it to see what a query becomes.
    ///
    /// ```
    /// use sea_orm::{DatabaseConnection, DbBackend, EntityTrait, QueryTrait};
    /// use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenants = TenantPool::strict(DatabaseConnection::default()).tenant_column::<post::Entity>();
    /// let conn = tenants.connection(&TenantId::from("acme"))?;
    /// let stmt = conn.confine(post::Entity::find_by_id(7).build(DbBackend::Postgres))?;
    /// assert!(stmt.sql.ends_with(r#"WHERE ("post"."id" = $1) AND "post"."tenant_id" = $2"#));
    /// # Ok::<(), TenantError>(())
    /// ```
    pub fn confine(&self, stmt: Statement) -> Result<Statement, TenantError> {
        self.confinement.apply(stmt, &self.tenant)
    }

    /// Runs every transaction of this connection in the Postgres schema
    /// `schema` (`SET LOCAL search_path TO "<schema>", public`, folded into
    /// the transaction's opening query). `schema` must come from
    /// [`SchemaName`](crate::SchemaName).
    pub(crate) fn in_schema(mut self, schema: &str) -> Self {
        self.schema = Some(Arc::from(schema));
        self.confinement.in_schema(schema);
        self.hot = None;
        self.rebuild_opener();
        self
    }

    /// Limits every statement of this connection to `timeout` on Postgres:
    /// each transaction it opens (for one statement, or with
    /// [`begin`](TransactionTrait::begin)) starts with
    /// `SET LOCAL statement_timeout = <ms>`, folded into the same round trip
    /// as the tenant. A statement that runs longer is cancelled by Postgres
    /// (SQLSTATE 57014, `canceling statement due to statement timeout`) and
    /// its transaction rolled back. The setting is transaction-local, like
    /// the tenant: it never reaches the next borrower of the pooled
    /// connection.
    ///
    /// The value is whole milliseconds, rounded up, at least 1 ms
    /// (Postgres reads 0 as "no timeout") and at most `i32::MAX` ms. For a
    /// value per tenant or plan, prefer
    /// [`TenantPool::statement_timeout_for`], which keeps the hot-tenant
    /// parked transactions: a connection given its own timeout here does
    /// not use them.
    ///
    /// **SQLite and MySQL/MariaDB: ignored.** SQLite has no statement
    /// timeout; MySQL's `max_execution_time` exists only as session state
    /// (`SET SESSION`, SELECTs only), which this crate never sets because
    /// it would outlive the statement on a pooled connection.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"))
    ///     .statement_timeout(Duration::from_secs(2));
    /// assert!(format!("{conn:?}").contains("statement_timeout: Some(2s)"));
    /// ```
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self.hot = None;
        self.rebuild_opener();
        self
    }

    /// Runs this connection under `policy` (a [`Tenancy`](crate::Tenancy)'s
    /// limits): its statement timeout for this tenant, cap and hook.
    pub(crate) fn under(mut self, policy: &Policy) -> Self {
        if let Some(timeout) = policy.timeout_for(&self.tenant) {
            self = self.statement_timeout(timeout);
        }
        self.limits = policy.limits.clone();
        self
    }

    /// Builds the transaction opener from the tenant, schema and timeout.
    fn rebuild_opener(&mut self) {
        self.begin = Begin::opener(&self.tenant, self.schema.as_deref(), self.timeout);
        self.search_path = self
            .schema
            .as_deref()
            .map(|schema| Arc::from(pg::search_path_sql(schema)));
    }

    /// Sets the isolation level reported in tracing spans.
    pub(crate) fn with_level(mut self, level: &'static str) -> Self {
        self.level = level;
        self
    }

    /// The isolation level this connection was handed out for
    /// (`shared_schema`, `schema_per_tenant` or `database_per_tenant`), as
    /// recorded on every statement's tracing span.
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"));
    /// assert_eq!(conn.isolation(), "shared_schema");
    /// ```
    pub fn isolation(&self) -> &'static str {
        self.level
    }

    /// The span every statement of this connection runs in: target
    /// `sea_orm_tenant`, fields `tenant`, `isolation`, and `db_time_us`
    /// (the statement's time in microseconds, recorded when it ends).
    fn span(&self) -> tracing::Span {
        tracing::debug_span!(
            target: "sea_orm_tenant",
            "tenant_statement",
            tenant = %self.tenant,
            isolation = self.level,
            db_time_us = tracing::field::Empty
        )
    }

    /// Runs one statement's `work` in its span, holding one of the
    /// tenant's permits (when the pool caps concurrency) and timing it
    /// (when the pool has a database-time hook or the span is enabled).
    async fn guarded<T>(&self, work: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        let span = self.span();
        let limited = async {
            let _permit = self.limits.enter(&self.tenant).await?;
            let _meter = self.limits.meter(&self.tenant, Some(&span));
            work.await
        };
        limited.instrument(span.clone()).await
    }

    /// Like [`new`](Self::new), but first checks that `tenant` fits the
    /// type of `E`'s tenant column, so a policy's cast cannot fail later:
    /// `acme` for an integer column is a [`TenantError::ColumnType`] here,
    /// before any statement runs.
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let db = DatabaseConnection::default();
    /// assert!(TenantConnection::checked::<post::Entity>(db, TenantId::from("acme")).is_ok());
    /// ```
    pub fn checked<E: TenantEntity>(
        db: DatabaseConnection,
        tenant: TenantId,
    ) -> Result<Self, TenantError> {
        E::tenant_value(&tenant)?;
        Ok(Self::new(db, tenant))
    }

    /// The tenant this connection is bound to.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The shared connection underneath, **without** the tenant. For
    /// global tables and admin work; statements on it are not scoped.
    pub fn database(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The scoped builders of `E` for this connection's tenant: the same
    /// as `E::scoped(conn.tenant())`.
    ///
    /// ```
    /// use sea_orm::{DatabaseConnection, DbBackend, QueryTrait};
    /// use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"));
    /// let sql = conn.scoped::<post::Entity>().find_by_id(7).build(DbBackend::Postgres).to_string();
    /// assert!(sql.contains(r#""post"."tenant_id" = /*!BINARY*/('acme')"#));
    /// ```
    pub fn scoped<E: TenantEntity>(&self) -> Scoped<E> {
        E::scoped(&self.tenant)
    }

    /// On Postgres, refuses a statement that visibly changes session state
    /// (see [`TenantError::SessionState`]) before anything is sent.
    fn refuse_session_state(&self, sql: &str) -> Result<(), DbErr> {
        if self.pg_pool().is_some() {
            session_guard::check(sql)?;
        }
        Ok(())
    }

    fn pg_pool(&self) -> Option<&sea_orm::sqlx::PgPool> {
        match &self.db.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                Some(self.db.get_postgres_connection_pool())
            }
            _ => None,
        }
    }

    /// The hot-tenant set, when this connection may use it.
    fn hot(&self) -> Option<&Arc<HotSet>> {
        self.hot
            .as_ref()
            .filter(|h| h.enabled() && self.begin.is_folded())
    }

    /// Runs one statement on Postgres in a transaction of its own.
    async fn pg(&self, pool: &sea_orm::sqlx::PgPool, op: Op<'_>) -> Result<Out, DbErr> {
        if op.is_read()
            && let Some(out) = self.pg_read(pool, &op).await?
        {
            return Ok(out);
        }
        // Not a read, or a SELECT that writes: a read-write transaction.
        self.pg_write(pool, &op).await
    }

    /// A read in a `READ ONLY` transaction that is rolled back; `None` when
    /// Postgres refused it as a write.
    async fn pg_read(
        &self,
        pool: &sea_orm::sqlx::PgPool,
        op: &Op<'_>,
    ) -> Result<Option<Out>, DbErr> {
        let hot = self.hot();
        if let Some(hot) = hot {
            if let Some(mut lease) = hot.checkout(&self.tenant, &self.begin, true) {
                match lease.run(op).await {
                    Ok(out) => {
                        self.recycle(hot, true, lease);
                        return Ok(Some(out));
                    }
                    Err(err) if pg::is_read_only_violation(&err) => return Ok(None),
                    Err(err) if lease.is_reusable() => {
                        self.recycle(hot, true, lease);
                        return Err(op.convert(err));
                    }
                    // The parked connection broke (killed, or timed out while
                    // idle): it is closed, and the read is retried below on a
                    // fresh one, which is safe in a read-only transaction.
                    Err(_) => drop(lease),
                }
            }
            hot.relieve_pressure();
        }
        let mut lease = Lease::acquire(pool).await?;
        lease
            .begin(&self.begin, true)
            .await
            .map_err(|e| op.convert(e))?;
        match lease.run(op).await {
            Ok(out) => {
                match hot {
                    Some(hot) if hot.admit(&self.tenant) => self.recycle(hot, true, lease),
                    _ => lease.queue_rollback(),
                }
                Ok(Some(out))
            }
            Err(err) if pg::is_read_only_violation(&err) => Ok(None),
            Err(err) => Err(op.convert(err)),
        }
    }

    /// A statement in a read-write transaction that is committed.
    async fn pg_write(&self, pool: &sea_orm::sqlx::PgPool, op: &Op<'_>) -> Result<Out, DbErr> {
        let hot = self.hot();
        if let Some(hot) = hot {
            if let Some(mut lease) = hot.checkout(&self.tenant, &self.begin, false) {
                match lease.run(op).await {
                    Ok(out) => {
                        let committed = lease.commit().await;
                        self.recycle(hot, false, lease);
                        return committed.map(|()| out).map_err(|e| op.convert(e));
                    }
                    Err(err) if lease.is_reusable() => {
                        self.recycle(hot, false, lease);
                        return Err(op.convert(err));
                    }
                    // The parked connection broke before COMMIT was sent,
                    // so nothing was committed: retried on a fresh one.
                    Err(_) => drop(lease),
                }
            }
            hot.relieve_pressure();
        }
        let mut lease = Lease::acquire(pool).await?;
        lease
            .begin(&self.begin, false)
            .await
            .map_err(|e| op.convert(e))?;
        let out = lease.run(op).await.map_err(|e| op.convert(e))?;
        let committed = lease.commit().await;
        if let Some(hot) = hot
            && hot.admit(&self.tenant)
        {
            self.recycle(hot, false, lease);
        }
        committed.map(|()| out).map_err(|e| op.convert(e))
    }

    fn recycle(&self, hot: &Arc<HotSet>, read_only: bool, lease: Lease) {
        hot::recycle(
            hot.clone(),
            self.tenant.clone(),
            self.begin.clone(),
            read_only,
            lease,
        );
    }

    /// Opens a transaction with `open`, after taking one of the tenant's
    /// permits (held until the transaction ends), and sets the tenant (and
    /// the schema and timeout, if any) in it.
    async fn begin_tenant(
        &self,
        open: impl Future<Output = Result<DatabaseTransaction, DbErr>>,
    ) -> Result<TenantTransaction, DbErr> {
        let permit = self.limits.enter(&self.tenant).await?;
        let txn = {
            let _meter = self.limits.meter(&self.tenant, None);
            let txn = open.await?;
            if self.pg_pool().is_some() {
                set_tenant(&txn, &self.tenant, self.timeout).await?;
                if let Some(sql) = &self.search_path {
                    txn.execute_unprepared(sql).await?;
                }
            }
            txn
        };
        Ok(TenantTransaction {
            txn,
            tenant: self.tenant.clone(),
            permit,
            on_time: self.limits.on_time.clone(),
            outer: true,
            confinement: self.confinement.clone(),
        })
    }
}

/// `set_config('app.tenant_id', $1, true)` in an open transaction, and
/// with a timeout `set_config('statement_timeout', $2, true)` (the same as
/// `SET LOCAL`) in the same statement, after stashing the session's
/// settings for the commit to set back.
async fn set_tenant(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    timeout: Option<Duration>,
) -> Result<(), DbErr> {
    let id = tenant.as_str().into_owned().into();
    let stmt = match timeout {
        None => Statement::from_sql_and_values(
            DbBackend::Postgres,
            concat!(
                "SELECT ",
                session_guard::stash_expr!(),
                ", set_config('app.tenant_id', $1, true)"
            ),
            [id],
        ),
        Some(timeout) => Statement::from_sql_and_values(
            DbBackend::Postgres,
            concat!(
                "SELECT ",
                session_guard::stash_expr!(),
                ", set_config('app.tenant_id', $1, true), set_config('statement_timeout', $2, true)"
            ),
            [id, pg::timeout_millis(timeout).to_string().into()],
        ),
    };
    // The stash (the session's settings, which the commit sets back; see
    // session_guard) is evaluated first, before the SET LOCALs.
    txn.execute_raw(stmt).await.map(|_| ())
}

fn unexpected(what: &str) -> DbErr {
    DbErr::Custom(format!("tenant connection: unexpected result for {what}"))
}

#[async_trait::async_trait]
impl ConnectionTrait for TenantConnection {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.refuse_session_state(&stmt.sql)?;
        let stmt = self.confine(stmt)?;
        self.execute_confined(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.refuse_session_state(sql)?;
        let stmt = Statement::from_string(ConnectionTrait::get_database_backend(self), sql);
        let stmt = self.confine(stmt)?;
        if stmt.values.is_some() {
            // The tenant is a bound value: sent as a prepared statement.
            return self.execute_confined(stmt).await;
        }
        self.execute_unprepared_as_is(&stmt.sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.refuse_session_state(&stmt.sql)?;
        let stmt = self.confine(stmt)?;
        self.guarded(async {
            match self.pg_pool() {
                Some(pool) => match self.pg(pool, Op::One(&stmt)).await? {
                    Out::One(r) => Ok(r),
                    _ => Err(unexpected("query_one")),
                },
                None => self.db.query_one_raw(stmt).await,
            }
        })
        .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.refuse_session_state(&stmt.sql)?;
        let stmt = self.confine(stmt)?;
        self.guarded(async {
            match self.pg_pool() {
                Some(pool) => match self.pg(pool, Op::All(&stmt)).await? {
                    Out::All(r) => Ok(r),
                    _ => Err(unexpected("query_all")),
                },
                None => self.db.query_all_raw(stmt).await,
            }
        })
        .await
    }
}

impl TenantConnection {
    /// Runs an already confined statement.
    async fn execute_confined(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.guarded(async {
            match self.pg_pool() {
                Some(pool) => match self.pg(pool, Op::Execute(&stmt)).await? {
                    Out::Exec(r) => Ok(r),
                    _ => Err(unexpected("execute")),
                },
                None => self.db.execute_raw(stmt).await,
            }
        })
        .await
    }

    /// Runs an already confined SQL string unprepared.
    async fn execute_unprepared_as_is(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.guarded(async {
            match self.pg_pool() {
                Some(pool) => match self.pg(pool, Op::Unprepared(sql)).await? {
                    Out::Exec(r) => Ok(r),
                    _ => Err(unexpected("execute_unprepared")),
                },
                None => self.db.execute_unprepared(sql).await,
            }
        })
        .await
    }
}

/// The stream of a [`TenantConnection`]: rows as they arrive.
pub type TenantStream<'a> = Pin<Box<dyn Stream<Item = Result<QueryResult, DbErr>> + Send + 'a>>;

impl StreamTrait for TenantConnection {
    type Stream<'a> = TenantStream<'a>;

    fn get_database_backend(&self) -> DbBackend {
        ConnectionTrait::get_database_backend(&self.db)
    }

    /// On Postgres the statement runs in a transaction of its own on a
    /// background task, which sends rows through a bounded channel (64
    /// rows): memory stays bounded, and dropping the stream rolls the
    /// transaction back and closes its connection.
    ///
    /// Under a per-tenant cap ([`TenantPool::max_concurrent_per_tenant`])
    /// the stream holds one of the tenant's permits until it is finished
    /// or dropped; the database-time hook sees the whole stream as one
    /// statement.
    fn stream_raw<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
        Box::pin(async move {
            self.refuse_session_state(&stmt.sql)?;
            let stmt = self.confine(stmt)?;
            let permit = self.limits.enter(&self.tenant).await?;
            let meter = self.limits.meter(&self.tenant, None);
            let Some(pool) = self.pg_pool() else {
                let stream = self.db.stream_raw(stmt).await?;
                if permit.is_none() && meter.is_none() {
                    return Ok(Box::pin(stream) as TenantStream<'a>);
                }
                // Held until the stream is dropped.
                let held = (permit, meter);
                let stream = stream.map(move |row| {
                    let _ = &held;
                    row
                });
                return Ok(Box::pin(stream) as TenantStream<'a>);
            };
            let (tx, rx) = tokio::sync::mpsc::channel(64);
            let pool = pool.clone();
            let begin = self.begin.clone();
            tokio::spawn(async move {
                // Held until the transaction is over.
                let _held = (permit, meter);
                let result = async {
                    let mut lease = Lease::acquire(&pool).await?;
                    let op = Op::All(&stmt);
                    lease
                        .begin(&begin, false)
                        .await
                        .map_err(|e| op.convert(e))?;
                    let finished = lease
                        .stream_into(&stmt, &tx)
                        .await
                        .map_err(|e| op.convert(e))?;
                    if finished {
                        lease.commit().await.map_err(|e| op.convert(e))?;
                    }
                    Ok::<(), DbErr>(())
                }
                .await;
                if let Err(err) = result {
                    let _ = tx.send(Err(err)).await;
                }
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            Ok(Box::pin(stream) as TenantStream<'a>)
        })
    }
}

#[async_trait::async_trait]
impl TransactionTrait for TenantConnection {
    type Transaction = TenantTransaction;

    /// Opens a transaction and sets the tenant in it once (on Postgres).
    async fn begin(&self) -> Result<TenantTransaction, DbErr> {
        self.begin_tenant(self.db.begin()).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<TenantTransaction, DbErr> {
        self.begin_tenant(self.db.begin_with_config(isolation_level, access_mode))
            .await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<TenantTransaction, DbErr> {
        self.begin_tenant(self.db.begin_with_options(options)).await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c TenantTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let txn = self.begin().await.map_err(TransactionError::Connection)?;
        txn.run(callback).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c TenantTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let txn = self
            .begin_with_config(isolation_level, access_mode)
            .await
            .map_err(TransactionError::Connection)?;
        txn.run(callback).await
    }
}

/// A transaction of a [`TenantConnection`]: SeaORM's
/// [`DatabaseTransaction`] with the tenant set in it (on Postgres).
///
/// Commit, rollback, drop (rolls back) and nested `begin` (a savepoint)
/// behave exactly as in SeaORM. The tenant setting (and the connection's
/// `statement_timeout`, if any) is made right after `BEGIN`, before any
/// savepoint, so rolling a savepoint back keeps it, and it ends with the
/// transaction. Under a per-tenant cap
/// ([`TenantPool::max_concurrent_per_tenant`]) the transaction holds one
/// of the tenant's permits until commit, rollback or drop; its statements
/// and savepoints take none.
///
/// ```no_run
/// use sea_orm::{ConnectionTrait, Database, TransactionSession, TransactionTrait};
/// use sea_orm_tenant::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sea_orm::DbErr> {
/// let db = Database::connect("postgres://app@localhost/app").await?;
/// let conn = TenantConnection::new(db, TenantId::from("acme"));
/// let txn = conn.begin().await?;
/// txn.execute_unprepared("INSERT INTO post (tenant_id, title) VALUES ('acme', 'hi')").await?;
/// let nested = txn.begin().await?;          // SAVEPOINT
/// nested.execute_unprepared("DELETE FROM post").await?;
/// nested.rollback().await?;                 // the delete is undone, the tenant stays
/// txn.commit().await?;
/// # Ok(())
/// # }
/// ```
pub struct TenantTransaction {
    txn: DatabaseTransaction,
    tenant: TenantId,
    /// One of the tenant's permits (under a per-tenant cap), shared with
    /// savepoints, returned when the transaction ends.
    permit: Option<Permit>,
    /// The pool's database-time hook, called for each statement.
    on_time: Option<DbTimeHook>,
    /// The outermost transaction (not a savepoint): on Postgres its commit
    /// sets the session's settings back first (see `session_guard`).
    outer: bool,
    /// The statement confinement of the connection it was opened on.
    confinement: Confinement,
}

impl std::fmt::Debug for TenantTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTransaction")
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl TenantTransaction {
    /// The tenant of this transaction.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The scoped builders of `E` for this transaction's tenant.
    pub fn scoped<E: TenantEntity>(&self) -> Scoped<E> {
        E::scoped(&self.tenant)
    }

    /// SeaORM's transaction underneath (the tenant is set in it).
    /// Statements on it are **not** confined.
    pub fn inner(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// `stmt` as this transaction sends it, as
    /// [`TenantConnection::confine`].
    pub fn confine(&self, stmt: Statement) -> Result<Statement, TenantError> {
        self.confinement.apply(stmt, &self.tenant)
    }

    fn is_pg(&self) -> bool {
        ConnectionTrait::get_database_backend(&self.txn) == DbBackend::Postgres
    }

    /// On Postgres, refuses a statement that visibly changes session state
    /// (see [`TenantError::SessionState`]) before anything is sent.
    fn refuse_session_state(&self, sql: &str) -> Result<(), DbErr> {
        if self.is_pg() {
            session_guard::check(sql)?;
        }
        Ok(())
    }

    /// Runs `work`, reporting its time to the pool's database-time hook.
    async fn timed<T>(&self, work: impl Future<Output = T>) -> T {
        let _meter = Meter::start(self.on_time.as_ref(), &self.tenant, None);
        work.await
    }

    async fn run<F, T, E>(self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c TenantTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let result = callback(&self).await.map_err(TransactionError::Transaction);
        if result.is_ok() {
            self.commit().await.map_err(TransactionError::Connection)?;
        } else {
            self.rollback()
                .await
                .map_err(TransactionError::Connection)?;
        }
        result
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for TenantTransaction {
    fn get_database_backend(&self) -> DbBackend {
        ConnectionTrait::get_database_backend(&self.txn)
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.refuse_session_state(&stmt.sql)?;
        let stmt = self.confine(stmt)?;
        self.timed(self.txn.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.refuse_session_state(sql)?;
        let stmt = self.confine(Statement::from_string(
            ConnectionTrait::get_database_backend(self),
            sql,
        ))?;
        if stmt.values.is_some() {
            self.timed(self.txn.execute_raw(stmt)).await
        } else {
            self.timed(self.txn.execute_unprepared(&stmt.sql)).await
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.refuse_session_state(&stmt.sql)?;
        let stmt = self.confine(stmt)?;
        self.timed(self.txn.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.refuse_session_state(&stmt.sql)?;
        let stmt = self.confine(stmt)?;
        self.timed(self.txn.query_all_raw(stmt)).await
    }
}

impl StreamTrait for TenantTransaction {
    type Stream<'a> = TransactionStream<'a>;

    fn get_database_backend(&self) -> DbBackend {
        ConnectionTrait::get_database_backend(&self.txn)
    }

    fn stream_raw<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
        Box::pin(async move {
            self.refuse_session_state(&stmt.sql)?;
            let stmt = self.confine(stmt)?;
            self.txn.stream_raw(stmt).await
        })
    }
}

impl TenantTransaction {
    /// Commits or rolls back, timed by the database-time hook; the
    /// tenant's permit is returned after the round trip.
    async fn end(self, commit: bool) -> Result<(), DbErr> {
        let pg = self.is_pg();
        let TenantTransaction {
            txn,
            tenant,
            permit,
            on_time,
            outer,
            ..
        } = self;
        let result = {
            let _meter = Meter::start(on_time.as_ref(), &tenant, None);
            if commit && outer && pg {
                // The session's settings are set back from the stash, and
                // the commit is sent, in one round trip; the query opens an
                // empty transaction, which SeaORM's drop rolls back (queued,
                // sent with the pool's release ping), so its depth stays in
                // step.
                let committed = txn
                    .execute_unprepared(session_guard::RESTORE_AND_COMMIT)
                    .await
                    .map(|_| ());
                drop(txn);
                committed
            } else if commit {
                txn.commit().await
            } else {
                txn.rollback().await
            }
        };
        drop(permit);
        result
    }
}

#[async_trait::async_trait]
impl TransactionSession for TenantTransaction {
    async fn commit(self) -> Result<(), DbErr> {
        self.end(true).await
    }

    async fn rollback(self) -> Result<(), DbErr> {
        self.end(false).await
    }
}

#[async_trait::async_trait]
impl TransactionTrait for TenantTransaction {
    type Transaction = TenantTransaction;

    /// A nested transaction (`SAVEPOINT`); the tenant is inherited.
    async fn begin(&self) -> Result<TenantTransaction, DbErr> {
        Ok(self.nest(self.txn.begin().await?))
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<TenantTransaction, DbErr> {
        Ok(self.nest(
            self.txn
                .begin_with_config(isolation_level, access_mode)
                .await?,
        ))
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<TenantTransaction, DbErr> {
        Ok(self.nest(self.txn.begin_with_options(options).await?))
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c TenantTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let txn = self.begin().await.map_err(TransactionError::Connection)?;
        txn.run(callback).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c TenantTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let txn = self
            .begin_with_config(isolation_level, access_mode)
            .await
            .map_err(TransactionError::Connection)?;
        txn.run(callback).await
    }
}

impl TenantTransaction {
    fn nest(&self, txn: DatabaseTransaction) -> TenantTransaction {
        TenantTransaction {
            txn,
            tenant: self.tenant.clone(),
            permit: self.permit.clone(),
            on_time: self.on_time.clone(),
            outer: false,
            confinement: self.confinement.clone(),
        }
    }
}

/// The backend of a connection for `Debug`, without SeaORM's panic on a
/// disconnected one (`DatabaseConnection::default()`).
struct Backend<'a>(&'a DatabaseConnection);

impl std::fmt::Debug for Backend<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.inner {
            DatabaseConnectionType::Disconnected => f.write_str("Disconnected"),
            _ => std::fmt::Debug::fmt(&self.0.get_database_backend(), f),
        }
    }
}

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
