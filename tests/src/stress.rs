//! Helpers for the reliability suite (`tests/tests/reliability_*.rs`): a
//! controllable `rampart serve` (extra flags, pid, SIGKILL/SIGSTOP/SIGCONT,
//! restart on the same socket and audit), a small blocking HTTP/1.1 client over
//! the Unix socket, audit-trail readers, `/proc` probes (fd count, peak RSS) and
//! latency statistics.
//!
//! OWNER: helper "reliability".
//!
//! Sizes are read from environment variables with CI-sized defaults, see
//! [`env_usize`] and docs/RELIABILITY.md.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `$name` parsed as a number, else `default` (the CI size).
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Prints a figure in a greppable form (`RELIABILITY <name>: <value>`), shown by
/// `cargo test -- --nocapture` and collected into docs/RELIABILITY.md.
pub fn figure(name: &str, value: impl std::fmt::Display) {
    println!("RELIABILITY {name}: {value}");
}

/// A `rampart serve` under test control.
pub struct Serve {
    child: Option<Child>,
    /// Unix socket.
    pub socket: PathBuf,
    /// HOME given to the daemon (token under `<home>/.rampart/token`).
    pub home: PathBuf,
    /// Audit directory (`--audit-dir`).
    pub audit_dir: PathBuf,
    /// Policy file (`--config`).
    pub policy: PathBuf,
    /// Daemon log (stdout and stderr, appended across restarts).
    pub log: PathBuf,
    /// Extra flags given to every start.
    pub extra: Vec<String>,
    /// Extra environment given to every start.
    pub env: Vec<(String, String)>,
}

impl Serve {
    /// Prepares (does not start) a daemon in `dir` with `policy_yaml` written to
    /// `<dir>/policy.yaml`, socket `<dir>/d.sock`, audit `<dir>/audit`.
    pub fn new(dir: &Path, policy_yaml: &str) -> Serve {
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("home");
        let policy = dir.join("policy.yaml");
        std::fs::write(&policy, policy_yaml).expect("write policy");
        Serve {
            child: None,
            socket: dir.join("d.sock"),
            home,
            audit_dir: dir.join("audit"),
            policy,
            log: dir.join("serve.log"),
            extra: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Adds flags for every (re)start.
    pub fn args(mut self, args: &[&str]) -> Serve {
        self.extra.extend(args.iter().map(|s| s.to_string()));
        self
    }

    /// Starts `rampart serve` and waits up to 10 s for `/healthz`.
    pub fn start(mut self) -> Serve {
        self.spawn();
        self
    }

    /// (Re)starts the daemon process (the previous one must be gone).
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let mut cmd = Command::new(crate::workspace_bin("rampart"));
        crate::clean_env(&mut cmd);
        cmd.args(["serve", "--socket"])
            .arg(&self.socket)
            .arg("--config")
            .arg(&self.policy)
            .arg("--audit-dir")
            .arg(&self.audit_dir)
            .args(&self.extra)
            .env("HOME", &self.home)
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn rampart serve"));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if crate::daemon::healthz(&self.socket) {
                return;
            }
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("rampart serve exited with {st}; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "rampart serve did not answer /healthz within 10 s; log:\n{}",
            self.log_text()
        );
    }

    /// The daemon's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("daemon running").id() as i32
    }

    /// Sends `sig` to the daemon.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child.
        let r = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(r, 0, "kill({}, {sig})", self.pid());
    }

    /// SIGKILLs the daemon and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERMs the daemon and waits (up to 15 s) for it to exit.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: as in `signal`.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(15) {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The daemon log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The admin token (the daemon creates `<home>/.rampart/token`).
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.home.join(".rampart/token"))
            .expect("token file")
            .trim()
            .to_string()
    }

    /// `rampart audit verify <audit_dir>`.
    pub fn verify(&self) -> Output {
        audit_verify(&self.audit_dir)
    }

    /// Every record of the audit trail (events, not continuation headers).
    pub fn events(&self) -> Vec<serde_json::Value> {
        audit_events(&self.audit_dir)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: as in `signal`; a stopped daemon must be continued to die.
            unsafe { libc::kill(c.id() as i32, libc::SIGCONT) };
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `rampart audit verify DIR`.
pub fn audit_verify(dir: &Path) -> Output {
    let mut c = Command::new(crate::workspace_bin("rampart"));
    crate::clean_env(&mut c);
    crate::output(c.args(["audit", "verify"]).arg(dir))
}

/// The audit files (`*.jsonl`) of `dir`, sorted by name.
pub fn audit_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    files.sort();
    files
}

/// Every event line (continuation headers skipped) of the audit in `dir`.
/// Panics on a line that is not JSON: a forged or torn line is a failure.
pub fn audit_events(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for f in audit_files(dir) {
        let text = std::fs::read_to_string(&f).expect("read audit");
        for (i, line) in text.lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: not JSON ({e}): {line:?}", f.display(), i + 1));
            if v.get("chain_continue").is_none() {
                out.push(v);
            }
        }
    }
    out
}

/// The command an audit event records (`request.command`).
pub fn event_command(v: &serde_json::Value) -> Option<&str> {
    v["request"]["command"].as_str()
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Body (de-chunked).
    pub body: String,
}

impl Resp {
    /// The body as JSON (Null when not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One HTTP/1.1 request over a fresh Unix-socket connection (`Connection:
/// close`), like the preload hook does. Interim 1xx answers are skipped.
pub fn http(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<Resp> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// Parses a raw HTTP/1.1 response (interim 1xx skipped, chunked decoded).
pub fn parse_response(mut raw: &[u8]) -> std::io::Result<Resp> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    loop {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| bad("no end of headers"))?;
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let rest = &raw[end + 4..];
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        if (100..200).contains(&status) {
            raw = rest;
            continue;
        }
        let chunked = head.lines().any(|l| {
            l.to_ascii_lowercase()
                .starts_with("transfer-encoding: chunked")
        });
        let body = if chunked {
            dechunk(rest)
        } else {
            rest.to_vec()
        };
        return Ok(Resp {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < i + 2 + n {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[(i + 4 + n).min(b.len())..];
    }
    out
}

/// The preflight body the hook sends for `command` (enforced).
pub fn preflight_body(command: &str) -> Vec<u8> {
    serde_json::json!({
        "agent": "reliability",
        "session": "stress",
        "params": { "command": command },
        "enforce": true,
    })
    .to_string()
    .into_bytes()
}

/// `POST /v1/preflight/exec` for `command`.
pub fn preflight(socket: &Path, command: &str, timeout: Duration) -> std::io::Result<Resp> {
    http(
        socket,
        "POST",
        "/v1/preflight/exec",
        &[("Content-Type", "application/json")],
        &preflight_body(command),
        timeout,
    )
}

/// `GET /healthz` as JSON.
pub fn healthz_json(socket: &Path) -> serde_json::Value {
    http(socket, "GET", "/healthz", &[], b"", Duration::from_secs(5))
        .map(|r| r.json())
        .unwrap_or(serde_json::Value::Null)
}

/// Number of open file descriptors of `pid` (`/proc/PID/fd`).
pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A `kB` field of `/proc/PID/status` (`VmHWM`, `VmRSS`).
pub fn status_kb(pid: i32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Latency summary of a sample.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Maximum.
    pub max: Duration,
}

impl Stats {
    /// Summarises `samples` (sorted in place).
    pub fn of(samples: &mut [Duration]) -> Stats {
        samples.sort();
        let n = samples.len();
        if n == 0 {
            return Stats::default();
        }
        let at = |q: f64| samples[((n as f64 * q).ceil() as usize).clamp(1, n) - 1];
        Stats {
            n,
            p50: at(0.50),
            p99: at(0.99),
            max: samples[n - 1],
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={} p50={:.2}ms p99={:.2}ms max={:.2}ms",
            self.n,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.max.as_secs_f64() * 1e3
        )
    }
}

/// A tmpfs of `size` (e.g. `"64k"`) mounted at `dir`, unmounted on drop. `None`
/// when mounting is not possible here (not root, no CAP_SYS_ADMIN).
pub struct TinyFs {
    /// The mount point.
    pub dir: PathBuf,
}

impl TinyFs {
    /// Mounts, or `None` (with the reason printed).
    pub fn mount(dir: &Path, size: &str) -> Option<TinyFs> {
        std::fs::create_dir_all(dir).ok()?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("tmpfs")
            .arg(dir)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "cannot mount a tmpfs here: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Some(TinyFs {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Runs `f` on `n` threads (given their index) and collects the results.
pub fn parallel<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = std::sync::Arc::new(f);
    let hs: Vec<_> = (0..n)
        .map(|i| {
            let f = f.clone();
            std::thread::spawn(move || f(i))
        })
        .collect();
    hs.into_iter().map(|h| h.join().expect("worker")).collect()
}
