//! [`CommandView`]: one command prepared for matching, shared by every rule of a call.
//! The analysis, the restrictive candidates and the assigned variable names are each
//! computed at most once, on first use.

use std::cell::OnceCell;
use std::collections::HashMap;

use super::grams::Bigrams;
use super::prefilter::{Prefilter, SlotRange, Slots};
use crate::shell::aliases::{self, Canonical};
use crate::shell::{self, opaque, Analysis};

/// One restrictive candidate with every reading a deny/ask rule checks (§4.7).
#[derive(Debug)]
pub(crate) struct Candidate {
    /// The candidate text.
    pub text: String,
    /// `NormalizeCommand(text)`, when it differs and is not empty.
    pub normalized: Option<String>,
    /// Canonical `rm -rf` aliases.
    pub canonical: Canonical,
    /// Basename / busybox / here-string aliases.
    pub semantic: Vec<String>,
    /// cmd.exe and PowerShell re-parses, lower-cased.
    pub foreign: Vec<String>,
}

impl Candidate {
    /// Build every reading of `text`, given its normalization `norm`.
    fn new(text: String, norm: &str) -> Candidate {
        let semantic = if text.contains('#') {
            aliases::semantic_aliases(&text)
        } else {
            aliases::semantic_aliases_normalized(&text, norm)
        };
        let normalized = (!norm.is_empty() && norm != text).then(|| norm.to_string());
        let mut canonical = aliases::canonical_aliases(&text);
        // Here-string bodies get their own canonical forms (`bash <<< 'rm -fr /'`).
        for s in &semantic {
            for a in aliases::canonical_aliases(s).aliases {
                if !canonical.aliases.contains(&a) {
                    canonical.aliases.push(a);
                }
            }
        }
        let foreign = aliases::foreign_reparses(&text);
        Candidate {
            text,
            normalized,
            canonical,
            semantic,
            foreign,
        }
    }
}

impl Candidate {
    /// Every text a `command_matches` glob is tried on for this candidate.
    fn readings(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.text.as_str())
            .chain(self.canonical.aliases.iter().map(String::as_str))
            .chain(self.normalized.as_deref())
            .chain(self.semantic.iter().map(String::as_str))
            .chain(self.foreign.iter().map(String::as_str))
    }
}

/// The unit the component-scoped exclusions look at: one executed component (or the
/// whole command when it is not composite) and its candidates.
#[derive(Debug)]
pub(crate) struct Unit {
    /// The component text.
    pub text: String,
    /// Lower-cased text, for `command_contains`.
    pub lower: String,
    /// Lower-cased normalization, when the text has a quote or backslash.
    pub norm_lower: Option<String>,
    /// Indices into [`Restrictive::candidates`].
    pub candidates: Vec<usize>,
}

/// Candidate count from which [`Restrictive::add`] switches to a hash index.
const INDEX_FROM: usize = 32;

/// Everything restrictive rules need, built once per call.
#[derive(Debug)]
pub(crate) struct Restrictive {
    /// The raw command, lower-cased.
    pub raw_lower: String,
    /// The normalized command, lower-cased, when the raw one has a quote or backslash.
    pub norm_lower: Option<String>,
    /// Unique candidates: the raw command, then each component, each followed by its
    /// body variants.
    pub candidates: Vec<Candidate>,
    /// Exclusion units.
    pub units: Vec<Unit>,
    /// Byte pairs of `raw_lower` and `norm_lower`.
    pub grams: Bigrams,
    /// Candidate text → index, while building.
    index: HashMap<String, usize>,
    /// `(text, normalize(text))` pairs computed while building.
    norms: Vec<(String, String)>,
}

/// `shell::normalize(text)`, computed once per text while building.
fn memo_normalize(norms: &mut Vec<(String, String)>, text: &str) -> String {
    if let Some((_, n)) = norms.iter().find(|(t, _)| t == text) {
        return n.clone();
    }
    let n = shell::normalize(text);
    norms.push((text.to_string(), n.clone()));
    n
}

/// The lower-cased text, and its lower-cased normalization (`norm` computes it) when
/// the text has a quote or backslash.
fn lower_pair(text: &str, norm: impl FnOnce() -> String) -> (String, Option<String>) {
    let norm = text
        .contains(['\'', '"', '\\'])
        .then(|| norm().to_lowercase());
    (text.to_lowercase(), norm)
}

impl Restrictive {
    fn build(raw: &str, analysis: &Analysis) -> Restrictive {
        // Callers check `fails_closed` first; building stays cheap regardless.
        let fail_closed = matches!(
            analysis.opaque.as_deref(),
            Some(opaque::TOO_LONG | opaque::TOO_DEEP | opaque::TOO_MANY_COMPONENTS)
        );
        // `normalize(raw)`, when the analysis tells it unambiguously (it keeps the raw
        // command when the normalization is empty).
        let mut norms = Vec::new();
        if analysis.normalized != raw {
            norms.push((raw.to_string(), analysis.normalized.clone()));
        }
        let (raw_lower, norm_lower) = if raw.len() > shell::MAX_COMMAND {
            (String::new(), None)
        } else {
            lower_pair(raw, || memo_normalize(&mut norms, raw))
        };
        let mut r = Restrictive {
            raw_lower,
            norm_lower,
            candidates: Vec::new(),
            units: Vec::new(),
            grams: Bigrams::default(),
            index: HashMap::new(),
            norms,
        };
        r.grams = Bigrams::of(std::iter::once(r.raw_lower.as_str()).chain(r.norm_lower.as_deref()));
        if fail_closed {
            return r;
        }
        // The analysis already normalized the raw command (when normalization is
        // empty it holds the raw command, which yields the same candidate).
        let raw_group = r.add_with_variants(raw, Some(&analysis.normalized));
        let mut groups = Vec::with_capacity(analysis.components.len());
        for c in &analysis.components {
            // A component equal to the raw command has the same candidates and
            // variants (both are functions of the text alone).
            if c == raw {
                groups.push(raw_group.clone());
            } else {
                groups.push(r.add_with_variants(c, None));
            }
        }
        if analysis.composite {
            for (c, group) in analysis.components.iter().zip(groups) {
                let (lower, norm_lower) = lower_pair(c, || memo_normalize(&mut r.norms, c));
                r.units.push(Unit {
                    text: c.clone(),
                    lower,
                    norm_lower,
                    candidates: group,
                });
            }
        } else {
            let mut all = raw_group;
            for i in groups.into_iter().flatten() {
                if !all.contains(&i) {
                    all.push(i);
                }
            }
            r.units.push(Unit {
                text: raw.to_string(),
                lower: r.raw_lower.clone(),
                norm_lower: r.norm_lower.clone(),
                candidates: all,
            });
        }
        r
    }

    /// Add `text` and its body variants; returns their indices.
    fn add_with_variants(&mut self, text: &str, normalized: Option<&str>) -> Vec<usize> {
        let mut idx = vec![self.add(text, normalized)];
        for v in aliases::body_variants(text) {
            let i = self.add(&v, None);
            if !idx.contains(&i) {
                idx.push(i);
            }
        }
        idx
    }

    fn add(&mut self, text: &str, normalized: Option<&str>) -> usize {
        // Few candidates: a scan beats hashing; many: keep an index.
        if self.candidates.len() < INDEX_FROM {
            if let Some(i) = self.candidates.iter().position(|c| c.text == text) {
                return i;
            }
        } else {
            if self.index.is_empty() {
                for (i, c) in self.candidates.iter().enumerate() {
                    self.index.insert(c.text.clone(), i);
                }
            }
            if let Some(&i) = self.index.get(text) {
                return i;
            }
            self.index.insert(text.to_string(), self.candidates.len());
        }
        let computed;
        let norm = match normalized {
            Some(n) => n,
            None => {
                computed = memo_normalize(&mut self.norms, text);
                computed.as_str()
            }
        };
        let i = self.candidates.len();
        self.candidates.push(Candidate::new(text.to_string(), norm));
        i
    }
}

/// A command prepared for matching; analysis is computed at most once per call and
/// shared by every rule.
#[derive(Debug)]
pub struct CommandView<'a> {
    raw: &'a str,
    analysis: OnceCell<Analysis>,
    restrictive: OnceCell<Restrictive>,
    env_names: OnceCell<Vec<String>>,
    prefilter: Option<&'a Prefilter>,
    granting_slots: OnceCell<Slots>,
    restrictive_slots: OnceCell<Slots>,
}

impl<'a> CommandView<'a> {
    /// Prepare a raw command string. Nothing is computed until a rule needs it.
    pub fn new(raw: &'a str) -> Self {
        CommandView {
            raw,
            analysis: OnceCell::new(),
            restrictive: OnceCell::new(),
            env_names: OnceCell::new(),
            prefilter: None,
            granting_slots: OnceCell::new(),
            restrictive_slots: OnceCell::new(),
        }
    }
    /// Prepare a raw command string for the rules of the engine that built
    /// `prefilter`: rules that cannot match any reading of it are then skipped.
    pub fn with_prefilter(raw: &'a str, prefilter: &'a Prefilter) -> Self {
        CommandView {
            prefilter: Some(prefilter),
            ..CommandView::new(raw)
        }
    }
    pub(crate) fn has_prefilter(&self) -> bool {
        self.prefilter.is_some()
    }
    /// Whether some rule of `range` (rules whose command keys each have a slot, of
    /// either kind) may match this command. False means none can: every literal
    /// they need is absent from every reading (the restrictive readings include the
    /// granting ones), the parser did not give up, and there are components.
    pub fn may_match_any(&self, range: &SlotRange) -> bool {
        if self.prefilter.is_none() || self.fails_closed() || self.analysis().components.is_empty()
        {
            return true;
        }
        self.restrictive_slots().any_in(range)
    }
    /// Slots of the granting rules that may match: the raw command, its
    /// normalization and its components (where `command_contains` looks too).
    pub(crate) fn granting_slots(&self) -> &Slots {
        // The restrictive readings include all of these: reuse them when scanned.
        if let Some(s) = self.restrictive_slots.get() {
            return s;
        }
        self.granting_slots.get_or_init(|| {
            let a = self.analysis();
            self.prefilter.map_or_else(Slots::default, |p| {
                p.scan(
                    [self.raw, a.normalized.as_str()]
                        .into_iter()
                        .chain(a.components.iter().map(String::as_str)),
                )
            })
        })
    }
    /// Slots of the restrictive rules that may match: every reading of every
    /// candidate, and the lower-cased texts `command_contains` looks at (a
    /// canonical-alias overflow lets every rule match).
    pub(crate) fn restrictive_slots(&self) -> &Slots {
        self.restrictive_slots.get_or_init(|| {
            let r = self.restrictive();
            match self.prefilter {
                Some(p) if !r.candidates.iter().any(|c| c.canonical.overflow) => {
                    let lowered = [Some(r.raw_lower.as_str()), r.norm_lower.as_deref()]
                        .into_iter()
                        .chain(
                            r.units
                                .iter()
                                .flat_map(|u| [Some(u.lower.as_str()), u.norm_lower.as_deref()]),
                        )
                        .flatten();
                    p.scan(
                        r.candidates
                            .iter()
                            .flat_map(Candidate::readings)
                            .chain(lowered),
                    )
                }
                _ => Slots::default(),
            }
        })
    }
    /// The raw command.
    pub fn raw(&self) -> &'a str {
        self.raw
    }
    /// The analysis (§4.6), computed on first use.
    pub fn analysis(&self) -> &Analysis {
        self.analysis.get_or_init(|| shell::analyze(self.raw))
    }
    /// The normalized command.
    pub fn normalized(&self) -> &str {
        &self.analysis().normalized
    }
    /// The executed components (normalized).
    pub fn components(&self) -> Vec<String> {
        self.analysis().components.clone()
    }
    /// Whether the command has several components or subcommands.
    pub fn is_composite(&self) -> bool {
        self.analysis().composite
    }
    /// Why the command is opaque to the parser, if it is.
    pub fn opaque(&self) -> Option<String> {
        self.analysis().opaque.clone()
    }
    /// The names of the environment variables the command assigns (§4.8).
    pub fn env_names(&self) -> &[String] {
        self.env_names.get_or_init(|| {
            if self.raw.len() > shell::MAX_COMMAND {
                Vec::new()
            } else {
                shell::env_assignment_names(self.raw)
            }
        })
    }
    /// Whether the parser gave up (too long, too deep, too many components), so that
    /// restrictive rules must match without looking further.
    pub fn fails_closed(&self) -> bool {
        matches!(
            self.analysis().opaque.as_deref(),
            Some(opaque::TOO_LONG | opaque::TOO_DEEP | opaque::TOO_MANY_COMPONENTS)
        )
    }
    pub(crate) fn restrictive(&self) -> &Restrictive {
        self.restrictive
            .get_or_init(|| Restrictive::build(self.raw, self.analysis()))
    }
}
