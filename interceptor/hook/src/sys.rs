//! The system calls the hook makes, with libc's signatures except for the
//! failure value: `-errno` (the kernel's own convention) instead of `-1` with
//! errno set. The hook thereby never writes the caller's errno on its way to
//! the real function (nothing to save and restore), and a forked child does
//! not fault in libc's `__errno_location` page for it.
//!
//! Linux: the calls enter the kernel directly (the `syscall`/`svc`
//! instruction), not through libc. Every imported function costs the
//! dynamic loader a symbol lookup in every process that loads the library
//! (`-z now` binds them all before `main`), and a forked child that runs the
//! hook faults in every libc code page it reaches (libc's `syscall` and
//! `clock_gettime` wrappers and the vDSO were three such pages per hooked
//! exec; docs/BENCHMARKS.md). macOS: the libc functions themselves
//! (`syscall` is deprecated there), their errno turned into the return value.
//!
//! One of the FFI modules allowed to use `unsafe`; the callers (`cstr`,
//! `net`) keep the contract of each call, stated on each function.

/// Whether these calls write the caller's errno: only where they go through
/// libc (macOS; Linux architectures without an inline system call below).
/// Elsewhere a hook has no errno to save (`cstr::SavedErrno`).
pub const WRITES_ERRNO: bool = !cfg!(all(
    not(target_os = "macos"),
    any(target_arch = "x86_64", target_arch = "aarch64")
));

#[cfg(not(target_os = "macos"))]
pub use linux::*;
#[cfg(target_os = "macos")]
pub use macos::*;

#[cfg(not(target_os = "macos"))]
mod linux {
    use core::ffi::{c_char, c_int, c_long, c_void};

    /// A system call `nr` with every argument widened to `long`, as the
    /// kernel ABI reads them (missing ones are zero); the kernel's result
    /// (`-errno` on failure).
    macro_rules! raw {
        ($nr:expr $(, $arg:expr)* $(,)?) => {{
            let mut args: [c_long; 6] = [0; 6];
            let given: &[c_long] = &[$($arg as c_long),*];
            for (slot, v) in args.iter_mut().zip(given) {
                *slot = *v;
            }
            // SAFETY: forwarded from the calling wrapper, whose caller
            // upholds the system call's contract (pointers, lengths).
            unsafe { trap($nr as c_long, args) }
        }};
    }

    /// Enters the kernel with the `syscall` instruction itself. libc's
    /// `syscall` function would do the same from a libc code page that a
    /// forked child has not touched yet: every page of shared code a child
    /// runs costs it a page fault (about 1.4 µs here), and the hook runs in
    /// children that are about to `exec`. Returns the raw result (`-errno`
    /// on failure).
    ///
    /// # Safety
    /// The arguments must satisfy system call `nr`'s contract.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn trap(nr: c_long, a: [c_long; 6]) -> c_long {
        let ret: c_long;
        // SAFETY: the x86_64 Linux system call ABI: number in rax, arguments
        // in rdi, rsi, rdx, r10, r8, r9; the kernel clobbers rcx and r11 and
        // uses no user stack. Memory the call reads or writes is the
        // caller's contract (the asm is not marked `nomem`).
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") nr => ret,
                in("rdi") a[0],
                in("rsi") a[1],
                in("rdx") a[2],
                in("r10") a[3],
                in("r8") a[4],
                in("r9") a[5],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// See the x86_64 version.
    ///
    /// # Safety
    /// The arguments must satisfy system call `nr`'s contract.
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn trap(nr: c_long, a: [c_long; 6]) -> c_long {
        let ret: c_long;
        // SAFETY: the aarch64 Linux system call ABI: number in x8, arguments
        // in x0-x5, result in x0; no user stack is used.
        unsafe {
            core::arch::asm!(
                "svc 0",
                in("x8") nr,
                inlateout("x0") a[0] => ret,
                in("x1") a[1],
                in("x2") a[2],
                in("x3") a[3],
                in("x4") a[4],
                in("x5") a[5],
                options(nostack),
            );
        }
        ret
    }

    /// Other architectures: libc's `syscall`, its -1/errno turned back into
    /// `-errno` (errno is written there, and restored by the hooks that
    /// save it: see `cstr::SavedErrno`).
    ///
    /// # Safety
    /// The arguments must satisfy system call `nr`'s contract.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    unsafe fn trap(nr: c_long, a: [c_long; 6]) -> c_long {
        // SAFETY: the caller's contract.
        let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
        if r == -1 {
            -c_long::from(crate::cstr::errno())
        } else {
            r
        }
    }

    /// `clock_gettime(CLOCK_MONOTONIC)` as a system call: libc's wrapper
    /// and the vDSO are two more code pages for a forked child to fault in,
    /// more than the kernel entry costs.
    pub fn monotonic(ts: &mut libc::timespec) {
        let ts: *mut libc::timespec = ts;
        raw!(libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC, ts);
    }

    /// Narrows a result that fits `int` (a descriptor, 0 or `-errno`).
    fn int(r: c_long) -> c_int {
        c_int::try_from(r).unwrap_or(-libc::EOVERFLOW)
    }

    /// `stat(2)`.
    ///
    /// # Safety
    /// `path` NUL-terminated, `st` a valid out-pointer.
    pub unsafe fn stat(path: *const c_char, st: *mut libc::stat) -> c_int {
        int(raw!(libc::SYS_newfstatat, libc::AT_FDCWD, path, st, 0))
    }

    /// `fstat(2)`.
    ///
    /// # Safety
    /// `st` a valid out-pointer.
    pub unsafe fn fstat(fd: c_int, st: *mut libc::stat) -> c_int {
        int(raw!(libc::SYS_fstat, fd, st))
    }

    /// `access(2)`.
    ///
    /// # Safety
    /// `path` NUL-terminated.
    pub unsafe fn access(path: *const c_char, mode: c_int) -> c_int {
        int(raw!(libc::SYS_faccessat, libc::AT_FDCWD, path, mode))
    }

    /// `readlink(2)`.
    ///
    /// # Safety
    /// `path` NUL-terminated, `buf` writable for `len` bytes.
    pub unsafe fn readlink(path: *const c_char, buf: *mut c_char, len: usize) -> isize {
        raw!(libc::SYS_readlinkat, libc::AT_FDCWD, path, buf, len) as isize
    }

    /// `getcwd(3)`: positive when `buf` now holds the absolute working
    /// directory, NUL-terminated; `-ERANGE` when `len` is too small.
    ///
    /// # Safety
    /// `buf` writable for `len` bytes.
    pub unsafe fn getcwd(buf: *mut c_char, len: usize) -> c_int {
        // The system call returns a length; like glibc, refuse the
        // "(unreachable)..." form it gives for a directory outside our root.
        let r = raw!(libc::SYS_getcwd, buf, len);
        // SAFETY: on success the kernel wrote at least one byte and a NUL.
        if r > 0 && unsafe { *buf } != b'/' as c_char {
            return -libc::ENOENT;
        }
        int(r)
    }

    /// `getpid(2)`.
    pub fn getpid() -> libc::pid_t {
        raw!(libc::SYS_getpid) as libc::pid_t
    }

    /// `getppid(2)`.
    pub fn getppid() -> libc::pid_t {
        raw!(libc::SYS_getppid) as libc::pid_t
    }

    /// `sched_yield(2)`.
    pub fn sched_yield() {
        raw!(libc::SYS_sched_yield);
    }

    /// `write(2)`.
    ///
    /// # Safety
    /// `buf` readable for `len` bytes.
    pub unsafe fn write(fd: c_int, buf: *const c_void, len: usize) -> isize {
        raw!(libc::SYS_write, fd, buf, len) as isize
    }

    /// `close(2)`.
    pub fn close(fd: c_int) -> c_int {
        int(raw!(libc::SYS_close, fd))
    }

    /// `socket(2)`.
    pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
        int(raw!(libc::SYS_socket, domain, ty, protocol))
    }

    /// `connect(2)`.
    ///
    /// # Safety
    /// `addr` points to `len` readable bytes.
    pub unsafe fn connect(fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
        int(raw!(libc::SYS_connect, fd, addr, len))
    }

    /// `socketpair(2)`: the two descriptors in `fds`.
    pub fn socketpair(domain: c_int, ty: c_int, fds: &mut [c_int; 2]) -> c_int {
        let fds: *mut c_int = fds.as_mut_ptr();
        int(raw!(libc::SYS_socketpair, domain, ty, 0, fds))
    }

    /// `sendmsg(2)`; the byte count or `-errno`.
    ///
    /// # Safety
    /// Every pointer in `msg` (name, iovecs and their buffers, control data)
    /// is valid for the lengths it gives.
    pub unsafe fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> isize {
        raw!(libc::SYS_sendmsg, fd, msg, flags) as isize
    }

    /// `getsockopt(2)`.
    ///
    /// # Safety
    /// `val` writable for `*len` bytes, `len` a valid in/out pointer.
    pub unsafe fn getsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        val: *mut c_void,
        len: *mut libc::socklen_t,
    ) -> c_int {
        int(raw!(libc::SYS_getsockopt, fd, level, name, val, len))
    }

    /// `setsockopt(2)`.
    ///
    /// # Safety
    /// `val` readable for `len` bytes.
    pub unsafe fn setsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        val: *const c_void,
        len: libc::socklen_t,
    ) -> c_int {
        int(raw!(libc::SYS_setsockopt, fd, level, name, val, len))
    }

    /// `send(2)` (`sendto` without an address).
    ///
    /// # Safety
    /// `buf` readable for `len` bytes.
    pub unsafe fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize {
        raw!(libc::SYS_sendto, fd, buf, len, flags, 0, 0) as isize
    }

    /// `recv(2)` (`recvfrom` without an address).
    ///
    /// # Safety
    /// `buf` writable for `len` bytes.
    pub unsafe fn recv(fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> isize {
        raw!(libc::SYS_recvfrom, fd, buf, len, flags, 0, 0) as isize
    }

    /// `poll(2)` on one descriptor with a timeout in milliseconds (>= 0),
    /// through `ppoll`, which every Linux architecture has.
    pub fn poll_one(fd: &mut libc::pollfd, timeout_ms: c_int) -> c_int {
        let ms = timeout_ms.max(0);
        let mut ts = libc::timespec {
            tv_sec: libc::time_t::from(ms / 1000),
            tv_nsec: c_long::from(ms % 1000) * 1_000_000,
        };
        let fd: *mut libc::pollfd = fd;
        let ts: *mut libc::timespec = &mut ts;
        int(raw!(libc::SYS_ppoll, fd, 1, ts, 0, 0))
    }

    /// `ioctl(fd, request, int *)`.
    ///
    /// # Safety
    /// `request` must be one that writes at most one `int` through `arg`.
    pub unsafe fn ioctl_int(fd: c_int, request: libc::Ioctl, arg: *mut c_int) -> c_int {
        int(raw!(libc::SYS_ioctl, fd, request, arg))
    }

    /// `mmap(2)` of `len` anonymous bytes; `MAP_FAILED` on failure.
    pub fn mmap_anon(len: usize, prot: c_int, flags: c_int) -> *mut c_void {
        let hint = core::ptr::null_mut::<c_void>();
        match raw!(libc::SYS_mmap, hint, len, prot, flags, -1, 0) {
            -4095..0 => libc::MAP_FAILED,
            addr => addr as *mut c_void,
        }
    }

    /// `munmap(2)`.
    ///
    /// # Safety
    /// `addr..addr+len` must be a mapping the caller owns and no longer uses.
    pub unsafe fn munmap(addr: *mut c_void, len: usize) -> c_int {
        int(raw!(libc::SYS_munmap, addr, len))
    }
}

#[cfg(target_os = "macos")]
mod macos {
    use core::ffi::{c_char, c_int, c_void};

    /// libc's `-1` turned into `-errno`.
    fn neg(r: c_int) -> c_int {
        if r == -1 {
            -crate::cstr::errno()
        } else {
            r
        }
    }

    /// [`neg`] for byte counts.
    fn neg_size(r: isize) -> isize {
        if r == -1 {
            -(crate::cstr::errno() as isize)
        } else {
            r
        }
    }

    /// `stat(2)`.
    ///
    /// # Safety
    /// `path` NUL-terminated, `st` a valid out-pointer.
    pub unsafe fn stat(path: *const c_char, st: *mut libc::stat) -> c_int {
        // SAFETY: the caller's contract.
        neg(unsafe { libc::stat(path, st) })
    }

    /// `fstat(2)`.
    ///
    /// # Safety
    /// `st` a valid out-pointer.
    pub unsafe fn fstat(fd: c_int, st: *mut libc::stat) -> c_int {
        // SAFETY: the caller's contract.
        neg(unsafe { libc::fstat(fd, st) })
    }

    /// `access(2)`.
    ///
    /// # Safety
    /// `path` NUL-terminated.
    pub unsafe fn access(path: *const c_char, mode: c_int) -> c_int {
        // SAFETY: the caller's contract.
        neg(unsafe { libc::access(path, mode) })
    }

    /// `getcwd(3)`: positive when `buf` now holds the working directory,
    /// `-ERANGE` when `len` is too small.
    ///
    /// # Safety
    /// `buf` writable for `len` bytes.
    pub unsafe fn getcwd(buf: *mut c_char, len: usize) -> c_int {
        // SAFETY: the caller's contract.
        if unsafe { libc::getcwd(buf, len) }.is_null() {
            -crate::cstr::errno()
        } else {
            1
        }
    }

    /// `getpid(2)`.
    pub fn getpid() -> libc::pid_t {
        // SAFETY: no preconditions.
        unsafe { libc::getpid() }
    }

    /// `sched_yield(2)`.
    pub fn sched_yield() {
        // SAFETY: no preconditions.
        unsafe { libc::sched_yield() };
    }

    /// `getppid(2)`.
    pub fn getppid() -> libc::pid_t {
        // SAFETY: no preconditions.
        unsafe { libc::getppid() }
    }

    /// `write(2)`.
    ///
    /// # Safety
    /// `buf` readable for `len` bytes.
    pub unsafe fn write(fd: c_int, buf: *const c_void, len: usize) -> isize {
        // SAFETY: the caller's contract.
        neg_size(unsafe { libc::write(fd, buf, len) })
    }

    /// `close(2)`.
    pub fn close(fd: c_int) -> c_int {
        // SAFETY: closing an integer has no memory-safety preconditions.
        neg(unsafe { libc::close(fd) })
    }

    /// `socket(2)`.
    pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
        // SAFETY: no pointer arguments.
        neg(unsafe { libc::socket(domain, ty, protocol) })
    }

    /// `connect(2)`.
    ///
    /// # Safety
    /// `addr` points to `len` readable bytes.
    pub unsafe fn connect(fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
        // SAFETY: the caller's contract.
        neg(unsafe { libc::connect(fd, addr, len) })
    }

    /// `getsockopt(2)`.
    ///
    /// # Safety
    /// `val` writable for `*len` bytes, `len` a valid in/out pointer.
    pub unsafe fn getsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        val: *mut c_void,
        len: *mut libc::socklen_t,
    ) -> c_int {
        // SAFETY: the caller's contract.
        neg(unsafe { libc::getsockopt(fd, level, name, val, len) })
    }

    /// `setsockopt(2)`.
    ///
    /// # Safety
    /// `val` readable for `len` bytes.
    pub unsafe fn setsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        val: *const c_void,
        len: libc::socklen_t,
    ) -> c_int {
        // SAFETY: the caller's contract.
        neg(unsafe { libc::setsockopt(fd, level, name, val, len) })
    }

    /// `send(2)`.
    ///
    /// # Safety
    /// `buf` readable for `len` bytes.
    pub unsafe fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize {
        // SAFETY: the caller's contract.
        neg_size(unsafe { libc::send(fd, buf, len, flags) })
    }

    /// `recv(2)`.
    ///
    /// # Safety
    /// `buf` writable for `len` bytes.
    pub unsafe fn recv(fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> isize {
        // SAFETY: the caller's contract.
        neg_size(unsafe { libc::recv(fd, buf, len, flags) })
    }

    /// `clock_gettime(CLOCK_MONOTONIC)`.
    pub fn monotonic(ts: &mut libc::timespec) {
        // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, ts) };
    }

    /// `poll(2)` on one descriptor.
    pub fn poll_one(fd: &mut libc::pollfd, timeout_ms: c_int) -> c_int {
        // SAFETY: `fd` is one valid pollfd.
        neg(unsafe { libc::poll(fd, 1, timeout_ms) })
    }

    /// `mmap(2)` of `len` anonymous bytes; `MAP_FAILED` on failure.
    pub fn mmap_anon(len: usize, prot: c_int, flags: c_int) -> *mut c_void {
        // SAFETY: an anonymous mapping with no address hint touches none
        // of our memory.
        unsafe { libc::mmap(core::ptr::null_mut(), len, prot, flags, -1, 0) }
    }

    /// `munmap(2)`.
    ///
    /// # Safety
    /// `addr..addr+len` must be a mapping the caller owns and no longer uses.
    pub unsafe fn munmap(addr: *mut c_void, len: usize) -> c_int {
        // SAFETY: the caller's contract.
        unsafe { libc::munmap(addr, len) }
    }
}
