//! Rule 12 beyond the tenant tables themselves: what the database shows
//! about other sessions and about the data must not hand one tenant
//! another's values through a `TenantConnection`, where all tenants share
//! one database role and pooled connections.
//!
//! - Other sessions' statements (Postgres `pg_stat_activity` and the
//!   functions under it, MySQL's process list in any spelling and
//!   `SHOW ENGINE INNODB STATUS`): globex's statement, running, is not
//!   readable by acme.
//! - Planner statistics (Postgres `pg_stats`, `pg_statistic`) after
//!   `ANALYZE`: the most common values of a tenant table are every
//!   tenant's.
//! - Session state of a pooled connection: Postgres' prepared statements
//!   (sqlx prepares raw SQL, literals included) and MySQL user variables
//!   are not readable by the next borrower, another tenant.
//!
//! Each test first checks on an unconfined connection that the channel
//! really shows globex's value, so a pass means the tenant connection
//! closed it (refused the read, or it shows nothing of globex's).

mod common;

use std::time::Duration;

use common::confine::{Planted, connect, count_raw, planted, refused, shared_tenancy_on, stmt};
use common::{Kind, TestDb, acme, add_post, each_backend_of, globex};
use sea_orm::{ConnectionTrait, DbErr};
use sea_orm_tenant::HotTenants;

/// A value only globex's statements hold.
const SECRET: &str = "globex-secret-4711";

/// SQL matching [`SECRET`] without spelling it, so that the reading
/// statement does not find itself.
fn like_secret(t: &TestDb) -> &'static str {
    match t.kind {
        Kind::MySql => "CONCAT('%globex-', 'secret-4711%')",
        _ => "'%globex-' || 'secret-4711%'",
    }
}

/// A count read through a tenant connection: refused, or zero; else what
/// leaked, for the list of leaks the test reports at its end.
fn leak(sql: &str, result: Result<i64, DbErr>) -> Option<String> {
    match result {
        Err(err) if refused(&err) => None,
        Err(err) => Some(format!("{sql}: not a refusal: {err}")),
        Ok(0) => None,
        Ok(n) => Some(format!("{sql}: acme read globex's {SECRET:?} ({n} row(s))")),
    }
}

/// Fails the test with every leak found, not only the first.
fn assert_no_leaks(t: &TestDb, leaks: Vec<String>) {
    assert!(
        leaks.is_empty(),
        "{t}: {} leak(s):\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_sessions_statements_are_not_readable() {
    each_backend_of(&[Kind::Postgres, Kind::MySql], async |t| {
        let Planted { conn, globex, .. } = planted(t).await;
        let slow = match t.kind {
            Kind::Postgres => format!("SELECT '{SECRET}' AS s, pg_sleep(3)::text AS z FROM post"),
            _ => format!("SELECT '{SECRET}' AS s, SLEEP(3) AS z FROM post LIMIT 1"),
        };
        // pg_sleep / SLEEP only make globex's statement last: a test device,
        // declared on globex's connection alone (the wall refuses them).
        let globex = globex.pure_function("pg_sleep").pure_function("SLEEP");
        let running = tokio::spawn({
            let slow = stmt(t, &slow);
            async move { globex.query_all_raw(slow).await.map(|rows| rows.len()) }
        });
        tokio::time::sleep(Duration::from_millis(700)).await;

        let like = like_secret(t);
        let counts = match t.kind {
            Kind::Postgres => vec![
                format!("SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE {like}"),
                format!(
                    "SELECT count(*) AS n FROM pg_stat_get_activity(NULL) AS a \
                     WHERE a.query LIKE {like}"
                ),
                format!(
                    "SELECT count(*) AS n FROM pg_stat_get_backend_idset() AS s \
                     WHERE pg_stat_get_backend_activity(s) LIKE {like}"
                ),
            ],
            _ => vec![
                format!(
                    "SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE info LIKE {like}"
                ),
                format!(
                    "SELECT count(*) AS n FROM information_schema.`PROCESSLIST` \
                     WHERE info LIKE {like}"
                ),
                format!(
                    "SELECT count(*) AS n FROM INFORMATION_SCHEMA.`ProcessList` \
                     WHERE info LIKE {like}"
                ),
            ],
        };
        // The channel is real: unconfined, globex's statement is there.
        let seen = count_raw(&t.db, t, &counts[0]).await.expect("unconfined");
        assert!(seen >= 1, "{t}: the test's own check: {seen}");
        let mut leaks = Vec::new();
        for sql in &counts {
            leaks.extend(leak(sql, count_raw(&conn, t, sql).await));
        }
        if t.kind == Kind::MySql {
            for (sql, column) in [
                ("SHOW FULL PROCESSLIST", "Info"),
                ("SHOW PROCESSLIST", "Info"),
                ("SHOW ENGINE INNODB STATUS", "Status"),
            ] {
                match conn.query_all_raw(stmt(t, sql)).await {
                    Err(err) if refused(&err) => {}
                    Err(err) => leaks.push(format!("{sql}: not a refusal: {err}")),
                    Ok(rows) => {
                        for row in rows {
                            let text: Option<String> = row
                                .try_get("", column)
                                .unwrap_or_else(|e| panic!("{t}: {sql}: {column}: {e}"));
                            if text.as_deref().unwrap_or_default().contains(SECRET) {
                                leaks.push(format!("{sql}: acme read globex's {SECRET:?}"));
                            }
                        }
                    }
                }
            }
        }
        let done = running.await.expect("globex's statement");
        assert!(done.is_ok(), "{t}: globex's statement: {done:?}");
        assert_no_leaks(t, leaks);
    })
    .await;
}

#[tokio::test]
async fn postgres_planner_statistics_show_no_other_tenants_values() {
    each_backend_of(&[Kind::Postgres], async |t| {
        let Planted { conn, .. } = planted(t).await;
        for _ in 0..5 {
            add_post(t, &globex(), SECRET).await;
        }
        t.db.execute_unprepared("ANALYZE post")
            .await
            .expect("analyze");
        let like = like_secret(t);
        let reads = [
            format!(
                "SELECT count(*) AS n FROM pg_stats WHERE tablename = 'post' \
                 AND (most_common_vals::text LIKE {like} OR histogram_bounds::text LIKE {like})"
            ),
            format!(
                "SELECT count(*) AS n FROM pg_catalog.pg_stats WHERE tablename = 'post' \
                 AND most_common_vals::text LIKE {like}"
            ),
            format!(
                "SELECT count(*) AS n FROM pg_catalog.pg_statistic \
                 WHERE stavalues1::text LIKE {like} OR stavalues2::text LIKE {like}"
            ),
        ];
        let seen = count_raw(&t.db, t, &reads[0]).await.expect("unconfined");
        assert!(seen >= 1, "{t}: the test's own check: {seen}");
        let mut leaks = Vec::new();
        for sql in &reads {
            leaks.extend(leak(sql, count_raw(&conn, t, sql).await));
        }
        assert_no_leaks(t, leaks);
    })
    .await;
}

#[tokio::test]
async fn postgres_prepared_statements_of_another_tenant_are_not_readable() {
    each_backend_of(&[Kind::Postgres], async |t| {
        let one = t.pool_of(1).await;
        // Nothing kept: both tenants' statements run on the pool's one
        // connection (kept connections are per session, which the wall
        // guards the same way).
        let tenancy = shared_tenancy_on(one.clone()).hot_tenants(HotTenants::off());
        let acme = connect(t, &tenancy, &acme()).await;
        let globex = connect(t, &tenancy, &globex()).await;

        // sqlx prepares (and keeps) the statement on the one connection,
        // its literal included.
        let theirs = format!("SELECT title FROM post WHERE title = '{SECRET}'");
        globex
            .query_all_raw(stmt(t, &theirs))
            .await
            .expect("globex's query");
        let read = format!(
            "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE {}",
            like_secret(t)
        );
        let seen = count_raw(&one, t, &read).await.expect("unconfined");
        assert!(seen >= 1, "{t}: the test's own check: {seen}");
        let leaks = leak(&read, count_raw(&acme, t, &read).await);
        assert_no_leaks(t, leaks.into_iter().collect());
        drop((acme, globex, tenancy));
        one.close().await.expect("close");
    })
    .await;
}

/// MySQL keeps user variables per session; a tenant's statement that
/// writes one (`SELECT .. INTO @v`, `@v := ..`) must not hand its data to
/// the next borrower of the pooled connection, another tenant.
#[tokio::test]
async fn mysql_user_variables_never_carry_a_tenants_data_to_the_next() {
    each_backend_of(&[Kind::MySql], async |t| {
        let one = t.pool_of(1).await;
        add_post(t, &acme(), "acme secret").await;
        let tenancy = shared_tenancy_on(one.clone());
        let acme = connect(t, &tenancy, &acme()).await;
        let globex = connect(t, &tenancy, &globex()).await;

        for sql in [
            "SELECT title INTO @v FROM post LIMIT 1",
            "SELECT @v := title AS t FROM post",
            "SELECT title FROM post LIMIT 1 INTO @v",
        ] {
            let _ = acme.query_all_raw(stmt(t, sql)).await;
            let _ = acme.execute_unprepared(sql).await;
            // globex may be refused the read too; if it reads, @v is empty.
            let read = stmt(t, "SELECT CAST(@v AS CHAR) AS v");
            let seen = match globex.query_one_raw(read).await {
                Err(err) => {
                    assert!(refused(&err), "{t}: reading @v: {err}");
                    None
                }
                Ok(row) => row
                    .expect("a row")
                    .try_get::<Option<String>>("", "v")
                    .expect("@v as text"),
            };
            assert_eq!(seen, None, "{t}: after {sql:?} globex read acme's {seen:?}");
        }
        drop((acme, globex, tenancy));
        one.close().await.expect("close");
    })
    .await;
}
