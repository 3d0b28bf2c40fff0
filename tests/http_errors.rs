//! How the HTTP layer answers a tenant that does not exist and a database
//! that cannot be reached (issue 10, hole 8): 404 only when the tenancy
//! answered "not there", 503 when it could not be asked. Never a 404 for a
//! real customer because a read failed. And (issue 23) how handlers answer
//! errors through `ApiError`, and what is logged at which level.
//!
//! Needs the `http` feature: `cargo test --features http --test http_errors`.

mod common;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post as post_route};
use axum::{Json, Router};
use common::entities::org_ledger;
use sea_orm::ActiveValue::Set;
use sea_orm::ConnectionTrait;
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::http::{ApiError, TenantDb, TenantLayer, TenantResolver};
use sea_orm_tenant::{Tenancy, TenantEntity, TenantError, TenantId, TenantScoped};
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

// ---------------------------------------------------------------------------
// Issue 23: one answer path for handlers, and logs clients cannot fill.

/// A handler writing a row for another tenant through SeaORM: the scoped
/// insert refuses it, the refusal travels inside the `DbErr`, and `?`
/// into [`ApiError`] answers it as the tenant error it is.
async fn write_for_globex(TenantDb(conn): TenantDb) -> Result<Json<Value>, ApiError> {
    let model = post::ActiveModel {
        tenant_id: Set("globex".into()),
        title: Set("x".into()),
        ..Default::default()
    };
    post::Entity::scoped(conn.tenant())
        .insert(model)
        .exec(&conn)
        .await?;
    Ok(Json(serde_json::json!({ "written": true })))
}

/// A handler whose SQL fails: a plain `DbErr`, a 500 that shows nothing.
async fn broken_sql(TenantDb(conn): TenantDb) -> Result<Json<Value>, ApiError> {
    conn.database()
        .execute_unprepared("SELECT secret_column FROM no_such_table WHERE x = 'acme-secret'")
        .await?;
    Ok(Json(Value::Null))
}

/// A handler returning a `TenantError` as it is.
async fn someone_else(State(tenancy): State<Tenancy>) -> Result<String, TenantError> {
    let conn = tenancy.connection(&TenantId::from("nobody")).await?;
    Ok(conn.tenant().to_string())
}

async fn handlers_app() -> (Router, std::path::PathBuf) {
    let dir = temp_dir();
    let url = format!("sqlite://{}?mode=rwc", dir.join("shared.db").display());
    let db = sea_orm::Database::connect(&url).await.unwrap();
    common::create_tables(&db).await.unwrap();
    let tenancy = Tenancy::shared_schema(db).tenant_table::<post::Entity>();
    tenancy.provision(&TenantId::from("acme")).await.unwrap();
    let app = Router::new()
        .route("/write", post_route(write_for_globex))
        .route("/broken", get(broken_sql))
        .route("/someone-else", get(someone_else))
        .route("/whoami", get(tenant_of))
        .layer(TenantLayer::new(
            TenantResolver::new().header("x-tenant-id"),
        ))
        .with_state(tenancy);
    (app, dir)
}

async fn call(app: &Router, method: &str, uri: &str, tenant: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("x-tenant-id", tenant)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn handlers_answer_db_errs_and_tenant_errors_through_one_path() {
    let (logs, _guard) = common::logs::Logs::capture();
    let (app, dir) = handlers_app().await;

    // A tenant error carried inside a DbErr: answered as itself (400).
    let (status, body) = call(&app, "POST", "/write", "acme").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("does not match"), "{body}");

    // A plain DbErr: 500, and the body says nothing of the SQL.
    let (status, body) = call(&app, "GET", "/broken", "acme").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, r#"{"error":"internal error"}"#);
    // ... but the log does, at ERROR.
    let errors = logs.of("ERROR");
    assert!(
        errors.iter().any(|l| l.contains("no_such_table")),
        "{:?}",
        logs.lines()
    );

    // A TenantError returned as it is: 404 for a tenant that is not there.
    let (status, body) = call(&app, "GET", "/someone-else", "acme").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Every refusal is logged as the tenant error's own sentence.
    let lines = logs.lines();
    assert!(
        !lines.iter().any(|l| l.contains("Error converting")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("tenant: mismatch on `post`")),
        "{lines:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An unknown tenant is what a client chose to send: logged at DEBUG, so
/// that clients cannot choose the volume of the warnings.
#[tokio::test]
async fn unknown_tenants_are_logged_at_debug_not_warn() {
    let (logs, _guard) = common::logs::Logs::capture();
    let (app, dir) = handlers_app().await;
    for i in 0..20 {
        let (status, _) = call(&app, "GET", "/whoami", &format!("nobody{i}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(logs.of("WARN"), Vec::<String>::new());
    assert_eq!(logs.of("ERROR"), Vec::<String>::new());
    let debug = logs.of("DEBUG");
    assert!(
        debug
            .iter()
            .any(|l| l.contains("tenant: unknown tenant `nobody3`") && l.contains("404")),
        "{:?}",
        logs.lines()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
