//! `rampart policy ...`: tools for policy authors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use engine::lint::Finding;

use super::{load_error_parts, location, Style};

const LINT_AFTER_HELP: &str = "\
Errors are problems that stop the file from loading (reported as file:line:column).
Warnings are legal constructs that do not do what they seem to: rules that can never
be reached, rules shadowed by an earlier allow in the same policy, rules made only of
exclusions, exclusions without their positive key, `command_env_assignments`
ANDed with command patterns, disabled or empty policies, expired rules, the
deprecated `log` alias, capitalised reserved tool names, `ask:` options on other
actions, http:// webhooks, and policy names shared by several FILEs.

Exit status: 0 clean (or warnings only), 1 errors (or warnings with --deny-warnings),
2 usage error.";

/// Policy subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Check policy files: load errors and warnings.
    #[command(after_help = LINT_AFTER_HELP)]
    Lint {
        /// Files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Treat warnings as errors (exit status 1).
        #[arg(long)]
        deny_warnings: bool,
    },
}

/// Run the subcommand.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Lint {
            files,
            deny_warnings,
        } => lint(&files, deny_warnings),
    }
}

/// What linting one file found.
struct Report {
    label: String,
    /// `(file:line:column, message)` of each load error.
    errors: Vec<(String, String)>,
    warnings: Vec<Finding>,
    /// The parsed file and its text, when it loaded.
    parsed: Option<(engine::policy::PolicyFile, Option<String>)>,
}

fn lint(files: &[PathBuf], deny_warnings: bool) -> anyhow::Result<ExitCode> {
    let style = Style::stdout();
    let now = unix_now();
    let mut reports: Vec<Report> = files.iter().map(|p| lint_file(p, now)).collect();
    // Files that loaded, as (index into `reports`, input of the cross-file check).
    let mut indices = Vec::new();
    let mut inputs = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        if let Some((f, t)) = &r.parsed {
            indices.push(i);
            inputs.push((r.label.as_str(), f, t.as_deref()));
        }
    }
    let cross: Vec<(usize, Finding)> = engine::lint::duplicates_across(&inputs)
        .into_iter()
        .map(|(k, f)| (indices[k], f))
        .collect();
    for (i, f) in cross {
        reports[i].warnings.push(f);
    }
    for r in &mut reports {
        r.warnings.sort_by_key(|f| (f.line, f.column));
    }

    let mut out = std::io::stdout().lock();
    let (mut errors, mut warnings) = (0usize, 0usize);
    for report in &reports {
        for (at, message) in &report.errors {
            writeln!(out, "{at}: {}: {message}", style.bad("error"))?;
        }
        for f in &report.warnings {
            let scope = match (&f.policy, f.rule) {
                (Some(p), Some(_)) => format!("policy `{p}`: "),
                _ => String::new(),
            };
            writeln!(
                out,
                "{}: {}[{}]: {scope}{}",
                location(&report.label, f.line, f.column),
                style.warn("warning"),
                f.kind,
                f.message
            )?;
        }
        errors += report.errors.len();
        warnings += report.warnings.len();
    }
    let summary = format!(
        "{} file{} checked: {errors} error{}, {warnings} warning{}",
        files.len(),
        plural(files.len()),
        plural(errors),
        plural(warnings)
    );
    let failed = errors > 0 || (deny_warnings && warnings > 0);
    writeln!(
        out,
        "{}",
        if failed {
            style.bad(&summary)
        } else {
            style.good(&summary)
        }
    )?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn lint_file(path: &Path, now: i64) -> Report {
    let label = path.display().to_string();
    let mut report = Report {
        label: label.clone(),
        errors: Vec::new(),
        warnings: Vec::new(),
        parsed: None,
    };
    let file = match engine::policy::parse_file(path) {
        Ok(f) => f,
        Err(e) => {
            report.errors.push(load_error_parts(&e));
            return report;
        }
    };
    let text = std::fs::read_to_string(path).ok();
    // Compiling catches what decoding alone does not (the engine's own checks).
    if let Some(t) = &text {
        if let Err(e) = engine::Engine::from_yaml(&label, t) {
            report.errors.push(load_error_parts(&e));
        }
    }
    report.warnings = engine::lint::lint(&file, text.as_deref(), now);
    report.parsed = Some((file, text));
    report
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
