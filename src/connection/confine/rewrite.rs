//! The statement rewrite: one SQL string in, the confined SQL (or the
//! reason it cannot be confined) out. Runs once per statement shape; the
//! result is cached by [`Confiner`](super::Confiner).

use std::ops::ControlFlow;
use std::sync::Arc;

use sea_orm::DbBackend;
use sqlparser::ast::{
    Assignment, AssignmentTarget, BinaryOperator, Delete, Expr, FromTable, Ident, Insert, Join,
    JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, OnConflictAction, OnInsert, Query,
    Select, SelectItem, SetExpr, SqliteOnConflict, Statement, TableAlias, TableFactor, TableObject,
    TableWithJoins, Update, UpdateTableFromKind, Value, ValueWithSpan, VisitMut, VisitorMut,
};
use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::{Parser, ParserOptions};

use super::catalog::{Catalog, Lookup, TenantTable};
use super::params;

/// A statement that can be confined, tenant-independent: the tenant's
/// values are added when it runs.
#[derive(Debug)]
pub(crate) struct Planned {
    /// The SQL to send.
    pub(crate) sql: String,
    /// How many values the statement was written with.
    pub(crate) params: usize,
    /// One tenant value per table, bound after the statement's own values.
    pub(crate) tenants: Vec<Arc<TenantTable>>,
    /// MySQL only: the values in the order of its `?`s, as indexes into
    /// the statement's values followed by the tenant values.
    pub(crate) order: Option<Vec<usize>>,
    /// Schema (or database) qualifiers that only the tenant's own schema
    /// may pass.
    pub(crate) qualifiers: Vec<String>,
    /// Values the statement binds into a tenant column: (value index,
    /// tenant table index); each must be the tenant.
    pub(crate) bound: Vec<(usize, usize)>,
    /// Literals written into a tenant column: each must spell the tenant.
    pub(crate) literals: Vec<(String, usize)>,
}

/// Functions a tenant connection never calls: they change settings
/// (`set_config`: the tenant, `search_path`, the role, limits), or run SQL
/// or read files the statement does not show.
const DENIED_FUNCTIONS: &[&str] = &[
    "set_config",
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "ts_stat",
    "dblink",
    "dblink_exec",
    "dblink_open",
    "dblink_send_query",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "lo_import",
    "lo_export",
    "load_file",
    "load_extension",
    "fts3_tokenizer",
    // Another session's work, or a sequence or large object of another
    // tenant's schema, named by a string.
    "pg_cancel_backend",
    "pg_terminate_backend",
    "setval",
    "lo_get",
    "lo_put",
    "lo_open",
    "lo_unlink",
    "lo_from_bytea",
];

/// Relations that show other sessions' statements, or values of every
/// tenant's rows (planner statistics), matched in any case.
const DENIED_RELATIONS: &[&str] = &[
    "pg_stat_activity",
    "pg_stat_statements",
    "pg_stats",
    "pg_stats_ext",
    "pg_stats_ext_exprs",
    "pg_statistic",
    "pg_statistic_ext_data",
    "pg_prepared_statements",
    "pg_cursors",
    "processlist",
    "innodb_trx",
    "column_statistics",
];

/// Function name prefixes refused like [`DENIED_FUNCTIONS`]: the
/// per-backend statistics functions behind `pg_stat_activity`.
const DENIED_FUNCTION_PREFIXES: &[&str] = &["pg_stat_get_", "pg_stat_statements"];

/// Whether a function (by its last name part) is refused.
fn denied_function(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    DENIED_FUNCTIONS.contains(&name.as_str())
        || DENIED_FUNCTION_PREFIXES.iter().any(|p| name.starts_with(p))
}

fn dialect(backend: DbBackend) -> &'static dyn Dialect {
    static PG: PostgreSqlDialect = PostgreSqlDialect {};
    static MYSQL: MySqlDialect = MySqlDialect {};
    static SQLITE: SQLiteDialect = SQLiteDialect {};
    match backend {
        DbBackend::Postgres => &PG,
        DbBackend::MySql => &MYSQL,
        _ => &SQLITE,
    }
}

fn parser(backend: DbBackend) -> Parser<'static> {
    // Literals are kept exactly as written: re-rendering an unescaped
    // MySQL string would turn `'a\\'` into `'a\'`.
    Parser::new(dialect(backend)).with_options(ParserOptions::new().with_unescape(false))
}

/// Plans `sql`, or says why it cannot be confined.
pub(crate) fn plan(sql: &str, backend: DbBackend, catalog: &Catalog) -> Result<Planned, String> {
    let mut statements = parser(backend)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| format!("it cannot be parsed ({e})"))?;
    let mut statement = match statements.len() {
        1 => statements.remove(0),
        0 => return Err("it holds no statement".into()),
        n => return Err(format!("it holds {n} statements; send one at a time")),
    };
    if backend == DbBackend::Postgres
        && let Statement::ShowVariable { .. } = &statement
    {
        // Reading a setting (`SHOW search_path`) changes nothing. MySQL's
        // SHOW is many commands (`SHOW PROCESSLIST`, `SHOW BINLOG EVENTS`):
        // refused there.
        return Ok(Planned {
            sql: statement.to_string(),
            params: 0,
            tenants: Vec::new(),
            order: None,
            qualifiers: Vec::new(),
            bound: Vec::new(),
            literals: Vec::new(),
        });
    }
    let target = match &statement {
        // EXPLAIN (ANALYZE runs it) of a statement that is confined itself.
        Statement::Explain { statement, .. } => statement.as_ref(),
        other => other,
    };
    match target {
        Statement::Query(_)
        | Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_) => {}
        _ => {
            return Err(
                "only SELECT, INSERT, UPDATE and DELETE run on a tenant connection (no DDL, \
                 SET, USE, ATTACH, transaction control, DO or CALL)"
                    .into(),
            );
        }
    }
    let params = params::number(&mut statement, backend)?;
    let mut confine = Confine {
        catalog,
        backend,
        params,
        tenants: Vec::new(),
        seen: 0,
        confined: 0,
        qualifiers: Vec::new(),
        bound: Vec::new(),
        literals: Vec::new(),
        error: None,
    };
    let _ = statement.visit(&mut confine);
    if let Some(error) = confine.error.take() {
        return Err(error);
    }
    let target = match &mut statement {
        Statement::Explain { statement, .. } => statement.as_mut(),
        other => other,
    };
    match target {
        Statement::Update(update) => confine.update(update)?,
        Statement::Delete(delete) => confine.delete(delete)?,
        Statement::Insert(insert) => confine.insert(insert)?,
        _ => {}
    }
    if let Some(error) = confine.error.take() {
        return Err(error);
    }
    if confine.seen != confine.confined {
        return Err("it names a tenant table where it cannot be confined".into());
    }
    let rendered = statement.to_string();
    let (sql, order) = match backend {
        DbBackend::MySql => {
            let (sql, order) = params::positional(&rendered);
            (sql, Some(order))
        }
        _ => (rendered, None),
    };
    confine.qualifiers.sort();
    confine.qualifiers.dedup();
    Ok(Planned {
        sql,
        params,
        tenants: confine.tenants,
        order,
        qualifiers: confine.qualifiers,
        bound: confine.bound,
        literals: confine.literals,
    })
}

/// Where a tenant table's predicate goes.
enum Place<'a> {
    /// Into the `WHERE` of the statement.
    Where(&'a mut Vec<Expr>),
    /// Into a join's `ON`.
    On(&'a mut Expr),
    /// The table is replaced by `(SELECT * FROM t WHERE …) AS t`.
    Wrap,
}

struct Confine<'a> {
    catalog: &'a Catalog,
    backend: DbBackend,
    /// How many values the statement was written with.
    params: usize,
    tenants: Vec<Arc<TenantTable>>,
    /// Tenant-table references found by the visitor.
    seen: usize,
    /// Tenant-table references confined.
    confined: usize,
    qualifiers: Vec<String>,
    bound: Vec<(usize, usize)>,
    literals: Vec<(String, usize)>,
    error: Option<String>,
}

/// The name Postgres, MySQL or SQLite resolves an identifier to, for
/// comparing with names we know (unquoted names fold to lower case).
fn folded(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

fn idents(name: &ObjectName) -> Option<Vec<&Ident>> {
    name.0.iter().map(ObjectNamePart::as_ident).collect()
}

fn and(left: Option<Expr>, right: Expr) -> Expr {
    match left {
        None => right,
        Some(left) => Expr::BinaryOp {
            left: Box::new(Expr::Nested(Box::new(left))),
            op: BinaryOperator::And,
            right: Box::new(right),
        },
    }
}

fn and_all(left: Option<Expr>, preds: Vec<Expr>) -> Option<Expr> {
    preds.into_iter().fold(left, |acc, p| Some(and(acc, p)))
}

impl Confine<'_> {
    fn fail(&mut self, reason: impl Into<String>) -> ControlFlow<()> {
        if self.error.is_none() {
            self.error = Some(reason.into());
        }
        ControlFlow::Break(())
    }

    /// The tenant table `name` names, if any.
    fn tenant_table(&self, name: &ObjectName) -> Result<Option<Arc<TenantTable>>, String> {
        let Some(last) = name.0.last().and_then(ObjectNamePart::as_ident) else {
            return Ok(None);
        };
        match self.catalog.lookup(&last.value, last.quote_style.is_some(), self.backend) {
            Lookup::Tenant(table) => Ok(Some(table.clone())),
            Lookup::Global => Ok(None),
            Lookup::Own => Err(format!(
                "`{}` is the crate's own table, never reachable through a tenant connection",
                last.value
            )),
            Lookup::Undeclared => Err(format!(
                "table `{}` is not declared: declare it global with \
                 `Tenancy::global_table` or `global_entity!`, or a tenant table with \
                 `tenant_entity!`",
                last.value
            )),
            Lookup::Ambiguous => Err(format!(
                "table `{}` is declared twice with different tenant columns",
                last.value
            )),
        }
    }

    /// The index of `table`'s tenant value.
    fn slot(&mut self, table: &Arc<TenantTable>) -> usize {
        match self.tenants.iter().position(|t| Arc::ptr_eq(t, table)) {
            Some(j) => j,
            None => {
                self.tenants.push(table.clone());
                self.tenants.len() - 1
            }
        }
    }

    /// The tenant value's placeholder, compared exactly on MySQL.
    fn tenant_value_sql(&self, table: &TenantTable, j: usize) -> String {
        let n = self.params + j + 1;
        match self.backend {
            DbBackend::Postgres => format!("${n}"),
            DbBackend::MySql if table.text => format!("BINARY(?{n})"),
            _ => format!("?{n}"),
        }
    }

    /// `name` as a quoted identifier of the backend.
    fn ident(&self, name: &str) -> Ident {
        let q = if self.backend == DbBackend::MySql {
            '`'
        } else {
            '"'
        };
        Ident::with_quote(q, name)
    }

    fn quote(&self, name: &str) -> String {
        self.ident(name).to_string()
    }

    fn parse_expr(&self, sql: &str) -> Result<Expr, String> {
        parser(self.backend)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_expr())
            .map_err(|e| format!("internal: cannot build `{sql}` ({e})"))
    }

    /// `<reference>.<tenant column> = <tenant>`.
    fn predicate(&mut self, reference: &str, table: &Arc<TenantTable>) -> Result<Expr, String> {
        let j = self.slot(table);
        let sql = format!(
            "{reference}.{} = {}",
            self.quote(&table.column),
            self.tenant_value_sql(table, j)
        );
        self.parse_expr(&sql)
    }

    /// `(SELECT * FROM <name> WHERE <name>.<col> = <tenant>) AS <alias>`.
    fn wrapped(
        &mut self,
        name: &ObjectName,
        alias: &Option<TableAlias>,
        table: &Arc<TenantTable>,
    ) -> Result<TableFactor, String> {
        let j = self.slot(table);
        let sql = format!(
            "SELECT * FROM {name} WHERE {name}.{} = {}",
            self.quote(&table.column),
            self.tenant_value_sql(table, j)
        );
        let subquery = parser(self.backend)
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_query())
            .map_err(|e| format!("internal: cannot build `{sql}` ({e})"))?;
        let alias = match alias {
            Some(alias) => alias.clone(),
            None => TableAlias {
                explicit: true,
                name: idents(name)
                    .and_then(|i| i.last().map(|i| (*i).clone()))
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

    /// Confines one table factor.
    fn factor(&mut self, factor: &mut TableFactor, place: Place<'_>) -> Result<(), String> {
        match factor {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } => {
                let Some(table) = self.tenant_table(name)? else {
                    return Ok(());
                };
                let reference = match alias {
                    Some(alias) => alias.name.to_string(),
                    None => name.to_string(),
                };
                match place {
                    Place::Where(preds) => preds.push(self.predicate(&reference, &table)?),
                    Place::On(on) => {
                        let pred = self.predicate(&reference, &table)?;
                        let existing = std::mem::replace(on, Expr::value(Value::Null));
                        *on = and(Some(existing), pred);
                    }
                    Place::Wrap => {
                        let (name, alias) = (name.clone(), alias.clone());
                        *factor = self.wrapped(&name, &alias, &table)?;
                    }
                }
                self.confined += 1;
                Ok(())
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.confine_item(table_with_joins, None),
            // Derived tables, functions, UNNEST: the queries inside are
            // visited on their own; a tenant table in any other place is
            // left unconfined and so refused by the count in `plan`.
            _ => Ok(()),
        }
    }

    /// Confines a `FROM` item and its joins. `wheres` is where predicates
    /// may go that are equivalent in `WHERE`; `None` wraps instead.
    fn confine_item(
        &mut self,
        item: &mut TableWithJoins,
        mut wheres: Option<&mut Vec<Expr>>,
    ) -> Result<(), String> {
        let outer = item.joins.iter().any(|j| {
            !matches!(
                j.join_operator,
                JoinOperator::Join(_)
                    | JoinOperator::Inner(_)
                    | JoinOperator::StraightJoin(_)
                    | JoinOperator::CrossJoin(_)
                    | JoinOperator::Left(_)
                    | JoinOperator::LeftOuter(_)
                    | JoinOperator::Semi(_)
                    | JoinOperator::LeftSemi(_)
                    | JoinOperator::Anti(_)
                    | JoinOperator::LeftAnti(_)
            )
        });
        if outer {
            wheres = None;
        }
        let root = match wheres.as_deref_mut() {
            Some(w) => Place::Where(w),
            None => Place::Wrap,
        };
        self.factor(&mut item.relation, root)?;
        for Join {
            relation,
            join_operator,
            ..
        } in &mut item.joins
        {
            let place = match join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::StraightJoin(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Semi(c)
                | JoinOperator::LeftSemi(c)
                | JoinOperator::Anti(c)
                | JoinOperator::LeftAnti(c)
                    if matches!(c, JoinConstraint::On(_)) =>
                {
                    match c {
                        JoinConstraint::On(on) => Place::On(on),
                        _ => Place::Wrap,
                    }
                }
                JoinOperator::Join(_)
                | JoinOperator::Inner(_)
                | JoinOperator::StraightJoin(_)
                | JoinOperator::CrossJoin(_) => match wheres.as_deref_mut() {
                    Some(w) => Place::Where(w),
                    None => Place::Wrap,
                },
                _ => Place::Wrap,
            };
            self.factor(relation, place)?;
        }
        Ok(())
    }

    fn select(&mut self, select: &mut Select) -> Result<(), String> {
        if select.into.is_some() {
            return Err("SELECT … INTO is not a read".into());
        }
        let mut preds = Vec::new();
        for item in &mut select.from {
            self.confine_item(item, Some(&mut preds))?;
        }
        select.selection = and_all(select.selection.take(), preds);
        Ok(())
    }

    /// Refuses an assignment to a tenant column of any tenant table the
    /// statement touches.
    fn check_assignments(&self, assignments: &[Assignment]) -> Result<(), String> {
        for assignment in assignments {
            let targets: Vec<&ObjectName> = match &assignment.target {
                AssignmentTarget::ColumnName(name) => vec![name],
                AssignmentTarget::Tuple(names) => names.iter().collect(),
            };
            for target in targets {
                let Some(column) = target.0.last().and_then(ObjectNamePart::as_ident) else {
                    return Err("an assignment it cannot read".into());
                };
                if self.is_tenant_column(&column.value) {
                    return Err(format!(
                        "it writes the tenant column `{}`; a row never moves to another tenant",
                        column.value
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether `name` would reach a tenant column of a table in the
    /// statement: ASCII case is ignored, and a non-ASCII name is taken for
    /// one (MySQL also ignores accents).
    fn is_tenant_column(&self, name: &str) -> bool {
        !name.is_ascii()
            || self
                .tenants
                .iter()
                .any(|t| t.column.eq_ignore_ascii_case(name))
    }

    fn update(&mut self, update: &mut Update) -> Result<(), String> {
        if matches!(update.or, Some(SqliteOnConflict::Replace)) {
            return Err("UPDATE OR REPLACE can delete another tenant's row".into());
        }
        let mut preds = Vec::new();
        self.confine_item(&mut update.table, Some(&mut preds))?;
        if let Some(UpdateTableFromKind::BeforeSet(items) | UpdateTableFromKind::AfterSet(items)) =
            &mut update.from
        {
            for item in items {
                self.confine_item(item, Some(&mut preds))?;
            }
        }
        update.selection = and_all(update.selection.take(), preds);
        self.check_assignments(&update.assignments)
    }

    fn delete(&mut self, delete: &mut Delete) -> Result<(), String> {
        let mut preds = Vec::new();
        let (FromTable::WithFromKeyword(items) | FromTable::WithoutKeyword(items)) =
            &mut delete.from;
        for item in items {
            self.confine_item(item, Some(&mut preds))?;
        }
        if let Some(items) = &mut delete.using {
            for item in items {
                self.confine_item(item, Some(&mut preds))?;
            }
        }
        delete.selection = and_all(delete.selection.take(), preds);
        Ok(())
    }

    fn insert(&mut self, insert: &mut Insert) -> Result<(), String> {
        let TableObject::TableName(name) = &insert.table else {
            return Ok(());
        };
        let Some(table) = self.tenant_table(name)? else {
            return Ok(());
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
        let j = self.slot(&table);
        let value_sql = self.tenant_value_sql(&table, j);
        let value_sql = value_sql.replace("BINARY(", "(");
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
        // Named twice, each value is checked (the database refuses it anyway).
        let position = positions.first().copied();
        match insert.source.as_deref_mut() {
            None => {
                if !insert.columns.is_empty() {
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
            Some(_) if insert.columns.is_empty() => {
                return Err("an INSERT that does not name its columns".into());
            }
            Some(source) => {
                let tenant_expr = self.parse_expr(&value_sql)?;
                match source.body.as_mut() {
                    SetExpr::Values(values) => {
                        for row in &mut values.rows {
                            if position.is_none() {
                                row.content.push(tenant_expr.clone());
                            }
                            for &i in &positions {
                                match row.content.get(i) {
                                    Some(expr) => self.check_tenant_expr(expr, j)?,
                                    None => return Err("a row shorter than its columns".into()),
                                }
                            }
                        }
                    }
                    SetExpr::Select(select) => {
                        if position.is_none() {
                            select.projection.push(SelectItem::UnnamedExpr(tenant_expr));
                        }
                        for &i in &positions {
                            match select.projection.get(i) {
                                Some(
                                    SelectItem::UnnamedExpr(expr)
                                    | SelectItem::ExprWithAlias { expr, .. },
                                ) => self.check_tenant_expr(expr, j)?,
                                _ => {
                                    return Err("INSERT … SELECT whose tenant column is not a \
                                                value it can check"
                                        .into());
                                }
                            }
                        }
                    }
                    _ => return Err("an INSERT source it cannot confine".into()),
                }
                if position.is_none() {
                    insert
                        .columns
                        .push(ObjectName::from(self.ident(&table.column)));
                }
            }
        }
        match &mut insert.on {
            None => {}
            Some(OnInsert::OnConflict(conflict)) => {
                if let OnConflictAction::DoUpdate(update) = &mut conflict.action {
                    self.check_assignments(&update.assignments)?;
                    let pred = self.predicate(&reference, &table)?;
                    update.selection = Some(and(update.selection.take(), pred));
                }
            }
            Some(OnInsert::DuplicateKeyUpdate(assignments)) => {
                self.check_assignments(assignments)?;
                let own = format!(
                    "{} = {}",
                    self.quote(&table.column),
                    self.tenant_value_sql(&table, j)
                );
                for assignment in assignments.iter_mut() {
                    let AssignmentTarget::ColumnName(column) = &assignment.target else {
                        return Err("a tuple assignment in ON DUPLICATE KEY UPDATE".into());
                    };
                    let guarded = format!("IF({own}, {}, {column})", assignment.value);
                    assignment.value = self.parse_expr(&guarded)?;
                }
            }
            Some(_) => return Err("an INSERT conflict clause it cannot confine".into()),
        }
        self.confined += 1;
        Ok(())
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

impl VisitorMut for Confine<'_> {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        let Some(parts) = idents(relation) else {
            return self.fail("a table name it cannot read");
        };
        let Some(last) = parts.last() else {
            return self.fail("an empty table name");
        };
        let last_name = last.value.to_ascii_lowercase();
        if DENIED_RELATIONS.contains(&last_name.as_str()) {
            return self.fail(format!(
                "it reads `{}`, which shows other sessions' statements or other tenants' values",
                last.value
            ));
        }
        // A table function (`FROM set_config(..)`) is visited as a relation.
        if denied_function(&last.value) {
            return self.fail(format!(
                "it calls `{relation}`, which can change the tenant, the schema or the role, or \
                 run SQL or show data it does not show"
            ));
        }
        match parts.len() {
            1 => {}
            2 => {
                let qualifier = folded(parts[0]);
                if !self.allowed_qualifier(&qualifier) {
                    self.qualifiers.push(qualifier);
                }
            }
            _ => return self.fail(format!("`{relation}` names another database")),
        }
        match self.tenant_table(relation) {
            Ok(Some(_)) => self.seen += 1,
            Ok(None) => {}
            Err(e) => return self.fail(e),
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Function { name, .. } => self.function(name),
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Function(function) => return self.function(&function.name),
            Expr::Identifier(ident)
                if ident.quote_style.is_none() && ident.value.starts_with('@') =>
            {
                return self.fail("it uses a session variable, which outlives the statement");
            }
            Expr::CompoundIdentifier(parts)
                if parts
                    .first()
                    .is_some_and(|i| i.quote_style.is_none() && i.value.starts_with('@')) =>
            {
                return self.fail("it uses a session variable, which outlives the statement");
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        fn writes(body: &SetExpr) -> bool {
            match body {
                SetExpr::Insert(_)
                | SetExpr::Update(_)
                | SetExpr::Delete(_)
                | SetExpr::Merge(_) => true,
                SetExpr::SetOperation { left, right, .. } => writes(left) || writes(right),
                _ => false,
            }
        }
        fn table(body: &SetExpr) -> bool {
            match body {
                SetExpr::Table(_) => true,
                SetExpr::SetOperation { left, right, .. } => table(left) || table(right),
                _ => false,
            }
        }
        if writes(&query.body) {
            return self.fail("a statement that writes inside a query (a data-modifying CTE)");
        }
        if table(&query.body) {
            return self.fail("the `TABLE name` shorthand; write SELECT * FROM name");
        }
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        match self.select(select) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => self.fail(e),
        }
    }
}

impl Confine<'_> {
    /// Checks a function call by name: refused functions, and the schema
    /// it is qualified with.
    fn function(&mut self, name: &ObjectName) -> ControlFlow<()> {
        let Some(parts) = idents(name) else {
            return self.fail("a function name it cannot read");
        };
        if parts
            .last()
            .is_some_and(|last| denied_function(&last.value))
        {
            return self.fail(format!(
                "it calls `{name}`, which can change the tenant, the schema or the role, or \
                 run SQL or show data it does not show"
            ));
        }
        match parts.len() {
            0 | 1 => {}
            2 => {
                let qualifier = folded(parts[0]);
                if !self.allowed_qualifier(&qualifier) {
                    self.qualifiers.push(qualifier);
                }
            }
            _ => return self.fail(format!("`{name}` names another database")),
        }
        ControlFlow::Continue(())
    }

    /// Qualifiers every tenant may use.
    fn allowed_qualifier(&self, qualifier: &str) -> bool {
        match self.backend {
            DbBackend::Postgres => {
                matches!(qualifier, "public" | "pg_catalog" | "information_schema")
            }
            DbBackend::MySql => qualifier == "information_schema",
            _ => matches!(qualifier, "main" | "temp"),
        }
    }
}
