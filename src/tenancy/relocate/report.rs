//! [`MoveReport`]: what a move copied, how it verified the copy, and how
//! long the tenant's writes waited.

use std::fmt;
use std::time::Duration;

use super::super::Location;
use crate::TenantId;

/// One table of a move, as verified before the switch: the same rows on
/// both sides (count, and a checksum over every key and value).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableCheck {
    /// The table.
    pub table: String,
    /// The tenant's rows in it, on both sides.
    pub rows: u64,
    /// The checksum of those rows, the same on both sides.
    pub checksum: u64,
}

/// What [`Tenancy::move_tenant`](crate::Tenancy::move_tenant) did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MoveReport {
    /// The tenant.
    pub tenant: TenantId,
    /// Where it was.
    pub from: Location,
    /// Where it is now.
    pub to: Location,
    /// Each declared table, verified (empty when there was nothing to do).
    pub tables: Vec<TableCheck>,
    /// Rows copied while the tenant kept writing.
    pub copied: u64,
    /// Rows copied or replaced again while its writes waited (the changes
    /// made during the first copy).
    pub caught_up: u64,
    /// How long its writes (and new connections) waited.
    pub paused: Duration,
    /// The whole move.
    pub elapsed: Duration,
    /// Whether this call only finished a move switched before (the source
    /// removed by [`resume_move`](crate::Tenancy::resume_move)).
    pub resumed: bool,
}

impl MoveReport {
    /// All the tenant's rows, over every table.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

impl fmt::Display for MoveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tenant `{}` moved from {} to {}: {} rows in {} tables verified (count and checksum), \
             writes paused {} ms, {} ms in all",
            self.tenant,
            self.from,
            self.to,
            self.rows(),
            self.tables.len(),
            self.paused.as_millis(),
            self.elapsed.as_millis()
        )
    }
}
