//! A multi-tenant task tracker on Postgres and axum, end to end: the
//! guide's first chapter (`sea_orm_tenant::guide::getting_started`) in code.
//!
//! - Two tenant tables with a relation (`project`, `task`, a composite
//!   `(tenant_id, project_id)` foreign key) and one global table
//!   (`country`), created by a sea-orm-migration `Migrator` that also
//!   writes the row-level security policies and creates the crate's
//!   registry.
//! - The service connects as an application role that is neither the
//!   tables' owner nor a superuser, so the policies are a second wall
//!   behind the tenant connection; the owner runs the migrations, grants
//!   the role what it needs and provisions the tenants.
//! - Each request names its tenant in the `x-tenant-id` header; handlers
//!   are plain SeaORM code on the request's `TenantConnection`.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run --example axum_postgres
//! curl -s -H 'x-tenant-id: acme' -H 'content-type: application/json' \
//!      -d '{"name":"Launch"}' http://127.0.0.1:3000/projects
//! curl -s -H 'x-tenant-id: acme' http://127.0.0.1:3000/projects
//! curl -s -H 'x-tenant-id: globex' http://127.0.0.1:3000/projects     # []
//! curl -s http://127.0.0.1:3000/countries
//! ```
//!
//! Environment: `DATABASE_URL` (the owner), `APP_ROLE` (default
//! `tasks_app`, created with `LOGIN` if missing: a development shortcut;
//! in production a DBA creates it with a password), `LISTEN` (default
//! `127.0.0.1:3000`).

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr,
    EntityTrait, ModelTrait, QueryOrder,
};
use sea_orm_migration::MigratorTrait;
use sea_orm_tenant::http::{ApiError, TenantDb, TenantLayer, TenantResolver};
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::rls::{Access, Grants, RoleCheck};
use serde::Deserialize;

/// A tenant's project.
pub mod project {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "project")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[serde(skip)]
        pub tenant_id: String,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::task::Entity")]
        Task,
    }

    impl Related<super::task::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Task.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}

    // The one declaration: a tenant table for confinement, provisioning,
    // deprovisioning and every audit.
    sea_orm_tenant::tenant_entity!(Entity => Column::TenantId);
}

/// A task of a project.
pub mod task {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "task")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[serde(skip)]
        pub tenant_id: String,
        pub project_id: i32,
        pub title: String,
        pub done: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::project::Entity",
            from = "Column::ProjectId",
            to = "super::project::Column::Id"
        )]
        Project,
    }

    impl Related<super::project::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Project.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}

    sea_orm_tenant::tenant_entity!(Entity => Column::TenantId);
}

/// A global table: every tenant reads the same rows.
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

    sea_orm_tenant::global_entity!(Entity);
}

/// The migrations, as a sea-orm-migration project writes them.
pub mod migrator {
    use sea_orm_migration::prelude::*;
    use sea_orm_tenant::rls::RlsPolicy;

    use super::{project, task};

    pub struct Migrator;

    impl MigratorTrait for Migrator {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            vec![
                // The crate's own tables (the tenant registry), so that the
                // grants below can name them.
                Box::new(sea_orm_tenant::migration::CreateRegistry),
                Box::new(CreateTables),
            ]
        }
    }

    #[derive(DeriveIden)]
    enum Project {
        Table,
        Id,
        TenantId,
        Name,
    }

    #[derive(DeriveIden)]
    enum Task {
        Table,
        Id,
        TenantId,
        ProjectId,
        Title,
        Done,
    }

    #[derive(DeriveIden)]
    enum Country {
        Table,
        Code,
        Name,
    }

    /// The tables, written by hand (not from the entities, which change
    /// with later migrations), with the tenant in every key a row of
    /// another table can point at.
    #[derive(DeriveMigrationName)]
    pub struct CreateTables;

    #[async_trait::async_trait]
    impl MigrationTrait for CreateTables {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Project::Table)
                        .col(
                            ColumnDef::new(Project::Id)
                                .integer()
                                .not_null()
                                .auto_increment()
                                .primary_key(),
                        )
                        .col(ColumnDef::new(Project::TenantId).string().not_null())
                        .col(ColumnDef::new(Project::Name).string().not_null())
                        .to_owned(),
                )
                .await?;
            // The target of the composite foreign key: (tenant, id).
            manager
                .create_index(
                    Index::create()
                        .name("project_tenant_id")
                        .table(Project::Table)
                        .col(Project::TenantId)
                        .col(Project::Id)
                        .unique()
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(Task::Table)
                        .col(
                            ColumnDef::new(Task::Id)
                                .integer()
                                .not_null()
                                .auto_increment()
                                .primary_key(),
                        )
                        .col(ColumnDef::new(Task::TenantId).string().not_null())
                        .col(ColumnDef::new(Task::ProjectId).integer().not_null())
                        .col(ColumnDef::new(Task::Title).string().not_null())
                        .col(
                            ColumnDef::new(Task::Done)
                                .boolean()
                                .not_null()
                                .default(false),
                        )
                        // A task can only point at a project of its own
                        // tenant (rule 11).
                        .foreign_key(
                            ForeignKey::create()
                                .name("task_project")
                                .from(Task::Table, (Task::TenantId, Task::ProjectId))
                                .to(Project::Table, (Project::TenantId, Project::Id))
                                .on_delete(ForeignKeyAction::Cascade),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(Country::Table)
                        .col(
                            ColumnDef::new(Country::Code)
                                .string()
                                .not_null()
                                .primary_key(),
                        )
                        .col(ColumnDef::new(Country::Name).string().not_null())
                        .to_owned(),
                )
                .await?;
            manager
                .exec_stmt(
                    Query::insert()
                        .into_table(Country::Table)
                        .columns([Country::Code, Country::Name])
                        .values_panic(["DE".into(), "Germany".into()])
                        .values_panic(["FR".into(), "France".into()])
                        .values_panic(["JP".into(), "Japan".into()])
                        .to_owned(),
                )
                .await?;
            // The second wall: ENABLE and FORCE row-level security, and a
            // policy that compares the tenant column with the tenant the
            // connection set.
            RlsPolicy::for_entity::<project::Entity>()
                .up(manager)
                .await?;
            RlsPolicy::for_entity::<task::Entity>().up(manager).await?;
            Ok(())
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            RlsPolicy::for_entity::<task::Entity>()
                .down(manager)
                .await?;
            RlsPolicy::for_entity::<project::Entity>()
                .down(manager)
                .await?;
            for table in [
                Task::Table.into_iden(),
                Project::Table.into_iden(),
                Country::Table.into_iden(),
            ] {
                manager
                    .drop_table(Table::drop().table(table).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}

/// The application's state: the tenancy that hands each request its
/// tenant connection (`TenantDb` finds it through `FromRef`), and the
/// plain connection for global routes.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub tenancy: Tenancy,
    pub db: DatabaseConnection,
}

/// The owner's work, run before the service starts (a deploy step): the
/// migrations, the application role's grants, and the tenants.
pub async fn prepare(owner_url: &str, app_role: &str, tenants: &[&str]) -> Result<(), TenantError> {
    let owner = Database::connect(owner_url).await?;
    migrator::Migrator::up(&owner, None).await?;
    // What the application role needs: its tenant tables (and their
    // sequences), reading the global table and the tenant registry.
    Grants::to(app_role)?
        .tenant_table::<project::Entity>()
        .tenant_table::<task::Entity>()
        .global_table::<country::Entity>(Access::Read)
        .registry()
        .apply(&owner)
        .await?;
    let tenancy = Tenancy::shared_schema(owner.clone()).with_migrator::<migrator::Migrator>();
    for tenant in tenants {
        tenancy.provision(&TenantId::parse(tenant)?).await?;
    }
    owner.close().await?;
    Ok(())
}

/// The service's side: connects as the application role, checks that the
/// role can do its job and cannot bypass the policies, and builds the
/// router.
pub async fn app(app_url: &str) -> Result<Router, TenantError> {
    let mut options = ConnectOptions::new(app_url);
    options.max_connections(10).sqlx_logging(false);
    let db = Database::connect(options).await?;
    let tenancy = Tenancy::shared_schema(db.clone());
    // As the application role: it reads the registry and the global table,
    // writes the tenant tables, and cannot bypass the policies.
    let report = tenancy.check_application_role(RoleCheck::new()).await?;
    if !report.is_ok() {
        return Err(TenantError::Unsupported(report.to_string()));
    }
    Ok(router(AppState { tenancy, db }))
}

/// Tenant routes behind the tenant layer; `/countries` outside it.
pub fn router(state: AppState) -> Router {
    let tenant_routes = Router::new()
        .route("/projects", get(list_projects).post(create_project))
        .route(
            "/projects/{id}",
            get(get_project).put(rename_project).delete(delete_project),
        )
        .route("/projects/{id}/tasks", get(list_tasks).post(create_task))
        .layer(TenantLayer::new(
            TenantResolver::new().header("x-tenant-id"),
        ));
    Router::new()
        .route("/countries", get(list_countries))
        .merge(tenant_routes)
        .with_state(state)
}

type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Deserialize)]
pub struct NewProject {
    pub name: String,
}

#[derive(Deserialize)]
pub struct NewTask {
    pub title: String,
}

async fn list_projects(TenantDb(db): TenantDb) -> Result<Json<Vec<project::Model>>> {
    let projects = project::Entity::find()
        .order_by_asc(project::Column::Id)
        .all(&db)
        .await?;
    Ok(Json(projects))
}

async fn create_project(
    TenantDb(db): TenantDb,
    Json(new): Json<NewProject>,
) -> Result<(StatusCode, Json<project::Model>)> {
    // No tenant here: the tenant connection fills it in.
    let project = project::ActiveModel {
        name: Set(new.name),
        ..Default::default()
    }
    .insert(&db)
    .await?;
    Ok((StatusCode::CREATED, Json(project)))
}

async fn find_project(db: &TenantConnection, id: i32) -> Result<project::Model> {
    project::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("no such project"))
}

async fn get_project(TenantDb(db): TenantDb, Path(id): Path<i32>) -> Result<Json<project::Model>> {
    Ok(Json(find_project(&db, id).await?))
}

async fn rename_project(
    TenantDb(db): TenantDb,
    Path(id): Path<i32>,
    Json(new): Json<NewProject>,
) -> Result<Json<project::Model>> {
    let mut project: project::ActiveModel = find_project(&db, id).await?.into();
    project.name = Set(new.name);
    Ok(Json(project.update(&db).await?))
}

async fn delete_project(TenantDb(db): TenantDb, Path(id): Path<i32>) -> Result<StatusCode> {
    find_project(&db, id).await?.delete(&db).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_tasks(TenantDb(db): TenantDb, Path(id): Path<i32>) -> Result<Json<Vec<task::Model>>> {
    let project = find_project(&db, id).await?;
    let tasks = project
        .find_related(task::Entity)
        .order_by_asc(task::Column::Id)
        .all(&db)
        .await?;
    Ok(Json(tasks))
}

async fn create_task(
    TenantDb(db): TenantDb,
    Path(id): Path<i32>,
    Json(new): Json<NewTask>,
) -> Result<(StatusCode, Json<task::Model>)> {
    let project = find_project(&db, id).await?;
    let task = task::ActiveModel {
        project_id: Set(project.id),
        title: Set(new.title),
        done: Set(false),
        ..Default::default()
    }
    .insert(&db)
    .await?;
    Ok((StatusCode::CREATED, Json(task)))
}

async fn list_countries(State(db): State<DatabaseConnection>) -> Result<Json<Vec<country::Model>>> {
    let countries = country::Entity::find()
        .order_by_asc(country::Column::Code)
        .all(&db)
        .await?;
    Ok(Json(countries))
}

/// `postgres://owner@host/db` with `role` as the user.
pub fn url_as(owner_url: &str, role: &str) -> Result<String, TenantError> {
    let rest = owner_url
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| TenantError::Unsupported("DATABASE_URL is not a URL".into()))?;
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    Ok(format!("postgres://{role}@{host}"))
}

/// Creates `role` with `LOGIN` if it does not exist (development only).
pub async fn create_role(owner_url: &str, role: &str) -> Result<(), DbErr> {
    let owner = Database::connect(owner_url).await?;
    let exists = owner
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT 1 FROM pg_roles WHERE rolname = $1",
            [role.into()],
        ))
        .await?
        .is_some();
    if !exists {
        let quoted = format!("\"{}\"", role.replace('"', "\"\""));
        owner
            .execute_unprepared(&format!("CREATE ROLE {quoted} LOGIN"))
            .await?;
    }
    owner.close().await
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt::init();
    let owner_url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to a Postgres database the owner can write")?;
    let role = std::env::var("APP_ROLE").unwrap_or_else(|_| "tasks_app".to_owned());
    create_role(&owner_url, &role).await?;
    prepare(&owner_url, &role, &["acme", "globex"]).await?;
    let app = app(&url_as(&owner_url, &role)?).await?;
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{listen} as role {role}");
    axum::serve(listener, app).await?;
    Ok(())
}
