//! Bounds on what the confinement will parse (rule 13): a statement longer
//! or deeper than these is refused before any parsing work grows with it,
//! so no tenant can overflow the stack or hold a core with one statement.
//!
//! The parser is iterative on chains (`1+1+…` builds a tree as deep as the
//! chain without recursing), but walking, printing and dropping that tree
//! recurse once per level, and a debug build spends kilobytes of stack per
//! level. So the bound is counted on tokens, with the tokenizer (which does
//! not recurse), and planning then runs on a stack segment of its own
//! ([`STACK`]) that holds the deepest tree the bounds let through.

use sea_orm::DbBackend;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::rewrite::dialect;

/// The longest statement, in bytes.
pub const MAX_SQL_BYTES: usize = 1 << 20;

/// The most tokens (white space and comments not counted) in one
/// statement.
pub const MAX_TOKENS: usize = 250_000;

/// The most operators (`+`, `AND`, `=`, `||`, …) in one statement: a chain
/// of them is a tree as deep as it is long.
pub const MAX_OPERATORS: usize = 1_000;

/// The deepest nesting of parentheses.
pub const MAX_NESTING: usize = 48;

/// The stack segment planning runs on. The deepest tree the bounds allow
/// (a chain of [`MAX_OPERATORS`] inside [`MAX_NESTING`] parentheses) needs
/// a few megabytes in a debug build; the segment is mapped lazily, so only
/// what is touched costs memory.
pub(crate) const STACK: usize = 64 << 20;

/// Why `sql` exceeds a bound, if it does.
pub(crate) fn check(sql: &str, backend: DbBackend) -> Result<(), String> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(format!(
            "it is {} bytes long; the limit is {MAX_SQL_BYTES}",
            sql.len()
        ));
    }
    let tokens = Tokenizer::new(dialect(backend), sql)
        .tokenize_with_location()
        .map_err(|e| format!("it cannot be parsed ({e})"))?;
    hex_integers(sql, &tokens)?;
    let tokens: Vec<Token> = tokens.into_iter().map(|t| t.token).collect();
    let counted = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .count();
    if counted > MAX_TOKENS {
        return Err(format!(
            "it has {counted} tokens; the limit is {MAX_TOKENS}"
        ));
    }
    let (mut depth, mut operators) = (0usize, 0usize);
    for token in &tokens {
        match token {
            Token::LParen | Token::LBracket => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(format!("it nests deeper than {MAX_NESTING} parentheses"));
                }
            }
            Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
            Token::Word(word) if is_operator_word(&word.value) && word.quote_style.is_none() => {
                operators += 1;
            }
            Token::Whitespace(_)
            | Token::Comma
            | Token::Period
            | Token::SemiColon
            | Token::Word(_)
            | Token::Number(..)
            | Token::Placeholder(_)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::EOF => {}
            _ => operators += 1,
        }
        if operators > MAX_OPERATORS {
            return Err(format!(
                "it has more than {MAX_OPERATORS} operators; split it"
            ));
        }
    }
    Ok(())
}

/// Refuses `0x10`: the parser reads it as the blob `X'10'` (SQLite: an
/// integer; Postgres 15: `0 AS x10`), and `0X10` as `0 AS X10`, so what
/// would be sent is not what was written.
fn hex_integers(sql: &str, tokens: &[TokenWithSpan]) -> Result<(), String> {
    let lines: Vec<&str> = sql.split('\n').collect();
    let source = |t: &TokenWithSpan| {
        let start = t.span.start;
        let line = lines.get((start.line as usize).saturating_sub(1))?;
        let column = (start.column as usize).saturating_sub(1);
        line.char_indices().nth(column).map(|(i, _)| &line[i..])
    };
    for (i, t) in tokens.iter().enumerate() {
        let zero_x = match &t.token {
            Token::HexStringLiteral(_) => source(t).is_some_and(|s| s.starts_with('0')),
            Token::Number(n, _) if n == "0" => matches!(
                tokens.get(i + 1).map(|n| &n.token),
                Some(Token::Word(w)) if w.quote_style.is_none() && w.value.starts_with(['x', 'X'])
            ),
            _ => false,
        };
        if zero_x {
            return Err(
                "a hexadecimal integer (`0x…`): write it in decimal, or a blob as `X'…'`".into(),
            );
        }
        // SQLite's postfix `x ISNULL` / `x NOTNULL` are read by the parser
        // as an alias (`x AS ISNULL`): refused, so that what is sent is
        // what was written.
        if let Token::Word(w) = &t.token
            && w.quote_style.is_none()
            && (w.value.eq_ignore_ascii_case("isnull") || w.value.eq_ignore_ascii_case("notnull"))
            && !matches!(tokens.get(i + 1).map(|n| &n.token), Some(Token::LParen))
        {
            return Err("the postfix `ISNULL` / `NOTNULL`: write `IS NULL` / `IS NOT NULL`".into());
        }
    }
    Ok(())
}

fn is_operator_word(word: &str) -> bool {
    [
        "AND", "OR", "NOT", "XOR", "IS", "LIKE", "GLOB", "BETWEEN", "IN", "WHEN", "SELECT", "CASE",
    ]
    .iter()
    .any(|w| w.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_chains_deep_nesting_and_huge_statements_are_refused() {
        let chain = format!("SELECT {}1", "1+".repeat(MAX_OPERATORS + 1));
        assert!(
            check(&chain, DbBackend::Sqlite)
                .unwrap_err()
                .contains("operators")
        );
        let and = format!("SELECT 1 WHERE {}1", "1 AND ".repeat(MAX_OPERATORS + 1));
        assert!(
            check(&and, DbBackend::Postgres)
                .unwrap_err()
                .contains("operators")
        );
        let nested = format!(
            "SELECT {}1{}",
            "(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        assert!(
            check(&nested, DbBackend::MySql)
                .unwrap_err()
                .contains("nests")
        );
        let huge = format!("SELECT '{}'", "x".repeat(MAX_SQL_BYTES));
        assert!(
            check(&huge, DbBackend::Sqlite)
                .unwrap_err()
                .contains("bytes")
        );
        let many_rows = format!(
            "INSERT INTO t (a, b) VALUES {}",
            vec!["(?, ?)"; 30_000].join(", ")
        );
        assert!(
            check(&many_rows, DbBackend::Sqlite).is_ok(),
            "a batch insert is fine"
        );
        for hex in ["SELECT 0x10", "SELECT 0X10", "SELECT 1,\n  0x1F FROM t"] {
            assert!(
                check(hex, DbBackend::Sqlite)
                    .unwrap_err()
                    .contains("hexadecimal"),
                "{hex}"
            );
        }
        assert!(check("SELECT X'10', x'41', '0x10', 0 AS x", DbBackend::Sqlite).is_ok());
        assert!(
            check("SELECT id ISNULL FROM t", DbBackend::Sqlite)
                .unwrap_err()
                .contains("ISNULL")
        );
        assert!(check("SELECT isnull(a), id IS NULL FROM t", DbBackend::MySql).is_ok());
    }
}
