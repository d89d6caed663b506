//! Tokenizing one segment into words (spec §4.3), in three dialects.

/// The shell whose quoting rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// POSIX sh: `'…'` literal, `"…"` with `\x`, `\x` outside quotes.
    #[default]
    Posix,
    /// cmd.exe: `"…"` groups, `^` escapes outside quotes.
    Cmd,
    /// PowerShell: backtick escapes, `'…'` with `''`, `"…"` grouping.
    PowerShell,
}

/// One word, with the facts the alias builders need about its quoting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Word {
    /// The text with quotes and escapes removed.
    pub text: String,
    /// Whether the word contains an unquoted, unescaped `<` or `>`.
    pub bare_redirect: bool,
    /// Whether the word starts with an unquoted, unescaped `#`.
    pub bare_hash: bool,
}

/// Split a segment into words with the rules of `dialect`; quotes are removed, an
/// unterminated quote runs to the end, and an empty quoted word yields nothing.
pub fn tokenize(seg: &str, dialect: Dialect) -> Vec<String> {
    // Plain bytes (see `super::plain_words`) hold no quote, escape or other POSIX
    // syntax: the words are the space-separated parts.
    if dialect == Dialect::Posix && seg.bytes().all(super::is_plain_byte) {
        return seg
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
    }
    tokenize_words(seg, dialect)
        .into_iter()
        .map(|w| w.text)
        .collect()
}

/// Like [`tokenize`], keeping per-word quoting facts.
pub fn tokenize_words(seg: &str, dialect: Dialect) -> Vec<Word> {
    let mut words = Vec::new();
    let mut cur = Word::default();
    let mut started = false; // the current word has seen any character
    let mut chars = seg.chars().peekable();
    let flush = |cur: &mut Word, words: &mut Vec<Word>, started: &mut bool| {
        if !cur.text.is_empty() {
            words.push(std::mem::take(cur));
        } else {
            *cur = Word::default();
        }
        *started = false;
    };
    while let Some(c) = chars.next() {
        let fresh = !started;
        started = true;
        match (dialect, c) {
            (_, ' ' | '\t') => flush(&mut cur, &mut words, &mut started),
            (Dialect::Posix, '\'') => {
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    cur.text.push(q);
                }
            }
            (Dialect::Posix, '"') => {
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('\n') => {}
                            Some(e) => cur.text.push(e),
                            None => cur.text.push('\\'),
                        },
                        _ => cur.text.push(q),
                    }
                }
            }
            (Dialect::Posix, '\\') => match chars.next() {
                Some('\n') => {}
                Some(e) => cur.text.push(e),
                None => cur.text.push('\\'),
            },
            (Dialect::Cmd, '"') => {
                for q in chars.by_ref() {
                    if q == '"' {
                        break;
                    }
                    cur.text.push(q);
                }
            }
            (Dialect::Cmd, '^') => {
                if let Some(e) = chars.next() {
                    cur.text.push(e);
                }
            }
            (Dialect::PowerShell, '`') => {
                if let Some(e) = chars.next() {
                    cur.text.push(e);
                }
            }
            (Dialect::PowerShell, '\'') => loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        cur.text.push('\'');
                    }
                    Some('\'') | None => break,
                    Some(q) => cur.text.push(q),
                }
            },
            (Dialect::PowerShell, '"') => {
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '`' => {
                            if let Some(e) = chars.next() {
                                cur.text.push(e);
                            }
                        }
                        _ => cur.text.push(q),
                    }
                }
            }
            _ => {
                if c == '<' || c == '>' {
                    cur.bare_redirect = true;
                }
                if c == '#' && fresh {
                    cur.bare_hash = true;
                }
                cur.text.push(c);
            }
        }
    }
    flush(&mut cur, &mut words, &mut started);
    words
}

/// Whether a POSIX segment leaves a quote open.
pub fn has_unterminated_quote(seg: &str) -> bool {
    let mut chars = seg.chars();
    let (mut single, mut double) = (false, false);
    while let Some(c) = chars.next() {
        match c {
            '\\' if !single => {
                chars.next();
            }
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            _ => {}
        }
    }
    single || double
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn the_plain_split_is_the_tokenizer(
            c in r#"([a-zA-Z0-9 \-_./:,+@%~=]|  |'|"|\\|\t|#|<|>|é){0,16}"#
        ) {
            for d in [Dialect::Posix, Dialect::Cmd, Dialect::PowerShell] {
                let words: Vec<String> =
                    tokenize_words(&c, d).into_iter().map(|w| w.text).collect();
                proptest::prop_assert_eq!(tokenize(&c, d), words, "{:?}", c);
            }
        }
    }

    fn posix(s: &str) -> Vec<String> {
        tokenize(s, Dialect::Posix)
    }

    #[test]
    fn tokenize_posix_space_and_tab_separate() {
        assert_eq!(posix("a  b\tc"), ["a", "b", "c"]);
    }

    #[test]
    fn tokenize_posix_single_quotes_are_literal() {
        assert_eq!(posix(r"'a\b c'"), [r"a\b c"]);
    }

    #[test]
    fn tokenize_posix_double_quotes_unescape_and_drop_line_continuations() {
        assert_eq!(posix("\"a\\\"b\\\nc\""), ["a\"bc"]);
    }

    #[test]
    fn tokenize_posix_backslash_outside_quotes() {
        assert_eq!(posix("r\\m a\\\nb"), ["rm", "ab"]);
    }

    #[test]
    fn tokenize_posix_unterminated_quote_runs_to_end() {
        assert_eq!(posix("echo 'a b"), ["echo", "a b"]);
        assert!(has_unterminated_quote("echo 'a b"));
        assert!(!has_unterminated_quote("echo 'a b' \\'"));
    }

    #[test]
    fn tokenize_posix_empty_quoted_word_yields_nothing() {
        assert_eq!(posix("a '' \"\" b"), ["a", "b"]);
        assert_eq!(posix("'r'm"), ["rm"]);
    }

    #[test]
    fn tokenize_powershell_backtick_and_doubled_single_quote() {
        assert_eq!(
            tokenize("I`EX 'it''s' \"a`\"b\"", Dialect::PowerShell),
            ["IEX", "it's", "a\"b"]
        );
    }

    #[test]
    fn tokenize_cmd_caret_escapes_and_double_quotes_group() {
        assert_eq!(
            tokenize("d^el \"a b\" 'c d'", Dialect::Cmd),
            ["del", "a b", "'c", "d'"]
        );
    }

    #[test]
    fn tokenize_words_records_bare_redirects_and_comments() {
        let w = tokenize_words("rm '>' > #x '#y'", Dialect::Posix);
        let flags: Vec<(bool, bool)> = w.iter().map(|w| (w.bare_redirect, w.bare_hash)).collect();
        assert_eq!(
            flags,
            [
                (false, false),
                (false, false),
                (true, false),
                (false, true),
                (false, false)
            ]
        );
    }
}
