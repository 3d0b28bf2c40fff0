//! The files of an import checked against the manifest: lines read with
//! their bound, counts and checksums compared.

use std::path::Path;

use super::files::{LineError, LineReader, MAX_LINE_BYTES, io_failed, refused};
use super::manifest::TableEntry;
use crate::{TenantError, TenantId};

pub(super) fn open(tenant: &TenantId, path: &Path) -> Result<LineReader, TenantError> {
    LineReader::open(path).map_err(|e| io_failed(tenant, "reading", path, &e))
}

pub(super) fn next(
    tenant: &TenantId,
    path: &Path,
    reader: &mut LineReader,
    line: &mut Vec<u8>,
) -> Result<bool, TenantError> {
    match reader.next_line(line) {
        Ok(more) => Ok(more),
        Err(LineError::Io(e)) => Err(io_failed(tenant, "reading", path, &e)),
        Err(LineError::TooLong) => Err(refused(
            tenant,
            format!(
                "`{}` has a line longer than {} MiB",
                path.display(),
                MAX_LINE_BYTES >> 20
            ),
        )),
    }
}

/// Whether a file read whole matches its manifest entry.
pub(super) fn matches_manifest(
    tenant: &TenantId,
    entry: &TableEntry,
    path: &Path,
    (lines, sha256): (u64, String),
) -> Result<(), TenantError> {
    if lines != entry.rows {
        return Err(refused(
            tenant,
            format!(
                "`{}` holds {lines} row(s), the manifest says {}",
                path.display(),
                entry.rows
            ),
        ));
    }
    if sha256 != entry.sha256 {
        return Err(refused(
            tenant,
            format!(
                "`{}` does not match the manifest's checksum (changed or damaged)",
                path.display()
            ),
        ));
    }
    Ok(())
}
