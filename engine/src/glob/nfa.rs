//! The compiled wildcard automaton shared by every glob flavour.
//!
//! A pattern becomes a list of tokens; matching runs a Thompson-style simulation over
//! token positions held in a fixed-size bit set on the stack, so a match never
//! allocates and never backtracks: it costs O(input × active states).

/// One pattern token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A literal code point.
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run without `/`.
    Star,
    /// `**`: any run, `/` included.
    DoubleStar,
    /// `[...]`: index into the class table.
    Class(usize),
}

/// A character class such as `[a-z_]` or `[^/]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

/// Which wildcard dialect to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// The `**` automaton (§3.1 NFA): `**` crosses `/`, classes never match `/`.
    DoubleStar,
    /// Go `filepath.Match`: no `**`, classes may match `/`, strict class syntax.
    GoMatch,
}

/// A compiled wildcard pattern, anchored at both ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Nfa {
    toks: Vec<Tok>,
    classes: Vec<Class>,
    /// Positions of `*`/`**` tokens, ascending (their epsilon edges).
    stars: Vec<usize>,
    /// Start state of the `**/` retry: 2 (past `**` and `/`) when the pattern starts
    /// with `**/`.
    retry_from: Option<usize>,
    class_matches_slash: bool,
}

/// Why a pattern does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

impl Nfa {
    /// Compile `pattern` (already with `\` turned into `/`).
    pub(crate) fn compile(pattern: &str, flavor: Flavor) -> Result<Nfa, Malformed> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut toks = Vec::with_capacity(chars.len());
        let mut classes = Vec::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            match c {
                '*' if flavor == Flavor::DoubleStar && chars.get(i + 1) == Some(&'*') => {
                    toks.push(Tok::DoubleStar);
                    i += 2;
                }
                '*' => {
                    toks.push(Tok::Star);
                    i += 1;
                }
                '?' => {
                    toks.push(Tok::One);
                    i += 1;
                }
                '[' => {
                    let (class, next) = parse_class(&chars, i + 1, flavor)?;
                    toks.push(Tok::Class(classes.len()));
                    classes.push(class);
                    i = next;
                }
                _ => {
                    toks.push(Tok::Lit(c));
                    i += 1;
                }
            }
        }
        let stars = toks
            .iter()
            .enumerate()
            .filter(|(_, t)| matches!(t, Tok::Star | Tok::DoubleStar))
            .map(|(i, _)| i)
            .collect();
        let retry_from = (flavor == Flavor::DoubleStar
            && toks.first() == Some(&Tok::DoubleStar)
            && toks.get(1) == Some(&Tok::Lit('/')))
        .then_some(2);
        Ok(Nfa {
            toks,
            classes,
            stars,
            retry_from,
            class_matches_slash: flavor == Flavor::GoMatch,
        })
    }

    /// The longest run of literal characters that every match contains: runs before
    /// the start of the `**/` retry are left out, since the retry skips them.
    pub(crate) fn longest_literal(&self) -> Option<String> {
        let from = self.retry_from.unwrap_or(0);
        let mut best = String::new();
        let mut cur = String::new();
        for tok in self.toks.iter().skip(from) {
            match tok {
                Tok::Lit(c) => cur.push(*c),
                _ => {
                    if cur.len() > best.len() {
                        best = std::mem::take(&mut cur);
                    }
                    cur.clear();
                }
            }
        }
        if cur.len() > best.len() {
            best = cur;
        }
        (!best.is_empty()).then_some(best)
    }

    /// Match an input given as code points. `input` is iterated at most twice.
    pub(crate) fn is_match<I>(&self, input: I) -> bool
    where
        I: Iterator<Item = char> + Clone,
    {
        if self.run(input.clone(), 0) {
            return true;
        }
        match self.retry_from {
            Some(start) => self.run(input, start),
            None => false,
        }
    }

    fn run<I: Iterator<Item = char>>(&self, input: I, start: usize) -> bool {
        match (self.toks.len() + 1).div_ceil(64) {
            1 => self.simulate::<1, I>(input, start),
            2 => self.simulate::<2, I>(input, start),
            3..=4 => self.simulate::<4, I>(input, start),
            5..=16 => self.simulate::<16, I>(input, start),
            17..=130 => self.simulate::<130, I>(input, start),
            // Patterns are capped at 8192 bytes before they get here.
            _ => false,
        }
    }

    fn simulate<const W: usize, I: Iterator<Item = char>>(&self, input: I, start: usize) -> bool {
        let m = self.toks.len();
        let mut cur = Bits::<W>::new();
        cur.set(start);
        self.close(&mut cur);
        for c in input {
            let mut next = Bits::<W>::new();
            let mut any = false;
            for i in cur.iter() {
                let Some(tok) = self.toks.get(i) else {
                    continue; // the accepting state has no edges
                };
                let target = match *tok {
                    Tok::Lit(l) => (l == c).then_some(i + 1),
                    Tok::One => (c != '/').then_some(i + 1),
                    Tok::Class(k) => self
                        .classes
                        .get(k)
                        .filter(|cl| (self.class_matches_slash || c != '/') && cl.contains(c))
                        .map(|_| i + 1),
                    Tok::Star => (c != '/').then_some(i),
                    Tok::DoubleStar => Some(i),
                };
                if let Some(t) = target {
                    next.set(t);
                    any = true;
                }
            }
            if !any {
                return false;
            }
            self.close(&mut next);
            cur = next;
        }
        cur.get(m)
    }

    /// Follow the epsilon edges: a star may match nothing.
    fn close<const W: usize>(&self, bits: &mut Bits<W>) {
        for &s in &self.stars {
            if bits.get(s) {
                bits.set(s + 1);
            }
        }
    }
}

/// Parse a class body starting after `[`; returns the class and the index after `]`.
fn parse_class(chars: &[char], mut i: usize, flavor: Flavor) -> Result<(Class, usize), Malformed> {
    let mut negated = false;
    if chars.get(i) == Some(&'^') {
        negated = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        let c = *chars.get(i).ok_or(Malformed)?;
        if c == ']' {
            if ranges.is_empty() {
                return Err(Malformed);
            }
            return Ok((Class { negated, ranges }, i + 1));
        }
        if flavor == Flavor::GoMatch && c == '-' {
            return Err(Malformed);
        }
        let lo = c;
        i += 1;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            match chars.get(i + 1) {
                Some(&h) if h != ']' => {
                    hi = h;
                    i += 2;
                }
                Some(_) if flavor == Flavor::DoubleStar => {} // `-` before `]` is literal
                _ => return Err(Malformed),
            }
        }
        ranges.push((lo, hi));
    }
}

/// A fixed-size bit set of automaton states.
#[derive(Clone, Copy)]
struct Bits<const W: usize>([u64; W]);

impl<const W: usize> Bits<W> {
    fn new() -> Self {
        Bits([0; W])
    }
    fn set(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(wi, &w)| {
            let mut rest = w;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let b = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(wi * 64 + b)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nfa(p: &str) -> Nfa {
        Nfa::compile(p, Flavor::DoubleStar).unwrap()
    }

    #[test]
    fn double_star_crosses_slash_single_star_does_not() {
        assert!(nfa("/etc/**").is_match("/etc/a/b".chars()));
        assert!(!nfa("/etc/*").is_match("/etc/a/b".chars()));
        assert!(nfa("/etc/*").is_match("/etc/a".chars()));
    }

    #[test]
    fn triple_star_is_double_then_single() {
        assert!(nfa("a***b").is_match("a/x/yb".chars()));
    }

    #[test]
    fn question_mark_and_class_never_match_slash() {
        assert!(!nfa("a?b").is_match("a/b".chars()));
        assert!(!nfa("a[/]b").is_match("a/b".chars()));
        assert!(nfa("a[x-z]b").is_match("ayb".chars()));
        assert!(nfa("a[^x-z]b").is_match("aab".chars()));
        assert!(!nfa("a[^x-z]b").is_match("ayb".chars()));
    }

    #[test]
    fn empty_or_unclosed_class_is_malformed() {
        assert_eq!(Nfa::compile("a[]b", Flavor::DoubleStar), Err(Malformed));
        assert_eq!(Nfa::compile("a[bc", Flavor::DoubleStar), Err(Malformed));
        assert_eq!(Nfa::compile("[-a]", Flavor::GoMatch), Err(Malformed));
    }

    #[test]
    fn go_match_class_may_match_slash() {
        let n = Nfa::compile("a[/]b", Flavor::GoMatch).unwrap();
        assert!(n.is_match("a/b".chars()));
    }

    #[test]
    fn long_patterns_use_wide_state_sets() {
        let p = format!("{}**", "a".repeat(300));
        let n = Nfa::compile(&p, Flavor::DoubleStar).unwrap();
        assert!(n.is_match(format!("{}/x", "a".repeat(300)).chars()));
        assert!(!n.is_match("a".repeat(299).chars()));
    }
}
