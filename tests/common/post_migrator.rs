//! The application's migrator of most tenancy tests: the `post` table (the
//! crate's doc entity), no schema named, so it lands in the tenant's
//! schema or database.

use sea_orm::Schema;
use sea_orm_migration::prelude::*;
use sea_orm_tenant::doc_entities::post;

/// Creates the `post` table.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreatePost)]
    }
}

/// `m0001_create_post`: the `post` table, from its entity.
pub struct CreatePost;

impl MigrationName for CreatePost {
    fn name(&self) -> &str {
        "m0001_create_post"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePost {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(post::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}
