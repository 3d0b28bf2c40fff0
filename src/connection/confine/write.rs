//! Writes: `INSERT`, `UPDATE`, `DELETE`.
//!
//! An update or delete reaches only the tenant's rows (its tables' tenant
//! predicates come first, as in a query) and never writes a tenant column;
//! an insert gets the tenant's value in its tenant column, or has the value
//! it gives checked; an upsert never touches another tenant's row.

use sqlparser::ast::{
    Assignment, AssignmentTarget, Delete, Expr, FromTable, Insert, ObjectName, ObjectNamePart,
    OnConflictAction, OnInsert, SelectItem, SetExpr, SqliteOnConflict, TableObject, Update,
    UpdateTableFromKind, Value, ValueWithSpan,
};

use super::params;
use super::query::From;
use super::rewrite::{Confine, Visible, and_all, idents, parser};

impl Confine<'_> {
    /// The `FROM` of a write: its tables confined, their predicates in
    /// `from.wheres`.
    fn write_from(
        &mut self,
        items: &mut [sqlparser::ast::TableWithJoins],
        from: &mut From,
    ) -> Result<(), String> {
        for item in items {
            self.table_with_joins(item, from, false)?;
        }
        Ok(())
    }

    /// Confines `selection` under `from`'s tables, predicates first.
    fn write_where(&mut self, selection: &mut Option<Expr>, from: From) -> Result<(), String> {
        let outer_len = self.outer.len();
        self.outer.extend(from.visible.iter().cloned());
        let walked = match selection {
            Some(selection) => self
                .expr(selection)
                .and_then(|()| self.guard_condition(selection, &from.visible)),
            None => Ok(()),
        };
        self.outer.truncate(outer_len);
        walked?;
        *selection = and_all(from.wheres, selection.take());
        Ok(())
    }

    fn returning(&mut self, items: &mut Option<Vec<SelectItem>>) -> Result<(), String> {
        for item in items.iter_mut().flatten() {
            match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    self.expr(e)?
                }
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {}
                _ => return Err("a RETURNING item it does not know".into()),
            }
        }
        Ok(())
    }

    pub(crate) fn update(&mut self, update: &mut Update) -> Result<(), String> {
        if matches!(update.or, Some(SqliteOnConflict::Replace)) {
            return Err("UPDATE OR REPLACE can delete another tenant's row".into());
        }
        if !update.optimizer_hints.is_empty()
            || update.on_cluster.is_some()
            || update.output.is_some()
            || update.settings.is_some()
        {
            return Err("an UPDATE clause it does not know".into());
        }
        let mut from = From::default();
        self.table_with_joins(&mut update.table, &mut from, false)?;
        if let Some(UpdateTableFromKind::BeforeSet(items) | UpdateTableFromKind::AfterSet(items)) =
            &mut update.from
        {
            self.write_from(items, &mut from)?;
        }
        self.check_assignments(&update.assignments, &from.visible)?;
        let outer_len = self.outer.len();
        self.outer.extend(from.visible.iter().cloned());
        let walked = self
            .assignment_values(&mut update.assignments)
            .and_then(|()| {
                update
                    .order_by
                    .iter_mut()
                    .try_for_each(|o| self.expr(&mut o.expr))
            });
        let walked = walked.and_then(|()| update.limit.as_mut().map_or(Ok(()), |l| self.expr(l)));
        self.outer.truncate(outer_len);
        walked?;
        // RETURNING reads the rows written, the tenant's: its subqueries
        // are not correlated with them.
        self.returning(&mut update.returning)?;
        self.write_where(&mut update.selection, from)
    }

    pub(crate) fn delete(&mut self, delete: &mut Delete) -> Result<(), String> {
        if !delete.optimizer_hints.is_empty()
            || delete.on_cluster.is_some()
            || delete.output.is_some()
            || delete.settings.is_some()
        {
            return Err("a DELETE clause it does not know".into());
        }
        for table in &delete.tables {
            if idents(table)?.len() != 1 {
                return Err(format!("`{table}` names another database"));
            }
        }
        let mut from = From::default();
        let (FromTable::WithFromKeyword(items) | FromTable::WithoutKeyword(items)) =
            &mut delete.from;
        self.write_from(items, &mut from)?;
        if let Some(items) = &mut delete.using {
            self.write_from(items, &mut from)?;
        }
        let outer_len = self.outer.len();
        self.outer.extend(from.visible.iter().cloned());
        let walked = delete
            .order_by
            .iter_mut()
            .try_for_each(|o| self.expr(&mut o.expr))
            .and_then(|()| delete.limit.as_mut().map_or(Ok(()), |l| self.expr(l)));
        self.outer.truncate(outer_len);
        walked?;
        self.returning(&mut delete.returning)?;
        self.write_where(&mut delete.selection, from)
    }

    fn assignment_values(&mut self, assignments: &mut [Assignment]) -> Result<(), String> {
        assignments
            .iter_mut()
            .try_for_each(|a| self.expr(&mut a.value))
    }

    /// Refuses an assignment to a tenant column of any tenant table the
    /// statement touches.
    fn check_assignments(
        &self,
        assignments: &[Assignment],
        tables: &[Visible],
    ) -> Result<(), String> {
        for assignment in assignments {
            let targets: Vec<&ObjectName> = match &assignment.target {
                AssignmentTarget::ColumnName(name) => vec![name],
                AssignmentTarget::Tuple(names) => names.iter().collect(),
            };
            for target in targets {
                let Some(column) = target.0.last().and_then(ObjectNamePart::as_ident) else {
                    return Err("an assignment it cannot read".into());
                };
                if is_tenant_column(
                    &column.value,
                    tables.iter().map(|v| v.table.column.as_str()),
                ) {
                    return Err(format!(
                        "it writes the tenant column `{}`; a row never moves to another tenant",
                        column.value
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn insert(&mut self, insert: &mut Insert) -> Result<(), String> {
        if !insert.optimizer_hints.is_empty()
            || insert.partitioned.is_some()
            || !insert.after_columns.is_empty()
            || insert.overriding.is_some()
            || insert.output.is_some()
            || insert.has_table_keyword
            || insert.by_name
            || insert.overwrite
        {
            return Err("an INSERT clause it does not know".into());
        }
        let TableObject::TableName(name) = &insert.table else {
            return Err("an INSERT into a table function".into());
        };
        let name = name.clone();
        let table = self.declared(&name)?;
        if let Some(source) = insert.source.as_deref_mut() {
            self.query(source)?;
        }
        let Some(table) = table else {
            return self.insert_tail(insert, &[]);
        };
        if insert.replace_into || matches!(insert.or, Some(SqliteOnConflict::Replace)) {
            return Err("REPLACE deletes the row it conflicts with, whatever its tenant".into());
        }
        if !insert.assignments.is_empty() {
            return Err("INSERT … SET is not supported on a tenant table; use VALUES".into());
        }
        let reference = match &insert.table_alias {
            Some(alias) => alias.alias.to_string(),
            None => name.to_string(),
        };
        let visible = Visible {
            reference,
            table: table.clone(),
            nullable: false,
        };
        let j = self.slot(&table);
        let value_sql = self.tenant_value_sql(&table).replace("BINARY(", "(");
        let mut positions = Vec::new();
        for (i, column) in insert.columns.iter().enumerate() {
            let Some(ident) = column.0.last().and_then(ObjectNamePart::as_ident) else {
                return Err("a column it cannot read".into());
            };
            if !ident.value.is_ascii() {
                return Err(format!("column `{}` is not plain ASCII", ident.value));
            }
            if ident.value.eq_ignore_ascii_case(&table.column) {
                positions.push(i);
            }
        }
        let position = positions.first().copied();
        let columns = insert.columns.len();
        match insert.source.as_deref_mut() {
            None => {
                if columns != 0 {
                    return Err("an INSERT without rows".into());
                }
                insert
                    .columns
                    .push(ObjectName::from(self.ident(&table.column)));
                let values = parser(self.backend)
                    .try_with_sql(&format!("VALUES ({value_sql})"))
                    .and_then(|mut p| p.parse_query())
                    .map_err(|e| format!("internal: {e}"))?;
                insert.source = Some(values);
            }
            Some(_) if columns == 0 => {
                return Err("an INSERT that does not name its columns".into());
            }
            Some(source) => {
                let tenant_expr = self.parse_expr(&value_sql)?;
                if !source.locks.is_empty() {
                    return Err("a locking read in an INSERT".into());
                }
                match source.body.as_mut() {
                    SetExpr::Values(values) => {
                        for row in &mut values.rows {
                            if row.content.len() != columns {
                                return Err(format!(
                                    "a row of {} values for {columns} columns",
                                    row.content.len()
                                ));
                            }
                            if position.is_none() {
                                row.content.push(tenant_expr.clone());
                            }
                            for &i in &positions {
                                self.check_tenant_expr(&row.content[i], j)?;
                            }
                        }
                    }
                    SetExpr::Select(select) => {
                        if select.projection.len() != columns
                            || select.projection.iter().any(|item| {
                                !matches!(
                                    item,
                                    SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }
                                )
                            })
                        {
                            return Err(format!(
                                "INSERT … SELECT whose select list does not map one to one \
                                 onto its {columns} columns (no `*`, one expression per column)"
                            ));
                        }
                        if position.is_none() {
                            select.projection.push(SelectItem::UnnamedExpr(tenant_expr));
                        }
                        for &i in &positions {
                            match &select.projection[i] {
                                SelectItem::UnnamedExpr(expr)
                                | SelectItem::ExprWithAlias { expr, .. } => {
                                    let expr = expr.clone();
                                    self.check_tenant_expr(&expr, j)?;
                                }
                                _ => return Err("internal: a select item".into()),
                            }
                        }
                    }
                    _ => {
                        return Err("an INSERT source it cannot confine (use VALUES or one \
                                    SELECT)"
                            .into());
                    }
                }
                if position.is_none() {
                    insert
                        .columns
                        .push(ObjectName::from(self.ident(&table.column)));
                }
            }
        }
        self.insert_tail(insert, &[visible])
    }

    /// The conflict clause and `RETURNING` of an insert into a table
    /// (`tenant`: the tenant table, if it is one).
    fn insert_tail(&mut self, insert: &mut Insert, tenant: &[Visible]) -> Result<(), String> {
        if let Some(on) = &mut insert.on {
            match on {
                OnInsert::OnConflict(conflict) => {
                    if let OnConflictAction::DoUpdate(update) = &mut conflict.action {
                        self.check_assignments(&update.assignments, tenant)?;
                        self.assignment_values(&mut update.assignments)?;
                        if let Some(selection) = &mut update.selection {
                            // Evaluated on the row it conflicts with, which
                            // may be another tenant's.
                            self.expr(selection)?;
                            self.guard_condition(selection, tenant)?;
                        }
                        if let Some(visible) = tenant.first() {
                            let pred = self.predicate(visible, false)?;
                            update.selection = and_all(vec![pred], update.selection.take());
                        }
                    }
                }
                OnInsert::DuplicateKeyUpdate(assignments) => {
                    self.check_assignments(assignments, tenant)?;
                    self.assignment_values(assignments)?;
                    if let Some(visible) = tenant.first() {
                        let own = format!(
                            "{} = {}",
                            self.quote(&visible.table.column),
                            self.tenant_value_sql(&visible.table)
                        );
                        for assignment in assignments.iter_mut() {
                            let AssignmentTarget::ColumnName(column) = &assignment.target else {
                                return Err("a tuple assignment in ON DUPLICATE KEY UPDATE".into());
                            };
                            let guarded = format!("IF({own}, {}, {column})", assignment.value);
                            assignment.value = self.parse_expr(&guarded)?;
                        }
                    }
                }
                _ => return Err("an INSERT conflict clause it cannot confine".into()),
            }
        }
        self.returning(&mut insert.returning)
    }

    /// A value written into the tenant column: a placeholder whose bound
    /// value is checked when the statement runs, or a literal that must
    /// spell the tenant.
    fn check_tenant_expr(&mut self, expr: &Expr, j: usize) -> Result<(), String> {
        match expr {
            Expr::Value(ValueWithSpan {
                value: Value::Placeholder(p),
                ..
            }) => match params::index_of(p) {
                Some(i) if i < self.params => {
                    self.bound.push((i, j));
                    Ok(())
                }
                _ => Err(format!("placeholder `{p}` it cannot read")),
            },
            Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(s) | Value::Number(s, false),
                ..
            }) => {
                self.literals.push((s.clone(), j));
                Ok(())
            }
            other => Err(format!(
                "the tenant column is given `{other}`, which it cannot check; leave it out and \
                 the connection fills it in"
            )),
        }
    }
}

/// Whether `name` would reach one of `columns`: ASCII case is ignored, and
/// a non-ASCII name is taken for one (MySQL also ignores accents).
fn is_tenant_column<'a>(name: &str, mut columns: impl Iterator<Item = &'a str>) -> bool {
    !name.is_ascii() || columns.any(|c| c.eq_ignore_ascii_case(name))
}
