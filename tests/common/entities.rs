//! Test entities whose tenant column is not text, so that all three tenant
//! id types (string in `doc_entities`, integer and UUID here) are covered.

/// A tenant-owned ledger entry whose tenant column is an `INTEGER`.
pub mod ledger {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledger")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: i32,
        pub amount: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    // Not declared for the whole test binary: an id is checked against
    // every declared table, and no id fits an integer, a UUID and a text
    // column at once. Tests declare it to their `Tenancy` (or with
    // `tenant_entity!(common::ledger::Entity)` in their own file).
    impl sea_orm_tenant::TenantEntity for Entity {
        fn tenant_column() -> Column {
            Column::TenantId
        }
    }
}

/// A tenant-owned document whose tenant column is a UUID.
pub mod document {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "document")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: Uuid,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    // Not declared for the whole test binary: an id is checked against
    // every declared table, and no id fits an integer, a UUID and a text
    // column at once. Tests declare it to their `Tenancy` (or with
    // `tenant_entity!(common::ledger::Entity)` in their own file).
    impl sea_orm_tenant::TenantEntity for Entity {
        fn tenant_column() -> Column {
            Column::TenantId
        }
    }
}

/// A tenant-owned row with a unique column besides its primary key, for
/// upserts that conflict on that column (SeaORM then re-reads by
/// `last_insert_id`, which is not the conflicting row's id). It derives
/// serde, for `set_from_json`.
pub mod handle {
    use sea_orm::entity::prelude::*;

    #[derive(
        Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize,
    )]
    #[sea_orm(table_name = "handle")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: String,
        #[sea_orm(unique)]
        pub slug: String,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    // Declared once for the whole test binary (inventory): every
    // `TenantConnection` confines it, whoever built the connection.
    sea_orm_tenant::tenant_entity!(Entity => Column::TenantId);
}

/// A tenant-owned entry whose tenant column is a `BIGINT` (`org_id`), for
/// the checks of ids against the column's type.
pub mod org_ledger {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledger")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub org_id: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl sea_orm_tenant::TenantEntity for Entity {
        fn tenant_column() -> Column {
            Column::OrgId
        }
    }
}
