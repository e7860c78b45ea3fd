//! Placeholder: being written in this session.

use clap::Args;

#[derive(Args)]
pub struct InspectArgs {}

pub fn run(_args: InspectArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
