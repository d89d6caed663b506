//! Names of the environment variables a command assigns (spec §4.8), for
//! `command_env_assignments`.
//!
//! Names come from three parses (POSIX, cmd.exe, PowerShell), following shell wrappers
//! and subcommands up to [`MAX_DEPTH`] levels. Only syntax in command position counts,
//! so quoted mentions (`printf 'LD_PRELOAD=%s'`) never do.

use super::executors::{self, is_assignment, is_var_name, Peeled};
use super::normalize::{tokenize_in, wrapper_body, WrapperBody};
use super::sanitize::sanitize;
use super::split::split_dialect;
use super::subcommands;
use super::tokenize::Dialect;

/// How deep wrappers and subcommands are followed.
pub const MAX_DEPTH: usize = 4;

/// The variable names assigned by `cmd`, in discovery order, without duplicates.
pub fn env_assignment_names(cmd: &str) -> Vec<String> {
    let out = Vec::new();
    let clean = sanitize(cmd);
    // Subcommands are pieces of the command (or, after `eval`, its quote-free words
    // re-joined with spaces): when no dialect can find an assignment in the whole
    // command, none can in any of them either.
    if !may_assign_in_any_dialect(&clean) {
        return out;
    }
    names_ungated(&clean, out)
}

/// [`env_assignment_names`] of a sanitized command, without the cheap rejection.
fn names_ungated(clean: &str, mut out: Vec<String>) -> Vec<String> {
    collect(clean, 0, &mut out);
    // One extraction pass already lists nested subcommands at every depth.
    let mut budget = SCAN_BUDGET;
    for sub in subcommands::extract(clean).commands {
        budget = match budget.checked_sub(sub.len()) {
            Some(b) => b,
            None => break,
        };
        collect(&sub, 1, &mut out);
    }
    out
}

/// Most subcommand bytes scanned for assignments.
const SCAN_BUDGET: usize = 4 * super::MAX_COMMAND;

fn push(out: &mut Vec<String>, name: &str) {
    if !name.is_empty() && !out.iter().any(|n| n == name) {
        out.push(name.to_string());
    }
}

/// Scan every segment of `cmd` in the three dialects; wrappers recurse.
fn collect(cmd: &str, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    for dialect in [Dialect::Posix, Dialect::Cmd, Dialect::PowerShell] {
        if !may_assign(cmd, dialect) {
            continue;
        }
        let split_rules = if dialect == Dialect::Cmd {
            Dialect::Cmd
        } else {
            Dialect::Posix
        };
        for seg in split_dialect(cmd, split_rules).segments {
            if dialect == Dialect::PowerShell {
                dotnet_setter(seg, out);
            }
            let tokens = tokenize_in(seg, dialect);
            scan(&tokens, dialect, depth, out);
        }
    }
}

/// Cheap pre-check: without any of these marks (or an escape or quote that could hide
/// one), a dialect's parse cannot find an assignment.
fn may_assign(cmd: &str, dialect: Dialect) -> bool {
    let has = |w: &str| {
        cmd.as_bytes()
            .windows(w.len())
            .any(|x| x.eq_ignore_ascii_case(w.as_bytes()))
    };
    match dialect {
        Dialect::Posix => {
            cmd.contains(['=', '\\', '\'', '"'])
                || ["export", "declare", "typeset"]
                    .iter()
                    .any(|w| cmd.contains(w))
        }
        Dialect::Cmd => cmd.contains(['^', '"']) || has("set"),
        Dialect::PowerShell => cmd.contains('`') || has("env:") || has("environment]::"),
    }
}

/// Whether some dialect's parse may find an assignment in `cmd` or its subcommands.
/// Every name is found through an `=` (assignments, `env`, `set`), or a keyword
/// (`export`, `declare`, `typeset`; `set`/`setx`; `env:`, `environment]::`,
/// ASCII case ignored where the dialect ignores it) in a word, and words are the
/// command's characters minus quotes, escapes and line continuations: without an
/// `=`, and without a keyword once those are removed, there is nothing to find.
fn may_assign_in_any_dialect(cmd: &str) -> bool {
    if cmd.contains('=') {
        return true;
    }
    let hiding = |b: &u8| matches!(b, b'\'' | b'"' | b'\\' | b'^' | b'`' | b'\n');
    let kept: std::borrow::Cow<[u8]> = if cmd.bytes().any(|b| hiding(&b)) {
        let mut kept = Vec::with_capacity(cmd.len());
        kept.extend(cmd.bytes().filter(|b| !hiding(b)));
        kept.into()
    } else {
        cmd.as_bytes().into()
    };
    (0..kept.len()).any(|i| {
        let rest = kept.get(i..).unwrap_or(&[]);
        let exact = |w: &[u8]| rest.starts_with(w);
        let folded = |w: &[u8]| {
            rest.get(..w.len())
                .is_some_and(|r| r.eq_ignore_ascii_case(w))
        };
        match rest.first() {
            Some(b'e' | b'E') => exact(b"export") || folded(b"env:") || folded(b"environment]::"),
            Some(b'd') => exact(b"declare"),
            Some(b't') => exact(b"typeset"),
            Some(b's' | b'S') => folded(b"set"),
            _ => false,
        }
    })
}

/// Walk one segment's words in command position.
fn scan(tokens: &[String], dialect: Dialect, depth: usize, out: &mut Vec<String>) {
    let mut owned: Vec<String>;
    let mut tokens = tokens;
    let mut pos = 0;
    for _ in 0..tokens.len().saturating_mul(2).max(8) {
        while let Some(t) = tokens.get(pos).filter(|t| is_assignment(t)) {
            push(out, t.split_once('=').map_or("", |(n, _)| n));
            pos += 1;
        }
        let Some(head) = tokens.get(pos) else { return };
        let rest = tokens.get(pos..).unwrap_or(&[]);
        match dialect {
            Dialect::Posix => {
                if head == "env" {
                    env_names(rest, out);
                }
                if matches!(head.as_str(), "export" | "declare" | "typeset") {
                    for arg in rest.iter().skip(1).filter(|a| !a.starts_with(['-', '+'])) {
                        let name = arg.split_once('=').map_or(arg.as_str(), |(n, _)| n);
                        if is_var_name(name) {
                            push(out, name);
                        }
                    }
                    return;
                }
                if executors::EXECUTORS.contains(&head.as_str()) {
                    match executors::peel(head, rest) {
                        Some(Peeled::Skip(n)) => {
                            pos += n;
                            continue;
                        }
                        Some(Peeled::Replace(v)) => {
                            owned = v;
                            tokens = &owned;
                            pos = 0;
                            continue;
                        }
                        None => {}
                    }
                }
            }
            Dialect::Cmd => {
                let lower = head.to_ascii_lowercase();
                if lower == "set" || lower == "setx" {
                    if let Some(arg) = rest.iter().skip(1).find(|a| !a.starts_with('/')) {
                        let arg = arg.trim_matches('"');
                        match arg.split_once('=') {
                            Some((name, _)) => push(out, name.trim()),
                            None if lower == "setx" => push(out, arg),
                            None => {}
                        }
                    }
                    return;
                }
            }
            Dialect::PowerShell => {
                powershell_names(rest, out);
            }
        }
        if let Some(body) = wrapper_body(rest) {
            if depth < MAX_DEPTH {
                match body {
                    WrapperBody::Script(text, _) => collect(&text, depth + 1, out),
                    WrapperBody::Words(words, d) => scan(&words, d, depth + 1, out),
                }
            }
        }
        return;
    }
}

/// Assignments after `env` and its options.
fn env_names(tokens: &[String], out: &mut Vec<String>) {
    let mut args = tokens.iter().skip(1);
    while let Some(t) = args.next() {
        match t.as_str() {
            "-u" | "--unset" | "-C" | "--chdir" | "--argv0" | "-S" | "--split-string" => {
                args.next();
            }
            "--" => {}
            _ if t.starts_with('-') => {}
            _ if is_assignment(t) => push(out, t.split_once('=').map_or("", |(n, _)| n)),
            _ => return,
        }
    }
}

/// `$env:NAME=…`, `${env:NAME}=…`, and `Set-Item`/`New-Item`/`Set-Content Env:NAME`.
fn powershell_names(tokens: &[String], out: &mut Vec<String>) {
    let Some(head) = tokens.first() else { return };
    let lower = head.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("$env:") {
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = head.get(5..5 + len).unwrap_or("");
        let after = head.get(5 + len..).unwrap_or("");
        let assigns = after.starts_with('=')
            || (after.is_empty() && tokens.get(1).is_some_and(|t| t.starts_with('=')));
        if assigns {
            push(out, name);
        }
        return;
    }
    if let Some(rest) = lower.strip_prefix("${env:") {
        if let Some(end) = rest.find('}') {
            push(out, head.get(6..6 + end).unwrap_or(""));
        }
        return;
    }
    if matches!(
        lower.as_str(),
        "set-item" | "new-item" | "set-content" | "si" | "ni"
    ) {
        for arg in tokens.iter().skip(1) {
            if arg.len() > 4 && arg.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("env:")) {
                let name = arg.get(4..).unwrap_or("").trim_start_matches(['\\', '/']);
                push(out, name);
            }
        }
    }
}

/// `[Environment]::SetEnvironmentVariable('NAME', …)` at the head of a segment.
fn dotnet_setter(seg: &str, out: &mut Vec<String>) {
    let lower = seg.trim_start().to_ascii_lowercase();
    let call = [
        "[environment]::setenvironmentvariable(",
        "[system.environment]::setenvironmentvariable(",
    ]
    .iter()
    .find(|p| lower.starts_with(*p));
    let Some(call) = call else { return };
    let args = seg.trim_start().get(call.len()..).unwrap_or("");
    let name: String = args
        .trim_start_matches([' ', '\'', '"'])
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    push(out, &name);
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        #[test]
        fn the_cheap_rejection_never_drops_a_name(c in ASSIGN_SOUP) {
            let clean = sanitize(&c);
            if !may_assign_in_any_dialect(&clean) {
                proptest::prop_assert!(names_ungated(&clean, Vec::new()).is_empty(), "{:?}", c);
            }
            proptest::prop_assert_eq!(
                env_assignment_names(&c),
                names_ungated(&clean, Vec::new()),
                "{:?}", c
            );
        }
    }

    /// Command soup around the keywords and escapes the assignment scan reacts to.
    const ASSIGN_SOUP: &str = "((ex|port|export|EXPORT|de|clare|declare|type|set|typeset|SET|s|et|x|env|ENV|:|\\$|\\{|\\}|Environment|]::|\\[|Set-Item|si|ni|sh|-c|cmd|/c|pwsh|-Command|FOO|A|=|'|\"|\\\\|\\^|`|\n| |;|\\$\\(|\\)|eval|nice|env -S){0,10})";

    #[test]
    fn rejection_keeps_hidden_keywords() {
        for c in [
            "ex'port' FOO",
            "s^et X",
            "$e`nv:X",
            "ex\\\nport FOO",
            "setx A",
            "Set-Item Env:A",
        ] {
            assert!(may_assign_in_any_dialect(c), "{c:?}");
        }
        for c in ["git status", "grep -rn 'TODO' src/", "ls -la"] {
            assert!(!may_assign_in_any_dialect(c), "{c:?}");
        }
    }

    fn names(c: &str) -> Vec<String> {
        env_assignment_names(c)
    }

    #[test]
    fn env_names_from_leading_assignments() {
        assert_eq!(names("LD_PRELOAD=/tmp/evil.so ls"), ["LD_PRELOAD"]);
        assert_eq!(names("A=1 B=2 true"), ["A", "B"]);
    }

    #[test]
    fn env_names_after_env_utility() {
        assert_eq!(names("env -i LD_PRELOAD=/tmp/evil.so ls"), ["LD_PRELOAD"]);
    }

    #[test]
    fn env_names_from_export_declare_typeset() {
        assert_eq!(names("export LD_PRELOAD=/tmp/evil.so"), ["LD_PRELOAD"]);
        assert_eq!(names("declare -x FOO=1 BAR"), ["FOO", "BAR"]);
    }

    #[test]
    fn env_names_from_cmd_set_and_setx() {
        assert_eq!(names("set RAMPART_MODE=off"), ["RAMPART_MODE"]);
        assert_eq!(names("setx RAMPART_URL http://x"), ["RAMPART_URL"]);
    }

    #[test]
    fn env_names_from_powershell() {
        assert_eq!(names("$env:RAMPART_MODE='off'"), ["RAMPART_MODE"]);
        assert_eq!(names("$env:RAMPART_MODE = 'off'"), ["RAMPART_MODE"]);
        assert_eq!(names("Set-Item Env:RAMPART_MODE off"), ["RAMPART_MODE"]);
        assert_eq!(
            names("[Environment]::SetEnvironmentVariable('LD_PRELOAD', 'x')"),
            ["LD_PRELOAD"]
        );
    }

    #[test]
    fn env_names_follow_wrappers_and_subcommands() {
        assert_eq!(names("bash -c 'LD_PRELOAD=x ls'"), ["LD_PRELOAD"]);
        assert_eq!(names("echo $(FOO=1 true)"), ["FOO"]);
        assert_eq!(names("nohup env BAR=1 x"), ["BAR"]);
    }

    #[test]
    fn env_names_ignore_quoted_mentions() {
        assert!(names("printf 'LD_PRELOAD=%s' x").is_empty());
        assert!(names("echo 'set RAMPART_MODE=x'").is_empty());
    }

    #[test]
    fn env_names_keep_case() {
        assert_eq!(names("rampart_mode=disabled true"), ["rampart_mode"]);
    }
}
