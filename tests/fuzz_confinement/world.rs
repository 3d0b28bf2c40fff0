//! The three databases of the differential test and how a statement runs
//! on them.
//!
//! * **A**: both tenants' rows; globex's hold adversarial values (text that
//!   is a malformed JSON document or JSON path, `'5'`, `'{"a":1}'`, the
//!   largest and smallest 64-bit integers, `1e308`, `-0.0`, NULL, blobs).
//! * **A'** (`a2`): A with globex's rows changed: other values, other
//!   counts, other ids.
//! * **B**: acme's rows only, identical to A's (same rowids).
//!
//! acme's rows are written first and globex's last (so that what the
//! connection remembers of the last insert is globex's), and acme holds the
//! largest id and rowid of every tenant table in every database, so a row
//! inserted without an id gets the same one in A, A' and B (tolerance by
//! construction: a shared table's ids are shared by its tenants). Every
//! database is provisioned through a shared-schema `Tenancy` (A and A':
//! acme then globex; B: acme), so the registry exists in each.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use sea_orm::sqlx::{Column, Row, TypeInfo, ValueRef};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
    Value,
};
use sea_orm_tenant::doc_entities::{comment, country, post, post_tag, tag};
use sea_orm_tenant::{Tenancy, TenantConnection, TenantError, TenantId};

/// A fuzz-only tenant table with nullable columns of every storage class
/// (`v` has no declared type, so it keeps whatever it is given).
pub mod item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "item")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub tenant_id: String,
        pub n: Option<i64>,
        pub x: Option<f64>,
        pub data: Option<String>,
        pub v: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl sea_orm_tenant::TenantEntity for Entity {
        fn tenant_column() -> Column {
            Column::TenantId
        }
    }
}

const ITEM_DDL: &str = "CREATE TABLE item (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \
     tenant_id varchar NOT NULL DEFAULT 'acme', n bigint, x real, data text, v)";

/// The doc entities' tables as `doc_entities::create_tables` makes them,
/// but with `DEFAULT 'acme'` on the tenant column, in all three databases:
/// run unconfined on B, an INSERT that leaves the tenant column out then
/// inserts acme's row, as the tenant connection does on A (B stands for
/// "the same statement on acme's rows alone"). The same default in A and
/// A' keeps the schemas identical; it cannot hide a leak, since a row it
/// fills in is acme's, the connection's own tenant.
async fn create_schema(db: &DatabaseConnection) {
    use sea_orm::sea_query::SqliteQueryBuilder;
    use sea_orm::{EntityTrait, Schema};

    async fn table<E: EntityTrait>(db: &DatabaseConnection, entity: E, tenant: bool) {
        let schema = Schema::new(DbBackend::Sqlite);
        let mut ddl = schema
            .create_table_from_entity(entity)
            .to_string(SqliteQueryBuilder);
        if tenant {
            let column = r#""tenant_id" varchar NOT NULL"#;
            assert!(ddl.contains(column), "no tenant column in {ddl}");
            ddl = ddl.replace(column, &format!("{column} DEFAULT 'acme'"));
        }
        db.execute_unprepared(&ddl).await.expect("create table");
        for index in schema.create_index_from_entity(entity) {
            db.execute(&index).await.expect("create index");
        }
    }
    table(db, post::Entity, true).await;
    table(db, tag::Entity, true).await;
    table(db, comment::Entity, true).await;
    table(db, post_tag::Entity, true).await;
    table(db, country::Entity, false).await;
}

/// acme's rows, the same in A, A' and B. Ids and rowids are explicit.
pub const ACME_ROWS: &str = r#"
INSERT INTO post (id, tenant_id, title) VALUES
  (2, 'acme', 'a1'), (3, 'acme', '$.a'), (5, 'acme', 'same'), (30, 'acme', '{"a":1}');
INSERT INTO tag (id, tenant_id, name) VALUES (2, 'acme', 'red'), (30, 'acme', 'blue');
INSERT INTO comment (id, tenant_id, post_id, body) VALUES
  (2, 'acme', 2, 'nice'), (3, 'acme', 5, '{"a":1}'), (30, 'acme', 2, 'same');
INSERT INTO post_tag (rowid, post_id, tag_id, tenant_id) VALUES
  (2, 2, 2, 'acme'), (30, 5, 30, 'acme'), (31, 30, 2, 'acme');
INSERT INTO item (id, tenant_id, n, x, data, v) VALUES
  (2, 'acme', 1, 1.5, '{"a":1,"b":[1,2]}', NULL),
  (3, 'acme', NULL, NULL, NULL, '5'),
  (5, 'acme', -3, 0.0, '[1,2]', x'41'),
  (30, 'acme', 7, -2.5, '{"a":{"b":2}}', 7);
"#;

/// globex's rows in A.
pub const GLOBEX_A: &str = r#"
INSERT INTO post (id, tenant_id, title) VALUES
  (1, 'globex', 'globex secret'), (4, 'globex', '$['), (6, 'globex', '5'),
  (7, 'globex', 'same'), (8, 'globex', '9223372036854775807'), (9, 'globex', '{"a":');
INSERT INTO tag (id, tenant_id, name) VALUES (1, 'globex', 'secret tag'), (4, 'globex', 'red');
INSERT INTO comment (id, tenant_id, post_id, body) VALUES
  (1, 'globex', 1, 'globex secret comment'), (4, 'globex', 4, 'same'), (6, 'globex', 9, '5');
INSERT INTO post_tag (rowid, post_id, tag_id, tenant_id) VALUES
  (1, 1, 1, 'globex'), (3, 4, 4, 'globex'), (4, 6, 1, 'globex');
INSERT INTO item (id, tenant_id, n, x, data, v) VALUES
  (1, 'globex', 9223372036854775807, 1e308, '{"a":', NULL),
  (4, 'globex', -9223372036854775808, NULL, '$[', 'globex secret'),
  (6, 'globex', 5, -0.0, '{"a":"5"}', '{"a":1}'),
  (7, 'globex', NULL, NULL, NULL, NULL);
"#;

/// globex's rows in A': other values, counts and ids (all below acme's
/// largest).
pub const GLOBEX_A2: &str = r#"
INSERT INTO post (id, tenant_id, title) VALUES
  (1, 'globex', 'other secret'), (4, 'globex', '{"a":2}'), (10, 'globex', '$.b'),
  (11, 'globex', 'same'), (12, 'globex', '-1'), (13, 'globex', 'x'), (14, 'globex', 'a1'),
  (15, 'globex', '');
INSERT INTO tag (id, tenant_id, name) VALUES
  (1, 'globex', 'green'), (4, 'globex', 'red'), (6, 'globex', 'x');
INSERT INTO comment (id, tenant_id, post_id, body) VALUES
  (1, 'globex', 1, 'other'), (4, 'globex', 10, 'x'), (6, 'globex', 11, '{}'),
  (7, 'globex', 11, 'same'), (8, 'globex', 15, '');
INSERT INTO post_tag (rowid, post_id, tag_id, tenant_id) VALUES
  (1, 1, 1, 'globex'), (3, 10, 4, 'globex'), (5, 11, 6, 'globex'), (6, 12, 4, 'globex'),
  (7, 1, 4, 'globex');
INSERT INTO item (id, tenant_id, n, x, data, v) VALUES
  (1, 'globex', 42, NULL, '[', x'00'),
  (4, 'globex', 0, 1e-300, '{"a":null}', 'x'),
  (8, 'globex', -1, 3.0, '"s"', 2.5),
  (9, 'globex', 9223372036854775807, NULL, '{}', NULL),
  (10, 'globex', 2, 2.0, '{"a":[1,{"b":3}]}', 'acme');
"#;

/// The global table's rows, the same everywhere.
pub const COUNTRY_ROWS: &str = "INSERT INTO country (rowid, code, name) VALUES \
     (1, 'NZ', 'New Zealand'), (2, 'DE', 'Germany'), (3, 'acme', 'a country named acme')";

/// Ids that acme holds or nobody holds in any tenant table of any of the
/// databases (acme's ids are 2, 3, 5 and 30 in every table; globex's are
/// others): the only ids the generator writes explicitly (an id globex
/// holds answers differently with and without globex's row, whatever the
/// confinement does: a shared table's keys are shared).
pub const SAFE_IDS: &[i64] = &[2, 3, 5, 30, 31, 40, 99, 1000];

/// Ids that globex holds in every tenant table of A and of A' (and
/// post_tag's pair (1, 1)): a write that names one must leave globex's row
/// alone, whatever it answers (rule 5).
pub const COLLIDING_IDS: &[i64] = &[1, 4];

/// The tables a snapshot reads, with the tenant column of the tenant
/// tables.
const TABLES: &[(&str, Option<&str>)] = &[
    ("post", Some("tenant_id")),
    ("comment", Some("tenant_id")),
    ("tag", Some("tenant_id")),
    ("post_tag", Some("tenant_id")),
    ("item", Some("tenant_id")),
    ("country", None),
    ("sea_orm_tenant_registry", None),
    ("sqlite_sequence", None),
];

pub fn acme() -> TenantId {
    TenantId::from("acme")
}

pub fn globex() -> TenantId {
    TenantId::from("globex")
}

/// Which database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    A,
    A2,
    B,
}

/// One database: its plain connection, acme's tenant connection (A and
/// A'), and what it held when built.
pub struct World {
    pub db: DatabaseConnection,
    pub conn: TenantConnection,
    pub baseline: Snapshot,
    /// How many statements reached the database (through `db` or the
    /// tenant connection), from SeaORM's metric callback.
    pub sent: Arc<AtomicUsize>,
}

/// The three databases.
pub struct Worlds {
    pub a: World,
    pub a2: World,
    pub b: World,
}

impl Worlds {
    pub async fn build() -> Worlds {
        let (a, a2, b) = futures_util::join!(
            World::build(Which::A),
            World::build(Which::A2),
            World::build(Which::B)
        );
        Worlds { a, a2, b }
    }

    pub async fn close(self) {
        for w in [self.a, self.a2, self.b] {
            // Not for ever: after a stall the connection is still busy.
            let _ = tokio::time::timeout(Duration::from_secs(2), w.db.close()).await;
        }
    }
}

/// A shared-schema `Tenancy` over `db` declaring the fuzz schema, as a
/// service builds it.
pub fn tenancy(db: DatabaseConnection) -> Tenancy {
    Tenancy::shared_schema(db)
        .tenant_table::<post::Entity>()
        .tenant_table::<comment::Entity>()
        .tenant_table::<tag::Entity>()
        .tenant_table::<post_tag::Entity>()
        .tenant_table::<item::Entity>()
        .global_table::<country::Entity>()
}

impl World {
    /// How many statements have reached the database so far.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    pub async fn build(which: Which) -> World {
        let mut options = ConnectOptions::new("sqlite::memory:");
        // One connection: each connection of `sqlite::memory:` is a
        // database of its own.
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .sqlx_logging(false);
        let mut db = Database::connect(options).await.expect("sqlite::memory:");
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        create_schema(&db).await;
        let globex_rows = match which {
            Which::A => Some(GLOBEX_A),
            Which::A2 => Some(GLOBEX_A2),
            Which::B => None,
        };
        let mut script = format!("{ITEM_DDL};\n{COUNTRY_ROWS};\n{ACME_ROWS}");
        if let Some(rows) = globex_rows {
            script.push_str(rows);
        }
        db.execute_unprepared(&script).await.expect("seed rows");
        let tenancy = tenancy(db.clone());
        tenancy.provision(&acme()).await.expect("provision acme");
        if globex_rows.is_some() {
            tenancy
                .provision(&globex())
                .await
                .expect("provision globex");
        }
        let conn = tenancy
            .connection(&acme())
            .await
            .expect("acme's connection");
        let baseline = Snapshot::take(&db).await;
        World {
            db,
            conn,
            baseline,
            sent,
        }
    }
}

/// One value as SQLite holds it (storage class and value).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cell {
    Null,
    Int(i64),
    /// The bits of an `f64` (exact comparison, `-0.0` is not `0.0`).
    Real(u64),
    Text(String),
    Blob(Vec<u8>),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Null => f.write_str("NULL"),
            Cell::Int(i) => write!(f, "{i}"),
            Cell::Real(bits) => write!(f, "{:?}", f64::from_bits(*bits)),
            Cell::Text(s) => write!(f, "{s:?}"),
            Cell::Blob(b) => {
                f.write_str("x'")?;
                for byte in b {
                    write!(f, "{byte:02X}")?;
                }
                f.write_str("'")
            }
        }
    }
}

/// Rows with their column names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rows {
    /// Column names (empty when there is no row: the driver names the
    /// columns of a row).
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Rows {
    pub fn sorted(&self) -> Vec<Vec<Cell>> {
        let mut rows = self.rows.clone();
        rows.sort();
        rows
    }
}

/// What a statement answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Rows of a query (or of a write's RETURNING).
    Rows(Rows),
    /// A write without RETURNING, and how many rows it changed.
    Done(u64),
    /// A `TenantError` (refused, or a tenant mismatch): nothing was sent.
    Refused(String),
    /// The database's error, as the connection reported it.
    Error(String),
    /// The connection panicked.
    Panic(String),
    /// No answer within [`STATEMENT_TIMEOUT`].
    Stalled,
}

impl Answer {
    pub fn is_refused(&self) -> bool {
        matches!(self, Answer::Refused(_))
    }

    /// Short text for reports.
    pub fn brief(&self) -> String {
        const MAX_ROWS: usize = 8;
        match self {
            Answer::Rows(r) => {
                let mut out = format!("{} row(s) [{}]", r.rows.len(), r.columns.join(", "));
                for row in r.sorted().iter().take(MAX_ROWS) {
                    let cells: Vec<String> = row.iter().map(ToString::to_string).collect();
                    out.push_str(&format!(" ({})", cells.join(", ")));
                }
                if r.rows.len() > MAX_ROWS {
                    out.push_str(" ...");
                }
                out
            }
            Answer::Done(n) => format!("done, {n} row(s) changed"),
            Answer::Refused(e) => format!("refused: {e}"),
            Answer::Error(e) => format!("error: {e}"),
            Answer::Panic(e) => format!("PANIC: {e}"),
            Answer::Stalled => "STALLED".to_owned(),
        }
    }
}

/// How long a statement may run (SQLite runs in-process: the generator
/// makes small, terminating statements, so anything near this is a stall).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a statement is sent: `query_all_raw` (rows) or `execute_raw`
/// (rows changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Query,
    Execute,
}

/// A statement with its bound values.
#[derive(Clone, Debug)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Value>,
}

impl Sql {
    pub fn statement(&self) -> Statement {
        if self.params.is_empty() {
            Statement::from_string(DbBackend::Sqlite, self.text.clone())
        } else {
            Statement::from_sql_and_values(DbBackend::Sqlite, &self.text, self.params.clone())
        }
    }

    /// The statement and its values, for reports.
    pub fn show(&self) -> String {
        if self.params.is_empty() {
            self.text.clone()
        } else {
            let values: Vec<String> = self.params.iter().map(show_value).collect();
            format!("{}   -- params: [{}]", self.text, values.join(", "))
        }
    }
}

/// A bound value as a SQL literal would spell it.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::BigInt(Some(i)) => i.to_string(),
        Value::Int(Some(i)) => i.to_string(),
        Value::Double(Some(f)) => format!("{f:?}"),
        Value::String(Some(s)) => format!("'{}'", s.replace('\'', "''")),
        Value::Bool(Some(b)) => b.to_string(),
        Value::Bytes(Some(b)) => {
            let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
            format!("x'{hex}'")
        }
        _ => "NULL".to_owned(),
    }
}

/// Runs `sql` on `conn`, catching panics and stalls.
pub async fn run<C: ConnectionTrait>(conn: &C, sql: &Sql, mode: Mode) -> Answer {
    let stmt = sql.statement();
    let work = async move {
        match mode {
            Mode::Query => conn.query_all_raw(stmt).await.map(|rows| {
                let rows = rows_of(&rows);
                Answer::Rows(rows)
            }),
            Mode::Execute => conn
                .execute_raw(stmt)
                .await
                .map(|done| Answer::Done(done.rows_affected())),
        }
    };
    match tokio::time::timeout(STATEMENT_TIMEOUT, AssertUnwindSafe(work).catch_unwind()).await {
        Err(_) => Answer::Stalled,
        Ok(Err(panic)) => Answer::Panic(panic_message(&*panic)),
        Ok(Ok(Ok(answer))) => answer,
        Ok(Ok(Err(err))) if TenantError::is_tenant_error(&err) => Answer::Refused(err.to_string()),
        Ok(Ok(Err(err))) => Answer::Error(error_text(&err)),
    }
}

/// The database's own message: `DbErr`'s text less the wrapper that says
/// which entry point it came through (`Query Error: `, `Execution Error: `),
/// which a tenant connection may choose differently from a plain one.
pub fn error_text(err: &DbErr) -> String {
    let text = err.to_string();
    match text.find("error returned from database: ") {
        Some(at) => text[at..].to_owned(),
        None => text,
    }
}

pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked".to_owned()
    }
}

/// Every row as cells, by the storage class of each value.
fn rows_of(rows: &[sea_orm::QueryResult]) -> Rows {
    let mut columns = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let row = row
            .try_as_sqlite_row()
            .expect("a SQLite row from a SQLite connection");
        if i == 0 {
            columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
        }
        let cells = (0..row.columns().len()).map(|i| cell(row, i)).collect();
        out.push(cells);
    }
    Rows { columns, rows: out }
}

fn cell(row: &sea_orm::sqlx::sqlite::SqliteRow, i: usize) -> Cell {
    let raw = row.try_get_raw(i).expect("column in range");
    if raw.is_null() {
        return Cell::Null;
    }
    let kind = raw.type_info().name().to_owned();
    match kind.as_str() {
        "INTEGER" | "BOOLEAN" => Cell::Int(row.try_get_unchecked::<i64, _>(i).expect("integer")),
        "REAL" => Cell::Real(row.try_get_unchecked::<f64, _>(i).expect("real").to_bits()),
        "BLOB" => Cell::Blob(row.try_get_unchecked::<Vec<u8>, _>(i).expect("blob")),
        _ => match row.try_get_unchecked::<String, _>(i) {
            Ok(s) => Cell::Text(s),
            Err(_) => Cell::Blob(row.try_get_unchecked::<Vec<u8>, _>(i).expect("bytes")),
        },
    }
}

/// Every row of every table of a database (tenant tables, the global
/// table, the registry and `sqlite_sequence`), with rowids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Per table: the index of its tenant column in a row (if a tenant
    /// table with rows), and the rows.
    tables: BTreeMap<&'static str, (Option<usize>, Vec<Vec<Cell>>)>,
}

/// Which rows of a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// acme's rows of the tenant tables, the global table and
    /// `sqlite_sequence`: what acme may change.
    Acme,
    /// Everything else: rows of any other tenant (or of none), the
    /// registry.
    Others,
}

impl Snapshot {
    pub async fn take(db: &DatabaseConnection) -> Snapshot {
        let mut tables = BTreeMap::new();
        for (table, _) in TABLES {
            let sql = Sql {
                text: format!("SELECT rowid, * FROM {table} ORDER BY rowid"),
                params: vec![],
            };
            let (at, rows) = match run(db, &sql, Mode::Query).await {
                Answer::Rows(r) => (r.columns.iter().position(|c| c == "tenant_id"), r.rows),
                // sqlite_sequence exists once a table with AUTOINCREMENT
                // got a row; a database without it simply has none.
                _ => (None, Vec::new()),
            };
            tables.insert(*table, (at, rows));
        }
        Snapshot { tables }
    }

    /// The rows of `part`, table by table.
    pub fn part(&self, part: Part) -> BTreeMap<&'static str, Vec<Vec<Cell>>> {
        let acme = Cell::Text("acme".to_owned());
        let mut out = BTreeMap::new();
        for (table, tenant_column) in TABLES {
            let (at, rows) = &self.tables[table];
            let keep: Vec<Vec<Cell>> = match (tenant_column, part) {
                (Some(_), _) => {
                    let Some(at) = *at else {
                        // No row, so no column names.
                        out.insert(*table, Vec::new());
                        continue;
                    };
                    rows.iter()
                        .filter(|r| (r[at] == acme) == (part == Part::Acme))
                        .cloned()
                        .collect()
                }
                // The global table and the sequences (equal in A, A' and
                // B by construction) are acme's to change; the registry
                // is nobody's.
                (None, Part::Acme) if *table != "sea_orm_tenant_registry" => rows.clone(),
                (None, Part::Others) if *table == "sea_orm_tenant_registry" => rows.clone(),
                _ => Vec::new(),
            };
            out.insert(*table, keep);
        }
        out
    }

    /// The tables whose `part` differs from `other`'s: the rows only
    /// this snapshot has (`+`) and the rows only `other` has (`-`).
    pub fn diff(&self, other: &Snapshot, part: Part) -> Vec<String> {
        let (mine, theirs) = (self.part(part), other.part(part));
        let show = |r: &Vec<Cell>| {
            let cells: Vec<String> = r.iter().map(ToString::to_string).collect();
            format!("({})", cells.join(", "))
        };
        let mut out = Vec::new();
        for (table, rows) in &mine {
            let other_rows = &theirs[table];
            if rows == other_rows {
                continue;
            }
            let mut only_theirs = other_rows.clone();
            let mut lines = Vec::new();
            for row in rows {
                match only_theirs.iter().position(|r| r == row) {
                    Some(at) => {
                        only_theirs.remove(at);
                    }
                    None => lines.push(format!("+{}", show(row))),
                }
            }
            lines.extend(only_theirs.iter().map(|r| format!("-{}", show(r))));
            if lines.is_empty() {
                lines.push("the same rows in another order".into());
            }
            out.push(format!("{table}: {}", lines.join(" ")));
        }
        out
    }
}
