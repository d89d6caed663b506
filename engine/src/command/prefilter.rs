//! One literal prefilter for all the command rules of an engine.
//!
//! At load time every `command_matches` glob yields a literal that each input it
//! matches contains ([`Requirement`]); a rule whose globs all have one gets a *slot*,
//! and one Aho-Corasick automaton holds the literals of every slotted rule. Per call,
//! the automaton runs once over each reading of the command a rule can look at, which
//! gives the set of slots whose rules can possibly match; every other rule is skipped
//! without running a single glob (one bit test), and a policy whose rules all have
//! slots is skipped as a whole when none is set ([`SlotRange`]), so rules that cannot
//! apply cost almost nothing. Inside a rule that can match, a glob whose own literal
//! is absent is skipped too.
//!
//! `command_contains` strings are literals too. Rules with a glob that requires no
//! literal (`*`, `?[a-z]`) or an empty `command_contains` get no slot and are always
//! evaluated.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::{AhoCorasick, AhoCorasickKind};

use crate::glob::{Glob, Requirement};

/// Source of [`Prefilter`] identities, so a rule is only ever filtered with the
/// prefilter it was registered in.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A rule's place in a [`Prefilter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    prefilter: u64,
    index: u32,
}

/// The slots of a run of consecutively registered rules (e.g. all the rules of a
/// policy), to rule them all out at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRange {
    prefilter: u64,
    lo: u32,
    hi: u32,
}

/// Collects the literals of the command rules of one engine. Use
/// [`PrefilterBuilder::new`]: a `Default` builder has no identity, and what it
/// builds filters nothing.
#[derive(Debug, Default)]
pub struct PrefilterBuilder {
    ids: HashMap<String, u32>,
    lit_slots: Vec<Vec<u32>>,
    slots: u32,
    id: u64,
}

impl PrefilterBuilder {
    /// Start an empty prefilter.
    pub fn new() -> PrefilterBuilder {
        PrefilterBuilder {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            ..PrefilterBuilder::default()
        }
    }

    /// Give a rule a slot when every glob it can match with needs a literal; the
    /// rule then remembers the slot, and each of its globs the id of its literal.
    /// Returns whether the rule got a slot.
    pub fn register(&mut self, cc: &mut super::CommandConditions) -> bool {
        cc.slot = None;
        cc.glob_lits = cc
            .matches
            .iter()
            .map(|g| {
                [g.requirement(), g.requirement_lowercase()].map(|r| match r {
                    Requirement::Substring(s) => Some(self.literal(s)),
                    Requirement::Nothing | Requirement::Unknown => None,
                })
            })
            .collect();
        cc.lits_of = self.id;
        let Some(lits) = required_literals(&cc.matches, &cc.contains) else {
            return false;
        };
        let slot = self.slots;
        self.slots += 1;
        for lit in lits {
            let id = self.literal(&lit);
            if let Some(list) = self.lit_slots.get_mut(id as usize) {
                if list.last() != Some(&slot) {
                    list.push(slot);
                }
            }
        }
        cc.slot = Some(Slot {
            prefilter: self.id,
            index: slot,
        });
        true
    }

    /// The slots registered since `from` (a value of [`PrefilterBuilder::mark`]).
    pub fn range_since(&self, from: u32) -> SlotRange {
        SlotRange {
            prefilter: self.id,
            lo: from,
            hi: self.slots,
        }
    }

    /// The next slot to be given, to pass to [`PrefilterBuilder::range_since`].
    pub fn mark(&self) -> u32 {
        self.slots
    }

    /// The id of a literal, added on first use.
    fn literal(&mut self, lit: &str) -> u32 {
        if let Some(&id) = self.ids.get(lit) {
            return id;
        }
        let id = self.lit_slots.len() as u32;
        self.ids.insert(lit.to_string(), id);
        self.lit_slots.push(Vec::new());
        id
    }

    /// Compile the automaton.
    pub fn build(self) -> Prefilter {
        let mut lits: Vec<(u32, String)> = self.ids.into_iter().map(|(l, i)| (i, l)).collect();
        lits.sort_unstable();
        let ac = if lits.is_empty() {
            None
        } else {
            // A DFA is fastest; past its size limits the builder picks another kind.
            // Without an automaton every rule is simply evaluated.
            let build = |kind| {
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .kind(kind)
                    .build(lits.iter().map(|(_, l)| l.as_str()))
                    .ok()
            };
            build(Some(AhoCorasickKind::DFA)).or_else(|| build(None))
        };
        Prefilter {
            ac,
            lit_slots: self.lit_slots,
            slots: self.slots as usize,
            id: self.id,
        }
    }
}

/// The literals one of which every command-key match contains, or `None` when some
/// reading could match without any (then the rule is never skipped). The automaton
/// compares ASCII letters case-insensitively and reads `\` as `/`, so an exact
/// occurrence (globs, granting `command_contains`) or an occurrence in the
/// lower-cased text (restrictive `command_contains`) is always found.
fn required_literals(matches: &[Glob], contains: &[String]) -> Option<Vec<String>> {
    if matches.is_empty() && contains.is_empty() {
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for g in matches {
        for r in [g.requirement(), g.requirement_lowercase()] {
            match r {
                Requirement::Nothing => {}
                Requirement::Unknown => return None,
                Requirement::Substring(s) => add(s.clone()),
            }
        }
    }
    for c in contains {
        if c.is_empty() {
            // Every text contains the empty string.
            return None;
        }
        add(c.replace('\\', "/"));
        add(c.to_lowercase().replace('\\', "/"));
    }
    Some(out)
}

/// The compiled literal automaton of an engine (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Prefilter {
    ac: Option<AhoCorasick>,
    /// Literal id → the slots of the rules that use it.
    lit_slots: Vec<Vec<u32>>,
    slots: usize,
    id: u64,
}

/// The slots whose rules may match a set of texts, and the literals found in them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slots {
    /// The slot bits, then (from `lits_at`) the literal bits: one allocation.
    words: Vec<u64>,
    /// Where the literal bits start in `words`.
    lits_at: usize,
    /// The prefilter that computed them; 0 when nothing was scanned (everything may
    /// match).
    id: u64,
}

impl Slots {
    /// Whether some rule of `range` may match (always true for a range of another
    /// prefilter, or when nothing was scanned).
    pub fn any_in(&self, range: &SlotRange) -> bool {
        if range.prefilter != self.id || self.id == 0 {
            return true;
        }
        (range.lo..range.hi).any(|i| self.slot_bit(i as usize))
    }

    /// Whether a glob whose literal has id `lit` in prefilter `of` may match one of
    /// the scanned texts.
    pub fn may_contain(&self, of: u64, lit: Option<u32>) -> bool {
        match lit {
            Some(l) if of == self.id && self.id != 0 => {
                let l = l as usize;
                self.words
                    .get(self.lits_at + l / 64)
                    .is_some_and(|w| w & (1 << (l % 64)) != 0)
            }
            _ => true,
        }
    }

    /// Whether slot `i` is set.
    fn slot_bit(&self, i: usize) -> bool {
        // Slot words come first and number `lits_at`.
        i / 64 < self.lits_at
            && self
                .words
                .get(i / 64)
                .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Whether the rule with `slot` may match (always true for a rule with no slot in
    /// this prefilter).
    pub fn may_match(&self, slot: Option<Slot>) -> bool {
        match slot {
            Some(s) if s.prefilter == self.id && self.id != 0 => self.slot_bit(s.index as usize),
            _ => true,
        }
    }
}

impl Prefilter {
    /// The slots whose literal occurs in one of `texts` (as a glob sees them: `\`
    /// read as `/`; ASCII case ignored).
    pub(crate) fn scan<'t>(&self, texts: impl IntoIterator<Item = &'t str>) -> Slots {
        let Some(ac) = &self.ac else {
            return Slots::default();
        };
        let lits_at = self.slots.div_ceil(64);
        let mut words = vec![0u64; lits_at + self.lit_slots.len().div_ceil(64)];
        let (bits, seen) = words.split_at_mut(lits_at);
        // Readings often repeat up to ASCII case, which the automaton ignores: the
        // first few texts are remembered on the stack, any more in a vector.
        let mut recent: [&str; 8] = [""; 8];
        let mut more: Vec<&str> = Vec::new();
        let mut done = 0usize;
        for text in texts {
            let dup = |d: &&str| d.eq_ignore_ascii_case(text);
            if recent.iter().take(done).any(dup) || more.iter().any(dup) {
                continue;
            }
            match recent.get_mut(done) {
                Some(slot) => *slot = text,
                None => more.push(text),
            }
            done += 1;
            let slashed;
            let hay = if text.contains('\\') {
                slashed = text.replace('\\', "/");
                slashed.as_str()
            } else {
                text
            };
            for m in ac.find_overlapping_iter(hay) {
                let id = m.pattern().as_usize();
                let Some(word) = seen.get_mut(id / 64) else {
                    continue;
                };
                if *word & (1 << (id % 64)) != 0 {
                    continue;
                }
                *word |= 1 << (id % 64);
                for &s in self.lit_slots.get(id).map_or(&[][..], Vec::as_slice) {
                    let s = s as usize;
                    if let Some(w) = bits.get_mut(s / 64) {
                        *w |= 1 << (s % 64);
                    }
                }
            }
        }
        Slots {
            words,
            lits_at,
            id: self.id,
        }
    }
}
