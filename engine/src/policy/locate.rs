//! Finding line:column positions in policy source text for checks that run after
//! decoding (duplicate names, project-only restrictions, document markers, size).
//!
//! One rule for line breaks everywhere: `\r\n`, `\n` and a lone `\r` each end a line
//! (YAML 1.2, and what editors show). Positions reported by the YAML decoder, which
//! also counts NEL, LS and PS as breaks (YAML 1.1), are converted to this rule by
//! [`from_decoder_position`].

/// The lines of `text` without their breaks, splitting at `\r\n`, `\n` and a lone
/// `\r`. Like [`str::lines`], a final break does not start an extra (empty) line.
pub fn lines(text: &str) -> Lines<'_> {
    Lines { rest: text }
}

/// Iterator returned by [`lines`].
pub struct Lines<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        match self.rest.find(['\r', '\n']) {
            Some(i) => {
                let line = &self.rest[..i];
                let width = if self.rest[i..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                self.rest = &self.rest[i + width..];
                Some(line)
            }
            None => Some(std::mem::take(&mut self.rest)),
        }
    }
}

/// The number of line breaks in `text` (`\r\n` counts once).
pub fn line_breaks(text: &str) -> usize {
    let bytes = text.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
}

/// 1-based line and column (in characters) of a byte offset. An offset between the
/// `\r` and the `\n` of a `\r\n` is at the end of its line.
pub fn position_of_offset(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    // A `\r` right before the offset whose `\n` is at the offset is not a break yet.
    let pending_cr = before.ends_with('\r') && text[offset..].starts_with('\n');
    let counted = if pending_cr {
        &before[..before.len() - 1]
    } else {
        before
    };
    let line = line_breaks(counted) + 1;
    // Editors do not show a byte-order mark: it takes no column.
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let line_start = counted
        .rfind(['\r', '\n'])
        .map_or(bom.min(offset), |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

/// Whether `c` ends a line for the YAML decoder (libyaml, YAML 1.1): CR, LF, NEL,
/// LS, PS.
fn is_decoder_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// The byte offset of a 1-based (line, column) as the YAML decoder counts them
/// (breaks: CR LF, CR, LF, NEL, LS, PS; columns in characters; a leading byte-order
/// mark is not counted). Positions past the end give the end of the text.
fn decoder_offset(text: &str, line: usize, column: usize) -> usize {
    let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let (mut l, mut c) = (1usize, 1usize);
    let mut chars = text[start..].char_indices().peekable();
    while let Some((i, ch)) = chars.next() {
        if l == line && c == column {
            return start + i;
        }
        if is_decoder_break(ch) {
            if l == line {
                // The column is past the end of its line: the break itself.
                return start + i;
            }
            if ch == '\r' && matches!(chars.peek(), Some((_, '\n'))) {
                chars.next();
            }
            l += 1;
            c = 1;
        } else {
            c += 1;
        }
    }
    text.len()
}

/// Convert a 1-based (line, column) reported by the YAML decoder into the position
/// an editor shows for the same place (see the module's line-break rule).
pub fn from_decoder_position(text: &str, line: usize, column: usize) -> (usize, usize) {
    position_of_offset(text, decoder_offset(text, line, column))
}

/// Whether a line carries YAML content (not blank, not a comment, not a directive).
fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !(t.is_empty() || t.starts_with('#') || line.starts_with('%'))
}

/// Whether the text holds no YAML content at all (only blanks and comments).
pub fn is_blank_document(text: &str) -> bool {
    !lines(text).any(|l| is_content(l) && l.trim_end() != "---" && l.trim_end() != "...")
}

/// The position of the marker that starts a second YAML document, if any.
pub fn second_document(text: &str) -> Option<(usize, usize)> {
    let mut documents = 0usize;
    let mut open = false; // inside a document
    for (i, line) in lines(text).enumerate() {
        let marker_start = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if marker_start {
            documents += 1;
            if documents > 1 {
                return Some((i + 1, 1));
            }
            open = true;
            continue;
        }
        if line == "..." || line.starts_with("... ") {
            open = false;
            continue;
        }
        if is_content(line) && !open {
            documents += 1;
            if documents > 1 {
                return Some((i + 1, 1));
            }
            open = true;
        }
    }
    None
}

/// Positions (line, column of the key) of every `key: value` pair in block style
/// whose value, unquoted, equals `value` (compared case-insensitively when `fold`).
pub fn find_key_values(text: &str, key: &str, value: &str, fold: bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, line) in lines(text).enumerate() {
        let mut rest = line.trim_start();
        let mut col = line.len() - rest.len();
        while let Some(r) = rest.strip_prefix("- ") {
            let r2 = r.trim_start();
            col += rest.len() - r2.len();
            rest = r2;
        }
        let Some(after) = rest.strip_prefix(key) else {
            continue;
        };
        let after = after.trim_start();
        let Some(v) = after.strip_prefix(':') else {
            continue;
        };
        let v = strip_comment(v).trim();
        let v = unquote(v);
        let same = if fold {
            v.trim().eq_ignore_ascii_case(value)
        } else {
            v == value
        };
        if same {
            out.push((i + 1, line[..col].chars().count() + 1));
        }
    }
    out
}

fn strip_comment(v: &str) -> &str {
    let t = v.trim_start();
    if t.starts_with('"') || t.starts_with('\'') {
        return v;
    }
    match v.find(" #") {
        Some(i) => &v[..i],
        None => v,
    }
}

fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        return v[1..v.len() - 1].replace("''", "'");
    }
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        return serde_yaml_ng::from_str::<String>(v).unwrap_or_else(|_| v[1..v.len() - 1].into());
    }
    v.to_string()
}

/// The position of a top-level key (`policies:`), or 1:1.
pub fn top_level_key(text: &str, key: &str) -> (usize, usize) {
    for (i, line) in lines(text).enumerate() {
        if let Some(rest) = line.strip_prefix(key) {
            if rest.trim_start().starts_with(':') {
                return (i + 1, 1);
            }
        }
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_line_and_column() {
        assert_eq!(position_of_offset("ab\ncd", 0), (1, 1));
        assert_eq!(position_of_offset("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn lf_crlf_and_lone_cr_each_end_one_line() {
        for text in ["a\nb\nc\n", "a\r\nb\r\nc\r\n", "a\rb\rc\r", "a\nb\r\nc\r"] {
            assert_eq!(lines(text).collect::<Vec<_>>(), ["a", "b", "c"], "{text:?}");
            assert_eq!(line_breaks(text), 3, "{text:?}");
        }
        assert_eq!(lines("a\r\rb").collect::<Vec<_>>(), ["a", "", "b"]);
        assert_eq!(lines("a").collect::<Vec<_>>(), ["a"]);
        assert_eq!(lines("").count(), 0);
    }

    #[test]
    fn offsets_in_lone_cr_and_crlf_files_map_to_the_editor_line() {
        assert_eq!(position_of_offset("ab\rcd", 4), (2, 2));
        assert_eq!(position_of_offset("ab\r\ncd", 5), (2, 2));
        // Between the CR and the LF of a CRLF: still the end of line 1.
        assert_eq!(position_of_offset("ab\r\ncd", 3), (1, 4));
        assert_eq!(position_of_offset("ab\r\ncd", 2), (1, 3));
    }

    #[test]
    fn a_byte_order_mark_takes_no_column() {
        assert_eq!(position_of_offset("\u{feff}ab", 4), (1, 2));
        assert_eq!(from_decoder_position("\u{feff}ab\ncd", 1, 2), (1, 2));
        assert_eq!(from_decoder_position("\u{feff}ab\ncd", 2, 1), (2, 1));
    }

    #[test]
    fn decoder_positions_after_nel_ls_ps_are_converted_to_editor_lines() {
        // The decoder counts NEL, LS and PS as breaks; editors (and YAML 1.2) do not.
        let text = "a\u{85}b\u{2028}c\nd";
        assert_eq!(from_decoder_position(text, 4, 1), (2, 1));
        assert_eq!(from_decoder_position(text, 3, 1), (1, 5));
        assert_eq!(from_decoder_position("a\rb\r\nc", 3, 1), (3, 1));
        // Past the end of a line or of the text: clamped to the end.
        assert_eq!(from_decoder_position("ab\ncd", 1, 9), (1, 3));
        assert_eq!(from_decoder_position("ab\ncd", 7, 1), (2, 3));
    }

    #[test]
    fn second_document_and_keys_are_found_in_lone_cr_files() {
        assert_eq!(second_document("a: 1\r---\rb: 2\r"), Some((2, 1)));
        let t = "policies:\r  - name: a\r  - name: a\r";
        assert_eq!(find_key_values(t, "name", "a", false), vec![(2, 5), (3, 5)]);
        assert_eq!(top_level_key("# c\rpolicies:\r", "policies"), (2, 1));
    }

    #[test]
    fn second_document_is_found_after_content() {
        assert_eq!(second_document("---\na: 1\n"), None);
        assert_eq!(second_document("# c\n---\na: 1\n---\nb: 2\n"), Some((4, 1)));
        assert_eq!(second_document("a: 1\n---\nb: 2\n"), Some((2, 1)));
        assert_eq!(second_document("a: 1\n...\nb: 2\n"), Some((3, 1)));
    }

    #[test]
    fn key_values_are_found_in_block_style() {
        let t = "policies:\n  - name: a\n  - name: \"a\"\n  -   name: b # c\n";
        assert_eq!(find_key_values(t, "name", "a", false), vec![(2, 5), (3, 5)]);
        assert_eq!(find_key_values(t, "name", "b", false), vec![(4, 7)]);
    }
}
