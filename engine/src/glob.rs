//! The original Rampart's glob dialect (spec §3), compiled once at load time.
//!
//! OWNER: helper "shell" — this file holds the agreed public API; bodies are filled in.

use thiserror::Error;

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
    let _ = pattern;
    Ok(())
}

/// A compiled command-style glob (`MatchGlob`, spec §3.1): used for commands, URLs,
/// agent/session/tool scope and tool parameters.
#[derive(Debug, Clone)]
pub struct Glob {
    pattern: String,
}

impl Glob {
    /// Compile a pattern. Invalid patterns compile to a glob that matches nothing.
    pub fn new(pattern: &str) -> Self {
        Glob {
            pattern: pattern.to_string(),
        }
    }
    /// The source pattern.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
    /// Whether the pattern itself is composite (contains a shell separator), which
    /// lets a granting rule match a whole compound command (spec §4.6).
    pub fn is_composite(&self) -> bool {
        false
    }
    /// Match an input.
    pub fn is_match(&self, input: &str) -> bool {
        self.pattern == input
    }
}

/// A compiled path glob (always the NFA matcher, spec §3.2).
#[derive(Debug, Clone)]
pub struct PathGlob {
    pattern: String,
}

impl PathGlob {
    /// Compile a pattern.
    pub fn new(pattern: &str) -> Self {
        PathGlob {
            pattern: pattern.to_string(),
        }
    }
    /// The source pattern.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
    /// Match a path.
    pub fn is_match(&self, path: &str) -> bool {
        self.pattern == path
    }
}

/// A compiled domain glob (spec §3.3).
#[derive(Debug, Clone)]
pub struct DomainGlob {
    pattern: String,
}

impl DomainGlob {
    /// Compile a pattern.
    pub fn new(pattern: &str) -> Self {
        DomainGlob {
            pattern: pattern.to_string(),
        }
    }
    /// The source pattern.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
    /// Match a domain.
    pub fn is_match(&self, domain: &str) -> bool {
        self.pattern == domain
    }
}
