//! The compiled-in floor: a handful of catastrophic commands that are denied
//! in enforce mode even when the daemon is unreachable (or says allow).
//!
//! * recursive deletion of `/` or of `$HOME` (`rm -r`, `-R`, `--recursive`,
//!   any short-option cluster containing `r`/`R`; targets `/`, `//`, `/*`,
//!   `$HOME`, `~`, `${HOME}`, with or without trailing `/` or `/*`);
//! * `mkfs`, `mkfs.*`, `mke2fs`, `wipefs` (except pure `--help`/`--version`);
//! * `dd` with `of=/dev/...` naming a block device.
//!
//! Leading wrappers (`sudo`, `doas`, `env`, `nice`, `nohup`, `command`,
//! `exec`, `time`, `timeout`, `stdbuf`, `ionice`, `busybox`) are looked
//! through. Shell strings (`system`, `popen`) are split on `;`, `&`, `|`,
//! newlines, parentheses and backticks, and each piece is split on blanks
//! with quote characters ignored. This is a floor, not a parser: the daemon's
//! engine does the real analysis. Pure functions over byte slices; the block
//! device test is injected so the matcher stays testable without a disk.

use crate::bytes::same;
use crate::command::basename;

/// Why the floor refused a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloorHit {
    /// `rm -r` aimed at `/`.
    DeleteRoot,
    /// `rm -r` aimed at the home directory.
    DeleteHome,
    /// `mkfs`/`wipefs`.
    FormatDisk,
    /// `dd of=<block device>`.
    DdBlockDevice,
}

impl FloorHit {
    /// A short human-readable reason.
    pub fn message(self) -> &'static [u8] {
        match self {
            FloorHit::DeleteRoot => b"recursive deletion of / is never allowed",
            FloorHit::DeleteHome => b"recursive deletion of the home directory is never allowed",
            FloorHit::FormatDisk => b"creating or wiping filesystems is never allowed",
            FloorHit::DdBlockDevice => b"dd onto a block device is never allowed",
        }
    }
}

/// Upper bound on words inspected per command.
const MAX_WORDS: usize = 64;

/// Checks an argument vector. Never inlined: its 1 KiB of word slots then
/// lives only while the floor is checked, not in the frame of the hook that
/// goes on to ask the daemon (a forked child faults in each stack page the
/// hook reaches).
#[inline(never)]
pub fn check_argv<'a, I, F>(argv: I, home: Option<&[u8]>, is_block_device: F) -> Option<FloorHit>
where
    I: Iterator<Item = &'a [u8]>,
    F: Fn(&[u8]) -> bool,
{
    let mut words: [&[u8]; MAX_WORDS] = [&[]; MAX_WORDS];
    let mut n = 0;
    for (slot, w) in words.iter_mut().zip(argv) {
        *slot = w;
        n += 1;
    }
    check_words(words.get(..n).unwrap_or(&[]), home, &is_block_device)
}

/// Checks a shell command line. Never inlined, like [`check_argv`].
#[inline(never)]
pub fn check_shell<F>(cmd: &[u8], home: Option<&[u8]>, is_block_device: F) -> Option<FloorHit>
where
    F: Fn(&[u8]) -> bool,
{
    let is_sep = |b: &u8| {
        matches!(
            b,
            b';' | b'&' | b'|' | b'\n' | b'(' | b')' | b'`' | b'{' | b'}'
        )
    };
    for segment in cmd.split(is_sep) {
        let mut words: [&[u8]; MAX_WORDS] = [&[]; MAX_WORDS];
        let mut n = 0;
        let tokens = segment
            .split(|b| matches!(b, b' ' | b'\t' | b'\r'))
            .filter(|t| !t.is_empty());
        for (slot, t) in words.iter_mut().zip(tokens) {
            *slot = t;
            n += 1;
        }
        let words = words.get(..n).unwrap_or(&[]);
        // `$(` leaves a leading `$` token after splitting on `(`.
        let words = match words.first() {
            Some(w) if *w == b"$" => words.get(1..).unwrap_or(&[]),
            _ => words,
        };
        if let Some(hit) = check_words(words, home, &is_block_device) {
            return Some(hit);
        }
    }
    None
}

/// Copies `word` without quote/backslash characters into `out`; returns the length.
fn unquote_into(word: &[u8], out: &mut [u8]) -> usize {
    let mut n = 0;
    for (slot, b) in out
        .iter_mut()
        .zip(word.iter().filter(|b| !matches!(b, b'\'' | b'"' | b'\\')))
    {
        *slot = *b;
        n += 1;
    }
    n
}

fn skip_wrappers<'w, 'a>(mut words: &'w [&'a [u8]]) -> &'w [&'a [u8]] {
    // Bounded: each round drops at least one word.
    while let Some(first) = words.first() {
        let mut name_store = [0u8; 64];
        let len = unquote_into(basename(first), &mut name_store);
        let name = name_store.get(..len).unwrap_or(&[]);
        let rest = words.get(1..).unwrap_or(&[]);
        let skipped = match name {
            b"sudo" | b"doas" => skip_options(
                rest,
                &[
                    b"-u", b"-g", b"-C", b"-D", b"-h", b"-p", b"-r", b"-t", b"-U",
                ],
            ),
            b"env" => {
                let r = skip_options(rest, &[b"-u", b"-C", b"-S", b"--unset", b"--chdir"]);
                let k = r.iter().take_while(|w| w.contains(&b'=')).count();
                r.get(k..).unwrap_or(&[])
            }
            b"nice" | b"ionice" => skip_options(rest, &[b"-n", b"-c", b"-p", b"--adjustment"]),
            b"timeout" => {
                let r = skip_options(rest, &[b"-s", b"-k", b"--signal", b"--kill-after"]);
                r.get(1..).unwrap_or(&[])
            }
            b"stdbuf" => skip_options(rest, &[b"-i", b"-o", b"-e"]),
            b"nohup" | b"command" | b"exec" | b"time" | b"busybox" | b"builtin" => {
                skip_options(rest, &[])
            }
            _ => return words,
        };
        words = skipped;
    }
    words
}

/// Drops leading options; `with_arg` lists options whose value is the next word.
fn skip_options<'w, 'a>(mut words: &'w [&'a [u8]], with_arg: &[&[u8]]) -> &'w [&'a [u8]] {
    while let Some(w) = words.first() {
        if *w == b"--" {
            return words.get(1..).unwrap_or(&[]);
        }
        if w.len() < 2 || w.first() != Some(&b'-') {
            break;
        }
        let takes_arg = with_arg.iter().any(|o| same(o, w));
        words = words.get(if takes_arg { 2 } else { 1 }..).unwrap_or(&[]);
    }
    words
}

fn check_words(
    words: &[&[u8]],
    home: Option<&[u8]>,
    is_block_device: &dyn Fn(&[u8]) -> bool,
) -> Option<FloorHit> {
    let words = skip_wrappers(words);
    let first = words.first()?;
    let mut name_store = [0u8; 64];
    let len = unquote_into(basename(first), &mut name_store);
    let name = name_store.get(..len).unwrap_or(&[]);
    let args = words.get(1..).unwrap_or(&[]);
    match name {
        b"rm" => check_rm(args, home),
        b"mkfs" | b"mke2fs" | b"wipefs" => format_hit(args),
        _ if name.starts_with(b"mkfs.") => format_hit(args),
        b"dd" => check_dd(args, is_block_device),
        _ => None,
    }
}

fn format_hit(args: &[&[u8]]) -> Option<FloorHit> {
    let harmless = !args.is_empty()
        && args
            .iter()
            .all(|a| matches!(*a, b"--help" | b"-h" | b"-V" | b"--version"));
    if harmless {
        None
    } else {
        Some(FloorHit::FormatDisk)
    }
}

fn check_rm(args: &[&[u8]], home: Option<&[u8]>) -> Option<FloorHit> {
    let mut recursive = false;
    let mut options_done = false;
    let mut target_hit = None;
    for a in args {
        if !options_done && *a == b"--" {
            options_done = true;
            continue;
        }
        let is_option = !options_done && a.len() > 1 && a.first() == Some(&b'-');
        if is_option {
            if a.get(1) == Some(&b'-') {
                if *a == b"--recursive" {
                    recursive = true;
                }
            } else if a.iter().any(|b| *b == b'r' || *b == b'R') {
                recursive = true;
            }
            continue;
        }
        if target_hit.is_none() {
            target_hit = target_kind(a, home);
        }
    }
    if recursive {
        target_hit
    } else {
        None
    }
}

/// Classifies a deletion target as the root or the home directory.
fn target_kind(word: &[u8], home: Option<&[u8]>) -> Option<FloorHit> {
    let mut store = [0u8; 1024];
    let len = unquote_into(word, &mut store);
    if len >= store.len() {
        return None;
    }
    let mut t = store.get(..len).unwrap_or(&[]);
    // Trailing `/*`, `/.` and `/` do not change which tree is deleted.
    loop {
        if let Some(s) = t.strip_suffix(b"/*").or_else(|| t.strip_suffix(b"/.")) {
            t = s;
        } else if t.len() > 1 && t.last() == Some(&b'/') {
            t = t.get(..t.len() - 1).unwrap_or(&[]);
        } else {
            break;
        }
    }
    if t.is_empty() && len > 0 {
        // "/*" or "/." reduced to nothing: the root.
        return Some(FloorHit::DeleteRoot);
    }
    if !t.is_empty() && t.iter().all(|b| *b == b'/') {
        return Some(FloorHit::DeleteRoot);
    }
    if matches!(t, b"~" | b"$HOME" | b"${HOME}") {
        return Some(FloorHit::DeleteHome);
    }
    if let Some(h) = home {
        let mut h = h;
        while h.len() > 1 && h.last() == Some(&b'/') {
            h = h.get(..h.len() - 1).unwrap_or(&[]);
        }
        if !h.is_empty() && h != b"/" && same(t, h) {
            return Some(FloorHit::DeleteHome);
        }
    }
    None
}

fn check_dd(args: &[&[u8]], is_block_device: &dyn Fn(&[u8]) -> bool) -> Option<FloorHit> {
    for a in args {
        let mut store = [0u8; 1024];
        let len = unquote_into(a, &mut store);
        let w = store.get(..len).unwrap_or(&[]);
        if let Some(dev) = w.strip_prefix(b"of=") {
            if dev.starts_with(b"/dev/") && is_block_device(dev) {
                return Some(FloorHit::DdBlockDevice);
            }
        }
    }
    None
}
