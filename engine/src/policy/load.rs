//! Strict decoding of one policy file (spec §1.1).

use std::io::Read;
use std::path::Path;

use super::locate;
use super::model::PolicyFile;
use super::LoadError;
use crate::decision::Action;

/// The largest policy file accepted, in bytes (1 MiB).
pub const MAX_POLICY_FILE_BYTES: usize = 1 << 20;

/// Build an [`LoadError::Invalid`].
pub(crate) fn invalid(label: &str, pos: (usize, usize), message: impl Into<String>) -> LoadError {
    LoadError::Invalid {
        path: label.to_string(),
        line: pos.0,
        column: pos.1,
        message: message.into(),
    }
}

/// Read and decode one policy file. See [`parse_str`].
pub fn parse_file(path: &Path) -> Result<PolicyFile, LoadError> {
    let text = read_policy_text(path)?;
    parse_str(&path.display().to_string(), &text)
}

/// Read a policy file's text: at most 1 MiB (checked before decoding, with the
/// position where the limit is crossed), valid UTF-8.
pub fn read_policy_text(path: &Path) -> Result<String, LoadError> {
    let label = path.display().to_string();
    let io = |source| LoadError::Io {
        path: label.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_POLICY_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid]).into_owned();
            return Err(invalid(
                &label,
                locate::position_of_offset(&prefix, valid),
                "file is not valid UTF-8",
            ));
        }
    };
    if text.len() > MAX_POLICY_FILE_BYTES {
        return Err(invalid(
            &label,
            locate::position_of_offset(&text, MAX_POLICY_FILE_BYTES),
            format!("policy file exceeds the {MAX_POLICY_FILE_BYTES}-byte limit"),
        ));
    }
    Ok(text)
}

/// Decode one policy document strictly. `label` names the source in errors.
///
/// Fails, with the line and column of the offending key or value, on: unknown keys,
/// a second YAML document, a file over 1 MiB, a bad `version` or `default_action`, a
/// bad rule action (including `require_approval`), a glob over the limits, an empty
/// `command_contains` entry, a bad `call_count`, a bad `response_*` regex, a
/// `webhook` rule without URL, a bad timestamp, and duplicate policy names.
pub fn parse_str(label: &str, text: &str) -> Result<PolicyFile, LoadError> {
    if text.len() > MAX_POLICY_FILE_BYTES {
        return Err(invalid(
            label,
            locate::position_of_offset(text, MAX_POLICY_FILE_BYTES),
            format!("policy file exceeds the {MAX_POLICY_FILE_BYTES}-byte limit"),
        ));
    }
    if let Some(pos) = locate::second_document(text) {
        return Err(invalid(
            label,
            pos,
            "a second YAML document (`---`) is not allowed; a policy file holds exactly one",
        ));
    }
    let mut file = if locate::is_blank_document(text) {
        PolicyFile::default()
    } else {
        serde_yaml_ng::from_str::<PolicyFile>(text).map_err(|e| yaml_error(label, text, &e))?
    };
    file.path = label.to_string();
    check_duplicate_names(label, text, &file)?;
    Ok(file)
}

/// Convert a decoder error into [`LoadError::Invalid`] with its position. The
/// decoder's positions (the error's, and any `at line L column C` in its message)
/// are converted to the editor's line-break rule (see `locate`).
fn yaml_error(label: &str, text: &str, e: &serde_yaml_ng::Error) -> LoadError {
    let mut message = e.to_string();
    let pos = match e.location() {
        Some(loc) => {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(i) = message.find(&suffix) {
                message.replace_range(i..i + suffix.len(), "");
            }
            locate::from_decoder_position(text, loc.line(), loc.column())
        }
        None => locate::second_document(text).unwrap_or((1, 1)),
    };
    invalid(label, pos, fix_message_positions(text, &message))
}

/// Rewrite every `line L column C` in a decoder message with the editor's position.
fn fix_message_positions(text: &str, message: &str) -> String {
    const LINE: &str = "line ";
    const COLUMN: &str = " column ";
    let number = |s: &str| -> Option<(usize, usize)> {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        Some((s[..digits].parse().ok()?, digits))
    };
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(LINE) {
        let after = &rest[i + LINE.len()..];
        let parsed = number(after).and_then(|(line, n)| {
            let tail = after[n..].strip_prefix(COLUMN)?;
            let (column, m) = number(tail)?;
            Some((line, column, LINE.len() + n + COLUMN.len() + m))
        });
        match parsed {
            Some((line, column, len)) => {
                let (l, c) = locate::from_decoder_position(text, line, column);
                out.push_str(&rest[..i]);
                out.push_str(&format!("line {l} column {c}"));
                rest = &rest[i + len..];
            }
            None => {
                out.push_str(&rest[..i + LINE.len()]);
                rest = &rest[i + LINE.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn check_duplicate_names(label: &str, text: &str, file: &PolicyFile) -> Result<(), LoadError> {
    let mut seen = std::collections::HashSet::new();
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for p in &file.policies {
        let n = counts.entry(p.name.as_str()).or_default();
        *n += 1;
        if !seen.insert(p.name.as_str()) {
            let hits = locate::find_key_values(text, "name", &p.name, false);
            let pos = hits
                .get(*n - 1)
                .or(hits.last())
                .copied()
                .unwrap_or_else(|| locate::top_level_key(text, "policies"));
            return Err(invalid(
                label,
                pos,
                format!("duplicate policy name {:?}", p.name),
            ));
        }
    }
    Ok(())
}

/// Reject `webhook` actions in a project policy file (spec §1.8).
pub(crate) fn check_project_file(text: &str, file: &PolicyFile) -> Result<(), LoadError> {
    let mut nth = 0;
    for p in &file.policies {
        for r in &p.rules {
            if r.action == Action::Webhook {
                let hits = locate::find_key_values(text, "action", "webhook", true);
                let pos = hits.get(nth).copied().unwrap_or((1, 1));
                return Err(invalid(
                    &file.path,
                    pos,
                    format!(
                        "policies.{}: `action: webhook` is not allowed in a project policy",
                        p.name
                    ),
                ));
            }
            if r.action_written == "webhook" {
                nth += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_decode_as_strings_like_the_original() {
        let f = parse_str(
            "t.yaml",
            "version: 1\npolicies:\n  - name: 123\n    priority: 7\n    match: {tool: exec}\n    rules:\n      - action: deny\n        message: 42\n        when:\n          tool_param_matches: {count: 5}\n",
        )
        .unwrap();
        assert_eq!(f.version.as_deref(), Some("1"));
        assert_eq!(f.policies[0].name, "123");
        assert_eq!(f.policies[0].rules[0].message, "42");
        let when = f.policies[0].rules[0].when.as_ref().unwrap();
        assert_eq!(
            when.tool_param_matches,
            vec![("count".to_string(), "5".to_string())]
        );
    }

    /// The (line, column) of the error `text` is rejected with.
    fn error_position(text: &str) -> (usize, usize, String) {
        match parse_str("t.yaml", text) {
            Err(LoadError::Invalid {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("{other:?}"),
        }
    }

    /// Three lines, the third holding an unknown key at column 1.
    const BAD_LINE_3: [&str; 3] = ["version: \"1\"", "default_action: allow", "bogus: 1"];

    #[test]
    fn an_error_on_line_3_of_an_lf_file_is_reported_at_line_3() {
        let (line, column, _) = error_position(&(BAD_LINE_3.join("\n") + "\n"));
        assert_eq!((line, column), (3, 1));
    }

    #[test]
    fn an_error_on_line_3_of_a_crlf_file_is_reported_at_line_3() {
        let (line, column, _) = error_position(&(BAD_LINE_3.join("\r\n") + "\r\n"));
        assert_eq!((line, column), (3, 1));
    }

    #[test]
    fn an_error_on_line_3_of_a_lone_cr_file_is_reported_at_line_3() {
        let (line, column, _) = error_position(&(BAD_LINE_3.join("\r") + "\r"));
        assert_eq!((line, column), (3, 1));
    }

    #[test]
    fn a_duplicate_name_in_a_lone_cr_file_is_reported_at_its_line() {
        let text = "policies:\r  - name: a\r    rules: []\r  - name: a\r    rules: []\r";
        let (line, column, message) = error_position(text);
        assert_eq!((line, column), (4, 5), "{message}");
    }

    #[test]
    fn decoder_messages_carry_editor_positions_after_a_nel() {
        // NEL is a break for the decoder only: the error is on the editor's line 2.
        let text = "version: \"1\" # x\u{85}y\nbogus: 1\n";
        let (line, column, message) = error_position(text);
        assert_eq!((line, column), (2, 1), "{message}");
        assert!(!message.contains("line 3"), "{message}");
    }

    #[test]
    fn lone_cr_runs_in_a_comment_keep_the_error_inside_the_text() {
        // Found by the policy_load fuzz target: a comment with a run of lone CRs.
        let text = format!("# a{}policies: 3\n", "\r".repeat(40));
        let (line, _, message) = error_position(&text);
        assert_eq!(line, 41, "{message}");
        assert!(line <= locate::line_breaks(&text) + 1);
    }

    #[test]
    fn blank_files_are_empty_policy_files() {
        let f = parse_str("t.yaml", "# nothing here\n\n").unwrap();
        assert!(f.policies.is_empty());
        assert_eq!(f.default_action, None);
    }

    #[test]
    fn a_missing_policy_name_is_an_error_at_the_policy() {
        match parse_str("t.yaml", "policies:\n  - rules: []\n") {
            Err(LoadError::Invalid { line, message, .. }) => {
                assert_eq!(line, 2);
                assert!(message.contains("name"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
