//! How a [`TenantConnection`] runs one statement: confined, and on
//! Postgres in a transaction of its own on a leased connection (or a
//! parked one of a hot tenant).

use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, Statement};

use super::limits::Permit;
use super::op::Op;
#[cfg(feature = "sqlx-postgres")]
use super::op::Out;
#[cfg(feature = "sqlx-postgres")]
use super::pg::{self, Lease};
#[cfg(feature = "sqlx-postgres")]
use super::{Keeper, Road};
use super::{TenantConnection, unexpected};
#[cfg(feature = "sqlx-postgres")]
use crate::tenancy::Stage;
use std::future::Future;
#[cfg(feature = "sqlx-postgres")]
use std::sync::Arc;

use tracing::Instrument;

/// How a leased connection's transaction is opened.
#[cfg(feature = "sqlx-postgres")]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Opening<'a> {
    /// For one statement: `READ ONLY` (rolled back) or read-write.
    Statement {
        /// A `READ ONLY` transaction.
        read_only: bool,
    },
    /// A user's transaction (`begin()`), with what follows `BEGIN`.
    User(&'a str),
    /// A read during a move's pause: `READ ONLY` (rolled back), opened
    /// by this opener, whose statement timeout is at most the pause.
    Frozen(&'a super::opener::Begin),
}

#[cfg(feature = "sqlx-postgres")]
impl TenantConnection {
    /// A leased connection inside a transaction of ours, opened as
    /// `opening` says, with the tenant (schema, timeout) set: one round
    /// trip when the id is plain. The connection is taken without the
    /// pool's acquire-time ping when one is idle; if it turns out dead,
    /// nothing was sent on it but the opener, and the opening is retried
    /// once on a connection the pool checked.
    pub(crate) async fn open_lease(
        &self,
        pool: &sea_orm::sqlx::PgPool,
        opening: Opening<'_>,
    ) -> Result<Lease, DbErr> {
        let op = Op::Unprepared("BEGIN");
        let mut lease = Lease::take(pool, self.unnamed).await?;
        match self.open_on(&mut lease, opening).await {
            Ok(()) => return Ok(lease),
            Err(err) if lease.is_unchecked_failure(&err) => drop(lease),
            Err(err) => return Err(op.convert(err)),
        }
        let mut lease = Lease::acquire(pool, self.unnamed).await?;
        self.open_on(&mut lease, opening)
            .await
            .map_err(|e| op.convert(e))?;
        Ok(lease)
    }

    async fn open_on(
        &self,
        lease: &mut Lease,
        opening: Opening<'_>,
    ) -> Result<(), sea_orm::sqlx::Error> {
        match opening {
            Opening::Statement { read_only } => lease.begin(&self.begin, read_only).await,
            Opening::User(clause) => lease.begin_user(&self.begin, clause).await,
            Opening::Frozen(begin) => lease.begin(begin, true).await,
        }
    }

    /// How a read during a move's pause opens: `READ ONLY`, with a
    /// statement timeout no longer than the pause, so that it ends (or is
    /// cancelled) before the move, which waits for it as long, removes
    /// the old place.
    pub(crate) fn frozen_begin(&self) -> super::opener::Begin {
        let limit = match (self.timeout, self.life.pause_limit()) {
            (Some(own), Some(pause)) => Some(own.min(pause)),
            (own, pause) => own.or(pause),
        };
        super::opener::Begin::opener(&self.tenant, self.schema.as_deref(), limit)
    }

    /// Runs one statement on Postgres in a transaction of its own, in
    /// SeaORM's span and reported to the metric callback (SeaORM does not
    /// see it): once, even when a read is re-run as a write.
    /// The lease it runs on holds `permit` until the server has finished.
    async fn pg(
        &self,
        pool: &sea_orm::sqlx::PgPool,
        op: Op<'_>,
        permit: Option<Permit>,
        declared: bool,
        frozen: bool,
    ) -> Result<Out, DbErr> {
        let span = op.span();
        self.observer
            .run(
                span,
                op.statement(),
                self.pg_unobserved(pool, &op, &permit, declared, frozen),
            )
            .await
    }

    async fn pg_unobserved(
        &self,
        pool: &sea_orm::sqlx::PgPool,
        op: &Op<'_>,
        permit: &Option<Permit>,
        declared: bool,
        frozen: bool,
    ) -> Result<Out, DbErr> {
        if frozen {
            // A move's pause: a read, in a `READ ONLY` transaction at the
            // source, never re-run as a write there.
            let begin = self.frozen_begin();
            return match self
                .pg_read(pool, op, permit, Opening::Frozen(&begin))
                .await?
            {
                Some(out) => Ok(out),
                None => Err(crate::TenantError::Moved(self.tenant.to_string()).into()),
            };
        }
        // What could change session state: a function only the
        // application declared, or a write where triggers may run.
        let declared = declared || (self.writes_reset && !op.is_read());
        match &self.road {
            Road::Plain if !declared => self.pg_plain(pool, op, permit).await,
            Road::Kept(keeper) => self.pg_kept(keeper, op, permit, declared).await,
            // On the application's pool: in a transaction that undoes it.
            Road::Plain | Road::Local => {
                let read = Opening::Statement { read_only: true };
                if op.is_read()
                    && let Some(out) = self.pg_read(pool, op, permit, read).await?
                {
                    return Ok(out);
                }
                // Not a read, or a SELECT that writes: a read-write transaction.
                self.pg_write(pool, op, permit).await
            }
        }
    }

    /// The statement alone, in autocommit, on a connection of the
    /// application's pool taken without the acquire-time ping. When the
    /// connection turns out dead and the statement surely did not run
    /// ([`pg::may_retry`]), it is sent again on one the pool checked.
    async fn pg_plain(
        &self,
        pool: &sea_orm::sqlx::PgPool,
        op: &Op<'_>,
        permit: &Option<Permit>,
    ) -> Result<Out, DbErr> {
        let mut lease = Lease::take(pool, self.unnamed).await?;
        lease.hold(permit.clone());
        match lease.run(op).await {
            Ok(out) => Ok(out),
            Err(err) if lease.is_unchecked_failure(&err) && pg::may_retry(&err, op.is_read()) => {
                drop(lease);
                let mut lease = Lease::acquire(pool, self.unnamed).await?;
                lease.hold(permit.clone());
                lease.run(op).await.map_err(|e| op.convert(e))
            }
            Err(err) => Err(op.convert(err)),
        }
    }

    /// The statement alone, in autocommit, on a tenant-keeping connection
    /// whose session holds this connection's tenant ([`Keeper::checkout`]).
    /// A kept connection that died while idle is replaced as in
    /// [`pg_plain`](Self::pg_plain). After a statement that called a
    /// function only the application `declared` pure, the connection's
    /// session is set again before its next statement (the declaration is
    /// a promise the crate cannot check: this undoes a broken one).
    async fn pg_kept(
        &self,
        keeper: &Arc<Keeper>,
        op: &Op<'_>,
        permit: &Option<Permit>,
        declared: bool,
    ) -> Result<Out, DbErr> {
        let mut lease = keeper.checkout(&self.session, self.unnamed).await?;
        lease.hold(permit.clone());
        let result = lease.run(op).await;
        let result = match result {
            Err(err) if lease.is_unchecked_failure(&err) && pg::may_retry(&err, op.is_read()) => {
                drop(lease);
                keeper.clear();
                lease = keeper.checkout(&self.session, self.unnamed).await?;
                lease.hold(permit.clone());
                lease.run(op).await
            }
            other => other,
        };
        lease.hold(None);
        if declared {
            lease.forget_session();
        }
        keeper.keep(lease);
        result.map_err(|e| op.convert(e))
    }

    /// A read in a `READ ONLY` transaction (opened as `opening` says)
    /// that is rolled back; `None` when Postgres refused it as a write.
    async fn pg_read(
        &self,
        pool: &sea_orm::sqlx::PgPool,
        op: &Op<'_>,
        permit: &Option<Permit>,
        opening: Opening<'_>,
    ) -> Result<Option<Out>, DbErr> {
        let mut lease = self.open_lease(pool, opening).await?;
        if matches!(opening, Opening::Frozen(_)) && self.life.stage() == Stage::Moved {
            // A read of a move's pause that waited for a connection past
            // the switch: the old place may be gone. Checked once its
            // transaction is open, so that what runs from here ends
            // within its statement timeout, which the move waits out.
            lease.queue_rollback();
            return Err(crate::TenantError::Moved(self.tenant.to_string()).into());
        }
        lease.hold(permit.clone());
        match lease.run(op).await {
            Ok(out) => {
                lease.queue_rollback();
                Ok(Some(out))
            }
            Err(err) if pg::is_read_only_violation(&err) => Ok(None),
            Err(err) => Err(op.convert(err)),
        }
    }

    /// A statement in a read-write transaction that is committed.
    async fn pg_write(
        &self,
        pool: &sea_orm::sqlx::PgPool,
        op: &Op<'_>,
        permit: &Option<Permit>,
    ) -> Result<Out, DbErr> {
        let mut lease = self
            .open_lease(pool, Opening::Statement { read_only: false })
            .await?;
        lease.hold(permit.clone());
        let out = lease.run(op).await.map_err(|e| op.convert(e))?;
        lease.commit().await.map_err(|e| op.convert(e))?;
        Ok(out)
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for TenantConnection {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        if let Some(next) = self.successor(false).await? {
            return next.execute_raw(stmt).await;
        }
        self.refuse_session_state(&stmt.sql)?;
        let (stmt, declared) = self.confine_marked(stmt)?;
        self.execute_confined(stmt, declared).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        if let Some(next) = self.successor(false).await? {
            return next.execute_unprepared(sql).await;
        }
        self.refuse_session_state(sql)?;
        let stmt = Statement::from_string(ConnectionTrait::get_database_backend(self), sql);
        let (stmt, declared) = self.confine_marked(stmt)?;
        if stmt.values.is_some() {
            // The tenant is a bound value: sent as a prepared statement.
            return self.execute_confined(stmt, declared).await;
        }
        self.execute_unprepared_as_is(&stmt.sql, declared).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if let Some(next) = self
            .successor(Op::One(&stmt).is_read() && self.reads_in_pause())
            .await?
        {
            return next.query_one_raw(stmt).await;
        }
        self.refuse_session_state(&stmt.sql)?;
        let (stmt, declared) = self.confine_marked(stmt)?;
        #[cfg(not(feature = "sqlx-postgres"))]
        let _ = declared;
        let read = Op::One(&stmt).is_read() && self.reads_in_pause();
        self.guarded(read, |permit, frozen| async move {
            #[cfg(feature = "sqlx-postgres")]
            if let Some(pool) = self.pg_pool() {
                return match self
                    .pg(pool, Op::One(&stmt), permit, declared, frozen)
                    .await?
                {
                    Out::One(r) => Ok(r),
                    _ => Err(unexpected("query_one")),
                };
            }
            // SQLite during a move's pause (`frozen`): as it is.
            let _ = frozen;
            self.sea(permit, |db| async move { db.query_one_raw(stmt).await })
                .await
        })
        .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if let Some(next) = self
            .successor(Op::All(&stmt).is_read() && self.reads_in_pause())
            .await?
        {
            return next.query_all_raw(stmt).await;
        }
        self.refuse_session_state(&stmt.sql)?;
        let (stmt, declared) = self.confine_marked(stmt)?;
        #[cfg(not(feature = "sqlx-postgres"))]
        let _ = declared;
        let read = Op::All(&stmt).is_read() && self.reads_in_pause();
        self.guarded(read, |permit, frozen| async move {
            #[cfg(feature = "sqlx-postgres")]
            if let Some(pool) = self.pg_pool() {
                return match self
                    .pg(pool, Op::All(&stmt), permit, declared, frozen)
                    .await?
                {
                    Out::All(r) => Ok(r),
                    _ => Err(unexpected("query_all")),
                };
            }
            // SQLite during a move's pause (`frozen`): as it is.
            let _ = frozen;
            self.sea(permit, |db| async move { db.query_all_raw(stmt).await })
                .await
        })
        .await
    }
}

impl TenantConnection {
    /// Runs an already confined statement.
    async fn execute_confined(&self, stmt: Statement, declared: bool) -> Result<ExecResult, DbErr> {
        #[cfg(not(feature = "sqlx-postgres"))]
        let _ = declared;
        self.guarded(false, |permit, _| async move {
            #[cfg(feature = "sqlx-postgres")]
            if let Some(pool) = self.pg_pool() {
                return match self
                    .pg(pool, Op::Execute(&stmt), permit, declared, false)
                    .await?
                {
                    Out::Exec(r) => Ok(r),
                    _ => Err(unexpected("execute")),
                };
            }
            self.sea(permit, |db| async move { db.execute_raw(stmt).await })
                .await
        })
        .await
    }

    /// Runs an already confined SQL string unprepared.
    async fn execute_unprepared_as_is(
        &self,
        sql: &str,
        declared: bool,
    ) -> Result<ExecResult, DbErr> {
        #[cfg(not(feature = "sqlx-postgres"))]
        let _ = declared;
        self.guarded(false, |permit, _| async move {
            #[cfg(feature = "sqlx-postgres")]
            if let Some(pool) = self.pg_pool() {
                return match self
                    .pg(pool, Op::Unprepared(sql), permit, declared, false)
                    .await?
                {
                    Out::Exec(r) => Ok(r),
                    _ => Err(unexpected("execute_unprepared")),
                };
            }
            let sql = sql.to_owned();
            self.sea(
                permit,
                |db| async move { db.execute_unprepared(&sql).await },
            )
            .await
        })
        .await
    }
}

impl TenantConnection {
    /// SQLite and MySQL/MariaDB: SeaORM runs the statement. Under a
    /// per-tenant cap it runs on a task of its own that holds the tenant's
    /// permit: dropping the caller's future does not stop a statement the
    /// server is running, so the permit comes back when the statement has
    /// ended, not before (a tenant that cancels stays within its cap).
    async fn sea<T, W, F>(&self, permit: Option<Permit>, work: W) -> Result<T, DbErr>
    where
        W: FnOnce(sea_orm::DatabaseConnection) -> F,
        F: Future<Output = Result<T, DbErr>> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.db.clone();
        let Some(permit) = permit else {
            return work(db).await;
        };
        let task = work(db).in_current_span();
        match tokio::spawn(async move {
            let result = task.await;
            drop(permit);
            result
        })
        .await
        {
            Ok(result) => result,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => Err(unexpected(&format!(
                "a statement task that ended early ({err})"
            ))),
        }
    }
}

#[cfg(all(test, feature = "sqlx-postgres"))]
mod tests {
    use std::time::Duration;

    use sea_orm::DatabaseConnection;

    use crate::tenancy::Lives;
    use crate::{TenantConnection, TenantId};

    #[test]
    fn a_read_during_a_pause_is_bounded_by_the_pause() {
        let lives = Lives::default();
        let acme = TenantId::from("acme");
        let life = lives.current(&acme).unwrap();
        let conn = TenantConnection::new(DatabaseConnection::default(), acme.clone()).living(life);
        let sql =
            |conn: &TenantConnection| conn.frozen_begin().folded_sql(true).unwrap().to_string();
        assert!(!sql(&conn).contains("statement_timeout"), "{}", sql(&conn));
        let _pause = lives.pause(&acme, Duration::from_secs(2));
        assert!(sql(&conn).starts_with("BEGIN READ ONLY"), "{}", sql(&conn));
        assert!(
            sql(&conn).contains("statement_timeout = 2000"),
            "{}",
            sql(&conn)
        );
        // A shorter timeout of the connection's own stays.
        let own = conn.statement_timeout(Duration::from_millis(500));
        assert!(
            sql(&own).contains("statement_timeout = 500"),
            "{}",
            sql(&own)
        );
    }
}
