//! The migration runner's metrics: one outcome and one duration per target.

use ::metrics::{Label, counter, histogram};

use super::{MIGRATION_DURATION, MIGRATION_OUTCOMES, OUTCOME, TARGET, with_tenant};
use crate::migration::{MigrationTarget, Outcome, TargetReport};

/// Records one target's report.
pub(crate) fn migrated(report: &TargetReport) {
    let target = match report.target {
        MigrationTarget::Global => "global",
        MigrationTarget::Shared => "shared",
        MigrationTarget::Tenant(..) => "tenant",
    };
    let labels = || {
        with_tenant(
            report.target.tenant(),
            [
                Label::new(TARGET, target),
                Label::new(OUTCOME, outcome(&report.outcome)),
            ],
        )
    };
    counter!(MIGRATION_OUTCOMES, labels()).increment(1);
    histogram!(MIGRATION_DURATION, labels()).record(report.elapsed);
}

/// The `outcome` label: the variant's name in snake case.
fn outcome(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Applied(_) => "applied",
        Outcome::RolledBack(_) => "rolled_back",
        Outcome::UpToDate => "up_to_date",
        Outcome::Status { .. } => "status",
        Outcome::Unmanaged { .. } => "unmanaged",
        Outcome::Failed(_) => "failed",
        Outcome::Skipped => "skipped",
    }
}
