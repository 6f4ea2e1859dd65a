//! `migtui demo`: a live migration on embedded SQLite with a simulated application.

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {}

pub async fn run(_args: DemoArgs) -> u8 {
    eprintln!("migtui: the demo is being written");
    super::exit::USAGE
}
