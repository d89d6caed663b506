//! `rampart preload ...`: the same as `rampart-preload ...`, for users who only have
//! `rampart` on their PATH. It hands over to the launcher installed next to this binary
//! (or on PATH), which holds all the logic.

use anyhow::Context;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments: everything after `preload` goes to `rampart-preload` unchanged.
#[derive(clap::Args)]
pub struct Args {
    /// Launcher options and the command: `[--config FILE] [--mode M] [--fail-closed]
    /// [--socket PATH] [--agent NAME] -- CMD [ARGS...]` (see `rampart-preload --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<OsString>,
}

/// Where the launcher is: next to this executable first, then on PATH.
fn launcher() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("rampart-preload")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("rampart-preload"))
}

/// Replace this process with the launcher.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let launcher = launcher();
    let err = std::process::Command::new(&launcher)
        .args(&args.args)
        .exec();
    Err(err).with_context(|| {
        format!(
            "cannot run {} (install it next to rampart or on PATH)",
            launcher.display()
        )
    })
}
