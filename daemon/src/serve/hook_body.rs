//! The body `librampart.so` sends for every exec, read by a byte scanner.
//!
//! The hook writes one shape only (`interceptor/hook/src/http.rs`, `write_body`):
//!
//! ```text
//! {"agent":"…","session":"…","params":{"command":"…","cwd":"…","resolved_path":"…","pid":1,"ppid":1},"enforce":true,"wait":true}
//! ```
//!
//! [`scan`] takes a JSON object with at most these keys, in any order and with JSON
//! whitespace wherever JSON allows it: `agent`, `session` (strings), `params` (an
//! object: `command`, a string, is required; `cwd`, `resolved_path` strings; `pid`,
//! `ppid` integers that fit an `i64`), `enforce`, `wait` (booleans). It declines
//! (returns `None`) everything else, so that the general parser
//! (`serve::preflight`) answers it with its checks and its errors: another key, a
//! key given twice, a `null`, a value of another type, a number with a fraction or
//! an exponent, `-0` (which JSON parsers read as the float −0.0), an integer
//! outside `i64`, bytes after the closing brace other than whitespace, and anything
//! that is not JSON (leading zeros, invalid UTF-8, a raw control character in a
//! string, an unknown escape, a lone surrogate).
//!
//! Strings are decoded fully (`\" \\ \/ \b \f \n \r \t \uXXXX`, surrogate pairs
//! included) and borrowed from the body unless they hold an escape.

use std::borrow::Cow;

/// The hook's body: what [`scan`] read. A key that was absent is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookBody<'a> {
    /// `agent`.
    pub agent: Option<Cow<'a, str>>,
    /// `session`.
    pub session: Option<Cow<'a, str>>,
    /// `params` (required).
    pub params: HookParams<'a>,
    /// `enforce`.
    pub enforce: Option<bool>,
    /// `wait`.
    pub wait: Option<bool>,
}

/// `params` of [`HookBody`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookParams<'a> {
    /// `command` (required).
    pub command: Cow<'a, str>,
    /// `cwd`.
    pub cwd: Option<Cow<'a, str>>,
    /// `resolved_path`.
    pub resolved_path: Option<Cow<'a, str>>,
    /// `pid`.
    pub pid: Option<i64>,
    /// `ppid`.
    pub ppid: Option<i64>,
}

/// Read `body` as the hook's body, or `None` when it is anything else (see the
/// module documentation).
pub fn scan(body: &[u8]) -> Option<HookBody<'_>> {
    // Valid UTF-8 as a whole, checked once: each string is then cut out of it.
    let text = std::str::from_utf8(body).ok()?;
    let mut s = Scanner { text, rest: body };
    let b = s.body()?;
    s.skip_ws();
    s.rest.is_empty().then_some(b)
}

/// Stores `value` in an empty `slot`; `None` when the key was already given.
fn fill<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// The bytes of the body not read yet. Every method consumes what it reads and
/// returns `None` on anything it does not take (the scan is then over, so what
/// it consumed no longer matters).
struct Scanner<'a> {
    /// The whole body, which is valid UTF-8.
    text: &'a str,
    /// The end of `text` not read yet.
    rest: &'a [u8],
}

/// The bytes that end a run of a JSON string (marked 1): `"`, `\` and the
/// control characters (which JSON does not allow raw in a string).
static STOPS: [u8; 256] = {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 1;
        i += 1;
    }
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 1;
    t
};

impl<'a> Scanner<'a> {
    /// Skips JSON whitespace: space, tab, line feed, carriage return.
    fn skip_ws(&mut self) {
        while let [b' ' | b'\t' | b'\n' | b'\r', tail @ ..] = self.rest {
            self.rest = tail;
        }
    }

    /// Consumes whitespace, then `byte`.
    fn token(&mut self, byte: u8) -> Option<()> {
        self.skip_ws();
        self.rest = self.rest.strip_prefix(&[byte])?;
        Some(())
    }

    /// The top-level object.
    fn body(&mut self) -> Option<HookBody<'a>> {
        let (mut agent, mut session, mut params) = (None, None, None);
        let (mut enforce, mut wait) = (None, None);
        self.object(|s, key| match &*key {
            "agent" => fill(&mut agent, s.string()?),
            "session" => fill(&mut session, s.string()?),
            "params" => fill(&mut params, s.params()?),
            "enforce" => fill(&mut enforce, s.boolean()?),
            "wait" => fill(&mut wait, s.boolean()?),
            _ => None,
        })?;
        Some(HookBody {
            agent,
            session,
            params: params?,
            enforce,
            wait,
        })
    }

    /// The `params` object.
    fn params(&mut self) -> Option<HookParams<'a>> {
        let (mut command, mut cwd, mut resolved_path) = (None, None, None);
        let (mut pid, mut ppid) = (None, None);
        self.object(|s, key| match &*key {
            "command" => fill(&mut command, s.string()?),
            "cwd" => fill(&mut cwd, s.string()?),
            "resolved_path" => fill(&mut resolved_path, s.string()?),
            "pid" => fill(&mut pid, s.integer()?),
            "ppid" => fill(&mut ppid, s.integer()?),
            _ => None,
        })?;
        Some(HookParams {
            command: command?,
            cwd,
            resolved_path,
            pid,
            ppid,
        })
    }

    /// An object: `{`, then `"key": value` members separated by `,`, then `}`.
    /// `member` reads the value of each key (it is called after the `:`).
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, Cow<'a, str>) -> Option<()>,
    ) -> Option<()> {
        self.token(b'{')?;
        self.skip_ws();
        if let Some(tail) = self.rest.strip_prefix(b"}") {
            self.rest = tail;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.token(b':')?;
            member(self, key)?;
            self.skip_ws();
            match self.rest.split_first()? {
                (b',', tail) => self.rest = tail,
                (b'}', tail) => {
                    self.rest = tail;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `true` or `false`.
    fn boolean(&mut self) -> Option<bool> {
        self.skip_ws();
        if let Some(tail) = self.rest.strip_prefix(b"true") {
            self.rest = tail;
            Some(true)
        } else {
            self.rest = self.rest.strip_prefix(b"false")?;
            Some(false)
        }
    }

    /// A JSON integer that fits an `i64`: an optional `-`, then `0` or digits
    /// not starting with `0`. A fraction or an exponent makes the number a float,
    /// and so does `-0` (−0.0): both are declined, as is an integer out of range.
    fn integer(&mut self) -> Option<i64> {
        self.skip_ws();
        let negative = match self.rest.strip_prefix(b"-") {
            Some(tail) => {
                self.rest = tail;
                true
            }
            None => false,
        };
        let len = self
            .rest
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(self.rest.len());
        let (digits, tail) = self.rest.split_at_checked(len)?;
        match (digits, tail.first()) {
            ([], _) | ([b'0', _, ..], _) | (_, Some(b'.' | b'e' | b'E')) => return None,
            _ => {}
        }
        self.rest = tail;
        let magnitude = digits.iter().try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })?;
        if negative {
            if magnitude == 0 {
                return None;
            }
            i64::try_from(-i128::from(magnitude)).ok()
        } else {
            i64::try_from(magnitude).ok()
        }
    }

    /// A string, decoded: borrowed from the body when it holds no escape.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.token(b'"')?;
        let run = self.run()?;
        if let Some(tail) = self.rest.strip_prefix(b"\"") {
            self.rest = tail;
            return Some(Cow::Borrowed(run));
        }
        let mut out = String::with_capacity(run.len() + 16);
        out.push_str(run);
        loop {
            // `run` stopped at a quote (handled below), a backslash or a control
            // character, which JSON does not allow raw in a string.
            self.rest = self.rest.strip_prefix(b"\\")?;
            out.push(self.escape()?);
            out.push_str(self.run()?);
            if let Some(tail) = self.rest.strip_prefix(b"\"") {
                self.rest = tail;
                return Some(Cow::Owned(out));
            }
        }
    }

    /// The text up to the next `"`, `\` or control character (not included).
    /// `None` when the body ends first. None of the three stop bytes can be part
    /// of a multi-byte UTF-8 sequence, so the run ends on a character boundary.
    fn run(&mut self) -> Option<&'a str> {
        let len = crate::json_writer::unmarked_prefix(&STOPS, self.rest);
        let (_, tail) = self.rest.split_at_checked(len)?;
        if tail.is_empty() {
            return None;
        }
        let start = self.text.len() - self.rest.len();
        self.rest = tail;
        self.text.get(start..start + len)
    }

    /// The character of an escape, after its backslash.
    fn escape(&mut self) -> Option<char> {
        let (&c, tail) = self.rest.split_first()?;
        self.rest = tail;
        Some(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode(),
            _ => return None,
        })
    }

    /// The character of a `\u` escape, after the `u`: a UTF-16 code unit, or a
    /// leading surrogate followed by `\u` and a trailing one. A surrogate
    /// anywhere else is no character, and is declined.
    fn unicode(&mut self) -> Option<char> {
        let unit = self.hex4()?;
        if !(0xD800..=0xDBFF).contains(&unit) {
            // `from_u32` refuses a lone trailing surrogate (0xDC00..=0xDFFF).
            return char::from_u32(unit);
        }
        self.rest = self.rest.strip_prefix(b"\\u")?;
        let low = self.hex4()?;
        if !(0xDC00..=0xDFFF).contains(&low) {
            return None;
        }
        char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
    }

    /// Four hex digits (either case).
    fn hex4(&mut self) -> Option<u32> {
        let (digits, tail) = self.rest.split_first_chunk::<4>()?;
        self.rest = tail;
        digits
            .iter()
            .try_fold(0, |n, &d| Some(n << 4 | char::from(d).to_digit(16)?))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Scans `literal` as one JSON string and nothing after it.
    fn string(literal: &[u8]) -> Option<Cow<'_, str>> {
        let mut s = Scanner {
            text: std::str::from_utf8(literal).ok()?,
            rest: literal,
        };
        let v = s.string()?;
        s.skip_ws();
        s.rest.is_empty().then_some(v)
    }

    /// Scans `literal` as one JSON integer and nothing after it.
    fn integer(literal: &[u8]) -> Option<i64> {
        let mut s = Scanner {
            text: std::str::from_utf8(literal).ok()?,
            rest: literal,
        };
        let v = s.integer()?;
        s.skip_ws();
        s.rest.is_empty().then_some(v)
    }

    /// A small deterministic PRNG (xorshift64), for the generated tests here
    /// and in `preflight`.
    pub(in crate::serve) struct XorShift(pub u64);

    impl XorShift {
        /// A number in `0..n`.
        pub fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        /// One of `items`.
        pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }

        /// True once in `n` times.
        pub fn one_in(&mut self, n: usize) -> bool {
            self.below(n) == 0
        }
    }

    #[test]
    fn strings_decode_as_serde_json_decodes_them() {
        let cases: &[&[u8]] = &[
            br#""""#,
            br#""plain ascii""#,
            "\"caf\u{e9} \u{65e5}\u{672c} \u{1f600}\"".as_bytes(),
            br#""\"\\\/\b\f\n\r\t""#,
            br#""\u00e9\u00E9\u65e5\uFFFF\u0000""#,
            br#""\ud83d\ude00 and \uD83D\uDE00""#,
            br#""a\ud83d""#,
            br#""a\ud83dx""#,
            br#""a\ud83d\n""#,
            br#""a\ud83d\ud83d\ude00""#,
            br#""a\ude00""#,
            br#""a\u12""#,
            br#""a\u12g4""#,
            br#""a\x""#,
            br#""a\'""#,
            br#""a\"#,
            br#""a"#,
            b"\"a\nb\"",
            b"\"a\tb\"",
            b"\"a\x00b\"",
            b"\"a\x1fb\"",
            b"\"a\x7fb\"",
            b"\"a\xffb\"",
            b"\"a\xc3\"",
            b"\"\xc3\xa9\\n\xc3\"",
            b"\"\xe6\x97\\u0041\"",
            b"\"\xed\xa0\x80\"",
            br#""a" "#,
            br#" "a""#,
            br#""a"b"#,
        ];
        for &lit in cases {
            let ours = string(lit);
            let theirs: Option<String> = serde_json::from_slice(lit).ok();
            assert_eq!(
                ours.as_deref(),
                theirs.as_deref(),
                "{}",
                String::from_utf8_lossy(lit)
            );
        }
    }

    #[test]
    fn strings_borrow_unless_they_hold_an_escape() {
        assert!(matches!(
            string(br#""/usr/bin/ls -l""#),
            Some(Cow::Borrowed(_))
        ));
        assert!(matches!(
            string("\"\u{e9}t\u{e9}\"".as_bytes()),
            Some(Cow::Borrowed("\u{e9}t\u{e9}"))
        ));
        assert!(matches!(string(br#""a\nb""#), Some(Cow::Owned(s)) if s == "a\nb"));
    }

    #[test]
    fn generated_strings_decode_as_serde_json_decodes_them() {
        // Pieces of a string literal's contents, valid and not.
        let pieces: &[&[u8]] = &[
            b"a",
            b"ls -l ",
            b"/",
            "\u{e9}".as_bytes(),
            "\u{65e5}".as_bytes(),
            "\u{1f600}".as_bytes(),
            b"\\\"",
            b"\\\\",
            b"\\/",
            b"\\b\\f\\n\\r\\t",
            b"\\u0041",
            b"\\u00e9",
            b"\\uFFFD",
            b"\\ud83d\\ude00",
            b"\\ud83d",
            b"\\ude00",
            b"\\u",
            b"\\q",
            b"\\",
            b"\n",
            b"\x7f",
            b"\xff",
            b"\xc3",
            b"\xa9",
            b"\"",
        ];
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let (mut valid, mut invalid) = (0, 0);
        for _ in 0..5000 {
            let mut lit = vec![b'"'];
            for _ in 0..rng.below(6) {
                lit.extend_from_slice(pieces[rng.below(pieces.len())]);
            }
            if rng.below(8) != 0 {
                lit.push(b'"');
            }
            let ours = string(&lit);
            let theirs: Option<String> = serde_json::from_slice(&lit).ok();
            assert_eq!(
                ours.as_deref(),
                theirs.as_deref(),
                "{}",
                String::from_utf8_lossy(&lit)
            );
            if theirs.is_some() {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
        assert!(
            valid > 500 && invalid > 500,
            "{valid} valid, {invalid} invalid"
        );
    }

    #[test]
    fn integers_are_the_json_integers_that_fit_an_i64() {
        let cases = [
            "0",
            "7",
            "-7",
            "4194304",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "-18446744073709551616",
            "99999999999999999999999",
            "-0",
            "00",
            "01",
            "-01",
            "1.0",
            "1.",
            "1e3",
            "1E3",
            "-1e-3",
            "+1",
            "-",
            "",
            "- 1",
            "0x10",
            "1 ",
        ];
        for lit in cases {
            let ours = integer(lit.as_bytes());
            let theirs: Option<i64> = serde_json::from_str(lit).ok();
            assert_eq!(ours, theirs, "{lit}");
        }
        assert_eq!(integer(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(integer(b"-0"), None);
    }

    #[test]
    fn the_hook_body_is_scanned_into_its_fields() {
        let b = scan(
            br#" { "wait" : false , "params" : { "ppid" : 1 , "pid" : -2 , "resolved_path" : "/bin/ls" , "cwd" : "/t\u006dp" , "command" : "ls" } , "enforce" : true , "session" : "s" , "agent" : "a" } "#,
        )
        .unwrap();
        assert_eq!(
            b,
            HookBody {
                agent: Some("a".into()),
                session: Some("s".into()),
                params: HookParams {
                    command: "ls".into(),
                    cwd: Some("/tmp".into()),
                    resolved_path: Some("/bin/ls".into()),
                    pid: Some(-2),
                    ppid: Some(1),
                },
                enforce: Some(true),
                wait: Some(false),
            }
        );
        let b = scan(br#"{"params":{"command":"x"}}"#).unwrap();
        assert_eq!(
            (b.agent, b.session, b.enforce, b.wait),
            (None, None, None, None)
        );
        assert_eq!(
            (
                b.params.cwd,
                b.params.resolved_path,
                b.params.pid,
                b.params.ppid
            ),
            (None, None, None, None)
        );
        // Escaped keys are keys like any other.
        assert!(scan(br#"{"p\u0061rams":{"comm\u0061nd":"x"}}"#).is_some());
    }

    #[test]
    fn anything_else_is_declined() {
        let cases: &[&[u8]] = &[
            b"",
            b"{}",
            b"[]",
            br#"{"params":{}}"#,
            br#"{"params":["x"]}"#,
            br#"["a","s",["x"],true,true]"#,
            br#"{"params":{"command":"x"},}"#,
            br#"{"params":{"command":"x",}}"#,
            br#"{,"params":{"command":"x"}}"#,
            br#"{"params":{"command":"x"}"#,
            br#"{"params":{"command":"x"}}}"#,
            br#"{"params":{"command":"x"}} x"#,
            b"{\"params\":{\"command\":\"x\"}}\x0c",
            br#"{"params"{"command":"x"}}"#,
            br#"{"params":{"command":"x"} "wait":true}"#,
            br#"{"params":{"command":"x"},"wait":tru}"#,
            br#"{"params":{"command":"x"},"wait":truex}"#,
            br#"{"params":{"command":"x"},"wait":1}"#,
            br#"{"params":{"command":"x"},"wait":null}"#,
            br#"{"params":{"command":"x"},"agent":null}"#,
            br#"{"params":{"command":"x"},"agent":1}"#,
            br#"{"params":{"command":null}}"#,
            br#"{"params":{"command":"x","pid":null}}"#,
            br#"{"params":{"command":"x","pid":"1"}}"#,
            br#"{"params":{"command":"x","pid":1x}}"#,
            br#"{"params":{"command":"x","cwd":1}}"#,
            br#"{"params":null}"#,
            br#"{"params":"x"}"#,
            br#"{"params":{"command":"x"},"agent":"a","agent":"a"}"#,
            br#"{"params":{"command":"x"},"params":{"command":"x"}}"#,
            br#"{"params":{"command":"x","command":"x"}}"#,
            br#"{"params":{"command":"x","pid":1,"pid":1}}"#,
            br#"{"params":{"command":"x"},"verification":false}"#,
            br#"{"params":{"command":"x","cmd":"x"}}"#,
            br#"{"params":{"command":"x","arguments":{}}}"#,
            br#"{"Params":{"command":"x"}}"#,
            b"{'params':{'command':'x'}}",
            b"\xef\xbb\xbf{\"params\":{\"command\":\"x\"}}",
            b"{\"params\":{\"command\":\"x\"}}\x00",
            b"\x0c{\"params\":{\"command\":\"x\"}}",
        ];
        for &body in cases {
            assert_eq!(scan(body), None, "{}", String::from_utf8_lossy(body));
        }
    }
}
