//! Queries: `WITH`, set operations, `SELECT` and its `FROM`.
//!
//! Where the tenant predicate of each tenant table goes, so that the
//! answer is the one the tenant's own database would give:
//!
//! * a table in `FROM` (or a comma item, or the right side of `CROSS
//!   JOIN`) that no later join makes NULL-extended: `WHERE`, first;
//! * the right side of an inner or `LEFT` join with `ON`: that `ON`, first
//!   (so a `LEFT JOIN` stays `LEFT`);
//! * anything else (under `RIGHT`/`FULL`, `USING`, `NATURAL`, before a
//!   `RIGHT`/`FULL` join, and on SQLite every comma item before one, since
//!   SQLite reads `a, b RIGHT JOIN c` as `(a, b) RIGHT JOIN c`): replaced by
//!   `(SELECT * FROM t WHERE t.tenant = ?) AS t`.
//!
//! Every other condition of the statement is then guarded (see
//! [`guard`](super::guard)), and a derived table or CTE body is fenced so
//! that no engine moves an outer condition into it ahead of its own tenant
//! predicates.

use sea_orm::DbBackend;
use sqlparser::ast::{
    Distinct, Expr, GroupByExpr, Join, JoinConstraint, JoinOperator, LimitClause, Offset,
    OffsetRows, OrderByKind, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr,
    TableAlias, TableFactor, TableWithJoins, Value, WildcardAdditionalOptions,
};

use super::rewrite::{Confine, Visible, and_all, folded, idents, parser};

/// What one `FROM` list holds, for the guards.
#[derive(Default)]
pub(crate) struct From {
    /// Tenant tables its conditions may refer to.
    pub(crate) visible: Vec<Visible>,
    /// Predicates for `WHERE`, first.
    pub(crate) wheres: Vec<Expr>,
    /// The unquoted, lower-case names its tenant tables are known by.
    pub(crate) keys: Vec<String>,
}

/// How a table factor is reached.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// Its predicate may go into `WHERE`.
    Where,
    /// Its predicate goes into its join's `ON`.
    On,
    /// It is replaced by a derived table holding the tenant's rows.
    Wrap,
}

fn preserves_left(op: &JoinOperator) -> bool {
    !matches!(
        op,
        JoinOperator::Right(_) | JoinOperator::RightOuter(_) | JoinOperator::FullOuter(_)
    )
}

fn constraint(op: &mut JoinOperator) -> Option<&mut JoinConstraint> {
    match op {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c)
        | JoinOperator::StraightJoin(c) => Some(c),
        _ => None,
    }
}

impl Confine<'_> {
    /// Confines a query (a statement of its own, a subquery, a CTE body).
    pub(crate) fn query(&mut self, query: &mut Query) -> Result<(), String> {
        let scalar = std::mem::take(&mut self.scalar_next);
        let outer = std::mem::replace(&mut self.scalar, scalar);
        let walked = self.query_scoped(query);
        self.scalar = outer;
        walked
    }

    fn query_scoped(&mut self, query: &mut Query) -> Result<(), String> {
        if query.for_clause.is_some()
            || query.settings.is_some()
            || query.format_clause.is_some()
            || !query.pipe_operators.is_empty()
        {
            return Err("a query clause it does not know".into());
        }
        if !query.locks.is_empty() && self.backend != DbBackend::Postgres {
            return Err(
                "a locking read (FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE) on \
                        MySQL or MariaDB: InnoDB locks every row it visits, other tenants' \
                        too; lock by writing (UPDATE … WHERE) instead"
                    .into(),
            );
        }
        for lock in &query.locks {
            if let Some(of) = &lock.of {
                idents(of)?;
            }
        }
        let scope = self.ctes.len();
        if let Some(with) = &mut query.with {
            if with.recursive && self.backend == DbBackend::Sqlite {
                self.ctes.truncate(scope);
                return Err("WITH RECURSIVE on SQLite: it runs inside the process and \
                            nothing bounds it"
                    .into());
            }
            for cte in &mut with.cte_tables {
                if cte.from.is_some() {
                    return Err("a CTE clause it does not know".into());
                }
                let name = self.cte_key(&cte.alias.name);
                if with.recursive {
                    // Its own name is in scope in its body.
                    self.ctes.push(name);
                    let walked = self.query(&mut cte.query);
                    walked?;
                } else {
                    let walked = self.query(&mut cte.query);
                    walked?;
                    self.fence(&mut cte.query);
                    self.ctes.push(name);
                }
            }
        }
        let walked = self.body_and_tail(query);
        self.ctes.truncate(scope);
        walked
    }

    fn body_and_tail(&mut self, query: &mut Query) -> Result<(), String> {
        // ORDER BY of a single SELECT may use its FROM and is guarded with
        // it; over a set operation it names output columns.
        let order = match &mut query.order_by {
            Some(order) => match &mut order.kind {
                OrderByKind::Expressions(exprs) => exprs.iter_mut().map(|o| &mut o.expr).collect(),
                OrderByKind::All(_) => return Err("ORDER BY ALL".into()),
            },
            None => Vec::new(),
        };
        match query.body.as_mut() {
            SetExpr::Select(select) => self.select(select, order)?,
            body => {
                self.set_expr(body)?;
                for expr in order {
                    self.expr(expr)?;
                }
            }
        }
        match &mut query.limit_clause {
            None => {}
            Some(LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            }) => {
                if !limit_by.is_empty() {
                    return Err("LIMIT BY".into());
                }
                if let Some(limit) = limit {
                    self.expr(limit)?;
                }
                if let Some(offset) = offset {
                    self.expr(&mut offset.value)?;
                }
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                self.expr(offset)?;
                self.expr(limit)?;
            }
        }
        if let Some(fetch) = &mut query.fetch
            && let Some(quantity) = &mut fetch.quantity
        {
            self.expr(quantity)?;
        }
        Ok(())
    }

    pub(crate) fn set_expr(&mut self, body: &mut SetExpr) -> Result<(), String> {
        match body {
            SetExpr::Select(select) => self.select(select, Vec::new()),
            SetExpr::Query(query) => {
                // A branch of a scalar subquery is one too.
                self.scalar_next = self.scalar;
                self.query(query)
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left)?;
                self.set_expr(right)
            }
            SetExpr::Values(values) => {
                for row in &mut values.rows {
                    for expr in row.content.iter_mut() {
                        self.expr(expr)?;
                    }
                }
                Ok(())
            }
            SetExpr::Table(_) => Err("the `TABLE name` shorthand; write SELECT * FROM name".into()),
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
                Err("a statement that writes inside a query (a data-modifying CTE)".into())
            }
        }
    }

    /// Keeps every engine from moving an outer condition into `query`
    /// (Postgres: `OFFSET 0`; SQLite: `LIMIT -1 OFFSET 0`; MySQL: a `LIMIT`
    /// no table reaches), unless a limit fences it already.
    pub(crate) fn fence(&self, query: &mut Query) {
        // A VALUES list takes no LIMIT on SQLite, and no condition moves
        // into one.
        if query.limit_clause.is_some()
            || query.fetch.is_some()
            || matches!(query.body.as_ref(), SetExpr::Values(_))
        {
            return;
        }
        let number = |n: &str| Expr::value(Value::Number(n.into(), false));
        let offset = || {
            Some(Offset {
                value: number("0"),
                rows: OffsetRows::None,
            })
        };
        let (limit, offset) = match self.backend {
            DbBackend::Postgres => (None, offset()),
            DbBackend::MySql => (Some(number("18446744073709551615")), None),
            _ => (Some(number("-1")), offset()),
        };
        query.limit_clause = Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by: Vec::new(),
        });
    }

    /// Confines a `SELECT`; `order` is its query's `ORDER BY`.
    fn select(&mut self, select: &mut Select, order: Vec<&mut Expr>) -> Result<(), String> {
        if select.into.is_some() {
            return Err("SELECT … INTO is not a read".into());
        }
        if !select.optimizer_hints.is_empty()
            || select.select_modifiers.is_some()
            || select.top.is_some()
            || select.exclude.is_some()
            || !select.lateral_views.is_empty()
            || select.prewhere.is_some()
            || !select.connect_by.is_empty()
            || !select.cluster_by.is_empty()
            || !select.distribute_by.is_empty()
            || !select.sort_by.is_empty()
            || select.qualify.is_some()
            || select.value_table_mode.is_some()
        {
            return Err("a SELECT clause it does not know".into());
        }
        let mut from = From::default();
        let sqlite_commas = self.backend == DbBackend::Sqlite
            && select
                .from
                .iter()
                .any(|item| item.joins.iter().any(|j| !preserves_left(&j.join_operator)));
        let last = select.from.len().saturating_sub(1);
        for (i, item) in select.from.iter_mut().enumerate() {
            // On SQLite a comma is a join like any other, so an item before
            // a RIGHT or FULL join is NULL-extended by it.
            let nullable = sqlite_commas && i < last;
            self.table_with_joins(item, &mut from, nullable)?;
        }
        // Conditions see this SELECT's tables and the enclosing ones.
        let outer_len = self.outer.len();
        let mut guard_tables: Vec<Visible> = self.outer.clone();
        guard_tables.extend(from.visible.iter().cloned());
        let mut first = std::mem::take(&mut from.wheres);
        // A scalar subquery answers nothing for another tenant's outer row
        // (its "more than one row" could count rows against another
        // tenant's value): the enclosing tables' predicates come first here
        // too. Other subqueries are left uncorrelated, so that a planner
        // can still join or hash them: their conditions that can fail are
        // guarded with the enclosing tables' predicates all the same.
        if self.scalar {
            for visible in self.outer.clone() {
                first.insert(0, self.predicate(&visible, true)?);
            }
        }
        self.outer.extend(from.visible.iter().cloned());
        let walked = self.select_parts(select, order, &guard_tables);
        self.outer.truncate(outer_len);
        walked?;
        select.selection = and_all(first, select.selection.take());
        Ok(())
    }

    fn select_parts(
        &mut self,
        select: &mut Select,
        order: Vec<&mut Expr>,
        tables: &[Visible],
    ) -> Result<(), String> {
        let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty())
            || select.having.is_some()
            || select.projection.iter().any(|item| match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    self.has_aggregate(e)
                }
                _ => false,
            });
        for item in &mut select.projection {
            match item {
                SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                    self.expr(expr)?;
                    self.guard_value(expr, tables, grouped)?;
                }
                SelectItem::Wildcard(options) => wildcard(options)?,
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(name),
                    options,
                ) => {
                    idents(name)?;
                    wildcard(options)?;
                }
                _ => return Err("a select item it does not know".into()),
            }
        }
        if let Some(Distinct::On(exprs)) = &mut select.distinct {
            for expr in exprs {
                self.expr(expr)?;
                self.guard_value(expr, tables, grouped)?;
            }
        }
        if let Some(selection) = &mut select.selection {
            self.expr(selection)?;
            self.guard_condition(selection, tables)?;
        }
        match &mut select.group_by {
            GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => {
                for expr in exprs {
                    self.expr(expr)?;
                }
            }
            _ => return Err("GROUP BY ALL or a GROUP BY modifier".into()),
        }
        if let Some(having) = &mut select.having {
            self.expr(having)?;
            self.guard_having(having, tables)?;
        }
        for window in &mut select.named_window {
            self.named_window(window)?;
        }
        for expr in order {
            self.expr(expr)?;
            self.guard_value(expr, tables, grouped)?;
        }
        Ok(())
    }

    /// Confines one `FROM` item and its joins.
    pub(crate) fn table_with_joins(
        &mut self,
        item: &mut TableWithJoins,
        from: &mut From,
        nullable: bool,
    ) -> Result<(), String> {
        // Whether a later join NULL-extends what came before it.
        let right_after: Vec<bool> = (0..=item.joins.len())
            .map(|k| {
                item.joins[k.min(item.joins.len())..]
                    .iter()
                    .any(|j| !preserves_left(&j.join_operator))
            })
            .collect();
        let root = if nullable || right_after[0] {
            Role::Wrap
        } else {
            Role::Where
        };
        let start = from.visible.len();
        self.factor(&mut item.relation, root, from, None)?;
        for (k, join) in item.joins.iter_mut().enumerate() {
            let Join {
                relation,
                join_operator,
                global,
            } = join;
            if *global {
                return Err("a join it does not know".into());
            }
            let later_right = right_after[k + 1] || nullable;
            let role = match join_operator {
                JoinOperator::Join(JoinConstraint::On(_))
                | JoinOperator::Inner(JoinConstraint::On(_))
                | JoinOperator::StraightJoin(JoinConstraint::On(_))
                | JoinOperator::Left(JoinConstraint::On(_))
                | JoinOperator::LeftOuter(JoinConstraint::On(_)) => Role::On,
                JoinOperator::Join(JoinConstraint::None)
                | JoinOperator::Inner(JoinConstraint::None)
                | JoinOperator::CrossJoin(JoinConstraint::None)
                    if !later_right =>
                {
                    Role::Where
                }
                JoinOperator::Join(_)
                | JoinOperator::Inner(_)
                | JoinOperator::StraightJoin(_)
                | JoinOperator::Left(_)
                | JoinOperator::LeftOuter(_)
                | JoinOperator::Right(_)
                | JoinOperator::RightOuter(_)
                | JoinOperator::FullOuter(_)
                | JoinOperator::CrossJoin(_) => Role::Wrap,
                _ => return Err("a join it does not know (SEMI, ANTI, APPLY, ASOF)".into()),
            };
            let Some(constraint) = constraint(join_operator) else {
                return Err("a join it does not know".into());
            };
            let mut on_preds = Vec::new();
            self.factor(relation, role, from, Some(&mut on_preds))?;
            match constraint {
                JoinConstraint::On(on) => {
                    // The ON sees the tables joined so far in this item.
                    let tables: Vec<Visible> = self
                        .outer
                        .iter()
                        .chain(from.visible[start..].iter())
                        .cloned()
                        .collect();
                    let outer_len = self.outer.len();
                    self.outer.extend(from.visible[start..].iter().cloned());
                    let walked = self.expr(on);
                    self.outer.truncate(outer_len);
                    walked?;
                    self.guard_condition(on, &tables)?;
                    let own = std::mem::replace(on, Expr::value(Value::Null));
                    *on = match and_all(on_preds, Some(own)) {
                        Some(on) => on,
                        None => Expr::value(Value::Boolean(true)),
                    };
                }
                JoinConstraint::Using(names) => {
                    for name in names {
                        idents(name)?;
                    }
                }
                JoinConstraint::Natural | JoinConstraint::None => {}
                JoinConstraint::UsingAlias(..) => return Err("a join it does not know".into()),
            }
        }
        Ok(())
    }

    /// Confines one table factor in `role`.
    fn factor(
        &mut self,
        factor: &mut TableFactor,
        role: Role,
        from: &mut From,
        on: Option<&mut Vec<Expr>>,
    ) -> Result<(), String> {
        match factor {
            TableFactor::Table {
                name,
                alias,
                args: None,
                with_hints,
                version: None,
                with_ordinality: false,
                partitions,
                json_path: None,
                sample: None,
                index_directives: _,
                inheritance: None,
            } if with_hints.is_empty() && partitions.is_empty() => {
                let parts = idents(name)?;
                let last = parts[parts.len() - 1];
                if parts.len() == 1 && self.is_cte(last) {
                    return Ok(());
                }
                let (value, quoted) = (last.value.clone(), last.quote_style.is_some());
                if self.backend == DbBackend::MySql
                    && parts.len() == 1
                    && !quoted
                    && value.eq_ignore_ascii_case("dual")
                {
                    // MySQL's one-row pseudo-table.
                    return Ok(());
                }
                let last = last.clone();
                let Some(table) = self.declared(name)? else {
                    return Ok(());
                };
                if alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
                    return Err(format!(
                        "a column alias list on tenant table `{value}` would rename its tenant \
                         column"
                    ));
                }
                let reference = match (alias.as_ref(), role) {
                    (Some(alias), _) => alias.name.to_string(),
                    // Wrapped, it is known by its last name only.
                    (None, Role::Wrap) => last.to_string(),
                    (None, _) => name.to_string(),
                };
                // The name it is known by, unquoted: "post", `post`, [post]
                // and main.post are one name to the engine.
                let key = match alias.as_ref() {
                    Some(alias) => alias.name.value.to_ascii_lowercase(),
                    None => last.value.to_ascii_lowercase(),
                };
                if from.keys.contains(&key) {
                    return Err(format!(
                        "tenant table `{value}` is named twice as `{reference}` in one FROM; \
                         give each its own alias"
                    ));
                }
                let mut visible = Visible {
                    reference,
                    table,
                    nullable: role != Role::Where,
                };
                match role {
                    Role::Where => from.wheres.push(self.predicate(&visible, false)?),
                    Role::On => match on {
                        Some(on) => on.push(self.predicate(&visible, false)?),
                        None => return Err("internal: an ON without a join".into()),
                    },
                    Role::Wrap => {
                        if alias.is_none() && parts.len() == 2 {
                            let key = (self.table_key(parts[0]), self.table_key(&last));
                            self.wrapped_qualified.push(key);
                        }
                        let (name, alias) = (name.clone(), alias.clone());
                        *factor = self.wrapped(&name, alias, &visible)?;
                        visible.nullable = true;
                        self.wrapped_any = true;
                    }
                }
                from.visible.push(visible);
                from.keys.push(key);
                Ok(())
            }
            TableFactor::Table {
                name,
                alias,
                args: Some(args),
                with_hints,
                version: None,
                partitions,
                json_path: None,
                sample: None,
                inheritance: None,
                ..
            } if with_hints.is_empty() && partitions.is_empty() && args.settings.is_none() => {
                // A table function: `FROM generate_series(1, 3)`.
                self.function_name(name)?;
                for arg in &mut args.args {
                    self.function_arg(arg)?;
                }
                if let Some(alias) = alias {
                    self.alias(alias)?;
                }
                Ok(())
            }
            TableFactor::Derived {
                lateral: false,
                subquery,
                alias,
                sample: None,
            } => {
                // A derived table sees the enclosing queries, not its
                // siblings.
                self.query(subquery)?;
                self.fence(subquery);
                if let Some(alias) = alias {
                    self.alias(alias)?;
                }
                Ok(())
            }
            TableFactor::Function {
                lateral: false,
                name,
                args,
                with_ordinality: _,
                alias,
            } => {
                self.function_name(name)?;
                for arg in args {
                    self.function_arg(arg)?;
                }
                if let Some(alias) = alias {
                    self.alias(alias)?;
                }
                Ok(())
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias: None,
            } => {
                // Inside an outer join's nullable side (or an ON), its tables
                // cannot take their predicates into WHERE: wrapped.
                self.table_with_joins(table_with_joins, from, role != Role::Where)
            }
            _ => Err(format!(
                "`{factor}` in FROM: only tables, subqueries and allowed table functions are \
                 let through (no LATERAL, UNNEST, TABLE(), PIVOT, sampling)"
            )),
        }
    }

    /// Whether `name` resolves to a CTE in scope. Strict: where the engine
    /// might take it for a table, it is a table (and so confined).
    fn is_cte(&self, name: &sqlparser::ast::Ident) -> bool {
        let name = self.cte_key(name);
        self.ctes.iter().any(|cte| match self.backend {
            DbBackend::Sqlite => cte.eq_ignore_ascii_case(&name),
            _ => *cte == name,
        })
    }

    /// A CTE's name as the backend compares it: MySQL compares table
    /// names (and so CTE names) exactly, Postgres folds unquoted names.
    fn cte_key(&self, name: &sqlparser::ast::Ident) -> String {
        match self.backend {
            DbBackend::MySql => name.value.clone(),
            _ => folded(name),
        }
    }

    fn alias(&self, alias: &TableAlias) -> Result<(), String> {
        if alias.at.is_some() || alias.columns.iter().any(|c| c.data_type.is_some()) {
            return Err("a table alias it does not know".into());
        }
        Ok(())
    }

    /// `(SELECT * FROM <name> WHERE <name>.<col> = <tenant>) AS <alias>`.
    fn wrapped(
        &mut self,
        name: &sqlparser::ast::ObjectName,
        alias: Option<TableAlias>,
        visible: &Visible,
    ) -> Result<TableFactor, String> {
        let inner = Visible {
            reference: name.to_string(),
            table: visible.table.clone(),
            nullable: false,
        };
        let pred = self.predicate(&inner, false)?;
        let sql = format!("SELECT * FROM {name} WHERE {pred}");
        let subquery = parser(self.backend)
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_query())
            .map_err(|e| format!("internal: cannot build `{sql}` ({e})"))?;
        let alias = match alias {
            Some(alias) => alias,
            None => TableAlias {
                explicit: true,
                name: idents(name)?
                    .last()
                    .map(|i| (*i).clone())
                    .ok_or("internal: unnamed table")?,
                columns: Vec::new(),
                at: None,
            },
        };
        Ok(TableFactor::Derived {
            lateral: false,
            subquery,
            alias: Some(alias),
            sample: None,
        })
    }
}

fn wildcard(options: &WildcardAdditionalOptions) -> Result<(), String> {
    if options.opt_ilike.is_some()
        || options.opt_exclude.is_some()
        || options.opt_except.is_some()
        || options.opt_replace.is_some()
        || options.opt_rename.is_some()
        || options.opt_alias.is_some()
    {
        return Err("a wildcard option it does not know".into());
    }
    Ok(())
}
