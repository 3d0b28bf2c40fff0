//! Issue 21: the wall denies by default, keeps the meaning of what it
//! accepts, evaluates the tenant predicate first, and nothing a tenant
//! sends crashes the process. One test per hole class, on each backend it
//! concerns; each failed against the deny-list confinement it replaces.

mod common;

use std::time::Duration;

use common::confine::{Planted, planted, refused, stmt};
use common::{Kind, TestDb, acme, each_backend, each_backend_of, globex};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, TransactionTrait};
use sea_orm_tenant::TenantConnection;

async fn all(conn: &TenantConnection, t: &TestDb, sql: &str) -> Result<Vec<QueryResult>, DbErr> {
    conn.query_all_raw(stmt(t, sql)).await
}

/// Fails unless every statement is refused by the connection (before
/// anything is sent), listing every one that was not.
async fn assert_all_refused(t: &TestDb, conn: &TenantConnection, statements: &[&str]) {
    let mut through = Vec::new();
    for sql in statements {
        match conn.execute_raw(stmt(t, sql)).await {
            Err(err) if refused(&err) => {}
            other => through.push(format!("{sql}: {other:?}")),
        }
    }
    assert!(
        through.is_empty(),
        "{t}: not refused:\n{}",
        through.join("\n")
    );
}

#[tokio::test]
async fn only_declared_tables_pass_and_the_crates_own_never_do() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        assert_all_refused(
            t,
            &conn,
            &[
                "SELECT * FROM sea_orm_tenant_registry",
                "DELETE FROM sea_orm_tenant_registry WHERE tenant_id = 'globex'",
                "SELECT * FROM SEA_ORM_TENANT_REGISTRY",
                "SELECT * FROM seaql_migrations",
                "SELECT * FROM audit_log",
                "INSERT INTO audit_log (x) VALUES (1)",
            ],
        )
        .await;
        let err = all(&conn, t, "SELECT * FROM audit_log").await.unwrap_err();
        assert!(
            err.to_string().contains("audit_log") && err.to_string().contains("global_table"),
            "{t}: the refusal names the table and how to declare it: {err}"
        );
        // Declared global: passes.
        let rows = all(&conn, t, "SELECT code FROM country")
            .await
            .expect("country");
        assert_eq!(rows.len(), 1, "{t}");
    })
    .await;
}

#[tokio::test]
async fn functions_off_the_allow_list_are_refused() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        let statements: &[&str] = match t.kind {
            Kind::Postgres => &[
                "SELECT ts_rewrite('a'::tsquery, 'SELECT title::tsquery, title::tsquery FROM post')",
                "SELECT * FROM post WHERE has_schema_privilege(title, 'usage')",
                "SELECT query_to_xml('SELECT * FROM post', true, true, '')",
                "SELECT nextval('tenant_globex.post_id_seq')",
                "SELECT lastval()",
                "SELECT currval('post_id_seq')",
                "SELECT pg_advisory_lock(1)",
                "SELECT pg_catalog.pg_advisory_lock(1)",
                "SELECT \"LOWER\"('a')",
                "SELECT public.lower('a')",
                "SELECT pg_stat_get_backend_activity(1)",
                "SELECT current_setting('app.tenant_id')",
                "SELECT 'post'::regclass",
                "SELECT CAST('tenant_globex.post' AS regclass)",
                "SELECT * FROM post TABLESAMPLE SYSTEM (50)",
                "SELECT 1 OPERATOR(pg_catalog.+) 1",
                "EXPLAIN ANALYZE SELECT * FROM post WHERE title = 'x'",
                "SHOW search_path",
                "SELECT current_user",
            ],
            Kind::MySql => &[
                "SELECT LAST_INSERT_ID()",
                "SELECT GET_LOCK('x', 0)",
                "SELECT NEXTVAL(other_db.seq)",
                "SELECT SLEEP(1)",
                "SELECT BENCHMARK(1000, 1)",
                "SELECT @@warning_count",
                "SELECT * FROM post WHERE MATCH(title) AGAINST ('secret')",
                "EXPLAIN SELECT * FROM post",
                "SELECT DATABASE()",
                "SELECT * FROM post FOR UPDATE",
                "SELECT * FROM post LOCK IN SHARE MODE",
            ],
            _ => &[
                "SELECT last_insert_rowid()",
                "SELECT changes()",
                "SELECT sqlite_version()",
                "SELECT load_extension('x')",
                "SELECT zeroblob(1000000000)",
                "SELECT random()",
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
                "EXPLAIN QUERY PLAN SELECT * FROM post",
            ],
        };
        assert_all_refused(t, &conn, statements).await;
        // Allowed ones run.
        let rows = all(&conn, t, "SELECT upper(title), length(title) FROM post ORDER BY id")
            .await
            .expect("allowed functions");
        assert_eq!(rows.len(), 2, "{t}");
    })
    .await;
}

#[tokio::test]
async fn shapes_it_cannot_map_exactly_are_refused() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        let mut statements = vec![
            "INSERT INTO post (id, tenant_id, title) SELECT *, 'acme' FROM (SELECT 99 AS a, 'globex' AS b) s",
            "INSERT INTO post (id, title) SELECT 1, 'a', 'b'",
            "INSERT INTO post (id, title) SELECT * FROM post",
        ];
        if t.kind == Kind::Postgres {
            statements.push("SELECT * FROM post AS p(id, real_tenant, tenant_id)");
        }
        assert_all_refused(t, &conn, &statements).await;
        assert_eq!(common::all_posts(t).await.len(), 4, "{t}: nothing was written");
    })
    .await;
}

#[tokio::test]
async fn the_rewrite_keeps_the_meaning_of_what_it_accepts() {
    each_backend_of(&[Kind::Sqlite, Kind::Postgres], async |t| {
        let Planted { conn, .. } = planted(t).await;
        // acme has 2 posts, globex 2, country 1 row.
        let count = |rows: Vec<QueryResult>| -> i64 {
            rows[0].try_get_by_index::<i64>(0).expect("a count")
        };
        // A comma item before a RIGHT JOIN: SQLite reads it as
        // (post, country) RIGHT JOIN k, so every k row stays.
        let rows = all(
            &conn,
            t,
            "SELECT count(*) FROM post, country RIGHT JOIN country AS k ON 1 = 0",
        )
        .await
        .expect("comma before RIGHT JOIN");
        let expected = if t.kind == Kind::Sqlite { 1 } else { 2 };
        assert_eq!(count(rows), expected, "{t}");
        // A CTE named like a tenant table is the CTE.
        let rows = all(&conn, t, "WITH post AS (SELECT 1 AS x) SELECT x FROM post")
            .await
            .expect("a CTE shadowing a table");
        assert_eq!(rows.len(), 1, "{t}");
        // ... but inside its own body the name is the table, confined
        // (SQLite takes it for the CTE itself: a circular reference).
        let rows = all(
            &conn,
            t,
            "WITH post AS (SELECT id FROM post) SELECT count(*) FROM post",
        )
        .await;
        match t.kind {
            Kind::Sqlite => assert!(rows.is_err(), "{t}"),
            _ => assert_eq!(
                count(rows.expect("a CTE reading the table it shadows")),
                2,
                "{t}"
            ),
        }
        // A derived table and a set operation.
        let rows = all(
            &conn,
            t,
            "SELECT count(*) FROM (SELECT title FROM post UNION ALL SELECT title FROM post) s",
        )
        .await
        .expect("derived union");
        assert_eq!(count(rows), 4, "{t}");
    })
    .await;
}

#[tokio::test]
async fn no_error_depends_on_another_tenants_rows() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        // acme's titles are numbers and JSON paths; globex's are not.
        let plain = t.db.clone();
        let (set_a, index) = match t.kind {
            Kind::Sqlite => (
                "UPDATE post SET title = '$.a' WHERE tenant_id = 'acme'",
                "CREATE INDEX post_title ON post (title)",
            ),
            _ => (
                "UPDATE post SET title = '7' WHERE tenant_id = 'acme'",
                "CREATE INDEX post_title ON post (title)",
            ),
        };
        plain.execute_unprepared(set_a).await.expect("acme's titles");
        plain.execute_unprepared(index).await.expect("an index on title");
        // Postgres orders a scan's conditions by cost: an application's
        // function declared cheap runs before the tenant predicate unless
        // the wall guards it.
        let conn = if t.kind == Kind::Postgres {
            plain
                .execute_unprepared(
                    "CREATE FUNCTION sot_fail(text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE \
                     COST 0.0001 AS $$ BEGIN RETURN $1::int > 0; END $$",
                )
                .await
                .expect("a cheap function");
            conn.pure_function("sot_fail")
        } else {
            conn
        };
        let probes: &[&str] = match t.kind {
            Kind::Sqlite => &[
                "SELECT id FROM post WHERE json_extract('{}', title) IS NULL",
                "SELECT id FROM post WHERE title >= '' AND json_extract('{}', title) IS NULL",
                "SELECT json_extract('{}', title) FROM post",
                "SELECT id FROM post WHERE id IN (SELECT id FROM post WHERE json_extract('{}', title) IS NULL)",
                "SELECT * FROM (SELECT title AS x FROM post) s WHERE json_extract('{}', s.x) IS NULL",
                "UPDATE post SET title = title WHERE json_extract('{}', title) IS NULL",
            ],
            Kind::Postgres => &[
                "SELECT id FROM post WHERE title::int = 7",
                "SELECT id FROM post WHERE title >= '' AND CAST(title AS integer) > 0",
                "SELECT CAST(title AS integer) FROM post",
                "SELECT * FROM (SELECT title AS x FROM post) s WHERE s.x::int = 7",
                "SELECT id FROM post p WHERE (SELECT count(*) FROM post q WHERE q.id > p.id) < 1000 AND p.title::int = 7",
                "UPDATE post SET title = title WHERE title::int = 7",
                "DELETE FROM post WHERE title::int = 8",
                "SELECT id FROM post WHERE sot_fail(title)",
                "UPDATE post SET title = title WHERE sot_fail(title)",
            ],
            _ => &[
                "UPDATE post SET title = title WHERE CAST(title AS DECIMAL(10,0)) = 7",
                "UPDATE post SET title = title WHERE title >= '' AND CAST(title AS DECIMAL(10,0)) = 7",
                "DELETE FROM post WHERE CAST(title AS DECIMAL(10,0)) = 8",
                "SELECT id FROM post WHERE CAST(title AS DECIMAL(10,0)) = 7",
                "UPDATE post SET title = title WHERE title BETWEEN 'g' AND 'h' AND title = 0",
            ],
        };
        let mut leaks = Vec::new();
        for sql in probes {
            match conn.execute_raw(stmt(t, sql)).await {
                Ok(_) => {}
                Err(err) if refused(&err) => {}
                Err(err) => leaks.push(format!("{sql}: {err}")),
            }
        }
        assert!(leaks.is_empty(), "{t}: errors from globex's rows:\n{}", leaks.join("\n"));
    })
    .await;
}

#[tokio::test]
async fn a_locking_read_never_locks_another_tenants_row() {
    each_backend_of(&[Kind::Postgres, Kind::MySql], async |t| {
        let Planted {
            conn, g1, globex, ..
        } = planted(t).await;
        let sql = format!("SELECT * FROM post WHERE id = {} FOR UPDATE", g1.id);
        if t.kind == Kind::MySql {
            assert_all_refused(t, &conn, &[&sql]).await;
            return;
        }
        let txn = conn.begin().await.expect("acme's transaction");
        let rows = txn
            .query_all_raw(stmt(t, &sql))
            .await
            .expect("locking read");
        assert!(rows.is_empty(), "{t}: acme saw globex's row");
        // globex's own update does not wait for acme.
        let update = format!("UPDATE post SET title = 'g1 again' WHERE id = {}", g1.id);
        let done =
            tokio::time::timeout(Duration::from_secs(5), globex.execute_raw(stmt(t, &update)))
                .await;
        assert!(
            matches!(done, Ok(Ok(_))),
            "{t}: globex's update waited on acme's lock: {done:?}"
        );
        txn.rollback().await.expect("rollback");
    })
    .await;
}

#[tokio::test]
async fn sequences_are_the_tenants_own_or_refused() {
    each_backend_of(&[Kind::Postgres], async |t| {
        let Planted { conn, .. } = planted(t).await;
        // Unqualified (resolved in the tenant's search_path): allowed.
        let rows = all(&conn, t, "SELECT nextval('post_id_seq')").await;
        assert!(rows.is_ok(), "{t}: {rows:?}");
        assert_all_refused(
            t,
            &conn,
            &[
                "SELECT nextval('tenant_globex.post_id_seq')",
                "SELECT nextval('other.public.post_id_seq')",
                "SELECT nextval(title) FROM post",
                "SELECT setval('post_id_seq', 1)",
            ],
        )
        .await;
    })
    .await;
}

/// The child process of
/// [`a_statement_too_deep_is_refused_and_the_process_lives`]: sends the
/// deep statements and exits normally if each was refused.
#[tokio::test]
async fn deep_statements_child() {
    if std::env::var_os("SOT_DEEP_CHILD").is_none() {
        return;
    }
    let db = sea_orm::Database::connect("sqlite::memory:")
        .await
        .expect("sqlite");
    let conn = TenantConnection::new(db, acme());
    for n in [2_000, 100_000] {
        let sql = format!("SELECT {}1", "1+".repeat(n));
        let err = conn
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                sql,
            ))
            .await
            .expect_err("refused");
        assert!(refused(&err), "{err}");
    }
    let nested = format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000));
    let err = conn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            nested,
        ))
        .await
        .expect_err("refused");
    assert!(refused(&err), "{err}");
    // Just under the bounds: planned without overflowing, and run.
    let sql = format!("SELECT {}1", "1+".repeat(900));
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            sql,
        ))
        .await
        .expect("900 operators run");
    assert_eq!(rows.len(), 1);
    let _ = globex();
}

#[test]
fn a_statement_too_deep_is_refused_and_the_process_lives() {
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "deep_statements_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SOT_DEEP_CHILD", "1")
        .output()
        .expect("the child runs");
    assert!(
        out.status.success(),
        "the child died ({:?}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "the child ran its test"
    );
}
