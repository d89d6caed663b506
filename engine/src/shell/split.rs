//! Splitting a command into segments on unquoted separators (spec §4.2).

use super::tokenize::Dialect;

/// The result of a split: trimmed, non-empty segments, plus whether a quote was left
/// open (the command is then opaque to the parser).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split<'a> {
    /// Trimmed non-empty segments, slices of the input.
    pub segments: Vec<&'a str>,
    /// A quote was still open at the end.
    pub unterminated_quote: bool,
}

/// Split on unquoted `&&`, `||`, `;`, `|`, a single `&`, and LF (POSIX rules).
pub fn split_compound(cmd: &str) -> Vec<&str> {
    split_dialect(cmd, Dialect::Posix).segments
}

/// Split with the rules of a dialect. In the cmd.exe dialect `^` escapes, `'` does not
/// quote, `\` does not escape, and the `&` of `&>` separates.
pub fn split_dialect(cmd: &str, dialect: Dialect) -> Split<'_> {
    let cmdexe = dialect == Dialect::Cmd;
    let bytes = cmd.as_bytes();
    let mut out = Split::default();
    let mut start = 0;
    let (mut single, mut double) = (false, false);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        // Any other byte is a plain character in every state: step over it.
        if !matches!(b, b'\\' | b'^' | b'\'' | b'"' | b'&' | b'|' | b';' | b'\n') {
            i += 1;
            continue;
        }
        let escape = if cmdexe {
            b == b'^'
        } else {
            b == b'\\' && !single
        };
        if escape && !(cmdexe && double) {
            i += 2;
            continue;
        }
        if b == b'\'' && !double && !cmdexe {
            single = !single;
        } else if b == b'"' && !single {
            double = !double;
        } else if !single && !double {
            let next = bytes.get(i + 1).copied();
            let sep_len = match b {
                b'&' | b'|' if next == Some(b) => 2,
                b';' | b'|' | b'\n' => 1,
                b'&' => {
                    let prev = i.checked_sub(1).and_then(|p| bytes.get(p)).copied();
                    let redirect =
                        matches!(prev, Some(b'>') | Some(b'<')) || (!cmdexe && next == Some(b'>'));
                    usize::from(!redirect)
                }
                _ => 0,
            };
            if sep_len > 0 {
                push(&mut out, cmd, start, i);
                i += sep_len;
                start = i;
                continue;
            }
        }
        i += 1;
    }
    push(&mut out, cmd, start, bytes.len().min(i));
    out.unterminated_quote = single || double;
    out
}

fn push<'a>(out: &mut Split<'a>, cmd: &'a str, from: usize, to: usize) {
    if let Some(seg) = cmd.get(from..to).map(str::trim).filter(|s| !s.is_empty()) {
        out.segments.push(seg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`split_dialect`] without the step over plain bytes.
    fn split_dialect_every_byte(cmd: &str, dialect: Dialect) -> Split<'_> {
        let cmdexe = dialect == Dialect::Cmd;
        let bytes = cmd.as_bytes();
        let mut out = Split::default();
        let mut start = 0;
        let (mut single, mut double) = (false, false);
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            let escape = if cmdexe {
                b == b'^'
            } else {
                b == b'\\' && !single
            };
            if escape && !(cmdexe && double) {
                i += 2;
                continue;
            }
            if b == b'\'' && !double && !cmdexe {
                single = !single;
            } else if b == b'"' && !single {
                double = !double;
            } else if !single && !double {
                let next = bytes.get(i + 1).copied();
                let sep_len = match b {
                    b'&' | b'|' if next == Some(b) => 2,
                    b';' | b'|' | b'\n' => 1,
                    b'&' => {
                        let prev = i.checked_sub(1).and_then(|p| bytes.get(p)).copied();
                        let redirect = matches!(prev, Some(b'>') | Some(b'<'))
                            || (!cmdexe && next == Some(b'>'));
                        usize::from(!redirect)
                    }
                    _ => 0,
                };
                if sep_len > 0 {
                    push(&mut out, cmd, start, i);
                    i += sep_len;
                    start = i;
                    continue;
                }
            }
            i += 1;
        }
        push(&mut out, cmd, start, bytes.len().min(i));
        out.unterminated_quote = single || double;
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn stepping_over_plain_bytes_changes_no_split(
            c in r#"([a-z <>()\\^'"&|;\n\t]|&&|\|\||>&|&>|\\'|\^&){0,16}"#
        ) {
            for d in [Dialect::Posix, Dialect::Cmd, Dialect::PowerShell] {
                proptest::prop_assert_eq!(
                    split_dialect(&c, d),
                    split_dialect_every_byte(&c, d),
                    "{:?}", c
                );
            }
        }
    }

    #[test]
    fn split_on_and_or_semicolon_pipe_background_and_newline() {
        assert_eq!(
            split_compound("a && b || c; d | e & f\ng"),
            vec!["a", "b", "c", "d", "e", "f", "g"]
        );
    }

    #[test]
    fn split_drops_empty_segments_and_trims() {
        assert_eq!(split_compound(" ;; a ;  "), vec!["a"]);
    }

    #[test]
    fn split_keeps_redirection_ampersands() {
        assert_eq!(
            split_compound("a 2>&1 <&0 &> x &>> y"),
            vec!["a 2>&1 <&0 &> x &>> y"]
        );
    }

    #[test]
    fn split_ignores_quoted_and_escaped_separators() {
        assert_eq!(
            split_compound("echo 'a;b' \"c|d\" e\\;f"),
            vec!["echo 'a;b' \"c|d\" e\\;f"]
        );
    }

    #[test]
    fn split_does_not_split_on_parens_or_braces() {
        assert_eq!(split_compound("(a) {b}"), vec!["(a) {b}"]);
    }

    #[test]
    fn split_reports_unterminated_quotes() {
        let s = split_dialect("echo 'a; b", Dialect::Posix);
        assert_eq!(s.segments, vec!["echo 'a; b"]);
        assert!(s.unterminated_quote);
    }

    #[test]
    fn split_cmd_dialect_caret_escapes_and_ampersand_redirect_separates() {
        let s = split_dialect("echo a^&b & echo 'c&d' &>x", Dialect::Cmd);
        assert_eq!(s.segments, vec!["echo a^&b", "echo 'c", "d'", ">x"]);
    }
}
