//! The differential oracle: one statement through acme's tenant connection
//! on A and on A', and directly (unconfined) on B; what must hold between
//! the three answers and the three databases afterwards.
//!
//! A refusal must send nothing: SeaORM's metric callback on each
//! database counts the statements that reach it.
//!
//! Tolerances, each because it must be:
//!
//! * a refusal (any `TenantError`: `Refused`, or `Mismatch` for a row of
//!   another tenant) is not compared with B: B runs the statement
//!   unconfined and may well write globex's rows or read the registry;
//! * rows are compared as sorted multisets unless the statement orders its
//!   result by every output column (then in order too): without that,
//!   SQLite may return rows in any order, and a confined plan differs;
//! * column names are compared only when there are rows (the driver names
//!   the columns of a row), only where B's name is a plain word (an alias,
//!   a column, `TRUE`), and regardless of ASCII case: SQLite leaves the
//!   name of an expression without `AS` unspecified ("may change from one
//!   release to the next"), and a rewritten statement spells `1+1`, `?` or
//!   `TRUE` its own way;
//! * a database error is compared by the database's message, less the
//!   `DbErr` wrapper of the entry point (`Query Error: ` ...);
//! * a statement that stalls on B as well is too heavy for SQLite itself,
//!   not stalled by the connection (counted with the database errors);
//! * a write marked `collides` names a key that globex holds in A and in
//!   A' (to check that an upsert or a conflict never touches globex's
//!   row): it is not compared with B, where the key is free;
//! * ids of rows inserted without one, and explicit keys: none needed,
//!   by construction of the data (see `world.rs`): acme holds the largest
//!   id and rowid of every table, the generator writes only ids that
//!   acme holds or nobody holds (`SAFE_IDS`), and an `INSERT ... SELECT`
//!   it writes orders its rows by every column (so they get the same ids).

use super::world::{Answer, Mode, Part, Snapshot, Sql, Worlds, run};

/// A statement to check.
#[derive(Clone, Debug)]
pub struct Case {
    pub sql: Sql,
    pub mode: Mode,
    /// Its rows are ordered by every output column (compare the order).
    pub ordered: bool,
    /// It writes a key that globex holds in A and in A' (`COLLIDING_IDS`):
    /// compared between A and A' and checked for globex's rows, but not
    /// against B, where that key is free.
    pub collides: bool,
}

/// How a case that passed went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Refused on A and A' alike, nothing changed; the refusal's text.
    Refused(String),
    /// Answered rows or a row count, as B did.
    Answered,
    /// Failed in the database with B's error.
    Errored,
}

/// Whether a failure class can leak or sense another tenant's rows
/// (anything that depends on globex's rows, writes them, sends a refused
/// statement, or takes the process down), rather than answer acme
/// differently from the statement on acme's rows alone (a wrong answer,
/// an error of its own: fidelity).
pub fn is_leak_class(class: &str) -> bool {
    matches!(
        class,
        "PANIC"
            | "STALL"
            | "OTHERS-CHANGED"
            | "REFUSAL-SENT"
            | "REFUSAL-WROTE"
            | "A≠A'"
            | "NOT-REFUSED"
    )
}

/// A broken property.
#[derive(Clone, Debug)]
pub struct Failure {
    /// A short class: leaks and channels (`PANIC`, `STALL`,
    /// `OTHERS-CHANGED`, `REFUSAL-SENT`, `REFUSAL-WROTE`, `A≠A'`,
    /// `NOT-REFUSED`, see
    /// [`is_leak_class`]) or fidelity (`WRONG-ROWS`, `ROWS-FOR-ERROR`,
    /// `ERROR-FOR-ROWS`, `OTHER-ERROR`, `NAMES`, `ACME-ROWS`).
    pub class: &'static str,
    /// A one-line diagnosis.
    pub diagnosis: String,
    /// The answers (A, A', B) and what differs.
    pub detail: String,
    /// When the confined statement (or else the statement on B) failed in
    /// the database: the class and that message, to tell a failure already
    /// found from a new one.
    pub signature: Option<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}\n{}", self.class, self.diagnosis, self.detail)
    }
}

/// Checks `case` on fresh databases.
pub async fn check(case: &Case) -> Result<Outcome, Failure> {
    let worlds = Worlds::build().await;
    let result = check_on(&worlds, case).await;
    worlds.close().await;
    result
}

async fn check_on(w: &Worlds, case: &Case) -> Result<Outcome, Failure> {
    let before = (w.a.sent(), w.a2.sent());
    let a = run(&w.a.conn, &case.sql, case.mode).await;
    if a == Answer::Stalled {
        // Too heavy for SQLite itself (B stalls too) is no stall of the
        // connection's making; the databases are left as they are.
        if run(&w.b.db, &case.sql, case.mode).await == Answer::Stalled {
            return Ok(Outcome::Errored);
        }
        return Err(Failure {
            class: "STALL",
            diagnosis: "no answer on A within the timeout, where B answers".into(),
            detail: format!("  A : {}", a.brief()),
            signature: None,
        });
    }
    let sent_a = w.a.sent() - before.0;
    let snap_a = Snapshot::take(&w.a.db).await;
    let a2 = run(&w.a2.conn, &case.sql, case.mode).await;
    if a2 == Answer::Stalled {
        return Err(Failure {
            class: "STALL",
            diagnosis: "no answer on A' within the timeout, where A answers".into(),
            detail: format!("  A : {}\n  A': {}", a.brief(), a2.brief()),
            signature: None,
        });
    }
    let sent_a2 = w.a2.sent() - before.1;
    let snap_a2 = Snapshot::take(&w.a2.db).await;
    let b = run(&w.b.db, &case.sql, case.mode).await;
    let snap_b = Snapshot::take(&w.b.db).await;

    let answers = format!(
        "  A : {}\n  A': {}\n  B : {}",
        a.brief(),
        a2.brief(),
        b.brief()
    );
    let fail = |class: &'static str, diagnosis: String, more: Vec<String>| {
        let mut detail = answers.clone();
        for line in more {
            detail.push_str("\n  ");
            detail.push_str(&line);
        }
        let signature = match (&a, &b) {
            (Answer::Error(e), _) => Some(format!("{class} {e}")),
            (_, Answer::Error(e)) => Some(format!("{class} / {e}")),
            _ => None,
        };
        Err(Failure {
            class,
            diagnosis,
            detail,
            signature,
        })
    };

    for (name, answer) in [("A", &a), ("A'", &a2)] {
        match answer {
            Answer::Panic(msg) => {
                return fail(
                    "PANIC",
                    format!("the tenant connection panicked on {name}: {msg}"),
                    vec![],
                );
            }
            Answer::Stalled => {
                return fail(
                    "STALL",
                    format!("no answer on {name} within the timeout"),
                    vec![],
                );
            }
            _ => {}
        }
    }

    // Nothing may change another tenant's rows, the registry or the
    // sequences, whatever was answered.
    for (name, snap, world) in [("A", &snap_a, &w.a), ("A'", &snap_a2, &w.a2)] {
        let diff = snap.diff(&world.baseline, Part::Others);
        if !diff.is_empty() {
            return fail(
                "OTHERS-CHANGED",
                format!("rows of another tenant (or the registry) changed on {name}"),
                prefixed("(+ after, - before) ", diff),
            );
        }
    }

    if a.is_refused() || a2.is_refused() {
        if (a.is_refused() && sent_a > 0) || (a2.is_refused() && sent_a2 > 0) {
            return fail(
                "REFUSAL-SENT",
                format!(
                    "refused, yet statements reached the database ({sent_a} on A, {sent_a2} on A')"
                ),
                vec![],
            );
        }
        if a != a2 {
            return fail(
                "A≠A'",
                "refused on one database and not on the other: the refusal depends on globex's rows".into(),
                vec![],
            );
        }
        let diff = snap_a.diff(&w.a.baseline, Part::Acme);
        if !diff.is_empty() {
            return fail(
                "REFUSAL-WROTE",
                "refused, yet acme's rows changed on A".into(),
                prefixed("(+ after, - before) ", diff),
            );
        }
        return Ok(Outcome::Refused(match a {
            Answer::Refused(why) => why,
            _ => String::new(),
        }));
    }

    // Only SELECT, INSERT, UPDATE and DELETE are sent (rule 12).
    let keyword = super::corpus::first_keyword(&case.sql.text);
    if !matches!(
        keyword.as_str(),
        "SELECT" | "VALUES" | "WITH" | "INSERT" | "REPLACE" | "UPDATE" | "DELETE"
    ) {
        return fail(
            "NOT-REFUSED",
            format!("a {keyword} statement was sent, not refused"),
            vec![],
        );
    }

    // A and A' differ only in globex's rows: every answer must be the same.
    if let Some(why) = differs(&a, &a2, case.ordered) {
        return fail(
            "A≠A'",
            format!("the answer depends on globex's rows ({why})"),
            vec![],
        );
    }
    let diff = snap_a.diff(&snap_a2, Part::Acme);
    if !diff.is_empty() {
        return fail(
            "A≠A'",
            "acme's rows after the statement depend on globex's rows".into(),
            prefixed("(+ A, - A') ", diff),
        );
    }

    if case.collides {
        return Ok(match a {
            Answer::Error(_) => Outcome::Errored,
            _ => Outcome::Answered,
        });
    }

    // A against B: what the statement does on acme's rows alone.
    match (&a, &b) {
        (Answer::Error(ea), Answer::Error(eb)) if ea != eb => {
            return fail(
                "OTHER-ERROR",
                "a different error from the statement on acme's rows alone".into(),
                vec![],
            );
        }
        (Answer::Error(_), Answer::Rows(_) | Answer::Done(_)) => {
            return fail(
                "ERROR-FOR-ROWS",
                "an error where the statement on acme's rows alone answers".into(),
                vec![],
            );
        }
        (Answer::Rows(_) | Answer::Done(_), Answer::Error(_)) => {
            return fail(
                "ROWS-FOR-ERROR",
                "an answer where the statement on acme's rows alone fails".into(),
                vec![],
            );
        }
        _ => {
            if let Some(why) = differs(&a, &b, case.ordered) {
                let class = if why.starts_with("column names") {
                    "NAMES"
                } else {
                    "WRONG-ROWS"
                };
                return fail(
                    class,
                    format!("not what the statement answers on acme's rows alone ({why})"),
                    vec![],
                );
            }
        }
    }
    let diff = snap_a.diff(&snap_b, Part::Acme);
    if !diff.is_empty() {
        return fail(
            "ACME-ROWS",
            "acme's rows after the statement differ from B's after it ran there unconfined".into(),
            prefixed("(+ A, - B) ", diff),
        );
    }
    Ok(match a {
        Answer::Error(_) => Outcome::Errored,
        _ => Outcome::Answered,
    })
}

fn prefixed(prefix: &str, lines: Vec<String>) -> Vec<String> {
    lines.into_iter().map(|l| format!("{prefix}{l}")).collect()
}

/// Why two answers differ, or `None`.
fn differs(x: &Answer, y: &Answer, ordered: bool) -> Option<String> {
    match (x, y) {
        (Answer::Rows(rx), Answer::Rows(ry)) => {
            if rx.rows.len() != ry.rows.len() {
                return Some(format!(
                    "{} row(s) against {}",
                    rx.rows.len(),
                    ry.rows.len()
                ));
            }
            if rx.sorted() != ry.sorted() {
                return Some("other rows".into());
            }
            if ordered && rx.rows != ry.rows {
                return Some("the same rows in another order".into());
            }
            if !rx.rows.is_empty() && !same_names(&rx.columns, &ry.columns) {
                return Some(format!(
                    "column names [{}] against [{}]",
                    rx.columns.join(", "),
                    ry.columns.join(", ")
                ));
            }
            None
        }
        _ if x == y => None,
        _ => Some("another kind of answer or another message".into()),
    }
}

/// Column names alike: a name that is a plain word (an alias, a column
/// or a keyword such as `TRUE`) equal but for ASCII case; any other name
/// (an expression's text, which SQLite leaves unspecified) not compared.
fn same_names(x: &[String], y: &[String]) -> bool {
    let word = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    x.len() == y.len()
        && x.iter()
            .zip(y)
            .all(|(a, b)| !word(b) || a.eq_ignore_ascii_case(b))
}
