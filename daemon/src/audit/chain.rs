//! The hash chain: file naming, the canonical encoding and how a line is sealed.
//!
//! # What exactly is hashed
//!
//! An event is serialized as one JSON object whose **last** key is `hash`. The writer
//! first serializes the event with `"hash":""` (bytes `U`, no trailing newline) and
//! computes
//!
//! ```text
//! hash = "sha256:" + lower_hex( SHA-256( prev_hash_bytes ++ U ) )
//! ```
//!
//! where `prev_hash_bytes` are the UTF-8 bytes of the previous event's `hash` string
//! (empty for the very first event of a chain). The line written to the file is `U`
//! with its final `"hash":""}` replaced by `"hash":"<hash>"}`, plus `\n`. Verification
//! therefore works on the exact bytes in the file: it turns the final
//! `"hash":"sha256:…"}` back into `"hash":""}`, recomputes, and compares, without
//! re-encoding anything. This is the same formula as the original's (§6.3), and the
//! encoder ([`super::line`]) follows Go's `encoding/json` escaping (`<`, `>`, `&`, U+2028, U+2029 as
//! `\uXXXX`), so the bytes hashed equal the bytes Go would produce for the same value.
//!
//! Files: `YYYY-MM-DD.jsonl` (UTC date), then `YYYY-MM-DD.p1.jsonl`, `.p2`, … when a
//! file reaches the rotation size. Every file after the first starts with a
//! continuation header `{"chain_continue":"<last hash>","prev_file":"<name>"}`.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};

/// The tail every unsealed line ends with.
const UNSEALED_TAIL: &[u8] = b"\"hash\":\"\"}";
/// `"hash":"sha256:` + 64 hex + `"}`.
const SEALED_TAIL_LEN: usize = 8 + 7 + 64 + 2;

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
}

/// `"sha256:" + hex(SHA-256(prev ++ unsealed))`.
pub fn chain_hash(prev: &str, unsealed: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(unsealed);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    push_hex(&mut s, &h.finalize());
    s
}

/// Seal an event serialized with `"hash":""` as its last key: returns the line to
/// write (without newline) and its hash. `None` if `unsealed` does not end that way.
pub fn seal(prev: &str, mut unsealed: Vec<u8>) -> Option<(Vec<u8>, String)> {
    if !unsealed.ends_with(UNSEALED_TAIL) {
        return None;
    }
    let hash = chain_hash(prev, &unsealed);
    unsealed.truncate(unsealed.len() - 2);
    unsealed.extend_from_slice(hash.as_bytes());
    unsealed.extend_from_slice(b"\"}");
    Some((unsealed, hash))
}

/// Split a sealed line (without newline) into its unsealed bytes and its stated hash.
pub fn unseal(line: &[u8]) -> Option<(Vec<u8>, &str)> {
    if line.len() < SEALED_TAIL_LEN || !line.ends_with(b"\"}") {
        return None;
    }
    let tail = &line[line.len() - SEALED_TAIL_LEN..];
    if !tail.starts_with(b"\"hash\":\"sha256:") {
        return None;
    }
    let hash = std::str::from_utf8(&tail[8..SEALED_TAIL_LEN - 2]).ok()?;
    if !hash[7..]
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut unsealed = line[..line.len() - SEALED_TAIL_LEN].to_vec();
    unsealed.extend_from_slice(UNSEALED_TAIL);
    Some((unsealed, hash))
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
/// Serialize a value the way Go's `encoding/json` does for strings: `<`, `>`, `&`,
/// U+2028 and U+2029 escaped, `\b`/`\f` as `\u0008`/`\u000c`. serde_json escapes every
/// control character, so no newline or terminal escape can survive raw in a line.
/// The oracle the hand-written [`super::line::encode`] is tested against.
pub fn to_canonical_json<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    // A decision's line is 600-900 bytes: one allocation, no regrowth.
    let mut out = Vec::with_capacity(1024);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

#[cfg(test)]
/// A compact JSON formatter with Go's HTML-safe string escaping.
struct GoFormatter;

#[cfg(test)]
/// The bytes that begin a character [`GoFormatter`] escapes beyond JSON's own.
const MAY_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xE2] = true;
    t
};

#[cfg(test)]
impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // A byte scan: every character to escape starts with a byte no other
        // character contains (`<`, `>`, `&`; U+2028/U+2029 are E2 80 A8/A9, and
        // E2 is only ever a lead byte), so no decoding is needed.
        let bytes = fragment.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while let Some(off) = bytes
            .get(i..)
            .and_then(|rest| rest.iter().position(|&b| MAY_ESCAPE[b as usize]))
        {
            i += off;
            let (esc, len): (&[u8], usize) = match (bytes[i], bytes.get(i + 1..i + 3)) {
                (b'<', _) => (b"\\u003c", 1),
                (b'>', _) => (b"\\u003e", 1),
                (b'&', _) => (b"\\u0026", 1),
                (_, Some([0x80, 0xA8])) => (b"\\u2028", 3),
                (_, Some([0x80, 0xA9])) => (b"\\u2029", 3),
                _ => {
                    i += 1;
                    continue;
                }
            };
            writer.write_all(&bytes[start..i])?;
            writer.write_all(esc)?;
            i += len;
            start = i;
        }
        writer.write_all(&bytes[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        use serde_json::ser::CharEscape;
        let s: &[u8] = match char_escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"\\/",
            CharEscape::Backspace => b"\\u0008",
            CharEscape::FormFeed => b"\\u000c",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => {
                let d = b"0123456789abcdef";
                let buf = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    d[(byte >> 4) as usize],
                    d[(byte & 15) as usize],
                ];
                return writer.write_all(&buf);
            }
        };
        writer.write_all(s)
    }
}

/// A chain file name parsed: UTC date and part number (0 for the base file).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChainName {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// 0 for `DATE.jsonl`, N for `DATE.pN.jsonl`.
    pub part: u32,
}

impl ChainName {
    /// Parse `YYYY-MM-DD.jsonl` or `YYYY-MM-DD.pN.jsonl`.
    pub fn parse(name: &str) -> Option<ChainName> {
        let stem = name.strip_suffix(".jsonl")?;
        let (date, part) = match stem.split_once('.') {
            None => (stem, 0),
            Some((d, p)) => {
                let n = p.strip_prefix('p')?;
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('0') {
                    return None;
                }
                (d, n.parse().ok()?)
            }
        };
        let b = date.as_bytes();
        let ok = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        ok.then(|| ChainName {
            date: date.to_string(),
            part,
        })
    }

    /// The file name.
    pub fn file_name(&self) -> String {
        if self.part == 0 {
            format!("{}.jsonl", self.date)
        } else {
            format!("{}.p{}.jsonl", self.date, self.part)
        }
    }
}

/// The chain files of a directory in chain order (date, then part number).
pub fn list_chain_files(dir: &Path) -> io::Result<Vec<(ChainName, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(cn) = ChainName::parse(name) {
            out.push((cn, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The continuation header that starts every chain file after the first.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ContinuationHeader {
    /// Hash of the last event of the previous file.
    pub chain_continue: String,
    /// Name of the previous file.
    pub prev_file: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_unseal_round_trips_and_hash_covers_prev() {
        let unsealed = br#"{"id":"x","prev_hash":"","hash":""}"#.to_vec();
        let (line, hash) = seal("", unsealed.clone()).unwrap();
        let (back, stated) = unseal(&line).unwrap();
        assert_eq!(back, unsealed);
        assert_eq!(stated, hash);
        assert_eq!(chain_hash("", &back), hash);
        assert_ne!(chain_hash("sha256:00", &back), hash);
    }

    #[test]
    fn unseal_rejects_lines_without_a_final_hash() {
        assert!(unseal(br#"{"a":1}"#).is_none());
        assert!(seal("", br#"{"hash":"x"}"#.to_vec()).is_none());
    }

    #[test]
    fn canonical_json_escapes_html_and_controls_like_go() {
        let v = serde_json::json!({"c": "a<b>&\u{2028}\n\u{1b}[31m\u{8}"});
        let s = String::from_utf8(to_canonical_json(&v).unwrap()).unwrap();
        assert_eq!(s, r#"{"c":"a\u003cb\u003e\u0026\u2028\n\u001b[31m\u0008"}"#);
        // Other characters that share the E2 lead byte stay as they are.
        let v = serde_json::json!({"c": "\u{2029}<<\u{2026}\u{20ac}\u{2080}x&"});
        let s = String::from_utf8(to_canonical_json(&v).unwrap()).unwrap();
        assert_eq!(
            s,
            "{\"c\":\"\\u2029\\u003c\\u003c\u{2026}\u{20ac}\u{2080}x\\u0026\"}"
        );
    }

    #[test]
    fn chain_names_sort_by_date_then_part() {
        let mut v: Vec<ChainName> = [
            "2024-01-02.jsonl",
            "2024-01-01.p10.jsonl",
            "2024-01-01.p2.jsonl",
            "2024-01-01.jsonl",
        ]
        .iter()
        .map(|n| ChainName::parse(n).unwrap())
        .collect();
        v.sort();
        let names: Vec<String> = v.iter().map(ChainName::file_name).collect();
        assert_eq!(
            names,
            [
                "2024-01-01.jsonl",
                "2024-01-01.p2.jsonl",
                "2024-01-01.p10.jsonl",
                "2024-01-02.jsonl"
            ]
        );
        assert!(ChainName::parse("audit-hook-1.jsonl").is_none());
        assert!(ChainName::parse("2024-01-01.p0.jsonl").is_none());
    }
}
