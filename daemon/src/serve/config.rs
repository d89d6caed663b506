//! `rampart serve` flags and the defaults derived from the environment.

use crate::audit::writer::FsyncPolicy;
use clap::ValueEnum;
use std::path::PathBuf;
use std::time::Duration;

/// How decisions are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Decisions are answered as made.
    Enforce,
    /// Enforced calls are always allowed; what would have happened is reported and
    /// audited.
    Monitor,
    /// No evaluation: everything is allowed.
    Disabled,
}

impl Mode {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
            Mode::Disabled => "disabled",
        }
    }
}

/// What to answer when the audit record cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFailure {
    /// Refuse: HTTP 200 with `allowed:false`, decision deny (no decision goes
    /// unrecorded; not a 5xx, which preload clients treat as fail-open).
    Deny,
    /// Answer anyway; the failure is counted in `/metrics` and `/healthz`.
    Allow,
}

/// `rampart serve`: the policy daemon.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Policy file (repeatable; the first wins name collisions). Without --config and
    /// --config-dir the embedded standard policy is used.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Directory of *.yaml/*.yml policy files (repeatable).
    #[arg(long = "config-dir", value_name = "DIR")]
    pub config_dir: Vec<PathBuf>,
    /// Unix socket path (default: $RAMPART_SOCKET, else
    /// $XDG_RUNTIME_DIR/rampart/rampart.sock, else ~/.rampart/rampart.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Also listen on loopback TCP, e.g. 127.0.0.1:9090 (every route but /healthz
    /// then needs the admin token). Non-loopback addresses are refused.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Audit directory (default: ~/.rampart/audit).
    #[arg(long = "audit-dir", value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,
    /// Decision mode.
    #[arg(long, value_enum, default_value_t = Mode::Enforce)]
    pub mode: Mode,
    /// Admin token file (default: ~/.rampart/token; $RAMPART_TOKEN takes precedence).
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Make the socket 0660 and owned by this group (name or numeric id).
    #[arg(long = "socket-group", value_name = "GROUP")]
    pub socket_group: Option<String>,
    /// How long a `wait:true` preflight is held for an `ask` approval, in seconds.
    #[arg(long = "ask-timeout", value_name = "SECS", default_value_t = 60)]
    pub ask_timeout: u64,
    /// When to fdatasync the audit log.
    #[arg(long, value_enum, default_value_t = FsyncPolicy::Batch)]
    pub fsync: FsyncPolicy,
    /// What to do when an audit record cannot be written (default: deny in enforce
    /// mode, allow otherwise).
    #[arg(long = "audit-failure", value_enum)]
    pub audit_failure: Option<AuditFailure>,
    /// Rotate audit files at this size in bytes.
    #[arg(long = "audit-rotate-bytes", default_value_t = crate::audit::writer::DEFAULT_ROTATE_BYTES, hide = true)]
    pub audit_rotate_bytes: u64,
    /// Maximum concurrent connections.
    #[arg(long = "max-connections", default_value_t = 512)]
    pub max_connections: usize,
    /// After each answered request, keep polling for the next one this many
    /// microseconds instead of sleeping, while such windows keep catching requests,
    /// and poll a new Unix socket connection for its request as long (saves a
    /// sleeping thread's wake-up; 0: off; at most 100000).
    #[arg(long = "spin-us", value_name = "US", default_value_t = super::spin::DEFAULT_SPIN_US,
          value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub spin_us: u64,
    /// Serve the Unix socket on the runtime's thread like loopback TCP, not on an
    /// accept thread of its own (serve::fast_lane): for comparisons.
    #[arg(long = "no-accept-thread", hide = true)]
    pub no_accept_thread: bool,
    /// Do not offer the datagram lane (`<socket>.dgram`, serve::datagram): every
    /// preload request then comes over the stream socket.
    #[arg(long = "no-datagram")]
    pub no_datagram: bool,
    /// Do not watch policy files for changes (SIGHUP and the reload route still work).
    #[arg(long = "no-watch")]
    pub no_watch: bool,
    /// Export: --syslog, --syslog-facility, --cef, --cef-file.
    #[command(flatten)]
    pub export: super::export::ExportArgs,
}

impl Args {
    /// The effective audit-failure policy.
    pub fn audit_failure(&self) -> AuditFailure {
        self.audit_failure.unwrap_or(match self.mode {
            Mode::Enforce => AuditFailure::Deny,
            _ => AuditFailure::Allow,
        })
    }

    /// The effective ask timeout.
    pub fn ask_timeout(&self) -> Duration {
        Duration::from_secs(self.ask_timeout.max(1))
    }

    /// The policy directory layered over the configured policy (spec §1.8): the
    /// home policy directory ([`home_policy_dir`]) when no `--config-dir` is given.
    /// It is read only while it exists; its policies replace embedded ones of the same
    /// name, a `--config` file wins its name collisions, and its `user-overrides.yaml`
    /// holds the durable allows written by `rampart allow`.
    pub fn layered_policy_dir(&self) -> Option<PathBuf> {
        self.config_dir.is_empty().then(home_policy_dir)
    }

    /// The policy sources given on the command line (without the layered directory).
    pub fn sources(&self) -> engine::Sources {
        engine::Sources {
            files: self.config.clone(),
            dirs: self.config_dir.clone(),
            embedded_default: self.config.is_empty() && self.config_dir.is_empty(),
            project_dir: None,
        }
    }
}

/// `~/.rampart/policies`: operator policies and overrides (`user-overrides.yaml`).
pub fn home_policy_dir() -> PathBuf {
    crate::audit::rampart_home().join("policies")
}

/// The default socket path: `$RAMPART_SOCKET`, else `$XDG_RUNTIME_DIR/rampart/rampart.sock`,
/// else `~/.rampart/rampart.sock`.
pub fn default_socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RAMPART_SOCKET").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        return PathBuf::from(d).join("rampart").join("rampart.sock");
    }
    crate::audit::rampart_home().join("rampart.sock")
}

/// Resolve a group name (from /etc/group) or numeric id to a gid.
pub fn resolve_group(group: &str) -> Option<u32> {
    if let Ok(n) = group.parse() {
        return Some(n);
    }
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == group).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_group_accepts_numbers_and_root_name() {
        assert_eq!(resolve_group("1234"), Some(1234));
        assert_eq!(resolve_group("root"), Some(0));
        assert_eq!(resolve_group("no-such-group-xyz"), None);
    }
}
