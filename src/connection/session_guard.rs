//! Keeps a [`TenantConnection`](super::TenantConnection) from leaving
//! session state on a pooled connection (Postgres, rule 6).
//!
//! Two layers:
//!
//! 1. [`check`] refuses, before anything is sent, raw SQL that visibly
//!    changes session state: a session-level `SET` (anything but `SET
//!    LOCAL`, `SET TRANSACTION`, `SET CONSTRAINTS`), any `RESET`,
//!    `set_config(.., .., <anything but the literal true>)` wherever it
//!    appears, `UPDATE pg_settings`, `ALTER ROLE|USER|DATABASE … SET|RESET`
//!    (the defaults of later sessions), transaction control that would end
//!    the tenant's transaction (`COMMIT`, `END`, `ABORT`, `ROLLBACK` but
//!    `ROLLBACK TO`, `PREPARE TRANSACTION`), and Unicode-escaped
//!    identifiers (`U&"…"`), which it does not decode. A byte scan finds
//!    the statements that could be one of these; only those are tokenized
//!    (sqlparser's PostgreSQL tokenizer, which knows strings, dollar
//!    quotes, quoted identifiers and nested comments). SeaORM's own
//!    statements never reach the tokenizer.
//! 2. What no text check can see (a function or a DO block that calls
//!    `set_config(.., false)` or `SET ROLE`) is undone before the
//!    transaction commits: every read-write transaction of a tenant
//!    connection first stashes the session's tenant setting,
//!    `search_path`, role and session authorization in a transaction-local
//!    setting ([`STASH`]), and its commit ([`RESTORE_AND_COMMIT`]) sets the
//!    four back at session level from that stash, in the same round trip as
//!    the `COMMIT`. Reads run in transactions that are rolled back, which
//!    undoes any session-level change by itself.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use crate::TenantError;

/// The transaction-local setting holding the session's values at the start
/// of a read-write transaction of ours.
#[cfg(test)]
const STASH_NAME: &str = "sea_orm_tenant.session";

/// The expression of [`STASH`], for folding it into another `SELECT`.
macro_rules! stash_expr {
    () => {
        "pg_catalog.set_config('sea_orm_tenant.session', \
         pg_catalog.json_build_array(pg_catalog.current_setting('session_authorization'), \
         pg_catalog.current_setting('role'), pg_catalog.current_setting('search_path'), \
         pg_catalog.current_setting('app.tenant_id', true))::pg_catalog.text, true)"
    };
}
pub(crate) use stash_expr;

/// Stashes the session's values before our `SET LOCAL`s (a `SELECT`,
/// folded into the opening round trip). Every name is schema-qualified, so
/// a `search_path` set by the statement cannot shadow them.
pub(crate) const STASH: &str = concat!("SELECT ", stash_expr!());

/// Ends a read-write transaction of ours in one round trip: runs the
/// deferred constraint checks while the tenant is still set, sets the four
/// session values back from the [`STASH`] (a missing stash resets them;
/// the role and session authorization, which we never set, only when they
/// differ, as setting them costs a catalog lookup each),
/// commits, and opens an empty transaction so that sqlx's (and SeaORM's)
/// transaction depth stays in step: that one is rolled back ahead of the
/// next use of the connection, as any transaction of ours.
pub(crate) const RESTORE_AND_COMMIT: &str = "SET CONSTRAINTS ALL IMMEDIATE; \
     SELECT CASE WHEN pg_catalog.current_setting('session_authorization') \
     IS DISTINCT FROM s OPERATOR(pg_catalog.->>) 0 \
     THEN pg_catalog.set_config('session_authorization', s OPERATOR(pg_catalog.->>) 0, false) END, \
     CASE WHEN pg_catalog.current_setting('role') IS DISTINCT FROM s OPERATOR(pg_catalog.->>) 1 \
     THEN pg_catalog.set_config('role', s OPERATOR(pg_catalog.->>) 1, false) END, \
     pg_catalog.set_config('search_path', s OPERATOR(pg_catalog.->>) 2, false), \
     pg_catalog.set_config('app.tenant_id', COALESCE(s OPERATOR(pg_catalog.->>) 3, ''), false) \
     FROM (SELECT NULLIF(pg_catalog.current_setting('sea_orm_tenant.session', true), '')\
     ::pg_catalog.json AS s) AS stash; \
     COMMIT; BEGIN";

/// Refuses `sql` when it visibly changes session state; see the module
/// docs. Cheap for statements that cannot: one pass over the bytes.
pub(crate) fn check(sql: &str) -> Result<(), TenantError> {
    if !may_change_session(sql.as_bytes()) {
        return Ok(());
    }
    match inspect(sql) {
        None => Ok(()),
        Some(reason) => Err(TenantError::session_state(sql, reason)),
    }
}

/// Bytes of an identifier or keyword (non-ASCII bytes are letters in
/// Postgres identifiers).
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Words that start a statement the tokenizer must look at.
const LEADING: [&[u8]; 8] = [
    b"set",
    b"reset",
    b"commit",
    b"end",
    b"abort",
    b"rollback",
    b"prepare",
    b"alter",
];

/// Words that need a look wherever they are.
const ANYWHERE: [&[u8]; 2] = [b"set_config", b"pg_settings"];

/// Whether `sql` could hold one of the refused statements: a word of
/// [`LEADING`] that could start a statement (nothing before it but
/// whitespace after `;`, the start, or a comment), a word of [`ANYWHERE`],
/// a `--` comment (which could hide a statement start) or a `U&` escape.
/// Conservative: strings and quoted identifiers are not skipped.
fn may_change_session(sql: &[u8]) -> bool {
    let mut i = 0;
    while i < sql.len() {
        let b = sql[i];
        if (b == b'-' && sql.get(i + 1) == Some(&b'-'))
            || ((b == b'u' || b == b'U') && sql.get(i + 1) == Some(&b'&'))
        {
            return true;
        }
        if !is_word_byte(b) || (i > 0 && is_word_byte(sql[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < sql.len() && is_word_byte(sql[i]) {
            i += 1;
        }
        let word = &sql[start..i];
        if ANYWHERE.iter().any(|w| word.eq_ignore_ascii_case(w)) {
            return true;
        }
        if LEADING.iter().any(|w| word.eq_ignore_ascii_case(w)) && could_start(&sql[..start]) {
            return true;
        }
    }
    false
}

/// Whether a statement could start after `before`: the last byte that is
/// not whitespace is absent, `;`, the `/` ending a comment, or anything but
/// what ends an operand (a word, a quote, a bracket, a comma).
fn could_start(before: &[u8]) -> bool {
    match before
        .iter()
        .rev()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
    {
        None => true,
        Some(&b) => !(is_word_byte(b) || matches!(b, b'"' | b'\'' | b')' | b']' | b',')),
    }
}

/// A significant token: whitespace and comments dropped.
fn significant(sql: &str) -> Result<Vec<Token>, ()> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .map_err(|_| ())?;
    Ok(tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
        .collect())
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

fn names(token: &Token, name: &str) -> bool {
    matches!(token, Token::Word(w) if w.value.eq_ignore_ascii_case(name))
}

/// Why `sql` is refused, or `None`.
fn inspect(sql: &str) -> Option<&'static str> {
    // Unicode escapes in identifiers are not decoded by the tokenizer.
    let raw = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize();
    let Ok(raw) = raw else {
        return Some("the statement could not be read (unterminated string, quote or comment)");
    };
    for pair in raw.windows(3) {
        if let [Token::Word(u), Token::Ampersand, Token::Word(q)] = pair
            && u.quote_style.is_none()
            && u.value.eq_ignore_ascii_case("u")
            && q.quote_style == Some('"')
        {
            return Some("a Unicode-escaped identifier (U&\"...\")");
        }
    }
    if raw.iter().any(|t| matches!(t, Token::Whitespace(Whitespace::SingleLineComment { prefix, .. }) if prefix != "--"))
    {
        return Some("a comment the check does not recognise");
    }
    let tokens = significant(sql).ok()?;
    for statement in tokens.split(|t| matches!(t, Token::SemiColon)) {
        if let Some(reason) = inspect_statement(statement) {
            return Some(reason);
        }
    }
    None
}

fn inspect_statement(tokens: &[Token]) -> Option<&'static str> {
    if let Some(reason) = set_config_calls(tokens) {
        return Some(reason);
    }
    if tokens.iter().any(|t| names(t, "pg_settings")) && tokens.iter().any(|t| is_word(t, "update"))
    {
        return Some("an UPDATE of pg_settings (the same as a session-level SET)");
    }
    let first = tokens.first()?;
    let second = tokens.get(1);
    let second_is = |w: &str| second.is_some_and(|t| is_word(t, w));
    if is_word(first, "set") {
        if second_is("local") || second_is("transaction") || second_is("constraints") {
            return None;
        }
        return Some("a session-level SET (use SET LOCAL)");
    }
    if is_word(first, "reset") {
        return Some("RESET changes the session's settings (use SET LOCAL … TO DEFAULT)");
    }
    if is_word(first, "commit")
        || is_word(first, "end")
        || is_word(first, "abort")
        || (is_word(first, "rollback") && !second_is("to"))
        || (is_word(first, "prepare") && second_is("transaction"))
    {
        return Some("transaction control would end the tenant's transaction");
    }
    if is_word(first, "alter")
        && (second_is("role") || second_is("user") || second_is("database") || second_is("system"))
        && tokens[1..]
            .iter()
            .any(|t| is_word(t, "set") || is_word(t, "reset"))
    {
        return Some("ALTER … SET changes the settings of later sessions");
    }
    None
}

/// Every `set_config` in the statement must be a call whose third argument
/// is the literal `true` (transaction-local).
fn set_config_calls(tokens: &[Token]) -> Option<&'static str> {
    const NOT_LOCAL: &str =
        "set_config(.., .., is_local) whose is_local is not the literal true (use true)";
    for (i, token) in tokens.iter().enumerate() {
        if !names(token, "set_config") {
            continue;
        }
        if !matches!(tokens.get(i + 1), Some(Token::LParen)) {
            return Some(NOT_LOCAL);
        }
        // The arguments at depth 1, split at commas.
        let mut depth = 0usize;
        let mut args: Vec<Vec<&Token>> = vec![Vec::new()];
        let mut closed = false;
        for t in &tokens[i + 1..] {
            match t {
                Token::LParen | Token::LBracket => {
                    depth += 1;
                    if depth == 1 {
                        continue;
                    }
                }
                Token::RParen | Token::RBracket => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        closed = true;
                        break;
                    }
                }
                Token::Comma if depth == 1 => {
                    args.push(Vec::new());
                    continue;
                }
                _ => {}
            }
            if let Some(arg) = args.last_mut() {
                arg.push(t);
            }
        }
        let local = closed
            && args.len() == 3
            && matches!(args[2].as_slice(), [only] if is_word(only, "true"));
        if !local {
            return Some(NOT_LOCAL);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seaorm_statements_are_not_tokenized() {
        for sql in [
            r#"SELECT "post"."id", "post"."tenant_id" FROM "post" WHERE "post"."tenant_id" = $1 LIMIT $2 OFFSET $3"#,
            r#"UPDATE "post" SET "title" = $1 WHERE "post"."id" = $2 AND "post"."tenant_id" = $3"#,
            r#"INSERT INTO "post" ("tenant_id", "title") VALUES ($1, $2) RETURNING "id""#,
            r#"DELETE FROM "post" WHERE "post"."tenant_id" = $1"#,
            "UPDATE post SET title = 'x', reset_token = NULL, asset = 1",
            "SELECT CASE WHEN a THEN 1 END, 'x' END FROM t",
        ] {
            assert!(!may_change_session(sql.as_bytes()), "{sql}");
            assert!(check(sql).is_ok(), "{sql}");
        }
    }

    #[test]
    fn refuses_session_level_forms() {
        for sql in [
            "SET app.tenant_id = 'b'",
            "set app.TENANT_ID to 'b'",
            "SET SESSION search_path = x",
            "SET ROLE x",
            "SET SESSION AUTHORIZATION DEFAULT",
            "RESET ALL",
            "SELECT set_config('a.b', 'c', false)",
            "SELECT set_config('a.b', 'c', 1=0)",
            "SELECT set_config('a.b', 'c', $1)",
            "SELECT set_config('a.b', 'c', (true))",
            "SELECT set_config('a.b', 'c')",
            "SELECT set_config",
            "SELECT \"SET_CONFIG\"('a.b', 'c', false)",
            "SELECT U&\"\\0073et_config\"('a.b', 'c', false)",
            "SELECT u&\"x\"",
            "SELECT 1; SET x = 1",
            "SELECT 1 -- c\n; SET x = 1",
            "/* a /* nested */ comment */ SET x = 1",
            "SELECT 'a''; b'; SET x = 1",
            "SELECT E'\\'; '; SET x = 1",
            "SELECT $t$ ; $t$; SET x = 1",
            "UPDATE pg_catalog.pg_settings SET setting = 'x' WHERE name = 'search_path'",
            "COMMIT",
            "end",
            "ROLLBACK",
            "PREPARE TRANSACTION 'x'",
            "ALTER ROLE CURRENT_USER SET search_path = x",
            "ALTER DATABASE d RESET ALL",
            "SELECT 'unterminated; SET x = 1",
        ] {
            assert!(check(sql).is_err(), "{sql}");
        }
    }

    #[test]
    fn lets_transaction_local_forms_and_lookalikes_through() {
        for sql in [
            "SET LOCAL app.tenant_id = 'a'",
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "SET CONSTRAINTS ALL DEFERRED",
            "SELECT set_config('app.tenant_id', 'a', true)",
            "SELECT pg_catalog.set_config('a.b', f(1, (2)), TRUE), set_config('c.d', '', true)",
            "SELECT 'SET x = 1; RESET ALL; set_config(''a'', ''b'', false)'",
            "SELECT $$; SET x = 1$$",
            "SELECT 1 -- SET x = 1",
            "SELECT 1 /* ; SET x = 1 */",
            "SELECT \"reset\", \"set\" FROM t",
            "SAVEPOINT s; ROLLBACK TO SAVEPOINT s",
            "ALTER TABLE t ALTER COLUMN c SET DEFAULT 1",
            "PREPARE p AS SELECT 1",
            "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SELECT set_config('a.b', 'c', false) $$",
            "SELECT * FROM pg_settings WHERE name = 'search_path'",
        ] {
            assert_eq!(check(sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn the_stash_name_is_the_one_in_the_sql() {
        assert!(STASH.contains(STASH_NAME));
        assert!(RESTORE_AND_COMMIT.contains(STASH_NAME));
    }
}
