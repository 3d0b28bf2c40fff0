//! A permission the application's role lacks is what it is (issue 23,
//! point 2): a 500 whose `detail` names the missing grant and an ERROR
//! line that says so, not a 503 "database unavailable" with the cause in
//! a WARN line. Against Postgres and MySQL/MariaDB, as a role without the
//! grant.

mod common;
mod pg_support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use pg_support::PgEnv;
use sea_orm::ConnectionTrait;
use sea_orm_tenant::http::{ApiError, TenantDb, TenantLayer, TenantResolver};
use sea_orm_tenant::{Tenancy, TenantError, TenantId};
use serde_json::Value;
use tower::ServiceExt;

async fn whoami(TenantDb(conn): TenantDb) -> Json<Value> {
    Json(serde_json::json!({ "tenant": conn.tenant().to_string() }))
}

/// The same lookup in a handler of one's own, through `ApiError`.
async fn connect(
    axum::extract::State(tenancy): axum::extract::State<Tenancy>,
) -> Result<String, ApiError> {
    let conn = tenancy.connection(&TenantId::from("acme")).await?;
    Ok(conn.tenant().to_string())
}

async fn get_as(app: &Router, uri: &str, tenant: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .uri(uri)
        .header("x-tenant-id", tenant)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_registry_the_role_may_not_read_is_a_500_naming_the_grant() {
    let Some(env) = PgEnv::new("a_registry_the_role_may_not_read_is_a_500_naming_the_grant").await
    else {
        return;
    };
    // The owner provisions (and so creates the registry); the application
    // role was never granted SELECT on it.
    Tenancy::shared_schema(env.admin.clone())
        .provision(&TenantId::from("acme"))
        .await
        .expect("provision as the owner");
    let tenancy = Tenancy::shared_schema(env.app(2).await);

    // The error itself says what it is.
    let err = tenancy
        .connection(&TenantId::from("acme"))
        .await
        .expect_err("the role cannot read the registry");
    let denied = err.permission_denied().map(str::to_owned);
    assert!(
        denied
            .as_deref()
            .is_some_and(|m| m.contains("permission denied for table sea_orm_tenant_registry")),
        "{err}"
    );
    assert!(matches!(err, TenantError::Database { .. }));

    let (logs, _guard) = common::logs::Logs::capture();
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/connect", get(connect))
        .layer(TenantLayer::new(
            TenantResolver::new().header("x-tenant-id"),
        ))
        .with_state(tenancy);
    for uri in ["/whoami", "/connect"] {
        let (status, body) = get_as(&app, uri, "acme").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}: {body}");
        assert_eq!(body["error"], "database permission denied", "{uri}");
        assert_eq!(
            body["detail"], "permission denied for table sea_orm_tenant_registry",
            "{uri}"
        );
    }
    // Logged at ERROR, as a sentence; nothing at WARN.
    let errors = logs.of("ERROR");
    assert_eq!(errors.len(), 2, "{:?}", logs.lines());
    assert!(
        errors.iter().all(|l| l.contains(
            "the database refused the application's role while reading the tenant registry: \
             permission denied for table sea_orm_tenant_registry; grant the role what it needs"
        )),
        "{errors:?}"
    );
    assert_eq!(logs.of("WARN"), Vec::<String>::new());
    drop(_guard);
    env.cleanup().await;
}

/// MySQL/MariaDB: a user without a grant on the tenant's database (error
/// 1044 when its pool opens) is a 500 naming the refusal, not a 503.
#[tokio::test]
async fn a_tenant_database_the_user_may_not_use_is_a_500_on_mysql() {
    let Some(url) = std::env::var("MYSQL_URL").ok().filter(|u| !u.is_empty()) else {
        assert!(
            !common::require_dbs(),
            "MYSQL_URL is not set but SEA_ORM_TENANT_REQUIRE_DBS=1"
        );
        println!(
            "skipped: a_tenant_database_the_user_may_not_use_is_a_500_on_mysql (MYSQL_URL not set)"
        );
        return;
    };
    let admin = sea_orm::Database::connect(&url).await.expect("MySQL");
    let name = common::unique_name();
    let user = format!("{name}_u");
    admin
        .execute_unprepared(&format!("CREATE DATABASE `{name}`"))
        .await
        .expect("create database");
    admin
        .execute_unprepared(&format!("CREATE USER '{user}'@'%'"))
        .await
        .expect("create user");
    let (authority, _) = url
        .split_once("://")
        .map(|(_, rest)| rest.split_once('@').map_or(rest, |(_, host)| host))
        .and_then(|rest| rest.split_once('/'))
        .expect("mysql://user@host:port/db");
    let tenant_url = format!("mysql://{user}@{authority}/{name}");
    let tenancy = Tenancy::database_per_tenant(move |_t: &TenantId| tenant_url.clone());

    let err = tenancy
        .connection(&TenantId::from("acme"))
        .await
        .expect_err("the user has no grant on the database");
    let denied = err.permission_denied().map(str::to_owned);

    let (logs, guard) = common::logs::Logs::capture();
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(TenantLayer::new(
            TenantResolver::new().header("x-tenant-id"),
        ))
        .with_state(tenancy);
    let (status, body) = get_as(&app, "/whoami", "acme").await;
    drop(guard);

    let _ = admin
        .execute_unprepared(&format!("DROP USER IF EXISTS '{user}'@'%'"))
        .await;
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`"))
        .await;

    assert!(
        denied
            .as_deref()
            .is_some_and(|m| m.contains("Access denied for user")),
        "{err}"
    );
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"], "database permission denied");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Access denied for user") && !d.contains("acme")),
        "{body}"
    );
    assert_eq!(logs.of("ERROR").len(), 1, "{:?}", logs.lines());
    assert_eq!(logs.of("WARN"), Vec::<String>::new());
}
