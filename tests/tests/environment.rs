//! The protection survives environment tampering at every depth; argv edge
//! cases; co-resident preloads; static binaries (documented bypass).

use e2e::{assert_success, output, probe, probe_with, python3, stderr, stdout, Case};

/// A shell line printing LD_PRELOAD and the RAMPART_* variables, sorted.
const SHOW_ENV: &str = "env | grep -E '^(LD_PRELOAD|RAMPART_)' | sort";

#[test]
fn control_variables_are_restored_at_every_depth() {
    let case = Case::new();
    let lib = e2e::hook_lib().to_str().unwrap().to_string();
    // Depth 1: env -i; depth 2: a forged RAMPART_MODE and a foreign
    // LD_PRELOAD; depth 3: env -u LD_PRELOAD; then print what the deepest
    // process got.
    let show = case.dir.path().join("show.sh");
    std::fs::write(&show, format!("{SHOW_ENV}\n")).unwrap();
    let inner = format!(
        "env -u LD_PRELOAD RAMPART_MODE=disabled /bin/sh {}",
        show.display()
    );
    let mid = format!("env RAMPART_MODE=disabled RAMPART_NEW=x LD_PRELOAD= /bin/sh -c '{inner}'");
    let out = output(case.cmd("env").args(["-i", "/bin/sh", "-c"]).arg(&mid));
    assert_success(&out);
    let want = format!(
        "LD_PRELOAD={lib}\nRAMPART_SESSION=e2e\nRAMPART_SOCKET={}\n",
        case.rec.socket.display()
    );
    assert_eq!(stdout(&out), want);
    // Every level was checked, including the deepest commands.
    let seen = case.seen();
    assert!(
        seen.iter().any(|c| c.starts_with("env -u LD_PRELOAD")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|c| c == "env"),
        "the innermost `env` was checked: {seen:?}"
    );
}

#[test]
fn a_very_large_environment_is_passed_whole_and_protected() {
    // More variables than the hook rebuilds an environment for on its stack:
    // the rest of the way is a mapping. A forged RAMPART_MODE in it is
    // replaced, LD_PRELOAD comes back, and every other variable arrives.
    let case = Case::new();
    let prog = "import os, subprocess, sys\n\
                env = {f'BIGENV_{i}': f'v{i}' for i in range(3000)}\n\
                env['RAMPART_MODE'] = 'disabled'\n\
                out = subprocess.run(['/usr/bin/env'], env=env, capture_output=True, text=True).stdout\n\
                sys.stdout.write(out)\n";
    let out = output(case.cmd(python3()).arg("-c").arg(prog));
    assert_success(&out);
    let got = stdout(&out);
    let lines: Vec<&str> = got.lines().collect();
    let big = lines.iter().filter(|l| l.starts_with("BIGENV_")).count();
    assert_eq!(big, 3000, "{}", stderr(&out));
    assert!(lines.contains(&"BIGENV_2999=v2999"));
    let lib = e2e::hook_lib().to_str().unwrap().to_string();
    assert!(lines.contains(&format!("LD_PRELOAD={lib}").as_str()));
    assert!(
        !lines.iter().any(|l| l.starts_with("RAMPART_MODE=")),
        "{got}"
    );
    assert!(lines.contains(&"RAMPART_SESSION=e2e"));
    assert_eq!(case.seen(), vec!["/usr/bin/env".to_string()]);
}

#[test]
fn stripped_environ_before_system_and_popen_is_repaired() {
    let case = Case::new();
    let script = |n: &str| {
        format!(
            "m=marker; touch {}/$m-{n}; {SHOW_ENV} > {}/env-{n}",
            case.dir.path().display(),
            case.dir.path().display()
        )
    };
    let out = output(
        case.cmd(probe("unsetenv_system"))
            .arg(script("denied"))
            .arg(script("denied-popen")),
    );
    assert_success(&out);
    assert!(
        !case.exists("marker-denied"),
        "the shell of system() was still protected"
    );
    assert!(
        !case.exists("marker-denied-popen"),
        "the shell of popen() was still protected"
    );
    let env = std::fs::read_to_string(case.dir.path().join("env-denied")).unwrap();
    assert!(env.contains("RAMPART_SOCKET="), "{env}");
    assert!(
        !env.contains("RAMPART_MODE"),
        "the forged RAMPART_MODE was removed: {env}"
    );
    let seen = case.seen();
    assert!(
        seen.contains(&format!("touch {}", case.path("marker-denied"))),
        "{seen:?}"
    );
    assert!(
        seen.contains(&format!("touch {}", case.path("marker-denied-popen"))),
        "{seen:?}"
    );
}

#[test]
fn co_resident_preload_is_kept_after_ours() {
    let case = Case::new();
    let other = probe_with(
        "other_preload",
        &["-shared", "-fPIC", "-ldl"],
        "libother.so",
    );
    let lib = e2e::hook_lib();
    let mut c = case.cmd("/bin/sh");
    c.arg("-c").arg(format!("env -i /bin/sh -c \"{SHOW_ENV}\""));
    c.env(
        "LD_PRELOAD",
        format!("{}:{}", other.display(), lib.display()),
    );
    let out = output(&mut c);
    assert_success(&out);
    // Ours moved first, the other kept.
    assert!(
        stdout(&out).contains(&format!(
            "LD_PRELOAD={}:{}\n",
            lib.display(),
            other.display()
        )),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("other-preload: execve"),
        "{}",
        stderr(&out)
    );
    assert!(case.seen().iter().any(|s| s == "env"), "{:?}", case.seen());
}

#[test]
fn non_utf8_and_quoted_words_are_sent_per_the_contract() {
    let case = Case::new();
    // argv: touch, "<dir>/marker-allowed it's", a word with invalid UTF-8, an empty word.
    let code = format!(
        "import os, subprocess\nsubprocess.run([b'/usr/bin/touch', {a:?}.encode() + b\" it's\", {a:?}.encode() + b'\\xff\\xfe', b''])\n",
        a = case.path("marker-allowed")
    );
    let out = output(case.cmd(python3()).arg("-c").arg(code));
    assert_success(&out);
    assert!(case.dir.path().join("marker-allowed it's").exists());
    let seen = case.rec.seen();
    assert_eq!(seen.len(), 1);
    let a = case.path("marker-allowed");
    // Invalid bytes arrive as U+00FF U+00FE (upstream's \u00XX escaping).
    assert_eq!(
        seen[0].command,
        format!("/usr/bin/touch '{a} it'\\''s' '{a}\u{ff}\u{fe}' ''")
    );
}

#[test]
fn very_long_argv_is_sent_whole() {
    let case = Case::new();
    // Two 30 000-byte words built by the shell: the request streams past
    // every stack buffer. (Requests over the daemon's 64 KiB body limit are
    // refused locally: docs/RELIABILITY.md, R3.)
    let mut c = case.cmd("bash");
    c.arg("-c")
        .arg("x=$(printf 'a%.0s' {1..30000}); /bin/echo $x $x > /dev/null");
    let out = output(&mut c);
    assert_success(&out);
    let seen = case.seen();
    let word = "a".repeat(30_000);
    assert!(
        seen.len() == 1 && seen[0] == format!("/bin/echo {word} {word}"),
        "unexpected request (lengths {:?})",
        seen.iter().map(String::len).collect::<Vec<_>>()
    );
}

#[test]
fn static_binary_children_are_not_seen() {
    // Documented limitation: LD_PRELOAD cannot enter a static binary, so
    // what it launches is invisible. Its own exec (from a preloaded parent)
    // is still checked.
    let probe = probe_with("static_exec", &["-static"], "static_exec");
    let case = Case::with_rule(|s| {
        if s.command.starts_with("touch") && s.command.contains("marker-denied") {
            e2e::Reply::deny("no", "p")
        } else {
            e2e::Reply::allow()
        }
    });
    let out = output(case.cmd("sh").arg("-c").arg(format!(
        "{} {}; true",
        probe.display(),
        case.path("marker-denied")
    )));
    assert_success(&out);
    assert!(
        case.exists("marker-denied"),
        "the static binary's exec was not intercepted"
    );
    assert_eq!(
        case.seen(),
        vec![format!(
            "{} {}",
            probe.display(),
            case.path("marker-denied")
        )]
    );
}
