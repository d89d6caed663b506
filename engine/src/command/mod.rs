//! Command conditions (`command_matches`, `command_not_matches`, `command_contains`,
//! `command_env_assignments`) under granting and restrictive semantics (spec §4.6-4.8).
//!
//! - **Granting** (`allow`, `watch`, `webhook`): every executed component must be
//!   covered, or an explicitly composite pattern must match the whole command;
//!   `command_contains` is case-sensitive; any exclusion hit on the raw, normalized or
//!   component text vetoes. An opaque command is never granted.
//! - **Restrictive** (`deny`, `ask`): any conservative reading may match (candidates,
//!   body variants, canonical `rm`/`find` aliases, normalization, semantic aliases,
//!   cmd.exe/PowerShell re-parses); `command_contains` is case-insensitive;
//!   exclusions are scoped to components; an opaque command the parser gave up on
//!   matches (fails closed).
//!
//! `command_matches` and `command_contains` are ORed; `command_env_assignments` is a
//! key of its own, ANDed with them when both are present.

mod grams;
mod prefilter;
mod view;

pub use prefilter::{Prefilter, PrefilterBuilder, SlotRange};
pub use view::CommandView;

use crate::glob::Glob;
use grams::Needle;
use prefilter::Slots;
use view::{Candidate, Restrictive, Unit};

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
    /// `command_contains`, lower-cased once for restrictive rules.
    contains_lower: Vec<String>,
    /// Bigram samples of `contains_lower`.
    contains_grams: Vec<Needle>,
    /// `matches` indexed by required first byte.
    index: FirstByteIndex,
    /// The rule's place in its engine's [`Prefilter`], if it has one.
    slot: Option<prefilter::Slot>,
    /// Per `matches` glob: the prefilter ids of its literal, for [`Glob::is_match`]
    /// and [`Glob::is_match_lowercase`].
    glob_lits: Vec<[Option<u32>; 2]>,
    /// The prefilter `glob_lits` belong to (0: none).
    lits_of: u64,
}

/// Pattern indices grouped by the first byte a match needs, so a candidate is only
/// tried against the patterns that can match it.
#[derive(Debug, Clone, Default)]
struct FirstByteIndex {
    /// Patterns that can start with any byte.
    any: Vec<usize>,
    /// `(byte, pattern)` pairs sorted by byte.
    by_byte: Vec<(u8, usize)>,
}

impl FirstByteIndex {
    fn new(globs: &[Glob]) -> FirstByteIndex {
        let mut idx = FirstByteIndex::default();
        for (i, g) in globs.iter().enumerate() {
            match g.first_byte() {
                Some(b) => idx.by_byte.push((b, i)),
                None => idx.any.push(i),
            }
        }
        idx.by_byte.sort_unstable();
        idx
    }

    /// Indices of the patterns that may match `text`.
    fn candidates<'s>(&'s self, text: &str) -> impl Iterator<Item = usize> + 's {
        let first = text
            .as_bytes()
            .first()
            .map(|&b| if b == b'\\' { b'/' } else { b });
        let range = match first {
            Some(b) => {
                let lo = self.by_byte.partition_point(|&(x, _)| x < b);
                let hi = self.by_byte.partition_point(|&(x, _)| x <= b);
                self.by_byte.get(lo..hi).unwrap_or(&[])
            }
            None => &[],
        };
        self.any
            .iter()
            .copied()
            .chain(range.iter().map(|&(_, i)| i))
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
        let g = |v: &[String]| v.iter().map(|p| Glob::new(p)).collect::<Vec<_>>();
        let matches: Vec<Glob> = g(matches);
        CommandConditions {
            index: FirstByteIndex::new(&matches),
            matches,
            not_matches: g(not_matches),
            contains: contains.to_vec(),
            env_assignments: g(env_assignments),
            contains_lower: contains.iter().map(|s| s.to_lowercase()).collect(),
            contains_grams: contains
                .iter()
                .map(|s| Needle::new(&s.to_lowercase()))
                .collect(),
            slot: None,
            glob_lits: Vec::new(),
            lits_of: 0,
        }
    }

    /// Check these keys against a command. `restrictive` is true for `deny`/`ask` rules.
    pub fn evaluate(&self, view: &CommandView<'_>, restrictive: bool) -> CommandOutcome {
        let has_command = !self.matches.is_empty() || !self.contains.is_empty();
        let has_env = !self.env_assignments.is_empty();
        if !has_command && !has_env {
            return CommandOutcome::NotApplicable;
        }
        if view.raw().trim().is_empty() {
            return CommandOutcome::NoMatch;
        }
        if restrictive && view.fails_closed() {
            // The parser gave up bounding its work: every reading is possible.
            return CommandOutcome::Match(excerpt(view.raw()));
        }
        let command = if !has_command {
            None
        } else if !self.may_match(view, restrictive) {
            Some(CommandOutcome::NoMatch)
        } else if restrictive {
            Some(self.restrictive(view))
        } else {
            Some(self.granting(view))
        };
        if matches!(command, Some(CommandOutcome::NoMatch)) {
            return CommandOutcome::NoMatch;
        }
        let env = has_env.then(|| self.env(view));
        match (command, env) {
            (_, Some(CommandOutcome::NoMatch)) => CommandOutcome::NoMatch,
            (Some(m), _) => m,
            (None, Some(m)) => m,
            (None, None) => CommandOutcome::NotApplicable,
        }
    }

    /// The prefilter's verdict: false only when no glob of this rule can match any
    /// reading the rule would look at (and nothing else could make it match).
    fn may_match(&self, view: &CommandView<'_>, restrictive: bool) -> bool {
        if self.slot.is_none() || !view.has_prefilter() {
            return true;
        }
        if restrictive {
            view.restrictive_slots().may_match(self.slot)
        } else {
            // With no component, "every component is covered" holds vacuously.
            view.analysis().components.is_empty() || view.granting_slots().may_match(self.slot)
        }
    }

    fn excluded_by(&self, text: &str) -> bool {
        self.not_matches.iter().any(|g| g.is_match(text))
    }

    /// §4.8: some assigned name matches; exclusions on raw or normalized can veto.
    fn env(&self, view: &CommandView<'_>) -> CommandOutcome {
        let hit = view
            .env_names()
            .iter()
            .find(|n| self.env_assignments.iter().any(|g| g.is_match(n)));
        match hit {
            Some(name) if !self.excluded_by(view.raw()) && !self.excluded_by(view.normalized()) => {
                CommandOutcome::Match(name.clone())
            }
            _ => CommandOutcome::NoMatch,
        }
    }

    /// §4.6: granting rules.
    fn granting(&self, view: &CommandView<'_>) -> CommandOutcome {
        let a = view.analysis();
        if a.opaque.is_some() {
            return CommandOutcome::NoMatch;
        }
        let explicit = a.composite
            && self
                .matches
                .iter()
                .any(|g| g.is_composite() && (g.is_match(view.raw()) || g.is_match(&a.normalized)));
        let present = view.has_prefilter().then(|| view.granting_slots());
        let covered = |c: &String| {
            self.any_match(c, present)
                || self
                    .contains
                    .iter()
                    .any(|s| !s.is_empty() && c.contains(s.as_str()))
        };
        if !explicit && !a.components.iter().all(covered) {
            return CommandOutcome::NoMatch;
        }
        if self.excluded_by(view.raw())
            || self.excluded_by(&a.normalized)
            || a.components.iter().any(|c| self.excluded_by(c))
        {
            return CommandOutcome::NoMatch;
        }
        let matched = match a.components.as_slice() {
            [only] if !explicit => only.clone(),
            _ => a.normalized.clone(),
        };
        CommandOutcome::Match(matched)
    }

    /// §4.7: restrictive rules.
    fn restrictive(&self, view: &CommandView<'_>) -> CommandOutcome {
        let r = view.restrictive();
        let present = view.has_prefilter().then(|| view.restrictive_slots());
        let hit = r
            .candidates
            .iter()
            .find_map(|c| self.match_candidate(c, present))
            .or_else(|| {
                let possible = self.contains_grams.iter().any(|n| r.grams.may_contain(n));
                (possible && self.contains_hit(&r.raw_lower, r.norm_lower.as_deref()))
                    .then_some(view.raw())
            });
        let Some(hit) = hit else {
            return CommandOutcome::NoMatch;
        };
        if self.not_matches.is_empty() {
            return CommandOutcome::Match(hit.to_string());
        }
        self.scoped_exclusions(r, hit, present)
    }

    /// `command_matches` against every reading of one candidate; the text that matched.
    fn match_candidate<'c>(&self, c: &'c Candidate, present: Option<&Slots>) -> Option<&'c str> {
        if self.matches.is_empty() {
            return None;
        }
        let any = |s: &str| self.any_match(s, present);
        if any(&c.text) {
            return Some(&c.text);
        }
        if c.canonical.overflow {
            return Some(&c.text);
        }
        if let Some(a) = c.canonical.aliases.iter().find(|a| any(a)) {
            return Some(a);
        }
        if let Some(n) = c.normalized.as_deref().filter(|n| any(n)) {
            return Some(n);
        }
        if let Some(a) = c.semantic.iter().find(|a| any(a)) {
            return Some(a);
        }
        c.foreign
            .iter()
            .find(|f| {
                self.matches
                    .iter()
                    .enumerate()
                    .any(|(i, g)| self.may_contain(present, i, 1) && g.is_match_lowercase(f))
            })
            .map(String::as_str)
    }

    /// Whether glob `i` (`form` 0: as written, 1: lower-cased) may match one of the
    /// texts the prefilter scanned.
    fn may_contain(&self, present: Option<&Slots>, i: usize, form: usize) -> bool {
        present.is_none_or(|p| {
            let lit = self
                .glob_lits
                .get(i)
                .and_then(|l| l.get(form).copied().flatten());
            p.may_contain(self.lits_of, lit)
        })
    }

    /// Whether some `command_matches` pattern matches `s` (indexed by first byte).
    fn any_match(&self, s: &str, present: Option<&Slots>) -> bool {
        self.index.candidates(s).any(|i| {
            self.may_contain(present, i, 0) && self.matches.get(i).is_some_and(|g| g.is_match(s))
        })
    }

    /// Case-insensitive `command_contains`, retried on the normalized form.
    fn contains_hit(&self, lower: &str, norm_lower: Option<&str>) -> bool {
        let hit = |hay: &str| self.contains_lower.iter().any(|s| hay.contains(s.as_str()));
        hit(lower) || norm_lower.is_some_and(hit)
    }

    /// Whether an exclusion matches one of the unit's candidates or normalizations.
    fn unit_excluded(&self, r: &Restrictive, unit: &Unit) -> bool {
        unit.candidates
            .iter()
            .filter_map(|&i| r.candidates.get(i))
            .any(|c| {
                self.excluded_by(&c.text)
                    || c.normalized.as_deref().is_some_and(|n| self.excluded_by(n))
            })
    }

    /// Component-scoped exclusions (§4.7): the rule matches if some positive
    /// component is not excluded; with no positive component at all it fails closed.
    fn scoped_exclusions(
        &self,
        r: &Restrictive,
        hit: &str,
        present: Option<&Slots>,
    ) -> CommandOutcome {
        let mut any_positive = false;
        for unit in &r.units {
            // 1. command_contains on the component.
            if self.contains_hit(&unit.lower, unit.norm_lower.as_deref()) {
                any_positive = true;
                if !self.matches.is_empty() || !self.unit_excluded(r, unit) {
                    return CommandOutcome::Match(unit.text.clone());
                }
            }
            if self.matches.is_empty() {
                continue;
            }
            // 2. Canonical aliases, each excluded on its own.
            let mut alias_positive = false;
            for c in unit.candidates.iter().filter_map(|&i| r.candidates.get(i)) {
                if c.canonical.overflow {
                    return CommandOutcome::Match(c.text.clone());
                }
                for a in &c.canonical.aliases {
                    if self.any_match(a, present) {
                        alias_positive = true;
                        if !self.excluded_by(a) {
                            return CommandOutcome::Match(a.clone());
                        }
                    }
                }
            }
            if alias_positive {
                any_positive = true;
                continue;
            }
            // 3. Every other reading of the component.
            let positive = unit
                .candidates
                .iter()
                .filter_map(|&i| r.candidates.get(i))
                .find_map(|c| self.match_candidate(c, present));
            if let Some(m) = positive {
                any_positive = true;
                if !self.unit_excluded(r, unit) {
                    return CommandOutcome::Match(m.to_string());
                }
            }
        }
        if any_positive {
            CommandOutcome::NoMatch
        } else {
            CommandOutcome::Match(hit.to_string())
        }
    }
}

/// At most [`EXCERPT`] bytes of a command, cut on a character boundary, for reporting
/// a fail-closed match without copying a huge input.
fn excerpt(s: &str) -> String {
    if s.len() <= EXCERPT {
        return s.to_string();
    }
    let mut end = EXCERPT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s.get(..end).unwrap_or(""))
}

/// Longest text reported for a fail-closed match.
const EXCERPT: usize = 256;

#[cfg(test)]
mod tests;
