//! Rule 12 on the other isolation levels, and the tenant setting of the
//! shared schema: through tenant A's connection, nothing reaches tenant B's
//! schema or database, and nothing moves the connection there. No tenant
//! table is declared on the schema and database levels, so the schema or
//! database is the only wall these tests lean on.
//!
//! - Schema per tenant (Postgres): names qualified with B's schema are
//!   refused; `SET LOCAL search_path` / `set_config('search_path', ..)` are
//!   refused inside a transaction, and a plain `find` there still returns
//!   only A's rows; a string that sets the path and then updates is refused
//!   with B's rows unchanged.
//! - Database per tenant (SQLite files, Postgres and MariaDB databases): a
//!   name qualified with B's database is refused, as are `USE` and
//!   `ATTACH`; A's later connections still read A's rows and A's inserts
//!   land in A's database.
//! - Shared schema: `SET LOCAL app.tenant_id = 'globex'` (alone, in a
//!   transaction, or in front of an UPDATE) is refused and globex's rows
//!   stay unchanged.

mod common;

use std::panic::AssertUnwindSafe;

use common::confine::{Shared, posts_of, refused, shared, stmt, tenants_of};
use common::{
    Databases, Kind, TestDb, acme, add_post, all_posts, each_backend, each_backend_of, globex,
    within,
};
use futures_util::FutureExt;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, Database, DbErr, EntityTrait, QueryOrder, TransactionTrait,
};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::{Tenancy, TenantConnection};

// ---------------------------------------------------------------------------
// The tenants' migrator: the post table, no schema named.

use common::post_migrator::Migrator;

/// Writes a post through `conn` with the tenant set by hand (so that the
/// write does not depend on the connection filling it in).
async fn write(conn: &TenantConnection, title: &str) -> Result<post::Model, DbErr> {
    post::ActiveModel {
        tenant_id: Set(conn.tenant().to_string()),
        title: Set(title.to_owned()),
        ..Default::default()
    }
    .insert(conn)
    .await
}

async fn titles<C: ConnectionTrait>(conn: &C) -> Result<Vec<String>, DbErr> {
    let rows = post::Entity::find()
        .order_by_asc(post::Column::Id)
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|p| p.title).collect())
}

/// `sql` is refused on `conn` (as a statement and as a query).
async fn assert_refused<C: ConnectionTrait>(t: &TestDb, conn: &C, sql: &str) {
    match conn.execute_unprepared(sql).await {
        Ok(done) => panic!("{t}: ran: {sql:?}: {done:?}"),
        Err(err) => assert!(refused(&err), "{t}: {sql:?}: not a refusal: {err}"),
    }
    match conn.query_all_raw(stmt(t, sql)).await {
        Ok(rows) => panic!("{t}: ran as a query: {sql:?}: {} row(s)", rows.len()),
        Err(err) => assert!(refused(&err), "{t}: {sql:?} as a query: {err}"),
    }
}

// ---------------------------------------------------------------------------
// Schema per tenant.

struct Schemas {
    tenancy: Tenancy,
    acme: TenantConnection,
}

/// acme's and globex's schemas, each with one post, planted directly.
/// No tenant table is declared: in a schema per tenant the schema is the
/// wall, so nothing but the schema keeps globex's rows from acme. `post` is
/// declared global (rule 12 refuses a table declared nowhere): every table
/// of a tenant's own schema is its own, sent without a tenant predicate.
async fn schemas(t: &TestDb) -> Schemas {
    let tenancy = Tenancy::schema_per_tenant(t.db.clone())
        .with_migrator::<Migrator>()
        .global_table_named("post");
    for tenant in [acme(), globex()] {
        tenancy.provision(&tenant).await.expect("provision");
    }
    t.db.execute_unprepared(
        "INSERT INTO tenant_acme.post (tenant_id, title) VALUES ('acme', 'a1');
         INSERT INTO tenant_globex.post (tenant_id, title) VALUES ('globex', 'globex secret');",
    )
    .await
    .expect("plant");
    let acme = tenancy.connection(&acme()).await.expect("acme");
    Schemas { tenancy, acme }
}

/// globex's schema's rows, read directly.
async fn globex_schema(t: &TestDb) -> Vec<(String, String)> {
    let rows =
        t.db.query_all_raw(stmt(
            t,
            "SELECT tenant_id, title FROM tenant_globex.post ORDER BY id",
        ))
        .await
        .expect("read globex's schema");
    rows.iter()
        .map(|r| {
            let tenant: String = r.try_get("", "tenant_id").expect("tenant_id");
            let title: String = r.try_get("", "title").expect("title");
            (tenant, title)
        })
        .collect()
}

async fn drop_schemas(tenancy: &Tenancy) {
    for tenant in [acme(), globex()] {
        tenancy.deprovision(&tenant).await.expect("deprovision");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_per_tenant_refuses_names_in_another_tenants_schema() {
    each_backend_of(&[Kind::Postgres], async |t| {
        let Schemas { tenancy, acme } = schemas(t).await;
        let before = globex_schema(t).await;

        for sql in [
            "SELECT count(*) AS n FROM tenant_globex.post",
            "SELECT * FROM \"tenant_globex\".\"post\"",
            "SELECT * FROM TENANT_GLOBEX.POST",
            "SELECT * FROM post WHERE id IN (SELECT id FROM tenant_globex.post)",
            "SELECT p.* FROM post p JOIN tenant_globex.post g ON g.id = p.id",
            "WITH g AS (SELECT * FROM tenant_globex.post) SELECT * FROM g",
            "UPDATE tenant_globex.post SET title = 'pwned'",
            "DELETE FROM tenant_globex.post",
            "INSERT INTO tenant_globex.post (tenant_id, title) VALUES ('acme', 'planted')",
            "INSERT INTO post (tenant_id, title) SELECT tenant_id, title FROM tenant_globex.post",
        ] {
            assert_refused(t, &acme, sql).await;
        }
        assert_eq!(
            globex_schema(t).await,
            before,
            "{t}: globex's schema changed"
        );

        // Its own schema, and public, may be named.
        let own =
            common::confine::count_raw(&acme, t, "SELECT count(*) AS n FROM tenant_acme.post");
        assert_eq!(own.await, Ok(1), "{t}: its own schema by name");
        assert_eq!(titles(&acme).await, Ok(vec!["a1".to_owned()]), "{t}");
        drop(acme);
        drop_schemas(&tenancy).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_per_tenant_search_path_cannot_be_moved_to_another_tenant() {
    each_backend_of(&[Kind::Postgres], async |t| {
        let Schemas { tenancy, acme } = schemas(t).await;
        let before = globex_schema(t).await;

        // Each attempt in a transaction of its own, then a plain find there:
        // refused, and the find still sees acme's schema only.
        let mut problems = Vec::new();
        for sql in [
            "SET LOCAL search_path TO tenant_globex",
            "SET LOCAL search_path TO tenant_globex, public",
            "SET search_path TO tenant_globex",
            "SELECT set_config('search_path', 'tenant_globex', true)",
            "SELECT * FROM set_config('search_path', 'tenant_globex', true)",
            "SELECT * FROM pg_catalog.set_config('search_path', 'tenant_globex, public', true) AS s",
            "RESET search_path",
        ] {
            let txn = acme.begin().await.expect("begin");
            match txn.execute_unprepared(sql).await {
                Err(err) if refused(&err) => {}
                Err(err) => problems.push(format!("{sql}: not a refusal: {err}")),
                Ok(_) => problems.push(format!("{sql}: ran")),
            }
            let seen = titles(&txn).await;
            if seen != Ok(vec!["a1".to_owned()]) {
                problems.push(format!("{sql}: then a plain find saw {seen:?}"));
            }
            let _ = txn.rollback().await;
        }
        assert!(problems.is_empty(), "{t}:\n{}", problems.join("\n"));

        // Still acme's schema: a plain find, raw SQL and an update.
        let txn = acme.begin().await.expect("begin");
        assert_eq!(titles(&txn).await, Ok(vec!["a1".to_owned()]), "{t}: in txn");
        let rows = txn.query_all_raw(stmt(t, "SELECT * FROM post")).await;
        let tenants = rows.map(|r| tenants_of(&r));
        assert_eq!(tenants, Ok(vec!["acme".to_owned()]), "{t}: raw in txn");
        txn.execute_unprepared("UPDATE post SET title = 'a1 renamed'")
            .await
            .expect("update in txn");
        txn.commit().await.expect("commit");

        for sql in [
            "SET LOCAL search_path TO tenant_globex; UPDATE post SET title = 'pwned'",
            "SELECT set_config('search_path', 'tenant_globex', true); UPDATE post SET title = 'pwned'",
            "SELECT * FROM set_config('search_path', 'tenant_globex', true); UPDATE post SET title = 'pwned'",
            "BEGIN; SET LOCAL search_path TO tenant_globex; UPDATE post SET title = 'pwned'; COMMIT",
        ] {
            assert_refused(t, &acme, sql).await;
        }
        assert_eq!(globex_schema(t).await, before, "{t}: globex's schema changed");
        let again = tenancy.connection(&common::acme()).await.expect("acme");
        assert_eq!(titles(&again).await, Ok(vec!["a1 renamed".to_owned()]), "{t}");
        drop((acme, again));
        drop_schemas(&tenancy).await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// Database per tenant.

/// The statements that would reach `other`'s database from this backend.
fn reaching(t: &TestDb, other_db: &str, other_file: &str) -> Vec<String> {
    match t.kind {
        Kind::MySql => vec![
            format!("SELECT * FROM {other_db}.post"),
            format!("SELECT count(*) AS n FROM `{other_db}`.`post`"),
            format!("SELECT * FROM post WHERE id IN (SELECT id FROM {other_db}.post)"),
            format!("UPDATE {other_db}.post SET title = 'pwned'"),
            format!("DELETE FROM {other_db}.post"),
            format!("INSERT INTO {other_db}.post (tenant_id, title) VALUES ('acme', 'planted')"),
            format!("USE {other_db}"),
            format!("USE `{other_db}`"),
            format!("USE {other_db}; UPDATE post SET title = 'pwned'"),
        ],
        Kind::Sqlite => vec![
            format!("ATTACH DATABASE '{other_file}' AS other"),
            format!("ATTACH '{other_file}' AS other; UPDATE other.post SET title = 'pwned'"),
            "SELECT * FROM other.post".to_owned(),
            "UPDATE other.post SET title = 'pwned'".to_owned(),
        ],
        Kind::Postgres => vec![
            format!("SELECT * FROM \"{other_db}\".public.post"),
            format!("UPDATE \"{other_db}\".public.post SET title = 'pwned'"),
        ],
    }
}

/// What is in `tenant`'s database, read on a pool of its own.
async fn database_titles(url: &str) -> Vec<String> {
    let db = Database::connect(url)
        .await
        .expect("open a tenant's database");
    let seen = titles(&db).await.expect("read a tenant's database");
    let _ = db.close().await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_per_tenant_refuses_other_databases_use_and_attach() {
    each_backend(async |t| {
        let dbs = Databases::new(t);
        let url_for = dbs.url_for();
        // No tenant table declared: the database is the only wall.
        // Declared global: every table of a tenant's own database is its own.
        let tenancy = Tenancy::database_per_tenant(dbs.url_for())
            .with_migrator::<Migrator>()
            .global_table_named("post");
        let (a, g) = (acme(), globex());
        for tenant in [&a, &g] {
            tenancy.provision(tenant).await.expect("provision");
        }
        // The tenants' databases are dropped even when a check fails.
        let checks = AssertUnwindSafe(async {
            let ca = tenancy.connection(&a).await.expect("acme");
            let cg = tenancy.connection(&g).await.expect("globex");
            write(&ca, "a1").await.expect("acme's post");
            write(&cg, "globex secret").await.expect("globex's post");

            let other_db = url_for(&g)
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let other_file = dbs.dir.join("globex.db").display().to_string();
            for sql in reaching(t, &other_db, &other_file) {
                assert_refused(t, &ca, &sql).await;
            }

            // acme's pool (two connections) still reads and writes acme's database.
            within(60, "acme's later connections", async {
                for round in 0..4 {
                    let conn = tenancy.connection(&a).await.expect("acme again");
                    let seen = titles(&conn).await.expect("read");
                    assert_eq!(seen.first().map(String::as_str), Some("a1"), "{t}: {round}");
                    assert!(!seen.iter().any(|s| s.contains("globex")), "{t}: {seen:?}");
                    write(&conn, &format!("a-{round}")).await.expect("write");
                }
            })
            .await;
            drop((ca, cg));
            let in_globex = database_titles(&url_for(&g)).await;
            assert_eq!(in_globex, ["globex secret"], "{t}: globex's database");
            let in_acme = database_titles(&url_for(&a)).await;
            assert_eq!(
                in_acme,
                ["a1", "a-0", "a-1", "a-2", "a-3"],
                "{t}: acme's database"
            );
        })
        .catch_unwind()
        .await;
        for tenant in [&a, &g] {
            let _ = tenancy.deprovision(tenant).await;
        }
        dbs.cleanup();
        if let Err(panic) = checks {
            std::panic::resume_unwind(panic);
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// Shared schema: the tenant setting.

#[tokio::test]
async fn shared_schema_tenant_setting_cannot_be_moved_to_another_tenant() {
    each_backend(async |t| {
        add_post(t, &acme(), "a1").await;
        add_post(t, &globex(), "globex secret").await;
        let Shared { acme, .. } = shared(t).await;
        let before = all_posts(t).await;

        for sql in [
            "SET LOCAL app.tenant_id = 'globex'; UPDATE post SET title = 'pwned'",
            "SET app.tenant_id = 'globex'; UPDATE post SET title = 'pwned'",
            "SELECT set_config('app.tenant_id', 'globex', true); UPDATE post SET title = 'pwned'",
            "UPDATE post SET title = 'pwned' WHERE set_config('app.tenant_id', 'globex', true) <> ''",
        ] {
            assert_refused(t, &acme, sql).await;
        }
        assert_eq!(all_posts(t).await, before, "{t}: the table changed");

        let txn = acme.begin().await.expect("begin");
        for sql in [
            "SET LOCAL app.tenant_id = 'globex'",
            "SELECT set_config('app.tenant_id', 'globex', true)",
        ] {
            let err = txn.execute_unprepared(sql).await.expect_err(sql);
            assert!(refused(&err), "{t}: {sql} in a transaction: {err}");
        }
        assert_eq!(titles(&txn).await, Ok(vec!["a1".to_owned()]), "{t}: in txn");
        txn.execute_unprepared("UPDATE post SET title = 'renamed'")
            .await
            .expect("update in txn");
        txn.commit().await.expect("commit");
        let theirs = posts_of(t, &globex()).await;
        assert_eq!(theirs.len(), 1, "{t}");
        assert_eq!(theirs[0].title, "globex secret", "{t}: globex's row changed");
    })
    .await;
}
