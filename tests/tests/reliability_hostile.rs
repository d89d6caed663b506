//! Hostile input: malformed and abusive HTTP on the daemon's socket while a
//! well-behaved client keeps asking, control characters that try to forge
//! audit lines, and pathological commands through the engine.
//!
//! Sizes: `RAMPART_HOSTILE_SLOWLORIS` (slow connections, default 50).

use e2e::daemon::DENY_MARKER_POLICY;
use e2e::stress::{audit_events, audit_files, env_usize, figure, preflight, Resp, Serve, Stats};
use e2e::{preloaded, python3, scratch};
use engine::{Action, Engine, ToolCall};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a raw exchange produced.
#[derive(Debug)]
struct Raw {
    status: Option<u16>,
    body: String,
    elapsed: Duration,
}

/// Sends `bytes` on a fresh connection (write errors ignored: the daemon may
/// close early), half-closes if `shutdown`, and reads the answer (or the close).
fn raw(socket: &Path, bytes: &[u8], shutdown: bool, timeout: Duration) -> Raw {
    let t = Instant::now();
    let mut s = UnixStream::connect(socket).expect("connect");
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    let _ = s.write_all(bytes);
    if shutdown {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let parsed = e2e::stress::parse_response(&buf).ok();
    Raw {
        status: parsed.as_ref().map(|r| r.status),
        body: parsed.map(|r| r.body).unwrap_or_default(),
        elapsed: t.elapsed(),
    }
}

fn request(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v =
        format!("POST /v1/preflight/exec HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes();
    v.extend_from_slice(body);
    v
}

fn json_req(ct: &str, body: &[u8]) -> Vec<u8> {
    request(
        &format!(
            "Content-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        ),
        body,
    )
}

/// A well-behaved client asking every 20 ms until `stop`; returns latencies
/// and failures.
fn good_client(
    socket: PathBuf,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Vec<Duration>, Vec<String>)> {
    std::thread::spawn(move || {
        let (mut lat, mut bad) = (Vec::new(), Vec::new());
        while !stop.load(SeqCst) {
            let t = Instant::now();
            match preflight(&socket, "git status", Duration::from_secs(10)) {
                Ok(Resp { status: 200, .. }) => lat.push(t.elapsed()),
                Ok(r) => bad.push(format!("{} {}", r.status, r.body)),
                Err(e) => bad.push(e.to_string()),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (lat, bad)
    })
}

#[test]
// One push per case reads better than a 20-element `vec![]` literal.
#[allow(clippy::vec_init_then_push)]
fn malformed_http_gets_bounded_4xx_or_close_and_others_keep_being_served() {
    let dir = scratch();
    let d = Serve::new(dir.path(), DENY_MARKER_POLICY).start();
    let stop = Arc::new(AtomicBool::new(false));
    let good = good_client(d.socket.clone(), stop.clone());
    let sock = d.socket.as_path();
    let t5 = Duration::from_secs(5);

    // Slow-loris connections: one header byte every 500 ms, held open.
    let loris_n = env_usize("RAMPART_HOSTILE_SLOWLORIS", 50);
    let loris: Vec<_> = (0..loris_n)
        .map(|_| {
            let s = sock.to_path_buf();
            std::thread::spawn(move || {
                let t = Instant::now();
                let mut c = UnixStream::connect(&s).expect("connect");
                c.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
                let line = b"POST /v1/preflight/exec HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
                for b in line.iter().cycle() {
                    if c.write_all(&[*b]).is_err() {
                        break;
                    }
                    let mut one = [0u8; 1];
                    if c.read(&mut one).is_ok() {
                        break; // an answer or EOF: the daemon ended it
                    }
                    if t.elapsed() > Duration::from_secs(60) {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                Some(t.elapsed())
            })
        })
        .collect();

    let mut cases: Vec<(&str, Raw)> = Vec::new();
    cases.push((
        "truncated request line",
        raw(sock, b"POST /v1/pre", true, t5),
    ));
    cases.push((
        "truncated headers",
        raw(
            sock,
            b"POST /v1/preflight/exec HTTP/1.1\r\nHost: x\r\nContent-Le",
            true,
            t5,
        ),
    ));
    cases.push((
        "truncated body (half-closed)",
        raw(
            sock,
            &request("Content-Length: 100\r\n", b"{\"params\":"),
            true,
            t5,
        ),
    ));
    cases.push((
        "truncated body (held open)",
        raw(
            sock,
            &request("Content-Length: 100\r\n", b"{\"params\":"),
            false,
            Duration::from_secs(20),
        ),
    ));
    let ten_mb = vec![b'a'; 10 * 1024 * 1024];
    cases.push((
        "10 MB body with Content-Length",
        raw(sock, &json_req("application/json", &ten_mb), false, t5),
    ));
    let mut chunked = request("Transfer-Encoding: chunked\r\nConnection: close\r\n", b"");
    for _ in 0..160 {
        chunked.extend_from_slice(format!("{:x}\r\n", 65536).as_bytes());
        chunked.extend_from_slice(&[b'a'; 65536]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    cases.push(("10 MB chunked body", raw(sock, &chunked, false, t5)));
    let cmd = br#"{"params":{"command":"ls"}}"#;
    cases.push((
        "text/plain JSON",
        raw(sock, &json_req("text/plain", cmd), false, t5),
    ));
    cases.push((
        "form-encoded body",
        raw(
            sock,
            &json_req("application/x-www-form-urlencoded", b"params=ls"),
            false,
            t5,
        ),
    ));
    let deep = format!(
        "{{\"params\":{{\"command\":\"ls\"}},\"x\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    cases.push((
        "100k-deep nested JSON",
        raw(
            sock,
            &json_req("application/json", deep.as_bytes()),
            false,
            t5,
        ),
    ));
    let deep5k = format!(
        "{{\"params\":{{\"command\":\"ls\"}},\"x\":{}{}}}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    cases.push((
        "5,000-deep nested JSON",
        raw(
            sock,
            &json_req("application/json", deep5k.as_bytes()),
            false,
            t5,
        ),
    ));
    cases.push((
        "invalid UTF-8 in JSON",
        raw(
            sock,
            &json_req(
                "application/json",
                b"{\"params\":{\"command\":\"ls \xff\xfe\"}}",
            ),
            false,
            t5,
        ),
    ));
    let mut many = String::new();
    for i in 0..10_000 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    cases.push((
        "10,000 headers",
        raw(
            sock,
            &request(&format!("{many}Content-Length: 2\r\n"), b"{}"),
            false,
            t5,
        ),
    ));
    cases.push((
        "1 MB header value",
        raw(
            sock,
            &request(
                &format!("X-Big: {}\r\nContent-Length: 2\r\n", "b".repeat(1 << 20)),
                b"{}",
            ),
            false,
            t5,
        ),
    ));
    cases.push((
        "Content-Length and chunked together",
        raw(
            sock,
            &request(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                b"0\r\n\r\n",
            ),
            false,
            t5,
        ),
    ));
    cases.push((
        "binary garbage",
        raw(
            sock,
            &[0u8, 1, 2, 0xff, b'\r', b'\n', b'\r', b'\n'],
            true,
            t5,
        ),
    ));
    cases.push((
        "negative Content-Length",
        raw(sock, &request("Content-Length: -1\r\n", b"{}"), false, t5),
    ));
    cases.push((
        "body of a JSON array",
        raw(sock, &json_req("application/json", b"[1,2,3]"), false, t5),
    ));
    cases.push((
        "1 MiB JSON string (over the 64 KiB limit)",
        raw(
            sock,
            &json_req(
                "application/json",
                format!("{{\"params\":{{\"command\":\"{}\"}}}}", "a".repeat(1 << 20)).as_bytes(),
            ),
            false,
            t5,
        ),
    ));

    let dup = br#"{"params":{"command":"ls"},"params":{"command":"touch marker-denied"}}"#;
    let dup_r = raw(sock, &json_req("application/json", dup), false, t5);

    let loris_closed: Vec<Option<Duration>> = loris
        .into_iter()
        .map(|h| h.join().expect("loris"))
        .collect();
    stop.store(true, SeqCst);
    let (mut lat, bad) = good.join().expect("good client");
    let stats = Stats::of(&mut lat);

    for (name, r) in &cases {
        figure(
            &format!("hostile_http.{name}"),
            format!(
                "{:?} in {:.0?} {}",
                r.status,
                r.elapsed,
                r.body.chars().take(90).collect::<String>()
            ),
        );
    }
    figure(
        "hostile_http.duplicate keys",
        format!(
            "{:?} {}",
            dup_r.status,
            dup_r.body.chars().take(120).collect::<String>()
        ),
    );
    let closed: Vec<Duration> = loris_closed.iter().flatten().copied().collect();
    figure(
        "hostile_http.slowloris",
        format!(
            "{loris_n} connections, {} closed by the daemon, after at most {:.1?}",
            closed.len(),
            closed.iter().max()
        ),
    );
    figure("hostile_http.good_client_during", stats);

    // Every malformed request gets a 4xx or a closed connection, never a 2xx
    // or 5xx, within its bound.
    for (name, r) in &cases {
        let bound = if name.contains("held open") {
            Duration::from_secs(15)
        } else {
            Duration::from_secs(5)
        };
        assert!(r.elapsed <= bound, "{name}: took {:?}", r.elapsed);
        if *name == "text/plain JSON" {
            // The content type is not checked (the preload sends none): decided normally.
            assert!(matches!(r.status, Some(200) | Some(415)), "{name}: {r:?}");
            continue;
        }
        assert!(
            r.status.is_none() || (400..500).contains(&r.status.unwrap()),
            "{name}: {:?} {}",
            r.status,
            r.body
        );
    }
    // Duplicate keys: whatever is decided must be what is audited.
    if dup_r.status == Some(200) {
        let j: serde_json::Value = serde_json::from_str(&dup_r.body).unwrap();
        let id = j["audit_id"].as_str().unwrap();
        let ev = d
            .events()
            .into_iter()
            .find(|e| e["id"] == id)
            .expect("audited");
        let audited = ev["request"]["command"].as_str().unwrap_or("").to_string();
        figure(
            "hostile_http.duplicate keys.audited",
            format!("{audited:?} -> {}", j["decision"]),
        );
        let denied = j["decision"] == "deny";
        assert_eq!(
            denied,
            audited.contains("marker-denied"),
            "decided on one value, audited another"
        );
    }
    assert_eq!(
        closed.len(),
        loris_n,
        "slow-loris connections were never closed"
    );
    assert!(bad.is_empty(), "well-behaved client failed: {bad:?}");
    assert!(stats.n > 10, "well-behaved client barely ran: {stats}");
    assert!(
        stats.max < Duration::from_secs(2),
        "well-behaved client waited {:?}",
        stats.max
    );
}

/// Idle connections up to and beyond `--max-connections`: a well-behaved
/// client must still be answered (the daemon closes the longest-idle
/// connection to admit it; R1 in docs/RELIABILITY.md). Reports how long it
/// waited.
#[test]
fn idle_connection_flood_does_not_starve_a_new_client() {
    let (status, waited) =
        flood_then_ask(64, 80, b"", "hostile_http.idle_flood", "idle connections");
    assert!(
        waited < Duration::from_secs(2),
        "a new client waited {waited:?} behind idle connections (hook deadline is 1 s by default); answer {status:?}"
    );
}

/// Slow-loris clients that send part of a request head and stop hold their slots
/// only until they have stalled for the daemon's eviction limit (1.5 s), not for
/// hyper's 30 s header timeout: a new client is answered soon after.
#[test]
fn stalled_partial_requests_do_not_starve_a_new_client() {
    let (status, waited) = flood_then_ask(
        16,
        24,
        b"POST /v1/preflight/exec HTTP/1.1\r\nHost: rampart\r\n",
        "hostile_http.stalled_flood",
        "stalled partial requests",
    );
    assert_eq!(status, Some(200));
    assert!(
        waited < Duration::from_secs(5),
        "a new client waited {waited:?} behind stalled partial requests (hyper's header timeout is 30 s)"
    );
}

/// Starts a daemon with `--max-connections limit`, opens `count` connections that
/// each send `prefix` (nothing, or part of a request) and stay open, then times a
/// new client's preflight and records the figure. Returns its status (None: no
/// answer within 40 s) and how long it waited.
fn flood_then_ask(
    limit: usize,
    count: usize,
    prefix: &[u8],
    figure_name: &str,
    what: &str,
) -> (Option<u16>, Duration) {
    use std::io::Write;
    let dir = scratch();
    let d = Serve::new(dir.path(), DENY_MARKER_POLICY)
        .args(&["--max-connections", &limit.to_string()])
        .start();
    let held: Vec<UnixStream> = (0..count)
        .map(|_| {
            let mut s = UnixStream::connect(&d.socket).expect("connect");
            s.write_all(prefix).expect("send the prefix");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let status = preflight(&d.socket, "git status", Duration::from_secs(40))
        .ok()
        .map(|r| r.status);
    let waited = t.elapsed();
    figure(
        figure_name,
        format!("{count} {what} vs --max-connections {limit}: new client answered {status:?} after {waited:.1?}"),
    );
    drop(held);
    (status, waited)
}

/// Control characters, newlines and invalid UTF-8 in argv (through the real
/// preload) and in preflight bodies cannot forge or split audit lines.
#[test]
fn control_characters_cannot_forge_audit_lines() {
    let dir = scratch();
    let d = Serve::new(dir.path(), DENY_MARKER_POLICY).start();
    let forged = "{\"id\":\"FORGED\",\"decision\":{\"action\":\"allow\"}}";
    let code = format!(
        "import subprocess\n\
         args = [b'/bin/echo', b'a\\nb', b'c\\rd', b'\\x1b[2K\\x1b[31mred', b'\\xff\\xfe\\x80', b'\\n{forged}\\n', b'\\x00'[:0] + b'\\x07\\x08\\x7f']\n\
         subprocess.run(args, stdout=subprocess.DEVNULL)\n"
    );
    let out = preloaded(python3(), &d.socket)
        .arg("-c")
        .arg(&code)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for cmd in [
        "echo a\nb",
        "echo \r\u{1b}[2Kx",
        &format!("echo \n{forged}\n"),
        "echo \u{2028}\u{0}",
    ] {
        let r = preflight(&d.socket, cmd, Duration::from_secs(5)).expect("answer");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    std::thread::sleep(Duration::from_millis(100));
    let lines: usize = audit_files(&d.audit_dir)
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap().lines().count())
        .sum();
    let events = audit_events(&d.audit_dir); // panics on a line that is not JSON
    figure(
        "forge.audit",
        format!("{lines} lines, {} events, all parse", events.len()),
    );
    assert_eq!(lines, events.len(), "an event spans more than one line");
    assert!(
        events.iter().all(|e| e["id"] != "FORGED"),
        "a forged event id appeared"
    );
    assert_eq!(events.len(), 5, "one event per exec/preflight expected");
    let v = d.verify();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

fn exec_enforced(e: &Engine, cmd: &str) -> (engine::Decision, Duration) {
    let call = ToolCall::exec(cmd);
    let t = Instant::now();
    let d = e.enforce(&call);
    (d, t.elapsed())
}

/// Pathological commands through the engine with the shipped standard policy:
/// no panic, bounded time (debug build; release timings are in the
/// `pathological` criterion bench), and the decision for what the engine
/// cannot parse.
#[test]
fn pathological_commands_do_not_panic_and_stay_bounded() {
    let t = Instant::now();
    let e = Engine::standard();
    figure(
        "engine_pathological.load_standard",
        format!("{:.2?}", t.elapsed()),
    );
    let nested = |n: usize| format!("echo {}x{}", "$(echo ".repeat(n), ")".repeat(n));
    let quotes = |n: usize| {
        let mut s = String::from("echo ");
        for i in 0..n {
            s.push(if i % 2 == 0 { '"' } else { '\'' });
        }
        for i in (0..n).rev() {
            s.push(if i % 2 == 0 { '"' } else { '\'' });
        }
        s
    };
    let binary: String = (0u8..=255).map(|b| b as char).collect();
    let lossy = String::from_utf8_lossy(b"ls \xff\xfe\x80 /tmp").into_owned();
    let cases: Vec<(&str, String)> = vec![
        ("1 MiB argv", format!("echo {}", "a".repeat(1 << 20))),
        ("1 MiB of words", format!("echo {}", "ab ".repeat(1 << 18))),
        (
            "10,000 args",
            format!(
                "touch {}",
                (0..10_000)
                    .map(|i| format!("f{i}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        ("binary bytes", format!("echo {binary}")),
        ("invalid UTF-8 (lossy)", lossy),
        (
            "newlines, CR, ANSI",
            "echo a\nrm -rf /\r\u{1b}[2K\u{1b}[1Aok".to_string(),
        ),
        ("nested $( ) x 50", nested(50)),
        ("nested $( ) x 2000", nested(2_000)),
        ("unclosed $( x 5000", format!("echo {}", "$(".repeat(5_000))),
        ("nested quotes x 2000", quotes(2_000)),
        ("backticks x 5000", format!("echo {}", "`".repeat(5_000))),
        ("10,000 pipes", vec!["cat"; 10_000].join(" | ")),
        ("10,000 semicolons", ";".repeat(10_000)),
        (
            "8 KiB of backslashes",
            format!("echo {}", "\\".repeat(8192)),
        ),
        (
            "sudo env nice x 500 wrappers",
            format!("{}rm -rf /", "sudo env nice ".repeat(500)),
        ),
        ("deep bash -c nesting", {
            let mut s = "rm -rf /".to_string();
            // Each level doubles the escaping: 10 levels stay under 8 KiB.
            for _ in 0..10 {
                s = format!("bash -c {:?}", s);
            }
            s
        }),
    ];
    let mut worst = Duration::ZERO;
    for (name, cmd) in &cases {
        let r = std::panic::catch_unwind(|| exec_enforced(&e, cmd));
        let (d, took) = r.unwrap_or_else(|_| panic!("{name}: engine panicked"));
        worst = worst.max(took);
        figure(
            &format!("engine_pathological.{name}"),
            format!(
                "{} in {:.2?} (opaque: {:?}, {} components)",
                d.action,
                took,
                d.opaque,
                d.components.len()
            ),
        );
        assert!(took < Duration::from_secs(5), "{name}: {took:?}");
    }
    figure(
        "engine_pathological.worst",
        format!("{worst:.2?} (debug build)"),
    );

    // Opaque and dangerous: what the standard policy does with commands it
    // cannot see through.
    let opaque: [&str; 7] = [
        "eval \"$(echo cm0gLXJmIC8K | base64 -d)\"",
        "sh -c \"$PAYLOAD\"",
        "$CMD /",
        "bash -c 'rm -rf /",
        "echo $(rm -rf / ",
        &format!("rm -rf / {}", "a ".repeat(5_000)),
        &format!("{}rm -rf /{}", "$(".repeat(3_000), ")".repeat(3_000)),
    ];
    for cmd in opaque {
        let (d, _) = exec_enforced(&e, cmd);
        let shown: String = cmd.chars().take(40).collect();
        figure(
            "engine_opaque",
            format!(
                "{shown:?}… -> {} (opaque {:?}) {}",
                d.action, d.opaque, d.message
            ),
        );
    }
    // Hidden `rm -rf /` behind an unterminated quote, size or nesting limits
    // must not be allowed. (`echo $(rm -rf / ` with an unclosed substitution is
    // a shell syntax error that runs nothing; it is reported, not asserted.)
    for cmd in [opaque[3], opaque[5], opaque[6]] {
        let (d, _) = exec_enforced(&e, cmd);
        assert_ne!(
            d.action,
            Action::Allow,
            "{:?}… allowed",
            &cmd[..40.min(cmd.len())]
        );
    }
}

/// Huge argv through the real preload: over the 8 KiB matching limit the
/// policy fails closed (upstream behaviour), over the daemon's 64 KiB body
/// limit the daemon answers 413; either way the exec is refused quickly and
/// nothing hangs or crashes.
#[test]
fn huge_argv_through_the_preload_is_refused_in_bounded_time() {
    let dir = scratch();
    let d = Serve::new(dir.path(), DENY_MARKER_POLICY).start();
    let code = r#"
import subprocess, sys, time
n, size = int(sys.argv[1]), int(sys.argv[2])
t = time.monotonic()
try:
    rc = subprocess.run(['/bin/true'] + ['a' * size] * n).returncode
    what = f"ran rc={rc}"
except OSError as e:
    what = type(e).__name__
print(what, round((time.monotonic() - t) * 1000, 1))
"#;
    // R3: a denied command padded with ~300 KiB of arguments used to run (the
    // daemon's 413 raced the hook's write and the hook failed open).
    let padded = r#"
import subprocess, sys
n = int(sys.argv[1])
try:
    subprocess.run(['/usr/bin/touch', 'marker' + '-denied'] + ['b' * 100] * n)
except OSError:
    pass
"#;
    for n in [100, 3_000, 10_000] {
        let out = preloaded(python3(), &d.socket)
            .args(["-c", padded, &n.to_string()])
            .current_dir(dir.path())
            .env("RAMPART_QUIET", "1")
            .output()
            .expect("python3");
        let ran = dir.path().join("marker-denied").exists();
        figure(
            &format!("huge_argv.denied_command_padded_{n}x100B"),
            if ran { "RAN (bypass)" } else { "refused" },
        );
        assert!(
            !ran,
            "padding with {n} args bypassed the deny: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (n, size) in [
        (10, 10),
        (100, 100),
        (1_000, 100),
        (10_000, 1),
        (10_000, 100),
    ] {
        let out = preloaded(python3(), &d.socket)
            .args(["-c", code, &n.to_string(), &size.to_string()])
            .env("RAMPART_QUIET", "1")
            .output()
            .expect("python3");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        figure(
            &format!("huge_argv.{n}x{size}B"),
            format!("{text} ms (argv ~{} bytes)", n * (size + 1)),
        );
        let ms: f64 = text
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::MAX);
        assert!(ms < 2_000.0, "{n}x{size}: {text}");
        if n * (size + 1) > 8_192 {
            assert!(text.starts_with("PermissionError"), "{n}x{size}: {text}");
        } else {
            assert!(text.starts_with("ran rc=0"), "{n}x{size}: {text}");
        }
    }
}
