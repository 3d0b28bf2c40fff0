//! The seed corpus, `tests/fuzz_corpus/*.sql`: one statement per line.
//!
//! ```text
//! -- A line starting with `--` is a comment, or a directive for the next
//! -- statement:
//! -- params: 2, 'acme', NULL, 1.5, x'41'
//! --   binds these values to the statement's placeholders, in order
//! -- tolerated: one line on why
//! --   a difference in which of the statement's own errors happen (classes
//! --   ROWS-FOR-ERROR and ERROR-FOR-ROWS only: the statement fails on its own
//! --   input, and a guard or fence decides whether that input is evaluated);
//! --   reported, not failed. Any other class still fails.
//! -- known: one line on the hole
//! --   marks it as a known hole of the confinement (it still fails the test
//! --   while it fails; the summary shows the mark)
//! -- ordered
//! --   its rows are ordered by every output column: compare their order too
//! -- collides
//! --   it writes a key globex holds in A and A' (world::COLLIDING_IDS): not
//! --   compared with B
//! SELECT * FROM post WHERE id = ?
//! ```
//!
//! Blank lines separate nothing; every other line is a statement. Whether
//! it is sent as a query (`query_all_raw`) or a write (`execute_raw`) is
//! read from its text (see [`mode_of`]).

use std::path::{Path, PathBuf};

use sea_orm::Value;

use super::oracle::Case;
use super::world::{Mode, Sql};

/// One statement of the corpus.
#[derive(Clone, Debug)]
pub struct Entry {
    /// `file:line`.
    pub at: String,
    pub case: Case,
    /// The `-- known:` mark, if any.
    pub known: Option<String>,
    /// The `-- tolerated:` mark, if any.
    pub tolerated: Option<String>,
}

/// The folder of the corpus.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus")
}

/// Every entry of every `*.sql` file of the corpus, files in name order.
pub fn load() -> Vec<Entry> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("tests/fuzz_corpus")
        .map(|e| e.expect("a corpus file").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a corpus file");
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        out.extend(parse(&name, &text));
    }
    out
}

/// The entries of one corpus file.
pub fn parse(name: &str, text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut params = Vec::new();
    let mut known = None;
    let mut tolerated = None;
    let mut ordered = false;
    let mut collides = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("--") {
            let comment = comment.trim();
            if let Some(values) = comment.strip_prefix("params:") {
                params = parse_values(values)
                    .unwrap_or_else(|e| panic!("{name}:{}: params: {e}", n + 1));
            } else if let Some(why) = comment.strip_prefix("known:") {
                known = Some(why.trim().to_owned());
            } else if let Some(why) = comment.strip_prefix("tolerated:") {
                tolerated = Some(why.trim().to_owned());
            } else if comment == "ordered" {
                ordered = true;
            } else if comment == "collides" {
                collides = true;
            }
            continue;
        }
        out.push(Entry {
            at: format!("{name}:{}", n + 1),
            case: Case {
                sql: Sql {
                    text: line.to_owned(),
                    params: std::mem::take(&mut params),
                },
                mode: mode_of(line),
                ordered: std::mem::take(&mut ordered),
                collides: std::mem::take(&mut collides),
            },
            known: known.take(),
            tolerated: tolerated.take(),
        });
    }
    out
}

/// Values written as SQL literals: integers, reals, 'strings' (with `''`),
/// x'hex' blobs, NULL, TRUE, FALSE.
pub fn parse_values(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (value, tail) = if let Some(s) = rest.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = s.char_indices().peekable();
            let mut end = None;
            while let Some((i, ch)) = chars.next() {
                if ch == '\'' {
                    if chars.peek().is_some_and(|(_, c)| *c == '\'') {
                        chars.next();
                        value.push('\'');
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    value.push(ch);
                }
            }
            let end = end.ok_or("an unterminated string")?;
            (Value::String(Some(value)), &s[end..])
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let word = rest[..end].trim();
            let value = if word.eq_ignore_ascii_case("null") {
                Value::Int(None)
            } else if word.eq_ignore_ascii_case("true") {
                Value::Bool(Some(true))
            } else if word.eq_ignore_ascii_case("false") {
                Value::Bool(Some(false))
            } else if let Some(hex) = word
                .strip_prefix("x'")
                .or_else(|| word.strip_prefix("X'"))
                .and_then(|h| h.strip_suffix('\''))
            {
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("?"), 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(|e| format!("{word}: {e}"))?;
                Value::Bytes(Some(bytes))
            } else if let Ok(i) = word.parse::<i64>() {
                Value::BigInt(Some(i))
            } else if let Ok(f) = word.parse::<f64>() {
                Value::Double(Some(f))
            } else {
                return Err(format!("not a value: {word:?}"));
            };
            (value, &rest[end..])
        };
        out.push(value);
        rest = tail.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(out)
}

/// `Execute` for a write without `RETURNING` (its row count is the
/// answer), `Query` for everything else. The statement's own keyword is the
/// first of `SELECT`, `VALUES`, `INSERT`, `REPLACE`, `UPDATE`, `DELETE`
/// outside parentheses (so after a `WITH`'s definitions), skipping
/// strings, quoted names and comments.
pub fn mode_of(sql: &str) -> Mode {
    let words = top_level_words(sql);
    let main = words.iter().find(|w| {
        matches!(
            w.as_str(),
            "SELECT" | "VALUES" | "INSERT" | "REPLACE" | "UPDATE" | "DELETE"
        )
    });
    let write = matches!(
        main.map(String::as_str),
        Some("INSERT" | "REPLACE" | "UPDATE" | "DELETE")
    );
    if write && !words.iter().any(|w| w == "RETURNING") {
        Mode::Execute
    } else {
        Mode::Query
    }
}

/// The statement's first keyword, upper case (after comments).
pub fn first_keyword(sql: &str) -> String {
    top_level_words(sql).into_iter().next().unwrap_or_default()
}

/// The bare words of `sql` outside parentheses, upper case.
fn top_level_words(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut words = Vec::new();
    let mut depth = 0i32;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '\'' | '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                i += 1;
                while i < chars.len() && chars[i] != close {
                    i += 1;
                }
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                if depth == 0 {
                    words.push(
                        chars[start..i]
                            .iter()
                            .collect::<String>()
                            .to_ascii_uppercase(),
                    );
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_of("SELECT 1"), Mode::Query);
        assert_eq!(
            mode_of("INSERT INTO post (title) VALUES ('x')"),
            Mode::Execute
        );
        assert_eq!(
            mode_of("insert into post (title) values ('x') returning id"),
            Mode::Query
        );
        assert_eq!(
            mode_of("WITH d AS (DELETE FROM post RETURNING *) SELECT * FROM d"),
            Mode::Query
        );
        assert_eq!(
            mode_of("WITH s AS (SELECT 1) UPDATE post SET title = 'RETURNING'"),
            Mode::Execute
        );
    }

    #[test]
    fn values() {
        let v = parse_values("2, 'it''s', NULL, 1.5, x'41', -3").unwrap();
        assert_eq!(
            v,
            vec![
                Value::BigInt(Some(2)),
                Value::String(Some("it's".into())),
                Value::Int(None),
                Value::Double(Some(1.5)),
                Value::Bytes(Some(vec![0x41])),
                Value::BigInt(Some(-3)),
            ]
        );
    }
}
