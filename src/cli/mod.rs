//! The command line (clap). Every subcommand drives the library; none holds domain logic.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
