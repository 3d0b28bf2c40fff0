//! Noisy neighbours inside the database connection: a per-tenant Postgres
//! `statement_timeout` (transaction-local), a per-tenant cap on concurrent
//! database work, and the database-time hook of `Tenancy`.

mod common;
mod pg_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Kind, TestDb, each_backend, each_backend_of, within};
use futures_util::StreamExt;
use pg_support::PgEnv;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement, StreamTrait,
    TransactionTrait,
};
use sea_orm_tenant::prelude::*;

fn pg(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

/// `statement_timeout` as the statement sees it. `SHOW` is refused on a
/// tenant connection (rule 12); `current_setting` returns the same text and
/// is declared on the tenancies of this file as a test device (see
/// [`devices`]).
async fn shown_timeout<C: ConnectionTrait>(c: &C) -> String {
    c.query_one_raw(pg("SELECT current_setting('statement_timeout')"))
        .await
        .expect("current_setting('statement_timeout')")
        .expect("a row")
        .try_get_by_index::<String>(0)
        .expect("text")
}

/// The SQLSTATE of a database error, if it is one.
fn sqlstate(err: &DbErr) -> Option<String> {
    match err {
        DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}

/// The functions this file uses only as test devices, declared on the
/// tenancies under test because the wall refuses them by default (rule
/// 12): `pg_sleep` / `SLEEP` make slow statements, `current_setting` shows
/// which `statement_timeout` a statement runs under.
fn devices(tenancy: Tenancy) -> Tenancy {
    tenancy
        .pure_function("pg_sleep")
        .pure_function("SLEEP")
        .pure_function("current_setting")
}

fn a() -> TenantId {
    TenantId::from("a")
}

fn b() -> TenantId {
    TenantId::from("b")
}

/// Tenant `a` gets 250 ms, everyone else the server's default.
fn a_only(t: &TenantId) -> Option<Duration> {
    (t.as_str() == "a").then_some(Duration::from_millis(250))
}

/// Rule 6: on a pool of ONE connection, tenant a's `statement_timeout` is
/// seen by a's statements only, after reads, committed writes, `begin()`
/// transactions and errors alike; tenant b and the plain pool see the
/// server's default every time.
#[tokio::test]
async fn statement_timeout_never_outlives_its_transaction_on_a_pool_of_one() {
    let Some(env) =
        PgEnv::new("statement_timeout_never_outlives_its_transaction_on_a_pool_of_one").await
    else {
        return;
    };
    env.admin_sql(&format!(
        "CREATE TABLE counter (n int NOT NULL); INSERT INTO counter VALUES (0);
         GRANT SELECT, UPDATE ON counter TO \"{}\"",
        env.role
    ))
    .await;
    let app = env.app(1).await;
    let default = shown_timeout(&app).await;
    assert_ne!(default, "250ms");
    let declared = |tenancy: Tenancy| devices(tenancy).global_table_named("counter");
    let [strict, hot] = env
        .tenancies_with(&app, &["a", "b"], declared)
        .await
        .map(|tenancy| tenancy.statement_timeout_for(a_only)); // hot parks nothing on a pool of one
    for round in 0..40 {
        let tenants = if round % 2 == 0 { &strict } else { &hot };
        let conn_a = tenants.connection(&a()).await.expect("conn a");
        let conn_b = tenants.connection(&b()).await.expect("conn b");
        match round % 4 {
            // A committed write on a's connection.
            0 => {
                conn_a
                    .execute_unprepared("UPDATE counter SET n = n + 1")
                    .await
                    .expect("write");
            }
            // A transaction of a's, committed.
            1 => {
                let txn = conn_a.begin().await.expect("begin");
                assert_eq!(shown_timeout(&txn).await, "250ms", "round {round}");
                txn.execute_unprepared("UPDATE counter SET n = n + 1")
                    .await
                    .expect("write in txn");
                txn.commit().await.expect("commit");
            }
            // A failing statement.
            2 => {
                let err = conn_a.execute_unprepared("SELECT 1/0").await.unwrap_err();
                assert_eq!(sqlstate(&err).as_deref(), Some("22012"));
            }
            // A statement cancelled by a's timeout.
            _ => {
                let err = conn_a
                    .execute_unprepared("SELECT pg_sleep(5)")
                    .await
                    .unwrap_err();
                assert_eq!(sqlstate(&err).as_deref(), Some("57014"), "{err}");
            }
        }
        assert_eq!(shown_timeout(&conn_a).await, "250ms", "round {round}");
        assert_eq!(shown_timeout(&conn_b).await, default, "b, round {round}");
        let txn_b = conn_b.begin().await.expect("begin b");
        assert_eq!(shown_timeout(&txn_b).await, default, "b txn, round {round}");
        txn_b.commit().await.expect("commit b");
        assert_eq!(shown_timeout(&app).await, default, "plain, round {round}");
    }
    drop((strict, hot, app));
    env.cleanup().await;
}

/// A slow `pg_sleep` under a small timeout fails with Postgres' cancel
/// error (57014) while the other tenant's same statement succeeds, on
/// every path: strict, hot tenants (parked transactions), `begin()`.
#[tokio::test]
async fn a_slow_statement_is_cancelled_for_one_tenant_and_not_another() {
    let Some(env) =
        PgEnv::new("a_slow_statement_is_cancelled_for_one_tenant_and_not_another").await
    else {
        return;
    };
    let app = env.app(4).await;
    let slow = "SELECT pg_sleep(1.5)";
    let small = |t: &TenantId| (t.as_str() == "a").then_some(Duration::from_millis(100));
    let [strict, hot] = env
        .tenancies_with(&app, &["a", "b"], devices)
        .await
        .map(|tenancy| tenancy.statement_timeout_for(small));
    for tenants in [&strict, &hot] {
        let conn_a = tenants.connection(&a()).await.expect("conn a");
        let conn_b = tenants.connection(&b()).await.expect("conn b");
        // Warm the hot path: a's reads now run on parked transactions.
        for _ in 0..5 {
            assert_eq!(shown_timeout(&conn_a).await, "100ms");
            assert_eq!(shown_timeout(&conn_b).await, "0");
        }
        for op in ["query", "execute"] {
            let (slow_a, slow_b) = if op == "query" {
                (
                    conn_a.query_one_raw(pg(slow)).await.map(drop),
                    conn_b.query_one_raw(pg(slow)).await.map(drop),
                )
            } else {
                (
                    conn_a.execute_unprepared(slow).await.map(drop),
                    conn_b.execute_unprepared(slow).await.map(drop),
                )
            };
            let err = slow_a.expect_err("a's slow statement is cancelled");
            assert_eq!(sqlstate(&err).as_deref(), Some("57014"), "{op}: {err}");
            assert!(err.to_string().contains("statement timeout"), "{err}");
            slow_b.unwrap_or_else(|e| panic!("b's {op} succeeds: {e}"));
        }
        // Inside a transaction opened with begin().
        let txn_a = conn_a.begin().await.expect("begin a");
        let err = txn_a.execute_unprepared(slow).await.unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("57014"), "{err}");
        txn_a.rollback().await.expect("rollback a");
        let txn_b = conn_b.begin().await.expect("begin b");
        txn_b.execute_unprepared(slow).await.expect("b in txn");
        txn_b.commit().await.expect("commit b");
        // A connection's own timeout wins over the tenancy's.
        let own = tenants
            .connection(&b())
            .await
            .expect("conn")
            .statement_timeout(Duration::from_millis(1500));
        assert_eq!(shown_timeout(&own).await, "1500ms");
        assert_eq!(shown_timeout(&conn_b).await, "0");
    }
    hot.release_parked();
    drop((strict, hot, app));
    env.cleanup().await;
}

/// SQLite and MySQL/MariaDB have no transaction-local statement timeout:
/// the setting is ignored there (no session state is set), and statements
/// run as before.
#[tokio::test]
async fn statement_timeout_is_ignored_off_postgres() {
    each_backend_of(&[Kind::Sqlite, Kind::MySql], async |t: &TestDb| {
        let tenants = provisioned(
            Tenancy::shared_schema(t.db.clone()).statement_timeout(Duration::from_millis(1)),
        )
        .await;
        let conn = tenants
            .connection(&a())
            .await
            .expect("conn")
            .statement_timeout(Duration::from_millis(1));
        let one = Statement::from_string(t.backend(), "SELECT 1");
        conn.query_one_raw(one.clone()).await.expect("select");
        let txn = conn.begin().await.expect("begin");
        txn.query_one_raw(one).await.expect("select in txn");
        txn.commit().await.expect("commit");
    })
    .await;
}

/// `tenancy` with tenants a and b provisioned.
async fn provisioned(tenancy: Tenancy) -> Tenancy {
    for tenant in [a(), b()] {
        tenancy.provision(&tenant).await.expect("provision");
    }
    tenancy
}

async fn capped(db: &DatabaseConnection, max: usize, wait: Duration) -> Tenancy {
    provisioned(
        Tenancy::shared_schema(db.clone())
            .max_concurrent_per_tenant(max)
            .concurrency_wait(wait),
    )
    .await
}

/// With a cap of 2, a third concurrent transaction of tenant a is refused
/// with `TenantError::Busy` after the wait, as is a statement, while
/// tenant b proceeds; ending a transaction gives its permit back.
#[tokio::test]
async fn a_tenant_at_its_cap_is_busy_while_another_proceeds() {
    each_backend(async |t: &TestDb| {
        let tenants = capped(&t.db, 2, Duration::from_millis(100)).await;
        let conn_a = tenants.connection(&a()).await.expect("conn a");
        let conn_b = tenants.connection(&b()).await.expect("conn b");
        let one = Statement::from_string(t.backend(), "SELECT 1");

        let first = conn_a.begin().await.expect("first");
        let second = conn_a.begin().await.expect("second");
        let third = within(10, "refusal", conn_a.begin()).await.unwrap_err();
        assert!(TenantError::is_busy(&third), "{t}: {third}");
        assert_eq!(
            third.to_string(),
            "Error converting `TenantError` into `DbErr`: tenant: busy: tenant `a` already has 2 database operations in flight (its cap)"
        );
        let stmt = conn_a.query_one_raw(one.clone()).await.unwrap_err();
        assert!(TenantError::is_busy(&stmt), "{t}: {stmt}");

        // b is not affected, and a's open transactions still work.
        let b_txn = conn_b.begin().await.expect("b begins");
        conn_b.query_one_raw(one.clone()).await.expect("b queries");
        b_txn.commit().await.expect("b commits");
        first.query_one_raw(one.clone()).await.expect("in txn");
        // Savepoints share their transaction's permit.
        let nested = second.begin().await.expect("savepoint");
        nested.rollback().await.expect("savepoint rollback");

        first.commit().await.expect("commit");
        conn_a.query_one_raw(one.clone()).await.expect("a permit is back");
        drop(second); // rolled back by drop: its permit comes back too
        let x = conn_a.begin().await.expect("x");
        let y = conn_a.begin().await.expect("y");
        x.rollback().await.expect("rollback");
        y.commit().await.expect("commit");
    })
    .await;
}

/// An operation over the cap waits for a permit of its own tenant and runs
/// as soon as one is returned.
#[tokio::test]
async fn a_waiting_statement_runs_once_a_permit_is_returned() {
    each_backend(async |t: &TestDb| {
        let tenants = capped(&t.db, 1, Duration::from_secs(60)).await;
        let conn_a = tenants.connection(&a()).await.expect("conn a");
        let one = Statement::from_string(t.backend(), "SELECT 1");
        let txn = conn_a.begin().await.expect("begin");
        let waiter = tokio::spawn({
            let (conn, one) = (conn_a.clone(), one.clone());
            async move { conn.query_one_raw(one).await.map(drop) }
        });
        // The waiter cannot finish while the transaction holds the permit.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "{t}: ran past the cap");
        txn.commit().await.expect("commit");
        within(30, "the waiting statement", waiter)
            .await
            .expect("task")
            .expect("runs once the permit is back");
    })
    .await;
}

/// Permits come back after failed statements, Busy refusals, cancelled
/// futures, streams (finished or dropped) and transaction closures.
#[tokio::test]
async fn permits_come_back_after_errors_cancellations_and_streams() {
    each_backend(async |t: &TestDb| {
        let tenants = provisioned(
            devices(Tenancy::shared_schema(t.db.clone()))
                .max_concurrent_per_tenant(2)
                .concurrency_wait(Duration::ZERO),
        )
        .await;
        let conn = tenants.connection(&a()).await.expect("conn");
        let backend = t.backend();
        let bad = Statement::from_string(backend, "SELECT * FROM no_such_table");
        for _ in 0..20 {
            assert!(conn.query_all_raw(bad.clone()).await.is_err());
            assert!(conn.execute_unprepared("NOT SQL").await.is_err());
        }
        // Statements cancelled mid-flight (their futures dropped; on
        // Postgres, where the tenant connection closes such a connection
        // itself): each keeps its permit until the server has finished it,
        // then the permit is back.
        if t.kind == Kind::Postgres {
            // Two connections open and kept first, so that each slow
            // statement is on the server before its future is dropped.
            let one = Statement::from_string(backend, "SELECT 1");
            let (x, y) = tokio::join!(conn.query_one_raw(one.clone()), conn.query_one_raw(one));
            x.and(y).expect("warm");
            for _ in 0..2 {
                let cancelled = tokio::time::timeout(
                    Duration::from_millis(150),
                    conn.query_one_raw(Statement::from_string(backend, "SELECT pg_sleep(0.5)")),
                )
                .await;
                assert!(
                    cancelled.is_err(),
                    "{t}: the slow statement finished: {cancelled:?}"
                );
            }
            let busy = conn.begin().await.unwrap_err();
            assert!(TenantError::is_busy(&busy), "{t}: the server still sleeps");
            both_permits_back(&conn, "the cancelled statements' permits").await;
        }
        // Streams hold a permit until finished or dropped (1000 rows: more
        // than a Postgres stream buffers ahead of its reader). Ten digits
        // cross-joined thrice, not a recursive CTE, which the wall refuses
        // on SQLite (nothing bounds it inside the process).
        let rows = Statement::from_string(
            backend,
            "WITH d(x) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
             UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
             UNION ALL SELECT 8 UNION ALL SELECT 9) \
             SELECT a.x * 100 + b.x * 10 + c.x AS x FROM d a, d b, d c",
        );
        {
            let stream = conn.stream_raw(rows.clone()).await.expect("stream");
            let _held = conn.begin().await.expect("second permit");
            let busy = conn.begin().await.unwrap_err();
            assert!(TenantError::is_busy(&busy), "{t}: the stream holds one");
            drop(stream);
        }
        let mut stream = conn.stream_raw(rows).await.expect("stream");
        while let Some(row) = stream.next().await {
            row.expect("row");
        }
        drop(stream);
        // A transaction closure that fails.
        let failed = conn
            .transaction::<_, (), DbErr>(|txn| {
                Box::pin(async move {
                    txn.execute_unprepared("NOT SQL").await?;
                    Ok(())
                })
            })
            .await;
        assert!(failed.is_err());
        // Every permit is back (the dropped stream's once the rest of its
        // rows were read): two at once, with no waiting allowed.
        both_permits_back(&conn, "every permit").await;
    })
    .await;
}

/// Waits until both of the tenant's two permits can be taken at once.
async fn both_permits_back(conn: &TenantConnection, what: &str) {
    within(10, what, async {
        loop {
            let x = conn.begin().await;
            let y = conn.begin().await;
            if x.is_ok() && y.is_ok() {
                break;
            }
            drop((x, y));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// The hook sees every statement with its tenant and a non-zero time, for
/// statements, streams and the parts of a transaction.
#[tokio::test]
async fn the_database_time_hook_sees_each_tenant() {
    each_backend(async |t: &TestDb| {
        let seen: Arc<Mutex<Vec<(String, Duration)>>> = Arc::default();
        let sink = seen.clone();
        // `no_such_table` is declared global so that the wall lets it
        // through and the database fails it (an undeclared table is
        // refused before anything is sent, and takes no database time).
        let declared =
            devices(Tenancy::shared_schema(t.db.clone())).global_table_named("no_such_table");
        let tenants = provisioned(declared.on_database_time(move |tenant, elapsed| {
            sink.lock()
                .expect("lock")
                .push((tenant.to_string(), elapsed));
        }))
        .await;
        let taken = || std::mem::take(&mut *seen.lock().expect("lock"));
        let backend = t.backend();
        let one = Statement::from_string(backend, "SELECT 1");
        let conn_a = tenants.connection(&a()).await.expect("conn a");
        let conn_b = tenants.connection(&b()).await.expect("conn b");

        conn_a.query_one_raw(one.clone()).await.expect("a");
        conn_b.query_all_raw(one.clone()).await.expect("b");
        conn_b.execute_unprepared("SELECT 1").await.expect("b");
        let calls = taken();
        let who: Vec<&str> = calls.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(who, ["a", "b", "b"], "{t}");
        assert!(calls.iter().all(|(_, d)| !d.is_zero()), "{t}: {calls:?}");

        // A statement the database fails is database time too.
        assert!(
            conn_a
                .execute_unprepared("SELECT * FROM no_such_table")
                .await
                .is_err()
        );
        assert_eq!(taken().len(), 1, "{t}");

        // begin, two statements, commit.
        let txn = conn_a.begin().await.expect("begin");
        txn.query_one_raw(one.clone()).await.expect("q");
        txn.execute_unprepared("SELECT 1").await.expect("e");
        txn.commit().await.expect("commit");
        let calls = taken();
        assert_eq!(calls.len(), 4, "{t}: {calls:?}");
        assert!(calls.iter().all(|(t, _)| t == "a"));

        // A stream counts once, when it ends.
        let mut stream = conn_b.stream_raw(one.clone()).await.expect("stream");
        while let Some(row) = stream.next().await {
            row.expect("row");
        }
        drop(stream);
        let calls = within(10, "the stream's report", async {
            loop {
                let calls = taken();
                if !calls.is_empty() {
                    return calls;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert_eq!(calls.len(), 1, "{t}");
        assert_eq!(calls[0].0, "b");

        // The time is the statement's: a sleep of 50 ms takes about that
        // (MySQL's SLEEP can end a hair early by the client's clock).
        let sleep = match t.kind {
            Kind::Postgres => Some("SELECT pg_sleep(0.05)"),
            Kind::MySql => Some("SELECT SLEEP(0.05)"),
            Kind::Sqlite => None,
        };
        if let Some(sleep) = sleep {
            conn_a
                .query_one_raw(Statement::from_string(backend, sleep))
                .await
                .expect("sleep");
            let calls = taken();
            assert_eq!(calls.len(), 1, "{t}");
            assert!(calls[0].1 >= Duration::from_millis(45), "{t}: {calls:?}");
        }
    })
    .await;
}

/// The axum `TenantDb` extractor hands out the tenancy's connections, so the
/// cap and the hook apply to a request's database work.
#[cfg(feature = "axum")]
#[tokio::test]
async fn tenant_db_connections_carry_the_tenancy_limits() {
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use sea_orm_tenant::http::{TenantDb, TenantLayer, TenantResolver};
    use tower::ServiceExt;

    let db = sea_orm::Database::connect("sqlite::memory:")
        .await
        .expect("sqlite");
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = seen.clone();
    let tenancy = Tenancy::shared_schema(db)
        .max_concurrent_per_tenant(1)
        .concurrency_wait(Duration::ZERO)
        .on_database_time(move |t, _| sink.lock().expect("lock").push(t.to_string()));
    tenancy
        .provision(&TenantId::from("acme"))
        .await
        .expect("provision");
    let app = axum::Router::new()
        .route(
            "/",
            get(|TenantDb(conn): TenantDb| async move {
                let txn = conn.begin().await.expect("first transaction");
                let second = conn.begin().await;
                txn.rollback().await.expect("rollback");
                match second {
                    Err(err) if TenantError::is_busy(&err) => "busy",
                    _ => "not capped",
                }
            }),
        )
        .layer(TenantLayer::new(
            TenantResolver::new().header("x-tenant-id"),
        ))
        .with_state(tenancy);
    let response = app
        .oneshot(
            Request::builder()
                .uri("/")
                .header("x-tenant-id", "acme")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .expect("body");
    assert_eq!(&body[..], b"busy");
    // The transaction's begin and its rollback, both acme's.
    assert_eq!(*seen.lock().expect("lock"), ["acme", "acme"]);
}

/// A tenant cannot lift its own `statement_timeout` (issue 13): every way
/// of changing a limit from its own SQL is refused before anything is
/// sent, in a statement of its own and inside `begin()`, and afterwards the
/// timeout still holds in the same transaction.
#[tokio::test]
async fn a_tenant_cannot_lift_its_own_statement_timeout() {
    let Some(env) = PgEnv::new("a_tenant_cannot_lift_its_own_statement_timeout").await else {
        return;
    };
    let app = env.app(2).await;
    let limit = |_: &TenantId| Some(Duration::from_millis(300));
    let [strict, hot] = env
        .tenancies_with(&app, &["a", "b"], devices)
        .await
        .map(|tenancy| tenancy.statement_timeout_for(limit));
    // The three reported ways, then other spellings of the same change.
    let lifts = [
        "SET LOCAL statement_timeout = 0; SELECT pg_sleep(1)",
        "SET LOCAL statement_timeout = 0",
        "SELECT set_config('statement_timeout', '0', true)",
        "set local STATEMENT_TIMEOUT to default",
        "SET LOCAL \"statement_timeout\" = 0",
        "SET statement_timeout = 0",
        "SET SESSION statement_timeout TO 0",
        "RESET statement_timeout",
        "SELECT pg_catalog.set_config('statement_timeout', '0', true)",
        "SELECT 1 FROM set_config('statement_timeout', '0', true)",
        "SELECT pg_sleep(1) WHERE set_config('statement_timeout', '0', true) IS NOT NULL",
        "/* hi */ SET LOCAL statement_timeout = 0",
        "SET LOCAL lock_timeout = 0",
        "SET LOCAL idle_in_transaction_session_timeout = 0",
        "ALTER ROLE CURRENT_USER SET statement_timeout = 0",
        "DO $$ BEGIN PERFORM set_config('statement_timeout', '0', true); END $$",
    ];
    for tenants in [&strict, &hot] {
        let conn = tenants.connection(&a()).await.expect("conn");
        for sql in lifts {
            let err = conn.execute_unprepared(sql).await.expect_err(sql);
            assert!(TenantError::is_tenant_error(&err), "{sql}: {err}");
            let err = conn.query_all_raw(pg(sql)).await.expect_err(sql);
            assert!(TenantError::is_tenant_error(&err), "{sql}: {err}");
            let txn = conn.begin().await.expect("begin");
            let err = txn.execute_unprepared(sql).await.expect_err(sql);
            assert!(TenantError::is_tenant_error(&err), "in txn: {sql}: {err}");
            let err = txn.query_all_raw(pg(sql)).await.expect_err(sql);
            assert!(TenantError::is_tenant_error(&err), "in txn: {sql}: {err}");
            assert_eq!(shown_timeout(&txn).await, "300ms", "after {sql}");
            let err = txn
                .execute_unprepared("SELECT pg_sleep(1)")
                .await
                .unwrap_err();
            assert_eq!(sqlstate(&err).as_deref(), Some("57014"), "after {sql}");
            txn.rollback().await.expect("rollback");
        }
        // A bound name is refused too: the connection cannot see it.
        let bound = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config($1, $2, true)",
            ["statement_timeout".into(), "0".into()],
        );
        let err = conn.query_all_raw(bound).await.unwrap_err();
        assert!(TenantError::is_tenant_error(&err), "{err}");
        assert_eq!(shown_timeout(&conn).await, "300ms");
    }
    hot.release_parked();
    drop((strict, hot, app));
    env.cleanup().await;
}

/// How many of the test database's backends are running `sql` right now.
async fn running(env: &PgEnv, sql: &str) -> i64 {
    env.admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND state = 'active' AND query = $1",
            [sql.into()],
        ))
        .await
        .expect("pg_stat_activity")
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("count")
}

/// A tenant that cancels cannot take the pool (issue 13): with a cap of one
/// on a pool of three, twelve `pg_sleep(20)`s whose futures are dropped
/// 100 ms in (statements, `begin()` transactions and streams) leave at most
/// one of them running on the server; another tenant's statement runs at
/// once; the tenant stays at its cap until the server has stopped its
/// statement, and gets its permit back right after.
#[tokio::test]
async fn cancelled_statements_stay_within_the_tenant_cap() {
    let Some(env) = PgEnv::new("cancelled_statements_stay_within_the_tenant_cap").await else {
        return;
    };
    let app = env.app(3).await;
    let sleep = "SELECT pg_sleep(20)";
    let [strict, hot] = env
        .tenancies_with(&app, &["a", "b"], devices)
        .await
        .map(|tenancy| {
            tenancy
                .max_concurrent_per_tenant(1)
                .concurrency_wait(Duration::from_millis(50))
        });
    for tenants in [&strict, &hot] {
        let conn_a = tenants.connection(&a()).await.expect("conn a");
        let conn_b = tenants.connection(&b()).await.expect("conn b");
        for round in 0..12 {
            let work = async {
                match round % 3 {
                    0 => conn_a.query_one_raw(pg(sleep)).await.map(drop),
                    1 => {
                        let txn = conn_a.begin().await?;
                        txn.query_one_raw(pg(sleep)).await.map(drop)
                    }
                    _ => {
                        let mut rows = conn_a.stream_raw(pg(sleep)).await?;
                        rows.next().await.transpose().map(drop)
                    }
                }
            };
            match tokio::time::timeout(Duration::from_millis(100), work).await {
                Err(_elapsed) => {}
                Ok(Err(err)) if TenantError::is_busy(&err) => {}
                Ok(other) => panic!("round {round}: a's sleep ended: {other:?}"),
            }
            assert!(
                running(&env, sleep).await <= 1,
                "round {round}: over the cap"
            );
        }
        assert_eq!(running(&env, sleep).await, 1, "the first sleep still runs");
        within(2, "b's statement", conn_b.query_one_raw(pg("SELECT 1")))
            .await
            .expect("b proceeds");
        let busy = conn_a.query_one_raw(pg("SELECT 1")).await.unwrap_err();
        assert!(TenantError::is_busy(&busy), "a is at its cap: {busy}");
        // Once the server has stopped a's statement, a's permit is back.
        env.admin_sql(&format!(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query = '{sleep}'"
        ))
        .await;
        within(5, "a's permit", async {
            while conn_a.query_one_raw(pg("SELECT 1")).await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert_eq!(running(&env, sleep).await, 0);
    }
    hot.release_parked();
    drop((strict, hot, app));
    env.cleanup().await;
}

/// [`cancelled_statements_stay_within_the_tenant_cap`] on MySQL/MariaDB,
/// where SeaORM runs the statement: under a cap it runs on a task that
/// holds the permit until the server has finished it.
#[tokio::test]
async fn cancelled_statements_stay_within_the_tenant_cap_on_mysql() {
    each_backend_of(&[Kind::MySql], async |t: &TestDb| {
        let db = t.pool_of(3).await;
        let tenants = provisioned(
            devices(Tenancy::shared_schema(db.clone()))
                .max_concurrent_per_tenant(1)
                .concurrency_wait(Duration::from_millis(50)),
        )
        .await;
        let sleep = "SELECT SLEEP(20)";
        let my = |sql: &str| Statement::from_string(DbBackend::MySql, sql);
        let running = async || {
            t.db.query_one_raw(Statement::from_sql_and_values(
                DbBackend::MySql,
                "SELECT COUNT(*) FROM information_schema.processlist \
                 WHERE db = DATABASE() AND info = ?",
                [sleep.into()],
            ))
            .await
            .expect("processlist")
            .expect("a row")
            .try_get_by_index::<i64>(0)
            .expect("count")
        };
        let conn_a = tenants.connection(&a()).await.expect("conn a");
        let conn_b = tenants.connection(&b()).await.expect("conn b");
        for round in 0..12 {
            let work = async {
                match round % 3 {
                    0 => conn_a.query_one_raw(my(sleep)).await.map(drop),
                    1 => conn_a.execute_unprepared(sleep).await.map(drop),
                    _ => {
                        let mut rows = conn_a.stream_raw(my(sleep)).await?;
                        rows.next().await.transpose().map(drop)
                    }
                }
            };
            match tokio::time::timeout(Duration::from_millis(100), work).await {
                Err(_elapsed) => {}
                Ok(Err(err)) if TenantError::is_busy(&err) => {}
                Ok(other) => panic!("round {round}: a's sleep ended: {other:?}"),
            }
            assert!(running().await <= 1, "round {round}: over the cap");
        }
        assert_eq!(running().await, 1, "the first sleep still runs");
        within(2, "b's statement", conn_b.query_one_raw(my("SELECT 1")))
            .await
            .expect("b proceeds");
        let busy = conn_a.query_one_raw(my("SELECT 1")).await.unwrap_err();
        assert!(TenantError::is_busy(&busy), "a is at its cap: {busy}");
        let ids =
            t.db.query_all_raw(Statement::from_sql_and_values(
                DbBackend::MySql,
                "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND info = ?",
                [sleep.into()],
            ))
            .await
            .expect("processlist");
        for row in ids {
            let id: i64 = row.try_get_by_index(0).expect("id");
            t.db.execute_unprepared(&format!("KILL QUERY {id}"))
                .await
                .expect("kill");
        }
        within(5, "a's permit", async {
            while conn_a.query_one_raw(my("SELECT 1")).await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        db.close().await.ok();
    })
    .await;
}
