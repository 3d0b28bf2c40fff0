//! The files of an export: their names, a writer that counts and hashes
//! the rows it writes, and a reader whose lines are bounded.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::codec::hex;
use crate::{FileError, TenantError, TenantId};

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The longest row (one line, its newline included) an import reads:
/// 16 MiB. A longer line is refused before it is held in memory whole.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// The largest manifest an import reads: 4 MiB.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// The file of `table`'s rows: its name with every byte outside
/// `[A-Za-z0-9_-]` written `%XX`, then `.jsonl`. Never a path: no `/`,
/// no `..`.
pub(crate) fn file_name(table: &str) -> String {
    let mut name = String::with_capacity(table.len() + 6);
    for b in table.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".jsonl");
    name
}

/// A [`TenantError::Transfer`] for `tenant`.
pub(crate) fn refused(tenant: &TenantId, reason: impl Into<String>) -> TenantError {
    TenantError::Transfer {
        tenant: tenant.to_string(),
        reason: reason.into(),
        source: None,
    }
}

/// A [`TenantError::Transfer`] for an I/O error on `path`.
pub(crate) fn io_failed(
    tenant: &TenantId,
    what: &str,
    path: &Path,
    err: &std::io::Error,
) -> TenantError {
    TenantError::Transfer {
        tenant: tenant.to_string(),
        reason: format!("{what} `{}` failed", path.display()),
        source: Some(FileError::new(path, err)),
    }
}

/// Writes rows, a line each, counting them and hashing every byte.
pub(crate) struct RowWriter {
    path: PathBuf,
    out: BufWriter<File>,
    hash: Sha256,
    rows: u64,
}

impl RowWriter {
    /// A new file (never one that exists: an export does not overwrite).
    pub(crate) fn create(path: PathBuf) -> std::io::Result<Self> {
        let file = File::options().write(true).create_new(true).open(&path)?;
        Ok(RowWriter {
            path,
            out: BufWriter::with_capacity(64 << 10, file),
            hash: Sha256::new(),
            rows: 0,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// One row: `line` (JSON without a newline), then `\n`.
    pub(crate) fn row(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.out.write_all(line)?;
        self.out.write_all(b"\n")?;
        self.hash.update(line);
        self.hash.update(b"\n");
        self.rows += 1;
        Ok(())
    }

    /// Flushes and syncs the file; its row count and SHA-256.
    pub(crate) fn finish(self) -> std::io::Result<(u64, String)> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok((self.rows, hex(&self.hash.finalize())))
    }
}

/// Why a line could not be read.
pub(crate) enum LineError {
    Io(std::io::Error),
    TooLong,
}

/// Reads lines of at most [`MAX_LINE_BYTES`], counting them and hashing
/// every byte read.
pub(crate) struct LineReader {
    input: BufReader<File>,
    hash: Sha256,
    lines: u64,
    max: usize,
}

impl LineReader {
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        Ok(LineReader {
            input: BufReader::with_capacity(64 << 10, File::open(path)?),
            hash: Sha256::new(),
            lines: 0,
            max: MAX_LINE_BYTES,
        })
    }

    /// The next line into `line` (without its newline); `false` at the
    /// end of the file.
    pub(crate) fn next_line(&mut self, line: &mut Vec<u8>) -> Result<bool, LineError> {
        line.clear();
        let mut read_any = false;
        loop {
            let available = self.input.fill_buf().map_err(LineError::Io)?;
            if available.is_empty() {
                if read_any {
                    self.lines += 1;
                }
                return Ok(read_any);
            }
            read_any = true;
            let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
                Some(end) => (&available[..=end], true),
                None => (available, false),
            };
            if line.len() + chunk.len() > self.max {
                return Err(LineError::TooLong);
            }
            self.hash.update(chunk);
            let used = chunk.len();
            line.extend_from_slice(chunk);
            self.input.consume(used);
            if done {
                line.pop();
                self.lines += 1;
                return Ok(true);
            }
        }
    }

    /// The lines read so far.
    pub(crate) fn lines(&self) -> u64 {
        self.lines
    }

    /// The lines read so far and the SHA-256 of every byte read.
    pub(crate) fn finish(self) -> (u64, String) {
        (self.lines, hex(&self.hash.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_name_never_makes_a_path() {
        assert_eq!(file_name("post"), "post.jsonl");
        assert_eq!(file_name("../etc/x"), "%2E%2E%2Fetc%2Fx.jsonl");
        assert_eq!(file_name("a\"b"), "a%22b.jsonl");
    }

    #[test]
    fn lines_are_bounded_and_hashed_as_written() {
        let dir = std::env::temp_dir().join(format!("sot-lines-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.jsonl");
        let mut w = RowWriter::create(path.clone()).unwrap();
        w.row(b"{\"a\":1}").unwrap();
        w.row(b"{\"a\":2}").unwrap();
        let (rows, sum) = w.finish().unwrap();
        assert!(RowWriter::create(path.clone()).is_err(), "never overwrites");
        let mut r = LineReader::open(&path).unwrap();
        let mut line = Vec::new();
        assert!(r.next_line(&mut line).ok().unwrap());
        assert_eq!(line, b"{\"a\":1}");
        assert!(r.next_line(&mut line).ok().unwrap());
        assert!(!r.next_line(&mut line).ok().unwrap());
        assert_eq!(r.finish(), (rows, sum));

        let mut r = LineReader::open(&path).unwrap();
        r.max = 4;
        assert!(matches!(r.next_line(&mut line), Err(LineError::TooLong)));
        let _ = std::fs::remove_dir_all(dir);
    }
}
