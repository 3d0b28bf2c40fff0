//! Per-tenant metrics, exposed for Prometheus: two tenants on an in-memory
//! SQLite database, a few statements and requests, and the text a
//! Prometheus server would scrape from `/metrics`.
//!
//! ```text
//! cargo run --example metrics --features metrics,http
//! ```
//!
//! The names and labels are in the `sea_orm_tenant::metrics` docs and the
//! README's "Metrics" section.

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::routing::get;
use axum::{Router, response::IntoResponse};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, Database, DbErr, EntityTrait, PaginatorTrait, Schema,
    Statement,
};
use sea_orm_tenant::http::{TenantDb, TenantLayer, TenantResolver};
use sea_orm_tenant::prelude::*;
use tower::ServiceExt;

/// A tenant-owned table: every row has a `tenant_id`.
mod note {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "note")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: String,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

sea_orm_tenant::tenant_entity!(note::Entity => note::Column::TenantId);

/// `GET /notes`: how many notes the request's tenant has.
async fn count_notes(TenantDb(conn): TenantDb) -> impl IntoResponse {
    match note::Entity::find().count(&conn).await {
        Ok(n) => format!("{n} notes\n").into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `GET /metrics`: the Prometheus text, outside the tenant layer.
async fn scrape(State(handle): State<PrometheusHandle>) -> String {
    handle.render()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. A recorder: here Prometheus's, with histogram buckets in seconds
    //    (without buckets it renders summaries). Then the descriptions.
    let handle = PrometheusBuilder::new()
        .set_buckets(&[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0])?
        .install_recorder()?;
    sea_orm_tenant::metrics::describe();

    // 2. A tenancy, as usual: nothing else to configure.
    let db = Database::connect("sqlite::memory:").await?;
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(note::Entity))
        .await?;
    let tenancy = Tenancy::shared_schema(db);
    let (acme, globex) = (TenantId::from("acme"), TenantId::from("globex"));
    for tenant in [&acme, &globex] {
        tenancy.provision(tenant).await?;
    }

    // 3. Statements per tenant: each is one value of
    //    db.client.operation.duration{tenant.id, db.system.name}.
    let conn = tenancy.connection(&acme).await?;
    for body in ["first", "second"] {
        let note = note::ActiveModel {
            body: Set(body.into()),
            ..Default::default()
        };
        note::Entity::insert(note).exec(&conn).await?;
    }
    let globex_conn = tenancy.connection(&globex).await?;
    println!(
        "globex sees {} notes",
        note::Entity::find().count(&globex_conn).await?
    );
    // A failed statement carries error.type.
    let broken = Statement::from_string(conn.get_database_backend(), "SELECT * FROM nowhere");
    let failed: Result<_, DbErr> = conn.query_all_raw(broken).await;
    println!("a failed statement: {}", failed.is_err());

    // 4. Requests through the tenant layer: http.server.request.duration,
    //    and sea_orm_tenant.http.rejections{reason} for the refused ones.
    let tenant_routes = Router::new()
        .route("/notes", get(count_notes))
        .layer(TenantLayer::new(
            TenantResolver::new().header("x-tenant-id"),
        ))
        .with_state(tenancy.clone());
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(handle)
        .merge(tenant_routes);
    for tenant in [Some("acme"), Some("globex"), Some("nobody"), None] {
        let mut req = Request::builder().uri("/notes");
        if let Some(tenant) = tenant {
            req = req.header("x-tenant-id", tenant);
        }
        let res = app.clone().oneshot(req.body(Body::empty())?).await?;
        println!("GET /notes as {tenant:?}: {}", res.status());
    }

    // 5. What Prometheus scrapes.
    let req = Request::builder().uri("/metrics").body(Body::empty())?;
    let res = app.oneshot(req).await?;
    let text = axum::body::to_bytes(res.into_body(), 1 << 20).await?;
    println!("\nGET /metrics:\n{}", String::from_utf8_lossy(&text));
    Ok(())
}
