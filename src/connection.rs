//! [`TenantConnection`]: a connection bound to one tenant.
//!
//! It implements SeaORM's [`ConnectionTrait`], [`TransactionTrait`] and
//! [`StreamTrait`], so every SeaORM call (`.all(&conn)`, loaders, joins,
//! raw [`Statement`]s) accepts it.
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
//! This works unchanged behind PgBouncer in transaction mode.
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
//! There is no row-level security there. A `TenantConnection` carries the
//! tenant ([`TenantConnection::tenant`], [`TenantConnection::scoped`]) and
//! passes statements through unchanged: **raw SQL, unscoped builders and
//! loaders are not guarded**. Use the scoped builders
//! (`conn.scoped::<post::Entity>()`), which add the tenant on every
//! backend.

mod hot;
mod pg;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use sea_orm::sea_query::ColumnType;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseConnectionType, DatabaseTransaction,
    DbBackend, DbErr, ExecResult, IsolationLevel, QueryResult, Statement, StreamTrait,
    TransactionError, TransactionOptions, TransactionSession, TransactionStream, TransactionTrait,
};

use hot::HotSet;
pub use hot::HotTenants;
use pg::{Begin, Lease, Op, Out};
use tracing::Instrument;

use crate::{Scoped, TenantEntity, TenantError, TenantId};

/// The Postgres setting the tenant is stored in, read by the policies of
/// [`rls`](crate::rls): `current_setting('app.tenant_id', true)`.
pub const TENANT_SETTING: &str = pg::SETTING;

/// A database connection bound to one tenant.
///
/// Cheap to create and to clone (per request): it holds the shared
/// [`DatabaseConnection`] and the tenant. See the [module
/// documentation](self) for what it guards on each backend.
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
/// // With the policies of `sea_orm_tenant::rls` in place, even an unscoped
/// // builder and raw SQL only see acme's rows.
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
    /// `SET LOCAL search_path …` for transactions opened with `begin()`
    /// (schema per tenant, Postgres).
    search_path: Option<Arc<str>>,
    /// The isolation level, for tracing spans.
    level: &'static str,
}

impl std::fmt::Debug for TenantConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantConnection")
            .field("tenant", &self.tenant)
            .field("backend", &self.db.get_database_backend())
            .field("hot_tenants", &self.hot.is_some())
            .field("isolation", &self.level)
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
        let begin = Begin::for_tenant(&tenant);
        TenantConnection {
            db,
            tenant,
            begin,
            hot: None,
            search_path: None,
            level: "shared_schema",
        }
    }

    /// Runs every transaction of this connection in the Postgres schema
    /// `schema` (`SET LOCAL search_path TO "<schema>", public`, folded into
    /// the transaction's opening query). `schema` must come from
    /// [`SchemaName`](crate::SchemaName).
    pub(crate) fn in_schema(mut self, schema: &str) -> Self {
        self.begin = Begin::for_tenant_in(&self.tenant, Some(schema));
        self.search_path = Some(Arc::from(pg::search_path_sql(schema)));
        self.hot = None;
        self
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
    /// `sea_orm_tenant`, fields `tenant` and `isolation`.
    fn span(&self) -> tracing::Span {
        tracing::debug_span!(
            target: "sea_orm_tenant",
            "tenant_statement",
            tenant = %self.tenant,
            isolation = self.level
        )
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
    /// assert!(sql.contains(r#""post"."tenant_id" = 'acme'"#));
    /// ```
    pub fn scoped<E: TenantEntity>(&self) -> Scoped<E> {
        E::scoped(&self.tenant)
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
            if let Some(mut lease) = hot.checkout(&self.tenant, true) {
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
            if let Some(mut lease) = hot.checkout(&self.tenant, false) {
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

    async fn begin_tenant(
        &self,
        txn: Result<DatabaseTransaction, DbErr>,
    ) -> Result<TenantTransaction, DbErr> {
        let txn = txn?;
        if self.pg_pool().is_some() {
            set_tenant(&txn, &self.tenant).await?;
            if let Some(sql) = &self.search_path {
                txn.execute_unprepared(sql).await?;
            }
        }
        Ok(TenantTransaction {
            txn,
            tenant: self.tenant.clone(),
        })
    }
}

/// `set_config('app.tenant_id', $1, true)` in an open transaction.
async fn set_tenant(txn: &DatabaseTransaction, tenant: &TenantId) -> Result<(), DbErr> {
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('app.tenant_id', $1, true)",
        [tenant.as_str().into_owned().into()],
    );
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
        async {
            match self.pg_pool() {
                Some(pool) => match self.pg(pool, Op::Execute(&stmt)).await? {
                    Out::Exec(r) => Ok(r),
                    _ => Err(unexpected("execute")),
                },
                None => self.db.execute_raw(stmt).await,
            }
        }
        .instrument(self.span())
        .await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        async {
            match self.pg_pool() {
                Some(pool) => match self.pg(pool, Op::Unprepared(sql)).await? {
                    Out::Exec(r) => Ok(r),
                    _ => Err(unexpected("execute_unprepared")),
                },
                None => self.db.execute_unprepared(sql).await,
            }
        }
        .instrument(self.span())
        .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        async {
            match self.pg_pool() {
                Some(pool) => match self.pg(pool, Op::One(&stmt)).await? {
                    Out::One(r) => Ok(r),
                    _ => Err(unexpected("query_one")),
                },
                None => self.db.query_one_raw(stmt).await,
            }
        }
        .instrument(self.span())
        .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        async {
            match self.pg_pool() {
                Some(pool) => match self.pg(pool, Op::All(&stmt)).await? {
                    Out::All(r) => Ok(r),
                    _ => Err(unexpected("query_all")),
                },
                None => self.db.query_all_raw(stmt).await,
            }
        }
        .instrument(self.span())
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
    fn stream_raw<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
        Box::pin(async move {
            let Some(pool) = self.pg_pool() else {
                let stream = self.db.stream_raw(stmt).await?;
                return Ok(Box::pin(stream) as TenantStream<'a>);
            };
            let (tx, rx) = tokio::sync::mpsc::channel(64);
            let pool = pool.clone();
            let begin = self.begin.clone();
            tokio::spawn(async move {
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
        self.begin_tenant(self.db.begin().await).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<TenantTransaction, DbErr> {
        self.begin_tenant(
            self.db
                .begin_with_config(isolation_level, access_mode)
                .await,
        )
        .await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<TenantTransaction, DbErr> {
        self.begin_tenant(self.db.begin_with_options(options).await)
            .await
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
/// behave exactly as in SeaORM. The tenant setting is made right after
/// `BEGIN`, before any savepoint, so rolling a savepoint back keeps it, and
/// it ends with the transaction.
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
    pub fn inner(&self) -> &DatabaseTransaction {
        &self.txn
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
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
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
        self.txn.stream_raw(stmt)
    }
}

#[async_trait::async_trait]
impl TransactionSession for TenantTransaction {
    async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
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
/// gets a transaction of its own, and the setting stays transaction-local,
/// so this also works behind PgBouncer in transaction mode (each parked
/// connection pins one server connection while parked). Transactions
/// opened with [`TransactionTrait::begin`] work as in
/// [`TenantConnection::new`].
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
}

impl std::fmt::Debug for TenantPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantPool")
            .field("backend", &self.db.get_database_backend())
            .field("parked", &self.parked())
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
            db,
            hot: set,
            check: None,
        }
    }

    /// Checks every tenant against the type of `E`'s tenant column in
    /// [`connection`](Self::connection), so a policy's cast cannot fail.
    pub fn tenant_column<E: TenantEntity>(mut self) -> Self {
        self.check = Some(Arc::new(|tenant: &TenantId| {
            E::tenant_value(tenant).map(|_| ())
        }));
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
        let mut conn = TenantConnection::new(self.db.clone(), tenant.clone());
        conn.hot = self.hot.clone();
        Ok(conn)
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
