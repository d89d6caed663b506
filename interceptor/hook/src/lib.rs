//! `librampart.so`: the Rampart `LD_PRELOAD` exec hook.
//!
//! Interposes every libc entry point that starts a program — `execve`,
//! `execv`, `execvp`, `execvpe`, `execl`, `execle`, `execlp` (C shim),
//! `fexecve`, `execveat`, `posix_spawn`, `posix_spawnp`, `pidfd_spawn`,
//! `pidfd_spawnp`, `system`, `popen` — asks the local policy daemon
//! (`POST /v1/preflight/exec` over a Unix socket or loopback TCP) whether the
//! command may run, and keeps `LD_PRELOAD` and the `RAMPART_*` settings in
//! every child's environment.
//!
//! Design rules (see `INTERCEPTOR-NOTES.md`):
//! * `#![no_std]`, `panic = "abort"`, no allocation, no locks, no `dlsym`
//!   after load: hooks run in vfork children and in fork children of
//!   multithreaded parents.
//! * `unsafe` only in the FFI modules: `real` (symbol table, load-time
//!   state), `hooks` (exports), `cstr` (C strings, errno, libc helpers),
//!   `net` (sockets), `sys` (system calls) and `apple` (macOS interpose
//!   table). Request building, JSON, HTTP parsing, quoting, the
//!   floor, PATH search, environment rules and the fail-open table are safe
//!   code over byte slices, unit-tested from the `e2e` crate.
//! * Only the hooked symbols are exported (rustc's version script for the
//!   Rust hooks plus `exports.map` for the shim); the only dynamic
//!   dependency is libc.
//!
//! macOS (`DYLD_INSERT_LIBRARIES`, type-checked only): the hooks are
//! installed through a dyld `__interpose` table (module `apple`) instead of
//! exported names; `fexecve`, `execveat`, `execvpe` and `pidfd_spawn*` are
//! Linux-only.
//!
//! Not covered, by design of `LD_PRELOAD`: statically linked programs and
//! raw `syscall(SYS_execve)` users (Go's `os/exec`) — their own exec is seen
//! from a preloaded parent, their children are not; setuid programs drop
//! `LD_PRELOAD` (the exec of the setuid binary itself is checked).
#![no_std]
#![deny(
    unsafe_code,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]
// Code that cannot panic: no indexing, no unwrap/expect, no explicit panics.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

mod buf;
mod bytes;
mod client;
mod command;
mod config;
mod decide;
mod env;
mod floor;
mod http;
mod json;
mod path;

#[allow(unsafe_code)]
mod cstr;
#[allow(unsafe_code)]
mod hooks;
#[allow(unsafe_code)]
mod net;
#[allow(unsafe_code)]
mod real;
#[allow(unsafe_code)]
mod sys;

#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
mod apple;

pub use hooks::{execv, execve, execvp, popen, posix_spawn, posix_spawnp, system};
#[cfg(not(target_os = "macos"))]
pub use hooks::{execveat, execvpe, fexecve, pidfd_spawn, pidfd_spawnp};

/// Runs [`hooks::on_load`] from `.init_array` (macOS: `__mod_init_func`)
/// when the library is loaded.
#[used]
#[allow(unsafe_code)]
#[cfg_attr(not(target_os = "macos"), link_section = ".init_array")]
#[cfg_attr(target_os = "macos", link_section = "__DATA,__mod_init_func")]
static ON_LOAD: extern "C" fn() = {
    extern "C" fn rampart_on_load() {
        hooks::on_load();
    }
    rampart_on_load
};

#[panic_handler]
#[allow(unsafe_code)]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // The code is written not to panic (no indexing, no unwrap); if it ever
    // did, aborting is the only sound exit from an FFI hook.
    // SAFETY: abort() has no preconditions and never returns.
    unsafe { libc::abort() }
}
