//! The datagram lane (`<socket>.dgram`): the real daemon, spoken to with real
//! Unix datagrams from a socket bound in the test's directory.

mod support;

use serde_json::Value;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

fn lane_path(d: &Daemon) -> PathBuf {
    let mut p = d.socket.clone().into_os_string();
    p.push(".dgram");
    PathBuf::from(p)
}

/// Send `request` to the lane at `lane` as the preload library does (one end
/// of a socket pair attached) and return the answer's bytes.
fn answer_at(lane: &Path, request: &[u8]) -> Vec<u8> {
    let (mine, theirs) = UnixDatagram::pair().unwrap();
    mine.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    send_attached(lane, request, theirs.as_raw_fd());
    drop(theirs);
    let mut buf = vec![0u8; 70_000];
    let n = mine.recv(&mut buf).expect("an answer on the pair");
    buf.truncate(n);
    buf
}

/// The answer's status, head and body.
fn parse(answer: &[u8]) -> (u16, String, Vec<u8>) {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head")
        + 4;
    let head = String::from_utf8(answer[..end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head, answer[end..].to_vec())
}

/// Ask the daemon's lane.
fn ask(d: &Daemon, request: &[u8]) -> (u16, String, Vec<u8>) {
    parse(&answer_at(&lane_path(d), request))
}

/// Send `request` to the lane at `lane` from an unbound socket, with `attach`
/// as `SCM_RIGHTS`, as the preload library does.
fn send_attached(lane: &Path, request: &[u8], attach: RawFd) {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let sender = UnixDatagram::unbound().unwrap();
    let to = UnixAddr::new(lane).unwrap();
    let fds = [attach];
    sendmsg(
        sender.as_raw_fd(),
        &[std::io::IoSlice::new(request)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        Some(&to),
    )
    .unwrap();
}

/// The preload library's request for `command`.
fn preflight(command: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "agent": "test-agent",
        "session": "test-session",
        "params": {"command": command, "cwd": "/tmp", "pid": 1234, "ppid": 1},
        "enforce": true
    })
    .to_string();
    format!(
        "POST /v1/preflight/exec HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn metric(d: &Daemon, name: &str) -> u64 {
    let m = String::from_utf8(d.conn().request("GET", "/metrics", &[], b"").body).unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// The answer without what differs between two evaluations of the same call.
fn comparable(body: &[u8]) -> Value {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    let o = v.as_object_mut().unwrap();
    assert_eq!(
        o.remove("audit_id").and_then(|a| a.as_str().map(str::len)),
        Some(26)
    );
    assert!(o.remove("eval_duration_us").unwrap().is_u64());
    v
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn plain_requests_are_answered_on_the_lane_like_the_stream_socket_with_the_senders_credentials() {
    let d = Daemon::start();
    assert_eq!(mode(&lane_path(&d)), mode(&d.socket));
    assert!(
        d.log_text().contains("datagram lane unix:"),
        "{}",
        d.log_text()
    );
    for cmd in ["ls -la", "rm -rf ./marker", "cat ./marker", "whoami"] {
        let (status, head, body) = ask(&d, &preflight(cmd));
        assert_eq!(status, 200, "{cmd}: {head}");
        let expected = d.conn().preflight(cmd, &[]);
        assert_eq!(
            comparable(&body),
            comparable(&expected.body),
            "{cmd}: the lane answers as the stream socket does"
        );
    }
    assert_eq!(metric(&d, "rampart_datagram_answers_total"), 4);
    // Every decision is audited once, the lane's with this process as the peer.
    let events = events(&d.audit);
    assert_eq!(events.len(), 8, "{events:?}");
    for e in events.iter().step_by(2) {
        assert_eq!(e["peer"]["transport"], "unix", "{e}");
        assert_eq!(e["peer"]["pid"], std::process::id(), "{e}");
        assert_eq!(e["peer"]["uid"], nix_uid(), "{e}");
    }
}

/// This process's uid, as `id -u` prints it.
fn nix_uid() -> u64 {
    let out = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn what_the_lane_does_not_decide_is_misdirected_before_anything_is_audited() {
    let d = Daemon::start();
    let body = br#"{"params":{"command":"ls"}}"#;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // an `ask` being enforced waits for a human: only the stream can hold it
        ("ask", preflight("touch ./marker")),
        (
            "another route",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "incomplete body",
            b"POST /v1/preflight/exec HTTP/1.1\r\nContent-Length: 50\r\n\r\n{}".to_vec(),
        ),
        (
            "bad JSON (the route's 400 comes on the stream)",
            b"POST /v1/preflight/exec HTTP/1.1\r\nContent-Length: 5\r\n\r\n{nope".to_vec(),
        ),
        (
            "HTTP/1.0",
            [
                format!(
                    "POST /v1/preflight/exec HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes(),
                body.to_vec(),
            ]
            .concat(),
        ),
        ("longer than the lane takes", preflight(&"x".repeat(9_000))),
        ("not HTTP", b"hello".to_vec()),
    ];
    for (what, request) in cases {
        let (status, head, rest) = ask(&d, &request);
        assert_eq!(status, 421, "{what}: {head}");
        assert!(rest.is_empty(), "{what}");
    }
    assert_eq!(metric(&d, "rampart_datagram_answers_total"), 0);
    assert!(
        events(&d.audit).is_empty(),
        "nothing decided, nothing audited"
    );
    // The lane still answers after all that.
    assert_eq!(ask(&d, &preflight("ls")).0, 200);
}

#[test]
fn a_long_answer_is_shortened_to_fit_the_hooks_buffer_and_audited_whole() {
    let message = "word ".repeat(1_200);
    let policy = format!(
        "version: \"1\"\ndefault_action: allow\npolicies:\n  - name: long-words\n    match:\n      tool: exec\n    rules:\n      - action: deny\n        when:\n          command_matches: [\"rm *\"]\n        message: \"{}\"\n",
        message.trim_end()
    );
    let d = Daemon::start_with(Opts {
        policy: &policy,
        ..Opts::default()
    });
    let answer = answer_at(&lane_path(&d), &preflight("rm -rf ./marker"));
    let n = answer.len();
    assert!(n <= 3 * 1024, "{n} bytes: the hook reads 3 KiB");
    let (status, _, body) = parse(&answer);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["allowed"], false);
    assert_eq!(v["policy"], "long-words");
    let shown = v["message"].as_str().unwrap();
    assert!(
        shown.ends_with('…') && shown.starts_with("word word"),
        "{shown}"
    );
    assert!(v.get("suggestions").is_none(), "{v}");
    // The stream socket and the audit record have the whole message.
    let full = d.conn().preflight("rm -rf ./marker", &[]).json();
    assert_eq!(full["message"], message.trim_end());
    // One question on the lane, one on the stream socket.
    let events = events(&d.audit);
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0]["decision"]["message"].as_str().map(str::len),
        Some(message.trim_end().len())
    );
}

#[test]
fn the_lane_is_off_with_no_datagram_or_fsync_always_and_removed_at_shutdown() {
    for args in [vec!["--no-datagram"], vec!["--fsync", "always"]] {
        let d = Daemon::start_with(Opts {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Opts::default()
        });
        assert!(!lane_path(&d).exists(), "{args:?}");
        assert_eq!(d.conn().preflight("ls", &[]).status, 200);
    }
    let mut d = Daemon::start();
    let lane = lane_path(&d);
    assert!(lane.exists());
    assert!(d.stop());
    assert!(!lane.exists() && !d.socket.exists());
}

#[test]
fn a_lane_left_by_a_killed_daemon_is_replaced_at_the_next_start() {
    let mut d = Daemon::start();
    let lane = lane_path(&d);
    d.kill9();
    assert!(lane.exists(), "a killed daemon leaves its socket files");
    let dir = d.dir.clone();
    let d2 = Daemon::start_in(&dir, &[], false);
    assert_eq!(ask(&d2, &preflight("ls")).0, 200);
}

/// Start `rampart serve` as systemd would with `ListenStream=` and
/// `ListenDatagram=`: the stream listener as fd 3, the datagram socket as fd 4.
fn start_activated(
    dir: &Path,
    listener: std::os::unix::net::UnixListener,
    lane: UnixDatagram,
    extra: &str,
) -> std::process::Child {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 3<&0 4>&1 0</dev/null 1>/dev/null; LISTEN_FDS=2 LISTEN_PID=$$ exec \"$0\" serve \
             --config \"$1\" --audit-dir \"$2\" --token-file \"$3\" {extra}"
        ))
        .arg(bin())
        .arg(dir.join("policy.yaml"))
        .arg(dir.join("audit"))
        .arg(dir.join("token"))
        .env_remove("RAMPART_TOKEN")
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            listener,
        )))
        .stdout(std::process::Stdio::from(std::os::fd::OwnedFd::from(lane)))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_datagram_socket_passed_by_systemd_is_served_and_kept() {
    for (extra, status) in [("", 200), ("--no-datagram", 421)] {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        std::fs::write(dir.join("policy.yaml"), TEST_POLICY).unwrap();
        let sock = dir.join("activated.sock");
        let lane = dir.join("activated.sock.dgram");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let passed = UnixDatagram::bind(&lane).unwrap();
        let mut child = start_activated(dir, listener, passed, extra);
        // The first answer shows the daemon is up: a datagram waits in the
        // socket's queue until then.
        let (got, head, _) = parse(&answer_at(&lane, &preflight("ls")));
        assert_eq!(got, status, "{extra}: {head}");
        std::process::Command::new("kill")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(child.wait().unwrap().success());
        let mut log = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
        assert!(
            log.contains("datagram lane unix:") && log.contains("(socket activation)"),
            "{log}"
        );
        assert!(
            lane.exists(),
            "a passed socket belongs to systemd and is kept"
        );
    }
}

#[test]
fn the_answer_goes_to_the_attached_end_of_a_socket_pair_and_nowhere_else() {
    let d = Daemon::start();
    let lane = lane_path(&d);
    // The library's way: one end of a pair attached, the answer on the other.
    let (status, _, _) = ask(&d, &preflight("ls -la"));
    assert_eq!(status, 200);
    let first = events(&d.audit);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["peer"]["pid"], std::process::id());
    let mut buf = vec![0u8; 8192];
    // A sender's own address is not answered: the answer goes on a pair only.
    let named = UnixDatagram::bind(d.dir.join("named.sock")).unwrap();
    named
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    named.send_to(&preflight("ls"), &lane).unwrap();
    assert!(named.recv(&mut buf).is_err(), "answered to an address");
    // A socket connected to a named one (a syslog socket, say) is not written
    // to with the daemon's credentials: closed unanswered, nothing decided.
    let victim = UnixDatagram::bind(d.dir.join("victim.sock")).unwrap();
    victim
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let aimed = UnixDatagram::unbound().unwrap();
    aimed.connect(d.dir.join("victim.sock")).unwrap();
    send_attached(&lane, &preflight("ls"), aimed.as_raw_fd());
    assert!(
        victim.recv(&mut buf).is_err(),
        "the daemon wrote to the victim"
    );
    // The lane goes on; the refused questions left no trace.
    assert_eq!(ask(&d, &preflight("ls")).0, 200);
    assert_eq!(events(&d.audit).len(), 2);
}
