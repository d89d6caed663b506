//! Shell-aware normalization (spec §4): sanitize, split, tokenize, unwrap wrappers,
//! extract subcommands, and compute the executed components of a command.
//!
//! OWNER: helper "shell" — this file holds the agreed public API; bodies are filled in.

/// The result of analysing one command string (spec §4.6).
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

/// Normalize a command (spec §4.4, segments joined with ` && `).
pub fn normalize(cmd: &str) -> String {
    cmd.trim().to_string()
}

/// Analyse a command into its executed components (spec §4.6).
pub fn analyze(cmd: &str) -> Analysis {
    let normalized = normalize(cmd);
    Analysis {
        components: vec![normalized.clone()],
        normalized,
        composite: false,
        opaque: None,
    }
}

/// Remove leading lines that are blank or start with `#` (spec §4.9).
pub fn strip_leading_comment_lines(cmd: &str) -> &str {
    cmd
}
