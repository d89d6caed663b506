//! `rampart policy ...`.

use std::process::ExitCode;

/// Policy subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Check policy files: load errors and warnings.
    Lint {
        /// Files to check.
        files: Vec<std::path::PathBuf>,
    },
}

/// Run the subcommand.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let _ = cmd;
    anyhow::bail!("not built yet")
}
