//! Restrictive aliases (spec §4.7): the extra readings a `deny`/`ask` rule is checked
//! against — POSIX body variants, comment stripping, canonical `rm`/`find` forms,
//! semantic aliases (basename, busybox/toybox, `bash <<<`) and cmd.exe/PowerShell
//! re-parses. None of these is ever used to grant.

use super::executors::{self, is_assignment, Peeled};
use super::normalize::{basename, head_dialect, normalize, normalize_segment_in, redirection};
use super::split::{split_compound, split_dialect};
use super::tokenize::{tokenize, tokenize_words, Dialect, Word};

/// More canonical aliases than this count as a match.
pub const MAX_CANONICAL: usize = 256;

/// Cut `c` at the first unquoted `#` that starts a word.
pub fn strip_comment(c: &str) -> &str {
    let b = c.as_bytes();
    let (mut single, mut double) = (false, false);
    let mut i = 0;
    while let Some(&ch) = b.get(i) {
        match ch {
            b'\\' if !single => i += 1,
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'#' if !single && !double => {
                let word_start = i == 0
                    || matches!(
                        b.get(i - 1),
                        Some(b' ' | b'\t' | b'\n' | b';' | b'&' | b'|')
                    );
                if word_start {
                    return c.get(..i).unwrap_or(c).trim_end();
                }
            }
            _ => {}
        }
        i += 1;
    }
    c
}

const LEADING_WORDS: &[&str] = &["if", "elif", "while", "until", "then", "do", "else", "!"];
const TRAILING_WORDS: &[&str] = &["fi", "done", "esac"];

/// The POSIX "body" variants of a component: compound-command syntax peeled from
/// both ends, and for `case` the text after the first unquoted `)`.
pub fn body_variants(c: &str) -> Vec<String> {
    let s = c.trim();
    // Every leading word, `case`, `(` and `{` starts with one of these bytes, and
    // every trailing word, `)` and `}` ends with one: without either, nothing peels.
    let first = s.as_bytes().first();
    let last = s.as_bytes().last();
    if !matches!(
        first,
        Some(b'(' | b'{' | b'!' | b'i' | b'e' | b'w' | b'u' | b't' | b'd' | b'c')
    ) && !matches!(last, Some(b')' | b'}' | b'i' | b'e' | b'c'))
    {
        return Vec::new();
    }
    // The loops of `body_variants_ungated` peel nothing unless their first step does,
    // and `case` starts the text.
    let leading = s.starts_with(['(', '{'])
        || match s.split_once([' ', '\t']) {
            Some((w, _)) => LEADING_WORDS.contains(&w),
            None => LEADING_WORDS.contains(&s),
        };
    let trailing = s.ends_with([')', '}'])
        || match s.rsplit_once([' ', '\t']) {
            Some((_, w)) => TRAILING_WORDS.contains(&w),
            None => TRAILING_WORDS.contains(&s),
        };
    if !(leading || trailing || c.trim_start().starts_with("case")) {
        return Vec::new();
    }
    body_variants_ungated(c)
}

/// [`body_variants`] without its cheap rejection.
fn body_variants_ungated(c: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut s = c.trim();
    loop {
        if let Some(rest) = s.strip_prefix(['(', '{']) {
            s = rest.trim_start();
            continue;
        }
        match s.split_once([' ', '\t']) {
            Some((w, rest)) if LEADING_WORDS.contains(&w) => s = rest.trim_start(),
            None if LEADING_WORDS.contains(&s) => s = "",
            _ => break,
        }
    }
    loop {
        if let Some(rest) = s.strip_suffix([')', '}']) {
            s = rest.trim_end();
            continue;
        }
        match s.rsplit_once([' ', '\t']) {
            Some((rest, w)) if TRAILING_WORDS.contains(&w) => s = rest.trim_end(),
            None if TRAILING_WORDS.contains(&s) => s = "",
            _ => break,
        }
    }
    if !s.is_empty() && s != c.trim() {
        out.push(s.to_string());
    }
    let t = c.trim_start();
    if t.split([' ', '\t']).next() == Some("case") {
        if let Some(after) = after_unquoted_paren(t) {
            let after = after.trim();
            if !after.is_empty() && !out.iter().any(|o| o == after) {
                out.push(after.to_string());
            }
        }
    }
    out
}

fn after_unquoted_paren(s: &str) -> Option<&str> {
    let (mut single, mut double) = (false, false);
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if !single => {
                chars.next();
            }
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            ')' if !single && !double => return s.get(i + 1..),
            _ => {}
        }
    }
    None
}

/// Go `path.Clean`: lexical `.`/`..`/`//` cleanup.
pub fn clean_path(p: &str) -> String {
    // Already clean: `/`, or parts that are all non-empty and neither `.` nor `..`
    // after an optional leading `/` (no `//`, no trailing `/`).
    let body = p.strip_prefix('/').unwrap_or(p);
    if p == "/"
        || (!body.is_empty() && body.split('/').all(|part| !matches!(part, "" | "." | "..")))
    {
        return p.to_string();
    }
    clean_path_general(p)
}

/// [`clean_path`] without its shortcut for paths that are already clean.
fn clean_path_general(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            _ => parts.push(part),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

/// The operand as it appears in a canonical alias.
fn canonical_operand(o: &str) -> String {
    let cleaned = clean_path(o);
    if o.starts_with('/') || cleaned == "." || cleaned == ".." || cleaned.starts_with("../") {
        cleaned
    } else {
        o.to_string()
    }
}

/// Canonical `rm -rf TARGET` aliases of one candidate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Canonical {
    /// `rm -rf O` for each recursive+forced removal target.
    pub aliases: Vec<String>,
    /// More than [`MAX_CANONICAL`] aliases: treat as a match.
    pub overflow: bool,
}

impl Canonical {
    fn push(&mut self, operand: &str) {
        if self.aliases.len() >= MAX_CANONICAL {
            self.overflow = true;
            return;
        }
        let operand = canonical_operand(operand);
        let mut alias = String::with_capacity("rm -rf ".len() + operand.len());
        alias.push_str("rm -rf ");
        alias.push_str(&operand);
        if !self.aliases.contains(&alias) {
            self.aliases.push(alias);
        }
    }
}

/// Canonical `rm`/`find` aliases of a candidate (per segment, comment stripped).
pub fn canonical_aliases(c: &str) -> Canonical {
    let out = Canonical::default();
    if !(has_rm_find_or_quote(c) && may_name_rm_or_find(c)) {
        return out;
    }
    canonical_aliases_ungated(c, out)
}

/// False only when `text` (with normalization `norm`) has no body variant, no
/// canonical, semantic or foreign reading and no `#`: the cheap gates of
/// [`body_variants`], [`canonical_aliases`], [`semantic_aliases_normalized`] and
/// [`foreign_reparses`] all reject it. The byte tests of the canonical and foreign
/// gates share one pass over `text`.
pub fn may_have_alias(text: &str, norm: &str) -> bool {
    // `may_name_rm_or_find`: the last four bytes outside quotes and backslashes.
    let mut window = 0u32;
    // `wants_foreign_reparse`.
    let (mut quote, mut amp_or_pipe) = (false, false);
    let mut prev = 0u8;
    for &b in text.as_bytes() {
        match b {
            b'#' | b'^' | b'`' => return true,
            b'>' if prev == b'&' => return true,
            b'\'' => quote = true,
            b'&' | b'|' => amp_or_pipe = true,
            _ if !b.is_ascii() => return true,
            _ => {}
        }
        if !matches!(b, b'\'' | b'"' | b'\\') {
            window = (window << 8) | u32::from(b.to_ascii_lowercase());
            if window & 0xffff == u32::from_be_bytes([0, 0, b'r', b'm'])
                || window == u32::from_be_bytes(*b"find")
            {
                return true;
            }
        }
        prev = b;
    }
    (quote && amp_or_pipe)
        || matches!(head_dialect(text), Some(Dialect::Cmd | Dialect::PowerShell))
        || may_have_semantic_aliases(norm)
        || !body_variants(text).is_empty()
}

/// Whether `c` contains `rm` or `find` (ASCII case ignored), a quote or a
/// backslash, in one pass over the bytes.
fn has_rm_find_or_quote(c: &str) -> bool {
    // ASCII case is ignored, as the head is matched lower-cased ("RM" names rm on a
    // case-insensitive file system).
    let b = c.as_bytes();
    b.iter().enumerate().any(|(i, &x)| match x {
        b'\'' | b'"' | b'\\' => true,
        b'm' | b'M' => i > 0 && b.get(i - 1).is_some_and(|p| p.eq_ignore_ascii_case(&b'r')),
        b'd' | b'D' => {
            i > 2
                && b.get(i - 3..i)
                    .is_some_and(|p| p.eq_ignore_ascii_case(b"fin"))
        }
        _ => false,
    })
}

/// [`canonical_aliases`] without its cheap rejections.
fn canonical_aliases_ungated(c: &str, mut out: Canonical) -> Canonical {
    for seg in split_compound(strip_comment(c)) {
        let words = tokenize_words(seg, Dialect::Posix);
        let words = peel_launchers(words);
        let Some(head) = words.first() else { continue };
        match basename(&head.text).to_lowercase().as_str() {
            "rm" => rm_targets(words.get(1..).unwrap_or(&[]), None, &mut out),
            "find" => find_targets(words.get(1..).unwrap_or(&[]), &mut out),
            _ => {}
        }
    }
    out
}

/// Whether `c`, with every quote and backslash removed and ASCII case ignored, has
/// `rm` or `find` (or has a non-ASCII byte). When it has not, no word of it (which
/// is its characters minus some quotes and escapes) can have `rm` or `find` as its
/// lower-cased basename.
fn may_name_rm_or_find(c: &str) -> bool {
    // The last four kept bytes, lower-cased, the newest in the low byte.
    let mut window = 0u32;
    for &b in c.as_bytes() {
        if !b.is_ascii() {
            return true;
        }
        if matches!(b, b'\'' | b'"' | b'\\') {
            continue;
        }
        window = (window << 8) | u32::from(b.to_ascii_lowercase());
        if window & 0xffff == u32::from_be_bytes([0, 0, b'r', b'm'])
            || window == u32::from_be_bytes(*b"find")
        {
            return true;
        }
    }
    false
}

/// Peel assignments, transparent executors (by basename) and busybox/toybox.
fn peel_launchers(words: Vec<Word>) -> Vec<Word> {
    // Nothing to peel when the head is not an assignment or a launcher (the loop
    // below would stop at once).
    match words.first() {
        None => return words,
        Some(h) if !is_assignment(&h.text) => {
            let name = basename(&h.text).to_lowercase();
            if name != "busybox"
                && name != "toybox"
                && !executors::EXECUTORS.contains(&name.as_str())
            {
                return words;
            }
        }
        Some(_) => {}
    }
    peel_launchers_loop(words)
}

/// [`peel_launchers`] without its shortcut.
fn peel_launchers_loop(mut words: Vec<Word>) -> Vec<Word> {
    let mut texts: Vec<String> = words.iter().map(|w| w.text.clone()).collect();
    let mut pos = 0;
    for _ in 0..words.len() + 1 {
        while texts.get(pos).is_some_and(|t| is_assignment(t)) {
            pos += 1;
        }
        let Some(head) = texts.get(pos) else { break };
        let name = basename(head).to_lowercase();
        if (name == "busybox" || name == "toybox") && texts.len() > pos + 1 {
            pos += 1;
            continue;
        }
        if executors::EXECUTORS.contains(&name.as_str()) {
            match executors::peel(&name, texts.get(pos..).unwrap_or(&[])) {
                Some(Peeled::Skip(n)) => {
                    pos += n;
                    continue;
                }
                Some(Peeled::Replace(v)) => {
                    words = v
                        .iter()
                        .map(|text| Word {
                            text: text.clone(),
                            ..Word::default()
                        })
                        .collect();
                    texts = v;
                    pos = 0;
                    continue;
                }
                None => {}
            }
        }
        break;
    }
    words.drain(..pos.min(words.len()));
    words
}

/// `rm` operands when both a recursive and a force flag are present. `target`
/// replaces `{}` (find -exec).
fn rm_targets(args: &[Word], target: Option<&str>, out: &mut Canonical) {
    let (mut recursive, mut force) = (false, false);
    let mut operands: Vec<String> = Vec::new();
    let mut after_dashes = false;
    let mut skip_next = false;
    for w in args {
        let t = w.text.as_str();
        if skip_next {
            skip_next = false;
            continue;
        }
        if !after_dashes && w.bare_redirect {
            if let Some(needs_target) = redirection(t) {
                skip_next = needs_target;
                continue;
            }
        }
        if after_dashes || !t.starts_with('-') || t == "-" {
            let op = match target {
                Some(tg) => clean_path(&t.replace("{}", tg)),
                None => t.to_string(),
            };
            operands.push(op);
            continue;
        }
        if t == "--" {
            after_dashes = true;
        } else if let Some(long) = t.strip_prefix("--") {
            recursive |= long == "recursive";
            force |= long == "force";
        } else {
            recursive |= t.contains(['r', 'R']);
            force |= t.contains('f');
        }
    }
    if recursive && force {
        for o in &operands {
            out.push(o);
        }
    }
}

fn is_expression(t: &str) -> bool {
    t.starts_with('-') || matches!(t, "(" | ")" | "!" | ",")
}

/// `find` targets turned into `rm -rf` aliases by `-delete` or `-exec rm -rf {}`.
fn find_targets(args: &[Word], out: &mut Canonical) {
    let mut i = 0;
    // Leading global options: -H -L -P -D x -Ox.
    while let Some(t) = args.get(i).map(|w| w.text.as_str()) {
        match t {
            "-H" | "-L" | "-P" => i += 1,
            "-D" => i += 2,
            _ if t.starts_with("-O") => i += 1,
            _ => break,
        }
    }
    let mut targets: Vec<&str> = Vec::new();
    while let Some(t) = args.get(i).map(|w| w.text.as_str()) {
        if is_expression(t) {
            break;
        }
        targets.push(t);
        i += 1;
    }
    if targets.is_empty() {
        targets.push(".");
    }
    let expr = args.get(i..).unwrap_or(&[]);
    let mut j = 0;
    while let Some(w) = expr.get(j) {
        match w.text.as_str() {
            "-delete" => {
                for t in &targets {
                    out.push(t);
                }
            }
            "-exec" | "-execdir" | "-ok" | "-okdir" => {
                let start = j + 1;
                let end = expr
                    .get(start..)
                    .and_then(|r| r.iter().position(|w| w.text == ";" || w.text == "+"))
                    .map_or(expr.len(), |p| start + p);
                let cmd = peel_launchers(expr.get(start..end).unwrap_or(&[]).to_vec());
                if cmd
                    .first()
                    .is_some_and(|h| basename(&h.text).eq_ignore_ascii_case("rm"))
                {
                    for t in &targets {
                        rm_targets(cmd.get(1..).unwrap_or(&[]), Some(t), out);
                    }
                }
                j = end;
            }
            _ => {}
        }
        j += 1;
    }
}

/// Semantic aliases (§4.7 d): head replaced by its lower-cased basename, busybox/toybox
/// dropped, and for shells the here-string after `<<<`.
pub fn semantic_aliases(c: &str) -> Vec<String> {
    semantic_aliases_normalized(c, &normalize(strip_comment(c)))
}

/// Whether `norm` has `/`, `\`, `<<<` or (ASCII case ignored) `rm`, `find`,
/// `busybox` or `toybox`: without one, no head yields a semantic alias. One pass.
fn may_have_semantic_alias(norm: &str) -> bool {
    let b = norm.as_bytes();
    // Only the bytes matched below can start a hit; skip the others cheaply.
    b.iter().enumerate().any(|(i, &x)| {
        matches!(
            x,
            b'/' | b'\\' | b'<' | b'r' | b'R' | b'f' | b'F' | b'b' | b'B' | b't' | b'T'
        ) && semantic_alias_at(b, i)
    })
}

/// Whether [`may_have_semantic_alias`] has a hit starting at byte `i` of `b`.
fn semantic_alias_at(b: &[u8], i: usize) -> bool {
    {
        let rest = b.get(i..).unwrap_or(&[]);
        let starts = |w: &[u8]| {
            rest.get(..w.len())
                .is_some_and(|r| r.eq_ignore_ascii_case(w))
        };
        match rest.first().map(u8::to_ascii_lowercase) {
            Some(b'/' | b'\\') => true,
            Some(b'<') => starts(b"<<<"),
            Some(b'r') => starts(b"rm"),
            Some(b'f') => starts(b"find"),
            Some(b'b') => starts(b"busybox"),
            Some(b't') => starts(b"toybox"),
            _ => false,
        }
    }
}

/// Whether one segment may yield a semantic alias. Without quotes or backslashes its
/// head token is its first word, which is checked directly (ASCII only); otherwise
/// it may.
fn seg_may_have_semantic_alias(seg: &str) -> bool {
    // Byte for byte the tests of `seg_may_have_semantic_alias_str` (in the tests):
    // without a backslash the basename of a head with no `/` is the head.
    let b = seg.as_bytes();
    if b.iter().any(|&x| matches!(x, b'\'' | b'"' | b'\\')) {
        return true;
    }
    let Some(start) = b.iter().position(|&x| x != b' ' && x != b'\t') else {
        return true;
    };
    let rest = b.get(start..).unwrap_or_default();
    let head = rest
        .iter()
        .position(|&x| x == b' ' || x == b'\t')
        .map_or(rest, |end| rest.get(..end).unwrap_or(rest));
    if !head.is_ascii() || head.contains(&b'/') {
        return true;
    }
    let is = |names: &[&str]| {
        names
            .iter()
            .any(|n| head.eq_ignore_ascii_case(n.as_bytes()))
    };
    is(&["rm", "find", "busybox", "toybox"])
        || (is(&["bash", "sh", "zsh", "dash"]) && seg.contains("<<<"))
}

/// [`semantic_aliases`] given `norm = normalize(strip_comment(c))`.
pub fn semantic_aliases_normalized(c: &str, norm: &str) -> Vec<String> {
    if !may_have_semantic_aliases(norm) {
        return Vec::new();
    }
    semantic_aliases_scan(c, norm, true)
}

/// False only when [`semantic_aliases_normalized`] is empty for any text whose
/// normalization is `norm` (a cheap test).
fn may_have_semantic_aliases(norm: &str) -> bool {
    // Cheap rejection: no head can qualify without one of these.
    if !may_have_semantic_alias(norm) {
        return false;
    }
    // Without quotes, escapes or separators the text is one segment: check its head
    // before splitting.
    let single = !norm.contains([';', '|', '&', '\n', '\'', '"', '\\']);
    !single || seg_may_have_semantic_alias(norm.trim())
}

/// The semantic aliases of `norm`'s segments; `gate`: skip the segments that
/// [`seg_may_have_semantic_alias`] rules out.
fn semantic_aliases_scan(c: &str, norm: &str, gate: bool) -> Vec<String> {
    let mut out = Vec::new();
    for seg in split_compound(norm) {
        if gate && !seg_may_have_semantic_alias(seg) {
            continue;
        }
        if alias_is_itself(seg, c) {
            continue; // dropped below anyway
        }
        let tokens = tokenize(seg, Dialect::Posix);
        let Some(head) = tokens.first() else { continue };
        let base = basename(head).to_lowercase();
        let shell_herestring = matches!(base.as_str(), "bash" | "sh" | "zsh" | "dash")
            && tokens.iter().any(|t| t == "<<<");
        let has_dir = head.contains(['/', '\\']);
        if !(has_dir
            || shell_herestring
            || matches!(base.as_str(), "rm" | "find" | "busybox" | "toybox"))
        {
            continue;
        }
        // The here-string body, from the tokens before the head is rewritten.
        let here = if shell_herestring {
            tokens
                .iter()
                .position(|t| t == "<<<")
                .map(|at| tokens.get(at + 1..).unwrap_or(&[]).join(" "))
        } else {
            None
        };
        let multicall = base == "busybox" || base == "toybox";
        let mut words = tokens;
        if let Some(h) = words.first_mut() {
            *h = base;
        }
        if multicall && words.len() > 1 {
            words.remove(0);
            if let Some(h) = words.first_mut() {
                *h = basename(h).to_lowercase();
            }
        }
        add_unique(&mut out, words.join(" "));
        if let Some(here) = here.filter(|h| !h.is_empty()) {
            add_unique(&mut out, here);
        }
    }
    out.retain(|a| a != c);
    out
}

/// Whether the only semantic alias of segment `seg` is `c` itself, which
/// [`semantic_aliases_scan`] never keeps, so that it need not be built: `seg` is made
/// of plain bytes (see [`super::plain_words`]: its words are its space-separated
/// parts, with no here-string), its head is `rm` or `find` (its own lower-cased
/// basename, not a multi-call wrapper or a shell), and its words joined with single
/// spaces are `c`.
fn alias_is_itself(seg: &str, c: &str) -> bool {
    if !seg.bytes().all(super::is_plain_byte) {
        return false;
    }
    let mut words = seg.split(' ').filter(|w| !w.is_empty());
    if !matches!(words.next(), Some("rm" | "find")) {
        return false;
    }
    // `c` must be the words joined with single spaces.
    let mut rest = c;
    for (i, w) in seg.split(' ').filter(|w| !w.is_empty()).enumerate() {
        if i > 0 {
            match rest.strip_prefix(' ') {
                Some(r) => rest = r,
                None => return false,
            }
        }
        match rest.strip_prefix(w) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

fn add_unique(out: &mut Vec<String>, s: String) {
    if !out.contains(&s) {
        out.push(s);
    }
}

/// Whether the cmd.exe / PowerShell re-parses apply to `c`.
pub fn wants_foreign_reparse(c: &str) -> bool {
    let (mut quote, mut amp_or_pipe) = (false, false);
    let mut prev = 0u8;
    for &b in c.as_bytes() {
        match b {
            b'^' | b'`' => return true,
            b'>' if prev == b'&' => return true,
            b'\'' => quote = true,
            b'&' | b'|' => amp_or_pipe = true,
            _ => {}
        }
        prev = b;
    }
    (quote && amp_or_pipe) || matches!(head_dialect(c), Some(Dialect::Cmd | Dialect::PowerShell))
}

/// cmd.exe and PowerShell readings of `c`, lower-cased: each normalized whole, and
/// each of its segments.
pub fn foreign_reparses(c: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !wants_foreign_reparse(c) {
        return out;
    }
    for dialect in [Dialect::Cmd, Dialect::PowerShell] {
        let split_rules = if dialect == Dialect::Cmd {
            Dialect::Cmd
        } else {
            Dialect::Posix
        };
        let mut parts = Vec::new();
        for seg in split_dialect(c, split_rules).segments {
            let (tokens, _) = normalize_segment_in(seg, dialect);
            if !tokens.is_empty() {
                let text = tokens.join(" ").to_lowercase();
                add_unique(&mut out, text.clone());
                parts.push(text);
            }
        }
        if parts.len() > 1 {
            add_unique(&mut out, parts.join(" && "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_case_heads_keep_their_aliases() {
        // Found by `cheap_rejections_never_drop_an_alias`: the byte gate once looked
        // for lower-case `rm`/`find` only, while heads are matched lower-cased.
        for c in [
            "RM r -rf",
            "Rm -rf /",
            "rM -fr ~",
            "FIND / -delete",
            "FinD . -delete",
        ] {
            let got = canonical_aliases(c);
            assert_eq!(
                got,
                canonical_aliases_ungated(c, Canonical::default()),
                "{c}"
            );
            assert!(!got.aliases.is_empty(), "{c}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn cheap_rejections_never_drop_an_alias(c in ALIAS_SOUP) {
            let cleaned = strip_comment(&c);
            let ungated = canonical_aliases_ungated(&c, Canonical::default());
            proptest::prop_assert_eq!(canonical_aliases(&c), ungated, "{:?}", c);
            let kept: String = c.chars().filter(|x| !matches!(x, '\'' | '"' | '\\')).collect();
            let kept = kept.to_ascii_lowercase();
            proptest::prop_assert_eq!(
                may_name_rm_or_find(&c),
                !c.is_ascii() || kept.contains("rm") || kept.contains("find"),
                "{:?}", c
            );
            proptest::prop_assert_eq!(body_variants(&c), body_variants_ungated(&c), "{:?}", c);
            if c.bytes().all(crate::shell::is_plain_byte) {
                let plain: Vec<&str> = c.split(' ').filter(|w| !w.is_empty()).collect();
                let words: Vec<String> = tokenize_words(&c, Dialect::Posix)
                    .into_iter()
                    .map(|w| w.text)
                    .collect();
                proptest::prop_assert_eq!(words, plain, "{:?}", c);
            }
            let words = tokenize_words(&c, Dialect::Posix);
            proptest::prop_assert_eq!(
                peel_launchers(words.clone()),
                peel_launchers_loop(words),
                "{:?}", c
            );
            let lower = c.to_ascii_lowercase();
            proptest::prop_assert_eq!(
                has_rm_find_or_quote(&c),
                lower.contains("rm") || lower.contains("find") || c.contains(['\'', '"', '\\']),
                "{:?}", c
            );
            let norm = normalize(cleaned);
            proptest::prop_assert_eq!(
                semantic_aliases_normalized(&c, &norm),
                semantic_aliases_scan(&c, &norm, false),
                "{:?}", c
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn the_fused_gate_is_the_conjunction_of_the_gates(c in GATE_SOUP, n in GATE_SOUP) {
            let reference = c.contains('#')
                || may_name_rm_or_find(&c)
                || wants_foreign_reparse(&c)
                || may_have_semantic_aliases(&n)
                || !body_variants(&c).is_empty();
            proptest::prop_assert_eq!(may_have_alias(&c, &n), reference, "{:?} {:?}", c, n);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn the_clean_path_shortcut_is_clean_path(p in "(/|//|\\.|\\.\\.|a|b\\.c|\\.x|~| ){0,8}") {
            proptest::prop_assert_eq!(clean_path(&p), clean_path_general(&p), "{:?}", p);
        }
    }

    /// [`seg_may_have_semantic_alias`] on `str` slices, as first written.
    fn seg_may_have_semantic_alias_str(seg: &str) -> bool {
        if seg.contains(['\'', '"', '\\']) {
            return true;
        }
        let Some(head) = seg.split([' ', '\t']).find(|w| !w.is_empty()) else {
            return true;
        };
        if !head.is_ascii() {
            return true;
        }
        let base = basename(head);
        let is = |names: &[&str]| names.iter().any(|n| base.eq_ignore_ascii_case(n));
        head.contains('/')
            || is(&["rm", "find", "busybox", "toybox"])
            || (is(&["bash", "sh", "zsh", "dash"]) && seg.contains("<<<"))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn the_byte_segment_gate_is_the_str_one(g in GATE_SOUP, a in ALIAS_SOUP, t in "[ \t]{0,2}") {
            for n in [g.clone(), a.clone(), format!("{t}{g}"), format!("{t}{a} <<<x")] {
                proptest::prop_assert_eq!(
                    seg_may_have_semantic_alias(&n),
                    seg_may_have_semantic_alias_str(&n),
                    "{:?}", n
                );
            }
        }
    }

    /// [`may_have_semantic_alias`] as first written: the hit test at every byte.
    fn may_have_semantic_alias_every_byte(norm: &str) -> bool {
        let b = norm.as_bytes();
        (0..b.len()).any(|i| semantic_alias_at(b, i))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn the_first_byte_skip_keeps_every_semantic_hit(g in GATE_SOUP, a in ALIAS_SOUP) {
            for n in [g, a] {
                proptest::prop_assert_eq!(
                    may_have_semantic_alias(&n),
                    may_have_semantic_alias_every_byte(&n),
                    "{:?}", n
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn the_body_gate_never_drops_a_variant(c in BODY_SOUP) {
            proptest::prop_assert_eq!(body_variants(&c), body_variants_ungated(&c), "{:?}", c);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn skipping_an_alias_that_is_the_text_changes_nothing(c in PLAIN_SOUP, pad in 0usize..3) {
            let padded = format!("{}{c}{}", " ".repeat(pad), " ".repeat(pad % 2));
            for (text, norm) in [(&c, &c), (&c, &padded), (&padded, &c)] {
                let reference = semantic_aliases_reference(text, norm);
                proptest::prop_assert_eq!(
                    semantic_aliases_scan(text, norm, false),
                    reference,
                    "{:?} {:?}", text, norm
                );
            }
        }
    }

    /// [`semantic_aliases_scan`] as it was before [`alias_is_itself`]: every segment
    /// tokenized and its alias built.
    fn semantic_aliases_reference(c: &str, norm: &str) -> Vec<String> {
        let mut out = Vec::new();
        for seg in split_compound(norm) {
            let tokens = tokenize(seg, Dialect::Posix);
            let Some(head) = tokens.first() else { continue };
            let base = basename(head).to_lowercase();
            let shell_herestring = matches!(base.as_str(), "bash" | "sh" | "zsh" | "dash")
                && tokens.iter().any(|t| t == "<<<");
            let has_dir = head.contains(['/', '\\']);
            if !(has_dir
                || shell_herestring
                || matches!(base.as_str(), "rm" | "find" | "busybox" | "toybox"))
            {
                continue;
            }
            let mut words: Vec<String> = tokens.clone();
            if let Some(h) = words.first_mut() {
                *h = base.clone();
            }
            if (base == "busybox" || base == "toybox") && words.len() > 1 {
                words.remove(0);
                if let Some(h) = words.first_mut() {
                    *h = basename(h).to_lowercase();
                }
            }
            add_unique(&mut out, words.join(" "));
            if shell_herestring {
                if let Some(at) = tokens.iter().position(|t| t == "<<<") {
                    let here = tokens.get(at + 1..).unwrap_or(&[]).join(" ");
                    if !here.is_empty() {
                        add_unique(&mut out, here);
                    }
                }
            }
        }
        out.retain(|a| a != c);
        out
    }

    /// Plain words around `rm` and `find` (and a few that are not plain).
    const PLAIN_SOUP: &str =
        "((rm|RM|find|Find|/bin/rm|busybox|bash|<<<|x|-rf|/|\\.|~|=|a=b|'|;|&&| |  ){0,8})";

    /// Words and bytes every alias gate looks at.
    const GATE_SOUP: &str = "((rm|RM|find|Find|fin|busybox|toybox|bash|sh|cmd|pwsh|powershell.exe|if|then|fi|done|case|x|/|\\\\|'|\"|<<<|>|&|\\||&>|#|\\^|`| |;|\\(|\\)|\\{|\\}|\u{212a}|K|d|m|r){0,10})";

    /// Compound-command words and syntax around what [`body_variants`] peels.
    const BODY_SOUP: &str = "((if|elif|while|until|then|do|else|!|fi|done|esac|case|in|x|c|e|i|d|\\)|\\(|\\{|\\}| |\t|\n|;|'|\u{a0}){0,8})";

    /// Command soup around the names the alias gates look for.
    const ALIAS_SOUP: &str = "((r|R|m|M|f|F|in|IN|d|rm|RM|find|Find|busybox|ToyBox|bash|sh|ZSH|dash|env|nice|-rf|-exec|/|\\\\|'|\"|<<<| |;|&&|x|\\.|~|K|\u{212a}|\u{130}){0,12})";

    #[test]
    fn one_pass_canonical_gate_equals_the_substring_tests() {
        let reference = |c: &str| {
            let lower = c.to_ascii_lowercase();
            lower.contains("rm") || lower.contains("find") || c.contains(['\'', '"', '\\'])
        };
        for t in [
            "",
            "r",
            "m",
            "rm",
            "xrm",
            "r m",
            "RM",
            "find",
            "fin",
            "ind",
            "xfind",
            "finD",
            "a'b",
            "a\"b",
            "a\\b",
            "git status",
            "farm",
            "findrm",
            "f",
            "fi",
            "dfind",
        ] {
            assert_eq!(has_rm_find_or_quote(t), reference(t), "{t:?}");
        }
    }

    #[test]
    fn one_pass_semantic_gate_equals_the_substring_tests() {
        let reference = |n: &str| {
            let lower = n.to_ascii_lowercase();
            n.contains(['/', '\\'])
                || n.contains("<<<")
                || ["rm", "find", "busybox", "toybox"]
                    .iter()
                    .any(|w| lower.contains(w))
        };
        for t in [
            "git status",
            "ls /tmp",
            "a\\b",
            "bash <<< x",
            "bash << x",
            "RM x",
            "rM",
            "r m",
            "FIND .",
            "fin",
            "BusyBox ls",
            "busybo",
            "toybox",
            "TOYBO",
            "",
            "r",
            "<<",
            "farm",
            "cat README.md",
            "npm run build",
            "<",
            "t",
            "b",
            "f",
        ] {
            assert_eq!(may_have_semantic_alias(t), reference(t), "{t:?}");
        }
    }

    #[test]
    fn one_pass_foreign_gate_equals_the_substring_tests() {
        let reference = |c: &str| {
            matches!(head_dialect(c), Some(Dialect::Cmd | Dialect::PowerShell))
                || c.contains('^')
                || c.contains("&>")
                || (c.contains('\'') && c.contains(['&', '|']))
                || c.contains('`')
        };
        for t in [
            "git status",
            "cmd /c dir",
            "pwsh -c x",
            "a^b",
            "a &> b",
            "a & > b",
            "a >& b",
            "'a' | b",
            "'a' & b",
            "a | b",
            "'a'",
            "echo `x`",
            "POWERSHELL.EXE -c x",
            "&>",
            "",
            "bash -c 'a && b'",
        ] {
            assert_eq!(wants_foreign_reparse(t), reference(t), "{t:?}");
        }
    }

    fn canon(c: &str) -> Vec<String> {
        canonical_aliases(c).aliases
    }

    #[test]
    fn comment_stripping_cuts_at_unquoted_word_hash() {
        assert_eq!(strip_comment("rm -rf /tmp # /"), "rm -rf /tmp");
        assert_eq!(strip_comment("echo '# x' a#b"), "echo '# x' a#b");
        assert_eq!(strip_comment("echo \\# x"), "echo \\# x");
    }

    #[test]
    fn body_variants_peel_compound_syntax() {
        assert_eq!(body_variants("if rm -rf /"), ["rm -rf /"]);
        assert_eq!(body_variants("{ rm -rf /"), ["rm -rf /"]);
        assert_eq!(body_variants("then true"), ["true"]);
        assert_eq!(body_variants("(rm -rf /)"), ["rm -rf /"]);
        assert_eq!(body_variants("while ! { rm x; }"), ["rm x;"]);
        assert!(body_variants("fi").is_empty());
        assert_eq!(body_variants("echo (rm -rf /)"), ["echo (rm -rf /"]);
    }

    #[test]
    fn body_variants_case_takes_text_after_paren() {
        assert_eq!(body_variants("case x in x) rm -rf /"), ["rm -rf /"]);
    }

    #[test]
    fn clean_path_is_lexical() {
        assert_eq!(clean_path("/tmp/../"), "/");
        assert_eq!(clean_path("work/../../*"), "../*");
        assert_eq!(clean_path("a//b/./c/.."), "a/b");
        assert_eq!(clean_path("/.."), "/");
        assert_eq!(clean_path(""), ".");
    }

    #[test]
    fn canonical_find_exec_rm_becomes_rm_rf_target() {
        assert_eq!(canon("find / -exec /bin/rm -rf {} \\;"), ["rm -rf /"]);
    }

    #[test]
    fn canonical_find_delete_defaults_to_dot() {
        assert_eq!(canon("find -delete"), ["rm -rf ."]);
        assert_eq!(canon("find / -name x -delete"), ["rm -rf /"]);
    }

    #[test]
    fn canonical_rm_cleans_traversal() {
        assert_eq!(canon("rm -rf work/../../*"), ["rm -rf ../*"]);
        assert_eq!(canon("rm -rf ./x"), ["rm -rf ./x"]);
        assert_eq!(canon("rm -rf /tmp/../"), ["rm -rf /"]);
    }

    #[test]
    fn canonical_rm_flag_forms() {
        assert_eq!(canon("rm -vfr -- /"), ["rm -rf /"]);
        assert_eq!(canon("rm --recursive --force /"), ["rm -rf /"]);
        assert_eq!(canon("rm -r -f /"), ["rm -rf /"]);
        assert_eq!(canon("rm -R -f -- -x"), ["rm -rf -x"]);
        assert!(canon("rm -f /").is_empty());
    }

    #[test]
    fn canonical_rm_skips_redirections_but_not_quoted_ones() {
        assert!(canon("rm -rf > /").is_empty());
        assert_eq!(canon("rm -rf '>' /"), ["rm -rf >", "rm -rf /"]);
        assert_eq!(canon("rm -rf 2>/dev/null /x"), ["rm -rf /x"]);
    }

    #[test]
    fn canonical_peels_launchers_and_multicall_wrappers() {
        assert_eq!(canon("busybox rm -rf /"), ["rm -rf /"]);
        assert_eq!(canon("/usr/bin/env nohup /bin/rm -fr /"), ["rm -rf /"]);
        assert_eq!(canon("FOO=1 toybox rm -rf /"), ["rm -rf /"]);
    }

    #[test]
    fn canonical_ignores_comments() {
        assert_eq!(canon("rm -rf /tmp # /"), ["rm -rf /tmp"]);
    }

    #[test]
    fn canonical_overflow_is_flagged() {
        let c = format!(
            "rm -rf {}",
            (0..300)
                .map(|i| format!("/d{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = canonical_aliases(&c);
        assert!(out.overflow);
        assert_eq!(out.aliases.len(), MAX_CANONICAL);
    }

    #[test]
    fn semantic_alias_basename_of_head() {
        assert_eq!(semantic_aliases("/bin/rm -rf /"), ["rm -rf /"]);
        assert_eq!(
            semantic_aliases("/usr/local/bin/rampart setup x"),
            ["rampart setup x"]
        );
        assert!(semantic_aliases("git status").is_empty());
    }

    #[test]
    fn semantic_alias_drops_busybox() {
        assert_eq!(semantic_aliases("busybox rm -rf /"), ["rm -rf /"]);
    }

    #[test]
    fn semantic_alias_here_string() {
        assert_eq!(
            semantic_aliases("bash <<< 'rm -rf /'"),
            ["bash <<< rm -rf /", "rm -rf /"]
        );
    }

    #[test]
    fn foreign_reparse_only_when_hinted() {
        assert!(foreign_reparses("git status").is_empty());
        assert!(foreign_reparses("cmd /c D^EL x").contains(&"del x".to_string()));
        assert!(foreign_reparses("I`EX (x)").contains(&"iex (x)".to_string()));
    }
}
