//! Shells and classic Unix launchers under the preload, against the
//! recording daemon (denies commands containing `marker-denied`).

use e2e::{assert_success, output, stderr, Case};
use std::time::{Duration, Instant};

fn script(case: &Case) -> String {
    format!(
        "touch {}; touch {}; echo done",
        case.path("marker-allowed"),
        case.path("marker-denied")
    )
}

/// Like [`script`], but the outer command line does not itself contain the
/// denied word (the shell builds it), so the shell starts and its children
/// are what gets checked.
fn indirect_script(case: &Case) -> String {
    format!(
        "m=marker; touch {}; touch {}/$m-denied; echo done",
        case.path("marker-allowed"),
        case.path("")
    )
    .replace("//$m", "/$m")
}

#[test]
fn bash_runs_allowed_and_blocks_denied() {
    let case = Case::new();
    let out = output(case.cmd("bash").arg("-c").arg(script(&case)));
    assert_success(&out);
    let err = stderr(&out);
    assert!(err.contains("rampart: blocked touch "), "{err}");
    assert!(err.contains("(policy e2e-deny-marker)"), "{err}");
    case.assert_outcome(&case.touch_pair());
}

#[test]
fn dash_vfork_children_are_checked_without_stalls() {
    let case = Case::new();
    let start = Instant::now();
    let out = output(case.cmd("dash").arg("-c").arg(format!(
        "/bin/true; /bin/true; /bin/true; /bin/true; {}",
        script(&case)
    )));
    let took = start.elapsed();
    assert_success(&out);
    let [a, d] = case.touch_pair();
    case.assert_outcome(&["/bin/true", "/bin/true", "/bin/true", "/bin/true", &a, &d]);
    // Upstream stalled 2 s per command here; a healthy run takes milliseconds.
    assert!(took < Duration::from_secs(3), "dash took {took:?}");
}

#[test]
fn bash_script_file_and_pipeline() {
    let case = Case::new();
    let file = case.dir.path().join("s.sh");
    std::fs::write(
        &file,
        format!(
            "#!/bin/bash\necho hello | tr a-z A-Z > {}\ntouch {}\n",
            case.path("out.txt"),
            case.path("marker-denied")
        ),
    )
    .unwrap();
    let out = output(case.cmd("bash").arg(&file));
    assert!(!out.status.success(), "the last command was denied");
    assert_eq!(
        std::fs::read_to_string(case.path("out.txt")).unwrap(),
        "HELLO\n"
    );
    assert!(!case.exists("marker-denied"));
    case.assert_seen_unordered(&["tr a-z A-Z".to_string(), case.touch("marker-denied")]);
}

#[test]
fn env_i_grandchild_is_still_checked() {
    let case = Case::new();
    let out = output(
        case.cmd("env")
            .args(["-i", "/bin/sh", "-c"])
            .arg(indirect_script(&case)),
    );
    assert_success(&out);
    let [a, d] = case.touch_pair();
    case.assert_outcome(&[format!("/bin/sh -c '{}'", indirect_script(&case)), a, d]);
}

#[test]
fn timeout_and_nohup_wrap_checked_commands() {
    let case = Case::new();
    let out = output(
        case.cmd("timeout")
            .args(["5", "touch"])
            .arg(case.path("marker-allowed")),
    );
    assert_success(&out);
    let out = output(
        case.cmd("nohup")
            .arg("touch")
            .arg(case.path("marker-denied")),
    );
    assert!(!out.status.success());
    case.assert_outcome(&case.touch_pair());
}

#[test]
fn xargs_and_find_exec_children_are_checked() {
    let case = Case::new();
    let mut c = case.cmd("sh");
    c.arg("-c").arg(format!(
        "printf '%s\\n' {a} {d} | xargs -n1 touch",
        a = case.path("marker-allowed"),
        d = case.path("marker-denied")
    ));
    let _ = output(&mut c);
    case.assert_markers();
    let seen = case.rec.sorted_commands();
    for want in case
        .touch_pair()
        .into_iter()
        .chain(["xargs -n1 touch".into()])
    {
        assert!(seen.contains(&want), "{want} not asked: {seen:?}");
    }

    let case = Case::new();
    std::fs::create_dir(case.dir.path().join("sub")).unwrap();
    std::fs::write(case.dir.path().join("sub/f"), "").unwrap();
    let out = output(
        case.cmd("find")
            .arg(case.dir.path().join("sub"))
            .args(["-type", "f", "-exec", "touch"])
            .arg(case.path("marker-allowed"))
            .args([";", "-exec", "touch"])
            .arg(case.path("marker-denied"))
            .arg(";"),
    );
    let _ = out;
    case.assert_outcome(&case.touch_pair());
}

#[test]
fn make_parallel_recipes_are_all_checked() {
    let case = Case::new();
    let mk = case.dir.path().join("Makefile");
    let mut text = String::from("all: a b c d\n");
    for t in ["a", "b", "c"] {
        text.push_str(&format!(
            "{t}:\n\ttouch {}\n",
            case.path(&format!("marker-allowed-{t}"))
        ));
    }
    text.push_str(&format!("d:\n\ttouch {}\n", case.path("marker-denied")));
    text.push_str(".PHONY: all a b c d\n");
    std::fs::write(&mk, text).unwrap();
    let out = output(case.cmd("make").args(["-s", "-k", "-j4", "-f"]).arg(&mk));
    assert!(!out.status.success(), "recipe d must fail");
    for t in ["a", "b", "c"] {
        assert!(case.exists(&format!("marker-allowed-{t}")));
    }
    assert!(!case.exists("marker-denied"));
    let mut want: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|t| case.touch(&format!("marker-allowed-{t}")))
        .collect();
    want.push(case.touch("marker-denied"));
    case.assert_seen_unordered(&want);
}

#[test]
fn git_alias_shell_command_is_checked() {
    let case = Case::new();
    let out = output(
        case.cmd("git")
            .arg("-c")
            .arg(format!("alias.zz=!touch {}", case.path("marker-denied")))
            .arg("zz")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", case.dir.path()),
    );
    assert!(!out.status.success());
    assert!(!case.exists("marker-denied"));
    let seen = case.seen();
    assert!(
        seen.iter()
            .any(|c| c.contains(&case.touch("marker-denied"))),
        "{seen:?}"
    );
}

#[test]
fn missing_programs_are_not_asked_about() {
    let case = Case::new();
    let out = output(
        case.cmd("bash")
            .arg("-c")
            .arg("no-such-program-xyz; /no/such/path; true"),
    );
    assert_success(&out);
    assert!(case.seen().is_empty(), "{:?}", case.seen());
}
