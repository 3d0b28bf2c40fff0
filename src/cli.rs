//! A migration command for your own binary (feature `cli`): `up`, `down`,
//! `status`, `fresh`, `provision`, `deprovision` and `list` over every
//! tenant of a [`Tenancy`](crate::Tenancy), in the spirit of sea-orm-migration's
//! `cli::run_cli`, and `export`, `import` and `erase` of one tenant (see
//! [`transfer`](crate::transfer)).
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use sea_orm::Database;
//! use sea_orm_migration::prelude::*;
//! use sea_orm_tenant::prelude::*;
//!
//! struct Migrator; // your application's migrator
//! impl MigratorTrait for Migrator {
//!     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<ExitCode, DbErr> {
//!     let db = Database::connect("postgres://app@localhost/app").await?;
//!     let tenancy = Tenancy::schema_per_tenant(db);
//!     // `migrate up`, `migrate down -n 2`, `migrate provision acme globex`, …
//!     Ok(sea_orm_tenant::cli::run_cli(tenancy, Migrator).await.into())
//! }
//! ```
//!
//! What it prints: a progress bar while it runs (on a terminal only, on
//! standard error), then one line per tenant that changed, has pending
//! migrations or failed (with the cause), then the run's summary. The
//! [`CliOutcome`] it returns becomes the process's exit code: 0 when every
//! tenant succeeded, 1 when one failed, 2 when the command could not run
//! (a bad argument, an unreadable registry). See the
//! [guide's chapter](crate::guide::command_line) for a whole binary and a
//! subcommand of your own parser.

mod args;
mod outcome;
mod progress;
mod run;

pub use args::{MigrateArgs, MigrateCommand, MigrateOptions};
pub use outcome::CliOutcome;
pub use run::{TenantCli, run_cli, run_cli_from};
