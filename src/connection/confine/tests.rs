//! What statements become, per backend.

use sea_orm::{DbBackend, Statement, Value};

use super::{Boundary, Catalog, Confiner};
use crate::TenantId;
use crate::doc_entities::{comment, post};

fn confiner() -> Confiner {
    Confiner::new(
        Catalog::default()
            .with::<post::Entity>()
            .with::<comment::Entity>(),
    )
}

fn confine(backend: DbBackend, sql: &str, values: Vec<Value>) -> Result<Statement, String> {
    let stmt = Statement::from_sql_and_values(backend, sql, values);
    confiner()
        .confine(stmt, &TenantId::from("acme"), &Boundary::Shared)
        .map_err(|e| e.to_string())
}

#[test]
fn show() {
    for (backend, sql) in [
        (DbBackend::Sqlite, "SELECT * FROM post WHERE id = ? LIMIT ?"),
        (
            DbBackend::MySql,
            "SELECT * FROM post p LEFT JOIN comment c ON c.post_id = p.id WHERE p.id = ? LIMIT ?",
        ),
        (
            DbBackend::Postgres,
            r#"SELECT "post"."id" FROM "post" WHERE "post"."id" = $1 LIMIT $2"#,
        ),
        (
            DbBackend::Postgres,
            "SELECT * FROM post FULL JOIN comment USING (id)",
        ),
        (DbBackend::Sqlite, "UPDATE post SET title = ? WHERE id = ?"),
        (
            DbBackend::MySql,
            "INSERT INTO post (title) VALUES (?), (?) ON DUPLICATE KEY UPDATE title = VALUES(title)",
        ),
        (
            DbBackend::Postgres,
            "INSERT INTO post (title) VALUES ($1) ON CONFLICT (id) DO UPDATE SET title = excluded.title RETURNING id",
        ),
        (
            DbBackend::Sqlite,
            "DELETE FROM post WHERE id IN (SELECT post_id FROM comment)",
        ),
        (DbBackend::Postgres, "SELECT count(*) FROM tenant_b.post"),
        (DbBackend::Postgres, "SET LOCAL search_path TO tenant_b"),
        (DbBackend::Sqlite, "SELECT * FROM post; DELETE FROM post"),
        (
            DbBackend::Postgres,
            "WITH x AS (DELETE FROM post RETURNING *) SELECT * FROM x",
        ),
        (DbBackend::Sqlite, "UPDATE post SET TENANT_ID = 'globex'"),
        (
            DbBackend::MySql,
            "SELECT * FROM post /*! UNION SELECT * FROM post */",
        ),
        (DbBackend::Sqlite, "INSERT INTO post DEFAULT VALUES"),
        (
            DbBackend::Sqlite,
            "SELECT (SELECT count(*) FROM comment WHERE comment.post_id = post.id) FROM post WHERE EXISTS (SELECT 1 FROM comment)",
        ),
        (DbBackend::MySql, "SELECT @x := 1"),
        (DbBackend::Sqlite, "SELECT * FROM country"),
    ] {
        let n = sql.matches('?').count().max(sql.matches('$').count());
        let values = (0..n).map(|i| Value::Int(Some(i as i32))).collect();
        match confine(backend, sql, values) {
            Ok(stmt) => println!("{backend:?}: {sql}\n   => {} {:?}", stmt.sql, stmt.values),
            Err(e) => println!("{backend:?}: {sql}\n   => ERR {e}"),
        }
    }
}
