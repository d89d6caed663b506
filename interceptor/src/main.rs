//! `rampart-preload`: run a command with the Rampart preload library.
//!
//! ```text
//! rampart-preload [--config FILE] [--mode M] [--fail-closed] [--socket PATH]
//!                 [--agent NAME] [--session NAME] [--quiet] -- CMD [ARGS...]
//! ```
//!
//! 1. Finds `librampart.so` (`$RAMPART_LIB`, next to this binary, the
//!    workspace build of the hook, `~/.rampart/lib`, `/usr/local/lib`,
//!    `/usr/lib`).
//! 2. Makes sure a daemon answers `GET /healthz` on the socket (`--socket`,
//!    `$RAMPART_SOCKET`, `$XDG_RUNTIME_DIR/rampart/rampart.sock`, else
//!    `~/.rampart/rampart.sock` — the daemon's own rule); if none does, starts
//!    `rampart serve --socket PATH [--config FILE]` detached (`setsid`, stdio
//!    to `~/.rampart/serve.log`, pid in `~/.rampart/serve.pid`)
//!    and waits for it at most 2 s.
//! 3. Sets `LD_PRELOAD` (ours first, existing preloads kept), `RAMPART_SOCKET`,
//!    `RAMPART_MODE`, `RAMPART_FAIL_OPEN`, `RAMPART_AGENT`, `RAMPART_SESSION`
//!    (removing `RAMPART_URL`, so the socket is what the library uses), prints
//!    one line saying what protects the command, and execs it.
//!
//! macOS (built and type-checked, untested): `DYLD_INSERT_LIBRARIES` with
//! `librampart.dylib` instead of `LD_PRELOAD`; the library installs its hooks
//! through a dyld `__interpose` table. System Integrity Protection strips the
//! variable for protected binaries (`/bin/sh`) and hardened-runtime programs
//! ignore it (interceptor/README.md, "macOS").
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

#[cfg(target_os = "macos")]
const LIB_NAME: &str = "librampart.dylib";
#[cfg(not(target_os = "macos"))]
const LIB_NAME: &str = "librampart.so";
#[cfg(target_os = "macos")]
const PRELOAD_VAR: &str = "DYLD_INSERT_LIBRARIES";
#[cfg(not(target_os = "macos"))]
const PRELOAD_VAR: &str = "LD_PRELOAD";

/// Longest Unix socket path (sun_path minus the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Run a command with every program it starts checked by the Rampart daemon.
#[derive(Parser, Debug)]
#[command(name = "rampart-preload", version)]
struct Args {
    /// Policy file for a daemon this launcher starts.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// enforce (default), monitor or disabled.
    #[arg(long, value_name = "M", value_parser = ["enforce", "monitor", "disabled"])]
    mode: Option<String>,
    /// Deny when the daemon cannot be reached (default: allow with a warning).
    #[arg(long)]
    fail_closed: bool,
    /// The daemon's Unix socket.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Agent name sent with every check.
    #[arg(long, value_name = "NAME")]
    agent: Option<String>,
    /// Session name sent with every check (default: preload-<pid>).
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    /// No "protected by" line, no "blocked" lines.
    #[arg(long)]
    quiet: bool,
    /// The command to run.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rampart-preload: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn env_nonempty(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

fn home() -> Option<PathBuf> {
    env_nonempty("HOME").map(PathBuf::from)
}

fn rampart_dir() -> Result<PathBuf> {
    Ok(home().context("HOME is not set")?.join(".rampart"))
}

/// The daemon socket: flag, `$RAMPART_SOCKET`, `$XDG_RUNTIME_DIR`, `~/.rampart`.
fn socket_path(flag: Option<PathBuf>) -> Result<PathBuf> {
    let p = match flag.or_else(|| env_nonempty("RAMPART_SOCKET").map(PathBuf::from)) {
        Some(p) => p,
        None => match env_nonempty("XDG_RUNTIME_DIR") {
            Some(x) => PathBuf::from(x).join("rampart/rampart.sock"),
            None => rampart_dir()?.join("rampart.sock"),
        },
    };
    let p = if p.is_absolute() {
        p
    } else {
        std::env::current_dir()?.join(p)
    };
    if p.as_os_str().len() > MAX_SOCKET_PATH {
        bail!(
            "socket path {} is longer than {MAX_SOCKET_PATH} bytes",
            p.display()
        );
    }
    Ok(p)
}

/// Where the library may be, in search order.
fn library_candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = env_nonempty("RAMPART_LIB") {
        c.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        c.push(dir.join(LIB_NAME));
        // A development checkout: target/<profile>/rampart-preload next to
        // interceptor/hook/target/release/.
        if let Some(root) = dir.parent().and_then(Path::parent) {
            c.push(root.join("interceptor/hook/target/release").join(LIB_NAME));
        }
    }
    if let Some(h) = home() {
        c.push(h.join(".rampart/lib").join(LIB_NAME));
    }
    c.push(Path::new("/usr/local/lib").join(LIB_NAME));
    c.push(Path::new("/usr/lib").join(LIB_NAME));
    c
}

fn find_library() -> Result<PathBuf> {
    let candidates = library_candidates();
    for c in &candidates {
        if c.is_file() {
            return Ok(std::fs::canonicalize(c).unwrap_or_else(|_| c.clone()));
        }
    }
    let list: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    bail!(
        "{LIB_NAME} not found (looked in: {}); build it with `cargo build --release --manifest-path interceptor/hook/Cargo.toml` or set RAMPART_LIB",
        list.join(", ")
    )
}

/// True when a daemon answers `GET /healthz` with 200 on `socket`.
fn healthz(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = s.set_write_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// `rampart` next to this binary, else on PATH.
fn find_rampart() -> Option<PathBuf> {
    let beside = std::env::current_exe().ok()?.parent()?.join("rampart");
    if beside.is_file() {
        return Some(beside);
    }
    search_path(OsStr::new("rampart"))
}

fn search_path(name: &OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Starts `rampart serve` detached and waits up to 2 s for `/healthz`.
fn start_daemon(socket: &Path, config: Option<&Path>) -> Result<()> {
    let rampart =
        find_rampart().context("no daemon answers and the `rampart` binary was not found")?;
    let dir = rampart_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    if let Some(parent) = socket.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    let log_path = dir.join("serve.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("open {}", log_path.display()))?;
    // A session of its own (util-linux `setsid`, which execs in place when
    // its caller is not a group leader, so the pid stays the daemon's); a
    // process group of its own when `setsid` is missing.
    let mut cmd = match search_path(OsStr::new("setsid")) {
        Some(setsid) => {
            let mut c = Command::new(setsid);
            c.arg(&rampart);
            c
        }
        None => {
            let mut c = Command::new(&rampart);
            c.process_group(0);
            c
        }
    };
    cmd.arg("serve").arg("--socket").arg(socket);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    // The daemon itself must never run under the preload.
    cmd.env_remove("LD_PRELOAD")
        .env_remove("DYLD_INSERT_LIBRARIES");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("start {} serve", rampart.display()))?;
    let _ = std::fs::write(dir.join("serve.pid"), format!("{}\n", child.id()));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if healthz(socket) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "rampart-preload: warning: the daemon did not answer within 2 s (see {}); commands follow the fail-open setting",
        log_path.display()
    );
    Ok(())
}

/// `ours[:existing items that are not ours]`.
fn merged_preload(lib: &Path, existing: Option<OsString>) -> OsString {
    let mut out = OsString::from(lib.as_os_str());
    if let Some(existing) = existing {
        let text = existing.to_string_lossy().into_owned();
        for item in text.split([':', ' ']).filter(|i| !i.is_empty()) {
            let same =
                Path::new(item) == lib || std::fs::canonicalize(item).is_ok_and(|p| p == lib);
            if !same {
                out.push(":");
                out.push(item);
            }
        }
    }
    out
}

fn run(args: Args) -> Result<ExitCode> {
    let Some((program, rest)) = args.command.split_first() else {
        bail!("no command given")
    };
    let lib = find_library()?;
    let program_path = if program.to_string_lossy().contains('/') {
        let p = PathBuf::from(program);
        if !p.exists() {
            bail!("command not found: {}", p.display());
        }
        p
    } else {
        search_path(program)
            .with_context(|| format!("command not found: {}", program.to_string_lossy()))?
    };
    let socket = socket_path(args.socket)?;
    let mode = args
        .mode
        .or_else(|| std::env::var("RAMPART_MODE").ok().filter(|m| !m.is_empty()));
    let mode = mode.unwrap_or_else(|| "enforce".into());
    if mode != "disabled" && !healthz(&socket) {
        start_daemon(&socket, args.config.as_deref())?;
    }
    let fail_open = if args.fail_closed {
        "0".to_string()
    } else {
        std::env::var("RAMPART_FAIL_OPEN")
            .ok()
            .unwrap_or_else(|| "1".into())
    };
    let agent = args.agent.or_else(|| {
        std::env::var("RAMPART_AGENT")
            .ok()
            .filter(|a| !a.is_empty())
    });
    let agent = agent.unwrap_or_else(|| "preload".into());
    let session = args.session.or_else(|| {
        std::env::var("RAMPART_SESSION")
            .ok()
            .filter(|s| !s.is_empty())
    });
    let session = session.unwrap_or_else(|| format!("preload-{}", std::process::id()));
    let quiet = args.quiet || std::env::var("RAMPART_QUIET").is_ok_and(|q| q == "1");

    let mut cmd = Command::new(&program_path);
    cmd.arg0(program).args(rest);
    cmd.env(
        PRELOAD_VAR,
        merged_preload(&lib, std::env::var_os(PRELOAD_VAR)),
    )
    .env("RAMPART_SOCKET", &socket)
    .env_remove("RAMPART_URL")
    .env("RAMPART_MODE", &mode)
    .env("RAMPART_FAIL_OPEN", &fail_open)
    .env("RAMPART_AGENT", &agent)
    .env("RAMPART_SESSION", &session);
    if quiet {
        cmd.env("RAMPART_QUIET", "1");
    }
    if !quiet {
        let how = if fail_open == "1" {
            "fail-open"
        } else {
            "fail-closed"
        };
        eprintln!(
            "rampart-preload: {} runs under {} (mode {mode}, {how}, daemon {}, session {session})",
            program.to_string_lossy(),
            lib.display(),
            socket.display()
        );
    }
    let err = cmd.exec();
    eprintln!(
        "rampart-preload: cannot run {}: {err}",
        program_path.display()
    );
    Ok(ExitCode::from(126))
}
