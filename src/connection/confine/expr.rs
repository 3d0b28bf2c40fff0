//! Expressions: an allow-list of shapes, functions and types (rule 12).
//!
//! An expression passes if every node is one the walk knows to compute on
//! its operands alone: column references, literals, placeholders, the
//! usual operators, `CASE`, `CAST` to a plain type, and calls of functions
//! on the backend's [allow-list](crate::allowed_functions) or declared by
//! the application. Subqueries are confined like any query. Anything else
//! (a user-defined operator, a cast to `regclass`, a session variable, a
//! function it does not know) is refused with its name.

use sea_orm::DbBackend;
use sqlparser::ast::{
    BinaryOperator, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, InTarget, NamedWindowDefinition, NamedWindowExpr, ObjectName, UnaryOperator,
    Value, WindowSpec, WindowType,
};

use std::ops::ControlFlow;

use sqlparser::ast::{Visit, Visitor};

use super::rewrite::{Confine, folded, idents, parser};
use crate::allowlist;

/// Words that read like a column but call a function of the session on
/// Postgres and MySQL.
const SESSION_WORDS: &[&str] = &[
    "current_catalog",
    "current_role",
    "current_schema",
    "current_user",
    "session_user",
    "system_user",
    "user",
];

/// Aggregates of every backend's allow-list: their arguments are evaluated
/// per row, the rest of a grouped expression per group.
pub(crate) const AGGREGATES: &[&str] = &[
    "any_value",
    "array_agg",
    "avg",
    "bit_and",
    "bit_or",
    "bit_xor",
    "bool_and",
    "bool_or",
    "count",
    "every",
    "group_concat",
    "json_agg",
    "json_arrayagg",
    "json_group_array",
    "json_group_object",
    "json_object_agg",
    "json_objectagg",
    "jsonb_agg",
    "jsonb_object_agg",
    "max",
    "min",
    "std",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "string_agg",
    "sum",
    "total",
    "var_pop",
    "var_samp",
    "variance",
];

/// The sequence function whose argument names a sequence (Postgres): it is
/// checked like a table name.
const SEQUENCE_FUNCTION: &str = "nextval";

impl Confine<'_> {
    /// Checks `expr` against the allow-list and confines the queries in it.
    pub(crate) fn expr(&mut self, expr: &mut Expr) -> Result<(), String> {
        match expr {
            Expr::Identifier(ident) => {
                self.note_rowid(ident);
                if ident.quote_style.is_none() {
                    if ident.value.starts_with('@') {
                        return Err(
                            "it uses a session variable, which outlives the statement".into()
                        );
                    }
                    let word = ident.value.to_ascii_lowercase();
                    let session = match self.backend {
                        DbBackend::Postgres => SESSION_WORDS.contains(&word.as_str()),
                        // `user` is an ordinary column name on MySQL.
                        DbBackend::MySql => word == "current_user",
                        _ => false,
                    };
                    if session {
                        return Err(format!("`{}` reads the session", ident.value));
                    }
                }
                Ok(())
            }
            Expr::CompoundIdentifier(parts) => {
                if let Some(last) = parts.last() {
                    self.note_rowid(last);
                }
                if parts
                    .first()
                    .is_some_and(|i| i.quote_style.is_none() && i.value.starts_with('@'))
                {
                    return Err("it uses a session variable, which outlives the statement".into());
                }
                match parts.len() {
                    0..=2 => Ok(()),
                    3 => {
                        let qualifier = parts[0].clone();
                        self.qualifier(&qualifier)?;
                        // Its table is now a derived table known by its
                        // last name: the column is named through that.
                        if self.is_wrapped_qualified(&parts[0], &parts[1]) {
                            parts.remove(0);
                        }
                        Ok(())
                    }
                    _ => Err(format!(
                        "`{}` names another database",
                        parts
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(".")
                    )),
                }
            }
            Expr::Value(_) => Ok(()),
            Expr::Nested(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::IsTrue(e)
            | Expr::IsNotTrue(e)
            | Expr::IsFalse(e)
            | Expr::IsNotFalse(e)
            | Expr::IsUnknown(e)
            | Expr::IsNotUnknown(e) => self.expr(e),
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                self.expr(a)?;
                self.expr(b)
            }
            Expr::In {
                expr,
                target,
                global: false,
                ..
            } => {
                self.expr(expr)?;
                match target {
                    InTarget::List(list) => list.iter_mut().try_for_each(|e| self.expr(e)),
                    InTarget::Subquery(query) => self.query(query),
                    InTarget::Unnest(e) => self.expr(e),
                    _ => Err("an IN it does not know".into()),
                }
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                self.expr(expr)?;
                self.expr(low)?;
                self.expr(high)
            }
            Expr::BinaryOp { left, op, right } => {
                self.operator(op)?;
                self.expr(left)?;
                self.expr(right)
            }
            Expr::Like {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::SimilarTo {
                expr,
                pattern,
                escape_char,
                ..
            } => {
                self.expr(expr)?;
                self.expr(pattern)?;
                if let Some(escape) = escape_char {
                    self.expr(escape)?;
                }
                Ok(())
            }
            Expr::RLike { expr, pattern, .. } => {
                self.expr(expr)?;
                self.expr(pattern)
            }
            Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | Expr::AllOp {
                left,
                compare_op,
                right,
            } => {
                self.operator(compare_op)?;
                self.expr(left)?;
                self.expr(right)
            }
            Expr::UnaryOp { op, expr } => match op {
                UnaryOperator::Not
                | UnaryOperator::Plus
                | UnaryOperator::Minus
                | UnaryOperator::BitwiseNot
                | UnaryOperator::PGAbs
                | UnaryOperator::PGSquareRoot
                | UnaryOperator::PGCubeRoot => self.expr(expr),
                _ => Err(format!("the operator `{op}`")),
            },
            Expr::Cast {
                expr,
                data_type,
                format: None,
                ..
            } => {
                self.data_type(data_type)?;
                self.expr(expr)
            }
            Expr::Convert {
                is_try: false,
                expr,
                data_type,
                charset,
                styles,
                ..
            } if styles.is_empty() => {
                if let Some(data_type) = data_type {
                    self.data_type(data_type)?;
                }
                if let Some(charset) = charset {
                    idents(charset)?;
                }
                self.expr(expr)
            }
            Expr::AtTimeZone {
                timestamp,
                time_zone,
            } => {
                self.expr(timestamp)?;
                self.expr(time_zone)
            }
            Expr::Extract { expr, .. } | Expr::Ceil { expr, .. } | Expr::Floor { expr, .. } => {
                self.expr(expr)
            }
            Expr::Position { expr, r#in } => {
                self.expr(expr)?;
                self.expr(r#in)
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                self.expr(expr)?;
                if let Some(from) = substring_from {
                    self.expr(from)?;
                }
                if let Some(len) = substring_for {
                    self.expr(len)?;
                }
                Ok(())
            }
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                self.expr(expr)?;
                if let Some(what) = trim_what {
                    self.expr(what)?;
                }
                for c in trim_characters.iter_mut().flatten() {
                    self.expr(c)?;
                }
                Ok(())
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                self.expr(expr)?;
                self.expr(overlay_what)?;
                self.expr(overlay_from)?;
                if let Some(len) = overlay_for {
                    self.expr(len)?;
                }
                Ok(())
            }
            Expr::Collate { expr, collation } => {
                idents(collation)?;
                self.expr(expr)
            }
            Expr::Prefixed { value, .. } => self.expr(value),
            Expr::TypedString(typed) => self.data_type(&typed.data_type),
            Expr::Function(function) => {
                if let FunctionArguments::Subquery(_) = &function.args {
                    return Err(format!("`{}` called on a subquery", function.name));
                }
                if !matches!(function.parameters, FunctionArguments::None)
                    || function.uses_odbc_syntax
                {
                    return Err(format!("a call of `{}` it does not know", function.name));
                }
                if self.sequence_call(function)? {
                    return Ok(());
                }
                self.function_name(&function.name)?;
                if let FunctionArguments::List(list) = &mut function.args {
                    for arg in &mut list.args {
                        self.function_arg(arg)?;
                    }
                    for clause in &mut list.clauses {
                        match clause {
                            FunctionArgumentClause::OrderBy(order) => {
                                for o in order {
                                    self.expr(&mut o.expr)?;
                                }
                            }
                            FunctionArgumentClause::IgnoreOrRespectNulls(_) => {}
                            FunctionArgumentClause::Separator(_) => {}
                            _ => {
                                return Err(format!(
                                    "a clause of `{}` it does not know",
                                    function.name
                                ));
                            }
                        }
                    }
                }
                for o in &mut function.within_group {
                    self.expr(&mut o.expr)?;
                }
                if let Some(filter) = &mut function.filter {
                    self.expr(filter)?;
                }
                match &mut function.over {
                    None | Some(WindowType::NamedWindow(_)) => Ok(()),
                    Some(WindowType::WindowSpec(spec)) => self.window_spec(spec),
                }
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                if let Some(operand) = operand {
                    self.expr(operand)?;
                }
                for when in conditions {
                    self.expr(&mut when.condition)?;
                    self.expr(&mut when.result)?;
                }
                if let Some(e) = else_result {
                    self.expr(e)?;
                }
                Ok(())
            }
            Expr::Exists { subquery, .. } => self.query(subquery),
            Expr::Subquery(subquery) => {
                self.scalar_next = true;
                self.query(subquery)
            }
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                sets.iter_mut().flatten().try_for_each(|e| self.expr(e))
            }
            Expr::Tuple(list) => list.iter_mut().try_for_each(|e| self.expr(e)),
            Expr::Array(array) => array.elem.iter_mut().try_for_each(|e| self.expr(e)),
            Expr::Interval(interval) => self.expr(&mut interval.value),
            Expr::CompoundFieldAccess { root, access_chain } => {
                self.expr(root)?;
                for access in access_chain {
                    match access {
                        sqlparser::ast::AccessExpr::Dot(e) => self.expr(e)?,
                        sqlparser::ast::AccessExpr::Subscript(sub) => match sub {
                            sqlparser::ast::Subscript::Index { index } => self.expr(index)?,
                            sqlparser::ast::Subscript::Slice {
                                lower_bound,
                                upper_bound,
                                stride,
                            } => {
                                for e in [lower_bound, upper_bound, stride].into_iter().flatten() {
                                    self.expr(e)?;
                                }
                            }
                        },
                    }
                }
                Ok(())
            }
            Expr::MatchAgainst { .. } => Err(
                "full-text MATCH … AGAINST: its relevance is computed over every tenant's rows"
                    .into(),
            ),
            other => Err(format!(
                "the expression `{other}` is not one it lets through"
            )),
        }
    }

    /// Notes a reference to SQLite's rowid, under any of its names.
    fn note_rowid(&mut self, ident: &sqlparser::ast::Ident) {
        if self.backend == DbBackend::Sqlite
            && ["rowid", "_rowid_", "oid"]
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&ident.value))
        {
            self.rowid = true;
        }
    }

    fn window_spec(&mut self, spec: &mut WindowSpec) -> Result<(), String> {
        for e in &mut spec.partition_by {
            self.expr(e)?;
        }
        for o in &mut spec.order_by {
            self.expr(&mut o.expr)?;
        }
        if let Some(frame) = &mut spec.window_frame {
            for bound in [Some(&mut frame.start_bound), frame.end_bound.as_mut()]
                .into_iter()
                .flatten()
            {
                match bound {
                    sqlparser::ast::WindowFrameBound::Preceding(Some(e))
                    | sqlparser::ast::WindowFrameBound::Following(Some(e)) => self.expr(e)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    pub(crate) fn named_window(
        &mut self,
        window: &mut NamedWindowDefinition,
    ) -> Result<(), String> {
        match &mut window.1 {
            NamedWindowExpr::NamedWindow(_) => Ok(()),
            NamedWindowExpr::WindowSpec(spec) => self.window_spec(spec),
        }
    }

    pub(crate) fn function_arg(&mut self, arg: &mut FunctionArg) -> Result<(), String> {
        let arg = match arg {
            FunctionArg::Unnamed(arg) => arg,
            FunctionArg::Named { arg, .. } => arg,
            FunctionArg::ExprNamed { .. } => return Err("a named argument it does not know".into()),
        };
        match arg {
            FunctionArgExpr::Expr(e) => self.expr(e),
            FunctionArgExpr::Wildcard => Ok(()),
            _ => Err("a qualified wildcard as an argument".into()),
        }
    }

    /// Checks a function name: on the backend's allow-list (also as
    /// `pg_catalog.name` on Postgres), or declared by the application.
    pub(crate) fn function_name(&mut self, name: &ObjectName) -> Result<(), String> {
        let parts = idents(name)?;
        let last = parts[parts.len() - 1];
        // Postgres keeps a quoted name as written: `"LOWER"` is not `lower`.
        let key = match self.backend {
            DbBackend::Postgres => folded(last),
            _ => last.value.to_ascii_lowercase(),
        };
        let builtin = allowlist::is_allowed(self.backend, &key);
        let declared = self.catalog.declared_function(&key);
        let qualified_ok = match parts.len() {
            1 => true,
            2 => {
                let schema = folded(parts[0]);
                self.backend == DbBackend::Postgres
                    && (schema == "pg_catalog" && builtin || schema == "public" && declared)
            }
            _ => false,
        };
        if (builtin || declared) && qualified_ok {
            self.declared_calls |= !builtin;
            return Ok(());
        }
        Err(format!(
            "it calls `{name}`, which is not on the {} allow-list of functions known to compute \
             on their arguments alone (see `sea_orm_tenant::allowed_functions`); if it reads no \
             table and keeps no state, declare it with `Tenancy::pure_function(\"{}\")`",
            match self.backend {
                DbBackend::Postgres => "Postgres",
                DbBackend::MySql => "MySQL",
                _ => "SQLite",
            },
            last.value
        ))
    }

    /// `nextval('name')` on Postgres: allowed when the literal names a
    /// sequence the tenant may name (no schema, or its own). Returns
    /// whether `function` was such a call.
    fn sequence_call(&mut self, function: &sqlparser::ast::Function) -> Result<bool, String> {
        let Ok(parts) = idents(&function.name) else {
            return Ok(false);
        };
        let last = parts[parts.len() - 1];
        if self.backend != DbBackend::Postgres
            || parts.len() != 1
            || folded(last) != SEQUENCE_FUNCTION
        {
            return Ok(false);
        }
        let FunctionArguments::List(list) = &function.args else {
            return Err("nextval without its sequence".into());
        };
        let [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(value)))] =
            list.args.as_slice()
        else {
            return Err("nextval takes one literal sequence name on a tenant connection".into());
        };
        let Value::SingleQuotedString(text) = &value.value else {
            return Err("nextval takes one literal sequence name on a tenant connection".into());
        };
        let name = parser(self.backend)
            .try_with_sql(text)
            .and_then(|mut p| p.parse_object_name(false))
            .map_err(|_| format!("nextval of `{text}`, which is not a sequence name"))?;
        let parts = idents(&name)?;
        match parts.len() {
            1 => Ok(true),
            2 => {
                let qualifier = parts[0].clone();
                self.qualifier(&qualifier)?;
                Ok(true)
            }
            _ => Err(format!("nextval of `{text}`, in another database")),
        }
    }

    fn operator(&self, op: &BinaryOperator) -> Result<(), String> {
        use BinaryOperator as B;
        let common = matches!(
            op,
            B::Plus
                | B::Minus
                | B::Multiply
                | B::Divide
                | B::Modulo
                | B::StringConcat
                | B::Gt
                | B::Lt
                | B::GtEq
                | B::LtEq
                | B::Eq
                | B::NotEq
                | B::And
                | B::Or
                | B::BitwiseOr
                | B::BitwiseAnd
        );
        let dialect = match self.backend {
            DbBackend::Postgres => matches!(
                op,
                B::PGBitwiseXor
                    | B::PGBitwiseShiftLeft
                    | B::PGBitwiseShiftRight
                    | B::PGExp
                    | B::PGRegexMatch
                    | B::PGRegexIMatch
                    | B::PGRegexNotMatch
                    | B::PGRegexNotIMatch
                    | B::PGLikeMatch
                    | B::PGILikeMatch
                    | B::PGNotLikeMatch
                    | B::PGNotILikeMatch
                    | B::PGStartsWith
                    | B::Arrow
                    | B::LongArrow
                    | B::HashArrow
                    | B::HashLongArrow
                    | B::AtArrow
                    | B::ArrowAt
                    | B::Question
                    | B::QuestionAnd
                    | B::QuestionPipe
                    | B::HashMinus
            ),
            DbBackend::MySql => matches!(
                op,
                B::Spaceship
                    | B::Xor
                    | B::BitwiseXor
                    | B::MyIntegerDivide
                    | B::Regexp
                    | B::PGBitwiseShiftLeft
                    | B::PGBitwiseShiftRight
                    | B::Arrow
                    | B::LongArrow
            ),
            _ => matches!(
                op,
                B::Glob
                    | B::Regexp
                    | B::PGBitwiseShiftLeft
                    | B::PGBitwiseShiftRight
                    | B::Arrow
                    | B::LongArrow
            ),
        };
        if common || dialect {
            Ok(())
        } else {
            Err(format!(
                "the operator `{op}`, which is not on the allow-list (a user-defined operator \
                 runs a function)"
            ))
        }
    }

    /// Types a value may be cast to: plain scalars, never one that looks
    /// up catalog objects (`regclass`, `regproc`) or parses a document.
    fn data_type(&self, data_type: &DataType) -> Result<(), String> {
        use DataType as D;
        let ok = match data_type {
            D::Character(_)
            | D::Char(_)
            | D::CharacterVarying(_)
            | D::CharVarying(_)
            | D::Varchar(_)
            | D::Nvarchar(_)
            | D::Text
            | D::TinyText
            | D::MediumText
            | D::LongText
            | D::Uuid
            | D::Binary(_)
            | D::Varbinary(_)
            | D::Blob(_)
            | D::Bytea
            | D::Numeric(_)
            | D::Decimal(_)
            | D::Dec(_)
            | D::Float(_)
            | D::TinyInt(_)
            | D::SmallInt(_)
            | D::MediumInt(_)
            | D::Int(_)
            | D::Int2(_)
            | D::Int4(_)
            | D::Int8(_)
            | D::Integer(_)
            | D::BigInt(_)
            | D::TinyIntUnsigned(_)
            | D::SmallIntUnsigned(_)
            | D::MediumIntUnsigned(_)
            | D::IntUnsigned(_)
            | D::IntegerUnsigned(_)
            | D::BigIntUnsigned(_)
            | D::Signed
            | D::SignedInteger
            | D::Unsigned
            | D::UnsignedInteger
            | D::Float4
            | D::Float8
            | D::Real
            | D::Double(_)
            | D::DoublePrecision
            | D::Bool
            | D::Boolean
            | D::Date
            | D::Time(..)
            | D::Datetime(_)
            | D::Timestamp(..)
            | D::Interval { .. }
            | D::JSON
            | D::JSONB => true,
            D::Array(sqlparser::ast::ArrayElemTypeDef::SquareBracket(inner, _))
            | D::Array(sqlparser::ast::ArrayElemTypeDef::AngleBracket(inner)) => {
                return self.data_type(inner);
            }
            D::Custom(name, modifiers) if modifiers.is_empty() => {
                let key = idents(name)?
                    .iter()
                    .map(|i| folded(i))
                    .collect::<Vec<_>>()
                    .join(".");
                matches!(
                    key.as_str(),
                    "int4"
                        | "int8"
                        | "int2"
                        | "float4"
                        | "float8"
                        | "timestamptz"
                        | "timetz"
                        | "varchar"
                        | "bpchar"
                        | "citext"
                        | "serial"
                        | "bigserial"
                ) || self.catalog.declared_type(&key.to_ascii_lowercase())
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "a cast to `{data_type}`, which is not a plain scalar type it lets through; a type \
                 of your own whose input reads no table (an enum) is declared with \
                 `Tenancy::pure_type`"
            ))
        }
    }

    /// Whether `expr` calls an aggregate outside any subquery.
    pub(crate) fn has_aggregate(&self, expr: &Expr) -> bool {
        struct Find {
            depth: usize,
            found: bool,
        }
        impl Visitor for Find {
            type Break = ();
            fn pre_visit_query(&mut self, _: &sqlparser::ast::Query) -> ControlFlow<()> {
                self.depth += 1;
                ControlFlow::Continue(())
            }
            fn post_visit_query(&mut self, _: &sqlparser::ast::Query) -> ControlFlow<()> {
                self.depth -= 1;
                ControlFlow::Continue(())
            }
            fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
                if let Expr::Function(f) = e
                    && self.depth == 0
                    && f.over.is_none()
                    && is_aggregate(&f.name)
                {
                    self.found = true;
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            }
        }
        let mut find = Find {
            depth: 0,
            found: false,
        };
        let _ = expr.visit(&mut find);
        find.found
    }
}

/// Whether `name` is an aggregate of some backend.
pub(crate) fn is_aggregate(name: &ObjectName) -> bool {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .is_some_and(|i| AGGREGATES.contains(&i.value.to_ascii_lowercase().as_str()))
}
