//! What a tool call exposes to conditions (spec §1.7): accessors with their aliases,
//! the ambiguity check and the size check, both of which fail closed.

use serde_json::{Map, Value};

use crate::decision::ToolCall;

/// The longest input any matcher looks at (bytes).
pub const MAX_MATCH_INPUT: usize = 8192;

const EXEC_COMMAND: &[&str] = &["command", "cmd", "input"];
const OTHER_COMMAND: &[&str] = &["command"];
const PATH_TOOL_PATH: &[&str] = &["file_path", "path", "file", "filepath", "target"];
const OTHER_PATH: &[&str] = &["file_path", "path"];
const URL_TOOL_URL: &[&str] = &["url", "uri", "href"];
const OTHER_URL: &[&str] = &["url"];
const WORKDIR: &[&str] = &["workdir", "cwd"];
const DOMAIN: &[&str] = &["domain"];
const SCHEME: &[&str] = &["scheme"];

fn command_aliases(tool: &str) -> &'static [&'static str] {
    if tool == "exec" {
        EXEC_COMMAND
    } else {
        OTHER_COMMAND
    }
}

fn path_aliases(tool: &str) -> &'static [&'static str] {
    match tool {
        "read" | "write" | "edit" | "mcp-destructive" => PATH_TOOL_PATH,
        _ => OTHER_PATH,
    }
}

fn url_aliases(tool: &str) -> &'static [&'static str] {
    match tool {
        "fetch" | "http" | "web_fetch" | "browser" => URL_TOOL_URL,
        _ => OTHER_URL,
    }
}

const G_COMMAND: u8 = 1;
const G_PATH: u8 = 2;
const G_URL: u8 = 4;
const G_WORKDIR: u8 = 8;
const G_DOMAIN: u8 = 16;
const G_SCHEME: u8 = 32;

/// Each alias group with its widest key list: every tool's list for that group is a
/// subset of it (pinned by `every_tools_aliases_are_in_their_group`).
const GROUPS: [(u8, &[&str]); 6] = [
    (G_COMMAND, EXEC_COMMAND),
    (G_PATH, PATH_TOOL_PATH),
    (G_URL, URL_TOOL_URL),
    (G_WORKDIR, WORKDIR),
    (G_DOMAIN, DOMAIN),
    (G_SCHEME, SCHEME),
];

/// The alias groups whose key list, for some tool, contains `key` (a superset of the
/// groups a lookup of `key` can touch). Derived from the key tables above, so a new
/// alias cannot be skipped by the gate in [`Inputs::extract`].
fn alias_groups(key: &str) -> u8 {
    GROUPS
        .iter()
        .filter(|(_, keys)| keys.contains(&key))
        .fold(0, |bits, (g, _)| bits | g)
}

/// The call's inputs, resolved once per call.
#[derive(Debug, Default)]
pub struct Inputs<'a> {
    /// The command (empty when none).
    pub command: &'a str,
    /// The path, if any.
    pub path: Option<&'a str>,
    /// The URL, if any.
    pub url: Option<&'a str>,
    /// The domain: host of the URL, else the `domain` parameter.
    pub domain: Option<String>,
    /// The working directory, if known.
    pub workdir: Option<&'a str>,
}

/// Look up one alias group: the single agreed non-blank value, or why it is ambiguous.
fn lookup<'a>(
    maps: [Option<&'a Map<String, Value>>; 2],
    extra: Option<&'a str>,
    keys: &[&str],
    what: &str,
) -> Result<Option<&'a str>, String> {
    let mut found: Option<&'a str> = extra.filter(|s| !s.trim().is_empty());
    for map in maps.into_iter().flatten() {
        // A small map (an exec call has one parameter) is cheaper to scan for the
        // aliases than to probe once per alias; the probes below keep their order.
        if map.len() <= keys.len() && !map.keys().any(|k| keys.contains(&k.as_str())) {
            continue;
        }
        for key in keys {
            match map.get(*key) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => {
                    if s.trim().is_empty() {
                        continue;
                    }
                    match found {
                        Some(prev) if prev != s => {
                            return Err(format!(
                                "ambiguous tool input (conflicting {what} aliases); failing closed"
                            ))
                        }
                        _ => found = Some(s),
                    }
                }
                Some(_) => {
                    return Err(format!(
                        "ambiguous tool input (non-string {what} alias {key:?}); failing closed"
                    ))
                }
            }
        }
    }
    Ok(found)
}

fn too_long(what: &str) -> String {
    format!("{what} exceeds the {MAX_MATCH_INPUT}-byte policy matching limit; failing closed")
}

impl<'a> Inputs<'a> {
    /// Resolve the accessors of a call, running the ambiguity and size checks
    /// (spec §1.7). `param_keys` are the parameters some `tool_param_matches` reads.
    pub fn extract(call: &'a ToolCall, param_keys: &[String]) -> Result<Inputs<'a>, String> {
        let maps = [Some(&call.params), call.input.as_ref()];
        let tool = call.tool.as_str();
        // One pass over the keys finds the alias groups some key may belong to; a
        // group with no such key is not looked up (its lookup would find nothing).
        let present = maps
            .into_iter()
            .flatten()
            .flat_map(Map::keys)
            .fold(0u8, |bits, k| bits | alias_groups(k));
        let group = |bit: u8,
                     extra: Option<&'a str>,
                     keys: &[&str],
                     what: &str|
         -> Result<Option<&'a str>, String> {
            if present & bit == 0 {
                Ok(extra.filter(|s| !s.trim().is_empty()))
            } else {
                lookup(maps, extra, keys, what)
            }
        };
        let command = group(G_COMMAND, None, command_aliases(tool), "command")?.unwrap_or("");
        let path = group(G_PATH, None, path_aliases(tool), "path")?;
        let url = group(G_URL, None, url_aliases(tool), "url")?;
        let workdir = group(
            G_WORKDIR,
            call.workdir.as_deref(),
            WORKDIR,
            "working directory",
        )?;
        let domain_param = group(G_DOMAIN, None, DOMAIN, "domain")?;
        group(G_SCHEME, None, SCHEME, "scheme")?;
        let domain = url
            .and_then(url_host)
            .map(str::to_string)
            .or_else(|| domain_param.map(str::to_string));
        for (what, value) in [
            ("agent", call.agent.as_str()),
            ("session", call.session.as_str()),
            ("tool", tool),
            ("command", command),
            ("path", path.unwrap_or("")),
            ("url", url.unwrap_or("")),
            ("domain", domain.as_deref().unwrap_or("")),
        ] {
            if value.len() > MAX_MATCH_INPUT {
                return Err(too_long(what));
            }
        }
        if !param_keys.is_empty() {
            let source = tool_param_source(call);
            for key in param_keys {
                if let Some(v) = source.get(key) {
                    if go_value_len_exceeds(v) {
                        return Err(too_long(&format!("tool parameter {key:?}")));
                    }
                }
            }
        }
        Ok(Inputs {
            command,
            path,
            url,
            domain,
            workdir,
        })
    }
}

/// The map that `tool_param_matches` reads: the raw input when given, else params.
pub fn tool_param_source(call: &ToolCall) -> &Map<String, Value> {
    call.input.as_ref().unwrap_or(&call.params)
}

fn go_value_len_exceeds(v: &Value) -> bool {
    match v {
        Value::String(s) => s.len() > MAX_MATCH_INPUT,
        other => go_format(other).len() > MAX_MATCH_INPUT,
    }
}

/// The host of a URL (Go `url.Parse(...).Hostname()`), if it has one.
pub fn url_host(url: &str) -> Option<&str> {
    let url = url.trim();
    let colon = url.find(':')?;
    let scheme = &url[..colon];
    let mut chars = scheme.chars();
    if !chars.next()?.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let rest = url[colon + 1..].strip_prefix("//")?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        &v6[..v6.find(']').unwrap_or(v6.len())]
    } else {
        match host_port.rfind(':') {
            Some(i) if host_port[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &host_port[..i],
            _ => host_port,
        }
    };
    (!host.is_empty()).then_some(host)
}

/// Go's `%v` rendering of a JSON value (numbers are float64 in the original).
pub fn go_format(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(0.0)),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_format).collect();
            format!("[{}]", inner.join(" "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_format(&map[k.as_str()])))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`.
fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let sci = format!("{:e}", f.abs()); // shortest digits, e.g. "1.234567e6"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let nd = digits.len() as i32;
    let sign = if f < 0.0 { "-" } else { "" };
    // %v is %g with the shortest digits; exponent form from 1e6 (Go prints 1e+06).
    let eprec = 6;
    if exp < -4 || exp >= eprec {
        let frac = &digits[1..];
        let dot = if frac.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{}{dot}{frac}e{esign}{:02}", &digits[..1], exp.abs());
    }
    let s = if exp < 0 {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else if nd > exp + 1 {
        format!(
            "{}.{}",
            &digits[..(exp + 1) as usize],
            &digits[(exp + 1) as usize..]
        )
    } else {
        format!("{}{}", digits, "0".repeat((exp + 1 - nd) as usize))
    };
    format!("{sign}{s}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_percent_v_matches_go_for_json_values() {
        assert_eq!(go_format(&json!(1)), "1");
        assert_eq!(go_format(&json!(1.5)), "1.5");
        assert_eq!(go_format(&json!(100000000)), "1e+08");
        assert_eq!(go_format(&json!(123456)), "123456");
        assert_eq!(go_format(&json!(1234567)), "1.234567e+06");
        assert_eq!(go_format(&json!(0.0001)), "0.0001");
        assert_eq!(go_format(&json!(0.00001)), "1e-05");
        assert_eq!(go_format(&json!(-2.5)), "-2.5");
        assert_eq!(go_format(&json!(true)), "true");
        assert_eq!(go_format(&json!(null)), "<nil>");
        assert_eq!(go_format(&json!(["a", 2])), "[a 2]");
        assert_eq!(go_format(&json!({"b": 1, "a": "x"})), "map[a:x b:1]");
    }

    #[test]
    fn url_host_follows_go_url_parse() {
        assert_eq!(url_host("https://webhook.site/abc"), Some("webhook.site"));
        assert_eq!(
            url_host("http://user:pw@Example.com:8080/x"),
            Some("Example.com")
        );
        assert_eq!(url_host("http://[::1]:80/"), Some("::1"));
        assert_eq!(url_host("webhook.site/abc"), None);
        assert_eq!(url_host("mailto:x@y"), None);
    }

    fn call(tool: &str, params: serde_json::Value) -> ToolCall {
        ToolCall {
            tool: tool.into(),
            params: params.as_object().cloned().unwrap_or_default(),
            ..Default::default()
        }
    }

    #[test]
    fn every_tools_aliases_are_in_their_group() {
        let tools = [
            "exec",
            "read",
            "write",
            "edit",
            "mcp-destructive",
            "fetch",
            "http",
            "web_fetch",
            "browser",
            "other",
        ];
        for tool in tools {
            for (bit, keys) in [
                (G_COMMAND, command_aliases(tool)),
                (G_PATH, path_aliases(tool)),
                (G_URL, url_aliases(tool)),
            ] {
                for key in keys {
                    assert_ne!(alias_groups(key) & bit, 0, "{tool}: {key}");
                }
            }
        }
        for (bit, keys) in [(G_WORKDIR, WORKDIR), (G_DOMAIN, DOMAIN), (G_SCHEME, SCHEME)] {
            for key in keys {
                assert_ne!(alias_groups(key) & bit, 0, "{key}");
            }
        }
        assert_eq!(alias_groups("other"), 0);
    }

    type Resolved<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<String>,
    );

    /// The six alias lookups run unconditionally (what the key-group gate skips).
    fn extract_ungated(call: &ToolCall) -> Result<Resolved<'_>, String> {
        let maps = [Some(&call.params), call.input.as_ref()];
        let tool = call.tool.as_str();
        let command = lookup(maps, None, command_aliases(tool), "command")?.unwrap_or("");
        let path = lookup(maps, None, path_aliases(tool), "path")?;
        let url = lookup(maps, None, url_aliases(tool), "url")?;
        let workdir = lookup(maps, call.workdir.as_deref(), WORKDIR, "working directory")?;
        let domain_param = lookup(maps, None, DOMAIN, "domain")?;
        lookup(maps, None, SCHEME, "scheme")?;
        let domain = url
            .and_then(url_host)
            .map(str::to_string)
            .or_else(|| domain_param.map(str::to_string));
        Ok((command, path, url, workdir, domain))
    }

    fn soup_map() -> impl proptest::strategy::Strategy<Value = Map<String, Value>> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec![
            "command",
            "cmd",
            "input",
            "file_path",
            "path",
            "file",
            "filepath",
            "target",
            "url",
            "uri",
            "href",
            "workdir",
            "cwd",
            "domain",
            "scheme",
            "other",
            "Command",
        ]);
        let value = prop_oneof![
            Just(Value::Null),
            Just(json!("")),
            Just(json!("  ")),
            Just(json!("ls")),
            Just(json!("https://a.example/x")),
            Just(json!(5)),
            Just(json!(["a"])),
        ];
        prop::collection::btree_map(key, value, 0..4)
            .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        #[test]
        fn the_key_group_gate_changes_no_lookup(
            tool in proptest::sample::select(vec!["exec", "read", "fetch", "write", "other"]),
            params in soup_map(),
            input in proptest::option::of(soup_map()),
            workdir in proptest::option::of(proptest::sample::select(vec!["", " ", "/w"])),
        ) {
            let c = ToolCall {
                tool: tool.into(),
                params,
                input,
                workdir: workdir.map(str::to_string),
                ..Default::default()
            };
            let gated = Inputs::extract(&c, &[])
                .map(|i| (i.command, i.path, i.url, i.workdir, i.domain));
            proptest::prop_assert_eq!(gated, extract_ungated(&c), "{:?}", c);
        }
    }

    #[test]
    fn conflicting_aliases_are_ambiguous() {
        let c = call("exec", json!({"command": "ls", "cmd": "rm -rf /"}));
        let err = Inputs::extract(&c, &[]).unwrap_err();
        assert!(err.contains("conflicting command aliases"), "{err}");
        let same = call("exec", json!({"command": "ls", "cmd": "ls"}));
        assert_eq!(Inputs::extract(&same, &[]).unwrap().command, "ls");
        let nonstring = call("read", json!({"path": 5}));
        assert!(Inputs::extract(&nonstring, &[]).is_err());
        let paths = call("read", json!({"path": "/a", "file": "/b"}));
        assert!(Inputs::extract(&paths, &[]).is_err());
    }

    #[test]
    fn oversized_inputs_fail_closed() {
        let c = call("exec", json!({"command": "x".repeat(MAX_MATCH_INPUT + 1)}));
        let err = Inputs::extract(&c, &[]).unwrap_err();
        assert!(err.starts_with("command exceeds the 8192-byte"), "{err}");
    }

    #[test]
    fn domain_comes_from_the_url_host_then_the_domain_param() {
        let c = call(
            "fetch",
            json!({"url": "https://webhook.site/abc", "domain": "x.y"}),
        );
        assert_eq!(
            Inputs::extract(&c, &[]).unwrap().domain.as_deref(),
            Some("webhook.site")
        );
        let c = call("fetch", json!({"domain": "x.y"}));
        assert_eq!(
            Inputs::extract(&c, &[]).unwrap().domain.as_deref(),
            Some("x.y")
        );
    }
}
