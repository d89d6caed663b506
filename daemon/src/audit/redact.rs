//! Secret redaction before anything reaches the audit log.
//!
//! The engine always decides on the unredacted command; only what is written is
//! scrubbed. Two layers:
//! - keys whose normalized name (lower-case, alphanumerics only) is a credential name
//!   have their whole value replaced by `[REDACTED]` (spec §6.2);
//! - inside every string, well-known secret shapes are replaced: bearer/basic
//!   credentials and `Authorization:` headers, GitHub/OpenAI/Anthropic/AWS/Slack/GitLab
//!   token formats, passwords in URLs, and values of `*_TOKEN=`, `*_KEY=`,
//!   `*_SECRET=`, `*PASSWORD=` style assignments (also `--password=…` flags).

use regex::{Regex, RegexSet};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::LazyLock;

/// The replacement text.
pub const REDACTED: &str = "[REDACTED]";

struct Scrubbers {
    /// (pattern, replacement) applied in order.
    rules: Vec<(Regex, &'static str)>,
    /// All patterns at once: one scan tells which rules (if any) need to run.
    any: RegexSet,
}

static SCRUBBERS: LazyLock<Scrubbers> = LazyLock::new(|| {
    let r = |p: &str| Regex::new(p).expect("redaction pattern compiles");
    let rules: Vec<(Regex, &'static str)> = vec![
        // Authorization headers (any scheme) up to the end of the header value.
        (
            r(r#"(?i)(authorization\s*[:=]\s*)(?:bearer|basic|token|digest)?\s*[^\s'"]+"#),
            "${1}[REDACTED]",
        ),
        // Bare bearer / basic credentials.
        (
            r(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=\-]{8,}"),
            "${1}${2}[REDACTED]",
        ),
        // Passwords in URLs: scheme://user:password@host.
        (
            r(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@'\x22]*:)[^@\s/'\x22]+@"),
            "${1}[REDACTED]@",
        ),
        // Assignments: FOO_TOKEN=…, API_KEY=…, X_SECRET=…, DB_PASSWORD=…, --password=…
        (
            r(
                r#"(?i)\b([A-Za-z0-9_\-]*(?:token|key|secret|passwd|password|passphrase|credentials?)\s*=\s*)("[^"]*"|'[^']*'|[^\s;&|]+)"#,
            ),
            "${1}[REDACTED]",
        ),
        // GitHub tokens.
        (
            r(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
            REDACTED,
        ),
        // OpenAI / Anthropic style keys.
        (r(r"\bsk-[A-Za-z0-9_\-]{16,}"), REDACTED),
        // AWS access key ids.
        (r(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
        // Slack tokens.
        (r(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"), REDACTED),
        // GitLab personal access tokens.
        (r(r"\bglpat-[A-Za-z0-9_\-]{20,}"), REDACTED),
        // Google API keys.
        (r(r"\bAIza[0-9A-Za-z_\-]{35}"), REDACTED),
        // Private key blocks.
        (
            r(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
            REDACTED,
        ),
    ];
    let any =
        RegexSet::new(rules.iter().map(|(re, _)| re.as_str())).expect("redaction set compiles");
    Scrubbers { rules, any }
});

/// Scrub credential-looking substrings from a string.
pub fn scrub(text: &str) -> Cow<'_, str> {
    if !may_hold_secret(text) {
        return Cow::Borrowed(text);
    }
    scrub_with_rules(text)
}

/// [`scrub`] of a text that may hold a secret: the regexes' work, kept out of
/// line (most texts never need it).
#[inline(never)]
fn scrub_with_rules(text: &str) -> Cow<'_, str> {
    let hits = SCRUBBERS.any.matches(text);
    if !hits.matched_any() {
        return Cow::Borrowed(text);
    }
    let mut out: Cow<'_, str> = Cow::Borrowed(text);
    for (i, (re, rep)) in SCRUBBERS.rules.iter().enumerate() {
        // Earlier replacements only insert "[REDACTED]", which no later rule matches,
        // so rules that did not match the original cannot match now.
        if hits.matched(i) {
            out = Cow::Owned(re.replace_all(&out, *rep).into_owned());
        }
    }
    out
}

/// Whether `text` contains something without which no [`SCRUBBERS`] rule can
/// match: a literal every rule needs (`authorization`, `bearer`, `basic`, `://`,
/// `token`/`key`/`secret`/`pass`/`credential` with an `=` somewhere, `gh?_`,
/// `github_pat_`, `sk-`, `AKIA`, `ASIA`, `xox`, `glpat-`, `AIza`, `-----BEGIN`), or
/// any non-ASCII byte (Unicode case folding and `\s` are the regexes' to judge).
///
/// Most audited strings (commands, paths) hold none of these, and this one pass
/// over the bytes spares them the regex set: its engine is the largest code the
/// audit path runs, and a daemon between two requests finds it cold.
fn may_hold_secret(text: &str) -> bool {
    let b = text.as_bytes();
    let mut assignment_word = false;
    let mut equals = false;
    for (i, &c) in b.iter().enumerate() {
        let rest = &b[i..];
        let ci =
            |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
        let hit = match c.to_ascii_lowercase() {
            0x80..=0xff => return true,
            b'a' => {
                ci(b"authorization")
                    || rest.starts_with(b"AKIA")
                    || rest.starts_with(b"ASIA")
                    || rest.starts_with(b"AIza")
            }
            b'b' => ci(b"bearer") || ci(b"basic"),
            b':' => rest.starts_with(b"://"),
            b's' => {
                assignment_word |= ci(b"secret");
                rest.starts_with(b"sk-")
            }
            b'g' => {
                matches!(
                    rest,
                    [b'g', b'h', b'p' | b'o' | b'u' | b's' | b'r', b'_', ..]
                ) || rest.starts_with(b"github_pat_")
                    || rest.starts_with(b"glpat-")
            }
            b'x' => rest.starts_with(b"xox"),
            b'-' => rest.starts_with(b"-----BEGIN"),
            b't' | b'k' | b'p' | b'c' => {
                assignment_word |= [&b"token"[..], b"key", b"pass", b"credential"]
                    .iter()
                    .any(|w| ci(w));
                false
            }
            b'=' => {
                equals = true;
                false
            }
            _ => false,
        };
        if hit {
            return true;
        }
    }
    assignment_word && equals
}

/// Whether a map key names a credential (its value is replaced wholesale): its
/// ASCII letters and digits, lower-cased, are one of [`SENSITIVE_NAMES`] or end
/// with one of [`SENSITIVE_ENDINGS`].
pub fn is_sensitive_key(key: &str) -> bool {
    // Only the last 16 such characters can matter (no name is longer); gathered
    // on the stack, as every key of every audited request passes through here.
    const KEEP: usize = 16;
    let mut tail = [0u8; KEEP];
    let mut n = 0;
    for b in key.bytes().rev().filter(u8::is_ascii_alphanumeric) {
        if n < KEEP {
            tail[KEEP - 1 - n] = b.to_ascii_lowercase();
        }
        n += 1;
    }
    let k = &tail[KEEP - n.min(KEEP)..];
    (n <= KEEP && SENSITIVE_NAMES.iter().any(|s| k == s.as_bytes()))
        || SENSITIVE_ENDINGS.iter().any(|s| k.ends_with(s.as_bytes()))
}

/// Credential key names (letters and digits only, lower case).
const SENSITIVE_NAMES: &[&str] = &[
    "authorization",
    "password",
    "passwd",
    "passphrase",
    "token",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "apikey",
    "secret",
    "clientsecret",
    "cookie",
    "setcookie",
    "privatekey",
    "credential",
    "credentials",
    "commandb64",
];

/// Endings that make any key a credential key (`github_token`, `db-password`).
const SENSITIVE_ENDINGS: &[&str] = &["password", "token", "apikey", "secret", "privatekey"];

/// Redact a JSON value in place: sensitive keys wholesale, strings scrubbed.
pub fn redact_value(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(o) = scrub(s) {
                *s = o;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_value),
        Value::Object(m) => redact_map(m),
        _ => {}
    }
}

/// Redact every entry of a map (see [`redact_value`]).
pub fn redact_map(m: &mut Map<String, Value>) {
    for (k, v) in m.iter_mut() {
        if is_sensitive_key(k) && !v.is_null() {
            *v = Value::String(REDACTED.into());
        } else {
            redact_value(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        scrub(x).into_owned()
    }

    #[test]
    fn sensitive_keys_are_recognised_by_name_and_ending() {
        // The rule as first written: normalise into a new string, then compare.
        fn oracle(key: &str) -> bool {
            let k: String = key
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_lowercase())
                .collect();
            SENSITIVE_NAMES.contains(&k.as_str())
                || SENSITIVE_ENDINGS.iter().any(|s| k.ends_with(s))
        }
        let keys = [
            "Authorization",
            "X-Api-Key",
            "api_key",
            "github_token",
            "GITHUB-TOKEN",
            "tokens",
            "token_count",
            "refresh_token",
            "Set-Cookie",
            "cookie_jar",
            "command_b64",
            "a-very-long-prefix-before-the-db-password",
            "a_very_long_key_name_x",
            "authorizationheader",
            "pässword",
            "pass\u{e9}word",
            "",
            "_",
            "cmd",
            "command",
            "credentials",
            "my credential",
            "privateKey",
            "PRIVATE_KEY_PATH",
            "secretive",
        ];
        for k in keys {
            assert_eq!(is_sensitive_key(k), oracle(k), "{k:?}");
        }
        assert!(is_sensitive_key(
            "a-very-long-prefix-before-the-db-password"
        ));
        assert!(is_sensitive_key("X-Api-Key"));
        assert!(!is_sensitive_key("command"));
    }

    #[test]
    fn scrub_removes_authorization_headers_and_bearer_tokens() {
        let out = s("curl -H 'Authorization: Bearer abcdef1234567890' https://x");
        assert!(!out.contains("abcdef1234567890"), "{out}");
        let out = s("echo bearer zzzzzzzzzzzzzzzz");
        assert!(!out.contains("zzzzzzzzzzzzzzzz"), "{out}");
    }

    #[test]
    fn scrub_removes_well_known_key_formats() {
        for secret in [
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "sk-ant-api03-abcdefghijklmnopqrstuv",
            "AKIAIOSFODNN7EXAMPLE",
            "xoxb-1234567890-abcdef",
            "glpat-abcdefghijklmnopqrstu",
        ] {
            let out = s(&format!("tool --flag {secret} done"));
            assert!(!out.contains(secret), "{out}");
            assert!(
                out.contains("tool --flag") && out.ends_with("done"),
                "{out}"
            );
        }
    }

    #[test]
    fn scrub_removes_url_passwords_but_keeps_user_and_host() {
        let out = s("git clone https://alice:hunter2@example.com/r.git");
        assert_eq!(out, "git clone https://alice:[REDACTED]@example.com/r.git");
    }

    #[test]
    fn scrub_removes_secret_assignments() {
        let out = s("GITHUB_TOKEN=abc123 API_KEY='x y' DB_PASSWORD=\"p w\" make deploy");
        assert_eq!(
            out,
            "GITHUB_TOKEN=[REDACTED] API_KEY=[REDACTED] DB_PASSWORD=[REDACTED] make deploy"
        );
        assert_eq!(
            s("mysql --password=pw1 db"),
            "mysql --password=[REDACTED] db"
        );
    }

    #[test]
    fn scrub_leaves_ordinary_commands_alone() {
        for c in ["ls -la /tmp", "git status", "rm -rf ./build", "echo $HOME"] {
            assert_eq!(s(c), c);
        }
    }

    /// The prefilter may only skip strings the regex set does not match: checked
    /// on every fragment of every rule, alone and in random combinations with
    /// neighbours that make or break word boundaries and case.
    #[test]
    fn the_prefilter_never_skips_what_a_rule_matches() {
        const PIECES: &[&str] = &[
            "authorization",
            "AUTHORIZATION: ",
            "Authorization=",
            "bearer ",
            "Basic ",
            "BEARER\t",
            "abcdefgh12345678",
            "https://",
            "u:p@",
            "user:",
            "@host",
            "x://a:b@c",
            "token",
            "TOKEN",
            "_key",
            "Key",
            "secret",
            "SECRET",
            "passwd",
            "Password",
            "passphrase",
            "credential",
            "CREDENTIALS",
            "=",
            " = ",
            "'v'",
            "\"v\"",
            "ghp_",
            "gho_",
            "ghs_",
            "ghr_",
            "ghu_",
            "github_pat_",
            "ghx_",
            "sk-",
            "SK-",
            "AKIA",
            "ASIA",
            "akia",
            "AIza",
            "aiza",
            "xoxb-",
            "xoxp-",
            "XOXB-",
            "glpat-",
            "GLPAT-",
            "-----BEGIN RSA PRIVATE KEY-----",
            "-----begin ",
            "-----END PRIVATE KEY-----",
            "0123456789ABCDEFGHIJ",
            "0123456789abcdefghij_-",
            "ABCDEFGHIJKLMNOP",
            " ",
            "\n",
            "/",
            ";",
            "&",
            "|",
            "a",
            "Z",
            "9",
            "-",
            "_",
            ".",
            ":",
            "ls -la",
            "rm -rf ./b",
        ];
        let mut checked = Vec::new();
        for piece in PIECES {
            checked.push(piece.to_string());
        }
        let mut next = crate::json_writer::tests::xorshift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..60_000 {
            let mut text = String::new();
            for _ in 0..1 + next(6) {
                text.push_str(PIECES[next(PIECES.len())]);
            }
            checked.push(text);
        }
        let mut matched = 0;
        for text in &checked {
            if SCRUBBERS.any.is_match(text) {
                matched += 1;
                assert!(may_hold_secret(text), "prefilter skipped {text:?}");
            }
        }
        assert!(
            matched > 10_000,
            "the corpus exercises the rules: {matched}"
        );
        // Commands and paths without any trigger are skipped.
        for plain in [
            "/bin/true",
            "ls -la /tmp",
            "git status",
            "make -j4 all",
            "/usr/bin/env",
        ] {
            assert!(!may_hold_secret(plain), "{plain}");
        }
        // Non-ASCII text always goes to the regexes (Unicode case folding: the
        // Kelvin sign is a `k`, the long s an `s`).
        assert_eq!(s("API_\u{212A}EY=abc run"), "API_\u{212A}EY=[REDACTED] run");
        assert_eq!(
            s("DB_\u{17F}ECRET=abc run"),
            "DB_\u{17F}ECRET=[REDACTED] run"
        );
    }

    #[test]
    fn redact_map_replaces_sensitive_keys_recursively() {
        let mut v = serde_json::json!({"command":"ls","api_key":"k","nested":{"Auth-Token":"t","x":"sk-abcdefghijklmnopqrstuv"}});
        redact_value(&mut v);
        assert_eq!(v["command"], "ls");
        assert_eq!(v["api_key"], REDACTED);
        assert_eq!(v["nested"]["Auth-Token"], REDACTED);
        assert_eq!(v["nested"]["x"], REDACTED);
    }
}
