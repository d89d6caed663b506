//! Shared harness for the end-to-end tests: build artefacts, C probes, the
//! recording test daemon, the real `rampart serve` daemon, and helpers to run
//! programs under the preload library.
//!
//! OWNER: helper "interceptor".
//!
//! Artefacts: `librampart.so` is built (release, its own workspace) on first
//! use; the `rampart` and `rampart-preload` binaries must already be built
//! next to the test binary (`cargo build --workspace --bins`, which
//! `scripts/test` runs). C probes under `tests/probes/` are compiled with the
//! system C compiler into `<target>/e2e-probes/`.

pub mod daemon;
pub mod recorder;
pub mod stress;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub use recorder::{Recorder, Reply, Seen};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `<target>/debug` (or whichever profile built this test), derived from the
/// running test executable: `.../target/debug/deps/e2e-xxxx` → `.../target/debug`.
pub fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir
}

/// A workspace binary built next to the tests (`rampart`, `rampart-preload`, ...).
pub fn workspace_bin(name: &str) -> PathBuf {
    let p = target_profile_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`, or run scripts/test)",
        p.display()
    );
    p
}

/// The preload library, built once per test process (cargo's own lock
/// serialises concurrent builds from several test binaries).
pub fn hook_lib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| build_hook(None, &[]))
}

/// Builds `librampart.so` (release) for `target` (the host when `None`) with
/// extra environment for cargo (a cross linker, say) and returns its path.
pub fn build_hook(target: Option<&str>, env: &[(&str, &OsStr)]) -> PathBuf {
    let root = workspace_root();
    let manifest = root.join("interceptor/hook/Cargo.toml");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS");
    if let Some(t) = target {
        cargo.args(["--target", t]);
    }
    for (k, v) in env {
        cargo.env(k, v);
    }
    let out = cargo.output().expect("run cargo to build librampart.so");
    assert!(
        out.status.success(),
        "building librampart.so{} failed (run scripts/test, or `cargo build --release --manifest-path interceptor/hook/Cargo.toml`):\n{}",
        target.map(|t| format!(" for {t}")).unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = match target {
        Some(t) => format!("interceptor/hook/target/{t}/release"),
        None => "interceptor/hook/target/release".to_string(),
    };
    let lib = root.join(dir).join("librampart.so");
    assert!(lib.exists(), "{} missing after build", lib.display());
    lib
}

/// Compiles `tests/probes/<name>.c` (cached by modification time) and returns
/// the executable. Extra compiler flags may be given (e.g. `-static`, `-shared`).
pub fn probe(name: &str) -> PathBuf {
    probe_with(name, &[], name)
}

/// Like [`probe`] with extra flags and an output name.
pub fn probe_with(name: &str, flags: &[&str], out_name: &str) -> PathBuf {
    let src = workspace_root()
        .join("tests/probes")
        .join(format!("{name}.c"));
    let dir = target_profile_dir().join("e2e-probes");
    std::fs::create_dir_all(&dir).expect("create probe dir");
    let out = dir.join(out_name);
    let fresh = match (std::fs::metadata(&src), std::fs::metadata(&out)) {
        (Ok(s), Ok(o)) => o.modified().ok() >= s.modified().ok(),
        _ => false,
    };
    if !fresh {
        // Compile to a unique name, then rename: parallel tests may race.
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!("{out_name}.{}.{seq}.tmp", std::process::id()));
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let res = Command::new(&cc)
            .args(["-O1", "-Wall", "-pthread", "-o"])
            .arg(&tmp)
            .arg(&src)
            .args(flags)
            .output()
            .unwrap_or_else(|e| panic!("run {cc}: {e}"));
        assert!(
            res.status.success(),
            "compiling {}: {}",
            src.display(),
            String::from_utf8_lossy(&res.stderr)
        );
        std::fs::rename(&tmp, &out).expect("rename probe");
    }
    out
}

/// The first existing path among `candidates`, else `name` looked up on PATH
/// (symlinks resolved, so version-manager shims are skipped).
pub fn find_program(name: &str, candidates: &[&str]) -> Option<PathBuf> {
    for c in candidates {
        let p = Path::new(c);
        if p.exists() {
            return Some(p.to_path_buf());
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .filter(|p| p.exists())
        .find(|p| !p.to_string_lossy().contains("shims"))
}

/// The system Python (not a pyenv/asdf shim, which would run scripts of its own).
pub fn python3() -> PathBuf {
    find_program("python3", &["/usr/bin/python3"]).expect("python3 is required by the e2e tests")
}

/// Runs `cmd` and returns its output, failing the test with context on spawn errors.
///
/// `ETXTBSY` is retried for up to two seconds: a test that copies an executable
/// and runs it races with the other test threads, whose forked children hold
/// the copy's descriptor open until they exec (the file is "busy" meanwhile).
pub fn output(cmd: &mut Command) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match cmd.output() {
            Ok(out) => return out,
            Err(e)
                if e.raw_os_error() == Some(libc::ETXTBSY)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("spawn {cmd:?}: {e}"),
        }
    }
}

/// A command prepared to run under the preload library, talking to the
/// daemon on `socket`. The caller's `RAMPART_*` and `LD_PRELOAD` are removed
/// first so the host environment cannot leak into a test.
pub fn preloaded(program: impl AsRef<std::ffi::OsStr>, socket: &Path) -> Command {
    let mut cmd = Command::new(program);
    clean_env(&mut cmd);
    cmd.env("LD_PRELOAD", hook_lib())
        .env("RAMPART_SOCKET", socket)
        .env("RAMPART_SESSION", "e2e");
    cmd
}

/// Removes every `RAMPART_*` and `LD_PRELOAD` variable inherited from the host.
pub fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("RAMPART_") || k == "LD_PRELOAD" {
            cmd.env_remove(k);
        }
    }
}

/// A test scratch directory under the system temp dir, with a short path
/// (Unix socket paths are limited to 107 bytes).
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rp")
        .tempdir_in("/tmp")
        .expect("tempdir")
}

/// Standard rule: deny any command containing `marker-denied`, allow the rest.
pub fn deny_marker(seen: &Seen) -> Reply {
    if seen.command.contains("marker-denied") {
        Reply::deny("test policy: marker-denied is forbidden", "e2e-deny-marker")
    } else {
        Reply::allow()
    }
}

/// Asserts the process succeeded, showing its output otherwise.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stdout as a string.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr as a string.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A test case: a scratch directory plus a recording daemon that denies
/// commands containing `marker-denied`.
pub struct Case {
    /// The scratch directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The recording daemon on `<dir>/d.sock`.
    pub rec: Recorder,
}

impl Case {
    /// A case with the standard deny-marker rule.
    pub fn new() -> Case {
        Case::with_rule(deny_marker)
    }

    /// A case with a custom rule.
    pub fn with_rule(rule: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Case {
        let dir = scratch();
        let rec = Recorder::unix(&dir.path().join("d.sock"), rule);
        Case { dir, rec }
    }

    /// `<dir>/<name>` as a string.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// True when `<dir>/<name>` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.dir.path().join(name).exists()
    }

    /// `program` under the preload, talking to this case's recorder.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = preloaded(program, &self.rec.socket);
        c.current_dir(self.dir.path());
        c
    }

    /// The commands the recorder saw.
    pub fn seen(&self) -> Vec<String> {
        self.rec.commands()
    }

    /// `touch <dir>/<name>`: the command line the recorder sees for a marker.
    pub fn touch(&self, name: &str) -> String {
        format!("touch {}", self.path(name))
    }

    /// The usual pair: `touch <dir>/marker-allowed`, then `touch <dir>/marker-denied`.
    pub fn touch_pair(&self) -> [String; 2] {
        [self.touch("marker-allowed"), self.touch("marker-denied")]
    }

    /// Asserts that `marker-allowed` was created and `marker-denied` was not.
    #[track_caller]
    pub fn assert_markers(&self) {
        self.assert_markers_for("");
    }

    /// [`Case::assert_markers`], naming the case `what` when it fails.
    #[track_caller]
    pub fn assert_markers_for(&self, what: &str) {
        assert!(
            self.exists("marker-allowed"),
            "{what}: the allowed command did not run"
        );
        assert!(
            !self.exists("marker-denied"),
            "{what}: the denied command ran"
        );
    }

    /// [`Case::assert_markers`], then: the recorder saw exactly `want`, in order.
    #[track_caller]
    pub fn assert_outcome<S: AsRef<str>>(&self, want: &[S]) {
        self.assert_outcome_for("", want);
    }

    /// The recorder saw exactly `want`, in any order (children that run
    /// concurrently).
    #[track_caller]
    pub fn assert_seen_unordered<S: AsRef<str>>(&self, want: &[S]) {
        let mut want: Vec<&str> = want.iter().map(AsRef::as_ref).collect();
        want.sort_unstable();
        assert_eq!(self.rec.sorted_commands(), want, "commands, sorted");
    }

    /// [`Case::assert_outcome`], naming the case `what` when it fails.
    #[track_caller]
    pub fn assert_outcome_for<S: AsRef<str>>(&self, what: &str, want: &[S]) {
        self.assert_markers_for(what);
        let want: Vec<&str> = want.iter().map(AsRef::as_ref).collect();
        assert_eq!(
            self.seen(),
            want,
            "{what}: commands the daemon was asked about"
        );
    }
}

impl Default for Case {
    fn default() -> Self {
        Case::new()
    }
}
