//! What the tests of the tenant-keeping connections share
//! (`keeper_pg.rs`, `keeper_attack_pg.rs`): a database with `post` under
//! the crate's RLS policy and `whoami`, a global table whose policy shows
//! each tenant its own row only, so that the tenant a statement runs
//! under is read without any function the test declares (a declared
//! function makes the keeper set the session again, which would hide a
//! stale one).
#![allow(dead_code)]

use std::time::Duration;

use futures_util::TryStreamExt;
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, SqlxPostgresConnector, Statement,
    StreamTrait,
};
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::rls::RlsPolicy;

use crate::pg_support::PgEnv;

pub fn stmt(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

/// `post` with the crate's RLS policy, and `whoami` with one row per
/// tenant in `tenants`, each visible to its own tenant only.
pub async fn setup(env: &PgEnv, tenants: &[&str]) {
    env.admin_sql(
        "CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
         CREATE TABLE whoami (tenant text PRIMARY KEY);
         ALTER TABLE whoami ENABLE ROW LEVEL SECURITY;
         ALTER TABLE whoami FORCE ROW LEVEL SECURITY;
         CREATE POLICY mine ON whoami USING (tenant = current_setting('app.tenant_id', true));",
    )
    .await;
    for t in tenants {
        env.admin
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO whoami VALUES ($1)",
                [(*t).into()],
            ))
            .await
            .expect("whoami row");
    }
    RlsPolicy::for_entity::<post::Entity>()
        .grant_to(&env.role)
        .apply(&env.admin)
        .await
        .expect("apply policy");
    env.admin_sql(&format!(
        "GRANT SELECT ON whoami TO \"{}\";
         GRANT USAGE ON SCHEMA public TO \"{}\";",
        env.role, env.role
    ))
    .await;
}

pub fn declared(tenancy: Tenancy) -> Tenancy {
    tenancy
        .tenant_table::<post::Entity>()
        .global_table_named("whoami")
}

pub fn hot(per_tenant: usize) -> HotTenants {
    HotTenants {
        max_parked: None,
        per_tenant,
        max_idle: Duration::from_secs(5),
    }
}

pub async fn try_whoami<C: ConnectionTrait>(conn: &C) -> Result<String, DbErr> {
    let rows = conn
        .query_all_raw(stmt("SELECT tenant FROM whoami"))
        .await?;
    Ok(match rows.as_slice() {
        [] => String::new(),
        [row] => row.try_get::<String>("", "tenant").expect("tenant"),
        more => panic!("{} rows of whoami: more than one tenant", more.len()),
    })
}

/// The tenant the session holds, as the RLS policy of `whoami` sees it.
pub async fn whoami<C: ConnectionTrait>(conn: &C) -> String {
    try_whoami(conn).await.expect("whoami")
}

pub async fn stream_whoami<C: StreamTrait>(conn: &C) -> String {
    let rows: Vec<_> = conn
        .stream_raw(stmt("SELECT tenant FROM whoami"))
        .await
        .expect("stream")
        .try_collect()
        .await
        .expect("rows");
    match rows.as_slice() {
        [] => String::new(),
        [row] => row.try_get::<String>("", "tenant").expect("tenant"),
        more => panic!("{} rows of whoami: more than one tenant", more.len()),
    }
}

pub const SLOW: &str = "SELECT count(*) FROM generate_series(1, 3000000) AS g";

pub async fn kill_app_sessions(env: &PgEnv) {
    env.admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{}'",
        env.role
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
}

pub async fn app_pool(env: &PgEnv, max: u32) -> DatabaseConnection {
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(env.app_options())
        .await
        .expect("pool");
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

pub async fn conn(tenancy: &Tenancy, t: &str) -> TenantConnection {
    tenancy.connection(&TenantId::from(t)).await.expect("conn")
}

/// A fresh database (see [`setup`]) with `tenants` provisioned in a
/// shared-schema tenancy over a pool of `max` connections, keeping
/// `per_tenant` connections per tenant; `None` when Postgres is not set.
pub async fn keeping(
    test: &str,
    tenants: &[&str],
    max: u32,
    per_tenant: usize,
) -> Option<(PgEnv, DatabaseConnection, Tenancy)> {
    let env = PgEnv::new(test).await?;
    setup(&env, tenants).await;
    let app = env.app(max).await;
    let tenancy = env
        .provisioned(
            declared(Tenancy::shared_schema(app.clone())).hot_tenants(hot(per_tenant)),
            tenants,
        )
        .await;
    Some((env, app, tenancy))
}
