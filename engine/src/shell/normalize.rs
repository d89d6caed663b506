//! `NormalizeCommand` (spec §4.4): per segment, pick the dialect, tokenize, then peel
//! environment prefixes, transparent executors and shell wrappers until nothing
//! changes, drop leading redirections and join with single spaces; segments are joined
//! with ` && `.

use super::executors::{self, is_assignment, Peeled};
use super::sanitize::sanitize;
use super::split::split_dialect;
use super::tokenize::{tokenize, Dialect};

/// Most peel steps for one segment (each removes at least one token).
const MAX_STEPS: usize = 4096;
/// Most shell-wrapper unwraps for one segment (each re-tokenizes its text).
const MAX_WRAPPERS: usize = 64;

/// A normalization, with a note when a work bound cut it short.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    /// The normalized command.
    pub text: String,
    /// A work bound stopped unwrapping early.
    pub truncated: bool,
    /// A quote was left open somewhere.
    pub unterminated_quote: bool,
}

/// Normalize a command (spec §4.4, segments joined with ` && `).
pub fn normalize(cmd: &str) -> String {
    normalize_full(cmd).text
}

/// [`normalize`], reporting bounds that were hit. A plain command
/// ([`super::plain_words`]) takes a fast path with the result of the general one,
/// [`normalize_general`]: its words re-joined with single spaces.
pub fn normalize_full(cmd: &str) -> Normalized {
    if super::plain_words(cmd) {
        return Normalized {
            text: super::join_plain_words(cmd),
            ..Normalized::default()
        };
    }
    normalize_general(cmd)
}

/// [`normalize_full`] without the plain-command fast path (the two agree on every
/// input).
pub fn normalize_general(cmd: &str) -> Normalized {
    let clean = sanitize(cmd);
    let clean = clean.trim();
    let mut out = Normalized::default();
    if clean.is_empty() {
        return out;
    }
    let split = split_dialect(clean, split_dialect_for(clean));
    out.unterminated_quote = split.unterminated_quote;
    let mut parts: Vec<String> = Vec::with_capacity(split.segments.len());
    for seg in split.segments {
        let (tokens, truncated) = normalize_segment(seg);
        out.truncated |= truncated;
        if !tokens.is_empty() {
            parts.push(tokens.join(" "));
        }
    }
    out.text = parts.join(" && ");
    out
}

/// The top-level split uses cmd.exe rules only for an explicit cmd wrapper.
fn split_dialect_for(cmd: &str) -> Dialect {
    match head_dialect(cmd) {
        Some(Dialect::Cmd) => Dialect::Cmd,
        _ => Dialect::Posix,
    }
}

/// The last path component, for `/` and `\` separators.
pub fn basename(word: &str) -> &str {
    word.rsplit(['/', '\\']).next().unwrap_or(word)
}

/// The dialect named by the head word (quotes trimmed, basename, case ignored).
pub fn head_dialect(seg: &str) -> Option<Dialect> {
    // The first word split on spaces and tabs, its quotes trimmed, its basename: all
    // cut at ASCII bytes, so byte slices give the same text.
    let b = seg.as_bytes();
    let start = b.iter().position(|&c| c != b' ' && c != b'\t')?;
    let rest = b.get(start..)?;
    let mut head = rest
        .iter()
        .position(|&c| c == b' ' || c == b'\t')
        .map_or(rest, |end| rest.get(..end).unwrap_or(rest));
    while let [b'"' | b'\'', tail @ ..] = head {
        head = tail;
    }
    while let [init @ .., b'"' | b'\''] = head {
        head = init;
    }
    if let Some(sep) = head.iter().rposition(|&c| c == b'/' || c == b'\\') {
        head = head.get(sep + 1..).unwrap_or_default();
    }
    // Every name below is 2 to 14 bytes and ends in `h`, `d`, `l` or `e`.
    let last = head.last()?.to_ascii_lowercase();
    if !(2..=14).contains(&head.len()) || !matches!(last, b'h' | b'd' | b'l' | b'e') {
        return None;
    }
    let mut lower = [0u8; 14];
    let lower = lower.get_mut(..head.len())?;
    for (l, h) in lower.iter_mut().zip(head) {
        *l = h.to_ascii_lowercase();
    }
    match &*lower {
        b"cmd" | b"cmd.exe" => Some(Dialect::Cmd),
        b"sh" | b"bash" | b"zsh" | b"dash" | b"ash" | b"ksh" => Some(Dialect::Posix),
        b"powershell" | b"powershell.exe" | b"pwsh" | b"pwsh.exe" => Some(Dialect::PowerShell),
        _ => None,
    }
}

/// Tokenize in a dialect; cmd.exe also loses every `^`.
pub fn tokenize_in(text: &str, dialect: Dialect) -> Vec<String> {
    let mut tokens = tokenize(text, dialect);
    if dialect == Dialect::Cmd {
        for t in &mut tokens {
            t.retain(|c| c != '^');
        }
        tokens.retain(|t| !t.is_empty());
    }
    tokens
}

/// Normalize one segment into its tokens; the flag tells whether a bound was hit.
pub fn normalize_segment(seg: &str) -> (Vec<String>, bool) {
    normalize_segment_in(seg, head_dialect(seg).unwrap_or_default())
}

/// [`normalize_segment`] starting from a given dialect (the restrictive cmd.exe and
/// PowerShell re-parses).
pub fn normalize_segment_in(seg: &str, dialect: Dialect) -> (Vec<String>, bool) {
    let mut dialect = dialect;
    let mut tokens = tokenize_in(seg, dialect);
    let mut pos = 0;
    let mut wrappers = 0;
    let mut truncated = false;
    for step in 0.. {
        if step >= MAX_STEPS {
            truncated = true;
            break;
        }
        let before = (pos, tokens.len(), wrappers);
        while tokens.get(pos).is_some_and(|t| is_assignment(t)) {
            pos += 1;
        }
        if dialect == Dialect::Posix {
            if let Some(name) = tokens
                .get(pos)
                .filter(|t| executors::EXECUTORS.contains(&t.as_str()))
            {
                match executors::peel(name, tokens.get(pos..).unwrap_or(&[])) {
                    Some(Peeled::Skip(n)) => pos += n,
                    Some(Peeled::Replace(rest)) => {
                        tokens = rest;
                        pos = 0;
                        wrappers += 1; // counts as rework, like a wrapper
                    }
                    None => {}
                }
            }
        }
        if let Some(w) = locate_wrapper(tokens.get(pos..).unwrap_or(&[])) {
            if wrappers >= MAX_WRAPPERS {
                truncated = true;
                break;
            }
            wrappers += 1;
            match w {
                Wrapped::Script(text, d) => {
                    tokens = tokenize_in(&text, d);
                    dialect = d;
                    pos = 0;
                }
                Wrapped::Words {
                    at,
                    first,
                    dialect: d,
                } => {
                    pos += at;
                    if let (Some(f), Some(slot)) = (first, tokens.get_mut(pos)) {
                        *slot = f;
                    }
                    dialect = d;
                }
            }
        }
        if (pos, tokens.len(), wrappers) == before {
            break;
        }
    }
    while let Some(t) = tokens.get(pos) {
        match redirection(t) {
            Some(true) => pos += 2,
            Some(false) => pos += 1,
            None => break,
        }
    }
    tokens.drain(..pos.min(tokens.len()));
    (tokens, truncated)
}

/// Whether a token is a leading redirection: `Some(true)` when its target is the next
/// token (`>`, `2>`, `<<`), `Some(false)` when attached (`>nul`, `2>x`, `2>&1`).
pub fn redirection(token: &str) -> Option<bool> {
    let t = token.trim_start_matches(|c: char| c.is_ascii_digit());
    let t = t.strip_prefix('&').unwrap_or(t);
    let rest = t
        .strip_prefix(">>")
        .or_else(|| t.strip_prefix("<<"))
        .or_else(|| t.strip_prefix('>'))
        .or_else(|| t.strip_prefix('<'))?;
    let rest = rest.strip_prefix(['&', '|']).unwrap_or(rest);
    Some(rest.is_empty())
}

/// What a shell wrapper runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrapperBody {
    /// Exactly one word followed the flag: a script to parse again.
    Script(String, Dialect),
    /// Several words followed the flag: they are the command.
    Words(Vec<String>, Dialect),
}

/// Recognise a shell wrapper (`sh -c`, `cmd /c`, `pwsh -Command`) at the head of
/// `tokens` and return what it runs; `None` when it is not a wrapper or runs nothing.
pub fn wrapper_body(tokens: &[String]) -> Option<WrapperBody> {
    Some(match locate_wrapper(tokens)? {
        Wrapped::Script(text, d) => WrapperBody::Script(text, d),
        Wrapped::Words { at, first, dialect } => {
            let mut words: Vec<String> = tokens.get(at..)?.to_vec();
            if let (Some(f), Some(w)) = (first, words.first_mut()) {
                *w = f;
            }
            WrapperBody::Words(words, dialect)
        }
    })
}

/// Where a wrapper's command is, without copying the tokens.
enum Wrapped {
    /// Exactly one word follows the flag: re-parse it.
    Script(String, Dialect),
    /// The command is `tokens[at..]`, with `tokens[at]` replaced by `first` if given
    /// (cmd.exe's attached `/cdel`).
    Words {
        at: usize,
        first: Option<String>,
        dialect: Dialect,
    },
}

fn locate_wrapper(tokens: &[String]) -> Option<Wrapped> {
    let head = tokens.first()?;
    let base = basename(head);
    if base.len() > "powershell.exe".len() {
        return None; // longer than any wrapper name
    }
    // The names are lower-case ASCII: comparing ignoring ASCII case is comparing the
    // lower-cased base, without building it.
    let is = |names: &[&str]| names.iter().any(|n| base.eq_ignore_ascii_case(n));
    let (dialect, flag_at, attached) =
        if matches!(base, "sh" | "bash" | "zsh" | "dash" | "ash" | "ksh") {
            let at = flag_index(tokens, '-', |t| !t.starts_with("--") && t.contains('c'))?;
            (Dialect::Posix, at, "")
        } else if is(&["cmd", "cmd.exe"]) {
            let at = flag_index(tokens, '/', |t| {
                let l = t.get(..2).map(str::to_ascii_lowercase);
                l.as_deref() == Some("/c") || l.as_deref() == Some("/k")
            })?;
            (Dialect::Cmd, at, tokens.get(at)?.get(2..).unwrap_or(""))
        } else if is(&["powershell", "powershell.exe", "pwsh", "pwsh.exe"]) {
            let mut at = None;
            for (i, t) in tokens.iter().enumerate().skip(1) {
                let l = t.to_ascii_lowercase();
                if !t.starts_with('-') || l == "-file" {
                    return None;
                }
                if l == "-command" || l == "-c" {
                    at = Some(i);
                    break;
                }
            }
            (Dialect::PowerShell, at?, "")
        } else {
            return None;
        };
    let after = tokens.len() - flag_at - 1;
    let words = after + usize::from(!attached.is_empty());
    match words {
        0 => None,
        1 if attached.is_empty() => {
            Some(Wrapped::Script(tokens.get(flag_at + 1)?.clone(), dialect))
        }
        1 => Some(Wrapped::Script(attached.to_string(), dialect)),
        _ if attached.is_empty() => Some(Wrapped::Words {
            at: flag_at + 1,
            first: None,
            dialect,
        }),
        _ => Some(Wrapped::Words {
            at: flag_at,
            first: Some(attached.to_string()),
            dialect,
        }),
    }
}

/// Index of the first option after the head that satisfies `is_flag`; every earlier
/// token must be an option starting with `lead`.
fn flag_index(tokens: &[String], lead: char, is_flag: impl Fn(&str) -> bool) -> Option<usize> {
    for (i, t) in tokens.iter().enumerate().skip(1) {
        if !t.starts_with(lead) {
            return None;
        }
        if is_flag(t) {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`head_dialect`] on `str` slices, as first written.
    fn head_dialect_str(seg: &str) -> Option<Dialect> {
        let head = seg.split([' ', '\t']).find(|w| !w.is_empty())?;
        let head = basename(head.trim_matches(['"', '\'']));
        let is = |names: &[&str]| names.iter().any(|n| head.eq_ignore_ascii_case(n));
        if is(&["cmd", "cmd.exe"]) {
            Some(Dialect::Cmd)
        } else if is(&["sh", "bash", "zsh", "dash", "ash", "ksh"]) {
            Some(Dialect::Posix)
        } else if is(&["powershell", "powershell.exe", "pwsh", "pwsh.exe"]) {
            Some(Dialect::PowerShell)
        } else {
            None
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn head_dialect_on_bytes_is_head_dialect_on_str(
            seg in r#"([ \t'"/\\x.é]|sh|Bash|ZSH|dash|ksh|cmd|CMD.EXE|pwsh|PowerShell|\.exe|ls){0,8}"#
        ) {
            proptest::prop_assert_eq!(head_dialect(&seg), head_dialect_str(&seg), "{:?}", seg);
        }
    }

    fn n(s: &str) -> String {
        normalize(s)
    }

    #[test]
    fn normalize_strips_quotes_and_escapes() {
        for c in ["'rm' -rf /", "\"rm\" -rf /", "r\\m -rf /", "'r'm -rf /"] {
            assert_eq!(n(c), "rm -rf /", "{c}");
        }
    }

    #[test]
    fn normalize_drops_env_prefixes() {
        assert_eq!(n("FOO=bar BAZ=qux rm -rf /"), "rm -rf /");
        assert_eq!(n("FOO=bar"), "");
    }

    #[test]
    fn normalize_peels_nested_executors() {
        assert_eq!(n("command env -u RAMPART_MODE exec rm -rf /"), "rm -rf /");
        assert_eq!(n("env -S 'PATH=/usr/bin rm -rf /'"), "rm -rf /");
        assert_eq!(n("timeout -k1s -sTERM 5s rm -rf /"), "rm -rf /");
        assert_eq!(n("nohup nice -n5 stdbuf -oL git status"), "git status");
        assert_eq!(
            n("env -uRAMPART_TOKEN -C/tmp nohup timeout -k1s 5s nice -n5 setsid -fw stdbuf -oL rm -rf /"),
            "rm -rf /"
        );
    }

    #[test]
    fn normalize_leaves_executors_with_query_or_unknown_options() {
        for c in [
            "command -v rm",
            "nohup --help rm -rf /",
            "timeout --foreground rm -rf /",
            "setsid -x rm -rf /",
        ] {
            assert_eq!(n(c), c);
        }
    }

    #[test]
    fn normalize_peels_thirty_two_envs() {
        let c = format!("{}rm -rf /", "env ".repeat(32));
        assert_eq!(n(&c), "rm -rf /");
    }

    #[test]
    fn normalize_joins_segments_with_and() {
        assert_eq!(n("rm -rf / || echo failed"), "rm -rf / && echo failed");
        assert_eq!(
            n("cat /etc/passwd | grep root"),
            "cat /etc/passwd && grep root"
        );
    }

    #[test]
    fn normalize_unwraps_shell_wrappers() {
        assert_eq!(
            n("/bin/bash -c cat /etc/passwd && curl evil.com"),
            "cat /etc/passwd && curl evil.com"
        );
        assert_eq!(n("bash -c 'FOO=bar sh -c echo hello'"), "echo hello");
        assert_eq!(
            n("bash -c 'PATH=/tmp /usr/bin/zsh -c \"whoami\"'"),
            "whoami"
        );
        assert_eq!(n("bash -lc 'a && b'"), "a && b");
        assert_eq!(n("bash --norc -l -ec x"), "x");
    }

    #[test]
    fn normalize_shell_wrapper_needs_flags_only_before_c() {
        assert_eq!(n("bash -o pipefail -c x"), "bash -o pipefail -c x");
        assert_eq!(n("/bin/bash --login"), "/bin/bash --login");
        assert_eq!(n("/bin/bash -c"), "/bin/bash -c");
        assert_eq!(
            n("Bash -c x"),
            "Bash -c x",
            "sh-family names are case-sensitive"
        );
    }

    #[test]
    fn normalize_leaves_interpreters_alone() {
        assert_eq!(n("python -c print('hi')"), "python -c print(hi)");
    }

    #[test]
    fn normalize_unwraps_cmd_exe() {
        assert_eq!(n("cmd.exe /c d^el /q secret.txt"), "del /q secret.txt");
        assert_eq!(n("cmd /k\"DIR C:\\Temp\""), "DIR C:\\Temp");
        assert_eq!(n("CMD /Q /Cdel x"), "del x");
    }

    #[test]
    fn normalize_unwraps_powershell_command_but_not_file() {
        assert_eq!(
            n("pwsh.exe -NoProfile -Command Get-ChildItem"),
            "Get-ChildItem"
        );
        assert_eq!(n("powershell -File s.ps1"), "powershell -File s.ps1");
        assert_eq!(n("powershell -c 'Remove-Item x'"), "Remove-Item x");
    }

    #[test]
    fn normalize_removes_quotes_so_quoted_separators_resurface() {
        assert_eq!(n("echo 'a&&b'"), "echo a&&b");
    }

    #[test]
    fn normalize_keeps_substitutions() {
        assert_eq!(n("echo `whoami`"), "echo `whoami`");
        assert_eq!(n("echo $(whoami)"), "echo $(whoami)");
    }

    #[test]
    fn normalize_drops_leading_redirections() {
        assert_eq!(n("> out rm x"), "rm x");
        assert_eq!(n(">nul 2>x del y"), "del y");
        assert_eq!(n("2> err rm x"), "rm x");
    }

    #[test]
    fn normalize_sanitizes_first() {
        assert_eq!(n("r\0m -rf\r /"), "rm -rf /");
    }

    #[test]
    fn normalize_bounds_wrapper_unwrapping() {
        let mut c = String::from("x");
        for _ in 0..200 {
            c = format!("sh -c {}", c);
        }
        let out = normalize_full(&c);
        assert!(out.truncated);
    }
}
