//! Every entry of every allow-list (rule 12) exists on the real server, and
//! what the server says of it agrees with the list: Postgres' `pg_proc`
//! (`prokind`, `provolatile`), SQLite's `pragma_function_list` (built in,
//! `SQLITE_INNOCUOUS`, `SQLITE_DETERMINISTIC`), and for MariaDB, which
//! keeps its built-ins in no catalog, a call to each.
//!
//! Every exception to what the server says is written here with its
//! reason. Run with `--nocapture` to see what each server says of each
//! entry.

mod common;

use std::collections::BTreeMap;
use std::ops::Deref;

use common::{Kind, TestDb, each_backend_of};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, QueryResult, RuntimeErr,
    Statement,
};
use sea_orm_tenant::allowed_functions;

async fn query(db: &DatabaseConnection, backend: DbBackend, sql: &str) -> Vec<QueryResult> {
    db.query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap_or_else(|err| panic!("{backend:?}: {sql}: {err}"))
}

fn on_list(backend: DbBackend, name: &str) -> bool {
    allowed_functions(backend).iter().any(|f| f.name == name)
}

fn report(backend: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{backend}: the allow-list and the server disagree ({} finding(s)):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// SQLite

const SQLITE_DETERMINISTIC: i64 = 0x800;
const SQLITE_DIRECTONLY: i64 = 0x8_0000;
const SQLITE_INNOCUOUS: i64 = 0x20_0000;

/// Scalar entries SQLite does not call deterministic, and why they are on
/// the list anyway.
const SQLITE_NOT_DETERMINISTIC: &[(&str, &str)] = &[
    ("current_date", "reads the clock; reads nothing else"),
    ("current_time", "reads the clock; reads nothing else"),
    ("current_timestamp", "reads the clock; reads nothing else"),
];

#[tokio::test]
async fn every_sqlite_entry_is_an_innocuous_builtin() {
    let db = Database::connect("sqlite::memory:")
        .await
        .expect("in-memory SQLite");
    let backend = DbBackend::Sqlite;
    let mut functions: BTreeMap<String, Vec<(i64, String, i64)>> = BTreeMap::new();
    for row in query(
        &db,
        backend,
        "SELECT name, builtin, type, flags FROM pragma_function_list",
    )
    .await
    {
        let name: String = row.try_get("", "name").expect("name");
        let builtin: i64 = row.try_get("", "builtin").expect("builtin");
        let kind: String = row.try_get("", "type").expect("type");
        let flags: i64 = row.try_get("", "flags").expect("flags");
        functions
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push((builtin, kind, flags));
    }
    let mut failures = Vec::new();
    for entry in allowed_functions(backend) {
        let name = entry.name;
        let Some(overloads) = functions.get(name) else {
            // Table-valued functions (json_each, json_tree, ...) are
            // eponymous virtual tables, registered when first named: call
            // one and, in the same statement, find its module.
            let sql = format!(
                "SELECT count(*) AS called, (SELECT count(*) FROM pragma_module_list \
                 WHERE name = '{name}') AS listed FROM {name}('[1]')"
            );
            match db
                .query_one_raw(Statement::from_string(backend, &sql))
                .await
            {
                Ok(Some(row)) => {
                    let called: i64 = row.try_get("", "called").expect("called");
                    let listed: i64 = row.try_get("", "listed").expect("listed");
                    println!(
                        "sqlite {name:<24} table-valued, {called} row(s), module listed: {listed}"
                    );
                    if called < 1 || listed != 1 {
                        failures.push(format!(
                            "{name}: not in pragma_function_list, and as a table-valued \
                             function gave {called} row(s), module listed {listed} time(s)"
                        ));
                    }
                }
                Ok(None) => failures.push(format!("{name}: {sql} returned no row")),
                Err(err) => failures.push(format!(
                    "{name}: not in pragma_function_list nor a table-valued function: {err}"
                )),
            }
            continue;
        };
        for (builtin, kind, flags) in overloads {
            println!("sqlite {name:<24} type {kind} builtin {builtin} flags {flags:#08x}");
            if *builtin != 1 {
                failures.push(format!("{name}: not built in"));
            }
            if flags & SQLITE_INNOCUOUS == 0 {
                failures.push(format!(
                    "{name} ({kind}): not SQLITE_INNOCUOUS (flags {flags:#x})"
                ));
            }
            if flags & SQLITE_DIRECTONLY != 0 {
                failures.push(format!(
                    "{name} ({kind}): SQLITE_DIRECTONLY (flags {flags:#x})"
                ));
            }
            let deterministic = flags & SQLITE_DETERMINISTIC != 0;
            let excepted = SQLITE_NOT_DETERMINISTIC.iter().any(|(n, _)| *n == name);
            if kind == "s" && !deterministic && !excepted {
                failures.push(format!(
                    "{name}: SQLite says it is not deterministic (flags {flags:#x}); \
                     leave it out or write the exception and its reason"
                ));
            }
        }
    }
    // Every written exception is on the list and still needed.
    for (name, _) in SQLITE_NOT_DETERMINISTIC {
        let still = functions.get(*name).is_some_and(|o| {
            o.iter()
                .any(|(_, kind, flags)| kind == "s" && flags & SQLITE_DETERMINISTIC == 0)
        });
        if !on_list(backend, name) || !still {
            failures.push(format!(
                "exception {name}: not on the list, or deterministic now"
            ));
        }
    }
    report("SQLite", &failures);
}

// ---------------------------------------------------------------------------
// Postgres

/// Entries with a volatile overload, and why they are on the list anyway.
const PG_VOLATILE: &[(&str, &str)] = &[
    (
        "clock_timestamp",
        "reads the wall clock; reads nothing else",
    ),
    (
        "gen_random_uuid",
        "a random UUID; reads nothing, keeps nothing a statement sees",
    ),
];

/// Entries that are SQL keyword forms, evaluated in the grammar and not
/// through `pg_proc`, with a call that proves the server knows them.
const PG_KEYWORD_FORMS: &[(&str, &str)] = &[
    ("coalesce", "SELECT coalesce(NULL, 1)"),
    ("current_date", "SELECT current_date"),
    ("current_time", "SELECT current_time"),
    ("current_timestamp", "SELECT current_timestamp"),
    ("greatest", "SELECT greatest(1, 2)"),
    ("least", "SELECT least(1, 2)"),
    ("localtime", "SELECT localtime"),
    ("localtimestamp", "SELECT localtimestamp"),
    ("nullif", "SELECT nullif(1, 2)"),
];

#[tokio::test]
async fn every_postgres_entry_is_a_pg_catalog_function() {
    each_backend_of(&[Kind::Postgres], async |t: &TestDb| {
        let backend = DbBackend::Postgres;
        let mut procs: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for row in query(
            &t.db,
            backend,
            "SELECT p.proname::text AS name, p.prokind::text AS kind, \
             p.provolatile::text AS volatility \
             FROM pg_catalog.pg_proc p \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'pg_catalog'",
        )
        .await
        {
            let name: String = row.try_get("", "name").expect("name");
            let kind: String = row.try_get("", "kind").expect("kind");
            let volatility: String = row.try_get("", "volatility").expect("volatility");
            procs.entry(name).or_default().push((kind, volatility));
        }
        let mut failures = Vec::new();
        for entry in allowed_functions(backend) {
            let name = entry.name;
            let Some(overloads) = procs.get(name) else {
                match PG_KEYWORD_FORMS.iter().find(|(n, _)| *n == name) {
                    Some((_, sql)) => match t.db.execute_unprepared(sql).await {
                        Ok(_) => println!("postgres {name:<26} SQL keyword form: {sql} ok"),
                        Err(err) => failures.push(format!("{name}: {sql}: {err}")),
                    },
                    None => failures.push(format!("{name}: not a function of pg_catalog")),
                }
                continue;
            };
            let mut kinds: Vec<&str> = overloads.iter().map(|(k, _)| k.as_str()).collect();
            let mut volatilities: Vec<&str> = overloads.iter().map(|(_, v)| v.as_str()).collect();
            kinds.sort_unstable();
            kinds.dedup();
            volatilities.sort_unstable();
            volatilities.dedup();
            println!(
                "postgres {name:<26} prokind {:<3} provolatile {:<3} ({} overload(s))",
                kinds.concat(),
                volatilities.concat(),
                overloads.len()
            );
            if let Some(kind) = kinds.iter().find(|k| !["f", "a", "w"].contains(k)) {
                failures.push(format!(
                    "{name}: prokind {kind}, not a function, aggregate or window function"
                ));
            }
            let volatile = volatilities.contains(&"v");
            let excepted = PG_VOLATILE.iter().any(|(n, _)| *n == name);
            if volatile && !excepted {
                failures.push(format!(
                    "{name}: an overload is volatile; leave it out or write the exception \
                     and its reason"
                ));
            }
        }
        for (name, _) in PG_VOLATILE {
            let volatile = procs
                .get(*name)
                .is_some_and(|o| o.iter().any(|(_, v)| v == "v"));
            if !on_list(backend, name) || !volatile {
                failures.push(format!(
                    "exception {name}: not on the list, or not volatile"
                ));
            }
        }
        for (name, _) in PG_KEYWORD_FORMS {
            if !on_list(backend, name) || procs.contains_key(*name) {
                failures.push(format!(
                    "keyword form {name}: not on the list, or in pg_proc after all"
                ));
            }
        }
        report("Postgres", &failures);
    })
    .await;
}

// ---------------------------------------------------------------------------
// MySQL / MariaDB

/// "Incorrect parameter count in the call to native function": the
/// function exists.
const ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT: u16 = 1582;
/// "FUNCTION db.name does not exist".
const ER_SP_DOES_NOT_EXIST: u16 = 1305;

/// Calls for the entries `SELECT name()` cannot check (aggregates, window
/// functions, special syntax, names the grammar knows): each must succeed.
const MYSQL_PROBES: &[(&str, &str)] = &[
    ("adddate", "SELECT adddate('2024-01-31', INTERVAL 1 DAY)"),
    ("ascii", "SELECT ascii('a')"),
    ("avg", "SELECT avg(x) FROM (SELECT 1 AS x) AS t"),
    ("bit_and", "SELECT bit_and(x) FROM (SELECT 1 AS x) AS t"),
    ("bit_or", "SELECT bit_or(x) FROM (SELECT 1 AS x) AS t"),
    ("bit_xor", "SELECT bit_xor(x) FROM (SELECT 1 AS x) AS t"),
    // An operator in the grammar (`BINARY expr`), not a native function:
    // `SELECT binary()` is a syntax error. The form the scoped builders send.
    ("binary", "SELECT /*!BINARY*/('a') = 'a'"),
    ("char", "SELECT char(65, 66)"),
    ("count", "SELECT count(*) FROM (SELECT 1 AS x) AS t"),
    (
        "cume_dist",
        "SELECT cume_dist() OVER (ORDER BY x) FROM (SELECT 1 AS x) AS t",
    ),
    ("date", "SELECT date('2024-01-31 12:00:00')"),
    ("date_add", "SELECT date_add('2024-01-31', INTERVAL 1 DAY)"),
    ("date_sub", "SELECT date_sub('2024-01-31', INTERVAL 1 DAY)"),
    ("day", "SELECT day('2024-01-31')"),
    (
        "dense_rank",
        "SELECT dense_rank() OVER (ORDER BY x) FROM (SELECT 1 AS x) AS t",
    ),
    ("extract", "SELECT extract(YEAR FROM '2024-01-31')"),
    (
        "first_value",
        "SELECT first_value(x) OVER (ORDER BY x) FROM (SELECT 1 AS x) AS t",
    ),
    (
        "group_concat",
        "SELECT group_concat(x ORDER BY x SEPARATOR ',') FROM (SELECT 1 AS x) AS t",
    ),
    ("hour", "SELECT hour('12:34:56')"),
    ("if", "SELECT if(1 > 0, 'yes', 'no')"),
    (
        "json_arrayagg",
        "SELECT json_arrayagg(x) FROM (SELECT 1 AS x) AS t",
    ),
    (
        "json_objectagg",
        "SELECT json_objectagg('k', x) FROM (SELECT 1 AS x) AS t",
    ),
    (
        "lag",
        "SELECT lag(x) OVER (ORDER BY x) FROM (SELECT 1 AS x) AS t",
    ),
    (
        "last_value",
        "SELECT last_value(x) OVER (ORDER BY x) FROM (SELECT 1 AS x) AS t",
    ),
    (
        "lead",
        "SELECT lead(x) OVER (ORDER BY x) FROM (SELECT 1 AS x) AS t",
    ),
    ("left", "SELECT left('abc', 2)"),
    ("max", "SELECT max(x) FROM (SELECT 1 AS x) AS t"),
    (
        "median",
        "SELECT median(x) OVER () FROM (SELECT 1 AS x) AS t",
    ),
    ("mid", "SELECT mid('abc', 2, 1)"),
    ("min", "SELECT min(x) FROM (SELECT 1 AS x) AS t"),
    ("minute", "SELECT minute('12:34:56')"),
    ("mod", "SELECT mod(7, 3)"),
    ("month", "SELECT month('2024-01-31')"),
    (
        "nth_value",
        "SELECT nth_value(x, 1) OVER (ORDER BY x) FROM (SELECT 1 AS x) AS t",
    ),
    (
        "ntile",
        "SELECT ntile(2) OVER (ORDER BY x) FROM (SELECT 1 AS x) AS t",
    ),
    (
        "percent_rank",
        "SELECT percent_rank() OVER (ORDER BY x) FROM (SELECT 1 AS x) AS t",
    ),
    (
        "percentile_cont",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) OVER () FROM (SELECT 1 AS x) AS t",
    ),
    (
        "percentile_disc",
        "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) OVER () FROM (SELECT 1 AS x) AS t",
    ),
    ("position", "SELECT position('b' IN 'abc')"),
    (
        "rank",
        "SELECT rank() OVER (ORDER BY x) FROM (SELECT 1 AS x) AS t",
    ),
    ("repeat", "SELECT repeat('ab', 2)"),
    ("replace", "SELECT replace('abc', 'b', 'x')"),
    ("right", "SELECT right('abc', 2)"),
    (
        "row_number",
        "SELECT row_number() OVER (ORDER BY x) FROM (SELECT 1 AS x) AS t",
    ),
    ("second", "SELECT second('12:34:56')"),
    ("std", "SELECT std(x) FROM (SELECT 1 AS x) AS t"),
    ("stddev", "SELECT stddev(x) FROM (SELECT 1 AS x) AS t"),
    (
        "stddev_pop",
        "SELECT stddev_pop(x) FROM (SELECT 1 AS x) AS t",
    ),
    (
        "stddev_samp",
        "SELECT stddev_samp(x) FROM (SELECT 1 AS x) AS t",
    ),
    ("subdate", "SELECT subdate('2024-01-31', INTERVAL 1 DAY)"),
    ("substr", "SELECT substr('abc', 2)"),
    ("substring", "SELECT substring('abc' FROM 2 FOR 1)"),
    ("sum", "SELECT sum(x) FROM (SELECT 1 AS x) AS t"),
    ("time", "SELECT time('2024-01-31 12:34:56')"),
    ("timestamp", "SELECT timestamp('2024-01-31')"),
    ("timestampadd", "SELECT timestampadd(DAY, 1, '2024-01-31')"),
    (
        "timestampdiff",
        "SELECT timestampdiff(DAY, '2024-01-01', '2024-01-31')",
    ),
    ("trim", "SELECT trim(BOTH 'x' FROM 'xabcx')"),
    ("truncate", "SELECT truncate(1.234, 1)"),
    (
        "values",
        "INSERT INTO sot_probe (a, b) VALUES (1, 1) ON DUPLICATE KEY UPDATE b = VALUES(b)",
    ),
    ("var_pop", "SELECT var_pop(x) FROM (SELECT 1 AS x) AS t"),
    ("var_samp", "SELECT var_samp(x) FROM (SELECT 1 AS x) AS t"),
    ("variance", "SELECT variance(x) FROM (SELECT 1 AS x) AS t"),
    ("year", "SELECT year('2024-01-31')"),
];

/// The MySQL error number of `err`, if the server sent one.
fn mysql_error_number(err: &DbErr) -> Option<u16> {
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let sea_orm::sqlx::Error::Database(db) = e.deref() else {
        return None;
    };
    db.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
        .map(|e| e.number())
}

#[tokio::test]
async fn every_mysql_entry_is_a_builtin_function() {
    each_backend_of(&[Kind::MySql], async |t: &TestDb| {
        let backend = DbBackend::MySql;
        let call = async |sql: &str| {
            t.db.query_all_raw(Statement::from_string(backend, sql))
                .await
                .map(|_| ())
        };
        // The check tells a missing function from a present one: in this
        // fresh database a name that is no built-in does not exist.
        let missing = call("SELECT sot_no_such_function()")
            .await
            .expect_err("missing");
        assert_eq!(
            mysql_error_number(&missing),
            Some(ER_SP_DOES_NOT_EXIST),
            "{missing}"
        );
        t.db.execute_unprepared("CREATE TABLE sot_probe (a INT PRIMARY KEY, b INT)")
            .await
            .expect("probe table");
        let mut failures = Vec::new();
        for entry in allowed_functions(backend) {
            let name = entry.name;
            match MYSQL_PROBES.iter().find(|(n, _)| *n == name) {
                Some((_, sql)) => match call(sql).await {
                    Ok(()) => println!("mysql {name:<20} {sql}: ok"),
                    Err(err) => failures.push(format!("{name}: {sql}: {err}")),
                },
                None => {
                    let sql = format!("SELECT {name}()");
                    match call(&sql).await {
                        Ok(()) => println!("mysql {name:<20} {sql}: ok"),
                        Err(err)
                            if mysql_error_number(&err)
                                == Some(ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT) =>
                        {
                            println!("mysql {name:<20} {sql}: exists (error 1582, argument count)");
                        }
                        Err(err) => failures.push(format!(
                            "{name}: {sql}: error {:?}: {err}",
                            mysql_error_number(&err)
                        )),
                    }
                }
            }
        }
        for (name, _) in MYSQL_PROBES {
            if !on_list(backend, name) {
                failures.push(format!("probe {name}: not on the list"));
            }
        }
        report("MySQL/MariaDB", &failures);
    })
    .await;
}
