//! Scoped joins for `find_also_related` / `find_with_related`.

use sea_orm::sea_query::{Condition, ConditionType, JoinType, Value};
use sea_orm::{QueryTrait, Related, Select};

use super::{TenantEntity, tenant_condition};
use crate::TenantError;

/// `select LEFT JOIN r ON <relation> AND r.tenant = ?`, through the junction
/// table for many-to-many relations, whose `ON` gets `junction` when given.
///
/// The tenant condition is ANDed with the relation's whole `ON` condition
/// (keys and any `on_condition`, whatever their `condition_type`), so an
/// `Any` relation cannot OR it away.
pub(super) fn scoped_left_join<E, R>(
    mut select: Select<E>,
    related_value: Result<Value, TenantError>,
    junction: Option<Condition>,
) -> Select<E>
where
    E: TenantEntity + Related<R>,
    R: TenantEntity,
{
    if let Some(via) = <E as Related<R>>::via() {
        let mut on = Condition::all().add(Condition::from(via.clone()));
        if let Some(junction) = junction {
            on = on.add(junction);
        }
        select
            .query()
            .join(JoinType::LeftJoin, via.to_tbl.clone(), on);
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
