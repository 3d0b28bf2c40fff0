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
use std::time::Duration;

use futures_util::TryStreamExt;
use sea_orm::sea_query::Values;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgPool, Postgres};
use sea_orm::sqlx::{self, AssertSqlSafe, SqlSafeStr};
use sea_orm::{ConnAcquireErr, DbErr, ExecResult, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;
use sqlx_core::transaction::TransactionManager;

use super::limits::Permit;
use super::observe::{Call, DbSpan};
use super::session_guard::{RESTORE_AND_COMMIT, STASH, stash_expr};
use crate::TenantId;

type Tm = <Postgres as sqlx::Database>::TransactionManager;

/// The name of the setting RLS policies read.
pub(crate) const SETTING: &str = "app.tenant_id";

/// How a transaction of ours starts.
#[derive(Clone, Debug)]
pub(crate) enum Begin {
    /// `BEGIN …; SET LOCAL app.tenant_id = '<id>'[; SET LOCAL …]`: one
    /// simple query, one round trip. Only for ids made of `[A-Za-z0-9_-]`
    /// (validated, so the literal cannot break out of its quotes). A
    /// read-write one first stashes the session's settings
    /// ([`STASH`]), which its commit sets back.
    Folded {
        read_only: Arc<str>,
        read_write: Arc<str>,
    },
    /// `BEGIN`, then `set_config('app.tenant_id', $1, true)` with the id
    /// bound as a parameter, then the other `SET LOCAL`s (`search_path`,
    /// `statement_timeout`), if any: two or three round trips, for any
    /// other id.
    Bound { id: String, tail: Option<Arc<str>> },
}

impl Begin {
    #[cfg(test)]
    pub(crate) fn for_tenant(tenant: &TenantId) -> Self {
        Self::opener(tenant, None, None)
    }

    /// Like [`for_tenant`](Self::for_tenant), and when `schema` is given
    /// also `SET LOCAL search_path TO "<schema>", public` in the same
    /// transaction. `schema` must be a validated [`SchemaName`](crate::SchemaName).
    #[cfg(test)]
    pub(crate) fn for_tenant_in(tenant: &TenantId, schema: Option<&str>) -> Self {
        Self::opener(tenant, schema, None)
    }

    /// The opener of `tenant`'s transactions, with the `search_path` of
    /// `schema` (a validated [`SchemaName`](crate::SchemaName)) and a
    /// `statement_timeout`, each when given, all `SET LOCAL`.
    pub(crate) fn opener(
        tenant: &TenantId,
        schema: Option<&str>,
        timeout: Option<Duration>,
    ) -> Self {
        let id = tenant.as_str();
        let tail = local_settings(schema, timeout);
        if is_literal_safe(&id) {
            let tail = tail
                .as_deref()
                .map(|sql| format!("; {sql}"))
                .unwrap_or_default();
            Begin::Folded {
                read_only: Arc::from(format!(
                    "BEGIN READ ONLY; SET LOCAL {SETTING} = '{id}'{tail}"
                )),
                // The stash and the tenant in one statement (each statement
                // of a folded query costs): the stash is a subquery with a
                // volatile call, which Postgres evaluates first, so it
                // reads the session's value, not ours.
                read_write: Arc::from(format!(
                    "BEGIN; SELECT pg_catalog.set_config('{SETTING}', '{id}', true) \
                     FROM (SELECT {}) AS stash{tail}",
                    stash_expr!()
                )),
            }
        } else {
            Begin::Bound {
                id: id.into_owned(),
                tail: tail.map(Arc::from),
            }
        }
    }

    pub(crate) fn is_folded(&self) -> bool {
        matches!(self, Begin::Folded { .. })
    }

    /// The one query that opens a folded transaction of this kind.
    pub(crate) fn folded_sql(&self, read_only: bool) -> Option<&Arc<str>> {
        match self {
            Begin::Folded {
                read_only: ro,
                read_write: rw,
            } => Some(if read_only { ro } else { rw }),
            Begin::Bound { .. } => None,
        }
    }
}

/// The `SET LOCAL`s after the tenant's: the `search_path` of `schema` and
/// the `statement_timeout`, joined by `; `, or `None` when neither is set.
pub(crate) fn local_settings(schema: Option<&str>, timeout: Option<Duration>) -> Option<String> {
    match (
        schema.map(search_path_sql),
        timeout.map(statement_timeout_sql),
    ) {
        (Some(path), Some(timeout)) => Some(format!("{path}; {timeout}")),
        (path, timeout) => path.or(timeout),
    }
}

/// `SET LOCAL statement_timeout = <ms>`, the number formatted here from a
/// [`Duration`] (see [`timeout_millis`]).
pub(crate) fn statement_timeout_sql(timeout: Duration) -> String {
    format!("SET LOCAL statement_timeout = {}", timeout_millis(timeout))
}

/// A timeout in whole milliseconds as Postgres takes it: rounded up, at
/// least 1 (0 would switch the timeout off) and at most `i32::MAX`
/// (about 24.8 days, Postgres' upper bound).
pub(crate) fn timeout_millis(timeout: Duration) -> u32 {
    let micros = timeout.as_micros();
    let millis = micros.div_ceil(1000).max(1);
    u32::try_from(millis.min(i32::MAX as u128)).unwrap_or(i32::MAX as u32)
}

/// `SET LOCAL search_path TO "<schema>", public`. The schema name comes
/// from [`SchemaName`](crate::SchemaName) (`[a-z0-9_]`, validated);
/// it is quoted all the same, with embedded quotes doubled.
pub(crate) fn search_path_sql(schema: &str) -> String {
    format!(
        "SET LOCAL search_path TO \"{}\", public",
        schema.replace('"', "\"\"")
    )
}

/// 1 to 63 bytes of `[A-Za-z0-9_-]`: the charset of [`TenantId::parse`],
/// which also covers integers and UUIDs.
pub(crate) fn is_literal_safe(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= crate::MAX_TENANT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// One statement, as SeaORM's `ConnectionTrait` hands it over.
pub(crate) enum Op<'a> {
    Execute(&'a Statement),
    Unprepared(&'a str),
    One(&'a Statement),
    All(&'a Statement),
}

/// What the statement returned.
pub(crate) enum Out {
    Exec(ExecResult),
    One(Option<QueryResult>),
    All(Vec<QueryResult>),
}

impl Op<'_> {
    /// Whether the statement may run in a `READ ONLY` transaction that is
    /// rolled back afterwards: a query (not an `execute`) whose first word
    /// is `SELECT`. Anything else is treated as a write. A `SELECT` that
    /// writes after all (a volatile function) is refused by Postgres in a
    /// read-only transaction (SQLSTATE 25006) and is re-run as a write, so
    /// the guess can cost a round trip but never loses a write.
    pub(crate) fn is_read(&self) -> bool {
        match self {
            Op::One(stmt) | Op::All(stmt) => starts_with_select(&stmt.sql),
            Op::Execute(_) | Op::Unprepared(_) => false,
        }
    }

    fn is_query(&self) -> bool {
        matches!(self, Op::One(_) | Op::All(_))
    }

    /// The SeaORM call this statement came from, for its span.
    pub(crate) fn call(&self) -> Call {
        match self {
            Op::Execute(_) => Call::Execute,
            Op::Unprepared(_) => Call::ExecuteUnprepared,
            Op::One(_) => Call::QueryOne,
            Op::All(_) => Call::QueryAll,
        }
    }

    pub(crate) fn sql(&self) -> &str {
        match self {
            Op::Execute(stmt) | Op::One(stmt) | Op::All(stmt) => &stmt.sql,
            Op::Unprepared(sql) => sql,
        }
    }

    /// The statement, for the metric callback (none for
    /// `execute_unprepared`, as in SeaORM).
    pub(crate) fn statement(&self) -> Option<&Statement> {
        match self {
            Op::Execute(stmt) | Op::One(stmt) | Op::All(stmt) => Some(stmt),
            Op::Unprepared(_) => None,
        }
    }

    /// SeaORM's span of this statement (feature `tracing-spans`).
    pub(crate) fn span(&self) -> DbSpan {
        DbSpan::new(self.call(), self.sql())
    }

    pub(crate) fn convert(&self, err: sqlx::Error) -> DbErr {
        let err = RuntimeErr::SqlxError(Arc::new(err));
        if self.is_query() {
            DbErr::Query(err)
        } else {
            DbErr::Exec(err)
        }
    }
}

fn starts_with_select(sql: &str) -> bool {
    let sql = sql.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
    sql.get(..6)
        .is_some_and(|word| word.eq_ignore_ascii_case("select"))
        && sql
            .as_bytes()
            .get(6)
            .is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
}

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
}

impl Lease {
    /// A connection from `pool`, checked as the pool is configured to
    /// (sqlx pings it first unless `test_before_acquire(false)`).
    pub(crate) async fn acquire(pool: &PgPool, unnamed: bool) -> Result<Self, DbErr> {
        let conn = pool.acquire().await.map_err(acquire_err)?;
        Ok(Lease {
            conn: Some(conn),
            state: State::Clean,
            unnamed,
            unchecked: false,
            permit: None,
        })
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
            Some(conn) => Ok(Lease {
                conn: Some(conn),
                state: State::Clean,
                unnamed,
                unchecked: true,
                permit: None,
            }),
            None => Self::acquire(pool, unnamed).await,
        }
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
            Ok(_) => self.state = State::InTxn,
            Err(err) if is_in_step(err) => self.state = State::InTxn,
            Err(_) => {}
        }
        result
    }

    /// Streams the rows of one statement inside our transaction into `tx`.
    /// Stops early (and leaves the lease busy, so it is closed) when the
    /// receiver goes away.
    pub(crate) async fn stream_into(
        &mut self,
        stmt: &Statement,
        tx: &tokio::sync::mpsc::Sender<Result<QueryResult, DbErr>>,
    ) -> Result<bool, sqlx::Error> {
        self.state = State::Busy;
        let unnamed = self.unnamed;
        let conn = self.conn()?;
        let mut rows = query(stmt, unnamed).fetch(&mut **conn);
        loop {
            match rows.try_next().await {
                Ok(Some(row)) => {
                    if tx.send(Ok(row.into())).await.is_err() {
                        return Ok(false);
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    let in_step = is_in_step(&err);
                    drop(rows);
                    if in_step {
                        self.state = State::InTxn;
                    }
                    return Err(err);
                }
            }
        }
        drop(rows);
        self.state = State::InTxn;
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
        let conn = self.conn()?;
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

    /// Whether this lease is parked-ready: in our transaction, in step.
    pub(crate) fn is_in_txn(&self) -> bool {
        self.state == State::InTxn
    }

    /// Whether the connection is in step with the server (in our
    /// transaction, or with none open), so it can be recycled.
    pub(crate) fn is_reusable(&self) -> bool {
        self.state != State::Busy
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
        let Some(conn) = self.conn.take() else {
            return;
        };
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

    #[test]
    fn folds_only_validated_ids() {
        assert!(Begin::for_tenant(&TenantId::from("acme-eu_1")).is_folded());
        assert!(Begin::for_tenant(&TenantId::from(42_i64)).is_folded());
        assert!(Begin::for_tenant(&TenantId::from(uuid::Uuid::nil())).is_folded());
        for odd in ["a'b", "a b", "", "a\\b", "ü"] {
            assert!(
                !Begin::for_tenant(&TenantId::from(odd)).is_folded(),
                "{odd}"
            );
        }
        assert!(!Begin::for_tenant(&TenantId::from("x".repeat(64))).is_folded());
    }

    #[test]
    fn folds_the_search_path_into_the_opener() {
        let Begin::Folded { read_write, .. } =
            Begin::for_tenant_in(&TenantId::from("acme"), Some("tenant_acme"))
        else {
            panic!("not folded");
        };
        assert_eq!(
            &*read_write,
            format!(
                "BEGIN; SELECT pg_catalog.set_config('app.tenant_id', 'acme', true) \
                 FROM (SELECT {}) AS stash; SET LOCAL search_path TO \"tenant_acme\", public",
                stash_expr!()
            )
        );
        assert_eq!(
            search_path_sql("a\"b"),
            "SET LOCAL search_path TO \"a\"\"b\", public"
        );
    }

    #[test]
    fn folds_the_statement_timeout_into_the_opener() {
        let acme = TenantId::from("acme");
        let begin = Begin::opener(&acme, None, Some(Duration::from_millis(1500)));
        assert_eq!(
            &**begin.folded_sql(true).unwrap(),
            "BEGIN READ ONLY; SET LOCAL app.tenant_id = 'acme'; SET LOCAL statement_timeout = 1500"
        );
        let begin = Begin::opener(&acme, Some("tenant_acme"), Some(Duration::from_secs(2)));
        assert_eq!(
            &**begin.folded_sql(false).unwrap(),
            format!(
                "BEGIN; SELECT pg_catalog.set_config('app.tenant_id', 'acme', true) \
                 FROM (SELECT {}) AS stash; SET LOCAL search_path TO \"tenant_acme\", public; \
                 SET LOCAL statement_timeout = 2000",
                stash_expr!()
            )
        );
        // Ids that are bound, not spliced, get the same settings after set_config.
        let Begin::Bound { tail, .. } =
            Begin::opener(&TenantId::from("a'b"), None, Some(Duration::from_millis(5)))
        else {
            panic!("folded an odd id");
        };
        assert_eq!(tail.as_deref(), Some("SET LOCAL statement_timeout = 5"));
        assert_eq!(local_settings(None, None), None);
    }

    #[test]
    fn timeouts_are_whole_milliseconds_never_zero() {
        assert_eq!(timeout_millis(Duration::ZERO), 1);
        assert_eq!(timeout_millis(Duration::from_micros(1)), 1);
        assert_eq!(timeout_millis(Duration::from_micros(1001)), 2);
        assert_eq!(timeout_millis(Duration::from_millis(250)), 250);
        assert_eq!(timeout_millis(Duration::MAX), i32::MAX as u32);
    }
}
