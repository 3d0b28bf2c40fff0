//! The RLS policy helpers and the start-up check, against Postgres.

mod pg_support;

use pg_support::PgEnv;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::SchemaManager;
use sea_orm_tenant::doc_entities::{comment, post, tag};
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::rls::{self, RlsPolicy};

const TABLES: &str = "
    CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
    CREATE TABLE comment (id serial PRIMARY KEY, tenant_id text NOT NULL, post_id int NOT NULL, body text NOT NULL);
    CREATE TABLE tag (id serial PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL);
    CREATE TABLE country (code text PRIMARY KEY, name text NOT NULL);";

fn stmt(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

async fn count<C: ConnectionTrait>(c: &C, sql: &str) -> i64 {
    c.query_one_raw(stmt(sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("row")
        .try_get_by_index::<i64>(0)
        .expect("int")
}

#[tokio::test]
async fn startup_check_reports_tables_without_forced_rls() {
    let Some(env) = PgEnv::new("startup_check_reports_tables_without_forced_rls").await else {
        return;
    };
    env.admin_sql(TABLES).await;
    RlsPolicy::for_entity::<post::Entity>()
        .grant_to(&env.role)
        .apply(&env.admin)
        .await
        .expect("post policy");
    // comment: enabled and with a policy, but not forced; tag: nothing.
    RlsPolicy::for_entity::<comment::Entity>()
        .grant_to(&env.role)
        .apply(&env.admin)
        .await
        .expect("comment policy");
    env.admin_sql(&format!(
        "ALTER TABLE comment NO FORCE ROW LEVEL SECURITY; GRANT SELECT ON tag TO \"{}\"",
        env.role
    ))
    .await;

    let app = env.app(1).await;
    let report = rls::check(&app, &["post", "comment", "tag", "nope"])
        .await
        .expect("check");
    assert_eq!(report.role, env.role);
    assert!(!report.superuser && !report.bypass_rls);
    let by_name = |n: &str| report.tables.iter().find(|t| t.table == n).expect("table");
    assert!(by_name("post").is_protected());
    assert!(!by_name("post").owned_by_current_role);
    assert!(by_name("comment").enabled && !by_name("comment").forced);
    assert!(!by_name("tag").enabled);
    assert!(!by_name("nope").exists);
    let unprotected: Vec<&str> = report
        .unprotected()
        .iter()
        .map(|t| t.table.as_str())
        .collect();
    assert_eq!(unprotected, ["comment", "tag", "nope"]);
    let problems = report.problems();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`comment` lacks FORCE ROW LEVEL SECURITY")),
        "{problems:?}"
    );
    assert!(!report.is_ok());

    // Discovery by column: every table with tenant_id, not the global one.
    let found = rls::check_by_column(&app, "tenant_id")
        .await
        .expect("check");
    let names: Vec<&str> = found.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(names, ["comment", "post", "tag"]);

    // The superuser and BYPASSRLS warnings.
    let as_admin = rls::check(&env.admin, &["post"]).await.expect("check");
    assert!(as_admin.superuser);
    assert!(as_admin.problems()[0].contains("superuser"));
    env.admin_sql(&format!("ALTER ROLE \"{}\" BYPASSRLS", env.role))
        .await;
    let bypass_pool = env.app(1).await;
    let bypass = rls::check(&bypass_pool, &["post"]).await.expect("check");
    assert!(bypass.bypass_rls);
    assert!(bypass.problems().iter().any(|p| p.contains("BYPASSRLS")));
    drop((app, bypass_pool));
    env.cleanup().await;
}

#[tokio::test]
async fn up_and_down_through_sea_orm_migration() {
    let Some(env) = PgEnv::new("up_and_down_through_sea_orm_migration").await else {
        return;
    };
    env.admin_sql(TABLES).await;
    env.admin_sql("INSERT INTO tag (tenant_id, name) VALUES ('a', 'x'), ('a', 'y'), ('b', 'z')")
        .await;
    let manager = SchemaManager::new(&env.admin);
    let policy = RlsPolicy::for_entity::<tag::Entity>().grant_to(&env.role);
    policy.up(&manager).await.expect("up");
    policy.up(&manager).await.expect("up twice is harmless");

    let app = env.app(2).await;
    // The first wall off: the policy alone is under test (tag is declared
    // nowhere, which the confinement would refuse).
    let a = TenantConnection::new(app.clone(), TenantId::from("a")).__unconfined();
    assert_eq!(count(&a, "SELECT count(*) FROM tag").await, 2);
    assert_eq!(count(&app, "SELECT count(*) FROM tag").await, 0);
    assert!(rls::check(&app, &["tag"]).await.expect("check").is_ok());

    policy.down(&manager).await.expect("down");
    let report = rls::check(&env.admin, &["tag"]).await.expect("check");
    assert!(!report.tables[0].enabled && !report.tables[0].forced);
    assert_eq!(report.tables[0].policies, 0);
    assert!(
        app.query_one_raw(stmt("SELECT count(*) FROM tag"))
            .await
            .is_err(),
        "the grant is revoked"
    );
    drop((a, app));
    env.cleanup().await;
}

#[tokio::test]
async fn casts_to_uuid_and_the_planner_uses_the_tenant_index() {
    let Some(env) = PgEnv::new("casts_to_uuid_and_the_planner_uses_the_tenant_index").await else {
        return;
    };
    let org = uuid::Uuid::new_v4();
    env.admin_sql(&format!(
        "CREATE TABLE doc (id serial PRIMARY KEY, org uuid NOT NULL, body text NOT NULL);
         INSERT INTO doc (org, body) SELECT gen_random_uuid(), 'x' FROM generate_series(1, 20000);
         INSERT INTO doc (org, body) VALUES ('{org}', 'mine'), ('{org}', 'mine too');"
    ))
    .await;
    RlsPolicy::new("doc", "org")
        .cast("uuid")
        .grant_to(&env.role)
        .apply(&env.admin)
        .await
        .expect("policy");
    env.admin_sql("ANALYZE doc").await;
    let app = env.app(2).await;
    // The first wall off: the policy and its plan alone are under test
    // (the confinement refuses undeclared `doc` and EXPLAIN).
    let mine = TenantConnection::new(app.clone(), TenantId::from(org)).__unconfined();
    assert_eq!(count(&mine, "SELECT count(*) FROM doc").await, 2);
    assert_eq!(
        count(&app, "SELECT count(*) FROM doc").await,
        0,
        "no tenant, no cast error"
    );
    let plan = mine
        .query_all_raw(stmt("EXPLAIN SELECT * FROM doc"))
        .await
        .expect("explain")
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(plan.contains("doc_org_tenant_idx"), "{plan}");
    drop((mine, app));
    env.cleanup().await;
}

/// Issue 21, item 9: with RLS policies in place, Postgres itself closes the
/// error channel. Even with the first wall switched off, a function that is
/// not `LEAKPROOF` (a cast of text to integer, which prints its input when
/// it fails) cannot run on another tenant's row before the policy, however
/// the planner is pushed (no index, a sequential scan forced).
#[tokio::test]
async fn rls_keeps_non_leakproof_functions_behind_the_policy() {
    let Some(env) = PgEnv::new("rls_keeps_non_leakproof_functions_behind_the_policy").await else {
        return;
    };
    env.admin_sql(TABLES).await;
    env.admin_sql(
        "INSERT INTO post (tenant_id, title) VALUES ('a', '7'), ('b', 'b secret');
         ANALYZE post",
    )
    .await;
    RlsPolicy::for_entity::<post::Entity>()
        .grant_to(&env.role)
        .apply(&env.admin)
        .await
        .expect("post policy");
    env.admin_sql(&format!(
        "ALTER ROLE \"{}\" SET enable_indexscan = off; ALTER ROLE \"{}\" SET enable_bitmapscan = off",
        env.role, env.role
    ))
    .await;
    let app = env.app(1).await;
    // The channel is real: without RLS (as the owner) the cast fails on
    // b's row and prints it.
    let owner = env
        .admin
        .query_all_raw(stmt("SELECT id FROM post WHERE title::int = 7"))
        .await
        .expect_err("the owner's scan reaches b's row");
    assert!(owner.to_string().contains("b secret"), "{owner}");
    // The first wall off: only RLS stands, and it holds.
    let a = TenantConnection::new(app.clone(), TenantId::from("a")).__unconfined();
    let rows = a
        .query_all_raw(stmt("SELECT id FROM post WHERE title::int = 7"))
        .await
        .expect("RLS evaluates the policy first");
    assert_eq!(rows.len(), 1);
    drop((a, app));
    env.cleanup().await;
}
