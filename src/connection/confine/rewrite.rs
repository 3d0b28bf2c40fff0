//! The statement rewrite: one SQL string in, the confined SQL (or the
//! reason it cannot be confined) out. Runs once per statement shape; the
//! result is cached by [`Confiner`](super::Confiner).
//!
//! The walk is an allow-list of shapes (rule 12): every part of the syntax
//! tree it does not know how to confine is refused, rather than passed
//! through. Queries are walked in [`query`](super::query), expressions in
//! [`expr`](super::expr), writes in [`write`](super::write).

use std::sync::Arc;

use sea_orm::DbBackend;
use sqlparser::ast::{Expr, Ident, ObjectName, ObjectNamePart, Statement};
use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::{Parser, ParserOptions};

use super::bounds;
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
    /// Whether it calls a function only the application declared pure
    /// (none of the allow-list's): a promise the crate cannot check, so a
    /// tenant-keeping connection sets its session again after it.
    pub(crate) declared_calls: bool,
}

impl Planned {
    /// What the plan cache charges for this plan, in bytes.
    pub(crate) fn weight(&self) -> usize {
        self.sql.len()
            + self.tenants.len() * 8
            + self.order.as_ref().map_or(0, |o| o.len() * 8)
            + self.qualifiers.iter().map(|q| q.len() + 24).sum::<usize>()
            + self
                .literals
                .iter()
                .map(|(l, _)| l.len() + 32)
                .sum::<usize>()
            + self.bound.len() * 16
            + 128
    }
}

pub(crate) fn dialect(backend: DbBackend) -> &'static dyn Dialect {
    static PG: PostgreSqlDialect = PostgreSqlDialect {};
    static MYSQL: MySqlDialect = MySqlDialect {};
    static SQLITE: SQLiteDialect = SQLiteDialect {};
    match backend {
        DbBackend::Postgres => &PG,
        DbBackend::MySql => &MYSQL,
        _ => &SQLITE,
    }
}

pub(crate) fn parser(backend: DbBackend) -> Parser<'static> {
    // Literals are kept exactly as written: re-rendering an unescaped
    // MySQL string would turn `'a\\'` into `'a\'`.
    Parser::new(dialect(backend))
        .with_options(ParserOptions::new().with_unescape(false))
        .with_recursion_limit(bounds::MAX_NESTING + 2)
}

/// Plans `sql`, or says why it cannot be confined. The statement is
/// bounded first ([`bounds`]), then parsed and walked on a stack segment
/// of its own, so that no statement can overflow the caller's stack.
pub(crate) fn plan(sql: &str, backend: DbBackend, catalog: &Catalog) -> Result<Planned, String> {
    bounds::check(sql, backend)?;
    stacker::grow(bounds::STACK, || plan_bounded(sql, backend, catalog))
}

fn plan_bounded(sql: &str, backend: DbBackend, catalog: &Catalog) -> Result<Planned, String> {
    let mut statements = parser(backend)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| format!("it cannot be parsed ({e})"))?;
    let mut statement = match statements.len() {
        1 => statements.remove(0),
        0 => return Err("it holds no statement".into()),
        n => return Err(format!("it holds {n} statements; send one at a time")),
    };
    let params = params::number(&mut statement, backend)?;
    let mut confine = Confine::new(catalog, backend, params);
    match &mut statement {
        Statement::Query(query) => confine.query(query)?,
        Statement::Insert(insert) => confine.insert(insert)?,
        Statement::Update(update) => confine.update(update)?,
        Statement::Delete(delete) => confine.delete(delete)?,
        Statement::Explain { .. } | Statement::ExplainTable { .. } => {
            return Err("EXPLAIN shows plans and row counts that depend on every \
                        tenant's rows; run it on the database, not a tenant connection"
                .into());
        }
        _ => {
            return Err(
                "only SELECT, INSERT, UPDATE and DELETE run on a tenant connection (no DDL, \
                 SET, SHOW, USE, ATTACH, PRAGMA, transaction control, DO or CALL)"
                    .into(),
            );
        }
    }
    if confine.wrapped_any && confine.rowid {
        // A table replaced by a derived table of its rows has no rowid.
        return Err(
            "it names `rowid` where a table had to be replaced by a derived table of \
                    its tenant's rows (under a RIGHT or FULL join, USING or NATURAL), which \
                    has none"
                .into(),
        );
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
        declared_calls: confine.declared_calls,
    })
}

/// A tenant table a condition may refer to, for the guards (rule 13): its
/// reference (alias or name) and its tenant value's slot.
#[derive(Clone, Debug)]
pub(crate) struct Visible {
    /// How the statement refers to it.
    pub(crate) reference: String,
    /// Its tenant table.
    pub(crate) table: Arc<TenantTable>,
    /// Whether its columns may be NULL-extended (an outer join): the guard
    /// then also lets NULL through.
    pub(crate) nullable: bool,
}

/// The walk's state: what it found so far and where it is.
pub(crate) struct Confine<'a> {
    pub(crate) catalog: &'a Catalog,
    pub(crate) backend: DbBackend,
    /// How many values the statement was written with.
    pub(crate) params: usize,
    pub(crate) tenants: Vec<Arc<TenantTable>>,
    pub(crate) qualifiers: Vec<String>,
    pub(crate) bound: Vec<(usize, usize)>,
    pub(crate) literals: Vec<(String, usize)>,
    /// Names of the common table expressions in scope, innermost last.
    pub(crate) ctes: Vec<String>,
    /// The tenant tables of the enclosing queries (for correlated
    /// subqueries), innermost last.
    pub(crate) outer: Vec<Visible>,
    /// Set by a scalar subquery for the query it starts.
    pub(crate) scalar_next: bool,
    /// Whether the query being walked is a scalar subquery: its `SELECT`s
    /// get the enclosing tables' predicates too.
    pub(crate) scalar: bool,
    /// Whether a table was replaced by a derived table of its rows.
    pub(crate) wrapped_any: bool,
    /// The qualified names (schema and table, as the backend compares
    /// them) of tables replaced by a derived table known by the last name
    /// only: a column named through one (`main.post.id`) is renamed to go
    /// through the derived table (`post.id`).
    pub(crate) wrapped_qualified: Vec<(String, String)>,
    /// Whether the statement names SQLite's `rowid` (or `oid`, `_rowid_`).
    pub(crate) rowid: bool,
    /// Whether it calls a function that only the application declared.
    pub(crate) declared_calls: bool,
}

/// The name Postgres, MySQL or SQLite resolves an identifier to, for
/// comparing with names we know (unquoted names fold to lower case).
pub(crate) fn folded(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

/// The parts of `name`, never empty (callers take the last).
pub(crate) fn idents(name: &ObjectName) -> Result<Vec<&Ident>, String> {
    name.0
        .iter()
        .map(ObjectNamePart::as_ident)
        .collect::<Option<Vec<_>>>()
        .filter(|parts| !parts.is_empty())
        .ok_or_else(|| format!("a name it cannot read: `{name}`"))
}

/// `left AND right`, left first.
pub(crate) fn and(left: Expr, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op: sqlparser::ast::BinaryOperator::And,
        right: Box::new(right),
    }
}

/// The conjunction of `first` (evaluated first) and `rest`.
pub(crate) fn and_all(first: Vec<Expr>, rest: Option<Expr>) -> Option<Expr> {
    let mut all = first.into_iter().chain(rest.map(nest));
    let head = all.next()?;
    Some(all.fold(head, and))
}

/// `expr` in parentheses, unless it is one already or atomic.
pub(crate) fn nest(expr: Expr) -> Expr {
    match expr {
        Expr::Nested(_) | Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_) => {
            expr
        }
        other => Expr::Nested(Box::new(other)),
    }
}

impl<'a> Confine<'a> {
    pub(crate) fn new(catalog: &'a Catalog, backend: DbBackend, params: usize) -> Self {
        Confine {
            catalog,
            backend,
            params,
            tenants: Vec::new(),
            qualifiers: Vec::new(),
            bound: Vec::new(),
            literals: Vec::new(),
            ctes: Vec::new(),
            outer: Vec::new(),
            scalar_next: false,
            scalar: false,
            wrapped_any: false,
            wrapped_qualified: Vec::new(),
            rowid: false,
            declared_calls: false,
        }
    }

    /// The index of `table`'s tenant value.
    pub(crate) fn slot(&mut self, table: &Arc<TenantTable>) -> usize {
        match self.tenants.iter().position(|t| Arc::ptr_eq(t, table)) {
            Some(j) => j,
            None => {
                self.tenants.push(table.clone());
                self.tenants.len() - 1
            }
        }
    }

    /// The tenant value's placeholder, compared exactly on MySQL.
    pub(crate) fn tenant_value_sql(&mut self, table: &Arc<TenantTable>) -> String {
        let j = self.slot(table);
        let n = self.params + j + 1;
        match self.backend {
            DbBackend::Postgres => format!("${n}"),
            DbBackend::MySql if table.text => format!("BINARY(?{n})"),
            _ => format!("?{n}"),
        }
    }

    /// `name` as a quoted identifier of the backend.
    pub(crate) fn ident(&self, name: &str) -> Ident {
        let q = if self.backend == DbBackend::MySql {
            '`'
        } else {
            '"'
        };
        Ident::with_quote(q, name)
    }

    pub(crate) fn quote(&self, name: &str) -> String {
        self.ident(name).to_string()
    }

    pub(crate) fn parse_expr(&self, sql: &str) -> Result<Expr, String> {
        parser(self.backend)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_expr())
            .map_err(|e| format!("internal: cannot build `{sql}` ({e})"))
    }

    /// `<reference>.<tenant column> = <tenant>` (with `OR … IS NULL` for a
    /// NULL-extended table, in a guard).
    pub(crate) fn predicate(&mut self, visible: &Visible, or_null: bool) -> Result<Expr, String> {
        let column = format!(
            "{}.{}",
            visible.reference,
            self.quote(&visible.table.column)
        );
        let value = self.tenant_value_sql(&visible.table);
        let sql = if or_null && visible.nullable {
            format!("({column} = {value} OR {column} IS NULL)")
        } else {
            format!("{column} = {value}")
        };
        self.parse_expr(&sql)
    }

    /// The declared table `name` (its schema qualifier checked): `Some`
    /// tenant table, `None` for a global one; anything else is refused
    /// with its reason.
    pub(crate) fn declared(
        &mut self,
        name: &ObjectName,
    ) -> Result<Option<Arc<TenantTable>>, String> {
        let parts = idents(name)?;
        match parts.len() {
            1 => {}
            2 => {
                let qualifier = parts[0].clone();
                self.qualifier(&qualifier)?;
            }
            _ => return Err(format!("`{name}` names another database")),
        }
        let last = parts[parts.len() - 1];
        let value = &last.value;
        match self
            .catalog
            .lookup(value, last.quote_style.is_some(), self.backend)
        {
            Lookup::Tenant(table) => Ok(Some(table.clone())),
            Lookup::Global => Ok(None),
            Lookup::Own => Err(format!(
                "`{value}` is the crate's own table, never reachable through a tenant connection"
            )),
            Lookup::Ambiguous => Err(format!(
                "table `{value}` is declared twice with different tenant columns"
            )),
            Lookup::Undeclared => Err(format!(
                "table `{value}` is not declared: a tenant connection lets through only declared \
                 tables. Declare it global with `Tenancy::global_table::<Entity>()`, \
                 `global_table_named(\"{value}\")` or `global_entity!(Entity)`, or a tenant \
                 table with `tenant_entity!(Entity => Column::TenantId)`"
            )),
        }
    }

    /// Remembers a schema qualifier that only the tenant's own schema may
    /// pass, unless every tenant may use it.
    /// `name` as the backend compares table names: SQLite ignores case
    /// even when quoted.
    pub(crate) fn table_key(&self, name: &Ident) -> String {
        match self.backend {
            DbBackend::Sqlite => name.value.to_ascii_lowercase(),
            DbBackend::MySql => name.value.clone(),
            _ => folded(name),
        }
    }

    /// Whether `schema.table` names a table replaced by a derived table
    /// known as `table` (see `wrapped_qualified`).
    pub(crate) fn is_wrapped_qualified(&self, schema: &Ident, table: &Ident) -> bool {
        let key = (self.table_key(schema), self.table_key(table));
        self.wrapped_qualified.contains(&key)
    }

    pub(crate) fn qualifier(&mut self, qualifier: &Ident) -> Result<(), String> {
        let folded = folded(qualifier);
        let shared = match self.backend {
            DbBackend::Postgres => folded == "public",
            DbBackend::MySql => false,
            _ => folded.eq_ignore_ascii_case("main"),
        };
        if !shared {
            if self.backend != DbBackend::Postgres {
                return Err(format!(
                    "it names schema or database `{}`, which is not this tenant's",
                    qualifier.value
                ));
            }
            self.qualifiers.push(folded);
        }
        Ok(())
    }
}
