//! Command conditions (`command_matches`, `command_not_matches`, `command_contains`,
//! `command_env_assignments`) under granting and restrictive semantics (spec §4.6-4.8).
//!
//! OWNER: helper "shell" — this file holds the agreed public API; bodies are filled in.

use crate::glob::Glob;

/// The outcome of checking a rule's command keys against a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// The rule has no command keys: nothing to check.
    NotApplicable,
    /// The command keys do not match (or the command is empty).
    NoMatch,
    /// The command keys match; the component (or alias) that matched.
    Match(String),
}

/// The command keys of one rule, compiled.
#[derive(Debug, Clone, Default)]
pub struct CommandConditions {
    /// `command_matches`.
    pub matches: Vec<Glob>,
    /// `command_not_matches`.
    pub not_matches: Vec<Glob>,
    /// `command_contains` as written.
    pub contains: Vec<String>,
    /// `command_env_assignments`.
    pub env_assignments: Vec<Glob>,
}

/// A command prepared for matching; analysis is computed at most once per call and
/// shared by every rule.
#[derive(Debug)]
pub struct CommandView<'a> {
    raw: &'a str,
}

impl<'a> CommandView<'a> {
    /// Prepare a raw command string.
    pub fn new(raw: &'a str) -> Self {
        CommandView { raw }
    }
    /// The raw command.
    pub fn raw(&self) -> &'a str {
        self.raw
    }
    /// The executed components (normalized).
    pub fn components(&self) -> Vec<String> {
        crate::shell::analyze(self.raw).components
    }
    /// Why the command is opaque to the parser, if it is.
    pub fn opaque(&self) -> Option<String> {
        None
    }
}

impl CommandConditions {
    /// Compile from the strings of a policy file.
    pub fn new(
        matches: &[String],
        not_matches: &[String],
        contains: &[String],
        env_assignments: &[String],
    ) -> Self {
        let g = |v: &[String]| v.iter().map(|p| Glob::new(p)).collect();
        CommandConditions {
            matches: g(matches),
            not_matches: g(not_matches),
            contains: contains.to_vec(),
            env_assignments: g(env_assignments),
        }
    }

    /// Check these keys against a command. `restrictive` is true for `deny`/`ask` rules.
    pub fn evaluate(&self, view: &CommandView<'_>, restrictive: bool) -> CommandOutcome {
        let _ = restrictive;
        if self.matches.is_empty() && self.contains.is_empty() && self.env_assignments.is_empty() {
            return CommandOutcome::NotApplicable;
        }
        if view.raw().is_empty() {
            return CommandOutcome::NoMatch;
        }
        match self.matches.iter().find(|g| g.is_match(view.raw())) {
            Some(_) => CommandOutcome::Match(view.raw().to_string()),
            None => CommandOutcome::NoMatch,
        }
    }
}
