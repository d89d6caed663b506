//! Keeping the protection in every child's environment.
//!
//! At load the hook snapshots `LD_PRELOAD` and every `RAMPART_*` variable.
//! Every exec or spawn then gets an environment rebuilt from the caller's
//! (explicit `envp`, or the current `environ`): all `LD_PRELOAD` and
//! `RAMPART_*` entries are dropped and replaced by
//!
//! * the snapshot's `RAMPART_*` entries (a child can neither remove nor
//!   override them; a missing `RAMPART_SESSION` is pinned to the value this
//!   process computed, so the whole tree shares one session);
//! * `LD_PRELOAD=<this library>[:<the caller's other preloads>]`: our library
//!   first, the caller's co-resident preloads kept in their order; when the
//!   caller has no `LD_PRELOAD` at all, the startup value is used.
//!
//! On macOS the variable is `DYLD_INSERT_LIBRARIES` instead ([`PRELOAD_VAR`]).
//!
//! This module holds the pure parts over byte slices: the snapshot storage,
//! entry classification, the merged `LD_PRELOAD` value, the "is `environ`
//! still intact" test and the shell prologue used when `system`/`popen` run
//! with a stripped `environ`. Building the pointer arrays is in `hooks`.

use crate::buf::{Buf, Sink};
use crate::bytes::same;
use crate::command::write_word;

/// Most `RAMPART_*` entries kept in the snapshot.
pub const MAX_ENTRIES: usize = 48;
const MAX_ALIASES: usize = 8;
const STORE: usize = 16 * 1024;
/// Longest trusted preload entry (`NAME=value`), the size of the buffers
/// the hooks rebuild it in.
const PRELOAD_ENTRY_MAX: usize = 4096;

#[derive(Clone, Copy, Default)]
struct Span {
    start: usize,
    len: usize,
}

/// The trusted control variables, stored as NUL-terminated `NAME=VALUE`.
/// `repr(C)` with the store last: the bookkeeping and the used start of the
/// store share pages (see `real::State`).
#[repr(C)]
pub struct Snapshot {
    used: usize,
    n: usize,
    preload: Span,
    ourlib: Span,
    n_aliases: usize,
    complete: bool,
    aliases: [Span; MAX_ALIASES],
    entries: [Span; MAX_ENTRIES],
    store: [u8; STORE],
}

/// How an environment entry relates to the protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvKind<'a> {
    /// `LD_PRELOAD=<value>`.
    Preload(&'a [u8]),
    /// A `RAMPART_*` variable.
    Rampart,
    /// Anything else.
    Other,
}

/// The variable that makes the loader insert our library: `LD_PRELOAD`, or
/// `DYLD_INSERT_LIBRARIES` on macOS (dyld's equivalent).
#[cfg(not(target_os = "macos"))]
pub const PRELOAD_VAR: &[u8] = b"LD_PRELOAD";
/// The variable that makes the loader insert our library: `LD_PRELOAD`, or
/// `DYLD_INSERT_LIBRARIES` on macOS (dyld's equivalent).
#[cfg(target_os = "macos")]
pub const PRELOAD_VAR: &[u8] = b"DYLD_INSERT_LIBRARIES";

/// Separators of the preload list: glibc accepts `:` and blanks, dyld only `:`.
#[cfg(not(target_os = "macos"))]
fn is_preload_separator(b: u8) -> bool {
    b == b':' || b == b' ' || b == b'\t'
}
#[cfg(target_os = "macos")]
fn is_preload_separator(b: u8) -> bool {
    b == b':'
}

/// Classifies one `NAME=VALUE` entry.
pub fn classify(entry: &[u8]) -> EnvKind<'_> {
    let preload = entry
        .strip_prefix(PRELOAD_VAR)
        .and_then(|rest| rest.strip_prefix(b"="));
    if let Some(v) = preload {
        EnvKind::Preload(v)
    } else if entry.starts_with(b"RAMPART_") {
        EnvKind::Rampart
    } else {
        EnvKind::Other
    }
}

/// The items of an `LD_PRELOAD` value (separated by `:` or blanks).
pub fn preload_items(value: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    value
        .split(|b| is_preload_separator(*b))
        .filter(|i| !i.is_empty())
}

impl Snapshot {
    /// An empty snapshot (nothing protected yet).
    pub const EMPTY: Snapshot = Snapshot {
        store: [0; STORE],
        used: 0,
        entries: [Span { start: 0, len: 0 }; MAX_ENTRIES],
        n: 0,
        preload: Span { start: 0, len: 0 },
        ourlib: Span { start: 0, len: 0 },
        aliases: [Span { start: 0, len: 0 }; MAX_ALIASES],
        n_aliases: 0,
        complete: false,
    };

    /// Fills the snapshot from the load-time environment. `ourlib` is this
    /// library's absolute path; `is_ours(item)` tells whether a startup
    /// `LD_PRELOAD` item names this library under another spelling;
    /// `session` is written as `RAMPART_SESSION` when the variable is absent.
    pub fn fill<'e, I, F>(&mut self, env: I, ourlib: &[u8], is_ours: F, session: &[u8])
    where
        I: Iterator<Item = &'e [u8]> + Clone,
        F: Fn(&[u8]) -> bool,
    {
        self.clear();
        let mut ok = true;
        ok &= self.push_span(ourlib).map(|s| self.ourlib = s).is_some();
        let mut startup_preload: Option<&[u8]> = None;
        let mut have_session = false;
        for e in env.clone() {
            match classify(e) {
                EnvKind::Preload(v) => {
                    if startup_preload.is_none() {
                        startup_preload = Some(v);
                    }
                }
                EnvKind::Rampart => {
                    let name_end = e.iter().position(|b| *b == b'=').unwrap_or(e.len());
                    let name = e.get(..name_end).unwrap_or(&[]);
                    if self.has_name(name) {
                        continue;
                    }
                    have_session |= name == b"RAMPART_SESSION";
                    ok &= self.push_entry(&[e]);
                }
                EnvKind::Other => {}
            }
        }
        if !have_session {
            ok &= self.push_entry(&[b"RAMPART_SESSION=", session]);
        }
        for item in startup_preload.map(preload_items).into_iter().flatten() {
            if item != ourlib && is_ours(item) && self.n_aliases < MAX_ALIASES {
                if let Some(s) = self.push_span(item) {
                    if let Some(slot) = self.aliases.get_mut(self.n_aliases) {
                        *slot = s;
                        self.n_aliases += 1;
                    }
                }
            }
        }
        // The trusted LD_PRELOAD: ours first, then the startup extras
        // (what `write_preload_entry` writes), built in place.
        let start = self.used;
        let mut fits = self.append(PRELOAD_VAR) && self.append(b"=") && self.append(ourlib);
        for item in startup_preload.map(preload_items).into_iter().flatten() {
            if !self.is_ourlib(item) {
                fits = fits && self.append(b":") && self.append(item);
            }
        }
        let len = self.used - start;
        fits = fits && len <= PRELOAD_ENTRY_MAX && self.append(b"\0");
        self.preload = Span { start, len };
        self.complete = ok && fits;
    }

    /// Appends `bytes` to the store; false when they do not fit.
    fn append(&mut self, bytes: &[u8]) -> bool {
        let Some(end) = self.used.checked_add(bytes.len()) else {
            return false;
        };
        let Some(dst) = self.store.get_mut(self.used..end) else {
            return false;
        };
        dst.copy_from_slice(bytes);
        self.used = end;
        true
    }

    /// Forgets everything stored. Only the bookkeeping is cleared: bytes of
    /// `store` past `used` are never read, and leaving them alone spares a
    /// 16 KiB write (and its page faults) at every program start.
    pub fn clear(&mut self) {
        self.used = 0;
        self.n = 0;
        self.preload = Span::default();
        self.ourlib = Span::default();
        self.n_aliases = 0;
        self.complete = false;
    }

    /// False when something did not fit; callers treat that as a local
    /// failure (deny in enforce mode).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    fn has_name(&self, name: &[u8]) -> bool {
        self.rampart_entries()
            .any(|e| e.get(..name.len()) == Some(name) && e.get(name.len()) == Some(&b'='))
    }

    /// Stores `bytes` + NUL; returns the span without the NUL.
    fn push_span(&mut self, bytes: &[u8]) -> Option<Span> {
        let start = self.used;
        let end = start.checked_add(bytes.len())?;
        self.store.get_mut(start..end)?.copy_from_slice(bytes);
        *self.store.get_mut(end)? = 0;
        self.used = end + 1;
        Some(Span {
            start,
            len: bytes.len(),
        })
    }

    fn push_entry(&mut self, parts: &[&[u8]]) -> bool {
        if self.n >= MAX_ENTRIES {
            return false;
        }
        let start = self.used;
        let mut len = 0usize;
        for p in parts {
            let Some(end) = self.used.checked_add(p.len()) else {
                return false;
            };
            let Some(dst) = self.store.get_mut(self.used..end) else {
                return false;
            };
            dst.copy_from_slice(p);
            self.used = end;
            len += p.len();
        }
        let Some(nul) = self.store.get_mut(self.used) else {
            return false;
        };
        *nul = 0;
        self.used += 1;
        if let Some(slot) = self.entries.get_mut(self.n) {
            *slot = Span { start, len };
            self.n += 1;
        }
        true
    }

    fn span(&self, s: Span) -> &[u8] {
        self.store
            .get(s.start..s.start.saturating_add(s.len))
            .unwrap_or(&[])
    }

    fn span_nul(&self, s: Span) -> &[u8] {
        self.store
            .get(s.start..s.start.saturating_add(s.len).saturating_add(1))
            .unwrap_or(&[])
    }

    /// This library's path.
    pub fn ourlib(&self) -> &[u8] {
        self.span(self.ourlib)
    }

    /// True when a preload item names this library.
    pub fn is_ourlib(&self, item: &[u8]) -> bool {
        same(item, self.ourlib())
            || self
                .aliases
                .iter()
                .take(self.n_aliases)
                .any(|a| same(self.span(*a), item))
    }

    /// The snapshot's `RAMPART_*` entries (no NUL).
    pub fn rampart_entries(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.entries.iter().take(self.n).map(|s| self.span(*s))
    }

    /// The snapshot's `RAMPART_*` entries, each with its trailing NUL (for
    /// use as C strings).
    pub fn rampart_entries_nul(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.entries.iter().take(self.n).map(|s| self.span_nul(*s))
    }

    /// The trusted `LD_PRELOAD=...` entry with its trailing NUL.
    pub fn preload_entry_nul(&self) -> &[u8] {
        self.span_nul(self.preload)
    }

    /// The trusted `LD_PRELOAD=...` entry.
    pub fn preload_entry(&self) -> &[u8] {
        self.span(self.preload)
    }

    /// Writes `LD_PRELOAD=<ours>[:<other items of caller_value>]`.
    pub fn write_preload_entry<S: Sink>(&self, out: &mut S, caller_value: Option<&[u8]>) {
        out.put(PRELOAD_VAR);
        out.put_byte(b'=');
        out.put(self.ourlib());
        for item in caller_value.map(preload_items).into_iter().flatten() {
            if !self.is_ourlib(item) {
                out.put_byte(b':');
                out.put(item);
            }
        }
    }

    /// True when `env` already carries the protection: the first
    /// `LD_PRELOAD` starts with this library and the `RAMPART_*` entries are
    /// exactly the snapshot's.
    pub fn env_is_intact<'e, I>(&self, env: I) -> bool
    where
        I: Iterator<Item = &'e [u8]>,
    {
        let mut preload_ok = None;
        let mut rampart_seen = 0usize;
        for e in env {
            match classify(e) {
                EnvKind::Preload(v) => {
                    if preload_ok.is_none() {
                        preload_ok =
                            Some(preload_items(v).next().is_some_and(|i| self.is_ourlib(i)));
                    }
                }
                EnvKind::Rampart => {
                    if !self.rampart_entries().any(|s| same(s, e)) {
                        return false;
                    }
                    rampart_seen += 1;
                }
                EnvKind::Other => {}
            }
        }
        preload_ok == Some(true) && rampart_seen == self.n
    }

    /// Writes the shell line that restores the protection and then runs
    /// `cmd`: `unset` stray `RAMPART_*` names, `export` the trusted entries,
    /// `exec /bin/sh -c '<cmd>'`. Used by `system`/`popen` when the caller
    /// stripped its own `environ` (those functions take no `envp`).
    pub fn write_shell_restore<'e, S, I>(&self, out: &mut S, env: I, cmd: &[u8])
    where
        S: Sink,
        I: Iterator<Item = &'e [u8]> + Clone,
    {
        let mut caller_preload = None;
        for e in env.clone() {
            if let EnvKind::Preload(v) = classify(e) {
                caller_preload = Some(v);
                break;
            }
        }
        for e in env {
            if classify(e) != EnvKind::Rampart {
                continue;
            }
            let name_end = e.iter().position(|b| *b == b'=').unwrap_or(e.len());
            let name = e.get(..name_end).unwrap_or(&[]);
            let valid = name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
            if valid && !self.has_name(name) {
                out.put(b"unset ");
                out.put(name);
                out.put(b"; ");
            }
        }
        out.put(b"export");
        for e in self.rampart_entries() {
            out.put_byte(b' ');
            write_word(out, e);
        }
        out.put_byte(b' ');
        let mut tmp = [0u8; 4096];
        let mut b = Buf::new(&mut tmp);
        self.write_preload_entry(
            &mut b,
            caller_preload.or(match classify(self.preload_entry()) {
                EnvKind::Preload(v) => Some(v),
                _ => None,
            }),
        );
        if b.overflowed() {
            write_word(out, self.preload_entry());
        } else {
            write_word(out, b.as_bytes());
        }
        out.put(b"; exec /bin/sh -c ");
        write_word(out, cmd);
    }
}
