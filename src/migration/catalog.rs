//! The fast path for schema per tenant: the state of every tenant schema
//! from the catalog and the version tables in a couple of queries, instead
//! of a round trip per tenant.

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Expr, Query, SelectStatement, UnionType};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use super::run::State;
use crate::SchemaName;

/// Version tables read per query (one bound name each).
const CHUNK: usize = 500;

/// The [`State`] of each schema that exists (missing schemas are absent).
pub(crate) async fn schema_states(
    db: &DatabaseConnection,
    schemas: &[SchemaName],
    table: &str,
) -> Result<HashMap<String, State>, DbErr> {
    let mut states = HashMap::with_capacity(schemas.len());
    if schemas.is_empty() {
        return Ok(states);
    }
    // 1. The catalog: which schemas exist, their tables, their version table.
    // The names are validated `[a-z0-9_]`, so a comma joins them safely.
    let names: Vec<&str> = schemas.iter().map(SchemaName::as_str).collect();
    let catalog = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT n.nspname AS schema_name, \
                count(c.oid) FILTER (WHERE c.relname <> $2) AS others, \
                count(c.oid) FILTER (WHERE c.relname = $2) AS versioned \
         FROM pg_catalog.pg_namespace n \
         LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p') \
         WHERE n.nspname = ANY(string_to_array($1, ',')) \
         GROUP BY n.nspname",
        [names.join(",").into(), table.into()],
    );
    let mut versioned = Vec::new();
    for row in db.query_all_raw(catalog).await? {
        let name: String = row.try_get("", "schema_name")?;
        let others: i64 = row.try_get("", "others")?;
        let has_table: i64 = row.try_get("", "versioned")?;
        if has_table > 0 {
            versioned.push(name.clone());
        }
        states.insert(
            name,
            State {
                versioned: has_table > 0,
                others: others.max(0) as u64,
                applied: Vec::new(),
            },
        );
    }
    // 2. The version tables, a UNION ALL of many schemas per query.
    for chunk in versioned.chunks(CHUNK) {
        let Some(select) = union_of(chunk, table) else {
            continue;
        };
        for row in db.query_all(&select).await? {
            let name: String = row.try_get("", "schema_name")?;
            let version: String = row.try_get("", "version")?;
            if let Some(state) = states.get_mut(&name) {
                state.applied.push(version);
            }
        }
    }
    Ok(states)
}

/// `SELECT 'a' AS schema_name, version FROM "a"."t" UNION ALL …`, with
/// quoted identifiers and the names bound as values.
fn union_of(schemas: &[String], table: &str) -> Option<SelectStatement> {
    let one = |schema: &String| {
        Query::select()
            .expr_as(Expr::val(schema.as_str()), "schema_name")
            .column("version")
            .from((Alias::new(schema.as_str()), Alias::new(table)))
            .to_owned()
    };
    let (first, rest) = schemas.split_first()?;
    let mut select = one(first);
    for schema in rest {
        select.union(UnionType::All, one(schema));
    }
    Some(select)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::PostgresQueryBuilder;

    #[test]
    fn unions_quoted_version_tables() {
        let select = union_of(&["tenant_a".into(), "tenant_b".into()], "seaql_migrations");
        let sql = select.map(|s| s.to_string(PostgresQueryBuilder));
        assert_eq!(
            sql.as_deref(),
            Some(
                "SELECT 'tenant_a' AS \"schema_name\", \"version\" FROM \"tenant_a\".\"seaql_migrations\" \
                 UNION ALL (SELECT 'tenant_b' AS \"schema_name\", \"version\" FROM \"tenant_b\".\"seaql_migrations\")"
            )
        );
        assert!(union_of(&[], "t").is_none());
    }
}
