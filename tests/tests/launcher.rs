//! `rampart-preload`: finds the library, sets the environment, reports what
//! protects the command, and fails clearly when something is missing.

use e2e::{assert_success, clean_env, output, scratch, stderr, workspace_bin, Case, Recorder};
use std::process::Command;

fn launcher(rec: &Recorder) -> Command {
    let mut c = Command::new(workspace_bin("rampart-preload"));
    clean_env(&mut c);
    // The build may live outside the workspace (CARGO_TARGET_DIR), where the
    // launcher's own search would not look: point it at the library.
    c.env("RAMPART_LIB", e2e::hook_lib());
    c.arg("--socket").arg(&rec.socket);
    c
}

/// `sh -c` line touching both markers; the line itself does not contain the
/// denied word (the shell builds it).
fn sh_touch_both(case: &Case) -> [String; 3] {
    let line = format!(
        "touch {}; m=marker; touch {}/$m-denied; true",
        case.path("marker-allowed"),
        case.dir.path().display()
    );
    ["sh".into(), "-c".into(), line]
}

#[test]
fn runs_the_command_under_the_library() {
    let case = Case::new();
    let out = output(
        launcher(&case.rec)
            .args(["--agent", "claude", "--"])
            .args(sh_touch_both(&case)),
    );
    assert_success(&out);
    case.assert_markers();
    let err = stderr(&out);
    assert!(err.contains("rampart-preload: sh runs under "), "{err}");
    assert!(err.contains("mode enforce, fail-open"), "{err}");
    let seen = case.rec.seen();
    assert_eq!(seen.len(), 2, "{:?}", case.seen());
    assert_eq!(seen[1].command, case.touch("marker-denied"));
    assert_eq!(seen[0].body["agent"], "claude");
    assert!(seen[0].body["session"]
        .as_str()
        .unwrap()
        .starts_with("preload-"));
}

#[test]
fn environment_carries_every_setting() {
    let case = Case::with_rule(|_| e2e::Reply::allow());
    let out = output(
        launcher(&case.rec)
            .args([
                "--quiet",
                "--fail-closed",
                "--mode",
                "monitor",
                "--session",
                "s1",
                "--",
            ])
            .args(["sh", "-c", "env | grep -E '^(LD_PRELOAD|RAMPART_)' | sort"])
            .env("LD_PRELOAD", "/nonexistent/other.so")
            .env("RAMPART_URL", "http://127.0.0.1:1"),
    );
    assert!(
        stderr(&out).lines().all(|l| l.contains("other.so")),
        "quiet: {}",
        stderr(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lib = e2e::hook_lib().to_str().unwrap().to_string();
    assert!(
        text.contains(&format!("LD_PRELOAD={lib}:/nonexistent/other.so\n")),
        "{text}"
    );
    for want in [
        "RAMPART_MODE=monitor\n",
        "RAMPART_FAIL_OPEN=0\n",
        "RAMPART_SESSION=s1\n",
        "RAMPART_QUIET=1\n",
        "RAMPART_AGENT=preload\n",
    ] {
        assert!(text.contains(want), "{want} missing in {text}");
    }
    assert!(!text.contains("RAMPART_URL"), "{text}");
}

#[test]
fn missing_command_is_a_clear_error() {
    let case = Case::with_rule(|_| e2e::Reply::allow());
    let out = output(launcher(&case.rec).args(["--", "definitely-not-a-command-xyz"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("command not found: definitely-not-a-command-xyz"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_library_is_a_clear_error() {
    let dir = scratch();
    // A copy of the launcher in a directory with no library near it.
    let bin = dir.path().join("rampart-preload");
    std::fs::copy(workspace_bin("rampart-preload"), &bin).unwrap();
    let mut c = Command::new(&bin);
    clean_env(&mut c);
    let out = output(
        c.env("HOME", dir.path())
            .env("RAMPART_LIB", "/nonexistent/librampart.so")
            .args(["--", "true"]),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("librampart.so not found"), "{err}");
    assert!(err.contains("/nonexistent/librampart.so"), "{err}");
}

#[test]
fn rampart_preload_subcommand_hands_over_to_the_launcher() {
    let case = Case::new();
    let mut c = Command::new(workspace_bin("rampart"));
    clean_env(&mut c);
    c.env("RAMPART_LIB", e2e::hook_lib());
    c.arg("preload")
        .arg("--socket")
        .arg(&case.rec.socket)
        .arg("--");
    let out = output(c.args(sh_touch_both(&case)));
    assert_success(&out);
    let err = stderr(&out);
    assert!(case.exists("marker-allowed"), "{err}");
    assert!(!case.exists("marker-denied"), "{err}");
    assert!(err.contains("rampart-preload: sh runs under "), "{err}");
    assert_eq!(case.seen().len(), 2, "{:?}", case.seen());
}
