//! The exported hooks and the per-call flow. One of the FFI modules allowed
//! to use `unsafe`; the decisions themselves are made in safe modules.
//!
//! Per call: (1) mode `disabled` or re-entry → straight to the real function;
//! (2) a target that certainly does not exist (or a PATH search that finds
//! nothing) → straight to the real function, which fails without running
//! anything — so a caller's own PATH walk asks at most once; (3) the floor
//! (enforce mode); (4) ask the daemon; (5) on allow, call the real function
//! with the caller's errno restored and a rebuilt environment; on deny, set
//! `EPERM` (exec family: -1; spawn family: return value `EPERM`; `system`:
//! -1 as if the shell could not be started; `popen`: NULL) and print one
//! `rampart: blocked ...` line unless `RAMPART_QUIET=1`.
//!
//! Everything here runs on the caller's stack: no allocation, no locks, no
//! `dlsym` after load. Only syscalls and stack buffers, because calls arrive
//! in vfork children (dash, CPython) and in fork children of multithreaded
//! parents.

use core::ffi::{c_char, c_int, c_void};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use crate::buf::{Buf, Counter, Fnv, Sink};
use crate::bytes::same;
use crate::client;
use crate::command::Command;
use crate::config::{self, Config, Mode};
use crate::cstr::{self, CStrArray, CStrIter, PtrArray, PATH_MAX};
use crate::decide::{self, Outcome, Verdict};
use crate::env::{classify, EnvKind, PRELOAD_VAR};
use crate::floor;
use crate::http::Facts;
use crate::json::Answer;
use crate::net::{self, Mapped};
use crate::path;
use crate::real::{self, State};

type ExecvHook = unsafe extern "C" fn(*const c_char, *const *const c_char) -> c_int;
type ExecveHook =
    unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;

extern "C" {
    fn rampart_shim_register(v: ExecvHook, vp: ExecvHook, ve: ExecveHook);
    fn rampart_guard_enter() -> c_int;
    fn rampart_guard_leave();
}

// ---------------------------------------------------------------- load time

/// The load-time constructor body: resolve the real functions, snapshot the
/// environment, register the shim's callbacks.
pub fn on_load() {
    real::resolve_all();
    let _ = state();
    // SAFETY: registering pointers to our own hooks, whose signatures match
    // the C typedefs in shim.c.
    unsafe { rampart_shim_register(execv, execvp, execve) };
}

fn state() -> Option<&'static State> {
    real::state_or_init(init_state)
}

/// Most load-time environment entries kept for the configuration and the
/// snapshot; a larger set falls back to reading the whole environment.
const LOAD_ENTRIES: usize = 64;

/// Entries the configuration or the snapshot reads: `RAMPART_*`, the
/// preload variable, `HOME`, `XDG_RUNTIME_DIR`.
fn read_at_load(entry: &[u8]) -> bool {
    entry.starts_with(b"RAMPART_")
        || entry.starts_with(b"HOME=")
        || entry.starts_with(b"XDG_RUNTIME_DIR=")
        || classify(entry) != EnvKind::Other
}

/// The value of `name` among `entries`.
fn lookup_in<'e>(entries: &[&'e [u8]], name: &[u8]) -> Option<&'e [u8]> {
    entries.iter().find_map(|e| {
        e.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(b"="))
    })
}

// Out of line and cold: its frame (the load-time entry table, a PATH_MAX buffer)
// is large, and inlined into `state` every hook call would touch those stack
// pages through the stack probes, each a copy-on-write fault in a forked child.
#[inline(never)]
#[cold]
fn init_state(st: &mut State) {
    let env = cstr::environ_array();
    // One pass over the environment (each entry costs a strlen); the
    // configuration's dozen lookups and the snapshot then read the few
    // entries that matter.
    let mut store: [&[u8]; LOAD_ENTRIES] = [&[]; LOAD_ENTRIES];
    let mut n = 0usize;
    let mut all_fit = true;
    for e in env.iter().filter(|e| read_at_load(e)) {
        let Some(slot) = store.get_mut(n) else {
            all_fit = false;
            break;
        };
        *slot = e;
        n += 1;
    }
    let relevant = store.get(..n).filter(|_| all_fit);
    let pid = cstr::getpid();
    st.load_pid = pid;
    let (config, token) = match relevant {
        Some(r) => {
            let get = |name: &[u8]| lookup_in(r, name);
            (Config::from_env(get, i64::from(pid)), config::token(get))
        }
        None => {
            let get = |name: &[u8]| cstr::lookup(env, name);
            (Config::from_env(get, i64::from(pid)), config::token(get))
        }
    };
    st.config = config;
    if let Some(t) = token {
        // `token` accepts at most 4096 bytes, the buffer's size.
        st.has_token = st.token.set(t);
    }
    crate::net::set_spin_us(st.config.spin_us);
    // The name the loader opened us under is used as is when absolute (no
    // syscalls at load); only a relative one is made absolute, since the
    // children may run in another directory.
    match own_name() {
        Some(name) if name.first() == Some(&b'/') => fill_snapshot(st, name, relevant, env),
        Some(name) => with_realpath(name, |canon| fill_snapshot(st, canon, relevant, env)),
        None => fill_snapshot(st, &[], relevant, env),
    }
}

/// Calls `f` with the absolute form of `name` (empty if that fails). Out of
/// line: its PATH_MAX buffer is needed only for a relative name, and in the
/// caller's frame the stack probes would fault that page in at every load.
#[inline(never)]
#[cold]
fn with_realpath(name: &[u8], f: impl FnOnce(&[u8])) {
    let mut canon_store = [0u8; PATH_MAX];
    let n = realpath(name, &mut canon_store).unwrap_or(0);
    f(canon_store.get(..n).unwrap_or(&[]));
}

/// Fills the snapshot of the control variables (see `env::Snapshot::fill`)
/// from the load-time entries (`relevant`, or all of `env` when they did not
/// fit the table), with `ourlib` as this library's absolute path.
fn fill_snapshot(st: &mut State, ourlib: &[u8], relevant: Option<&[&[u8]]>, env: CStrArray<'_>) {
    // Another spelling of our path names us when it is the same file, the
    // test the loader itself uses to load a library once.
    let our_id = core::cell::Cell::new(None);
    let is_ours = |item: &[u8]| -> bool {
        if !item.contains(&b'/') {
            return item == crate::command::basename(ourlib);
        }
        let Ok(st) = cstr::stat(item) else {
            return false;
        };
        let ours = match our_id.get() {
            Some(id) => id,
            None => {
                let id = cstr::stat(ourlib).ok().map(|o| cstr::file_id(&o));
                our_id.set(Some(id));
                id
            }
        };
        ours == Some(cstr::file_id(&st))
    };
    let session = st.config.session.as_bytes();
    match relevant {
        Some(r) => st
            .snapshot
            .fill(r.iter().copied(), ourlib, is_ours, session),
        None => st.snapshot.fill(env.iter(), ourlib, is_ours, session),
    }
    if ourlib.is_empty() {
        // Without our own path the children cannot be protected.
        st.snapshot.clear();
    }
}

/// The path this library was loaded from, as the loader recorded it
/// (`dladdr`): static for the life of the process (a preloaded library is
/// never unloaded).
fn own_name() -> Option<&'static [u8]> {
    // SAFETY: all-zero is a valid Dl_info.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    let addr = on_load as *const c_void;
    // SAFETY: `addr` is inside this object; `info` is a valid out-pointer.
    if unsafe { libc::dladdr(addr, &mut info) } == 0 {
        return None;
    }
    // SAFETY: dladdr filled dli_fname with the loader's NUL-terminated name
    // of this object (or null), which lives as long as the object.
    unsafe { cstr::bytes(info.dli_fname) }.filter(|n| !n.is_empty())
}

fn realpath(path: &[u8], out: &mut [u8; PATH_MAX]) -> Option<usize> {
    cstr::with_cstr(path, |p| {
        // SAFETY: `p` is NUL-terminated; `out` has PATH_MAX bytes as realpath requires.
        let r = unsafe { libc::realpath(p, out.as_mut_ptr().cast()) };
        if r.is_null() {
            None
        } else {
            out.iter().position(|b| *b == 0)
        }
    })
    .flatten()
}

// ---------------------------------------------------------------- checking

enum Check {
    Allow,
    Deny,
}

/// Decides one call. Never inlined so its buffers are off the stack by the
/// time the real function runs.
#[inline(never)]
fn check(api: &'static [u8], cmd: Command<'_, CStrIter<'_>>, resolved: Option<&[u8]>) -> Check {
    let Some(st) = state() else {
        // Another thread is initialising (only before our constructor).
        return Check::Deny;
    };
    if st.config.mode == Mode::Disabled {
        return Check::Allow;
    }
    // SAFETY: plain call into the shim; touches only this thread's flag.
    if unsafe { rampart_guard_enter() } == 0 {
        return Check::Allow;
    }
    let r = check_inner(st, api, &cmd, resolved);
    // SAFETY: as above. Cleared before the real function runs (vfork).
    unsafe { rampart_guard_leave() };
    r
}

/// The last denial of this process: (pid, fingerprint of command + target
/// inode). Callers that walk PATH themselves (dash, CPython) retry a denied
/// exec on the next candidate, which is often the same file through a
/// symlinked directory (`/usr/bin/x` then `/bin/x`); the repeat is denied
/// without asking again. Keyed by pid, so a vfork child writing here never
/// affects its parent, and valid for [`REPEAT_WINDOW_MS`] only, so a
/// long-running program that retries later (after a policy change or a human
/// approval) is asked again.
#[cfg_attr(target_os = "linux", link_section = ".data")]
static LAST_DENY_PID: AtomicI32 = AtomicI32::new(0);
#[cfg_attr(target_os = "linux", link_section = ".data")]
static LAST_DENY_KEY: AtomicU64 = AtomicU64::new(0);
#[cfg_attr(target_os = "linux", link_section = ".data")]
static LAST_DENY_AT: AtomicU64 = AtomicU64::new(0);
/// How long a denial counts as "the previous one" for a PATH-walk retry.
const REPEAT_WINDOW_MS: u64 = 500;

fn deny_key(cmd: &Command<'_, CStrIter<'_>>, resolved: Option<&[u8]>) -> u64 {
    let mut h = Fnv::default();
    cmd.write_to(&mut h);
    if let Some(Ok(st)) = resolved.map(cstr::stat) {
        let (dev, ino) = cstr::file_id(&st);
        h.put_u64(dev);
        h.put_byte(b':');
        h.put_u64(ino);
    }
    h.0
}

fn check_inner(
    st: &State,
    api: &'static [u8],
    cmd: &Command<'_, CStrIter<'_>>,
    resolved: Option<&[u8]>,
) -> Check {
    let cfg = &st.config;
    let enforce = cfg.mode == Mode::Enforce;
    let pid = cstr::getpid();
    // Cheapest test first: a process that denied nothing (a fresh child
    // inherits its parent's pid here) needs neither the clock nor the
    // fingerprint's `stat`.
    if enforce
        && LAST_DENY_PID.load(Ordering::Acquire) == pid
        && net::now_ms().saturating_sub(LAST_DENY_AT.load(Ordering::Acquire)) < REPEAT_WINDOW_MS
        && LAST_DENY_KEY.load(Ordering::Acquire) == deny_key(cmd, resolved)
    {
        debug(cfg, api, b"repeat of the previous denial", b"deny");
        return Check::Deny;
    }
    let verdict = check_fresh(st, api, cmd, resolved, pid);
    if enforce && matches!(verdict, Check::Deny) {
        LAST_DENY_KEY.store(deny_key(cmd, resolved), Ordering::Release);
        LAST_DENY_AT.store(net::now_ms(), Ordering::Release);
        LAST_DENY_PID.store(pid, Ordering::Release);
    }
    verdict
}

/// The facts of a request that cost system calls: the working directory
/// (with a relative executable joined to it) and the parent pid.
struct LateFacts<'r> {
    resolved: Option<&'r [u8]>,
    pid: i32,
}

impl<'r> client::Gather<'r> for LateFacts<'r> {
    fn gather<'s>(&self, store: &'s mut [MaybeUninit<u8>]) -> Option<Facts<'s>>
    where
        'r: 's,
    {
        let cstr::CwdJoin::Done(cwd, joined) = cstr::getcwd_and_join(store, self.resolved) else {
            return None;
        };
        Some(Facts {
            cwd,
            resolved_path: joined.or(self.resolved),
            pid: i64::from(self.pid),
            ppid: i64::from(cstr::getppid()),
        })
    }
}

fn check_fresh(
    st: &State,
    api: &'static [u8],
    cmd: &Command<'_, CStrIter<'_>>,
    resolved: Option<&[u8]>,
    pid: i32,
) -> Check {
    let cfg = &st.config;
    let enforce = cfg.mode == Mode::Enforce;
    if enforce && cfg.floor {
        let home = Some(cfg.home.as_bytes()).filter(|h| !h.is_empty());
        let hit = match cmd {
            Command::Argv { argv, .. } => {
                floor::check_argv(argv.clone(), home, cstr::is_block_device)
            }
            Command::Shell(s) => floor::check_shell(s, home, cstr::is_block_device),
        };
        if let Some(hit) = hit {
            debug(cfg, api, b"compiled-in floor", b"deny");
            let none = Hint {
                text: b"",
                cut: false,
            };
            report_block(cfg, cmd, hit.message(), b"rampart-floor", none);
            return Check::Deny;
        }
    }
    let early = Facts {
        cwd: None,
        resolved_path: resolved,
        pid: i64::from(pid),
        ppid: 0,
    };
    let mut decision_store = [0u8; 16];
    let mut message_store = [0u8; 256];
    let mut policy_store = [0u8; 128];
    let mut suggestion_store = [0u8; 256];
    let mut answer = Answer {
        decision: Buf::new(&mut decision_store),
        message: Buf::new(&mut message_store),
        policy: Buf::new(&mut policy_store),
        suggestion: Buf::new(&mut suggestion_store),
    };
    let outcome = if st.snapshot.is_complete() {
        let may_cache = pid == st.load_pid;
        // One store for the directory and a relative executable made
        // absolute (not two PATH_MAX buffers: a forked child faults in every
        // stack page the hook's frames reach). Relative and too long to
        // join: sent as it is. Gathered only once the daemon is reachable,
        // in a frame of `client` (see `client::ask`).
        let gather = LateFacts { resolved, pid };
        client::ask(cfg, st.token(), cmd, &early, gather, &mut answer, may_cache)
    } else {
        Outcome::Local(b"the protected environment could not be prepared")
    };
    let verdict = decide::decide(cfg.mode, cfg.fail_open, outcome);
    debug(cfg, api, outcome_name(outcome), verdict_name(verdict));
    match verdict {
        Verdict::Allow => Check::Allow,
        Verdict::AllowFailOpen => {
            warn_fail_open(cfg, outcome, pid);
            Check::Allow
        }
        Verdict::Deny => {
            if outcome == Outcome::Refused {
                let msg = if answer.message.is_empty() {
                    answer.decision.as_bytes()
                } else {
                    answer.message.as_bytes()
                };
                let hint = Hint {
                    text: answer.suggestion.as_bytes(),
                    cut: answer.suggestion.overflowed(),
                };
                report_block(cfg, cmd, msg, answer.policy.as_bytes(), hint);
            } else {
                let none = Hint {
                    text: b"",
                    cut: false,
                };
                report_block(cfg, cmd, decide::failure_reason(outcome), b"", none);
            }
            Check::Deny
        }
    }
}

fn outcome_name(o: Outcome) -> &'static [u8] {
    match o {
        Outcome::Allowed => b"daemon allowed",
        Outcome::Refused => b"daemon refused",
        Outcome::Transport(r) | Outcome::Protocol(r) | Outcome::Local(r) => r,
        Outcome::ServerError(_) => b"daemon error (5xx)",
        Outcome::Auth(_) => b"daemon rejected credentials",
    }
}

fn verdict_name(v: Verdict) -> &'static [u8] {
    match v {
        Verdict::Allow => b"allow",
        Verdict::AllowFailOpen => b"allow (fail-open)",
        Verdict::Deny => b"deny",
    }
}

/// `[rampart] <api> pid <pid>: <what> -> <verdict>`; never the command text.
fn debug(cfg: &Config, api: &[u8], what: &[u8], verdict: &[u8]) {
    if !cfg.debug {
        return;
    }
    let mut store = [0u8; 256];
    let mut b = Buf::new(&mut store);
    b.put(b"[rampart] ");
    b.put(api);
    b.put(b" pid ");
    b.put_i64(i64::from(cstr::getpid()));
    b.put(b": ");
    b.put(what);
    b.put(b" -> ");
    b.put(verdict);
    b.put_byte(b'\n');
    cstr::write_stderr(b.as_bytes());
}

/// The daemon's first suggestion for a blocked call; `cut` when it did not fit.
#[derive(Clone, Copy)]
struct Hint<'a> {
    text: &'a [u8],
    cut: bool,
}

/// Longest suggestion printed on the `blocked` line.
const HINT_MAX: usize = 250;

fn report_block(
    cfg: &Config,
    cmd: &Command<'_, CStrIter<'_>>,
    message: &[u8],
    policy: &[u8],
    hint: Hint<'_>,
) {
    if cfg.quiet {
        return;
    }
    let mut store = [0u8; 1400];
    let mut b = Buf::new(&mut store);
    b.put(b"rampart: blocked ");
    client::write_display(&mut b, cmd);
    b.put(b": ");
    let msg = if message.is_empty() {
        b"denied by policy".as_slice()
    } else {
        message
    };
    for &c in msg.iter().take(300) {
        b.put_byte(if c < 0x20 { b' ' } else { c });
    }
    if !policy.is_empty() {
        b.put(b" (policy ");
        b.put(policy.get(..policy.len().min(120)).unwrap_or(&[]));
        b.put_byte(b')');
    }
    if !hint.text.is_empty() {
        b.put(b"; to allow: ");
        crate::buf::put_clipped(&mut b, hint.text, HINT_MAX, hint.cut);
    }
    b.put_byte(b'\n');
    cstr::write_stderr(b.as_bytes());
}

#[cfg_attr(target_os = "linux", link_section = ".data")]
static WARNED_PID: AtomicI32 = AtomicI32::new(0);

fn warn_fail_open(cfg: &Config, outcome: Outcome, pid: i32) {
    if cfg.quiet || WARNED_PID.swap(pid, Ordering::AcqRel) == pid {
        return;
    }
    let mut store = [0u8; 256];
    let mut b = Buf::new(&mut store);
    b.put(b"rampart: warning: ");
    b.put(decide::failure_reason(outcome));
    b.put(if cfg.mode == Mode::Monitor {
        b"; monitor mode, commands run unchecked\n".as_slice()
    } else {
        b"; failing open (RAMPART_FAIL_OPEN=1), commands run unchecked\n".as_slice()
    });
    cstr::write_stderr(b.as_bytes());
}

// ---------------------------------------------------------------- environments

/// Environment entries rebuilt on the stack; a larger environment takes a
/// mapping (one `mmap`). 384 (3 KiB) is ten times the 39 variables of the
/// shell these tests were run from, and keeps the frame under a page: a
/// frame larger than a page is probed page by page on entry, and a forked
/// child faults in every stack page the hook reaches.
const ENV_SLOTS: usize = 384;

/// Calls `f` with `env` rebuilt to carry the protection (module docs of
/// `env`). Never inlined: its buffers are separate from `check`'s.
#[inline(never)]
fn with_protected_env<R>(env: CStrArray<'_>, f: impl FnOnce(*const *const c_char) -> R) -> R {
    let Some(st) = state() else {
        return f(env.as_ptr());
    };
    let snap = &st.snapshot;
    if !snap.is_complete() {
        return f(env.as_ptr());
    }
    let mut caller_preload: Option<&[u8]> = None;
    let mut kept = 0usize;
    for e in env.refs() {
        match env_kind(e) {
            EnvKind::Preload(v) => {
                if caller_preload.is_none() {
                    caller_preload = Some(v);
                }
            }
            EnvKind::Rampart => {}
            EnvKind::Other => kept += 1,
        }
    }
    let trusted = match classify(snap.preload_entry()) {
        EnvKind::Preload(v) => Some(v),
        _ => None,
    };
    match caller_preload {
        // The usual case, an inherited value: rebuilding it would give the
        // trusted entry back.
        Some(v) if !trusted.is_some_and(|t| same(v, t)) => {
            with_merged_preload(env, snap, kept, v, f)
        }
        _ => with_env_array(env, snap, kept, snap.preload_entry_nul(), f),
    }
}

/// [`classify`] of an environment entry from its first bytes: only a
/// preload entry, whose value is needed, is measured whole (the hook passes
/// over the environment twice per exec, and measuring every entry was about
/// two fifths of the rebuild's instructions: callgrind, 200 posix_spawns,
/// 336,258 in libc's strlen beside 486,600 in the rebuild itself).
fn env_kind(e: cstr::CStrRef<'_>) -> EnvKind<'_> {
    // Most entries are told apart by their first byte.
    let first = e.prefix(1).first().copied();
    if first != PRELOAD_VAR.first().copied() && first != Some(b'R') {
        return EnvKind::Other;
    }
    match classify(e.prefix(PRELOAD_VAR.len() + 1)) {
        EnvKind::Preload(_) => classify(e.bytes()),
        kind => kind,
    }
}

/// [`with_protected_env`] when the caller's `LD_PRELOAD` differs from the
/// trusted one: ours first, the caller's others kept. Its 4 KiB buffer stays
/// out of the usual path's frame.
#[inline(never)]
fn with_merged_preload<R>(
    env: CStrArray<'_>,
    snap: &crate::env::Snapshot,
    kept: usize,
    caller: &[u8],
    f: impl FnOnce(*const *const c_char) -> R,
) -> R {
    let mut preload_store = [0u8; 4096];
    let mut pb = Buf::new(&mut preload_store);
    snap.write_preload_entry(&mut pb, Some(caller));
    let preload = match pb.finish_cstr() {
        Some(n) => preload_store
            .get(..n + 1)
            .unwrap_or(snap.preload_entry_nul()),
        None => snap.preload_entry_nul(),
    };
    with_env_array(env, snap, kept, preload, f)
}

/// Calls `f` with the array: the caller's other entries (`kept` of them),
/// the snapshot's `RAMPART_*` entries, then `preload` (NUL-terminated).
#[inline(always)]
fn with_env_array<R>(
    env: CStrArray<'_>,
    snap: &crate::env::Snapshot,
    kept: usize,
    preload: &[u8],
    f: impl FnOnce(*const *const c_char) -> R,
) -> R {
    let needed = kept + snap.rampart_entries().count() + 2;
    // Not zero-filled (3 KiB per call): only the slots pushed below are read,
    // up to the NULL pushed last. They are the last `needed` of the array,
    // the end nearest the caller's frame, so a small environment reaches no
    // deeper into the stack than it needs.
    let mut stack_slots = [MaybeUninit::<*const c_char>::uninit(); ENV_SLOTS];
    let mut mapped;
    let slots: &mut [MaybeUninit<*const c_char>] = match ENV_SLOTS.checked_sub(needed) {
        Some(unused) => stack_slots.get_mut(unused..).unwrap_or(&mut []),
        None => {
            // Huge environment: a private mapping. If the exec succeeds in a
            // vfork child this mapping stays in the parent (a rare, bounded
            // leak).
            mapped = match Mapped::new(needed * core::mem::size_of::<*const c_char>()) {
                Some(m) => m,
                None => return f(env.as_ptr()),
            };
            mapped.as_ptr_slots()
        }
    };
    let mut out = PtrArray::new(slots);
    for e in env.refs() {
        if env_kind(e) == EnvKind::Other {
            out.push(e.as_ptr());
        }
    }
    for e in snap.rampart_entries_nul() {
        out.push(e.as_ptr().cast());
    }
    out.push(preload.as_ptr().cast());
    f(out.finish())
}

// ---------------------------------------------------------------- helpers

/// Runs a real spawn/`system`/`popen` call (never an exec: see below).
///
/// macOS: libSystem's `system`, `popen` and `posix_spawnp` start their child
/// through `posix_spawn`, a symbol dyld interposes for every image but ours,
/// so the inner call would come back to our hook and be asked about a second
/// time (as `/bin/sh -c ...`). The reentrancy flag is held meanwhile: the
/// inner hook passes the call through, still rebuilding its environment.
/// Exec calls never hold it: after a successful exec in a vfork child the
/// parent would resume with the flag set.
#[cfg(target_os = "macos")]
fn run_real<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: plain call into the shim; touches only this thread's flag.
    let entered = unsafe { rampart_guard_enter() } != 0;
    let r = f();
    if entered {
        // SAFETY: as above; we set the flag, we clear it.
        unsafe { rampart_guard_leave() };
    }
    r
}

/// Runs a real spawn/`system`/`popen` call. glibc starts those children
/// with internal calls our hooks never see: nothing to do on Linux.
#[cfg(not(target_os = "macos"))]
fn run_real<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The end of every exec hook: allowed, `exec` runs with the protected
/// environment and the caller's errno; denied, -1 with `EPERM`.
fn exec_checked(
    verdict: Check,
    env: CStrArray<'_>,
    saved_errno: cstr::SavedErrno,
    exec: impl FnOnce(*const *const c_char) -> c_int,
) -> c_int {
    match verdict {
        Check::Deny => fail_errno(libc::EPERM),
        Check::Allow => with_protected_env(env, |e| {
            saved_errno.restore();
            exec(e)
        }),
    }
}

fn fail_errno(e: c_int) -> c_int {
    cstr::set_errno(e);
    -1
}

/// Resolves `file` through `PATH` of the current environment.
fn search_path<'b>(file: &[u8], out: &'b mut [u8; PATH_MAX]) -> Option<&'b [u8]> {
    let path_var = cstr::lookup(cstr::environ_array(), b"PATH");
    let mut b = Buf::new(out);
    if path::search(file, path_var, &mut b, cstr::is_executable_file) {
        let n = b.len();
        out.get(..n)
    } else {
        None
    }
}

#[cfg(not(target_os = "macos"))]
/// `/proc/self/fd/<fd>` target, for `fexecve`/`execveat`.
fn fd_path(fd: c_int, out: &mut [u8; PATH_MAX]) -> Option<usize> {
    let mut link = [0u8; 64];
    let mut b = Buf::new(&mut link);
    b.put(b"/proc/self/fd/");
    b.put_i64(i64::from(fd));
    let n = b.len();
    cstr::readlink(link.get(..n)?, out)
}

/// Decides an exec of `path` with `argv` (path as passed, `resolved` = what runs).
fn decide_exec(
    api: &'static [u8],
    path: Option<&[u8]>,
    argv: CStrArray<'_>,
    resolved: Option<&[u8]>,
) -> Check {
    check(
        api,
        Command::Argv {
            path,
            argv: argv.iter(),
        },
        resolved,
    )
}

// ---------------------------------------------------------------- exec family

/// Hooked `execve(2)`.
///
/// # Safety
/// The C contract of `execve`: `path` a C string, `argv`/`envp` NULL-terminated
/// arrays of C strings (or null).
#[cfg_attr(not(target_os = "macos"), no_mangle)]
pub unsafe extern "C" fn execve(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let saved = cstr::SavedErrno::take();
    let Some(real) = real::execve() else {
        return fail_errno(libc::ENOSYS);
    };
    // SAFETY: execve's contract (see # Safety).
    let (p, args, env) = unsafe {
        (
            cstr::bytes(path),
            CStrArray::new(argv),
            CStrArray::new(envp),
        )
    };
    // SAFETY: `path` is null or a C string (execve's contract).
    if unsafe { cstr::certainly_missing_cstr(path) } {
        // SAFETY: forwarding the caller's own arguments.
        return unsafe { real(path, argv, envp) };
    }
    let verdict = decide_exec(b"execve", p, args, p);
    exec_checked(verdict, env, saved, |e| {
        // SAFETY: the caller's arguments and a rebuilt environment of
        // valid C strings, NULL-terminated.
        unsafe { real(path, argv, e) }
    })
}

/// Hooked `execv(3)`: checked, then the real `execve` with the protected
/// current environment.
///
/// # Safety
/// The C contract of `execv`.
#[cfg_attr(not(target_os = "macos"), no_mangle)]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    let saved = cstr::SavedErrno::take();
    let Some(real) = real::execve() else {
        return fail_errno(libc::ENOSYS);
    };
    // SAFETY: execv's contract.
    let (p, args) = unsafe { (cstr::bytes(path), CStrArray::new(argv)) };
    let env = cstr::environ_array();
    // A target that certainly does not exist: the real call fails alone.
    // SAFETY: `path` is null or a C string (execv's contract).
    let verdict = if unsafe { cstr::certainly_missing_cstr(path) } {
        Check::Allow
    } else {
        decide_exec(b"execv", p, args, p)
    };
    exec_checked(verdict, env, saved, |e| {
        // SAFETY: the caller's arguments and a rebuilt environment of
        // valid C strings, NULL-terminated.
        unsafe { real(path, argv, e) }
    })
}

fn execvpe_common(
    api: &'static [u8],
    file: *const c_char,
    argv: *const *const c_char,
    env: CStrArray<'_>,
) -> c_int {
    let saved = cstr::SavedErrno::take();
    let Some(real) = real::execvpe() else {
        return fail_errno(libc::ENOSYS);
    };
    // SAFETY: the exec contract: `file` is a C string or null, `argv` an array.
    let (f, args) = unsafe { (cstr::bytes(file), CStrArray::new(argv)) };
    let mut found = [0u8; PATH_MAX];
    let resolved = f.and_then(|f| search_path(f, &mut found));
    // Nothing to run: the real call fails (ENOENT/EACCES) on its own.
    let verdict = match resolved {
        None => Check::Allow,
        Some(_) => decide_exec(api, f, args, resolved),
    };
    exec_checked(verdict, env, saved, |e| {
        // SAFETY: the caller's arguments and a rebuilt environment of
        // valid C strings, NULL-terminated.
        unsafe { real(file, argv, e) }
    })
}

/// Hooked `execvp(3)`: PATH search of the current environment, then the real
/// `execvpe` with the protected environment (covers `env -i`, libuv and Rust
/// std, which swap `environ` before calling `execvp`).
///
/// # Safety
/// The C contract of `execvp`.
#[cfg_attr(not(target_os = "macos"), no_mangle)]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    execvpe_common(b"execvp", file, argv, cstr::environ_array())
}

#[cfg(not(target_os = "macos"))]
/// Hooked `execvpe(3)`.
///
/// # Safety
/// The C contract of `execvpe`.
#[cfg_attr(not(target_os = "macos"), no_mangle)]
pub unsafe extern "C" fn execvpe(
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    // SAFETY: execvpe's contract: envp is a NULL-terminated array or null.
    let env = unsafe { CStrArray::new(envp) };
    execvpe_common(b"execvpe", file, argv, env)
}

#[cfg(not(target_os = "macos"))]
/// Hooked `fexecve(3)`: the command's path is the descriptor's target.
///
/// # Safety
/// The C contract of `fexecve`.
#[cfg_attr(not(target_os = "macos"), no_mangle)]
pub unsafe extern "C" fn fexecve(
    fd: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let saved = cstr::SavedErrno::take();
    let Some(real) = real::fexecve() else {
        return fail_errno(libc::ENOSYS);
    };
    // SAFETY: fexecve's contract.
    let (args, env) = unsafe { (CStrArray::new(argv), CStrArray::new(envp)) };
    let mut target = [0u8; PATH_MAX];
    let len = fd_path(fd, &mut target);
    let p = len.and_then(|n| target.get(..n));
    let verdict = decide_exec(b"fexecve", p, args, p);
    exec_checked(verdict, env, saved, |e| {
        // SAFETY: the caller's arguments and a rebuilt environment of
        // valid C strings, NULL-terminated.
        unsafe { real(fd, argv, e) }
    })
}

#[cfg(not(target_os = "macos"))]
/// Hooked `execveat(2)`.
///
/// # Safety
/// The C contract of `execveat`.
#[cfg_attr(not(target_os = "macos"), no_mangle)]
pub unsafe extern "C" fn execveat(
    dirfd: c_int,
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    flags: c_int,
) -> c_int {
    let saved = cstr::SavedErrno::take();
    let Some(real) = real::execveat() else {
        return fail_errno(libc::ENOSYS);
    };
    // SAFETY: execveat's contract.
    let (p, args, env) = unsafe {
        (
            cstr::bytes(path),
            CStrArray::new(argv),
            CStrArray::new(envp),
        )
    };
    let mut store = [0u8; PATH_MAX];
    let resolved: Option<&[u8]> = match p {
        Some(p) if p.first() == Some(&b'/') => Some(p),
        Some(p) if p.is_empty() && flags & libc::AT_EMPTY_PATH != 0 => {
            fd_path(dirfd, &mut store).and_then(|n| store.get(..n))
        }
        Some(p) if dirfd == libc::AT_FDCWD => Some(p),
        Some(p) => match fd_path(dirfd, &mut store) {
            Some(n) => {
                let mut joined = [0u8; PATH_MAX];
                let mut b = Buf::new(&mut joined);
                b.put(store.get(..n).unwrap_or(&[]));
                b.put_byte(b'/');
                b.put(p);
                let len = if b.overflowed() { 0 } else { b.len() };
                let _ = crate::buf::copy_into(&mut store, joined.get(..len).unwrap_or(&[]));
                store.get(..len).filter(|s| !s.is_empty())
            }
            None => None,
        },
        None => None,
    };
    let shown = match p {
        Some(p) if !p.is_empty() => Some(p),
        _ => resolved,
    };
    let verdict = decide_exec(b"execveat", shown, args, resolved);
    exec_checked(verdict, env, saved, |e| {
        // SAFETY: the caller's arguments and a rebuilt environment of
        // valid C strings, NULL-terminated.
        unsafe { real(dirfd, path, argv, e, flags) }
    })
}

// ---------------------------------------------------------------- spawn family

#[derive(Clone, Copy)]
enum SpawnKind {
    Path,
    Search,
}

/// Shared body of the four spawn hooks: decide, then `call(envp)`.
fn spawn_common(
    api: &'static [u8],
    kind: SpawnKind,
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    call: impl FnOnce(*const *const c_char) -> c_int,
) -> c_int {
    let saved = cstr::SavedErrno::take();
    // SAFETY: the posix_spawn contract: `file` a C string, argv/envp arrays.
    let (f, args, env) = unsafe {
        (
            cstr::bytes(file),
            CStrArray::new(argv),
            CStrArray::new(envp),
        )
    };
    let mut found = [0u8; PATH_MAX];
    let resolved = match kind {
        SpawnKind::Search => f.and_then(|f| search_path(f, &mut found)),
        // A relative path may be resolved after a chdir file action we cannot
        // see: report no resolved path then.
        SpawnKind::Path => f.filter(|p| p.first() == Some(&b'/')),
    };
    let missing = match kind {
        SpawnKind::Search => resolved.is_none(),
        SpawnKind::Path => resolved.is_some_and(cstr::certainly_missing),
    };
    let verdict = if missing {
        Check::Allow
    } else {
        decide_exec(api, f, args, resolved)
    };
    match verdict {
        Check::Deny => {
            saved.restore();
            libc::EPERM
        }
        Check::Allow => with_protected_env(env, |e| {
            saved.restore();
            run_real(|| call(e))
        }),
    }
}

/// Hooked `posix_spawn(3)`.
///
/// # Safety
/// The C contract of `posix_spawn`.
#[cfg_attr(not(target_os = "macos"), no_mangle)]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    file_actions: *const c_void,
    attrp: *const c_void,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let Some(real) = real::posix_spawn() else {
        return libc::ENOSYS;
    };
    spawn_common(b"posix_spawn", SpawnKind::Path, path, argv, envp, |e| {
        // SAFETY: caller's arguments, rebuilt env.
        unsafe { real(pid, path, file_actions, attrp, argv, e) }
    })
}

/// Hooked `posix_spawnp(3)`.
///
/// # Safety
/// The C contract of `posix_spawnp`.
#[cfg_attr(not(target_os = "macos"), no_mangle)]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    file_actions: *const c_void,
    attrp: *const c_void,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let Some(real) = real::posix_spawnp() else {
        return libc::ENOSYS;
    };
    spawn_common(b"posix_spawnp", SpawnKind::Search, file, argv, envp, |e| {
        // SAFETY: caller's arguments, rebuilt env.
        unsafe { real(pid, file, file_actions, attrp, argv, e) }
    })
}

#[cfg(not(target_os = "macos"))]
/// Hooked `pidfd_spawn(3)` (glibc 2.39+; `ENOSYS` when libc lacks it, which
/// callers such as Rust std treat as "use fork/exec").
///
/// # Safety
/// The C contract of `pidfd_spawn`.
#[cfg_attr(not(target_os = "macos"), no_mangle)]
pub unsafe extern "C" fn pidfd_spawn(
    pidfd: *mut c_int,
    path: *const c_char,
    file_actions: *const c_void,
    attrp: *const c_void,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let Some(real) = real::pidfd_spawn() else {
        return libc::ENOSYS;
    };
    spawn_common(b"pidfd_spawn", SpawnKind::Path, path, argv, envp, |e| {
        // SAFETY: caller's arguments, rebuilt env.
        unsafe { real(pidfd, path, file_actions, attrp, argv, e) }
    })
}

#[cfg(not(target_os = "macos"))]
/// Hooked `pidfd_spawnp(3)`; see [`pidfd_spawn`].
///
/// # Safety
/// The C contract of `pidfd_spawnp`.
#[cfg_attr(not(target_os = "macos"), no_mangle)]
pub unsafe extern "C" fn pidfd_spawnp(
    pidfd: *mut c_int,
    file: *const c_char,
    file_actions: *const c_void,
    attrp: *const c_void,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let Some(real) = real::pidfd_spawnp() else {
        return libc::ENOSYS;
    };
    spawn_common(b"pidfd_spawnp", SpawnKind::Search, file, argv, envp, |e| {
        // SAFETY: caller's arguments, rebuilt env.
        unsafe { real(pidfd, file, file_actions, attrp, argv, e) }
    })
}

// ---------------------------------------------------------------- shell strings

/// Runs `call` with the command the real `system`/`popen` should get: `cmd`
/// itself when `environ` still carries the protection, otherwise a shell
/// line that restores it first (`env::Snapshot::write_shell_restore`).
fn with_shell_command<R>(
    cmd: *const c_char,
    cmd_bytes: &[u8],
    call: impl FnOnce(*const c_char) -> R,
) -> R {
    let env = cstr::environ_array();
    let Some(st) = state() else { return call(cmd) };
    let snap = &st.snapshot;
    if !snap.is_complete() || snap.env_is_intact(env.iter()) {
        return call(cmd);
    }
    let mut count = Counter::default();
    snap.write_shell_restore(&mut count, env.iter(), cmd_bytes);
    let need = count.len + 1;
    let mut stack = [0u8; 8192];
    let mut mapped;
    let store: &mut [u8] = if need <= stack.len() {
        &mut stack
    } else {
        mapped = match Mapped::new(need) {
            Some(m) => m,
            None => return call(cmd),
        };
        mapped.as_mut_slice()
    };
    let mut b = Buf::new(store);
    snap.write_shell_restore(&mut b, env.iter(), cmd_bytes);
    match b.finish_cstr() {
        Some(_) => call(b.as_bytes().as_ptr().cast()),
        None => call(cmd),
    }
}

/// Hooked `system(3)`. `system(NULL)` (the "is there a shell" probe) is not
/// checked. Denied: returns -1 with `errno = EPERM`, the documented result
/// for "the shell could not be started".
///
/// # Safety
/// The C contract of `system`.
#[cfg_attr(not(target_os = "macos"), no_mangle)]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    let saved = cstr::SavedErrno::take();
    let Some(real) = real::system() else {
        return fail_errno(libc::ENOSYS);
    };
    // SAFETY: `command` is a C string or null.
    let Some(cmd) = (unsafe { cstr::bytes(command) }) else {
        // SAFETY: forwarding NULL, which system accepts.
        return unsafe { real(command) };
    };
    match check(b"system", Command::<CStrIter<'_>>::Shell(cmd), None) {
        Check::Deny => fail_errno(libc::EPERM),
        Check::Allow => with_shell_command(command, cmd, |c| {
            saved.restore();
            // SAFETY: `c` is a NUL-terminated command line.
            run_real(|| unsafe { real(c) })
        }),
    }
}

/// Hooked `popen(3)`. Denied: NULL with `errno = EPERM`.
///
/// # Safety
/// The C contract of `popen`.
#[cfg_attr(not(target_os = "macos"), no_mangle)]
pub unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut c_void {
    let saved = cstr::SavedErrno::take();
    let Some(real) = real::popen() else {
        cstr::set_errno(libc::ENOSYS);
        return core::ptr::null_mut();
    };
    // SAFETY: `command` is a C string or null.
    let Some(cmd) = (unsafe { cstr::bytes(command) }) else {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe { real(command, mode) };
    };
    match check(b"popen", Command::<CStrIter<'_>>::Shell(cmd), None) {
        Check::Deny => {
            cstr::set_errno(libc::EPERM);
            core::ptr::null_mut()
        }
        Check::Allow => with_shell_command(command, cmd, |c| {
            saved.restore();
            // SAFETY: `c` is a NUL-terminated command line, `mode` the caller's.
            run_real(|| unsafe { real(c, mode) })
        }),
    }
}

/// `execl`, `execle` and `execlp` take variable arguments, which stable Rust
/// cannot define, so their bodies are C (`shim.c`, `rampart_execl*`, hidden).
/// These exported entry points jump there with every register and the stack
/// as the caller left them, so the C function sees the original call. Being
/// Rust items, they are listed in rustc's own export list; GNU ld refuses the
/// second version script that exported the C functions directly (lld merges
/// them), so this keeps the library linkable with the system linker on
/// aarch64, where rustc does not default to lld.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod variadic {
    extern "C" {
        fn rampart_execl();
        fn rampart_execle();
        fn rampart_execlp();
    }

    macro_rules! jump_to {
        ($name:ident, $target:ident) => {
            /// Exported `execl*` entry point; see the module documentation.
            ///
            /// # Safety
            /// The C contract of the libc function of the same name.
            #[unsafe(naked)]
            #[no_mangle]
            pub unsafe extern "C" fn $name() {
                // SAFETY: a single tail jump; nothing of the caller's state
                // (arguments in registers and on the stack, the return
                // address) is touched, and the target is the C hook with the
                // libc signature.
                #[cfg(target_arch = "x86_64")]
                core::arch::naked_asm!("jmp {}", sym $target);
                #[cfg(target_arch = "aarch64")]
                core::arch::naked_asm!("b {}", sym $target);
            }
        };
    }

    jump_to!(execl, rampart_execl);
    jump_to!(execle, rampart_execle);
    jump_to!(execlp, rampart_execlp);
}
