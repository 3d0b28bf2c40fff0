//! [`check`]: the RLS state of the tenant tables and of the connected role.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, TryGetable};

use super::report::{RlsReport, TableRls};
use crate::TenantError;

const ROLE_SQL: &str = "SELECT current_user::text AS role, r.rolsuper AS superuser, \
     r.rolbypassrls AS bypass_rls FROM pg_roles r WHERE r.rolname = current_user";

const TABLE_SQL: &str = "SELECT c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced, \
     (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies, \
     pg_has_role(current_user, c.relowner, 'USAGE') AS owned \
     FROM pg_class c WHERE c.oid = to_regclass(quote_ident($1))";

const COLUMN_SQL: &str = "SELECT c.relname::text AS name FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attribute a ON a.attrelid = c.oid AND NOT a.attisdropped AND a.attnum > 0 \
     WHERE c.relkind IN ('r', 'p') AND a.attname = $1 \
     AND n.nspname = ANY (current_schemas(false)) ORDER BY 1";

pub(super) fn get<T: TryGetable>(row: &sea_orm::QueryResult, col: &str) -> Result<T, DbErr> {
    row.try_get::<T>("", col)
}

/// Postgres, or `Unsupported`.
pub(super) fn postgres_only<C: ConnectionTrait>(db: &C) -> Result<(), TenantError> {
    if db.get_database_backend() == DbBackend::Postgres {
        Ok(())
    } else {
        Err(TenantError::Unsupported(
            "rls: the row-level security check needs Postgres".into(),
        ))
    }
}

/// The connected role, with no table yet.
pub(super) async fn role_report<C: ConnectionTrait>(db: &C) -> Result<RlsReport, TenantError> {
    let role = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, ROLE_SQL))
        .await?
        .ok_or_else(|| {
            TenantError::db("reading the connected role", "the role is not in pg_roles")
        })?;
    Ok(RlsReport {
        role: get(&role, "role")?,
        superuser: get(&role, "superuser")?,
        bypass_rls: get(&role, "bypass_rls")?,
        ..RlsReport::default()
    })
}

/// Checks the RLS setup of the given tenant tables (found through the
/// `search_path`) and of the connected role; logs each problem as a
/// `tracing` warning and returns the report. Postgres only.
///
/// Run it connected as the application role. [`RoleCheck`](super::RoleCheck)
/// checks more: the grants, the registry and the global tables, and
/// tenant tables in each tenant's schema.
///
/// ```no_run
/// use sea_orm::{Database, EntityName};
/// use sea_orm_tenant::doc_entities::{comment, post};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sea_orm::DbErr> {
/// let db = Database::connect("postgres://app@localhost/app").await?;
/// let report = sea_orm_tenant::rls::check(&db, &[post::Entity.table_name(), comment::Entity.table_name()]).await?;
/// if !report.is_ok() {
///     eprintln!("{report}");
/// }
/// # Ok(())
/// # }
/// ```
pub async fn check<C: ConnectionTrait>(db: &C, tables: &[&str]) -> Result<RlsReport, TenantError> {
    postgres_only(db)?;
    let mut report = role_report(db).await?;
    for table in tables {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                TABLE_SQL,
                [(*table).into()],
            ))
            .await?;
        report.tables.push(match row {
            Some(row) => TableRls {
                table: (*table).to_owned(),
                exists: true,
                enabled: get(&row, "enabled")?,
                forced: get(&row, "forced")?,
                policies: get(&row, "policies")?,
                owned_by_current_role: get(&row, "owned")?,
            },
            None => TableRls {
                table: (*table).to_owned(),
                exists: false,
                enabled: false,
                forced: false,
                policies: 0,
                owned_by_current_role: false,
            },
        });
    }
    warn(&report);
    Ok(report)
}

/// Logs each problem of `report` as a `tracing` warning.
pub(super) fn warn(report: &RlsReport) {
    for problem in report.problems() {
        tracing::warn!(target: "sea_orm_tenant::rls", "{problem}");
    }
}

/// [`check`] on every table of the `search_path` that has a column named
/// `column` (for example `tenant_id`).
pub async fn check_by_column<C: ConnectionTrait>(
    db: &C,
    column: &str,
) -> Result<RlsReport, TenantError> {
    postgres_only(db)?;
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            COLUMN_SQL,
            [column.into()],
        ))
        .await?;
    let names = rows
        .iter()
        .map(|row| get::<String>(row, "name"))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    check(db, &refs).await
}
