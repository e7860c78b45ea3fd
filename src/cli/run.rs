//! Placeholder: being written in this session.

use clap::Args;

#[derive(Args)]
pub struct RunArgs {}

pub fn run(_args: RunArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
