//! Placeholder: being written in this session.

use clap::Args;

#[derive(Args)]
pub struct GenModelArgs {}

pub fn run(_args: GenModelArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
