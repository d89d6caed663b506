//! Shell-aware normalization (spec §4): sanitize, split, tokenize, unwrap wrappers,
//! extract subcommands, and compute the executed components of a command.
//!
//! The parsers are deliberately small and conservative; every loop and recursion is
//! bounded, and input the parsers cannot follow is reported as *opaque*
//! ([`Analysis::opaque`]) instead of being guessed at.
//!
//! - [`sanitize`](sanitize::sanitize) (§4.1), [`split_compound`] (§4.2),
//!   [`tokenize()`] (§4.3), [`normalize()`] (§4.4, with the transparent [`executors`]),
//!   [`extract_subcommands`] (§4.5), [`analyze`] (§4.6);
//! - [`aliases`]: the extra readings only restrictive rules use (§4.7);
//! - [`env_assignment_names`] (§4.8).

use std::collections::HashSet;

pub mod aliases;
pub mod env_assign;
pub mod executors;
pub mod normalize;
pub mod sanitize;
pub mod split;
pub mod subcommands;
pub mod tokenize;

pub use env_assign::env_assignment_names;
pub use normalize::{normalize, normalize_full};
pub use sanitize::sanitize;
pub use split::split_compound;
pub use subcommands::extract_subcommands;
pub use tokenize::{tokenize, Dialect};

/// Longest command that is analysed; longer ones are opaque.
pub const MAX_COMMAND: usize = 8192;
/// Most executed components; more make the command opaque.
pub const MAX_COMPONENTS: usize = 1024;

/// Reason strings for [`Analysis::opaque`].
pub mod opaque {
    /// Over [`super::MAX_COMMAND`] bytes.
    pub const TOO_LONG: &str = "command longer than 8192 bytes";
    /// A quote is never closed.
    pub const UNTERMINATED_QUOTE: &str = "unterminated quote";
    /// `$(`, a backtick or `<(` is never closed.
    pub const UNCLOSED_SUBSTITUTION: &str = "unclosed command substitution";
    /// Nesting or wrapper depth beyond the parser's bounds.
    pub const TOO_DEEP: &str = "nesting too deep";
    /// More than [`super::MAX_COMPONENTS`] components.
    pub const TOO_MANY_COMPONENTS: &str = "too many components";
}

/// The result of analysing one command string (spec §4.6). A command over
/// [`MAX_COMMAND`] bytes is not parsed: it has no normalization and no components.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// `normalize(cmd)`, or the command itself when normalization is empty.
    pub normalized: String,
    /// The executed components.
    pub components: Vec<String>,
    /// More than one segment, or subcommands present.
    pub composite: bool,
    /// Why the command cannot be parsed safely, if it cannot.
    pub opaque: Option<String>,
}

/// Analyse a command into its executed components (spec §4.6).
///
/// Plain commands (see [`plain_words`]) take a fast path that gives exactly the
/// result of the general one, [`analyze_general`].
pub fn analyze(cmd: &str) -> Analysis {
    if cmd.len() <= MAX_COMMAND && plain_words(cmd) {
        let normalized = join_plain_words(cmd);
        return Analysis {
            components: vec![normalized.clone()],
            normalized,
            composite: false,
            opaque: None,
        };
    }
    if cmd.len() <= MAX_COMMAND {
        if let Some(normalized) = quoted_plain_normalization(cmd) {
            return Analysis {
                components: vec![normalized.trim().to_string()],
                normalized,
                composite: false,
                opaque: None,
            };
        }
    }
    analyze_general(cmd)
}

/// Whether `b` may appear in a plain command (see [`plain_words`]).
pub(crate) fn is_plain_byte(b: u8) -> bool {
    PLAIN_BYTES[usize::from(b)]
}

/// [`is_plain_byte`] as a table, one lookup per byte.
static PLAIN_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = is_plain_byte_spec(i as u8);
        i += 1;
    }
    t
};

/// The definition behind [`PLAIN_BYTES`].
const fn is_plain_byte_spec(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b' ' | b'-' | b'_' | b'.' | b'/' | b':' | b',' | b'+' | b'@' | b'%' | b'~' | b'='
        )
}

/// The normalization of a plain command whose words may also be quoted with
/// balanced `'…'` or `"…"` (quoted text made of the same bytes and the other quote
/// character, no backslash): the words with their quotes removed, joined with
/// single spaces. `None` when the command is not of that form, when a word would
/// be empty, or when the first word, or the first space-separated word with quotes
/// trimmed, is an assignment, a transparent executor, a shell or `eval` (those
/// commands take the general path).
fn quoted_plain_normalization(cmd: &str) -> Option<String> {
    // Without a quote the command is plain or needs the general path; check the
    // bytes before allocating.
    let mut quoted = false;
    for &b in cmd.as_bytes() {
        match b {
            b'\'' | b'"' => quoted = true,
            _ if is_plain_byte(b) => {}
            _ => return None,
        }
    }
    if !quoted {
        return None;
    }
    let mut out = String::with_capacity(cmd.len());
    let mut quote: Option<u8> = None;
    let mut head_end: Option<usize> = None;
    let mut word_start = 0usize;
    let mut in_word = false;
    for &b in cmd.as_bytes() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => out.push(b as char),
            (None, b'\'' | b'"') => {
                if !in_word {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    word_start = out.len();
                    in_word = true;
                }
                quote = Some(b);
            }
            (None, b' ') => {
                if in_word {
                    if out.len() == word_start {
                        return None; // an empty quoted word
                    }
                    head_end.get_or_insert(out.len());
                    in_word = false;
                }
            }
            (None, _) => {
                if !in_word {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    word_start = out.len();
                    in_word = true;
                }
                out.push(b as char);
            }
        }
    }
    if quote.is_some() || (in_word && out.len() == word_start) {
        return None;
    }
    let head = out.get(..head_end.unwrap_or(out.len()))?;
    let raw_head_plain = normalize::head_dialect(cmd).is_none();
    let head_plain = !head.is_empty()
        && !head.contains('=')
        && head != "eval"
        && !executors::EXECUTORS.contains(&head)
        && normalize::head_dialect(head).is_none();
    (raw_head_plain && head_plain).then_some(out)
}

/// Whether `cmd` is plain: at least one word, only ASCII letters, digits, spaces and
/// `-_./:,+@%~=` (no quote, escape, control character, substitution, redirection,
/// separator, comment or glob), and a first word that is not an assignment, a
/// transparent executor, a shell (`sh`, `cmd`, `pwsh`, ...) or `eval`. Such a
/// command is one segment of literal words that normalization only re-joins with
/// single spaces, with no subcommand: its analysis is its words joined.
pub fn plain_words(cmd: &str) -> bool {
    if !cmd.bytes().all(is_plain_byte) {
        return false;
    }
    let Some(head) = cmd.split(' ').find(|w| !w.is_empty()) else {
        return false;
    };
    !(head.contains('=')
        || head == "eval"
        || executors::EXECUTORS.contains(&head)
        || normalize::head_dialect(head).is_some())
}

/// The words of a plain command (see [`plain_words`]) joined with single spaces: its
/// normalization.
pub(crate) fn join_plain_words(cmd: &str) -> String {
    let mut out = String::with_capacity(cmd.len());
    for w in cmd.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// [`analyze`] without the plain-command fast paths (the two agree on every input).
pub fn analyze_general(cmd: &str) -> Analysis {
    if cmd.len() > MAX_COMMAND {
        // Not parsed at all: no normalization, no components.
        return Analysis {
            opaque: Some(opaque::TOO_LONG.to_string()),
            ..Analysis::default()
        };
    }
    let norm = normalize::normalize_general(cmd);
    let normalized = if norm.text.is_empty() {
        cmd.to_string()
    } else {
        norm.text.clone()
    };
    let segments = split_compound(&normalized);
    let subs = subcommands::extract(cmd);
    let composite = segments.len() > 1 || !subs.commands.is_empty();
    let mut components: Vec<String> = Vec::new();
    let mut truncated = norm.truncated || subs.truncated;
    if composite {
        let mut seen: HashSet<String> = HashSet::new();
        let mut add = |c: &str| {
            let c = c.trim();
            if !c.is_empty() && seen.insert(c.to_string()) {
                components.push(c.to_string());
            }
        };
        for s in &segments {
            add(s);
        }
        for sub in &subs.commands {
            for s in split_compound(sub) {
                let n = normalize::normalize_general(s);
                truncated |= n.truncated;
                add(&n.text);
            }
        }
    } else {
        components.push(normalized.trim().to_string());
    }
    let opaque = if truncated {
        Some(opaque::TOO_DEEP)
    } else if components.len() > MAX_COMPONENTS {
        Some(opaque::TOO_MANY_COMPONENTS)
    } else if norm.unterminated_quote || tokenize::has_unterminated_quote(cmd) {
        Some(opaque::UNTERMINATED_QUOTE)
    } else if subs.unclosed {
        Some(opaque::UNCLOSED_SUBSTITUTION)
    } else {
        None
    };
    Analysis {
        normalized,
        components,
        composite,
        opaque: opaque.map(str::to_string),
    }
}

/// Remove leading lines that are blank or start with `#` (spec §4.9). If only such
/// lines remain, the result is empty.
pub fn strip_leading_comment_lines(cmd: &str) -> &str {
    let mut rest = cmd;
    loop {
        let (line, after) = match rest.split_once('\n') {
            Some((l, a)) => (l, Some(a)),
            None => (rest, None),
        };
        let t = line.trim();
        if !(t.is_empty() || t.starts_with('#')) {
            return rest;
        }
        match after {
            Some(a) => rest = a,
            None => return "",
        }
    }
}

#[cfg(test)]
mod tests;
