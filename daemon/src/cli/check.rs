//! `rampart check`: evaluate one call and explain the decision.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use engine::{Action, Decision, ToolCall};
use serde_json::{Map, Value};

use super::Style;

const AFTER_HELP: &str = "\
Nothing is executed: the command is only evaluated against the policies.

Several words after `--` are joined into one command line, each word quoted for the
shell where needed (`rampart check -- rm -rf /`). Pass pipelines and compound
commands as one string: `rampart check -- 'curl -fsSL x | sh'`. For a tool other
than exec, the argument is the path (read, write, edit) or the URL (fetch, http,
web_fetch, browser); other parameters are set with --param.

Exit status:
  0  allow
  1  deny
  2  usage error or policy load error
  3  ask
  4  watch (allowed, flagged)
  5  webhook (an external webhook decides)";

/// Arguments of `rampart check`.
#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Policy file to load; repeat to merge several (the first wins name collisions).
    /// Default: the shipped standard policy.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Tool name of the call.
    #[arg(long, default_value = "exec")]
    pub tool: String,
    /// Agent name of the call (matched by `match.agent`).
    #[arg(long, default_value = "")]
    pub agent: String,
    /// Session name of the call (matched by `match.session`).
    #[arg(long, default_value = "")]
    pub session: String,
    /// Working directory of the call (relative paths are resolved against it).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Extra call parameter; repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Print the decision as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// The command (for exec), path or URL to evaluate.
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<String>,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let engine = super::load_engine(&args.config)?;
    let call = build_call(&args);
    let decision = engine.evaluate(&call);
    let subject = join_words(&args.command);
    let text = if args.json {
        let mut v = serde_json::to_value(&decision)?;
        if let Value::Object(m) = &mut v {
            m.insert("tool".into(), Value::String(call.tool.clone()));
            m.insert("params".into(), Value::Object(call.params.clone()));
        }
        format!("{v}\n")
    } else {
        explain(&call, &decision, &subject, Style::stdout())
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A reader that stopped early (`| head`) does not change the verdict.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(ExitCode::from(exit_code(decision.action)))
}

/// The documented exit status of an action.
pub fn exit_code(action: Action) -> u8 {
    match action {
        Action::Allow => 0,
        Action::Deny => 1,
        Action::Ask => 3,
        Action::Watch => 4,
        Action::Webhook => 5,
    }
}

/// The parameter key the positional argument fills for a tool.
fn subject_key(tool: &str) -> &'static str {
    match tool {
        "read" | "write" | "edit" | "mcp-destructive" => "path",
        "fetch" | "http" | "web_fetch" | "browser" => "url",
        _ => "command",
    }
}

fn build_call(args: &Args) -> ToolCall {
    let mut params = Map::new();
    params.insert(
        subject_key(&args.tool).into(),
        Value::String(join_words(&args.command)),
    );
    for (k, v) in &args.params {
        params.insert(k.clone(), Value::String(v.clone()));
    }
    ToolCall {
        tool: args.tool.clone(),
        agent: args.agent.clone(),
        session: args.session.clone(),
        params,
        workdir: args.workdir.clone(),
        ..ToolCall::default()
    }
}

/// One word joins as is; several are quoted for the shell where needed and joined.
pub fn join_words(words: &[String]) -> String {
    match words {
        [one] => one.clone(),
        many => many
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Quote one word so that a POSIX shell reads it back unchanged.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    '_' | '-' | '.' | '/' | ',' | ':' | '=' | '@' | '%' | '+' | '~'
                )
        });
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The human explanation of a decision.
fn explain(call: &ToolCall, d: &Decision, subject: &str, style: Style) -> String {
    let mut s = String::new();
    let label = format!("{:<5}", d.action.as_str().to_ascii_uppercase());
    s.push_str(&format!(
        "{}  {} {}\n",
        style.action(d.action, &label),
        style.dim(&format!("{}:", call.tool)),
        subject
    ));
    let mut field = |name: &str, value: String| {
        s.push_str(&format!("  {:<18}{value}\n", style.dim(name)));
    };
    field("message", non_empty(&d.message));
    match (&d.policy, &d.rule) {
        (Some(p), Some(r)) => {
            field("policy", p.clone());
            // The summary may end with the message, which is printed above.
            let summary = r
                .summary
                .strip_suffix(d.message.as_str())
                .map_or(r.summary.as_str(), |s| s.trim_end_matches([':', ' ']));
            field("rule", format!("rules[{}]  {summary}", r.index));
        }
        (Some(p), None) => field("policy", p.clone()),
        (None, _) => field("policy", "(none: default action)".into()),
    }
    if let Some(c) = &d.matched_component {
        field("matched component", c.clone());
    }
    if !d.components.is_empty() {
        field("components", d.components.join("  |  "));
    }
    if let Some(o) = &d.opaque {
        field("opaque", o.clone());
    }
    field("matched policies", list(&d.matched_policies));
    field("policies in scope", list(&d.policies_in_scope));
    s
}

fn non_empty(s: &str) -> String {
    if s.is_empty() {
        "(none)".into()
    } else {
        s.to_string()
    }
}

/// A comma-separated list, wrapped under the value column.
fn list<S: AsRef<str>>(v: &[S]) -> String {
    const WIDTH: usize = 100;
    const INDENT: usize = 2 + 18;
    if v.is_empty() {
        return "(none)".into();
    }
    let mut out = String::new();
    let mut col = INDENT;
    for (i, item) in v.iter().enumerate() {
        let item = item.as_ref();
        let piece = if i + 1 < v.len() {
            format!("{item},")
        } else {
            item.to_string()
        };
        if i > 0 {
            if col + 1 + piece.len() > WIDTH {
                out.push('\n');
                out.push_str(&" ".repeat(INDENT));
                col = INDENT;
            } else {
                out.push(' ');
                col += 1;
            }
        }
        col += piece.len();
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_word_is_taken_verbatim() {
        assert_eq!(join_words(&["curl x | sh".into()]), "curl x | sh");
    }

    #[test]
    fn several_words_are_shell_quoted_where_needed() {
        let words: Vec<String> = ["bash", "-c", "a && b", "it's", "", "~/x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(join_words(&words), r"bash -c 'a && b' 'it'\''s' '' ~/x");
    }

    #[test]
    fn exit_codes_are_distinct_per_action() {
        let codes = [
            Action::Allow,
            Action::Deny,
            Action::Ask,
            Action::Watch,
            Action::Webhook,
        ]
        .map(exit_code);
        assert_eq!(codes, [0, 1, 3, 4, 5]);
    }

    #[test]
    fn long_lists_wrap_under_the_value_column() {
        let names: Vec<String> = (0..30).map(|i| format!("policy-number-{i}")).collect();
        let text = list(&names);
        assert!(text.lines().count() > 1);
        assert!(text.lines().all(|l| l.len() <= 100), "{text}");
        assert!(text.lines().skip(1).all(|l| l.starts_with(&" ".repeat(20))));
    }

    #[test]
    fn positional_fills_the_tool_specific_parameter() {
        assert_eq!(subject_key("exec"), "command");
        assert_eq!(subject_key("read"), "path");
        assert_eq!(subject_key("fetch"), "url");
        assert_eq!(subject_key("my_tool"), "command");
    }
}
