//! One small app, run at each isolation level by a flag; it prints the same
//! results on all three.
//!
//! ```text
//! cargo run --example isolation -- --level shared                 # SQLite file
//! cargo run --example isolation -- --level database               # SQLite file per tenant
//! cargo run --example isolation -- --level schema --url postgres://postgres@127.0.0.1/test
//! ```
//!
//! `--url` picks the shared database (default: a SQLite file in a temp
//! directory); schema per tenant needs Postgres.

use clap::{Parser, ValueEnum};
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectOptions, Database, DbErr, QueryOrder, Schema};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::prelude::*;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Level {
    Shared,
    Schema,
    Database,
}

#[derive(Parser, Debug)]
struct Args {
    /// The isolation level.
    #[arg(long, value_enum, default_value = "shared")]
    level: Level,
    /// The shared database (shared and schema levels).
    #[arg(long)]
    url: Option<String>,
}

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreatePost)]
    }
}

struct CreatePost;

impl MigrationName for CreatePost {
    fn name(&self) -> &str {
        "m0001_create_post"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePost {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        let mut create = schema.create_table_from_entity(post::Entity);
        manager
            .create_table(create.if_not_exists().to_owned())
            .await
    }
}

/// The application: the same code whatever the level.
async fn app(tenancy: &Tenancy) -> Result<(), DbErr> {
    let tenants = [TenantId::from("acme"), TenantId::from("globex")];
    for tenant in &tenants {
        tenancy.provision(tenant).await?;
    }
    for (tenant, titles) in tenants.iter().zip([["hello", "world"], ["hola", "mundo"]]) {
        let conn = tenancy.connection(tenant).await?;
        for title in titles {
            let row = post::ActiveModel {
                title: Set(title.to_owned()),
                ..Default::default()
            };
            conn.scoped::<post::Entity>()
                .insert(row)
                .exec(&conn)
                .await?;
        }
    }
    for tenant in &tenants {
        let conn = tenancy.connection(tenant).await?;
        let titles: Vec<String> = conn
            .scoped::<post::Entity>()
            .find()
            .order_by_asc(post::Column::Title)
            .all(&conn)
            .await?
            .into_iter()
            .map(|p| p.title)
            .collect();
        println!("{tenant}: {titles:?}");
    }
    let unknown = tenancy.connection(&TenantId::from("initech")).await;
    println!(
        "initech: {}",
        unknown.err().map(|e| e.to_string()).unwrap_or_default()
    );
    for tenant in &tenants {
        tenancy.deprovision(tenant).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), DbErr> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("sea-orm-tenant-isolation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| DbErr::Custom(e.to_string()))?;
    let url = args
        .url
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("shared.db").display()));
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false);
    let tenancy = match args.level {
        Level::Shared => {
            Tenancy::shared_schema(Database::connect(options).await?).tenant_table::<post::Entity>()
        }
        Level::Schema => Tenancy::schema_per_tenant(Database::connect(options).await?),
        Level::Database => Tenancy::sqlite_files(&dir),
    }
    .with_migrator::<Migrator>();
    println!("level: {:?}", args.level);
    let result = app(&tenancy).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
