//! The command string sent to the daemon, byte-compatible with the original
//! preload client (UPSTREAM-SPEC §5.6).
//!
//! * First word: `argv[0]` when the path is missing or empty; the path when
//!   `argv[0]` is missing or empty; `argv[0]` when it equals the path or the
//!   path's basename; otherwise the path itself (defeats argv[0] spoofing).
//! * Then `argv[1..]`. A word made only of `[A-Za-z0-9_@%+=:,./-]` is written
//!   raw; any other word is single-quoted with each `'` written as `'\''`; an
//!   empty word is `''`. Words are joined by single spaces.
//!
//! `system`/`popen` send the shell string verbatim (see [`Command::Shell`]).

use crate::buf::Sink;
use crate::bytes::same;

/// What the caller is about to run.
#[derive(Clone, Copy, Debug)]
pub enum Command<'a, I> {
    /// An exec/spawn: the path as passed (unresolved for the `p` variants)
    /// and the argument vector.
    Argv {
        /// The `path`/`file` argument, `None` when unknown (e.g. `fexecve`).
        path: Option<&'a [u8]>,
        /// The argument vector.
        argv: I,
    },
    /// A shell command line (`system`, `popen`).
    Shell(&'a [u8]),
}

impl<'a, I> Command<'a, I>
where
    I: Iterator<Item = &'a [u8]> + Clone,
{
    /// Writes the command string to `out`.
    pub fn write_to<S: Sink>(&self, out: &mut S) {
        match self {
            Command::Shell(s) => out.put(s),
            Command::Argv { path, argv } => write_argv_command(out, *path, argv.clone()),
        }
    }
}

/// True when `b` may appear in an unquoted word.
pub fn is_plain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'_' | b'@' | b'%' | b'+' | b'=' | b':' | b',' | b'.' | b'/' | b'-'
        )
}

/// Writes one word, quoted as needed.
pub fn write_word<S: Sink>(out: &mut S, word: &[u8]) {
    if word.is_empty() {
        out.put(b"''");
        return;
    }
    if word.iter().all(|b| is_plain_byte(*b)) {
        out.put(word);
        return;
    }
    out.put_byte(b'\'');
    let mut rest = word;
    while let Some(i) = rest.iter().position(|b| *b == b'\'') {
        out.put(rest.get(..i).unwrap_or(&[]));
        out.put(b"'\\''");
        rest = rest.get(i + 1..).unwrap_or(&[]);
    }
    out.put(rest);
    out.put_byte(b'\'');
}

/// The last `/`-separated component of `path` (the whole path when it has no `/`).
pub fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => path.get(i + 1..).unwrap_or(&[]),
        None => path,
    }
}

/// The first word per the anti-spoofing rule (module docs).
pub fn command_name<'a>(path: Option<&'a [u8]>, argv0: Option<&'a [u8]>) -> &'a [u8] {
    let path = path.filter(|p| !p.is_empty());
    let argv0 = argv0.filter(|a| !a.is_empty());
    match (path, argv0) {
        (None, a) => a.unwrap_or(&[]),
        (Some(p), None) => p,
        (Some(p), Some(a)) => {
            if same(a, p) || same(a, basename(p)) {
                a
            } else {
                p
            }
        }
    }
}

fn write_argv_command<'a, S, I>(out: &mut S, path: Option<&'a [u8]>, mut argv: I)
where
    S: Sink,
    I: Iterator<Item = &'a [u8]>,
{
    let first = argv.next();
    write_word(out, command_name(path, first));
    for word in argv {
        out.put_byte(b' ');
        write_word(out, word);
    }
}
