//! `migtui run -c FILE` (or `migtui -c FILE`): open the cockpit.

use std::path::PathBuf;

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

pub async fn run(args: RunArgs) -> u8 {
    let Some(_path) = args.config else {
        eprintln!(
            "migtui: no migration file\n  hint: migtui -c migration.toml opens the cockpit; migtui demo shows one on sample data"
        );
        return super::exit::USAGE;
    };
    eprintln!("migtui: the cockpit is being written");
    super::exit::USAGE
}
