//! Every policy file shipped by the original loads; broken snippets fail with the file,
//! line, column and offending key.

use std::path::{Path, PathBuf};

use engine::policy::{parse_file, parse_str, PolicySet, Sources};
use engine::{Engine, LoadError};

fn upstream_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/upstream-policies"
    ))
    .to_path_buf()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn every_upstream_policy_file_loads_and_compiles() {
    let mut files = Vec::new();
    yaml_files(&upstream_dir(), &mut files);
    assert!(files.len() >= 18, "found only {} files", files.len());
    let mut failures = Vec::new();
    for f in &files {
        match parse_file(f) {
            Ok(parsed) => {
                assert!(
                    !parsed.policies.is_empty(),
                    "{} has no policies",
                    f.display()
                );
                let engine = Engine::load(&Sources {
                    files: vec![f.clone()],
                    ..Default::default()
                });
                if let Err(e) = engine {
                    failures.push(e.to_string());
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

#[test]
fn upstream_standard_has_the_documented_shape() {
    let parsed = parse_file(&upstream_dir().join("standard.yaml")).unwrap();
    assert_eq!(parsed.default_action, Some(engine::Action::Deny));
    let last = parsed.policies.last().unwrap();
    assert_eq!(last.name, "allow-unmatched");
    assert_eq!(last.effective_priority(), 10000);
    assert!(last.scope.tool.is_empty());
}

#[test]
fn upstream_inline_tests_are_exposed() {
    let parsed = parse_file(&upstream_dir().join("demo.yaml")).unwrap();
    let t = &parsed.tests[0];
    assert_eq!(t.name, "blocks rm -rf /");
    assert_eq!(t.tool, "exec");
    assert_eq!(t.params["command"], "rm -rf /");
    assert_eq!(t.expect, engine::Action::Deny);
    assert_eq!(
        t.expect_message.as_deref(),
        Some("Destructive command blocked")
    );
}

#[test]
fn the_upstream_directory_merges_with_the_legacy_duplicate_tolerated() {
    // openclaw.yaml and standard.yaml both define block-self-modification.
    let set = PolicySet::load(&Sources {
        dirs: vec![upstream_dir().join("community")],
        ..Default::default()
    })
    .unwrap();
    assert!(set.policies.len() > 5);
}

/// Parse a snippet and return (line, column, message) of the error.
fn invalid(text: &str) -> (usize, usize, String) {
    match parse_str("snippet.yaml", text) {
        Err(LoadError::Invalid {
            path,
            line,
            column,
            message,
        }) => {
            assert_eq!(path, "snippet.yaml");
            (line, column, message)
        }
        other => panic!("expected an invalid-file error, got {other:?}"),
    }
}

const HEAD: &str = "version: \"1\"\ndefault_action: deny\npolicies:\n  - name: p\n    match:\n      tool: exec\n    rules:\n";

#[test]
fn an_unknown_key_names_the_key_line_and_column() {
    let (line, column, msg) = invalid(&format!(
        "{HEAD}      - action: deny\n        when:\n          command_match: [\"rm *\"]\n"
    ));
    assert_eq!((line, column), (10, 11), "{msg}");
    assert!(msg.contains("command_match"), "{msg}");
}

#[test]
fn an_unknown_top_level_key_is_rejected() {
    let (line, column, msg) = invalid("version: \"1\"\ninclude: other.yaml\npolicies: []\n");
    assert_eq!((line, column), (2, 1));
    assert!(msg.contains("include"), "{msg}");
}

#[test]
fn a_second_document_is_rejected_at_its_marker() {
    let (line, column, msg) = invalid("policies: []\n---\npolicies: []\n");
    assert_eq!((line, column), (2, 1));
    assert!(msg.contains("second YAML document"), "{msg}");
}

#[test]
fn require_approval_is_rejected_at_the_action() {
    let (line, column, msg) = invalid(&format!(
        "{HEAD}      - action: deny\n        when:\n          default: true\n      - action: require_approval\n"
    ));
    assert_eq!((line, column), (11, 17), "{msg}");
    assert!(msg.contains("require_approval"), "{msg}");
    assert!(msg.contains("rules[1].action"), "{msg}");
}

#[test]
fn three_double_stars_are_rejected_at_the_glob() {
    let (line, column, msg) = invalid(&format!(
        "{HEAD}      - action: deny\n        when:\n          path_matches:\n            - \"/ok/**\"\n            - \"**/a/**/b/**\"\n"
    ));
    assert_eq!((line, column), (12, 15), "{msg}");
    assert!(msg.contains("path_matches"), "{msg}");
}

#[test]
fn over_long_globs_are_rejected_at_the_glob() {
    let long_double_star = format!("**/{}", "a".repeat(300));
    let (line, column, msg) = invalid(&format!(
        "{HEAD}      - action: deny\n        when:\n          command_matches:\n            - \"{long_double_star}\"\n"
    ));
    assert_eq!((line, column), (11, 15), "{msg}");
    assert!(msg.contains("command_matches[0]"), "{msg}");
    assert!(msg.contains("256"), "{msg}");
    let very_long = "a".repeat(9000);
    let (line, _, msg) = invalid(&format!(
        "policies:\n  - name: p\n    match:\n      agent: \"{very_long}\"\n"
    ));
    assert_eq!(line, 4, "{msg}");
    assert!(msg.contains("match.agent") && msg.contains("8192"), "{msg}");
}

#[test]
fn a_bad_duration_is_rejected_at_the_window() {
    let (line, column, msg) = invalid(&format!(
        "{HEAD}      - action: ask\n        when:\n          call_count:\n            gte: 5\n            window: 10 minutes\n"
    ));
    assert_eq!((line, column), (12, 21), "{msg}");
    assert!(msg.contains("window"), "{msg}");
}

#[test]
fn other_semantic_errors_carry_positions() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        ("      - action: Deny\n        when:\n          command_contains: [\"  \"]\n", (10, 30), "command_contains"),
        ("      - action: deny\n        when:\n          response_matches: [\"(a+)+\"]\n", (10, 30), "response_matches"),
        ("      - action: deny\n        when:\n          response_matches: [\"(a)\\\\1\"]\n", (10, 30), "back-reference"),
        ("      - action: webhook\n        message: x\n", (8, 7), "webhook.url"),
        ("      - action: deny\n        expires_at: soon\n", (9, 21), "expires_at"),
        ("      - action: deny\n        when:\n          call_count:\n            gte: 5000\n            window: 1h\n", (11, 18), "gte"),
    ];
    for (rules, pos, needle) in cases {
        let (line, column, msg) = invalid(&format!("{HEAD}{rules}"));
        assert_eq!((line, column), *pos, "{rules}: {msg}");
        assert!(msg.contains(needle), "{rules}: {msg}");
    }
}

#[test]
fn duplicate_policy_names_point_at_the_second_name() {
    let (line, column, msg) = invalid(
        "policies:\n  - name: a\n    rules: []\n  - name: b\n    rules: []\n  - name: a\n    rules: []\n",
    );
    assert_eq!((line, column), (6, 5));
    assert!(msg.contains("duplicate policy name \"a\""), "{msg}");
}

#[test]
fn a_bad_default_action_and_version_are_rejected() {
    let (line, _, msg) = invalid("version: \"1\"\ndefault_action: require_approval\n");
    assert_eq!(line, 2);
    assert!(msg.contains("default_action"), "{msg}");
    let (line, _, msg) = invalid("version: \"2\"\n");
    assert_eq!(line, 1);
    assert!(msg.contains("version"), "{msg}");
}

#[test]
fn an_agent_list_is_a_decode_error() {
    let (line, _, msg) = invalid("policies:\n  - name: p\n    match:\n      agent: [a, b]\n");
    assert_eq!(line, 4, "{msg}");
    assert!(msg.contains("agent"), "{msg}");
}

#[test]
fn files_over_one_mebibyte_are_rejected_with_a_position() {
    let big = format!("# {}\n", "x".repeat(1 << 20));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yaml");
    std::fs::write(&path, &big).unwrap();
    match parse_file(&path) {
        Err(LoadError::Invalid {
            path: p,
            line,
            column,
            message,
        }) => {
            assert!(p.ends_with("big.yaml"));
            assert_eq!((line, column), (1, (1 << 20) + 1));
            assert!(message.contains("1048576-byte limit"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn log_is_watch_and_match_tool_accepts_a_string_or_a_list() {
    let f = parse_str(
        "t.yaml",
        "policies:\n  - name: a\n    match: {tool: exec}\n    rules: [{action: LOG}]\n  - name: b\n    match: {tool: [read, write]}\n    rules: [{action: allow}]\n",
    )
    .unwrap();
    assert_eq!(f.policies[0].rules[0].action, engine::Action::Watch);
    assert_eq!(f.policies[0].rules[0].action_written, "log");
    assert_eq!(f.policies[0].scope.tool, vec!["exec"]);
    assert_eq!(f.policies[1].scope.tool, vec!["read", "write"]);
}

#[test]
fn upstream_inline_tests_pass_against_their_own_file() {
    let mut files = Vec::new();
    yaml_files(&upstream_dir(), &mut files);
    let mut failures = Vec::new();
    let mut ran = 0;
    for f in &files {
        let parsed = parse_file(f).unwrap();
        if parsed.tests.is_empty() {
            continue;
        }
        let engine = Engine::load(&Sources {
            files: vec![f.clone()],
            ..Default::default()
        })
        .unwrap();
        for t in &parsed.tests {
            ran += 1;
            let call = engine::ToolCall {
                tool: t.tool.clone(),
                agent: t.agent.clone(),
                params: t.params.clone(),
                ..Default::default()
            };
            let d = engine.evaluate(&call);
            let message_ok = t
                .expect_message
                .as_deref()
                .is_none_or(|m| d.message.contains(m));
            if d.action != t.expect || !message_ok {
                failures.push(format!(
                    "  {}: {:?} -> expected {} {:?}, got {} {:?}",
                    f.file_name().unwrap().to_string_lossy(),
                    t.name,
                    t.expect,
                    t.expect_message,
                    d.action,
                    d.message
                ));
            }
        }
    }
    assert!(ran >= 60, "only {ran} inline tests");
    assert!(
        failures.is_empty(),
        "inline tests failing:\n{}",
        failures.join("\n")
    );
}
