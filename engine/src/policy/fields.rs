//! Checked decoders for single values of a policy file.
//!
//! Each check runs *inside* the YAML decoder's visit of the value, so a failure is
//! reported at the line and column of that value.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::model::Timestamp;
use super::time::{parse_go_duration, parse_timestamp};
use crate::decision::Action;

/// The longest `response_*` regex accepted.
pub const MAX_REGEX_LEN: usize = 500;
/// The largest `call_count.gte`.
pub const MAX_CALL_COUNT_GTE: u64 = 1000;
/// The longest `call_count.window`, in milliseconds (720h).
pub const MAX_WINDOW_MS: u64 = 720 * 3600 * 1000;

/// Visits a scalar as text and converts it with a check.
struct Checked<F, T> {
    what: &'static str,
    check: F,
    out: PhantomData<T>,
}

impl<'de, F, T> Visitor<'de> for Checked<F, T>
where
    F: FnOnce(&str) -> Result<T, String>,
{
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.check)(v).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        self.visit_str(if v { "true" } else { "false" })
    }
}

fn checked<'de, D, T, F>(d: D, what: &'static str, check: F) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(&str) -> Result<T, String>,
{
    d.deserialize_str(Checked {
        what,
        check,
        out: PhantomData,
    })
}

/// Check a glob against the load-time limits (spec §1.1).
fn check_glob(p: &str) -> Result<String, String> {
    crate::glob::check_limits(p)
        .map(|()| p.to_string())
        .map_err(|e| format!("invalid glob {}: {e}", short(p)))
}

/// A pattern shortened for messages.
fn short(p: &str) -> String {
    if p.chars().count() > 60 {
        let head: String = p.chars().take(57).collect();
        format!("{head:?}...")
    } else {
        format!("{p:?}")
    }
}

/// Parse an action word (`allow deny ask watch log webhook`), case-insensitive.
pub fn parse_action(word: &str) -> Result<(Action, String), String> {
    let w = word.trim().to_ascii_lowercase();
    let a = match w.as_str() {
        "allow" => Action::Allow,
        "deny" => Action::Deny,
        "ask" => Action::Ask,
        "watch" | "log" => Action::Watch,
        "webhook" => Action::Webhook,
        "require_approval" => {
            return Err(
                "action `require_approval` was removed (v0.9.9); use `ask` instead".to_string(),
            )
        }
        _ => {
            return Err(format!(
                "unknown action {word:?}; expected one of allow, deny, ask, watch, log, webhook"
            ))
        }
    };
    Ok((a, w))
}

/// A glob newtype that checks limits while decoding.
struct GlobItem(String);
impl<'de> Deserialize<'de> for GlobItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, "a glob string", check_glob).map(GlobItem)
    }
}

/// A non-blank substring.
struct SubstringItem(String);
impl<'de> Deserialize<'de> for SubstringItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, "a non-empty string", |s| {
            if s.trim().is_empty() {
                Err("command_contains entries must not be empty or whitespace-only".into())
            } else {
                Ok(s.to_string())
            }
        })
        .map(SubstringItem)
    }
}

/// A checked regex.
struct RegexItem(String);
impl<'de> Deserialize<'de> for RegexItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, "a regular expression", |s| {
            check_regex(s).map(|()| s.to_string())
        })
        .map(RegexItem)
    }
}

/// Validate a `response_*` regex (spec §1.1): length, compiles, no nested
/// quantifiers, no back-references.
pub fn check_regex(p: &str) -> Result<(), String> {
    if p.chars().count() > MAX_REGEX_LEN {
        return Err(format!(
            "regex is {} characters long; the limit is {MAX_REGEX_LEN}",
            p.chars().count()
        ));
    }
    if has_backreference(p) {
        return Err(format!(
            "regex {} uses a back-reference, which RE2 cannot compile",
            short(p)
        ));
    }
    let ast = regex_syntax::ast::parse::Parser::new()
        .parse(p)
        .map_err(|e| format!("invalid regex {}: {}", short(p), e.kind()))?;
    if nested_repetition(&ast, false) {
        return Err(format!(
            "regex {} quantifies a group that already contains a quantifier (catastrophic backtracking shape)",
            short(p)
        ));
    }
    regex::Regex::new(p).map_err(|e| format!("invalid regex {}: {e}", short(p)))?;
    Ok(())
}

/// `\1`..`\9` outside a character class.
fn has_backreference(p: &str) -> bool {
    let b = p.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'\\' {
            if b[i + 1].is_ascii_digit() && b[i + 1] != b'0' {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

fn nested_repetition(ast: &regex_syntax::ast::Ast, inside: bool) -> bool {
    use regex_syntax::ast::Ast;
    match ast {
        Ast::Repetition(r) => inside || nested_repetition(&r.ast, true),
        Ast::Group(g) => nested_repetition(&g.ast, inside),
        Ast::Concat(c) => c.asts.iter().any(|a| nested_repetition(a, inside)),
        Ast::Alternation(a) => a.asts.iter().any(|a| nested_repetition(a, inside)),
        _ => false,
    }
}

fn opt_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A list of globs (null = empty).
pub fn globs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(opt_list::<D, GlobItem>(d)?
        .into_iter()
        .map(|g| g.0)
        .collect())
}

/// A list of non-blank substrings.
pub fn substrings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(opt_list::<D, SubstringItem>(d)?
        .into_iter()
        .map(|g| g.0)
        .collect())
}

/// A list of regexes.
pub fn regexes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(opt_list::<D, RegexItem>(d)?
        .into_iter()
        .map(|g| g.0)
        .collect())
}

/// One optional glob.
pub fn opt_glob<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<GlobItem>::deserialize(d)?.map(|g| g.0))
}

/// `match.tool`: one glob or a list of globs.
pub fn tool_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a tool glob or a list of tool globs")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            check_glob(v).map(|g| vec![g]).map_err(E::custom)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(GlobItem(g)) = seq.next_element()? {
                out.push(g);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// `tool_param_matches`: a map of parameter name → glob, in file order.
pub fn param_globs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of parameter names to globs")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out: Vec<(String, String)> = Vec::new();
            while let Some(k) = map.next_key::<String>()? {
                let GlobItem(v) = map.next_value()?;
                if out.iter().any(|(seen, _)| *seen == k) {
                    return Err(de::Error::custom(format!(
                        "duplicate tool_param_matches key {k:?}"
                    )));
                }
                out.push((k, v));
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// `version`: empty or `"1"`.
pub fn version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Item(String);
    impl<'de> Deserialize<'de> for Item {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            checked(d, "a version string", |s| match s.trim() {
                "" | "1" => Ok(s.trim().to_string()),
                other => Err(format!("unsupported version {other:?}; expected \"1\"")),
            })
            .map(Item)
        }
    }
    Ok(Option::<Item>::deserialize(d)?.map(|i| i.0))
}

/// `default_action`: empty, allow, deny, ask, watch or log.
pub fn default_action<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Action>, D::Error> {
    struct Item(Option<Action>);
    impl<'de> Deserialize<'de> for Item {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            checked(d, "a default action", |s| {
                let w = s.trim().to_ascii_lowercase();
                match w.as_str() {
                    "" => Ok(None),
                    "allow" => Ok(Some(Action::Allow)),
                    "deny" => Ok(Some(Action::Deny)),
                    "ask" => Ok(Some(Action::Ask)),
                    "watch" | "log" => Ok(Some(Action::Watch)),
                    _ => Err(format!(
                        "invalid default_action {s:?}; expected one of allow, deny, ask, watch, log"
                    )),
                }
            })
            .map(Item)
        }
    }
    Ok(Option::<Item>::deserialize(d)?.and_then(|i| i.0))
}

/// A rule `action`.
pub fn rule_action<'de, D: Deserializer<'de>>(d: D) -> Result<(Action, String), D::Error> {
    checked(d, "an action", parse_action)
}

/// An inline test's `expect`.
pub fn action<'de, D: Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
    checked(d, "an action", |s| parse_action(s).map(|a| a.0))
}

/// A policy `name`: required and non-blank.
pub fn policy_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, "a policy name", |s| {
        if s.trim().is_empty() {
            Err("policy `name` must not be empty".into())
        } else {
            Ok(s.to_string())
        }
    })
}

/// `notify.platform`.
pub fn platform<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, "a notify platform", |s| {
        let w = s.trim().to_ascii_lowercase();
        match w.as_str() {
            "" | "auto" | "slack" | "discord" | "teams" | "openclaw" | "webhook" => Ok(w),
            _ => Err(format!(
                "unknown notify platform {s:?}; expected auto, slack, discord, teams, openclaw or webhook"
            )),
        }
    })
}

/// `notify.on`: decision names.
pub fn notify_on<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Action>, D::Error> {
    struct Item(Action);
    impl<'de> Deserialize<'de> for Item {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            checked(d, "a decision name", |s| {
                match s.trim().to_ascii_lowercase().as_str() {
                    "deny" => Ok(Action::Deny),
                    "watch" | "log" => Ok(Action::Watch),
                    "ask" | "require_approval" => Ok(Action::Ask),
                    _ => Err(format!(
                        "unknown notify.on decision {s:?}; expected deny, watch (log) or ask"
                    )),
                }
            })
            .map(Item)
        }
    }
    Ok(opt_list::<D, Item>(d)?.into_iter().map(|i| i.0).collect())
}

/// An optional timestamp.
pub fn opt_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    struct Item(Timestamp);
    impl<'de> Deserialize<'de> for Item {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            checked(d, "an RFC 3339 timestamp", |s| {
                parse_timestamp(s).map(|(unix_seconds, nanos)| {
                    Item(Timestamp {
                        unix_seconds,
                        nanos,
                    })
                })
            })
        }
    }
    Ok(Option::<Item>::deserialize(d)?.map(|i| i.0))
}

/// `call_count.gte`: 0..=1000.
pub fn call_count_gte<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    checked(d, "an integer between 0 and 1000", |s| {
        match s.trim().parse::<i64>() {
            Ok(n) if (0..=MAX_CALL_COUNT_GTE as i64).contains(&n) => Ok(n as u32),
            _ => Err(format!(
                "call_count.gte must be an integer between 0 and {MAX_CALL_COUNT_GTE}, got {s:?}"
            )),
        }
    })
}

/// `call_count.window`: a Go duration, > 0 and ≤ 720h.
pub fn call_count_window<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    checked(d, "a Go duration such as \"10s\" or \"1h\"", |s| {
        let ns = parse_go_duration(s.trim()).map_err(|e| {
            format!("{e}; expected a Go duration such as \"10s\", \"1h\" or \"1h30m\"")
        })?;
        let ms = (ns / 1_000_000) as i64;
        if ns <= 0 || ms == 0 {
            return Err(format!("call_count.window {s:?} must be positive"));
        }
        if ms as u64 > MAX_WINDOW_MS {
            return Err(format!("call_count.window {s:?} exceeds the 720h limit"));
        }
        Ok(ms as u64)
    })
}

/// `webhook.timeout`: a Go duration, defaulting to 5s and capped at 30s.
pub fn webhook_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    checked(d, "a Go duration such as \"5s\"", |s| {
        if s.trim().is_empty() {
            return Ok(5_000);
        }
        let ns = parse_go_duration(s.trim())?;
        let ms = (ns / 1_000_000) as i64;
        Ok(if ms <= 0 {
            5_000
        } else {
            ms.min(30_000) as u64
        })
    })
}
