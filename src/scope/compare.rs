//! How a tenant is compared: values exactly, column names as the backend
//! resolves them (rule 10 and rule 2).
//!
//! Every statement the crate builds compares the tenant column through
//! [`exact_eq`], and every check for a write to the tenant column goes
//! through [`is_tenant_column`], so one place decides what "the same
//! tenant" and "the tenant column" mean on every backend.

use sea_orm::sea_query::{Expr, ExprTrait, Func, Value};
use sea_orm::{ColumnTrait, EntityTrait, IdenStatic, Iterable};

/// MySQL and MariaDB run the text of a `/*! … */` comment; Postgres and
/// SQLite skip it. So the one statement reads `tenant = BINARY(?)` on MySQL,
/// where a string column's collation is usually case-insensitive (and
/// `'acme '` equals `'acme'` under `PAD SPACE`), and `tenant = (?)`
/// elsewhere. `BINARY` stands on the value's side, so MySQL still uses the
/// tenant index (a `ref` lookup on the column's collation, then the exact
/// check). Written as a function call, so sea-query puts no parentheses
/// around the comparison.
const EXACT: &str = "/*!BINARY*/";

/// `lhs = value`, exact on every backend: a text value is compared byte for
/// byte even where the column's collation would match `ACME` to `acme`.
///
/// Non-text values (integers, UUIDs) need no help and keep a plain `=`.
pub(crate) fn exact_eq(lhs: Expr, value: Expr, is_text: bool) -> Expr {
    if is_text {
        lhs.eq(Func::cust(EXACT).arg(value))
    } else {
        lhs.eq(value)
    }
}

/// `E.column = value` for an entity column, exact on every backend
/// (see [`exact_eq`]); the value is cast as the column saves it.
pub(crate) fn column_eq<C: ColumnTrait>(column: C, value: Value) -> Expr {
    let is_text = matches!(value, Value::String(Some(_)));
    exact_eq(
        Expr::col(column.as_column_ref()),
        column.save_as(Expr::val(value)),
        is_text,
    )
}

/// Whether `name`, as written in a statement, would reach `E`'s tenant
/// column on some backend.
///
/// Postgres folds nothing inside the quotes sea-query writes, but SQLite
/// and MySQL match column names case-insensitively (`TENANT_ID` is
/// `tenant_id`), and MySQL also ignores accents (`ténant_id`). So a name
/// is the tenant column when it equals it ignoring ASCII case, and a
/// non-ASCII name counts as the tenant column unless it is, exactly,
/// another column of `E`: what cannot be resolved with certainty is
/// refused.
pub(crate) fn is_tenant_column<E: EntityTrait>(tenant: E::Column, name: &str) -> bool {
    let tenant = tenant.as_str();
    if name.eq_ignore_ascii_case(tenant) {
        return true;
    }
    !name.is_ascii() && !E::Column::iter().any(|c| c.as_str() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc_entities::post;
    use sea_orm::sea_query::{MysqlQueryBuilder, PostgresQueryBuilder, Query, SqliteQueryBuilder};

    #[test]
    fn text_is_compared_exactly_and_the_index_side_is_left_alone() {
        let select = Query::select()
            .column(post::Column::Id)
            .from(post::Entity)
            .and_where(column_eq(post::Column::TenantId, "acme".into()))
            .to_owned();
        assert_eq!(
            select.to_string(MysqlQueryBuilder),
            "SELECT `id` FROM `post` WHERE `post`.`tenant_id` = /*!BINARY*/('acme')"
        );
        // Postgres and SQLite read the comment as a comment.
        assert!(
            select
                .to_string(PostgresQueryBuilder)
                .ends_with(r#"WHERE "post"."tenant_id" = /*!BINARY*/('acme')"#)
        );
        assert!(
            select
                .to_string(SqliteQueryBuilder)
                .ends_with(r#""post"."tenant_id" = /*!BINARY*/('acme')"#)
        );
        let int = column_eq(post::Column::Id, 7.into());
        let select = Query::select()
            .column(post::Column::Id)
            .from(post::Entity)
            .and_where(int)
            .to_owned();
        assert!(
            select
                .to_string(MysqlQueryBuilder)
                .ends_with("`post`.`id` = 7")
        );
    }

    #[test]
    fn the_tenant_column_under_another_spelling_is_the_tenant_column() {
        let t = post::Column::TenantId;
        for name in [
            "tenant_id",
            "TENANT_ID",
            "Tenant_Id",
            "ténant_id",
            "tenant_İd",
        ] {
            assert!(is_tenant_column::<post::Entity>(t, name), "{name}");
        }
        for name in ["title", "TITLE", "tenant", "tenant_id2"] {
            assert!(!is_tenant_column::<post::Entity>(t, name), "{name}");
        }
    }
}
