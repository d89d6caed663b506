//! macOS only: the dyld `__interpose` table and an `execvpe` libSystem lacks.
//!
//! dyld has no `RTLD_NEXT`-style override by symbol name across the default
//! two-level namespace. An inserted library instead lists
//! `(replacement, original)` address pairs in a `__DATA,__interpose`
//! section; dyld rebinds every other image's references to `original` to
//! `replacement`. References made from this library are left alone, so the
//! hooks reach the originals through plain symbol references
//! (`real::originals`). The variadic `execl*` hooks have their own entries
//! in `shim.c`.
//!
//! Built and type-checked only (`cargo check --target x86_64-apple-darwin`);
//! never run in this project's CI. See `interceptor/README.md` for the limits
//! (SIP, hardened runtime).

use core::ffi::{c_char, c_int, c_void};
use core::mem::MaybeUninit;

use crate::buf::{Buf, Sink};
use crate::cstr::{self, CStrArray, PtrArray, PATH_MAX};
use crate::hooks;
use crate::net::Mapped;
use crate::path::DEFAULT_PATH;
use crate::real::originals;

/// One `__interpose` entry, the layout dyld reads.
#[repr(C)]
struct Interpose {
    replacement: *const c_void,
    original: *const c_void,
}

// SAFETY: the entries are immutable code addresses, only read (by dyld).
unsafe impl Sync for Interpose {}

macro_rules! interpose_table {
    ($($name:ident),* $(,)?) => {
        [$(Interpose {
            replacement: hooks::$name as *const c_void,
            original: originals::$name as *const c_void,
        }),*]
    };
}

/// The hooks dyld installs (the Rust ones; `shim.c` adds `execl*`).
#[used]
#[link_section = "__DATA,__interpose"]
static INTERPOSE: [Interpose; 7] = interpose_table!(
    execve,
    execv,
    execvp,
    posix_spawn,
    posix_spawnp,
    system,
    popen,
);

/// Most arguments the `/bin/sh` fallback builds on the stack; more are
/// placed in a private mapping.
const SH_SLOTS: usize = 256;

fn fail(e: c_int) -> c_int {
    cstr::set_errno(e);
    -1
}

/// `execvpe(file, argv, envp)`, which libSystem lacks, done the way its
/// `execvp` searches: `PATH` of the current environment (default
/// `/usr/bin:/bin`), each candidate tried with the real `execve` and `envp`;
/// a missing candidate moves on, `EACCES` is remembered, any other error
/// stops; a file the kernel cannot execute (`ENOEXEC`) is run by `/bin/sh`.
///
/// # Safety
/// The C contract of `execvpe`: `file` a C string or null, `argv`/`envp`
/// NULL-terminated arrays of C strings.
pub unsafe extern "C" fn execvpe(
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    // SAFETY: `file` is a C string or null (contract above).
    let Some(f) = (unsafe { cstr::bytes(file) }) else {
        return fail(libc::ENOENT);
    };
    if f.is_empty() {
        return fail(libc::ENOENT);
    }
    // SAFETY: `argv` is a NULL-terminated array of C strings (contract above).
    let args = unsafe { CStrArray::new(argv) };
    if f.contains(&b'/') {
        // SAFETY: the caller's arguments.
        return unsafe { exec_candidate(file, argv, args, envp) };
    }
    let path_var = cstr::lookup(cstr::environ_array(), b"PATH");
    let mut seen_eacces = false;
    for dir in path_var.unwrap_or(DEFAULT_PATH).split(|b| *b == b':') {
        let mut store = [0u8; PATH_MAX + 1];
        let mut b = Buf::new(&mut store);
        if !dir.is_empty() {
            b.put(dir);
            if dir.last() != Some(&b'/') {
                b.put_byte(b'/');
            }
        }
        b.put(f);
        if b.finish_cstr().is_none() {
            continue;
        }
        // SAFETY: `store` now holds a NUL-terminated candidate path.
        unsafe { exec_candidate(store.as_ptr().cast(), argv, args, envp) };
        match cstr::errno() {
            libc::EACCES => seen_eacces = true,
            libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG | libc::ESTALE => {}
            _ => return -1,
        }
    }
    fail(if seen_eacces {
        libc::EACCES
    } else {
        libc::ENOENT
    })
}

/// The real `execve` of one candidate, then the `/bin/sh` fallback on
/// `ENOEXEC`. Returns only on failure (-1, errno set).
///
/// # Safety
/// `path` a C string; `argv` (also borrowed as `args`) and `envp` the exec
/// contract's arrays.
unsafe fn exec_candidate(
    path: *const c_char,
    argv: *const *const c_char,
    args: CStrArray<'_>,
    envp: *const *const c_char,
) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { originals::execve(path, argv, envp) };
    if cstr::errno() != libc::ENOEXEC {
        return -1;
    }
    let count = args.iter().count();
    let needed = count.max(1) + 2;
    let mut stack_slots = [MaybeUninit::<*const c_char>::uninit(); SH_SLOTS];
    let mut mapped;
    let slots: &mut [MaybeUninit<*const c_char>] = if needed <= SH_SLOTS {
        &mut stack_slots
    } else {
        mapped = match Mapped::new(needed * core::mem::size_of::<*const c_char>()) {
            Some(m) => m,
            None => return fail(libc::E2BIG),
        };
        mapped.as_ptr_slots()
    };
    let shell: &[u8] = b"/bin/sh\0";
    let sh: &[u8] = b"sh\0";
    let mut out = PtrArray::new(slots);
    out.push(sh.as_ptr().cast());
    out.push(path);
    for a in args.iter().skip(1) {
        out.push(a.as_ptr().cast());
    }
    // SAFETY: a NULL-terminated array of C strings that outlive the call.
    unsafe { originals::execve(shell.as_ptr().cast(), out.finish(), envp) };
    -1
}
