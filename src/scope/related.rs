//! Scoped joins for `find_also_related` / `find_with_related`.

use sea_orm::sea_query::{
    Condition, ConditionType, Expr, IntoCondition, IntoIden, JoinType, TableName, TableRef, Value,
};
use sea_orm::{QueryTrait, Related, Select};

use super::{TenantEntity, match_nothing, tenant_condition};
use crate::TenantError;

/// `select LEFT JOIN r ON <relation> AND r.tenant = ?`, through the junction
/// table for many-to-many relations.
///
/// The junction's `ON` gets `junction` when given; otherwise the junction is
/// scoped on a column named like `E`'s tenant column, with `E`'s tenant
/// value (a junction without such a column makes the query fail, never leak).
///
/// The tenant condition is ANDed with the relation's whole `ON` condition
/// (keys and any `on_condition`, whatever their `condition_type`), so an
/// `Any` relation cannot OR it away.
pub(super) fn scoped_left_join<E, R>(
    mut select: Select<E>,
    own_value: Result<Value, TenantError>,
    related_value: Result<Value, TenantError>,
    junction: Option<Condition>,
) -> Select<E>
where
    E: TenantEntity + Related<R>,
    R: TenantEntity,
{
    if let Some(via) = <E as Related<R>>::via() {
        let junction =
            junction.unwrap_or_else(|| same_column_on(&via.to_tbl, E::tenant_column(), own_value));
        let table = via.to_tbl.clone();
        let on = Condition::all().add(Condition::from(via)).add(junction);
        select.query().join(JoinType::LeftJoin, table, on);
    }
    let rel = <E as Related<R>>::to();
    let table = rel.to_tbl.clone();
    let any = rel.condition_type == ConditionType::Any;
    let on = Condition::from(rel);
    let tenant = tenant_condition::<R>(related_value);
    let on = if any {
        // `keys OR on_condition` must not swallow the tenant: AND it outside.
        Condition::all().add(on).add(tenant)
    } else {
        on.add(tenant)
    };
    select.query().join(JoinType::LeftJoin, table, on);
    select
}

/// `table.column = value` for a table known only by its reference.
fn same_column_on<C: IntoIden>(
    table: &TableRef,
    column: C,
    value: Result<Value, TenantError>,
) -> Condition {
    let name = match table {
        TableRef::Table(_, Some(alias)) => alias.clone(),
        TableRef::Table(TableName(_, name), None) => name.clone(),
        _ => return match_nothing(),
    };
    match value {
        Ok(value) => {
            let is_text = matches!(value, Value::String(Some(_)));
            super::exact_eq(Expr::col((name, column)), Expr::val(value), is_text).into_condition()
        }
        Err(_) => match_nothing(),
    }
}
