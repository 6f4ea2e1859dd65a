//! `migtui report -c FILE`: the session report from the state store.

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {}

pub async fn run(_args: ReportArgs) -> u8 {
    eprintln!("migtui: the report is being written");
    super::exit::USAGE
}
