//! Property tests: the shell parsers and the matchers never panic, whatever the input
//! (arbitrary strings, arbitrary bytes read lossily, and shell-flavoured soup), and a
//! few invariants hold.

use engine::command::{CommandConditions, CommandView};
use engine::glob::{DomainGlob, Glob, PathGlob};
use engine::shell;
use proptest::prelude::*;

/// Strings biased towards the characters the parsers care about.
fn shellish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "rm",
        "-rf",
        "/",
        " ",
        "\t",
        "\n",
        "'",
        "\"",
        "\\",
        "`",
        "$(",
        ")",
        "(",
        "<(",
        ">(",
        "{",
        "}",
        ";",
        "&",
        "&&",
        "|",
        "||",
        ">",
        "<",
        "<<<",
        "2>&1",
        "#",
        "=",
        "FOO=1",
        "env",
        "-S",
        "bash",
        "-c",
        "cmd",
        "/c",
        "^",
        "pwsh",
        "-Command",
        "eval",
        "find",
        "-delete",
        "-exec",
        "{}",
        "\\;",
        "busybox",
        "timeout",
        "5s",
        "nice",
        "-n",
        "*",
        "**",
        "?",
        "[",
        "]",
        "$env:X=1",
        "export",
        "set",
        "é",
        "\u{1b}[31m",
        "\0",
        "\r",
    ]);
    prop::collection::vec(atoms, 0..40).prop_map(|v| v.concat())
}

fn conditions() -> Vec<CommandConditions> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        CommandConditions::new(
            &s(&["rm -rf /", "rm -rf /var/**", "*curl*bash*"]),
            &s(&["rm -rf /tmp/**"]),
            &s(&["base64 -d"]),
            &[],
        ),
        CommandConditions::new(&[], &s(&["ls *"]), &s(&[".ssh/"]), &s(&["LD_*"])),
        CommandConditions::new(&s(&["git *", "a && b"]), &s(&["git push*"]), &[], &[]),
    ]
}

fn exercise(cmd: &str) {
    let _ = shell::normalize(cmd);
    let a = shell::analyze(cmd);
    let _ = shell::extract_subcommands(cmd);
    let _ = shell::env_assignment_names(cmd);
    let _ = shell::strip_leading_comment_lines(cmd);
    let _ = shell::aliases::canonical_aliases(cmd);
    let _ = shell::aliases::semantic_aliases(cmd);
    let _ = shell::aliases::foreign_reparses(cmd);
    let view = CommandView::new(cmd);
    for c in conditions() {
        let _ = c.evaluate(&view, true);
        let _ = c.evaluate(&view, false);
    }
    assert!(a.composite || a.components.len() == 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn shell_never_panics_on_arbitrary_strings(cmd in any::<String>()) {
        exercise(&cmd);
    }

    #[test]
    fn shell_never_panics_on_lossy_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn shell_never_panics_on_shellish_input(cmd in shellish()) {
        exercise(&cmd);
    }

    #[test]
    fn normalize_output_has_no_control_characters(cmd in shellish()) {
        let n = shell::normalize(&cmd);
        prop_assert!(!n.chars().any(|c| (c as u32) < 0x20 && c != '\t' && c != '\n'));
    }

    #[test]
    fn globs_never_panic(pattern in shellish(), input in shellish()) {
        let _ = Glob::new(&pattern).is_match(&input);
        let _ = Glob::new(&pattern).is_match_lowercase(&input);
        let _ = PathGlob::new(&pattern).is_match(&input);
        let _ = DomainGlob::new(&pattern).is_match(&input);
    }

    #[test]
    fn literal_globs_match_exactly_themselves(s in "[a-z ./-]{1,20}") {
        let g = Glob::new(&s);
        prop_assert!(g.is_match(&s));
        let other = format!("{s}x");
        prop_assert!(!g.is_match(&other));
    }

    #[test]
    fn trailing_star_glob_matches_every_extension(prefix in "[a-z -]{1,10}", rest in ".{0,20}") {
        let g = Glob::new(&format!("{prefix}*"));
        let input = format!("{prefix}{rest}");
        prop_assert!(g.is_match(&input));
    }

    #[test]
    fn restrictive_rm_rule_sees_through_quotes(path in "/[a-z]{0,8}") {
        let c = CommandConditions::new(&["rm -rf /**".to_string(), "rm -rf /".to_string()], &[], &[], &[]);
        for cmd in [format!("'rm' -rf {path}"), format!("r\\m -fr {path}"), format!("echo x; /bin/rm -rf {path}")] {
            let out = c.evaluate(&CommandView::new(&cmd), true);
            prop_assert!(matches!(out, engine::command::CommandOutcome::Match(_)), "{}", cmd);
        }
    }

    #[test]
    fn plain_command_fast_path_equals_the_general_analysis(
        words in prop::collection::vec(plain_word(), 0..8),
        gaps in prop::collection::vec(" {1,3}", 8),
        lead in " {0,2}",
        tail in " {0,2}",
    ) {
        let mut cmd = lead;
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                cmd.push_str(&gaps[i]);
            }
            cmd.push_str(w);
        }
        cmd.push_str(&tail);
        prop_assert_eq!(shell::analyze(&cmd), shell::analyze_general(&cmd), "{:?}", cmd);
        prop_assert_eq!(
            shell::normalize_full(&cmd),
            shell::normalize::normalize_general(&cmd),
            "{:?}", cmd
        );
    }

    #[test]
    fn fast_path_agrees_on_shellish_soup(cmd in shellish()) {
        prop_assert_eq!(shell::analyze(&cmd), shell::analyze_general(&cmd), "{:?}", cmd);
        prop_assert_eq!(
            shell::normalize_full(&cmd),
            shell::normalize::normalize_general(&cmd),
            "{:?}", cmd
        );
    }
}

/// Words of plain commands, including the heads the fast path must refuse
/// (executors, shells, `eval`, assignments) and near misses of them.
fn plain_word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9._/:,+@%~=-]{1,8}",
        2 => "[a-z=-]{0,3}(['\"][a-zA-Z0-9 ._/:,+@%~=;|&$\\\\'\"-]{0,6}['\"]?)?[a-z.-]{0,3}",
        1 => prop::sample::select(vec![
            "git", "status", "rm", "-rf", "/", "env", "nice", "-n5", "timeout", "5s", "nohup",
            "command", "exec", "setsid", "stdbuf", "-oL", "sh", "bash", "/bin/sh", "BASH", "zsh",
            "cmd", "CMD.EXE", "cmd.exe", "/c", "pwsh", "powershell", "-Command", "eval", "FOO=bar",
            "A=1", "=x", "a=b=c", "-c", "--", "-", "~", "busybox", "find", "sudo", "xargs",
            "sh.exe", "./run.sh", "2", "1", "evals", "envx", "'git'", "'nice'", "\"sh\"",
            "'A=1'", "e'val'", "''", "\"\"", "'a b'", "' x '", "\"it's\"", "'say \"hi\"'",
            "'unterminated", "'sh' -c", "'/bin/sh'", "'cmd'", "\"CMD.exe\"", "' '",
        ])
        .prop_map(str::to_string),
    ]
}
