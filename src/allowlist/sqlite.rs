//! The SQLite allow-list; see [the module](super).
//!
//! `tests/allowlist.rs` finds every entry in `pragma_function_list` (or,
//! for the table-valued JSON functions, in `pragma_module_list` once
//! called) and checks what SQLite says of it: every entry is built in and
//! `SQLITE_INNOCUOUS` (no side effects, nothing beyond its arguments), none
//! is `SQLITE_DIRECTONLY`, and every scalar entry is
//! `SQLITE_DETERMINISTIC` except the few written there (`random` and the
//! `current_*` clock readers).
//!
//! SQLite runs in the application's process, so a function that allocates
//! from a count the statement chooses is left out (see the end of this
//! file). The bundled SQLite is built without `SQLITE_ENABLE_MATH_FUNCTIONS`:
//! `ceil`, `floor`, `sqrt`, `power`, `ln`, `exp`, `mod` and the
//! trigonometric functions do not exist there.

use super::{AllowedFunction, f};

const AGGREGATE: &str = "an aggregate over the rows the statement already confines";
const ARITHMETIC: &str = "arithmetic on its arguments alone";
const DATE_TIME: &str = "date and time arithmetic on its arguments and the statement's clock; \
     reads no table";
const HINT: &str = "a hint to the query planner that returns its argument";
const JSON: &str = "builds or reads the JSON value it is given; reads no table";
const NULLS: &str = "chooses among its arguments; reads no table";
const STRING: &str = "a string function: computes on its arguments alone";
const TABLE: &str = "a table-valued function that generates rows from its arguments alone";
const WINDOW: &str = "a window function over the rows the statement already confines";

/// Sorted by name.
pub(super) const FUNCTIONS: &[AllowedFunction] = &[
    f("abs", ARITHMETIC),
    f("avg", AGGREGATE),
    f("char", STRING),
    f("coalesce", NULLS),
    f("concat", STRING),
    f("concat_ws", STRING),
    f("count", AGGREGATE),
    f("cume_dist", WINDOW),
    f("current_date", DATE_TIME),
    f("current_time", DATE_TIME),
    f("current_timestamp", DATE_TIME),
    f("date", DATE_TIME),
    f("datetime", DATE_TIME),
    f("dense_rank", WINDOW),
    f("first_value", WINDOW),
    f("glob", STRING),
    f("group_concat", AGGREGATE),
    f("hex", STRING),
    f("if", NULLS),
    f("ifnull", NULLS),
    f("iif", NULLS),
    f("instr", STRING),
    f("json", JSON),
    f("json_array", JSON),
    f("json_array_length", JSON),
    f("json_each", TABLE),
    f("json_error_position", JSON),
    f("json_extract", JSON),
    f("json_group_array", AGGREGATE),
    f("json_group_object", AGGREGATE),
    f("json_insert", JSON),
    f("json_object", JSON),
    f("json_patch", JSON),
    f("json_quote", JSON),
    f("json_remove", JSON),
    f("json_replace", JSON),
    f("json_set", JSON),
    f("json_tree", TABLE),
    f("json_type", JSON),
    f("json_valid", JSON),
    f("jsonb", JSON),
    f("jsonb_array", JSON),
    f("jsonb_each", TABLE),
    f("jsonb_extract", JSON),
    f("jsonb_group_array", AGGREGATE),
    f("jsonb_group_object", AGGREGATE),
    f("jsonb_insert", JSON),
    f("jsonb_object", JSON),
    f("jsonb_patch", JSON),
    f("jsonb_remove", JSON),
    f("jsonb_replace", JSON),
    f("jsonb_set", JSON),
    f("jsonb_tree", TABLE),
    f("julianday", DATE_TIME),
    f("lag", WINDOW),
    f("last_value", WINDOW),
    f("lead", WINDOW),
    f("length", STRING),
    f("like", STRING),
    f("likelihood", HINT),
    f("likely", HINT),
    f("lower", STRING),
    f("ltrim", STRING),
    f("max", AGGREGATE),
    f("min", AGGREGATE),
    f("nth_value", WINDOW),
    f("ntile", WINDOW),
    f("nullif", NULLS),
    f("octet_length", STRING),
    f("percent_rank", WINDOW),
    f("quote", STRING),
    f("rank", WINDOW),
    f("replace", STRING),
    f("round", ARITHMETIC),
    f("row_number", WINDOW),
    f("rtrim", STRING),
    f("sign", ARITHMETIC),
    f("soundex", STRING),
    f("strftime", DATE_TIME),
    f("string_agg", AGGREGATE),
    f("substr", STRING),
    f("substring", STRING),
    f("sum", AGGREGATE),
    f("time", DATE_TIME),
    f("timediff", DATE_TIME),
    f("total", AGGREGATE),
    f("trim", STRING),
    f("typeof", STRING),
    f("unhex", STRING),
    f("unicode", STRING),
    f("unistr", STRING),
    f("unistr_quote", STRING),
    f("unixepoch", DATE_TIME),
    f("unlikely", HINT),
    f("upper", STRING),
];

// Notable exclusions (declare one with `Tenancy::pure_function` if you
// need it and accept the reason):
//
// - Allocation in the application's process from a count the statement
//   chooses: zeroblob(n), randomblob(n), printf and format (`%*c` widths),
//   json_pretty (its indent string is repeated at every level). What is
//   left can still build values up to SQLITE_MAX_LENGTH (a billion bytes)
//   from long arguments (replace, group_concat, ||), as can a recursive
//   CTE without any function: bounding that is the job of the connection's
//   limits, not of this list.
// - Connection state: last_insert_rowid, changes, total_changes.
// - The library and the process: load_extension, sqlite_version,
//   sqlite_source_id, sqlite_compileoption_get, sqlite_compileoption_used,
//   sqlite_log (writes to the error log), fts3_tokenizer.
// - Full-text search and R*Tree auxiliaries (bm25, highlight, snippet,
//   match, matchinfo, offsets, optimize, fts5*, rtreecheck, rtreenode,
//   rtreedepth): they work on virtual tables, which are declared apart.
// - subtype: an internal of the JSON functions.
// - `->` and `->>` appear in pragma_function_list but are operators.
// - The math functions (ceil, floor, sqrt, ...): not compiled into the
//   bundled SQLite; a build that has them can declare them.

// - random: its generator's state outlives the statement and is shared with the
//   next borrower of the connection (rule 13); a tenant could learn how many
//   values others drew. Use gen_random_uuid()/a value bound by the application.
