//! Rule 12, what a shared-schema `TenantConnection` refuses before anything
//! is sent, on every backend, and bad input that must be confined or
//! refused: several statements in one string (also hidden behind comments),
//! writes to the tenant column (in any case or quoting), data-modifying
//! CTEs, SQL that does not parse, anything that is not SELECT / INSERT /
//! UPDATE / DELETE (DDL, utility statements, transaction control, session
//! state, procedural code), `REPLACE` / `INSERT OR REPLACE`, `set_config`
//! anywhere, names qualified with another schema or database, MySQL's
//! executable comments, backslash escapes in MySQL strings, Postgres-only
//! forms (`TABLE post`, `ONLY`, Unicode-escaped names, `query_to_xml`).
//! What other sessions left readable is in `confinement_side_channels.rs`.
//!
//! After each attempt the test database is read directly: nothing changed,
//! and globex's rows are all there. Refusals are recognised by
//! `TenantError::is_refused` (`TenantError::Refused`, or `SessionState`
//! on Postgres).

mod common;

use common::confine::{Planted, failed_or, ident, planted, posts_of, refused, stmt, tenants_of};
use common::{Kind, TestDb, all_posts, each_backend, globex};
use sea_orm::{ConnectionTrait, TransactionTrait};
use sea_orm_tenant::TenantConnection;

/// `sql` is refused through `execute_unprepared` and `query_all_raw`, and
/// the post table is as it was.
async fn assert_refused(t: &TestDb, conn: &TenantConnection, sql: &str) {
    let before = all_posts(t).await;
    match conn.execute_unprepared(sql).await {
        Ok(done) => panic!("{t}: ran: {sql:?}: {done:?}"),
        Err(err) => assert!(refused(&err), "{t}: {sql:?}: not a refusal: {err}"),
    }
    match conn.query_all_raw(stmt(t, sql)).await {
        Ok(rows) => panic!("{t}: ran as a query: {sql:?}: {} row(s)", rows.len()),
        Err(err) => assert!(refused(&err), "{t}: {sql:?} as a query: {err}"),
    }
    assert_eq!(all_posts(t).await, before, "{t}: {sql:?} changed the table");
}

#[tokio::test]
async fn several_statements_in_one_string_are_refused() {
    each_backend(async |t| {
        let Planted { a1, conn, .. } = planted(t).await;
        for sql in [
            "SELECT * FROM post; DELETE FROM post".to_owned(),
            "SELECT 1; DELETE FROM post".to_owned(),
            format!("DELETE FROM post WHERE id = {}; DELETE FROM post", a1.id),
            "SELECT 1 -- x\n; DELETE FROM post".to_owned(),
            "SELECT 1 /* ; */; DELETE FROM post".to_owned(),
            "SELECT 1; /* only a comment */ DELETE FROM post;".to_owned(),
            "UPDATE post SET title = 'x'; UPDATE post SET tenant_id = 'acme'".to_owned(),
        ] {
            assert_refused(t, &conn, &sql).await;
        }
    })
    .await;
}

#[tokio::test]
async fn writes_to_the_tenant_column_are_refused_in_any_spelling() {
    each_backend(async |t| {
        let Planted { a1, conn, .. } = planted(t).await;
        let mut refused_everywhere = vec![
            "UPDATE post SET tenant_id = 'globex'".to_owned(),
            "UPDATE post SET tenant_id = 'acme'".to_owned(),
            format!(
                "UPDATE post SET title = 'moved', tenant_id = 'globex' WHERE id = {}",
                a1.id
            ),
            // Unquoted names fold to the tenant column on every backend.
            "UPDATE post SET TENANT_ID = 'globex'".to_owned(),
            "UPDATE post SET Tenant_Id = 'globex'".to_owned(),
            format!("UPDATE post SET {} = 'globex'", ident(t, "tenant_id")),
        ];
        // Quoted in another case: the tenant column on SQLite and MySQL; a
        // column that does not exist on Postgres (checked below).
        let other_case = [
            format!("UPDATE post SET {} = 'globex'", ident(t, "TENANT_ID")),
            format!("UPDATE post SET {} = 'globex'", ident(t, "Tenant_Id")),
        ];
        match t.kind {
            Kind::Postgres => {
                refused_everywhere.extend([
                    "UPDATE post AS p SET tenant_id = 'globex'".to_owned(),
                    "UPDATE post SET (tenant_id, title) = ('globex', 'x')".to_owned(),
                ]);
            }
            Kind::MySql => {
                refused_everywhere.extend([
                    "UPDATE post AS p SET p.tenant_id = 'globex'".to_owned(),
                    "UPDATE post p JOIN post q ON q.id = p.id SET p.tenant_id = 'globex'"
                        .to_owned(),
                ]);
                refused_everywhere.extend(other_case.clone());
            }
            Kind::Sqlite => refused_everywhere.extend(other_case.clone()),
        }
        for sql in &refused_everywhere {
            assert_refused(t, &conn, sql).await;
        }
        if t.kind == Kind::Postgres {
            let before = all_posts(t).await;
            for sql in &other_case {
                let result = conn.execute_unprepared(sql).await;
                assert!(result.is_err(), "{t}: {sql}: {result:?}");
            }
            assert_eq!(all_posts(t).await, before, "{t}: the table changed");
        }
    })
    .await;
}

#[tokio::test]
async fn data_modifying_ctes_are_refused() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        for sql in [
            "WITH x AS (DELETE FROM post RETURNING *) SELECT * FROM x",
            "WITH x AS (UPDATE post SET title = 'pwned' RETURNING *) SELECT count(*) FROM x",
            "WITH x AS (INSERT INTO post (tenant_id, title) VALUES ('globex', 'planted') \
             RETURNING *) SELECT * FROM x",
            "WITH x AS (DELETE FROM post RETURNING id) DELETE FROM post WHERE id IN (SELECT id FROM x)",
        ] {
            assert_refused(t, &conn, sql).await;
        }
    })
    .await;
}

#[tokio::test]
async fn sql_that_does_not_parse_is_refused() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        for sql in [
            "SELEC * FRM post",
            "DELETE FROM post WHERE",
            "SELECT * FROM post WHERE title = 'unterminated",
        ] {
            assert_refused(t, &conn, sql).await;
        }
    })
    .await;
}

#[tokio::test]
async fn statements_other_than_select_insert_update_delete_are_refused() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        // Whatever the backend: refused before sending, whether or not this
        // backend would understand the statement.
        let mut sqls = vec![
            "DROP TABLE post",
            "TRUNCATE post",
            "TRUNCATE TABLE post",
            "ALTER TABLE post ADD COLUMN leak INT",
            "CREATE TABLE stolen (id INT)",
            "CREATE TABLE stolen AS SELECT * FROM post",
            "CREATE VIEW every_post AS SELECT * FROM post",
            "CREATE INDEX leak_idx ON post (title)",
            "DROP INDEX IF EXISTS leak_idx",
            "GRANT SELECT ON post TO PUBLIC",
            "ANALYZE DELETE FROM post",
            "ANALYZE post",
            "VACUUM",
            "COPY post TO STDOUT",
            "PREPARE s AS DELETE FROM post",
            "PREPARE s FROM 'DELETE FROM post'",
            "EXECUTE s",
            "DEALLOCATE ALL",
            "DO $$ BEGIN DELETE FROM post; END $$",
            "DO (SELECT count(*) FROM post)",
            "CALL cleanup()",
            "LISTEN channel",
            "NOTIFY channel",
            "COMMENT ON TABLE post IS 'x'",
            "PRAGMA foreign_keys = OFF",
            "ATTACH DATABASE ':memory:' AS other",
            "DETACH DATABASE other",
            "USE test",
            "HANDLER post OPEN",
            "FLUSH TABLES",
            "OPTIMIZE TABLE post",
            "RENAME TABLE post TO stolen",
            // SELECT ... INTO a new table is DDL in a SELECT's clothes.
            "SELECT * INTO stolen FROM post",
        ];
        match t.kind {
            // A transaction-scoped lock: harmless to try elsewhere too, but
            // MySQL's LOCK TABLES would outlive the statement.
            Kind::Postgres => sqls.push("LOCK TABLE post IN ACCESS EXCLUSIVE MODE"),
            // Every tenant's writes, where the binary log is on. (Postgres
            // reads `SHOW x` as a setting, which is allowed.)
            Kind::MySql => sqls.extend(["SHOW BINLOG EVENTS", "SHOW RELAYLOG EVENTS"]),
            Kind::Sqlite => {}
        }
        for sql in sqls {
            assert_refused(t, &conn, sql).await;
        }
        // Nothing was created either.
        let stolen = t.db.query_all_raw(stmt(t, "SELECT * FROM stolen")).await;
        assert!(stolen.is_err(), "{t}: table `stolen` was created");
    })
    .await;
}

/// `EXPLAIN` (whose `ANALYZE` runs the statement) is confined like the
/// statement it explains, or refused (or is not the backend's syntax):
/// either way nothing of globex's is touched, and explaining a statement
/// that would be refused is refused.
#[tokio::test]
async fn explain_is_confined_like_its_statement_or_refused() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        let theirs = posts_of(t, &globex()).await;
        for sql in [
            "EXPLAIN DELETE FROM post",
            "EXPLAIN SELECT * FROM post WHERE tenant_id = 'globex'",
            "EXPLAIN ANALYZE DELETE FROM post WHERE tenant_id = 'globex'",
            "EXPLAIN ANALYZE UPDATE post SET title = 'pwned'",
        ] {
            // Confined, refused, or not this backend's syntax.
            let _ = conn.execute_unprepared(sql).await;
            assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: {sql}");
        }
        for sql in [
            "EXPLAIN ANALYZE UPDATE post SET tenant_id = 'globex'",
            "EXPLAIN ANALYZE WITH x AS (DELETE FROM post RETURNING *) SELECT * FROM x",
            "EXPLAIN ANALYZE SELECT * FROM other.post",
            "EXPLAIN DROP TABLE post",
        ] {
            assert_refused(t, &conn, sql).await;
        }
        assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: globex's rows");
    })
    .await;
}

#[tokio::test]
async fn transaction_control_and_session_state_are_refused() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        for sql in [
            "BEGIN",
            "START TRANSACTION",
            "COMMIT",
            "ROLLBACK",
            "SAVEPOINT s",
            "RELEASE SAVEPOINT s",
            "SET search_path TO public",
            "SET LOCAL search_path TO public",
            "SET app.tenant_id = 'globex'",
            "SET LOCAL app.tenant_id = 'globex'",
            "SET SESSION app.tenant_id = 'globex'",
            "RESET ALL",
            "SET ROLE postgres",
            "SET @tenant = 'globex'",
            "SET sql_mode = 'ANSI_QUOTES'",
            "SET autocommit = 0",
            "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
            "DISCARD ALL",
        ] {
            assert_refused(t, &conn, sql).await;
        }

        // Inside a transaction of the connection: refused, and the
        // transaction goes on with its tenant.
        let txn = conn.begin().await.expect("begin");
        for sql in [
            "COMMIT",
            "ROLLBACK",
            "SET LOCAL app.tenant_id = 'globex'",
            "SET @tenant = 'globex'",
        ] {
            let err = txn.execute_unprepared(sql).await.expect_err(sql);
            assert!(refused(&err), "{t}: {sql} in a transaction: {err}");
        }
        let rows = txn.query_all_raw(stmt(t, "SELECT * FROM post")).await;
        let tenants = rows.map(|r| tenants_of(&r));
        assert_eq!(
            tenants,
            Ok(vec!["acme".to_owned(); 2]),
            "{t}: after the refusals"
        );
        txn.commit().await.expect("commit");
    })
    .await;
}

#[tokio::test]
async fn replace_and_insert_or_replace_on_tenant_tables_are_refused() {
    each_backend(async |t| {
        let Planted { g1, conn, .. } = planted(t).await;
        for sql in [
            format!("REPLACE INTO post (id, title) VALUES ({}, 'pwned')", g1.id),
            format!(
                "REPLACE INTO post (id, tenant_id, title) VALUES ({}, 'acme', 'pwned')",
                g1.id
            ),
            format!("REPLACE post SET id = {}, title = 'pwned'", g1.id),
            format!(
                "INSERT OR REPLACE INTO post (id, tenant_id, title) VALUES ({}, 'acme', 'pwned')",
                g1.id
            ),
            format!(
                "INSERT OR REPLACE INTO post (id, title) VALUES ({}, 'pwned')",
                g1.id
            ),
            format!(
                "REPLACE INTO legacy_post (id, title) VALUES ({}, 'pwned')",
                g1.id
            ),
        ] {
            assert_refused(t, &conn, &sql).await;
        }
    })
    .await;
}

#[tokio::test]
async fn set_config_anywhere_is_refused() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        for sql in [
            "SELECT set_config('app.tenant_id', 'globex', true)",
            "SELECT set_config('app.tenant_id', 'globex', false)",
            "SELECT * FROM post WHERE set_config('app.tenant_id', 'globex', true) IS NOT NULL",
            "SELECT * FROM post WHERE title = (SELECT set_config('search_path', 'public', true))",
            "UPDATE post SET title = set_config('app.tenant_id', 'globex', true)",
            "SELECT SET_CONFIG('app.tenant_id', 'globex', true)",
            "SELECT pg_catalog.set_config('app.tenant_id', 'globex', true)",
        ] {
            assert_refused(t, &conn, sql).await;
        }
        if t.kind == Kind::Postgres {
            // As a table function, in FROM (where only Postgres has it).
            for sql in [
                "SELECT * FROM set_config('app.tenant_id', 'globex', true)",
                "SELECT * FROM pg_catalog.set_config('search_path', 'public', true) AS s",
                "SELECT p.* FROM post p, set_config('app.tenant_id', 'globex', true) AS s",
            ] {
                assert_refused(t, &conn, sql).await;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn names_qualified_with_another_schema_or_database_are_refused() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        let mut sqls = vec![
            "SELECT * FROM test.post".to_owned(),
            "SELECT count(*) FROM other.post".to_owned(),
            "UPDATE other.post SET title = 'pwned'".to_owned(),
            "DELETE FROM other.post".to_owned(),
            "SELECT * FROM post WHERE id IN (SELECT id FROM other.post)".to_owned(),
            "SELECT p.* FROM post p JOIN other.post q ON q.id = p.id".to_owned(),
            "INSERT INTO other.post (title) VALUES ('x')".to_owned(),
        ];
        match t.kind {
            Kind::Postgres => sqls.extend(
                [
                    "SELECT * FROM pg_temp.post",
                    "SELECT * FROM \"PUBLIC\".post",
                    "SELECT * FROM tenant_globex.post",
                    "SELECT * FROM test.public.post",
                ]
                .map(String::from),
            ),
            Kind::Sqlite => {
                sqls.extend(["SELECT * FROM \"other\".\"post\""].map(String::from));
            }
            Kind::MySql => {
                // Every database qualifier but information_schema, even the
                // connection's own database.
                let row =
                    t.db.query_one_raw(stmt(t, "SELECT DATABASE() AS d"))
                        .await
                        .expect("database")
                        .expect("row");
                let own: String = row.try_get("", "d").expect("name");
                sqls.extend([
                    format!("SELECT * FROM {own}.post"),
                    format!("SELECT * FROM `{own}`.`post`"),
                    format!("UPDATE {own}.post SET title = 'pwned'"),
                    format!("DELETE FROM {own}.post"),
                    "SELECT * FROM mysql.user".to_owned(),
                ]);
            }
        }
        for sql in &sqls {
            assert_refused(t, &conn, sql).await;
        }
    })
    .await;
}

#[tokio::test]
async fn mysql_executable_comments_do_not_reach_another_tenant() {
    each_backend(async |t| {
        let Planted { a1, conn, .. } = planted(t).await;
        let theirs = posts_of(t, &globex()).await;
        let before = all_posts(t).await;

        for sql in [
            "SELECT * FROM post /*! UNION SELECT * FROM post */".to_owned(),
            "SELECT * FROM post /*!50000 UNION ALL SELECT * FROM post */".to_owned(),
            format!("SELECT * FROM post WHERE id = {} /*! OR 1 = 1 */", a1.id),
            "SELECT * FROM post WHERE tenant_id = 'acme' /*! OR tenant_id = 'globex' */".to_owned(),
        ] {
            let rows = conn.query_all_raw(stmt(t, &sql)).await;
            let tenants = rows.map(|r| tenants_of(&r));
            failed_or(t, &sql, tenants, |ts| ts.iter().all(|x| x == "acme"));
        }
        for sql in [
            format!("DELETE FROM post WHERE id = {} /*! OR 1 = 1 */", a1.id),
            format!("DELETE FROM post WHERE id = {} /*!50000 OR 1 = 1 */", a1.id),
            format!(
                "UPDATE post SET title = 'x' /*! , tenant_id = 'globex' */ WHERE id = {}",
                a1.id
            ),
            "SELECT 1 /*!; DELETE FROM post */".to_owned(),
            "SELECT 1 /*! ; UPDATE post SET title = 'pwned' */".to_owned(),
        ] {
            let _ = conn.execute_unprepared(&sql).await;
            assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: {sql}");
        }
        // No row moved to another tenant.
        let tenants_by_id: Vec<(i32, String)> = all_posts(t)
            .await
            .into_iter()
            .map(|p| (p.id, p.tenant_id))
            .collect();
        let before: Vec<(i32, String)> = before
            .into_iter()
            .filter(|p| tenants_by_id.iter().any(|(id, _)| *id == p.id))
            .map(|p| (p.id, p.tenant_id))
            .collect();
        assert_eq!(tenants_by_id, before, "{t}: a row changed tenant");
    })
    .await;
}

#[tokio::test]
async fn backslash_escapes_in_strings_do_not_reach_another_tenant() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        let theirs = posts_of(t, &globex()).await;
        // MySQL reads `'\''` as one quote in a string; standard SQL reads a
        // backslash, then code. Either way only acme's rows may come back.
        for sql in [
            r"SELECT * FROM post WHERE title = '\'' OR tenant_id <> 'x' -- '",
            r"SELECT * FROM post WHERE title = '\\' OR tenant_id = 'globex' -- '",
            r"SELECT * FROM post WHERE title = 'a\' UNION SELECT * FROM post -- '",
        ] {
            let rows = conn.query_all_raw(stmt(t, sql)).await;
            let tenants = rows.map(|r| tenants_of(&r));
            failed_or(t, sql, tenants, |ts| ts.iter().all(|x| x == "acme"));
        }
        for sql in [
            r"DELETE FROM post WHERE title = '\'' OR tenant_id <> 'x' -- '",
            r"UPDATE post SET title = '\'' WHERE tenant_id = 'globex' OR 'a' = 'a' -- '",
        ] {
            let _ = conn.execute_unprepared(sql).await;
            assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: {sql}");
        }
    })
    .await;
}

#[tokio::test]
async fn postgres_only_forms_are_confined_or_refused() {
    common::each_backend_of(&[Kind::Postgres], async |t| {
        let Planted { conn, .. } = planted(t).await;
        let theirs = posts_of(t, &globex()).await;

        for sql in [
            "TABLE post",
            "SELECT * FROM ONLY post",
            "SELECT * FROM post*",
            r#"SELECT * FROM U&"\0070ost""#,
            r#"SELECT * FROM post WHERE U&"tenant\005fid" = 'globex'"#,
            "SELECT * FROM post FOR UPDATE",
            "SELECT * FROM post TABLESAMPLE SYSTEM (100)",
            "SELECT * FROM ROWS FROM (generate_series(1, 1)) AS g, post",
        ] {
            let rows = conn.query_all_raw(stmt(t, sql)).await;
            let tenants = rows.map(|r| tenants_of(&r));
            failed_or(t, sql, tenants, |ts| ts.iter().all(|x| x == "acme"));
        }
        // Functions that run SQL of their own (an eval): refused, or their
        // SQL is confined as well.
        for sql in [
            "SELECT query_to_xml('SELECT * FROM post', true, true, '')::text AS x",
            "SELECT table_to_xml('post', true, true, '')::text AS x",
            // The same functions as table functions, in FROM.
            "SELECT x::text AS x FROM query_to_xml('SELECT * FROM post', true, true, '') AS x",
            "SELECT x::text AS x FROM table_to_xml('post', true, true, '') AS x",
            "SELECT x::text AS x FROM post p, query_to_xml('SELECT * FROM post', true, true, '') AS x",
        ] {
            let row = conn.query_one_raw(stmt(t, sql)).await;
            let text: Result<Option<String>, _> =
                row.map(|r| r.and_then(|r| r.try_get::<String>("", "x").ok()));
            failed_or(t, sql, text, |x| {
                !x.as_deref().unwrap_or_default().contains("globex")
            });
        }
        for sql in [
            r#"UPDATE U&"\0070ost" SET title = 'pwned'"#,
            r#"DELETE FROM U&"\0070ost" WHERE U&"tenant\005fid" = 'globex'"#,
            "DELETE FROM ONLY post WHERE tenant_id = 'globex'",
        ] {
            let _ = conn.execute_unprepared(sql).await;
            assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: {sql}");
        }
    })
    .await;
}
