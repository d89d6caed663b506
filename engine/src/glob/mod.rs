//! The original Rampart's glob dialect (spec §3), compiled once at load time.
//!
//! Three flavours share one automaton (the private `nfa` module):
//! - [`Glob`] (`MatchGlob`, §3.1) for commands, URLs, scope and tool parameters: `*`
//!   alone matches everything, `**` switches to the anchored automaton, a trailing `*`
//!   is a literal-prefix test, a leading `*` is an ordered unanchored substring search,
//!   anything else is Go's `filepath.Match`;
//! - [`PathGlob`] (§3.2): always the automaton, with the `**/` retry;
//! - [`DomainGlob`] (§3.3): case-folded `filepath.Match`.
//!
//! Every `\` in pattern and input counts as `/`. Inputs over [`MAX_INPUT`] bytes and
//! patterns over the load limits never match. Matching is case-sensitive (Linux host)
//! and never allocates for [`Glob`] and [`PathGlob`].

mod nfa;

use nfa::{Flavor, Nfa};
use thiserror::Error;

/// Longest pattern, and longest input that can match.
pub const MAX_INPUT: usize = 8192;
/// Longest pattern that contains `**`.
pub const MAX_DOUBLE_STAR_PATTERN: usize = 256;
/// Most `**` wildcards in one pattern.
pub const MAX_DOUBLE_STARS: usize = 2;

/// A glob that breaks the load-time limits (spec §1.1).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GlobError {
    /// Longer than 8192 bytes.
    #[error("glob is {0} bytes long; the limit is 8192")]
    TooLong(usize),
    /// A `**` pattern longer than 256 bytes.
    #[error("a glob with `**` is {0} bytes long; the limit is 256")]
    DoubleStarTooLong(usize),
    /// More than two `**`.
    #[error("glob has {0} `**` wildcards; at most 2 are allowed")]
    TooManyDoubleStars(usize),
}

/// Check a pattern against the load-time limits.
pub fn check_limits(pattern: &str) -> Result<(), GlobError> {
    if pattern.len() > MAX_INPUT {
        return Err(GlobError::TooLong(pattern.len()));
    }
    let stars = pattern.matches("**").count();
    if stars > 0 && pattern.len() > MAX_DOUBLE_STAR_PATTERN {
        return Err(GlobError::DoubleStarTooLong(pattern.len()));
    }
    if stars > MAX_DOUBLE_STARS {
        return Err(GlobError::TooManyDoubleStars(stars));
    }
    Ok(())
}

/// The input as the matchers see it: `\` read as `/`.
fn slashed(input: &str) -> impl Iterator<Item = char> + Clone + '_ {
    input.chars().map(|c| if c == '\\' { '/' } else { c })
}

fn same_byte(pattern: u8, input: u8) -> bool {
    pattern == input || (pattern == b'/' && input == b'\\')
}

/// Whether `input` starts with `prefix` (a pattern literal, already slashed).
fn starts_with_slashed(input: &[u8], prefix: &[u8]) -> bool {
    input.len() >= prefix.len() && prefix.iter().zip(input).all(|(&p, &i)| same_byte(p, i))
}

/// Leftmost occurrence of `needle` in `hay` at or after `from`; returns its end.
fn find_slashed(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let last_start = hay.len().checked_sub(needle.len())?;
    (from..=last_start)
        .filter(|&s| hay.get(s).is_some_and(|&b| same_byte(first, b)))
        .find(|&s| {
            hay.get(s..)
                .is_some_and(|rest| starts_with_slashed(rest, needle))
        })
        .map(|s| s + needle.len())
}

/// What every input a glob matches must contain, for prefilters that skip a glob
/// without running it (the text is slashed: an input's `\\` counts as `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// The glob matches nothing at all.
    Nothing,
    /// No literal is required (e.g. `*` or `?[a-z]`).
    Unknown,
    /// Every match contains this (non-empty, slashed) substring.
    Substring(String),
}

impl Requirement {
    fn of(literal: Option<String>) -> Requirement {
        match literal {
            Some(l) if !l.is_empty() => Requirement::Substring(l),
            _ => Requirement::Unknown,
        }
    }
}

/// How a [`Glob`] matches, decided once at compile time.
#[derive(Debug, Clone)]
enum Strategy {
    /// Empty, over-long or malformed: matches nothing.
    Never,
    /// Exactly `*`.
    Everything,
    /// Contains `**`: the anchored automaton.
    DoubleStar(Nfa),
    /// Ends with `*`: literal prefix test, then `rest` on failure.
    Prefix { prefix: String, rest: Box<Strategy> },
    /// Starts with `*`: these pieces, in order, anywhere.
    Pieces(Vec<String>),
    /// Go `filepath.Match`.
    GoMatch(Nfa),
}

impl Strategy {
    fn compile(pattern: &str) -> Strategy {
        if pattern.is_empty() || check_limits(pattern).is_err() {
            return Strategy::Never;
        }
        if pattern == "*" {
            return Strategy::Everything;
        }
        let p = pattern.replace('\\', "/");
        if p.contains("**") {
            return Nfa::compile(&p, Flavor::DoubleStar)
                .map_or(Strategy::Never, Strategy::DoubleStar);
        }
        let tail = Self::compile_tail(&p);
        match p.strip_suffix('*') {
            Some(prefix) => Strategy::Prefix {
                prefix: prefix.to_string(),
                rest: Box::new(tail),
            },
            None => tail,
        }
    }

    /// Steps 4 and 5 of §3.1.
    fn compile_tail(p: &str) -> Strategy {
        if p.starts_with('*') {
            let pieces = p
                .split('*')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            return Strategy::Pieces(pieces);
        }
        Nfa::compile(p, Flavor::GoMatch).map_or(Strategy::Never, Strategy::GoMatch)
    }

    /// The substring every match needs (see [`Requirement`]).
    fn requirement(&self) -> Requirement {
        match self {
            Strategy::Never => Requirement::Nothing,
            Strategy::Everything => Requirement::Unknown,
            Strategy::DoubleStar(nfa) | Strategy::GoMatch(nfa) => {
                Requirement::of(nfa.longest_literal())
            }
            Strategy::Prefix { prefix, rest } => match rest.requirement() {
                // Only the prefix test can match.
                Requirement::Nothing => Requirement::of(Some(prefix.clone())),
                // Both branches contain a literal run of the prefix.
                Requirement::Substring(r) if prefix.contains(r.as_str()) => {
                    Requirement::Substring(r)
                }
                _ => Requirement::Unknown,
            },
            Strategy::Pieces(pieces) => {
                Requirement::of(pieces.iter().max_by_key(|p| p.len()).cloned())
            }
        }
    }

    fn is_match(&self, input: &str) -> bool {
        match self {
            Strategy::Never => false,
            Strategy::Everything => true,
            Strategy::DoubleStar(nfa) | Strategy::GoMatch(nfa) => nfa.is_match(slashed(input)),
            Strategy::Prefix { prefix, rest } => {
                starts_with_slashed(input.as_bytes(), prefix.as_bytes()) || rest.is_match(input)
            }
            Strategy::Pieces(pieces) => {
                let hay = input.as_bytes();
                let mut at = 0;
                pieces
                    .iter()
                    .all(|piece| match find_slashed(hay, piece.as_bytes(), at) {
                        Some(end) => {
                            at = end;
                            true
                        }
                        None => false,
                    })
            }
        }
    }
}

/// A strategy plus the literal first byte every match must start with, which lets
/// most patterns reject an input after one comparison.
#[derive(Debug, Clone)]
struct Compiled {
    first: Option<u8>,
    /// For automaton patterns: a literal (two bytes or more) every match contains,
    /// tested before running the automaton.
    needle: Option<String>,
    strategy: Strategy,
    /// What every match contains.
    required: Requirement,
}

impl Compiled {
    fn new(pattern: &str) -> Compiled {
        let strategy = Strategy::compile(pattern);
        let first = match strategy {
            Strategy::Never | Strategy::Everything | Strategy::Pieces(_) => None,
            _ => pattern
                .bytes()
                .next()
                .map(|b| if b == b'\\' { b'/' } else { b })
                .filter(|b| !matches!(b, b'*' | b'?' | b'[')),
        };
        let required = strategy.requirement();
        // A substring test is far cheaper than the automaton: run it first.
        let needle = match (&strategy, &required) {
            (Strategy::DoubleStar(_) | Strategy::GoMatch(_), Requirement::Substring(l))
                if l.len() >= 2 =>
            {
                Some(l.clone())
            }
            _ => None,
        };
        Compiled {
            first,
            needle,
            required,
            strategy,
        }
    }

    fn is_match(&self, input: &str) -> bool {
        if let Some(f) = self.first {
            match input.as_bytes().first() {
                Some(&b) if same_byte(f, b) => {}
                _ => return false,
            }
        }
        if let Some(n) = &self.needle {
            if find_slashed(input.as_bytes(), n.as_bytes(), 0).is_none() {
                return false;
            }
        }
        self.strategy.is_match(input)
    }
}

/// A compiled command-style glob (`MatchGlob`, spec §3.1): used for commands, URLs,
/// agent/session/tool scope and tool parameters.
#[derive(Debug, Clone)]
pub struct Glob {
    pattern: String,
    compiled: Compiled,
    /// The lower-cased pattern, when lower-casing changes it.
    folded: Option<Box<Compiled>>,
    composite: bool,
}

impl Glob {
    /// Compile a pattern. Invalid patterns compile to a glob that matches nothing.
    pub fn new(pattern: &str) -> Self {
        let lower = pattern.to_lowercase();
        Glob {
            pattern: pattern.to_string(),
            compiled: Compiled::new(pattern),
            folded: (lower != pattern).then(|| Box::new(Compiled::new(&lower))),
            composite: crate::shell::split_compound(pattern).len() > 1,
        }
    }
    /// The source pattern.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
    /// Whether the pattern itself is composite (contains a shell separator), which
    /// lets a granting rule match a whole compound command (spec §4.6).
    pub fn is_composite(&self) -> bool {
        self.composite
    }
    /// Match an input.
    pub fn is_match(&self, input: &str) -> bool {
        input.len() <= MAX_INPUT && self.compiled.is_match(input)
    }
    /// The byte every matching input starts with (`/` also accepts `\`), if the
    /// pattern fixes one; callers may index patterns by it.
    pub fn first_byte(&self) -> Option<u8> {
        self.compiled.first
    }
    /// What every input this glob matches contains (for [`Glob::is_match`]).
    pub fn requirement(&self) -> &Requirement {
        &self.compiled.required
    }
    /// What every input [`Glob::is_match_lowercase`] accepts contains.
    pub fn requirement_lowercase(&self) -> &Requirement {
        &self.folded.as_deref().unwrap_or(&self.compiled).required
    }
    /// Match an already lower-cased input against the lower-cased pattern (the
    /// case-insensitive comparisons of the cmd.exe / PowerShell re-parses).
    pub fn is_match_lowercase(&self, lowered: &str) -> bool {
        lowered.len() <= MAX_INPUT
            && self
                .folded
                .as_deref()
                .unwrap_or(&self.compiled)
                .is_match(lowered)
    }
}

/// A compiled path glob (always the NFA matcher, spec §3.2).
#[derive(Debug, Clone)]
pub struct PathGlob {
    pattern: String,
    nfa: Option<Nfa>,
}

impl PathGlob {
    /// Compile a pattern.
    pub fn new(pattern: &str) -> Self {
        let nfa = if pattern.is_empty() || check_limits(pattern).is_err() {
            None
        } else {
            Nfa::compile(&pattern.replace('\\', "/"), Flavor::DoubleStar).ok()
        };
        PathGlob {
            pattern: pattern.to_string(),
            nfa,
        }
    }
    /// The source pattern.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
    /// Match a path.
    pub fn is_match(&self, path: &str) -> bool {
        path.len() <= MAX_INPUT && self.nfa.as_ref().is_some_and(|n| n.is_match(slashed(path)))
    }
}

/// A compiled domain glob (spec §3.3).
#[derive(Debug, Clone)]
pub struct DomainGlob {
    pattern: String,
    nfa: Option<Nfa>,
}

/// Trim, drop one trailing dot (case folding is left to the caller).
fn domain_form(s: &str) -> &str {
    let t = s.trim();
    t.strip_suffix('.').unwrap_or(t)
}

impl DomainGlob {
    /// Compile a pattern.
    pub fn new(pattern: &str) -> Self {
        let folded = domain_form(pattern).to_lowercase().replace('\\', "/");
        let nfa = if folded.is_empty() || check_limits(pattern).is_err() {
            None
        } else {
            Nfa::compile(&folded, Flavor::GoMatch).ok()
        };
        DomainGlob {
            pattern: pattern.to_string(),
            nfa,
        }
    }
    /// The source pattern.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
    /// Match a domain.
    pub fn is_match(&self, domain: &str) -> bool {
        let d = domain_form(domain);
        d.len() <= MAX_INPUT
            && self
                .nfa
                .as_ref()
                .is_some_and(|n| n.is_match(slashed(d).flat_map(char::to_lowercase)))
    }
}

#[cfg(test)]
mod tests;
