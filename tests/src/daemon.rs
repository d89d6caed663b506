//! The real daemon (`rampart serve`) for end-to-end tests, in a throw-away
//! HOME, with a test policy file.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A policy that allows everything except commands mentioning
/// `marker-denied` (harmless `touch` targets in a temp dir).
pub const DENY_MARKER_POLICY: &str = r#"version: "1"
default_action: allow
policies:
  - name: e2e-deny-marker
    match:
      tool: ["exec"]
    rules:
      - action: deny
        when:
          command_contains: ["marker-denied"]
        message: "test policy: marker-denied is forbidden"
"#;

/// A running `rampart serve`, killed on drop.
pub struct RealDaemon {
    child: Child,
    /// Its Unix socket.
    pub socket: PathBuf,
    /// Its HOME (audit logs live under `<home>/.rampart/audit`).
    pub home: PathBuf,
}

/// True when the `rampart` binary has a working `serve` subcommand.
pub fn serve_available() -> bool {
    let bin = crate::target_profile_dir().join("rampart");
    bin.exists()
        && Command::new(&bin)
            .args(["serve", "--help"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

impl RealDaemon {
    /// Starts `rampart serve --socket <dir>/d.sock --config <policy>` with
    /// HOME=`<dir>/home`, and waits (up to 10 s) until `/healthz` answers.
    pub fn start(dir: &Path, policy_yaml: &str) -> RealDaemon {
        let home = dir.join("home");
        let policy = dir.join("policy.yaml");
        std::fs::write(&policy, policy_yaml).expect("write policy");
        let (child, socket) = spawn_serve(dir, &home, &["--config".as_ref(), policy.as_ref()]);
        RealDaemon {
            child,
            socket,
            home,
        }
    }

    /// The `exec` commands recorded in the audit trail (all files, in order).
    pub fn audited_commands(&self) -> Vec<String> {
        audit_records(&self.home.join(".rampart/audit"))
            .iter()
            .filter_map(|v| {
                v["request"]["command"]
                    .as_str()
                    .or_else(|| v["request"]["params"]["command"].as_str())
                    .or_else(|| v["params"]["command"].as_str())
                    .map(str::to_string)
            })
            .collect()
    }
}

/// Starts `rampart serve --socket <dir>/d.sock <args>` with HOME=`home`
/// (created), the caller's `RAMPART_*` removed and its output in
/// `<dir>/serve.log`, and waits (up to 10 s) until `/healthz` answers.
/// Returns the child and its socket; kills it and panics with the log when it
/// does not answer.
pub fn spawn_serve(dir: &Path, home: &Path, args: &[&OsStr]) -> (Child, PathBuf) {
    std::fs::create_dir_all(home).expect("home");
    let socket = dir.join("d.sock");
    let log = std::fs::File::create(dir.join("serve.log")).expect("log");
    let mut cmd = Command::new(crate::workspace_bin("rampart"));
    crate::clean_env(&mut cmd);
    let mut child = cmd
        .args(["serve", "--socket"])
        .arg(&socket)
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn rampart serve");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if healthz(&socket) {
            return (child, socket);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    panic!(
        "rampart serve did not answer /healthz on {} within 10 s; log:\n{log}",
        socket.display()
    );
}

/// Every record of the `*.jsonl` audit files in `dir`, in file then line
/// order (lines that are not JSON are skipped; a missing dir is empty).
pub fn audit_records(dir: &Path) -> Vec<serde_json::Value> {
    crate::stress::audit_files(dir)
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

impl Drop for RealDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when a daemon answers `GET /healthz` with 200 on `socket`.
pub fn healthz(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 200")
}

/// The value of the counter `name` in the daemon's `GET /metrics` on `socket`
/// (0 when it is not there).
pub fn metric(socket: &Path, name: &str) -> u64 {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}
