//! What a command returns: the exit code, what it printed, the reports.

use std::fmt;
use std::process::{ExitCode, Termination};

use crate::migration::MigrationReport;

/// What a command did: the text it printed, its migration reports, and the
/// exit code that says whether every tenant succeeded.
///
/// | code | meaning |
/// |---|---|
/// | 0 | every tenant succeeded |
/// | 1 | a tenant failed (named in the output, with the cause) |
/// | 2 | the command could not run: a bad argument, no migrator, an unreadable registry |
///
/// It converts into [`ExitCode`], and `main` may return it directly
/// (it implements [`Termination`]):
///
/// ```no_run
/// # use sea_orm_migration::prelude::*;
/// # use sea_orm_tenant::prelude::*;
/// # struct Migrator;
/// # impl MigratorTrait for Migrator {
/// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// # }
/// # async fn open() -> Tenancy { unimplemented!() }
/// #[tokio::main]
/// async fn main() -> sea_orm_tenant::cli::CliOutcome {
///     let tenancy = open().await;
///     sea_orm_tenant::cli::run_cli(tenancy, Migrator).await
/// }
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a CliOutcome carries the exit code: return it from main or convert it into an ExitCode"]
pub struct CliOutcome {
    pub(super) code: u8,
    pub(super) output: String,
    pub(super) error: Option<String>,
    pub(super) reports: Vec<MigrationReport>,
}

impl CliOutcome {
    /// The command could not run (exit code 2).
    pub(super) fn error(message: impl Into<String>) -> Self {
        CliOutcome {
            code: 2,
            error: Some(message.into()),
            ..CliOutcome::default()
        }
    }

    /// True when every tenant succeeded (exit code 0).
    ///
    /// ```
    /// assert!(sea_orm_tenant::cli::CliOutcome::default().is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        self.code == 0
    }

    /// The exit code: 0 success, 1 a tenant failed, 2 the command could
    /// not run.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// What the command printed on standard output: a line per tenant
    /// that changed, has pending migrations or failed, then the summary.
    pub fn output(&self) -> &str {
        &self.output
    }

    /// Why the command could not run (printed on standard error), if it
    /// could not.
    pub fn error_message(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The migration reports of the run (`fresh` has two: down, then up;
    /// provisioning, deprovisioning and listing have none).
    pub fn reports(&self) -> &[MigrationReport] {
        &self.reports
    }
}

impl fmt::Display for CliOutcome {
    /// The output, then the error, as printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.output)?;
        if let Some(error) = &self.error {
            writeln!(f, "error: {error}")?;
        }
        Ok(())
    }
}

impl From<CliOutcome> for ExitCode {
    fn from(outcome: CliOutcome) -> Self {
        ExitCode::from(outcome.code)
    }
}

impl Termination for CliOutcome {
    fn report(self) -> ExitCode {
        self.into()
    }
}
