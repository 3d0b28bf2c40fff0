//! [`Unscoped`]: the audited escape hatch for admin work.

use std::marker::PhantomData;

use sea_orm::{DeleteMany, PrimaryKeyTrait, Select, UpdateMany};

use super::TenantEntity;

/// SeaORM's own builders for a tenant entity, with **no** tenant filter.
///
/// For admin work across tenants (billing, support, migrations). Every
/// builder it hands out logs a `tracing` warning on target
/// `sea_orm_tenant::unscoped` with the table, the operation and the reason
/// you gave, so the escape hatch is both greppable in code (`unscoped(`)
/// and visible in logs.
///
/// ```
/// # use sea_orm_tenant::doc_entities::post;
/// use sea_orm::{DbBackend, QueryTrait};
/// use sea_orm_tenant::prelude::*;
///
/// let every_tenant = post::Entity::unscoped("support ticket #123").find_by_id(7);
/// assert!(!every_tenant.build(DbBackend::Sqlite).to_string().contains("tenant_id\" ="));
/// ```
#[derive(Debug, Clone)]
pub struct Unscoped<E: TenantEntity> {
    reason: String,
    entity: PhantomData<E>,
}

impl<E: TenantEntity> Unscoped<E> {
    /// An escape hatch for `reason` (same as [`TenantEntity::unscoped`]).
    pub fn new(reason: &str) -> Self {
        Unscoped {
            reason: reason.to_owned(),
            entity: PhantomData,
        }
    }

    /// The reason given.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    fn audit(&self, operation: &'static str) {
        tracing::warn!(
            target: "sea_orm_tenant::unscoped",
            table = E::default().table_name(),
            operation,
            reason = %self.reason,
            "unscoped query: no tenant filter"
        );
    }

    /// `E::find()` with no tenant filter.
    pub fn find(&self) -> Select<E> {
        self.audit("find");
        E::find()
    }

    /// `E::find_by_id(id)` with no tenant filter.
    pub fn find_by_id<T>(&self, values: T) -> Select<E>
    where
        T: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
    {
        self.audit("find_by_id");
        E::find_by_id(values)
    }

    /// `E::update_many()` with no tenant filter.
    pub fn update_many(&self) -> UpdateMany<E> {
        self.audit("update_many");
        E::update_many()
    }

    /// `E::delete_many()` with no tenant filter.
    pub fn delete_many(&self) -> DeleteMany<E> {
        self.audit("delete_many");
        E::delete_many()
    }
}
