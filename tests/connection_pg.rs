//! TenantConnection against Postgres with the RLS policies of
//! `sea_orm_tenant::rls`, as a role that is neither superuser nor owner.

mod pg_support;

use std::time::Duration;

use futures_util::TryStreamExt;
use pg_support::PgEnv;
use sea_orm::entity::prelude::*;
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, LoaderTrait, Statement,
    StreamTrait, TransactionTrait,
};
use sea_orm_tenant::doc_entities::{comment, post};
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::rls::RlsPolicy;

/// A tenant entity with an integer tenant column.
mod ledger {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledger")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub org_id: i64,
        pub amount: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl sea_orm_tenant::TenantEntity for Entity {
        fn tenant_column() -> Column {
            Column::OrgId
        }
    }
}

const TENANTS: [&str; 3] = ["a", "b", "c"];

/// Tables, policies and seed rows: tenant a has 3 posts, b 2, c 1; each post
/// has one comment; one comment of tenant b points at a post of tenant a.
async fn setup(env: &PgEnv) {
    env.admin_sql(
        "CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
         CREATE TABLE comment (id serial PRIMARY KEY, tenant_id text NOT NULL,
                               post_id int NOT NULL REFERENCES post (id), body text NOT NULL);
         CREATE TABLE ledger (id serial PRIMARY KEY, org_id bigint NOT NULL, amount int NOT NULL);
         CREATE TABLE country (code text PRIMARY KEY, name text NOT NULL);",
    )
    .await;
    for policy in [
        RlsPolicy::for_entity::<post::Entity>(),
        RlsPolicy::for_entity::<comment::Entity>(),
        RlsPolicy::for_entity::<ledger::Entity>(),
    ] {
        policy
            .grant_to(&env.role)
            .apply(&env.admin)
            .await
            .expect("apply policy");
    }
    env.admin_sql(&format!(
        "GRANT SELECT ON country TO \"{}\";
         INSERT INTO country VALUES ('fr', 'France');
         INSERT INTO post (tenant_id, title) VALUES
            ('a', 'a1'), ('a', 'a2'), ('a', 'a3'), ('b', 'b1'), ('b', 'b2'), ('c', 'c1');
         INSERT INTO comment (tenant_id, post_id, body) SELECT tenant_id, id, 'on ' || title FROM post;
         INSERT INTO comment (tenant_id, post_id, body) VALUES ('b', 1, 'b on a1');
         INSERT INTO ledger (org_id, amount) VALUES (7, 10), (7, 20), (8, 5);",
        env.role
    ))
    .await;
}

fn own_posts(tenant: &str) -> i64 {
    match tenant {
        "a" => 3,
        "b" => 2,
        "c" => 1,
        _ => 0,
    }
}

/// The text-tenant tables of this file (`ledger`, with its integer tenant,
/// is declared where it is used) declared on a tenancy (rule 12: a tenant
/// connection names only declared tables), and `current_setting`, which
/// `setting` reads to check which tenant a statement runs as: a test
/// device, refused by default as a session function.
fn declared(tenancy: Tenancy) -> Tenancy {
    tenancy
        .tenant_table::<comment::Entity>()
        .tenant_table::<post::Entity>()
        .global_table_named("country")
        .pure_function("current_setting")
}

/// A tenant connection with the first wall (the confinement) off: this
/// file tests the second wall, RLS, alone (as rls_pg does), so these
/// connections send their statements as written, as every connection did
/// on undeclared tables before issue 21.
fn rls_only(app: &DatabaseConnection, tenant: &str) -> TenantConnection {
    TenantConnection::new(app.clone(), TenantId::from(tenant)).__unconfined()
}

fn stmt(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

async fn count<C: ConnectionTrait>(c: &C, sql: &str) -> i64 {
    c.query_one_raw(stmt(sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("an integer")
}

/// The tenant setting as the statement sees it ('' or NULL: none).
async fn setting<C: ConnectionTrait>(c: &C) -> String {
    c.query_one_raw(stmt(
        "SELECT coalesce(current_setting('app.tenant_id', true), '') AS t",
    ))
    .await
    .expect("read setting")
    .expect("a row")
    .try_get_by_index::<String>(0)
    .expect("text")
}

async fn start(test: &str) -> Option<(PgEnv, DatabaseConnection)> {
    let env = PgEnv::new(test).await?;
    setup(&env).await;
    let app = env.app(3).await;
    Some((env, app))
}

#[tokio::test]
async fn raw_select_insert_update_delete_are_isolated() {
    let Some((env, app)) = start("raw_select_insert_update_delete_are_isolated").await else {
        return;
    };
    for tenancy in env.tenancies_with(&app, &TENANTS, declared).await {
        for t in TENANTS {
            let conn = tenancy.connection(&TenantId::from(t)).await.expect("conn");
            assert_eq!(
                count(&conn, "SELECT count(*) FROM post").await,
                own_posts(t)
            );
            assert_eq!(setting(&conn).await, t);
        }
    }
    let a = rls_only(&app, "a");
    let res = a
        .execute_unprepared("INSERT INTO post (tenant_id, title) VALUES ('a', 'a4')")
        .await
        .expect("insert own row");
    assert_eq!(res.rows_affected(), 1);
    let res = a
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE post SET title = title || $1",
            ["!".into()],
        ))
        .await
        .expect("update");
    assert_eq!(res.rows_affected(), 4, "only a's rows are updated");
    let res = a
        .execute_unprepared("DELETE FROM comment WHERE body LIKE 'on %'")
        .await
        .expect("delete");
    assert_eq!(res.rows_affected(), 3, "only a's comments are deleted");
    assert_eq!(
        count(
            &env.admin,
            "SELECT count(*) FROM post WHERE title LIKE '%!'"
        )
        .await,
        4
    );
    assert_eq!(count(&env.admin, "SELECT count(*) FROM comment").await, 4);
    // A global table, granted to the role, needs no tenant.
    assert_eq!(count(&a, "SELECT count(*) FROM country").await, 1);
    drop((a, app));
    env.cleanup().await;
}

#[tokio::test]
async fn unscoped_builders_loaders_and_joins_are_isolated() {
    let Some((env, app)) = start("unscoped_builders_loaders_and_joins_are_isolated").await else {
        return;
    };
    for tenancy in env.tenancies_with(&app, &TENANTS, declared).await {
        let a = tenancy
            .connection(&TenantId::from("a"))
            .await
            .expect("conn");
        let posts = post::Entity::find().all(&a).await.expect("find");
        assert_eq!(posts.len(), 3);
        assert!(posts.iter().all(|p| p.tenant_id == "a"));
        assert!(
            post::Entity::find_by_id(4)
                .one(&a)
                .await
                .expect("by id")
                .is_none()
        );

        // Loader: the comment of tenant b on a1 is not loaded.
        let comments = posts.load_many(comment::Entity, &a).await.expect("load");
        assert_eq!(comments.iter().map(Vec::len).sum::<usize>(), 3);
        let with = post::Entity::find()
            .find_with_related(comment::Entity)
            .all(&a)
            .await
            .expect("with related");
        assert!(with.iter().flat_map(|(_, c)| c).all(|c| c.tenant_id == "a"));
        let also = post::Entity::find()
            .find_also_related(comment::Entity)
            .all(&a)
            .await
            .expect("also related");
        assert_eq!(also.len(), 3);

        // A join written by hand.
        let rows = a
            .query_all_raw(stmt(
                "SELECT c.body FROM post p JOIN comment c ON c.post_id = p.id",
            ))
            .await
            .expect("join");
        assert_eq!(rows.len(), 3);

        // Scoped builders from the connection, and unscoped writes.
        let scoped = a
            .scoped::<post::Entity>()
            .find()
            .all(&a)
            .await
            .expect("scoped");
        assert_eq!(scoped.len(), 3);
        let b = tenancy
            .connection(&TenantId::from("b"))
            .await
            .expect("conn");
        let n = post::Entity::update_many()
            .col_expr(post::Column::Title, Expr::value("seen by b"))
            .exec(&b)
            .await
            .expect("update many");
        assert_eq!(n.rows_affected, 2);
    }
    let a = rls_only(&app, "a");
    let inserted = post::ActiveModel {
        tenant_id: Set("a".into()),
        title: Set("via seaorm".into()),
        ..Default::default()
    }
    .insert(&a)
    .await
    .expect("insert returning");
    assert_eq!(inserted.tenant_id, "a");
    let deleted = post::Entity::delete_many()
        .filter(post::Column::Title.eq("via seaorm"))
        .exec(&a)
        .await
        .expect("delete many");
    assert_eq!(deleted.rows_affected, 1);
    assert_eq!(
        count(
            &env.admin,
            "SELECT count(*) FROM post WHERE title = 'seen by b'"
        )
        .await,
        2
    );
    drop((a, app));
    env.cleanup().await;
}

#[tokio::test]
async fn no_tenant_sees_no_rows_and_writes_nothing() {
    let Some((env, app)) = start("no_tenant_sees_no_rows_and_writes_nothing").await else {
        return;
    };
    assert_eq!(count(&app, "SELECT count(*) FROM post").await, 0);
    assert_eq!(
        count(&app, "SELECT count(*) FROM ledger").await,
        0,
        "no cast error either"
    );
    assert!(
        app.execute_unprepared("INSERT INTO post (tenant_id, title) VALUES ('a', 'x')")
            .await
            .is_err()
    );
    let stranger = rls_only(&app, "zzz");
    assert_eq!(count(&stranger, "SELECT count(*) FROM post").await, 0);
    assert_eq!(count(&env.admin, "SELECT count(*) FROM post").await, 6);
    drop((stranger, app));
    env.cleanup().await;
}

#[tokio::test]
async fn with_check_refuses_writes_for_another_tenant() {
    let Some((env, app)) = start("with_check_refuses_writes_for_another_tenant").await else {
        return;
    };
    let a = rls_only(&app, "a");
    let err = a
        .execute_unprepared("INSERT INTO post (tenant_id, title) VALUES ('b', 'sneaky')")
        .await
        .expect_err("WITH CHECK refuses");
    assert!(matches!(err, DbErr::Exec(_)), "{err:?}");
    assert!(err.to_string().contains("row-level security"), "{err}");
    let err = post::ActiveModel {
        tenant_id: Set("b".into()),
        title: Set("sneaky".into()),
        ..Default::default()
    }
    .insert(&a)
    .await
    .expect_err("WITH CHECK refuses the SeaORM insert");
    assert!(err.to_string().contains("row-level security"), "{err}");
    assert!(
        a.execute_unprepared("UPDATE post SET tenant_id = 'b'")
            .await
            .is_err()
    );
    assert_eq!(
        count(
            &env.admin,
            "SELECT count(*) FROM post WHERE title = 'sneaky'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &env.admin,
            "SELECT count(*) FROM post WHERE tenant_id = 'b'"
        )
        .await,
        2
    );
    drop((a, app));
    env.cleanup().await;
}

#[tokio::test]
async fn user_rollback_savepoints_and_transaction_closures() {
    let Some((env, app)) = start("user_rollback_savepoints_and_transaction_closures").await else {
        return;
    };
    // Both walls: the refusal of a user's set_config below is the first's.
    let a = TenantConnection::new(app.clone(), TenantId::from("a"))
        .tenant_table::<comment::Entity>()
        .tenant_table::<post::Entity>()
        .pure_function("current_setting");
    let insert = "INSERT INTO post (tenant_id, title) VALUES ('a', 'txn')";

    // User rollback.
    let txn = a.begin().await.expect("begin");
    assert_eq!(txn.tenant().to_string(), "a");
    txn.execute_unprepared(insert).await.expect("insert");
    assert_eq!(count(&txn, "SELECT count(*) FROM post").await, 4);
    txn.rollback().await.expect("rollback");
    assert_eq!(count(&a, "SELECT count(*) FROM post").await, 3);

    // Savepoint rollback keeps the tenant and the outer work.
    let txn = a.begin().await.expect("begin");
    txn.execute_unprepared(insert).await.expect("insert");
    let nested = txn.begin().await.expect("savepoint");
    nested.execute_unprepared(insert).await.expect("insert");
    let refused = nested
        .execute_unprepared("SELECT set_config('app.tenant_id', 'b', true)")
        .await
        .expect_err("a user changing the setting inside the savepoint");
    assert!(TenantError::is_refused(&refused), "{refused}");
    nested.rollback().await.expect("rollback to savepoint");
    assert_eq!(setting(&txn).await, "a");
    assert_eq!(count(&txn, "SELECT count(*) FROM post").await, 4);
    txn.commit().await.expect("commit");
    assert_eq!(count(&a, "SELECT count(*) FROM post").await, 4);
    assert_eq!(setting(&app).await, "", "nothing outlives the transaction");

    // transaction(|txn| ..): Err rolls back, Ok commits; nested closures too.
    let failed = a
        .transaction::<_, (), DbErr>(|txn| {
            Box::pin(async move {
                txn.execute_unprepared(insert).await?;
                Err(DbErr::Custom("boom".into()))
            })
        })
        .await;
    assert!(failed.is_err());
    let done = a
        .transaction::<_, i64, DbErr>(|txn| {
            Box::pin(async move {
                txn.execute_unprepared(insert).await?;
                let inner = txn
                    .transaction::<_, (), DbErr>(|inner| {
                        Box::pin(async move {
                            inner.execute_unprepared(insert).await?;
                            Err(DbErr::Custom("inner boom".into()))
                        })
                    })
                    .await;
                assert!(inner.is_err());
                Ok(count(txn, "SELECT count(*) FROM post").await)
            })
        })
        .await
        .expect("transaction");
    assert_eq!(done, 5);
    assert_eq!(
        count(
            &env.admin,
            "SELECT count(*) FROM post WHERE tenant_id = 'a'"
        )
        .await,
        5
    );
    drop((a, app));
    env.cleanup().await;
}

/// A pool of one connection serves three tenants and the plain pool in
/// turn, thousands of times: no statement sees another's tenant.
#[tokio::test]
async fn pool_of_one_alternates_tenants_without_carry_over() {
    let Some(env) = PgEnv::new("pool_of_one_alternates_tenants_without_carry_over").await else {
        return;
    };
    setup(&env).await;
    let app = env.app(1).await;
    let [strict, hot] = env.tenancies_with(&app, &TENANTS, declared).await; // a pool of one parks nothing
    for round in 0..1000 {
        let tenancy = if round % 2 == 0 { &strict } else { &hot };
        for t in TENANTS {
            let conn = tenancy.connection(&TenantId::from(t)).await.expect("conn");
            let row = conn
                .query_one_raw(stmt(
                    "SELECT coalesce(current_setting('app.tenant_id', true), '') AS t, \
                     (SELECT count(*) FROM post) AS n",
                ))
                .await
                .expect("query")
                .expect("row");
            assert_eq!(
                row.try_get::<String>("", "t").expect("t"),
                t,
                "round {round}"
            );
            assert_eq!(row.try_get::<i64>("", "n").expect("n"), own_posts(t));
            if round % 50 == 0 {
                // A write and a failing statement now and then.
                conn.execute_unprepared("UPDATE post SET title = title")
                    .await
                    .expect("write");
                assert!(conn.execute_unprepared("SELECT 1/0").await.is_err());
            }
        }
        assert_eq!(setting(&app).await, "", "plain pool, round {round}");
        assert_eq!(count(&app, "SELECT count(*) FROM post").await, 0);
    }
    assert_eq!(hot.parked(), 0);
    drop((strict, hot, app));
    env.cleanup().await;
}

/// Hot tenants: parked transactions, evicted and re-parked across four
/// tenants with room for two, alternating with the plain pool.
#[tokio::test]
async fn hot_tenants_alternate_without_carry_over() {
    let Some(env) = PgEnv::new("hot_tenants_alternate_without_carry_over").await else {
        return;
    };
    setup(&env).await;
    let app = env.app(4).await;
    let tenants = ["a", "b", "c", "zzz"];
    let hot = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone())).hot_tenants(HotTenants {
                max_parked: Some(2),
                per_tenant: 1,
                max_idle: Duration::from_secs(5),
            }),
            &tenants,
        )
        .await;
    for round in 0..500 {
        for t in tenants {
            let conn = hot.connection(&TenantId::from(t)).await.expect("conn");
            assert_eq!(setting(&conn).await, t, "round {round}");
            assert_eq!(
                count(&conn, "SELECT count(*) FROM post").await,
                own_posts(t)
            );
            // Writes, on parked read-write transactions: one that succeeds,
            // one refused by WITH CHECK, one that fails.
            let n = conn
                .execute_unprepared("UPDATE post SET title = title")
                .await
                .expect("write");
            assert_eq!(n.rows_affected(), own_posts(t) as u64);
            if round % 10 == 0 {
                assert!(
                    conn.execute_unprepared(
                        "INSERT INTO post (tenant_id, title) VALUES ('other', 'x')"
                    )
                    .await
                    .is_err()
                );
                assert!(conn.execute_unprepared("SELECT 1/0").await.is_err());
            }
        }
        assert_eq!(setting(&app).await, "", "plain pool, round {round}");
        assert!(hot.parked() <= 2);
    }
    // Parked transactions hold no lock: DDL does not wait for them.
    assert!(hot.parked() > 0);
    env.admin_sql("SET lock_timeout = '2s'; ALTER TABLE post ADD COLUMN extra int")
        .await;
    hot.release_parked();
    assert_eq!(hot.parked(), 0);
    drop((hot, app));
    env.cleanup().await;
}

#[tokio::test]
async fn a_future_dropped_mid_query_leaves_nothing_behind() {
    let Some(env) = PgEnv::new("a_future_dropped_mid_query_leaves_nothing_behind").await else {
        return;
    };
    setup(&env).await;
    let app = env.app(1).await;
    // pg_sleep makes the slow statements this test drops: a test device,
    // declared here because the wall refuses it by default.
    let with_sleep = |tenancy| declared(tenancy).pure_function("pg_sleep");
    for tenancy in env.tenancies_with(&app, &TENANTS, with_sleep).await {
        let a = tenancy
            .connection(&TenantId::from("a"))
            .await
            .expect("conn");
        let b = tenancy
            .connection(&TenantId::from("b"))
            .await
            .expect("conn");
        // A read and a write, each dropped mid-statement.
        let slow_read = a.query_one_raw(stmt("SELECT pg_sleep(3)"));
        assert!(
            tokio::time::timeout(Duration::from_millis(200), slow_read)
                .await
                .is_err()
        );
        assert_eq!(setting(&app).await, "");
        assert_eq!(count(&b, "SELECT count(*) FROM post").await, 2);
        let slow_write = a.execute_unprepared(
            "INSERT INTO post (tenant_id, title) SELECT 'a', 'late' FROM pg_sleep(3)",
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(200), slow_write)
                .await
                .is_err()
        );
        assert_eq!(setting(&app).await, "");
        assert_eq!(count(&b, "SELECT count(*) FROM post").await, 2);
        // A user transaction dropped mid-statement.
        let txn = a.begin().await.expect("begin");
        let slow = txn.query_one_raw(stmt("SELECT pg_sleep(3)"));
        assert!(
            tokio::time::timeout(Duration::from_millis(200), slow)
                .await
                .is_err()
        );
        drop(txn);
        assert_eq!(setting(&app).await, "");
        assert_eq!(setting(&b).await, "b");
    }
    // The strict tenancy's write ran in a transaction that its closed
    // connection rolled back. The keeping tenancy's ran alone, in
    // autocommit, as a statement of SeaORM's own pool does: the server
    // ran it to its end, under a's tenant.
    assert_eq!(
        count(
            &env.admin,
            "SELECT count(*) FROM post WHERE title = 'late' AND tenant_id = 'a'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&env.admin, "SELECT count(*) FROM post WHERE title = 'late'").await,
        1
    );
    drop(app);
    env.cleanup().await;
}

#[tokio::test]
async fn a_connection_killed_mid_transaction_surfaces_and_recovers() {
    let Some(env) = PgEnv::new("a_connection_killed_mid_transaction_surfaces_and_recovers").await
    else {
        return;
    };
    setup(&env).await;
    let app = env.app(1).await;
    let a = rls_only(&app, "a");
    let txn = a.begin().await.expect("begin");
    txn.execute_unprepared("INSERT INTO post (tenant_id, title) VALUES ('a', 'doomed')")
        .await
        .expect("insert");
    let pid = txn
        .query_one_raw(stmt("SELECT pg_backend_pid()"))
        .await
        .expect("pid")
        .expect("row")
        .try_get_by_index::<i32>(0)
        .expect("int");
    env.admin_sql(&format!("SELECT pg_terminate_backend({pid})"))
        .await;
    assert!(
        txn.query_one_raw(stmt("SELECT 1")).await.is_err(),
        "the error surfaces"
    );
    assert!(txn.commit().await.is_err());
    assert_eq!(
        count(&a, "SELECT count(*) FROM post").await,
        3,
        "the next use works"
    );
    assert_eq!(setting(&app).await, "");
    assert_eq!(
        count(
            &env.admin,
            "SELECT count(*) FROM post WHERE title = 'doomed'"
        )
        .await,
        0
    );

    // A parked connection killed while idle: the read is retried on a fresh one.
    let app4 = env.app(4).await;
    let hot = env
        .provisioned(declared(Tenancy::shared_schema(app4.clone())), &["b"])
        .await;
    let b = hot.connection(&TenantId::from("b")).await.expect("conn");
    // Seen twice: admitted to the parked set.
    assert_eq!(count(&b, "SELECT count(*) FROM post").await, 2);
    assert_eq!(count(&b, "SELECT count(*) FROM post").await, 2);
    for _ in 0..50 {
        if hot.parked() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(hot.parked() > 0, "the read parked its connection");
    env.admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{}'",
        env.role
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(count(&b, "SELECT count(*) FROM post").await, 2);
    // The same for a write on a parked read-write transaction.
    b.execute_unprepared("UPDATE post SET title = title")
        .await
        .expect("write");
    b.execute_unprepared("UPDATE post SET title = title")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    env.admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{}'",
        env.role
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let n = b
        .execute_unprepared("UPDATE post SET title = title || '+'")
        .await
        .expect("write retried on a fresh connection");
    assert_eq!(n.rows_affected(), 2);
    assert_eq!(
        count(
            &env.admin,
            "SELECT count(*) FROM post WHERE title LIKE '%+'"
        )
        .await,
        2
    );
    assert_eq!(setting(&app4).await, "");
    drop((a, b, hot, app, app4));
    env.cleanup().await;
}

#[tokio::test]
async fn a_select_that_writes_is_rerun_as_a_write() {
    let Some((env, app)) = start("a_select_that_writes_is_rerun_as_a_write").await else {
        return;
    };
    env.admin_sql(
        "CREATE FUNCTION add_post(t text) RETURNS int LANGUAGE sql AS
         $$ INSERT INTO post (tenant_id, title) VALUES (t, 'fn') RETURNING id $$",
    )
    .await;
    // Undeclared, a function that writes is refused before anything is sent
    // (rule 12).
    for tenancy in env.tenancies_with(&app, &TENANTS, declared).await {
        let a = tenancy
            .connection(&TenantId::from("a"))
            .await
            .expect("conn");
        let err = a
            .query_one_raw(stmt("SELECT add_post('a')"))
            .await
            .expect_err("an undeclared function is refused");
        assert!(TenantError::is_refused(&err), "{err}");
    }
    assert_eq!(
        count(&env.admin, "SELECT count(*) FROM post WHERE title = 'fn'").await,
        0
    );
    // Declared pure (wrongly, on purpose: the test device is a SELECT that
    // writes), the hot path must still rerun it as a write, and RLS's WITH
    // CHECK still refuses it for another tenant.
    let lying = |tenancy| declared(tenancy).pure_function("add_post");
    for tenancy in env.tenancies_with(&app, &TENANTS, lying).await {
        let a = tenancy
            .connection(&TenantId::from("a"))
            .await
            .expect("conn");
        let row = a
            .query_one_raw(stmt("SELECT add_post('a')"))
            .await
            .expect("a write behind a SELECT")
            .expect("row");
        assert!(row.try_get_by_index::<i32>(0).is_ok());
        assert!(a.query_one_raw(stmt("SELECT add_post('b')")).await.is_err());
    }
    assert_eq!(
        count(&env.admin, "SELECT count(*) FROM post WHERE title = 'fn'").await,
        2
    );
    drop(app);
    env.cleanup().await;
}

#[tokio::test]
async fn streams_are_isolated_and_can_be_dropped() {
    let Some((env, app)) = start("streams_are_isolated_and_can_be_dropped").await else {
        return;
    };
    let a = rls_only(&app, "a");
    let rows: Vec<post::Model> = post::Entity::find()
        .stream(&a)
        .await
        .expect("stream")
        .try_collect()
        .await
        .expect("rows");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|p| p.tenant_id == "a"));
    {
        let mut stream = a
            .stream_raw(stmt("SELECT g FROM generate_series(1, 100000) g"))
            .await
            .expect("stream");
        assert!(stream.try_next().await.expect("first").is_some());
    } // dropped after one row
    assert_eq!(setting(&app).await, "");
    let txn = a.begin().await.expect("begin");
    let in_txn: Vec<post::Model> = post::Entity::find()
        .stream(&txn)
        .await
        .expect("stream")
        .try_collect()
        .await
        .expect("rows");
    assert_eq!(in_txn.len(), 3);
    txn.commit().await.expect("commit");
    drop((a, app));
    env.cleanup().await;
}

#[tokio::test]
async fn an_id_that_does_not_fit_the_column_is_refused_before_any_statement() {
    let Some((env, app)) =
        start("an_id_that_does_not_fit_the_column_is_refused_before_any_statement").await
    else {
        return;
    };
    assert!(matches!(
        TenantConnection::checked::<ledger::Entity>(app.clone(), TenantId::from("acme")),
        Err(TenantError::ColumnType { .. })
    ));
    let tenancy = env
        .provisioned(
            Tenancy::shared_schema(app.clone()).tenant_table::<ledger::Entity>(),
            &[],
        )
        .await;
    assert!(matches!(
        tenancy.provision(&TenantId::from("acme")).await,
        Err(TenantError::ColumnType { .. })
    ));
    assert!(matches!(
        tenancy.connection(&TenantId::from("acme")).await,
        Err(TenantError::ColumnType { .. })
    ));
    tenancy
        .provision(&TenantId::from(7_i64))
        .await
        .expect("fits");
    let seven = tenancy
        .connection(&TenantId::from(7_i64))
        .await
        .expect("fits");
    assert_eq!(
        count(&seven, "SELECT sum(amount)::bigint FROM ledger").await,
        30
    );
    let eight = TenantConnection::checked::<ledger::Entity>(app.clone(), TenantId::from("8"))
        .expect("fits")
        .tenant_table::<ledger::Entity>();
    let rows = ledger::Entity::find().all(&eight).await.expect("find");
    assert_eq!(rows.len(), 1);
    drop((seven, eight, tenancy, app));
    env.cleanup().await;
}

#[tokio::test]
async fn odd_tenant_ids_are_bound_not_spliced() {
    let Some((env, app)) = start("odd_tenant_ids_are_bound_not_spliced").await else {
        return;
    };
    let odd = "o'brien; DROP TABLE post; --";
    env.admin_sql(
        "INSERT INTO post (tenant_id, title) VALUES ('o''brien; DROP TABLE post; --', 'odd')",
    )
    .await;
    for tenancy in env.tenancies_with(&app, &[odd], declared).await {
        let conn = tenancy
            .connection(&TenantId::from(odd))
            .await
            .expect("conn");
        assert_eq!(setting(&conn).await, odd);
        assert_eq!(count(&conn, "SELECT count(*) FROM post").await, 1);
        let txn = conn.begin().await.expect("begin");
        assert_eq!(setting(&txn).await, odd);
        txn.commit().await.expect("commit");
    }
    assert_eq!(count(&env.admin, "SELECT count(*) FROM post").await, 7);
    drop(app);
    env.cleanup().await;
}
