//! `rampart replay --config NEW.yaml [AUDIT_DIR]`: what a candidate policy would have
//! decided differently, replayed over the recorded audit trail.
//!
//! Every decision event of the chain files (`DATE.jsonl`, then `DATE.p1.jsonl`, …, in
//! chain order; continuation headers and events of other kinds skipped) is turned
//! back into the call the daemon saw, by parsing its recorded request exactly like
//! a `POST /v1/preflight/{tool}` body (so command aliases, URL-derived domain and
//! scheme, and comment stripping are the same), and evaluated by the candidate
//! policy with [`engine::Engine::evaluate`] (a pure preview: `once` rules are not
//! consumed, and `call_count` windows start empty).
//!
//! The old action is what the policy decided at the time: in monitor mode the
//! recorded `policy_decision`, for an `ask` that an operator resolved the `ask`
//! itself. Events written while the daemon was in `disabled` mode were never
//! evaluated and are skipped. Secrets were scrubbed from requests before they were
//! written, so a rule that matches a secret's text may replay differently.
//!
//! Exit status: 0 nothing would change, 1 something would, 2 error.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::Style;

/// `rampart replay`.
#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 nothing would change, 1 some decisions would change, 2 error."
)]
pub struct Args {
    /// Candidate policy file; repeat to merge several (the first wins name collisions).
    #[arg(long = "config", value_name = "FILE", required = true)]
    pub config: Vec<PathBuf>,
    /// Audit directory (default: ~/.rampart/audit).
    #[arg(value_name = "AUDIT_DIR")]
    pub dir: Option<PathBuf>,
    /// Same as the positional AUDIT_DIR.
    #[arg(long = "audit-dir", value_name = "DIR", conflicts_with = "dir")]
    pub audit_dir: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// One decision the candidate policy would change.
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct Change {
    /// Event timestamp.
    pub timestamp: String,
    /// Event id.
    pub id: String,
    /// Tool.
    pub tool: String,
    /// Agent.
    pub agent: String,
    /// Session.
    pub session: String,
    /// The command, path or URL of the call.
    pub subject: String,
    /// Action decided at the time.
    pub old_action: String,
    /// Action the candidate decides.
    pub new_action: String,
    /// Policy that decided at the time.
    pub old_policy: Option<String>,
    /// Policy that decides now.
    pub new_policy: Option<String>,
    /// Message of the new decision.
    pub new_message: String,
}

/// The whole replay.
#[derive(Debug, Serialize, Default)]
pub struct Outcome {
    /// Audit directory read.
    pub audit_dir: String,
    /// Chain files read, in order.
    pub files: Vec<String>,
    /// Decisions evaluated again.
    pub replayed: usize,
    /// Decisions whose action stays.
    pub unchanged: usize,
    /// Records skipped (headers, other kinds, disabled mode, unparsable lines).
    pub skipped: usize,
    /// Decisions whose action changes, in chain order.
    pub changed: Vec<Change>,
    /// `old→new` counts.
    pub transitions: BTreeMap<String, usize>,
}

/// Run `rampart replay`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let engine = crate::cli::load_engine(&args.config)?;
    let dir = args
        .dir
        .or(args.audit_dir)
        .unwrap_or_else(crate::audit::default_dir);
    let outcome = replay_dir(&engine, &dir)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&outcome)?)?;
    } else {
        let labels: Vec<String> = args
            .config
            .iter()
            .map(|c| c.display().to_string())
            .collect();
        print_human(&mut out, &outcome, &labels.join(", "), Style::stdout())?;
    }
    Ok(if outcome.changed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Replay every chain file of `dir` against `engine`.
pub fn replay_dir(engine: &engine::Engine, dir: &std::path::Path) -> anyhow::Result<Outcome> {
    let files = crate::audit::chain::list_chain_files(dir)
        .with_context(|| format!("read audit directory {}", dir.display()))?;
    let mut o = Outcome {
        audit_dir: dir.display().to_string(),
        ..Default::default()
    };
    for (name, path) in files {
        o.files.push(name.file_name());
        let f = std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
        for line in std::io::BufReader::new(f).split(b'\n') {
            let line = line.with_context(|| format!("read {}", path.display()))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match replay_line(engine, &line) {
                Replayed::Skipped => o.skipped += 1,
                Replayed::Same => {
                    o.replayed += 1;
                    o.unchanged += 1;
                }
                Replayed::Changed(c) => {
                    o.replayed += 1;
                    *o.transitions
                        .entry(format!("{}→{}", c.old_action, c.new_action))
                        .or_default() += 1;
                    o.changed.push(*c);
                }
            }
        }
    }
    Ok(o)
}

/// The result of one audit line.
#[derive(Debug, PartialEq)]
pub enum Replayed {
    /// Not a decision that can be replayed.
    Skipped,
    /// Same action.
    Same,
    /// A different action.
    Changed(Box<Change>),
}

/// The action the policy decided when an event was written, `None` when the event
/// is not a replayable decision.
fn old_action(ev: &Value) -> Option<String> {
    if ev.get("kind").is_some_and(|k| !k.is_null()) {
        return None;
    }
    let d = ev.get("decision")?;
    if d.get("mode").and_then(Value::as_str) == Some("disabled") {
        return None;
    }
    if let Some(p) = d.get("policy_decision").and_then(Value::as_str) {
        return Some(p.to_string());
    }
    let action = d.get("action")?.as_str()?;
    let resolved = d.get("approval_id").is_some_and(|a| a.is_string());
    Some(if resolved && action != "ask" {
        "ask".to_string()
    } else {
        action.to_string()
    })
}

/// The call recorded by an event, parsed like the preflight body it came from.
fn recorded_call(ev: &Value) -> Option<engine::ToolCall> {
    let tool = ev.get("tool")?.as_str()?;
    let mut request: Map<String, Value> = ev.get("request")?.as_object()?.clone();
    request.remove("enforce");
    let agent = ev.get("agent").and_then(Value::as_str).unwrap_or("");
    let session = ev.get("session").and_then(Value::as_str).unwrap_or("");
    let body = serde_json::json!({"agent": agent, "session": session, "params": request});
    match crate::serve::preflight::parse(tool, body.to_string().as_bytes()) {
        Ok(pf) => Some(pf.call),
        // A request the daemon accepted but this parser refuses (an older writer):
        // evaluate the parameters as recorded.
        Err(_) => Some(engine::ToolCall {
            tool: tool.to_string(),
            agent: agent.to_string(),
            session: session.to_string(),
            params: request,
            ..Default::default()
        }),
    }
}

/// Replay one audit line.
pub fn replay_line(engine: &engine::Engine, line: &[u8]) -> Replayed {
    let Ok(ev) = serde_json::from_slice::<Value>(line) else {
        return Replayed::Skipped;
    };
    let Some(old) = old_action(&ev) else {
        return Replayed::Skipped;
    };
    let Some(call) = recorded_call(&ev) else {
        return Replayed::Skipped;
    };
    let new = engine.evaluate(&call);
    if new.action.as_str() == old {
        return Replayed::Same;
    }
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let req = &ev["request"];
    let subject = ["command", "path", "url"]
        .iter()
        .map(|k| s(req, k))
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    Replayed::Changed(Box::new(Change {
        timestamp: s(&ev, "timestamp"),
        id: s(&ev, "id"),
        tool: call.tool,
        agent: call.agent,
        session: call.session,
        subject,
        old_action: old,
        new_action: new.action.as_str().to_string(),
        old_policy: ev["decision"]
            .get("policy")
            .and_then(Value::as_str)
            .map(str::to_string),
        new_policy: new.policy,
        new_message: new.message,
    }))
}

/// Control characters replaced: recorded commands must not drive the terminal.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

fn print_human(
    out: &mut impl Write,
    o: &Outcome,
    config: &str,
    style: Style,
) -> std::io::Result<()> {
    for c in &o.changed {
        let arrow = format!("{} → {}", c.old_action, c.new_action);
        let colored =
            match serde_json::from_value::<engine::Action>(Value::String(c.new_action.clone())) {
                Ok(a) => style.action(a, &format!("{arrow:<16}")),
                Err(_) => format!("{arrow:<16}"),
            };
        writeln!(
            out,
            "{}  {colored} {:<6} {}",
            c.timestamp,
            c.tool,
            safe(&c.subject)
        )?;
        writeln!(
            out,
            "{}",
            style.dim(&format!(
                "    policy {} (was {}); {}{}",
                c.new_policy.as_deref().unwrap_or("(default action)"),
                c.old_policy.as_deref().unwrap_or("default action"),
                safe(&c.new_message),
                if c.agent.is_empty() && c.session.is_empty() {
                    String::new()
                } else {
                    format!("; {}/{}", safe(&c.agent), safe(&c.session))
                }
            ))
        )?;
    }
    if o.files.is_empty() {
        writeln!(out, "no audit files in {}", o.audit_dir)?;
    }
    let transitions: Vec<String> = o
        .transitions
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let summary = format!(
        "{} decision{} replayed against {config} ({} file{}): {} would change{}, {} unchanged, {} record{} skipped",
        o.replayed,
        if o.replayed == 1 { "" } else { "s" },
        o.files.len(),
        if o.files.len() == 1 { "" } else { "s" },
        o.changed.len(),
        if transitions.is_empty() {
            String::new()
        } else {
            format!(" ({})", transitions.join(", "))
        },
        o.unchanged,
        o.skipped,
        if o.skipped == 1 { "" } else { "s" },
    );
    writeln!(
        out,
        "{}",
        if o.changed.is_empty() {
            style.good(&summary)
        } else {
            style.warn(&summary)
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: &str = r#"version: "1"
default_action: allow
policies:
  - name: no-curl
    match:
      tool: exec
    rules:
      - action: deny
        when:
          command_matches: ["curl *"]
        message: no curl
"#;

    fn engine() -> engine::Engine {
        engine::Engine::from_yaml("strict.yaml", STRICT).unwrap()
    }

    fn event(kind: Option<&str>, decision: Value, request: Value) -> Vec<u8> {
        let mut v = serde_json::json!({
            "schema_version": "rampart.audit.v1",
            "id": "01J",
            "timestamp": "2026-01-01T00:00:00Z",
            "agent": "a",
            "session": "s",
            "tool": "exec",
            "request": request,
            "decision": decision,
            "prev_hash": "",
            "hash": "sha256:00",
        });
        if let Some(k) = kind {
            v["kind"] = Value::String(k.into());
        }
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn changed_decision_names_old_and_new_action_and_policy() {
        let line = event(
            None,
            serde_json::json!({"action": "allow", "policy": "old", "evaluation_time_us": 1}),
            serde_json::json!({"command": "curl https://x.example", "enforce": true}),
        );
        let Replayed::Changed(c) = replay_line(&engine(), &line) else {
            panic!("expected a change")
        };
        assert_eq!(
            (c.old_action.as_str(), c.new_action.as_str()),
            ("allow", "deny")
        );
        assert_eq!(c.new_policy.as_deref(), Some("no-curl"));
        assert_eq!(c.old_policy.as_deref(), Some("old"));
        assert_eq!(c.subject, "curl https://x.example");
    }

    #[test]
    fn monitor_mode_compares_the_policy_decision_not_the_answer() {
        let line = event(
            None,
            serde_json::json!({"action": "allow", "policy_decision": "deny", "mode": "monitor", "evaluation_time_us": 1}),
            serde_json::json!({"command": "curl x"}),
        );
        assert_eq!(replay_line(&engine(), &line), Replayed::Same);
    }

    #[test]
    fn headers_other_kinds_disabled_mode_and_garbage_are_skipped() {
        let e = engine();
        assert_eq!(
            replay_line(
                &e,
                br#"{"chain_continue":"sha256:00","prev_file":"x.jsonl"}"#
            ),
            Replayed::Skipped
        );
        let resolved = event(
            Some("approval_resolved"),
            serde_json::json!({"action": "allow", "approval_id": "1", "evaluation_time_us": 1}),
            serde_json::json!({"command": "curl x"}),
        );
        assert_eq!(replay_line(&e, &resolved), Replayed::Skipped);
        let disabled = event(
            None,
            serde_json::json!({"action": "allow", "mode": "disabled", "evaluation_time_us": 0}),
            serde_json::json!({"command": "curl x"}),
        );
        assert_eq!(replay_line(&e, &disabled), Replayed::Skipped);
        assert_eq!(replay_line(&e, b"not json"), Replayed::Skipped);
    }

    #[test]
    fn a_granted_ask_counts_as_ask() {
        let line = event(
            None,
            serde_json::json!({"action": "allow", "approval_id": "7", "evaluation_time_us": 1}),
            serde_json::json!({"command": "ls"}),
        );
        let Replayed::Changed(c) = replay_line(&engine(), &line) else {
            panic!("expected a change")
        };
        assert_eq!(
            (c.old_action.as_str(), c.new_action.as_str()),
            ("ask", "allow")
        );
    }
}
