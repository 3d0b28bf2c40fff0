//! Rule 12, confinement, for raw SQL on a shared-schema `TenantConnection`
//! (`query_all_raw`, `query_one_raw`, `stream_raw`, `execute_raw` with bound
//! values, `execute_unprepared`), on every backend: reads see only the
//! tenant's rows wherever a tenant table appears (FROM, JOINs, subqueries,
//! CTEs, UNION / EXCEPT branches, EXISTS, scalar subqueries); UPDATE and
//! DELETE touch only its rows (aliases, comments in front, schema
//! qualifiers, identifiers in other cases or quotes); INSERT gets its
//! tenant, INSERT ... SELECT copies only its rows, and upserts against
//! another tenant's key leave that row as it was.
//!
//! Statements that are refused outright are in `confinement_refused.rs`.
//! globex's rows are planted on the test database directly and checked
//! there afterwards. Postgres runs as a superuser without RLS policies.

mod common;

use common::confine::{
    Planted, count_raw, failed_or, ident, ph, planted, posts_of, refused, stmt, tenant_error,
    tenants_of,
};
use common::{Kind, TestDb, acme, add_post, all_posts, each_backend, globex};
use futures_util::TryStreamExt;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, EntityTrait, QueryResult, Statement, StreamTrait,
    TransactionTrait,
};
use sea_orm_tenant::doc_entities::country;

fn acme_rows(t: &TestDb, what: &str, rows: Result<Vec<QueryResult>, sea_orm::DbErr>, n: usize) {
    let rows = rows.unwrap_or_else(|err| panic!("{t}: {what}: {err}"));
    assert_eq!(
        tenants_of(&rows),
        vec!["acme"; n],
        "{t}: {what}: the tenants of the rows returned"
    );
}

#[tokio::test]
async fn raw_select_sees_only_its_tenant() {
    each_backend(async |t| {
        let Planted { g1, conn, .. } = planted(t).await;

        let rows = conn.query_all_raw(stmt(t, "SELECT * FROM post")).await;
        acme_rows(t, "SELECT * FROM post", rows, 2);
        let by_id = format!("SELECT * FROM post WHERE id = {}", g1.id);
        let row = conn.query_one_raw(stmt(t, &by_id)).await;
        assert!(matches!(row, Ok(None)), "{t}: {by_id}: {row:?}");
        assert_eq!(
            count_raw(&conn, t, "SELECT count(*) AS n FROM post").await,
            Ok(2)
        );
        for sql in [
            "SELECT p.tenant_id, p.title FROM post p WHERE p.tenant_id = 'globex'",
            "SELECT tenant_id, title FROM post WHERE title = 'globex secret'",
        ] {
            acme_rows(t, sql, conn.query_all_raw(stmt(t, sql)).await, 0);
        }
        let sql = "SELECT * FROM post WHERE tenant_id = 'acme' OR 1 = 1";
        acme_rows(t, sql, conn.query_all_raw(stmt(t, sql)).await, 2);

        // Bound values.
        let sql = format!("SELECT * FROM post WHERE id = {}", ph(t, 1));
        let bound = Statement::from_sql_and_values(t.backend(), &sql, [g1.id.into()]);
        acme_rows(t, "bound id", conn.query_all_raw(bound).await, 0);
        let sql = format!("SELECT * FROM post WHERE tenant_id = {}", ph(t, 1));
        let bound = Statement::from_sql_and_values(t.backend(), &sql, ["globex".into()]);
        acme_rows(t, "bound tenant", conn.query_all_raw(bound).await, 0);

        // A stream, and the same inside a transaction.
        let streamed: Vec<QueryResult> = conn
            .stream_raw(stmt(t, "SELECT * FROM post"))
            .await
            .expect("stream_raw")
            .try_collect()
            .await
            .expect("rows");
        acme_rows(t, "stream_raw", Ok(streamed), 2);
        let txn = conn.begin().await.expect("begin");
        let rows = txn.query_all_raw(stmt(t, "SELECT * FROM post")).await;
        acme_rows(t, "in a transaction", rows, 2);
        txn.commit().await.expect("commit");
    })
    .await;
}

#[tokio::test]
async fn raw_update_and_delete_touch_only_its_tenant() {
    each_backend(async |t| {
        let Planted { g1, conn, .. } = planted(t).await;
        add_post(t, &acme(), "same").await;
        add_post(t, &globex(), "same").await;
        let theirs = posts_of(t, &globex()).await;

        let done = conn
            .execute_raw(stmt(t, "UPDATE post SET title = 'raw'"))
            .await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(3), "{t}: UPDATE post");
        let sql = format!("UPDATE post SET title = 'pwned' WHERE id = {}", g1.id);
        let done = conn.execute_raw(stmt(t, &sql)).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(0), "{t}: {sql}");
        let sql = format!(
            "UPDATE post SET title = {} WHERE id = {}",
            ph(t, 1),
            ph(t, 2)
        );
        let bound =
            Statement::from_sql_and_values(t.backend(), &sql, ["pwned".into(), g1.id.into()]);
        let done = conn.execute_raw(bound).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(0), "{t}: bound update");
        let sql = format!("DELETE FROM post WHERE id = {}", g1.id);
        let done = conn.execute_raw(stmt(t, &sql)).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(0), "{t}: {sql}");
        assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: globex's rows");

        let done = conn
            .execute_unprepared("UPDATE post SET title = 'same' WHERE title = 'raw'")
            .await;
        assert_eq!(
            done.map(|r| r.rows_affected()),
            Ok(3),
            "{t}: execute_unprepared"
        );
        let done = conn
            .execute_unprepared("DELETE FROM post WHERE title = 'same'")
            .await;
        assert_eq!(
            done.map(|r| r.rows_affected()),
            Ok(3),
            "{t}: DELETE by title"
        );
        assert_eq!(all_posts(t).await, theirs, "{t}: globex's rows");
    })
    .await;
}

#[tokio::test]
async fn raw_insert_gets_its_tenant() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        let theirs = posts_of(t, &globex()).await;

        let sql = "INSERT INTO post (title) VALUES ('raw 1')";
        let done = conn.execute_raw(stmt(t, sql)).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(1), "{t}: {sql}");
        let sql = "INSERT INTO post (title) VALUES ('raw 2'), ('raw 3')";
        let done = conn.execute_unprepared(sql).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(2), "{t}: {sql}");
        let sql = "INSERT INTO post (tenant_id, title) VALUES ('acme', 'raw 4')";
        let done = conn.execute_unprepared(sql).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(1), "{t}: {sql}");
        let sql = format!("INSERT INTO post (title) VALUES ({})", ph(t, 1));
        let bound = Statement::from_sql_and_values(t.backend(), &sql, ["raw 5".into()]);
        let done = conn.execute_raw(bound).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(1), "{t}: bound insert");

        assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: globex's rows");
        let mine = posts_of(t, &acme()).await;
        assert_eq!(mine.len(), 7, "{t}: acme's rows: {mine:?}");
    })
    .await;
}

#[tokio::test]
async fn raw_insert_naming_another_tenant_is_refused() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        let before = all_posts(t).await;

        for sql in [
            "INSERT INTO post (tenant_id, title) VALUES ('globex', 'planted')",
            "INSERT INTO post (title, tenant_id) VALUES ('planted', 'globex')",
            "INSERT INTO post (tenant_id, title) VALUES ('acme', 'own'), ('globex', 'planted')",
            // Rule 10: a case twin is another tenant.
            "INSERT INTO post (tenant_id, title) VALUES ('ACME', 'planted')",
        ] {
            let err = conn.execute_unprepared(sql).await.expect_err(sql);
            assert!(tenant_error(&err), "{t}: {sql}: {err}");
            let err = conn.execute_raw(stmt(t, sql)).await.expect_err(sql);
            assert!(tenant_error(&err), "{t}: {sql}: {err}");
        }
        // Another tenant as a bound value.
        let sql = format!(
            "INSERT INTO post (tenant_id, title) VALUES ({}, {})",
            ph(t, 1),
            ph(t, 2)
        );
        let bound =
            Statement::from_sql_and_values(t.backend(), &sql, ["globex".into(), "x".into()]);
        let err = conn.execute_raw(bound).await.expect_err("bound");
        assert!(tenant_error(&err), "{t}: bound tenant: {err}");
        // A tenant it cannot read off the statement.
        let sql = "INSERT INTO post (tenant_id, title) VALUES (lower('GLOBEX'), 'planted')";
        let result = conn.execute_unprepared(sql).await;
        assert!(result.is_err(), "{t}: {sql}: {result:?}");

        assert_eq!(all_posts(t).await, before, "{t}: the table changed");
    })
    .await;
}

#[tokio::test]
async fn raw_insert_select_copies_only_its_tenants_rows() {
    each_backend(async |t| {
        let Planted { g1, conn, .. } = planted(t).await;
        let theirs = posts_of(t, &globex()).await;

        let sql = "INSERT INTO post (title) SELECT title FROM post";
        let done = conn.execute_unprepared(sql).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(2), "{t}: {sql}");
        let sql = format!(
            "INSERT INTO post (title) SELECT title FROM post WHERE id = {}",
            g1.id
        );
        let done = conn.execute_unprepared(&sql).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(0), "{t}: {sql}");
        // Copying the tenant column: confined (acme's rows only) or refused.
        let sql = "INSERT INTO post (tenant_id, title) SELECT tenant_id, title FROM post";
        let result = conn.execute_unprepared(sql).await;
        if let Err(err) = &result {
            assert!(refused(err), "{t}: {sql}: {err}");
        }

        assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: globex's rows");
        let titles: Vec<String> = posts_of(t, &acme())
            .await
            .into_iter()
            .map(|p| p.title)
            .collect();
        assert!(
            titles.iter().all(|title| title == "a1" || title == "a2"),
            "{t}: acme got a copy of globex's row: {titles:?}"
        );
    })
    .await;
}

/// The upserts of each backend that conflict on globex's key `id`.
fn upserts_against(t: &TestDb, id: i32) -> Vec<String> {
    let insert = format!("INSERT INTO post (id, title) VALUES ({id}, 'pwned')");
    let insert_own =
        format!("INSERT INTO post (id, tenant_id, title) VALUES ({id}, 'acme', 'pwned')");
    let updates: &[&str] = match t.kind {
        Kind::MySql => &[
            " ON DUPLICATE KEY UPDATE title = VALUES(title)",
            " ON DUPLICATE KEY UPDATE title = 'pwned'",
            " ON DUPLICATE KEY UPDATE id = id",
        ],
        _ => &[
            " ON CONFLICT (id) DO UPDATE SET title = excluded.title",
            " ON CONFLICT (id) DO UPDATE SET title = 'pwned' WHERE post.tenant_id = 'globex'",
            " ON CONFLICT DO NOTHING",
        ],
    };
    updates
        .iter()
        .flat_map(|update| [format!("{insert}{update}"), format!("{insert_own}{update}")])
        .collect()
}

#[tokio::test]
async fn raw_upsert_against_another_tenants_row_leaves_it() {
    each_backend(async |t| {
        let Planted { g1, conn, .. } = planted(t).await;
        let theirs = posts_of(t, &globex()).await;

        for sql in upserts_against(t, g1.id) {
            // The insert may be skipped or fail; globex's row stays.
            let _ = conn.execute_unprepared(&sql).await;
            let _ = conn.execute_raw(stmt(t, &sql)).await;
            assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: {sql}");
        }
        // An upsert that would write the tenant column.
        let sql = match t.kind {
            Kind::MySql => format!(
                "INSERT INTO post (id, title) VALUES ({}, 'x') ON DUPLICATE KEY UPDATE tenant_id = 'acme'",
                g1.id
            ),
            _ => format!(
                "INSERT INTO post (id, title) VALUES ({}, 'x') ON CONFLICT (id) DO UPDATE SET tenant_id = 'acme'",
                g1.id
            ),
        };
        let err = conn.execute_unprepared(&sql).await.expect_err("tenant write");
        assert!(refused(&err), "{t}: {sql}: {err}");
        assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: globex's rows");
    })
    .await;
}

#[tokio::test]
async fn raw_upsert_on_its_own_row_updates_it() {
    each_backend(async |t| {
        let Planted { a1, conn, .. } = planted(t).await;
        let sql = match t.kind {
            Kind::MySql => format!(
                "INSERT INTO post (id, title) VALUES ({}, 'new') ON DUPLICATE KEY UPDATE title = VALUES(title)",
                a1.id
            ),
            _ => format!(
                "INSERT INTO post (id, title) VALUES ({}, 'new') ON CONFLICT (id) DO UPDATE SET title = excluded.title",
                a1.id
            ),
        };
        conn.execute_unprepared(&sql)
            .await
            .unwrap_or_else(|err| panic!("{t}: {sql}: {err}"));
        let row = all_posts(t).await.into_iter().find(|p| p.id == a1.id);
        assert_eq!(row.map(|p| p.title), Some("new".into()), "{t}: {sql}");
    })
    .await;
}

#[tokio::test]
async fn raw_reads_through_subqueries_ctes_and_unions_see_only_its_tenant() {
    each_backend(async |t| {
        let Planted { g1, conn, .. } = planted(t).await;
        let g = g1.id;

        for (sql, n) in [
            (
                "WITH x AS (SELECT * FROM post) SELECT * FROM x".to_owned(),
                2,
            ),
            (
                "SELECT tenant_id, title FROM post WHERE tenant_id = 'acme' \
                 UNION SELECT tenant_id, title FROM post WHERE tenant_id = 'globex'"
                    .to_owned(),
                2,
            ),
            (
                "SELECT tenant_id, title FROM post UNION ALL SELECT tenant_id, title FROM post"
                    .to_owned(),
                4,
            ),
            (
                "SELECT tenant_id, title FROM post \
                 EXCEPT SELECT tenant_id, title FROM post WHERE tenant_id = 'acme'"
                    .to_owned(),
                0,
            ),
            (
                format!("SELECT * FROM post WHERE id IN (SELECT id FROM post WHERE id = {g})"),
                0,
            ),
            (
                "SELECT * FROM (SELECT * FROM post WHERE tenant_id <> 'acme') AS sub".to_owned(),
                0,
            ),
            (
                "SELECT p.* FROM post p JOIN post q ON q.tenant_id = 'globex'".to_owned(),
                0,
            ),
            (
                "SELECT p.* FROM country c LEFT JOIN post p ON p.tenant_id = 'globex' \
                 WHERE p.id IS NOT NULL"
                    .to_owned(),
                0,
            ),
        ] {
            acme_rows(t, &sql, conn.query_all_raw(stmt(t, &sql)).await, n);
        }

        for (sql, n) in [
            (
                "SELECT count(*) AS n FROM country \
                 WHERE EXISTS (SELECT 1 FROM post WHERE tenant_id = 'globex')"
                    .to_owned(),
                0,
            ),
            (
                "SELECT count(*) AS n FROM country \
                 WHERE NOT EXISTS (SELECT 1 FROM post WHERE tenant_id = 'globex')"
                    .to_owned(),
                1,
            ),
            ("SELECT (SELECT count(*) FROM post) AS n".to_owned(), 2),
            (
                "SELECT count(*) AS n FROM (SELECT * FROM post) AS sub".to_owned(),
                2,
            ),
            ("SELECT count(*) AS n FROM country, post".to_owned(), 2),
            (
                "SELECT count(*) AS n FROM country LEFT JOIN post ON post.tenant_id = 'globex'"
                    .to_owned(),
                1,
            ),
            (
                format!("SELECT count(*) AS n FROM country WHERE {g} IN (SELECT id FROM post)"),
                0,
            ),
        ] {
            assert_eq!(count_raw(&conn, t, &sql).await, Ok(n), "{t}: {sql}");
        }

        let sql = format!("SELECT (SELECT title FROM post WHERE id = {g}) AS title");
        let row = conn.query_one_raw(stmt(t, &sql)).await.expect(&sql);
        let title: Option<String> = row.and_then(|r| r.try_get("", "title").ok());
        assert_eq!(title, None, "{t}: {sql}");
    })
    .await;
}

#[tokio::test]
async fn raw_writes_reading_another_tenant_through_a_subquery_leak_nothing() {
    each_backend(async |t| {
        let Planted { a1, g1, conn, .. } = planted(t).await;
        let theirs = posts_of(t, &globex()).await;

        let copy = format!(
            "UPDATE post SET title = (SELECT q.title FROM post q WHERE q.id = {}) WHERE id = {}",
            g1.id, a1.id
        );
        let _ = conn.execute_unprepared(&copy).await;
        let delete = format!(
            "DELETE FROM post WHERE id IN (SELECT id FROM post WHERE tenant_id = 'globex') OR id = {}",
            g1.id
        );
        let _ = conn.execute_unprepared(&delete).await;

        assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: globex's rows");
        let mine = posts_of(t, &acme()).await;
        assert!(
            mine.iter().all(|p| p.title != "globex secret"),
            "{t}: globex's title copied into acme's row: {mine:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn raw_names_in_other_cases_quotes_and_with_aliases_are_confined() {
    each_backend(async |t| {
        let Planted { g1, conn, .. } = planted(t).await;
        let theirs = posts_of(t, &globex()).await;
        let mut names = vec![
            "POST".to_owned(),
            "Post".to_owned(),
            ident(t, "post"),
            ident(t, "POST"),
            ident(t, "Post"),
        ];
        if t.kind == Kind::Sqlite {
            names.extend(["[post]", "[POST]", "`POST`", "'post'"].map(String::from));
        }

        for name in &names {
            // The table may not exist under that name (Postgres, MySQL); if
            // it does, only acme's rows come back and change.
            let sql = format!("SELECT * FROM {name}");
            let rows = conn.query_all_raw(stmt(t, &sql)).await;
            failed_or(t, &sql, rows.map(|r| tenants_of(&r)), |r| {
                r.iter().all(|tenant| tenant == "acme")
            });
            let sql = format!(
                "SELECT * FROM {name} WHERE {} = 'globex'",
                ident(t, "TENANT_ID")
            );
            let rows = conn.query_all_raw(stmt(t, &sql)).await;
            failed_or(t, &sql, rows.map(|r| tenants_of(&r)), |r| r.is_empty());
            let sql = format!("UPDATE {name} SET title = 'pwned'");
            let _ = conn.execute_unprepared(&sql).await;
            assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: {sql}");
        }

        let aliased = match t.kind {
            Kind::MySql => vec![
                format!("DELETE p FROM post AS p WHERE p.id = {}", g1.id),
                format!(
                    "DELETE p FROM post p JOIN post q ON q.id = p.id WHERE q.tenant_id = 'globex'"
                ),
                format!(
                    "UPDATE post AS p SET p.title = 'pwned' WHERE p.id = {}",
                    g1.id
                ),
                format!("UPDATE post p JOIN post q ON q.id = p.id SET p.title = 'pwned'"),
            ],
            _ => vec![
                format!("DELETE FROM post AS p WHERE p.id = {}", g1.id),
                format!("DELETE FROM post AS p WHERE p.tenant_id = 'globex'"),
                format!(
                    "UPDATE post AS p SET title = 'pwned' WHERE p.id = {}",
                    g1.id
                ),
                format!(
                    "UPDATE post SET title = 'pwned' FROM post AS q \
                     WHERE q.id = post.id AND q.tenant_id = 'globex'"
                ),
            ],
        };
        for sql in aliased {
            // Confined (nothing of globex's matches) or refused.
            let _ = conn.execute_unprepared(&sql).await;
            assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: {sql}");
        }
        if t.kind == Kind::Postgres {
            let sql = format!(
                "DELETE FROM post USING post q WHERE q.id = post.id AND q.id = {}",
                g1.id
            );
            let _ = conn.execute_unprepared(&sql).await;
            assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: {sql}");
        }
    })
    .await;
}

#[tokio::test]
async fn raw_schema_qualified_names_of_its_own_schema_are_confined() {
    each_backend(async |t| {
        let Planted { g1, conn, .. } = planted(t).await;
        let theirs = posts_of(t, &globex()).await;
        let names: &[&str] = match t.kind {
            Kind::Postgres => &["public.post", "\"public\".\"post\"", "PUBLIC.POST"],
            Kind::Sqlite => &["main.post", "\"main\".\"post\"", "MAIN.POST"],
            // On MySQL every database qualifier is refused (confinement_refused.rs).
            Kind::MySql => &[],
        };
        for name in names {
            let sql = format!("SELECT * FROM {name}");
            acme_rows(t, &sql, conn.query_all_raw(stmt(t, &sql)).await, 2);
            let sql = format!("UPDATE {name} SET title = 'pwned' WHERE id = {}", g1.id);
            let done = conn.execute_unprepared(&sql).await;
            assert_eq!(done.map(|r| r.rows_affected()), Ok(0), "{t}: {sql}");
            let sql = format!("DELETE FROM {name} WHERE id = {}", g1.id);
            let done = conn.execute_unprepared(&sql).await;
            assert_eq!(done.map(|r| r.rows_affected()), Ok(0), "{t}: {sql}");
        }
        assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: globex's rows");
    })
    .await;
}

#[tokio::test]
async fn a_comment_in_front_does_not_hide_a_statement_from_confinement() {
    each_backend(async |t| {
        let Planted { conn, .. } = planted(t).await;
        let theirs = posts_of(t, &globex()).await;

        let sql = "/* */ SELECT * FROM post";
        acme_rows(t, sql, conn.query_all_raw(stmt(t, sql)).await, 2);
        let sql = "-- a note\nUPDATE post SET title = 'noted'";
        let done = conn.execute_unprepared(sql).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(2), "{t}: {sql}");
        let sql = "/* */ DELETE FROM post";
        let done = conn.execute_unprepared(sql).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(2), "{t}: {sql}");

        assert_eq!(all_posts(t).await, theirs, "{t}: only acme's rows go");
    })
    .await;
}

#[tokio::test]
async fn global_tables_and_catalogs_pass_through() {
    each_backend(async |t| {
        let Planted { conn, globex, .. } = planted(t).await;

        let sql = "INSERT INTO country (code, name) VALUES ('FR', 'France')";
        let done = conn.execute_unprepared(sql).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(1), "{t}: {sql}");
        country::ActiveModel {
            code: Set("DE".into()),
            name: Set("Germany".into()),
        }
        .insert(&conn)
        .await
        .unwrap_or_else(|err| panic!("{t}: plain insert into a global table: {err}"));
        let sql = "UPDATE country SET name = 'République française' WHERE code = 'FR'";
        let done = conn.execute_unprepared(sql).await;
        assert_eq!(done.map(|r| r.rows_affected()), Ok(1), "{t}: {sql}");
        let everyone = country::Entity::find().all(&globex).await;
        assert_eq!(
            everyone.map(|c| c.len()),
            Ok(3),
            "{t}: globex sees every country"
        );

        let catalog = match t.kind {
            Kind::Postgres => vec![
                "SELECT count(*) AS n FROM pg_catalog.pg_class WHERE relname = 'post'",
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'post'",
            ],
            Kind::MySql => vec![
                "SELECT count(*) AS n FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = 'post'",
            ],
            Kind::Sqlite => vec![],
        };
        // Catalogs used to pass through; rule 12 (issue 21) refuses them:
        // they are declared nowhere and describe every tenant's objects.
        // Refused before anything is sent, so nothing leaks either way.
        for sql in catalog {
            let err = count_raw(&conn, t, sql)
                .await
                .expect_err("a catalog is refused");
            assert!(refused(&err), "{t}: {sql}: not a refusal: {err}");
        }
    })
    .await;
}
