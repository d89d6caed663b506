//! `suggestions` of a preflight answer: how a human can allow what was not allowed.
//!
//! The agent itself cannot follow them (the standard policy denies `rampart allow`
//! and edits of Rampart's files from agents); they are there so that a denial tells
//! the agent to stop retrying and tells its human exactly what to run or edit.
//!
//! - `ask`, and a deny that only the default action made: the exact
//!   `rampart allow [--tool T] -- '<command>'` (a durable operator override beats
//!   ask, watch and the default action, spec §2.6), then
//!   `rampart approvals allow <id>` while an approval is pending.
//! - deny by a rule: a durable allow can never beat it, so the suggestion names the
//!   policy and where it lives (its file, or the embedded profile and the directory
//!   whose same-named policy would replace it) and says to narrow that rule.

use std::path::Path;

use engine::{Action, Decision};

/// The inputs of [`suggestions`].
pub struct Subject<'a> {
    /// Tool name.
    pub tool: &'a str,
    /// The command as evaluated, for command tools.
    pub command: Option<&'a str>,
    /// A pending approval that a human can resolve now.
    pub pending_approval: Option<&'a str>,
    /// The policy directory layered over the configuration (`~/.rampart/policies`).
    pub layered_dir: Option<&'a Path>,
}

/// True when `b` can appear in a shell word without quotes (same set as the
/// preload client's command strings).
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'_' | b'@' | b'%' | b'+' | b'=' | b':' | b',' | b'.' | b'/' | b'-'
        )
}

/// Quote `word` for a POSIX shell: unchanged when it is made of plain characters,
/// otherwise single-quoted with each `'` written as `'\''`.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty() && word.bytes().all(is_plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The `rampart allow` command line that allows exactly `command` for `tool`.
pub fn allow_command(tool: &str, command: &str) -> String {
    let tool_flag = if tool == "exec" {
        String::new()
    } else {
        format!("--tool {} ", shell_quote(tool))
    };
    format!("rampart allow {tool_flag}-- {}", shell_quote(command))
}

/// Whether a deny came from the default action rather than a rule.
fn default_deny(d: &Decision) -> bool {
    d.action == Action::Deny
        && d.policy.is_none()
        && (d.message == engine::eval::MSG_NO_RULE
            || d.message == engine::eval::MSG_NO_POLICY
            // The original's wording when no base policy fired (spec §2.7).
            || d.message.starts_with("project policy cannot weaken global default"))
}

/// Suggestions for a call that was not allowed (`d` is the engine's decision; the
/// caller adds nothing when the final answer allowed the call).
pub fn suggestions(d: &Decision, s: &Subject<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let command = s.command.filter(|c| !c.trim().is_empty());
    match d.action {
        Action::Ask => {
            if let Some(c) = command {
                out.push(allow_command(s.tool, c));
            }
            if let Some(id) = s.pending_approval {
                out.push(format!("rampart approvals allow {id}"));
            }
        }
        Action::Deny if default_deny(d) => {
            if let Some(c) = command {
                out.push(allow_command(s.tool, c));
            }
        }
        Action::Deny => {
            let Some(policy) = d.policy.as_deref() else {
                return out;
            };
            let narrow = if command.is_some() {
                "add this command to the rule's command_not_matches"
            } else {
                "add an exception to the rule (e.g. path_not_matches)"
            };
            let source = d.source.as_deref().unwrap_or("");
            match source.strip_prefix("embedded:") {
                Some(profile) => {
                    let dir = s
                        .layered_dir
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "~/.rampart/policies".into());
                    // The first suggestion is what the hook prints: keep it short.
                    out.push(format!(
                        "a human can copy policy \"{policy}\" of the built-in {profile} profile \
                         (policies/{profile}.yaml) into a .yaml file in {dir} and narrow it there; \
                         `rampart allow` cannot override a deny"
                    ));
                    out.push(format!(
                        "a policy in {dir} replaces the built-in policy of the same name; \
                         narrow it: {narrow}"
                    ));
                }
                None if !source.is_empty() => out.push(format!(
                    "a human can allow this by editing policy \"{policy}\" in {source} \
                     ({narrow}); `rampart allow` cannot override a deny"
                )),
                None => out.push(format!(
                    "a human can allow this by editing policy \"{policy}\" ({narrow}); \
                     `rampart allow` cannot override a deny"
                )),
            }
        }
        Action::Allow | Action::Watch | Action::Webhook => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(yaml: &str, cmd: &str) -> Decision {
        engine::Engine::from_yaml("/etc/p.yaml", yaml)
            .unwrap()
            .evaluate(&engine::ToolCall::exec(cmd))
    }

    fn subject<'a>(cmd: &'a str, pending: Option<&'a str>) -> Subject<'a> {
        Subject {
            tool: "exec",
            command: Some(cmd),
            pending_approval: pending,
            layered_dir: Some(Path::new("/home/u/.rampart/policies")),
        }
    }

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("ls"), "ls");
        assert_eq!(shell_quote("a/b.c-d"), "a/b.c-d");
        assert_eq!(shell_quote("shred --help"), "'shred --help'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn ask_suggests_the_exact_allow_command_and_the_pending_approval() {
        let yaml = "policies:\n  - name: careful\n    rules:\n      - action: ask\n        when: {command_matches: [\"shred *\"]}\n";
        let d = decision(yaml, "shred --help");
        assert_eq!(
            suggestions(&d, &subject("shred --help", Some("01ABC"))),
            [
                "rampart allow -- 'shred --help'",
                "rampart approvals allow 01ABC"
            ]
        );
        let mut other = subject("x --y", None);
        other.tool = "mcp";
        let d = decision(yaml, "shred --help");
        assert_eq!(
            suggestions(&d, &other),
            ["rampart allow --tool mcp -- 'x --y'"]
        );
    }

    #[test]
    fn a_rule_deny_names_the_policy_file_and_not_rampart_allow() {
        let yaml = "policies:\n  - name: no-shred\n    rules:\n      - action: deny\n        when: {command_matches: [\"shred *\"]}\n";
        let d = decision(yaml, "shred x");
        let s = suggestions(&d, &subject("shred x", None));
        assert_eq!(s.len(), 1);
        assert!(
            s[0].starts_with(
                "a human can allow this by editing policy \"no-shred\" in /etc/p.yaml"
            ),
            "{}",
            s[0]
        );
        assert!(s[0].contains("command_not_matches"), "{}", s[0]);
        assert!(s[0].contains("cannot override a deny"), "{}", s[0]);
    }

    #[test]
    fn an_embedded_deny_points_at_the_layered_directory() {
        let d = engine::Engine::standard().evaluate(&engine::ToolCall::exec("rm -rf /"));
        assert_eq!(d.action, Action::Deny);
        let s = suggestions(&d, &subject("rm -rf /", None));
        assert!(s[0].contains("built-in standard profile"), "{}", s[0]);
        assert!(s[0].contains("/home/u/.rampart/policies"), "{}", s[0]);
        assert!(s[0].contains("cannot override a deny"), "{}", s[0]);
        // Short enough for the hook's `blocked` line (it prints at most 250 bytes).
        assert!(s[0].len() < 250, "{} bytes: {}", s[0].len(), s[0]);
        assert!(s[1].contains("replaces the built-in policy"), "{}", s[1]);
    }

    #[test]
    fn a_default_deny_suggests_rampart_allow_and_allowed_calls_get_nothing() {
        let yaml = "default_action: deny\npolicies:\n  - name: git\n    rules:\n      - action: allow\n        when: {command_matches: [\"git *\"]}\n";
        let d = decision(yaml, "make test");
        assert_eq!(
            suggestions(&d, &subject("make test", None)),
            ["rampart allow -- 'make test'"]
        );
        let d = decision(yaml, "git status");
        assert!(suggestions(&d, &subject("git status", None)).is_empty());
    }
}
