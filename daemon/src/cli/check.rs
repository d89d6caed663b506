//! `rampart check`.

use std::process::ExitCode;

/// Arguments of `rampart check`.
#[derive(clap::Args)]
pub struct Args {
    /// Policy files (default: the shipped standard policy).
    #[arg(long = "config")]
    pub config: Vec<std::path::PathBuf>,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("not built yet")
}
