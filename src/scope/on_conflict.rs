//! [`ScopedOnConflict`]: upserts that never overwrite another tenant's row.

use sea_orm::sea_query::{DynIden, Expr, IntoIden, OnConflict, SimpleExpr, Value};
use sea_orm::{DbBackend, Iterable, PrimaryKeyToColumn};

use super::TenantEntity;
use super::compare::{exact_eq, is_tenant_column};
use crate::TenantError;

/// The `ON CONFLICT` clause of a scoped insert, shaped like sea-query's
/// [`OnConflict`].
///
/// sea-query's `OnConflict` cannot be guarded on MySQL (it drops `WHERE`
/// conditions there without a word), so scoped inserts take this type and
/// render it per backend:
///
/// - Postgres and SQLite: `ON CONFLICT (…) DO UPDATE SET … WHERE "t"."tenant" = ?`,
///   so a conflicting row of another tenant is left alone and nothing comes back;
/// - MySQL and MariaDB: `ON DUPLICATE KEY UPDATE col = IF(tenant = ?, VALUES(col), col)`,
///   so another tenant's row keeps every value.
///
/// Updating the tenant column itself is refused with
/// [`TenantError::TenantColumnWrite`].
///
/// ```
/// # use sea_orm_tenant::doc_entities::post;
/// use sea_orm_tenant::prelude::*;
///
/// let upsert = ScopedOnConflict::column(post::Column::Id)
///     .update_column(post::Column::Title)
///     .to_owned();
/// # let _ = upsert;
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScopedOnConflict {
    targets: Vec<DynIden>,
    action: Action,
}

#[derive(Debug, Clone, Default)]
enum Action {
    #[default]
    DoNothing,
    Update(Vec<(DynIden, Option<SimpleExpr>)>),
}

impl ScopedOnConflict {
    /// Conflict on one column (the target is ignored on MySQL, which uses every unique key).
    pub fn column<C: IntoIden>(column: C) -> Self {
        Self::columns([column])
    }

    /// Conflict on several columns.
    pub fn columns<C: IntoIden, I: IntoIterator<Item = C>>(columns: I) -> Self {
        ScopedOnConflict {
            targets: columns.into_iter().map(IntoIden::into_iden).collect(),
            action: Action::DoNothing,
        }
    }

    /// On conflict, keep the existing row.
    pub fn do_nothing(&mut self) -> &mut Self {
        self.action = Action::DoNothing;
        self
    }

    /// On conflict, overwrite `column` with the value being inserted
    /// (only in a row of the same tenant).
    pub fn update_column<C: IntoIden>(&mut self, column: C) -> &mut Self {
        self.push(column.into_iden(), None)
    }

    /// [`update_column`](Self::update_column) for several columns.
    pub fn update_columns<C: IntoIden, I: IntoIterator<Item = C>>(
        &mut self,
        columns: I,
    ) -> &mut Self {
        for column in columns {
            self.push(column.into_iden(), None);
        }
        self
    }

    /// On conflict, set `column` to `expr` (only in a row of the same tenant).
    pub fn value<C: IntoIden, T: Into<SimpleExpr>>(&mut self, column: C, expr: T) -> &mut Self {
        self.push(column.into_iden(), Some(expr.into()))
    }

    fn push(&mut self, column: DynIden, expr: Option<SimpleExpr>) -> &mut Self {
        match &mut self.action {
            Action::Update(updates) => updates.push((column, expr)),
            Action::DoNothing => self.action = Action::Update(vec![(column, expr)]),
        }
        self
    }

    /// The sea-query clause for `backend`, guarded by the tenant.
    pub(crate) fn build<E: TenantEntity>(
        &self,
        backend: DbBackend,
        value: &Value,
    ) -> Result<OnConflict, TenantError> {
        let tenant = E::tenant_column();
        let is_text = matches!(value, Value::String(Some(_)));
        let mut clause = if backend == DbBackend::MySql {
            OnConflict::new()
        } else {
            OnConflict::columns(self.targets.iter().cloned())
        };
        match &self.action {
            Action::DoNothing => {
                let keys = E::PrimaryKey::iter().map(|key| key.into_column());
                clause.do_nothing_on(keys);
            }
            Action::Update(updates) => {
                if let Some((column, _)) = updates
                    .iter()
                    .find(|(c, _)| is_tenant_column::<E>(tenant, &c.inner()))
                {
                    return Err(TenantError::TenantColumnWrite {
                        table: E::default().table_name().to_owned(),
                        column: column.to_string(),
                    });
                }
                if backend == DbBackend::MySql {
                    for (column, expr) in updates {
                        let new = expr.clone().unwrap_or_else(|| {
                            Expr::cust_with_exprs("VALUES(?)", [Expr::col(column.clone())])
                        });
                        let guarded = Expr::cust_with_exprs(
                            "IF(?, ?, ?)",
                            [
                                exact_eq(
                                    Expr::col(tenant.into_iden()),
                                    Expr::val(value.clone()),
                                    is_text,
                                ),
                                new,
                                Expr::col(column.clone()),
                            ],
                        );
                        clause.value(column.clone(), guarded);
                    }
                } else {
                    for (column, expr) in updates {
                        match expr {
                            None => clause.update_column(column.clone()),
                            Some(expr) => clause.value(column.clone(), expr.clone()),
                        };
                    }
                    clause.action_and_where(exact_eq(
                        Expr::col((E::default(), tenant)),
                        Expr::val(value.clone()),
                        is_text,
                    ));
                }
            }
        }
        Ok(clause)
    }
}
