//! The command line, as clap types: embed them in a parser of your own, or
//! let [`run_cli`](super::run_cli) parse the process's arguments.

use clap::{Args, Parser, Subcommand};

use crate::TenantId;

/// The whole command line: options, then a command.
///
/// ```
/// use clap::Parser;
/// use sea_orm_tenant::cli::{MigrateArgs, MigrateCommand};
///
/// let args = MigrateArgs::try_parse_from(["migrate", "--keep-going", "down", "-n", "2"]).unwrap();
/// assert!(args.options.keep_going);
/// assert!(matches!(args.command, MigrateCommand::Down { num: 2 }));
/// ```
#[derive(Parser, Debug, Clone)]
#[command(
    name = "migrate",
    about = "Migrate, provision and list the tenants",
    long_about = None
)]
pub struct MigrateArgs {
    /// Options of every command.
    #[command(flatten)]
    pub options: MigrateOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: MigrateCommand,
}

/// Options of every command (`global`: accepted before or after it).
///
/// ```
/// use clap::Parser;
/// use sea_orm_tenant::cli::MigrateArgs;
///
/// let args = MigrateArgs::try_parse_from(["migrate", "up", "--concurrency", "8", "--only", "acme"]).unwrap();
/// assert_eq!(args.options.concurrency, 8);
/// assert_eq!(args.options.only[0].to_string(), "acme");
/// ```
#[derive(Args, Debug, Clone)]
pub struct MigrateOptions {
    /// How many tenants migrate, or are provisioned, at once.
    #[arg(long, short = 'c', global = true, default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Keep migrating the other tenants after one failed (the default is to
    /// start no new tenant once one failed).
    #[arg(long, global = true)]
    pub keep_going: bool,
    /// Only this tenant (repeatable); every provisioned tenant by default.
    #[arg(long, global = true, value_name = "TENANT", value_parser = tenant_id)]
    pub only: Vec<TenantId>,
}

impl Default for MigrateOptions {
    /// Four at a time, stop at the first failure, every tenant.
    fn default() -> Self {
        MigrateOptions {
            concurrency: 4,
            keep_going: false,
            only: Vec::new(),
        }
    }
}

/// A command.
///
/// ```
/// use clap::Parser;
/// use sea_orm_tenant::cli::{MigrateArgs, MigrateCommand};
///
/// let args = MigrateArgs::try_parse_from(["migrate", "provision", "acme", "globex"]).unwrap();
/// let MigrateCommand::Provision { tenants } = args.command else { panic!() };
/// assert_eq!(tenants.len(), 2);
///
/// // Tenant ids are untrusted input: checked like `TenantId::parse`.
/// assert!(MigrateArgs::try_parse_from(["migrate", "provision", "Acme Corp!"]).is_err());
/// ```
#[derive(Subcommand, Debug, Clone)]
#[non_exhaustive]
pub enum MigrateCommand {
    /// Apply every pending migration in every tenant (and the global
    /// migrator, once, first).
    Up,
    /// Roll back the last migrations in every tenant.
    Down {
        /// How many migrations to roll back in each tenant.
        #[arg(
            short = 'n',
            long = "num",
            visible_alias = "steps",
            default_value_t = 1
        )]
        num: u32,
    },
    /// Show what is applied and pending in every tenant, changing nothing.
    Status,
    /// Roll back every migration in every tenant, then apply them all
    /// again: erases every tenant's data.
    Fresh,
    /// Create tenants (schema, database or file, as the tenancy places
    /// them) and apply every migration there.
    Provision {
        /// The tenant ids.
        #[arg(required = true, value_name = "TENANT", value_parser = tenant_id)]
        tenants: Vec<TenantId>,
    },
    /// Remove tenants: their schema, database or file, or their rows in
    /// the shared tables, and their registry entry.
    #[command(visible_alias = "drop")]
    Deprovision {
        /// The tenant ids.
        #[arg(required = true, value_name = "TENANT", value_parser = tenant_id)]
        tenants: Vec<TenantId>,
    },
    /// List the provisioned tenants and where each lives.
    List,
    /// Write one tenant's rows into a new directory: a JSON Lines file per
    /// declared tenant table and a `manifest.json` (see
    /// `sea_orm_tenant::transfer` for the format).
    Export {
        /// The tenant id.
        #[arg(value_name = "TENANT", value_parser = tenant_id)]
        tenant: TenantId,
        /// The directory to write (created; one holding an export is refused).
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Read an export into a provisioned, empty tenant (the same id or
    /// another), checked against its manifest, all or nothing.
    Import {
        /// The tenant id to import into.
        #[arg(value_name = "TENANT", value_parser = tenant_id)]
        tenant: TenantId,
        /// The directory an export wrote.
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Move a tenant, with its data, online: to `shared_schema`,
    /// `schema_per_tenant` or `database_per_tenant`, on this server or
    /// another (`--server`). Or finish (`--resume`) or undo (`--rollback`)
    /// a move that was interrupted.
    Move {
        /// The tenant id.
        #[arg(value_name = "TENANT", value_parser = tenant_id)]
        tenant: TenantId,
        /// Where to: `shared_schema`, `schema_per_tenant` or
        /// `database_per_tenant`.
        #[arg(
            value_name = "PLACEMENT",
            value_parser = placement,
            required_unless_present_any = ["resume", "rollback"]
        )]
        to: Option<crate::Placement>,
        /// The server to move it to (`main` unless told).
        #[arg(long, value_name = "NAME", default_value = crate::MAIN_SERVER)]
        server: String,
        /// The longest its writes may wait, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 5)]
        pause: u64,
        /// Finish the tenant's interrupted move.
        #[arg(long, conflicts_with_all = ["to", "rollback"])]
        resume: bool,
        /// Undo the tenant's interrupted move (one that has not switched).
        #[arg(long, conflicts_with_all = ["to", "resume"])]
        rollback: bool,
    },
    /// Erase tenants (as deprovision does) and check afterwards that
    /// nothing of them is left anywhere.
    Erase {
        /// The tenant ids.
        #[arg(required = true, value_name = "TENANT", value_parser = tenant_id)]
        tenants: Vec<TenantId>,
    },
}

/// Parses a placement: `shared_schema`, `schema_per_tenant`,
/// `database_per_tenant`.
fn placement(s: &str) -> Result<crate::Placement, String> {
    crate::Placement::parse(s).ok_or_else(|| {
        format!("`{s}` is not a placement: shared_schema, schema_per_tenant or database_per_tenant")
    })
}

/// Parses a tenant id from the command line (the rules of
/// [`TenantId::parse`]).
fn tenant_id(s: &str) -> Result<TenantId, crate::TenantError> {
    TenantId::parse(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        MigrateArgs::command().debug_assert();
    }

    #[test]
    fn the_former_example_flags_still_parse() {
        let args = MigrateArgs::try_parse_from(["m", "down", "--steps", "3"]).unwrap();
        assert!(matches!(args.command, MigrateCommand::Down { num: 3 }));
        let args = MigrateArgs::try_parse_from(["m", "drop", "acme"]).unwrap();
        assert!(matches!(args.command, MigrateCommand::Deprovision { .. }));
        let args = MigrateArgs::try_parse_from(["m", "export", "acme", "/tmp/x"]).unwrap();
        assert!(matches!(args.command, MigrateCommand::Export { .. }));
        assert!(MigrateArgs::try_parse_from(["m", "import", "a'b", "/tmp/x"]).is_err());
        let args = MigrateArgs::try_parse_from([
            "m",
            "move",
            "acme",
            "database_per_tenant",
            "--server",
            "eu2",
        ])
        .unwrap();
        assert!(matches!(
            args.command,
            MigrateCommand::Move {
                to: Some(crate::Placement::DatabasePerTenant),
                ..
            }
        ));
        assert!(MigrateArgs::try_parse_from(["m", "move", "acme", "--resume"]).is_ok());
        assert!(MigrateArgs::try_parse_from(["m", "move", "acme"]).is_err());
        assert!(MigrateArgs::try_parse_from(["m", "move", "acme", "elsewhere"]).is_err());
        assert!(MigrateArgs::try_parse_from(["m", "erase"]).is_err());
        assert!(MigrateArgs::try_parse_from(["m", "up", "--concurrency", "0"]).is_err());
    }
}
