//! `rampart test`: run the inline `tests:` cases of policy files against the file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use engine::policy::InlineTest;
use engine::{Decision, Engine, Sources, ToolCall};

use super::{load_error_parts, Style};

const AFTER_HELP: &str = "\
Each file's `tests:` cases are evaluated against that file alone (nothing is
executed). A case passes when the decision's action equals `expect` and, if given,
the decision's message contains `expect_message`.

Exit status: 0 every case passed, 1 some case failed, 2 a file did not load
(or usage error).";

/// Arguments of `rampart test`.
#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Policy files whose inline tests to run.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print only failures and the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The outcome of one case.
struct CaseResult {
    name: String,
    failure: Option<String>,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let style = Style::stdout();
    let mut out = std::io::stdout().lock();
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    for path in &args.files {
        let label = path.display().to_string();
        let results = match run_file(path) {
            Ok(r) => r,
            Err((at, message)) => {
                broken += 1;
                writeln!(out, "{at}: {}: {message}", style.bad("error"))?;
                continue;
            }
        };
        if results.is_empty() {
            writeln!(out, "{label}: no tests")?;
            continue;
        }
        writeln!(
            out,
            "{label}: {} test{}",
            results.len(),
            plural(results.len())
        )?;
        for r in &results {
            match &r.failure {
                None => {
                    passed += 1;
                    if !args.quiet {
                        writeln!(out, "  {} {}", style.good("PASS"), r.name)?;
                    }
                }
                Some(why) => {
                    failed += 1;
                    writeln!(out, "  {} {}: {why}", style.bad("FAIL"), r.name)?;
                }
            }
        }
    }
    let summary = format!(
        "test result: {}. {passed} passed; {failed} failed{}",
        if failed == 0 && broken == 0 {
            "ok"
        } else {
            "FAILED"
        },
        if broken > 0 {
            format!("; {broken} file{} did not load", plural(broken))
        } else {
            String::new()
        }
    );
    let ok = failed == 0 && broken == 0;
    writeln!(
        out,
        "{}",
        if ok {
            style.good(&summary)
        } else {
            style.bad(&summary)
        }
    )?;
    Ok(ExitCode::from(match (broken, failed) {
        (0, 0) => 0,
        (0, _) => 1,
        _ => 2,
    }))
}

/// Load one file, then evaluate each of its cases against it. A load failure comes
/// back as `(file:line:column, message)`.
fn run_file(path: &Path) -> Result<Vec<CaseResult>, (String, String)> {
    let file = engine::policy::parse_file(path).map_err(|e| load_error_parts(&e))?;
    let engine = Engine::load(&Sources {
        files: vec![path.to_path_buf()],
        ..Sources::default()
    })
    .map_err(|e| load_error_parts(&e))?;
    Ok(file
        .tests
        .iter()
        .enumerate()
        .map(|(i, case)| CaseResult {
            name: if case.name.trim().is_empty() {
                format!("tests[{i}]")
            } else {
                case.name.clone()
            },
            failure: check_case(&engine, case),
        })
        .collect())
}

/// `None` when the case passes, otherwise why it failed.
fn check_case(engine: &Engine, case: &InlineTest) -> Option<String> {
    let call = ToolCall {
        tool: case.tool.clone(),
        agent: case.agent.clone(),
        params: case.params.clone(),
        ..ToolCall::default()
    };
    let d = engine.evaluate(&call);
    if d.action != case.expect {
        return Some(format!(
            "expected {}, got {} ({})",
            case.expect,
            d.action,
            origin(&d)
        ));
    }
    match &case.expect_message {
        Some(m) if !d.message.contains(m.as_str()) => Some(format!(
            "expected message containing {m:?}, got {:?} ({})",
            d.message,
            origin(&d)
        )),
        _ => None,
    }
}

/// Which policy and rule decided, for failure messages.
fn origin(d: &Decision) -> String {
    match (&d.policy, &d.rule) {
        (Some(p), Some(r)) => format!("policy {p}, rules[{}]", r.index),
        (Some(p), None) => format!("policy {p}"),
        (None, _) => format!("no rule fired: {}", d.message),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
