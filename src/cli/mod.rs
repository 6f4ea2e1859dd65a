//! The command line (clap). Every subcommand drives the library; none holds domain logic.

mod backfill;
mod check;
mod output;
mod phase_cmd;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit statuses, documented in `--help` and the README.
pub mod exit {
    /// Everything passed.
    pub const OK: u8 = 0;
    /// A check failed, or an action was refused (a failing gate, a one-way door unconfirmed).
    pub const FAILED: u8 = 1;
    /// The command line or the migration file is wrong.
    pub const USAGE: u8 = 2;
    /// Verification found divergent rows.
    pub const DIVERGENT: u8 = 3;
    /// A database or the state store could not be used.
    pub const UNAVAILABLE: u8 = 4;
    /// Another operator holds the lease: this process may only watch.
    pub const LEASE_HELD: u8 = 5;
}

const EXAMPLES: &str = "\
Examples:
  migtui check -c migration.toml            validate the file, connect, check both schemas
  migtui status -c migration.toml --json    phase, gates, lease and last actions as JSON
  migtui advance -c migration.toml          move to the next phase if its gates pass
  migtui advance -c migration.toml --reason \"DBA approved, ticket OPS-42\"
                                            override failing gates (the reason is audited)
  migtui rollback -c migration.toml --reason \"p95 regression on new reads\"
  migtui backfill -c migration.toml --dry-run
                                            the statements and chunk plan; writes nothing

Exit status:
  0  success
  1  a check failed, or the action was refused
  2  bad command line or migration file
  3  verification found divergent rows
  4  a database or the state store could not be used
  5  another operator holds the lease (this process is read-only)

Database URLs come from the migration file, usually as ${VARIABLES} from the environment;
passwords are never printed.";

#[derive(Debug, Parser)]
#[command(name = "migtui", version, about = "A terminal cockpit for live data migrations", after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct FileArg {
    /// The migration file (TOML).
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        env = "MIGTUI_CONFIG"
    )]
    config: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the migration file, connect to each database and check the schemas.
    ///
    /// One line per check with ✓, ! or ✗ and how to fix it. Changes nothing.
    Check {
        #[command(flatten)]
        file: FileArg,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the phase, the gates of the next phase, the lease holder and the last actions.
    ///
    /// Read-only: never takes the operator lease.
    Status {
        #[command(flatten)]
        file: FileArg,
        /// Print the status as JSON (a stable shape with `schema_version`).
        #[arg(long)]
        json: bool,
    },
    /// Advance to the next phase when its gates pass.
    ///
    /// A failing gate needs --reason (audited). A one-way door (stop_old_writes, drop) needs
    /// --confirm with the migration's name.
    Advance {
        #[command(flatten)]
        file: FileArg,
        /// Why you override failing gates; recorded in the audit log.
        #[arg(long)]
        reason: Option<String>,
        /// The migration's name, typed to pass a one-way door.
        #[arg(long, value_name = "NAME")]
        confirm: Option<String>,
    },
    /// Go back one phase (reversible phases only).
    Rollback {
        #[command(flatten)]
        file: FileArg,
        /// Why; recorded in the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Run the backfill steps in order, resuming each from its checkpoint.
    ///
    /// A progress bar on a terminal, plain lines otherwise. Killed or interrupted, it resumes
    /// where the last committed chunk ended.
    Backfill {
        #[command(flatten)]
        file: FileArg,
        /// Run only this step.
        #[arg(long, value_name = "NAME")]
        step: Option<String>,
        /// Print the statements and the chunk plan; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Parse the command line, run the command, and turn its outcome into an exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("migtui: cannot start the async runtime: {e}");
            return ExitCode::from(exit::UNAVAILABLE);
        }
    };
    let code = runtime.block_on(run(cli));
    ExitCode::from(code)
}

async fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Check { file, json } => check::run(&file.config, json).await,
        Command::Status { file, json } => status::run(&file.config, json).await,
        Command::Advance {
            file,
            reason,
            confirm,
        } => phase_cmd::advance(&file.config, reason, confirm).await,
        Command::Rollback { file, reason } => phase_cmd::rollback(&file.config, reason).await,
        Command::Backfill {
            file,
            step,
            dry_run,
        } => backfill::run(&file.config, step, dry_run).await,
    }
}

/// Load the migration file, or print every problem and return the usage exit status.
fn load_config(path: &std::path::Path) -> Result<crate::config::Config, u8> {
    crate::config::load(path).map_err(|e| {
        eprintln!(
            "migtui: the migration file has {} problem(s):\n{e}",
            e.problems.len()
        );
        exit::USAGE
    })
}
