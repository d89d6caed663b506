//! Policy sources: files, directories, the embedded standard policy and the project
//! policy (spec §1.8).

use std::path::{Path, PathBuf};

use engine::policy::{Origin, PolicySet, Sources};
use engine::{Action, Engine, LoadError, ToolCall};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

/// The only test in this binary that touches the environment.
#[test]
fn the_project_policy_is_found_upwards_and_skipped_when_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let global = write(
        dir.path(),
        "global.yaml",
        "default_action: allow\npolicies:\n  - name: g\n    match: {tool: read}\n    rules: [{action: deny}]\n",
    );
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join("src/deep")).unwrap();
    write(
        &repo,
        ".rampart/policy.yaml",
        "default_action: deny\npolicies:\n  - name: no-curl\n    match: {tool: exec}\n    rules: [{action: deny, message: project says no, when: {command_matches: [\"curl *\"]}}]\n",
    );
    let sources = Sources {
        files: vec![global],
        project_dir: Some(repo.join("src/deep")),
        ..Default::default()
    };
    std::env::remove_var("RAMPART_NO_PROJECT_POLICY");
    let set = PolicySet::load(&sources).unwrap();
    let last = set.policies.last().unwrap();
    assert_eq!(
        (last.policy.name.as_str(), last.origin),
        ("no-curl", Origin::Project)
    );
    assert!(last.is_project());
    assert_eq!(
        set.default_action,
        Some(Action::Allow),
        "the base default wins"
    );
    let e = Engine::load(&sources).unwrap();
    let d = e.evaluate(&ToolCall::exec("curl https://example.com"));
    assert_eq!(
        (d.action, d.message.as_str()),
        (Action::Deny, "project says no")
    );

    std::env::set_var("RAMPART_NO_PROJECT_POLICY", "1");
    let e = Engine::load(&sources).unwrap();
    std::env::set_var("RAMPART_NO_PROJECT_POLICY", "");
    let e_empty = Engine::load(&sources).unwrap();
    std::env::remove_var("RAMPART_NO_PROJECT_POLICY");
    assert_eq!(
        e.evaluate(&ToolCall::exec("curl https://example.com"))
            .action,
        Action::Allow
    );
    assert_eq!(
        e_empty
            .evaluate(&ToolCall::exec("curl https://example.com"))
            .action,
        Action::Deny,
        "an empty variable does not disable project policies"
    );
}

#[test]
fn embedded_standard_is_used_alone_and_disk_policies_replace_same_names() {
    let embedded = Engine::load(&Sources {
        embedded_default: true,
        ..Default::default()
    })
    .unwrap();
    let names: Vec<String> = embedded.policy_names().map(str::to_string).collect();
    assert!(!names.is_empty());
    let first = &names[0];
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "mine.yaml",
        &format!("policies:\n  - name: {first}\n    priority: 1\n    rules: [{{action: watch, message: replaced}}]\n"),
    );
    let layered = Engine::load(&Sources {
        embedded_default: true,
        dirs: vec![dir.path().to_path_buf()],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(layered.policy_count(), embedded.policy_count());
    let set = PolicySet::load(&Sources {
        embedded_default: true,
        dirs: vec![dir.path().to_path_buf()],
        ..Default::default()
    })
    .unwrap();
    let replaced = set
        .policies
        .iter()
        .find(|p| p.policy.name == *first)
        .unwrap();
    assert_eq!(replaced.origin, Origin::Directory);
    // An explicit file disables the embedded policy.
    let only = Engine::load(&Sources {
        files: vec![dir.path().join("mine.yaml")],
        embedded_default: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(only.policy_count(), 1);
}

#[test]
fn unreadable_sources_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    match Engine::load(&Sources {
        files: vec![missing.clone()],
        ..Default::default()
    }) {
        Err(LoadError::Io { path, .. }) => assert_eq!(path, missing.display().to_string()),
        other => panic!("{other:?}"),
    }
    // A project policy that exists but cannot be read fails the load.
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join(".rampart/policy.yaml")).unwrap();
    assert!(Engine::load(&Sources {
        project_dir: Some(repo),
        ..Default::default()
    })
    .is_err());
}

#[test]
fn an_invalid_file_in_a_directory_fails_the_whole_load_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.yaml",
        "policies:\n  - name: ok\n    rules: [{action: allow}]\n",
    );
    write(
        dir.path(),
        "b.yaml",
        "policies:\n  - name: bad\n    rules:\n      - action: allow\n        when:\n          command_matches: [\"git *\"]\n          unknown_key: true\n",
    );
    let err = Engine::load(&Sources {
        dirs: vec![dir.path().to_path_buf()],
        ..Default::default()
    })
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("b.yaml:7:11:"), "{text}");
    assert!(text.contains("unknown_key"), "{text}");
}

const SEED_POLICY: &str = r#"version: "1"
default_action: deny
policies:
  - name: demo
    priority: 5
    match:
      tool: ["exec", "read"]
      agent: "claude*"
    rules:
      - action: deny
        message: "no"
        when:
          command_matches: ["rm -rf **"]
          command_not_matches: ["rm -rf /tmp/**"]
          path_matches: ["**/.ssh/id_*"]
          call_count: {gte: 3, window: 1h30m}
          response_matches: ["AKIA[0-9A-Z]{16}"]
      - action: ask
        ask: {audit: true}
        expires_at: 2030-01-01T00:00:00Z
tests:
  - name: t
    tool: exec
    params: {command: "rm -rf /"}
    expect: deny
"#;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Mutated policy text never panics the loader, and every rejection carries a
    /// real position inside the text.
    #[test]
    fn mutated_policies_load_or_fail_with_a_position(
        at in 0usize..SEED_POLICY.len(),
        cut in 0usize..12,
        insert in "[ -~\n]{0,6}",
    ) {
        let mut text = SEED_POLICY.as_bytes()[..at].to_vec();
        text.extend_from_slice(insert.as_bytes());
        text.extend_from_slice(&SEED_POLICY.as_bytes()[(at + cut).min(SEED_POLICY.len())..]);
        let text = String::from_utf8(text).unwrap();
        match engine::policy::parse_str("m.yaml", &text) {
            Ok(_) => {}
            Err(LoadError::Invalid { line, column, .. }) => {
                proptest::prop_assert!(line >= 1 && column >= 1);
                proptest::prop_assert!(line <= text.lines().count() + 1, "line {line}");
            }
            Err(other) => proptest::prop_assert!(false, "{other}"),
        }
    }
}
