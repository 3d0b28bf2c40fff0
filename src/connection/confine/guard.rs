//! The tenant predicate first (rule 13): no condition of the statement's
//! own is evaluated on another tenant's row, so no error, error message or
//! row count depends on one.
//!
//! Engines reorder conditions: Postgres sorts a scan's conditions by cost
//! (and moves `tenant = $1` behind the others when it derives it from an
//! equivalence class), SQLite evaluates the conditions an index covers
//! first, MySQL pushes index conditions into the storage engine. So
//! placing the tenant predicate first is not enough. Each backend does keep
//! one order: the branches of a `CASE` are evaluated only when their `WHEN`
//! holds (only constant subexpressions are folded early, and those do not
//! read a row). So every condition that could fail or print a value is
//! written as `CASE WHEN <tenant predicates> THEN <condition> END`.
//!
//! A condition that cannot fail on any row (column references, literals,
//! placeholders, comparisons, `AND`/`OR`/`NOT`, `IS NULL`, `IN (…)`,
//! `BETWEEN`, and on SQLite arithmetic, which never raises) is left as it
//! is, so that `WHERE id = $1` still uses its index. Subqueries are
//! confined on their own, with the enclosing tables' predicates first.

use sea_orm::DbBackend;
use sqlparser::ast::{BinaryOperator, CaseWhen, Expr, FunctionArguments, InTarget, UnaryOperator};

use super::expr::is_aggregate;
use super::rewrite::{Confine, Visible, nest};

impl Confine<'_> {
    /// Whether `expr` cannot fail, nor print a value, on any row.
    pub(crate) fn inert(&self, expr: &Expr) -> bool {
        let sqlite = self.backend == DbBackend::Sqlite;
        match expr {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_) => true,
            Expr::Nested(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::IsTrue(e)
            | Expr::IsNotTrue(e)
            | Expr::IsFalse(e)
            | Expr::IsNotFalse(e)
            | Expr::IsUnknown(e)
            | Expr::IsNotUnknown(e) => self.inert(e),
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                self.inert(a) && self.inert(b)
            }
            Expr::In { expr, target, .. } => {
                self.inert(expr)
                    && match target {
                        InTarget::List(list) => list.iter().all(|e| self.inert(e)),
                        InTarget::Subquery(_) => true,
                        _ => false,
                    }
            }
            // Confined on their own, with this query's predicates first.
            Expr::Exists { .. } | Expr::Subquery(_) => true,
            Expr::Between {
                expr, low, high, ..
            } => self.inert(expr) && self.inert(low) && self.inert(high),
            Expr::Tuple(list) => list.iter().all(|e| self.inert(e)),
            Expr::UnaryOp { op, expr } => {
                (matches!(op, UnaryOperator::Not | UnaryOperator::Plus)
                    || sqlite && matches!(op, UnaryOperator::Minus | UnaryOperator::BitwiseNot))
                    && self.inert(expr)
            }
            Expr::BinaryOp { left, op, right } => {
                use BinaryOperator as B;
                let ok = matches!(
                    op,
                    B::And
                        | B::Or
                        | B::Eq
                        | B::NotEq
                        | B::Lt
                        | B::LtEq
                        | B::Gt
                        | B::GtEq
                        | B::Spaceship
                ) || sqlite
                    && matches!(
                        op,
                        B::Plus
                            | B::Minus
                            | B::Multiply
                            | B::Divide
                            | B::Modulo
                            | B::StringConcat
                            | B::BitwiseAnd
                            | B::BitwiseOr
                            | B::PGBitwiseShiftLeft
                            | B::PGBitwiseShiftRight
                    );
                ok && self.inert(left) && self.inert(right)
            }
            _ => false,
        }
    }

    /// `CASE WHEN <predicates of tables> THEN <expr> END`.
    fn guarded(&mut self, expr: Expr, tables: &[Visible]) -> Result<Expr, String> {
        let mut condition: Option<Expr> = None;
        for visible in tables {
            let pred = self.predicate(visible, true)?;
            condition = Some(match condition {
                None => pred,
                Some(c) => super::rewrite::and(c, pred),
            });
        }
        let Some(condition) = condition else {
            return Ok(expr);
        };
        Ok(Expr::Case {
            case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
            end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
            operand: None,
            conditions: vec![CaseWhen {
                condition,
                result: nest(expr),
            }],
            else_result: None,
        })
    }

    /// Guards each conjunct of a `WHERE` or `ON` that is not inert.
    pub(crate) fn guard_condition(
        &mut self,
        cond: &mut Expr,
        tables: &[Visible],
    ) -> Result<(), String> {
        if tables.is_empty() {
            return Ok(());
        }
        match cond {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                self.guard_condition(left, tables)?;
                self.guard_condition(right, tables)
            }
            Expr::Nested(inner)
                if matches!(
                    **inner,
                    Expr::BinaryOp {
                        op: BinaryOperator::And,
                        ..
                    }
                ) =>
            {
                self.guard_condition(inner, tables)
            }
            _ if self.inert(cond) => Ok(()),
            _ => {
                let own = std::mem::replace(cond, Expr::value(sqlparser::ast::Value::Null));
                *cond = self.guarded(own, tables)?;
                Ok(())
            }
        }
    }

    /// Guards a value computed per row (a select item, an `ORDER BY`
    /// key). In a grouped query only the arguments of aggregates are
    /// computed per row; the rest is computed per group of the tenant's
    /// rows.
    pub(crate) fn guard_value(
        &mut self,
        expr: &mut Expr,
        tables: &[Visible],
        grouped: bool,
    ) -> Result<(), String> {
        if tables.is_empty() || self.inert(expr) {
            return Ok(());
        }
        if !grouped {
            let own = std::mem::replace(expr, Expr::value(sqlparser::ast::Value::Null));
            *expr = self.guarded(own, tables)?;
            return Ok(());
        }
        self.guard_aggregate_arguments(expr, tables)
    }

    /// Guards the per-row arguments of every aggregate in `expr`.
    fn guard_aggregate_arguments(
        &mut self,
        expr: &mut Expr,
        tables: &[Visible],
    ) -> Result<(), String> {
        let mut result = Ok(());
        let _ = sqlparser::ast::visit_expressions_mut(expr, |e| {
            if let Expr::Function(f) = e
                && f.over.is_none()
                && is_aggregate(&f.name)
            {
                if let FunctionArguments::List(list) = &mut f.args {
                    for arg in &mut list.args {
                        let arg = match arg {
                            sqlparser::ast::FunctionArg::Unnamed(a)
                            | sqlparser::ast::FunctionArg::Named { arg: a, .. } => a,
                            _ => continue,
                        };
                        if let sqlparser::ast::FunctionArgExpr::Expr(a) = arg
                            && let Err(err) = self.guard_value(a, tables, false)
                        {
                            result = Err(err);
                            return std::ops::ControlFlow::Break(());
                        }
                    }
                }
                if let Some(filter) = &mut f.filter
                    && let Err(err) = self.guard_condition(filter, tables)
                {
                    result = Err(err);
                    return std::ops::ControlFlow::Break(());
                }
            }
            std::ops::ControlFlow::Continue(())
        });
        result
    }

    /// `HAVING`: a conjunct with an aggregate is computed per group (its
    /// aggregates' arguments are guarded); one without may be moved into
    /// `WHERE` by the planner, so it must be inert.
    pub(crate) fn guard_having(
        &mut self,
        having: &mut Expr,
        tables: &[Visible],
    ) -> Result<(), String> {
        if tables.is_empty() {
            return Ok(());
        }
        match having {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                self.guard_having(left, tables)?;
                self.guard_having(right, tables)
            }
            _ if self.has_aggregate(having) => self.guard_aggregate_arguments(having, tables),
            _ if self.inert(having) => Ok(()),
            _ => Err(format!(
                "a HAVING condition without an aggregate that can fail on a row (`{having}`); \
                 write it in WHERE"
            )),
        }
    }
}
