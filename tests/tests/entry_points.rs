//! Every hooked libc entry point, through small C probes: allowed runs,
//! denied does not happen (and reports the documented error), and the
//! daemon saw exactly one request per call.

use e2e::{assert_success, output, probe, stdout, Case};
use std::path::Path;
use std::process::Output;

const EXEC_APIS: [&str; 9] = [
    "execl", "execle", "execlp", "execv", "execve", "execvp", "execvpe", "fexecve", "execveat",
];

/// `exec_entry <api> <dir>/<marker>` under the preload.
fn entry(case: &Case, probe: &Path, api: &str, marker: &str) -> Output {
    output(case.cmd(probe).arg(api).arg(case.path(marker)))
}

#[test]
fn exec_family_allow_and_deny() {
    let probe = probe("exec_entry");
    for api in EXEC_APIS {
        let case = Case::new();
        assert_success(&entry(&case, &probe, api, "marker-allowed"));
        let out = entry(&case, &probe, api, "marker-denied");
        assert_success(&out);
        assert_eq!(
            stdout(&out).trim(),
            format!("{api} ret=-1 errno=1"),
            "{api}"
        );
        // fexecve reports the descriptor's target (/usr/bin/touch), whose
        // basename equals argv[0], so every API yields the same string.
        case.assert_outcome_for(api, &case.touch_pair());
    }
}

#[test]
fn spawn_family_returns_eperm_on_deny() {
    let probe = probe("exec_entry");
    for api in ["posix_spawn", "posix_spawnp"] {
        let case = Case::new();
        // errno after an allowed spawn is whatever libc leaves (glibc's
        // posix_spawnp leaves its PATH walk's ENOENT): compare with a bare run.
        let bare = output(
            std::process::Command::new(&probe)
                .arg(api)
                .arg(case.path("bare")),
        );
        let out = entry(&case, &probe, api, "marker-allowed");
        assert_success(&out);
        assert_eq!(
            stdout(&out),
            stdout(&bare),
            "{api}: allowed spawn behaves as without the hook"
        );
        let out = entry(&case, &probe, api, "marker-denied");
        assert!(
            stdout(&out).starts_with(&format!("{api} ret=1 ")),
            "{api}: EPERM as the return value"
        );
        case.assert_outcome_for(api, &case.touch_pair());
    }
}

#[test]
fn pidfd_spawnp_without_libc_support_reports_enosys() {
    let probe = probe("exec_entry");
    let case = Case::new();
    let out = entry(&case, &probe, "pidfd_spawnp", "marker-allowed");
    assert_success(&out);
    let text = stdout(&out);
    // glibc < 2.39: our export is found, and says "unsupported" without asking.
    // glibc >= 2.39: the real function runs after the check.
    if text.contains("ret=38") {
        assert!(case.seen().is_empty());
    } else {
        assert_eq!(text.trim(), "pidfd_spawnp ret=0");
        assert_eq!(case.seen(), vec![case.touch("marker-allowed")]);
    }
}

#[test]
fn system_and_popen_check_the_shell_string() {
    let probe = probe("exec_entry");
    let case = Case::new();
    // (api, marker, what it prints): -1/EPERM for system() as if the shell
    // could not run, NULL/EPERM for popen().
    let calls = [
        ("system", "marker-allowed", "system ret=0 errno=0"),
        ("system", "marker-denied", "system ret=-1 errno=1"),
        ("popen", "marker-allowed-2", "popen ret=0 errno=0"),
        ("popen", "marker-denied", "popen ret=null errno=1"),
    ];
    for (api, marker, want) in calls {
        let out = entry(&case, &probe, api, marker);
        assert_eq!(stdout(&out).trim(), want, "{api} {marker}");
    }
    assert!(
        case.exists("marker-allowed")
            && case.exists("marker-allowed-2")
            && !case.exists("marker-denied")
    );
    let a = case.path("marker-allowed");
    let a2 = case.path("marker-allowed-2");
    let d = case.path("marker-denied");
    // The string first, then the shell's own exec of touch (bash/dash exec
    // the single command in place).
    assert_eq!(
        case.seen(),
        vec![
            format!("touch '{a}'"),
            format!("touch {a}"),
            format!("touch '{d}'"),
            format!("touch '{a2}'"),
            format!("touch {a2}"),
            format!("touch '{d}'")
        ]
    );
}

#[test]
fn vfork_children_do_not_disturb_the_parent() {
    let case = Case::new();
    let out = output(
        case.cmd(probe("vfork"))
            .arg("20")
            .arg(case.path("marker-allowed")),
    );
    assert_success(&out);
    assert_eq!(stdout(&out).trim(), "done 0");
    for i in 0..20 {
        assert!(case.exists(&format!("marker-allowed-{i}")));
    }
    assert!(case.exists("marker-allowed-parent"));
    let seen = case.seen();
    assert_eq!(seen.len(), 21, "{seen:?}");
    assert_eq!(
        seen.last().unwrap(),
        &format!("touch {}-parent", case.path("marker-allowed"))
    );
}

#[test]
fn sixteen_thread_forker_loses_no_checks() {
    let case = Case::new();
    let out = output(case.cmd(probe("forker")).args(["16", "10"]));
    assert_success(&out);
    assert_eq!(stdout(&out).trim(), "forked-ok 160 spawned 10");
    let seen = case.seen();
    assert_eq!(seen.len(), 170);
    assert!(
        seen.iter().all(|c| c == "/bin/true" || c == "true"),
        "{seen:?}"
    );
}

#[test]
fn reused_descriptor_numbers_are_not_mistaken_for_the_cached_socket() {
    let case = Case::new();
    let victim = case.dir.path().join("victim.log");
    let out = output(
        case.cmd(probe("fd_reuse"))
            .arg(case.path("marker-allowed-1"))
            .arg(case.path("marker-allowed-2"))
            .arg(&victim),
    );
    assert_success(&out);
    assert_eq!(stdout(&out).trim(), "r1=0 r2=0");
    assert!(case.exists("marker-allowed-1") && case.exists("marker-allowed-2"));
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"",
        "a request was written into the program's file"
    );
    assert_eq!(case.seen().len(), 2);
    assert_eq!(
        case.rec.connections(),
        2,
        "the closed cached socket was replaced by a new connection"
    );
}

#[test]
fn signal_storm_does_not_break_checks() {
    // The daemon answers after 3 ms while SIGALRM fires every millisecond:
    // every poll/recv is interrupted many times.
    let case = Case::with_rule(|_| {
        e2e::Reply::Delay(
            std::time::Duration::from_millis(3),
            Box::new(e2e::Reply::allow()),
        )
    });
    let out = output(case.cmd(probe("sigalrm")).arg("30"));
    assert_success(&out);
    assert_eq!(stdout(&out).trim(), "ok 30 ticks>0 1");
    assert_eq!(case.seen().len(), 30);
}

#[test]
fn a_slow_check_in_one_thread_does_not_block_a_fork_in_another() {
    let case = Case::with_rule(|s| {
        if s.command.ends_with("slow") {
            e2e::Reply::Delay(
                std::time::Duration::from_millis(1000),
                Box::new(e2e::Reply::allow()),
            )
        } else {
            e2e::Reply::allow()
        }
    });
    let out = output(&mut case.cmd(probe("slow_and_fast")));
    assert_success(&out);
    let ms: f64 = stdout(&out)
        .trim()
        .strip_prefix("fast_ms ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        ms < 700.0,
        "the forked child waited for the other thread's check: {ms} ms"
    );
    let mut seen = case.seen();
    seen.sort();
    assert_eq!(seen, ["true fast", "true slow"]);
}
