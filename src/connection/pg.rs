//! The Postgres side of [`TenantConnection`](super::TenantConnection): a
//! pooled connection leased for one statement, inside a transaction that
//! set the tenant with `SET LOCAL` / `set_config(.., true)`.
//!
//! The one invariant: a connection goes back to the shared pool only when
//! no transaction of ours is open on it, or with a `ROLLBACK` queued ahead
//! of anything else (sqlx flushes it in the ping it runs on every release,
//! before the next borrower gets the connection). A lease dropped while one
//! of its round trips was in flight (a cancelled future, an I/O error) is
//! closed instead of returned: its state is unknown, so it is not reused.
//! Before it is closed it is drained ([`drain`]): the server is still
//! running what was sent, and the connection and the tenant's permit stay
//! taken until the server has answered, so a tenant that cancels its
//! requests stays within its cap on the server too.

use std::sync::Arc;

use futures_util::TryStreamExt;
use sea_orm::sea_query::Values;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgPool, Postgres};
use sea_orm::sqlx::{self, AssertSqlSafe, SqlSafeStr};
use sea_orm::{ConnAcquireErr, DbErr, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;
use sqlx_core::transaction::TransactionManager;

use super::keeper::{Defaults, SET_SESSION, Session};
use super::limits::Permit;
use super::op::{Op, Out};
use super::opener::Begin;
use super::session_guard::{RESTORE_AND_COMMIT, STASH};

/// sqlx's transaction manager for Postgres, called directly. sqlx documents
/// `TransactionManager` as not for use outside a driver, but its public
/// API lacks what a lease needs: an owned transaction whose connection can
/// be parked, closed or handed back after it (`Pool::begin_with` gives a
/// `Transaction` that only rolls back or commits, and
/// `Connection::begin_with` one that borrows the connection); savepoints
/// shared by several `TenantTransaction`s without borrowing their parent;
/// the depth beyond `Connection::is_in_transaction`'s yes or no; and a
/// rollback queued without a round trip outside `Drop`
/// (`start_rollback`). What is relied on (`begin` with our opener,
/// `InvalidSavePointStatement` inside a transaction, the depth through
/// savepoints, a queued rollback sent ahead of the next statement) is
/// pinned by `tests/sqlx_transaction_manager.rs`, and the `sqlx-core`
/// dependency is pinned to the sqlx minor SeaORM uses.
type Tm = <Postgres as sqlx::Database>::TransactionManager;

/// The sqlx query of `stmt`: prepared by name and cached on the
/// connection, or (`unnamed`, behind a transaction-mode pooler) as the
/// unnamed statement, which lives only until the next one and so never
/// outlives our transaction on the pooler's server connection.
fn query(stmt: &Statement, unnamed: bool) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt.values.clone().unwrap_or(Values(Vec::new()));
    sqlx::query_with(AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values)).persistent(!unnamed)
}

pub(crate) fn acquire_err(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(other))),
    }
}

/// SQLSTATE 25006: a write in a `READ ONLY` transaction.
pub(crate) fn is_read_only_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "25006")
}

/// Whether a statement that failed with `err` on a connection that had
/// been idle may be sent again on another: the connection was found dead
/// and the statement surely did not run, or it is a read (`read`), which
/// running twice does not change. A database error means the server
/// answered, so it stays an error; for a write, only a session the
/// server ended (SQLSTATE 57P01, `pg_terminate_backend` or a shutdown;
/// 57P05, the idle session timeout) or a socket closed before the
/// statement could be written count as "did not run". A statement alone
/// in autocommit commits at the protocol's `Sync`, with interrupts held
/// off, so a session ended in time to report it to this statement ended
/// before its commit.
pub(crate) fn may_retry(err: &sqlx::Error, read: bool) -> bool {
    if is_in_step(err) {
        return false;
    }
    if read {
        return true;
    }
    match err {
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::BrokenPipe,
        other => other
            .as_database_error()
            .and_then(|e| e.code())
            .is_some_and(|code| code == "57P01" || code == "57P05"),
    }
}

/// An error after which the connection is still in step with the server
/// and alive: a database error, except the server ending the session
/// (class 57P: `pg_terminate_backend`, shutdown) or a connection exception
/// (class 08).
fn is_in_step(err: &sqlx::Error) -> bool {
    match err.as_database_error() {
        Some(db) => !db
            .code()
            .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
        None => false,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// A round trip is (or was, when dropped) in flight: unknown state.
    Busy,
    /// Inside a transaction of ours, in step with the server.
    InTxn,
    /// No transaction of ours open, or a `ROLLBACK` queued.
    Clean,
}

/// How a read-write transaction of ours ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// It stashed the session's settings: its commit sets them back
    /// ([`RESTORE_AND_COMMIT`]).
    Restore,
    /// A plain `COMMIT` (the session holds the tenant on purpose).
    Plain,
}

/// A pooled connection leased for one statement (or parked for a hot
/// tenant, or held by a [`TenantTransaction`](super::TenantTransaction)).
pub(crate) struct Lease {
    conn: Option<PoolConnection<Postgres>>,
    state: State,
    /// Statements are sent unnamed (behind a transaction-mode pooler).
    unnamed: bool,
    /// Taken without the pool's acquire-time ping (see [`Lease::take`]).
    unchecked: bool,
    /// The tenant's permit for the work on this connection (under a
    /// per-tenant cap): kept until the server has finished that work, even
    /// when the future that started it is dropped.
    permit: Option<Permit>,
    /// The session the connection was set to ([`Lease::set_session`]),
    /// recorded only once the server confirmed it; a lease in an unknown
    /// state is closed, never reused, so the record cannot go stale.
    session: Option<Session>,
    /// How our transaction on it ends.
    ending: Ending,
    /// Closed when dropped rather than returned to the pool: a statement
    /// ran on it unconfined, which may have left session objects (a
    /// temporary table, a prepared statement, a cursor `WITH HOLD`).
    discard: bool,
}

impl Lease {
    /// A connection from `pool`, checked as the pool is configured to
    /// (sqlx pings it first unless `test_before_acquire(false)`).
    pub(crate) async fn acquire(pool: &PgPool, unnamed: bool) -> Result<Self, DbErr> {
        let conn = pool.acquire().await.map_err(acquire_err)?;
        let mut lease = Self::unchecked(conn, unnamed);
        lease.unchecked = false;
        Ok(lease)
    }

    /// A lease of `conn`, taken without the acquire-time ping: the first
    /// round trip on it tells whether it is alive
    /// ([`is_unchecked_failure`](Self::is_unchecked_failure)).
    pub(crate) fn unchecked(conn: PoolConnection<Postgres>, unnamed: bool) -> Self {
        Lease {
            conn: Some(conn),
            state: State::Clean,
            unnamed,
            unchecked: true,
            permit: None,
            session: None,
            ending: Ending::Restore,
            discard: false,
        }
    }

    /// An idle connection of `pool` without the acquire-time ping, else one
    /// from [`acquire`](Self::acquire). sqlx pinged it when it was
    /// returned, and our transaction's opening round trip is the first
    /// thing sent on it: if the connection died while idle, that round
    /// trip fails before any statement was sent, and
    /// [`is_unchecked_failure`](Self::is_unchecked_failure) tells the
    /// caller to retry on a checked connection.
    pub(crate) async fn take(pool: &PgPool, unnamed: bool) -> Result<Self, DbErr> {
        match pool.try_acquire() {
            Some(conn) => Ok(Self::unchecked(conn, unnamed)),
            None => Self::acquire(pool, unnamed).await,
        }
    }

    /// This lease after an idle spell (kept by the keeper): its first
    /// round trip tells again whether it is alive, as for one taken
    /// without the acquire-time ping.
    pub(crate) fn idle_since_checked(mut self) -> Self {
        self.unchecked = true;
        self
    }

    /// Holds `permit` (or none) for the work on this connection, in place
    /// of the one it held: the work's permit is kept until the server has
    /// finished it ([`drain`]). A lease is parked with none.
    pub(crate) fn hold(&mut self, permit: Option<Permit>) {
        self.permit = permit;
    }

    /// Whether `err`, from opening our transaction on a connection taken
    /// unchecked, means the connection was dead: nothing was run, so the
    /// caller may retry on a checked one.
    pub(crate) fn is_unchecked_failure(&self, err: &sqlx::Error) -> bool {
        self.unchecked && !is_in_step(err)
    }

    fn conn(&mut self) -> Result<&mut PoolConnection<Postgres>, sqlx::Error> {
        self.conn
            .as_mut()
            .ok_or_else(|| sqlx::Error::Protocol("tenant connection lease already released".into()))
    }

    /// Opens our transaction and sets the tenant in it.
    pub(crate) async fn begin(
        &mut self,
        begin: &Begin,
        read_only: bool,
    ) -> Result<(), sqlx::Error> {
        self.state = State::Busy;
        let unnamed = self.unnamed;
        let conn = self.conn()?;
        match begin {
            Begin::Folded {
                read_only: ro,
                read_write: rw,
            } => {
                let sql = if read_only { ro } else { rw };
                Tm::begin(
                    &mut **conn,
                    Some(AssertSqlSafe(sql.to_string()).into_sql_str()),
                )
                .await?;
            }
            Begin::Bound { id, tail } => {
                let sql = if read_only {
                    "BEGIN READ ONLY".to_owned()
                } else {
                    format!("BEGIN; {STASH}")
                };
                Tm::begin(&mut **conn, Some(AssertSqlSafe(sql).into_sql_str())).await?;
                sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                    .bind(id.as_str())
                    .persistent(!unnamed)
                    .execute(&mut **conn)
                    .await?;
                if let Some(sql) = tail {
                    sqlx::Executor::execute(&mut **conn, AssertSqlSafe(sql.to_string())).await?;
                }
            }
        }
        self.state = State::InTxn;
        self.unchecked = false;
        self.ending = Ending::Restore;
        Ok(())
    }

    /// Sets the connection's session to `session` at session level, in
    /// autocommit ([`SET_SESSION`], every value bound), and records it once
    /// the server confirmed. Only for the keeper's own connections.
    pub(crate) async fn set_session(
        &mut self,
        session: &Session,
        defaults: &Defaults,
    ) -> Result<(), sqlx::Error> {
        self.state = State::Busy;
        let switch = self
            .session
            .take()
            .and_then(|prev| session.switch_from(&prev, defaults));
        let unnamed = self.unnamed;
        let (tenant, schema, timeout) = session.values();
        let conn = self.conn()?;
        let result = match switch {
            // From a session of ours that nothing changed since: what
            // differs, as one simple query.
            Some(sql) => sqlx::Executor::execute(&mut **conn, AssertSqlSafe(sql))
                .await
                .map(drop),
            // A new connection, or one a statement may have changed: all
            // of it, the role too, every value bound.
            None => sqlx::query(SET_SESSION)
                .bind(tenant)
                .bind(schema)
                .bind(timeout)
                .bind(defaults.search_path.as_str())
                .bind(defaults.timeout.as_str())
                .bind(defaults.role.as_str())
                .persistent(!unnamed)
                .execute(&mut **conn)
                .await
                .map(drop),
        };
        match &result {
            Ok(_) => {
                self.state = State::Clean;
                self.unchecked = false;
                self.session = Some(session.clone());
            }
            Err(err) if is_in_step(err) => self.state = State::Clean,
            Err(_) => {}
        }
        result
    }

    /// Reads what a session of this connection's pool starts with
    /// (`sql`: search path, statement timeout and role, by name), in
    /// autocommit.
    pub(crate) async fn read_defaults(
        &mut self,
        sql: &'static str,
    ) -> Result<Defaults, sqlx::Error> {
        use sqlx::Row;
        self.state = State::Busy;
        let conn = self.conn()?;
        let row = sqlx::query(sql).fetch_one(&mut **conn).await?;
        self.state = State::Clean;
        self.unchecked = false;
        Ok(Defaults {
            search_path: row.try_get("search_path")?,
            timeout: row.try_get("timeout")?,
            role: row.try_get("role")?,
        })
    }

    /// Forgets the session this connection was set to, so that it is set
    /// again before its next statement: after a statement that called a
    /// function only the application declared pure, which could have
    /// changed it.
    pub(crate) fn forget_session(&mut self) {
        self.session = None;
    }

    /// The session this connection was set to, if any.
    pub(crate) fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// Whether the connection is idle and in step: no transaction open, no
    /// round trip in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.state == State::Clean && self.depth() == 0
    }

    /// Opens a user's transaction with a plain `BEGIN` carrying `options`
    /// (from SeaORM's enums): on a connection whose session already holds
    /// what the tenant needs, or that needs nothing set. Committed with a
    /// plain `COMMIT`.
    pub(crate) async fn begin_plain(&mut self, options: &str) -> Result<(), sqlx::Error> {
        self.state = State::Busy;
        let conn = self.conn()?;
        let sql = format!("BEGIN{options}");
        Tm::begin(&mut **conn, Some(AssertSqlSafe(sql).into_sql_str())).await?;
        self.state = State::InTxn;
        self.unchecked = false;
        self.ending = Ending::Plain;
        Ok(())
    }

    /// Opens a user's transaction ([`TransactionTrait::begin`]
    /// (sea_orm::TransactionTrait::begin)) with the tenant set in it, in
    /// one round trip when the id is plain: the read-write opener of
    /// `begin` (which stashes the session's settings for the commit to set
    /// back), its `BEGIN` carrying `options` (`ISOLATION LEVEL …`,
    /// `READ ONLY`), which come from SeaORM's enums.
    pub(crate) async fn begin_user(
        &mut self,
        begin: &Begin,
        options: &str,
    ) -> Result<(), sqlx::Error> {
        self.state = State::Busy;
        let unnamed = self.unnamed;
        let conn = self.conn()?;
        match begin {
            Begin::Folded { read_write, .. } => {
                let rest = read_write.strip_prefix("BEGIN").unwrap_or(read_write);
                let sql = format!("BEGIN{options}{rest}");
                Tm::begin(&mut **conn, Some(AssertSqlSafe(sql).into_sql_str())).await?;
            }
            Begin::Bound { id, tail } => {
                let sql = format!("BEGIN{options}; {STASH}");
                Tm::begin(&mut **conn, Some(AssertSqlSafe(sql).into_sql_str())).await?;
                sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                    .bind(id.as_str())
                    .persistent(!unnamed)
                    .execute(&mut **conn)
                    .await?;
                if let Some(sql) = tail {
                    sqlx::Executor::execute(&mut **conn, AssertSqlSafe(sql.to_string())).await?;
                }
            }
        }
        self.state = State::InTxn;
        self.unchecked = false;
        self.ending = Ending::Restore;
        Ok(())
    }

    /// How deep in transactions the connection is: 1 in our transaction,
    /// more inside savepoints.
    pub(crate) fn depth(&self) -> usize {
        self.conn
            .as_ref()
            .map_or(0, |conn| Tm::get_transaction_depth(conn))
    }

    /// `SAVEPOINT` inside our transaction (sqlx names it by depth).
    pub(crate) async fn savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.state = State::Busy;
        let conn = self.conn()?;
        Tm::begin(&mut **conn, None).await?;
        self.state = State::InTxn;
        Ok(())
    }

    /// Ends the innermost savepoint: `RELEASE SAVEPOINT` when `commit`,
    /// else `ROLLBACK TO SAVEPOINT`.
    pub(crate) async fn end_savepoint(&mut self, commit: bool) -> Result<(), sqlx::Error> {
        self.state = State::Busy;
        let conn = self.conn()?;
        if commit {
            Tm::commit(&mut **conn).await?;
        } else {
            Tm::rollback(&mut **conn).await?;
        }
        self.state = State::InTxn;
        Ok(())
    }

    /// Queues the rollback of the innermost level (a savepoint, or our
    /// transaction at depth 1) without waiting: a dropped transaction.
    pub(crate) fn queue_rollback_level(&mut self) {
        if self.depth() <= 1 {
            self.queue_rollback();
        } else if self.state == State::InTxn
            && let Some(conn) = self.conn.as_mut()
        {
            Tm::start_rollback(&mut **conn);
        }
    }

    /// Rolls our transaction back and waits for it.
    pub(crate) async fn rollback(&mut self) -> Result<(), sqlx::Error> {
        self.state = State::Busy;
        let conn = self.conn()?;
        while Tm::get_transaction_depth(conn) > 0 {
            Tm::rollback(&mut **conn).await?;
        }
        self.state = State::Clean;
        Ok(())
    }

    /// Runs one statement inside our transaction.
    pub(crate) async fn run(&mut self, op: &Op<'_>) -> Result<Out, sqlx::Error> {
        let before = self.state;
        self.state = State::Busy;
        let unnamed = self.unnamed;
        let conn = self.conn()?;
        let result = match op {
            Op::Execute(stmt) => query(stmt, unnamed)
                .execute(&mut **conn)
                .await
                .map(|r| Out::Exec(r.into())),
            Op::Unprepared(sql) => {
                sqlx::Executor::execute(&mut **conn, AssertSqlSafe(sql.to_string()))
                    .await
                    .map(|r| Out::Exec(r.into()))
            }
            Op::One(stmt) => query(stmt, unnamed)
                .fetch_optional(&mut **conn)
                .await
                .map(|row| Out::One(row.map(Into::into))),
            Op::All(stmt) => query(stmt, unnamed)
                .fetch_all(&mut **conn)
                .await
                .map(|rows| Out::All(rows.into_iter().map(Into::into).collect())),
        };
        match &result {
            Ok(_) => self.state = before,
            Err(err) if is_in_step(err) => self.state = before,
            Err(_) => return result,
        }
        self.unchecked = false;
        result
    }

    /// Streams the rows of one statement inside our transaction into `tx`.
    /// Stops early (and leaves the lease busy, so it is closed) when the
    /// receiver goes away. `sent` tells whether a row went out (a stream
    /// that failed before its first row may be sent again elsewhere).
    pub(crate) async fn stream_into(
        &mut self,
        stmt: &Statement,
        tx: &tokio::sync::mpsc::Sender<Result<QueryResult, DbErr>>,
        sent: &mut bool,
    ) -> Result<bool, sqlx::Error> {
        let before = self.state;
        self.state = State::Busy;
        let unnamed = self.unnamed;
        let conn = self.conn()?;
        let mut rows = query(stmt, unnamed).fetch(&mut **conn);
        loop {
            match rows.try_next().await {
                Ok(Some(row)) => {
                    *sent = true;
                    if tx.send(Ok(row.into())).await.is_err() {
                        return Ok(false);
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    let in_step = is_in_step(&err);
                    drop(rows);
                    if in_step {
                        self.state = before;
                    }
                    return Err(err);
                }
            }
        }
        drop(rows);
        self.state = before;
        self.unchecked = false;
        Ok(true)
    }

    /// Commits our (read-write) transaction in one round trip, setting the
    /// session's tenant setting, `search_path`, role and session
    /// authorization back from the stash first, so that nothing the
    /// statement did at session level outlives it
    /// ([`RESTORE_AND_COMMIT`]). The query ends by opening an empty
    /// transaction, which keeps sqlx's transaction depth in step; it is
    /// rolled back ahead of the next use, as any transaction of ours. A
    /// failure leaves the connection's state unknown (the `COMMIT` may or
    /// may not have run), so it is closed rather than reused.
    pub(crate) async fn commit(&mut self) -> Result<(), sqlx::Error> {
        self.state = State::Busy;
        let ending = self.ending;
        let conn = self.conn()?;
        if ending == Ending::Plain {
            Tm::commit(&mut **conn).await?;
            self.state = State::Clean;
            return Ok(());
        }
        sqlx::Executor::execute(&mut **conn, AssertSqlSafe(RESTORE_AND_COMMIT)).await?;
        self.state = State::InTxn;
        Ok(())
    }

    /// Queues a `ROLLBACK` of our transaction without waiting for it. It
    /// is sent ahead of the next message on this connection: the next
    /// `begin`, or the ping sqlx runs when the connection goes back to the
    /// pool.
    pub(crate) fn queue_rollback(&mut self) {
        if self.state == State::InTxn
            && let Some(conn) = self.conn.as_mut()
        {
            Tm::start_rollback(&mut **conn);
            self.state = State::Clean;
        }
    }

    /// Closes the connection when the lease is dropped, instead of
    /// returning it to the pool: its state is not known.
    pub(crate) fn close(&mut self) {
        self.state = State::Busy;
    }

    /// Closes the connection when the lease is dropped, once the
    /// transaction on it has ended: an unconfined statement ran on it.
    pub(crate) fn discard(&mut self) {
        self.discard = true;
        self.session = None;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        match self.state {
            // Inside a savepoint still (a transaction dropped out of
            // order): closed rather than unwound.
            State::InTxn if self.depth() > 1 => {
                if let Some(conn) = self.conn.as_mut() {
                    conn.close_on_drop();
                }
            }
            State::InTxn => self.queue_rollback(),
            State::Busy | State::Clean => {}
        }
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.discard {
            conn.close_on_drop();
        }
        let permit = self.permit.take();
        // Outside a tokio runtime (a pool dropped at exit) there is no task
        // to run: the connection is detached and its socket closed, which
        // ends the session and with it any transaction.
        if tokio::runtime::Handle::try_current().is_err() {
            drop(conn.detach());
        } else if self.state == State::Busy {
            drain(conn, permit);
        } else {
            // Returned to the pool (sqlx pings it first, which flushes a
            // queued ROLLBACK) or closed, on a task.
            drop(conn);
        }
    }
}

/// Closes a connection whose state is unknown (a round trip was in flight
/// when its future was dropped, or failed halfway), on a task of its own,
/// after waiting until the server has answered everything sent on it: the
/// statement a cancelled request started keeps running on the server until
/// it ends or hits the tenant's `statement_timeout`, and until then the
/// connection stays out of the pool and `permit` stays taken. A tenant that
/// cancels its requests so cannot have more statements running on the
/// server than its cap. A connection that broke answers at once (an I/O
/// error), and is closed.
fn drain(mut conn: PoolConnection<Postgres>, permit: Option<Permit>) {
    tokio::spawn(async move {
        let _ = sqlx::Connection::ping(&mut *conn).await;
        let _ = conn.close().await;
        drop(permit);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_reads() {
        let s = |sql: &str| Statement::from_string(sea_orm::DbBackend::Postgres, sql);
        for read in [
            "SELECT 1",
            "  select * from t",
            "(SELECT 1) UNION (SELECT 2)",
            "SELECT\n1",
        ] {
            assert!(Op::One(&s(read)).is_read(), "{read}");
        }
        for write in [
            "INSERT INTO t VALUES (1) RETURNING id",
            "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
            "selectivity",
            "UPDATE t SET a = 1",
            "",
        ] {
            assert!(!Op::All(&s(write)).is_read(), "{write}");
        }
        assert!(!Op::Execute(&s("SELECT 1")).is_read());
    }
}
