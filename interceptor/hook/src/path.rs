//! PATH search as glibc's `execvp` family does it, for `resolved_path`.
//!
//! A name containing `/` is not searched. Otherwise each `PATH` element is
//! tried in order (an empty element means the current directory); `PATH`
//! unset means glibc's `confstr(_CS_PATH)` value `/bin:/usr/bin`. The first
//! candidate that `is_executable` accepts wins; candidates that do not exist
//! are skipped, so one search asks the daemon at most once. Safe code only;
//! the file-system test is injected.

use crate::buf::{Buf, Sink};

/// glibc's default search path when `PATH` is unset.
#[cfg(not(target_os = "macos"))]
pub const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";
/// macOS libc's default search path (`_PATH_DEFPATH`) when `PATH` is unset.
#[cfg(target_os = "macos")]
pub const DEFAULT_PATH: &[u8] = b"/usr/bin:/bin";

/// Writes the first executable candidate for `file` into `out` (no NUL).
/// Returns false when none exists or the buffer is too small.
pub fn search<F>(file: &[u8], path_var: Option<&[u8]>, out: &mut Buf<'_>, is_executable: F) -> bool
where
    F: Fn(&[u8]) -> bool,
{
    if file.is_empty() {
        return false;
    }
    if file.contains(&b'/') {
        out.clear();
        out.put(file);
        return !out.overflowed() && is_executable(file);
    }
    let path = path_var.unwrap_or(DEFAULT_PATH);
    for dir in path.split(|b| *b == b':') {
        out.clear();
        if !dir.is_empty() {
            out.put(dir);
            if dir.last() != Some(&b'/') {
                out.put_byte(b'/');
            }
        }
        out.put(file);
        if !out.overflowed() && is_executable(out.as_bytes()) {
            return true;
        }
    }
    out.clear();
    false
}
