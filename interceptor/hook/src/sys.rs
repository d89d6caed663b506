//! The system calls the hook makes, with libc's signatures and its
//! `-1`/errno convention.
//!
//! Linux: made through libc's one `syscall` entry point instead of one libc
//! wrapper each. Every imported function costs the dynamic loader a symbol
//! lookup in every process that loads the library (`-z now` binds them all
//! before `main`); the wrappers below cost one lookup together.
//! `clock_gettime` stays a libc call (the vDSO serves it without entering
//! the kernel). macOS: the libc functions themselves (`syscall` is
//! deprecated there).
//!
//! One of the FFI modules allowed to use `unsafe`; the callers (`cstr`,
//! `net`) keep the contract of each call, stated on each function.

#[cfg(not(target_os = "macos"))]
pub use linux::*;
#[cfg(target_os = "macos")]
pub use macos::*;

#[cfg(not(target_os = "macos"))]
mod linux {
    use core::ffi::{c_char, c_int, c_long, c_void};

    /// `syscall(nr, args...)` with every argument widened to `long`, as the
    /// kernel ABI reads them.
    macro_rules! raw {
        ($nr:expr $(, $arg:expr)* $(,)?) => {
            // SAFETY: forwarded from the calling wrapper, whose caller
            // upholds the system call's contract (pointers, lengths).
            unsafe { libc::syscall($nr $(, $arg as c_long)*) }
        };
    }

    /// Narrows a result that fits `int` (a descriptor, 0 or -1).
    fn int(r: c_long) -> c_int {
        c_int::try_from(r).unwrap_or(-1)
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

    /// `getcwd(3)`: true when `buf` now holds the absolute working
    /// directory, NUL-terminated.
    ///
    /// # Safety
    /// `buf` writable for `len` bytes.
    pub unsafe fn getcwd(buf: *mut c_char, len: usize) -> bool {
        // The system call returns a length; like glibc, refuse the
        // "(unreachable)..." form it gives for a directory outside our root.
        let r = raw!(libc::SYS_getcwd, buf, len);
        // SAFETY: on success the kernel wrote at least one byte and a NUL.
        r > 0 && unsafe { *buf } == b'/' as c_char
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
            -1 => libc::MAP_FAILED,
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

    /// `stat(2)`.
    ///
    /// # Safety
    /// `path` NUL-terminated, `st` a valid out-pointer.
    pub unsafe fn stat(path: *const c_char, st: *mut libc::stat) -> c_int {
        // SAFETY: the caller's contract.
        unsafe { libc::stat(path, st) }
    }

    /// `fstat(2)`.
    ///
    /// # Safety
    /// `st` a valid out-pointer.
    pub unsafe fn fstat(fd: c_int, st: *mut libc::stat) -> c_int {
        // SAFETY: the caller's contract.
        unsafe { libc::fstat(fd, st) }
    }

    /// `access(2)`.
    ///
    /// # Safety
    /// `path` NUL-terminated.
    pub unsafe fn access(path: *const c_char, mode: c_int) -> c_int {
        // SAFETY: the caller's contract.
        unsafe { libc::access(path, mode) }
    }

    /// `getcwd(3)`: true when `buf` now holds the working directory.
    ///
    /// # Safety
    /// `buf` writable for `len` bytes.
    pub unsafe fn getcwd(buf: *mut c_char, len: usize) -> bool {
        // SAFETY: the caller's contract.
        unsafe { !libc::getcwd(buf, len).is_null() }
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
        unsafe { libc::write(fd, buf, len) }
    }

    /// `close(2)`.
    pub fn close(fd: c_int) -> c_int {
        // SAFETY: closing an integer has no memory-safety preconditions.
        unsafe { libc::close(fd) }
    }

    /// `socket(2)`.
    pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
        // SAFETY: no pointer arguments.
        unsafe { libc::socket(domain, ty, protocol) }
    }

    /// `connect(2)`.
    ///
    /// # Safety
    /// `addr` points to `len` readable bytes.
    pub unsafe fn connect(fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
        // SAFETY: the caller's contract.
        unsafe { libc::connect(fd, addr, len) }
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
        unsafe { libc::getsockopt(fd, level, name, val, len) }
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
        unsafe { libc::setsockopt(fd, level, name, val, len) }
    }

    /// `send(2)`.
    ///
    /// # Safety
    /// `buf` readable for `len` bytes.
    pub unsafe fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize {
        // SAFETY: the caller's contract.
        unsafe { libc::send(fd, buf, len, flags) }
    }

    /// `recv(2)`.
    ///
    /// # Safety
    /// `buf` writable for `len` bytes.
    pub unsafe fn recv(fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> isize {
        // SAFETY: the caller's contract.
        unsafe { libc::recv(fd, buf, len, flags) }
    }

    /// `poll(2)` on one descriptor.
    pub fn poll_one(fd: &mut libc::pollfd, timeout_ms: c_int) -> c_int {
        // SAFETY: `fd` is one valid pollfd.
        unsafe { libc::poll(fd, 1, timeout_ms) }
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
