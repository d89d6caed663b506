//! Every case of `shared/spec/cases.jsonl` against the original's `standard.yaml`,
//! loaded alone, with no working directory (spec §7.1).

use std::path::Path;

use engine::{Action, Engine, Sources, ToolCall};
use serde_json::Value;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared");

/// Cases where we knowingly differ from the original, with the reason. Empty: we
/// aim to match every asserted case.
const EXCEPTIONS: &[(&str, &str)] = &[];

fn call_of(case: &Value) -> ToolCall {
    let params = case["params"].as_object().cloned().unwrap_or_default();
    let note = case["note"].as_str().unwrap_or("");
    let mut call = ToolCall {
        tool: case["tool"].as_str().unwrap().to_string(),
        params: params.clone(),
        ..Default::default()
    };
    if note.contains("identical params and input maps") {
        call.input = Some(params);
        call.agent = "security-assurance".into();
        call.session = "security-assurance".into();
    }
    if note.contains("agent mcp-client") {
        call.agent = "mcp-client".into();
    }
    if note.contains("\"agent\":\"test\"") {
        call.agent = "test".into();
        call.session = "s1".into();
    }
    call
}

fn expected_ok(expect: &str, got: Action) -> bool {
    match expect {
        "not_deny" => got != Action::Deny,
        other => other == got.as_str(),
    }
}

#[test]
fn upstream_standard_cases_all_decide_as_upstream() {
    let engine = Engine::load(&Sources {
        files: vec![Path::new(SHARED).join("upstream-policies/standard.yaml")],
        ..Default::default()
    })
    .expect("upstream standard.yaml loads");
    let text = std::fs::read_to_string(Path::new(SHARED).join("spec/cases.jsonl")).unwrap();
    let mut failures = Vec::new();
    let mut total = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let name = case["name"].as_str().unwrap_or("?");
        if EXCEPTIONS.iter().any(|(n, _)| *n == name) {
            continue;
        }
        total += 1;
        let expect = case["expect"].as_str().unwrap();
        let d = engine.evaluate(&call_of(&case));
        if !expected_ok(expect, d.action) {
            failures.push(format!(
                "  {name} [{}]: {} {} -> expected {expect}, got {} ({}; policy {:?})",
                case["source"].as_str().unwrap_or(""),
                case["tool"].as_str().unwrap_or(""),
                case["params"],
                d.action,
                d.message,
                d.policy
            ));
        }
    }
    assert_eq!(total, 296 - EXCEPTIONS.len());
    assert!(
        failures.is_empty(),
        "{} of {total} cases differ from upstream:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn upstream_engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::load(&Sources {
            files: vec![Path::new(SHARED).join("upstream-policies/standard.yaml")],
            ..Default::default()
        })
        .unwrap()
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// For arbitrary shell-ish commands: evaluation is pure (same answer twice, and
    /// enforce agrees, since no exec rule of the standard counts or is single-use),
    /// the explanation is consistent, and a deny names its policy and rule.
    #[test]
    fn decisions_are_pure_and_self_consistent(
        cmd in r#"[a-z /.\-|&;'"$(){}~*=]{0,40}"#,
    ) {
        let engine = upstream_engine();
        let call = ToolCall::exec(cmd.clone());
        let first = engine.evaluate(&call);
        proptest::prop_assert_eq!(&first, &engine.evaluate(&call));
        proptest::prop_assert_eq!(&first, &engine.enforce(&call));
        for m in &first.matched_policies {
            proptest::prop_assert!(first.policies_in_scope.contains(m), "{} not in scope", m);
        }
        if let Some(p) = &first.policy {
            proptest::prop_assert!(first.matched_policies.contains(p));
            proptest::prop_assert!(first.rule.is_some());
        }
        if first.action == Action::Deny && !cmd.trim().is_empty() {
            proptest::prop_assert!(first.policy.is_some(), "deny without a policy: {:?}", first);
        }
    }
}
