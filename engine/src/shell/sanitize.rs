//! Sanitizing (spec §4.1): drop ANSI CSI sequences, NUL and control characters.

use std::borrow::Cow;

/// Remove ANSI CSI sequences (`ESC [ digits/; letter`), NUL bytes and every control
/// character below 0x20 except TAB and LF (so CR goes too).
pub fn sanitize(cmd: &str) -> Cow<'_, str> {
    if !cmd.bytes().any(|b| b < 0x20 && b != b'\t' && b != b'\n') {
        return Cow::Borrowed(cmd);
    }
    let bytes = cmd.as_bytes();
    let mut out = String::with_capacity(cmd.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == 0x1b {
            if let Some(len) = csi_len(&bytes[i..]) {
                i += len;
                continue;
            }
        }
        if b >= 0x20 || b == b'\t' || b == b'\n' {
            // Copy a whole UTF-8 run of non-control bytes at once.
            let start = i;
            while bytes
                .get(i)
                .is_some_and(|&c| c >= 0x20 || c == b'\t' || c == b'\n')
            {
                i += 1;
            }
            out.push_str(&cmd[start..i]);
        } else {
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// Length of a CSI sequence at the start of `s` (which starts with ESC), if any.
fn csi_len(s: &[u8]) -> Option<usize> {
    if s.get(1) != Some(&b'[') {
        return None;
    }
    let body = s.get(2..)?;
    let digits = body
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b';')
        .count();
    body.get(digits)
        .filter(|b| b.is_ascii_alphabetic())
        .map(|_| digits + 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_ansi_csi_sequences() {
        assert_eq!(sanitize("\x1b[31mrm\x1b[0m -rf /"), "rm -rf /");
        assert_eq!(sanitize("\x1b[1;31mx"), "x");
    }

    #[test]
    fn sanitize_strips_nul_cr_and_controls_but_keeps_tab_and_lf() {
        assert_eq!(sanitize("r\0m\r -rf\t/\n\x07x"), "rm -rf\t/\nx");
    }

    #[test]
    fn sanitize_drops_a_lone_escape() {
        assert_eq!(sanitize("a\x1b(b"), "a(b");
    }

    #[test]
    fn sanitize_borrows_clean_input() {
        assert!(matches!(sanitize("git status"), Cow::Borrowed(_)));
    }
}
