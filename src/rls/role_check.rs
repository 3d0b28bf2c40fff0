//! [`RoleCheck`]: proves, as the application role, that it can do what
//! the application needs and cannot get around row-level security.

use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryResult, Statement, Value};

use super::check::{get, postgres_only, role_report, warn};
use super::grants::Access;
use super::quote_ident;
use super::report::{GrantObject, MissingGrant, RlsReport, TableRls};
use crate::tenancy::REGISTRY_TABLE;
use crate::{Placement, Tenancy, TenantEntity, TenantError};

/// One table, found by name in the `search_path` (then `public`) or in
/// the schema given.
const LOOKUP: &str = "SELECT n.nspname::text AS schema, \
     c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced, \
     (SELECT count(*) FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid) AS policies, \
     pg_catalog.pg_has_role(c.relowner, 'USAGE') AS owned, \
     pg_catalog.has_schema_privilege(n.oid, 'USAGE') AS \"USAGE\", \
     pg_catalog.has_table_privilege(c.oid, 'SELECT') AS \"SELECT\", \
     pg_catalog.has_table_privilege(c.oid, 'INSERT') AS \"INSERT\", \
     pg_catalog.has_table_privilege(c.oid, 'UPDATE') AS \"UPDATE\", \
     pg_catalog.has_table_privilege(c.oid, 'DELETE') AS \"DELETE\" \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
     AND CASE WHEN $2::text IS NULL \
       THEN n.nspname = ANY (pg_catalog.current_schemas(false) || 'public'::name) \
       ELSE n.nspname::text = $2::text END \
     ORDER BY pg_catalog.array_position(pg_catalog.current_schemas(false) || 'public'::name, \
       n.nspname) NULLS LAST \
     LIMIT 1";

/// The sequences of a table's serial and identity columns (`$1`, `$2`:
/// schema and table) that the role cannot use.
const SEQUENCES: &str = "SELECT sn.nspname::text AS schema, s.relname::text AS name \
     FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_catalog.pg_depend d ON d.refobjid = c.oid \
       AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
       AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i') \
     JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
     JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace \
     WHERE n.nspname = $1 AND c.relname = $2 \
     AND CASE WHEN s.relkind = 'S' \
       THEN NOT pg_catalog.has_sequence_privilege(s.oid, 'USAGE') ELSE false END \
     ORDER BY 2";

/// What the application role must be able to do, checked as that role at
/// start-up (Postgres).
///
/// [`run`](Self::run) on a connection of the application role (the one
/// the application's [`Tenancy`] uses, not a transaction) reports, in an
/// [`RlsReport`]:
///
/// * the role is a superuser or has `BYPASSRLS` (every policy skipped);
/// * a tenant table without enabled and forced RLS and a policy, or owned
///   by the role (an owner can turn RLS off);
/// * the registry ([`REGISTRY_TABLE`]) or a global table that does not
///   exist;
/// * each privilege the role lacks, with the `GRANT` that gives it:
///   `USAGE` on a schema, `SELECT` on the registry and the global tables,
///   `SELECT, INSERT, UPDATE, DELETE` on the tenant tables, `USAGE` on
///   their sequences;
/// * a read that fails as the role although the catalog showed the
///   grants: every table whose grants are held is read once
///   (`SELECT 1 … LIMIT 1`), so the check proves what it says.
///
/// Tenant tables are looked up in the `search_path` (shared schema), or
/// in each schema of [`in_schemas`](Self::in_schemas) (schema per
/// tenant; [`Tenancy::check_application_role`] fills them from the
/// registry). Each problem is also logged as a `tracing` warning.
///
/// ```no_run
/// use sea_orm::Database;
/// use sea_orm_tenant::doc_entities::{country, post};
/// use sea_orm_tenant::rls::{Access, RoleCheck};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let app = Database::connect("postgres://app@localhost/app").await?;
/// let report = RoleCheck::new()
///     .tenant_table::<post::Entity>()
///     .global_table::<country::Entity>(Access::Read)
///     .run(&app)
///     .await?;
/// if !report.is_ok() {
///     return Err(report.to_string().into()); // every problem, with the GRANT that fixes it
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleCheck {
    tenant_tables: Vec<(Option<String>, String)>,
    globals: Vec<(Option<String>, String, Access)>,
    registry: bool,
    search_path: bool,
    schemas: Vec<String>,
}

impl Default for RoleCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl RoleCheck {
    /// The role and the registry; add the tables with the methods below.
    pub fn new() -> Self {
        RoleCheck {
            tenant_tables: Vec::new(),
            globals: Vec::new(),
            registry: true,
            search_path: true,
            schemas: Vec::new(),
        }
    }

    /// Every table declared for the whole program: tenant tables with
    /// [`tenant_entity!`](crate::tenant_entity), global tables (read) with
    /// [`global_entity!`](crate::global_entity).
    ///
    /// ```
    /// use sea_orm_tenant::rls::RoleCheck;
    /// let check = RoleCheck::declared();
    /// # let _ = check;
    /// ```
    pub fn declared() -> Self {
        let mut check = Self::new();
        let confiner = crate::connection::Confiner::registered();
        let mut tenant: Vec<String> = confiner
            .catalog()
            .tables()
            .map(|t| t.name.clone())
            .collect();
        tenant.sort();
        check.tenant_tables = tenant.into_iter().map(|t| (None, t)).collect();
        let mut globals: Vec<String> = inventory::iter::<crate::connection::GlobalRegistration>
            .into_iter()
            .map(|g| (g.0)())
            .collect();
        globals.sort();
        globals.dedup();
        check.globals = globals
            .into_iter()
            .map(|g| (None, g, Access::Read))
            .collect();
        check
    }

    /// `E`'s table is a tenant table: RLS forced, read and write.
    pub fn tenant_table<E: TenantEntity>(mut self) -> Self {
        let entity = E::default();
        self.tenant_tables.push((
            entity.schema_name().map(str::to_owned),
            entity.table_name().to_owned(),
        ));
        self
    }

    /// The tenant table `name`.
    pub fn tenant_table_named(mut self, name: &str) -> Self {
        self.tenant_tables.push((None, name.to_owned()));
        self
    }

    /// `E`'s table is a global table the role needs with `access`.
    pub fn global_table<E: EntityTrait>(mut self, access: Access) -> Self {
        let entity = E::default();
        self.globals.push((
            entity.schema_name().map(str::to_owned),
            entity.table_name().to_owned(),
            access,
        ));
        self
    }

    /// The global table `name`, needed with `access`.
    pub fn global_table_named(mut self, name: &str, access: Access) -> Self {
        self.globals.push((None, name.to_owned(), access));
        self
    }

    /// Do not check the registry (a database-per-tenant tenancy without
    /// one).
    pub fn without_registry(mut self) -> Self {
        self.registry = false;
        self
    }

    /// Look for the tenant tables in each of these schemas (schema per
    /// tenant) instead of the `search_path`.
    pub fn in_schemas<S: Into<String>>(mut self, schemas: impl IntoIterator<Item = S>) -> Self {
        self.search_path = false;
        self.schemas.extend(schemas.into_iter().map(Into::into));
        self
    }

    /// Runs the check on `db`, connected as the application role.
    pub async fn run<C: ConnectionTrait>(&self, db: &C) -> Result<RlsReport, TenantError> {
        postgres_only(db)?;
        let mut report = role_report(db).await?;
        let role = quote_ident(&report.role);
        let mut places: Vec<Option<&str>> = Vec::new();
        if self.search_path {
            places.push(None);
        }
        places.extend(self.schemas.iter().map(|s| Some(s.as_str())));
        for place in places {
            for (own_schema, table) in &self.tenant_tables {
                let schema = place.or(own_schema.as_deref());
                let shown = match place {
                    Some(s) => format!("{s}.{table}"),
                    None => table.clone(),
                };
                let Some(row) = lookup(db, table, schema).await? else {
                    report.tables.push(TableRls {
                        table: shown,
                        exists: false,
                        enabled: false,
                        forced: false,
                        policies: 0,
                        owned_by_current_role: false,
                    });
                    continue;
                };
                report.tables.push(TableRls {
                    table: shown,
                    exists: true,
                    enabled: get(&row, "enabled")?,
                    forced: get(&row, "forced")?,
                    policies: get(&row, "policies")?,
                    owned_by_current_role: get(&row, "owned")?,
                });
                let schema: String = get(&row, "schema")?;
                let sequences = db
                    .query_all_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        SEQUENCES,
                        [schema.clone().into(), table.clone().into()],
                    ))
                    .await
                    .map_err(|e| TenantError::db(format!("looking up table `{table}`"), e))?;
                for seq in sequences {
                    let (seq_schema, name): (String, String) =
                        (get(&seq, "schema")?, get(&seq, "name")?);
                    report.missing_grants.push(MissingGrant {
                        privilege: "USAGE".into(),
                        object: GrantObject::Sequence,
                        grant: format!(
                            "GRANT USAGE, SELECT ON SEQUENCE {}.{} TO {role}",
                            quote_ident(&seq_schema),
                            quote_ident(&name)
                        ),
                        name: format!("{seq_schema}.{name}"),
                    });
                }
                self.access(db, &mut report, &row, table, Access::ReadWrite)
                    .await?;
            }
        }
        let mut needed: Vec<(Option<&str>, &str, Access, bool)> = Vec::new();
        if self.registry {
            needed.push((None, REGISTRY_TABLE, Access::Read, true));
        }
        for (schema, table, access) in &self.globals {
            needed.push((schema.as_deref(), table, *access, false));
        }
        for (schema, table, access, is_registry) in needed {
            match lookup(db, table, schema).await? {
                Some(row) => self.access(db, &mut report, &row, table, access).await?,
                None if is_registry => report.absent.push(format!(
                    "the tenant registry `{REGISTRY_TABLE}` does not exist: include \
                     sea_orm_tenant::migration::CreateRegistry in the migrations the owner runs"
                )),
                None => report.absent.push(format!(
                    "global table `{table}` does not exist (or is not in the search_path of the role `{}`)",
                    report.role
                )),
            }
        }
        warn(&report);
        Ok(report)
    }

    /// Records what the role lacks on the table of `row` for `access`,
    /// and reads it when nothing is missing.
    async fn access<C: ConnectionTrait>(
        &self,
        db: &C,
        report: &mut RlsReport,
        row: &QueryResult,
        table: &str,
        access: Access,
    ) -> Result<(), TenantError> {
        let schema: String = get(row, "schema")?;
        let role = quote_ident(&report.role);
        let qualified = format!("{}.{}", quote_ident(&schema), quote_ident(table));
        let name = format!("{schema}.{table}");
        let mut complete = true;
        if !get::<bool>(row, "USAGE")? {
            complete = false;
            let grant = format!("GRANT USAGE ON SCHEMA {} TO {role}", quote_ident(&schema));
            if !report.missing_grants.iter().any(|m| m.grant == grant) {
                report.missing_grants.push(MissingGrant {
                    privilege: "USAGE".into(),
                    object: GrantObject::Schema,
                    name: schema.clone(),
                    grant,
                });
            }
        }
        let mut lacking = Vec::new();
        for privilege in access.privileges() {
            if !get::<bool>(row, privilege)? {
                lacking.push(*privilege);
            }
        }
        if !lacking.is_empty() {
            complete = complete && !lacking.contains(&"SELECT");
            let privileges = lacking.join(", ");
            report.missing_grants.push(MissingGrant {
                grant: format!("GRANT {privileges} ON TABLE {qualified} TO {role}"),
                privilege: privileges,
                object: GrantObject::Table,
                name: name.clone(),
            });
        }
        if complete {
            let probe = format!("SELECT 1 FROM {qualified} LIMIT 1");
            if let Err(e) = db
                .query_one_raw(Statement::from_string(DbBackend::Postgres, probe))
                .await
            {
                report.failed_reads.push(format!(
                    "the role `{}` cannot read `{name}`: {e}",
                    report.role
                ));
            }
        }
        Ok(())
    }
}

async fn lookup<C: ConnectionTrait>(
    db: &C,
    table: &str,
    schema: Option<&str>,
) -> Result<Option<QueryResult>, TenantError> {
    let values: [Value; 2] = [table.into(), schema.map(str::to_owned).into()];
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        LOOKUP,
        values,
    ))
    .await
    .map_err(|e| TenantError::db(format!("looking up table `{table}`"), e))
}

impl Tenancy {
    /// [`RoleCheck::run`] on this tenancy's shared database (connected as
    /// the application role), with every table declared to it added to
    /// `check` (tenant tables, and global tables for reading: one
    /// declaration is the whole truth, audits included), and the tenant
    /// tables looked up where this
    /// tenancy's tenants live: the `search_path` for shared-schema
    /// tenants, each provisioned tenant's schema for schema per tenant
    /// (from the registry, when the role can read it; when it cannot, the
    /// report says so). Run it at start-up, before serving.
    ///
    /// ```no_run
    /// use sea_orm::Database;
    /// use sea_orm_tenant::doc_entities::{country, post};
    /// use sea_orm_tenant::prelude::*;
    /// use sea_orm_tenant::rls::{Access, RoleCheck};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let app = Database::connect("postgres://app@localhost/app").await?;
    /// let tenancy = Tenancy::schema_per_tenant(app).tenant_table::<post::Entity>();
    /// let check = RoleCheck::new()
    ///     .tenant_table::<post::Entity>()
    ///     .global_table::<country::Entity>(Access::Read);
    /// let report = tenancy.check_application_role(check).await?;
    /// assert!(report.is_ok(), "{report}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn check_application_role(&self, check: RoleCheck) -> Result<RlsReport, TenantError> {
        let db = self.database().ok_or_else(|| {
            TenantError::Unsupported("this tenancy has no shared database to check".into())
        })?;
        let mut check = check;
        let catalog = self.catalog();
        let mut tenant: Vec<&str> = catalog.tables().map(|t| t.name.as_str()).collect();
        tenant.sort_unstable();
        for name in tenant {
            if !check.tenant_tables.iter().any(|(_, t)| t == name) {
                check.tenant_tables.push((None, name.to_owned()));
            }
        }
        let mut globals: Vec<&str> = catalog.globals().collect();
        globals.sort_unstable();
        for name in globals {
            if !check.globals.iter().any(|(_, g, _)| g == name) {
                check.globals.push((None, name.to_owned(), Access::Read));
            }
        }
        check.search_path = self.default_placement() == Placement::SharedSchema;
        if let Ok(tenants) = self.tenants().await {
            for (tenant, placement) in tenants {
                match placement {
                    Placement::SharedSchema => check.search_path = true,
                    Placement::SchemaPerTenant => {
                        if let Ok(schema) = self.schema_name(&tenant) {
                            check.schemas.push(schema.as_str().to_owned());
                        }
                    }
                    Placement::DatabasePerTenant => {}
                }
            }
        }
        check.schemas.sort();
        check.schemas.dedup();
        check.run(db).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc_entities::{country, post};

    #[test]
    fn builds_the_list() {
        let check = RoleCheck::new()
            .tenant_table::<post::Entity>()
            .global_table::<country::Entity>(Access::Read)
            .in_schemas(["tenant_a", "tenant_b"]);
        assert_eq!(check.tenant_tables, [(None, "post".to_owned())]);
        assert_eq!(check.globals, [(None, "country".to_owned(), Access::Read)]);
        assert!(!check.search_path && check.registry);
        assert_eq!(check.schemas, ["tenant_a", "tenant_b"]);
    }

    #[tokio::test]
    async fn postgres_only() {
        let Ok(db) = sea_orm::Database::connect("sqlite::memory:").await else {
            return;
        };
        assert!(matches!(
            RoleCheck::new().run(&db).await,
            Err(TenantError::Unsupported(_))
        ));
    }
}
