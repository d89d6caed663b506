//! The table of real libc functions (`dlsym(RTLD_NEXT)`) and the process-wide
//! state written once at load.
//!
//! Everything is resolved in the load-time constructor, while the process is
//! still single-threaded. A call that arrives before the constructor (from
//! another library's constructor) resolves lazily; after the constructor,
//! `dlsym` is never called again — in particular never in a fork or vfork
//! child. A symbol libc lacks (e.g. `pidfd_spawn` before glibc 2.39) stays
//! null and the hook reports "unsupported" (`ENOSYS`); one newer than the
//! running glibc is not even asked for (a failed lookup starts malloc).
//!
//! macOS: no table. The originals are plain references to libSystem (dyld's
//! `__interpose` leaves this library's own references alone; see `apple`).

use core::cell::UnsafeCell;
use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicU8, Ordering};

use crate::config::{Config, Text};
use crate::env::Snapshot;

/// `execve`, `execvpe`.
pub type ExecveFn =
    unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
/// `fexecve`.
#[cfg(not(target_os = "macos"))]
pub type FexecveFn =
    unsafe extern "C" fn(c_int, *const *const c_char, *const *const c_char) -> c_int;
/// `execveat`.
#[cfg(not(target_os = "macos"))]
pub type ExecveatFn = unsafe extern "C" fn(
    c_int,
    *const c_char,
    *const *const c_char,
    *const *const c_char,
    c_int,
) -> c_int;
/// `posix_spawn`, `posix_spawnp` (file actions and attributes are opaque).
pub type SpawnFn = unsafe extern "C" fn(
    *mut libc::pid_t,
    *const c_char,
    *const c_void,
    *const c_void,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
/// `pidfd_spawn`, `pidfd_spawnp`.
#[cfg(not(target_os = "macos"))]
pub type PidfdSpawnFn = unsafe extern "C" fn(
    *mut c_int,
    *const c_char,
    *const c_void,
    *const c_void,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
/// `system`.
pub type SystemFn = unsafe extern "C" fn(*const c_char) -> c_int;
/// `popen`.
pub type PopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut c_void;

/// Linux: the `dlsym(RTLD_NEXT)` table.
#[cfg(not(target_os = "macos"))]
mod table {
    use super::*;
    use core::sync::atomic::{AtomicBool, AtomicPtr};

    /// The real functions we forward to.
    #[cfg(not(target_os = "macos"))]
    #[derive(Clone, Copy)]
    #[repr(usize)]
    pub enum Sym {
        /// `execve`.
        Execve,
        /// `execvpe`.
        Execvpe,
        /// `fexecve`.
        Fexecve,
        /// `execveat`.
        Execveat,
        /// `posix_spawn`.
        PosixSpawn,
        /// `posix_spawnp`.
        PosixSpawnp,
        /// `pidfd_spawn`.
        PidfdSpawn,
        /// `pidfd_spawnp`.
        PidfdSpawnp,
        /// `system`.
        System,
        /// `popen`.
        Popen,
    }

    const NAMES: [&[u8]; 10] = [
        b"execve\0",
        b"execvpe\0",
        b"fexecve\0",
        b"execveat\0",
        b"posix_spawn\0",
        b"posix_spawnp\0",
        b"pidfd_spawn\0",
        b"pidfd_spawnp\0",
        b"system\0",
        b"popen\0",
    ];

    #[allow(clippy::declare_interior_mutable_const)]
    const NULL_PTR: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
    // The small statics that every load or hook call touches (this table,
    // the flags and caches in `net` and `hooks`, the shim's pointers) are put
    // in `.data`, where they land ahead of `STATE`, whose hot fields come
    // first: one page for all of them. Left zero-initialised they went to
    // `.bss`, after `STATE`'s 23 KiB, and a `.bss` that spills past the last
    // file-backed page costs an anonymous page, one more fault per process.
    #[cfg_attr(target_os = "linux", link_section = ".data")]
    static TABLE: [AtomicPtr<c_void>; 10] = [NULL_PTR; 10];
    #[cfg_attr(target_os = "linux", link_section = ".data")]
    static RESOLVED: AtomicBool = AtomicBool::new(false);

    /// The glibc release that added each symbol, when newer than what we
    /// otherwise need (`pidfd_spawn*`: 2.39).
    const SINCE: [Option<(u64, u64)>; 10] = [
        None,
        None,
        None,
        None,
        None,
        None,
        Some((2, 39)),
        Some((2, 39)),
        None,
        None,
    ];

    /// False when libc certainly lacks symbol `i`. A dlsym that fails makes
    /// glibc allocate its error string, initialising malloc (`getrandom`,
    /// two `brk`s, fresh heap pages) in every process that loads us, so a
    /// symbol newer than the running glibc is not asked for at all.
    #[cfg(target_env = "gnu")]
    fn may_exist(i: usize) -> bool {
        let Some(Some(since)) = SINCE.get(i) else {
            return true;
        };
        // SAFETY: gnu_get_libc_version has no preconditions and returns a
        // static NUL-terminated string such as "2.36".
        let v = unsafe { crate::cstr::bytes(libc::gnu_get_libc_version()) };
        let mut parts = v.unwrap_or(&[]).split(|b| *b == b'.');
        let mut num = || parts.next().and_then(crate::buf::parse_u64);
        match (num(), num()) {
            (Some(major), Some(minor)) => (major, minor) >= *since,
            _ => true,
        }
    }

    /// Other libcs: ask dlsym for everything.
    #[cfg(not(target_env = "gnu"))]
    fn may_exist(_: usize) -> bool {
        true
    }

    /// `dlsym(RTLD_NEXT)` of symbol `i`, or null.
    fn lookup(i: usize) -> *mut c_void {
        match NAMES.get(i) {
            Some(name) if may_exist(i) => dlsym_next(name),
            _ => core::ptr::null_mut(),
        }
    }

    fn dlsym_next(name: &[u8]) -> *mut c_void {
        // SAFETY: `name` is a NUL-terminated literal from NAMES; RTLD_NEXT is a
        // valid pseudo-handle and this call sits in our own object.
        unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) }
    }

    /// Resolves every symbol. Called from the constructor.
    pub fn resolve_all() {
        for (i, slot) in TABLE.iter().enumerate() {
            slot.store(lookup(i), Ordering::Release);
        }
        RESOLVED.store(true, Ordering::Release);
    }

    fn get(sym: Sym) -> *mut c_void {
        let i = sym as usize;
        let Some(slot) = TABLE.get(i) else {
            return core::ptr::null_mut();
        };
        let p = slot.load(Ordering::Acquire);
        if !p.is_null() || RESOLVED.load(Ordering::Acquire) {
            return p;
        }
        // Before our constructor: resolve lazily (still single-threaded then),
        // keeping the caller's errno (dlsym may set it; see `SavedErrno`).
        let p = crate::cstr::keeping_errno(|| lookup(i));
        slot.store(p, Ordering::Release);
        p
    }

    macro_rules! typed_getter {
        ($(#[$doc:meta] $fn_name:ident: $sym:ident => $ty:ty;)*) => {$(
            #[$doc]
            pub fn $fn_name() -> Option<$ty> {
                let p = get(Sym::$sym);
                if p.is_null() {
                    return None;
                }
                // SAFETY: `p` is the address dlsym returned for this libc symbol,
                // whose C prototype is exactly `$ty`.
                Some(unsafe { core::mem::transmute::<*mut c_void, $ty>(p) })
            }
        )*};
    }

    typed_getter! {
        /// Real `execve`.
        execve: Execve => ExecveFn;
        /// Real `execvpe`.
        execvpe: Execvpe => ExecveFn;
        /// Real `fexecve`.
        fexecve: Fexecve => FexecveFn;
        /// Real `execveat`.
        execveat: Execveat => ExecveatFn;
        /// Real `posix_spawn`.
        posix_spawn: PosixSpawn => SpawnFn;
        /// Real `posix_spawnp`.
        posix_spawnp: PosixSpawnp => SpawnFn;
        /// Real `pidfd_spawn`.
        pidfd_spawn: PidfdSpawn => PidfdSpawnFn;
        /// Real `pidfd_spawnp`.
        pidfd_spawnp: PidfdSpawnp => PidfdSpawnFn;
        /// Real `system`.
        system: System => SystemFn;
        /// Real `popen`.
        popen: Popen => PopenFn;
    }
}
#[cfg(not(target_os = "macos"))]
pub use table::*;

/// macOS: the real functions are plain references to libSystem. dyld
/// applies `__interpose` to every image except the interposing one, so a
/// call from this library reaches the original. Nothing to resolve at load.
#[cfg(target_os = "macos")]
mod direct {
    use super::{c_char, c_int, c_void};

    extern "C" {
        pub fn execve(
            path: *const c_char,
            argv: *const *const c_char,
            envp: *const *const c_char,
        ) -> c_int;
        pub fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
        pub fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
        pub fn posix_spawn(
            pid: *mut libc::pid_t,
            path: *const c_char,
            file_actions: *const c_void,
            attrp: *const c_void,
            argv: *const *const c_char,
            envp: *const *const c_char,
        ) -> c_int;
        pub fn posix_spawnp(
            pid: *mut libc::pid_t,
            file: *const c_char,
            file_actions: *const c_void,
            attrp: *const c_void,
            argv: *const *const c_char,
            envp: *const *const c_char,
        ) -> c_int;
        pub fn system(command: *const c_char) -> c_int;
        pub fn popen(command: *const c_char, mode: *const c_char) -> *mut c_void;
    }
}

/// The originals named in the `__interpose` table (macOS).
#[cfg(target_os = "macos")]
pub mod originals {
    pub use super::direct::{execv, execve, execvp, popen, posix_spawn, posix_spawnp, system};
}

/// The `execvpe` the exec hooks forward to: libSystem has none, so
/// `apple::execvpe` searches `PATH` and calls the real `execve` itself.
#[cfg(target_os = "macos")]
pub fn execvpe() -> Option<ExecveFn> {
    Some(crate::apple::execvpe)
}

/// Nothing to resolve on macOS (direct references).
#[cfg(target_os = "macos")]
pub fn resolve_all() {}

#[cfg(target_os = "macos")]
macro_rules! direct_getter {
    ($(#[$doc:meta] $fn_name:ident => $ty:ty;)*) => {$(
        #[$doc]
        pub fn $fn_name() -> Option<$ty> {
            Some(direct::$fn_name)
        }
    )*};
}

#[cfg(target_os = "macos")]
direct_getter! {
    /// Real `execve`.
    execve => ExecveFn;
    /// Real `posix_spawn`.
    posix_spawn => SpawnFn;
    /// Real `posix_spawnp`.
    posix_spawnp => SpawnFn;
    /// Real `system`.
    system => SystemFn;
    /// Real `popen`.
    popen => PopenFn;
}

/// Everything computed once at load. `repr(C)` keeps what every process
/// writes at load (the small fields, the configuration, the snapshot's
/// bookkeeping and the start of its store) together in the first pages:
/// a page of this static that is never written is never faulted in, and
/// the token's buffer at the end is written only when a token is set.
#[repr(C)]
pub struct State {
    /// The process that loaded us; only it may keep a cached connection.
    pub load_pid: i32,
    /// A token is stored. Read before the token, so that a process without
    /// one never touches the token's page (a forked child faults in each
    /// page of this static it reads that its parent never wrote).
    pub has_token: bool,
    /// Configuration from the environment.
    pub config: Config,
    /// Trusted control variables.
    pub snapshot: Snapshot,
    /// `RAMPART_TOKEN` when set and valid (empty otherwise).
    pub token: Text<4096>,
}

impl State {
    /// The bearer token to send, if any.
    pub fn token(&self) -> Option<&[u8]> {
        if self.has_token {
            Some(self.token.as_bytes())
        } else {
            None
        }
    }
}

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;

/// `repr(C)`: `phase`, read by every hook call, shares the first page with the
/// configuration instead of sitting after the 4 KiB token buffer.
#[repr(C)]
struct StateCell {
    phase: AtomicU8,
    value: UnsafeCell<State>,
}

// SAFETY: `value` is written only by the thread that moved `phase` from
// UNINIT to BUSY, and read only after observing READY (Acquire), which the
// writer publishes with Release after its last write.
unsafe impl Sync for StateCell {}

static STATE: StateCell = StateCell {
    phase: AtomicU8::new(UNINIT),
    value: UnsafeCell::new(State {
        config: Config::UNSET,
        snapshot: Snapshot::EMPTY,
        load_pid: 0,
        token: Text::EMPTY,
        has_token: false,
    }),
};

/// The state, initialising it with `init` if nobody did yet. `None` while
/// another thread is initialising (only possible before our constructor).
pub fn state_or_init(init: impl FnOnce(&mut State)) -> Option<&'static State> {
    // A plain load first: a compare-and-swap is a write access even when it
    // fails, and in a forked child that write copies the page it lands on
    // (a copy-on-write fault of ~2 µs on every hooked exec after fork).
    if STATE.phase.load(Ordering::Acquire) == READY {
        // SAFETY: READY observed with Acquire: fully written, read-only.
        return Some(unsafe { &*STATE.value.get() });
    }
    match STATE
        .phase
        .compare_exchange(UNINIT, BUSY, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => {
            // SAFETY: we won the UNINIT -> BUSY transition, so no other
            // reference to the value exists (readers wait for READY).
            let s = unsafe { &mut *STATE.value.get() };
            // The set-up calls into libc (dlsym, realpath): keep the errno of
            // a hook that runs before our constructor (see `SavedErrno`).
            crate::cstr::keeping_errno(|| init(s));
            STATE.phase.store(READY, Ordering::Release);
            // SAFETY: READY published; from now on the value is read-only.
            Some(unsafe { &*STATE.value.get() })
        }
        Err(READY) => {
            // SAFETY: READY observed with Acquire: fully written, read-only.
            Some(unsafe { &*STATE.value.get() })
        }
        Err(_) => None,
    }
}
