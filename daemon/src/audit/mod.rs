//! The audit trail: an append-only, SHA-256 hash-chained JSONL log of every decision.
//!
//! - [`event`]: the event line and timestamps;
//! - [`chain`]: what is hashed, file naming, the canonical encoding;
//! - [`line`]: the encoder that writes an event's line;
//! - [`redact`]: secret scrubbing before writing;
//! - [`writer`]: appending, rotation, anchors, fsync policies, crash recovery;
//! - [`verify`]: `rampart audit verify`;
//! - [`tail`]: `rampart audit tail`.

pub mod chain;
pub mod event;
pub mod line;
pub mod redact;
pub mod tail;
pub mod verify;
pub mod writer;

use std::path::PathBuf;
use std::process::ExitCode;

/// `rampart audit …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Verify the hash chain; exits non-zero at the first bad line.
    Verify {
        /// Audit directory (default: ~/.rampart/audit).
        dir: Option<PathBuf>,
        /// Same as the positional DIR (the original's flag).
        #[arg(long = "audit-dir", conflicts_with = "dir")]
        audit_dir: Option<PathBuf>,
    },
    /// Print the last events.
    Tail {
        /// Keep printing new events.
        #[arg(short, long)]
        follow: bool,
        /// How many events to print first.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Print raw JSON lines.
        #[arg(long)]
        json: bool,
        /// Audit directory (default: ~/.rampart/audit).
        #[arg(long = "audit-dir")]
        audit_dir: Option<PathBuf>,
    },
}

/// `~/.rampart` (from `$HOME`).
pub fn rampart_home() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
        .join(".rampart")
}

/// Default audit directory: `~/.rampart/audit`.
pub fn default_dir() -> PathBuf {
    rampart_home().join("audit")
}

/// Run an audit subcommand.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Verify { dir, audit_dir } => {
            let dir = dir.or(audit_dir).unwrap_or_else(default_dir);
            match verify::verify_dir(&dir) {
                Ok(v) => {
                    println!(
                        "✓ Chain verified: {} events across {} files, no tampering detected",
                        v.events, v.files
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(b) => {
                    println!("✗ CHAIN BROKEN at {b}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Tail {
            follow,
            lines,
            json,
            audit_dir,
        } => {
            let dir = audit_dir.unwrap_or_else(default_dir);
            tail::run(&dir, lines, follow, json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
