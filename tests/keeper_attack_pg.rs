//! Attacks on the tenant-keeping connections (rule 6): every way found to
//! make a statement of a `TenantConnection` run while its session holds
//! another tenant's `app.tenant_id` (or `search_path`), to leave a tenant
//! setting on the application's own pool, or to make the process hang.
//! Each test asserts the safe behaviour: a failure is a hole (the ones
//! found are marked `// Was a hole:` with how it was closed; one gap is
//! left open and its test ignored, with the reason).
//!
//! As in `keeper_pg.rs`, the tenant a statement runs under is read through
//! `whoami`, a global table whose RLS policy shows each tenant its own row
//! only, so no function the test declares is involved (a declared function
//! makes the keeper set the session again, which would hide a stale one).

mod keeper_support;
mod pg_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use keeper_support::*;
use pg_support::PgEnv;
use sea_orm::{ConnectionTrait, DbErr, StreamTrait, TransactionTrait};
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::prelude::*;

/// A `begin()` whose statement fails, then is committed or rolled back
/// (and one whose savepoint fails and is rolled back to), on a pool of one
/// shared by two tenants: every statement after it runs under its tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_transactions_then_commit_or_rollback_keep_each_tenant() {
    let Some((env, app, tenancy)) = keeping("attack_failed_txn", &["a", "b"], 1, 1).await else {
        return;
    };
    let (a, b) = (conn(&tenancy, "a").await, conn(&tenancy, "b").await);
    for round in 0..8 {
        for (me, other, mine, theirs) in [(&a, &b, "a", "b"), (&b, &a, "b", "a")] {
            let txn = me.begin().await.expect("begin");
            assert_eq!(whoami(&txn).await, mine, "round {round}");
            assert!(txn.execute_unprepared("SELECT 1/0").await.is_err());
            // The transaction is aborted: statements fail, in step.
            assert!(try_whoami(&txn).await.is_err());
            if round % 2 == 0 {
                txn.commit()
                    .await
                    .expect("commit of an aborted transaction");
            } else {
                txn.rollback().await.expect("rollback");
            }
            assert_eq!(whoami(me).await, mine, "round {round}, after the end");
            assert_eq!(whoami(other).await, theirs, "round {round}, the other");
            // A savepoint that fails, rolled back to; the transaction goes on.
            let txn = me.begin().await.expect("begin");
            let nested = txn.begin().await.expect("savepoint");
            assert!(nested.execute_unprepared("SELECT 1/0").await.is_err());
            nested.rollback().await.expect("rollback to savepoint");
            assert_eq!(whoami(&txn).await, mine, "after ROLLBACK TO SAVEPOINT");
            txn.commit().await.expect("commit");
            assert_eq!(
                whoami(other).await,
                theirs,
                "round {round}, after savepoint"
            );
            assert_eq!(whoami(me).await, mine);
        }
    }
    assert_eq!(whoami(&app).await, "", "the application's pool");
    tenancy.release_parked();
    drop((a, b, tenancy, app));
    env.cleanup().await;
}

/// Transactions dropped without commit: with a statement in flight, with a
/// savepoint dropped before its parent and after, with a stream of the
/// transaction still running; then each tenant's statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_transactions_and_savepoints_leave_no_tenant_behind() {
    let Some((env, app, tenancy)) = keeping("attack_dropped_txn", &["a", "b"], 1, 1).await else {
        return;
    };
    let (a, b) = (conn(&tenancy, "a").await, conn(&tenancy, "b").await);
    for round in 0..6 {
        // A statement of the transaction cancelled mid-flight, then the
        // transaction dropped.
        let txn = a.begin().await.expect("begin");
        let _ = tokio::time::timeout(Duration::from_millis(5), txn.query_one_raw(stmt(SLOW))).await;
        drop(txn);
        assert_eq!(
            whoami(&b).await,
            "b",
            "round {round}: b after a's dropped txn"
        );
        assert_eq!(whoami(&a).await, "a");
        // A write in a dropped transaction is rolled back.
        let txn = b.begin().await.expect("begin");
        txn.execute_unprepared("INSERT INTO post (tenant_id, title) VALUES ('b', 'dropped')")
            .await
            .expect("insert");
        drop(txn);
        assert_eq!(whoami(&a).await, "a");
        // The parent dropped before its savepoint (out of order), then the
        // savepoint.
        let txn = a.begin().await.expect("begin");
        let nested = txn.begin().await.expect("savepoint");
        let deeper = nested.begin().await.expect("savepoint 2");
        assert_eq!(whoami(&deeper).await, "a");
        drop(txn);
        drop(nested);
        assert_eq!(whoami(&deeper).await, "a", "the savepoint still runs as a");
        drop(deeper);
        assert_eq!(
            whoami(&b).await,
            "b",
            "round {round}: after out-of-order drops"
        );
        // A stream of a transaction dropped after one row, then the
        // transaction dropped while the stream's task may still run.
        let txn = b.begin().await.expect("begin");
        let mut rows = txn
            .stream_raw(stmt(
                "SELECT w.tenant FROM whoami AS w, generate_series(1, 20000) AS g",
            ))
            .await
            .expect("stream");
        let first = rows.next().await.expect("a row").expect("row");
        assert_eq!(first.try_get::<String>("", "tenant").expect("t"), "b");
        drop(rows);
        drop(txn);
        assert_eq!(whoami(&a).await, "a", "round {round}: after b's stream");
        assert_eq!(whoami(&b).await, "b");
        // A stream read to its end inside a transaction, then commit.
        let txn = a.begin().await.expect("begin");
        assert_eq!(stream_whoami(&txn).await, "a");
        txn.commit().await.expect("commit");
        assert_eq!(whoami(&b).await, "b");
    }
    let left = env
        .admin
        .query_one_raw(stmt("SELECT count(*) FROM post WHERE title = 'dropped'"))
        .await
        .expect("count")
        .expect("row")
        .try_get_by_index::<i64>(0)
        .expect("n");
    assert_eq!(left, 0, "a dropped transaction's write is rolled back");
    assert_eq!(whoami(&app).await, "");
    tenancy.release_parked();
    drop((a, b, tenancy, app));
    env.cleanup().await;
}

/// Streams outside a transaction: dropped before the first row, after
/// one, read to their end, and failing mid-way, alternating tenants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_dropped_or_failing_keep_each_tenant() {
    let Some((env, app, tenancy)) = keeping("attack_streams", &["a", "b"], 1, 1).await else {
        return;
    };
    let (a, b) = (conn(&tenancy, "a").await, conn(&tenancy, "b").await);
    for round in 0..8 {
        for (me, mine) in [(&a, "a"), (&b, "b")] {
            match round % 4 {
                0 => {
                    let rows = me.stream_raw(stmt(SLOW)).await.expect("stream");
                    drop(rows);
                }
                1 => {
                    let mut rows = me
                        .stream_raw(stmt(
                            "SELECT w.tenant FROM whoami AS w, generate_series(1, 20000) AS g",
                        ))
                        .await
                        .expect("stream");
                    let row = rows.next().await.expect("a row").expect("row");
                    assert_eq!(row.try_get::<String>("", "tenant").expect("t"), mine);
                }
                2 => assert_eq!(stream_whoami(me).await, mine),
                _ => {
                    // Fails after some rows (division by zero at g = 0).
                    let rows: Result<Vec<_>, _> = me
                        .stream_raw(stmt(
                            "SELECT 1 / (100 - g) FROM generate_series(1, 200) AS g",
                        ))
                        .await
                        .expect("stream")
                        .try_collect()
                        .await;
                    assert!(rows.is_err());
                }
            }
            assert_eq!(whoami(&a).await, "a", "round {round}");
            assert_eq!(whoami(&b).await, "b", "round {round}");
        }
    }
    assert_eq!(whoami(&app).await, "");
    tenancy.release_parked();
    drop((a, b, tenancy, app));
    env.cleanup().await;
}

/// A statement cancelled by a cancel the server left pending (SQLSTATE
/// 57014 without its statement timeout).
fn stray_cancel(err: &DbErr) -> bool {
    err.to_string()
        .contains("canceling statement due to user request")
}

/// A tenant with a 1 ms statement timeout and one without share the
/// keeper's one connection: the one without never inherits the timeout,
/// not even for the statement that sets its session (which runs under
/// the previous tenant's timeout), and the one with it always has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_timeout_never_reaches_another_tenant() {
    let Some(env) = PgEnv::new("attack_timeouts").await else {
        return;
    };
    setup(&env, &["quick", "free"]).await;
    let app = env.app(1).await;
    let tenancy = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone()))
                .hot_tenants(hot(1))
                .statement_timeout_for(|t: &TenantId| {
                    (t.as_str() == "quick").then_some(Duration::from_millis(1))
                }),
            &["quick", "free"],
        )
        .await;
    let (quick, free) = (conn(&tenancy, "quick").await, conn(&tenancy, "free").await);
    let mut free_failures = Vec::new();
    let mut stray = 0;
    for round in 0..150 {
        // `quick` may time out itself; it must never leave its timeout.
        let _ = try_whoami(&quick).await;
        match try_whoami(&free).await {
            Ok(who) => assert_eq!(who, "free", "round {round}"),
            Err(e) if stray_cancel(&e) => stray += 1,
            Err(e) => free_failures.push(format!("round {round}: {e}")),
        }
        if round % 30 == 0 {
            assert!(
                quick.query_one_raw(stmt(SLOW)).await.is_err(),
                "quick's slow statement is cancelled"
            );
            let mut slow = free.query_one_raw(stmt(SLOW)).await;
            if slow.as_ref().is_err_and(stray_cancel) {
                stray += 1;
                slow = free.query_one_raw(stmt(SLOW)).await;
            }
            slow.expect("free's slow statement runs to its end");
        }
    }
    // A robustness hole, not a leak, and Postgres' own race: `quick`'s 1 ms
    // timer can fire as its statement ends, and the cancel it leaves
    // pending then stops the next statement on the connection, `free`'s
    // switch or read, as "canceling statement due to user request"
    // (ProcessInterrupts no longer sees the timeout indicator). Seen once
    // in several CI runs; counted, not failed. Any other failure fails.
    println!("stray cancels from quick's timeout: {stray} of 150 rounds");
    assert!(
        free_failures.is_empty(),
        "a tenant without a timeout failed under another's: {free_failures:?}"
    );
    assert_eq!(whoami(&app).await, "");
    tenancy.release_parked();
    drop((quick, free, tenancy, app));
    env.cleanup().await;
}

/// Tenant ids that are not plain (quotes, spaces, unicode, `$1`, a
/// backslash, something that looks like SQL): each is a bound value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_tenant_ids_are_set_exactly() {
    let Some(env) = PgEnv::new("attack_odd_ids").await else {
        return;
    };
    let ids = [
        "a'b",
        "a b",
        "ü-x",
        "$1",
        "a\\b",
        "x', false) --",
        "a,b",
        "\"q\"",
    ];
    setup(&env, &ids).await;
    let app = env.app(1).await;
    let tenancy = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone())).hot_tenants(hot(1)),
            &ids,
        )
        .await;
    for round in 0..3 {
        for id in ids {
            let c = conn(&tenancy, id).await;
            assert_eq!(whoami(&c).await, id, "round {round}");
            let txn = c.begin().await.expect("begin");
            assert_eq!(whoami(&txn).await, id, "round {round}, in begin()");
            txn.commit().await.expect("commit");
            assert_eq!(stream_whoami(&c).await, id);
        }
    }
    assert_eq!(whoami(&app).await, "");
    tenancy.release_parked();
    drop((tenancy, app));
    env.cleanup().await;
}

/// Three tenancies over one pool: two share its keeper (one with a
/// timeout for `a`), one keeps nothing; plus strict `TenantConnection::new`
/// on the pool itself. The same tenant under two sessions (with and
/// without a timeout) never takes the other's connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenancies_sharing_a_keeper_and_strict_connections_mix_safely() {
    let Some(env) = PgEnv::new("attack_shared_keeper").await else {
        return;
    };
    setup(&env, &["a", "b"]).await;
    let app = env.app(2).await;
    let first = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone())).hot_tenants(hot(1)),
            &["a", "b"],
        )
        .await;
    let timed =
        declared(Tenancy::shared_schema(app.clone())).statement_timeout_for(|t: &TenantId| {
            (t.as_str() == "a").then_some(Duration::from_millis(30))
        });
    let off = declared(Tenancy::shared_schema(app.clone())).hot_tenants(HotTenants::off());
    for round in 0..25 {
        for t in ["a", "b"] {
            assert_eq!(whoami(&conn(&first, t).await).await, t, "round {round}");
            let c = conn(&timed, t).await;
            assert_eq!(whoami(&c).await, t, "round {round}, timed");
            if round % 5 == 0 {
                let slow = c.query_one_raw(stmt(SLOW)).await;
                assert_eq!(slow.is_err(), t == "a", "round {round}: {t}'s timeout");
                let slow = conn(&first, t).await.query_one_raw(stmt(SLOW)).await;
                assert!(
                    slow.is_ok(),
                    "round {round}: {t} without a timeout: {slow:?}"
                );
            }
            assert_eq!(whoami(&conn(&off, t).await).await, t, "round {round}, off");
            let strict = TenantConnection::new(app.clone(), TenantId::from(t))
                .tenant_table::<post::Entity>()
                .global_table_named("whoami");
            assert_eq!(whoami(&strict).await, t, "round {round}, strict");
            let txn = c.begin().await.expect("begin");
            assert_eq!(whoami(&txn).await, t);
            txn.rollback().await.expect("rollback");
        }
        assert_eq!(
            whoami(&app).await,
            "",
            "round {round}: the application's pool"
        );
    }
    first.release_parked();
    timed.release_parked();
    drop((first, timed, off, app));
    env.cleanup().await;
}

/// `release_parked` in a loop while four tasks alternate tenants on a pool
/// of two: every statement runs under its own tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_parked_racing_statements() {
    let Some(env) = PgEnv::new("attack_release_race").await else {
        return;
    };
    let tenants = ["a", "b", "c"];
    setup(&env, &tenants).await;
    let app = app_pool(&env, 2).await;
    let tenancy = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone())).hot_tenants(hot(1)),
            &tenants,
        )
        .await;
    let stop = Arc::new(AtomicUsize::new(0));
    let releaser = {
        let (tenancy, stop) = (tenancy.clone(), stop.clone());
        tokio::spawn(async move {
            while stop.load(Ordering::SeqCst) == 0 {
                tenancy.release_parked();
                tokio::time::sleep(Duration::from_micros(300)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for task in 0..4usize {
        let tenancy = tenancy.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..60usize {
                let t = tenants[(i + task) % tenants.len()];
                let c = conn(&tenancy, t).await;
                match i % 3 {
                    0 => assert_eq!(whoami(&c).await, t, "task {task}, {i}"),
                    1 => assert_eq!(stream_whoami(&c).await, t, "task {task}, {i}, stream"),
                    _ => {
                        let txn = c.begin().await.expect("begin");
                        assert_eq!(whoami(&txn).await, t, "task {task}, {i}, txn");
                        txn.commit().await.expect("commit");
                    }
                }
            }
        }));
    }
    let all = async {
        for task in tasks {
            task.await.expect("task");
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all)
        .await
        .expect("no hang");
    stop.store(1, Ordering::SeqCst);
    releaser.await.expect("releaser");
    assert_eq!(whoami(&app).await, "");
    tenancy.release_parked();
    drop((tenancy, app));
    env.cleanup().await;
}

/// Many tasks on a pool of two, each statement, stream or transaction
/// cancelled after a tiny random timeout: whatever completes runs under
/// its own tenant, and nothing hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_storm_on_a_pool_of_two() {
    let Some(env) = PgEnv::new("attack_cancel_storm").await else {
        return;
    };
    let tenants = ["a", "b", "c"];
    setup(&env, &tenants).await;
    let app = app_pool(&env, 2).await;
    let tenancy = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone()))
                .hot_tenants(hot(2))
                .statement_timeout_for(|t: &TenantId| {
                    (t.as_str() == "c").then_some(Duration::from_millis(200))
                }),
            &tenants,
        )
        .await;
    let mut tasks = Vec::new();
    for task in 0..6usize {
        let (tenancy, app) = (tenancy.clone(), app.clone());
        tasks.push(tokio::spawn(async move {
            let mut seed = 0x9e37_79b9_u64.wrapping_mul(task as u64 + 1);
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            for i in 0..50usize {
                let t = tenants[(next() % 3) as usize];
                let c = conn(&tenancy, t).await;
                let limit = Duration::from_micros(next() % 3000);
                let kind = next() % 5;
                let work = async {
                    match kind {
                        0 => assert_eq!(whoami(&c).await, t),
                        1 => assert_eq!(stream_whoami(&c).await, t),
                        2 => {
                            let txn = c.begin().await.expect("begin");
                            assert_eq!(whoami(&txn).await, t);
                            let _ = txn.query_one_raw(stmt(SLOW)).await;
                            txn.commit().await.expect("commit");
                        }
                        3 => {
                            let strict = TenantConnection::new(app.clone(), TenantId::from(t))
                                .tenant_table::<post::Entity>()
                                .global_table_named("whoami");
                            assert_eq!(whoami(&strict).await, t);
                        }
                        _ => {
                            let _ = c.query_one_raw(stmt(SLOW)).await;
                        }
                    }
                };
                let _ = tokio::time::timeout(limit, work).await;
                // Uncancelled, right after.
                assert_eq!(whoami(&c).await, t, "task {task}, {i}, after kind {kind}");
            }
        }));
    }
    let all = async {
        for task in tasks {
            task.await.expect("task");
        }
    };
    tokio::time::timeout(Duration::from_secs(40), all)
        .await
        .expect("no hang");
    assert_eq!(whoami(&app).await, "");
    for t in tenants {
        assert_eq!(whoami(&conn(&tenancy, t).await).await, t);
    }
    tenancy.release_parked();
    drop((tenancy, app));
    env.cleanup().await;
}

/// The keeper's connection terminated mid-statement: the statement fails
/// (or is retried, a read), and the next statements of both tenants run
/// under their own tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_terminated_mid_statement() {
    let Some((env, app, tenancy)) = keeping("attack_kill_mid", &["a", "b"], 1, 1).await else {
        return;
    };
    let (a, b) = (conn(&tenancy, "a").await, conn(&tenancy, "b").await);
    for round in 0..4 {
        assert_eq!(whoami(&a).await, "a");
        let slow = {
            let a = a.clone();
            tokio::spawn(async move { a.query_one_raw(stmt(SLOW)).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        kill_app_sessions(&env).await;
        let _ = slow.await.expect("task");
        assert_eq!(whoami(&b).await, "b", "round {round}");
        assert_eq!(whoami(&a).await, "a", "round {round}");
        // Inside a transaction.
        let txn = b.begin().await.expect("begin");
        let slow = txn.query_one_raw(stmt(SLOW));
        let killer = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            kill_app_sessions(&env).await;
        };
        let (slow, ()) = tokio::join!(slow, killer);
        assert!(slow.is_err());
        assert!(
            txn.commit().await.is_err(),
            "a dead transaction cannot commit"
        );
        assert_eq!(whoami(&a).await, "a", "round {round}, after b's dead txn");
        assert_eq!(whoami(&b).await, "b", "round {round}");
    }
    assert_eq!(whoami(&app).await, "");
    tenancy.release_parked();
    drop((a, b, tenancy, app));
    env.cleanup().await;
}

/// A kept connection terminated while idle, then used by every path: the
/// same tenant's statement (retried), another tenant's statement (which
/// takes the dead kept connection when the pool is full), a `begin()` and
/// a stream of the tenant it was kept for. `Keeper::checkout` says a
/// connection that turns out dead when set is replaced: none of these
/// should fail, and none may run under the wrong tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_connection_terminated_while_idle_is_replaced_on_every_path() {
    let Some((env, app, tenancy)) = keeping("attack_kill_idle", &["a", "b"], 1, 1).await else {
        return;
    };
    let (a, b) = (conn(&tenancy, "a").await, conn(&tenancy, "b").await);
    let mut failures = Vec::new();
    for path in ["same tenant", "other tenant", "begin", "stream"] {
        assert_eq!(whoami(&a).await, "a");
        assert_eq!(tenancy.parked(), 1, "{path}: a's connection is kept");
        kill_app_sessions(&env).await;
        let result = match path {
            "same tenant" => try_whoami(&a).await.map(|t| (t, "a")),
            "other tenant" => try_whoami(&b).await.map(|t| (t, "b")),
            "begin" => match a.begin().await {
                Ok(txn) => {
                    let t = whoami(&txn).await;
                    txn.commit().await.expect("commit");
                    Ok((t, "a"))
                }
                Err(e) => Err(e),
            },
            _ => match a.stream_raw(stmt("SELECT tenant FROM whoami")).await {
                Ok(rows) => rows
                    .try_collect::<Vec<_>>()
                    .await
                    .map(|rows| (rows[0].try_get::<String>("", "tenant").expect("t"), "a")),
                Err(e) => Err(e),
            },
        };
        match result {
            Ok((seen, expected)) => assert_eq!(seen, expected, "{path}: wrong tenant"),
            Err(e) => failures.push(format!("{path}: {e}")),
        }
        assert_eq!(whoami(&a).await, "a", "{path}: after");
        assert_eq!(whoami(&b).await, "b", "{path}: after");
    }
    // Was a hole (robustness, not a leak): a dead kept connection was
    // handed to another tenant (stolen), a `begin()` or a stream without
    // the retry a statement of its own tenant gets. Kept connections are
    // now handed out unchecked, and each path retries once.
    assert!(
        failures.is_empty(),
        "statements failed on a dead kept connection: {failures:?}"
    );
    assert_eq!(whoami(&app).await, "");
    tenancy.release_parked();
    drop((a, b, tenancy, app));
    env.cleanup().await;
}

/// A statement of ours cancelled while it waits for the keeper's pool
/// must not stop the keeper from keeping connections afterwards (nor
/// make anything wait).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_waiter_does_not_disable_keeping() {
    let Some((env, app, tenancy)) = keeping("attack_cancelled_waiter", &["a", "b"], 1, 1).await
    else {
        return;
    };
    let (a, b) = (conn(&tenancy, "a").await, conn(&tenancy, "b").await);
    assert_eq!(whoami(&a).await, "a");
    assert_eq!(tenancy.parked(), 1, "a's connection is kept");
    // a's transaction holds the keeper's only connection; b waits for the
    // pool and is cancelled.
    let txn = a.begin().await.expect("begin");
    let waited = tokio::time::timeout(Duration::from_millis(100), try_whoami(&b)).await;
    assert!(waited.is_err(), "b waited for the pool");
    txn.commit().await.expect("commit");
    for _ in 0..3 {
        assert_eq!(whoami(&b).await, "b");
    }
    // Was a hole (keeping disabled for good): a cancelled waiter left
    // `waiting` above zero; it is now uncounted by a guard's drop.
    assert_eq!(
        tenancy.parked(),
        1,
        "b's connection is kept after a cancelled waiter"
    );
    tenancy.release_parked();
    drop((a, b, tenancy, app));
    env.cleanup().await;
}

/// Schema per tenant and shared schema over the same pool, sharing the
/// keeper: each statement sees its own tenant and its own `search_path`
/// (read through RLS on a global table, no declared function).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_and_shared_tenancies_on_one_pool() {
    let Some(env) = PgEnv::new("attack_schema_shared").await else {
        return;
    };
    setup(&env, &["a", "b", "s1", "s2"]).await;
    env.admin_sql(&format!(
        "GRANT CREATE ON DATABASE \"{}\" TO \"{}\";
         CREATE TABLE whereami (tenant text, path text);
         INSERT INTO whereami SELECT t, reset_val FROM pg_settings, (VALUES ('a'), ('b')) AS v(t)
             WHERE name = 'search_path';
         INSERT INTO whereami VALUES ('s1', 'tenant_s1, public'), ('s2', 'tenant_s2, public');
         ALTER TABLE whereami ENABLE ROW LEVEL SECURITY;
         ALTER TABLE whereami FORCE ROW LEVEL SECURITY;
         CREATE POLICY mine ON whereami USING (tenant = current_setting('app.tenant_id', true)
             AND path = current_setting('search_path'));
         GRANT SELECT ON whereami TO \"{}\";",
        env.db_name, env.role, env.role
    ))
    .await;
    let app = env.app(1).await;
    let shared = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone()))
                .global_table_named("whereami")
                .hot_tenants(hot(1)),
            &["a", "b"],
        )
        .await;
    let schemas = env
        .provisioned(
            Tenancy::schema_per_tenant(app.clone())
                .global_table_named("whereami")
                .global_table_named("whoami"),
            &["s1", "s2"],
        )
        .await;
    async fn whereami<C: ConnectionTrait>(c: &C) -> String {
        let rows = c
            .query_all_raw(stmt("SELECT tenant FROM whereami"))
            .await
            .expect("whereami");
        match rows.as_slice() {
            [] => String::new(),
            [row] => row.try_get::<String>("", "tenant").expect("tenant"),
            more => panic!("{} rows", more.len()),
        }
    }
    for round in 0..20 {
        for (tenancy, t) in [
            (&shared, "a"),
            (&schemas, "s1"),
            (&shared, "b"),
            (&schemas, "s2"),
        ] {
            let c = conn(tenancy, t).await;
            assert_eq!(whereami(&c).await, t, "round {round}");
            if round % 4 == 1 {
                let txn = c.begin().await.expect("begin");
                assert_eq!(whereami(&txn).await, t, "round {round}, begin()");
                txn.rollback().await.expect("rollback");
            }
            if round % 4 == 2 {
                let rows: Vec<_> = c
                    .stream_raw(stmt("SELECT tenant FROM whereami"))
                    .await
                    .expect("stream")
                    .try_collect()
                    .await
                    .expect("rows");
                assert_eq!(rows.len(), 1, "round {round}: {t}'s stream");
            }
        }
        assert_eq!(whoami(&app).await, "");
    }
    shared.release_parked();
    schemas.release_parked();
    drop((shared, schemas, app));
    env.cleanup().await;
}

/// A function the application declared pure that is not: it changes the
/// session's tenant, `search_path`, timeout or role. After a statement
/// that calls it (a statement, a write, a stream), the next statement of
/// the same tenant runs under its own tenant again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_function_that_changes_the_session_is_undone() {
    let Some(env) = PgEnv::new("attack_declared_fn").await else {
        return;
    };
    setup(&env, &["a", "b"]).await;
    env.admin_sql(&format!(
        "CREATE FUNCTION public.evil(t text) RETURNS text LANGUAGE sql VOLATILE AS
           $$ SELECT set_config('app.tenant_id', t, false)
              || set_config('search_path', 'pg_catalog', false)
              || set_config('statement_timeout', '1', false) $$;
         GRANT EXECUTE ON FUNCTION public.evil(text) TO \"{}\";",
        env.role
    ))
    .await;
    let app = env.app(1).await;
    let tenancy = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone()))
                .pure_function("evil")
                .hot_tenants(hot(1)),
            &["a", "b"],
        )
        .await;
    let (a, b) = (conn(&tenancy, "a").await, conn(&tenancy, "b").await);
    for round in 0..4 {
        assert_eq!(whoami(&a).await, "a");
        match round {
            0 => {
                a.query_one_raw(stmt("SELECT evil('b')"))
                    .await
                    .expect("evil");
            }
            1 => {
                a.execute_unprepared("SELECT evil('b')")
                    .await
                    .expect("evil");
            }
            2 => {
                let rows: Vec<_> = a
                    .stream_raw(stmt("SELECT evil('b')"))
                    .await
                    .expect("stream")
                    .try_collect()
                    .await
                    .expect("rows");
                assert_eq!(rows.len(), 1);
            }
            _ => {
                // RLS' WITH CHECK sees the tenant evil set: refused, and
                // rolled back with it; either way a stays a.
                let _ = a
                    .execute_unprepared(
                        "INSERT INTO post (tenant_id, title) VALUES ('a', evil('b'))",
                    )
                    .await;
            }
        }
        assert_eq!(whoami(&a).await, "a", "round {round}: a after evil");
        assert_eq!(whoami(&b).await, "b", "round {round}");
        assert_eq!(whoami(&a).await, "a", "round {round}");
        // The timeout of 1 ms it set is gone too.
        a.query_one_raw(stmt(SLOW))
            .await
            .expect("no timeout left by evil");
    }
    // Inside a transaction: the setting lasts until its end, then the
    // connection is set again.
    let txn = a.begin().await.expect("begin");
    txn.query_one_raw(stmt("SELECT evil('b')"))
        .await
        .expect("evil");
    txn.commit().await.expect("commit");
    assert_eq!(
        whoami(&a).await,
        "a",
        "after a transaction that called evil"
    );
    assert_eq!(whoami(&app).await, "");
    tenancy.release_parked();
    drop((a, b, tenancy, app));
    env.cleanup().await;
}

/// Without row-level security a tenant statement runs alone on the
/// application's own pool (`Road::Plain`). A declared function that sets
/// a tenant at session level there must not leave it on the application's
/// pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_function_on_the_plain_road_leaves_nothing_on_the_app_pool() {
    let Some(env) = PgEnv::new("attack_plain_declared").await else {
        return;
    };
    // `post` without RLS; `whoami` (RLS) is read on the application's
    // pool only.
    env.admin_sql(&format!(
        "CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
         CREATE TABLE whoami (tenant text PRIMARY KEY);
         INSERT INTO whoami VALUES ('a'), ('b');
         ALTER TABLE whoami ENABLE ROW LEVEL SECURITY;
         ALTER TABLE whoami FORCE ROW LEVEL SECURITY;
         CREATE POLICY mine ON whoami USING (tenant = current_setting('app.tenant_id', true));
         GRANT SELECT ON whoami TO \"{0}\";
         GRANT SELECT, INSERT, UPDATE, DELETE ON post TO \"{0}\";
         GRANT USAGE ON SEQUENCE post_id_seq TO \"{0}\";
         CREATE FUNCTION public.evil(t text) RETURNS text LANGUAGE sql VOLATILE AS
           $$ SELECT set_config('app.tenant_id', t, false) $$;
         GRANT EXECUTE ON FUNCTION public.evil(text) TO \"{0}\";",
        env.role
    ))
    .await;
    let app = env.app(1).await;
    let tenancy = env
        .provisioned(
            Tenancy::shared_schema(app.clone())
                .tenant_table::<post::Entity>()
                .row_level_security(false)
                .pure_function("evil"),
            &["a", "b"],
        )
        .await;
    assert!(!tenancy.row_level_security_in_force().await.expect("read"));
    let a = conn(&tenancy, "a").await;
    a.query_one_raw(stmt("SELECT evil('a')"))
        .await
        .expect("evil");
    // Was a hole: on the autocommit road a statement calling a declared
    // function ran alone on the application's pool, and what the function
    // set stayed there; it now runs in a transaction that sets it back.
    assert_eq!(
        whoami(&app).await,
        "",
        "the application's pool holds a tenant left by a declared function"
    );
    drop((a, tenancy, app));
    env.cleanup().await;
}

/// An application function that shares an allow-listed name but takes
/// other arguments (`public.lower(integer)`): Postgres resolves
/// `lower(1)` to it, the first wall lets it through by name as a builtin,
/// so the keeper does not set the session again after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known gap (issue 22 closing note): the allow-list is by name, so an \
            application's overload of an allowed name is called unchecked"]
async fn an_overload_of_an_allowed_name_cannot_change_the_kept_session() {
    let Some(env) = PgEnv::new("attack_overload").await else {
        return;
    };
    setup(&env, &["a", "b"]).await;
    env.admin_sql(&format!(
        "CREATE FUNCTION public.lower(n integer) RETURNS text LANGUAGE sql VOLATILE AS
           $$ SELECT set_config('app.tenant_id', 'b', false) $$;
         GRANT EXECUTE ON FUNCTION public.lower(integer) TO \"{}\";",
        env.role
    ))
    .await;
    let app = env.app(1).await;
    let tenancy = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone())).hot_tenants(hot(1)),
            &["a", "b"],
        )
        .await;
    let a = conn(&tenancy, "a").await;
    assert_eq!(whoami(&a).await, "a");
    let called = a.query_one_raw(stmt("SELECT lower(1)")).await;
    // Known gap (ignored above): refused, or undone afterwards; never a's
    // next statement as b.
    assert_eq!(
        whoami(&a).await,
        "a",
        "a's next statement after `lower(1)` ({:?})",
        called.map(|_| ())
    );
    tenancy.release_parked();
    drop((a, tenancy, app));
    env.cleanup().await;
}

/// An application trigger that sets the tenant at session level (say, an
/// audit trigger written for another tool). The strict road's commit sets
/// the session's tenant back from its stash; the kept road has no such
/// step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_that_changes_the_session_cannot_change_the_kept_session() {
    let Some(env) = PgEnv::new("attack_trigger").await else {
        return;
    };
    setup(&env, &["a", "b"]).await;
    env.admin_sql(
        "CREATE FUNCTION public.audit() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN PERFORM set_config('app.tenant_id', 'b', false); RETURN NULL; END $$;
         CREATE TRIGGER audit AFTER INSERT ON post FOR EACH ROW EXECUTE FUNCTION public.audit();",
    )
    .await;
    let app = env.app(1).await;
    let tenancy = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone())).hot_tenants(hot(1)),
            &["a", "b"],
        )
        .await;
    let a = conn(&tenancy, "a").await;
    // Strict mode first: the stash puts a's session back.
    let strict = TenantConnection::new(app.clone(), TenantId::from("a"))
        .tenant_table::<post::Entity>()
        .global_table_named("whoami");
    strict
        .execute_unprepared("INSERT INTO post (tenant_id, title) VALUES ('a', 'x')")
        .await
        .expect("insert");
    assert_eq!(whoami(&app).await, "", "strict: nothing left on the pool");
    assert_eq!(whoami(&a).await, "a");
    a.execute_unprepared("INSERT INTO post (tenant_id, title) VALUES ('a', 'y')")
        .await
        .expect("insert");
    // Was a hole: the kept connection held b while its record said a. A
    // tenant table with a trigger now makes every write set the session
    // again before the connection's next statement.
    assert_eq!(
        whoami(&a).await,
        "a",
        "a's next statement after the trigger"
    );
    tenancy.release_parked();
    drop((a, strict, tenancy, app));
    env.cleanup().await;
}

/// Raw SQL that would open a transaction or keep session objects on a
/// kept connection (autocommit) is refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_transaction_control_and_session_objects_are_refused() {
    let Some((env, app, tenancy)) = keeping("attack_raw_control", &["a", "b"], 1, 1).await else {
        return;
    };
    let a = conn(&tenancy, "a").await;
    for sql in [
        "BEGIN",
        "START TRANSACTION",
        "SAVEPOINT s",
        "RELEASE SAVEPOINT s",
        "ROLLBACK TO SAVEPOINT s",
        "SET LOCAL app.tenant_id = 'b'",
        "SELECT 1; SET app.tenant_id = 'b'",
        "DO $$ BEGIN PERFORM pg_catalog.set_config('app.tenant_id', 'b', false); END $$",
        "CREATE TEMP TABLE whoami (tenant text)",
        "PREPARE p AS SELECT 1",
        "DECLARE c CURSOR WITH HOLD FOR SELECT tenant FROM whoami",
        "LISTEN x",
        "DISCARD ALL",
        "SELECT pg_catalog.set_config('app.tenant_id', 'b', false)",
        "SELECT \"set_config\"('app.tenant_id', 'b', false)",
        "SELECT current_setting('app.tenant_id')",
        "SELECT lastval()",
        "SELECT pg_advisory_lock(1)",
    ] {
        let sent = a.execute_unprepared(sql).await;
        assert!(sent.is_err(), "{sql} was sent");
        assert_eq!(whoami(&a).await, "a", "after {sql}");
    }
    let b = conn(&tenancy, "b").await;
    assert_eq!(whoami(&b).await, "b");
    tenancy.release_parked();
    drop((a, b, tenancy, app));
    env.cleanup().await;
}

/// A temporary table made in a tenant's `begin()` through
/// `unconfined()` (documented for DDL and admin work) outlives the
/// transaction on the kept connection; another tenant's statement on that
/// connection then reads it in place of the real table (`pg_temp` comes
/// first in every `search_path`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_table_never_reaches_another_tenant() {
    let Some(env) = PgEnv::new("attack_temp_table").await else {
        return;
    };
    setup(&env, &["a", "b"]).await;
    env.admin_sql(&format!(
        "GRANT TEMPORARY ON DATABASE \"{}\" TO \"{}\"",
        env.db_name, env.role
    ))
    .await;
    let app = env.app(1).await;
    let tenancy = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone())).hot_tenants(hot(1)),
            &["a", "b"],
        )
        .await;
    let (a, b) = (conn(&tenancy, "a").await, conn(&tenancy, "b").await);
    let txn = a.begin().await.expect("begin");
    txn.unconfined()
        .execute_unprepared(
            "CREATE TEMP TABLE whoami (tenant text); INSERT INTO whoami VALUES ('a-secret')",
        )
        .await
        .expect("temp table");
    txn.commit().await.expect("commit");
    // Was a hole (on the strict road's pool too): the temporary table
    // outlived the transaction. A connection that ran an unconfined
    // statement is now closed at the end of its transaction.
    assert_eq!(whoami(&b).await, "b", "b reads a's temporary table");
    tenancy.release_parked();
    drop((a, b, tenancy, app));
    env.cleanup().await;
}
