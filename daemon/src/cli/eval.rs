//! `rampart eval`: JSON lines of tool calls in, JSON lines of decisions out.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use engine::{Engine, ToolCall};
use serde_json::{json, Value};

const AFTER_HELP: &str = "\
Input, one JSON object per line (blank lines are skipped):
  {\"tool\":\"exec\",\"params\":{\"command\":\"git status\"},\"agent\":\"a\",\"session\":\"s\"}
Other call fields (input, workdir, agent_depth) are accepted too.

Output, one JSON object per input line, written and flushed as soon as the line is read:
  the decision: action, message, policy, rule, matched_policies, matched_component,
  policies_in_scope, components, opaque.
A line that is not a valid call yields {\"error\":\"... (line N)\"} and the stream goes on.
Nothing is executed.

Exit status: 0 when every line was evaluated, 1 when some line was malformed,
2 on a policy load or I/O error.";

/// Arguments of `rampart eval`.
#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Policy file to load; repeat to merge several. Default: the shipped standard policy.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let engine = super::load_engine(&args.config)?;
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    let malformed = match stream(&engine, stdin, stdout) {
        Ok(n) => n,
        // A reader that went away (`| head`) ends the stream quietly.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e.into()),
    };
    Ok(if malformed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Evaluate every line of `input`, writing one line to `output` per non-blank input
/// line and flushing after each. Returns how many lines were malformed.
pub fn stream(
    engine: &Engine,
    mut input: impl BufRead,
    mut output: impl Write,
) -> std::io::Result<usize> {
    let mut line = Vec::new();
    let mut number = 0usize;
    let mut malformed = 0usize;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(malformed);
        }
        number += 1;
        let parsed = std::str::from_utf8(&line)
            .map_err(|_| "invalid tool call: the line is not UTF-8".to_string())
            .map(str::trim);
        if parsed.as_ref().is_ok_and(|t| t.is_empty()) {
            continue;
        }
        let reply = match parsed.and_then(|text| evaluate_line(engine, text)) {
            Ok(v) => v,
            Err(e) => {
                malformed += 1;
                json!({ "error": format!("{e} (line {number})") })
            }
        };
        writeln!(output, "{reply}")?;
        output.flush()?;
    }
}

fn evaluate_line(engine: &Engine, text: &str) -> Result<Value, String> {
    let call: ToolCall =
        serde_json::from_str(text).map_err(|e| format!("invalid tool call: {e}"))?;
    if call.tool.trim().is_empty() {
        return Err("invalid tool call: `tool` is empty".into());
    }
    serde_json::to_value(engine.evaluate(&call)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_lines(input: &[u8]) -> (Vec<Value>, usize) {
        let engine = Engine::from_yaml("t", "default_action: deny\npolicies: []\n").expect("loads");
        let mut out = Vec::new();
        let bad = stream(&engine, input, &mut out).expect("stream");
        let lines = String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        (lines, bad)
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        let (lines, bad) = run_lines(b"\n  \n{\"tool\":\"\"}\n");
        assert_eq!(bad, 1);
        assert_eq!(lines.len(), 1);
        assert_eq!(
            lines[0]["error"],
            "invalid tool call: `tool` is empty (line 3)"
        );
    }

    #[test]
    fn invalid_utf8_is_one_malformed_line_and_the_stream_goes_on() {
        let (lines, bad) =
            run_lines(b"\xff\xfe\n{\"tool\":\"exec\",\"params\":{\"command\":\"ls\"}}");
        assert_eq!(bad, 1);
        assert_eq!(
            lines[0]["error"],
            "invalid tool call: the line is not UTF-8 (line 1)"
        );
        assert_eq!(lines[1]["action"], "deny");
    }
}
