//! `rampart serve` end to end: the real binary on a temp socket, spoken to over the
//! real Unix socket (and loopback TCP) with a hand-written HTTP/1.1 client.

mod support;

use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn hdr(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[test]
fn healthz_answers_without_auth_on_both_transports() {
    let d = Daemon::start_with(Opts {
        tcp: true,
        ..Default::default()
    });
    for mut c in [d.conn(), d.tcp_conn()] {
        let r = c.request("GET", "/healthz", &[], b"");
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["service"], "rampart");
        assert_eq!(v["status"], "ok");
        assert_eq!(v["mode"], "enforce");
        assert!(v["uptime_seconds"].is_u64());
        assert!(v["version"].is_string());
    }
}

#[test]
fn preflight_answers_allow_deny_ask_watch_per_policy() {
    let d = Daemon::start();
    let mut c = d.conn();
    let cases = [
        ("ls -la", "allow", true, Some("test-allow")),
        ("rm -rf ./marker", "deny", false, Some("test-deny")),
        ("touch ./marker", "ask", false, Some("test-ask")),
        ("cat ./marker", "watch", true, Some("test-watch")),
        ("whoami", "deny", false, None),
    ];
    for (cmd, decision, allowed, policy) in cases {
        let r = c.preflight(cmd, &[]);
        assert_eq!(r.status, 200, "{cmd}");
        let v = r.json();
        assert_eq!(v["decision"], decision, "{cmd}: {v}");
        assert_eq!(v["allowed"], allowed, "{cmd}: {v}");
        assert_eq!(v["enforced"], true);
        assert_eq!(v["enforcement_requested"], true);
        assert!(v["eval_duration_us"].is_u64());
        assert_eq!(v["audit_id"].as_str().map(str::len), Some(26), "{v}");
        match policy {
            Some(p) => {
                assert_eq!(v["policy"], p, "{cmd}: {v}");
                assert!(v["matched_policies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == p));
            }
            None => assert!(v["matched_policies"].is_null(), "{cmd}: {v}"),
        }
    }
    // Exactly one top-level "allowed" key, as the preload's strict scanner requires.
    let r = c.preflight("ls", &[]);
    let text = String::from_utf8(r.body).unwrap();
    assert_eq!(text.matches("\"allowed\"").count(), 1, "{text}");
    assert!(text.starts_with("{\"allowed\":"), "{text}");
}

#[test]
fn preflight_preview_is_not_enforced_and_leading_comments_are_stripped() {
    let d = Daemon::start();
    let mut c = d.conn();
    let r = c.request(
        "POST",
        "/v1/preflight/exec",
        &[],
        br#"{"params":{"command":"rm -rf ./marker"}}"#,
    );
    let v = r.json();
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["enforced"], false);
    assert_eq!(v["enforcement_requested"], false);
    let r = c.preflight("# harmless looking comment\nrm -rf ./marker", &[]);
    assert_eq!(
        r.json()["decision"],
        "deny",
        "comment line must not hide the command"
    );
}

#[test]
fn keep_alive_serves_many_requests_and_connection_close_is_honoured() {
    let d = Daemon::start();
    let mut c = d.conn();
    for _ in 0..50 {
        let r = c.preflight("ls", &[]);
        assert_eq!(r.status, 200);
    }
    let r = c.request("GET", "/healthz", &[hdr("Connection", "close")], b"");
    assert_eq!(r.status, 200);
    assert!(c.is_closed(), "server must close after Connection: close");
}

#[test]
fn tcp_requires_the_admin_token_everywhere_but_healthz() {
    let d = Daemon::start_with(Opts {
        tcp: true,
        ..Default::default()
    });
    let mut c = d.tcp_conn();
    let body = br#"{"params":{"command":"ls"},"enforce":true}"#;
    let r = c.request("POST", "/v1/preflight/exec", &[], body);
    assert_eq!(r.status, 401);
    assert!(r.json()["error"].as_str().unwrap().contains("missing"));
    let r = c.request(
        "POST",
        "/v1/preflight/exec",
        &[hdr("Authorization", "Bearer wrong")],
        body,
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid token");
    for path in ["/v1/approvals", "/metrics"] {
        assert_eq!(c.request("GET", path, &[], b"").status, 401, "{path}");
    }
    let r = c.request("POST", "/v1/preflight/exec", &[d.auth()], body);
    assert_eq!(r.status, 200);
    assert!(r.json()["decision"].is_string());
    assert_eq!(
        c.request("GET", "/v1/approvals", &[d.auth()], b"").status,
        200
    );
}

#[test]
fn unix_socket_state_changes_need_the_admin_token() {
    let d = Daemon::start();
    let mut c = d.conn();
    // Reading needs no token over the 0600 socket.
    assert_eq!(c.request("GET", "/v1/approvals", &[], b"").status, 200);
    assert_eq!(c.request("GET", "/metrics", &[], b"").status, 200);
    // Changing state does.
    assert_eq!(c.request("POST", "/v1/policy/reload", &[], b"").status, 401);
    let r = c.request(
        "POST",
        "/v1/approvals/01ARZ3NDEKTSV4RRFFQ69G5FAV/resolve",
        &[],
        br#"{"approved":true}"#,
    );
    assert_eq!(r.status, 401);
    let r = c.request(
        "POST",
        "/v1/approvals/01ARZ3NDEKTSV4RRFFQ69G5FAV/resolve",
        &[d.auth()],
        br#"{"approved":true}"#,
    );
    assert_eq!(r.status, 404);
}

#[test]
fn bad_requests_get_json_errors_naming_the_field_and_the_connection_survives() {
    let d = Daemon::start();
    let mut c = d.conn();
    let cases: [(&str, &[u8], &str); 9] = [
        ("/v1/preflight/exec", b"{not json", "invalid JSON"),
        (
            "/v1/preflight/exec",
            br#"{"params":{"command":"ls"}} {"x":1}"#,
            "invalid JSON",
        ),
        (
            "/v1/preflight/exec",
            br#"{"agent":"a","params":{}}"#,
            "params.command",
        ),
        (
            "/v1/preflight/exec",
            br#"{"params":{"command":42}}"#,
            "params.command",
        ),
        (
            "/v1/preflight/exec",
            br#"{"params":{"command":"ls"},"enforce":"yes"}"#,
            "enforce",
        ),
        (
            "/v1/preflight/exec",
            br#"{"params":{"command":"ls"},"agent":["x"]}"#,
            "agent",
        ),
        (
            "/v1/preflight/exec",
            br#"{"command":"ls","params":{"command":"rm -rf /"}}"#,
            "conflicting command aliases",
        ),
        (
            "/v1/preflight/Exec",
            br#"{"params":{"command":"ls"}}"#,
            "lower case",
        ),
        (
            "/v1/preflight/bad%20name",
            br#"{"params":{"command":"ls"}}"#,
            "tool name",
        ),
    ];
    for (path, body, needle) in cases {
        let r = c.request("POST", path, &[], body);
        assert_eq!(r.status, 400, "{path} {}", String::from_utf8_lossy(body));
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(e.contains(needle), "{e:?} should mention {needle:?}");
    }
    let r = c.preflight("ls", &[]);
    assert_eq!(r.status, 200, "connection must stay usable after 4xx");
    let r = c.request("GET", "/no/such/route", &[], b"");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
}

#[test]
fn oversized_bodies_are_refused_with_413() {
    let d = Daemon::start();
    let mut c = d.conn();
    let big = format!(
        r#"{{"params":{{"command":"echo {}"}}}}"#,
        "a".repeat(70 * 1024)
    );
    let r = c.request("POST", "/v1/preflight/exec", &[], big.as_bytes());
    assert_eq!(r.status, 413);
    assert!(r.json()["error"].as_str().unwrap().contains("exceeds"));
    // A fresh connection still works.
    assert_eq!(d.conn().preflight("ls", &[]).status, 200);
}

#[test]
fn oversized_headers_are_refused() {
    let d = Daemon::start();
    let mut c = d.conn();
    let huge = "x".repeat(64 * 1024);
    c.send_raw(format!("GET /healthz HTTP/1.1\r\nHost: r\r\nX-Big: {huge}\r\n\r\n").as_bytes());
    // Either an error status, or the connection is closed without an answer.
    if let Some(r) = c.read_response() {
        assert!(r.status == 431 || r.status == 400, "{}", r.status);
    }
    assert_eq!(d.conn().preflight("ls", &[]).status, 200);
}

#[test]
fn monitor_mode_allows_enforced_denials_and_reports_the_original() {
    let d = Daemon::start_with(Opts {
        args: vec!["--mode".into(), "monitor".into()],
        ..Default::default()
    });
    let mut c = d.conn();
    let v = c.preflight("rm -rf ./marker", &[]).json();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["enforced"], false);
    assert_eq!(v["policy_decision"], "deny");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .starts_with("monitor mode observed deny; action allowed"));
    // A preview is not rewritten.
    let v = c
        .request(
            "POST",
            "/v1/preflight/exec",
            &[],
            br#"{"params":{"command":"rm -rf ./x"}}"#,
        )
        .json();
    assert_eq!(v["decision"], "deny");
}

#[test]
fn disabled_mode_allows_everything_without_evaluating() {
    let d = Daemon::start_with(Opts {
        args: vec!["--mode".into(), "disabled".into()],
        ..Default::default()
    });
    let v = d.conn().preflight("rm -rf ./marker", &[]).json();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["message"], "policy evaluation disabled");
}

fn wait_for_metric(d: &Daemon, needle: &str) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        let m = String::from_utf8(d.conn().request("GET", "/metrics", &[], b"").body).unwrap();
        if m.contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_broken_policy_edit_keeps_the_old_policy_and_a_good_one_applies() {
    let d = Daemon::start();
    assert_eq!(
        d.conn().preflight("rm -rf ./m", &[]).json()["decision"],
        "deny"
    );
    // Broken YAML: unknown key.
    std::fs::write(
        &d.policy,
        TEST_POLICY.replace("message: rm is blocked", "mesage: rm is blocked"),
    )
    .unwrap();
    assert!(
        wait_for_metric(&d, "rampart_policy_reloads_total{result=\"error\"} 1"),
        "reload failure not counted: {}",
        d.log_text()
    );
    assert_eq!(
        d.conn().preflight("rm -rf ./m", &[]).json()["decision"],
        "deny"
    );
    assert!(
        d.log_text().contains("policy.yaml:"),
        "error should name file:line: {}",
        d.log_text()
    );
    // A valid edit (rm now allowed) is applied by the watcher.
    std::fs::write(
        &d.policy,
        TEST_POLICY.replace(
            "action: deny\n        when:\n          command_matches: [\"rm *\"]",
            "action: allow\n        when:\n          command_matches: [\"rm *\"]",
        ),
    )
    .unwrap();
    assert!(
        wait_for_metric(&d, "rampart_policy_reloads_total{result=\"ok\"} 1"),
        "{}",
        d.log_text()
    );
    assert_eq!(
        d.conn().preflight("rm -rf ./m", &[]).json()["decision"],
        "allow"
    );
}

#[test]
fn reload_route_and_sighup_reload_with_rate_limit() {
    let d = Daemon::start();
    let mut c = d.conn();
    std::fs::write(&d.policy, "version: \"1\"\npolicies: [\n").unwrap();
    let r = c.request("POST", "/v1/policy/reload", &[d.auth()], b"");
    assert_eq!(r.status, 422);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("previous policy kept"));
    let r = c.request("POST", "/v1/policy/reload", &[d.auth()], b"");
    assert_eq!(
        r.status, 429,
        "second reload within a second is rate limited"
    );
    assert_eq!(c.preflight("ls", &[]).json()["decision"], "allow");
    // A file that parses but holds no policies (half-written) is rejected too.
    std::fs::write(
        &d.policy,
        "version: \"1\"\ndefault_action: allow\npolicies: []\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let r = c.request("POST", "/v1/policy/reload", &[d.auth()], b"");
    assert_eq!(r.status, 422);
    assert!(r.json()["error"].as_str().unwrap().contains("no policies"));
    assert_eq!(c.preflight("rm -rf ./m", &[]).json()["decision"], "deny");
    std::fs::write(&d.policy, TEST_POLICY.replace("[\"ls\", ", "[")).unwrap();
    d.signal("HUP");
    let t0 = Instant::now();
    loop {
        if c.preflight("ls", &[]).json()["decision"] == "deny" {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "SIGHUP reload not applied"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn approvals(c: &mut Conn) -> Vec<Value> {
    c.request("GET", "/v1/approvals", &[], b"").json()["approvals"]
        .as_array()
        .unwrap()
        .clone()
}

fn wait_body(cmd: &str) -> Vec<u8> {
    json!({"agent":"a","session":"s","params":{"command":cmd},"enforce":true,"wait":true})
        .to_string()
        .into_bytes()
}

#[test]
fn ask_with_wait_is_held_until_approved_and_the_asker_cannot_approve() {
    let d = Daemon::start_with(Opts {
        tcp: true,
        ..Default::default()
    });
    let sock = d.socket.clone();
    let waiter = std::thread::spawn(move || {
        let mut c = Conn::new(Box::new(
            std::os::unix::net::UnixStream::connect(sock).unwrap(),
        ));
        let v = c
            .request(
                "POST",
                "/v1/preflight/exec",
                &[],
                &wait_body("touch ./marker-approved"),
            )
            .json();
        assert_eq!(
            c.interim,
            vec![102],
            "a held ask sends 102 Processing first"
        );
        // The connection stays usable after the interim + final response.
        assert_eq!(c.preflight("ls", &[]).status, 200);
        v
    });
    let mut c = d.conn();
    let t0 = Instant::now();
    let id = loop {
        if let Some(a) = approvals(&mut c)
            .into_iter()
            .find(|a| a["status"] == "pending")
        {
            break a["id"].as_str().unwrap().to_string();
        }
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(id.len(), 26);
    // The asking process (this test process) cannot approve over the socket.
    let r = c.request(
        "POST",
        &format!("/v1/approvals/{id}/resolve"),
        &[d.auth()],
        br#"{"approved":true}"#,
    );
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    // Neither can a child process (the CLI run from the asker).
    let out = Command::new(bin())
        .args(["approvals", "allow", &id, "--socket"])
        .arg(&d.socket)
        .arg("--token-file")
        .arg(d.dir.join("token"))
        .env_remove("RAMPART_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot approve"));
    // The CLI lists it.
    let out = Command::new(bin())
        .args(["approvals", "list", "--socket"])
        .arg(&d.socket)
        .arg("--token-file")
        .arg(d.dir.join("token"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    // An operator over TCP with the admin token approves.
    let mut t = d.tcp_conn();
    let r = t.request(
        "POST",
        &format!("/v1/approvals/{id}/resolve"),
        &[d.auth()],
        br#"{"approved":true}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "approved");
    let v = waiter.join().unwrap();
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["approval_id"], id.as_str());
    // Resolving again: 410.
    let r = t.request(
        "POST",
        &format!("/v1/approvals/{id}/resolve"),
        &[d.auth()],
        br#"{"approved":false}"#,
    );
    assert_eq!(r.status, 410);
    let r = t.request(
        "POST",
        "/v1/approvals/01ARZ3NDEKTSV4RRFFQ69G5FAV/resolve",
        &[d.auth()],
        br#"{"approved":false}"#,
    );
    assert_eq!(r.status, 404);
    let r = t.request(
        "POST",
        &format!("/v1/approvals/{id}/resolve"),
        &[d.auth()],
        br#"{"approved":"yes"}"#,
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("approved"));
}

#[test]
fn ask_with_wait_times_out_as_denied_and_without_wait_answers_at_once() {
    let d = Daemon::start_with(Opts {
        args: vec!["--ask-timeout".into(), "1".into()],
        tcp: true,
        ..Default::default()
    });
    let mut c = d.conn();
    let t0 = Instant::now();
    let v = c
        .request(
            "POST",
            "/v1/preflight/exec",
            &[],
            &wait_body("touch ./marker-timeout"),
        )
        .json();
    assert!(t0.elapsed() >= Duration::from_millis(900));
    assert_eq!(v["allowed"], false);
    assert_eq!(v["decision"], "deny");
    assert!(v["message"].as_str().unwrap().contains("timed out"), "{v}");
    assert_eq!(c.interim, vec![102]);
    // Over TCP too (the preload needs the 102 to switch to its long deadline there).
    let mut t = d.tcp_conn();
    let v = t
        .request(
            "POST",
            "/v1/preflight/exec",
            &[d.auth()],
            &wait_body("touch ./marker-timeout-tcp"),
        )
        .json();
    assert_eq!(v["decision"], "deny");
    assert_eq!(t.interim, vec![102]);
    // Without wait: answered at once, not allowed, approval pending.
    let t0 = Instant::now();
    let v = c.preflight("touch ./marker-nowait", &[]).json();
    assert!(t0.elapsed() < Duration::from_millis(900));
    assert_eq!(v["allowed"], false);
    assert_eq!(v["decision"], "ask");
    assert_eq!(v["approval_status"], "pending");
    let id = v["approval_id"].as_str().unwrap().to_string();
    // Approved by an operator, the identical retry is allowed exactly once.
    let r = d.tcp_conn().request(
        "POST",
        &format!("/v1/approvals/{id}/resolve"),
        &[d.auth()],
        br#"{"approved":true}"#,
    );
    assert_eq!(r.status, 200);
    let v = c.preflight("touch ./marker-nowait", &[]).json();
    assert_eq!(v["allowed"], true, "{v}");
    let v = c.preflight("touch ./marker-nowait", &[]).json();
    assert_eq!(v["allowed"], false, "grant is single use: {v}");
}

#[test]
fn socket_is_0600_a_live_socket_is_refused_and_shutdown_removes_it() {
    let mut d = Daemon::start();
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Second daemon on the same socket: refused with a clear error.
    let out = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&d.policy)
        .arg("--socket")
        .arg(&d.socket)
        .arg("--audit-dir")
        .arg(d.dir.join("audit2"))
        .arg("--token-file")
        .arg(d.dir.join("token"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already listening"));
    // Graceful stop: socket removed, audit flushed and verifiable.
    d.conn().preflight("ls", &[]);
    assert!(d.stop());
    assert!(!d.socket.exists());
    let (ok, out) = verify(&d.audit);
    assert!(ok, "{out}");
    assert!(out.contains("1 events"), "{out}");
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), TEST_POLICY).unwrap();
    let sock = dir.path().join("rampart.sock");
    // Bind (and close) the stale socket in a short-lived child process: bound here,
    // the listener would be inherited for a moment by every process another test
    // thread forks, alive until that child execs, and a connect could reach it.
    let made = Command::new("python3")
        .arg("-c")
        .arg("import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])")
        .arg(&sock)
        .status()
        .unwrap();
    assert!(made.success() && sock.exists());
    let d = Daemon::start_in(dir.path(), &[], false);
    assert_eq!(d.conn().preflight("ls", &[]).status, 200);
    assert!(d.log_text().contains("stale socket"));
}

#[test]
fn non_loopback_listen_addresses_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["serve", "--listen", "0.0.0.0:0", "--socket"])
        .arg(dir.path().join("s.sock"))
        .arg("--audit-dir")
        .arg(dir.path().join("a"))
        .arg("--token-file")
        .arg(dir.path().join("t"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("non-loopback"));
}

#[test]
fn socket_activation_through_listen_fds_and_sd_notify_ready() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), TEST_POLICY).unwrap();
    let sock = dir.path().join("activated.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let notify_path = dir.path().join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // Like systemd: the listener is fd 3 and LISTEN_PID is the daemon's own pid. The
    // listener comes in as stdin and the shell moves it to fd 3 before exec.
    // systemd keeps the socket across restarts: so does this test.
    let kept = listener.try_clone().unwrap();
    let start = |fd: std::os::fd::OwnedFd| {
        Command::new("sh")
            .arg("-c")
            .arg("exec 3<&0 0</dev/null; LISTEN_FDS=1 LISTEN_PID=$$ exec \"$0\" serve --config \"$1\" --audit-dir \"$2\" --token-file \"$3\"")
            .arg(bin())
            .arg(dir.path().join("policy.yaml"))
            .arg(dir.path().join("audit"))
            .arg(dir.path().join("token"))
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("RAMPART_TOKEN")
            .stdin(Stdio::from(fd))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut child = start(listener.into());
    let mut buf = [0u8; 64];
    let n = notify.recv(&mut buf).expect("READY=1 from the daemon");
    assert_eq!(&buf[..n], b"READY=1");
    let mut c = Conn::new(Box::new(
        std::os::unix::net::UnixStream::connect(&sock).unwrap(),
    ));
    let r = c.preflight("ls", &[]);
    assert_eq!(r.status, 200);
    assert!(r.json()["decision"].is_string());
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let st = child.wait().unwrap();
    assert!(st.success());
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(
        sock.exists(),
        "an activated socket belongs to systemd and is kept"
    );
    // ...and still works: a daemon started again on it serves the socket.
    let child = start(kept.into());
    let n = notify
        .recv(&mut buf)
        .expect("READY=1 from the second daemon");
    assert_eq!(&buf[..n], b"READY=1");
    let mut c = Conn::new(Box::new(
        std::os::unix::net::UnixStream::connect(&sock).unwrap(),
    ));
    assert_eq!(c.preflight("ls", &[]).status, 200);
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_count_decisions_and_expose_the_latency_histogram() {
    let d = Daemon::start();
    let mut c = d.conn();
    for _ in 0..3 {
        c.preflight("rm -rf ./m", &[]);
    }
    c.request("POST", "/v1/preflight/exec", &[], b"{");
    let m = String::from_utf8(c.request("GET", "/metrics", &[], b"").body).unwrap();
    assert!(
        m.contains("rampart_decisions_total{action=\"deny\"} 3"),
        "{m}"
    );
    assert!(
        m.contains("rampart_decision_duration_seconds_count 3"),
        "{m}"
    );
    assert!(m.contains("rampart_bad_requests_total 1"), "{m}");
    assert!(m.contains("rampart_audit_write_errors_total 0"), "{m}");
    assert!(
        m.contains("rampart_policy_reloads_total{result=\"error\"} 0"),
        "{m}"
    );
}

#[test]
fn token_show_and_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let tf = dir.path().join("token");
    let show = || {
        let out = Command::new(bin())
            .args(["token", "show", "--token-file"])
            .arg(&tf)
            .env_remove("RAMPART_TOKEN")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let t1 = show();
    assert_eq!(t1.len(), 64);
    assert_eq!(show(), t1);
    assert_eq!(
        std::fs::metadata(&tf).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let out = Command::new(bin())
        .args(["token", "rotate", "--token-file"])
        .arg(&tf)
        .output()
        .unwrap();
    assert!(out.status.success());
    let t2 = show();
    assert_ne!(t1, t2);
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), t2);
}

#[test]
fn preload_wire_contract_request_is_understood() {
    // Byte-for-byte the body our preload client sends, on one kept-alive connection.
    let d = Daemon::start();
    let mut c = d.conn();
    let body = br#"{"agent":"preload","session":"preload-77","params":{"command":"ls -l","cwd":"/tmp","resolved_path":"/usr/bin/ls","pid":77,"ppid":1},"enforce":true,"wait":true}"#;
    for _ in 0..3 {
        let r = c.request("POST", "/v1/preflight/exec", &[], body);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v = r.json();
        assert_eq!(v["allowed"], true, "{v}");
    }
    let ev = events(&d.audit);
    let last = ev.last().unwrap();
    assert_eq!(last["request"]["resolved_path"], "/usr/bin/ls");
    assert_eq!(last["request"]["pid"], 77);
    assert_eq!(last["peer"]["transport"], "unix");
    assert_eq!(last["peer"]["pid"], std::process::id());
    let _ = std::io::stdout().flush();
}

#[test]
fn socket_group_makes_the_socket_0660_with_that_group() {
    let gid = std::os::unix::fs::MetadataExt::gid(&std::fs::metadata("/proc/self").unwrap());
    let d = Daemon::start_with(Opts {
        args: vec!["--socket-group".into(), gid.to_string()],
        ..Default::default()
    });
    let m = std::fs::metadata(&d.socket).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o660);
    assert_eq!(std::os::unix::fs::MetadataExt::gid(&m), gid);
}

#[test]
fn operator_cli_denies_an_approval_asked_by_another_process() {
    let d = Daemon::start_with(Opts {
        tcp: true,
        ..Default::default()
    });
    // Asked over TCP: no peer pid, so the CLI (a child of this test) is not related.
    let v = d
        .tcp_conn()
        .preflight("touch ./marker-cli", &[d.auth()])
        .json();
    assert_eq!(v["decision"], "ask");
    let id = v["approval_id"].as_str().unwrap().to_string();
    let cli = |verb: &str, id: &str| {
        Command::new(bin())
            .args(["approvals", verb, id, "--socket"])
            .arg(&d.socket)
            .arg("--token-file")
            .arg(d.dir.join("token"))
            .env_remove("RAMPART_TOKEN")
            .env_remove("RAMPART_SESSION")
            .output()
            .unwrap()
    };
    let out = cli("deny", &id);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli("allow", &id);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("410"));
    let list = approvals(&mut d.conn());
    let item = list.iter().find(|a| a["id"] == id.as_str()).unwrap();
    assert_eq!(item["status"], "denied");
    assert_eq!(item["resolved_by"], "cli");
    // The resolution is in the audit trail.
    let ev = events(&d.audit);
    assert!(
        ev.iter()
            .any(|e| e["kind"] == "approval_resolution"
                && e["decision"]["approval_id"] == id.as_str())
    );
}

/// The preload's preflight request for `command`, split after its first header
/// line: sending only the first part leaves a request in flight.
fn split_preflight(command: &str) -> (Vec<u8>, Vec<u8>) {
    let body = json!({
        "agent": "test-agent",
        "session": "test-session",
        "params": {"command": command, "cwd": "/tmp", "pid": 1234, "ppid": 1},
        "enforce": true
    })
    .to_string();
    let head = b"POST /v1/preflight/exec HTTP/1.1\r\nHost: rampart\r\n".to_vec();
    let rest = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    (head, rest)
}

#[test]
fn connections_beyond_the_limit_wait_while_every_slot_has_a_request_in_flight() {
    let d = Daemon::start_with(Opts {
        args: vec!["--max-connections".into(), "2".into()],
        ..Default::default()
    });
    // Start-up probing used connections that are now closed; take both slots with
    // requests that are still being received (never closed to make room).
    std::thread::sleep(Duration::from_millis(200));
    let (head, rest) = split_preflight("ls");
    let mut a = d.conn();
    let mut b = d.conn();
    a.send_raw(&head);
    b.send_raw(&head);
    let sock = d.socket.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut c = Conn::new(Box::new(
            std::os::unix::net::UnixStream::connect(sock).unwrap(),
        ));
        tx.send(c.preflight("ls", &[]).status).unwrap();
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "third connection must not be served while two requests are in flight"
    );
    // `a` finishes its request and goes idle: the waiting client is admitted.
    a.send_raw(&rest);
    assert_eq!(a.read_response().unwrap().status, 200);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 200);
    // `b` kept its slot and its request.
    b.send_raw(&rest);
    assert_eq!(b.read_response().unwrap().status, 200);
}

#[test]
fn idle_connections_are_closed_to_admit_a_new_client_at_the_limit() {
    let d = Daemon::start_with(Opts {
        args: vec!["--max-connections".into(), "2".into()],
        ..Default::default()
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut a = d.conn();
    let mut b = d.conn();
    assert_eq!(a.preflight("ls", &[]).status, 200);
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(b.preflight("ls", &[]).status, 200);
    // Both slots are held by kept-alive connections between requests.
    let t = Instant::now();
    let mut c = d.conn();
    assert_eq!(c.preflight("git status", &[]).status, 200);
    let waited = t.elapsed();
    assert!(
        waited < Duration::from_secs(1),
        "new client waited {waited:?} behind idle connections"
    );
    // The longest idle one (`a`) was closed; `b` still works.
    assert!(a.is_closed(), "the longest-idle connection is closed");
    let mut c2 = d.conn();
    let waiter = std::thread::spawn(move || c2.preflight("ls", &[]).status);
    assert_eq!(b.preflight("ls", &[]).status, 200);
    assert_eq!(waiter.join().unwrap(), 200);
    let mut m = d.conn();
    let text = String::from_utf8(m.request("GET", "/metrics", &[], b"").body).unwrap();
    let evicted: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("rampart_connections_evicted_total "))
        .expect("eviction counter")
        .parse()
        .unwrap();
    assert!(evicted >= 2, "{text}");
}

#[test]
fn shutdown_finishes_a_request_in_flight_and_closes_idle_connections() {
    let mut d = Daemon::start();
    let mut idle = d.conn();
    assert_eq!(idle.preflight("ls", &[]).status, 200);
    let _never_used = d.conn();
    let (head, rest) = split_preflight("ls");
    let mut busy = d.conn();
    busy.send_raw(&head);
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    d.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    // The idle kept-alive connection is closed at once ...
    assert!(idle.is_closed());
    // ... the request in flight is still answered ...
    busy.send_raw(&rest);
    let r = busy.read_response().expect("answer after SIGTERM");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["allowed"], true);
    // ... and the daemon exits well before the 10 s drain limit (the never-used
    // connection does not hold it up), removing its socket.
    assert!(d.stop());
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert!(!d.socket.exists());
    let (ok, out) = verify(&d.audit);
    assert!(ok, "{out}");
    assert!(out.contains("2 events"), "{out}");
}

#[test]
fn an_idle_daemon_is_not_woken_by_its_own_timers() {
    let d = Daemon::start();
    let close = [hdr("Connection", "close")];
    for _ in 0..5 {
        assert_eq!(d.conn().preflight("ls", &close).status, 200);
    }
    // Let the group commit and the side files settle (they are rewritten at most
    // once a second), then count how often any of the daemon's threads went to
    // sleep and woke again over a quiet second.
    std::thread::sleep(Duration::from_millis(1400));
    let switches = || -> u64 {
        let tasks = format!("/proc/{}/task", d.child.id());
        std::fs::read_dir(tasks)
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
            .flat_map(|status| {
                status
                    .lines()
                    .filter_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                    .map(|v| v.trim().parse::<u64>().unwrap())
                    .collect::<Vec<_>>()
            })
            .sum()
    };
    let before = switches();
    std::thread::sleep(Duration::from_secs(1));
    let woken = switches() - before;
    // The audit sync thread used to wake every 10 ms: about 100 here.
    assert!(woken <= 10, "{woken} wake-ups in an idle second");
    // The checkpoint caught up before the quiet spell.
    let state: Value =
        serde_json::from_slice(&std::fs::read(d.audit.join(".audit-chain-state.json")).unwrap())
            .unwrap();
    assert_eq!(state["event_count"], 5, "{state}");
}

/// A counter from `/metrics` (0 when absent).
fn metric(d: &Daemon, name: &str) -> u64 {
    let m = String::from_utf8(d.conn().request("GET", "/metrics", &[], b"").body).unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// The answer without what differs between two evaluations of the same call.
fn comparable(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    assert_eq!(
        o.remove("audit_id").and_then(|a| a.as_str().map(str::len)),
        Some(26)
    );
    assert!(o.remove("eval_duration_us").unwrap().is_u64());
    v
}

/// The general route's answer: head and body in two writes, which the direct
/// path passes on to hyper.
fn general_preflight(d: &Daemon, cmd: &str) -> Resp {
    let (head, rest) = split_preflight(cmd);
    let mut c = d.conn();
    c.send_raw(&head);
    std::thread::sleep(Duration::from_millis(30));
    c.send_raw(&rest);
    c.read_response().expect("answer")
}

#[test]
fn plain_requests_are_answered_directly_exactly_like_the_general_route() {
    let d = Daemon::start();
    let cases = [
        ("ls -la", "allow"),
        ("rm -rf ./marker", "deny"),
        ("cat ./marker", "watch"),
        ("whoami", "deny"),
    ];
    let mut kept = d.conn();
    for (cmd, decision) in cases {
        let general = general_preflight(&d, cmd);
        assert_eq!(general.status, 200, "{cmd}");
        // What the preload library sends from a forked child: one request, closing.
        let mut c = d.conn();
        let once = c.preflight(cmd, &[hdr("Connection", "close")]);
        assert_eq!(once.status, 200, "{cmd}");
        assert_eq!(once.header("connection"), Some("close"), "{cmd}");
        assert_eq!(once.header("content-type"), Some("application/json"));
        assert!(once.header("date").is_some());
        assert!(
            c.is_closed(),
            "{cmd}: the daemon closes after a one-shot answer"
        );
        // And from the process that loaded it: a kept-alive connection.
        let again = kept.preflight(cmd, &[]);
        assert_eq!(again.header("connection"), None, "{cmd}");
        for r in [&once, &again] {
            let text = String::from_utf8(r.body.clone()).unwrap();
            assert!(text.starts_with("{\"allowed\":"), "{text}");
            assert_eq!(r.json()["decision"], decision, "{cmd}");
            assert_eq!(comparable(r.json()), comparable(general.json()), "{cmd}");
        }
    }
    assert_eq!(metric(&d, "rampart_direct_answers_total"), 8);
    assert_eq!(metric(&d, "rampart_decisions_total{action=\"deny\"}"), 6);
    // Every decision is in the chain, the direct ones with their peer.
    let ev = events(&d.audit);
    assert_eq!(ev.len(), 12, "{ev:?}");
    for three in ev.chunks(3) {
        for e in &three[1..] {
            assert_eq!(e["request"], three[0]["request"]);
            assert_eq!(e["decision"]["action"], three[0]["decision"]["action"]);
            assert_eq!(e["peer"]["transport"], "unix");
            assert_eq!(e["peer"]["pid"], std::process::id());
        }
    }
    assert!(verify(&d.audit).0);
}

#[test]
fn a_kept_alive_connection_moves_to_the_general_server_at_the_first_other_request() {
    let d = Daemon::start();
    let mut c = d.conn();
    for _ in 0..3 {
        assert_eq!(c.preflight("ls", &[]).json()["decision"], "allow");
    }
    assert_eq!(metric(&d, "rampart_direct_answers_total"), 3);
    // Another route on the same connection: hyper takes the connection over...
    assert_eq!(c.request("GET", "/healthz", &[], b"").status, 200);
    // ...and serves what follows on it.
    for _ in 0..2 {
        assert_eq!(
            c.preflight("rm -rf ./marker", &[]).json()["decision"],
            "deny"
        );
    }
    let r = c.request("GET", "/healthz", &[hdr("Connection", "close")], b"");
    assert_eq!(r.status, 200);
    assert!(c.is_closed());
    assert_eq!(metric(&d, "rampart_direct_answers_total"), 3);
    assert_eq!(events(&d.audit).len(), 5);
}

#[test]
fn requests_the_direct_path_cannot_finish_go_to_the_general_route() {
    let d = Daemon::start();
    let close = [hdr("Connection", "close")];

    // Sent a while after connecting: still answered directly.
    let mut c = d.conn();
    std::thread::sleep(Duration::from_millis(100));
    let r = c.preflight("ls", &close);
    assert_eq!(r.json()["decision"], "allow");
    assert!(c.is_closed());
    assert_eq!(metric(&d, "rampart_direct_answers_total"), 1);

    // Head and body in two writes: hyper reads the rest after the bytes already read.
    let (head, rest) = split_preflight("rm -rf ./marker");
    let mut c = d.conn();
    c.send_raw(&head);
    std::thread::sleep(Duration::from_millis(100));
    c.send_raw(b"Connection: close\r\n");
    c.send_raw(&rest);
    let r = c.read_response().expect("answer");
    assert_eq!(r.json()["decision"], "deny");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());

    // A bad body: the general route answers the error and counts it once.
    let mut c = d.conn();
    let r = c.request("POST", "/v1/preflight/exec", &close, b"{not json");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("invalid JSON"));
    assert_eq!(metric(&d, "rampart_bad_requests_total"), 1);

    // An enforced ask needs the approval queue: the general route.
    let r = d.conn().preflight("touch ./marker", &close);
    let v = r.json();
    assert_eq!(v["decision"], "ask", "{v}");
    assert_eq!(v["approval_status"], "pending", "{v}");

    // Another route.
    let r = d.conn().request("GET", "/healthz", &close, b"");
    assert_eq!(r.status, 200);

    // A second request pipelined behind the first: both answered, in order.
    let body = br#"{"params":{"command":"ls"},"enforce":true}"#;
    let one = format!(
        "POST /v1/preflight/exec HTTP/1.1\r\nHost: r\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let two = format!(
        "POST /v1/preflight/exec HTTP/1.1\r\nHost: r\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut c = d.conn();
    c.send_raw(&[one.as_bytes(), body, two.as_bytes(), body].concat());
    for _ in 0..2 {
        assert_eq!(
            c.read_response().expect("answer").json()["decision"],
            "allow"
        );
    }
    assert!(c.is_closed());

    assert_eq!(metric(&d, "rampart_direct_answers_total"), 1);
    assert_eq!(events(&d.audit).len(), 5);
}

#[test]
fn plain_unix_requests_are_answered_on_the_accept_thread_unless_turned_off() {
    let close = [hdr("Connection", "close")];
    for (args, threaded) in [(vec![], true), (vec!["--no-accept-thread".into()], false)] {
        let d = Daemon::start_with(Opts {
            args,
            ..Default::default()
        });
        // One-shot connections, as forked processes make them. Whether the request
        // comes within the thread's wait depends on scheduling; of twenty, some do.
        for _ in 0..20 {
            let mut c = d.conn();
            assert_eq!(
                c.preflight("rm -rf ./marker", &close).json()["decision"],
                "deny"
            );
            assert!(c.is_closed());
        }
        let on_thread = |d: &Daemon| metric(d, "rampart_accept_thread_answers_total");
        let one_shot = on_thread(&d);
        // A kept-alive connection, as a process spawning from itself keeps: the
        // thread serves it while requests keep coming...
        let mut kept = d.conn();
        for _ in 0..3 {
            assert_eq!(kept.preflight("ls", &[]).json()["decision"], "allow");
        }
        let kept_on_thread = on_thread(&d) - one_shot;
        // ...and hands it to the runtime once idle for 100 ms; it still works.
        std::thread::sleep(Duration::from_millis(300));
        let before = on_thread(&d);
        assert_eq!(kept.preflight("ls", &[]).json()["decision"], "allow");
        let after_idle = on_thread(&d) - before;
        assert_eq!(metric(&d, "rampart_direct_answers_total"), 24);
        if threaded {
            assert!((1..=20).contains(&one_shot), "{one_shot}");
            assert!((1..=3).contains(&kept_on_thread), "{kept_on_thread}");
            assert_eq!(after_idle, 0);
        } else {
            assert_eq!(one_shot + kept_on_thread + after_idle, 0);
        }
        // Audited alike, with the peer's credentials from either path.
        let ev = events(&d.audit);
        assert_eq!(ev.len(), 24);
        for e in &ev {
            assert_eq!(e["peer"]["transport"], "unix", "{e}");
            assert_eq!(e["peer"]["pid"], std::process::id(), "{e}");
        }
        assert!(verify(&d.audit).0);
    }
}

#[test]
fn kept_alive_connections_on_the_accept_thread_make_room_at_the_limit() {
    let d = Daemon::start_with(Opts {
        args: vec!["--max-connections".into(), "2".into()],
        ..Default::default()
    });
    std::thread::sleep(Duration::from_millis(200));
    // Both slots taken by kept-alive connections the accept thread holds (each
    // answered just now, so neither has been idle long enough to be handed over).
    let open = || {
        let s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
        let probe = s.try_clone().unwrap();
        (Conn::new(Box::new(s)), probe)
    };
    let (mut a, probe_a) = open();
    let (mut b, probe_b) = open();
    assert_eq!(a.preflight("ls", &[]).status, 200);
    assert_eq!(b.preflight("ls", &[]).status, 200);
    // A third client is admitted once the runtime, given both, closes one of
    // them; the thread must not sit on the slots while the client waits.
    let mut c = d.conn();
    assert_eq!(c.preflight("git status", &[]).status, 200);
    // End of stream, seen without taking anything or waiting.
    let closed = |p: &std::os::unix::net::UnixStream| {
        use nix::sys::socket::{recv, MsgFlags};
        use std::os::fd::AsRawFd;
        let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
        matches!(recv(p.as_raw_fd(), &mut [0u8; 1], flags), Ok(0))
    };
    let t = Instant::now();
    while !(closed(&probe_a) || closed(&probe_b)) {
        assert!(t.elapsed() < Duration::from_secs(10), "nothing was evicted");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Exactly one was closed; the other still works.
    let survivor = match (closed(&probe_a), closed(&probe_b)) {
        (true, false) => &mut b,
        (false, true) => &mut a,
        both => panic!("closed: {both:?}"),
    };
    assert_eq!(survivor.preflight("ls", &[]).status, 200);
    assert_eq!(events(&d.audit).len(), 4);
}

#[test]
fn a_silent_connection_is_handed_over_without_holding_up_the_next_client() {
    let d = Daemon::start();
    let close = [hdr("Connection", "close")];
    // Connects and says nothing for longer than the accept thread waits.
    let mut silent = d.conn();
    let mut other = d.conn();
    assert_eq!(other.preflight("ls", &close).json()["decision"], "allow");
    std::thread::sleep(Duration::from_millis(100));
    // Its request is still served, by the runtime.
    let r = silent.preflight("rm -rf ./marker", &close);
    assert_eq!(r.json()["decision"], "deny");
    assert!(silent.is_closed());
    assert_eq!(metric(&d, "rampart_direct_answers_total"), 2);
    assert!(metric(&d, "rampart_accept_thread_answers_total") <= 1);
    // One that closes without a word costs nothing and is not audited.
    drop(d.conn());
    let mut after = d.conn();
    assert_eq!(after.preflight("ls", &close).status, 200);
    assert_eq!(events(&d.audit).len(), 3);
}

#[test]
fn requests_over_tcp_take_the_general_route_and_need_the_token() {
    let d = Daemon::start_with(Opts {
        tcp: true,
        ..Default::default()
    });
    let close = hdr("Connection", "close");
    let body = br#"{"params":{"command":"ls"},"enforce":true}"#;
    let r = d.tcp_conn().request(
        "POST",
        "/v1/preflight/exec",
        std::slice::from_ref(&close),
        body,
    );
    assert_eq!(r.status, 401);
    let r = d
        .tcp_conn()
        .request("POST", "/v1/preflight/exec", &[close, d.auth()], body);
    assert_eq!(r.json()["decision"], "allow");
    assert_eq!(metric(&d, "rampart_direct_answers_total"), 0);
}

#[test]
fn direct_verification_needs_the_admin_token_and_is_not_audited() {
    let d = Daemon::start();
    let close = hdr("Connection", "close");
    let body = br#"{"params":{"command":"rm -rf ./marker"},"verification":true}"#;
    let r = d.conn().request(
        "POST",
        "/v1/preflight/exec",
        std::slice::from_ref(&close),
        body,
    );
    assert_eq!(r.status, 403);
    let r = d
        .conn()
        .request("POST", "/v1/preflight/exec", &[close, d.auth()], body);
    assert_eq!(r.json()["decision"], "deny");
    assert_eq!(metric(&d, "rampart_direct_answers_total"), 1);
    assert!(events(&d.audit).is_empty());
}

#[test]
fn requests_under_fsync_always_take_the_general_route() {
    let d = Daemon::start_with(Opts {
        args: vec!["--fsync".into(), "always".into()],
        ..Default::default()
    });
    let r = d
        .conn()
        .preflight("rm -rf ./marker", &[hdr("Connection", "close")]);
    assert_eq!(r.json()["decision"], "deny");
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(metric(&d, "rampart_direct_answers_total"), 0);
    assert_eq!(events(&d.audit).len(), 1);
}
