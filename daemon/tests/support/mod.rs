//! Shared helpers for the daemon tests: start the real `rampart serve` on a temp socket
//! and talk HTTP/1.1 to it with a small hand-written client.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `rampart` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rampart")
}

/// Test policy: deny `rm`, ask for `touch`, watch `cat`, allow `ls`/`echo`/`true`,
/// deny everything else.
pub const TEST_POLICY: &str = r#"version: "1"
default_action: deny
policies:
  - name: test-deny
    match:
      tool: exec
    rules:
      - action: deny
        when:
          command_matches: ["rm *"]
        message: rm is blocked in tests
  - name: test-ask
    match:
      tool: exec
    rules:
      - action: ask
        when:
          command_matches: ["touch *"]
        message: touch needs approval
  - name: test-watch
    match:
      tool: exec
    rules:
      - action: watch
        when:
          command_matches: ["cat *"]
        message: cat is watched
  - name: test-allow
    match:
      tool: exec
    rules:
      - action: allow
        when:
          command_matches: ["ls", "ls *", "echo *", "true"]
        message: harmless
"#;

/// A running daemon in its own temp directory.
pub struct Daemon {
    pub child: Child,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub audit: PathBuf,
    pub policy: PathBuf,
    pub token: String,
    pub tcp: Option<String>,
    pub log: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// What to start.
pub struct Opts<'a> {
    pub policy: &'a str,
    pub args: Vec<String>,
    pub tcp: bool,
}

impl Default for Opts<'_> {
    fn default() -> Self {
        Opts {
            policy: TEST_POLICY,
            args: vec![],
            tcp: false,
        }
    }
}

impl Daemon {
    /// Start with the test policy.
    pub fn start() -> Daemon {
        Daemon::start_with(Opts::default())
    }

    /// Start with options in a new temp directory.
    pub fn start_with(o: Opts) -> Daemon {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::write(dir.join("policy.yaml"), o.policy).unwrap();
        let mut d = Daemon::start_in(&dir, &o.args, o.tcp);
        d._tmp = Some(tmp);
        d
    }

    /// Start in an existing directory (restart after a crash keeps the audit dir).
    pub fn start_in(dir: &Path, args: &[String], tcp: bool) -> Daemon {
        let socket = dir.join("rampart.sock");
        let audit = dir.join("audit");
        let policy = dir.join("policy.yaml");
        let token_file = dir.join("token");
        let log = dir.join(format!(
            "daemon-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg("--config")
            .arg(&policy)
            .arg("--socket")
            .arg(&socket)
            .arg("--audit-dir")
            .arg(&audit)
            .arg("--token-file")
            .arg(&token_file)
            .args(args)
            .env_remove("RAMPART_TOKEN")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if tcp {
            cmd.arg("--listen").arg("127.0.0.1:0");
        }
        let child = cmd.spawn().expect("spawn rampart serve");
        let mut d = Daemon {
            child,
            dir: dir.to_path_buf(),
            socket,
            audit,
            policy,
            token: String::new(),
            tcp: None,
            log,
            _tmp: None,
        };
        d.wait_ready();
        d.token = std::fs::read_to_string(&token_file)
            .unwrap()
            .trim()
            .to_string();
        if tcp {
            let log = std::fs::read_to_string(&d.log).unwrap();
            let addr = log
                .split_whitespace()
                .find_map(|w| w.strip_prefix("tcp:"))
                .map(|w| w.trim_end_matches([',', ';']).to_string())
                .expect("tcp address in log");
            d.tcp = Some(addr);
        }
        d
    }

    fn wait_ready(&mut self) {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!("daemon exited early ({st}): {}", self.log_text());
            }
            if let Ok(s) = UnixStream::connect(&self.socket) {
                let mut c = Conn::new(Box::new(s));
                if c.request("GET", "/healthz", &[], b"").status == 200
                    && std::fs::read_to_string(&self.log)
                        .unwrap_or_default()
                        .contains("serving on")
                {
                    return;
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "daemon not ready: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A new connection over the Unix socket.
    pub fn conn(&self) -> Conn {
        Conn::new(Box::new(UnixStream::connect(&self.socket).unwrap()))
    }

    /// A new connection over TCP.
    pub fn tcp_conn(&self) -> Conn {
        let s = std::net::TcpStream::connect(self.tcp.as_ref().expect("started with tcp")).unwrap();
        Conn::new(Box::new(s))
    }

    /// `Authorization` header with the admin token.
    pub fn auth(&self) -> (String, String) {
        ("Authorization".into(), format!("Bearer {}", self.token))
    }

    /// Send a signal with kill(1).
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// SIGTERM and wait for exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        self.signal("TERM");
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.success();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "daemon did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Read + Write for boxed streams.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A kept-alive HTTP/1.1 connection.
pub struct Conn {
    s: Box<dyn Stream>,
    buf: Vec<u8>,
    /// Interim (1xx) statuses received and skipped.
    pub interim: Vec<u16>,
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// Body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Conn {
    /// Wrap a stream.
    pub fn new(s: Box<dyn Stream>) -> Conn {
        Conn {
            s,
            buf: Vec::new(),
            interim: Vec::new(),
        }
    }

    /// Send raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    /// One request; returns the parsed response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Resp {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: rampart\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if method != "GET" || !body.is_empty() {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.send_raw(&bytes);
        self.read_response().expect("response")
    }

    /// Read one final response, skipping (and recording) 1xx interim heads.
    pub fn read_response(&mut self) -> Option<Resp> {
        loop {
            let r = self.read_one()?;
            if (100..200).contains(&r.status) {
                self.interim.push(r.status);
                continue;
            }
            return Some(r);
        }
    }

    fn read_one(&mut self) -> Option<Resp> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if !self.fill() {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_string();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        if (100..200).contains(&status) {
            return Some(Resp {
                status,
                headers,
                body: Vec::new(),
            });
        }
        let body = if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            while self.buf.len() < n {
                if !self.fill() {
                    return None;
                }
            }
            self.buf.drain(..n).collect()
        } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        break i;
                    }
                    if !self.fill() {
                        return None;
                    }
                };
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&self.buf[..line_end]).trim(),
                    16,
                )
                .ok()?;
                self.buf.drain(..line_end + 2);
                while self.buf.len() < size + 2 {
                    if !self.fill() {
                        return None;
                    }
                }
                body.extend(self.buf.drain(..size));
                self.buf.drain(..2);
                if size == 0 {
                    break;
                }
            }
            body
        } else {
            Vec::new()
        };
        Some(Resp {
            status,
            headers,
            body,
        })
    }

    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 8192];
        match self.s.read(&mut tmp) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }

    /// Whether the server closed the connection.
    pub fn is_closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill()
    }

    /// POST /v1/preflight/exec with the preload's body shape.
    pub fn preflight(&mut self, command: &str, extra: &[(String, String)]) -> Resp {
        let body = serde_json::json!({
            "agent": "test-agent",
            "session": "test-session",
            "params": {"command": command, "cwd": "/tmp", "pid": 1234, "ppid": 1},
            "enforce": true
        });
        self.request(
            "POST",
            "/v1/preflight/exec",
            extra,
            body.to_string().as_bytes(),
        )
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Run `rampart audit verify DIR`: (success, stdout).
pub fn verify(dir: &Path) -> (bool, String) {
    let out = Command::new(bin())
        .args(["audit", "verify"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The chain files of an audit dir, in order.
pub fn chain_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(String, u32, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name()?.to_str()?.to_string();
            let stem = name.strip_suffix(".jsonl")?;
            let (date, part) = match stem.split_once(".p") {
                Some((d, n)) => (d.to_string(), n.parse().ok()?),
                None => (stem.to_string(), 0),
            };
            (date.len() == 10).then_some((date, part, p))
        })
        .collect();
    v.sort();
    v.into_iter().map(|x| x.2).collect()
}

/// All event lines (not continuation headers) across chain files.
pub fn events(dir: &Path) -> Vec<Value> {
    chain_files(dir)
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|v| v.get("chain_continue").is_none())
        .collect()
}
