//! `rampart doctor`: tells a user what protects them right now.
//!
//! Checks, in order:
//! 1. the daemon: `GET /healthz` on the socket (`--socket`, `$RAMPART_SOCKET`,
//!    `$XDG_RUNTIME_DIR/rampart/rampart.sock`, `~/.rampart/rampart.sock`, as
//!    `rampart serve`), its mode and version;
//! 2. the policy files that daemon loaded (read from its command line in
//!    `/proc/PID/cmdline`; the embedded standard policy when it has no `--config`),
//!    each linted with [`engine::lint`];
//! 3. the preload library, searched like `rampart-preload` does (`$RAMPART_LIB`, next
//!    to this binary, the development build, `~/.rampart/lib`, `/usr/local/lib`,
//!    `/usr/lib`), and the exec-family hooks its ELF dynamic symbol table exports;
//! 4. whether this process (so the shell that started it) runs under the preload:
//!    `LD_PRELOAD` names the library and `/proc/self/maps` shows it mapped;
//! 5. with `--pid`: every process of the tree under PID (through the `ppid` links of
//!    `/proc/*/stat`): the library mapped, or why it cannot be (a static executable
//!    has no `PT_INTERP`; a set-user/group-ID one makes the loader ignore
//!    `LD_PRELOAD`).
//!
//! Exit status: 0 protected, 1 something is missing.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::cli::Style;

/// The library's file name.
const LIB_NAME: &str = "librampart.so";

/// Every hook the library is built with.
pub const HOOKS: &[&str] = &[
    "execve",
    "execv",
    "execvp",
    "execvpe",
    "execl",
    "execle",
    "execlp",
    "fexecve",
    "execveat",
    "posix_spawn",
    "posix_spawnp",
    "pidfd_spawn",
    "pidfd_spawnp",
    "system",
    "popen",
];

/// The hooks without which common programs start commands unchecked.
const ESSENTIAL_HOOKS: &[&str] = &[
    "execve",
    "execv",
    "execvp",
    "execl",
    "execle",
    "execlp",
    "posix_spawn",
    "posix_spawnp",
    "system",
    "popen",
];

/// `rampart doctor`.
#[derive(clap::Args)]
#[command(after_help = "Exit status: 0 protected, 1 something is missing, 2 usage error.")]
pub struct Args {
    /// Daemon socket (default: as `rampart serve`).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Also check every process of the tree under this process id.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Everything needed is in place.
    pub protected: bool,
    /// What is missing, one sentence each.
    pub problems: Vec<String>,
    /// The daemon.
    pub daemon: DaemonReport,
    /// The daemon's policy sources.
    pub policies: Vec<PolicyReport>,
    /// The preload library.
    pub library: LibraryReport,
    /// This process.
    pub shell: ShellReport,
    /// The tree under `--pid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<Vec<ProcessReport>>,
}

/// The daemon on the socket.
#[derive(Debug, Serialize, Default)]
pub struct DaemonReport {
    /// The socket asked.
    pub socket: String,
    /// `/healthz` answered 200.
    pub reachable: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `enforce`, `monitor` or `disabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Daemon version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Audit events written since it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_events: Option<u64>,
    /// Approvals waiting for an operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_approvals: Option<u64>,
    /// The `rampart serve` process found for this socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The datagram lane (`<socket>.dgram`) answered, as the preload library
    /// asks it (a reachable daemon only; without a lane the library uses the
    /// stream socket, so this is information, not a problem).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datagram_lane: Option<bool>,
}

/// One policy source and its lint result.
#[derive(Debug, Serialize)]
pub struct PolicyReport {
    /// File path, or `embedded:standard`.
    pub source: String,
    /// Policies in it (0 when it does not load).
    pub policies: usize,
    /// Load errors.
    pub errors: Vec<String>,
    /// Lint warnings (`line:column: [code] message`).
    pub warnings: Vec<String>,
}

/// The preload library.
#[derive(Debug, Serialize, Default)]
pub struct LibraryReport {
    /// The file found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Where it was looked for, in order.
    pub searched: Vec<String>,
    /// Hooks exported by its dynamic symbol table.
    pub hooks: Vec<String>,
    /// Essential hooks it does not export.
    pub missing_hooks: Vec<String>,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// This process and the environment it inherited.
#[derive(Debug, Serialize, Default)]
pub struct ShellReport {
    /// `$LD_PRELOAD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ld_preload: Option<String>,
    /// `LD_PRELOAD` names librampart.
    pub preload_env: bool,
    /// `/proc/self/maps` shows librampart mapped.
    pub mapped: bool,
    /// `$RAMPART_MODE` seen by the library.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `$RAMPART_FAIL_OPEN` seen by the library.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_open: Option<String>,
}

/// Coverage of one process.
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Coverage {
    /// librampart is mapped: its exec calls are checked.
    Covered,
    /// A dynamic executable without the library.
    NotCovered,
    /// A static executable: no dynamic loader, no preload.
    Static,
    /// Set-user/group-ID: the loader ignores `LD_PRELOAD` for it.
    Setuid,
    /// Its maps or executable cannot be read (another user's process).
    Unknown,
}

/// One process of the `--pid` tree.
#[derive(Debug, Serialize)]
pub struct ProcessReport {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Depth under the root PID (0 for the root).
    pub depth: usize,
    /// Command name (`/proc/PID/comm`).
    pub name: String,
    /// Executable path, when readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// Whether the library covers it.
    pub coverage: Coverage,
    /// Why, in words.
    pub detail: String,
}

/// Run `rampart doctor`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = diagnose(&args)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_human(&mut out, &report, Style::stdout())?;
    }
    Ok(if report.protected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Collect the report.
pub fn diagnose(args: &Args) -> anyhow::Result<Report> {
    if let Some(pid) = args.pid {
        anyhow::ensure!(
            Path::new(&format!("/proc/{pid}")).is_dir(),
            "no process {pid}"
        );
    }
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(crate::serve::config::default_socket_path);
    let mut problems = Vec::new();

    let mut daemon = check_daemon(&socket);
    let server = find_server(&socket);
    daemon.pid = server.as_ref().map(|s| s.pid);
    if !daemon.reachable {
        problems.push(format!(
            "no daemon answers on {} ({}); start one: rampart serve",
            socket.display(),
            daemon.error.as_deref().unwrap_or("no answer")
        ));
    } else if daemon.mode.as_deref() != Some("enforce") {
        problems.push(format!(
            "the daemon runs in {} mode: nothing is blocked",
            daemon.mode.as_deref().unwrap_or("an unknown")
        ));
    }

    let policies = match &server {
        Some(s) => lint_sources(&s.configs, &s.config_dirs),
        None => Vec::new(),
    };
    for p in &policies {
        for e in &p.errors {
            problems.push(format!("policy {}: {e}", p.source));
        }
    }

    let library = check_library();
    match &library.path {
        None => problems.push(format!(
            "{LIB_NAME} not found; install it: scripts/install.sh"
        )),
        Some(p) => {
            if let Some(e) = &library.error {
                problems.push(format!("{p}: {e}"));
            } else if !library.missing_hooks.is_empty() {
                problems.push(format!(
                    "{p} does not export {}",
                    library.missing_hooks.join(", ")
                ));
            }
        }
    }

    let shell = check_shell();
    let processes = args.pid.map(process_tree);
    match &processes {
        None => {
            if !(shell.preload_env && shell.mapped) {
                problems.push(
                    "this shell does not run under the preload: start one with `rampart-preload -- $SHELL`"
                        .into(),
                );
            } else if shell.mode.as_deref() == Some("disabled") {
                problems.push("this shell has RAMPART_MODE=disabled".into());
            }
        }
        Some(list) => {
            for p in list.iter().filter(|p| p.coverage != Coverage::Covered) {
                problems.push(format!("process {} ({}): {}", p.pid, p.name, p.detail));
            }
        }
    }

    Ok(Report {
        protected: problems.is_empty(),
        problems,
        daemon,
        policies,
        library,
        shell,
        processes,
    })
}

// ---- daemon -----------------------------------------------------------------------

fn check_daemon(socket: &Path) -> DaemonReport {
    let mut r = DaemonReport {
        socket: socket.display().to_string(),
        ..Default::default()
    };
    let answer = UnixStream::connect(socket)
        .map_err(|e| e.to_string())
        .and_then(|s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
            let _ = s.set_write_timeout(Some(Duration::from_secs(3)));
            crate::approvals_cmd::request(s, "GET", "/healthz", None, None)
                .map_err(|e| e.to_string())
        });
    match answer {
        Err(e) => r.error = Some(e),
        Ok(resp) if resp.status != 200 => {
            r.error = Some(format!("/healthz answered HTTP {}", resp.status));
        }
        Ok(resp) => match serde_json::from_str::<serde_json::Value>(&resp.body) {
            Err(e) => r.error = Some(format!("/healthz answer is not JSON: {e}")),
            Ok(v) => {
                r.reachable = true;
                r.mode = v["mode"].as_str().map(str::to_string);
                r.version = v["version"].as_str().map(str::to_string);
                r.audit_events = v["audit_events"].as_u64();
                r.pending_approvals = v["pending_approvals"].as_u64();
                r.datagram_lane = Some(lane_answers(socket));
            }
        },
    }
    r
}

/// A datagram to the lane next to `socket`, with one end of a socket pair
/// attached as the preload library sends it, gets an answer on the other end
/// (`421` for `GET /healthz`, which the lane does not serve, is an answer).
fn lane_answers(socket: &Path) -> bool {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixDatagram;
    let lane = crate::serve::datagram::path_for(socket);
    let Ok((mine, theirs)) = UnixDatagram::pair() else {
        return false;
    };
    let Ok(to) = UnixAddr::new(&lane) else {
        return false;
    };
    let fds = [theirs.as_raw_fd()];
    let sent = sendmsg(
        mine.as_raw_fd(),
        &[std::io::IoSlice::new(
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
        )],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        Some(&to),
    );
    drop(theirs);
    let mut buf = [0u8; 512];
    sent.is_ok()
        && mine.set_read_timeout(Some(Duration::from_secs(2))).is_ok()
        && mine
            .recv(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"HTTP/1.1 "))
}

/// A `rampart serve` process and the policy sources on its command line.
#[derive(Debug, PartialEq)]
struct Server {
    pid: u32,
    configs: Vec<PathBuf>,
    config_dirs: Vec<PathBuf>,
}

/// What a `rampart serve` command line says.
#[derive(Debug, Default, PartialEq)]
struct ServeArgs {
    socket: Option<String>,
    configs: Vec<String>,
    config_dirs: Vec<String>,
}

/// Parse `rampart serve …` argv; `None` when it is not one.
fn parse_serve_argv(argv: &[String]) -> Option<ServeArgs> {
    let prog = Path::new(argv.first()?).file_name()?.to_str()?;
    if prog != "rampart" || argv.get(1).map(String::as_str) != Some("serve") {
        return None;
    }
    let mut out = ServeArgs::default();
    let mut it = argv[2..].iter();
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let slot = match key {
            "--socket" => 0,
            "--config" => 1,
            "--config-dir" => 2,
            _ => continue,
        };
        let Some(v) = inline.or_else(|| it.next().cloned()) else {
            break;
        };
        match slot {
            0 => out.socket = Some(v),
            1 => out.configs.push(v),
            _ => out.config_dirs.push(v),
        }
    }
    Some(out)
}

fn read_nul_list(path: &Path) -> Option<Vec<String>> {
    let raw = std::fs::read(path).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

/// The socket a `rampart serve` process listens on, when its command line or
/// environment tells; `None` under socket activation or when unreadable.
fn server_socket(pid: u32, a: &ServeArgs, cwd: &Path) -> Option<PathBuf> {
    if let Some(s) = &a.socket {
        return Some(cwd.join(s));
    }
    let env = read_nul_list(Path::new(&format!("/proc/{pid}/environ")))?;
    let get = |k: &str| {
        env.iter()
            .find_map(|e| e.strip_prefix(k)?.strip_prefix('='))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    if get("LISTEN_FDS").is_some() {
        return None;
    }
    if let Some(s) = get("RAMPART_SOCKET") {
        return Some(cwd.join(s));
    }
    if let Some(x) = get("XDG_RUNTIME_DIR") {
        return Some(Path::new(&x).join("rampart/rampart.sock"));
    }
    get("HOME").map(|h| Path::new(&h).join(".rampart/rampart.sock"))
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// The `rampart serve` process behind `socket`: the one whose socket is known to
/// be it, else the only one whose socket is unknown (socket activation).
fn find_server(socket: &Path) -> Option<Server> {
    let mut unknown = Vec::new();
    for pid in proc_pids() {
        let Some(argv) = read_nul_list(Path::new(&format!("/proc/{pid}/cmdline"))) else {
            continue;
        };
        let Some(a) = parse_serve_argv(&argv) else {
            continue;
        };
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_else(|_| "/".into());
        let server = Server {
            pid,
            configs: a.configs.iter().map(|c| cwd.join(c)).collect(),
            config_dirs: a.config_dirs.iter().map(|c| cwd.join(c)).collect(),
        };
        match server_socket(pid, &a, &cwd) {
            Some(s) if same_path(&s, socket) => return Some(server),
            Some(_) => {}
            None => unknown.push(server),
        }
    }
    if unknown.len() == 1 {
        unknown.pop()
    } else {
        None
    }
}

fn proc_pids() -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut v: Vec<u32> = rd
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

// ---- policies ---------------------------------------------------------------------

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Lint one policy document.
fn lint_text(source: &str, text: &str) -> PolicyReport {
    let mut r = PolicyReport {
        source: source.to_string(),
        policies: 0,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    match engine::policy::parse_str(source, text) {
        Err(e) => r.errors.push(crate::cli::load_error_text(&e)),
        Ok(file) => {
            if let Err(e) = engine::Engine::from_yaml(source, text) {
                r.errors.push(crate::cli::load_error_text(&e));
            }
            r.policies = file.policies.len();
            r.warnings = engine::lint::lint(&file, Some(text), unix_now())
                .into_iter()
                .map(|f| format!("{}:{}: [{}] {}", f.line, f.column, f.kind, f.message))
                .collect();
        }
    }
    r
}

fn lint_sources(files: &[PathBuf], dirs: &[PathBuf]) -> Vec<PolicyReport> {
    if files.is_empty() && dirs.is_empty() {
        return vec![lint_text("embedded:standard", engine::STANDARD_POLICY)];
    }
    let mut all: Vec<PathBuf> = files.to_vec();
    let mut out = Vec::new();
    for d in dirs {
        match engine::policy::sources::dir_files(d) {
            Ok(list) => all.extend(list),
            Err(e) => out.push(PolicyReport {
                source: d.display().to_string(),
                policies: 0,
                errors: vec![crate::cli::load_error_text(&e)],
                warnings: Vec::new(),
            }),
        }
    }
    for f in all {
        let label = f.display().to_string();
        out.push(match std::fs::read_to_string(&f) {
            Ok(text) => lint_text(&label, &text),
            Err(e) => PolicyReport {
                source: label,
                policies: 0,
                errors: vec![format!("cannot read: {e}")],
                warnings: Vec::new(),
            },
        });
    }
    out
}

// ---- library ----------------------------------------------------------------------

fn env_nonempty(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// Where the library may be: the one `LD_PRELOAD` names (the library in use), then
/// the launcher's order.
pub fn library_candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Ok(ld) = std::env::var("LD_PRELOAD") {
        c.extend(
            ld.split([':', ' '])
                .filter(|i| Path::new(i).file_name().is_some_and(|n| n == LIB_NAME))
                .map(PathBuf::from),
        );
    }
    if let Some(p) = env_nonempty("RAMPART_LIB") {
        c.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        c.push(dir.join(LIB_NAME));
        if let Some(root) = dir.parent().and_then(Path::parent) {
            c.push(root.join("interceptor/hook/target/release").join(LIB_NAME));
        }
    }
    if let Some(h) = env_nonempty("HOME") {
        c.push(PathBuf::from(h).join(".rampart/lib").join(LIB_NAME));
    }
    c.push(Path::new("/usr/local/lib").join(LIB_NAME));
    c.push(Path::new("/usr/lib").join(LIB_NAME));
    c
}

fn check_library() -> LibraryReport {
    let candidates = library_candidates();
    let mut r = LibraryReport {
        searched: candidates.iter().map(|c| c.display().to_string()).collect(),
        ..Default::default()
    };
    let Some(found) = candidates.iter().find(|c| c.is_file()) else {
        return r;
    };
    let path = std::fs::canonicalize(found).unwrap_or_else(|_| found.clone());
    r.path = Some(path.display().to_string());
    match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|data| exported_functions(&data).map_err(|e| e.to_string()))
    {
        Err(e) => r.error = Some(format!("cannot read its symbols: {e}")),
        Ok(names) => {
            r.hooks = HOOKS
                .iter()
                .filter(|h| names.iter().any(|n| n == *h))
                .map(|h| h.to_string())
                .collect();
            r.missing_hooks = ESSENTIAL_HOOKS
                .iter()
                .filter(|h| !r.hooks.iter().any(|n| n == *h))
                .map(|h| h.to_string())
                .collect();
        }
    }
    r
}

/// Names of the global functions an ELF file defines in its dynamic symbol table.
pub fn exported_functions(data: &[u8]) -> Result<Vec<String>, object::Error> {
    use object::{Object, ObjectSymbol, SymbolKind};
    let file = object::File::parse(data)?;
    let mut names: Vec<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition() && s.is_global() && s.kind() == SymbolKind::Text)
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Why an executable could not be examined.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// The ELF structures are malformed.
    #[error("malformed ELF: {0}")]
    Parse(#[from] object::Error),
    /// Not an ELF file at all (a script is run through its interpreter).
    #[error("not an ELF file")]
    NotElf,
}

/// Whether an ELF executable asks for a dynamic loader (`PT_INTERP`).
pub fn has_interpreter(data: &[u8]) -> Result<bool, ElfError> {
    use object::elf::{FileHeader32, FileHeader64, PT_INTERP};
    use object::read::elf::{FileHeader, ProgramHeader};
    use object::{Endianness, FileKind};
    fn any_interp<H: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<bool, object::Error> {
        let h = H::parse(data)?;
        let e = h.endian()?;
        Ok(h.program_headers(e, data)?
            .iter()
            .any(|p| p.p_type(e) == PT_INTERP))
    }
    match FileKind::parse(data).map_err(|_| ElfError::NotElf)? {
        FileKind::Elf64 => Ok(any_interp::<FileHeader64<Endianness>>(data)?),
        FileKind::Elf32 => Ok(any_interp::<FileHeader32<Endianness>>(data)?),
        _ => Err(ElfError::NotElf),
    }
}

// ---- this shell -------------------------------------------------------------------

fn maps_have_library(maps: &str) -> bool {
    maps.lines().any(|l| {
        l.split_whitespace()
            .nth(5)
            .and_then(|p| Path::new(p).file_name()?.to_str())
            .is_some_and(|n| n.starts_with("librampart"))
    })
}

fn check_shell() -> ShellReport {
    let ld = std::env::var("LD_PRELOAD").ok().filter(|v| !v.is_empty());
    ShellReport {
        preload_env: ld.as_deref().is_some_and(|v| v.contains("librampart")),
        ld_preload: ld,
        mapped: std::fs::read_to_string("/proc/self/maps")
            .map(|m| maps_have_library(&m))
            .unwrap_or(false),
        mode: std::env::var("RAMPART_MODE").ok().filter(|v| !v.is_empty()),
        fail_open: std::env::var("RAMPART_FAIL_OPEN")
            .ok()
            .filter(|v| !v.is_empty()),
    }
}

// ---- process tree -----------------------------------------------------------------

/// `(ppid, comm)` from the text of `/proc/PID/stat`.
fn parse_stat(stat: &str) -> Option<(u32, String)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    Some((rest.next()?.parse().ok()?, name))
}

/// The processes under `root` (itself first), depth first, with their depth.
fn descendants(root: u32, parents: &BTreeMap<u32, u32>) -> Vec<(u32, usize)> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (&pid, &ppid) in parents {
        if pid != root {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![(root, 0usize)];
    while let Some((pid, depth)) = stack.pop() {
        out.push((pid, depth));
        if let Some(kids) = children.get(&pid) {
            for &k in kids.iter().rev() {
                stack.push((k, depth + 1));
            }
        }
    }
    out
}

fn process_tree(root: u32) -> Vec<ProcessReport> {
    let mut parents = BTreeMap::new();
    let mut names = BTreeMap::new();
    for pid in proc_pids() {
        if let Some((ppid, name)) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(parse_stat)
        {
            parents.insert(pid, ppid);
            names.insert(pid, name);
        }
    }
    descendants(root, &parents)
        .into_iter()
        .filter(|(pid, _)| parents.contains_key(pid))
        .map(|(pid, depth)| {
            let (coverage, exe, detail) = coverage_of(pid);
            ProcessReport {
                pid,
                ppid: parents[&pid],
                depth,
                name: names.remove(&pid).unwrap_or_default(),
                exe,
                coverage,
                detail,
            }
        })
        .collect()
}

fn coverage_of(pid: u32) -> (Coverage, Option<String>, String) {
    let exe_link = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let exe = exe_link.as_ref().map(|p| p.display().to_string());
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"));
    if let Ok(m) = &maps {
        if maps_have_library(m) {
            return (Coverage::Covered, exe, "librampart is mapped".into());
        }
    }
    // Read the executable through /proc (works even if it was replaced on disk).
    let proc_exe = format!("/proc/{pid}/exe");
    let meta = std::fs::metadata(&proc_exe);
    if let Ok(m) = &meta {
        let mode = m.permissions().mode();
        if mode & 0o6000 != 0 {
            let which = if mode & 0o4000 != 0 {
                "set-user-ID"
            } else {
                "set-group-ID"
            };
            return (
                Coverage::Setuid,
                exe,
                format!("{which} executable: the loader ignores LD_PRELOAD, the library cannot cover it"),
            );
        }
    }
    let interp = std::fs::read(&proc_exe)
        .map_err(|e| e.to_string())
        .and_then(|d| has_interpreter(&d).map_err(|e| e.to_string()));
    match (maps, interp) {
        (_, Ok(false)) => (
            Coverage::Static,
            exe,
            "static executable (no PT_INTERP): the library cannot load into it; only its own start was checked".into(),
        ),
        (Ok(_), Ok(true)) => (
            Coverage::NotCovered,
            exe,
            "dynamic executable without librampart: its commands are not checked".into(),
        ),
        (Err(e), _) => (Coverage::Unknown, exe, format!("cannot read its maps: {e}")),
        (Ok(_), Err(e)) => (
            Coverage::Unknown,
            exe,
            format!("librampart not mapped; cannot read its executable: {e}"),
        ),
    }
}

// ---- output -----------------------------------------------------------------------

fn print_human(out: &mut impl Write, r: &Report, style: Style) -> std::io::Result<()> {
    let ok = style.good("ok ");
    let bad = style.bad("!! ");
    let mark = |good: bool| if good { ok.clone() } else { bad.clone() };

    let d = &r.daemon;
    if d.reachable {
        let mut extra = Vec::new();
        if let Some(p) = d.pid {
            extra.push(format!("pid {p}"));
        }
        if let Some(n) = d.audit_events {
            extra.push(format!("{n} audit events"));
        }
        if let Some(n) = d.pending_approvals.filter(|n| *n > 0) {
            extra.push(format!("{n} approvals pending"));
        }
        match d.datagram_lane {
            Some(true) => extra.push("datagram lane".into()),
            Some(false) => extra.push("no datagram lane: the stream socket serves alone".into()),
            None => {}
        }
        writeln!(
            out,
            "{}daemon    rampart {} answers on {}, mode {}{}",
            mark(d.mode.as_deref() == Some("enforce")),
            d.version.as_deref().unwrap_or("?"),
            d.socket,
            d.mode.as_deref().unwrap_or("?"),
            if extra.is_empty() {
                String::new()
            } else {
                format!(" ({})", extra.join(", "))
            }
        )?;
    } else {
        writeln!(
            out,
            "{bad}daemon    none on {}: {}",
            d.socket,
            d.error.as_deref().unwrap_or("no answer")
        )?;
    }

    if r.policies.is_empty() && d.reachable {
        writeln!(
            out,
            "   policies  unknown (the `rampart serve` process of this socket was not found)"
        )?;
    }
    for p in &r.policies {
        writeln!(
            out,
            "{}policy    {}: {} {}, {} error{}, {} warning{}",
            mark(p.errors.is_empty()),
            p.source,
            p.policies,
            if p.policies == 1 {
                "policy"
            } else {
                "policies"
            },
            p.errors.len(),
            if p.errors.len() == 1 { "" } else { "s" },
            p.warnings.len(),
            if p.warnings.len() == 1 { "" } else { "s" },
        )?;
        for e in &p.errors {
            writeln!(out, "             error: {e}")?;
        }
        for w in &p.warnings {
            writeln!(out, "             warning: {w}")?;
        }
    }

    let l = &r.library;
    match &l.path {
        Some(p) => writeln!(
            out,
            "{}library   {p} ({} hooks: {}){}",
            mark(l.error.is_none() && l.missing_hooks.is_empty()),
            l.hooks.len(),
            l.hooks.join(" "),
            l.error
                .as_ref()
                .map(|e| format!("; {e}"))
                .unwrap_or_default()
        )?,
        None => writeln!(
            out,
            "{bad}library   {LIB_NAME} not found (looked in {})",
            l.searched.join(", ")
        )?,
    }

    let s = &r.shell;
    let preloaded = s.preload_env && s.mapped;
    let shell_mark = if r.processes.is_some() {
        "   ".to_string()
    } else {
        mark(preloaded && s.mode.as_deref() != Some("disabled"))
    };
    if preloaded {
        writeln!(
            out,
            "{shell_mark}shell     runs under the preload (mode {}, fail-{})",
            s.mode.as_deref().unwrap_or("enforce"),
            if s.fail_open.as_deref() == Some("0") {
                "closed"
            } else {
                "open"
            }
        )?;
    } else if s.preload_env {
        writeln!(
            out,
            "{shell_mark}shell     LD_PRELOAD names librampart but it is not mapped (wrong path?)"
        )?;
    } else {
        writeln!(
            out,
            "{shell_mark}shell     not under the preload (LD_PRELOAD does not name librampart)"
        )?;
    }

    if let Some(list) = &r.processes {
        writeln!(
            out,
            "   processes under {}:",
            list.first().map_or(0, |p| p.pid)
        )?;
        for p in list {
            let tag = match p.coverage {
                Coverage::Covered => style.good("covered"),
                Coverage::NotCovered => style.bad("NOT COVERED"),
                Coverage::Static => style.bad("STATIC"),
                Coverage::Setuid => style.bad("SETUID"),
                Coverage::Unknown => style.warn("unknown"),
            };
            let name: String = p
                .name
                .chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect();
            writeln!(
                out,
                "     {:indent$}{:>7} {:<16} {tag}{}",
                "",
                p.pid,
                name,
                if p.coverage == Coverage::Covered {
                    String::new()
                } else {
                    format!(": {}", p.detail)
                },
                indent = p.depth * 2
            )?;
        }
    }

    if r.protected {
        writeln!(out, "{}", style.good("protected"))?;
    } else {
        writeln!(
            out,
            "{}",
            style.bad(&format!(
                "NOT protected: {} problem{}",
                r.problems.len(),
                if r.problems.len() == 1 { "" } else { "s" }
            ))
        )?;
        for p in &r.problems {
            writeln!(out, "  - {p}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn serve_argv_yields_socket_and_policy_sources() {
        let a = parse_serve_argv(&argv(
            "/usr/local/bin/rampart serve --config a.yaml --socket=/run/r.sock --config-dir d --config=/b.yaml --mode enforce",
        ))
        .unwrap();
        assert_eq!(a.socket.as_deref(), Some("/run/r.sock"));
        assert_eq!(a.configs, ["a.yaml", "/b.yaml"]);
        assert_eq!(a.config_dirs, ["d"]);
        assert!(parse_serve_argv(&argv("rampart check -- ls")).is_none());
        assert!(parse_serve_argv(&argv("/bin/notrampart serve")).is_none());
    }

    #[test]
    fn stat_parsing_survives_parentheses_and_spaces_in_names() {
        let (ppid, name) = parse_stat("42 (a (b) c) S 7 42 42 0 -1").unwrap();
        assert_eq!((ppid, name.as_str()), (7, "a (b) c"));
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn descendants_walk_the_tree_depth_first_from_the_root() {
        let parents: BTreeMap<u32, u32> = [
            (1, 0),
            (10, 1),
            (11, 10),
            (12, 10),
            (13, 11),
            (20, 1),
            (30, 99),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            descendants(10, &parents),
            [(10, 0), (11, 1), (13, 2), (12, 1)]
        );
    }

    #[test]
    fn maps_detection_matches_only_the_library_file_name() {
        let maps = "7f00-7f01 r-xp 00000000 08:01 123 /home/u/.rampart/lib/librampart.so\n";
        assert!(maps_have_library(maps));
        assert!(!maps_have_library(
            "7f00-7f01 r-xp 00000000 08:01 123 /home/librampart-data/libc.so.6\n"
        ));
    }

    #[test]
    fn own_executable_is_dynamic_and_exports_no_hooks() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        assert!(has_interpreter(&exe).unwrap());
        assert!(has_interpreter(b"#!/bin/sh\n").is_err());
        let libc = [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/aarch64-linux-gnu/libc.so.6",
        ]
        .iter()
        .find(|p| Path::new(p).exists());
        if let Some(libc) = libc {
            let names = exported_functions(&std::fs::read(libc).unwrap()).unwrap();
            assert!(names.iter().any(|n| n == "execve"));
        }
    }
}
