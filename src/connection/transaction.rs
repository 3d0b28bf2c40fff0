//! [`TenantTransaction`]: a transaction of a [`TenantConnection`], and
//! how one is opened.
//!
//! On Postgres the transaction is ours, on a leased connection (see
//! [`pg`](super::pg)): `BEGIN` and the tenant (and schema and timeout)
//! are one round trip, statements can be sent unnamed behind a pooler,
//! and the commit sets the session's settings back. On SQLite and MySQL it
//! is SeaORM's [`DatabaseTransaction`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, IsolationLevel,
    QueryResult, Statement, StreamTrait, TransactionError, TransactionOptions, TransactionSession,
    TransactionTrait,
};
#[cfg(feature = "sqlx-postgres")]
use tokio::sync::Mutex;

#[cfg(feature = "sqlx-postgres")]
use super::Road;
use super::confine::Confinement;
#[cfg(feature = "sqlx-postgres")]
use super::execute::Opening;
use super::limits::{DbTimeHook, Meter, Permit};
use super::observe::Observer;
#[cfg(feature = "sqlx-postgres")]
use super::observe::{Call, DbSpan};
use super::op::{Op, Out};
#[cfg(feature = "sqlx-postgres")]
use super::pg::Lease;
#[cfg(feature = "sqlx-postgres")]
use super::session_guard;
use super::stream::TenantStream;
#[cfg(feature = "sqlx-postgres")]
use super::stream::stream_lease;
use super::{TenantConnection, unexpected};
use crate::tenancy::{Held, Life};
use crate::{Scoped, TenantEntity, TenantError, TenantId};

/// A transaction of a [`TenantConnection`], with the tenant set in it (on
/// Postgres) and every statement confined to the tenant.
///
/// Commit, rollback, drop (rolls back) and nested `begin` (a savepoint)
/// behave exactly as in SeaORM. The tenant setting (and the connection's
/// schema and `statement_timeout`, if any) is made in the same round trip
/// as `BEGIN`, before any savepoint, so rolling a savepoint back keeps it,
/// and it ends with the transaction. Under a per-tenant cap
/// ([`Tenancy::max_concurrent_per_tenant`](crate::Tenancy::max_concurrent_per_tenant))
/// the transaction holds one of the tenant's permits until commit,
/// rollback or drop; its statements and savepoints take none.
///
/// ```no_run
/// use sea_orm::{ConnectionTrait, Database, TransactionTrait};
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
    body: Body,
    tenant: TenantId,
    /// One of the tenant's permits (under a per-tenant cap), shared with
    /// savepoints, returned when the transaction ends.
    permit: Option<Permit>,
    /// The database-time hook, called for each statement.
    on_time: Option<DbTimeHook>,
    /// The statement confinement of the connection it was opened on.
    confinement: Confinement,
    /// The metric callback of the connection it was opened on.
    observer: Observer,
    /// Its tenant's life: once deprovision begins, statements and the
    /// commit are refused.
    life: Life,
    /// Work in flight for deprovision to wait for, shared with savepoints.
    _alive: Arc<Held>,
}

/// Where the statements of a transaction run.
enum Body {
    /// SQLite and MySQL/MariaDB: SeaORM's transaction.
    Sea(DatabaseTransaction),
    /// Postgres: our transaction on a leased connection, shared with the
    /// savepoints opened in it; `depth` is this level (1: the outermost).
    #[cfg(feature = "sqlx-postgres")]
    Pg {
        lease: Arc<Mutex<Lease>>,
        depth: usize,
    },
    /// Committed or rolled back.
    Ended,
}

impl std::fmt::Debug for TenantTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTransaction")
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl TenantConnection {
    /// Opens a transaction after taking one of the tenant's permits (held
    /// until the transaction ends), with the tenant (and the schema and
    /// timeout, if any) set in it on Postgres.
    ///
    /// A transaction may write: while a move pauses the tenant it waits
    /// for the pause to end, and once the tenant moved it opens at its
    /// new place.
    async fn open(&self, options: TransactionOptions) -> Result<TenantTransaction, DbErr> {
        if let Some(next) = self.successor(false).await? {
            return Box::pin(next.open(options)).await;
        }
        let alive = Arc::new(self.life.enter(&self.tenant, false)?);
        let permit = self.limits.enter(&self.tenant).await?;
        let body = {
            let _meter = self.limits.meter(&self.tenant, None);
            self.open_body(options, &permit).await?
        };
        Ok(TenantTransaction {
            body,
            tenant: self.tenant.clone(),
            permit,
            on_time: self.limits.on_time.clone(),
            confinement: self.confinement.clone(),
            observer: self.observer.clone(),
            life: self.life.clone(),
            _alive: alive,
        })
    }
}

impl TenantConnection {
    /// Where a new transaction's statements run: on Postgres a leased
    /// connection in a transaction of ours that holds `permit`, elsewhere
    /// SeaORM's transaction.
    async fn open_body(
        &self,
        options: TransactionOptions,
        permit: &Option<Permit>,
    ) -> Result<Body, DbErr> {
        #[cfg(feature = "sqlx-postgres")]
        if let Some(pool) = self.pg_pool() {
            let clause = begin_clause(&options);
            let span = DbSpan::new(Call::Begin, "BEGIN");
            let opening = self.open_user_lease(pool, &clause);
            let mut lease = self.observer.run(span, None, opening).await?;
            lease.hold(permit.clone());
            return Ok(Body::Pg {
                lease: Arc::new(Mutex::new(lease)),
                depth: 1,
            });
        }
        #[cfg(not(feature = "sqlx-postgres"))]
        let _ = permit;
        Ok(Body::Sea(self.db.begin_with_options(options).await?))
    }
}

#[cfg(feature = "sqlx-postgres")]
impl TenantConnection {
    /// A connection in a user's transaction (`BEGIN` with `clause`) with
    /// the tenant in force, by this connection's road: the tenant set
    /// with `SET LOCAL` inside it (`Local`), nothing to set (`Plain`), or
    /// a tenant-keeping connection whose session holds it, opened after
    /// the session was set so that no rollback can undo it (`Kept`).
    async fn open_user_lease(
        &self,
        pool: &sea_orm::sqlx::PgPool,
        clause: &str,
    ) -> Result<Lease, DbErr> {
        let op = super::op::Op::Unprepared("BEGIN");
        let mut lease = match &self.road {
            // On the application's pool, the transaction stashes the
            // session's settings and its commit sets them back (a function
            // the application declared, a trigger, could change them).
            Road::Local | Road::Plain => {
                return self.open_lease(pool, Opening::User(clause)).await;
            }
            Road::Kept(keeper) => {
                let mut lease = keeper.checkout(&self.session, self.unnamed).await?;
                match lease.begin_plain(clause).await {
                    Ok(()) => return Ok(lease),
                    // A kept connection that died while idle: nothing ran.
                    Err(err) if lease.is_unchecked_failure(&err) => {
                        drop(lease);
                        keeper.clear();
                    }
                    Err(err) => return Err(op.convert(err)),
                }
                keeper.checkout(&self.session, self.unnamed).await?
            }
        };
        lease.begin_plain(clause).await.map_err(|e| op.convert(e))?;
        Ok(lease)
    }
}

/// What follows `BEGIN` for SeaORM's transaction options on Postgres
/// (`ISOLATION LEVEL …`, `READ ONLY`), from SeaORM's own enums.
#[cfg(feature = "sqlx-postgres")]
fn begin_clause(options: &TransactionOptions) -> String {
    let mut clause = String::new();
    if let Some(level) = options.isolation_level {
        clause.push_str(&format!(" ISOLATION LEVEL {level}"));
    }
    if let Some(mode) = options.access_mode {
        clause.push_str(&format!(" {mode}"));
    }
    clause
}

fn options(
    isolation_level: Option<IsolationLevel>,
    access_mode: Option<AccessMode>,
) -> TransactionOptions {
    TransactionOptions {
        isolation_level,
        access_mode,
        ..Default::default()
    }
}

/// Runs `callback` in `txn`, committing on `Ok` and rolling back on `Err`:
/// the one body of every `transaction` method here.
async fn run<F, T, E>(txn: TenantTransaction, callback: F) -> Result<T, TransactionError<E>>
where
    F: for<'c> FnOnce(
            &'c TenantTransaction,
        ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
        + Send,
    T: Send,
    E: std::fmt::Display + std::fmt::Debug + Send,
{
    let result = callback(&txn).await.map_err(TransactionError::Transaction);
    let ended = if result.is_ok() {
        txn.commit().await
    } else {
        txn.rollback().await
    };
    ended.map_err(TransactionError::Connection)?;
    result
}

/// `TransactionTrait` for a type whose `begin_with_options` opens a
/// [`TenantTransaction`]: the connection and the transaction (savepoints)
/// share every other method.
macro_rules! tenant_transaction_trait {
    ($ty:ty, $doc:literal) => {
        #[async_trait::async_trait]
        impl TransactionTrait for $ty {
            type Transaction = TenantTransaction;

            #[doc = $doc]
            async fn begin(&self) -> Result<TenantTransaction, DbErr> {
                self.begin_with_options(TransactionOptions::default()).await
            }

            async fn begin_with_config(
                &self,
                isolation_level: Option<IsolationLevel>,
                access_mode: Option<AccessMode>,
            ) -> Result<TenantTransaction, DbErr> {
                self.begin_with_options(options(isolation_level, access_mode))
                    .await
            }

            async fn begin_with_options(
                &self,
                options: TransactionOptions,
            ) -> Result<TenantTransaction, DbErr> {
                self.open(options).await
            }

            async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
            where
                F: for<'c> FnOnce(
                        &'c TenantTransaction,
                    )
                        -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
                    + Send,
                T: Send,
                E: std::fmt::Display + std::fmt::Debug + Send,
            {
                self.transaction_with_config(callback, None, None).await
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
                    )
                        -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
                    + Send,
                T: Send,
                E: std::fmt::Display + std::fmt::Debug + Send,
            {
                let txn = self
                    .begin_with_config(isolation_level, access_mode)
                    .await
                    .map_err(TransactionError::Connection)?;
                run(txn, callback).await
            }
        }
    };
}

tenant_transaction_trait!(
    TenantConnection,
    "Opens a transaction and sets the tenant in it once (on Postgres)."
);
tenant_transaction_trait!(
    TenantTransaction,
    "A nested transaction (`SAVEPOINT`); the tenant is inherited."
);

impl TenantTransaction {
    /// The tenant of this transaction.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The scoped builders of `E` for this transaction's tenant.
    pub fn scoped<E: TenantEntity>(&self) -> Scoped<E> {
        E::scoped(&self.tenant)
    }

    /// This transaction **without** the statement confinement: statements
    /// on it run as written, in this transaction (the tenant is still set
    /// in it on Postgres, so RLS still applies). For DDL in a tenant's
    /// schema and admin work; never for a request's SQL.
    pub fn unconfined(&self) -> UnconfinedTransaction<'_> {
        UnconfinedTransaction(self)
    }

    /// `stmt` as this transaction sends it, as
    /// [`TenantConnection::confine`].
    pub fn confine(&self, stmt: Statement) -> Result<Statement, TenantError> {
        self.confinement.apply(stmt, &self.tenant)
    }

    fn backend(&self) -> DbBackend {
        match &self.body {
            Body::Sea(txn) => ConnectionTrait::get_database_backend(txn),
            #[cfg(feature = "sqlx-postgres")]
            Body::Pg { .. } => DbBackend::Postgres,
            Body::Ended => DbBackend::Postgres,
        }
    }

    /// On Postgres, refuses a statement that visibly changes session state
    /// (see [`TenantError::SessionState`]) before anything is sent.
    fn refuse_session_state(&self, sql: &str) -> Result<(), DbErr> {
        #[cfg(feature = "sqlx-postgres")]
        if matches!(self.body, Body::Pg { .. }) {
            session_guard::check(sql)?;
        }
        #[cfg(not(feature = "sqlx-postgres"))]
        let _ = sql;
        Ok(())
    }

    /// Marks the connection of this transaction to be closed, not
    /// reused, once the transaction has ended: an unconfined statement is
    /// about to run on it, and what it leaves in the session (a temporary
    /// table, a prepared statement) must not reach the next tenant.
    async fn discard_after(&self) {
        #[cfg(feature = "sqlx-postgres")]
        if let Body::Pg { lease, .. } = &self.body {
            lease.lock().await.discard();
        }
    }

    /// Runs one (confined, or deliberately unconfined) statement in this
    /// transaction, timed by the database-time hook.
    async fn run_op(&self, op: Op<'_>) -> Result<Out, DbErr> {
        self.life.check_work(&self.tenant)?;
        let _meter = Meter::start(self.on_time.as_ref(), &self.tenant, None);
        let run = self.run_body(op);
        #[cfg(feature = "metrics")]
        let run = crate::metrics::timed(&self.tenant, crate::metrics::system(self.backend()), run);
        run.await
    }

    async fn run_body(&self, op: Op<'_>) -> Result<Out, DbErr> {
        match &self.body {
            #[cfg(feature = "sqlx-postgres")]
            Body::Pg { lease, .. } => {
                let mut lease = lease.lock().await;
                let span = op.span();
                let run = async { lease.run(&op).await.map_err(|e| op.convert(e)) };
                self.observer.run(span, op.statement(), run).await
            }
            Body::Ended => Err(unexpected("a statement after the end of the transaction")),
            Body::Sea(txn) => match op {
                Op::Execute(stmt) => txn.execute_raw(stmt.clone()).await.map(Out::Exec),
                Op::Unprepared(sql) => txn.execute_unprepared(sql).await.map(Out::Exec),
                Op::One(stmt) => txn.query_one_raw(stmt.clone()).await.map(Out::One),
                Op::All(stmt) => txn.query_all_raw(stmt.clone()).await.map(Out::All),
            },
        }
    }

    async fn execute_as_is(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self.run_op(Op::Execute(&stmt)).await? {
            Out::Exec(r) => Ok(r),
            _ => Err(unexpected("execute")),
        }
    }

    async fn execute_unprepared_as_is(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self.run_op(Op::Unprepared(sql)).await? {
            Out::Exec(r) => Ok(r),
            _ => Err(unexpected("execute_unprepared")),
        }
    }

    async fn query_one_as_is(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self.run_op(Op::One(&stmt)).await? {
            Out::One(r) => Ok(r),
            _ => Err(unexpected("query_one")),
        }
    }

    async fn query_all_as_is(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self.run_op(Op::All(&stmt)).await? {
            Out::All(r) => Ok(r),
            _ => Err(unexpected("query_all")),
        }
    }

    async fn stream_as_is(&self, stmt: Statement) -> Result<TenantStream<'_>, DbErr> {
        self.life.check_work(&self.tenant)?;
        match &self.body {
            #[cfg(feature = "sqlx-postgres")]
            Body::Pg { lease, .. } => {
                let span = DbSpan::new(Call::Stream, &stmt.sql);
                let lease = lease.clone().lock_owned().await;
                Ok(stream_lease(lease, stmt, self.observer.clone(), span))
            }
            Body::Sea(txn) => Ok(Box::pin(txn.stream_raw(stmt).await?) as TenantStream<'_>),
            Body::Ended => Err(unexpected("a stream after the end of the transaction")),
        }
    }

    /// A savepoint in this transaction.
    async fn open(&self, options: TransactionOptions) -> Result<TenantTransaction, DbErr> {
        self.life.check_work(&self.tenant)?;
        let body = match &self.body {
            Body::Sea(txn) => Body::Sea(txn.begin_with_options(options).await?),
            Body::Ended => return Err(unexpected("a savepoint after the end of the transaction")),
            #[cfg(feature = "sqlx-postgres")]
            Body::Pg { lease, .. } => {
                let shared = lease.clone();
                let mut lease = lease.lock().await;
                let op = Op::Unprepared("SAVEPOINT");
                let span = DbSpan::new(Call::Begin, "BEGIN");
                let savepoint = async { lease.savepoint().await.map_err(|e| op.convert(e)) };
                self.observer.run(span, None, savepoint).await?;
                Body::Pg {
                    lease: shared,
                    depth: lease.depth(),
                }
            }
        };
        Ok(TenantTransaction {
            body,
            tenant: self.tenant.clone(),
            permit: self.permit.clone(),
            on_time: self.on_time.clone(),
            confinement: self.confinement.clone(),
            observer: self.observer.clone(),
            life: self.life.clone(),
            _alive: self._alive.clone(),
        })
    }

    /// Commits or rolls back, timed by the database-time hook; the
    /// tenant's permit is returned after the round trip.
    async fn end(mut self, commit: bool) -> Result<(), DbErr> {
        let result = {
            let _meter = Meter::start(self.on_time.as_ref(), &self.tenant, None);
            match std::mem::replace(&mut self.body, Body::Ended) {
                Body::Ended => Ok(()),
                Body::Sea(txn) if commit => txn.commit().await,
                Body::Sea(txn) => txn.rollback().await,
                #[cfg(feature = "sqlx-postgres")]
                Body::Pg { lease, depth, .. } => {
                    let mut lease = lease.lock().await;
                    let (sql, call) = if commit {
                        ("COMMIT", Call::Commit)
                    } else {
                        ("ROLLBACK", Call::Rollback)
                    };
                    let op = Op::Unprepared(sql);
                    let ended = async {
                        let ended = match (commit, depth) {
                            // The session's settings are set back from the
                            // stash, and the commit is sent, in one round trip.
                            (true, 1) => lease.commit().await,
                            (false, 1) => lease.rollback().await,
                            (commit, _) => lease.end_savepoint(commit).await,
                        };
                        ended.map_err(|e| op.convert(e))
                    };
                    self.observer.run(DbSpan::new(call, sql), None, ended).await
                }
            }
        };
        self.permit.take();
        result
    }
}

impl Drop for TenantTransaction {
    fn drop(&mut self) {
        // A transaction dropped without commit or rollback is rolled back:
        // SeaORM's does it itself; ours queues the rollback of its level,
        // sent ahead of the next message on the connection (a savepoint's
        // `ROLLBACK TO SAVEPOINT` before the outer transaction's next
        // statement; the outermost `ROLLBACK` before the connection goes
        // back to the pool).
        #[cfg(feature = "sqlx-postgres")]
        if let Body::Pg { lease, depth } = &self.body {
            let depth = *depth;
            let end = move |lease: &mut Lease| {
                if lease.depth() == depth {
                    lease.queue_rollback_level();
                } else {
                    // Out of step: the state is not known, so the
                    // connection is closed rather than returned.
                    lease.close();
                }
            };
            match lease.try_lock() {
                Ok(mut lease) => end(&mut lease),
                // A stream of this transaction is still finishing.
                Err(_) => {
                    let lease = lease.clone();
                    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                        runtime.spawn(async move { end(&mut *lease.lock_owned().await) });
                    }
                }
            }
        }
    }
}

impl TenantTransaction {
    /// Commits the transaction (or, nested, releases its savepoint), as
    /// SeaORM's [`DatabaseTransaction::commit`]: no import needed. Also
    /// available through [`TransactionSession`].
    ///
    /// When the tenant was deprovisioned meanwhile, nothing is committed:
    /// the transaction is rolled back and the error says so.
    ///
    /// ```
    /// use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sea_orm::DbErr> {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// let conn = TenantConnection::new(db, TenantId::from("acme"));
    /// let txn = conn.begin().await?;
    /// txn.commit().await?; // no `use sea_orm::TransactionSession`
    /// conn.begin().await?.rollback().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn commit(self) -> Result<(), DbErr> {
        // Deprovisioned meanwhile: nothing of it is committed.
        if let Err(gone) = self.life.check_work(&self.tenant) {
            self.end(false).await?;
            return Err(gone.into());
        }
        self.end(true).await
    }

    /// Rolls the transaction back (or, nested, to its savepoint), as
    /// SeaORM's [`DatabaseTransaction::rollback`]: no import needed. Also
    /// available through [`TransactionSession`]; dropping the transaction
    /// rolls it back too.
    ///
    /// ```
    /// use sea_orm::{Database, TransactionTrait};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sea_orm::DbErr> {
    /// let conn = TenantConnection::new(Database::connect("sqlite::memory:").await?, TenantId::from("acme"));
    /// conn.begin().await?.rollback().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.end(false).await
    }
}

/// The same [`commit`](TenantTransaction::commit) and
/// [`rollback`](TenantTransaction::rollback), for code generic over
/// SeaORM's transactions.
#[async_trait::async_trait]
impl TransactionSession for TenantTransaction {
    async fn commit(self) -> Result<(), DbErr> {
        TenantTransaction::commit(self).await
    }

    async fn rollback(self) -> Result<(), DbErr> {
        TenantTransaction::rollback(self).await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for TenantTransaction {
    fn get_database_backend(&self) -> DbBackend {
        self.backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.refuse_session_state(&stmt.sql)?;
        let stmt = self.confine(stmt)?;
        self.execute_as_is(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.refuse_session_state(sql)?;
        let stmt = self.confine(Statement::from_string(self.backend(), sql))?;
        if stmt.values.is_some() {
            // The tenant is a bound value: sent as a prepared statement.
            self.execute_as_is(stmt).await
        } else {
            self.execute_unprepared_as_is(&stmt.sql).await
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.refuse_session_state(&stmt.sql)?;
        let stmt = self.confine(stmt)?;
        self.query_one_as_is(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.refuse_session_state(&stmt.sql)?;
        let stmt = self.confine(stmt)?;
        self.query_all_as_is(stmt).await
    }
}

impl StreamTrait for TenantTransaction {
    type Stream<'a> = TenantStream<'a>;

    fn get_database_backend(&self) -> DbBackend {
        self.backend()
    }

    /// On Postgres the rows come from a background task through a bounded
    /// channel (64 rows); the transaction's other statements wait until
    /// the stream is finished or dropped, as in SeaORM.
    fn stream_raw<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
        Box::pin(async move {
            self.refuse_session_state(&stmt.sql)?;
            let stmt = self.confine(stmt)?;
            self.stream_as_is(stmt).await
        })
    }
}

/// A [`TenantTransaction`] without the statement confinement (see
/// [`TenantTransaction::unconfined`]).
#[derive(Debug)]
pub struct UnconfinedTransaction<'a>(&'a TenantTransaction);

#[async_trait::async_trait]
impl ConnectionTrait for UnconfinedTransaction<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.0.backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.0.refuse_session_state(&stmt.sql)?;
        self.0.discard_after().await;
        self.0.execute_as_is(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.0.refuse_session_state(sql)?;
        self.0.discard_after().await;
        self.0.execute_unprepared_as_is(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.0.refuse_session_state(&stmt.sql)?;
        self.0.discard_after().await;
        self.0.query_one_as_is(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.0.refuse_session_state(&stmt.sql)?;
        self.0.discard_after().await;
        self.0.query_all_as_is(stmt).await
    }
}
