//! Hot tenants through `Tenancy::connection` on Postgres: parked
//! transactions on schema per tenant carry their `search_path` and are
//! handed only to the same opener, and a tenant deprovisioned while hot
//! loses its parked transactions and gets `UnknownTenant`.

mod pg_support;

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::prelude::*;

/// `current_setting` reads which schema, tenant and timeout a statement runs
/// under: the test's device, declared on the tenancies under test because
/// the wall refuses it by default (a session function, rule 12).
fn reading_settings(tenancy: Tenancy) -> Tenancy {
    tenancy.pure_function("current_setting")
}

async fn text<C: ConnectionTrait>(c: &C, sql: &str) -> String {
    c.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a row")
        .try_get_by_index::<String>(0)
        .expect("text")
}

/// Reads until `tenancy` keeps a connection for `conn`'s tenant. The read
/// calls no function the test declared: after one (`current_setting`
/// here), the kept connection's session is set again before its next
/// statement, so it is not kept as it is.
async fn heat(tenancy: &Tenancy, conn: &TenantConnection) {
    let before = tenancy.parked();
    for _ in 0..100 {
        conn.query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT 1"))
            .await
            .expect("SELECT 1");
        if tenancy.parked() > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("nothing was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_per_tenant_parks_and_keeps_each_tenant_in_its_schema() {
    let Some(env) = pg_support::PgEnv::new("schema_per_tenant_parks").await else {
        return;
    };
    env.admin_sql(&format!(
        "GRANT CREATE ON DATABASE \"{}\" TO \"{}\"",
        env.db_name, env.role
    ))
    .await;
    let app = env.app(6).await;
    let tenancy = env
        .provisioned(
            reading_settings(Tenancy::schema_per_tenant(app.clone())),
            &["a", "b"],
        )
        .await;
    let a = tenancy.connection(&TenantId::from("a")).await.expect("a");
    let sql = "SELECT current_setting('search_path') || ' ' || current_setting('app.tenant_id')";
    heat(&tenancy, &a).await;
    // Alternating tenants on a pool with parked transactions: each read
    // sees its own schema and tenant, never the other's.
    let b = tenancy.connection(&TenantId::from("b")).await.expect("b");
    for _ in 0..50 {
        assert_eq!(text(&a, sql).await, "tenant_a, public a");
        assert_eq!(text(&b, sql).await, "tenant_b, public b");
    }
    heat(&tenancy, &b).await;
    assert!(
        tenancy.parked() > 0,
        "hot tenants of a schema tenancy are kept"
    );
    // A connection of `a` under another statement timeout opens another
    // transaction: it is not handed a's parked one.
    let limited = env
        .provisioned(
            reading_settings(Tenancy::schema_per_tenant(app.clone()))
                .statement_timeout(Duration::from_millis(1234)),
            &[],
        )
        .await;
    let a2 = limited.connection(&TenantId::from("a")).await.expect("a");
    assert_eq!(
        text(&a2, "SELECT current_setting('statement_timeout')").await,
        "1234ms"
    );
    assert_eq!(
        text(&a, "SELECT current_setting('statement_timeout')").await,
        "0"
    );
    tenancy.release_parked();
    limited.release_parked();
    drop((a, a2, b, tenancy, limited, app));
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_deprovisioned_while_hot_loses_its_parked_transactions() {
    let Some(env) = pg_support::PgEnv::new("deprovisioned_while_hot").await else {
        return;
    };
    let app = env.app(6).await;
    let tenancy = env
        .provisioned(
            reading_settings(Tenancy::shared_schema(app.clone())),
            &["a", "b"],
        )
        .await;
    let a = tenancy.connection(&TenantId::from("a")).await.expect("a");
    heat(&tenancy, &a).await;
    let b = tenancy.connection(&TenantId::from("b")).await.expect("b");
    heat(&tenancy, &b).await;
    let before = tenancy.parked();
    tenancy
        .deprovision(&TenantId::from("a"))
        .await
        .expect("deprovision");
    assert!(
        tenancy.parked() < before,
        "a's parked transactions closed ({before} before, {} after)",
        tenancy.parked()
    );
    assert!(matches!(
        tenancy.connection(&TenantId::from("a")).await,
        Err(TenantError::UnknownTenant(_))
    ));
    // The other tenant keeps working.
    assert_eq!(
        text(&b, "SELECT current_setting('app.tenant_id')").await,
        "b"
    );
    tenancy.release_parked();
    drop((a, b, tenancy, app));
    env.cleanup().await;
}
