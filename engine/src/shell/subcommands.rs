//! `ExtractSubcommands` (spec §4.5): commands embedded in `$( … )`, backticks, `eval`
//! and process substitutions, in that order, each followed by its own subcommands.
//!
//! Quotes do not hide a substitution here (conservative). Recursion and output are
//! bounded; hitting a bound is reported so the command can be marked opaque.

use super::executors::is_assignment;
use super::sanitize::sanitize;
use super::tokenize::{tokenize, Dialect};

/// Deepest nesting followed.
pub const MAX_DEPTH: usize = 16;
/// Most subcommands collected.
pub const MAX_SUBCOMMANDS: usize = 4096;
/// Most bytes of subcommand text collected (nested text is counted at every level,
/// so this bounds the work of chains like `eval eval eval …`).
pub const MAX_SUBCOMMAND_BYTES: usize = 4 * super::MAX_COMMAND;

/// Subcommands plus what the extraction ran into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extraction {
    /// The inner commands, in output order.
    pub commands: Vec<String>,
    /// A `$(`, backtick or `<(` was never closed.
    pub unclosed: bool,
    /// Nesting, count or size exceeded the bounds; the list is incomplete.
    pub truncated: bool,
    /// Bytes collected so far.
    bytes: usize,
}

/// The commands embedded in `cmd` (run on the sanitized command).
pub fn extract_subcommands(cmd: &str) -> Vec<String> {
    extract(cmd).commands
}

/// [`extract_subcommands`] with its diagnostics.
pub fn extract(cmd: &str) -> Extraction {
    let mut out = Extraction::default();
    if cannot_embed(cmd) {
        return out;
    }
    walk(&sanitize(cmd), 0, &mut out);
    out
}

/// Whether `cmd` certainly embeds no command: it has no `$`, backtick or `(` (every
/// construct but `eval` needs one), no control byte that sanitizing would drop (so the
/// sanitized text is `cmd`), and no `eval`. [`walk`] then finds nothing.
fn cannot_embed(cmd: &str) -> bool {
    !cmd.bytes()
        .any(|b| matches!(b, b'$' | b'`' | b'(') || (b < 0x20 && b != b'\t' && b != b'\n'))
        && !cmd.contains("eval")
}

fn walk(cmd: &str, depth: usize, out: &mut Extraction) {
    if depth >= MAX_DEPTH {
        out.truncated = true;
        return;
    }
    dollar_parens(cmd, depth, out);
    backticks(cmd, depth, out);
    eval(cmd, depth, out);
    process_substitutions(cmd, depth, out);
}

fn emit(inner: &str, depth: usize, out: &mut Extraction) {
    let inner = inner.trim();
    if inner.is_empty() || out.truncated {
        return;
    }
    if out.commands.len() >= MAX_SUBCOMMANDS || out.bytes + inner.len() > MAX_SUBCOMMAND_BYTES {
        out.truncated = true;
        return;
    }
    out.bytes += inner.len();
    out.commands.push(inner.to_string());
    walk(inner, depth + 1, out);
}

/// `$( … )`: only a nested `$(` deepens.
fn dollar_parens(cmd: &str, depth: usize, out: &mut Extraction) {
    let b = cmd.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b.get(i..i + 2) != Some(b"$(") {
            i += 1;
            continue;
        }
        let start = i + 2;
        let mut level = 1;
        let mut j = start;
        while j < b.len() && level > 0 {
            if b.get(j..j + 2) == Some(b"$(") {
                level += 1;
                j += 2;
                continue;
            }
            if b.get(j) == Some(&b')') {
                level -= 1;
                if level == 0 {
                    emit(cmd.get(start..j).unwrap_or(""), depth, out);
                }
            }
            j += 1;
        }
        if level > 0 {
            out.unclosed = true;
        }
        i = j;
    }
}

/// `` `…` ``: no nesting; an unclosed backtick is skipped.
fn backticks(cmd: &str, depth: usize, out: &mut Extraction) {
    let mut rest = cmd;
    while let Some(open) = rest.find('`') {
        let after = rest.get(open + 1..).unwrap_or("");
        match after.find('`') {
            Some(close) => {
                emit(after.get(..close).unwrap_or(""), depth, out);
                rest = after.get(close + 1..).unwrap_or("");
            }
            None => {
                out.unclosed = true;
                rest = after;
            }
        }
    }
}

/// `eval ARGS` as the first word (after assignments) of the whole command.
fn eval(cmd: &str, depth: usize, out: &mut Extraction) {
    let trimmed = cmd.trim();
    if !trimmed.contains("eval") {
        return;
    }
    let tokens = tokenize(trimmed, Dialect::Posix);
    let start = tokens.iter().take_while(|t| is_assignment(t)).count();
    let tokens = tokens.get(start..).unwrap_or(&[]);
    if tokens.len() >= 2 && tokens.first().is_some_and(|t| t == "eval") {
        emit(&tokens.get(1..).unwrap_or(&[]).join(" "), depth, out);
    }
}

/// `<( … )` and `>( … )`: every `(` deepens.
fn process_substitutions(cmd: &str, depth: usize, out: &mut Extraction) {
    let b = cmd.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        let opens = matches!(b.get(i), Some(b'<' | b'>')) && b.get(i + 1) == Some(&b'(');
        if !opens {
            i += 1;
            continue;
        }
        let start = i + 2;
        let mut level = 1;
        let mut j = start;
        while j < b.len() && level > 0 {
            match b.get(j) {
                Some(b'(') => level += 1,
                Some(b')') => {
                    level -= 1;
                    if level == 0 {
                        emit(cmd.get(start..j).unwrap_or(""), depth, out);
                    }
                }
                _ => {}
            }
            j += 1;
        }
        if level > 0 {
            out.unclosed = true;
        }
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn the_cheap_rejection_drops_no_subcommand(
            c in r#"([a-z0-9 $`()<>;|&'"\\\x1b\x00\r\t\n\[m]|eval|e\x01val){0,16}"#
        ) {
            let mut full = Extraction::default();
            walk(&sanitize(&c), 0, &mut full);
            proptest::prop_assert_eq!(extract(&c), full, "{:?}", c);
        }
    }

    #[test]
    fn subcommands_nested_dollar_parens_recurse() {
        assert_eq!(
            extract_subcommands("$(echo $(whoami))"),
            ["echo $(whoami)", "whoami"]
        );
    }

    #[test]
    fn subcommands_order_is_dollar_then_backtick() {
        assert_eq!(extract_subcommands("echo `uname` $(id)"), ["id", "uname"]);
    }

    #[test]
    fn subcommands_process_substitution() {
        assert_eq!(
            extract_subcommands("diff <(cat /etc/passwd) <(echo test)"),
            ["cat /etc/passwd", "echo test"]
        );
    }

    #[test]
    fn subcommands_eval_first_word_only() {
        assert_eq!(extract_subcommands("eval \"rm -rf /\""), ["rm -rf /"]);
        assert_eq!(extract_subcommands("A=1 eval 'x y'"), ["x y"]);
        assert!(extract_subcommands("echo eval x").is_empty());
    }

    #[test]
    fn subcommands_unclosed_constructs_yield_nothing() {
        let e = extract("echo $(whoami");
        assert!(e.commands.is_empty());
        assert!(e.unclosed);
        let e = extract("echo `id");
        assert!(e.commands.is_empty());
        assert!(e.unclosed);
        assert!(extract_subcommands("echo $( )").is_empty());
    }

    #[test]
    fn subcommands_total_size_is_bounded() {
        let chain = format!("{}x", "eval ".repeat(1600));
        let e = extract(&chain);
        assert!(e.truncated);
        assert!(e.commands.iter().map(String::len).sum::<usize>() <= MAX_SUBCOMMAND_BYTES);
    }

    #[test]
    fn subcommands_nesting_is_bounded() {
        let deep = format!("{}x{}", "$(".repeat(100), ")".repeat(100));
        let e = extract(&deep);
        assert!(e.truncated);
        assert!(e.commands.len() <= MAX_DEPTH);
    }
}
