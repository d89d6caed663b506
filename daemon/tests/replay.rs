//! `rampart replay` over an audit trail written by the real daemon: preflights sent
//! over its Unix socket, the audit rotated into several chain files, then replayed
//! against the same policy (nothing changes) and a stricter one (exactly the
//! tightened decisions are listed).

mod ops;
mod support;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// The test daemon's policy with `echo` and `cat` now denied.
fn stricter() -> String {
    support::TEST_POLICY.replace(
        "  - name: test-deny\n    match:\n      tool: exec\n    rules:\n      - action: deny\n        when:\n          command_matches: [\"rm *\"]",
        "  - name: test-deny\n    match:\n      tool: exec\n    rules:\n      - action: deny\n        when:\n          command_matches: [\"rm *\", \"echo *\", \"cat *\"]",
    )
}

fn replay(policy: &Path, dir: &Path, json: bool) -> Output {
    let mut cmd = Command::new(ops::rampart());
    cmd.arg("replay").arg("--config").arg(policy).arg(dir);
    if json {
        cmd.arg("--json");
    }
    cmd.output().expect("run rampart replay")
}

/// Sends the calls a preloaded agent would, and returns the daemon's answers.
fn send_calls(d: &support::Daemon) -> Vec<String> {
    let calls = [
        ("exec", r#"{"command":"ls -l"}"#),
        ("exec", r#"{"command":"echo hi"}"#),
        ("exec", r#"{"command":"rm -f marker"}"#),
        ("exec", r#"{"command":"cat notes.txt"}"#),
        ("exec", r#"{"command":"touch t"}"#),
        ("exec", r#"{"command":"git status"}"#),
        ("read", r#"{"path":"/tmp/x"}"#),
    ];
    let mut answers = Vec::new();
    for (tool, params) in calls {
        let body =
            format!(r#"{{"agent":"claude","session":"s1","params":{params},"enforce":true}}"#);
        let r = d.conn().request(
            "POST",
            &format!("/v1/preflight/{tool}"),
            &[],
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        answers.push(r.json()["decision"].as_str().unwrap().to_string());
    }
    answers
}

#[test]
fn replay_lists_exactly_the_decisions_a_stricter_policy_changes() {
    // Tiny rotation size: every event lands in its own chain file after a header.
    let mut d = support::Daemon::start_with(support::Opts {
        args: vec!["--audit-rotate-bytes".into(), "600".into()],
        ..Default::default()
    });
    let answers = send_calls(&d);
    assert_eq!(
        answers,
        ["allow", "allow", "deny", "watch", "ask", "deny", "deny"]
    );
    assert!(d.stop());
    let files = std::fs::read_dir(&d.audit)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".jsonl")
        })
        .count();
    assert!(
        files >= 3,
        "expected rotation into several files, got {files}"
    );

    // The daemon's own policy: nothing changes, and every decision was replayed.
    let same = replay(&d.policy, &d.audit, true);
    assert_eq!(same.status.code(), Some(0), "{}", ops::describe(&same));
    let v: Value = serde_json::from_slice(&same.stdout).unwrap();
    assert_eq!(v["replayed"], 7, "{v:#}");
    assert_eq!(v["changed"].as_array().unwrap().len(), 0, "{v:#}");
    assert_eq!(v["files"].as_array().unwrap().len(), files);

    // The stricter policy: exactly echo (allow→deny) and cat (watch→deny).
    let strict = d.dir.join("strict.yaml");
    std::fs::write(&strict, stricter()).unwrap();
    let out = replay(&strict, &d.audit, true);
    assert_eq!(out.status.code(), Some(1), "{}", ops::describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let changed = v["changed"].as_array().unwrap();
    let got: Vec<(&str, &str, &str, &str)> = changed
        .iter()
        .map(|c| {
            (
                c["subject"].as_str().unwrap(),
                c["old_action"].as_str().unwrap(),
                c["new_action"].as_str().unwrap(),
                c["new_policy"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("echo hi", "allow", "deny", "test-deny"),
            ("cat notes.txt", "watch", "deny", "test-deny"),
        ]
    );
    assert_eq!(changed[0]["old_policy"], "test-allow");
    assert_eq!(changed[0]["agent"], "claude");
    assert_eq!(changed[0]["session"], "s1");
    assert!(changed[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["unchanged"], 5);
    assert_eq!(v["transitions"]["allow→deny"], 1);
    assert_eq!(v["transitions"]["watch→deny"], 1);

    // The same for humans.
    let out = replay(&strict, &d.audit, false);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("allow → deny"), "{text}");
    assert!(text.contains("echo hi"), "{text}");
    assert!(text.contains("watch → deny"), "{text}");
    assert!(text.contains("7 decisions replayed"), "{text}");
    assert!(text.contains("2 would change"), "{text}");
    assert!(!text.contains("ls -l"), "{text}");
}

#[test]
fn replay_of_a_missing_directory_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("p.yaml");
    std::fs::write(&policy, support::TEST_POLICY).unwrap();
    let out = replay(&policy, &tmp.path().join("nope"), false);
    assert_eq!(out.status.code(), Some(2), "{}", ops::describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}
