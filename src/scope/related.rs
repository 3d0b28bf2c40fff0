//! Scoped joins for `find_also_related` / `find_with_related`.

use sea_orm::sea_query::{Condition, JoinType, Value};
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
    let on = Condition::all()
        .add(Condition::from(rel.clone()))
        .add(tenant_condition::<R>(related_value));
    select
        .query()
        .join(JoinType::LeftJoin, rel.to_tbl.clone(), on);
    select
}
