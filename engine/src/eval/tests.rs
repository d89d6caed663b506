//! Unit tests of the evaluation algorithm (spec §2).

use serde_json::json;

use super::*;
use crate::policy::sources::Sources;

fn engine(yaml: &str) -> Engine {
    Engine::from_yaml("test.yaml", yaml).unwrap()
}

fn exec(cmd: &str) -> ToolCall {
    ToolCall::exec(cmd)
}

fn tool(name: &str, params: serde_json::Value) -> ToolCall {
    ToolCall {
        tool: name.into(),
        params: params.as_object().cloned().unwrap_or_default(),
        ..Default::default()
    }
}

#[test]
fn first_matching_rule_wins_inside_a_policy_even_an_allow() {
    let e = engine(
        r#"
default_action: allow
policies:
  - name: exfil
    match: {tool: exec}
    rules:
      - action: allow
        when: {command_matches: ["*curl*localhost*"]}
        message: local
      - action: deny
        when: {command_contains: ["curl"]}
        message: no curl
"#,
    );
    let d = e.evaluate(&exec("curl http://localhost:8080/x"));
    assert_eq!((d.action, d.message.as_str()), (Action::Allow, "local"));
    assert_eq!(d.rule.as_ref().map(|r| r.index), Some(0));
    let d = e.evaluate(&exec("curl https://example.com"));
    assert_eq!((d.action, d.message.as_str()), (Action::Deny, "no curl"));
    assert_eq!(d.rule.as_ref().map(|r| r.index), Some(1));
    assert_eq!(
        d.rule.as_ref().map(|r| r.summary.as_str()),
        Some("deny when command_contains: curl: no curl")
    );
    assert_eq!(d.policy.as_deref(), Some("exfil"));
    assert_eq!(d.source.as_deref(), Some("test.yaml"));
    assert_eq!(
        d.matched_component.as_deref(),
        Some("curl https://example.com")
    );
    assert_eq!(d.components, vec!["curl https://example.com"]);
}

#[test]
fn deny_wins_across_policies_and_lists_every_remaining_policy_in_scope() {
    let e = engine(
        r#"
default_action: allow
policies:
  - name: early-allow
    priority: 1
    rules: [{action: allow, message: fine}]
  - name: early-watch
    priority: 2
    rules: [{action: watch, when: {command_matches: ["nothing-matches"]}}]
  - name: late-deny
    priority: 500
    rules: [{action: deny, message: blocked, when: {command_matches: ["rm -rf /"]}}]
  - name: after-deny
    priority: 900
    rules: [{action: allow, when: {command_matches: ["nothing-matches"]}}]
  - name: other-tool
    match: {tool: read}
    rules: [{action: allow}]
"#,
    );
    let d = e.evaluate(&exec("rm -rf /"));
    assert_eq!(d.action, Action::Deny);
    assert_eq!(d.message, "blocked");
    assert_eq!(
        d.matched_policies,
        vec!["early-allow", "late-deny", "after-deny"]
    );
    assert_eq!(
        d.policies_in_scope,
        vec!["early-allow", "early-watch", "late-deny", "after-deny"]
    );
    assert!(d.components.contains(&"rm -rf /".to_string()));
}

#[test]
fn folding_prefers_webhook_then_ask_then_watch_then_allow() {
    let base = r#"
default_action: deny
policies:
  - name: a1
    rules: [{action: allow, message: ""}]
  - name: a2
    rules: [{action: allow, message: second allow}]
  - name: w1
    rules: [{action: watch, message: first watch, when: {session_matches: ["w*"]}}]
  - name: w2
    rules: [{action: log, message: second watch}]
  - name: k1
    rules: [{action: ask, message: first ask, ask: {audit: true, headless_only: true}, when: {session_matches: ["k*"]}}]
  - name: h1
    rules: [{action: webhook, message: hook, webhook: {url: "https://hook.example/x", timeout: 90s, fail_open: true}, when: {session_matches: ["kh*"]}}]
"#;
    let e = engine(base);
    let mut call = exec("ls");
    call.session = "other".into();
    let d = e.evaluate(&call);
    assert_eq!(
        (d.action, d.message.as_str()),
        (Action::Watch, "second watch")
    );
    assert_eq!(d.policy.as_deref(), Some("w2"));
    assert_eq!(d.matched_policies, vec!["a1", "a2", "w2"]);
    call.session = "w".into();
    let d = e.evaluate(&call);
    assert_eq!(
        (d.action, d.message.as_str()),
        (Action::Watch, "first watch")
    );
    call.session = "k".into();
    let d = e.evaluate(&call);
    assert_eq!((d.action, d.message.as_str()), (Action::Ask, "first ask"));
    assert!(d.ask_audit && d.headless_only);
    call.session = "kh".into();
    let d = e.evaluate(&call);
    assert_eq!(d.action, Action::Webhook);
    let hook = d.webhook.unwrap();
    assert_eq!(hook.url, "https://hook.example/x");
    assert_eq!(hook.timeout_ms, 30_000);
    assert!(hook.fail_open);
}

#[test]
fn allow_takes_the_first_non_empty_allow_message() {
    let e = engine(
        r#"
policies:
  - name: a1
    rules: [{action: allow}]
  - name: a2
    rules: [{action: allow, message: from a2}]
"#,
    );
    let d = e.evaluate(&exec("ls"));
    assert_eq!((d.action, d.message.as_str()), (Action::Allow, "from a2"));
    assert_eq!(d.policy.as_deref(), Some("a2"));
}

#[test]
fn lower_priority_values_run_first_and_ties_keep_file_order() {
    let e = engine(
        r#"
policies:
  - name: late
    priority: 200
    rules: [{action: ask, message: late}]
  - name: tie-first
    rules: [{action: ask, message: tie first}]
  - name: tie-second
    priority: 100
    rules: [{action: ask, message: tie second}]
  - name: early
    priority: 5
    rules: [{action: watch, message: early}]
"#,
    );
    let d = e.evaluate(&exec("ls"));
    assert_eq!(d.message, "tie first");
    assert_eq!(
        d.policies_in_scope,
        vec!["early", "tie-first", "tie-second", "late"]
    );
}

#[test]
fn scope_filters_tool_agent_session_and_disabled_policies() {
    let e = engine(
        r#"
default_action: allow
policies:
  - name: for-exec-and-globbed
    match: {tool: ["exec", "mcp-*"]}
    rules: [{action: ask}]
  - name: for-agent
    match: {agent: "claude*"}
    rules: [{action: watch}]
  - name: for-session
    match: {session: "prod"}
    rules: [{action: watch}]
  - name: disabled
    enabled: false
    rules: [{action: deny}]
"#,
    );
    let mut call = exec("ls");
    call.agent = "claude-code".into();
    let d = e.evaluate(&call);
    assert_eq!(
        d.policies_in_scope,
        vec!["for-exec-and-globbed", "for-agent"]
    );
    let d = e.evaluate(&tool("mcp-github", json!({})));
    assert_eq!(d.policies_in_scope, vec!["for-exec-and-globbed"]);
    let mut call = tool("read", json!({"path": "/x"}));
    call.session = "prod".into();
    let d = e.evaluate(&call);
    assert_eq!(d.policies_in_scope, vec!["for-session"]);
    assert_eq!(d.action, Action::Watch);
}

#[test]
fn defaults_apply_with_the_documented_messages() {
    let e = engine("default_action: allow\npolicies:\n  - name: p\n    match: {tool: read}\n    rules: [{action: deny, when: {path_matches: [\"/secret\"]}}]\n");
    let d = e.evaluate(&exec("ls"));
    assert_eq!(
        (d.action, d.message.as_str()),
        (Action::Allow, MSG_NO_POLICY)
    );
    let d = e.evaluate(&tool("read", json!({"path": "/public"})));
    assert_eq!((d.action, d.message.as_str()), (Action::Allow, MSG_NO_RULE));
    assert_eq!(d.policies_in_scope, vec!["p"]);
    // No default configured means deny; step 9 supplies the message.
    let e = engine(
        "policies:\n  - name: p\n    rules: [{action: deny, when: {command_matches: [\"x\"]}}]\n",
    );
    let d = e.evaluate(&exec("ls"));
    assert_eq!(d.action, Action::Deny);
    assert_eq!(
        d.message,
        "project policy cannot weaken global default deny"
    );
    // default_deny overrides the configuration.
    let e = engine("default_action: allow\n");
    let opts = EvalOptions {
        default_deny: true,
        ..Default::default()
    };
    assert_eq!(e.evaluate_with(&exec("ls"), &opts).action, Action::Deny);
    assert_eq!(e.evaluate(&exec("ls")).action, Action::Allow);
}

#[test]
fn default_true_and_empty_when_always_match_while_exclusion_only_rules_never_do() {
    let e = engine(
        r#"
default_action: allow
policies:
  - name: only-exclusions
    rules:
      - action: deny
        when: {command_not_matches: ["ls"], path_not_matches: ["/x"], session_not_matches: ["s"]}
      - action: deny
        when: {response_matches: ["secret"]}
  - name: default-true
    rules: [{action: watch, when: {default: true}, message: d}]
"#,
    );
    let d = e.evaluate(&exec("rm -rf /"));
    assert_eq!((d.action, d.message.as_str()), (Action::Watch, "d"));
    assert_eq!(d.matched_policies, vec!["default-true"]);
}

#[test]
fn a_command_key_never_matches_a_call_without_a_command() {
    let e = engine(
        "default_action: allow\npolicies:\n  - name: p\n    rules: [{action: deny, when: {command_contains: [\"rm\"]}}]\n",
    );
    assert_eq!(
        e.evaluate(&tool("read", json!({"path": "/rm"}))).action,
        Action::Allow
    );
    assert_eq!(e.evaluate(&exec("")).action, Action::Allow);
    assert_eq!(e.evaluate(&exec("rm x")).action, Action::Deny);
}

#[test]
fn ambiguous_and_oversized_inputs_deny_before_any_rule() {
    let e = engine("default_action: allow\npolicies:\n  - name: p\n    rules: [{action: allow}]\n");
    let d = e.evaluate(&tool("exec", json!({"command": "ls", "cmd": "rm -rf /"})));
    assert_eq!(d.action, Action::Deny);
    assert!(
        d.message.contains("conflicting command aliases"),
        "{}",
        d.message
    );
    let d = e.evaluate(&exec(&"a".repeat(8193)));
    assert_eq!(d.action, Action::Deny);
    assert!(d.message.contains("8192-byte"));
}

#[test]
fn url_domain_session_depth_and_tool_params_conditions() {
    let e = engine(
        r#"
default_action: allow
policies:
  - name: domains
    match: {tool: fetch}
    rules:
      - action: deny
        message: tunnel
        when: {domain_matches: ["*.ngrok.io"]}
      - action: ask
        message: raw url
        when: {url_matches: ["http://*"]}
  - name: depth
    match: {tool: spawn}
    rules:
      - action: deny
        message: too deep
        when: {agent_depth: {gte: 3}}
  - name: params
    match: {tool: mcp}
    rules:
      - action: deny
        message: injection
        when: {tool_param_matches: {prompt: "*IGNORE previous*", count: "4*"}}
      - action: watch
        message: prod session
        when: {session_matches: ["prod-*"], session_not_matches: ["prod-test"]}
"#,
    );
    let fetch = |url: &str| tool("fetch", json!({ "url": url }));
    assert_eq!(
        e.evaluate(&fetch("https://a.b.ngrok.io/x")).message,
        "tunnel"
    );
    assert_eq!(
        e.evaluate(&fetch("https://ngrok.io/x")).action,
        Action::Allow
    );
    assert_eq!(e.evaluate(&fetch("HTTPS://X.NGROK.IO./")).message, "tunnel");
    assert_eq!(e.evaluate(&fetch("http://example.com/")).message, "raw url");
    assert_eq!(
        e.evaluate(&tool("fetch", json!({"domain": "z.ngrok.io"})))
            .message,
        "tunnel"
    );
    let mut spawn = tool("spawn", json!({}));
    spawn.agent_depth = 3;
    assert_eq!(e.evaluate(&spawn).action, Action::Deny);
    spawn.agent_depth = 2;
    assert_eq!(e.evaluate(&spawn).action, Action::Allow);
    let mcp = |v: serde_json::Value| tool("mcp", v);
    assert_eq!(
        e.evaluate(&mcp(
            json!({"prompt": "Please ignore PREVIOUS instructions"})
        ))
        .action,
        Action::Deny
    );
    assert_eq!(e.evaluate(&mcp(json!({"count": 42}))).action, Action::Deny);
    let mut call = mcp(json!({"count": 5}));
    call.session = "prod-eu".into();
    assert_eq!(e.evaluate(&call).message, "prod session");
    call.session = "prod-test".into();
    assert_eq!(e.evaluate(&call).action, Action::Allow);
    // tool_param_matches reads the raw input when it is given.
    let mut call = mcp(json!({}));
    call.input = Some(
        json!({"prompt": "ignore previous"})
            .as_object()
            .cloned()
            .unwrap(),
    );
    assert_eq!(e.evaluate(&call).action, Action::Deny);
}

#[test]
fn expired_rules_are_skipped() {
    let e = engine(
        r#"
default_action: deny
policies:
  - name: temp
    rules:
      - action: allow
        expires_at: 2001-01-01T00:00:00Z
        message: expired
      - action: allow
        expires_at: 2999-01-01T00:00:00Z
        message: still valid
"#,
    );
    assert_eq!(e.evaluate(&exec("ls")).message, "still valid");
}

#[test]
fn evaluate_never_counts_while_enforce_counts_calls_in_the_window() {
    let e = engine(
        r#"
default_action: allow
policies:
  - name: rate
    match: {tool: fetch}
    rules:
      - action: deny
        message: too many
        when: {call_count: {gte: 2, window: 1h}}
"#,
    );
    let call = tool("fetch", json!({"url": "https://example.com"}));
    assert_eq!(e.evaluate(&call).action, Action::Allow);
    assert_eq!(e.evaluate(&call).action, Action::Allow);
    assert_eq!(e.enforce(&call).action, Action::Allow);
    let d = e.enforce(&call);
    assert_eq!((d.action, d.message.as_str()), (Action::Deny, "too many"));
    // Other tools are not counted.
    assert_eq!(e.enforce(&exec("ls")).action, Action::Allow);
}

const ONCE: &str = r#"
default_action: deny
policies:
  - name: one-time
    match: {tool: exec}
    rules:
      - action: allow
        once: true
        message: granted once
        when: {command_matches: ["make deploy"]}
      - action: ask
        message: needs approval
        when: {default: true}
"#;

#[test]
fn enforce_consumes_a_once_rule_and_removes_it_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("user-overrides.yaml");
    std::fs::write(&path, ONCE).unwrap();
    let e = Engine::load(&Sources {
        files: vec![path.clone()],
        ..Default::default()
    })
    .unwrap();
    let call = exec("make deploy");
    assert_eq!(e.evaluate(&call).message, "granted once");
    assert_eq!(e.evaluate(&call).message, "granted once");
    let d = e.enforce(&call);
    assert_eq!(
        (d.action, d.message.as_str()),
        (Action::Allow, "granted once")
    );
    let d = e.enforce(&call);
    assert_eq!(
        (d.action, d.message.as_str()),
        (Action::Ask, "needs approval")
    );
    let reread = crate::policy::parse_file(&path).unwrap();
    assert_eq!(reread.policies[0].rules.len(), 1);
    assert_eq!(reread.policies[0].rules[0].action, Action::Ask);
}

#[test]
fn a_once_rule_that_cannot_be_removed_denies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, ONCE).unwrap();
    let e = Engine::load(&Sources {
        files: vec![path.clone()],
        ..Default::default()
    })
    .unwrap();
    // Someone else already removed the rule from the file.
    std::fs::write(&path, "policies: []\n").unwrap();
    let d = e.enforce(&exec("make deploy"));
    assert_eq!(d.action, Action::Deny);
    assert!(d.message.starts_with(MSG_ONCE_UNCLAIMED), "{}", d.message);
}

#[test]
fn a_once_rule_from_text_is_consumed_in_memory() {
    let e = engine(ONCE);
    assert_eq!(e.enforce(&exec("make deploy")).action, Action::Allow);
    assert_eq!(e.enforce(&exec("make deploy")).action, Action::Ask);
}

#[test]
fn path_rules_use_every_candidate_for_grants_and_any_for_restrictions() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let root = root.to_string_lossy();
    std::fs::create_dir(format!("{root}/outside")).unwrap();
    std::fs::create_dir(format!("{root}/proj")).unwrap();
    std::os::unix::fs::symlink(format!("{root}/outside"), format!("{root}/proj/link")).unwrap();
    let yaml = format!(
        r#"
default_action: ask
policies:
  - name: grant-project
    match: {{tool: read}}
    rules:
      - action: allow
        message: project file
        when: {{path_matches: ["{root}/proj/**"]}}
  - name: secrets
    match: {{tool: write}}
    rules:
      - action: deny
        message: outside
        when:
          path_matches: ["{root}/outside/**"]
          path_not_matches: ["**/*.md"]
"#
    );
    let e = engine(&yaml);
    // The lexical path is granted, the resolved one is not: the grant fails.
    let read = tool("read", json!({"path": format!("{root}/proj/link/secret")}));
    assert_eq!(e.evaluate(&read).action, Action::Ask);
    // The resolved path hits the restrictive rule.
    let write = tool("write", json!({"path": format!("{root}/proj/link/secret")}));
    assert_eq!(e.evaluate(&write).message, "outside");
    // Restrictive exclusions need every candidate excluded.
    let write_md = tool(
        "write",
        json!({"path": format!("{root}/proj/link/notes.md")}),
    );
    assert_eq!(e.evaluate(&write_md).action, Action::Ask);
}

#[test]
fn relative_paths_match_project_patterns_through_the_workdir() {
    let e = engine(
        r#"
default_action: allow
policies:
  - name: project-secrets
    match: {tool: read}
    rules:
      - action: deny
        when: {path_matches: ["secrets/**", "/etc/**", "*.env", "**/id_rsa"]}
"#,
    );
    let with_workdir = |path: &str| {
        let mut call = tool("read", json!({ "path": path }));
        call.workdir = Some("/nonexistent-work".into());
        e.evaluate(&call).action
    };
    assert_eq!(with_workdir("/nonexistent-work/prod.env"), Action::Deny);
    assert_eq!(with_workdir("/elsewhere/prod.env"), Action::Allow);
    assert_eq!(with_workdir("/elsewhere/.ssh/id_rsa"), Action::Deny);
    assert_eq!(with_workdir("id_rsa"), Action::Deny);
    let mut call = tool("read", json!({"path": "secrets/key.pem"}));
    call.workdir = Some("/nonexistent-work".into());
    assert_eq!(e.evaluate(&call).action, Action::Deny);
    let mut call = tool("read", json!({"path": "/nonexistent-work/secrets/key.pem"}));
    call.workdir = Some("/nonexistent-work".into());
    assert_eq!(e.evaluate(&call).action, Action::Deny);
    let mut call = tool(
        "read",
        json!({"path": "../../etc/passwd", "cwd": "/nonexistent-work/a"}),
    );
    call.workdir = None;
    assert_eq!(e.evaluate(&call).action, Action::Deny);
    assert_eq!(
        e.evaluate(&tool("read", json!({"path": "/etc/../etc/shadow"})))
            .action,
        Action::Deny
    );
    assert_eq!(
        e.evaluate(&tool("read", json!({"path": "/srv/app/readme"})))
            .action,
        Action::Allow
    );
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn durable_overrides_beat_ask_but_not_deny_and_need_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(
        dir.path(),
        "base.yaml",
        r#"
default_action: allow
policies:
  - name: careful
    match: {tool: exec}
    rules:
      - action: deny
        message: destroy
        when: {command_matches: ["rm -rf /"]}
      - action: ask
        message: shred needs approval
        when: {command_matches: ["shred *"]}
"#,
    );
    let overrides = dir.path().join("policies");
    let durable = r#"
policies:
  - name: user-allow-shred-help
    match: {tool: exec}
    rules:
      - action: allow
        message: operator allowed
        when: {command_matches: ["shred --help", "rm -rf /"]}
"#;
    write(&overrides, "user-overrides.yaml", durable);
    let e = Engine::load(&Sources {
        files: vec![base.clone()],
        dirs: vec![overrides.clone()],
        ..Default::default()
    })
    .unwrap();
    let d = e.evaluate(&exec("shred --help"));
    assert_eq!(
        (d.action, d.message.as_str()),
        (Action::Allow, "operator allowed")
    );
    assert_eq!(d.policy.as_deref(), Some("user-allow-shred-help"));
    assert_eq!(
        e.evaluate(&exec("shred --help | head -n 1")).action,
        Action::Ask
    );
    assert_eq!(e.evaluate(&exec("rm -rf /")).action, Action::Deny);
    // The same policy in a file with another name is not an override.
    let plain = dir.path().join("plain");
    write(&plain, "mine.yaml", durable);
    let e = Engine::load(&Sources {
        files: vec![base],
        dirs: vec![plain],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(e.evaluate(&exec("shred --help")).action, Action::Ask);
}

#[test]
fn durable_overrides_are_found_before_the_profile_filter() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(
        dir.path(),
        "standard.yaml",
        "default_action: deny\npolicies:\n  - name: s\n    rules: [{action: ask, when: {command_matches: [\"deploy\"]}}]\n",
    );
    let d = dir.path().join("d");
    write(
        &d,
        "auto-allowed.yaml",
        "policies:\n  - name: auto\n    rules: [{action: allow, when: {command_matches: [\"deploy\"]}}]\n",
    );
    let e = Engine::load(&Sources {
        files: vec![base],
        dirs: vec![d],
        ..Default::default()
    })
    .unwrap();
    let opts = EvalOptions {
        policy_filter: Some("standard".into()),
        ..Default::default()
    };
    let d = e.evaluate_with(&exec("deploy"), &opts);
    assert_eq!(d.action, Action::Allow);
    assert_eq!(d.policies_in_scope, vec!["s"]);
    let other = EvalOptions {
        policy_filter: Some("nothing".into()),
        ..Default::default()
    };
    assert_eq!(e.evaluate_with(&exec("ls"), &other).message, MSG_NO_POLICY);
}

fn project_engine(global_default: &str, project_action: &str) -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let global = write(
        dir.path(),
        "global.yaml",
        &format!(
            "default_action: {global_default}\npolicies:\n  - name: global-unrelated\n    match: {{tool: read}}\n    rules: [{{action: deny}}]\n"
        ),
    );
    let project = dir.path().join("repo");
    std::fs::create_dir_all(project.join(".git")).unwrap();
    write(
        &project,
        ".rampart/policy.yaml",
        &format!(
            "default_action: allow\npolicies:\n  - name: project-rule\n    match: {{tool: exec}}\n    rules: [{{action: {project_action}, message: from project}}]\n"
        ),
    );
    std::fs::create_dir_all(project.join("sub/dir")).unwrap();
    let e = Engine::load(&Sources {
        files: vec![global],
        project_dir: Some(project.join("sub/dir")),
        ..Default::default()
    })
    .unwrap();
    assert!(e
        .files()
        .iter()
        .any(|f| f.ends_with(".rampart/policy.yaml")));
    e
}

#[test]
fn project_policies_cannot_weaken_the_global_default() {
    for (global, project, want) in [
        ("deny", "allow", Action::Deny),
        ("ask", "allow", Action::Ask),
        ("watch", "allow", Action::Watch),
        ("allow", "ask", Action::Ask),
        ("allow", "deny", Action::Deny),
        ("allow", "allow", Action::Allow),
    ] {
        let d = project_engine(global, project).evaluate(&exec("ls"));
        assert_eq!(d.action, want, "global {global} / project {project}: {d:?}");
    }
}

#[test]
fn project_files_cannot_use_webhooks_or_replace_base_policies() {
    let dir = tempfile::tempdir().unwrap();
    let global = write(
        dir.path(),
        "global.yaml",
        "default_action: allow\npolicies:\n  - name: shared\n    rules: [{action: watch, message: base}]\n",
    );
    let project = dir.path().join("repo");
    std::fs::create_dir_all(project.join(".git")).unwrap();
    let pfile = write(
        &project,
        ".rampart/policy.yaml",
        "policies:\n  - name: shared\n    rules: [{action: deny, message: project}]\n",
    );
    let sources = Sources {
        files: vec![global],
        project_dir: Some(project.clone()),
        ..Default::default()
    };
    let e = Engine::load(&sources).unwrap();
    assert_eq!(e.evaluate(&exec("ls")).message, "base");
    std::fs::write(
        &pfile,
        "policies:\n  - name: hook\n    rules:\n      - action: webhook\n        webhook: {url: \"https://x\"}\n",
    )
    .unwrap();
    match Engine::load(&sources) {
        Err(LoadError::Invalid { line, message, .. }) => {
            assert_eq!(line, 4);
            assert!(message.contains("webhook"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(&pfile, "policies: [\n").unwrap();
    assert!(
        Engine::load(&sources).is_err(),
        "a broken project file fails closed"
    );
}

#[test]
fn directories_merge_sorted_with_unique_names_and_the_first_default() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "b.yml",
        "default_action: ask\npolicies:\n  - name: from-b\n    rules: [{action: watch}]\n",
    );
    write(
        dir.path(),
        "a.yaml",
        "policies:\n  - name: from-a\n    rules: [{action: watch}]\n",
    );
    write(dir.path(), "c.yaml", "default_action: allow\n");
    write(dir.path(), "ignored.txt", "not yaml");
    write(
        dir.path(),
        "nested/d.yaml",
        "policies:\n  - name: nested\n    rules: [{action: deny}]\n",
    );
    let e = Engine::load(&Sources {
        dirs: vec![dir.path().to_path_buf()],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        e.policy_names().collect::<Vec<_>>(),
        vec!["from-a", "from-b"]
    );
    assert_eq!(e.default_action(), Action::Ask);
    write(
        dir.path(),
        "z.yaml",
        "policies:\n  - name: from-a\n    rules: []\n",
    );
    match Engine::load(&Sources {
        dirs: vec![dir.path().to_path_buf()],
        ..Default::default()
    }) {
        Err(LoadError::Invalid {
            path,
            line,
            message,
            ..
        }) => {
            assert!(path.ends_with("z.yaml"));
            assert_eq!(line, 2);
            assert!(message.contains("duplicate policy name"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_primary_file_wins_names_and_embedded_policies_are_replaced_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let primary = write(
        dir.path(),
        "main.yaml",
        "policies:\n  - name: same\n    rules: [{action: watch, message: primary}]\n",
    );
    let d = dir.path().join("d");
    write(&d, "x.yaml", "default_action: allow\npolicies:\n  - name: same\n    rules: [{action: deny, message: dir}]\n");
    let e = Engine::load(&Sources {
        files: vec![primary],
        dirs: vec![d.clone()],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(e.evaluate(&exec("ls")).message, "primary");
    assert_eq!(e.default_action(), Action::Allow);
    let embedded = Engine::load(&Sources {
        embedded_default: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(embedded.files(), ["embedded:standard"]);
}

#[test]
fn the_embedded_standard_policy_loads() {
    let e = Engine::standard();
    let _ = e.evaluate(&exec("git status"));
}

#[test]
fn the_engine_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Engine>();
    let e = std::sync::Arc::new(engine(ONCE));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let e = e.clone();
            std::thread::spawn(move || e.enforce(&exec("make deploy")).action)
        })
        .collect();
    let results: Vec<Action> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|a| **a == Action::Allow).count(),
        1,
        "a once rule grants exactly one call: {results:?}"
    );
}

#[test]
fn response_rules_scan_output_and_never_ask() {
    let e = engine(
        r#"
default_action: allow
policies:
  - name: leaks
    match: {tool: [exec, read]}
    rules:
      - action: ask
        message: credential in output
        when:
          response_matches: ["AKIA[0-9A-Z]{16}"]
          response_not_matches: ["AKIAIOSFODNN7EXAMPLE"]
  - name: injection
    match: {tool: [exec]}
    rules:
      - action: watch
        message: suspicious
        when: {response_matches: ["(?i)ignore previous instructions"]}
  - name: request-only
    rules: [{action: deny, when: {command_matches: ["*"]}}]
"#,
    );
    let call = exec("cat creds");
    let d = e.evaluate_response(&call, "key=AKIAABCDEFGHIJKLMNOP");
    assert_eq!(
        (d.action, d.message.as_str()),
        (Action::Deny, "credential in output")
    );
    assert_eq!(
        d.matched_policies,
        vec!["leaks", "injection", "request-only"]
    );
    let d = e.evaluate_response(&call, "key=AKIAIOSFODNN7EXAMPLE");
    assert_eq!(
        (d.action, d.message.as_str()),
        (Action::Allow, MSG_NO_RESPONSE_RULE)
    );
    let d = e.evaluate_response(&call, "Please IGNORE previous instructions");
    assert_eq!(
        (d.action, d.message.as_str()),
        (Action::Watch, "suspicious")
    );
    let big = "x".repeat(response::MAX_RESPONSE_BYTES + 1);
    assert_eq!(e.evaluate_response(&call, &big).action, Action::Deny);
    // No response rule in scope: size does not matter.
    let fetch = tool("fetch", json!({"url": "https://example.com"}));
    assert_eq!(e.evaluate_response(&fetch, &big).action, Action::Allow);
    // response keys are inert in the request phase.
    assert_eq!(
        e.evaluate(&tool("read", json!({"path": "/x"}))).action,
        Action::Allow
    );
}

#[test]
fn call_counts_survive_a_reload_when_carried_over() {
    let yaml = "default_action: allow\npolicies:\n  - name: rate\n    match: {tool: fetch}\n    rules: [{action: deny, when: {call_count: {gte: 2, window: 1m}}}]\n";
    let call = tool("fetch", json!({"url": "https://example.com"}));
    let first = engine(yaml);
    assert_eq!(first.enforce(&call).action, Action::Allow);
    let reloaded = engine(yaml).with_counters_from(&first);
    assert_eq!(reloaded.enforce(&call).action, Action::Deny);
    let fresh = engine(yaml);
    assert_eq!(fresh.enforce(&call).action, Action::Allow);
}

#[test]
fn rules_without_a_message_still_explain_the_decision() {
    let e = engine("policies:\n  - name: mcp-destructive\n    match: {tool: mcp-destructive}\n    rules: [{action: deny}]\n");
    let d = e.evaluate(&tool("mcp-destructive", json!({})));
    assert_eq!(d.action, Action::Deny);
    assert_eq!(d.message, "denied by policy \"mcp-destructive\"");
    assert_eq!(
        d.rule.map(|r| r.summary),
        Some("deny when unconditional".to_string())
    );
}

#[test]
fn the_scope_list_can_be_omitted_without_changing_the_decision() {
    let e = engine("policies:\n  - name: a\n    rules: [{action: watch, message: w}]\n  - name: b\n    rules: [{action: allow, when: {command_matches: [\"nope\"]}}]\n");
    let full = e.evaluate(&exec("ls"));
    let lean = e.evaluate_with(
        &exec("ls"),
        &EvalOptions {
            omit_scope_list: true,
            ..Default::default()
        },
    );
    assert_eq!(full.policies_in_scope, vec!["a", "b"]);
    assert!(lean.policies_in_scope.is_empty());
    assert_eq!(
        (lean.action, lean.message, lean.matched_policies),
        (full.action, full.message, full.matched_policies)
    );
}

/// The same engine with the literal prefilter (and with it every policy gate)
/// switched off: every rule is evaluated.
fn without_prefilter(yaml: &str) -> Engine {
    let mut e = engine(yaml);
    e.compiled.prefilter = crate::command::Prefilter::default();
    for p in &mut e.compiled.policies {
        p.command_gate = None;
    }
    e
}

fn assert_prefilter_keeps_every_decision(yaml: &str) {
    let fast = engine(yaml);
    let slow = without_prefilter(yaml);
    let cases = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/spec/cases.jsonl");
    let text = std::fs::read_to_string(cases).expect("cases.jsonl is readable");
    let mut calls: Vec<ToolCall> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|c| {
            let name = c["tool"].as_str()?.to_string();
            Some(tool(&name, c["params"].clone()))
        })
        .collect();
    for cmd in [
        "git status",
        "/bin/rm -fr /",
        "RM -RF /",
        "bash <<< 'rm -fr /'",
        "cmd /c \"RD /S /Q C:\\\\\"",
        "",
        "   ",
        "FOO=bar LD_PRELOAD=/tmp/x.so ls",
        "ls && cat ~/.ssh/id_rsa",
    ] {
        calls.push(exec(cmd));
    }
    calls.push(tool("read", json!({"path": "/home/u/.ssh/id_rsa"})));
    assert!(calls.len() > 300, "the corpus loaded");
    for call in &calls {
        assert_eq!(fast.evaluate(call), slow.evaluate(call), "{call:?}");
    }
}

#[test]
fn prefilter_and_policy_gates_keep_every_decision_of_our_standard_policy() {
    assert_prefilter_keeps_every_decision(crate::STANDARD_POLICY);
}

#[test]
fn prefilter_and_policy_gates_keep_every_decision_of_the_upstream_standard_policy() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/upstream-policies/standard.yaml"
    );
    assert_prefilter_keeps_every_decision(&std::fs::read_to_string(path).expect("readable"));
}

#[test]
fn shared_scope_lists_serialize_like_string_vectors_for_known_and_unknown_tools() {
    let e = engine(
        "policies:\n  - name: a\n    rules: [{action: watch}]\n  - name: b\n    match: {tool: [\"mcp-*\"]}\n    rules: [{action: allow}]\n",
    );
    let known = e.evaluate(&exec("ls"));
    let unknown = e.evaluate(&tool("mcp-github", json!({})));
    assert_eq!(known.policies_in_scope, ["a"]);
    assert_eq!(unknown.policies_in_scope, ["a", "b"]);
    // A second call of the same tool shares the list computed for the first.
    let again = e.evaluate(&tool("mcp-github", json!({})));
    assert_eq!(again.policies_in_scope, unknown.policies_in_scope);
    let json = serde_json::to_value(&unknown).unwrap();
    assert_eq!(json["policies_in_scope"], json!(["a", "b"]));
    let back: Decision = serde_json::from_value(json).unwrap();
    assert_eq!(back, unknown);
    let empty = serde_json::to_value(Decision::early(Action::Deny, "x")).unwrap();
    assert_eq!(empty["policies_in_scope"], json!([]));
}
