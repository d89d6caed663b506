//! The daemon's preflight request decoding (`POST /v1/preflight/{tool}` bodies)
//! on arbitrary bytes: nothing may panic, an accepted `exec` request always
//! carries its command into the engine's call, and the decoded call can be
//! decided by the standard policy without panicking.
//!
//! The daemon is a binary crate, so its decoding modules are compiled in here
//! directly (`daemon/src/serve/preflight.rs` depends only on `engine`,
//! `serde_json` and its sibling `hook_body.rs`, which depends on nothing).
#![no_main]

#[path = "../../daemon/src/serve/preflight.rs"]
#[allow(dead_code)]
mod preflight;
/// `preflight`'s `super::hook_body`.
#[path = "../../daemon/src/serve/hook_body.rs"]
mod hook_body;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// Tool names the first byte chooses from (reserved, aliased and custom ones).
const TOOLS: [&str; 8] = [
    "exec",
    "read",
    "write",
    "fetch",
    "agent",
    "mcp",
    "my_tool.v1",
    "Exec",
];

fn engine() -> &'static engine::Engine {
    static E: OnceLock<engine::Engine> = OnceLock::new();
    E.get_or_init(engine::Engine::standard)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let tool = TOOLS[sel as usize % TOOLS.len()];
    if preflight::validate_tool(tool).is_err() {
        return;
    }
    let Ok(pf) = preflight::parse(tool, body) else {
        return;
    };
    assert!(
        !(pf.enforce && pf.verification),
        "enforce and verification together"
    );
    if tool == "exec" {
        let cmd = pf
            .command
            .as_deref()
            .expect("an accepted exec request has a command");
        assert!(!cmd.trim().is_empty(), "blank exec command accepted");
        assert!(
            pf.call.params.get("command").is_some_and(|v| v.is_string()),
            "exec command not handed to the engine"
        );
    }
    let d = if pf.enforce {
        engine().enforce(&pf.call)
    } else {
        engine().evaluate(&pf.call)
    };
    for m in &d.matched_policies {
        assert!(
            d.policies_in_scope.contains(m),
            "{m} matched but not in scope"
        );
    }
});
