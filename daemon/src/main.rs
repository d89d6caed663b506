//! `rampart`: the policy daemon and its command line.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

mod allow;
mod approvals_cmd;
mod audit;
mod cli;
mod doctor;
mod json_writer;
mod preload;
mod replay;
mod serve;
mod token;
mod watch;

/// Rampart: a seatbelt for AI agents.
#[derive(Parser)]
#[command(name = "rampart", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate one command as the `exec` tool and explain the decision.
    Check(cli::check::Args),
    /// Evaluate JSON lines of tool calls from stdin, one JSON decision per line.
    Eval(cli::eval::Args),
    /// Policy file tools.
    #[command(subcommand)]
    Policy(cli::policy::Command),
    /// Run the inline `tests:` cases of policy files.
    Test(cli::test::Args),
    /// Run the policy daemon (Unix socket, optional loopback TCP).
    Serve(serve::config::Args),
    /// Show or rotate the admin token.
    #[command(subcommand)]
    Token(token::Command),
    /// List and resolve pending approvals of `ask` decisions.
    Approvals(approvals_cmd::Args),
    /// Allow one command durably (an exact rule in ~/.rampart/policies/user-overrides.yaml).
    Allow(allow::Args),
    /// Verify or follow the audit trail.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Tell what protects you now: daemon, policies, preload library, processes.
    Doctor(doctor::Args),
    /// Replay the audit trail against a candidate policy: list the decisions it changes.
    Replay(replay::Args),
    /// Live terminal view of decisions and pending approvals (a/d approve/deny, q quit).
    Watch(watch::Args),
    /// Run a command under the preload library (the same as `rampart-preload`).
    #[command(disable_help_flag = true)]
    Preload(preload::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(a) => cli::check::run(a),
        Command::Eval(a) => cli::eval::run(a),
        Command::Policy(c) => cli::policy::run(c),
        Command::Test(a) => cli::test::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Token(c) => token::run(c),
        Command::Approvals(a) => approvals_cmd::run(a),
        Command::Allow(a) => allow::run(a),
        Command::Audit(c) => audit::run(c),
        Command::Doctor(a) => doctor::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Watch(a) => watch::run(a),
        Command::Preload(a) => preload::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rampart: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
