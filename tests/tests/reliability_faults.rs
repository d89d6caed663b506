//! Faults with real processes: the daemon SIGKILLed, SIGSTOPped, replaced and
//! re-configured in the middle of exec storms and preflight storms; the audit
//! directory running out of space; a torn last audit line.
//!
//! Sizes: `RAMPART_REL_WORKERS` (preflight clients, default 4),
//! `RAMPART_REL_REQUESTS` (answers each client waits for, default 300),
//! `RAMPART_REL_EXEC_WORKERS` (default 4), `RAMPART_REL_EXECS` (execs each,
//! default 60). Figures are printed as `RELIABILITY name: value` (run with
//! `--nocapture`); docs/RELIABILITY.md lists them.

use e2e::daemon::DENY_MARKER_POLICY;
use e2e::stress::{
    audit_verify, env_usize, event_command, fd_count, figure, healthz_json, http, parallel,
    preflight, Resp, Serve, Stats, TinyFs,
};
use e2e::{preloaded, python3, scratch};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The hook's deadline in these tests.
const TIMEOUT_MS: u64 = 300;
/// Bound asserted on one exec (hook deadline + process start-up on a loaded
/// 2-core CI machine); the measured figure is reported.
const EXEC_BOUND: Duration = Duration::from_millis(TIMEOUT_MS + 1_700);

fn workers() -> usize {
    env_usize("RAMPART_REL_WORKERS", 4)
}
fn requests() -> usize {
    env_usize("RAMPART_REL_REQUESTS", 300)
}
fn exec_workers() -> usize {
    env_usize("RAMPART_REL_EXEC_WORKERS", 4)
}
fn execs() -> usize {
    env_usize("RAMPART_REL_EXECS", 60)
}

/// One exec under the preload: `sh -c /bin/true` (the shell's exec of
/// /bin/true is what the hook asks about).
struct ExecRun {
    elapsed: Duration,
    ok: bool,
    denied: bool,
    stderr: String,
}

fn exec_true(socket: &Path, fail_open: bool) -> ExecRun {
    let mut c = preloaded("/bin/sh", socket);
    c.args(["-c", "/bin/true"])
        .env("RAMPART_TIMEOUT_MS", TIMEOUT_MS.to_string())
        .env("RAMPART_QUIET", "1")
        .env("RAMPART_FAIL_OPEN", if fail_open { "1" } else { "0" })
        .stdin(Stdio::null());
    let t = Instant::now();
    let out = c.output().expect("spawn sh");
    let elapsed = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ExecRun {
        elapsed,
        ok: out.status.success(),
        denied: !out.status.success()
            && (stderr.contains("rampart") || stderr.contains("Operation not permitted")),
        stderr,
    }
}

/// What the preflight clients of a storm observed.
#[derive(Default)]
struct ClientTally {
    /// `audit_id`s of the 200 answers received.
    ids: Vec<String>,
    /// Requests that got no HTTP answer (daemon down).
    transport_errors: usize,
    /// Answers other than 200.
    other_status: Vec<u16>,
    /// Longest time between two answers of one client.
    longest_gap: Duration,
}

/// `n` clients each wait for `per` 200 answers (retrying every 2 ms on
/// transport errors); `progress` counts answers.
fn preflight_storm(
    socket: PathBuf,
    n: usize,
    per: usize,
    progress: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<ClientTally> {
    std::thread::spawn(move || {
        let socket = Arc::new(socket);
        let parts = parallel(n, move |w| {
            let mut t = ClientTally::default();
            let mut last = Instant::now();
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut i = 0;
            while t.ids.len() < per && Instant::now() < deadline {
                i += 1;
                match preflight(
                    &socket,
                    &format!("echo client-{w}-{i}"),
                    Duration::from_secs(5),
                ) {
                    Ok(r) if r.status == 200 => {
                        let id = r.json()["audit_id"].as_str().unwrap_or("").to_string();
                        assert!(!id.is_empty(), "answer without audit_id: {}", r.body);
                        t.ids.push(id);
                        t.longest_gap = t.longest_gap.max(last.elapsed());
                        last = Instant::now();
                        progress.fetch_add(1, SeqCst);
                    }
                    Ok(r) => {
                        t.other_status.push(r.status);
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => {
                        t.transport_errors += 1;
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            }
            t
        });
        let mut all = ClientTally::default();
        for p in parts {
            all.ids.extend(p.ids);
            all.transport_errors += p.transport_errors;
            all.other_status.extend(p.other_status);
            all.longest_gap = all.longest_gap.max(p.longest_gap);
        }
        all
    })
}

/// Exec storm: `n` workers × `per` execs; odd workers run fail-closed.
fn exec_storm(
    socket: PathBuf,
    n: usize,
    per: usize,
    progress: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<Vec<(bool, ExecRun)>> {
    std::thread::spawn(move || {
        let socket = Arc::new(socket);
        parallel(n, move |w| {
            let fail_open = w % 2 == 0;
            (0..per)
                .map(|_| {
                    let r = exec_true(&socket, fail_open);
                    progress.fetch_add(1, SeqCst);
                    (fail_open, r)
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect()
    })
}

/// Waits until a third of either storm is done (whichever is faster), so
/// that both are still running when the fault is injected.
fn wait_for_a_third(
    answers: &AtomicUsize,
    total_answers: usize,
    execs: &AtomicUsize,
    total_execs: usize,
) {
    let t = Instant::now();
    while answers.load(SeqCst) < total_answers / 3
        && execs.load(SeqCst) < total_execs / 3
        && t.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Checks the exec results and reports their figures under `name`.
fn check_execs(name: &str, runs: &[(bool, ExecRun)]) {
    let mut times: Vec<Duration> = runs.iter().map(|(_, r)| r.elapsed).collect();
    let stats = Stats::of(&mut times);
    let denied = runs.iter().filter(|(_, r)| r.denied).count();
    let ok = runs.iter().filter(|(_, r)| r.ok).count();
    figure(&format!("{name}.exec_latency"), stats);
    figure(
        &format!("{name}.execs"),
        format!(
            "{} total, {ok} completed, {denied} denied (fail-closed)",
            runs.len()
        ),
    );
    for (fail_open, r) in runs {
        assert!(
            r.elapsed <= EXEC_BOUND,
            "{name}: an exec took {:?} (bound {EXEC_BOUND:?})",
            r.elapsed
        );
        if *fail_open {
            assert!(r.ok, "{name}: fail-open exec failed: {}", r.stderr);
        } else {
            assert!(
                r.ok || r.denied,
                "{name}: fail-closed exec neither ran nor was denied: {}",
                r.stderr
            );
        }
    }
}

/// Audit events written for the preflight clients (agent `reliability`).
fn client_event_ids(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["agent"] == "reliability")
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

fn assert_verified(dir: &Path) -> String {
    let out = audit_verify(dir);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "audit verify failed: {text}");
    text.trim().to_string()
}

/// Every answer a client received is in the audit exactly once; returns how
/// many audited decisions no client received.
fn check_answers_audited(name: &str, tally: &ClientTally, events: &[serde_json::Value]) -> usize {
    let audited = client_event_ids(events);
    let unique: HashSet<&String> = audited.iter().collect();
    assert_eq!(unique.len(), audited.len(), "{name}: duplicated audit ids");
    let received: HashSet<&String> = tally.ids.iter().collect();
    assert_eq!(
        received.len(),
        tally.ids.len(),
        "{name}: an audit id was answered twice"
    );
    let missing: Vec<_> = received.difference(&unique).collect();
    assert!(
        missing.is_empty(),
        "{name}: {} answered decisions are not in the audit (e.g. {:?})",
        missing.len(),
        missing.first()
    );
    let unacknowledged = audited.len() - tally.ids.len();
    figure(
        &format!("{name}.answers"),
        format!(
            "{} received, {} audited, {unacknowledged} audited but not received, {} transport errors, other statuses {:?}, longest gap {:?}",
            tally.ids.len(),
            audited.len(),
            tally.transport_errors,
            tally.other_status,
            tally.longest_gap
        ),
    );
    unacknowledged
}

#[test]
fn sigkill_in_an_exec_storm_loses_no_answered_decision() {
    let dir = scratch();
    let mut d = Serve::new(dir.path(), DENY_MARKER_POLICY).start();
    let (n, per) = (workers(), requests());
    let (en, eper) = (exec_workers(), execs());
    let answers = Arc::new(AtomicUsize::new(0));
    let execs_done = Arc::new(AtomicUsize::new(0));
    let clients = preflight_storm(d.socket.clone(), n, per, answers.clone());
    let storm = exec_storm(d.socket.clone(), en, eper, execs_done.clone());

    // Kill once a third of the answers arrived, stay down a while, restart.
    wait_for_a_third(&answers, n * per, &execs_done, en * eper);
    let killed_at = answers.load(SeqCst);
    d.kill9();
    let down_from = execs_done.load(SeqCst);
    std::thread::sleep(Duration::from_millis(400));
    let down_execs = execs_done.load(SeqCst) - down_from;
    d.spawn();

    let tally = clients.join().expect("clients");
    let runs = storm.join().expect("exec storm");
    d.terminate();

    figure(
        "sigkill.kill_point",
        format!("after {killed_at} answers and {down_from} execs; {down_execs} execs ran while the daemon was down"),
    );
    assert_eq!(tally.ids.len(), n * per, "clients did not get all answers");
    assert!(
        tally.other_status.is_empty(),
        "unexpected statuses {:?}",
        tally.other_status
    );
    check_execs("sigkill", &runs);
    let verified = assert_verified(&d.audit_dir);
    figure("sigkill.verify", &verified);
    let events = d.events();
    let unack = check_answers_audited("sigkill", &tally, &events);
    // Only requests in flight at the kill can be audited without an answer.
    assert!(
        unack <= n,
        "{unack} audited decisions unanswered with {n} clients"
    );
    let truncations = events
        .iter()
        .filter(|e| e["kind"] == "audit_truncated")
        .count();
    figure("sigkill.torn_lines_recovered", truncations);
}

/// A python3 under the preload that runs `/bin/true` subprocesses on request
/// (`run N` on stdin) and answers `<fd count> <max ms>`.
struct LongLived {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

const LONG_LIVED: &str = r#"
import os, subprocess, sys, time
for line in sys.stdin:
    n = int(line.split()[1])
    worst = 0.0
    for _ in range(n):
        t = time.monotonic()
        subprocess.run(['/bin/true'])
        worst = max(worst, time.monotonic() - t)
    print(len(os.listdir('/proc/self/fd')), round(worst * 1000, 1), flush=True)
"#;

impl LongLived {
    fn start(socket: &Path) -> LongLived {
        let mut c = preloaded(python3(), socket);
        c.arg("-c")
            .arg(LONG_LIVED)
            .env("RAMPART_TIMEOUT_MS", TIMEOUT_MS.to_string())
            .env("RAMPART_QUIET", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = c.spawn().expect("python3");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        LongLived {
            child,
            stdin,
            lines,
        }
    }

    /// Runs `n` subprocesses; returns (fds seen by python, fds seen in /proc, worst ms).
    fn run(&mut self, n: usize) -> (usize, usize, f64) {
        writeln!(self.stdin, "run {n}").expect("write");
        self.stdin.flush().expect("flush");
        let line = self.lines.next().expect("answer").expect("read");
        let mut it = line.split_whitespace();
        let fds: usize = it.next().and_then(|s| s.parse().ok()).expect("fd count");
        let worst: f64 = it.next().and_then(|s| s.parse().ok()).expect("worst");
        (fds, fd_count(self.child.id() as i32), worst)
    }
}

impl Drop for LongLived {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigstopped_daemon_bounds_every_exec_and_leaks_no_fd() {
    let dir = scratch();
    let d = Serve::new(dir.path(), DENY_MARKER_POLICY).start();
    let mut py = LongLived::start(&d.socket);
    let (_, base_fds, warm_ms) = py.run(10);

    d.signal(libc::SIGSTOP);
    let stopped = Instant::now();
    let (_, stopped_fds, stopped_worst) = py.run(env_usize("RAMPART_REL_STOPPED_EXECS", 10));
    let runs: Vec<(bool, ExecRun)> = {
        let socket = Arc::new(d.socket.clone());
        parallel(exec_workers(), move |w| {
            (w % 2 == 0, exec_true(&socket, w % 2 == 0))
        })
    };
    let stopped_for = stopped.elapsed();
    d.signal(libc::SIGCONT);

    // The daemon proceeds: health, a decision, and the long-lived client.
    let h = healthz_json(&d.socket);
    assert_eq!(h["status"], "ok", "{h}");
    let r = preflight(&d.socket, "echo after-sigcont", Duration::from_secs(5)).expect("answer");
    assert_eq!(r.status, 200);
    let (_, after_fds, after_ms) = py.run(env_usize("RAMPART_REL_AFTER_EXECS", 50));

    figure(
        "sigstop.python_subprocess_worst_ms",
        format!("running {warm_ms}, stopped {stopped_worst}, after SIGCONT {after_ms} (hook timeout {TIMEOUT_MS} ms)"),
    );
    figure(
        "sigstop.python_fds",
        format!("{base_fds} before, {stopped_fds} after timeouts, {after_fds} after SIGCONT"),
    );
    figure("sigstop.stopped_for", format!("{stopped_for:?}"));
    check_execs("sigstop", &runs);
    assert!(
        stopped_worst <= EXEC_BOUND.as_secs_f64() * 1e3,
        "python subprocess took {stopped_worst} ms while the daemon was stopped"
    );
    // Every stopped-daemon exec timed out: fail-open ran it, fail-closed denied it.
    assert!(runs
        .iter()
        .all(|(open, r)| if *open { r.ok } else { r.denied }));
    assert_eq!(stopped_fds, base_fds, "fds leaked by timed-out exec checks");
    assert_eq!(after_fds, base_fds, "fds leaked after SIGCONT");
}

#[test]
fn daemon_replaced_under_load_clients_reconnect() {
    let dir = scratch();
    let mut d = Serve::new(dir.path(), DENY_MARKER_POLICY).start();
    let (n, per) = (workers(), requests());
    let answers = Arc::new(AtomicUsize::new(0));
    let execs_done = Arc::new(AtomicUsize::new(0));
    let clients = preflight_storm(d.socket.clone(), n, per, answers.clone());
    let (en, eper) = (exec_workers(), execs());
    let storm = exec_storm(d.socket.clone(), en, eper, execs_done.clone());
    wait_for_a_third(&answers, n * per, &execs_done, en * eper);
    let t = Instant::now();
    d.terminate();
    d.spawn();
    let outage = t.elapsed();
    let tally = clients.join().expect("clients");
    let runs = storm.join().expect("storm");
    d.terminate();

    figure("replace.restart_time", format!("{outage:?}"));
    assert_eq!(tally.ids.len(), n * per, "clients did not reconnect");
    assert!(tally.other_status.is_empty(), "{:?}", tally.other_status);
    check_execs("replace", &runs);
    figure("replace.verify", assert_verified(&d.audit_dir));
    let unack = check_answers_audited("replace", &tally, &d.events());
    // A graceful stop finishes every accepted request: nothing audited unanswered.
    assert_eq!(
        unack, 0,
        "a graceful restart audited decisions nobody received"
    );
}

const FLIP_V2: &str = r#"version: "1"
default_action: allow
policies:
  - name: flip
    match:
      tool: ["exec"]
    rules:
      - action: deny
        when:
          command_contains: ["flip-target"]
        message: "v2 denies flip-target"
"#;

#[test]
fn policy_edits_under_load_switch_once_and_broken_edits_change_nothing() {
    let dir = scratch();
    let d = Serve::new(dir.path(), DENY_MARKER_POLICY).start();
    let stop = Arc::new(AtomicBool::new(false));
    // The serial probe: decisions for `echo flip-target` in request order.
    let probe = {
        let (socket, stop) = (d.socket.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen: Vec<(Instant, Result<Resp, String>)> = Vec::new();
            while !stop.load(SeqCst) {
                let r = preflight(&socket, "echo flip-target", Duration::from_secs(5))
                    .map_err(|e| e.to_string());
                seen.push((Instant::now(), r));
                std::thread::sleep(Duration::from_millis(3));
            }
            seen
        })
    };
    let load = {
        let (socket, stop) = (Arc::new(d.socket.clone()), stop.clone());
        std::thread::spawn(move || {
            parallel(workers(), move |_| {
                let mut failures = Vec::new();
                let mut n = 0usize;
                while !stop.load(SeqCst) {
                    n += 1;
                    match preflight(&socket, "ls -la", Duration::from_secs(5)) {
                        Ok(r) if r.status == 200 => {}
                        Ok(r) => failures.push(format!("{} {}", r.status, r.body)),
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                (n, failures)
            })
        })
    };
    let settle = Duration::from_millis(1_500);
    std::thread::sleep(Duration::from_millis(300));
    // A broken edit, written in place like a careless editor.
    std::fs::write(&d.policy, "version: \"1\"\npolicies: [ {{{ not yaml\n").unwrap();
    std::thread::sleep(settle);
    std::fs::remove_file(&d.policy).unwrap();
    std::thread::sleep(settle);
    std::fs::write(&d.policy, DENY_MARKER_POLICY).unwrap();
    std::thread::sleep(settle);
    let v2_at = Instant::now();
    std::fs::write(&d.policy, FLIP_V2).unwrap();
    std::thread::sleep(settle + Duration::from_millis(500));
    stop.store(true, SeqCst);
    let seen = probe.join().expect("probe");
    let loads = load.join().expect("load");

    let mut decisions = Vec::new();
    for (at, r) in &seen {
        let r = r
            .as_ref()
            .unwrap_or_else(|e| panic!("probe request failed: {e}"));
        assert_eq!(r.status, 200, "probe got {}: {}", r.status, r.body);
        let dec = r.json()["decision"].as_str().unwrap_or("").to_string();
        if *at < v2_at {
            assert_eq!(dec, "allow", "decision changed before the v2 edit");
        }
        decisions.push(dec);
    }
    let switches = decisions.windows(2).filter(|w| w[0] != w[1]).count();
    let first_deny = decisions.iter().position(|d| d == "deny");
    figure(
        "policy_edit.probe",
        format!(
            "{} probe decisions, {switches} switch(es), first deny at #{first_deny:?}",
            decisions.len()
        ),
    );
    assert_eq!(
        switches, 1,
        "decisions must switch exactly once: {decisions:?}"
    );
    assert_eq!(decisions.last().map(String::as_str), Some("deny"));
    let total: usize = loads.iter().map(|(n, _)| n).sum();
    let failures: Vec<&String> = loads.iter().flat_map(|(_, f)| f).collect();
    figure(
        "policy_edit.load",
        format!("{total} concurrent requests, {} failed", failures.len()),
    );
    assert!(
        failures.is_empty(),
        "requests failed during edits: {failures:?}"
    );
    let log = d.log_text();
    let failed_reloads = log.matches("keeping the previous policy").count();
    figure("policy_edit.rejected_reloads", failed_reloads);
    assert!(
        failed_reloads >= 1,
        "the broken edit was not reported:\n{log}"
    );
}

fn metrics_text(socket: &Path) -> String {
    http(socket, "GET", "/metrics", &[], b"", Duration::from_secs(5))
        .map(|r| r.body)
        .unwrap_or_default()
}

/// Fills a 64 KiB audit filesystem; returns (answers before the first
/// failure, status and decision after it, healthz, metrics).
fn fill_audit(d: &Serve) -> (usize, Resp, serde_json::Value, String) {
    for i in 0..5_000 {
        let r = preflight(
            d.socket.as_path(),
            &format!("echo fill-{i}-{}", "x".repeat(200)),
            Duration::from_secs(5),
        )
        .expect("answer");
        let j = r.json();
        let failed = r.status != 200 || j["audit_id"].is_null();
        if failed {
            return (i, r, healthz_json(&d.socket), metrics_text(&d.socket));
        }
    }
    panic!("a 64 KiB audit filesystem never filled up");
}

#[test]
fn audit_out_of_space_is_reported_and_follows_audit_failure() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a tiny tmpfs needs root");
        return;
    }
    for mode in ["deny", "allow"] {
        let dir = scratch();
        let Some(fs) = TinyFs::mount(&dir.path().join("auditfs"), "64k") else {
            eprintln!("skipped: cannot mount a tmpfs here");
            return;
        };
        let mut d = Serve::new(dir.path(), DENY_MARKER_POLICY).args(&["--audit-failure", mode]);
        d.audit_dir = fs.dir.join("audit");
        let d = d.start();
        let (n, r, h, m) = fill_audit(&d);
        let j = r.json();
        figure(
            &format!("audit_full.{mode}"),
            format!(
                "first failure after {n} events: HTTP {} allowed={} decision={}; healthz audit_write_errors={}",
                r.status, j["allowed"], j["decision"], h["audit_write_errors"]
            ),
        );
        assert!(h["audit_write_errors"].as_u64().unwrap_or(0) >= 1, "{h}");
        assert!(m.contains("audit"), "metrics do not mention the audit: {m}");
        let err_metric = m
            .lines()
            .find(|l| l.contains("audit") && l.contains("error") && !l.starts_with('#'))
            .unwrap_or("");
        figure(&format!("audit_full.{mode}.metric"), err_metric);
        assert!(
            err_metric
                .split_whitespace()
                .last()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                >= 1.0,
            "no audit error counter in /metrics:\n{m}"
        );
        assert!(
            d.log_text().contains("audit write failed"),
            "{}",
            d.log_text()
        );
        // What the preload then does with that answer, fail-open and fail-closed.
        let run = exec_true(&d.socket, true);
        let closed = exec_true(&d.socket, false);
        figure(
            &format!("audit_full.{mode}.exec"),
            format!(
                "fail-open exec ran={}, fail-closed exec ran={} denied={}",
                run.ok, closed.ok, closed.denied
            ),
        );
        match mode {
            "deny" => {
                // A refusal (200, allowed:false), not a 5xx the hook would fail
                // open on: no unrecorded command runs, whatever RAMPART_FAIL_OPEN.
                assert_eq!(r.status, 200, "{}", r.body);
                assert_eq!(j["allowed"], false, "{}", r.body);
                assert!(
                    !run.ok && run.denied,
                    "fail-open exec ran unaudited: {}",
                    run.stderr
                );
                assert!(!closed.ok && closed.denied, "{}", closed.stderr);
            }
            _ => {
                assert_eq!(r.status, 200, "{}", r.body);
                assert_eq!(j["allowed"], true);
                assert!(run.ok && closed.ok, "{} {}", run.stderr, closed.stderr);
            }
        }
        drop(d);
    }
}

#[test]
fn torn_last_audit_line_is_recovered_and_the_chain_continues() {
    let dir = scratch();
    let mut d = Serve::new(dir.path(), DENY_MARKER_POLICY).start();
    let n = env_usize("RAMPART_REL_TORN_EVENTS", 50);
    for i in 0..n {
        assert_eq!(
            preflight(&d.socket, &format!("echo a{i}"), Duration::from_secs(5))
                .unwrap()
                .status,
            200
        );
    }
    d.terminate();
    let file = e2e::stress::audit_files(&d.audit_dir)
        .pop()
        .expect("audit file");
    let len = std::fs::metadata(&file).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.set_len(len - 40).unwrap();
    drop(f);
    let torn = audit_verify(&d.audit_dir);
    let torn_text = String::from_utf8_lossy(&torn.stdout).into_owned();
    figure("torn.verify_before_restart", torn_text.trim());
    assert!(!torn.status.success(), "verify accepted a torn line");
    assert!(
        torn_text.contains("unterminated") || torn_text.contains("truncat"),
        "{torn_text}"
    );

    d.spawn();
    for i in 0..n {
        assert_eq!(
            preflight(&d.socket, &format!("echo b{i}"), Duration::from_secs(5))
                .unwrap()
                .status,
            200
        );
    }
    d.terminate();
    let verified = assert_verified(&d.audit_dir);
    figure("torn.verify_after_restart", &verified);
    let events = d.events();
    let kinds: HashMap<String, usize> = events.iter().fold(HashMap::new(), |mut m, e| {
        *m.entry(e["kind"].as_str().unwrap_or("decision").to_string())
            .or_default() += 1;
        m
    });
    let cmds: Vec<&str> = events.iter().filter_map(event_command).collect();
    figure(
        "torn.events",
        format!("{} events, kinds {kinds:?}", events.len()),
    );
    assert_eq!(kinds.get("audit_truncated"), Some(&1), "{kinds:?}");
    // The torn event is gone, everything else is there.
    assert_eq!(
        cmds.iter().filter(|c| c.starts_with("echo a")).count(),
        n - 1
    );
    assert_eq!(cmds.iter().filter(|c| c.starts_with("echo b")).count(), n);
}

/// A python3 under the preload that calls `os.posix_spawn` (a parent-side
/// hook, which keeps one connection to the daemon open between calls).
const SPAWNER: &str = r#"
import os, sys
for line in sys.stdin:
    cmd, arg = line.split()
    if cmd == "spawn":
        ok = 0
        for _ in range(int(arg)):
            try:
                pid = os.posix_spawn('/bin/true', ['/bin/true'], os.environ)
                ok += os.waitpid(pid, 0)[1] == 0
            except OSError:
                pass
        print("ok", ok, len(os.listdir('/proc/self/fd')), flush=True)
    else:
        try:
            pid = os.posix_spawn('/usr/bin/touch', ['/usr/bin/touch', arg], os.environ)
            os.waitpid(pid, 0)
            print("ran", os.path.exists(arg), len(os.listdir('/proc/self/fd')), flush=True)
        except OSError as e:
            print("refused", type(e).__name__, len(os.listdir('/proc/self/fd')), flush=True)
"#;

#[test]
fn a_kept_connection_survives_a_daemon_restart() {
    let dir = scratch();
    let mut d = Serve::new(dir.path(), DENY_MARKER_POLICY).start();
    let marker = dir.path().join("marker-denied");
    let mut c = preloaded(python3(), &d.socket);
    c.arg("-c")
        .arg(SPAWNER)
        .env("RAMPART_QUIET", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = c.spawn().expect("python3");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut ask = |line: String| -> String {
        writeln!(stdin, "{line}").expect("write");
        stdin.flush().expect("flush");
        lines.next().expect("answer").expect("read")
    };
    let before = ask("spawn 20".into());
    let denied_before = ask(format!("touch {}", marker.display()));
    d.terminate();
    d.spawn();
    let denied_after = ask(format!("touch {}", marker.display()));
    let after = ask("spawn 20".into());
    let _ = child.kill();
    let _ = child.wait();
    figure(
        "restart.kept_connection",
        format!("before: {before} / {denied_before}; after restart: {denied_after} / {after}"),
    );
    assert!(before.starts_with("ok 20"), "{before}");
    assert!(after.starts_with("ok 20"), "{after}");
    // Denied after the restart: the stale connection was replaced, not failed open.
    assert!(denied_before.starts_with("refused"), "{denied_before}");
    assert!(denied_after.starts_with("refused"), "{denied_after}");
    assert!(!marker.exists());
    let fds = |s: &str| s.split_whitespace().last().unwrap_or("").to_string();
    assert_eq!(fds(&before), fds(&after), "fds changed across the restart");
}
