//! Running a command: [`TenantCli`], and the two one-call shortcuts.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::Parser;
use futures_util::StreamExt;
use sea_orm_migration::MigratorTrait;

use super::args::{MigrateArgs, MigrateCommand, MigrateOptions};
use super::outcome::CliOutcome;
use super::progress;
use crate::migration::{MigrationReport, Outcome, TenantMigrations};
use crate::{Tenancy, TenantError, TenantId};

/// Parses the process's arguments, runs the command over every tenant of
/// `tenancy` with `migrator`, prints the report and returns the outcome
/// (turn it into the process's [`ExitCode`](std::process::ExitCode)).
///
/// ```no_run
/// # use sea_orm_migration::prelude::*;
/// # use sea_orm_tenant::prelude::*;
/// # struct Migrator;
/// # impl MigratorTrait for Migrator {
/// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// # }
/// # async fn example(tenancy: Tenancy) -> std::process::ExitCode {
/// sea_orm_tenant::cli::run_cli(tenancy, Migrator).await.into()
/// # }
/// ```
pub async fn run_cli<M: MigratorTrait + 'static>(tenancy: Tenancy, migrator: M) -> CliOutcome {
    TenantCli::new(tenancy, migrator).run().await
}

/// [`run_cli`] with the arguments given (the first is the program's name,
/// as in `std::env::args`): for tests, and for binaries that read their
/// arguments elsewhere.
///
/// ```
/// use sea_orm_migration::prelude::*;
/// use sea_orm_tenant::prelude::*;
///
/// struct Migrator;
/// impl MigratorTrait for Migrator {
///     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sea_orm::DbErr> {
/// let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// let tenancy = Tenancy::shared_schema(db);
/// let outcome = sea_orm_tenant::cli::run_cli_from(tenancy.clone(), Migrator, ["migrate", "provision", "acme"]).await;
/// assert!(outcome.is_success(), "{outcome}");
/// let listed = sea_orm_tenant::cli::run_cli_from(tenancy, Migrator, ["migrate", "list"]).await;
/// assert!(listed.output().contains("acme"));
/// # Ok(())
/// # }
/// ```
pub async fn run_cli_from<M, I, T>(tenancy: Tenancy, migrator: M, args: I) -> CliOutcome
where
    M: MigratorTrait + 'static,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    TenantCli::new(tenancy, migrator).run_from(args).await
}

/// Adds the global migrator to a run (a function, so the migrator's type
/// need not be part of [`TenantCli`]'s).
type AddGlobal = for<'a> fn(TenantMigrations<'a>) -> TenantMigrations<'a>;

fn add_global<G: MigratorTrait + 'static>(m: TenantMigrations<'_>) -> TenantMigrations<'_> {
    m.global::<G>()
}

/// The command, configured: a tenancy, its migrator and optionally a
/// global migrator (run once, first, in the shared database on `up`).
///
/// ```no_run
/// # use sea_orm_migration::prelude::*;
/// # use sea_orm_tenant::prelude::*;
/// # struct Migrator;
/// # impl MigratorTrait for Migrator {
/// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// # }
/// # struct GlobalMigrator;
/// # impl MigratorTrait for GlobalMigrator {
/// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// #     fn migration_table_name() -> DynIden { "seaql_global_migrations".into_iden() }
/// # }
/// use sea_orm_tenant::cli::TenantCli;
///
/// # async fn example(tenancy: Tenancy) -> std::process::ExitCode {
/// TenantCli::new(tenancy, Migrator)
///     .global(GlobalMigrator) // the country list, in `public`
///     .run()
///     .await
///     .into()
/// # }
/// ```
#[derive(Clone)]
pub struct TenantCli {
    tenancy: Tenancy,
    global: Option<AddGlobal>,
}

impl std::fmt::Debug for TenantCli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantCli")
            .field("global", &self.global.is_some())
            .finish_non_exhaustive()
    }
}

impl TenantCli {
    /// The command for `tenancy`, migrating with `migrator` (it becomes the
    /// tenancy's migrator, so `provision` runs it too).
    pub fn new<M: MigratorTrait + 'static>(tenancy: Tenancy, migrator: M) -> Self {
        let _ = migrator;
        TenantCli {
            tenancy: tenancy.with_migrator::<M>(),
            global: None,
        }
    }

    /// Also runs `migrator` once, first, in the shared database on `up`
    /// and `fresh` (see [`TenantMigrations::global`]).
    pub fn global<G: MigratorTrait + 'static>(mut self, migrator: G) -> Self {
        let _ = migrator;
        self.global = Some(add_global::<G>);
        self
    }

    /// The tenancy, with the migrator set.
    pub fn tenancy(&self) -> &Tenancy {
        &self.tenancy
    }

    /// Parses the process's arguments and runs the command.
    pub async fn run(&self) -> CliOutcome {
        self.run_from(std::env::args_os()).await
    }

    /// Parses `args` (the first is the program's name) and runs the
    /// command. `--help` prints the help and succeeds; a bad argument
    /// prints clap's message and the outcome's code is 2.
    pub async fn run_from<I, T>(&self, args: I) -> CliOutcome
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        match MigrateArgs::try_parse_from(args) {
            Ok(args) => self.execute(args).await,
            Err(e) => {
                let _ = e.print();
                let text = e.render().to_string();
                if e.use_stderr() {
                    let message = text.trim_start_matches("error: ").trim_end().to_owned();
                    CliOutcome::error(message)
                } else {
                    CliOutcome {
                        output: text,
                        ..CliOutcome::default()
                    }
                }
            }
        }
    }

    /// Runs a command already parsed (a subcommand of your own parser),
    /// prints the report on standard output (and why it could not run on
    /// standard error) and returns the outcome.
    pub async fn execute(&self, args: MigrateArgs) -> CliOutcome {
        let outcome = self.dispatch(args).await;
        print!("{}", outcome.output);
        if let Some(error) = &outcome.error {
            eprintln!("error: {error}");
        }
        outcome
    }

    async fn dispatch(&self, args: MigrateArgs) -> CliOutcome {
        let opts = &args.options;
        match args.command {
            MigrateCommand::Up => self.migrate(opts, Run::Up).await,
            MigrateCommand::Down { num } => self.migrate(opts, Run::Down(Some(num))).await,
            MigrateCommand::Status => self.migrate(opts, Run::Status).await,
            MigrateCommand::Fresh => {
                let down = self.migrate(opts, Run::Down(None)).await;
                if !down.is_success() {
                    return down;
                }
                let up = self.migrate(opts, Run::Up).await;
                CliOutcome {
                    code: up.code,
                    output: down.output + &up.output,
                    error: up.error,
                    reports: down.reports.into_iter().chain(up.reports).collect(),
                }
            }
            MigrateCommand::Provision { tenants } => {
                self.each(opts, tenants, "provisioned", async |t: TenantId| {
                    self.tenancy.provision(&t).await?;
                    Ok("provisioned, every migration applied".to_owned())
                })
                .await
            }
            MigrateCommand::Deprovision { tenants } => {
                // Whether each existed, when the tenancy can say.
                let known: Option<HashSet<TenantId>> = self
                    .tenancy
                    .tenants()
                    .await
                    .ok()
                    .map(|list| list.into_iter().map(|(t, _)| t).collect());
                let known = &known;
                self.each(opts, tenants, "deprovisioned", async |t: TenantId| {
                    self.tenancy.deprovision(&t).await.map(|_| ())?;
                    Ok(match known {
                        Some(known) if !known.contains(&t) => {
                            "was not provisioned; removed whatever was left of it".to_owned()
                        }
                        _ => "deprovisioned".to_owned(),
                    })
                })
                .await
            }
            MigrateCommand::List => self.list().await,
            MigrateCommand::Export { tenant, dir } => {
                let bar = progress::bar(0);
                let result = self
                    .tenancy
                    .export_with_progress(&tenant, &dir, progress::transfer(&bar))
                    .await;
                bar.finish_and_clear();
                transferred(result)
            }
            MigrateCommand::Import { tenant, dir } => {
                let bar = progress::bar(0);
                let result = self
                    .tenancy
                    .import_with_progress(&tenant, &dir, progress::transfer(&bar))
                    .await;
                bar.finish_and_clear();
                transferred(result)
            }
            MigrateCommand::Move {
                tenant,
                to,
                server,
                pause,
                resume,
                rollback,
            } => {
                self.relocate(&tenant, to, &server, pause, resume, rollback)
                    .await
            }
            MigrateCommand::Erase { tenants } => {
                self.each(opts, tenants, "erased", async |t: TenantId| {
                    Ok(self.tenancy.erase(&t).await?.to_string())
                })
                .await
            }
        }
    }

    /// `move`: a move, a resume or a rollback, with a bar of its steps.
    async fn relocate(
        &self,
        tenant: &TenantId,
        to: Option<crate::Placement>,
        server: &str,
        pause: u64,
        resume: bool,
        rollback: bool,
    ) -> CliOutcome {
        if rollback {
            return match self.tenancy.rollback_move(tenant).await {
                Ok(Some(pending)) => said(format!(
                    "the move of tenant `{tenant}` to {} was rolled back; it stays at {}",
                    pending.to, pending.from
                )),
                Ok(None) => said(format!("tenant `{tenant}` has no pending move")),
                Err(e) => tenant_failed(e.to_string()),
            };
        }
        let bar = progress::bar(crate::MoveStep::COUNT);
        let shown = bar.clone();
        let options = crate::MoveOptions::default()
            .pause(std::time::Duration::from_secs(pause))
            .on_progress(move |step| {
                shown.set_position(step.index());
                shown.set_message(step.describe());
            });
        let result = match (resume, to) {
            (true, _) => self.tenancy.resume_move_with(tenant, options).await,
            (false, Some(placement)) => match crate::Location::on(server, placement) {
                Ok(to) => self.tenancy.move_tenant_with(tenant, to, options).await,
                Err(e) => Err(e),
            },
            (false, None) => Err(crate::TenantError::Unsupported(
                "say where to (a placement), or --resume or --rollback".into(),
            )),
        };
        bar.finish_and_clear();
        match result {
            Ok(report) => {
                let mut out = report.to_string();
                for table in &report.tables {
                    let _ = write!(
                        out,
                        "\n  {}: {} rows, checksum {:016x}",
                        table.table, table.rows, table.checksum
                    );
                }
                said(out)
            }
            Err(e) => tenant_failed(e.to_string()),
        }
    }

    /// `up`, `down` or `status` across the tenants.
    async fn migrate(&self, opts: &MigrateOptions, run: Run) -> CliOutcome {
        let bar = progress::bar(0);
        let shown = bar.clone();
        let mut m = self
            .tenancy
            .migrations()
            .concurrency(usize::from(opts.concurrency))
            .on_progress(move |report, done, total| {
                shown.set_length(total as u64);
                shown.set_position(done as u64);
                shown.set_message(report.target.to_string());
            });
        if let Some(add) = self.global {
            m = add(m);
        }
        if opts.keep_going {
            m = m.keep_going();
        }
        if !opts.only.is_empty() {
            m = m.only(opts.only.iter().cloned());
        }
        let result = match run {
            Run::Up => m.up().await,
            Run::Down(steps) => m.down(steps).await,
            Run::Status => m.status().await,
        };
        bar.finish_and_clear();
        match result {
            Ok(report) => reported(report),
            Err(e) => CliOutcome::error(e.to_string()),
        }
    }

    /// Runs `job` for each tenant, `concurrency` at a time, a line each in
    /// the order given, then a summary.
    async fn each<F, Fut>(
        &self,
        opts: &MigrateOptions,
        tenants: Vec<TenantId>,
        verb: &str,
        job: F,
    ) -> CliOutcome
    where
        F: Fn(TenantId) -> Fut,
        Fut: Future<Output = Result<String, TenantError>>,
    {
        let started = Instant::now();
        let total = tenants.len();
        let bar = progress::bar(total as u64);
        let stop = AtomicBool::new(false);
        let (job, stop, bar_ref) = (&job, &stop, &bar);
        let lines: Vec<(String, Option<bool>)> = futures_util::stream::iter(tenants)
            .map(|tenant| async move {
                if stop.load(Ordering::SeqCst) {
                    return (
                        format!("{tenant}: skipped (the run stopped at an earlier failure)"),
                        None,
                    );
                }
                bar_ref.set_message(tenant.to_string());
                let result = job(tenant.clone()).await;
                bar_ref.inc(1);
                match result {
                    Ok(done) => (format!("{tenant}: {done}"), Some(true)),
                    Err(e) => {
                        if !opts.keep_going {
                            stop.store(true, Ordering::SeqCst);
                        }
                        (format!("{tenant}: failed: {e}"), Some(false))
                    }
                }
            })
            .buffered(usize::from(opts.concurrency))
            .collect()
            .await;
        bar.finish_and_clear();
        let ok = lines.iter().filter(|(_, r)| *r == Some(true)).count();
        let failed = lines.iter().filter(|(_, r)| *r == Some(false)).count();
        let skipped = total - ok - failed;
        let mut output = String::new();
        for (line, _) in &lines {
            let _ = writeln!(output, "{line}");
        }
        let _ = writeln!(
            output,
            "{verb} {ok} of {total} tenant(s) in {:.2?}: {failed} failed, {skipped} skipped",
            started.elapsed()
        );
        CliOutcome {
            code: u8::from(ok != total),
            output,
            ..CliOutcome::default()
        }
    }

    /// Every provisioned tenant and where it lives.
    async fn list(&self) -> CliOutcome {
        let tenants = match self.tenancy.locations().await {
            Ok(tenants) => tenants,
            Err(e) => return CliOutcome::error(e.to_string()),
        };
        // A registry without a journal, or none at all, has no moves.
        let moves = self.tenancy.pending_moves().await.unwrap_or_default();
        let mut output = String::new();
        let width = tenants
            .iter()
            .map(|(t, _)| t.to_string().len())
            .max()
            .unwrap_or(0);
        for (tenant, location) in &tenants {
            let _ = write!(
                output,
                "{:width$}  {}",
                tenant.to_string(),
                location.placement()
            );
            if !location.is_main() {
                let _ = write!(output, " on {}", location.server());
            }
            if let Some(pending) = moves.iter().find(|m| &m.tenant == tenant) {
                let _ = write!(
                    output,
                    " (a move to {} is pending: {:?})",
                    pending.to, pending.phase
                );
            }
            output.push('\n');
        }
        let _ = writeln!(output, "{} tenant(s)", tenants.len());
        CliOutcome {
            output,
            ..CliOutcome::default()
        }
    }
}

/// The report of an export or import, or why it failed.
fn transferred<R: std::fmt::Display>(result: Result<R, TenantError>) -> CliOutcome {
    match result {
        Ok(report) => CliOutcome {
            output: format!("{report}\n"),
            ..CliOutcome::default()
        },
        Err(e) => CliOutcome::error(e.to_string()),
    }
}

/// A command that succeeded and printed `text`.
fn said(text: impl std::fmt::Display) -> CliOutcome {
    CliOutcome {
        output: format!("{text}\n"),
        ..CliOutcome::default()
    }
}

/// A command whose tenant failed (exit code 1), with why.
fn tenant_failed(why: String) -> CliOutcome {
    CliOutcome {
        code: 1,
        error: Some(why),
        ..CliOutcome::default()
    }
}

/// Which migration run.
#[derive(Clone, Copy)]
enum Run {
    Up,
    Down(Option<u32>),
    Status,
}

/// A line per target that changed, has pending migrations or failed (with
/// the cause), then the summary; code 1 unless every target succeeded.
fn reported(report: MigrationReport) -> CliOutcome {
    let mut output = String::new();
    for target in &report.targets {
        // Failures are listed by the report itself, below.
        let quiet = match &target.outcome {
            Outcome::UpToDate => true,
            Outcome::Status { pending, .. } => pending.is_empty(),
            outcome => outcome.is_failure(),
        };
        if !quiet {
            let _ = writeln!(output, "{target}");
        }
    }
    let _ = writeln!(output, "{report}");
    CliOutcome {
        code: u8::from(!report.is_ok()),
        output,
        error: None,
        reports: vec![report],
    }
}
