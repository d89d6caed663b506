//! The audit trail end to end: events written by the real daemon, `rampart audit
//! verify` on intact and tampered logs, rotation, crash recovery, redaction and the
//! audit-failure policy.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// A daemon that answered `n` allowed requests and was stopped cleanly.
fn log_with(n: usize, args: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("policy.yaml"), TEST_POLICY).unwrap();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut d = Daemon::start_in(tmp.path(), &args, false);
    let mut c = d.conn();
    for i in 0..n {
        assert_eq!(c.preflight(&format!("echo {i}"), &[]).status, 200);
    }
    assert!(d.stop());
    let audit = d.audit.clone();
    (tmp, audit)
}

fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.path().join(p.file_name().unwrap())).unwrap();
    }
    to
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(p: &Path, l: &[String]) {
    std::fs::write(p, l.join("\n") + "\n").unwrap();
}

#[test]
fn every_answered_decision_is_one_chained_event() {
    let (_t, audit) = log_with(10, &[]);
    let ev = events(&audit);
    assert_eq!(ev.len(), 10);
    let mut prev = String::new();
    for (i, e) in ev.iter().enumerate() {
        assert_eq!(e["schema_version"], "rampart.audit.v1");
        assert_eq!(e["id"].as_str().unwrap().len(), 26);
        assert_eq!(e["tool"], "exec");
        assert_eq!(e["request"]["command"], format!("echo {i}"));
        assert_eq!(e["decision"]["action"], "allow");
        assert_eq!(e["decision"]["policy"], "test-allow");
        assert_eq!(e["agent"], "test-agent");
        assert_eq!(e["session"], "test-session");
        assert!(e["peer"]["pid"].is_u64() && e["peer"]["uid"].is_u64());
        assert!(e["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(e["prev_hash"], prev.as_str());
        prev = e["hash"].as_str().unwrap().to_string();
        assert!(prev.starts_with("sha256:") && prev.len() == 71);
    }
    let (ok, out) = verify(&audit);
    assert!(ok, "{out}");
    assert!(
        out.contains("Chain verified: 10 events across 1 files"),
        "{out}"
    );
    let mode = std::fs::metadata(&audit).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o700
    );
}

#[test]
fn newlines_and_terminal_escapes_in_commands_cannot_break_a_line() {
    let d = Daemon::start();
    let mut c = d.conn();
    let nasty = "echo a\nb\r\n{\"id\":\"forged\"}\u{1b}[2J\u{1b}]0;title\u{7}\u{2028}end";
    assert_eq!(c.preflight(nasty, &[]).status, 200);
    c.preflight("ls", &[]);
    let files = chain_files(&d.audit);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\r'));
    assert!(text.contains("\\u001b[2J"));
    let ev = events(&d.audit);
    assert_eq!(ev[0]["request"]["command"], nasty);
    assert!(verify(&d.audit).0);
    // `audit tail` prints it without raw control characters.
    let out = std::process::Command::new(bin())
        .args(["audit", "tail", "--audit-dir"])
        .arg(&d.audit)
        .output()
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    assert_eq!(s.lines().count(), 2, "{s}");
    assert!(!s.contains('\u{1b}'));
}

#[test]
fn secrets_are_redacted_in_the_log_while_the_engine_decides_on_them() {
    let policy = format!(
        "{}  - name: no-leaks\n    match:\n      tool: exec\n    rules:\n      - action: deny\n        when:\n          command_contains: [\"ghp_\"]\n        message: token in command\n",
        TEST_POLICY
    );
    let d = Daemon::start_with(Opts {
        policy: &policy,
        ..Default::default()
    });
    let mut c = d.conn();
    let secret = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
    let v = c.preflight(&format!("echo {secret}"), &[]).json();
    assert_eq!(
        v["decision"], "deny",
        "engine saw the unredacted command: {v}"
    );
    c.preflight("echo https://bob:hunter2@example.com GITHUB_TOKEN=abc123 -H 'Authorization: Bearer zzzzzzzzzzzz'", &[]);
    let text: String = chain_files(&d.audit)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for leaked in [secret, "hunter2", "abc123", "zzzzzzzzzzzz"] {
        assert!(!text.contains(leaked), "{leaked} leaked into the audit log");
    }
    assert!(text.contains("[REDACTED]"));
    assert!(verify(&d.audit).0);
}

#[test]
fn verify_detects_each_kind_of_tampering_with_file_and_line() {
    let (_t, audit) = log_with(8, &[]);
    assert!(verify(&audit).0);
    let file_name = chain_files(&audit)[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    type Tamper = fn(&mut Vec<String>);
    let tampers: [(&str, Tamper, Option<usize>); 5] = [
        ("edit", |l| l[3] = l[3].replace("echo 3", "echo X"), Some(4)),
        (
            "delete",
            |l| {
                l.remove(4);
            },
            Some(5),
        ),
        (
            "insert",
            |l| {
                let dup = l[2].clone();
                l.insert(5, dup);
            },
            Some(6),
        ),
        ("reorder", |l| l.swap(2, 3), Some(3)),
        (
            "delete tail",
            |l| {
                l.truncate(6);
            },
            None,
        ),
    ];
    for (what, f, line) in tampers {
        let copy = copy_dir(&audit);
        let p = chain_files(copy.path())[0].clone();
        let mut l = lines(&p);
        f(&mut l);
        write_lines(&p, &l);
        let (ok, out) = verify(copy.path());
        assert!(!ok, "{what} not detected: {out}");
        assert!(out.contains("CHAIN BROKEN"), "{what}: {out}");
        if let Some(n) = line {
            assert!(out.contains(&format!("{file_name}:{n}:")), "{what}: {out}");
        }
    }
    // Truncation in the middle of a line.
    let copy = copy_dir(&audit);
    let p = chain_files(copy.path())[0].clone();
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 40]).unwrap();
    let (ok, out) = verify(copy.path());
    assert!(!ok && out.contains("unterminated"), "{out}");
    assert!(out.contains(&format!("{file_name}:8:")), "{out}");
    // A one-byte edit of a hash.
    let copy = copy_dir(&audit);
    let p = chain_files(copy.path())[0].clone();
    let mut l = lines(&p);
    let last = l.len() - 1;
    let h = l[last].clone();
    let flipped = if h.ends_with("0\"}") {
        h.replacen("0\"}", "1\"}", 1)
    } else {
        format!("{}0\"}}", &h[..h.len() - 3])
    };
    l[last] = flipped;
    write_lines(&p, &l);
    let (ok, out) = verify(copy.path());
    assert!(!ok, "{out}");
}

#[test]
fn rotation_continues_the_chain_across_files_and_anchors_are_written() {
    let (_t, audit) = log_with(150, &["--audit-rotate-bytes", "8192"]);
    let files = chain_files(&audit);
    assert!(files.len() >= 3, "expected rotation, got {files:?}");
    for (i, f) in files.iter().enumerate().skip(1) {
        let first: Value = serde_json::from_str(&lines(f)[0]).unwrap();
        let prev_last: Value = serde_json::from_str(lines(&files[i - 1]).last().unwrap()).unwrap();
        assert_eq!(first["chain_continue"], prev_last["hash"]);
        assert_eq!(
            first["prev_file"],
            files[i - 1].file_name().unwrap().to_str().unwrap()
        );
    }
    assert_eq!(events(&audit).len(), 150);
    let anchor: Value =
        serde_json::from_str(&std::fs::read_to_string(audit.join("audit-anchor.json")).unwrap())
            .unwrap();
    assert_eq!(anchor["event_count"], 100);
    assert_eq!(anchor["hash"], events(&audit)[99]["hash"]);
    let (ok, out) = verify(&audit);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("150 events across {} files", files.len())),
        "{out}"
    );
    // Deleting the first file or a continuation header breaks the chain.
    let copy = copy_dir(&audit);
    std::fs::remove_file(copy.path().join(files[0].file_name().unwrap())).unwrap();
    assert!(!verify(copy.path()).0);
    let copy = copy_dir(&audit);
    let p = copy.path().join(files[1].file_name().unwrap());
    let mut l = lines(&p);
    l.remove(0);
    write_lines(&p, &l);
    let (ok, out) = verify(copy.path());
    assert!(!ok && out.contains("continuation header"), "{out}");
}

#[test]
fn a_torn_last_line_is_cut_and_recorded_on_restart() {
    let (t, audit) = log_with(3, &[]);
    let p = chain_files(&audit)[0].clone();
    let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    std::io::Write::write_all(&mut f, br#"{"schema_version":"rampart.audit.v1","id":"01J"#)
        .unwrap();
    drop(f);
    assert!(!verify(&audit).0);
    let mut d = Daemon::start_in(t.path(), &[], false);
    d.conn().preflight("ls", &[]);
    assert!(d.stop());
    let ev = events(&audit);
    assert_eq!(ev.len(), 5);
    assert_eq!(ev[3]["kind"], "audit_truncated");
    assert!(ev[3]["request"]["truncated_bytes"].as_u64().unwrap() > 0);
    assert_eq!(ev[4]["request"]["command"], "ls");
    let (ok, out) = verify(&audit);
    assert!(ok, "{out}");
}

#[test]
fn sigkill_under_load_leaves_a_verifiable_chain_with_every_answer_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("policy.yaml"), TEST_POLICY).unwrap();
    let mut d = Daemon::start_in(tmp.path(), &[], false);
    let answered = Arc::new(AtomicU64::new(0));
    let clients = 4;
    let mut threads = Vec::new();
    for t in 0..clients {
        let sock = d.socket.clone();
        let answered = answered.clone();
        threads.push(std::thread::spawn(move || {
            let s = std::os::unix::net::UnixStream::connect(sock).unwrap();
            let mut c = Conn::new(Box::new(s));
            let body =
                format!(r#"{{"agent":"load","params":{{"command":"echo {t}"}},"enforce":true}}"#);
            let req = format!(
                "POST /v1/preflight/exec HTTP/1.1\r\nHost: r\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            loop {
                c.send_raw(req.as_bytes());
                match c.read_response() {
                    Some(r) if r.status == 200 => {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => return,
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(400));
    d.kill9();
    for t in threads {
        let _ = t.join();
    }
    let answered = answered.load(Ordering::SeqCst);
    assert!(answered > 0);
    let (ok, out) = verify(&d.audit);
    assert!(ok, "{out}");
    let written = events(&d.audit).len() as u64;
    // Written before answered: every answer is recorded; at most one in-flight
    // request per client may have been written but not answered.
    assert!(
        written >= answered && written <= answered + clients,
        "written {written}, answered {answered}"
    );
    // A restart continues the chain.
    let mut d2 = Daemon::start_in(tmp.path(), &[], false);
    d2.conn().preflight("ls", &[]);
    assert!(d2.stop());
    let (ok, out) = verify(&d2.audit);
    assert!(ok, "{out}");
    assert_eq!(events(&d2.audit).len() as u64, written + 1);
}

#[test]
fn fsync_always_and_never_both_write_valid_chains() {
    for mode in ["always", "never"] {
        let (_t, audit) = log_with(5, &["--fsync", mode]);
        let (ok, out) = verify(&audit);
        assert!(ok, "{mode}: {out}");
        assert_eq!(events(&audit).len(), 5);
    }
}

/// Make the next rotation fail: a dangling symlink where the next part file goes
/// (the writer opens with O_NOFOLLOW), which fails even for root.
fn break_next_rotation(audit: &Path) {
    let first = chain_files(audit)[0].clone();
    let stem = first
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".jsonl")
        .to_string();
    std::os::unix::fs::symlink(
        "/nonexistent/rampart-test",
        audit.join(format!("{stem}.p1.jsonl")),
    )
    .unwrap();
}

#[test]
fn audit_failure_deny_refuses_with_200_and_allow_answers_and_counts() {
    for policy in ["deny", "allow"] {
        let d = Daemon::start_with(Opts {
            args: vec![
                "--audit-rotate-bytes".into(),
                "1024".into(),
                "--audit-failure".into(),
                policy.into(),
            ],
            ..Default::default()
        });
        let mut c = d.conn();
        assert_eq!(c.preflight("ls", &[]).status, 200);
        break_next_rotation(&d.audit);
        let mut last = None;
        for _ in 0..10 {
            let r = c.preflight("echo filling the first file up", &[]);
            if r.status != 200 || r.json()["audit_id"].is_null() {
                last = Some(r);
                break;
            }
        }
        let r = last.expect("rotation failure should surface");
        let health = c.request("GET", "/healthz", &[], b"").json();
        assert!(health["audit_write_errors"].as_u64().unwrap() >= 1);
        if policy == "deny" {
            // A refusal, not a 5xx: preload clients fail open on 5xx.
            assert_eq!(r.status, 200);
            let v = r.json();
            assert_eq!(v["allowed"], false);
            assert_eq!(v["decision"], "deny");
            assert!(v["error"].as_str().unwrap().contains("audit"));
        } else {
            assert_eq!(r.status, 200);
            assert_eq!(r.json()["allowed"], true);
        }
        let m = String::from_utf8(c.request("GET", "/metrics", &[], b"").body).unwrap();
        assert!(!m.contains("rampart_audit_write_errors_total 0"), "{m}");
    }
}

#[test]
fn audit_tail_prints_the_last_events() {
    let (_t, audit) = log_with(5, &[]);
    let out = std::process::Command::new(bin())
        .args(["audit", "tail", "-n", "2", "--audit-dir"])
        .arg(&audit)
        .output()
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    let l: Vec<&str> = s.lines().collect();
    assert_eq!(l.len(), 2, "{s}");
    assert!(l[0].contains("echo 3") && l[1].contains("echo 4"), "{s}");
    assert!(
        l[1].contains("allow") && l[1].contains("policy=test-allow"),
        "{s}"
    );
}

/// Reads the anchor file once it names `count` events (polling every 5 ms, at most
/// 5 s); returns it and when it was first seen so.
fn anchor_at(audit: &std::path::Path, count: u64) -> (Value, std::time::Instant) {
    let path = audit.join("audit-anchor.json");
    let t0 = std::time::Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let anchor: Value = serde_json::from_str(&text).unwrap();
            if anchor["event_count"] == count {
                return (anchor, std::time::Instant::now());
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no anchor for {count} events"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_anchor_is_written_in_the_background_at_most_once_a_second() {
    let d = Daemon::start();
    let mut c = d.conn();
    let mut ask = |from: usize| {
        for i in from..from + 100 {
            assert_eq!(c.preflight(&format!("echo {i}"), &[]).status, 200);
        }
    };
    ask(0);
    // Not on the request path (its fdatasync would hold up an answer), but soon.
    let (anchor, seen) = anchor_at(&d.audit, 100);
    assert_eq!(anchor["hash"], events(&d.audit)[99]["hash"]);
    ask(100);
    // The 200th event's anchor is due now, and the sync thread runs every 10 ms,
    // but the file was rewritten less than a second ago (at most 5 ms before
    // `seen`): it waits for its turn. (Skipped on a machine too slow to look
    // within 0.9 s.)
    std::thread::sleep(Duration::from_millis(300).saturating_sub(seen.elapsed()));
    let text = std::fs::read_to_string(d.audit.join("audit-anchor.json")).unwrap();
    if seen.elapsed() < Duration::from_millis(900) {
        let anchor: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(anchor["event_count"], 100, "rewritten early: {anchor}");
    }
    let (anchor, _) = anchor_at(&d.audit, 200);
    assert_eq!(anchor["hash"], events(&d.audit)[199]["hash"]);
    assert!(verify(&d.audit).0);
}
