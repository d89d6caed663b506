//! Export sinks of the real daemon: `--syslog` (UDP, Unix datagram, TCP), `--cef`,
//! `--cef-file`, the policy's `notify:` webhook, and sinks that never read or answer.
//! All traffic goes to 127.0.0.1 or Unix sockets in a temp directory.

mod support;

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::*;

/// A command with a credential the audit (and so every export) must mask.
const SECRET: &str = "hunter2hunter2hunter2";

fn deny_with_secret() -> String {
    format!("rm -f marker API_KEY={SECRET}")
}

fn start(args: Vec<String>) -> Daemon {
    Daemon::start_with(Opts {
        args,
        ..Opts::default()
    })
}

/// A preflight with a chosen agent and session.
fn preflight_as(d: &Daemon, agent: &str, session: &str, command: &str) -> Value {
    let body = json!({
        "agent": agent,
        "session": session,
        "params": {"command": command, "cwd": "/tmp"},
        "enforce": true
    });
    let r = d.conn().request(
        "POST",
        "/v1/preflight/exec",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200);
    r.json()
}

fn metrics(d: &Daemon) -> String {
    String::from_utf8(d.conn().request("GET", "/metrics", &[], b"").body).unwrap()
}

fn counter(text: &str, name: &str, sink: &str) -> u64 {
    let key = format!("{name}{{sink=\"{sink}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .unwrap_or_else(|| panic!("no {key} in metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Poll /metrics until `name{sink}` reaches `min` (10 s at most).
fn wait_counter(d: &Daemon, name: &str, sink: &str, min: u64) -> u64 {
    let t0 = Instant::now();
    loop {
        let v = counter(&metrics(d), name, sink);
        if v >= min || t0.elapsed() > Duration::from_secs(10) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn syslog_udp_sends_rfc5424_with_escaped_params_and_redacted_secrets() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let port = rx.local_addr().unwrap().port();
    let d = start(vec!["--syslog".into(), format!("udp://127.0.0.1:{port}")]);
    let pid = d.child.id();

    let resp = preflight_as(&d, "ag\"ent", "se\\ss]ion", &deny_with_secret());
    assert_eq!(resp["decision"], "deny");
    let mut buf = vec![0u8; 65536];
    let n = rx.recv(&mut buf).expect("a syslog datagram");
    let msg = String::from_utf8(buf[..n].to_vec()).unwrap();

    // <PRI>1 TIMESTAMP HOSTNAME APP PROCID MSGID [SD] MSG; auth(4)*8 + warning(4) = 36.
    let fields: Vec<&str> = msg.splitn(7, ' ').collect();
    assert_eq!(fields[0], "<36>1", "{msg}");
    let ts = fields[1];
    assert!(
        ts.ends_with('Z') && ts.len() >= 20 && &ts[10..11] == "T",
        "{msg}"
    );
    if let Some((_, frac)) = ts.trim_end_matches('Z').split_once('.') {
        assert!(frac.len() <= 6, "at most microseconds: {msg}");
    }
    assert!(!fields[2].is_empty(), "{msg}");
    assert_eq!(fields[3], "rampart");
    assert_eq!(fields[4], pid.to_string());
    assert_eq!(fields[5], "-");
    assert!(
        fields[6].starts_with(
            "[rampart@32473 action=\"deny\" policy=\"test-deny\" agent=\"ag\\\"ent\" \
             session=\"se\\\\ss\\]ion\" tool=\"exec\" id=\""
        ),
        "{msg}"
    );
    let audit_id = resp["audit_id"].as_str().unwrap();
    assert!(msg.contains(&format!("id=\"{audit_id}\"]")), "{msg}");
    assert!(
        msg.contains("] deny exec: rm -f marker API_KEY=[REDACTED] - rm is blocked in tests"),
        "{msg}"
    );
    assert!(!msg.contains(SECRET), "secret leaked: {msg}");

    // Severity follows the action: allow is info (6), ask is notice (5).
    preflight_as(&d, "a", "s", "ls");
    let n = rx.recv(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"<38>1 "),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    preflight_as(&d, "a", "s", "touch marker");
    let n = rx.recv(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"<37>1 "),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert_eq!(
        wait_counter(&d, "rampart_export_sent_total", "syslog", 3),
        3
    );
}

#[test]
fn syslog_unix_datagram_socket_receives_messages_with_the_chosen_facility() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("log.sock");
    let rx = UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let d = start(vec![
        "--syslog".into(),
        format!("unix://{}", path.display()),
        "--syslog-facility".into(),
        "local0".into(),
    ]);
    preflight_as(&d, "a", "s", &deny_with_secret());
    let mut buf = vec![0u8; 65536];
    let n = rx.recv(&mut buf).expect("a datagram on the Unix socket");
    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
    // local0(16)*8 + warning(4) = 132.
    assert!(msg.starts_with("<132>1 "), "{msg}");
    assert!(msg.contains("[rampart@32473 action=\"deny\""), "{msg}");
    assert!(
        msg.contains("API_KEY=[REDACTED]") && !msg.contains(SECRET),
        "{msg}"
    );
}

/// Read octet-counted frames (`LEN SP MSG`) until `want` arrived.
fn read_frames(s: &mut TcpStream, want: usize) -> Vec<String> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < want {
        if let Some(sp) = buf.iter().position(|&b| b == b' ') {
            let len: usize = std::str::from_utf8(&buf[..sp]).unwrap().parse().unwrap();
            if buf.len() >= sp + 1 + len {
                out.push(String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap());
                buf.drain(..sp + 1 + len);
                continue;
            }
        }
        let n = s.read(&mut chunk).expect("syslog frames");
        assert!(n > 0, "connection closed after {} frames", out.len());
        buf.extend_from_slice(&chunk[..n]);
    }
    assert!(
        buf.is_empty(),
        "trailing bytes: {:?}",
        String::from_utf8_lossy(&buf)
    );
    out
}

#[test]
fn syslog_tcp_uses_octet_counting_and_cef_messages() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let d = start(vec![
        "--syslog".into(),
        format!("tcp://127.0.0.1:{port}"),
        "--cef".into(),
    ]);
    preflight_as(&d, "agent=x", "s", "rm 'a|b'");
    preflight_as(&d, "a", "s", "echo line1");
    let (mut s, _) = l.accept().unwrap();
    let frames = read_frames(&mut s, 2);
    let version = env!("CARGO_PKG_VERSION");
    assert!(frames[0].starts_with("<36>1 "), "{}", frames[0]);
    assert!(
        frames[0].contains(&format!(
            "] CEF:0|Rampart|rampart|{version}|deny|Tool call denied|7|"
        )),
        "{}",
        frames[0]
    );
    assert!(frames[0].contains("suser=agent\\=x "), "{}", frames[0]);
    assert!(frames[0].contains("cs4=rm 'a|b'"), "{}", frames[0]);
    assert!(
        frames[1].contains(&format!(
            "CEF:0|Rampart|rampart|{version}|allow|Tool call allowed|1|"
        )),
        "{}",
        frames[1]
    );
}

#[test]
fn cef_file_gets_one_escaped_line_per_event() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("rampart.cef");
    let d = start(vec!["--cef-file".into(), file.display().to_string()]);
    let resp = preflight_as(&d, "a", "s", &format!("rm 'x=y\\z' API_KEY={SECRET}"));
    assert_eq!(resp["decision"], "deny");
    preflight_as(&d, "a", "s", "ls");
    assert_eq!(
        wait_counter(&d, "rampart_export_sent_total", "cef_file", 2),
        2
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("CEF:0|Rampart|rampart|"), "{text}");
    assert!(lines[0].contains("|deny|Tool call denied|7|rt="), "{text}");
    let id = resp["audit_id"].as_str().unwrap();
    assert!(lines[0].contains(&format!("externalId={id} ")), "{text}");
    assert!(
        lines[0].contains("cs1Label=policy cs1=test-deny "),
        "{text}"
    );
    assert!(
        lines[0].contains("cs4=rm 'x\\=y\\\\z' API_KEY\\=[REDACTED]"),
        "{text}"
    );
    assert!(lines[0].ends_with("msg=rm is blocked in tests"), "{text}");
    assert!(!text.contains(SECRET), "secret leaked: {text}");
    assert!(lines[1].contains("|allow|Tool call allowed|1|"), "{text}");
    // The audit chain is untouched by exporting.
    assert!(verify(&d.audit).0);
}

/// A tiny HTTP server: every request's (path, body) goes to the channel, answered 200.
fn webhook_server() -> (u16, mpsc::Receiver<(String, Value)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head_end, len) = loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break (0, 0);
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap_or(0));
                    break (i + 4, len);
                }
            };
            if head_end == 0 {
                continue;
            }
            while buf.len() < head_end + len {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            assert!(head.starts_with("POST "), "{head}");
            let body: Value = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap();
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if tx.send((path, body)).is_err() {
                break;
            }
        }
    });
    (port, rx)
}

#[test]
fn notify_webhook_posts_denies_and_not_allows() {
    let (port, rx) = webhook_server();
    let policy =
        format!("{TEST_POLICY}notify:\n  url: http://127.0.0.1:{port}/hook\n  platform: webhook\n");
    let d = Daemon::start_with(Opts {
        policy: &policy,
        ..Opts::default()
    });
    // The allow comes first: were it queued, it would arrive first (one FIFO queue).
    assert_eq!(preflight_as(&d, "a", "s", "ls")["decision"], "allow");
    assert_eq!(
        preflight_as(&d, "a", "s", "cat marker")["decision"],
        "watch"
    );
    let resp = preflight_as(&d, "agent-1", "sess-1", &deny_with_secret());
    assert_eq!(resp["decision"], "deny");
    let (path, body) = rx.recv_timeout(Duration::from_secs(10)).expect("a POST");
    assert_eq!(path, "/hook");
    assert_eq!(body["decision"], "deny", "{body}");
    assert_eq!(body["tool"], "exec");
    assert_eq!(body["command"], "rm -f marker API_KEY=[REDACTED]");
    assert_eq!(body["policy"], "test-deny");
    assert_eq!(body["message"], "rm is blocked in tests");
    assert_eq!(body["agent"], "agent-1");
    assert_eq!(body["session"], "sess-1");
    assert_eq!(body["audit_id"], resp["audit_id"]);
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(!body.to_string().contains(SECRET));
    assert_eq!(
        wait_counter(&d, "rampart_export_sent_total", "webhook", 1),
        1
    );

    // ask is notified by default too.
    preflight_as(&d, "a", "s", "touch marker");
    let (_, body) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a POST for ask");
    assert_eq!(body["decision"], "ask", "{body}");
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn notify_slack_platform_posts_a_text_payload() {
    let (port, rx) = webhook_server();
    let policy = format!(
        "{TEST_POLICY}notify:\n  url: http://127.0.0.1:{port}/services/x\n  platform: slack\n  on: [deny]\n"
    );
    let d = Daemon::start_with(Opts {
        policy: &policy,
        ..Opts::default()
    });
    preflight_as(&d, "a", "s", "touch marker");
    preflight_as(&d, "a", "s", &deny_with_secret());
    let (_, body) = rx.recv_timeout(Duration::from_secs(10)).expect("a POST");
    let text = body["text"].as_str().expect("slack text payload");
    assert!(text.contains("denied exec"), "{text}");
    assert!(
        text.contains("API_KEY=[REDACTED]") && !text.contains(SECRET),
        "{text}"
    );
    assert_eq!(body.as_object().unwrap().len(), 1);
}

#[test]
fn stuck_sinks_do_not_slow_decisions_and_drops_are_counted() {
    // A syslog peer that accepts but never reads.
    let syslog = TcpListener::bind("127.0.0.1:0").unwrap();
    let sport = syslog.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut keep = Vec::new();
        syslog.set_nonblocking(true).unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(60) {
            match syslog.accept() {
                Ok((s, _)) => keep.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
            if keep.len() > 16 {
                break;
            }
        }
        keep
    });
    // A webhook that accepts and never answers.
    let hook = TcpListener::bind("127.0.0.1:0").unwrap();
    let hport = hook.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut keep = Vec::new();
        for s in hook.incoming().flatten() {
            keep.push(s);
        }
    });
    let policy = format!("{TEST_POLICY}notify:\n  url: http://127.0.0.1:{hport}/hang\n");
    let d = Daemon::start_with(Opts {
        policy: &policy,
        args: vec![
            "--syslog".into(),
            format!("tcp://127.0.0.1:{sport}"),
            "--export-queue".into(),
            "8".into(),
        ],
        ..Opts::default()
    });

    // ~7 KiB messages: 1500 of them are far more than the peer's socket buffers hold.
    let big = format!("echo {}", "x".repeat(7000));
    let mut c = d.conn();
    let n = 1500;
    let t0 = Instant::now();
    for i in 0..n {
        let cmd = if i % 10 == 0 {
            "rm -f marker"
        } else {
            big.as_str()
        };
        let r = c.preflight(cmd, &[]);
        assert_eq!(r.status, 200);
        assert!(r.json()["audit_id"].is_string());
    }
    let elapsed = t0.elapsed();
    // Were a decision waiting for the hung webhook, each of the 150 denies would cost
    // its 5 s timeout (12+ minutes); this bound only detects such blocking.
    assert!(
        elapsed < Duration::from_secs(120),
        "{n} preflights took {elapsed:?}"
    );

    let m = metrics(&d);
    let dropped_webhook = counter(&m, "rampart_export_dropped_total", "webhook");
    let dropped_syslog = counter(&m, "rampart_export_dropped_total", "syslog");
    assert!(dropped_webhook > 0, "{m}");
    assert!(dropped_syslog > 0, "{m}");
    // Nothing the hung webhook got was counted as sent.
    assert_eq!(
        counter(&m, "rampart_export_sent_total", "webhook"),
        0,
        "{m}"
    );
    // Every decision is still in the audit.
    assert!(
        m.contains(&format!("rampart_audit_events_total {n}")),
        "{m}"
    );
    // Drops are logged by each sink's thread once its stuck write or POST times out.
    let t0 = Instant::now();
    let mut log = d.log_text();
    while !(log.contains("rampart: export syslog: queue full")
        && log.contains("rampart: export webhook: queue full"))
        && t0.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(100));
        log = d.log_text();
    }
    assert!(log.contains("rampart: export syslog: queue full"), "{log}");
    assert!(log.contains("rampart: export webhook: queue full"), "{log}");
    drop(d);
    drop(held);
}

#[test]
fn bad_syslog_target_and_cef_without_destination_are_refused() {
    let out = std::process::Command::new(bin())
        .args(["serve", "--syslog", "http://x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--syslog"));
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin())
        .args(["serve", "--cef", "--socket"])
        .arg(tmp.path().join("s.sock"))
        .arg("--audit-dir")
        .arg(tmp.path().join("audit"))
        .arg("--token-file")
        .arg(tmp.path().join("token"))
        .env_remove("RAMPART_TOKEN")
        .env("HOME", tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--cef needs --syslog"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
