//! Row-level security as the second wall: raw SQL isolated per tenant.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run --example rls
//! ```
//!
//! DATABASE_URL must name a role that may create databases and roles. The
//! example creates a database and an application role (not superuser, not
//! owner of the tables), writes the policies with `sea_orm_tenant::rls`,
//! connects as the application role, and shows that raw SQL through a
//! `TenantConnection` sees and writes only its tenant's rows. It drops both
//! at the end.

use std::str::FromStr;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, SqlxPostgresConnector, Statement,
};
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::rls::{self, RlsPolicy};

#[tokio::main]
async fn main() -> Result<(), DbErr> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("examples/rls: DATABASE_URL is not set; this example needs Postgres.");
        return Ok(());
    };
    let server_opts = PgConnectOptions::from_str(&url).map_err(|e| DbErr::Custom(e.to_string()))?;
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let (db_name, role) = (
        format!("sot_example_{suffix}"),
        format!("sot_example_app_{suffix}"),
    );

    let server = connect(server_opts.clone()).await?;
    server
        .execute_unprepared(&format!("CREATE DATABASE \"{db_name}\""))
        .await?;
    server
        .execute_unprepared(&format!(
            "CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOBYPASSRLS"
        ))
        .await?;

    let result = run(&server_opts, &db_name, &role).await;

    server
        .execute_unprepared(&format!(
            "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
        ))
        .await?;
    server
        .execute_unprepared(&format!("DROP ROLE IF EXISTS \"{role}\""))
        .await?;
    result
}

async fn run(server_opts: &PgConnectOptions, db_name: &str, role: &str) -> Result<(), DbErr> {
    // 1. As the owner (in a real application: a sea-orm-migration
    //    migration, with `RlsPolicy::…up(manager)` and `down(manager)`).
    let owner = connect(server_opts.clone().database(db_name)).await?;
    owner
        .execute_unprepared(
            "CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL)",
        )
        .await?;
    let policy = RlsPolicy::for_entity::<post::Entity>().grant_to(role);
    for sql in policy.up_statements()? {
        println!("owner> {sql}");
    }
    policy.apply(&owner).await?;

    // 2. The application connects as a role that is not the owner.
    let app = connect(server_opts.clone().database(db_name).username(role)).await?;
    let report = rls::check(&app, &["post"]).await?;
    println!(
        "\nstart-up check as `{}`: ok = {}",
        report.role,
        report.is_ok()
    );

    // Tenants are provisioned by the owner too (the registry is a table of
    // the shared database); the application role only reads the registry.
    let provisioning = Tenancy::shared_schema(owner.clone());
    for name in ["acme", "globex"] {
        provisioning.provision(&TenantId::from(name)).await?;
    }
    // The registry exists now: the role may read it (a migration that
    // starts with `migration::CreateRegistry` can grant this up front).
    rls::Grants::to(role)?.registry().apply(&owner).await?;

    let tenants = Tenancy::shared_schema(app.clone()).tenant_table::<post::Entity>();
    for name in ["acme", "globex"] {
        let conn = tenants.connection(&TenantId::from(name)).await?;
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO post (tenant_id, title) VALUES ($1, $2), ($1, $3)",
            [
                name.into(),
                format!("{name}'s first").into(),
                format!("{name}'s second").into(),
            ],
        ))
        .await?;
    }

    // 3. Raw SQL, no tenant filter written anywhere.
    for name in ["acme", "globex"] {
        let conn = tenants.connection(&TenantId::from(name)).await?;
        let rows = conn
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT tenant_id, title FROM post ORDER BY id",
            ))
            .await?;
        println!("\n{name} sees {} rows:", rows.len());
        for row in rows {
            let tenant: String = row.try_get("", "tenant_id")?;
            let title: String = row.try_get("", "title")?;
            println!("  {tenant:<7} {title}");
        }
    }

    // 4. Writing another tenant's row is refused by WITH CHECK.
    let acme = tenants.connection(&TenantId::from("acme")).await?;
    let refused = acme
        .execute_unprepared("INSERT INTO post (tenant_id, title) VALUES ('globex', 'sneaky')")
        .await;
    println!(
        "\nacme writing a globex row: {}",
        match refused {
            Ok(_) => "written (this should not happen)".to_owned(),
            Err(err) => format!("refused: {}", TenantError::describe(&err)),
        }
    );

    // 5. Without a tenant, the application role sees nothing.
    let n = app
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM post",
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?;
    println!("no tenant sees {} rows", n.unwrap_or_default());

    tenants.release_parked();
    app.close().await?;
    owner.close().await?;
    Ok(())
}

async fn connect(options: PgConnectOptions) -> Result<DatabaseConnection, DbErr> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
}
