//! A small multi-tenant notes service: axum, SQLite by default (Postgres
//! with `DATABASE_URL`), tenants by the `x-tenant-id` header or the
//! subdomain of `Host` under `BASE_DOMAIN` (default `app.localhost`), a
//! global `/countries` endpoint, per-tenant rate limits, and a directory of
//! tenants (`acme` and `globex` active, `initech` suspended, others unknown).
//!
//! ```text
//! cargo run --example saas --features http
//! curl -s -H 'x-tenant-id: acme' -H 'content-type: application/json' \
//!      -d '{"title":"hello","body":"first note"}' http://127.0.0.1:3000/notes
//! curl -s -H 'host: acme.app.localhost' http://127.0.0.1:3000/notes
//! ```
//!
//! Environment: `DATABASE_URL`, `BASE_DOMAIN`, `LISTEN` (default
//! `127.0.0.1:3000`), `RATE_PER_SEC` (default 20 per tenant),
//! `JWT_HS256_SECRET`. When the secret is set, every tenant request needs a
//! bearer token (HS256, audience `notes-api`) whose `tenant` claim names
//! the tenant; the header and the subdomain are then hints that must agree
//! with it (`TenantResolver::require_verified_token`). Without it the
//! header and the subdomain are taken at their word: anyone can be any
//! tenant, which is for trying the example out only (a warning says so).
//!
//! ```text
//! JWT_HS256_SECRET=dev-secret cargo run --example saas --features http
//! TOKEN=$(JWT_HS256_SECRET=dev-secret cargo run -q --example saas --features http -- token acme)
//! curl -s -H "authorization: Bearer $TOKEN" http://127.0.0.1:3000/notes
//! ```
//!
//! On Postgres each tenant's statements also run under a
//! `statement_timeout` (`STATEMENT_TIMEOUT_MS`, default 5000, set with
//! `SET LOCAL`) and at most `DB_CONCURRENCY_PER_TENANT` (default 4) of a
//! tenant's statements run at once; a tenant over that cap for more than
//! a second gets 429, a statement cancelled by the timeout 503.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    IntoActiveModel, QueryOrder, RuntimeErr, Schema,
};
use sea_orm_tenant::http::{
    CurrentTenant, JwtClaim, Quota, Rejection, TenantConcurrencyLayer, TenantDb, TenantDirectory,
    TenantLayer, TenantRateLimit, TenantRateLimitLayer, TenantResolver, TenantStatus,
};
use sea_orm_tenant::prelude::*;
use serde::Deserialize;

/// A tenant-owned note.
pub mod note {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "note")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: String,
        pub title: String,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl sea_orm_tenant::TenantEntity for Entity {
        fn tenant_column() -> Column {
            Column::TenantId
        }
    }
}

/// The tenants the service knows, and whether they are active (global).
pub mod tenant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenant")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub active: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A global table, shared by every tenant.
pub mod country {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "country")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The router's state.
#[derive(Clone)]
pub struct AppState {
    /// Hands out a `TenantConnection` per request.
    pub tenants: Tenancy,
    /// The shared connection, for global tables.
    pub db: DatabaseConnection,
}

impl FromRef<AppState> for Tenancy {
    fn from_ref(state: &AppState) -> Tenancy {
        state.tenants.clone()
    }
}

/// Connects to `url` and [`prepare`]s the database.
pub async fn setup(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = Database::connect(url).await?;
    prepare(&db).await?;
    Ok(db)
}

/// The tenants of the example's directory: `acme` and `globex` active,
/// `initech` suspended.
pub const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

/// Creates the tables (if missing), the countries and the tenants (in the
/// directory, and provisioned in the tenancy's registry).
pub async fn prepare(db: &DatabaseConnection) -> Result<(), DbErr> {
    let schema = Schema::new(db.get_database_backend());
    for mut stmt in [
        schema.create_table_from_entity(note::Entity),
        schema.create_table_from_entity(country::Entity),
        schema.create_table_from_entity(tenant::Entity),
    ] {
        db.execute(stmt.if_not_exists()).await?;
    }
    if country::Entity::find().one(db).await?.is_none() {
        let rows = [("DE", "Germany"), ("FR", "France"), ("JP", "Japan")].map(|(c, n)| {
            country::ActiveModel {
                code: Set(c.into()),
                name: Set(n.into()),
            }
        });
        country::Entity::insert_many(rows).exec(db).await?;
        let tenants = [("acme", true), ("globex", true), ("initech", false)].map(|(id, active)| {
            tenant::ActiveModel {
                id: Set(id.into()),
                active: Set(active),
            }
        });
        tenant::Entity::insert_many(tenants).exec(db).await?;
    }
    provision(db, &TENANTS).await
}

/// Provisions `tenants` in the shared database (idempotent): a tenant gets
/// a connection only once the tenancy's registry knows it.
pub async fn provision(db: &DatabaseConnection, tenants: &[&str]) -> Result<(), DbErr> {
    let tenancy = Tenancy::shared_schema(db.clone());
    for id in tenants {
        tenancy.provision(&TenantId::from(*id)).await?;
    }
    Ok(())
}

/// Whether a tenant exists and is active, from the `tenant` table, cached
/// by the layer.
pub fn directory(db: DatabaseConnection) -> TenantDirectory {
    TenantDirectory::new(move |id: TenantId| {
        let db = db.clone();
        async move {
            let row = tenant::Entity::find_by_id(id.as_str().into_owned())
                .one(&db)
                .await?;
            Ok::<_, DbErr>(match row {
                Some(t) if t.active => TenantStatus::Active,
                Some(_) => TenantStatus::Suspended,
                None => TenantStatus::Unknown,
            })
        }
    })
}

/// The tenancy that hands each request its `TenantConnection`. On Postgres
/// every tenant's statements run under a `statement_timeout`
/// (`STATEMENT_TIMEOUT_MS`, default 5 s) and at most
/// `DB_CONCURRENCY_PER_TENANT` (default 4) at once per tenant, waiting up to
/// a second for a slot; SQLite runs without them.
pub fn tenancy(db: DatabaseConnection) -> Tenancy {
    // Every table a tenant connection names is declared (rule 12): `note`
    // belongs to tenants. (`/countries` reads `country` on the shared
    // connection, not through a tenant connection.)
    let tenants = Tenancy::shared_schema(db.clone()).tenant_table::<note::Entity>();
    if db.get_database_backend() != DbBackend::Postgres {
        return tenants;
    }
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    tenants
        .statement_timeout(Duration::from_millis(env("STATEMENT_TIMEOUT_MS", 5000)))
        .max_concurrent_per_tenant(env("DB_CONCURRENCY_PER_TENANT", 4) as usize)
        .concurrency_wait(Duration::from_secs(1))
}

/// The service: tenant routes behind `tenant_layer`, the rate limits and a
/// cap of 8 requests in flight per tenant, and the global `/countries`
/// route outside them.
pub fn router(
    db: DatabaseConnection,
    tenant_layer: TenantLayer,
    limits: TenantRateLimit,
) -> Router {
    let state = AppState {
        tenants: tenancy(db.clone()),
        db,
    };
    let tenant_routes = Router::new()
        .route("/notes", get(list_notes).post(create_note))
        .route(
            "/notes/{id}",
            get(get_note).put(update_note).delete(delete_note),
        )
        .route("/whoami", get(whoami))
        .layer(TenantConcurrencyLayer::new(8, Duration::from_secs(1)))
        .layer(TenantRateLimitLayer::new(limits))
        .layer(tenant_layer);
    Router::new()
        .route("/countries", get(list_countries))
        .merge(tenant_routes)
        .with_state(state)
}

/// A handler's error: a JSON body and a status.
pub enum ApiError {
    /// A refusal of the request.
    Rejected(Rejection),
    /// No such note for this tenant.
    NotFound,
    /// A database error (details logged, not sent).
    Db(DbErr),
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        ApiError::Db(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Rejected(r) => r.into_response(),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({ "error": "note not found" })),
            )
                .into_response(),
            // The tenant's cap on concurrent database work: try again soon.
            ApiError::Db(err) if TenantError::is_busy(&err) => Rejection::RateLimited {
                retry_after_secs: 1,
            }
            .into_response(),
            ApiError::Db(err) if TenantError::is_tenant_error(&err) => (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": "refused by tenant scope" })),
            )
                .into_response(),
            // The database could not be reached (pool closed, connection
            // refused or timed out): a 503, worth retrying, never a 404.
            ApiError::Db(err) if is_unavailable(&err) => {
                tracing::warn!(error = %err, "database unavailable");
                Rejection::DatabaseUnavailable.into_response()
            }
            ApiError::Db(err) if is_statement_timeout(&err) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "error": "query took too long" })),
            )
                .into_response(),
            ApiError::Db(err) => {
                tracing::error!(error = %err, "database error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(serde_json::json!({ "error": "database error" })),
                )
                    .into_response()
            }
        }
    }
}

/// Whether the database could not be reached at all: no connection could be
/// acquired or opened.
fn is_unavailable(err: &DbErr) -> bool {
    matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_))
}

/// Whether Postgres cancelled the statement for its `statement_timeout`
/// (SQLSTATE 57014).
fn is_statement_timeout(err: &DbErr) -> bool {
    let (DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    e.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "57014")
}

/// The body of a create or update. A `tenant_id`, when given, must be the
/// request's tenant.
#[derive(Deserialize)]
pub struct NoteInput {
    /// Optional; refused when it differs from the request's tenant.
    pub tenant_id: Option<String>,
    /// The title (required on create).
    pub title: Option<String>,
    /// The body.
    pub body: Option<String>,
}

fn check_body_tenant(input: &NoteInput, tenant: &TenantId) -> Result<(), ApiError> {
    match &input.tenant_id {
        Some(claimed) if *claimed != tenant.as_str() => {
            Err(ApiError::Rejected(Rejection::BodyMismatch))
        }
        _ => Ok(()),
    }
}

async fn whoami(CurrentTenant(tenant): CurrentTenant) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "tenant": tenant.to_string() }))
}

async fn list_notes(TenantDb(conn): TenantDb) -> Result<Json<Vec<note::Model>>, ApiError> {
    let notes = conn
        .scoped::<note::Entity>()
        .find()
        .order_by_asc(note::Column::Id)
        .all(&conn)
        .await?;
    Ok(Json(notes))
}

async fn create_note(
    TenantDb(conn): TenantDb,
    Json(input): Json<NoteInput>,
) -> Result<(StatusCode, Json<note::Model>), ApiError> {
    check_body_tenant(&input, conn.tenant())?;
    let Some(title) = input.title else {
        return Err(ApiError::Rejected(Rejection::InvalidId {
            source: "body",
            reason: "title is required",
        }));
    };
    let new = note::ActiveModel {
        title: Set(title),
        body: Set(input.body.unwrap_or_default()),
        ..Default::default()
    };
    let row = conn
        .scoped::<note::Entity>()
        .insert(new)
        .exec_with_returning(&conn)
        .await?;
    Ok((StatusCode::CREATED, Json(row)))
}

async fn get_note(
    TenantDb(conn): TenantDb,
    Path(id): Path<i32>,
) -> Result<Json<note::Model>, ApiError> {
    let row = conn
        .scoped::<note::Entity>()
        .find_by_id(id)
        .one(&conn)
        .await?;
    row.map(Json).ok_or(ApiError::NotFound)
}

async fn update_note(
    TenantDb(conn): TenantDb,
    Path(id): Path<i32>,
    Json(input): Json<NoteInput>,
) -> Result<Json<note::Model>, ApiError> {
    check_body_tenant(&input, conn.tenant())?;
    let scoped = conn.scoped::<note::Entity>();
    let Some(row) = scoped.find_by_id(id).one(&conn).await? else {
        return Err(ApiError::NotFound);
    };
    let mut active = row.into_active_model();
    if let Some(title) = input.title {
        active.title = Set(title);
    }
    if let Some(body) = input.body {
        active.body = Set(body);
    }
    Ok(Json(scoped.update(active).exec(&conn).await?))
}

async fn delete_note(
    TenantDb(conn): TenantDb,
    Path(id): Path<i32>,
) -> Result<StatusCode, ApiError> {
    let done = conn
        .scoped::<note::Entity>()
        .delete_by_id(id)
        .exec(&conn)
        .await?;
    if done.rows_affected == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn list_countries(
    State(state): State<AppState>,
) -> Result<Json<Vec<country::Model>>, ApiError> {
    Ok(Json(country::Entity::find().all(&state.db).await?))
}

/// The resolver of the example: the `x-tenant-id` header and the subdomain
/// under `base_domain`, and with a `jwt`, a verified bearer token that the
/// tenant must come from (the header and subdomain then only have to agree
/// with it).
pub fn resolver(base_domain: &str, jwt: Option<JwtClaim>) -> TenantResolver {
    let resolver = TenantResolver::new()
        .header("x-tenant-id")
        .subdomain(base_domain);
    match jwt {
        Some(jwt) => resolver.jwt(jwt).require_verified_token(),
        None => resolver,
    }
}

/// [`resolver`] from `BASE_DOMAIN` and `JWT_HS256_SECRET`.
pub fn resolver_from_env() -> TenantResolver {
    let base = std::env::var("BASE_DOMAIN").unwrap_or_else(|_| "app.localhost".into());
    let jwt = std::env::var("JWT_HS256_SECRET")
        .ok()
        .map(|secret| JwtClaim::hs256(secret.as_bytes(), "notes-api", "tenant"));
    if jwt.is_none() {
        tracing::warn!(
            "JWT_HS256_SECRET is not set: tenants come from the x-tenant-id header and the \
             Host, unauthenticated (anyone can be any tenant); for trying the example only"
        );
    }
    resolver(&base, jwt)
}

/// A token for `tenant`, valid for an hour, signed with `secret`: what the
/// service's login would hand out.
pub fn mint_token(secret: &[u8], tenant: &str) -> Result<String, jsonwebtoken::errors::Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let claims = serde_json::json!({
        "tenant": tenant, "aud": "notes-api", "iat": now, "nbf": now, "exp": now + 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret)?,
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `saas token <tenant>`: print a token signed with JWT_HS256_SECRET.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [command, tenant] = args.as_slice()
        && command == "token"
    {
        let secret = std::env::var("JWT_HS256_SECRET")
            .map_err(|_| "saas token: set JWT_HS256_SECRET to the service's secret")?;
        println!("{}", mint_token(secret.as_bytes(), tenant)?);
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,sea_orm_tenant=debug".into()),
        )
        .init();
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let db = setup(&url).await?;
    let per_sec = std::env::var("RATE_PER_SEC")
        .ok()
        .and_then(|v| v.parse().ok())
        .and_then(NonZeroU32::new)
        .unwrap_or(NonZeroU32::MIN.saturating_add(19));
    let limits = TenantRateLimit::new(Quota::per_second(per_sec));
    let layer = TenantLayer::new(resolver_from_env()).directory(directory(db.clone()));
    let app = router(db, layer, limits);
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("notes service on http://{listen} ({url})");
    axum::serve(listener, app).await?;
    Ok(())
}
