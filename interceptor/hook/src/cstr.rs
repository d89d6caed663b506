//! Borrowing C strings and string arrays as byte slices, errno, `environ`,
//! and small libc calls on NUL-terminated stack copies.
//!
//! This is one of the FFI modules allowed to use `unsafe`; everything it
//! hands out is a plain `&[u8]` for the safe modules.

use core::ffi::{c_char, c_int};
use core::marker::PhantomData;
use core::mem::MaybeUninit;

use crate::sys;

#[cfg(not(target_os = "macos"))]
extern "C" {
    /// The process environment (POSIX).
    static mut environ: *const *const c_char;
}

#[cfg(target_os = "macos")]
extern "C" {
    /// Where the environment pointer lives: a dylib cannot link `environ`
    /// directly on macOS (only the main program can).
    fn _NSGetEnviron() -> *mut *const *const c_char;
}

/// The current value of the `environ` pointer.
fn environ_ptr() -> *const *const c_char {
    #[cfg(not(target_os = "macos"))]
    // SAFETY: reading the pointer value of libc's `environ` variable.
    let p = unsafe { core::ptr::addr_of!(environ).read() };
    #[cfg(target_os = "macos")]
    // SAFETY: _NSGetEnviron has no preconditions and returns the address of
    // the process's environment pointer, valid for the process's lifetime.
    let p = unsafe { *_NSGetEnviron() };
    p
}

/// The calling thread's errno location.
fn errno_ptr() -> *mut c_int {
    #[cfg(not(target_os = "macos"))]
    // SAFETY: __errno_location has no preconditions.
    let p = unsafe { libc::__errno_location() };
    #[cfg(target_os = "macos")]
    // SAFETY: __error has no preconditions.
    let p = unsafe { libc::__error() };
    p
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
    let len = unsafe { strlen(p) };
    // SAFETY: `len` bytes starting at `p` are initialised and live for `'a`.
    Some(unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// The length of a NUL-terminated string, eight bytes at a time, in our own
/// code: libc's `strlen` is one more libc code page for a forked child to
/// fault in (~1.5 µs) on every exec, and the hook measures every argument
/// and environment entry it reads.
///
/// # Safety
/// `p` must point to a NUL-terminated string.
#[cfg(all(
    not(target_os = "macos"),
    target_endian = "little",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub unsafe fn strlen(p: *const c_char) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let start = p as usize;
    let mut at = start & !7;
    // SAFETY: an aligned word never crosses a page boundary, and the first
    // one holds the string's first byte, later ones a byte not after its
    // NUL: every word read lies in a page the string occupies.
    let mut w = unsafe { load_aligned_word(at) };
    // Little-endian: the bytes before `p` are the word's low bytes; make
    // them non-zero.
    let before = (start - at) * 8;
    if before != 0 {
        w |= (1u64 << before) - 1;
    }
    loop {
        // A byte of `w` is zero exactly when its bit is set here, counting
        // from the lowest (a borrow can only mark bytes above a zero byte).
        let zeros = w.wrapping_sub(ONES) & !w & HIGHS;
        if zeros != 0 {
            return at + (zeros.trailing_zeros() / 8) as usize - start;
        }
        at += 8;
        // SAFETY: as above; no byte of the previous word was the NUL.
        w = unsafe { load_aligned_word(at) };
    }
}

/// Other targets: libc's.
///
/// # Safety
/// `p` must point to a NUL-terminated string.
#[cfg(not(all(
    not(target_os = "macos"),
    target_endian = "little",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
pub unsafe fn strlen(p: *const c_char) -> usize {
    // SAFETY: the caller's contract.
    unsafe { libc::strlen(p) }
}

/// The eight bytes at `addr` (8-aligned), read by one machine load. Done in
/// assembly because the word may extend past the end of the string (never
/// past its page): the hardware permits that read, Rust's memory model does
/// not speak of it.
///
/// # Safety
/// `addr` must be 8-aligned and lie in a mapped, readable page.
#[cfg(all(
    not(target_os = "macos"),
    target_endian = "little",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[inline(always)]
unsafe fn load_aligned_word(addr: usize) -> u64 {
    /// The one 8-byte load of this architecture, `{w}` from `[{a}]`.
    #[cfg(target_arch = "x86_64")]
    macro_rules! load_word {
        () => {
            "mov {w}, qword ptr [{a}]"
        };
    }
    #[cfg(target_arch = "aarch64")]
    macro_rules! load_word {
        () => {
            "ldr {w}, [{a}]"
        };
    }
    let w: u64;
    // SAFETY: the caller's contract; the asm only reads those 8 bytes.
    unsafe {
        core::arch::asm!(
            load_word!(),
            a = in(reg) addr,
            w = lateout(reg) w,
            options(nostack, readonly, preserves_flags, pure),
        );
    }
    w
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

    /// Iterates over the entries without measuring them.
    pub fn refs(&self) -> CStrRefs<'a> {
        CStrRefs {
            ptr: self.ptr,
            idx: 0,
            _life: PhantomData,
        }
    }

    /// Iterates over the strings.
    pub fn iter(&self) -> CStrIter<'a> {
        CStrIter(self.refs())
    }
}

/// One entry of a [`CStrArray`], not yet measured: reading a few leading
/// bytes (to classify an environment entry, or find a variable by name)
/// costs no pass over the whole string.
#[derive(Clone, Copy)]
pub struct CStrRef<'a> {
    ptr: *const c_char,
    _life: PhantomData<&'a [u8]>,
}

impl<'a> CStrRef<'a> {
    /// The string's address.
    pub fn as_ptr(self) -> *const c_char {
        self.ptr
    }

    /// The first `n` bytes, or the whole string when it is shorter; never
    /// reads past the NUL.
    pub fn prefix(self, n: usize) -> &'a [u8] {
        let mut len = 0;
        // SAFETY: `CStrArray::new`'s contract: a valid NUL-terminated string
        // for 'a; bytes are read up to and including the NUL at most.
        while len < n && unsafe { *self.ptr.add(len) } != 0 {
            len += 1;
        }
        // SAFETY: the first `len` bytes were just read and are not NUL.
        unsafe { core::slice::from_raw_parts(self.ptr.cast::<u8>(), len) }
    }

    /// The whole string, without the NUL.
    pub fn bytes(self) -> &'a [u8] {
        // SAFETY: a valid NUL-terminated string for 'a (see above).
        unsafe { bytes(self.ptr) }.unwrap_or(&[])
    }
}

/// Iterator over the entries of a [`CStrArray`] as [`CStrRef`]s.
#[derive(Clone)]
pub struct CStrRefs<'a> {
    ptr: *const *const c_char,
    idx: usize,
    _life: PhantomData<&'a [u8]>,
}

impl<'a> Iterator for CStrRefs<'a> {
    type Item = CStrRef<'a>;

    fn next(&mut self) -> Option<CStrRef<'a>> {
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
        Some(CStrRef {
            ptr: p,
            _life: PhantomData,
        })
    }
}

/// Iterator over a [`CStrArray`]'s strings, each measured.
#[derive(Clone)]
pub struct CStrIter<'a>(CStrRefs<'a>);

impl<'a> Iterator for CStrIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        self.0.next().map(CStrRef::bytes)
    }
}

/// Builds a NULL-terminated pointer array (an `argv` or `envp`) in slots
/// that need not be initialised: [`PtrArray::finish`] returns a pointer
/// whose readers stop at the NULL, inside the written part.
pub struct PtrArray<'s> {
    slots: &'s mut [MaybeUninit<*const c_char>],
    n: usize,
}

impl<'s> PtrArray<'s> {
    /// An empty array over `slots`.
    pub fn new(slots: &'s mut [MaybeUninit<*const c_char>]) -> Self {
        PtrArray { slots, n: 0 }
    }

    /// Appends `p`. The last slot is kept for the terminator: a push that
    /// would take it is dropped (callers size `slots` for every push; this
    /// only matters if the source grew meanwhile, e.g. a concurrent setenv).
    pub fn push(&mut self, p: *const c_char) {
        if self.n + 1 < self.slots.len() {
            if let Some(s) = self.slots.get_mut(self.n) {
                *s = MaybeUninit::new(p);
                self.n += 1;
            }
        }
    }

    /// Writes the NULL terminator and returns the array (null when there
    /// were no slots at all). Valid while the slots are borrowed.
    pub fn finish(self) -> *const *const c_char {
        match self.slots.get_mut(self.n) {
            Some(s) => {
                *s = MaybeUninit::new(core::ptr::null());
                self.slots.as_ptr().cast()
            }
            None => core::ptr::null(),
        }
    }
}

/// The current `environ` array.
pub fn environ_array() -> CStrArray<'static> {
    // SAFETY: libc keeps `environ` a valid NULL-terminated array (or null).
    // Strings may be changed by setenv in other threads, the same hazard
    // libc's own execvp accepts.
    unsafe { CStrArray::new(environ_ptr()) }
}

/// The value of `name` in `env`.
pub fn lookup<'a>(env: CStrArray<'a>, name: &[u8]) -> Option<&'a [u8]> {
    env.refs()
        .find(|e| {
            let head = e.prefix(name.len() + 1);
            head.get(..name.len())
                .is_some_and(|n| crate::bytes::same(n, name))
                && head.get(name.len()) == Some(&b'=')
        })
        .and_then(|e| e.bytes().get(name.len() + 1..))
}

/// The calling thread's errno.
pub fn errno() -> c_int {
    // SAFETY: the errno location is always a valid pointer for this thread.
    unsafe { *errno_ptr() }
}

/// The caller's errno across a hook, put back before the real function runs.
///
/// Where the hook's system calls bypass libc (`sys::WRITES_ERRNO` false:
/// Linux on x86_64 and aarch64), nothing the hook does on its way to the real
/// function writes errno, so nothing is kept: a forked child does not fault
/// in libc's `__errno_location` page on every exec. The slow
/// paths that do call libc (the lazy symbol lookup and the state set up
/// before our constructor ran) save and restore errno themselves. Elsewhere
/// (macOS, other architectures) the value is read and written back.
#[derive(Clone, Copy)]
pub struct SavedErrno {
    value: c_int,
}

impl SavedErrno {
    /// The calling thread's errno now (nothing read where `sys` leaves it
    /// alone).
    #[inline(always)]
    pub fn take() -> SavedErrno {
        SavedErrno {
            value: if sys::WRITES_ERRNO { errno() } else { 0 },
        }
    }

    /// Puts the saved value back (nothing written where `sys` leaves errno
    /// alone).
    #[inline(always)]
    pub fn restore(self) {
        if sys::WRITES_ERRNO {
            set_errno(self.value);
        }
    }
}

/// Runs `f` with the calling thread's errno kept (for the slow paths that
/// call into libc: dlsym, realpath).
pub fn keeping_errno<R>(f: impl FnOnce() -> R) -> R {
    let saved = errno();
    let r = f();
    set_errno(saved);
    r
}

/// Sets the calling thread's errno.
pub fn set_errno(v: c_int) {
    // SAFETY: the errno location is always a valid pointer for this thread.
    unsafe { *errno_ptr() = v }
}

/// Calls `f` with `s` copied to a NUL-terminated stack buffer; `None` when
/// `s` is too long or contains a NUL.
///
/// Never inlined: the 4 KiB buffer then lives only for this call, not in the
/// frame of every hook that checks a path before asking the daemon, where it
/// would push all the deeper frames a page further down (a forked child
/// faults in each stack page the hook reaches).
#[inline(never)]
pub fn with_cstr<R>(s: &[u8], f: impl FnOnce(*const c_char) -> R) -> Option<R> {
    // Not zero-filled: this runs for every PATH candidate of every exec, and
    // only the copied bytes plus the NUL are ever read.
    let mut buf = MaybeUninit::<[u8; PATH_MAX + 1]>::uninit();
    if s.len() > PATH_MAX || s.contains(&0) {
        return None;
    }
    let p = buf.as_mut_ptr().cast::<u8>();
    // SAFETY: `s.len() + 1 <= PATH_MAX + 1` bytes are written inside `buf`,
    // from a slice that cannot overlap our fresh stack buffer.
    unsafe {
        core::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
        p.add(s.len()).write(0);
    }
    Some(f(p.cast_const().cast()))
}

/// `stat(path)`, or the errno.
pub fn stat(path: &[u8]) -> Result<libc::stat, c_int> {
    // SAFETY: `with_cstr` passes a NUL-terminated copy of `path`.
    with_cstr(path, |p| unsafe { stat_cstr(p) }).unwrap_or(Err(libc::ENAMETOOLONG))
}

/// `stat(path)` of a C string, or the errno.
///
/// # Safety
/// `path` must be a NUL-terminated string.
unsafe fn stat_cstr(path: *const c_char) -> Result<libc::stat, c_int> {
    // SAFETY: all-zero bytes are a valid `struct stat`.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated (the caller's contract), `st` a valid
    // out-pointer.
    let r = unsafe { sys::stat(path, &mut st) };
    if r == 0 {
        Ok(st)
    } else {
        Err(-r)
    }
}

/// True when `path` is a regular file we may execute.
pub fn is_executable_file(path: &[u8]) -> bool {
    match stat(path) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {
            // SAFETY: `p` is NUL-terminated.
            with_cstr(path, |p| unsafe { sys::access(p, libc::X_OK) } == 0).unwrap_or(false)
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

/// [`certainly_missing`] for a path that is already a C string, without the
/// copy (no 4 KiB stack buffer, no `memcpy`: both cost a forked child a page
/// fault on its way to `exec`). Null counts as missing.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
pub unsafe fn certainly_missing_cstr(path: *const c_char) -> bool {
    // SAFETY: non-null, so NUL-terminated (the caller's contract).
    path.is_null()
        || matches!(
            unsafe { stat_cstr(path) },
            Err(libc::ENOENT | libc::ENOTDIR)
        )
}

/// What [`getcwd_and_join`] found.
pub enum CwdJoin<'b> {
    /// The working directory (none when there is none to report) and the
    /// joined path (none when not asked for or not fitting `PATH_MAX`).
    Done(Option<&'b [u8]>, Option<&'b [u8]>),
    /// The buffer is shorter than what `PATH_MAX` bytes would have held.
    TooSmall,
}

/// The working directory and, when `rel` is a relative path, `<cwd>/<rel>`
/// (a leading `./` of `rel` dropped), both in `buf`: the joined path begins
/// with the directory, so one buffer holds both. The join is `None` when
/// `rel` is absent or absolute, when there is no working directory, or when it
/// does not fit in `PATH_MAX` bytes. [`CwdJoin::TooSmall`] when a buffer
/// shorter than `PATH_MAX` cannot hold what a `PATH_MAX` one would (the
/// caller retries with a larger one).
pub fn getcwd_and_join<'b>(buf: &'b mut [MaybeUninit<u8>], rel: Option<&[u8]>) -> CwdJoin<'b> {
    let cap = buf.len().min(PATH_MAX);
    let p = buf.as_mut_ptr().cast::<u8>();
    // SAFETY: `buf` is writable for `cap` bytes.
    let r = unsafe { sys::getcwd(p.cast(), cap) };
    if r == -libc::ERANGE && cap < PATH_MAX {
        return CwdJoin::TooSmall;
    }
    if r <= 0 {
        return CwdJoin::Done(None, None);
    }
    // SAFETY: on success getcwd wrote a NUL-terminated string into `buf`.
    let n = unsafe { strlen(p.cast_const().cast()) };
    let rel = rel
        .filter(|r| r.first() != Some(&b'/'))
        .map(|r| r.strip_prefix(b"./").unwrap_or(r));
    let total = rel.and_then(|r| n.checked_add(1)?.checked_add(r.len()));
    let joined = match (rel, total) {
        (Some(_), Some(t)) if t > cap && t <= PATH_MAX => return CwdJoin::TooSmall,
        (Some(r), Some(t)) if t <= cap => {
            // SAFETY: `n + 1 + r.len() <= cap` bytes stay inside `buf`; `r`
            // is the caller's slice and cannot overlap our buffer, which is
            // borrowed mutably here.
            unsafe {
                p.add(n).write(b'/');
                core::ptr::copy_nonoverlapping(r.as_ptr(), p.add(n + 1), r.len());
            }
            t
        }
        _ => n,
    };
    // SAFETY: the first `joined >= n` bytes of `buf` are initialised (the
    // directory, then possibly `/` and `rel`), and `buf` stays borrowed, not
    // written, for `'b`.
    let all = unsafe { core::slice::from_raw_parts(p.cast_const(), joined) };
    let cwd = all.get(..n);
    CwdJoin::Done(cwd, (joined > n).then_some(all))
}

/// `readlink(path)` into `buf`; returns the length.
#[cfg(not(target_os = "macos"))]
pub fn readlink(path: &[u8], buf: &mut [u8]) -> Option<usize> {
    with_cstr(path, |p| {
        // SAFETY: `p` is NUL-terminated and `buf` is writable for its length.
        let n = unsafe { sys::readlink(p, buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).ok().filter(|n| *n < buf.len())
    })
    .flatten()
}

/// The process id.
pub fn getpid() -> i32 {
    sys::getpid()
}

/// The parent process id.
pub fn getppid() -> i32 {
    sys::getppid()
}

/// Writes `bytes` to stderr, retrying on EINTR and short writes.
pub fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid readable slice.
        let n = unsafe { sys::write(2, rest.as_ptr().cast(), rest.len()) };
        match usize::try_from(n) {
            Ok(0) => return,
            Ok(n) => rest = rest.get(n..).unwrap_or(&[]),
            Err(_) if n == -(libc::EINTR as isize) => {}
            Err(_) => return,
        }
    }
}

/// `(st_dev, st_ino)` as `u64`s (`dev_t` is signed 32-bit on macOS).
#[allow(clippy::unnecessary_cast)]
pub fn file_id(st: &libc::stat) -> (u64, u64) {
    (st.st_dev as u64, st.st_ino as u64)
}
