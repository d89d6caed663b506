//! Policy loading on arbitrary bytes: the strict loader never panics, every rejection
//! carries a position inside the text, and whatever loads compiles and decides.
#![no_main]

use engine::policy::parse_str;
use engine::{Engine, LoadError, ToolCall};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_str("fuzz.yaml", text) {
        Ok(file) => {
            assert_eq!(file.path, "fuzz.yaml");
            let engine = Engine::from_yaml("fuzz.yaml", text).expect("a parsed file compiles");
            for call in [
                ToolCall::exec("rm -rf /"),
                ToolCall::exec("git status && echo ok"),
                ToolCall {
                    tool: "read".into(),
                    params: [("path".to_string(), "~/.ssh/id_rsa".into())]
                        .into_iter()
                        .collect(),
                    ..Default::default()
                },
            ] {
                let d = engine.evaluate(&call);
                assert!(
                    d.matched_policies
                        .iter()
                        .all(|m| d.policies_in_scope.contains(m)),
                    "matched policies are in scope"
                );
                let _ = engine.evaluate_response(&call, text);
            }
        }
        Err(LoadError::Invalid {
            path, line, column, ..
        }) => {
            assert_eq!(path, "fuzz.yaml");
            assert!(line >= 1 && column >= 1, "errors carry a real position");
            let lines = editor_lines(text);
            assert!(line <= lines.len(), "the line is inside the text");
            assert!(
                column <= lines[line - 1].chars().count() + 1,
                "the column is inside its line"
            );
        }
        Err(other) => panic!("parse_str cannot fail with {other}"),
    }
});

/// The lines an editor shows: `\r\n`, `\n` and a lone `\r` each end a line (the
/// rule the loader's positions follow); text after the last break (possibly empty)
/// is the last line.
fn editor_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['\r', '\n']) {
        lines.push(&rest[..i]);
        let width = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + width..];
    }
    lines.push(rest);
    lines
}
