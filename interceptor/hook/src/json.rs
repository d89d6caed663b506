//! JSON for the wire: string escaping for requests, and a strict validator
//! that extracts the verdict from a response body.
//!
//! Escaping follows UPSTREAM-SPEC §5.6: `"` and `\` get a backslash, bytes
//! below 0x20 become `\u00xx` (lower-case hex), valid UTF-8 passes through,
//! and each byte of an invalid UTF-8 sequence `b` becomes `\u00bb`.
//!
//! The response must be exactly one JSON object with exactly one top-level
//! `"allowed"` key whose value is a literal `true` or `false`. Nested values
//! are validated and skipped; duplicates, strings for `allowed`, and trailing
//! bytes are protocol errors. Safe code only; recursion depth is bounded.

use crate::buf::{Buf, Sink};

const HEX: &[u8; 16] = b"0123456789abcdef";
const MAX_DEPTH: u32 = 32;

/// Writes `bytes` as the inside of a JSON string (no surrounding quotes).
pub fn write_escaped<S: Sink>(out: &mut S, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        match core::str::from_utf8(rest) {
            Ok(valid) => {
                write_valid(out, valid.as_bytes());
                return;
            }
            Err(e) => {
                let good = e.valid_up_to();
                write_valid(out, rest.get(..good).unwrap_or(&[]));
                let bad = e
                    .error_len()
                    .unwrap_or(rest.len().saturating_sub(good))
                    .max(1);
                let end = good.saturating_add(bad);
                for &b in rest.get(good..end).unwrap_or(&[]) {
                    write_u00(out, b);
                }
                rest = rest.get(end..).unwrap_or(&[]);
            }
        }
    }
}

/// Writes `bytes` as a complete JSON string, quotes included.
pub fn write_string<S: Sink>(out: &mut S, bytes: &[u8]) {
    out.put_byte(b'"');
    write_escaped(out, bytes);
    out.put_byte(b'"');
}

fn write_u00<S: Sink>(out: &mut S, b: u8) {
    let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
    let lo = HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0');
    out.put(b"\\u00");
    out.put(&[hi, lo]);
}

fn write_valid<S: Sink>(out: &mut S, valid: &[u8]) {
    let mut start = 0;
    for (i, &b) in valid.iter().enumerate() {
        if b == b'"' || b == b'\\' || b < 0x20 {
            out.put(valid.get(start..i).unwrap_or(&[]));
            if b < 0x20 {
                write_u00(out, b);
            } else {
                out.put(&[b'\\', b]);
            }
            start = i + 1;
        }
    }
    out.put(valid.get(start..).unwrap_or(&[]));
}

/// Why a response body was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not valid JSON, or not a single object.
    Malformed,
    /// No top-level `allowed` key.
    MissingAllowed,
    /// `allowed` present more than once.
    DuplicateAllowed,
    /// `allowed` is not a literal boolean.
    AllowedNotBool,
    /// Nesting deeper than the validator accepts.
    TooDeep,
}

/// The fields of a daemon answer the hook uses. Text fields are written,
/// truncated if needed, into caller-provided buffers.
pub struct Answer<'b, 'c> {
    /// `decision` (e.g. `allow`, `deny`, `ask`).
    pub decision: Buf<'b>,
    /// `message`, the human-readable reason.
    pub message: Buf<'c>,
    /// `policy`, or the first entry of `matched_policies`.
    pub policy: Buf<'c>,
    /// The first entry of `suggestions` (how a human can allow the call).
    pub suggestion: Buf<'c>,
}

/// Validates `body` and returns the value of the single top-level `allowed`
/// key, filling `answer` with the text fields that are present.
pub fn parse_answer(body: &[u8], answer: &mut Answer<'_, '_>) -> Result<bool, ParseError> {
    let mut p = Parser { s: body, i: 0 };
    p.ws();
    p.expect(b'{')?;
    let mut allowed: Option<bool> = None;
    let mut have_policy = false;
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let mut key_store = [0u8; 24];
            let mut key = Buf::new(&mut key_store);
            p.string(Some(&mut key))?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            let k: &[u8] = if key.overflowed() {
                b""
            } else {
                key.as_bytes()
            };
            match k {
                b"allowed" => {
                    if allowed.is_some() {
                        return Err(ParseError::DuplicateAllowed);
                    }
                    allowed = Some(p.boolean()?);
                }
                b"decision" if p.peek() == Some(b'"') => p.string(Some(&mut answer.decision))?,
                b"message" if p.peek() == Some(b'"') => p.string(Some(&mut answer.message))?,
                b"policy" if p.peek() == Some(b'"') => {
                    answer.policy.clear();
                    p.string(Some(&mut answer.policy))?;
                    have_policy = true;
                }
                b"matched_policies" if p.peek() == Some(b'[') && !have_policy => {
                    p.first_string_of_array(&mut answer.policy)?;
                }
                b"suggestions" if p.peek() == Some(b'[') => {
                    answer.suggestion.clear();
                    p.first_string_of_array(&mut answer.suggestion)?;
                }
                _ => p.value(0)?,
            }
            p.ws();
            match p.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(ParseError::Malformed),
            }
        }
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(ParseError::Malformed);
    }
    allowed.ok_or(ParseError::MissingAllowed)
}

struct Parser<'s> {
    s: &'s [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek();
        if b.is_some() {
            self.i += 1;
        }
        b
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), ParseError> {
        if self.next() == Some(b) {
            Ok(())
        } else {
            Err(ParseError::Malformed)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), ParseError> {
        let end = self.i.saturating_add(word.len());
        if self.s.get(self.i..end) == Some(word) {
            self.i = end;
            Ok(())
        } else {
            Err(ParseError::Malformed)
        }
    }

    fn boolean(&mut self) -> Result<bool, ParseError> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|()| true),
            Some(b'f') => self.literal(b"false").map(|()| false),
            Some(_) => {
                self.value(0)?;
                Err(ParseError::AllowedNotBool)
            }
            None => Err(ParseError::Malformed),
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.next() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(ParseError::Malformed),
            };
            v = (v << 4) | u32::from(d);
        }
        Ok(v)
    }

    /// Parses a string; its decoded bytes go to `out` when given.
    fn string(&mut self, mut out: Option<&mut Buf<'_>>) -> Result<(), ParseError> {
        self.expect(b'"')?;
        loop {
            let b = self.next().ok_or(ParseError::Malformed)?;
            match b {
                b'"' => return Ok(()),
                b'\\' => {
                    let e = self.next().ok_or(ParseError::Malformed)?;
                    let mut utf8 = [0u8; 4];
                    let decoded: &[u8] = match e {
                        b'"' => b"\"",
                        b'\\' => b"\\",
                        b'/' => b"/",
                        b'b' => b"\x08",
                        b'f' => b"\x0c",
                        b'n' => b"\n",
                        b'r' => b"\r",
                        b't' => b"\t",
                        b'u' => {
                            let cp = self.code_point()?;
                            char::from_u32(cp)
                                .unwrap_or('\u{fffd}')
                                .encode_utf8(&mut utf8)
                                .as_bytes()
                        }
                        _ => return Err(ParseError::Malformed),
                    };
                    if let Some(o) = out.as_deref_mut() {
                        o.put(decoded);
                    }
                }
                0..=0x1f => return Err(ParseError::Malformed),
                _ => {
                    if let Some(o) = out.as_deref_mut() {
                        o.put_byte(b);
                    }
                }
            }
        }
    }

    fn code_point(&mut self) -> Result<u32, ParseError> {
        let hi = self.hex4()?;
        if !(0xd800..0xdc00).contains(&hi) {
            return Ok(hi);
        }
        // A high surrogate must be followed by `\uDC00`..`\uDFFF`.
        let save = self.i;
        if self.next() == Some(b'\\') && self.next() == Some(b'u') {
            let lo = self.hex4()?;
            if (0xdc00..0xe000).contains(&lo) {
                return Ok(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00));
            }
        }
        self.i = save;
        Ok(0xfffd)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), ParseError> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(ParseError::Malformed),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(ParseError::Malformed);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(ParseError::Malformed);
            }
        }
        Ok(())
    }

    /// Validates and skips one value.
    fn value(&mut self, depth: u32) -> Result<(), ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        match self.peek() {
            Some(b'"') => self.string(None),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'{') => self.container(depth, b'}', true),
            Some(b'[') => self.container(depth, b']', false),
            Some(_) => self.number(),
            None => Err(ParseError::Malformed),
        }
    }

    fn container(&mut self, depth: u32, close: u8, keyed: bool) -> Result<(), ParseError> {
        self.i += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if keyed {
                self.string(None)?;
                self.ws();
                self.expect(b':')?;
                self.ws();
            }
            self.value(depth + 1)?;
            self.ws();
            match self.next() {
                Some(b',') => continue,
                Some(c) if c == close => return Ok(()),
                _ => return Err(ParseError::Malformed),
            }
        }
    }

    /// Parses an array, decoding its first element into `out` if it is a string.
    fn first_string_of_array(&mut self, out: &mut Buf<'_>) -> Result<(), ParseError> {
        let start = self.i;
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'"') {
            self.string(Some(out))?;
        }
        self.i = start;
        self.value(0)
    }
}
