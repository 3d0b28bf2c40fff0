//! Small entities used by the documentation's examples. Not part of the API.
#![allow(missing_docs)]

/// A tenant-owned post.
pub mod post {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "post")]
    pub struct Model {
        #[sea_orm(primary_key, unique_key = "tenant_key")]
        pub id: i32,
        #[sea_orm(unique_key = "tenant_key", extra = "/*!COLLATE utf8mb4_bin*/")]
        pub tenant_id: String,
        pub title: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::comment::Entity")]
        Comment,
    }

    impl Related<super::comment::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Comment.def()
        }
    }

    impl Related<super::tag::Entity> for Entity {
        fn to() -> RelationDef {
            super::post_tag::Relation::Tag.def()
        }
        fn via() -> Option<RelationDef> {
            Some(super::post_tag::Relation::Post.def().rev())
        }
    }

    impl ActiveModelBehavior for ActiveModel {}

    impl crate::TenantEntity for Entity {
        fn tenant_column() -> Column {
            Column::TenantId
        }
    }
}

/// A tenant-owned comment on a post.
pub mod comment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "comment")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(extra = "/*!COLLATE utf8mb4_bin*/")]
        pub tenant_id: String,
        pub post_id: i32,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::post::Entity",
            from = "(Column::PostId, Column::TenantId)",
            to = "(super::post::Column::Id, super::post::Column::TenantId)"
        )]
        Post,
    }

    impl Related<super::post::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Post.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}

    impl crate::TenantEntity for Entity {
        fn tenant_column() -> Column {
            Column::TenantId
        }
    }
}

/// A tenant-owned tag.
pub mod tag {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tag")]
    pub struct Model {
        #[sea_orm(primary_key, unique_key = "tenant_key")]
        pub id: i32,
        #[sea_orm(unique_key = "tenant_key", extra = "/*!COLLATE utf8mb4_bin*/")]
        pub tenant_id: String,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl crate::TenantEntity for Entity {
        fn tenant_column() -> Column {
            Column::TenantId
        }
    }
}

/// The tenant-owned junction between posts and tags.
pub mod post_tag {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "post_tag")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub post_id: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub tag_id: i32,
        #[sea_orm(extra = "/*!COLLATE utf8mb4_bin*/")]
        pub tenant_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::post::Entity",
            from = "(Column::PostId, Column::TenantId)",
            to = "(super::post::Column::Id, super::post::Column::TenantId)"
        )]
        Post,
        #[sea_orm(
            belongs_to = "super::tag::Entity",
            from = "(Column::TagId, Column::TenantId)",
            to = "(super::tag::Column::Id, super::tag::Column::TenantId)"
        )]
        Tag,
    }

    impl ActiveModelBehavior for ActiveModel {}

    impl crate::TenantEntity for Entity {
        fn tenant_column() -> Column {
            Column::TenantId
        }
    }
}

/// A global table: no tenant column, no `TenantEntity`.
pub mod country {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
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

/// An in-memory SQLite database with the tables above, for doc examples.
pub async fn sqlite() -> Result<sea_orm::DatabaseConnection, sea_orm::DbErr> {
    let db = sea_orm::Database::connect("sqlite::memory:").await?;
    create_tables(&db).await?;
    Ok(db)
}

/// Creates the tables above, parents first, each with its indexes (the
/// `(id, tenant_id)` keys that `comment` and `post_tag` reference).
pub async fn create_tables(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    create_table(db, post::Entity).await?;
    create_table(db, tag::Entity).await?;
    create_table(db, comment::Entity).await?;
    create_table(db, post_tag::Entity).await?;
    create_table(db, country::Entity).await
}

/// `CREATE TABLE` and `CREATE INDEX` for one entity, from its definition.
pub async fn create_table<E: sea_orm::EntityTrait>(
    db: &sea_orm::DatabaseConnection,
    entity: E,
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::{ConnectionTrait, Schema};
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(entity)).await?;
    for index in schema.create_index_from_entity(entity) {
        db.execute(&index).await?;
    }
    Ok(())
}
