//! What statements become, per backend, and what is refused: the README's
//! "What it lets through", one test each. The
//! database tests (tests/confinement*.rs) check that the result runs and
//! sees only the tenant's rows.

use sea_orm::{DbBackend, Statement, Value};

use super::{Boundary, Catalog, Confiner};
use crate::doc_entities::{comment, post};
use crate::{TenantError, TenantId};

const SQLITE: DbBackend = DbBackend::Sqlite;
const PG: DbBackend = DbBackend::Postgres;
const MYSQL: DbBackend = DbBackend::MySql;

fn confiner() -> Confiner {
    Confiner::new(
        Catalog::default()
            .with::<post::Entity>()
            .with::<comment::Entity>()
            .with_global("country"),
    )
}

fn run(
    backend: DbBackend,
    sql: &str,
    values: Vec<Value>,
    boundary: &Boundary,
) -> Result<Statement, TenantError> {
    let stmt = Statement::from_sql_and_values(backend, sql, values);
    confiner()
        .confine(stmt, &TenantId::from("acme"), boundary)
        .map(|(stmt, _)| stmt)
}

/// The confined SQL of `sql`, which takes no values.
fn sql(backend: DbBackend, sql: &str) -> String {
    match run(backend, sql, Vec::new(), &Boundary::Shared) {
        Ok(stmt) => stmt.sql,
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// The reason `sql` is refused.
fn refused(backend: DbBackend, sql: &str) -> String {
    match run(backend, sql, Vec::new(), &Boundary::Shared) {
        Ok(stmt) => panic!("{sql} went through as {}", stmt.sql),
        Err(TenantError::Refused { reason, .. }) => reason,
        Err(other) => panic!("{sql}: not a refusal: {other}"),
    }
}

fn acme() -> Value {
    Value::String(Some("acme".into()))
}

#[test]
fn reads_get_the_tenant_and_its_value_is_bound_after_the_statements_own() {
    let stmt = run(
        SQLITE,
        "SELECT * FROM post WHERE id = ? LIMIT ?",
        vec![7.into(), 1.into()],
        &Boundary::Shared,
    )
    .unwrap();
    assert_eq!(
        stmt.sql,
        r#"SELECT * FROM post WHERE post."tenant_id" = ?3 AND (id = ?1) LIMIT ?2"#
    );
    assert_eq!(stmt.values.unwrap().0, vec![7.into(), 1.into(), acme()]);

    let stmt = run(
        PG,
        r#"SELECT "post"."id" FROM "post" WHERE "post"."id" = $1 LIMIT $2"#,
        vec![7.into(), 1.into()],
        &Boundary::Shared,
    )
    .unwrap();
    assert_eq!(
        stmt.sql,
        r#"SELECT "post"."id" FROM "post" WHERE "post"."tenant_id" = $3 AND ("post"."id" = $1) LIMIT $2"#
    );
    assert_eq!(stmt.values.unwrap().0, vec![7.into(), 1.into(), acme()]);
}

#[test]
fn mysql_values_follow_the_order_of_their_placeholders_and_text_is_exact() {
    let stmt = run(
        MYSQL,
        "SELECT * FROM post p LEFT JOIN comment c ON c.post_id = p.id WHERE p.id = ? LIMIT ?",
        vec![7.into(), 1.into()],
        &Boundary::Shared,
    )
    .unwrap();
    assert_eq!(
        stmt.sql,
        "SELECT * FROM post p LEFT JOIN comment c ON c.`tenant_id` = BINARY(?) AND (c.post_id = p.id) \
         WHERE p.`tenant_id` = BINARY(?) AND (p.id = ?) LIMIT ?"
    );
    assert_eq!(
        stmt.values.unwrap().0,
        vec![acme(), acme(), 7.into(), 1.into()]
    );
}

#[test]
fn every_tenant_table_is_confined_wherever_it_appears() {
    assert_eq!(
        sql(
            SQLITE,
            "SELECT (SELECT count(*) FROM comment WHERE comment.post_id = post.id) FROM post WHERE EXISTS (SELECT 1 FROM comment)"
        ),
        r#"SELECT (SELECT count(*) FROM comment WHERE post."tenant_id" = ?1 AND comment."tenant_id" = ?2 AND (comment.post_id = post.id)) FROM post WHERE post."tenant_id" = ?1 AND (EXISTS (SELECT 1 FROM comment WHERE comment."tenant_id" = ?2))"#
    );
    assert_eq!(
        sql(
            PG,
            "WITH x AS (SELECT * FROM post) SELECT * FROM x UNION SELECT * FROM post"
        ),
        r#"WITH x AS (SELECT * FROM post WHERE post."tenant_id" = $1 OFFSET 0) SELECT * FROM x UNION SELECT * FROM post WHERE post."tenant_id" = $1"#
    );
    // Case, quoting, aliases and the shared schema's qualifier.
    assert_eq!(
        sql(PG, r#"SELECT * FROM "POST" AS p, public.Post"#),
        r#"SELECT * FROM "POST" AS p, public.Post WHERE p."tenant_id" = $1 AND public.Post."tenant_id" = $1"#
    );
    assert_eq!(
        sql(
            MYSQL,
            "SELECT * FROM `Post` /*! UNION SELECT * FROM post */"
        ),
        "SELECT * FROM `Post` WHERE `Post`.`tenant_id` = BINARY(?) UNION SELECT * FROM post WHERE post.`tenant_id` = BINARY(?)"
    );
    // A derived table and a paginator's count.
    assert_eq!(
        sql(SQLITE, "SELECT COUNT(*) FROM (SELECT id FROM post) AS sub"),
        r#"SELECT COUNT(*) FROM (SELECT id FROM post WHERE post."tenant_id" = ?1 LIMIT -1 OFFSET 0) AS sub"#
    );
    // Global tables pass through.
    assert_eq!(
        sql(SQLITE, "SELECT * FROM country"),
        "SELECT * FROM country"
    );
}

#[test]
fn outer_joins_keep_their_meaning() {
    // LEFT JOIN: in the ON clause.
    assert_eq!(
        sql(
            PG,
            "SELECT * FROM post LEFT JOIN comment ON comment.post_id = post.id"
        ),
        r#"SELECT * FROM post LEFT JOIN comment ON comment."tenant_id" = $2 AND (comment.post_id = post.id) WHERE post."tenant_id" = $1"#
    );
    // RIGHT / FULL / USING: the tables become filtered derived tables.
    assert_eq!(
        sql(PG, "SELECT * FROM post FULL JOIN comment USING (id)"),
        r#"SELECT * FROM (SELECT * FROM post WHERE post."tenant_id" = $1) AS post FULL JOIN (SELECT * FROM comment WHERE comment."tenant_id" = $2) AS comment USING(id)"#
    );
    assert_eq!(
        sql(
            SQLITE,
            "SELECT * FROM post p RIGHT JOIN comment c ON c.post_id = p.id"
        ),
        r#"SELECT * FROM (SELECT * FROM post WHERE post."tenant_id" = ?1) p RIGHT JOIN (SELECT * FROM comment WHERE comment."tenant_id" = ?2) c ON (c.post_id = p.id)"#
    );
}

#[test]
fn updates_and_deletes_change_only_the_tenants_rows() {
    assert_eq!(
        sql(SQLITE, "UPDATE post SET title = 'x' WHERE id = 1"),
        r#"UPDATE post SET title = 'x' WHERE post."tenant_id" = ?1 AND (id = 1)"#
    );
    assert_eq!(
        sql(SQLITE, "/* */ DELETE FROM post"),
        r#"DELETE FROM post WHERE post."tenant_id" = ?1"#
    );
    assert_eq!(
        sql(
            PG,
            "DELETE FROM post AS p USING comment c WHERE c.post_id = p.id"
        ),
        r#"DELETE FROM post AS p USING comment c WHERE p."tenant_id" = $1 AND c."tenant_id" = $2 AND (c.post_id = p.id)"#
    );
    assert_eq!(
        sql(
            MYSQL,
            "UPDATE post p JOIN comment c ON c.post_id = p.id SET p.title = c.body"
        ),
        "UPDATE post p JOIN comment c ON c.`tenant_id` = BINARY(?) AND (c.post_id = p.id) SET p.title = c.body WHERE p.`tenant_id` = BINARY(?)"
    );
    for write in [
        "UPDATE post SET tenant_id = 'globex'",
        "UPDATE post SET TENANT_ID = 'globex'",
        r#"UPDATE post SET "Tenant_Id" = 'globex'"#,
        "UPDATE post SET ténant_id = 'globex'",
        "UPDATE post SET (title, tenant_id) = ('x', 'globex')",
    ] {
        assert!(refused(SQLITE, write).contains("tenant column"), "{write}");
    }
    assert!(refused(SQLITE, "UPDATE OR REPLACE post SET id = 1").contains("REPLACE"));
}

#[test]
fn inserts_get_the_tenant_and_a_given_one_must_be_it() {
    assert_eq!(
        sql(SQLITE, "INSERT INTO post (title) VALUES ('a'), ('b')"),
        r#"INSERT INTO post (title, "tenant_id") VALUES ('a', ?1), ('b', ?1)"#
    );
    assert_eq!(
        sql(SQLITE, "INSERT INTO post DEFAULT VALUES"),
        r#"INSERT INTO post ("tenant_id") VALUES (?1)"#
    );
    assert_eq!(
        sql(PG, "INSERT INTO post (title) SELECT title FROM post"),
        r#"INSERT INTO post (title, "tenant_id") SELECT title, $1 FROM post WHERE post."tenant_id" = $1"#
    );
    // Given: the literal or the bound value must be the tenant.
    assert!(
        run(
            SQLITE,
            "INSERT INTO post (tenant_id, title) VALUES ('acme', 'a')",
            vec![],
            &Boundary::Shared
        )
        .is_ok()
    );
    assert!(matches!(
        run(
            SQLITE,
            "INSERT INTO post (tenant_id, title) VALUES ('globex', 'a')",
            vec![],
            &Boundary::Shared
        ),
        Err(TenantError::Mismatch { .. })
    ));
    assert!(
        run(
            SQLITE,
            "INSERT INTO post (tenant_id, title) VALUES (?, ?)",
            vec![acme(), "a".into()],
            &Boundary::Shared
        )
        .is_ok()
    );
    assert!(matches!(
        run(
            SQLITE,
            "INSERT INTO post (tenant_id, title) VALUES (?, ?)",
            vec!["globex".into(), "a".into()],
            &Boundary::Shared
        ),
        Err(TenantError::Mismatch { .. })
    ));
    assert!(
        refused(
            SQLITE,
            "INSERT INTO post (tenant_id) VALUES (lower('ACME'))"
        )
        .contains("cannot check")
    );
    assert!(refused(SQLITE, "INSERT INTO post VALUES (1, 'acme', 'a')").contains("columns"));
    assert!(
        refused(SQLITE, "INSERT OR REPLACE INTO post (title) VALUES ('a')").contains("REPLACE")
    );
    assert!(refused(MYSQL, "REPLACE INTO post (title) VALUES ('a')").contains("REPLACE"));
    assert!(refused(MYSQL, "INSERT INTO post SET title = 'a'").contains("SET"));
}

#[test]
fn upserts_never_touch_another_tenants_row() {
    assert_eq!(
        sql(
            PG,
            "INSERT INTO post (id, title) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET title = excluded.title"
        ),
        r#"INSERT INTO post (id, title, "tenant_id") VALUES (1, 'a', $1) ON CONFLICT(id) DO UPDATE SET title = excluded.title WHERE post."tenant_id" = $1"#
    );
    assert_eq!(
        sql(
            MYSQL,
            "INSERT INTO post (id, title) VALUES (1, 'a') ON DUPLICATE KEY UPDATE title = VALUES(title)"
        ),
        "INSERT INTO post (id, title, `tenant_id`) VALUES (1, 'a', (?)) ON DUPLICATE KEY UPDATE title = IF(`tenant_id` = BINARY(?), VALUES(title), title)"
    );
    assert!(
        refused(
            SQLITE,
            "INSERT INTO post (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET tenant_id = 'globex'"
        )
        .contains("tenant column")
    );
}

#[test]
fn what_it_cannot_confine_is_refused() {
    for (backend, statement, why) in [
        (
            SQLITE,
            "SELECT * FROM post; DELETE FROM post",
            "2 statements",
        ),
        (SQLITE, "SELECT 1 -- x\n; DELETE FROM post", "2 statements"),
        (SQLITE, "SELECT 1 /* ; */; DELETE FROM post", "2 statements"),
        (SQLITE, "SELEKT * FROM post", "cannot be parsed"),
        (
            PG,
            "WITH x AS (DELETE FROM post RETURNING *) SELECT * FROM x",
            "writes inside a query",
        ),
        (PG, "SET LOCAL search_path TO tenant_b", "only SELECT"),
        (PG, "SET LOCAL app.tenant_id = 'globex'", "only SELECT"),
        (PG, "SET LOCAL statement_timeout = 0", "only SELECT"),
        (
            PG,
            "SELECT set_config('statement_timeout', '0', true)",
            "allow-list",
        ),
        (
            PG,
            "SELECT pg_catalog.set_config('search_path', 'tenant_b', true)",
            "allow-list",
        ),
        (
            PG,
            "SELECT query_to_xml('SELECT * FROM tenant_b.post', true, true, '')",
            "allow-list",
        ),
        (PG, "DO $$ BEGIN PERFORM 1; END $$", "cannot be parsed"),
        (PG, "CREATE TABLE x (id int)", "only SELECT"),
        (PG, "BEGIN", "only SELECT"),
        (PG, "SELECT * INTO copy FROM post", "INTO"),
        (PG, "TABLE post", "TABLE"),
        (PG, "SELECT query FROM pg_stat_activity", "not declared"),
        (
            PG,
            "SELECT * FROM set_config('search_path', 'tenant_b', true)",
            "allow-list",
        ),
        (
            PG,
            "SELECT * FROM pg_stat_get_activity(NULL) AS a",
            "allow-list",
        ),
        (PG, "SELECT * FROM pg_stats", "not declared"),
        (
            MYSQL,
            "SELECT * FROM information_schema.`PROCESSLIST`",
            "not this tenant's",
        ),
        (MYSQL, "SHOW BINLOG EVENTS", "only SELECT"),
        (PG, "SELECT setval('tenant_b.post_id_seq', 1)", "allow-list"),
        (PG, "SELECT pg_terminate_backend(42)", "allow-list"),
        (PG, "SELECT * FROM other_db.public.post", "another database"),
        (MYSQL, "USE tenant_b", "only SELECT"),
        (MYSQL, "SELECT @x := 1", "operator"),
        (MYSQL, "SELECT @x", "session variable"),
        (MYSQL, "SELECT @@warning_count", "session variable"),
        (SQLITE, "ATTACH 'b.db' AS b", "only SELECT"),
        (SQLITE, "PRAGMA foreign_keys = 0", "only SELECT"),
    ] {
        let reason = refused(backend, statement);
        assert!(reason.contains(why), "{statement}: {reason}");
    }
}

#[test]
fn other_schemas_and_databases_are_refused_and_the_own_schema_is_not() {
    let own = Boundary::Schema("tenant_a".into());
    for (backend, statement) in [
        (PG, "SELECT count(*) FROM tenant_b.post"),
        (PG, r#"SELECT count(*) FROM "tenant_b".post"#),
        (MYSQL, "SELECT * FROM tenant_b.post"),
        (SQLITE, "SELECT * FROM b.post"),
    ] {
        for boundary in [&Boundary::Shared, &own] {
            match run(backend, statement, vec![], boundary) {
                Err(TenantError::Refused { reason, .. }) => {
                    assert!(
                        reason.contains("not this tenant's"),
                        "{statement}: {reason}"
                    )
                }
                other => panic!("{statement}: {other:?}"),
            }
        }
    }
    assert!(refused(PG, "SELECT tenant_b.f()").contains("allow-list"));
    // A's own schema, spelled as Postgres folds it, and the shared ones.
    assert!(run(PG, "SELECT * FROM TENANT_A.post", vec![], &own).is_ok());
    assert!(run(PG, r#"SELECT * FROM "TENANT_A".post"#, vec![], &own).is_err());
    assert!(run(PG, "SELECT * FROM public.country", vec![], &own).is_ok());
    assert!(run(SQLITE, "SELECT * FROM main.post", vec![], &Boundary::Shared).is_ok());
}

#[test]
fn placeholders_must_match_their_values() {
    // Values missing for the statement's own placeholders.
    assert!(
        run(
            PG,
            "SELECT * FROM post WHERE id = $1",
            vec![],
            &Boundary::Shared
        )
        .is_err()
    );
    assert!(refused(SQLITE, "SELECT * FROM post WHERE id = :id").contains("placeholder"));
    assert!(refused(SQLITE, "SELECT * FROM post WHERE id = ?3").contains("placeholder"));
}

#[test]
fn plans_are_cached_per_statement_and_shared_by_tenants() {
    let confiner = confiner();
    let sql = "SELECT * FROM post WHERE id = ?";
    let a = confiner
        .confine(
            Statement::from_sql_and_values(SQLITE, sql, [1.into()]),
            &TenantId::from("a"),
            &Boundary::Shared,
        )
        .unwrap()
        .0;
    let b = confiner
        .confine(
            Statement::from_sql_and_values(SQLITE, sql, [1.into()]),
            &TenantId::from("b"),
            &Boundary::Shared,
        )
        .unwrap()
        .0;
    assert_eq!(a.sql, b.sql, "one SQL text, one prepared statement");
    assert_ne!(a.values, b.values);
    confiner.plans[2].run_pending_tasks();
    assert_eq!(confiner.plans[2].entry_count(), 1);
}

#[test]
fn conditions_that_can_fail_are_evaluated_only_on_the_tenants_rows() {
    // The README's example: the comparison keeps its index, the cast is
    // guarded.
    assert_eq!(
        sql(PG, "SELECT id FROM post WHERE id > 10 AND title::int = 7"),
        r#"SELECT id FROM post WHERE post."tenant_id" = $1 AND (id > 10 AND CASE WHEN post."tenant_id" = $1 THEN (title::INT = 7) END)"#
    );
    // Select items too (a planner may move them into a join condition),
    // but in a grouped query only the aggregates' arguments.
    assert_eq!(
        sql(SQLITE, "SELECT json_extract(title, '$.a') FROM post"),
        r#"SELECT CASE WHEN post."tenant_id" = ?1 THEN (json_extract(title, '$.a')) END FROM post WHERE post."tenant_id" = ?1"#
    );
    assert_eq!(
        sql(
            PG,
            "SELECT title, sum(length(title)) FROM post GROUP BY title"
        ),
        r#"SELECT title, sum(CASE WHEN post."tenant_id" = $1 THEN (length(title)) END) FROM post WHERE post."tenant_id" = $1 GROUP BY title"#
    );
    assert!(
        refused(
            PG,
            "SELECT title FROM post GROUP BY title HAVING title::int > 1"
        )
        .contains("WHERE")
    );
    // A NULL-extended table lets NULL through its guard.
    assert_eq!(
        sql(
            SQLITE,
            "SELECT * FROM post LEFT JOIN comment ON comment.post_id = post.id WHERE abs(comment.id) > 1"
        ),
        r#"SELECT * FROM post LEFT JOIN comment ON comment."tenant_id" = ?2 AND (comment.post_id = post.id) WHERE post."tenant_id" = ?1 AND (CASE WHEN post."tenant_id" = ?1 AND (comment."tenant_id" = ?2 OR comment."tenant_id" IS NULL) THEN (abs(comment.id) > 1) END)"#
    );
    // Derived tables and CTE bodies are fenced.
    assert_eq!(
        sql(
            MYSQL,
            "SELECT * FROM (SELECT title FROM post) s WHERE s.title = 'x'"
        ),
        "SELECT * FROM (SELECT title FROM post WHERE post.`tenant_id` = BINARY(?) LIMIT 18446744073709551615) s WHERE (s.title = 'x')"
    );
}

#[test]
fn the_rewrite_keeps_the_meaning_of_joins_and_ctes() {
    // SQLite joins a comma item before a RIGHT JOIN into it.
    assert_eq!(
        sql(
            SQLITE,
            "SELECT count(*) FROM post, country RIGHT JOIN country AS k ON 0"
        ),
        r#"SELECT count(*) FROM (SELECT * FROM post WHERE post."tenant_id" = ?1) AS post, country RIGHT JOIN country AS k ON 0"#
    );
    assert_eq!(
        sql(
            PG,
            "SELECT count(*) FROM post, country RIGHT JOIN country AS k ON false"
        ),
        r#"SELECT count(*) FROM post, country RIGHT JOIN country AS k ON false WHERE post."tenant_id" = $1"#
    );
    // A CTE shadows the table; in its own body the name is the table.
    assert_eq!(
        sql(SQLITE, "WITH post AS (SELECT 1 AS x) SELECT * FROM post"),
        "WITH post AS (SELECT 1 AS x LIMIT -1 OFFSET 0) SELECT * FROM post"
    );
    assert_eq!(
        sql(PG, "WITH post AS (SELECT id FROM post) SELECT * FROM post"),
        r#"WITH post AS (SELECT id FROM post WHERE post."tenant_id" = $1 OFFSET 0) SELECT * FROM post"#
    );
    // A quoted name in another case is another CTE on Postgres: the table.
    assert_eq!(
        sql(PG, r#"WITH post AS (SELECT 1 AS x) SELECT * FROM "Post""#),
        r#"WITH post AS (SELECT 1 AS x OFFSET 0) SELECT * FROM "Post" WHERE "Post"."tenant_id" = $1"#
    );
    assert!(
        refused(PG, "SELECT * FROM post AS p(id, real_tenant, tenant_id)").contains("alias list")
    );
    assert!(
        refused(SQLITE, "INSERT INTO post (id, tenant_id, title) SELECT *, 'acme' FROM (SELECT 99 AS a, 'globex' AS b) s")
            .contains("one to one")
    );
    assert!(refused(SQLITE, "SELECT * FROM sea_orm_tenant_registry").contains("own table"));
    assert!(refused(SQLITE, "SELECT * FROM audit_log").contains("global_table"));
    assert!(refused(PG, "EXPLAIN ANALYZE SELECT * FROM post").contains("EXPLAIN"));
    assert!(refused(MYSQL, "SELECT * FROM post WHERE id = 2 FOR UPDATE").contains("locking read"));
}

#[test]
fn casts_go_to_plain_types_or_declared_ones() {
    assert!(refused(PG, "SELECT 'a'::tea").contains("pure_type"));
    let confiner = Confiner::new(Catalog::default().with_type("tea"));
    let stmt = Statement::from_string(PG, r#"SELECT CAST('a' AS "tea")"#);
    assert!(
        confiner
            .confine(stmt, &TenantId::from("acme"), &Boundary::Shared)
            .is_ok()
    );
    assert!(
        refused(PG, "SELECT 'post'::regclass")
            .to_lowercase()
            .contains("regclass")
    );
    // An upsert's condition is evaluated on the row it conflicts with.
    assert_eq!(
        sql(
            PG,
            "INSERT INTO post (id, title) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET title = 'b' WHERE post.title::int > 1"
        ),
        r#"INSERT INTO post (id, title, "tenant_id") VALUES (1, 'a', $1) ON CONFLICT(id) DO UPDATE SET title = 'b' WHERE post."tenant_id" = $1 AND (CASE WHEN post."tenant_id" = $1 THEN (post.title::INT > 1) END)"#
    );
}

#[test]
fn global_tables_match_only_as_the_backend_resolves_names() {
    // Declared `country`: Postgres folds unquoted names, keeps quoted ones.
    assert_eq!(sql(PG, "SELECT * FROM COUNTRY"), "SELECT * FROM COUNTRY");
    assert!(refused(PG, r#"SELECT * FROM "Country""#).contains("not declared"));
    // MySQL compares table names exactly; SQLite ignores case.
    assert!(refused(MYSQL, "SELECT * FROM COUNTRY").contains("not declared"));
    assert_eq!(
        sql(SQLITE, "SELECT * FROM COUNTRY"),
        "SELECT * FROM COUNTRY"
    );
    // A tenant table is confined in any case or quoting.
    assert!(sql(MYSQL, "SELECT * FROM `POST`").contains("`POST`.`tenant_id` = BINARY(?)"));
    // Catalogs and table functions off the list.
    for (backend, statement) in [
        (SQLITE, "SELECT * FROM sqlite_master"),
        (SQLITE, "SELECT * FROM main.sqlite_schema"),
        (SQLITE, "SELECT * FROM pragma_table_info('post')"),
        (PG, "SELECT * FROM information_schema.tables"),
        (PG, "SELECT * FROM pg_catalog.pg_class"),
        (MYSQL, "SELECT * FROM information_schema.processlist"),
        (MYSQL, "SELECT * FROM mysql.user"),
    ] {
        assert!(
            run(backend, statement, vec![], &Boundary::Shared).is_err(),
            "{statement}"
        );
    }
    // MySQL's DUAL is no table; `user` is a column name there.
    assert_eq!(sql(MYSQL, "SELECT 1 FROM DUAL"), "SELECT 1 FROM DUAL");
    assert!(sql(MYSQL, "SELECT user FROM country").contains("user"));
    assert!(refused(MYSQL, "SELECT current_user FROM country").contains("session"));
    // A table function's arguments are confined too.
    assert!(
        sql(
            SQLITE,
            "SELECT * FROM json_each((SELECT group_concat(title) FROM post))"
        )
        .contains(r#"post."tenant_id" = ?1"#)
    );
    // A tenant value read from a column cannot be checked.
    assert!(
        refused(
            SQLITE,
            "INSERT INTO post (title, tenant_id) SELECT title, tenant_id FROM post"
        )
        .contains("cannot check")
    );
    assert!(
        refused(
            PG,
            "SELECT * FROM (post p JOIN comment c ON c.post_id = p.id) AS x"
        )
        .contains("FROM")
    );
}

#[test]
fn a_nested_join_on_the_nullable_side_stays_nullable() {
    // Found by the fuzzer: `post`'s predicate in WHERE turned the LEFT JOIN
    // into an inner one.
    assert_eq!(
        sql(
            SQLITE,
            "SELECT code FROM country LEFT JOIN (post JOIN comment ON post.id = comment.post_id) ON code = post.id"
        ),
        r#"SELECT code FROM country LEFT JOIN ((SELECT * FROM post WHERE post."tenant_id" = ?1) AS post JOIN comment ON comment."tenant_id" = ?2 AND (post.id = comment.post_id)) ON (code = post.id)"#
    );
    assert!(refused(SQLITE, "SELECT id NOTNULL + id FROM post").contains("NOTNULL"));
}
