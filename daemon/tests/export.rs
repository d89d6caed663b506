//! Export sinks of the real daemon: `--syslog` (UDP, Unix datagram, TCP), `--cef`,
//! `--cef-file`, the policy's `notify:` webhook over http and https (a test CA made
//! here with rcgen, a rustls server), and sinks that never read or answer.
//! All traffic goes to 127.0.0.1 or Unix sockets in a temp directory.

mod support;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::{mpsc, Arc};
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

/// Read one HTTP request; its (path, JSON body), or an error.
fn read_request(s: &mut impl Read) -> Result<(String, Value), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, len) = loop {
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before a request".into());
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
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed inside the body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    if !head.starts_with("POST ") {
        return Err(format!("not a POST: {head}"));
    }
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let body = serde_json::from_slice(&buf[head_end..head_end + len]).map_err(|e| e.to_string())?;
    Ok((path, body))
}

const OK_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// A tiny HTTP server: every request's (path, body) goes to the channel, answered 200.
fn webhook_server() -> (u16, mpsc::Receiver<(String, Value)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let Ok(req) = read_request(&mut s) else {
                continue;
            };
            let _ = s.write_all(OK_RESPONSE);
            if tx.send(req).is_err() {
                break;
            }
        }
    });
    (port, rx)
}

/// A test CA (certificate PEM, certificate, key).
struct TestCa {
    pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn test_ca(name: &str) -> TestCa {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let cert = p.self_signed(&key).unwrap();
    TestCa {
        pem: cert.pem(),
        cert,
        key,
    }
}

/// What the HTTPS test server saw on one connection: (path, body), or its error.
type Outcome = Result<(String, Value), String>;

/// An HTTPS server on 127.0.0.1 whose certificate (for `names`) is issued by `ca`.
/// Each connection's outcome goes to the channel: the request, or the TLS or HTTP
/// error the server saw (a refused handshake shows up here).
fn tls_webhook_server(ca: &TestCa, names: &[&str]) -> (u16, mpsc::Receiver<Outcome>) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let leaf = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca.cert.der().clone()];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = Arc::new(
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { break };
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let conn = ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut tls = StreamOwned::new(conn, s);
            let outcome = read_request(&mut tls);
            if outcome.is_ok() {
                let _ = tls.write_all(OK_RESPONSE);
                let _ = tls.flush();
            }
            if tx.send(outcome).is_err() {
                break;
            }
        }
    });
    (port, rx)
}

/// Write a CA certificate to a PEM file in `dir`.
fn ca_file(dir: &tempfile::TempDir, ca: &TestCa) -> String {
    let path = dir.path().join("webhook-ca.pem");
    std::fs::write(&path, &ca.pem).unwrap();
    path.display().to_string()
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

/// The path part of a chat webhook URL is its credential.
const HOOK_PATH: &str = "/services/T0000/B0000/PathSecretXYZ";

#[test]
fn notify_https_webhook_delivers_when_its_ca_is_trusted() {
    let ca = test_ca("rampart test CA");
    let (port, rx) = tls_webhook_server(&ca, &["127.0.0.1", "localhost"]);
    let tmp = tempfile::tempdir().unwrap();
    let policy = format!(
        "{TEST_POLICY}notify:\n  url: https://127.0.0.1:{port}{HOOK_PATH}\n  platform: slack\n"
    );
    let d = Daemon::start_with(Opts {
        policy: &policy,
        args: vec!["--webhook-ca".into(), ca_file(&tmp, &ca)],
        ..Opts::default()
    });
    assert_eq!(preflight_as(&d, "a", "s", "ls")["decision"], "allow");
    let resp = preflight_as(&d, "agent-1", "sess-1", &deny_with_secret());
    assert_eq!(resp["decision"], "deny");
    let (path, body) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("an HTTPS POST")
        .expect("a verified TLS session and a well-formed request");
    assert_eq!(path, HOOK_PATH);
    let text = body["text"].as_str().expect("slack text payload");
    assert!(text.contains("denied exec"), "{text}");
    assert!(
        text.contains("API_KEY=[REDACTED]") && !text.contains(SECRET),
        "{text}"
    );
    assert_eq!(
        wait_counter(&d, "rampart_export_sent_total", "webhook", 1),
        1
    );
    // A second notification uses a new connection with the same trust settings.
    preflight_as(&d, "a", "s", "touch marker");
    let (_, body) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a POST for ask")
        .expect("a verified TLS session");
    assert!(body["text"].as_str().unwrap().contains("needs approval"));
    assert_eq!(
        wait_counter(&d, "rampart_export_sent_total", "webhook", 2),
        2
    );
    let m = metrics(&d);
    assert_eq!(
        counter(&m, "rampart_export_failed_total", "webhook"),
        0,
        "{m}"
    );
}

/// Poll the daemon's log until it contains `needle` (10 s at most).
fn wait_log(d: &Daemon, needle: &str) -> String {
    let t0 = Instant::now();
    loop {
        let log = d.log_text();
        // The whole line: `eprintln!` may reach the file in several writes.
        let complete = log.find(needle).is_some_and(|i| log[i..].contains('\n'));
        if complete || t0.elapsed() > Duration::from_secs(10) {
            return log;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Deny `n` times; every decision must come back (the failing webhook is not waited for).
fn denies_keep_flowing(d: &Daemon, n: usize) {
    let mut c = d.conn();
    for _ in 0..n {
        let r = c.preflight("rm -f marker", &[]);
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["decision"], "deny", "{v}");
        assert!(v["audit_id"].is_string(), "{v}");
    }
}

#[test]
fn notify_https_webhook_refuses_a_certificate_the_system_store_does_not_trust() {
    let ca = test_ca("untrusted test CA");
    let (port, rx) = tls_webhook_server(&ca, &["127.0.0.1"]);
    let policy = format!("{TEST_POLICY}notify:\n  url: https://127.0.0.1:{port}{HOOK_PATH}\n");
    // No --webhook-ca: the system trust store, which does not hold the test CA.
    let d = Daemon::start_with(Opts {
        policy: &policy,
        ..Opts::default()
    });
    preflight_as(&d, "a", "s", &deny_with_secret());
    assert!(wait_counter(&d, "rampart_export_failed_total", "webhook", 1) >= 1);
    let log = wait_log(&d, "rampart: export webhook: POST https://");
    // The daemon inherits this environment, so it sees the same system store.
    if rustls_native_certs::load_native_certs().certs.is_empty() {
        // A machine without a CA bundle: nothing to trust, no connection at all.
        assert!(
            log.contains("TLS setup: no certificate in the system trust store"),
            "{log}"
        );
    } else {
        // The server saw a handshake the client aborted, never a request.
        let seen = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a TLS attempt");
        assert!(
            seen.is_err(),
            "request delivered despite an untrusted CA: {seen:?}"
        );
        assert!(
            log.contains(&format!(
                "rampart: export webhook: POST https://127.0.0.1:{port}/…: \
                 TLS: invalid peer certificate: UnknownIssuer"
            )),
            "{log}"
        );
    }
    assert!(!log.contains("PathSecretXYZ"), "webhook path logged: {log}");
    assert!(!log.contains(SECRET), "{log}");

    // Decisions keep flowing while every notification fails.
    denies_keep_flowing(&d, 20);
    assert!(wait_counter(&d, "rampart_export_failed_total", "webhook", 21) >= 2);
    let m = metrics(&d);
    assert_eq!(
        counter(&m, "rampart_export_sent_total", "webhook"),
        0,
        "{m}"
    );
    assert!(m.contains("rampart_audit_events_total 21"), "{m}");
    while let Ok(seen) = rx.recv_timeout(Duration::from_millis(200)) {
        assert!(seen.is_err(), "request delivered: {seen:?}");
    }
}

/// A daemon that trusts only `trusted` (`--webhook-ca`) and notifies an HTTPS
/// webhook on 127.0.0.1 whose certificate `server_ca` issued for `names`.
/// After `denies` denies, the TLS attempt must have failed (`why` says what a
/// delivery would mean), been counted, and logged as `log_says`. Returns the
/// daemon and the directory holding the CA file.
fn refused_tls_webhook(
    server_ca: &TestCa,
    names: &[&str],
    trusted: &TestCa,
    denies: usize,
    why: &str,
    log_says: &str,
) -> (Daemon, tempfile::TempDir) {
    let (port, rx) = tls_webhook_server(server_ca, names);
    let tmp = tempfile::tempdir().unwrap();
    let policy = format!("{TEST_POLICY}notify:\n  url: https://127.0.0.1:{port}/hook\n");
    let d = Daemon::start_with(Opts {
        policy: &policy,
        args: vec!["--webhook-ca".into(), ca_file(&tmp, trusted)],
        ..Opts::default()
    });
    denies_keep_flowing(&d, denies);
    let seen = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a TLS attempt");
    assert!(seen.is_err(), "{why}: {seen:?}");
    assert!(wait_counter(&d, "rampart_export_failed_total", "webhook", denies as u64) >= 1);
    let log = wait_log(&d, log_says);
    assert!(log.contains(log_says), "{log}");
    (d, tmp)
}

#[test]
fn notify_https_webhook_with_a_private_ca_still_checks_the_host_name() {
    let ca = test_ca("rampart test CA");
    // Issued by the trusted CA, but for another name than the URL's 127.0.0.1.
    let (d, _tmp) = refused_tls_webhook(
        &ca,
        &["hooks.example.test"],
        &ca,
        3,
        "delivered to a host the certificate does not name",
        "TLS: invalid peer certificate: certificate not valid for name",
    );
    assert_eq!(
        counter(&metrics(&d), "rampart_export_sent_total", "webhook"),
        0
    );
}

#[test]
fn notify_https_webhook_trusts_only_the_given_ca_file() {
    // --webhook-ca replaces the system store: a server from another CA is refused.
    let trusted = test_ca("trusted test CA");
    let other = test_ca("other test CA");
    refused_tls_webhook(
        &other,
        &["127.0.0.1"],
        &trusted,
        2,
        "delivered under an untrusted CA",
        "TLS: invalid peer certificate: UnknownIssuer",
    );
}

/// `rampart serve <args>` with its socket, audit dir, token file and HOME in
/// `tmp` (for flags that must stop it at start).
fn serve_in(tmp: &tempfile::TempDir, args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(bin())
        .arg("serve")
        .args(args)
        .arg("--socket")
        .arg(tmp.path().join("s.sock"))
        .arg("--audit-dir")
        .arg(tmp.path().join("audit"))
        .arg("--token-file")
        .arg(tmp.path().join("token"))
        .env_remove("RAMPART_TOKEN")
        .env("HOME", tmp.path())
        .output()
        .unwrap()
}

#[test]
fn webhook_ca_file_without_certificates_stops_the_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("not-a-ca.pem");
    std::fs::write(&bad, "hello\n").unwrap();
    let out = serve_in(&tmp, &["--webhook-ca".as_ref(), bad.as_ref()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--webhook-ca") && err.contains("no PEM certificate"),
        "{err}"
    );
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
    let out = serve_in(&tmp, &["--cef".as_ref()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--cef needs --syslog"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
