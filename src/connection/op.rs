//! [`Op`], one statement as SeaORM's `ConnectionTrait` hands it to a
//! tenant connection or transaction, and [`Out`], what it returned.

use std::sync::Arc;

use sea_orm::sqlx;
use sea_orm::{DbErr, ExecResult, QueryResult, RuntimeErr, Statement};

use super::observe::{Call, DbSpan};

/// One statement, as SeaORM's `ConnectionTrait` hands it over.
pub(crate) enum Op<'a> {
    Execute(&'a Statement),
    Unprepared(&'a str),
    One(&'a Statement),
    All(&'a Statement),
}

/// What the statement returned.
pub(crate) enum Out {
    Exec(ExecResult),
    One(Option<QueryResult>),
    All(Vec<QueryResult>),
}

impl Op<'_> {
    /// Whether the statement may run in a `READ ONLY` transaction that is
    /// rolled back afterwards: a query (not an `execute`) whose first word
    /// is `SELECT`. Anything else is treated as a write. A `SELECT` that
    /// writes after all (a volatile function) is refused by Postgres in a
    /// read-only transaction (SQLSTATE 25006) and is re-run as a write, so
    /// the guess can cost a round trip but never loses a write.
    pub(crate) fn is_read(&self) -> bool {
        match self {
            Op::One(stmt) | Op::All(stmt) => starts_with_select(&stmt.sql),
            Op::Execute(_) | Op::Unprepared(_) => false,
        }
    }

    fn is_query(&self) -> bool {
        matches!(self, Op::One(_) | Op::All(_))
    }

    /// The SeaORM call this statement came from, for its span.
    pub(crate) fn call(&self) -> Call {
        match self {
            Op::Execute(_) => Call::Execute,
            Op::Unprepared(_) => Call::ExecuteUnprepared,
            Op::One(_) => Call::QueryOne,
            Op::All(_) => Call::QueryAll,
        }
    }

    pub(crate) fn sql(&self) -> &str {
        match self {
            Op::Execute(stmt) | Op::One(stmt) | Op::All(stmt) => &stmt.sql,
            Op::Unprepared(sql) => sql,
        }
    }

    /// The statement, for the metric callback (none for
    /// `execute_unprepared`, as in SeaORM).
    pub(crate) fn statement(&self) -> Option<&Statement> {
        match self {
            Op::Execute(stmt) | Op::One(stmt) | Op::All(stmt) => Some(stmt),
            Op::Unprepared(_) => None,
        }
    }

    /// SeaORM's span of this statement (feature `tracing-spans`).
    pub(crate) fn span(&self) -> DbSpan {
        DbSpan::new(self.call(), self.sql())
    }

    pub(crate) fn convert(&self, err: sqlx::Error) -> DbErr {
        let err = RuntimeErr::SqlxError(Arc::new(err));
        if self.is_query() {
            DbErr::Query(err)
        } else {
            DbErr::Exec(err)
        }
    }
}

fn starts_with_select(sql: &str) -> bool {
    let sql = sql.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
    sql.get(..6)
        .is_some_and(|word| word.eq_ignore_ascii_case("select"))
        && sql
            .as_bytes()
            .get(6)
            .is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
}
