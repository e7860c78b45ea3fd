//! Placeholder: being written in this session.

use clap::Args;

#[derive(Args)]
pub struct ReferenceArgs {}

pub fn run(_args: ReferenceArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
