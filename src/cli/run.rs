//! `migtui run -c FILE` (or `migtui -c FILE`): open the cockpit.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::engine::session::Mode;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// The migration file (TOML).
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        env = "MIGTUI_CONFIG"
    )]
    pub config: Option<PathBuf>,
    /// A built-in theme (dark, light, high-contrast, colour-blind) or a theme file.
    #[arg(long, value_name = "NAME|PATH")]
    pub theme: Option<String>,
}

/// Load the file, start a driving session (read-only when another operator holds the lease;
/// a lease that later expires or is released is taken only when the operator asks), run the
/// cockpit until the operator quits, then shut the session down (lease released).
pub async fn run(args: RunArgs) -> u8 {
    let Some(path) = args.config else {
        eprintln!(
            "migtui: no migration file\n  hint: migtui -c migration.toml opens the cockpit; migtui demo shows one on sample data"
        );
        return super::exit::USAGE;
    };
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        eprintln!(
            "migtui: the cockpit needs a terminal\n  hint: for scripts, use migtui status --json, migtui advance, migtui flag …"
        );
        return super::exit::USAGE;
    }
    let config = match super::load_config(&path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let secrets = config.secrets.clone();
    let session = match super::start_session(config, Mode::Ask).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let options = crate::tui::Options { theme: args.theme };
    let result = crate::tui::run(session.clone(), options).await;
    session.shutdown().await;
    match result {
        Ok(()) => super::exit::OK,
        Err(e) => {
            eprintln!(
                "migtui: the terminal failed: {}\n  hint: the session was shut down and the lease released; start the cockpit again",
                secrets.mask(&e.to_string())
            );
            super::exit::FAILED
        }
    }
}
