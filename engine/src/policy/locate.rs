//! Finding line:column positions in policy source text for checks that run after
//! decoding (duplicate names, project-only restrictions, document markers, size).

/// 1-based line and column (in characters) of a byte offset.
pub fn position_of_offset(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

/// Whether a line carries YAML content (not blank, not a comment, not a directive).
fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !(t.is_empty() || t.starts_with('#') || line.starts_with('%'))
}

/// Whether the text holds no YAML content at all (only blanks and comments).
pub fn is_blank_document(text: &str) -> bool {
    !text
        .lines()
        .any(|l| is_content(l) && l.trim_end() != "---" && l.trim_end() != "...")
}

/// The position of the marker that starts a second YAML document, if any.
pub fn second_document(text: &str) -> Option<(usize, usize)> {
    let mut documents = 0usize;
    let mut open = false; // inside a document
    for (i, line) in text.lines().enumerate() {
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
    for (i, line) in text.lines().enumerate() {
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
    for (i, line) in text.lines().enumerate() {
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
