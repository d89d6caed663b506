//! Spec §4.6 examples for [`analyze`], and §4.9 comment-line stripping.

use super::*;

fn components(c: &str) -> Vec<String> {
    analyze(c).components
}

#[test]
fn analyze_simple_command_is_one_component() {
    let a = analyze("git status");
    assert_eq!(a.components, ["git status"]);
    assert!(!a.composite);
    assert_eq!(a.opaque, None);
}

#[test]
fn analyze_compound_lists_every_segment() {
    let a = analyze("git status && rm -rf /tmp/x");
    assert!(a.composite);
    assert_eq!(a.components, ["git status", "rm -rf /tmp/x"]);
}

#[test]
fn analyze_subcommands_become_components() {
    assert_eq!(
        components("echo $(git status)"),
        ["echo $(git status)", "git status"]
    );
    assert_eq!(components("echo `a; b`"), ["echo `a", "b`", "a", "b"]);
}

#[test]
fn analyze_unwraps_shell_wrappers() {
    assert_eq!(components("bash -c 'git status'"), ["git status"]);
    assert_eq!(components("echo 'git status'"), ["echo git status"]);
}

#[test]
fn analyze_quirk_quoted_separator_splits_after_normalization() {
    assert_eq!(components("echo 'a;b'"), ["echo a", "b"]);
}

#[test]
fn analyze_empty_normalization_falls_back_to_command() {
    let a = analyze("FOO=bar");
    assert_eq!(a.normalized, "FOO=bar");
    assert_eq!(a.components, ["FOO=bar"]);
}

#[test]
fn analyze_end_to_end_example_4_10() {
    let a = analyze("FOO=1 bash -lc 'echo ok; /bin/rm -fr /tmp/../'");
    assert_eq!(a.normalized, "echo ok; /bin/rm -fr /tmp/../");
    assert_eq!(a.components, ["echo ok", "/bin/rm -fr /tmp/../"]);
}

#[test]
fn analyze_marks_unterminated_quotes_opaque() {
    assert_eq!(
        analyze("echo 'abc").opaque.as_deref(),
        Some(opaque::UNTERMINATED_QUOTE)
    );
}

#[test]
fn analyze_marks_unclosed_substitution_opaque() {
    assert_eq!(
        analyze("echo $(id").opaque.as_deref(),
        Some(opaque::UNCLOSED_SUBSTITUTION)
    );
}

#[test]
fn analyze_marks_deep_nesting_opaque() {
    let deep = format!("{}id{}", "$(".repeat(64), ")".repeat(64));
    assert_eq!(analyze(&deep).opaque.as_deref(), Some(opaque::TOO_DEEP));
}

#[test]
fn analyze_marks_over_long_commands_opaque() {
    let long = "a".repeat(MAX_COMMAND + 1);
    let a = analyze(&long);
    assert_eq!(a.opaque.as_deref(), Some(opaque::TOO_LONG));
    assert!(a.components.is_empty());
}

#[test]
fn strip_leading_comment_lines_drops_blank_and_hash_lines() {
    assert_eq!(
        strip_leading_comment_lines("# note\n\n  # x\nrm -rf /\n# y"),
        "rm -rf /\n# y"
    );
    assert_eq!(strip_leading_comment_lines("# only\n#comments"), "");
    assert_eq!(strip_leading_comment_lines("git status"), "git status");
    assert_eq!(strip_leading_comment_lines(""), "");
}

#[test]
fn quoted_plain_commands_take_the_fast_path_with_the_general_result() {
    assert_eq!(
        quoted_plain_normalization("git commit -m 'fix: handle empty input'").as_deref(),
        Some("git commit -m fix: handle empty input")
    );
    for cmd in [
        "git commit -m 'fix: handle empty input'",
        "grep -rn 'TODO' src/",
        "echo ' x '",
        "echo \"it's\" 'say \"hi\"'",
        "a'b'c \"d\"e",
        "echo '' x",
        "echo 'open",
        "'sh' -c 'rm -rf /'",
        "\"nice\" rm",
        "'A=1' ls",
        "e'val' ls",
        "'/bin/sh' x",
        "'my cmd' x",
        "x 'a;b'",
        "  'ls'  ",
    ] {
        assert_eq!(analyze(cmd), analyze_general(cmd), "{cmd:?}");
    }
    // Deeply alternating quotes (the pathological bench's `nested_quotes_2000`).
    for n in [1, 2, 3, 4, 7, 2000] {
        let open: String = (0..n)
            .map(|i| if i % 2 == 0 { '"' } else { '\'' })
            .collect();
        let close: String = open.chars().rev().collect();
        for cmd in [
            format!("echo {open}{close}"),
            format!("echo {open}x{close} y"),
        ] {
            assert_eq!(analyze(&cmd), analyze_general(&cmd), "{cmd:?}");
        }
    }
}

#[test]
fn the_plain_byte_table_is_its_definition() {
    for b in 0..=255u8 {
        assert_eq!(is_plain_byte(b), is_plain_byte_spec(b), "{b}");
    }
}
