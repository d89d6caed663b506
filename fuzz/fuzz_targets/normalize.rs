//! Shell normalization, analysis, aliases and command matching on arbitrary bytes:
//! nothing may panic, and a few structural invariants must hold.
#![no_main]

use engine::command::{CommandConditions, CommandOutcome, CommandView};
use engine::shell;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cmd = String::from_utf8_lossy(data);
    let normalized = shell::normalize(&cmd);
    assert!(!normalized.contains('\0'), "sanitize removes NUL");
    let analysis = shell::analyze(&cmd);
    assert!(analysis.composite || analysis.components.len() <= 1);
    let _ = shell::extract_subcommands(&cmd);
    let _ = shell::env_assignment_names(&cmd);
    let _ = shell::aliases::canonical_aliases(&cmd);
    let _ = shell::aliases::semantic_aliases(&cmd);
    let _ = shell::aliases::foreign_reparses(&cmd);
    let _ = shell::strip_leading_comment_lines(&cmd);

    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let deny = CommandConditions::new(
        &s(&["rm -rf /", "rm -rf /var/**", "*curl*bash*"]),
        &s(&["rm -rf /tmp/**"]),
        &s(&["base64 -d"]),
        &s(&["LD_PRELOAD"]),
    );
    let allow = CommandConditions::new(&s(&["git *"]), &s(&["git push*"]), &[], &[]);
    let view = CommandView::new(&cmd);
    let _ = deny.evaluate(&view, true);
    let granted = allow.evaluate(&view, false);
    if view.opaque().is_some() {
        assert_ne!(granted, CommandOutcome::NotApplicable);
        assert!(
            !matches!(granted, CommandOutcome::Match(_)),
            "opaque commands are never granted"
        );
    }
});
