//! The command line (clap). Every subcommand drives the library; none holds domain logic.

mod backfill;
mod backup;
mod check;
mod demo;
mod flag;
mod output;
mod phase_cmd;
mod probe;
mod report;
mod run;
mod status;
mod verify;

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
  migtui probe -c migration.toml --seconds 30
                                            latency per read path, old vs new
  migtui flag -c migration.toml get         the read flag's current value
  migtui flag -c migration.toml set true --reason \"shadow gate green, OPS-42\"
  migtui backup -c migration.toml           copy and verify the columns the contract drops
  migtui contract -c migration.toml --confirm incidents
                                            DANGEROUS: drop them (phase drop, verified backup)
  migtui restore -c migration.toml --backup incidents_status --dry-run
  migtui verify -c migration.toml           compare a sample of rows; exit 3 if any differ
  migtui verify -c migration.toml --full    compare whole tables by chunk checksums
  migtui verify -c migration.toml --keys 1,2,3 --json
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
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// `migtui -c FILE` opens the cockpit (the same as `migtui run -c FILE`).
    #[command(flatten)]
    run: run::RunArgs,
    #[command(subcommand)]
    command: Option<Command>,
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
    /// Open the cockpit on a migration (the default when no command is given).
    Run(run::RunArgs),
    /// A live migration on embedded SQLite with a simulated application, in one command.
    Demo(demo::DemoArgs),
    /// Write the session report (Markdown, JSON or HTML) from the state store.
    Report(report::ReportArgs),
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
    /// Probe every read path for a while and print the percentiles per path and side.
    ///
    /// Reads only; takes no lease. Exit status 1 when a path breaches its budget.
    Probe {
        #[command(flatten)]
        file: FileArg,
        /// How long to probe.
        #[arg(long, default_value_t = 10, value_name = "N")]
        seconds: u64,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read or flip the read flag.
    Flag {
        #[command(flatten)]
        file: FileArg,
        #[command(subcommand)]
        action: FlagAction,
    },
    /// Copy every [[backup]] to its table and/or file, then verify each copy.
    ///
    /// A copy counts only when its row count and checksum over (key, columns) equal the live
    /// source's. Prints the restore command of each backup.
    Backup {
        #[command(flatten)]
        file: FileArg,
        /// Do not copy: verify the existing copies again (catches tampering and truncation).
        #[arg(long)]
        verify_only: bool,
    },
    /// DANGEROUS: run the [contract] DDL that drops the old columns (phase `drop` only).
    ///
    /// Shows the statements in full, what they drop, its backups and what depends on it.
    /// Refused without a verified backup or with dependents unless --reason is given.
    Contract {
        #[command(flatten)]
        file: FileArg,
        /// The name of the table the statements drop from, typed to confirm.
        #[arg(long, value_name = "TABLE")]
        confirm: Option<String>,
        /// Why you override a missing backup or a dependent object; audited.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Put a backup's columns back: re-add a dropped column with its original type and fill it
    /// from the verified copy, then check the checksum.
    Restore {
        #[command(flatten)]
        file: FileArg,
        /// The [[backup]] name.
        #[arg(long, value_name = "NAME")]
        backup: String,
        /// Only print what would run.
        #[arg(long)]
        dry_run: bool,
    },
    /// Compare the old and new models: a random sample, typed keys, or whole tables.
    ///
    /// Prints rows compared, divergent, the rate and its 95% upper bound, and the divergent
    /// keys (recorded in migtui_divergences). Exit status 3 when any row diverges.
    Verify {
        #[command(flatten)]
        file: FileArg,
        /// Only this [[verify]] check (default: all).
        #[arg(long, value_name = "NAME")]
        check: Option<String>,
        /// Compare whole tables by chunk checksums instead of sampling.
        #[arg(long, conflicts_with = "keys")]
        full: bool,
        /// Compare these keys (`1,2,3`; composite keys as `1:a,2:b`).
        #[arg(long, value_name = "KEYS")]
        keys: Option<String>,
        /// Keys to sample when neither --full nor --keys is given.
        #[arg(long, value_name = "N", default_value_t = 1000)]
        sample: usize,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
        /// Throttle the full diff to this many rows per second (overrides the check's
        /// `full.max_rows_per_second`).
        #[arg(long, value_name = "N", requires = "full", value_parser = verify::positive_rate)]
        max_rows_per_second: Option<f64>,
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

#[derive(Debug, Subcommand)]
enum FlagAction {
    /// Print the flag's current value.
    Get {
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the flag (true/false, or a ramp percentage), read it back, audit it.
    ///
    /// Needs the operator lease, like any driving action.
    Set {
        /// `true`/`false` (`on`/`off`, `new`/`old`), or a percentage of the ramp.
        value: String,
        /// Why; recorded in the audit log.
        #[arg(long)]
        reason: String,
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
    let Some(command) = cli.command else {
        return run::run(cli.run).await;
    };
    match command {
        Command::Run(args) => run::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Report(args) => report::run(args).await,
        Command::Check { file, json } => check::run(&file.config, json).await,
        Command::Status { file, json } => status::run(&file.config, json).await,
        Command::Advance {
            file,
            reason,
            confirm,
        } => phase_cmd::advance(&file.config, reason, confirm).await,
        Command::Rollback { file, reason } => phase_cmd::rollback(&file.config, reason).await,
        Command::Probe {
            file,
            seconds,
            json,
        } => probe::run(&file.config, seconds, json).await,
        Command::Flag { file, action } => match action {
            FlagAction::Get { json } => flag::get(&file.config, json).await,
            FlagAction::Set { value, reason } => flag::set(&file.config, &value, reason).await,
        },
        Command::Backup { file, verify_only } => backup::backup(&file.config, verify_only).await,
        Command::Contract {
            file,
            confirm,
            reason,
        } => backup::contract(&file.config, confirm, reason).await,
        Command::Restore {
            file,
            backup,
            dry_run,
        } => backup::restore(&file.config, backup, dry_run).await,
        Command::Verify {
            file,
            check,
            full,
            keys,
            sample,
            json,
            max_rows_per_second,
        } => {
            let args = verify::VerifyArgs {
                check,
                full,
                keys,
                sample,
                json,
                max_rows_per_second,
            };
            verify::run(&file.config, args).await
        }
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

/// Start a session on a loaded file, or print why it could not (masked) and return the exit
/// status to use.
async fn start_session(
    config: crate::config::Config,
    mode: crate::engine::session::Mode,
) -> Result<crate::engine::session::SessionHandle, u8> {
    let secrets = config.secrets.clone();
    crate::engine::session::Session::start(config, mode)
        .await
        .map_err(|e| {
            eprintln!("migtui: {}", secrets.mask(&e.to_string()));
            exit::UNAVAILABLE
        })
}

/// Print a refused action (masked) and return its exit status.
fn refused(why: &str, secrets: &crate::secret::Secrets) -> u8 {
    eprintln!("migtui: refused: {}", secrets.mask(why));
    exit::FAILED
}

/// Print why the session could not carry out a command (masked) and return its exit status:
/// another operator's lease, or an unavailable database or state store.
fn session_failed(
    err: &crate::engine::session::SessionError,
    secrets: &crate::secret::Secrets,
) -> u8 {
    match err {
        crate::engine::session::SessionError::ReadOnly { holder } => {
            eprintln!(
                "migtui: read-only: {holder} holds the lease for this migration\n  hint: wait for them, or take over from the cockpit with a reason"
            );
            exit::LEASE_HELD
        }
        e => {
            eprintln!("migtui: {}", secrets.mask(&e.to_string()));
            exit::UNAVAILABLE
        }
    }
}
