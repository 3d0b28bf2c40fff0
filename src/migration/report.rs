//! What a run across tenants returns: one [`TargetReport`] per schema or
//! database, gathered in a [`MigrationReport`].

use std::fmt;
use std::time::Duration;

use crate::{Placement, TenantError, TenantId};

/// Where one set of migrations ran.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MigrationTarget {
    /// The global migrator ([`TenantMigrations::global`](super::TenantMigrations::global))
    /// in the shared database. Migrated once, first.
    Global,
    /// The tenants' migrator in the shared database (its `public` schema on Postgres): global
    /// tables, and the tables of every shared-schema tenant. Migrated once.
    Shared,
    /// One tenant's schema or database.
    Tenant(TenantId, Placement),
}

impl MigrationTarget {
    /// The tenant, unless this is the shared target.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            MigrationTarget::Global | MigrationTarget::Shared => None,
            MigrationTarget::Tenant(t, _) => Some(t),
        }
    }

    /// Where the migrations ran, in words: what [`TargetReport`]'s
    /// `Display` names.
    ///
    /// ```
    /// use sea_orm_tenant::{Placement, TenantId};
    /// use sea_orm_tenant::migration::MigrationTarget;
    ///
    /// let t = MigrationTarget::Tenant(TenantId::from("acme"), Placement::SchemaPerTenant);
    /// assert_eq!(t.describe(), "tenant `acme` (its own schema)");
    /// assert_eq!(MigrationTarget::Shared.describe(), "the shared schema");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            MigrationTarget::Global => "the global migrations (shared database)".to_owned(),
            MigrationTarget::Shared => "the shared schema".to_owned(),
            MigrationTarget::Tenant(t, placement) => {
                let place = match placement {
                    Placement::SharedSchema => "shared schema",
                    Placement::SchemaPerTenant => "its own schema",
                    Placement::DatabasePerTenant => "its own database",
                };
                format!("tenant `{t}` ({place})")
            }
        }
    }
}

impl fmt::Display for MigrationTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MigrationTarget::Global => f.write_str("(global)"),
            MigrationTarget::Shared => f.write_str("(shared)"),
            MigrationTarget::Tenant(t, _) => write!(f, "{t}"),
        }
    }
}

/// What happened to one target.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// `up`: these migrations were applied, in order, and committed.
    Applied(Vec<String>),
    /// `down`: these migrations were rolled back, in order, and committed.
    RolledBack(Vec<String>),
    /// Nothing to do.
    UpToDate,
    /// `status`: what is applied and what is pending, in migrator order.
    Status {
        /// Applied migrations.
        applied: Vec<String>,
        /// Pending migrations.
        pending: Vec<String>,
    },
    /// The schema or database holds tables but no version table: it was
    /// not made by this migrator (created by hand, or by another tool), so
    /// it was left exactly as it was.
    Unmanaged {
        /// How many tables it holds.
        tables: u64,
    },
    /// It failed and was rolled back (where the backend has transactional
    /// DDL: Postgres and SQLite). A rerun retries it.
    Failed(TenantError),
    /// Not attempted: an earlier failure stopped the run.
    Skipped,
}

impl Outcome {
    /// True for [`Failed`](Self::Failed) and [`Unmanaged`](Self::Unmanaged).
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::Unmanaged { .. })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Applied(m) => write!(f, "applied {}", m.join(", ")),
            Outcome::RolledBack(m) => write!(f, "rolled back {}", m.join(", ")),
            Outcome::UpToDate => f.write_str("up to date"),
            Outcome::Status { applied, pending } => write!(
                f,
                "{} applied, {} pending{}",
                applied.len(),
                pending.len(),
                if pending.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", pending.join(", "))
                }
            ),
            Outcome::Unmanaged { tables } => write!(
                f,
                "left alone: {tables} table(s) but no version table (not created by this migrator)"
            ),
            Outcome::Failed(e) => {
                write!(f, "failed: {e}")?;
                write_causes(f, e)
            }
            Outcome::Skipped => f.write_str("skipped (the run stopped at an earlier failure)"),
        }
    }
}

/// One target's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetReport {
    /// The schema or database.
    pub target: MigrationTarget,
    /// What happened.
    pub outcome: Outcome,
    /// How long it took (next to nothing when the catalog answered).
    pub elapsed: Duration,
    /// The server it is on ([`MAIN_SERVER`](crate::MAIN_SERVER) unless the
    /// tenancy has several, see [`Tenancy::with_server`](crate::Tenancy::with_server)).
    pub server: String,
}

/// `tenant `acme` (its own schema): failed: <the error>`, one line per
/// cause the error's message does not already say.
///
/// ```
/// use std::time::Duration;
/// use sea_orm_tenant::{Placement, TenantError, TenantId};
/// use sea_orm_tenant::migration::{MigrationTarget, Outcome, TargetReport};
///
/// let report = TargetReport {
///     target: MigrationTarget::Tenant(TenantId::from("acme"), Placement::DatabasePerTenant),
///     outcome: Outcome::Failed(TenantError::Unsupported("schema per tenant on SQLite".into())),
///     elapsed: Duration::ZERO,
///     server: sea_orm_tenant::MAIN_SERVER.into(),
/// };
/// assert_eq!(
///     report.to_string(),
///     "tenant `acme` (its own database): failed: tenant: unsupported: schema per tenant on SQLite"
/// );
/// ```
impl fmt::Display for TargetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.server == crate::MAIN_SERVER {
            write!(f, "{}: {}", self.target.describe(), self.outcome)
        } else {
            write!(
                f,
                "{} on server `{}`: {}",
                self.target.describe(),
                self.server,
                self.outcome
            )
        }
    }
}

/// Writes the causes of `err` (its source chain) that its message does not
/// already include, one per line.
fn write_causes(f: &mut fmt::Formatter<'_>, err: &dyn std::error::Error) -> fmt::Result {
    let mut said = err.to_string();
    let mut cause = err.source();
    while let Some(source) = cause {
        let text = source.to_string();
        if !said.contains(&text) {
            write!(f, "\n    caused by: {text}")?;
            said.push_str(&text);
        }
        cause = source.source();
    }
    Ok(())
}

/// The result of a run: one [`TargetReport`] per target, the global and
/// shared targets first, then tenants ordered by id.
///
/// `Display` prints the counts, then one line per failure: the target (the
/// tenant and whether it has its own schema or database) and the error
/// with its causes, so a log line or a terminal says what went wrong
/// without a call to [`failures`](Self::failures).
///
/// ```
/// use std::time::Duration;
/// use sea_orm_tenant::{Placement, TenantError, TenantId};
/// use sea_orm_tenant::migration::{MigrationReport, MigrationTarget, Outcome, TargetReport};
///
/// let target = |t: &str| MigrationTarget::Tenant(TenantId::from(t), Placement::SchemaPerTenant);
/// let report = MigrationReport {
///     targets: vec![
///         TargetReport {
///             target: target("acme"),
///             outcome: Outcome::UpToDate,
///             elapsed: Duration::ZERO,
///             server: "main".into(),
///         },
///         TargetReport {
///             target: target("globex"),
///             outcome: Outcome::Failed(TenantError::Backfill {
///                 table: "post".into(),
///                 column: "tenant_id".into(),
///                 rows: 3,
///             }),
///             elapsed: Duration::ZERO,
///             server: "main".into(),
///         },
///     ],
///     elapsed: Duration::from_millis(20),
/// };
/// assert_eq!(
///     report.to_string(),
///     "2 target(s) in 20.00ms: 0 changed, 1 up to date, 1 failed, 0 skipped\n\
///      \x20 tenant `globex` (its own schema): failed: tenant: cannot add tenant column \
///      `post`.`tenant_id`: 3 row(s) would stay NULL after the backfill; nothing was changed"
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Every target, in order.
    pub targets: Vec<TargetReport>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl MigrationReport {
    /// True when no target failed or was left alone or skipped.
    pub fn is_ok(&self) -> bool {
        self.targets
            .iter()
            .all(|t| !t.outcome.is_failure() && t.outcome != Outcome::Skipped)
    }

    /// The targets that failed (or were left alone as unmanaged).
    pub fn failures(&self) -> impl Iterator<Item = &TargetReport> {
        self.targets.iter().filter(|t| t.outcome.is_failure())
    }

    /// The report of one tenant.
    pub fn tenant(&self, tenant: &TenantId) -> Option<&TargetReport> {
        self.targets
            .iter()
            .find(|t| t.target.tenant() == Some(tenant))
    }

    /// The report of the shared target (of the main server), if it ran.
    pub fn shared(&self) -> Option<&TargetReport> {
        self.targets
            .iter()
            .find(|t| t.target == MigrationTarget::Shared && t.server == crate::MAIN_SERVER)
    }

    /// The targets on the server named `server`: its shared tables, its
    /// tenant schemas and databases.
    pub fn on_server<'a>(&'a self, server: &'a str) -> impl Iterator<Item = &'a TargetReport> {
        self.targets.iter().filter(move |t| t.server == server)
    }

    /// How many targets ended with an outcome like `pred`.
    pub fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.targets.iter().filter(|t| pred(&t.outcome)).count()
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changed = self.count(|o| matches!(o, Outcome::Applied(_) | Outcome::RolledBack(_)));
        let current = self.count(|o| match o {
            Outcome::UpToDate => true,
            Outcome::Status { pending, .. } => pending.is_empty(),
            _ => false,
        });
        let pending =
            self.count(|o| matches!(o, Outcome::Status { pending, .. } if !pending.is_empty()));
        let failed = self.count(Outcome::is_failure);
        let skipped = self.count(|o| matches!(o, Outcome::Skipped));
        write!(
            f,
            "{} target(s) in {:.2?}: ",
            self.targets.len(),
            self.elapsed
        )?;
        if pending > 0
            || changed == 0
                && self
                    .targets
                    .iter()
                    .any(|t| matches!(t.outcome, Outcome::Status { .. }))
        {
            write!(f, "{pending} with pending migrations, ")?;
        } else {
            write!(f, "{changed} changed, ")?;
        }
        write!(
            f,
            "{current} up to date, {failed} failed, {skipped} skipped"
        )?;
        for failure in self.failures() {
            let line = failure.to_string();
            write!(f, "\n  {}", line.replace('\n', "\n  "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcomes: Vec<Outcome>) -> MigrationReport {
        MigrationReport {
            targets: outcomes
                .into_iter()
                .enumerate()
                .map(|(i, outcome)| TargetReport {
                    target: MigrationTarget::Tenant(
                        TenantId::from(format!("t{i}").as_str()),
                        Placement::SchemaPerTenant,
                    ),
                    outcome,
                    elapsed: Duration::ZERO,
                    server: crate::MAIN_SERVER.into(),
                })
                .collect(),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn summaries_count_what_happened() {
        let up = report(vec![
            Outcome::Applied(vec!["m1".into()]),
            Outcome::UpToDate,
            Outcome::Skipped,
        ]);
        assert_eq!(
            up.to_string(),
            "3 target(s) in 0.00ns: 1 changed, 1 up to date, 0 failed, 1 skipped"
        );
        assert!(!up.is_ok());
        let status = report(vec![
            Outcome::Status {
                applied: vec!["m1".into()],
                pending: vec!["m2".into()],
            },
            Outcome::Status {
                applied: vec!["m1".into(), "m2".into()],
                pending: vec![],
            },
        ]);
        assert_eq!(
            status.to_string(),
            "2 target(s) in 0.00ns: 1 with pending migrations, 1 up to date, 0 failed, 0 skipped"
        );
    }
}
