//! Placeholders: numbering a statement's own values so that the tenant's
//! can be added anywhere, and, for MySQL (which has only `?`), turning the
//! numbers back into positions.

use std::ops::ControlFlow;

use sea_orm::DbBackend;
use sqlparser::ast::{Statement, Value, ValueWithSpan, Visit, VisitMut, Visitor, VisitorMut};
use sqlparser::tokenizer::Location;

/// Numbers the placeholders of `statement` and returns how many values it
/// takes. Postgres keeps its `$n`; on SQLite and MySQL each `?` becomes
/// `?n`, numbered in the order it was written (from its position in the
/// source, not the order of the syntax tree).
pub(crate) fn number(statement: &mut Statement, backend: DbBackend) -> Result<usize, String> {
    let mut found = Found {
        backend,
        max: 0,
        at: Vec::new(),
        bad: None,
    };
    let _ = Visit::visit(&*statement, &mut found);
    if let Some(bad) = found.bad {
        return Err(bad);
    }
    if backend == DbBackend::Postgres {
        return Ok(found.max);
    }
    let mut at = found.at;
    at.sort();
    if at.windows(2).any(|w| w[0] == w[1]) || at.iter().any(|l| l.0 == 0) {
        return Err("placeholders it cannot place".into());
    }
    let _ = VisitMut::visit(statement, &mut Renumber { at: &at });
    Ok(at.len())
}

struct Found {
    backend: DbBackend,
    max: usize,
    at: Vec<(u64, u64)>,
    bad: Option<String>,
}

impl Visitor for Found {
    type Break = ();

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<()> {
        let Value::Placeholder(p) = &value.value else {
            return ControlFlow::Continue(());
        };
        let ok = match self.backend {
            DbBackend::Postgres => {
                match p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) if n >= 1 && p[1..].bytes().all(|b| b.is_ascii_digit()) => {
                        self.max = self.max.max(n);
                        true
                    }
                    _ => false,
                }
            }
            _ if p == "?" => {
                let Location { line, column } = value.span.start;
                self.at.push((line, column));
                true
            }
            _ => false,
        };
        if ok {
            ControlFlow::Continue(())
        } else {
            self.bad = Some(format!(
                "placeholder `{p}`: use {}",
                if self.backend == DbBackend::Postgres {
                    "$1, $2, …"
                } else {
                    "?"
                }
            ));
            ControlFlow::Break(())
        }
    }
}

struct Renumber<'a> {
    at: &'a [(u64, u64)],
}

impl VisitorMut for Renumber<'_> {
    type Break = ();

    fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
        if matches!(&value.value, Value::Placeholder(p) if p == "?") {
            let key = (value.span.start.line, value.span.start.column);
            if let Ok(i) = self.at.binary_search(&key) {
                value.value = Value::Placeholder(format!("?{}", i + 1));
            }
        }
        ControlFlow::Continue(())
    }
}

/// The 0-based value index of a numbered placeholder (`?3`, `$3`: 2).
pub(crate) fn index_of(placeholder: &str) -> Option<usize> {
    let digits = placeholder
        .strip_prefix('?')
        .or_else(|| placeholder.strip_prefix('$'))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<usize>().ok()?.checked_sub(1)
}

/// MySQL: replaces each `?n` of `sql` (rendered by sqlparser, so without
/// comments) by `?`, and returns the value index of each in order.
/// Strings and quoted identifiers are skipped.
pub(crate) fn positional(sql: &str) -> (String, Vec<usize>) {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut order = Vec::new();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\\' && quote != b'`' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == quote {
                        if bytes.get(i + 1) == Some(&quote) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'?' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if let Some(n) = index_of(&sql[start..i]) {
                    out.push_str(&sql[copied..start]);
                    out.push('?');
                    order.push(n);
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    (out, order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_skips_strings_and_identifiers() {
        let (sql, order) =
            positional("SELECT '?1', `?2`, \"a\\\"?3\" FROM t WHERE a = ?2 AND b = ?1");
        assert_eq!(
            sql,
            "SELECT '?1', `?2`, \"a\\\"?3\" FROM t WHERE a = ? AND b = ?"
        );
        assert_eq!(order, vec![1, 0]);
    }

    #[test]
    fn index_of_reads_numbered_placeholders_only() {
        assert_eq!(index_of("?1"), Some(0));
        assert_eq!(index_of("$12"), Some(11));
        assert_eq!(index_of("?"), None);
        assert_eq!(index_of("?0"), None);
        assert_eq!(index_of(":a"), None);
    }
}
