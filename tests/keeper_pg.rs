//! Tenant-keeping connections (rule 6, issue 22): on Postgres with
//! row-level security a `Tenancy` sets the tenant at session level on
//! connections of a pool of its own, and sets it again only when the next
//! statement is another tenant's. These tests alternate tenants on a pool
//! of one through every path that takes a connection (statements, writes,
//! errors, streams finished and dropped, `begin()` with savepoints,
//! cancellation, a connection that died, the pool giving connections
//! back) and check that each statement runs under its own tenant; and
//! that kept connections never starve anyone else on a pool of four.
//!
//! The tenant a statement runs under is read through `whoami`, a global
//! table (so the first wall does not filter it) whose RLS policy shows
//! each tenant its own row only: no function the test declares is
//! involved, so the kept path is what is tested.

mod keeper_support;
mod pg_support;

use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use keeper_support::*;
use pg_support::PgEnv;
use sea_orm::{ConnectionTrait, StreamTrait, TransactionTrait};
use sea_orm_tenant::doc_entities::{comment, post};
use sea_orm_tenant::prelude::*;

const TENANTS: [&str; 3] = ["a", "b", "c"];

/// The shared setup, and one post per tenant.
async fn posts(env: &PgEnv) {
    setup(env, &TENANTS).await;
    env.admin_sql(
        "INSERT INTO post (tenant_id, title) VALUES ('a', 'a1'), ('b', 'b1'), ('c', 'c1')",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_runs_under_its_own_tenant_on_a_pool_of_one() {
    let Some(env) = PgEnv::new("every_path_runs_under_its_own_tenant_on_a_pool_of_one").await
    else {
        return;
    };
    posts(&env).await;
    let app = env.app(1).await;
    let tenancy = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone())).hot_tenants(HotTenants {
                max_parked: None,
                per_tenant: 1,
                max_idle: Duration::from_millis(200),
            }),
            &TENANTS,
        )
        .await;
    assert!(
        tenancy
            .row_level_security_in_force()
            .await
            .expect("catalog")
    );
    // Three tenants take turns on the keeper's one connection, which
    // switches tenant at nearly every statement; each path now and then.
    for round in 0..60 {
        for t in TENANTS {
            let conn = tenancy.connection(&TenantId::from(t)).await.expect("conn");
            assert_eq!(whoami(&conn).await, t, "round {round}");
            // A write (RLS' WITH CHECK passes it only under its own tenant),
            // and a statement that fails in step.
            conn.execute_unprepared(&format!(
                "INSERT INTO post (tenant_id, title) VALUES ('{t}', 'tmp')"
            ))
            .await
            .expect("insert");
            let gone = conn
                .execute_unprepared("DELETE FROM post WHERE title = 'tmp'")
                .await
                .expect("delete");
            assert_eq!(gone.rows_affected(), 1, "round {round}: {t}'s own row");
            assert!(conn.execute_unprepared("SELECT 1/0").await.is_err());
            assert_eq!(whoami(&conn).await, t, "round {round}, after an error");
            match round % 6 {
                0 => {
                    // A stream read to its end.
                    let rows: Vec<_> = conn
                        .stream_raw(stmt("SELECT tenant FROM whoami"))
                        .await
                        .expect("stream")
                        .try_collect()
                        .await
                        .expect("rows");
                    assert_eq!(rows.len(), 1);
                    assert_eq!(rows[0].try_get::<String>("", "tenant").expect("t"), t);
                }
                1 => {
                    // begin(), a savepoint rolled back, a rollback.
                    let txn = conn.begin().await.expect("begin");
                    assert_eq!(whoami(&txn).await, t, "round {round}, in begin()");
                    let nested = txn.begin().await.expect("savepoint");
                    nested
                        .execute_unprepared("DELETE FROM post")
                        .await
                        .expect("delete in savepoint");
                    nested.rollback().await.expect("rollback to savepoint");
                    assert_eq!(whoami(&txn).await, t, "after ROLLBACK TO SAVEPOINT");
                    if round % 12 == 1 {
                        txn.rollback().await.expect("rollback");
                    } else {
                        txn.commit().await.expect("commit");
                    }
                }
                2 => {
                    // A statement whose future is dropped mid-flight.
                    let slow = conn.query_one_raw(stmt(
                        "SELECT count(*) FROM generate_series(1, 2000000) AS g",
                    ));
                    let _ = tokio::time::timeout(Duration::from_millis(5), slow).await;
                }
                3 => kill_app_sessions(&env).await,
                4 => {
                    // The pool takes its connections back.
                    tenancy.release_parked();
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                _ => {
                    // A stream dropped after its first row.
                    let mut rows = conn
                        .stream_raw(stmt(
                            "SELECT w.tenant FROM whoami AS w, generate_series(1, 5000) AS g",
                        ))
                        .await
                        .expect("stream");
                    let first = rows.next().await.expect("a row").expect("row");
                    assert_eq!(first.try_get::<String>("", "tenant").expect("t"), t);
                }
            }
            assert_eq!(whoami(&conn).await, t, "round {round}, path {}", round % 6);
        }
        // The application's own pool never holds a tenant.
        assert_eq!(whoami(&app).await, "", "plain pool, round {round}");
    }
    assert_eq!(
        env.admin
            .query_one_raw(stmt(
                "SELECT count(*) FROM post WHERE title = 'tmp' OR title NOT LIKE tenant_id || '%'"
            ))
            .await
            .expect("count")
            .expect("row")
            .try_get_by_index::<i64>(0)
            .expect("n"),
        0
    );
    tenancy.release_parked();
    drop((tenancy, app));
    env.cleanup().await;
}

/// Kept connections, held transactions, strict connections, a second
/// `Tenancy` over the same pool and plain calls on it, mixed on a pool of
/// four: no statement waits for a connection someone keeps. Measured side
/// by side with plain statements on the same pool, in one run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_connections_never_starve_a_pool_of_four() {
    let Some(env) = PgEnv::new("kept_connections_never_starve_a_pool_of_four").await else {
        return;
    };
    posts(&env).await;
    let app = app_pool(&env, 4).await;
    let tenants: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
    let names: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let first = env
        .provisioned(declared(Tenancy::shared_schema(app.clone())), &names)
        .await;
    let second = declared(Tenancy::shared_schema(app.clone()));
    // A transaction held open through the whole run, on a kept connection.
    let holder = first.connection(&TenantId::from("t0")).await.expect("conn");
    let held = holder.begin().await.expect("begin");
    assert_eq!(whoami(&held).await, "");
    let (mut plain, mut mixed) = (Duration::ZERO, Duration::ZERO);
    let (mut plain_n, mut mixed_n) = (0u32, 0u32);
    for i in 0..400 {
        let t = TenantId::from(names[i % names.len()]);
        let started = Instant::now();
        match i % 4 {
            0 => drop(whoami(&first.connection(&t).await.expect("conn")).await),
            1 => drop(whoami(&second.connection(&t).await.expect("conn")).await),
            2 => drop(
                whoami(
                    &TenantConnection::new(app.clone(), t.clone())
                        .tenant_table::<post::Entity>()
                        .global_table_named("whoami"),
                )
                .await,
            ),
            _ => {
                let conn = first.connection(&t).await.expect("conn");
                conn.execute_unprepared(&format!(
                    "UPDATE post SET title = title WHERE tenant_id = '{t}'"
                ))
                .await
                .expect("write");
            }
        }
        mixed += started.elapsed();
        mixed_n += 1;
        // A plain call on the same pool, between tenant statements.
        let started = Instant::now();
        assert_eq!(whoami(&app).await, "");
        plain += started.elapsed();
        plain_n += 1;
    }
    held.rollback().await.expect("rollback");
    let (plain, mixed) = (plain / plain_n, mixed / mixed_n);
    // A tenant statement costs at most a switch (one round trip) more than
    // a plain one; a starved pool costs its acquire timeout.
    assert!(
        mixed < plain * 5 + Duration::from_millis(2),
        "tenant statements {mixed:?} on average against plain {plain:?}"
    );
    first.release_parked();
    second.release_parked();
    drop((holder, first, second, app));
    env.cleanup().await;
}

/// The second wall is declared, not assumed: a declaration the catalog
/// contradicts is an error at the first connection (and from
/// `row_level_security_in_force` at start-up), never a silent downgrade;
/// undeclared, the catalog decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declaration_the_catalog_contradicts_is_an_error() {
    let Some(env) = PgEnv::new("a_declaration_the_catalog_contradicts_is_an_error").await else {
        return;
    };
    posts(&env).await; // `post` has RLS
    env.admin_sql(&format!(
        "CREATE TABLE comment (id serial PRIMARY KEY, tenant_id text NOT NULL, body text NOT NULL);
         GRANT SELECT ON comment TO \"{}\";",
        env.role
    ))
    .await;
    let app = env.app(2).await;
    let a = TenantId::from("a");
    let undeclared = env
        .provisioned(declared(Tenancy::shared_schema(app.clone())), &["a"])
        .await;
    assert!(
        undeclared
            .row_level_security_in_force()
            .await
            .expect("read")
    );
    let wrong = declared(Tenancy::shared_schema(app.clone())).row_level_security(false);
    for err in [
        wrong
            .row_level_security_in_force()
            .await
            .map(drop)
            .unwrap_err(),
        wrong.connection(&a).await.map(drop).unwrap_err(),
    ] {
        assert!(
            matches!(&err, TenantError::RowLevelSecurity { table, declared: false } if table == "post"),
            "{err}"
        );
    }
    // `comment` has no policy: declared with RLS, it is the error.
    let missing = declared(Tenancy::shared_schema(app.clone()))
        .tenant_table::<comment::Entity>()
        .row_level_security(true);
    let err = missing.connection(&a).await.map(drop).unwrap_err();
    assert!(
        matches!(&err, TenantError::RowLevelSecurity { table, declared: true } if table == "comment"),
        "{err}"
    );
    let right = declared(Tenancy::shared_schema(app.clone())).row_level_security(true);
    assert!(right.row_level_security_in_force().await.expect("agrees"));
    assert_eq!(
        whoami(&right.connection(&a).await.expect("conn")).await,
        "a"
    );
    drop((undeclared, wrong, missing, right, app));
    env.cleanup().await;
}
