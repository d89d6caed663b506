//! `rampart allow [--tool T] [--message M] [--config-dir DIR] -- CMD...`: allow one
//! command durably.
//!
//! Writes an exact allow rule into `DIR/user-overrides.yaml` (default
//! `~/.rampart/policies/`), the durable operator-override file (spec §2.6): its allow
//! rules beat `ask`, `watch` and the default action of every other policy, but never
//! a `deny`. Then asks a running daemon to reload and checks, with an unaudited
//! verification preflight, what the daemon now answers for the command.
//!
//! The rule's pattern is the command escaped to match literally (`*`, `?` and `[`
//! become `[*]`, `[?]` and `[[]`), checked with the engine to grant exactly that
//! command before anything is written; when the command's only executed component
//! differs from the text (quotes removed by normalization), the component is used.
//! The write is atomic (temporary file, then rename), under the same lock file as
//! the engine's own edits, and idempotent (an identical rule is not added twice).
//!
//! `rampart serve` reads `~/.rampart/policies` (of its own HOME) whenever no
//! `--config-dir` is given; with `--config-dir DIR`, pass the same DIR here.

use crate::approvals_cmd::{request, HttpResponse};
use crate::serve::hints::shell_quote;
use anyhow::{bail, Context};
use engine::policy::rewrite::{add_command_allow, AllowAdded, CommandAllow};
use engine::{Action, ToolCall};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The durable operator-override file written by `rampart allow`.
pub const OVERRIDES_FILE: &str = "user-overrides.yaml";

/// `rampart allow …`
#[derive(clap::Args)]
#[command(after_help = "\
One CMD argument is taken as a whole command line, exactly as `rampart: blocked ...` \
and the daemon's suggestions print it (`rampart allow -- 'shred --help'`); several \
are the command's words (`rampart allow -- shred --help`).

A durable allow beats `ask`, `watch` and the default action, never a `deny`: to allow \
a command that a policy denies, narrow that policy's rule (the denial names the \
policy and its file).")]
pub struct Args {
    /// Tool the rule applies to.
    #[arg(long, default_value = "exec", value_name = "TOOL")]
    tool: String,
    /// Message of the rule (shown in the decisions it makes).
    #[arg(long, value_name = "TEXT")]
    message: Option<String>,
    /// Policy directory holding user-overrides.yaml (default: ~/.rampart/policies,
    /// the directory `rampart serve` reads when it has no --config-dir).
    #[arg(long = "config-dir", value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// Daemon socket to ask for a reload (default: as `rampart serve`).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Admin token file (default: ~/.rampart/token; $RAMPART_TOKEN wins).
    #[arg(long = "token-file", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Only write the rule: do not contact a running daemon.
    #[arg(long = "no-reload")]
    no_reload: bool,
    /// The command to allow.
    #[arg(required = true, last = true, value_name = "CMD")]
    command: Vec<String>,
}

/// The command line from the CMD arguments (module docs).
pub fn command_line(words: &[String]) -> String {
    match words {
        [one] => one.clone(),
        _ => words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// `text` as a command glob that matches only itself (backslashes aside: the glob
/// dialect reads every `\` as `/`, in patterns and inputs alike).
pub fn literal_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            _ => out.push(c),
        }
    }
    out
}

fn call_for(tool: &str, command: &str) -> ToolCall {
    let mut call = ToolCall::exec(command);
    call.tool = tool.to_string();
    call
}

/// Whether an allow rule with `pattern`, alone, grants `command` for `tool`, and the
/// executed components the engine saw.
fn grants(tool: &str, command: &str, pattern: &str) -> anyhow::Result<(bool, Vec<String>)> {
    let yaml = format!(
        "default_action: deny\npolicies:\n  - name: probe\n    match: {{tool: [{}]}}\n    rules:\n      - action: allow\n        when: {{command_matches: [{}]}}\n",
        serde_json::to_string(tool)?,
        serde_json::to_string(pattern)?
    );
    let engine = engine::Engine::from_yaml("rampart allow", &yaml)
        .with_context(|| format!("pattern {pattern:?}"))?;
    let d = engine.evaluate(&call_for(tool, command));
    Ok((
        d.action == Action::Allow && d.policy.as_deref() == Some("probe"),
        d.components,
    ))
}

/// The `command_matches` pattern that grants exactly `command` (module docs).
pub fn exact_pattern(tool: &str, command: &str) -> anyhow::Result<String> {
    let whole = literal_glob(command);
    let (ok, components) = grants(tool, command, &whole)?;
    if ok {
        return Ok(whole);
    }
    if let [only] = components.as_slice() {
        let pattern = literal_glob(only);
        if grants(tool, command, &pattern)?.0 {
            return Ok(pattern);
        }
    }
    bail!(
        "cannot express an exact allow rule for {command:?} (the engine sees the parts {components:?}); \
         write a rule by hand in {OVERRIDES_FILE}"
    )
}

/// Check a tool name as the daemon does.
fn check_tool(tool: &str) -> anyhow::Result<()> {
    crate::serve::preflight::validate_tool(tool).map_err(|e| anyhow::anyhow!("--tool: {e}"))
}

/// A running daemon, reached over its Unix socket with the admin token.
struct Daemon {
    socket: PathBuf,
    token: String,
}

/// Why the daemon could not be asked.
enum Unreachable {
    /// Nothing listens on the socket.
    NoDaemon(String),
    /// No admin token to send.
    NoToken(String),
}

impl Daemon {
    fn connect(args: &Args) -> Result<Daemon, Unreachable> {
        let socket = args
            .socket
            .clone()
            .unwrap_or_else(crate::serve::config::default_socket_path);
        if std::os::unix::net::UnixStream::connect(&socket).is_err() {
            return Err(Unreachable::NoDaemon(format!(
                "no daemon answered on {}",
                socket.display()
            )));
        }
        let token = crate::token::resolve_existing(args.token_file.as_deref())
            .map_err(|e| Unreachable::NoToken(format!("no admin token ({e})")))?;
        Ok(Daemon { socket, token })
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<HttpResponse> {
        let s = std::os::unix::net::UnixStream::connect(&self.socket)
            .with_context(|| format!("connect {}", self.socket.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        request(s, method, path, Some(&self.token), body)
    }

    /// What the daemon answers for the call now (admin verification: not audited,
    /// no approval created).
    fn verify(&self, tool: &str, command: &str) -> anyhow::Result<Value> {
        let body = json!({"params": {"command": command}, "verification": true}).to_string();
        let r = self.call("POST", &format!("/v1/preflight/{tool}"), Some(&body))?;
        if r.status != 200 {
            bail!("daemon answered {}: {}", r.status, r.body.trim());
        }
        Ok(serde_json::from_str(&r.body)?)
    }

    /// `POST /v1/policy/reload`, retried once after the 1 s rate limit.
    fn reload(&self) -> anyhow::Result<()> {
        for attempt in 0..2 {
            let r = self.call("POST", "/v1/policy/reload", None)?;
            match r.status {
                200 => return Ok(()),
                429 if attempt == 0 => std::thread::sleep(Duration::from_millis(1100)),
                s => bail!("daemon answered {s}: {}", r.body.trim()),
            }
        }
        bail!("daemon kept answering 429 (reload rate limit)")
    }
}

fn describe(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let mut out = format!("{}: {}", s("decision"), s("message"));
    if let Some(p) = v["policy"].as_str() {
        out.push_str(&format!(" (policy {p})"));
    }
    out
}

/// A deny made by a rule (not by the default action): no durable allow can beat it.
fn denied_by_rule(v: &Value) -> bool {
    v["decision"] == "deny" && v["policy"].is_string()
}

fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    crate::audit::event::rfc3339_nano(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Run `rampart allow`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    check_tool(&args.tool)?;
    let command = command_line(&args.command);
    if command.trim().is_empty() {
        bail!("the command is empty");
    }
    let shown = shell_quote(&command);
    let pattern = exact_pattern(&args.tool, &command)?;
    let dir = args
        .config_dir
        .clone()
        .unwrap_or_else(crate::serve::config::home_policy_dir);
    let file = dir.join(OVERRIDES_FILE);

    let daemon = if args.no_reload {
        None
    } else {
        Some(Daemon::connect(&args))
    };
    // A deny made by a rule cannot be overridden: say what can, and write nothing.
    if let Some(Ok(d)) = &daemon {
        if let Ok(v) = d.verify(&args.tool, &command) {
            if denied_by_rule(&v) {
                eprintln!(
                    "rampart: {shown} is denied by the running daemon: {}",
                    describe(&v)
                );
                eprintln!("rampart: a durable allow never overrides a deny; nothing was written.");
                for s in v["suggestions"].as_array().into_iter().flatten() {
                    if let Some(s) = s.as_str() {
                        eprintln!("rampart: {s}");
                    }
                }
                return Ok(ExitCode::from(1));
            }
        }
    }

    let message = args
        .message
        .clone()
        .unwrap_or_else(|| "allowed by an operator (rampart allow)".into());
    let policy = format!("rampart-allow-{}", args.tool);
    let added = now_rfc3339();
    let outcome = add_command_allow(
        &file,
        &CommandAllow {
            policy: &policy,
            tool: &args.tool,
            pattern: &pattern,
            message: &message,
            added: Some(&added),
        },
    )
    .with_context(|| format!("cannot update {}", file.display()))?;
    match outcome {
        AllowAdded::Added => println!(
            "added to {}: allow {} {pattern:?} (policy {policy})",
            file.display(),
            args.tool
        ),
        AllowAdded::AlreadyPresent => println!(
            "already in {}: allow {} {pattern:?} (policy {policy})",
            file.display(),
            args.tool
        ),
    }
    lint_report(&file);

    let daemon = match daemon {
        None => return Ok(ExitCode::SUCCESS),
        Some(Ok(d)) => d,
        Some(Err(Unreachable::NoDaemon(why) | Unreachable::NoToken(why))) => {
            println!(
                "{why}: the rule applies when `rampart serve` next starts (it reads {} unless \
                 started with --config-dir)",
                dir.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
    };
    daemon
        .reload()
        .context("the rule was written, but the daemon did not reload")?;
    let v = daemon
        .verify(&args.tool, &command)
        .context("the daemon reloaded, but the check of the command failed")?;
    if v["allowed"] == true {
        println!("daemon reloaded; {shown} is now allowed ({})", describe(&v));
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "rampart: daemon reloaded, but {shown} is still not allowed: {}",
        describe(&v)
    );
    if denied_by_rule(&v) {
        eprintln!("rampart: a durable allow never overrides a deny; narrow that policy instead.");
    } else {
        eprintln!(
            "rampart: the daemon does not seem to read {} (was it started with --config-dir? \
             then pass the same --config-dir here)",
            file.display()
        );
    }
    Ok(ExitCode::from(1))
}

/// Print lint findings of the written file (there should be none).
fn lint_report(file: &Path) {
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    let Ok(parsed) = engine::policy::parse_str(&file.display().to_string(), &text) else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    for f in engine::lint::lint(&parsed, Some(&text), now) {
        eprintln!(
            "rampart: warning: {}:{}:{}: {}",
            file.display(),
            f.line,
            f.column,
            f.message
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_takes_one_argument_verbatim_and_quotes_several() {
        assert_eq!(command_line(&["shred --help".into()]), "shred --help");
        assert_eq!(
            command_line(&["echo".into(), "a b".into(), "it's".into()]),
            r"echo 'a b' 'it'\''s'"
        );
    }

    #[test]
    fn literal_glob_escapes_glob_characters() {
        assert_eq!(literal_glob("ls *.rs [ab]?"), "ls [*].rs [[]ab][?]");
    }

    #[test]
    fn exact_pattern_grants_the_command_and_nothing_else() {
        for cmd in [
            "shred --help",
            "ls *.rs",
            "echo 'a b'",
            "shred --help | head -n 1",
            "printf '%s\\n' '[x]?'",
            "*",
        ] {
            let p = exact_pattern("exec", cmd).unwrap();
            assert!(grants("exec", cmd, &p).unwrap().0, "{cmd} / {p}");
        }
        let p = exact_pattern("exec", "ls *.rs").unwrap();
        assert!(!grants("exec", "ls main.rs", &p).unwrap().0);
        let p = exact_pattern("exec", "shred --help").unwrap();
        assert!(!grants("exec", "shred --help | head -n 1", &p).unwrap().0);
        assert!(!grants("exec", "shred --help x", &p).unwrap().0);
    }

    #[test]
    fn the_written_file_is_lint_clean_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(OVERRIDES_FILE);
        let pattern = exact_pattern("exec", "shred --help").unwrap();
        add_command_allow(
            &file,
            &CommandAllow {
                policy: "rampart-allow-exec",
                tool: "exec",
                pattern: &pattern,
                message: "m",
                added: Some(&now_rfc3339()),
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = engine::policy::parse_str("f", &text).unwrap();
        assert!(engine::lint::lint(&parsed, Some(&text), 0).is_empty());
        // Layered over a policy that asks, the override allows exactly the command.
        let ask = dir.path().join("ask.yaml");
        std::fs::write(
            &ask,
            "policies:\n  - name: careful\n    rules:\n      - action: ask\n        when: {command_matches: [\"shred *\"]}\n",
        )
        .unwrap();
        let e = engine::Engine::load(&engine::Sources {
            files: vec![ask],
            dirs: vec![dir.path().to_path_buf()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            e.evaluate(&ToolCall::exec("shred --help")).action,
            Action::Allow
        );
        assert_eq!(
            e.evaluate(&ToolCall::exec("shred -u x")).action,
            Action::Ask
        );
    }
}
