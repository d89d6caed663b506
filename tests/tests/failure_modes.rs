//! What happens when the daemon is absent, refuses, hangs, errs or lies, in
//! enforce / monitor / fail-closed modes (UPSTREAM-SPEC §5.6 failure table).

use e2e::{output, python3, stderr, Case, Recorder, Reply};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `sh -c 'touch <dir>/<name>; true'` under the preload with extra env.
fn touch(case: &Case, name: &str, env: &[(&str, &str)]) -> Output {
    let mut c = case.cmd("sh");
    c.arg("-c").arg(format!("touch {}; true", case.path(name)));
    for (k, v) in env {
        c.env(k, v);
    }
    output(&mut c)
}

fn with_reply(reply: Reply) -> Case {
    Case::with_rule(move |_| reply.clone())
}

/// With `env`, a daemon failure that fails open: `marker-allowed` is touched
/// and stderr says `warning`; then, with `RAMPART_FAIL_OPEN=0` added,
/// `marker-allowed-closed` is not touched. Returns how long the first run took.
#[track_caller]
fn fails_open_unless_closed(case: &Case, env: &[(&str, &str)], warning: &str) -> Duration {
    let start = Instant::now();
    let out = touch(case, "marker-allowed", env);
    let took = start.elapsed();
    assert!(case.exists("marker-allowed"), "must fail open");
    let err = stderr(&out);
    assert!(err.contains(warning), "{err}");
    let mut closed = env.to_vec();
    closed.push(("RAMPART_FAIL_OPEN", "0"));
    touch(case, "marker-allowed-closed", &closed);
    assert!(
        !case.exists("marker-allowed-closed"),
        "must deny with RAMPART_FAIL_OPEN=0"
    );
    took
}

/// A reply the hook must treat as a denial (`what` names it): `marker-allowed`
/// is not touched and stderr says `says`; monitor mode still runs
/// `marker-allowed-monitor`.
#[track_caller]
fn denies_unless_monitor(case: &Case, what: &str, says: &str) {
    let out = touch(case, "marker-allowed", &[]);
    assert!(!case.exists("marker-allowed"), "{what}: must deny");
    let err = stderr(&out);
    assert!(err.contains(says), "{what}: {err}");
    touch(
        case,
        "marker-allowed-monitor",
        &[("RAMPART_MODE", "monitor")],
    );
    assert!(
        case.exists("marker-allowed-monitor"),
        "{what}: monitor mode allows"
    );
}

#[test]
fn absent_daemon_fails_open_at_once_with_one_warning() {
    let case = Case::new();
    let missing = case.dir.path().join("nobody.sock");
    let start = Instant::now();
    let mut c = case.cmd("sh");
    c.arg("-c").arg(format!(
        "touch {a}-1; touch {a}-2; touch {a}-3",
        a = case.path("marker-allowed")
    ));
    c.env("RAMPART_SOCKET", &missing);
    let out = output(&mut c);
    assert!(start.elapsed() < Duration::from_secs(2));
    for i in 1..=3 {
        assert!(case.exists(&format!("marker-allowed-{i}")));
    }
    let warnings = stderr(&out)
        .matches("rampart: warning: the policy daemon socket does not exist")
        .count();
    // One per process: sh's three children each warn once.
    assert_eq!(warnings, 3, "{}", stderr(&out));
    let quiet = output(c.env("RAMPART_QUIET", "1"));
    assert!(stderr(&quiet).is_empty(), "{}", stderr(&quiet));
}

#[test]
fn absent_daemon_fail_closed_denies() {
    let case = Case::new();
    let missing = case.dir.path().join("nobody.sock");
    let missing = missing.to_str().unwrap();
    let out = touch(
        &case,
        "marker-allowed",
        &[("RAMPART_SOCKET", missing), ("RAMPART_FAIL_OPEN", "0")],
    );
    assert!(!case.exists("marker-allowed"));
    assert!(
        stderr(&out).contains("rampart: blocked touch"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("does not exist"));
}

/// The hook gathers the working directory and parent pid only once the
/// daemon is reachable, except near the 64 KiB request limit: a command that
/// is too large to ask about is refused in enforce mode whether or not a
/// daemon would have answered, as before.
#[test]
fn an_oversized_command_is_refused_even_with_no_daemon() {
    let case = Case::new();
    let missing = case.dir.path().join("nobody.sock");
    let code = r#"
import subprocess, sys
for name, size in (("marker-allowed-near-limit", 30000), ("marker-denied-oversized", 70000)):
    try:
        subprocess.run(["/bin/sh", "-c", 'touch "$0"', sys.argv[1] + "/" + name, "a" * size])
    except OSError as e:
        print(name, type(e).__name__)
"#;
    let mut c = case.cmd(python3());
    c.args(["-c", code, &case.path("")])
        .env("RAMPART_SOCKET", &missing)
        .env("RAMPART_QUIET", "1");
    let out = output(&mut c);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        case.exists("marker-allowed-near-limit"),
        "a large command under the limit fails open: {said}"
    );
    assert!(
        !case.exists("marker-denied-oversized"),
        "a command over the limit is refused without a daemon"
    );
    assert!(
        said.contains("marker-denied-oversized PermissionError"),
        "{said}"
    );
}

#[test]
fn refused_connection_fails_open() {
    let case = Case::new();
    let path = case.dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let p = path.to_str().unwrap();
    fails_open_unless_closed(&case, &[("RAMPART_SOCKET", p)], "refused the connection");
}

#[test]
fn daemon_that_read_the_request_is_given_the_ask_timeout() {
    // It read the request (as a daemon holding an ask does) and never
    // answers: the hook waits RAMPART_ASK_TIMEOUT_MS, not the short timeout,
    // then follows the fail-open switch.
    let case = with_reply(Reply::Hang);
    let slow = [
        ("RAMPART_TIMEOUT_MS", "200"),
        ("RAMPART_ASK_TIMEOUT_MS", "800"),
    ];
    let took = fails_open_unless_closed(&case, &slow, "did not answer in time");
    assert!(took >= Duration::from_millis(800), "{took:?}");
    assert!(took < Duration::from_millis(3000), "{took:?}");
}

#[test]
fn held_ask_answered_after_the_short_timeout_is_obeyed() {
    let case = Case::with_rule(|s| {
        let verdict = if s.command.contains("marker-denied") {
            Reply::deny("human said no", "ask")
        } else {
            Reply::allow()
        };
        Reply::Delay(Duration::from_millis(600), Box::new(verdict))
    });
    let start = Instant::now();
    touch(&case, "marker-allowed", &[("RAMPART_TIMEOUT_MS", "150")]);
    touch(&case, "marker-denied", &[("RAMPART_TIMEOUT_MS", "150")]);
    assert!(start.elapsed() >= Duration::from_millis(1200));
    assert!(case.exists("marker-allowed"));
    assert!(
        !case.exists("marker-denied"),
        "a late human 'no' must not turn into fail-open"
    );
}

#[test]
fn sigstopped_daemon_process_returns_within_the_timeout() {
    let case = Case::new();
    let sock = case.dir.path().join("stopped.sock");
    // A listener in another process that never accepts; then SIGSTOP it.
    let mut server = Command::new(python3())
        .arg("-c")
        .arg(format!(
            "import socket,time\ns=socket.socket(socket.AF_UNIX)\ns.bind({:?})\ns.listen(64)\nprint('ready',flush=True)\ntime.sleep(60)\n",
            sock.to_str().unwrap()
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    // SAFETY-free: plain kill(2) via the libc crate on our own child.
    let pid = server.id() as i32;
    assert_eq!(unsafe_kill(pid, libc::SIGSTOP), 0);
    let start = Instant::now();
    touch(
        &case,
        "marker-allowed",
        &[
            ("RAMPART_SOCKET", sock.to_str().unwrap()),
            ("RAMPART_TIMEOUT_MS", "250"),
        ],
    );
    let took = start.elapsed();
    unsafe_kill(pid, libc::SIGKILL);
    let _ = server.wait();
    assert!(took < Duration::from_millis(2000), "{took:?}");
    assert!(case.exists("marker-allowed"));
}

fn unsafe_kill(pid: i32, sig: i32) -> i32 {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) }
}

#[test]
fn server_error_follows_the_fail_open_switch() {
    let case = with_reply(Reply::Status(503, "{\"error\":\"down\"}".into()));
    fails_open_unless_closed(&case, &[], "rampart: warning");
}

#[test]
fn auth_failure_denies_even_when_failing_open() {
    for code in [401u16, 403] {
        let case = with_reply(Reply::Status(code, "{\"error\":\"unauthorized\"}".into()));
        denies_unless_monitor(&case, &code.to_string(), "rejected our credentials");
    }
}

#[test]
fn malformed_deceptive_and_oversized_replies_deny() {
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "not json",
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello".to_vec(),
        ),
        (
            "allowed inside a string",
            http_200(r#"{"message":"\"allowed\":true","decision":"deny"}"#),
        ),
        (
            "duplicate allowed",
            http_200(r#"{"allowed":true,"allowed":false}"#),
        ),
        ("allowed as a string", http_200(r#"{"allowed":"true"}"#)),
        ("trailing data", http_200(r#"{"allowed":true} {}"#)),
        (
            "202 status",
            b"HTTP/1.1 202 Accepted\r\ncontent-length: 16\r\n\r\n{\"allowed\":true}".to_vec(),
        ),
        ("oversized", {
            let body = format!("{{\"allowed\":true,\"pad\":\"{}\"}}", "x".repeat(70_000));
            http_200(&body)
        }),
        ("garbage status line", b"SPDY/9 what\r\n\r\n".to_vec()),
    ];
    for (what, raw) in bodies {
        let case = with_reply(Reply::Raw(raw));
        denies_unless_monitor(&case, what, "rampart: blocked");
    }
}

fn http_200(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn large_but_valid_reply_is_accepted() {
    let body = format!("{{\"pad\":\"{}\",\"allowed\":true}}", "y".repeat(60_000));
    let case = with_reply(Reply::Raw(http_200(&body)));
    touch(&case, "marker-allowed", &[]);
    assert!(case.exists("marker-allowed"));
}

#[test]
fn monitor_mode_runs_denied_commands_but_still_asks() {
    let case = Case::new();
    let out = touch(&case, "marker-denied", &[("RAMPART_MODE", "monitor")]);
    assert!(case.exists("marker-denied"));
    assert!(!stderr(&out).contains("blocked"));
    assert_eq!(case.seen(), vec![case.touch("marker-denied")]);
}

#[test]
fn disabled_mode_does_not_ask() {
    let case = Case::new();
    touch(&case, "marker-denied", &[("RAMPART_MODE", "disabled")]);
    assert!(case.exists("marker-denied"));
    assert!(case.seen().is_empty());
}

#[test]
fn ask_waits_past_the_short_deadline_after_102_processing() {
    let case = with_reply(Reply::Interim(
        Duration::from_millis(700),
        Box::new(Reply::allow()),
    ));
    let start = Instant::now();
    touch(&case, "marker-allowed", &[("RAMPART_TIMEOUT_MS", "200")]);
    assert!(start.elapsed() >= Duration::from_millis(700));
    assert!(
        case.exists("marker-allowed"),
        "the human said yes after the short deadline"
    );
    let case = with_reply(Reply::Interim(
        Duration::from_millis(100),
        Box::new(Reply::deny("human said no", "ask")),
    ));
    touch(&case, "marker-allowed", &[]);
    assert!(!case.exists("marker-allowed"));
}

/// Python that forks and `execv`s argv[1] with argv[2] as its argument, from
/// the working directory it was started in.
const FORK_EXECV: &str = "import os, sys\n\
                          pid = os.fork()\n\
                          if pid == 0:\n    os.execv(sys.argv[1], [sys.argv[1], sys.argv[2]])\n\
                          os.waitpid(pid, 0)\n";

/// Writes `dir/mark.sh`, an executable script that touches its argument.
fn write_mark_script(dir: &std::path::Path) {
    let script = dir.join("mark.sh");
    std::fs::write(&script, "#!/bin/sh\ntouch \"$1\"\n").unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();
}

#[test]
fn a_relative_executable_is_sent_resolved_against_the_working_directory() {
    // `./x`, `sub/x` and `x` from the case directory: resolved_path is the
    // directory joined with the path (without `./`), the command as given.
    let case = Case::new();
    let sub = case.dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    for dir in [case.dir.path(), sub.as_path()] {
        write_mark_script(dir);
    }
    let prog = FORK_EXECV;
    let marks = ["marker-dot", "marker-sub", "marker-bare"];
    for (exe, mark) in ["./mark.sh", "sub/mark.sh", "mark.sh"].iter().zip(marks) {
        let mut c = case.cmd(python3());
        c.arg("-c").arg(prog).arg(exe).arg(case.path(mark));
        let out = output(&mut c);
        assert!(out.status.success(), "{exe}: {}", stderr(&out));
        assert!(case.exists(mark), "{exe} did not run");
    }
    let cwd = std::fs::canonicalize(case.dir.path()).unwrap();
    let cwd = cwd.to_str().unwrap();
    // The scripts' own `touch` is asked about too; keep the scripts' execs.
    let seen = case.rec.seen_where(|s| s.command.contains("mark.sh"));
    let resolved: Vec<&str> = seen
        .iter()
        .map(|s| s.body["params"]["resolved_path"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        resolved,
        [
            format!("{cwd}/mark.sh"),
            format!("{cwd}/sub/mark.sh"),
            format!("{cwd}/mark.sh"),
        ]
    );
    for s in &seen {
        assert_eq!(s.body["params"]["cwd"], cwd);
    }
}

#[test]
fn long_working_directories_are_sent_whole() {
    // The hook reads the working directory into a 512-byte stack store first
    // and retries with a PATH_MAX one when that is too short: for the
    // directory itself (first depth) and for the directory joined with a
    // relative executable (second depth: the directory fits, the join not).
    let case = Case::new();
    let base = std::fs::canonicalize(case.dir.path()).unwrap();
    let base_len = base.as_os_str().len();
    let prog = FORK_EXECV;
    // Directory lengths: well past 512; just under 512 so that `/mark.sh`
    // crosses it; and short, for contrast.
    for (i, want) in [700usize, 506, base_len + 12].into_iter().enumerate() {
        let mut dir = base.clone();
        let mut len = base_len;
        while len < want {
            let part = "d".repeat((want - len - 1).clamp(1, 100));
            len += 1 + part.len();
            dir.push(part);
        }
        std::fs::create_dir_all(&dir).unwrap();
        write_mark_script(&dir);
        let mark = format!("marker-long-{i}");
        let mut c = case.cmd(python3());
        c.current_dir(&dir)
            .arg("-c")
            .arg(prog)
            .arg("./mark.sh")
            .arg(case.path(&mark));
        let out = output(&mut c);
        assert!(out.status.success(), "{}: {}", dir.display(), stderr(&out));
        assert!(
            case.exists(&mark),
            "mark.sh did not run in {}",
            dir.display()
        );
        let dir = dir.to_str().unwrap();
        let seen = case.rec.seen_where(|s| {
            s.command.starts_with("./mark.sh ") && s.body["params"]["cwd"].as_str() == Some(dir)
        });
        assert_eq!(seen.len(), 1, "{} bytes: {:?}", dir.len(), case.seen());
        assert_eq!(
            seen[0].body["params"]["resolved_path"],
            format!("{dir}/mark.sh")
        );
    }
}

#[test]
fn request_carries_identity_cwd_pid_and_token() {
    let case = Case::new();
    touch(
        &case,
        "marker-allowed",
        &[("RAMPART_AGENT", "tester"), ("RAMPART_TOKEN", "sekrit")],
    );
    let seen = case.rec.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.request_line, "POST /v1/preflight/exec HTTP/1.1");
    assert_eq!(s.header("content-type"), Some("application/json"));
    assert_eq!(s.header("authorization"), Some("Bearer sekrit"));
    let b = &s.body;
    assert_eq!(b["agent"], "tester");
    assert_eq!(b["session"], "e2e");
    assert_eq!(b["enforce"], true);
    assert_eq!(b["wait"], true);
    assert_eq!(b["params"]["command"], case.touch("marker-allowed"));
    assert_eq!(b["params"]["resolved_path"], "/usr/bin/touch");
    let cwd = std::fs::canonicalize(case.dir.path()).unwrap();
    assert_eq!(b["params"]["cwd"], cwd.to_str().unwrap());
    assert!(b["params"]["pid"].as_i64().unwrap() > 1);
    assert!(b["params"]["ppid"].as_i64().unwrap() >= 1);
    // Key order is fixed (agent, session, params, enforce, wait).
    let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5);
}

#[test]
fn loopback_tcp_url_works_like_the_socket() {
    let rec = Recorder::tcp(e2e::deny_marker);
    let case = Case::new();
    let url = format!("http://127.0.0.1:{}", rec.port);
    let mut c = case.cmd("sh");
    c.arg("-c").arg(format!(
        "touch {}; touch {}; true",
        case.path("marker-allowed"),
        case.path("marker-denied")
    ));
    c.env("RAMPART_URL", &url);
    output(&mut c);
    case.assert_markers();
    assert_eq!(rec.commands(), case.touch_pair());
    assert!(case.seen().is_empty(), "the URL wins over the socket");
    // A URL we cannot speak (TLS, hostnames) is a local failure: deny.
    let out = touch(
        &case,
        "marker-allowed-https",
        &[("RAMPART_URL", "https://127.0.0.1:1")],
    );
    assert!(!case.exists("marker-allowed-https"));
    assert!(stderr(&out).contains("RAMPART_URL"), "{}", stderr(&out));
}

#[test]
fn keep_alive_connection_is_reused_by_the_loading_process() {
    let case = Case::new();
    // Python's posix_spawn runs in the process that loaded the library, so
    // its three checks share one kept-alive connection.
    let code = format!(
        "import os\nfor i in range(3):\n    pid = os.posix_spawn('/usr/bin/touch', ['touch', {a:?} + str(i)], os.environ)\n    os.waitpid(pid, 0)\n",
        a = case.path("marker-allowed-")
    );
    output(case.cmd(python3()).arg("-c").arg(code));
    for i in 0..3 {
        assert!(case.exists(&format!("marker-allowed-{i}")));
    }
    let seen = case.rec.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|s| s.header("connection") == Some("keep-alive")));
    assert_eq!(case.rec.connections(), 1, "one connection for three checks");
}

#[test]
fn debug_lines_never_contain_the_command() {
    let case = Case::new();
    let out = touch(
        &case,
        "marker-denied",
        &[("RAMPART_DEBUG", "1"), ("RAMPART_QUIET", "1")],
    );
    let err = stderr(&out);
    let debug: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("[rampart] "))
        .collect();
    // The daemon's refusal, then dash's retry through /bin (same file).
    assert_eq!(
        debug
            .iter()
            .map(|l| l.split(": ").nth(1).unwrap_or_default())
            .collect::<Vec<_>>(),
        [
            "daemon refused -> deny",
            "repeat of the previous denial -> deny"
        ],
        "{err}"
    );
    assert!(debug.iter().all(|l| !l.contains("marker")), "{err}");
}
