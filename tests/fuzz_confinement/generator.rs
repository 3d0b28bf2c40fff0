//! The statement generator: SQLite SQL over the fuzz schema, built from a
//! sequence of choices (the value proptest generates and shrinks).
//!
//! Each decision takes the next number of the sequence; a sequence that
//! has run out answers 0, and option 0 of every decision is the simplest
//! (a plain column, no join, no clause), so a shorter or smaller sequence
//! is a simpler statement and proptest's shrinking of the sequence
//! shrinks the SQL. Statements stay small and terminate: bounded nesting,
//! recursive CTEs only over a bound or a finite set, no `LIMIT`-less
//! "first row" reads (a scalar subquery is an aggregate or `ORDER BY 1
//! LIMIT 1`), no bare columns in aggregate queries, no functions whose
//! value changes from call to call (`random()`, the clock).
//!
//! What it writes: SELECT with every kind of projection (columns qualified
//! or not, `*`, `t.*`, expressions, aggregates with DISTINCT and FILTER,
//! window functions), FROM over tenant tables, the global table, the
//! registry and SQLite's own tables under every spelling of their names
//! (case, `"..."`, `` `...` ``, `[...]`, `main.`), aliases with and
//! without AS (also named like another table), every join (comma, INNER,
//! LEFT, RIGHT, FULL, CROSS, NATURAL, USING, ON, nested parentheses),
//! subqueries in every clause (FROM, SELECT, WHERE, HAVING, ORDER BY,
//! correlated, EXISTS, IN), table-valued `json_each`, compound selects,
//! CTEs (also named like a table, recursive with a bound), GROUP BY,
//! HAVING, ORDER BY, LIMIT/OFFSET, DISTINCT, CASE, CAST, LIKE, GLOB,
//! BETWEEN, IN lists, functions (pure ones, ones that fail on data, ones
//! that read connection state), literals in every spelling and `?`/`?N`
//! placeholders; INSERT (VALUES, SELECT, with and without the tenant
//! column, for acme and for globex, `OR ...` conflict clauses, upserts),
//! UPDATE (with FROM, row values, the tenant column) and DELETE, each with
//! RETURNING sometimes.

use sea_orm::Value;

use super::oracle::Case;
use super::world::{COLLIDING_IDS, Mode, SAFE_IDS, Sql};

/// How many choices a statement may consume at most.
pub const MAX_CHOICES: usize = 240;

/// How deep queries nest inside queries.
const MAX_QUERY_DEPTH: u32 = 2;
/// How deep expressions nest.
const MAX_EXPR_DEPTH: u32 = 3;

/// The statement that `choices` describes.
pub fn generate(choices: &[u32]) -> Case {
    let mut g = Gen {
        c: Choices {
            data: choices,
            pos: 0,
        },
        params: Vec::new(),
        ctes: Vec::new(),
        depth: 0,
        names: 0,
        collides: false,
    };
    let (text, mode, ordered) = match g.c.weighted(&[28, 4, 4, 2, 1]) {
        0 => {
            let (q, ordered) = g.top_query();
            (q, Mode::Query, ordered)
        }
        1 => g.insert(),
        2 => g.update(),
        3 => g.delete(),
        _ => (g.utility(), Mode::Execute, false),
    };
    let text = match g.c.weighted(&[30, 1, 1, 1]) {
        0 => text,
        1 => format!("/* c */ {text}"),
        2 => format!("{text};"),
        _ => format!("{text} /* ; */"),
    };
    Case {
        sql: Sql {
            text,
            params: g.params,
        },
        mode,
        ordered,
        collides: g.collides,
    }
}

struct Choices<'a> {
    data: &'a [u32],
    pos: usize,
}

impl Choices<'_> {
    fn next(&mut self) -> u32 {
        let v = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v
    }

    /// 0..n; 0 once the choices have run out.
    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        self.next() as usize % n
    }

    /// An index into `weights`, each as likely as its weight; 0 once the
    /// choices have run out.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = self.next() % total;
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// True `percent` times in 100; false once the choices have run out.
    fn chance(&mut self, percent: u32) -> bool {
        self.next() % 100 >= 100 - percent
    }

    fn pick<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        &items[self.below(items.len())]
    }
}

/// A loose SQLite type, to pick fitting literals and functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Int,
    Real,
    Text,
    Any,
}

#[derive(Clone, Debug)]
struct Col {
    name: String,
    ty: Ty,
}

/// A relation in scope: how to qualify its columns, and its columns.
#[derive(Clone, Debug)]
struct Rel {
    qual: Option<String>,
    cols: Vec<Col>,
    /// A table with a rowid (`rowid`, `oid`, `_rowid_` name it).
    rowid: bool,
}

/// The relations an expression may name: its query's, and the enclosing
/// queries' (for correlated subqueries).
#[derive(Clone, Debug, Default)]
struct Scope {
    rels: Vec<Rel>,
    outer: Vec<Rel>,
}

impl Scope {
    /// The scope of a subquery of this one with `rels`.
    fn sub(&self, rels: Vec<Rel>) -> Scope {
        let mut outer = self.rels.clone();
        outer.extend(self.outer.iter().cloned());
        Scope { rels, outer }
    }
}

const TABLES: &[(&str, &[(&str, Ty)])] = &[
    (
        "post",
        &[
            ("id", Ty::Int),
            ("tenant_id", Ty::Text),
            ("title", Ty::Text),
        ],
    ),
    (
        "comment",
        &[
            ("id", Ty::Int),
            ("tenant_id", Ty::Text),
            ("post_id", Ty::Int),
            ("body", Ty::Text),
        ],
    ),
    (
        "tag",
        &[("id", Ty::Int), ("tenant_id", Ty::Text), ("name", Ty::Text)],
    ),
    (
        "post_tag",
        &[
            ("post_id", Ty::Int),
            ("tag_id", Ty::Int),
            ("tenant_id", Ty::Text),
        ],
    ),
    (
        "item",
        &[
            ("id", Ty::Int),
            ("tenant_id", Ty::Text),
            ("n", Ty::Int),
            ("x", Ty::Real),
            ("data", Ty::Text),
            ("v", Ty::Any),
        ],
    ),
    ("country", &[("code", Ty::Text), ("name", Ty::Text)]),
];

/// Tables nobody declared, or that belong to SQLite or the crate.
const ODD_TABLES: &[(&str, &[(&str, Ty)])] = &[
    (
        "sea_orm_tenant_registry",
        &[("tenant_id", Ty::Text), ("placement", Ty::Text)],
    ),
    (
        "sqlite_master",
        &[
            ("type", Ty::Text),
            ("name", Ty::Text),
            ("tbl_name", Ty::Text),
            ("sql", Ty::Text),
        ],
    ),
    ("sqlite_schema", &[("name", Ty::Text), ("sql", Ty::Text)]),
    ("sqlite_sequence", &[("name", Ty::Text), ("seq", Ty::Int)]),
    (
        "pragma_table_info('post')",
        &[("name", Ty::Text), ("type", Ty::Text)],
    ),
    ("legacy_post", &[("id", Ty::Int), ("title", Ty::Text)]),
];

const TEXT_LITERALS: &[&str] = &[
    "'a'",
    "'acme'",
    "'globex'",
    "'globex secret'",
    "'same'",
    "''",
    "'it''s'",
    "'$.a'",
    "'$['",
    "'{\"a\":1}'",
    "'{\"a\":'",
    "'5'",
    "'ACME'",
    "'%e%'",
    "'a1'",
    "'red'",
    "'NZ'",
    "'*'",
    "'%'",
    "'; DELETE FROM post --'",
    "'/* x */'",
    "'-- y'",
    "'post'",
    "'\"tenant_id\"'",
];

const NUMBER_LITERALS: &[&str] = &[
    "1",
    "0",
    "2",
    "-0",
    "5",
    "30",
    "0.5",
    "1e3",
    "1E-2",
    "0x10",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1.5",
    ".5",
    "4",
];

const OTHER_LITERALS: &[&str] = &[
    "NULL",
    "TRUE",
    "FALSE",
    "x'41'",
    "X''",
    "\"acme\"",
    "\"globex\"",
    "\"tenant_id\"",
];

/// Scalar functions, with how many arguments.
const FUNCTIONS: &[(&str, usize)] = &[
    ("coalesce", 2),
    ("lower", 1),
    ("upper", 1),
    ("abs", 1),
    ("length", 1),
    ("typeof", 1),
    ("ifnull", 2),
    ("nullif", 2),
    ("substr", 3),
    ("instr", 2),
    ("replace", 3),
    ("trim", 1),
    ("round", 1),
    ("hex", 1),
    ("quote", 1),
    ("unicode", 1),
    ("char", 1),
    ("iif", 3),
    ("max", 2),
    ("min", 2),
    ("like", 2),
    ("glob", 2),
    ("printf", 2),
    ("json_extract", 2),
    ("json", 1),
    ("json_valid", 1),
    ("json_type", 1),
    ("json_array_length", 1),
    ("json_array", 2),
    ("json_quote", 1),
    ("json_remove", 2),
    ("json_set", 3),
    ("json_array_length", 2),
    ("json_group_array", 1),
    ("zeroblob", 1),
    ("unhex", 1),
    ("date", 1),
    ("likely", 1),
    ("sqlite_version", 0),
    ("last_insert_rowid", 0),
    ("changes", 0),
    ("total_changes", 0),
    ("load_extension", 1),
    ("sqlite_compileoption_get", 1),
    ("ABS", 1),
    ("\"lower\"", 1),
    ("main.lower", 1),
];

const AGGREGATES: &[&str] = &["count", "sum", "total", "avg", "min", "max", "COUNT"];

const CTE_NAMES: &[&str] = &[
    "w",
    "post",
    "c1",
    "comment",
    "country",
    "sea_orm_tenant_registry",
];

const ALIASES: &[&str] = &[
    "p",
    "q",
    "s",
    "t",
    "x",
    "\"P\"",
    "post",
    "comment",
    "country",
    "tenant_id",
    "[y]",
    "item",
];

struct Gen<'a> {
    c: Choices<'a>,
    params: Vec<Value>,
    /// The CTEs in scope: name and columns.
    ctes: Vec<(String, Vec<Col>)>,
    /// How deep in subqueries.
    depth: u32,
    /// Counter for fresh names.
    names: u32,
    /// It wrote a key of `COLLIDING_IDS`.
    collides: bool,
}

impl Gen<'_> {
    fn fresh(&mut self, prefix: &str) -> String {
        self.names += 1;
        format!("{prefix}{}", self.names)
    }

    // ---------------------------------------------------------------
    // Names.

    /// `name` as an identifier, in one of SQLite's spellings.
    fn ident(&mut self, name: &str) -> String {
        match self.c.weighted(&[14, 1, 2, 1, 1, 1]) {
            0 => name.to_owned(),
            1 => name.to_ascii_uppercase(),
            2 => format!("\"{name}\""),
            3 => format!("[{name}]"),
            4 => format!("`{name}`"),
            _ => format!("\"{}\"", name.to_ascii_uppercase()),
        }
    }

    /// A table name as written in FROM, and how its columns may be
    /// qualified when it has no alias.
    fn table_name(&mut self, name: &str) -> (String, String) {
        if name.contains('(') {
            return (name.to_owned(), name.split('(').next().unwrap().to_owned());
        }
        match self.c.weighted(&[10, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1]) {
            0 => (name.to_owned(), name.to_owned()),
            1 => {
                let n = name.to_ascii_uppercase();
                (n.clone(), n)
            }
            2 => {
                let mut n = name.to_owned();
                n[..1].make_ascii_uppercase();
                (n.clone(), n)
            }
            3 => (format!("\"{name}\""), format!("\"{name}\"")),
            4 => {
                let n = format!("\"{}\"", name.to_ascii_uppercase());
                (n.clone(), n)
            }
            5 => (format!("`{name}`"), name.to_owned()),
            6 => (format!("[{name}]"), format!("[{name}]")),
            7 => (format!("main.{name}"), name.to_owned()),
            8 => (
                format!("\"main\".\"{name}\""),
                format!("\"main\".\"{name}\""),
            ),
            9 => (format!("MAIN.[{name}]"), name.to_owned()),
            _ => (format!("temp.{name}"), name.to_owned()),
        }
    }

    /// ` AS x`, ` x` or nothing.
    fn alias(&mut self) -> Option<(String, String)> {
        match self.c.weighted(&[4, 3, 2]) {
            0 => None,
            k => {
                let name = if self.c.chance(60) {
                    (*self.c.pick(ALIASES)).to_owned()
                } else {
                    self.fresh("a")
                };
                let text = if k == 1 {
                    format!(" AS {name}")
                } else {
                    format!(" {name}")
                };
                Some((text, name))
            }
        }
    }

    fn cols(spec: &[(&str, Ty)]) -> Vec<Col> {
        spec.iter()
            .map(|(n, t)| Col {
                name: (*n).to_owned(),
                ty: *t,
            })
            .collect()
    }

    // ---------------------------------------------------------------
    // Literals and placeholders.

    fn literal(&mut self, ty: Ty) -> String {
        let kind = match ty {
            Ty::Int => self.c.weighted(&[6, 1, 1]),
            Ty::Real => self.c.weighted(&[5, 1, 1]),
            Ty::Text => [1, 0, 2][self.c.weighted(&[6, 1, 1])],
            Ty::Any => self.c.weighted(&[3, 3, 2]),
        };
        match kind {
            0 => (*self.c.pick(NUMBER_LITERALS)).to_owned(),
            1 => (*self.c.pick(TEXT_LITERALS)).to_owned(),
            _ => (*self.c.pick(OTHER_LITERALS)).to_owned(),
        }
    }

    /// `?` or `?N`, binding a value.
    fn param(&mut self, ty: Ty) -> String {
        let value = match (ty, self.c.weighted(&[4, 2, 1, 1, 1, 1, 1])) {
            (Ty::Text, 0) | (_, 1) => Value::String(Some(
                (*self
                    .c
                    .pick(&["acme", "globex", "globex secret", "same", "$.a", "%"]))
                .to_owned(),
            )),
            (_, 0) | (_, 2) => Value::BigInt(Some(*self.c.pick(&[2, 1, 5, 30, 4, i64::MAX]))),
            (_, 3) => Value::Int(None),
            (_, 4) => Value::Double(Some(*self.c.pick(&[0.5, -0.0, 1e308]))),
            (_, 5) => Value::Bytes(Some(vec![0x41])),
            _ => Value::Bool(Some(true)),
        };
        if !self.params.is_empty() && self.c.chance(15) {
            // A numbered placeholder: a value already bound, or the next.
            let n = self.c.below(self.params.len() + 1) + 1;
            if n > self.params.len() {
                self.params.push(value);
            }
            return format!("?{n}");
        }
        self.params.push(value);
        if self.c.chance(8) {
            // A named one (SQLite numbers names in order of appearance; each
            // name here is new, so it takes the next number, as `?` does).
            let prefix = *self.c.pick(&[":", "@", "$"]);
            return format!("{prefix}p{}", self.params.len());
        }
        "?".to_owned()
    }

    // ---------------------------------------------------------------
    // Expressions.

    /// A column of `scope`, spelled and maybe qualified, and its type.
    fn column(&mut self, scope: &Scope) -> Option<(String, Ty)> {
        let use_outer = !scope.outer.is_empty() && self.c.chance(15);
        let rels = if use_outer || scope.rels.is_empty() {
            &scope.outer
        } else {
            &scope.rels
        };
        let with_cols: Vec<&Rel> = rels.iter().filter(|r| !r.cols.is_empty()).collect();
        if with_cols.is_empty() {
            return None;
        }
        let rel = (*self.c.pick(&with_cols)).clone();
        let col = if rel.rowid && self.c.chance(4) {
            Col {
                name: (*self.c.pick(&["rowid", "oid", "_rowid_"])).to_owned(),
                ty: Ty::Int,
            }
        } else {
            self.c.pick(&rel.cols).clone()
        };
        let name = self.ident(&col.name);
        let qualify = use_outer || self.c.weighted(&[2, 3]) == 1;
        let text = match (&rel.qual, qualify) {
            (Some(q), true) => format!("{q}.{name}"),
            _ => name,
        };
        Some((text, col.ty))
    }

    fn terminal(&mut self, scope: &Scope, ty: Ty) -> String {
        match self.c.weighted(&[6, 3, 1]) {
            0 => match self.column(scope) {
                Some((c, _)) => c,
                None => self.literal(ty),
            },
            1 => self.literal(ty),
            _ => self.param(ty),
        }
    }

    fn expr(&mut self, scope: &Scope, depth: u32) -> String {
        self.expr_of(scope, depth, Ty::Any)
    }

    fn expr_of(&mut self, scope: &Scope, depth: u32, ty: Ty) -> String {
        if depth >= MAX_EXPR_DEPTH {
            return self.terminal(scope, ty);
        }
        let d = depth + 1;
        let sub_ok = self.depth < MAX_QUERY_DEPTH;
        match self.c.weighted(&[12, 3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1]) {
            0 => self.terminal(scope, ty),
            1 => {
                let op = *self
                    .c
                    .pick(&["+", "-", "*", "/", "%", "||", "&", "|", "<<"]);
                format!("{} {op} {}", self.expr(scope, d), self.expr(scope, d))
            }
            2 => self.pred(scope, d),
            3 => self.function(scope, d),
            4 => {
                let mut out = "CASE".to_owned();
                let simple = self.c.chance(30);
                if simple {
                    out.push_str(&format!(" {}", self.expr(scope, d)));
                }
                for _ in 0..1 + self.c.below(2) {
                    let when = if simple {
                        self.expr(scope, d)
                    } else {
                        self.pred(scope, d)
                    };
                    out.push_str(&format!(" WHEN {when} THEN {}", self.expr(scope, d)));
                }
                if self.c.chance(60) {
                    out.push_str(&format!(" ELSE {}", self.expr(scope, d)));
                }
                out.push_str(" END");
                out
            }
            5 => {
                let to = *self
                    .c
                    .pick(&["INTEGER", "TEXT", "REAL", "BLOB", "NUMERIC", "int"]);
                format!("CAST({} AS {to})", self.expr(scope, d))
            }
            6 => format!("-{}", self.terminal(scope, ty)),
            7 => format!("({})", self.expr(scope, d)),
            8 => format!("{} COLLATE NOCASE", self.terminal(scope, ty)),
            9 => {
                let op = *self.c.pick(&["->", "->>"]);
                let path = *self.c.pick(&["'$.a'", "'a'", "0", "'$[0]'", "'$.a.b'"]);
                format!("{} {op} {path}", self.terminal(scope, Ty::Text))
            }
            10 if sub_ok => self.scalar_subquery(scope),
            11 if sub_ok => self.window_free_aggregate_subquery(scope),
            _ => self.terminal(scope, ty),
        }
    }

    /// A condition.
    fn pred(&mut self, scope: &Scope, depth: u32) -> String {
        if depth >= MAX_EXPR_DEPTH {
            let a = self.terminal(scope, Ty::Any);
            return format!("{a} = {}", self.literal(Ty::Any));
        }
        let d = depth + 1;
        let sub_ok = self.depth < MAX_QUERY_DEPTH;
        match self.c.weighted(&[10, 3, 2, 1, 2, 1, 2, 1, 1, 2, 2, 1, 1]) {
            0 => {
                let (a, ty) = match self.column(scope) {
                    Some(c) => c,
                    None => (self.literal(Ty::Any), Ty::Any),
                };
                let op = *self
                    .c
                    .pick(&["=", "<>", "<", ">=", "!=", "==", "<=", ">", "IS", "IS NOT"]);
                let b = if self.c.chance(70) {
                    self.literal(ty)
                } else {
                    self.expr_of(scope, d, ty)
                };
                format!("{a} {op} {b}")
            }
            1 => {
                let op = *self.c.pick(&["AND", "OR"]);
                format!("{} {op} {}", self.pred(scope, d), self.pred(scope, d))
            }
            2 => format!("NOT ({})", self.pred(scope, d)),
            3 => {
                let op = *self.c.pick(&["LIKE", "GLOB", "NOT LIKE", "LIKE"]);
                let pattern = if self.c.chance(20) {
                    self.expr_of(scope, d, Ty::Text)
                } else {
                    (*self.c.pick(&["'%e%'", "'a%'", "'*e*'", "'globex%'", "'%'"])).to_owned()
                };
                // An ESCAPE of a column fails on a value that is not one
                // character: a channel unless the tenant predicate comes first.
                let escape = if op.ends_with("LIKE") && self.c.chance(15) {
                    format!(" ESCAPE {}", self.terminal(scope, Ty::Text))
                } else {
                    String::new()
                };
                format!(
                    "{} {op} {pattern}{escape}",
                    self.expr_of(scope, d, Ty::Text)
                )
            }
            4 => format!(
                "{} BETWEEN {} AND {}",
                self.expr(scope, d),
                self.literal(Ty::Int),
                self.literal(Ty::Int)
            ),
            5 => {
                let not = if self.c.chance(30) { " NOT" } else { "" };
                let n = 1 + self.c.below(3);
                let items: Vec<String> = (0..n)
                    .map(|_| {
                        if self.c.chance(15) {
                            self.param(Ty::Any)
                        } else {
                            self.literal(Ty::Any)
                        }
                    })
                    .collect();
                format!("{}{not} IN ({})", self.expr(scope, d), items.join(", "))
            }
            6 => {
                let op = *self
                    .c
                    .pick(&["IS NULL", "IS NOT NULL", "NOTNULL", "ISNULL"]);
                format!("{} {op}", self.expr(scope, d))
            }
            7 => format!(
                "{} IS DISTINCT FROM {}",
                self.expr(scope, d),
                self.literal(Ty::Any)
            ),
            8 => self.function(scope, d),
            9 if sub_ok => {
                let not = if self.c.chance(30) { "NOT " } else { "" };
                format!("{not}EXISTS ({})", self.subquery_any(scope))
            }
            10 if sub_ok => {
                let not = if self.c.chance(25) { " NOT" } else { "" };
                let e = self.expr(scope, d);
                format!("{e}{not} IN ({})", self.subquery_one(scope))
            }
            11 if sub_ok => {
                let op = *self.c.pick(&["=", ">", "<", "<>"]);
                format!(
                    "{} {op} {}",
                    self.expr(scope, d),
                    self.scalar_subquery(scope)
                )
            }
            12 => {
                // Row values, the tenant column among them sometimes.
                let a = self.terminal(scope, Ty::Any);
                let b = self.terminal(scope, Ty::Any);
                if sub_ok && self.c.chance(40) {
                    let inner = self.nested(|g| g.select(scope, Some(2), false).0);
                    format!("({a}, {b}) IN ({inner})")
                } else {
                    let (x, y) = (self.literal(Ty::Any), self.literal(Ty::Any));
                    let op = *self.c.pick(&["=", "<>", "<", "IS"]);
                    format!("({a}, {b}) {op} ({x}, {y})")
                }
            }
            _ => {
                let a = self.terminal(scope, Ty::Any);
                format!("{a} = {}", self.literal(Ty::Any))
            }
        }
    }

    fn function(&mut self, scope: &Scope, depth: u32) -> String {
        // json_extract with a path from a column, or on a column.
        if self.c.chance(15) {
            return match self.c.below(3) {
                0 => format!(
                    "json_extract({}, {})",
                    self.literal(Ty::Text),
                    self.expr_of(scope, depth, Ty::Text)
                ),
                1 => format!(
                    "json_extract({}, '$.a')",
                    self.expr_of(scope, depth, Ty::Text)
                ),
                _ => format!("abs({})", self.expr_of(scope, depth, Ty::Int)),
            };
        }
        let (name, arity) = *self.c.pick(FUNCTIONS);
        let args: Vec<String> = (0..arity).map(|_| self.expr(scope, depth)).collect();
        format!("{name}({})", args.join(", "))
    }

    /// An aggregate call over `scope`.
    fn aggregate(&mut self, scope: &Scope) -> String {
        let name = *self.c.pick(AGGREGATES);
        let mut call = if name.eq_ignore_ascii_case("count") && self.c.weighted(&[1, 1]) == 0 {
            format!("{name}(*)")
        } else {
            let distinct = if self.c.chance(20) { "DISTINCT " } else { "" };
            format!("{name}({distinct}{})", self.expr(scope, 1))
        };
        if self.c.chance(10) {
            call.push_str(&format!(" FILTER (WHERE {})", self.pred(scope, 2)));
        }
        call
    }

    /// A deterministic window function call over `scope`.
    fn window(&mut self, scope: &Scope) -> String {
        let part = |g: &mut Self| match g.column(scope) {
            Some((c, _)) => c,
            None => "1".to_owned(),
        };
        match self.c.below(6) {
            0 => "count(*) OVER ()".to_owned(),
            1 => format!("sum({}) OVER (PARTITION BY {})", part(self), part(self)),
            2 => format!("rank() OVER (ORDER BY {})", part(self)),
            3 => format!(
                "dense_rank() OVER (PARTITION BY {} ORDER BY {})",
                part(self),
                part(self)
            ),
            4 => format!("max({}) OVER (ORDER BY {})", part(self), part(self)),
            _ => format!("cume_dist() OVER (ORDER BY {})", part(self)),
        }
    }

    // ---------------------------------------------------------------
    // Subqueries in expressions.

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }

    /// `(SELECT agg(...) FROM ...)` or `(SELECT e FROM ... ORDER BY 1 LIMIT 1)`.
    fn scalar_subquery(&mut self, scope: &Scope) -> String {
        self.nested(|g| {
            let (from, rels) = g.sources(scope);
            let inner = scope.sub(rels);
            let filter = g.where_clause(&inner);
            if g.c.weighted(&[3, 2]) == 0 {
                let agg = g.aggregate(&inner);
                format!("(SELECT {agg} FROM {from}{filter})")
            } else {
                let e = g.expr(&inner, 1);
                format!("(SELECT {e} FROM {from}{filter} ORDER BY 1 LIMIT 1)")
            }
        })
    }

    /// A scalar subquery written the plain way: an aggregate without
    /// GROUP BY, so exactly one row.
    fn window_free_aggregate_subquery(&mut self, scope: &Scope) -> String {
        self.nested(|g| {
            let (from, rels) = g.sources(scope);
            let inner = scope.sub(rels);
            let filter = g.where_clause(&inner);
            format!("(SELECT count(*) FROM {from}{filter})")
        })
    }

    /// A subquery for EXISTS: any columns.
    fn subquery_any(&mut self, scope: &Scope) -> String {
        self.nested(|g| {
            let (from, rels) = g.sources(scope);
            let inner = scope.sub(rels);
            let filter = g.where_clause(&inner);
            let proj = *g.c.pick(&["1", "*", "NULL"]);
            format!("SELECT {proj} FROM {from}{filter}")
        })
    }

    /// A subquery of one column, for IN.
    fn subquery_one(&mut self, scope: &Scope) -> String {
        self.nested(|g| {
            if g.c.chance(10) {
                let n = 1 + g.c.below(2);
                let rows: Vec<String> = (0..n)
                    .map(|_| format!("({})", g.literal(Ty::Any)))
                    .collect();
                return format!("VALUES {}", rows.join(", "));
            }
            let (from, rels) = g.sources(scope);
            let inner = scope.sub(rels);
            let e = match g.column(&Scope {
                rels: inner.rels.clone(),
                outer: vec![],
            }) {
                Some((c, _)) => c,
                None => g.expr(&inner, 1),
            };
            let filter = g.where_clause(&inner);
            let limit = if g.c.chance(10) {
                " ORDER BY 1 LIMIT 2"
            } else {
                ""
            };
            if limit.is_empty() && g.c.chance(15) {
                // A compound of one-column selects.
                let op = *g.c.pick(&["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]);
                let (other, _) = g.select(scope, Some(1), false);
                return format!("SELECT {e} FROM {from}{filter} {op} {other}");
            }
            format!("SELECT {e} FROM {from}{filter}{limit}")
        })
    }

    fn where_clause(&mut self, scope: &Scope) -> String {
        if self.c.weighted(&[1, 2]) == 1 {
            format!(" WHERE {}", self.pred(scope, 0))
        } else {
            String::new()
        }
    }

    // ---------------------------------------------------------------
    // FROM.

    /// One item of a FROM clause; `left` is what comes before it (for
    /// `json_each` over a column of an earlier item).
    fn source_item(&mut self, scope: &Scope, left: &[Rel]) -> (String, Vec<Rel>) {
        let sub_ok = self.depth < MAX_QUERY_DEPTH;
        match self.c.weighted(&[14, 2, 2, 1, 1, 1, 1]) {
            1 if sub_ok => {
                let (q, cols) = self.nested(|g| g.derived(scope));
                let (alias, name) = match self.alias() {
                    Some(a) => a,
                    None => {
                        let n = self.fresh("s");
                        (format!(" AS {n}"), n)
                    }
                };
                (
                    format!("({q}){alias}"),
                    vec![Rel {
                        qual: Some(name),
                        cols,
                        rowid: false,
                    }],
                )
            }
            2 if !self.ctes.is_empty() => {
                let (name, cols) = self.c.pick(&self.ctes).clone();
                let (alias, qual) = match self.alias() {
                    Some((a, n)) => (a, n),
                    None => (String::new(), name.clone()),
                };
                (
                    format!("{name}{alias}"),
                    vec![Rel {
                        qual: Some(qual),
                        cols,
                        rowid: false,
                    }],
                )
            }
            3 => {
                let n = 1 + self.c.below(2);
                let rows: Vec<String> = (0..n)
                    .map(|_| format!("({}, {})", self.literal(Ty::Int), self.literal(Ty::Text)))
                    .collect();
                let name = self.fresh("v");
                (
                    format!("(VALUES {}) AS {name}", rows.join(", ")),
                    vec![Rel {
                        qual: Some(name),
                        cols: Self::cols(&[("column1", Ty::Int), ("column2", Ty::Text)]),
                        rowid: false,
                    }],
                )
            }
            4 => {
                let arg = match self.column(&Scope {
                    rels: left.to_vec(),
                    outer: scope.rels.clone(),
                }) {
                    Some((c, _)) if self.c.chance(80) => c,
                    _ => self.literal(Ty::Text),
                };
                let name = self.fresh("j");
                (
                    format!("json_each({arg}) AS {name}"),
                    vec![Rel {
                        qual: Some(name),
                        cols: Self::cols(&[
                            ("key", Ty::Any),
                            ("value", Ty::Any),
                            ("type", Ty::Text),
                            ("fullkey", Ty::Text),
                        ]),
                        rowid: false,
                    }],
                )
            }
            5 => {
                let (table, spec) = *self.c.pick(ODD_TABLES);
                let (text, qual) = self.table_name(table);
                let (alias, qual) = match self.alias() {
                    Some((a, n)) => (a, n),
                    None => (String::new(), qual),
                };
                (
                    format!("{text}{alias}"),
                    vec![Rel {
                        qual: Some(qual),
                        cols: Self::cols(spec),
                        rowid: false,
                    }],
                )
            }
            6 if sub_ok => {
                // A parenthesised join.
                let (inner, rels) = self.nested(|g| g.join_chain(scope, 2));
                (format!("({inner})"), rels)
            }
            _ => {
                let (table, spec) = TABLES[self.c.weighted(&[6, 2, 1, 1, 2, 2])];
                let (text, qual) = self.table_name(table);
                let (alias, qual) = match self.alias() {
                    Some((a, n)) => (a, n),
                    None => (String::new(), qual),
                };
                let hint = if self.c.chance(3) { " NOT INDEXED" } else { "" };
                (
                    format!("{text}{alias}{hint}"),
                    vec![Rel {
                        qual: Some(qual),
                        cols: Self::cols(spec),
                        rowid: true,
                    }],
                )
            }
        }
    }

    fn sources(&mut self, scope: &Scope) -> (String, Vec<Rel>) {
        // Up to three items at the top, two in a subquery: a correlated
        // subquery runs once per outer row, and must stay cheap.
        let n = if self.depth == 0 {
            1 + self.c.weighted(&[6, 3, 1])
        } else {
            1 + self.c.weighted(&[6, 3])
        };
        self.join_chain(scope, n)
    }

    /// `n` FROM items joined.
    fn join_chain(&mut self, scope: &Scope, n: usize) -> (String, Vec<Rel>) {
        let (mut text, mut rels) = self.source_item(scope, &[]);
        for _ in 1..n {
            let op = *self.c.pick(&[
                ",",
                " JOIN",
                " LEFT JOIN",
                " INNER JOIN",
                " LEFT OUTER JOIN",
                " RIGHT JOIN",
                " FULL JOIN",
                " FULL OUTER JOIN",
                " CROSS JOIN",
                " NATURAL JOIN",
                " NATURAL LEFT JOIN",
                " RIGHT OUTER JOIN",
                " NATURAL FULL JOIN",
            ]);
            let (item, item_rels) = self.source_item(scope, &rels);
            let mut joined = rels.clone();
            joined.extend(item_rels.iter().cloned());
            let constraint = if op == "," || op.contains("CROSS") || op.contains("NATURAL") {
                String::new()
            } else {
                let common: Vec<String> = item_rels
                    .iter()
                    .flat_map(|r| r.cols.iter())
                    .filter(|c| rels.iter().any(|r| r.cols.iter().any(|d| d.name == c.name)))
                    .map(|c| c.name.clone())
                    .collect();
                if !common.is_empty() && self.c.chance(25) {
                    let col = self.c.pick(&common).clone();
                    format!(" USING ({})", self.ident(&col))
                } else {
                    let on_scope = scope.sub(joined.clone());
                    format!(" ON {}", self.join_condition(&on_scope, &rels, &item_rels))
                }
            };
            text = format!("{text}{op} {item}{constraint}");
            rels = joined;
        }
        (text, rels)
    }

    /// Mostly an equality between a column on each side; sometimes any
    /// condition, `0`, `1`.
    fn join_condition(&mut self, scope: &Scope, left: &[Rel], right: &[Rel]) -> String {
        match self.c.weighted(&[5, 2, 1, 1]) {
            0 => {
                let l = self.column(&Scope {
                    rels: left.to_vec(),
                    outer: vec![],
                });
                let r = self.column(&Scope {
                    rels: right.to_vec(),
                    outer: vec![],
                });
                match (l, r) {
                    (Some((l, _)), Some((r, _))) => format!("{l} = {r}"),
                    _ => "1".to_owned(),
                }
            }
            1 => self.pred(scope, 1),
            2 => "0".to_owned(),
            _ => "1".to_owned(),
        }
    }

    // ---------------------------------------------------------------
    // SELECT.

    /// A SELECT core. With `want`, exactly that many columns; with
    /// `named`, every expression column gets an alias (for use in FROM).
    /// Returns the SQL and its output columns.
    fn select(&mut self, outer: &Scope, want: Option<usize>, named: bool) -> (String, Vec<Col>) {
        let no_from = self.c.chance(8);
        let (from, rels) = if no_from {
            (String::new(), Vec::new())
        } else {
            let (f, r) = self.sources(outer);
            (format!(" FROM {f}"), r)
        };
        let scope = outer.sub(rels.clone());
        let distinct = match self.c.weighted(&[8, 2, 1]) {
            0 => "",
            1 => "DISTINCT ",
            _ => "ALL ",
        };
        let filter = self.where_clause(&scope);
        let aggregate = !rels.is_empty() && self.c.chance(20);
        let mut cols = Vec::new();
        let mut items = Vec::new();
        let mut tail = String::new();
        if aggregate {
            let mut groups = Vec::new();
            if self.c.chance(60) {
                for _ in 0..1 + self.c.below(2) {
                    if let Some(c) = self.column(&Scope {
                        rels: rels.clone(),
                        outer: vec![],
                    }) {
                        groups.push(c);
                    }
                }
            }
            let n = want.unwrap_or_else(|| 1 + self.c.below(3));
            for _ in 0..n {
                let (text, ty) = if !groups.is_empty() && self.c.chance(40) {
                    self.c.pick(&groups).clone()
                } else {
                    (self.aggregate(&scope), Ty::Any)
                };
                let name = self.fresh("c");
                items.push(if named || self.c.chance(50) {
                    format!("{text} AS {name}")
                } else {
                    text
                });
                cols.push(Col { name, ty });
            }
            if !groups.is_empty() {
                let g: Vec<String> = groups.iter().map(|(t, _)| t.clone()).collect();
                tail.push_str(&format!(" GROUP BY {}", g.join(", ")));
                if self.c.chance(30) {
                    let agg = self.aggregate(&scope);
                    let op = *self.c.pick(&[">", "=", "<", ">="]);
                    let having = if self.depth < MAX_QUERY_DEPTH && self.c.chance(20) {
                        self.scalar_subquery(&scope)
                    } else {
                        self.literal(Ty::Int)
                    };
                    tail.push_str(&format!(" HAVING {agg} {op} {having}"));
                }
            }
        } else {
            let star = want.is_none() && !rels.is_empty() && self.c.chance(25);
            if star {
                if self.c.chance(50) || rels.iter().all(|r| r.qual.is_none()) {
                    items.push("*".to_owned());
                    for r in &rels {
                        cols.extend(r.cols.iter().cloned());
                    }
                } else {
                    let r = self.c.pick(&rels).clone();
                    items.push(format!("{}.*", r.qual.clone().unwrap_or_default()));
                    cols.extend(r.cols.iter().cloned());
                }
            }
            let n = want.unwrap_or_else(|| {
                if star {
                    self.c.below(2)
                } else {
                    1 + self.c.below(3)
                }
            });
            for _ in 0..n {
                let (text, name, ty) = match self.c.weighted(&[6, 4, 1]) {
                    0 => match self.column(&scope) {
                        Some((c, ty)) => {
                            let bare = c.rsplit('.').next().unwrap_or(&c);
                            let bare = bare
                                .trim_matches(|ch| "\"[]`".contains(ch))
                                .to_ascii_lowercase();
                            (c, bare, ty)
                        }
                        None => (self.literal(Ty::Any), self.fresh("c"), Ty::Any),
                    },
                    1 => (self.expr(&scope, 0), self.fresh("c"), Ty::Any),
                    _ if !rels.is_empty() => (self.window(&scope), self.fresh("c"), Ty::Any),
                    _ => (self.literal(Ty::Any), self.fresh("c"), Ty::Any),
                };
                let alias = named || self.c.chance(30);
                let name = if alias { self.fresh("c") } else { name };
                items.push(if alias {
                    format!("{text} AS {name}")
                } else {
                    text
                });
                cols.push(Col { name, ty });
            }
        }
        let sql = format!("SELECT {distinct}{}{from}{filter}{tail}", items.join(", "));
        (sql, cols)
    }

    /// A query whose columns are named (a derived table's, a CTE's): a
    /// SELECT, sometimes a compound one, or one ordered by every column
    /// with a LIMIT.
    fn derived(&mut self, outer: &Scope) -> (String, Vec<Col>) {
        if self.c.chance(8) {
            // A WITH of its own, in scope only inside.
            let in_scope = self.ctes.len();
            let with = self.with_clause();
            let (body, cols) = self.select(outer, None, true);
            self.ctes.truncate(in_scope);
            return (format!("{with}{body}"), cols);
        }
        let (first, cols) = self.select(outer, None, true);
        match self.c.weighted(&[8, 1, 1]) {
            1 => {
                let op = *self.c.pick(&["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]);
                let (second, _) = self.select(outer, Some(cols.len()), false);
                (format!("{first} {op} {second}"), cols)
            }
            2 => {
                let all: Vec<String> = (1..=cols.len()).map(|i| i.to_string()).collect();
                let limit = *self.c.pick(&["1", "2", "1 OFFSET 1"]);
                (
                    format!("{first} ORDER BY {} LIMIT {limit}", all.join(", ")),
                    cols,
                )
            }
            _ => (first, cols),
        }
    }

    /// The statement's query: a SELECT, a compound SELECT or VALUES, with
    /// CTEs sometimes; and whether its rows are ordered by every column.
    fn top_query(&mut self) -> (String, bool) {
        let with = if self.c.chance(15) {
            self.with_clause()
        } else {
            String::new()
        };
        let outer = Scope::default();
        let (body, ncols) = match self.c.weighted(&[10, 2, 1]) {
            1 => {
                let (first, cols) = self.select(&outer, None, false);
                let n = cols.len().max(1);
                let op = *self.c.pick(&["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]);
                let (second, _) = self.select(&outer, Some(n), false);
                let first = if cols.is_empty() {
                    // `SELECT *` of nothing: give it one column.
                    first.replacen("SELECT ", "SELECT 1, ", 1)
                } else {
                    first
                };
                (format!("{first} {op} {second}"), n)
            }
            2 => {
                let n = 1 + self.c.below(2);
                let rows: Vec<String> = (0..n)
                    .map(|_| format!("({}, {})", self.literal(Ty::Any), self.param(Ty::Any)))
                    .collect();
                (format!("VALUES {}", rows.join(", ")), 2)
            }
            _ => {
                let (q, cols) = self.select(&outer, None, false);
                (q, cols.len())
            }
        };
        let mut ordered = false;
        let mut tail = String::new();
        match self.c.weighted(&[6, 2, 2, 1]) {
            0 => {}
            1 => {
                // Every column, so that LIMIT picks the same rows anywhere.
                let all: Vec<String> = (1..=ncols.max(1)).map(|i| i.to_string()).collect();
                tail = format!(" ORDER BY {}", all.join(", "));
                ordered = true;
                if self.c.chance(60) {
                    let limit = if self.c.chance(20) {
                        self.params.push(Value::BigInt(Some(2)));
                        "?".to_owned()
                    } else {
                        (*self.c.pick(&["1", "2", "0", "-1"])).to_owned()
                    };
                    tail.push_str(&format!(" LIMIT {limit}"));
                    if self.c.chance(40) {
                        tail.push_str(&format!(" OFFSET {}", self.c.pick(&["1", "0"])));
                    }
                }
            }
            2 => {
                let dir = *self.c.pick(&["", " DESC", " ASC", " NULLS LAST"]);
                tail = format!(" ORDER BY 1{dir}");
            }
            _ => {
                // A subquery in ORDER BY (compared as a multiset).
                if self.depth < MAX_QUERY_DEPTH
                    && !body.starts_with("VALUES")
                    && !body.contains(" UNION")
                    && !body.contains(" INTERSECT")
                    && !body.contains(" EXCEPT")
                {
                    tail = format!(" ORDER BY {}", self.scalar_subquery(&outer));
                }
            }
        }
        (format!("{with}{body}{tail}"), ordered)
    }

    /// `WITH ... ` (with a trailing space), adding the CTEs to scope.
    fn with_clause(&mut self) -> String {
        let mut defs = Vec::new();
        let recursive = self.c.chance(20);
        for _ in 0..1 + self.c.below(2) {
            let name = (*self.c.pick(CTE_NAMES)).to_owned();
            if recursive && defs.is_empty() {
                let (def, cols) = if self.c.chance(50) {
                    (
                        format!(
                            "{name}(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM {name} WHERE n < 3)"
                        ),
                        vec![Col {
                            name: "n".into(),
                            ty: Ty::Int,
                        }],
                    )
                } else {
                    // A finite walk over post ids (UNION: each id once).
                    let (t, _) = self.table_name("post");
                    (
                        format!(
                            "{name}(id) AS (SELECT min(id) FROM {t} UNION SELECT p.id FROM {t} p JOIN {name} ON p.id > {name}.id)"
                        ),
                        vec![Col {
                            name: "id".into(),
                            ty: Ty::Int,
                        }],
                    )
                };
                defs.push(def);
                self.ctes.push((name, cols));
                continue;
            }
            let (q, cols) = self.nested(|g| g.derived(&Scope::default()));
            let hint = *self.c.pick(&["", "", "MATERIALIZED ", "NOT MATERIALIZED "]);
            defs.push(format!("{name} AS {hint}({q})"));
            self.ctes.push((name, cols));
        }
        let kw = if recursive { "WITH RECURSIVE" } else { "WITH" };
        format!("{kw} {} ", defs.join(", "))
    }

    /// A statement that is not SELECT, INSERT, UPDATE or DELETE: the
    /// connection must refuse it.
    fn utility(&mut self) -> String {
        let table = self.c.pick(TABLES).0;
        let (t, _) = self.table_name(table);
        match self.c.below(12) {
            0 => {
                let (q, _) = self.select(&Scope::default(), None, false);
                let explain = *self.c.pick(&["EXPLAIN", "EXPLAIN QUERY PLAN"]);
                format!("{explain} {q}")
            }
            1 => format!("PRAGMA table_info({t})"),
            2 => (*self
                .c
                .pick(&["PRAGMA foreign_keys = OFF", "PRAGMA query_only = 1"]))
            .to_owned(),
            3 => "ATTACH ':memory:' AS other".to_owned(),
            4 => format!("CREATE TEMP VIEW v AS SELECT * FROM {t}"),
            5 => format!("CREATE TEMP TABLE tt AS SELECT * FROM {t}"),
            6 => format!("DROP TABLE {t}"),
            7 => format!("ALTER TABLE {t} RENAME TO renamed"),
            8 => (*self.c.pick(&["VACUUM", "ANALYZE", "REINDEX"])).to_owned(),
            9 => (*self.c.pick(&["BEGIN", "SAVEPOINT s", "COMMIT", "ROLLBACK"])).to_owned(),
            10 => format!("CREATE INDEX ix ON {t} (tenant_id)"),
            _ => {
                let (q, _) = self.select(&Scope::default(), None, false);
                format!("{q}; DELETE FROM {t}")
            }
        }
    }

    // ---------------------------------------------------------------
    // Writes.

    /// A tenant table (or the global one) to write, with its columns.
    fn write_target(&mut self) -> (&'static str, &'static [(&'static str, Ty)]) {
        TABLES[self.c.weighted(&[6, 2, 1, 1, 2, 1])]
    }

    /// A value for column `col` of `table` in an INSERT or UPDATE.
    fn value_for(&mut self, table: &str, col: &str, ty: Ty) -> String {
        match col {
            "id" if self.c.chance(8) => {
                // A key globex holds: the write must leave globex's row alone.
                self.collides = true;
                self.c.pick(COLLIDING_IDS).to_string()
            }
            "post_id" | "tag_id" if table == "post_tag" && self.c.chance(8) => {
                self.collides = true;
                "1".to_owned()
            }
            "id" => {
                if self.c.chance(15) {
                    let id = *self.c.pick(SAFE_IDS);
                    self.params.push(Value::BigInt(Some(id)));
                    "?".to_owned()
                } else {
                    self.c.pick(SAFE_IDS).to_string()
                }
            }
            "tenant_id" => match self.c.weighted(&[6, 3, 1, 1, 1, 1, 1, 1]) {
                0 => "'acme'".to_owned(),
                1 => "'globex'".to_owned(),
                2 => {
                    self.params.push(Value::String(Some("acme".into())));
                    "?".to_owned()
                }
                3 => {
                    self.params.push(Value::String(Some("globex".into())));
                    "?".to_owned()
                }
                4 => "'ACME'".to_owned(),
                5 => "'ac' || 'me'".to_owned(),
                6 => "\"acme\"".to_owned(),
                _ => "NULL".to_owned(),
            },
            // post_tag's key is (post_id, tag_id): only ids acme holds or
            // nobody holds, so that no pair is globex's.
            "post_id" | "tag_id" if table == "post_tag" => {
                (*self.c.pick(&["2", "5", "30", "3", "99"])).to_owned()
            }
            "post_id" | "tag_id" => (*self.c.pick(&["2", "5", "30", "3", "1", "4"])).to_owned(),
            "code" => (*self.c.pick(&["'FR'", "'NZ'", "'acme'"])).to_owned(),
            _ if self.c.chance(if table == "item" { 20 } else { 10 }) => self.param(ty),
            _ => self.literal(ty),
        }
    }

    fn returning(&mut self, table: &str) -> (String, Mode) {
        if !self.c.chance(25) {
            return (String::new(), Mode::Execute);
        }
        let spec = TABLES
            .iter()
            .find(|t| t.0 == table)
            .map(|t| t.1)
            .unwrap_or(&[]);
        let scope = Scope {
            rels: vec![Rel {
                qual: None,
                cols: Self::cols(spec),
                rowid: false,
            }],
            outer: vec![],
        };
        let what = match self.c.below(3) {
            0 => "*".to_owned(),
            1 => self.expr(&scope, 1),
            _ => {
                let e = self.expr(&scope, 1);
                format!("*, {e} AS r")
            }
        };
        (format!(" RETURNING {what}"), Mode::Query)
    }

    fn insert(&mut self) -> (String, Mode, bool) {
        let (table, spec) = self.write_target();
        let (name, _) = self.table_name(table);
        let verb = *self.c.pick(&[
            "INSERT",
            "INSERT",
            "INSERT OR IGNORE",
            "INSERT OR REPLACE",
            "REPLACE",
            "INSERT OR ABORT",
        ]);
        // Columns: a subset in some order, the tenant column or not.
        let mut cols: Vec<(&str, Ty)> = Vec::new();
        for &(c, ty) in spec {
            let keep = match c {
                "tenant_id" => self.c.weighted(&[1, 1]) == 1,
                "id" => self.c.chance(40),
                "title" | "body" | "name" | "post_id" | "tag_id" | "code" => true,
                _ => self.c.chance(50),
            };
            if keep {
                cols.push((c, ty));
            }
        }
        if self.c.chance(20) && cols.len() > 1 {
            cols.rotate_left(1);
        }
        // Where the rows come from: VALUES, `SELECT *` from a table,
        // `SELECT *` from constants, or a generated SELECT. Only VALUES and
        // constants write an explicit id (one of SAFE_IDS): an id read from
        // rows may be one that globex holds.
        let source_kind = match self.c.weighted(&[6, 3]) {
            0 => 0,
            _ if self.c.chance(10) => 1,
            _ if self.c.chance(20) => 2,
            _ => 3,
        };
        if source_kind == 1 || source_kind == 3 {
            cols.retain(|(c, _)| *c != "id");
        }
        let col_list: Vec<String> = cols.iter().map(|(c, _)| self.ident(c)).collect();
        let head = if cols.is_empty() {
            format!("{verb} INTO {name}")
        } else {
            format!("{verb} INTO {name} ({})", col_list.join(", "))
        };
        let mut select_source = false;
        // Rows inserted from a SELECT get their ids in its order: ordered
        // by every column, that order is the same in A and B.
        let mut order = String::new();
        let source = if cols.is_empty() {
            " DEFAULT VALUES".to_owned()
        } else {
            match source_kind {
                0 => {
                    let n = 1 + self.c.below(2);
                    let rows: Vec<String> = (0..n)
                        .map(|_| {
                            let vals: Vec<String> = cols
                                .iter()
                                .map(|(c, ty)| self.value_for(table, c, *ty))
                                .collect();
                            format!("({})", vals.join(", "))
                        })
                        .collect();
                    format!(" VALUES {}", rows.join(", "))
                }
                _ => {
                    select_source = true;
                    let want = if self.c.chance(15) {
                        cols.len() + 1
                    } else {
                        cols.len()
                    };
                    if source_kind == 1 {
                        // `SELECT *` from a table: the column count may
                        // not match, the tenant column may be among them.
                        let (t, spec) = *self.c.pick(TABLES);
                        let (t, _) = self.table_name(t);
                        order = order_by_all(spec.len());
                        format!(" SELECT * FROM {t}")
                    } else if source_kind == 2 {
                        // `SELECT *` from a derived table of constants,
                        // maybe with more columns after the star.
                        let mut consts: Vec<String> = Vec::new();
                        let split = self.c.below(cols.len());
                        for (i, (c, ty)) in cols.iter().enumerate().take(split.max(1)) {
                            consts.push(format!("{} AS k{i}", self.value_for(table, c, *ty)));
                        }
                        let rest: Vec<String> = cols
                            .iter()
                            .skip(split.max(1))
                            .map(|(c, ty)| self.value_for(table, c, *ty))
                            .collect();
                        let star = if rest.is_empty() {
                            "*".to_owned()
                        } else {
                            format!("*, {}", rest.join(", "))
                        };
                        format!(" SELECT {star} FROM (SELECT {}) s", consts.join(", "))
                    } else {
                        let (q, _) =
                            self.nested(|g| g.select(&Scope::default(), Some(want), false));
                        order = order_by_all(want);
                        format!(" {q}")
                    }
                }
            }
        };
        let mut upsert = String::new();
        let mut glue = "";
        if !cols.is_empty() && verb == "INSERT" && self.c.chance(35) {
            // SQLite needs a WHERE to tell an upsert from a join's ON.
            let needs_where = select_source && !source.contains(" WHERE ");
            let target = match table {
                "post" | "tag" => *self.c.pick(&["(id)", "(id, tenant_id)", ""]),
                "comment" | "item" => *self.c.pick(&["(id)", ""]),
                "post_tag" => "(post_id, tag_id)",
                _ => "(code)",
            };
            let action = if target.is_empty() || self.c.chance(35) {
                "DO NOTHING".to_owned()
            } else {
                let scope = Scope {
                    rels: vec![
                        Rel {
                            qual: Some(table.to_owned()),
                            cols: Self::cols(spec),
                            rowid: false,
                        },
                        Rel {
                            qual: Some("excluded".into()),
                            cols: Self::cols(spec),
                            rowid: false,
                        },
                    ],
                    outer: vec![],
                };
                let settable: Vec<&(&str, Ty)> = spec
                    .iter()
                    .filter(|(c, _)| *c != "id" && (*c != "tenant_id" || self.c.chance(10)))
                    .collect();
                let (c, ty) = **self.c.pick(&settable);
                let v = match self.c.below(4) {
                    0 => format!("excluded.{c}"),
                    1 => self.value_for(table, c, ty),
                    2 => format!("{c} || 'x'"),
                    // Over the row in the way (globex's, when it collides).
                    _ => self.expr_of(&scope, 1, ty),
                };
                let cond = if self.c.chance(25) {
                    format!(" WHERE {}", self.pred(&scope, 1))
                } else {
                    String::new()
                };
                format!("DO UPDATE SET {} = {v}{cond}", self.ident(c))
            };
            if needs_where {
                glue = " WHERE 1";
            }
            upsert = format!(
                " ON CONFLICT{} {action}",
                if target.is_empty() {
                    String::new()
                } else {
                    format!(" {target}")
                }
            );
        }
        let (ret, mode) = self.returning(table);
        (
            format!("{head}{source}{glue}{order}{upsert}{ret}"),
            mode,
            false,
        )
    }

    fn update(&mut self) -> (String, Mode, bool) {
        let (table, spec) = self.write_target();
        let (name, qual) = self.table_name(table);
        let verb = *self
            .c
            .pick(&["UPDATE", "UPDATE", "UPDATE OR IGNORE", "UPDATE OR REPLACE"]);
        let (alias, qual) = match self.c.weighted(&[3, 1]) {
            0 => (String::new(), qual),
            _ => {
                let a = self.fresh("u");
                (format!(" AS {a}"), a)
            }
        };
        let target = Rel {
            qual: Some(qual),
            cols: Self::cols(spec),
            rowid: true,
        };
        let mut rels = vec![target.clone()];
        let from = if self.c.chance(15) {
            let (f, r) = self.sources(&Scope::default());
            rels.extend(r);
            format!(" FROM {f}")
        } else {
            String::new()
        };
        // SET reads the target row only: with FROM, which joined row a
        // SET would read is up to SQLite when several match.
        let set_scope = Scope {
            rels: vec![target],
            outer: vec![],
        };
        let scope = Scope {
            rels,
            outer: vec![],
        };
        let settable: Vec<(&str, Ty)> = spec
            .iter()
            .copied()
            .filter(|(c, _)| match *c {
                "tenant_id" => self.c.chance(10),
                "id" => self.c.chance(10),
                "post_id" | "tag_id" | "code" => self.c.chance(20),
                _ => true,
            })
            .collect();
        let settable = if settable.is_empty() {
            vec![spec[spec.len() - 1]]
        } else {
            settable
        };
        let n = 1 + self.c.below(settable.len().min(2));
        let mut sets = Vec::new();
        for i in 0..n {
            let (c, ty) = settable[(i + self.c.below(settable.len())) % settable.len()];
            let v = if c == "id" || c == "tenant_id" || table == "post_tag" || self.c.chance(40) {
                self.value_for(table, c, ty)
            } else {
                self.expr_of(&set_scope, 1, ty)
            };
            sets.push((self.ident(c), v));
        }
        let sets: Vec<String> = if sets.len() > 1 && self.c.chance(25) {
            // The row-value form: (a, b) = (x, y).
            let (names, values): (Vec<String>, Vec<String>) = sets.into_iter().unzip();
            vec![format!("({}) = ({})", names.join(", "), values.join(", "))]
        } else {
            sets.into_iter()
                .map(|(c, v)| format!("{c} = {v}"))
                .collect()
        };
        let filter = if self.c.weighted(&[1, 3]) == 1 {
            format!(" WHERE {}", self.pred(&scope, 0))
        } else {
            String::new()
        };
        let (ret, mode) = self.returning(table);
        (
            format!(
                "{verb} {name}{alias} SET {}{from}{filter}{ret}",
                sets.join(", ")
            ),
            mode,
            false,
        )
    }

    fn delete(&mut self) -> (String, Mode, bool) {
        let (table, spec) = self.write_target();
        let (name, qual) = self.table_name(table);
        let (alias, qual) = match self.c.weighted(&[3, 1]) {
            0 => (String::new(), qual),
            _ => {
                let a = self.fresh("d");
                (format!(" AS {a}"), a)
            }
        };
        let scope = Scope {
            rels: vec![Rel {
                qual: Some(qual),
                cols: Self::cols(spec),
                rowid: true,
            }],
            outer: vec![],
        };
        let filter = if self.c.weighted(&[1, 4]) == 1 {
            format!(" WHERE {}", self.pred(&scope, 0))
        } else {
            String::new()
        };
        let (ret, mode) = self.returning(table);
        (
            format!("DELETE FROM {name}{alias}{filter}{ret}"),
            mode,
            false,
        )
    }
}

/// ` ORDER BY 1, 2, ..., n`.
fn order_by_all(n: usize) -> String {
    let all: Vec<String> = (1..=n.max(1)).map(|i| i.to_string()).collect();
    format!(" ORDER BY {}", all.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_choices_is_the_simplest_statement() {
        assert_eq!(generate(&[]).sql.text, "SELECT id FROM post");
    }

    #[test]
    fn generation_is_deterministic() {
        let choices: Vec<u32> = (0..200u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        assert_eq!(generate(&choices).sql.text, generate(&choices).sql.text);
    }
}
