//! Borrowing C strings and string arrays as byte slices, errno, `environ`,
//! and small libc calls on NUL-terminated stack copies.
//!
//! This is one of the FFI modules allowed to use `unsafe`; everything it
//! hands out is a plain `&[u8]` for the safe modules.

use core::ffi::{c_char, c_int};
use core::marker::PhantomData;

extern "C" {
    /// The process environment (POSIX).
    static mut environ: *const *const c_char;
}

/// Longest path the stack helpers handle (PATH_MAX).
pub const PATH_MAX: usize = 4096;

/// The bytes of a NUL-terminated string, without the NUL.
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string that stays valid and
/// unmodified for `'a`.
pub unsafe fn bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees `p` is a valid NUL-terminated string.
    let len = unsafe { libc::strlen(p) };
    // SAFETY: `len` bytes starting at `p` are initialised and live for `'a`.
    Some(unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// A borrowed NULL-terminated array of C strings (`argv`, `envp`).
#[derive(Clone, Copy)]
pub struct CStrArray<'a> {
    ptr: *const *const c_char,
    _life: PhantomData<&'a [u8]>,
}

impl<'a> CStrArray<'a> {
    /// Wraps `ptr` (may be null, meaning an empty array).
    ///
    /// # Safety
    /// `ptr` must be null or point to an array of pointers terminated by a
    /// null pointer, each a valid NUL-terminated string, all valid and
    /// unmodified for `'a`.
    pub unsafe fn new(ptr: *const *const c_char) -> Self {
        CStrArray {
            ptr,
            _life: PhantomData,
        }
    }

    /// The raw pointer.
    pub fn as_ptr(&self) -> *const *const c_char {
        self.ptr
    }

    /// Iterates over the strings.
    pub fn iter(&self) -> CStrIter<'a> {
        CStrIter {
            ptr: self.ptr,
            idx: 0,
            _life: PhantomData,
        }
    }
}

/// Iterator over a [`CStrArray`].
#[derive(Clone)]
pub struct CStrIter<'a> {
    ptr: *const *const c_char,
    idx: usize,
    _life: PhantomData<&'a [u8]>,
}

impl<'a> Iterator for CStrIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: `CStrArray::new`'s contract: the array is NULL-terminated and
        // we never read past the terminator (we stop at the first null).
        let p = unsafe { *self.ptr.add(self.idx) };
        if p.is_null() {
            return None;
        }
        self.idx += 1;
        // SAFETY: each non-null entry is a valid NUL-terminated string for 'a.
        unsafe { bytes(p) }
    }
}

/// The current `environ` array.
pub fn environ_array() -> CStrArray<'static> {
    // SAFETY: reading the pointer value of `environ`; libc keeps it a valid
    // NULL-terminated array (or null). Strings may be changed by setenv in
    // other threads, the same hazard libc's own execvp accepts.
    let p = unsafe { core::ptr::addr_of!(environ).read() };
    // SAFETY: see above.
    unsafe { CStrArray::new(p) }
}

/// The value of `name` in `env`.
pub fn lookup<'a>(env: CStrArray<'a>, name: &[u8]) -> Option<&'a [u8]> {
    env.iter()
        .find(|e| e.get(..name.len()) == Some(name) && e.get(name.len()) == Some(&b'='))
        .and_then(|e| e.get(name.len() + 1..))
}

/// The calling thread's errno.
pub fn errno() -> c_int {
    // SAFETY: __errno_location always returns a valid pointer for this thread.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
pub fn set_errno(v: c_int) {
    // SAFETY: __errno_location always returns a valid pointer for this thread.
    unsafe { *libc::__errno_location() = v }
}

/// Calls `f` with `s` copied to a NUL-terminated stack buffer; `None` when
/// `s` is too long or contains a NUL.
pub fn with_cstr<R>(s: &[u8], f: impl FnOnce(*const c_char) -> R) -> Option<R> {
    let mut buf = [0u8; PATH_MAX + 1];
    if s.contains(&0) {
        return None;
    }
    buf.get_mut(..s.len())?.copy_from_slice(s);
    *buf.get_mut(s.len())? = 0;
    Some(f(buf.as_ptr().cast()))
}

/// `stat(path)`, or the errno.
pub fn stat(path: &[u8]) -> Result<libc::stat, c_int> {
    with_cstr(path, |p| {
        // SAFETY: all-zero bytes are a valid `struct stat`.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        // SAFETY: `p` is NUL-terminated, `st` is a valid out-pointer.
        let r = unsafe { libc::stat(p, &mut st) };
        if r == 0 {
            Ok(st)
        } else {
            Err(errno())
        }
    })
    .unwrap_or(Err(libc::ENAMETOOLONG))
}

/// True when `path` is a regular file we may execute.
pub fn is_executable_file(path: &[u8]) -> bool {
    match stat(path) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {
            // SAFETY: `p` is NUL-terminated.
            with_cstr(path, |p| unsafe { libc::access(p, libc::X_OK) } == 0).unwrap_or(false)
        }
        _ => false,
    }
}

/// True when `path` is a block device.
pub fn is_block_device(path: &[u8]) -> bool {
    matches!(stat(path), Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFBLK)
}

/// True when `path` certainly does not exist (ENOENT/ENOTDIR), so exec
/// will fail without running anything.
pub fn certainly_missing(path: &[u8]) -> bool {
    matches!(stat(path), Err(libc::ENOENT | libc::ENOTDIR))
}

/// Writes the working directory into `buf`; returns its length.
pub fn getcwd(buf: &mut [u8]) -> Option<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes; getcwd NUL-terminates.
    let r = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if r.is_null() {
        return None;
    }
    buf.iter().position(|b| *b == 0)
}

/// `readlink(path)` into `buf`; returns the length.
pub fn readlink(path: &[u8], buf: &mut [u8]) -> Option<usize> {
    with_cstr(path, |p| {
        // SAFETY: `p` is NUL-terminated and `buf` is writable for its length.
        let n = unsafe { libc::readlink(p, buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).ok().filter(|n| *n < buf.len())
    })
    .flatten()
}

/// The process id.
pub fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

/// The parent process id.
pub fn getppid() -> i32 {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() }
}

/// Writes `bytes` to stderr, retrying on EINTR and short writes.
pub fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid readable slice.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        match usize::try_from(n) {
            Ok(0) => return,
            Ok(n) => rest = rest.get(n..).unwrap_or(&[]),
            Err(_) if errno() == libc::EINTR => {}
            Err(_) => return,
        }
    }
}
