//! How the HTTP layer answers a tenant that does not exist and a database
//! that cannot be reached (issue 10, hole 8): 404 only when the tenancy
//! answered "not there", 503 when it could not be asked. Never a 404 for a
//! real customer because a read failed.
//!
//! Needs the `http` feature: `cargo test --features http --test http_errors`.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use common::entities::org_ledger;
use sea_orm_tenant::http::{TenantDb, TenantLayer, TenantResolver};
use sea_orm_tenant::{Tenancy, TenantId};
use serde_json::Value;
use tower::ServiceExt;

async fn tenant_of(TenantDb(conn): TenantDb) -> Json<Value> {
    Json(serde_json::json!({ "tenant": conn.tenant().to_string() }))
}

fn app(tenancy: Tenancy) -> Router {
    Router::new()
        .route("/whoami", get(tenant_of))
        .layer(TenantLayer::new(
            TenantResolver::new().header("x-tenant-id"),
        ))
        .with_state(tenancy)
}

async fn get_as(app: &Router, tenant: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .uri("/whoami")
        .header("x-tenant-id", tenant)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sot_http_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_provisioned_tenant_is_served_and_an_unknown_one_is_404() {
    let dir = temp_dir();
    let tenancy = Tenancy::sqlite_files(&dir);
    tenancy.provision(&TenantId::from("acme")).await.unwrap();
    let app = app(tenancy);

    let (status, body) = get_as(&app, "acme").await;
    assert_eq!(
        (status, body["tenant"].as_str()),
        (StatusCode::OK, Some("acme"))
    );
    let (status, body) = get_as(&app, "nobody").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown tenant"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_tenant_database_that_cannot_be_reached_is_503() {
    // A server that hangs up on every connection (a pooler refusing, a
    // database restarting): opening the tenant's pool fails, which says
    // nothing about whether the tenant exists.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let tenancy = Tenancy::database_per_tenant(move |t: &TenantId| {
        format!("postgres://postgres@127.0.0.1:{port}/tenant_{t}")
    });
    let app = app(tenancy);
    let (status, body) = get_as(&app, "acme").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("database unavailable")
        )
    );
    // The body says nothing about the database or the tenant.
    assert_eq!(body.as_object().map(|o| o.len()), Some(1));
}

#[tokio::test]
async fn an_id_that_does_not_fit_the_tenant_column_is_400() {
    let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
    let tenancy = Tenancy::shared_schema(db).tenant_table::<org_ledger::Entity>();
    tenancy.provision(&TenantId::from("42")).await.unwrap();
    let app = app(tenancy);
    let (status, body) = get_as(&app, "42").await;
    assert_eq!(
        (status, body["tenant"].as_str()),
        (StatusCode::OK, Some("42"))
    );
    let (status, body) = get_as(&app, "acme").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid tenant id"))
    );
}

#[tokio::test]
async fn a_registry_that_cannot_be_read_is_503_not_404() {
    // A provisioned shared-schema tenant, then the registry's database goes
    // away: a fresh Tenancy (nothing cached) cannot ask, so it must not say
    // "unknown tenant".
    let dir = temp_dir();
    let url = format!("sqlite://{}?mode=rwc", dir.join("shared.db").display());
    let db = sea_orm::Database::connect(&url).await.unwrap();
    Tenancy::shared_schema(db.clone())
        .provision(&TenantId::from("acme"))
        .await
        .unwrap();
    let (status, _) = get_as(&app(Tenancy::shared_schema(db.clone())), "acme").await;
    assert_eq!(status, StatusCode::OK);

    db.clone().close().await.unwrap();
    let (status, body) = get_as(&app(Tenancy::shared_schema(db)), "acme").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("database unavailable")
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}
