//! The table of real libc functions (`dlsym(RTLD_NEXT)`) and the process-wide
//! state written once at load.
//!
//! Everything is resolved in the load-time constructor, while the process is
//! still single-threaded. A call that arrives before the constructor (from
//! another library's constructor) resolves lazily; after the constructor,
//! `dlsym` is never called again — in particular never in a fork or vfork
//! child. A symbol libc lacks (e.g. `pidfd_spawn` before glibc 2.39) stays
//! null and the hook reports "unsupported" (`ENOSYS`).

use core::cell::UnsafeCell;
use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};

use crate::config::Config;
use crate::env::Snapshot;

/// `execve`, `execvpe`.
pub type ExecveFn =
    unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
/// `fexecve`.
pub type FexecveFn =
    unsafe extern "C" fn(c_int, *const *const c_char, *const *const c_char) -> c_int;
/// `execveat`.
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

/// The real functions we forward to.
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
static TABLE: [AtomicPtr<c_void>; 10] = [NULL_PTR; 10];
static RESOLVED: AtomicBool = AtomicBool::new(false);

fn dlsym_next(name: &[u8]) -> *mut c_void {
    // SAFETY: `name` is a NUL-terminated literal from NAMES; RTLD_NEXT is a
    // valid pseudo-handle and this call sits in our own object.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) }
}

/// Resolves every symbol. Called from the constructor.
pub fn resolve_all() {
    for (slot, name) in TABLE.iter().zip(NAMES.iter()) {
        slot.store(dlsym_next(name), Ordering::Release);
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
    // Before our constructor: resolve lazily (still single-threaded then).
    let p = NAMES
        .get(i)
        .map_or(core::ptr::null_mut(), |n| dlsym_next(n));
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

/// Everything computed once at load.
pub struct State {
    /// Configuration from the environment.
    pub config: Config,
    /// Trusted control variables.
    pub snapshot: Snapshot,
    /// The process that loaded us; only it may keep a cached connection.
    pub load_pid: i32,
}

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;

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
    }),
};

/// The state, initialising it with `init` if nobody did yet. `None` while
/// another thread is initialising (only possible before our constructor).
pub fn state_or_init(init: impl FnOnce(&mut State)) -> Option<&'static State> {
    match STATE
        .phase
        .compare_exchange(UNINIT, BUSY, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => {
            // SAFETY: we won the UNINIT -> BUSY transition, so no other
            // reference to the value exists (readers wait for READY).
            let s = unsafe { &mut *STATE.value.get() };
            init(s);
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
