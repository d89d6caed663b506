//! Compact JSON written by hand, for the few fixed shapes the daemon writes on
//! every exec decision: the audit line and the preflight answer.
//!
//! serde's derive with `serde_json` runs generic code several times the size of
//! what these shapes need, and a daemon waiting a few milliseconds between two
//! requests finds it cold. Callers write their keys in order; free-form values
//! (`serde_json::Value`) are written the way `serde_json` writes them. Strings are
//! escaped either as `serde_json` does ([`Escaping::Json`]: `"`, `\` and control
//! characters) or, for the audit chain, as Go's `encoding/json` does
//! ([`Escaping::Go`]: also `<`, `>`, `&`, U+2028 and U+2029). Each caller's tests
//! compare its output with `serde_json`'s, byte for byte.

use serde_json::{Map, Number, Value};
use std::io::Write as _;

/// How strings are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escaping {
    /// As `serde_json` does.
    Json,
    /// As Go's `encoding/json` does (HTML-safe).
    Go,
}

/// A JSON text being written.
#[derive(Debug)]
pub struct JsonWriter {
    out: Vec<u8>,
    table: &'static [u8; 256],
}

/// What each byte of a string becomes: 0 stays as it is, `u` is `\u00XX`, 1 is a
/// possible U+2028/U+2029 (their lead byte E2), anything else is the letter of a
/// short escape.
const fn escapes(go: bool) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    if !go {
        // Go writes these two as `\u0008` and `\u000c`.
        t[0x08] = b'b';
        t[0x0c] = b'f';
    }
    if go {
        t[b'<' as usize] = b'u';
        t[b'>' as usize] = b'u';
        t[b'&' as usize] = b'u';
        t[0xE2] = 1;
    }
    t
}

static JSON_ESCAPES: [u8; 256] = escapes(false);
static GO_ESCAPES: [u8; 256] = escapes(true);

const HEX: &[u8; 16] = b"0123456789abcdef";

/// How many bytes at the start of `bytes` map to 0 in `table` (for a string
/// writer's table: stay as they are). Eight bytes at a time while none of them
/// is marked (the table lookups of a chunk OR-ed together, with no branch per
/// byte), then byte by byte. The hook body's scanner uses it too.
pub fn unmarked_prefix(table: &[u8; 256], bytes: &[u8]) -> usize {
    let mut n = 0;
    for chunk in bytes.chunks_exact(8) {
        if chunk.iter().fold(0, |any, &b| any | table[b as usize]) != 0 {
            break;
        }
        n += 8;
    }
    let rest = bytes.get(n..).unwrap_or_default();
    n + rest
        .iter()
        .position(|&b| table[b as usize] != 0)
        .unwrap_or(rest.len())
}

impl JsonWriter {
    /// An empty text with room for `capacity` bytes.
    pub fn new(escaping: Escaping, capacity: usize) -> JsonWriter {
        JsonWriter {
            out: Vec::with_capacity(capacity),
            table: match escaping {
                Escaping::Json => &JSON_ESCAPES,
                Escaping::Go => &GO_ESCAPES,
            },
        }
    }

    /// The text written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// Bytes as they are (punctuation, keys known to need no escaping).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// One byte as it is.
    pub fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    /// `,"name":` (`name` must need no escaping).
    pub fn key(&mut self, name: &str) {
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// `,"name":"value"`.
    pub fn string_field(&mut self, name: &str, value: &str) {
        self.key(name);
        self.string(value);
    }

    /// `,"name":"value"` when there is a value, nothing when there is none (a
    /// field serde skips when it is absent).
    pub fn opt_string_field(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.string_field(name, v);
        }
    }

    /// A string, quoted and escaped.
    pub fn string(&mut self, s: &str) {
        let table = self.table;
        self.out.reserve(s.len() + 2);
        self.out.push(b'"');
        let mut rest = s.as_bytes();
        loop {
            let plain = unmarked_prefix(table, rest);
            let (run, tail) = rest.split_at(plain);
            self.out.extend_from_slice(run);
            let Some((&b, after)) = tail.split_first() else {
                break;
            };
            rest = after;
            match table[b as usize] {
                // U+2028 and U+2029 are E2 80 A8 / E2 80 A9; E2 is only ever a
                // lead byte, so other characters starting with it stay raw.
                1 => match after {
                    [0x80, last @ (0xA8 | 0xA9), more @ ..] => {
                        self.out.extend_from_slice(b"\\u202");
                        self.out.push(if *last == 0xA8 { b'8' } else { b'9' });
                        rest = more;
                    }
                    _ => self.out.push(b),
                },
                b'u' => {
                    self.out.extend_from_slice(b"\\u00");
                    self.out.push(HEX[(b >> 4) as usize]);
                    self.out.push(HEX[(b & 15) as usize]);
                }
                letter => {
                    self.out.push(b'\\');
                    self.out.push(letter);
                }
            }
        }
        self.out.push(b'"');
    }

    /// A string or `null`.
    pub fn opt_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.raw(b"null"),
        }
    }

    /// An array of strings.
    pub fn strings<S: AsRef<str>>(&mut self, items: &[S]) {
        self.out.push(b'[');
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.string(s.as_ref());
        }
        self.out.push(b']');
    }

    /// An unsigned integer.
    pub fn unsigned(&mut self, v: u64) {
        push_decimal(&mut self.out, v);
    }

    /// A signed integer.
    pub fn signed(&mut self, v: i64) {
        if v < 0 {
            self.out.push(b'-');
        }
        self.unsigned(v.unsigned_abs());
    }

    /// `true` or `false`.
    pub fn bool(&mut self, v: bool) {
        self.raw(if v { b"true" } else { b"false" });
    }

    fn number(&mut self, n: &Number) {
        if let Some(u) = n.as_u64() {
            self.unsigned(u);
        } else if let Some(i) = n.as_i64() {
            self.signed(i);
        } else {
            // A float: serde_json's own shortest form (finite by construction).
            let _ = write!(self.out, "{n}");
        }
    }

    /// Any JSON value, as `serde_json` writes it (objects in the map's order).
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.raw(b"null"),
            Value::Bool(b) => self.bool(*b),
            Value::Number(n) => self.number(n),
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                self.out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.value(item);
                }
                self.out.push(b']');
            }
            Value::Object(m) => self.map(m),
        }
    }

    /// A JSON object.
    pub fn map(&mut self, m: &Map<String, Value>) {
        self.out.push(b'{');
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.string(k);
            self.out.push(b':');
            self.value(v);
        }
        self.out.push(b'}');
    }
}

/// `v` in decimal, appended to `out`.
pub fn push_decimal(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut n = digits.len();
    loop {
        n -= 1;
        digits[n] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[n..]);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// Every class of character the escapings treat differently.
    pub(crate) const CHARS: &[&str] = &[
        "a", "Z", "0", " ", "/", "\"", "\\", "<", ">", "&", "'", "\n", "\r", "\t", "\u{8}",
        "\u{c}", "\u{0}", "\u{1}", "\u{1f}", "\u{7f}", "\u{80}", "é", "€", "…", "₀", "\u{2028}",
        "\u{2029}", "\u{202a}", "\u{2027}", "\u{fffd}", "😀",
    ];

    /// A deterministic xorshift64* stream: `next(n)` is in `0..n`. For the
    /// randomised tests of the hand-written encoders (no dependency).
    pub(crate) fn xorshift(seed: u64) -> impl FnMut(usize) -> usize {
        let mut state = seed;
        move |n| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
        }
    }

    #[test]
    fn values_and_strings_are_written_as_serde_json_writes_them() {
        let v = json!({"z": [1, -2, 1.5, 1e21, -0.0, 0.1, 2.5e-8, u64::MAX, i64::MIN, null, true,
                             false, [], {}],
                       "a": {"deep": ["x", {"y": "\n"}]}, "": "empty key", "k\"ey": "<&>"});
        let mut w = JsonWriter::new(Escaping::Json, 0);
        w.value(&v);
        assert_eq!(w.into_bytes(), serde_json::to_vec(&v).unwrap());
        // Every pair of characters, so that escapes meet their neighbours.
        for a in CHARS {
            for b in CHARS {
                let s = format!("{a}{b}x{a}");
                let mut w = JsonWriter::new(Escaping::Json, 0);
                w.string(&s);
                assert_eq!(w.into_bytes(), serde_json::to_vec(&s).unwrap(), "{s:?}");
            }
        }
    }

    #[test]
    fn go_escaping_makes_html_characters_and_line_separators_escapes() {
        let mut w = JsonWriter::new(Escaping::Go, 0);
        w.string("<a href=\"x\">&\u{2028}\u{2029}\u{2026}\u{20ac}\t\u{1}");
        assert_eq!(
            String::from_utf8(w.into_bytes()).unwrap(),
            r#""\u003ca href=\"x\"\u003e\u0026\u2028\u2029…€\t\u0001""#
        );
    }

    #[test]
    fn long_strings_are_escaped_as_serde_escapes_them() {
        // Runs of plain text of every length between escapes and multi-byte
        // characters, at every offset: longer strings than the pairs above.
        let mut next = xorshift(0xabcd_1234);
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..next(12) {
                if next(3) == 0 {
                    s.push_str(CHARS[next(CHARS.len())]);
                } else {
                    s.push_str(&"plain-text/0123456789"[..next(21)]);
                }
            }
            let mut w = JsonWriter::new(Escaping::Json, 0);
            w.string(&s);
            assert_eq!(w.into_bytes(), serde_json::to_vec(&s).unwrap(), "{s:?}");
            let mut w = JsonWriter::new(Escaping::Go, 0);
            w.string(&s);
            let go = crate::audit::chain::to_canonical_json(&serde_json::Value::String(s.clone()));
            assert_eq!(w.into_bytes(), go.unwrap(), "{s:?}");
        }
    }
}
