//! Issue 10, hole 5: a `TenantConnection` never leaves session state on a
//! pooled connection (rule 6). Raw SQL that would change the tenant
//! setting, `search_path`, the role or the session authorization at session
//! level is refused before anything is sent; what the check cannot see (a
//! function, a DO block) is undone before the transaction commits. Every
//! test runs on a pool of one connection, and after every attempt a
//! tenant-less query on that pool (admin or background code on
//! `conn.database()`) must see the pool's own settings and no tenant's rows.

mod pg_support;

use std::time::Duration;

use futures_util::TryStreamExt;
use pg_support::PgEnv;
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, SqlxPostgresConnector, Statement,
    StreamTrait, TransactionTrait,
};
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::rls::RlsPolicy;

/// The pool's own session `search_path`, set when each connection opens
/// (as SeaORM's `set_schema_search_path` does): it must survive too.
const POOL_PATH: &str = "\"$user\", public, pool_default";

/// Declares the fixture's `leak` and `leak_and_write` pure, which they are
/// not: on purpose. Rule 12 refuses an undeclared function, so they are
/// now stopped by the first wall; these tests are about the backstop
/// behind it (a function that changes session state is undone before the
/// transaction commits), which must hold for a function an application
/// declared wrongly.
fn lying(tenancy: Tenancy) -> Tenancy {
    tenancy
        .pure_function("leak")
        .pure_function("leak_and_write")
}

fn stmt(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

struct Fixture {
    env: PgEnv,
    /// A pool of one connection as the application role.
    app: DatabaseConnection,
    /// A role the application role may `SET ROLE` to.
    other: String,
}

async fn fixture(test: &str) -> Option<Fixture> {
    let env = PgEnv::new(test).await?;
    env.admin_sql(
        "CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
         CREATE SCHEMA evil; CREATE TABLE evil.post (id int, tenant_id text, title text);
         INSERT INTO evil.post VALUES (1, 'x', 'from the evil schema');",
    )
    .await;
    RlsPolicy::for_entity::<post::Entity>()
        .grant_to(&env.role)
        .apply(&env.admin)
        .await
        .expect("apply policy");
    let other = format!("{}_other", env.role);
    env.admin_sql(&format!(
        "INSERT INTO post (tenant_id, title) VALUES ('a', 'a1'), ('a', 'a2'), ('a', 'a3'), ('b', 'b1'), ('b', 'b2');
         GRANT USAGE ON SCHEMA evil TO \"{role}\"; GRANT SELECT ON evil.post TO \"{role}\";
         CREATE ROLE \"{other}\" NOLOGIN BYPASSRLS; GRANT \"{other}\" TO \"{role}\";
         GRANT SELECT ON post TO \"{other}\";
         -- What the check cannot see: a function that changes session state.
         CREATE FUNCTION leak(to_role text) RETURNS text LANGUAGE plpgsql AS $$
         BEGIN
             PERFORM set_config('app.tenant_id', 'b', false);
             PERFORM set_config('search_path', 'evil, public', false);
             IF to_role <> '' THEN EXECUTE format('SET ROLE %I', to_role); END IF;
             RETURN 'leaked';
         END $$;
         CREATE FUNCTION leak_and_write() RETURNS int LANGUAGE plpgsql AS $$
         BEGIN
             INSERT INTO post (tenant_id, title) VALUES ('a', 'written');
             PERFORM set_config('app.tenant_id', 'b', false);
             RETURN 1;
         END $$;",
        role = env.role
    ))
    .await;
    let app = pool_of(&env, 1).await;
    Some(Fixture { env, app, other })
}

async fn pool_of(env: &PgEnv, max: u32) -> DatabaseConnection {
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sea_orm::sqlx::Executor::execute(
                    conn,
                    sea_orm::sqlx::AssertSqlSafe(format!("SET search_path = {POOL_PATH}")),
                )
                .await
                .map(|_| ())
            })
        })
        .connect_with(env.app_options())
        .await
        .expect("connect");
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

impl Fixture {
    async fn cleanup(self) {
        let Fixture { env, app, other } = self;
        let _ = app.close().await;
        // The extra role is a server object: revoked and dropped first.
        env.admin_sql(&format!(
            "REVOKE ALL ON post FROM \"{other}\"; DROP ROLE \"{other}\""
        ))
        .await;
        env.cleanup().await;
    }
}

/// What a tenant-less statement on `db` sees: the tenant setting, the
/// search path, the current and session users, and the visible posts.
async fn session_of<C: ConnectionTrait>(db: &C) -> (String, String, String, String, i64) {
    let row = db
        .query_one_raw(stmt(
            "SELECT coalesce(current_setting('app.tenant_id', true), '') AS t,
                    current_setting('search_path') AS p,
                    current_user::text AS u, session_user::text AS s,
                    (SELECT count(*) FROM post) AS n",
        ))
        .await
        .expect("read the session")
        .expect("a row");
    (
        row.try_get("", "t").expect("t"),
        row.try_get("", "p").expect("p"),
        row.try_get("", "u").expect("u"),
        row.try_get("", "s").expect("s"),
        row.try_get("", "n").expect("n"),
    )
}

/// The pool of one is as it was: no tenant, the pool's own path, the
/// application role, and (through RLS) no rows.
async fn assert_clean(f: &Fixture, what: &str) {
    let role = f.env.role.clone();
    assert_eq!(
        session_of(&f.app).await,
        (String::new(), POOL_PATH.to_owned(), role.clone(), role, 0),
        "session state left behind by: {what}"
    );
}

fn refused<T: std::fmt::Debug>(result: Result<T, DbErr>, what: &str) {
    match result {
        Err(err) => assert!(
            TenantError::is_tenant_error(&err),
            "{what}: refused by the database, not before sending: {err}"
        ),
        Ok(out) => panic!("{what}: not refused: {out:?}"),
    }
}

/// Statements that visibly change session state, each refused before it is
/// sent (the INSERT in front of some proves nothing was sent).
fn visible_attacks(role: &str) -> Vec<String> {
    let mut attacks: Vec<String> = [
        "SET app.tenant_id = 'b'",
        "SET SESSION app.tenant_id = 'b'",
        "set app.TENANT_ID to 'b'",
        "SET \"app\".\"tenant_id\" = 'b'",
        "SET search_path = evil, public",
        "SET search_path TO DEFAULT",
        "SET SCHEMA 'evil'",
        "SET ROLE NONE",
        "RESET ROLE",
        "RESET ALL",
        "RESET app.tenant_id",
        "RESET search_path",
        "SET SESSION AUTHORIZATION DEFAULT",
        "RESET SESSION AUTHORIZATION",
        "SET work_mem = '8MB'",
        "SELECT set_config('app.tenant_id', 'b', false)",
        "SELECT pg_catalog.set_config('app.tenant_id', 'b', false)",
        "SELECT SET_CONFIG('app.tenant_id', 'b', 1=0)",
        "SELECT set_config('app.tenant_id', 'b', 'false')",
        "SELECT set_config('app.tenant_id', 'b', NOT true)",
        "SELECT set_config('app.tenant_id', 'b', true AND false)",
        "SELECT \"set_config\"('app.tenant_id', 'b', false)",
        "SELECT U&\"\\0073et_config\"('app.tenant_id', 'b', false)",
        "SELECT set_config /* a comment */ ('app.tenant_id', 'b', /* true */ false)",
        "SELECT * FROM set_config('app.tenant_id', 'b', false)",
        "SELECT set_config('search_path', 'evil', false)",
        "SELECT set_config('role', 'none', false)",
        "UPDATE pg_settings SET setting = 'evil' WHERE name = 'search_path'",
        "INSERT INTO post (tenant_id, title) VALUES ('a', 'sent'); SET app.tenant_id = 'b'",
        "SELECT 1; SET app.tenant_id = 'b'",
        "SELECT 1;SET app.tenant_id = 'b'",
        "INSERT INTO post (tenant_id, title) VALUES ('a', 'sent'); -- a comment\nSET app.tenant_id = 'b'",
        "/* a comment */ SET app.tenant_id = 'b'",
        "/* nested /* comment */ */ SET app.tenant_id = 'b'",
        "SELECT 'it''s'; SET app.tenant_id = 'b'",
        "SELECT $q$;$q$; SET app.tenant_id = 'b'",
        "INSERT INTO post (tenant_id, title) VALUES ('a', 'sent'); COMMIT; SET app.tenant_id = 'b'",
        "COMMIT",
        "ROLLBACK",
        "END",
        "ALTER ROLE CURRENT_USER SET app.tenant_id = 'b'",
        "ALTER ROLE CURRENT_USER SET search_path = evil",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    attacks.push(format!("SET ROLE \"{role}\""));
    attacks.push(format!("SET SESSION AUTHORIZATION \"{role}\""));
    attacks
}

#[tokio::test]
async fn visible_session_changes_are_refused_before_sending() {
    let Some(f) = fixture("visible_session_changes_are_refused_before_sending").await else {
        return;
    };
    let role = f.other.clone();
    // post declared, so that a refusal below is the session check's, not
    // the one of a table declared nowhere (rule 12).
    let strict =
        TenantConnection::new(f.app.clone(), TenantId::from("a")).tenant_table::<post::Entity>();
    for attack in visible_attacks(&role) {
        let what = format!("execute_unprepared({attack:?})");
        let result = strict.execute_unprepared(&attack).await;
        assert_clean(&f, &what).await;
        refused(result, &what);
        // The same as a prepared statement, a query and a stream, where the
        // protocol allows one statement.
        if !attack.contains(';') {
            let what = format!("execute_raw({attack:?})");
            let result = strict.execute_raw(stmt(&attack)).await;
            assert_clean(&f, &what).await;
            refused(result, &what);
            let what = format!("query_all_raw({attack:?})");
            let result = strict.query_all_raw(stmt(&attack)).await;
            assert_clean(&f, &what).await;
            refused(result, &what);
            let what = format!("stream_raw({attack:?})");
            let result = match strict.stream_raw(stmt(&attack)).await {
                Ok(stream) => stream.try_collect::<Vec<_>>().await.map(|r| r.len()),
                Err(e) => Err(e),
            };
            assert_clean(&f, &what).await;
            refused(result, &what);
        }
        // Inside the tenant's own transaction, committed, and in a savepoint.
        let txn = strict.begin().await.expect("begin");
        let what = format!("in conn.begin(): {attack:?}");
        refused(txn.execute_unprepared(&attack).await, &what);
        let nested = txn.begin().await.expect("savepoint");
        refused(nested.execute_unprepared(&attack).await, &what);
        if !attack.contains(';') {
            refused(nested.query_all_raw(stmt(&attack)).await, &what);
        }
        nested.commit().await.expect("release");
        txn.commit().await.expect("commit");
        assert_clean(&f, &what).await;
    }
    // A bound third argument is not literally `true`.
    let bound = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('app.tenant_id', 'b', $1)",
        [false.into()],
    );
    let result = strict.execute_raw(bound.clone()).await;
    assert_clean(&f, "set_config with a bound is_local").await;
    refused(result, "set_config with a bound is_local");
    refused(
        strict.query_one_raw(bound).await,
        "set_config with a bound is_local",
    );
    assert_eq!(
        pg_support_count(&f.env, "SELECT count(*) FROM post WHERE title = 'sent'").await,
        0,
        "a refused statement sends nothing"
    );
    assert_eq!(
        pg_support_count(
            &f.env,
            &format!(
                "SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole \
                 WHERE r.rolname = '{}'",
                f.env.role
            )
        )
        .await,
        0,
        "no session defaults were changed for later connections"
    );
    drop(strict);
    f.cleanup().await;
}

async fn pg_support_count(env: &PgEnv, sql: &str) -> i64 {
    env.admin
        .query_one_raw(stmt(sql))
        .await
        .expect("admin query")
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("count")
}

/// Transaction-local forms are refused too (rule 12: a tenant connection
/// never changes its tenant, schema, role or limits), and SQL that only
/// mentions the words still runs.
#[tokio::test]
async fn transaction_local_settings_are_refused_and_lookalikes_still_run() {
    let Some(f) = fixture("transaction_local_settings_are_refused_and_lookalikes_still_run").await
    else {
        return;
    };
    let a =
        TenantConnection::new(f.app.clone(), TenantId::from("a")).tenant_table::<post::Entity>();
    for sql in [
        "SET LOCAL app.tenant_id = 'a'",
        "SET LOCAL search_path TO public",
        "SELECT set_config('app.tenant_id', 'a', true)",
        "SELECT pg_catalog.set_config('app.tenant_id', 'a', TRUE)",
        "SET CONSTRAINTS ALL DEFERRED",
        "SET LOCAL ROLE NONE",
        "SAVEPOINT s; ROLLBACK TO SAVEPOINT s",
    ] {
        let err = a
            .execute_unprepared(sql)
            .await
            .expect_err(&format!("{sql} is refused"));
        assert!(TenantError::is_refused(&err), "{sql}: {err}");
        assert_clean(&f, sql).await;
    }
    for sql in [
        "SELECT 'SET app.tenant_id = ''b'''",
        "SELECT 1 AS \"reset\", 2 AS \"offset\", 3 AS settings",
        "UPDATE post SET title = title",
        "SELECT count(*) FROM post LIMIT 1 OFFSET 0",
        "SELECT CASE WHEN true THEN 1 ELSE 2 END",
        "SELECT $$; SET app.tenant_id = 'b'$$",
        "SELECT 1 -- SET app.tenant_id = 'b'",
    ] {
        a.execute_unprepared(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_clean(&f, sql).await;
    }
    let row = a
        .query_one_raw(stmt("SELECT (SELECT count(*) FROM post) AS n"))
        .await
        .expect("query")
        .expect("row");
    assert_eq!(row.try_get::<i64>("", "n").expect("n"), 3);
    drop(a);
    f.cleanup().await;
}

/// What no text check can see: a user-defined function and a DO block that
/// change session state. They run, and nothing outlives the transaction.
#[tokio::test]
async fn hidden_session_changes_never_outlive_the_transaction() {
    let Some(f) = fixture("hidden_session_changes_never_outlive_the_transaction").await else {
        return;
    };
    let leak = format!("SELECT leak('{}')", f.other);
    let do_block = "DO $$ BEGIN EXECUTE 'SE' || 'T app.tenant_id = ''b'''; \
                    PERFORM set_config('search_path', 'evil', false); END $$";
    // Undeclared, the functions are refused before anything is sent.
    for tenancy in f.env.tenancies(&f.app, &["a"]).await {
        let a = tenancy
            .connection(&TenantId::from("a"))
            .await
            .expect("conn");
        for sql in [leak.as_str(), "SELECT leak_and_write()"] {
            let err = a.execute_unprepared(sql).await.expect_err(sql);
            assert!(TenantError::is_refused(&err), "{sql}: {err}");
            let err = a.query_one_raw(stmt(sql)).await.expect_err(sql);
            assert!(TenantError::is_refused(&err), "{sql}: {err}");
            assert_clean(&f, sql).await;
        }
    }
    for tenancy in f.env.tenancies_with(&f.app, &["a"], lying).await {
        let a = tenancy
            .connection(&TenantId::from("a"))
            .await
            .expect("conn");
        // A write (committed).
        a.execute_unprepared(&leak).await.expect("leak()");
        assert_clean(&f, "execute_unprepared(leak)").await;
        // SQL hidden in a string is refused: a DO block, query_to_xml.
        let err = a.execute_unprepared(do_block).await.expect_err("DO block");
        assert!(TenantError::is_refused(&err), "{err}");
        assert_clean(&f, "DO block").await;
        let err = a
            .execute_unprepared("SELECT query_to_xml('SELECT set_config(''app.tenant_id'', ''b'', false)', true, true, '')")
            .await
            .expect_err("query_to_xml");
        assert!(TenantError::is_refused(&err), "{err}");
        assert_clean(&f, "query_to_xml").await;
        // A read that turns out to write is re-run as a write.
        a.query_one_raw(stmt("SELECT leak_and_write()"))
            .await
            .expect("leak_and_write()");
        assert_clean(&f, "query_one_raw(leak_and_write)").await;
        // A read.
        a.query_one_raw(stmt(&leak)).await.expect("read leak()");
        assert_clean(&f, "query_one_raw(leak)").await;
        // A stream.
        let rows: Vec<_> = a
            .stream_raw(stmt(&leak))
            .await
            .expect("stream")
            .try_collect()
            .await
            .expect("rows");
        assert_eq!(rows.len(), 1);
        assert_clean(&f, "stream_raw(leak)").await;
        // The tenant's own transaction, committed; a savepoint released.
        let txn = a.begin().await.expect("begin");
        txn.execute_unprepared(&leak).await.expect("leak in txn");
        let nested = txn.begin().await.expect("savepoint");
        nested
            .execute_unprepared(&leak)
            .await
            .expect("leak() in savepoint");
        nested.commit().await.expect("release");
        txn.commit().await.expect("commit");
        assert_clean(&f, "conn.begin(), committed").await;
        let done = a
            .transaction::<_, (), DbErr>(|txn| {
                let leak = leak.clone();
                Box::pin(async move {
                    txn.execute_unprepared(&leak).await?;
                    Ok(())
                })
            })
            .await;
        assert!(done.is_ok(), "{done:?}");
        assert_clean(&f, "conn.transaction(..)").await;
        // Rolled back, as before.
        let txn = a.begin().await.expect("begin");
        txn.execute_unprepared(&leak).await.expect("leak in txn");
        txn.rollback().await.expect("rollback");
        assert_clean(&f, "conn.begin(), rolled back").await;
    }
    // The write of leak_and_write() landed, as a's.
    assert_eq!(
        pg_support_count(
            &f.env,
            "SELECT count(*) FROM post WHERE title = 'written' AND tenant_id = 'a'"
        )
        .await,
        2
    );
    f.cleanup().await;
}

/// Hot tenants: parked read-write transactions commit through the same
/// backstop. Two connections, one parked: both must come back clean.
#[tokio::test]
async fn hot_tenant_writes_leave_nothing_behind() {
    let Some(f) = fixture("hot_tenant_writes_leave_nothing_behind").await else {
        return;
    };
    let two = pool_of(&f.env, 2).await;
    let hot = f
        .env
        .provisioned(
            lying(Tenancy::shared_schema(two.clone())).hot_tenants(HotTenants {
                max_parked: Some(1),
                per_tenant: 1,
                max_idle: Duration::from_secs(5),
            }),
            &["a"],
        )
        .await;
    let a = hot.connection(&TenantId::from("a")).await.expect("conn");
    let leak = format!("SELECT leak('{}')", f.other);
    for round in 0..6 {
        a.execute_unprepared(&leak)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(hot.parked() <= 1);
    hot.release_parked();
    // Hold both connections at once and look at each.
    let (t1, t2) = (
        two.begin().await.expect("one"),
        two.begin().await.expect("two"),
    );
    let role = f.env.role.clone();
    for txn in [&t1, &t2] {
        assert_eq!(
            session_of(txn).await,
            (
                String::new(),
                POOL_PATH.to_owned(),
                role.clone(),
                role.clone(),
                0
            )
        );
    }
    drop((t1, t2, a, hot));
    let _ = two.close().await;
    f.cleanup().await;
}
