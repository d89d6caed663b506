//! The hook against the real daemon (`rampart serve`) with a test policy that
//! denies commands containing `marker-denied`; the audit trail must show what
//! the hook asked.

use e2e::daemon::{healthz, metric, RealDaemon, DENY_MARKER_POLICY};
use e2e::{
    assert_success, clean_env, output, preloaded, python3, scratch, stderr, stdout, workspace_bin,
};
use std::path::Path;
use std::time::Duration;

fn shell_line(dir: &Path) -> String {
    // The line itself does not contain the denied word; the shell builds it.
    format!(
        "touch {d}/marker-allowed; m=marker; touch {d}/$m-denied; echo end",
        d = dir.display()
    )
}

#[test]
fn bash_dash_and_python_against_the_real_daemon() {
    let dir = scratch();
    let daemon = RealDaemon::start(dir.path(), DENY_MARKER_POLICY);
    let a = dir.path().join("marker-allowed");
    let d = dir.path().join("marker-denied");
    for shell in ["bash", "dash"] {
        let out = output(
            preloaded(shell, &daemon.socket)
                .arg("-c")
                .arg(shell_line(dir.path())),
        );
        assert_success(&out);
        assert!(
            a.exists(),
            "{shell}: allowed command did not run: {}",
            stderr(&out)
        );
        assert!(!d.exists(), "{shell}: denied command ran");
        assert!(
            stderr(&out).contains("rampart: blocked touch"),
            "{shell}: {}",
            stderr(&out)
        );
        std::fs::remove_file(&a).unwrap();
    }
    let code = format!(
        "import subprocess\nsubprocess.run(['sh', '-c', {:?}], env={{}})\n",
        shell_line(dir.path())
    );
    let out = output(preloaded(python3(), &daemon.socket).arg("-c").arg(code));
    assert_success(&out);
    assert!(a.exists() && !d.exists());

    // The audit trail saw the allowed and the denied touches of all three runs.
    std::thread::sleep(Duration::from_millis(200));
    let audited = daemon.audited_commands();
    let allowed = format!("touch {}", a.display());
    let denied = format!("touch {}", d.display());
    assert_eq!(
        audited.iter().filter(|c| **c == allowed).count(),
        3,
        "{audited:?}"
    );
    assert_eq!(
        audited.iter().filter(|c| **c == denied).count(),
        3,
        "{audited:?}"
    );
}

#[test]
fn launcher_starts_the_daemon_on_demand() {
    let dir = scratch();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, DENY_MARKER_POLICY).unwrap();
    let sock = dir.path().join("auto.sock");
    let mut c = std::process::Command::new(workspace_bin("rampart-preload"));
    clean_env(&mut c);
    let out = output(
        c.env("HOME", &home)
            .env("RAMPART_LIB", e2e::hook_lib())
            .env("RAMPART_SOCKET", &sock)
            .arg("--config")
            .arg(&policy)
            .args(["--", "sh", "-c"])
            .arg(shell_line(dir.path())),
    );
    let pid_file = home.join(".rampart/serve.pid");
    let pid: Option<i32> = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|p| p.trim().parse().ok());
    let answered = healthz(&sock);
    if let Some(pid) = pid {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    assert_success(&out);
    assert!(pid.is_some(), "no {}: {}", pid_file.display(), stderr(&out));
    assert!(answered, "the daemon the launcher started does not answer");
    assert!(dir.path().join("marker-allowed").exists());
    assert!(!dir.path().join("marker-denied").exists());
}

/// The hook's poll-before-sleep (`RAMPART_SPIN_US`) and the daemon's
/// (`serve --spin-us`) only change when each side notices the other's bytes:
/// every setting, including off and a budget far above the answer time, gives
/// the same decisions, and an answer slower than the budget is still read
/// (the hook falls back to sleeping in `poll`).
#[test]
fn spin_settings_change_no_decision() {
    let dir = scratch();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, DENY_MARKER_POLICY).unwrap();
    for daemon_spin in ["0", "300", "5000"] {
        let sub = dir.path().join(format!("d{daemon_spin}"));
        std::fs::create_dir_all(&sub).unwrap();
        let (mut child, socket) = e2e::daemon::spawn_serve(
            &sub,
            &sub.join("home"),
            &[
                "--config".as_ref(),
                policy.as_ref(),
                "--spin-us".as_ref(),
                daemon_spin.as_ref(),
            ],
        );
        for hook_spin in ["0", "1", "200", "10000"] {
            let a = sub.join("marker-allowed");
            let d = sub.join("marker-denied");
            let out = output(
                preloaded("bash", &socket)
                    .env("RAMPART_SPIN_US", hook_spin)
                    .arg("-c")
                    .arg(shell_line(&sub)),
            );
            let what = format!("daemon --spin-us {daemon_spin}, RAMPART_SPIN_US={hook_spin}");
            assert_success(&out);
            assert!(
                a.exists(),
                "{what}: allowed command did not run: {}",
                stderr(&out)
            );
            assert!(!d.exists(), "{what}: denied command ran");
            assert!(
                stderr(&out).contains("rampart: blocked touch"),
                "{what}: {}",
                stderr(&out)
            );
            std::fs::remove_file(&a).unwrap();
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// An answer that takes far longer than the hook's spin budget is still
/// waited for and obeyed.
#[test]
fn answer_slower_than_the_spin_budget_is_obeyed() {
    let case = e2e::Case::with_rule(|seen| {
        std::thread::sleep(Duration::from_millis(30));
        e2e::deny_marker(seen)
    });
    let [allowed, denied] = case.touch_pair();
    let out = output(
        case.cmd("bash")
            .env("RAMPART_SPIN_US", "100")
            .arg("-c")
            .arg(format!("{allowed}; {denied}; echo end")),
    );
    assert_success(&out);
    case.assert_markers();
}

#[test]
fn forked_children_ask_on_the_datagram_lane_and_what_it_cannot_take_goes_to_the_stream() {
    let dir = scratch();
    let daemon = RealDaemon::start(dir.path(), DENY_MARKER_POLICY);
    let lane = "rampart_datagram_answers_total";
    let stream = "rampart_accept_thread_answers_total";
    assert!(dir.path().join("d.sock.dgram").exists());
    // bash forks for each command: its children ask by datagram. The third
    // command is too long for one datagram (2 KiB): the hook asks on the
    // stream socket instead, and it is still decided (denied).
    let long = "x".repeat(3_000);
    let line = format!(
        "touch {d}/marker-allowed; m=marker; touch {d}/$m-denied; \
         touch {d}/$m-denied-long {d}/{long}-never; echo end",
        d = dir.path().display()
    );
    let out = output(preloaded("bash", &daemon.socket).arg("-c").arg(&line));
    assert_success(&out);
    assert!(stdout(&out).contains("end"));
    assert!(dir.path().join("marker-allowed").exists());
    assert!(!dir.path().join("marker-denied").exists());
    assert!(!dir.path().join("marker-denied-long").exists());
    let err = stderr(&out);
    assert_eq!(err.matches("rampart: blocked touch").count(), 2, "{err}");
    assert_eq!(metric(&daemon.socket, lane), 2, "the two short touches");
    // bash itself (the process that loaded the library) execs nothing here;
    // the long question came over the stream.
    assert_eq!(metric(&daemon.socket, stream), 1);
    std::thread::sleep(Duration::from_millis(200));
    let audited = daemon.audited_commands();
    assert_eq!(audited.len(), 3, "each question audited once: {audited:?}");
    assert!(audited[2].ends_with("-never"), "{audited:?}");
}

#[test]
fn the_datagram_lane_answers_a_process_in_another_network_namespace() {
    // Codex runs commands in a network namespace of their own, where the
    // daemon's namespace's abstract addresses do not exist: the answer must
    // come back on the socket pair the hook attached, not to an address.
    let dir = scratch();
    let daemon = RealDaemon::start(dir.path(), DENY_MARKER_POLICY);
    let unshare = [&["--net"][..], &["-rn"][..]].into_iter().find(|args| {
        std::process::Command::new("unshare")
            .args(*args)
            .arg("true")
            .status()
            .is_ok_and(|s| s.success())
    });
    let Some(args) = unshare else {
        eprintln!("skipped: no network namespace available (unshare --net / -rn refused)");
        return;
    };
    let mut cmd = preloaded("unshare", &daemon.socket);
    let out = output(
        cmd.args(args)
            .args(["bash", "-c"])
            .arg(shell_line(dir.path()))
            .env("RAMPART_TIMEOUT_MS", "5000")
            .env("RAMPART_FAIL_OPEN", "0"),
    );
    assert_success(&out);
    assert!(
        dir.path().join("marker-allowed").exists(),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("marker-denied").exists());
    let err = stderr(&out);
    assert!(err.contains("rampart: blocked touch"), "{err}");
    assert!(!err.contains("did not answer"), "{err}");
    assert!(metric(&daemon.socket, "rampart_datagram_answers_total") >= 2);
}

#[test]
fn socket_files_left_by_a_killed_daemon_fail_at_once_as_refused() {
    let dir = scratch();
    let socket = {
        let daemon = RealDaemon::start(dir.path(), DENY_MARKER_POLICY);
        daemon.socket.clone()
        // dropped: SIGKILL, which leaves both socket files behind
    };
    assert!(socket.exists() && dir.path().join("d.sock.dgram").exists());
    let start = std::time::Instant::now();
    let out = output(
        preloaded("bash", &socket)
            .arg("-c")
            .arg(shell_line(dir.path()))
            .env("RAMPART_FAIL_OPEN", "0")
            .env("RAMPART_TIMEOUT_MS", "5000"),
    );
    let err = stderr(&out);
    assert!(
        err.contains("the policy daemon refused the connection"),
        "{err}"
    );
    assert!(
        !dir.path().join("marker-allowed").exists(),
        "fail-closed: {err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "a dead daemon must not cost the timeout: {:?}",
        start.elapsed()
    );
}
