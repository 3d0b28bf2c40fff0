//! Row-level security (RLS) for tenant tables on Postgres: the policy DDL
//! for migrations, the grants an application role needs, and start-up
//! checks.
//!
//! * [`RlsPolicy`] writes, for one tenant table (leak rule 9), `ENABLE` and
//!   `FORCE ROW LEVEL SECURITY` (so the table owner is not exempt either),
//!   a policy for all commands, `USING` and `WITH CHECK`
//!   `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::<type>)`
//!   (the sub-select makes the planner evaluate the setting once and use
//!   the tenant index; `NULLIF` turns "no tenant" into `NULL`, which
//!   matches no row and cannot fail a cast), the tenant index, and the
//!   inverse for a down migration.
//! * [`Grants`] gives an application role (neither owner nor superuser)
//!   what it needs: its tenant tables, the global tables, the tenant
//!   registry, their schemas and sequences. It grants only what the role
//!   does not hold yet, in the schema the migration runs in (a tenant's
//!   own schema for schema per tenant), and serialises grants on objects
//!   outside that schema, so many tenants can migrate at once.
//! * [`check`] (or [`check_by_column`]) reports every tenant table lacking
//!   forced RLS; [`RoleCheck`] (and
//!   [`Tenancy::check_application_role`](crate::Tenancy::check_application_role))
//!   also proves, as the application role, that it can read the registry
//!   and the global tables, and names each missing grant.
//!
//! The [guide's chapter](crate::guide::rls_and_roles) is the recipe.
//!
//! ```
//! use sea_orm_tenant::doc_entities::post;
//! use sea_orm_tenant::rls::RlsPolicy;
//!
//! let policy = RlsPolicy::for_entity::<post::Entity>().grant_to("app");
//! let up = policy.up_statements()?;
//! assert!(up.contains(&r#"ALTER TABLE "post" FORCE ROW LEVEL SECURITY"#.to_string()));
//! assert!(up.iter().any(|s| s.contains("WITH CHECK")));
//! assert!(policy.down_statements()?.iter().any(|s| s.starts_with("DROP POLICY")));
//! # Ok::<(), sea_orm::DbErr>(())
//! ```

mod check;
mod grants;
mod policy;
mod report;
mod role_check;
mod role_name;

use sea_orm::sea_query::ColumnType;

pub use check::{check, check_by_column};
pub use grants::{Access, Grants};
pub use policy::RlsPolicy;
pub use report::{GrantObject, MissingGrant, RlsReport, TableRls};
pub use role_check::RoleCheck;

/// The Postgres type name for a tenant column type.
pub(crate) fn sql_type(column_type: &ColumnType) -> &'static str {
    match column_type {
        ColumnType::TinyInteger | ColumnType::SmallInteger | ColumnType::TinyUnsigned => "smallint",
        ColumnType::Integer | ColumnType::SmallUnsigned => "integer",
        ColumnType::BigInteger | ColumnType::Unsigned | ColumnType::BigUnsigned => "bigint",
        ColumnType::Uuid => "uuid",
        _ => "text",
    }
}

/// `"name"`, with inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_map_to_casts() {
        assert_eq!(sql_type(&ColumnType::Integer), "integer");
        assert_eq!(sql_type(&ColumnType::BigInteger), "bigint");
        assert_eq!(sql_type(&ColumnType::Uuid), "uuid");
        assert_eq!(sql_type(&ColumnType::Text), "text");
    }
}
