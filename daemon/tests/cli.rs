//! The policy-author command line, run as the real `rampart` binary: `check`,
//! `eval`, `policy lint` and `test`. Commands are only evaluated, never executed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const RAMPART: &str = env!("CARGO_BIN_EXE_rampart");

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policies")
        .join(name)
}

fn rampart(args: &[&str]) -> Output {
    Command::new(RAMPART)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("rampart runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// A small policy with one rule per action, so every exit status is reachable.
const EVERY_ACTION: &str = r#"version: "1"
default_action: allow
policies:
  - name: one-of-each
    match:
      tool: exec
    rules:
      - action: deny
        when: {command_matches: ["touch marker-deny*"]}
        message: "deny marker"
      - action: ask
        when: {command_matches: ["touch marker-ask*"]}
        message: "ask marker"
      - action: watch
        when: {command_matches: ["touch marker-watch*"]}
        message: "watch marker"
      - action: webhook
        webhook: {url: "https://hooks.example.invalid/decide"}
        when: {command_matches: ["touch marker-webhook*"]}
        message: "webhook marker"
"#;

#[test]
fn check_exit_status_is_distinct_per_action() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = write(dir.path(), "every.yaml", EVERY_ACTION);
    let cfg = policy.to_str().expect("utf-8 path");
    for (cmd, want) in [
        ("touch marker-allow", 0),
        ("touch marker-deny", 1),
        ("touch marker-ask", 3),
        ("touch marker-watch", 4),
        ("touch marker-webhook", 5),
    ] {
        let o = rampart(&["check", "--config", cfg, "--", cmd]);
        assert_eq!(code(&o), want, "{cmd}: {}", stdout(&o));
    }
    // Evaluated only: no marker file appeared anywhere.
    assert!(!Path::new("marker-deny").exists());
}

#[test]
fn check_uses_the_shipped_standard_policy_by_default() {
    let o = rampart(&["check", "--", "git", "status"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let o = rampart(&["check", "--", "rm", "-rf", "/"]);
    assert_eq!(code(&o), 1);
    let o = rampart(&["check", "sudo apt-get install jq"]);
    assert_eq!(code(&o), 3);
}

#[test]
fn check_explains_the_decision_for_a_human() {
    let o = rampart(&["check", "--", "rm", "-rf", "/"]);
    let text = stdout(&o);
    assert!(text.starts_with("DENY"), "{text}");
    for needle in [
        "block-recursive-delete-outside-project",
        "rules[0]",
        "message",
        "matched component",
        "components",
        "policies in scope",
        "rm -rf /",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // Not a terminal: no colour codes.
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

#[test]
fn check_joins_words_with_shell_quoting() {
    // `bash -c 'rm -rf /'` must be seen as one quoted script, which is denied.
    let o = rampart(&["check", "--json", "--", "bash", "-c", "rm -rf /"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["params"]["command"], "bash -c 'rm -rf /'");
}

#[test]
fn check_json_carries_the_whole_decision() {
    let o = rampart(&[
        "check",
        "--json",
        "--agent",
        "claude",
        "--",
        "cat ~/.ssh/id_rsa",
    ]);
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    assert_eq!(v["action"], "deny");
    assert_eq!(v["policy"], "block-credential-files-in-shell");
    assert_eq!(v["rule"]["index"], 0);
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(v["components"].is_array());
    assert!(v["policies_in_scope"].is_array());
}

#[test]
fn check_other_tools_take_a_path_or_url() {
    let o = rampart(&["check", "--tool", "read", "/home/dev/.aws/credentials"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let o = rampart(&["check", "--tool", "read", "/home/dev/app/.env"]);
    assert_eq!(code(&o), 4, "{}", stdout(&o));
    let o = rampart(&["check", "--tool", "fetch", "https://webhook.site/x"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
}

#[test]
fn check_usage_and_load_errors_exit_2() {
    let o = rampart(&["check"]);
    assert_eq!(code(&o), 2);
    let o = rampart(&["check", "--config", "/nonexistent/policy.yaml", "--", "ls"]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/policy.yaml"));
}

#[test]
fn check_help_documents_exit_statuses() {
    let o = rampart(&["check", "--help"]);
    let text = stdout(&o);
    for line in [
        "0  allow",
        "1  deny",
        "2  usage",
        "3  ask",
        "4  watch",
        "5  webhook",
    ] {
        assert!(text.contains(line), "missing {line:?} in help:\n{text}");
    }
}

/// Read one line from the child's stdout within a generous bound, so that a
/// non-streaming implementation fails instead of hanging.
fn next_line(rx: &mpsc::Receiver<String>) -> Value {
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a reply line arrives while stdin is still open");
    serde_json::from_str(&line).expect("each reply is JSON")
}

#[test]
fn eval_streams_one_reply_per_line_and_survives_a_malformed_line() {
    let mut child = Command::new(RAMPART)
        .arg("eval")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("rampart eval starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // Each reply must come back before the next line is written.
    writeln!(
        stdin,
        r#"{{"tool":"exec","params":{{"command":"rm -rf /"}},"agent":"a","session":"s"}}"#
    )
    .expect("write");
    stdin.flush().expect("flush");
    let first = next_line(&rx);
    assert_eq!(first["action"], "deny");
    assert_eq!(first["policy"], "block-recursive-delete-outside-project");
    assert!(first["rule"].is_object());
    assert!(first["message"].is_string());

    writeln!(stdin, "{{not json").expect("write");
    stdin.flush().expect("flush");
    let bad = next_line(&rx);
    let err = bad["error"].as_str().expect("an error field");
    assert!(err.ends_with("(line 2)"), "{err}");

    writeln!(stdin).expect("write");
    writeln!(
        stdin,
        r#"{{"tool":"exec","params":{{"command":"git status"}}}}"#
    )
    .expect("write");
    stdin.flush().expect("flush");
    let third = next_line(&rx);
    assert_eq!(third["action"], "allow");
    assert!(third["policy"].is_null());

    writeln!(
        stdin,
        r#"{{"tool":"read","params":{{"path":"/home/dev/.ssh/id_rsa"}}}}"#
    )
    .expect("write");
    drop(stdin);
    let fourth = next_line(&rx);
    assert_eq!(fourth["action"], "deny");

    let status = child.wait().expect("exits");
    reader.join().expect("reader thread");
    assert!(
        rx.try_recv().is_err(),
        "exactly one reply per non-blank line"
    );
    assert_eq!(
        status.code(),
        Some(1),
        "a malformed line makes the exit status 1"
    );
}

#[test]
fn eval_uses_the_given_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = write(dir.path(), "every.yaml", EVERY_ACTION);
    let mut child = Command::new(RAMPART)
        .args(["eval", "--config", policy.to_str().expect("utf-8")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starts");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(
            stdin,
            r#"{{"tool":"exec","params":{{"command":"touch marker-ask"}}}}"#
        )
        .expect("write");
        writeln!(
            stdin,
            r#"{{"tool":"exec","params":{{"command":"rm -rf /"}}}}"#
        )
        .expect("write");
    }
    let o = child.wait_with_output().expect("exits");
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["action"], "ask");
    assert_eq!(lines[0]["message"], "ask marker");
    // This test policy has no rule for it and defaults to allow.
    assert_eq!(lines[1]["action"], "allow");
    assert_eq!(code(&o), 0);
}

const BROKEN: &str =
    "version: \"1\"\npolicies:\n  - name: p\n    rules:\n      - action: require_approval\n";

const WARNS: &str = r#"policies:
  - name: git-rules
    match: {tool: exec}
    rules:
      - action: allow
        when: {command_matches: ["git *"]}
      - action: deny
        when: {command_matches: ["git push --force*"]}
        message: "no force pushes"
"#;

#[test]
fn lint_accepts_the_shipped_policies() {
    let files: Vec<String> = ["standard.yaml", "paranoid.yaml", "monitor.yaml"]
        .iter()
        .map(|f| shipped(f).display().to_string())
        .collect();
    let mut args = vec!["policy", "lint", "--deny-warnings"];
    args.extend(files.iter().map(String::as_str));
    let o = rampart(&args);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("3 files checked: 0 errors, 0 warnings"));
}

#[test]
fn lint_reports_load_errors_with_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(dir.path(), "broken.yaml", BROKEN);
    let o = rampart(&["policy", "lint", bad.to_str().expect("utf-8")]);
    assert_eq!(code(&o), 1);
    let text = stdout(&o);
    assert!(text.contains("broken.yaml:5:"), "{text}");
    assert!(text.contains("error"), "{text}");
    assert!(text.contains("require_approval"), "{text}");
}

#[test]
fn lint_warnings_fail_only_with_deny_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "warns.yaml", WARNS);
    let path = f.to_str().expect("utf-8");
    let o = rampart(&["policy", "lint", path]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let text = stdout(&o);
    assert!(
        text.contains("warns.yaml:7:9: warning[shadowed-rule]"),
        "{text}"
    );
    assert!(text.contains("1 warning"), "{text}");
    let o = rampart(&["policy", "lint", "--deny-warnings", path]);
    assert_eq!(code(&o), 1);
}

#[test]
fn lint_warns_about_policy_names_shared_across_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = write(dir.path(), "a.yaml", WARNS);
    let b = write(dir.path(), "b.yaml", WARNS);
    let o = rampart(&[
        "policy",
        "lint",
        a.to_str().expect("utf-8"),
        b.to_str().expect("utf-8"),
    ]);
    let text = stdout(&o);
    assert!(
        text.contains(
            "b.yaml:2:5: warning[duplicate-across-files]: policy `git-rules` is also defined in"
        ),
        "{text}"
    );
    assert!(!text.contains("a.yaml:2:5: warning[duplicate"), "{text}");
}

const INLINE_TESTS: &str = r#"policies:
  - name: markers
    match: {tool: exec}
    rules:
      - action: deny
        when: {command_matches: ["rm marker*"]}
        message: "markers stay"
      - action: allow
        when: {command_matches: ["ls*"]}
tests:
  - name: deleting a marker is denied
    tool: exec
    params: {command: "rm marker.txt"}
    expect: deny
    expect_message: "markers stay"
  - name: listing is allowed
    tool: exec
    params: {command: "ls -la"}
    expect: allow
"#;

#[test]
fn test_runs_inline_cases_and_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "ok.yaml", INLINE_TESTS);
    let o = rampart(&["test", f.to_str().expect("utf-8")]);
    let text = stdout(&o);
    assert_eq!(code(&o), 0, "{text}");
    assert!(text.contains("PASS deleting a marker is denied"), "{text}");
    assert!(text.contains("PASS listing is allowed"), "{text}");
    assert!(
        text.contains("test result: ok. 2 passed; 0 failed"),
        "{text}"
    );
}

#[test]
fn test_reports_each_failure_and_exits_nonzero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = INLINE_TESTS
        .replace("expect: allow", "expect: deny")
        .replace("\"markers stay\"\n  - name", "\"markers go\"\n  - name");
    let f = write(dir.path(), "wrong.yaml", &wrong);
    let o = rampart(&["test", f.to_str().expect("utf-8")]);
    let text = stdout(&o);
    assert_eq!(code(&o), 1, "{text}");
    assert!(
        text.contains("FAIL deleting a marker is denied: expected message containing"),
        "{text}"
    );
    assert!(
        text.contains(
            "FAIL listing is allowed: expected deny, got allow (policy markers, rules[1])"
        ),
        "{text}"
    );
    assert!(
        text.contains("test result: FAILED. 0 passed; 2 failed"),
        "{text}"
    );
}

#[test]
fn test_runs_the_inline_cases_of_our_shipped_policies() {
    let o = rampart(&[
        "test",
        shipped("standard.yaml").to_str().expect("utf-8"),
        shipped("paranoid.yaml").to_str().expect("utf-8"),
        shipped("monitor.yaml").to_str().expect("utf-8"),
    ]);
    let text = stdout(&o);
    assert_eq!(code(&o), 0, "{text}");
    assert!(!text.contains("FAIL"), "{text}");
}

#[test]
fn test_exits_2_when_a_file_does_not_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(dir.path(), "broken.yaml", BROKEN);
    let o = rampart(&["test", bad.to_str().expect("utf-8")]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stdout(&o).contains("broken.yaml:5:"), "{}", stdout(&o));
}
