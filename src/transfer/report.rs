//! What an export or import did, table by table, and the progress it
//! reports on the way.

use std::fmt;
use std::path::PathBuf;

use crate::TenantId;

/// One table of an export or import: its rows and the SHA-256 of its
/// file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableTransfer {
    /// The table.
    pub table: String,
    /// The rows exported or imported.
    pub rows: u64,
    /// The SHA-256 of the table's file, lower-case hexadecimal.
    pub sha256: String,
}

/// What [`Tenancy::export`](crate::Tenancy::export) wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportReport {
    /// The tenant exported.
    pub tenant: TenantId,
    /// The directory holding the files and `manifest.json`.
    pub dir: PathBuf,
    /// Each table, parents before children (the manifest's order).
    pub tables: Vec<TableTransfer>,
}

impl ExportReport {
    /// The rows of every table together.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// The rows of table `table` (0 when it was not exported).
    pub fn rows_in(&self, table: &str) -> u64 {
        rows_in(&self.tables, table)
    }
}

impl fmt::Display for ExportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tenant `{}` exported to {}: ",
            self.tenant,
            self.dir.display()
        )?;
        write_tables(f, &self.tables)
    }
}

/// A Postgres sequence an import raised above the rows it brought.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RaisedSequence {
    /// The table.
    pub table: String,
    /// The column the sequence feeds.
    pub column: String,
    /// The sequence's value now (its next value is above it).
    pub value: i64,
}

/// What [`Tenancy::import`](crate::Tenancy::import) brought in.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// The tenant imported into.
    pub tenant: TenantId,
    /// The tenant the export was made of (another id for a copy).
    pub exported_as: TenantId,
    /// Each table, in the order inserted (parents before children); every
    /// count and checksum matched the manifest.
    pub tables: Vec<TableTransfer>,
    /// The Postgres sequences raised so that new rows get keys above the
    /// imported ones (none elsewhere: SQLite and MySQL/MariaDB move their
    /// counters themselves).
    pub sequences: Vec<RaisedSequence>,
}

impl ImportReport {
    /// The rows of every table together.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// The rows imported into table `table`.
    pub fn rows_in(&self, table: &str) -> u64 {
        rows_in(&self.tables, table)
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant `{}` imported", self.tenant)?;
        if self.exported_as != self.tenant {
            write!(f, " from an export of `{}`", self.exported_as)?;
        }
        f.write_str(": ")?;
        write_tables(f, &self.tables)?;
        if !self.sequences.is_empty() {
            write!(f, "; {} sequence(s) raised", self.sequences.len())?;
        }
        Ok(())
    }
}

fn rows_in(tables: &[TableTransfer], table: &str) -> u64 {
    tables
        .iter()
        .filter(|t| t.table == table)
        .map(|t| t.rows)
        .sum()
}

fn write_tables(f: &mut fmt::Formatter<'_>, tables: &[TableTransfer]) -> fmt::Result {
    if tables.is_empty() {
        return f.write_str("no tables");
    }
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        let plural = if t.rows == 1 { "row" } else { "rows" };
        write!(f, "{} {plural} of `{}`", t.rows, t.table)?;
    }
    Ok(())
}

/// Where an export or import is, for a progress bar: reported after each
/// batch of rows and when a table is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferProgress<'a> {
    /// The table being read or written.
    pub table: &'a str,
    /// Its place in the order (0 for the first).
    pub table_index: usize,
    /// How many tables there are.
    pub tables: usize,
    /// The rows of this table done so far.
    pub rows: u64,
    /// The rows this table has, when known (an import knows them from the
    /// manifest).
    pub table_rows: Option<u64>,
    /// Whether this table is done.
    pub table_done: bool,
}
