//! Parsing and canonicalizing a `POST /v1/preflight/{tool}` body (spec §5.1, §1.7).
//!
//! Every known field is type-checked and errors name the field. Aliases of command,
//! path, url, working directory, domain and scheme are gathered from the top level,
//! `params`, `input`, `params.arguments` and `params.tool_input`; two different
//! non-empty values are a 400. The canonical values are written back into `params`.

use engine::ToolCall;
use serde_json::{Map, Value};
use std::borrow::Cow;

use super::hook_body;

use engine::decision::RESERVED_TOOLS as RESERVED;

/// A parsed preflight request.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// The call handed to the engine (exec commands with leading comment lines
    /// stripped).
    pub call: ToolCall,
    /// The command as sent (before comment stripping), if any.
    pub command: Option<String>,
    /// Path, if any.
    pub path: Option<String>,
    /// URL, if any.
    pub url: Option<String>,
    /// `enforce` flag.
    pub enforce: bool,
    /// `wait` flag: hold an `ask` until resolved.
    pub wait: bool,
    /// `verification` flag: admin-only dry run, not audited.
    pub verification: bool,
    /// The request's params as received plus canonical values (for the audit);
    /// `None` when they are the engine's (`call.params`) less the `workdir` that
    /// parsing added, as for the hook's body: see [`Preflight::take_audit_params`].
    pub audit_params: Option<Map<String, Value>>,
}

impl Preflight {
    /// The params to audit, moved out: the engine's params are taken too when
    /// they are the audited ones, so call this once the engine is done with them.
    /// The audit records [`Preflight::command`] (as sent) under `command`, which
    /// the caller sets: from the engine's params it is the stripped one.
    pub fn take_audit_params(&mut self) -> Map<String, Value> {
        match self.audit_params.take() {
            Some(m) => m,
            None => {
                let mut m = std::mem::take(&mut self.call.params);
                m.remove("workdir");
                m
            }
        }
    }
}

/// Check a tool name: 1–128 of `[A-Za-z0-9_.:-]`, reserved names lower case.
pub fn validate_tool(tool: &str) -> Result<(), String> {
    if tool.is_empty() || tool.len() > 128 {
        return Err("tool name must be 1-128 characters".into());
    }
    if !tool
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
    {
        return Err("tool name may contain only A-Z a-z 0-9 _ . : -".into());
    }
    // Only a name with an upper-case letter can be a reserved name miswritten;
    // the others (every request of the preload library) allocate nothing here.
    if tool.bytes().any(|b| b.is_ascii_uppercase()) {
        return reserved_in_upper_case(tool);
    }
    Ok(())
}

/// The error for a reserved tool name written with upper-case letters, if
/// `tool` is one (out of line: names with upper case are rare).
#[cold]
#[inline(never)]
fn reserved_in_upper_case(tool: &str) -> Result<(), String> {
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(tool)) {
        let lower = tool.to_ascii_lowercase();
        return Err(format!("reserved tool name must be lower case: {lower}"));
    }
    Ok(())
}

fn opt_str(obj: &Map<String, Value>, key: &str, prefix: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("field `{prefix}{key}`: expected a string")),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<bool, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("field `{key}`: expected a boolean")),
    }
}

/// Like [`opt_obj`], but moves the object out of `obj` (where it is not needed
/// any more) instead of copying it.
fn take_obj(obj: &mut Map<String, Value>, key: &str) -> Result<Option<Map<String, Value>>, String> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(format!("field `{key}`: expected an object")),
    }
}

fn opt_obj(
    obj: &Map<String, Value>,
    key: &str,
    prefix: &str,
) -> Result<Option<Map<String, Value>>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(_) => Err(format!("field `{prefix}{key}`: expected an object")),
    }
}

/// Collect one canonical value from alias keys across the given layers.
fn gather(
    layers: &[(&str, &Map<String, Value>)],
    keys: &[&str],
    what: &str,
) -> Result<Option<String>, String> {
    let mut found: Option<String> = None;
    for (prefix, layer) in layers {
        for k in keys {
            // The top-level `input` is the input object, not a command alias.
            if prefix.is_empty() && *k == "input" {
                continue;
            }
            if let Some(v) = opt_str(layer, k, prefix)? {
                if v.trim().is_empty() {
                    continue;
                }
                match &found {
                    Some(f) if *f != v => {
                        return Err(format!("invalid tool input: conflicting {what} aliases"))
                    }
                    Some(_) => {}
                    None => found = Some(v),
                }
            }
        }
    }
    Ok(found)
}

/// Split a URL into (scheme, host).
fn url_parts(url: &str) -> (Option<String>, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (None, None);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or("").to_string()
    } else {
        hostport.split(':').next().unwrap_or("").to_string()
    };
    (
        Some(scheme.to_ascii_lowercase()),
        (!host.is_empty()).then(|| host.to_ascii_lowercase()),
    )
}

/// Parse a request body for `tool`.
pub fn parse(tool: &str, body: &[u8]) -> Result<Preflight, String> {
    if let Some(pf) = parse_hook_body(tool, body) {
        return Ok(pf);
    }
    parse_general(tool, body)
}

/// [`parse_general`]'s result for the body `librampart.so` sends for every exec
/// (read by [`hook_body::scan`]: exactly that shape, no other key, no `null`), or
/// `None` to leave the body to it. The body is read straight into its fields
/// instead of a `serde_json::Value` tree that `parse_general` then takes apart;
/// anything else (another key, a `null`, a repeated key, a number that is not an
/// integer, bad JSON) is declined here and gets the general parser, its checks and
/// its errors. The result equals the general parser's (tested on the hook's shapes,
/// their near misses and generated variants of both).
fn parse_hook_body(tool: &str, body: &[u8]) -> Option<Preflight> {
    if tool != "exec" {
        return None;
    }
    let b = hook_body::scan(body)?;
    let p = b.params;
    if p.command.trim().is_empty() {
        // The general parser's error.
        return None;
    }
    let command = p.command.into_owned();
    let mut params = Map::new();
    params.insert("command".into(), Value::String(command.clone()));
    let workdir = p
        .cwd
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(str::to_owned);
    if let Some(c) = p.cwd {
        params.insert("cwd".into(), Value::String(c.into_owned()));
    }
    if let Some(r) = p.resolved_path {
        params.insert("resolved_path".into(), Value::String(r.into_owned()));
    }
    if let Some(n) = p.pid {
        params.insert("pid".into(), Value::from(n));
    }
    if let Some(n) = p.ppid {
        params.insert("ppid".into(), Value::from(n));
    }
    // The audited params are these, as received: the engine's differ only in the
    // stripped command (the audit records the command as sent, see
    // `routes::event_body`) and the added `workdir` (a key the hook's body cannot
    // have), so they are not copied (`audit_params: None`).
    let stripped = engine::shell::strip_leading_comment_lines(&command);
    if stripped.len() != command.len() {
        params.insert("command".into(), Value::String(stripped.to_string()));
    }
    if let Some(w) = &workdir {
        params.insert("workdir".into(), Value::String(w.clone()));
    }
    Some(Preflight {
        call: ToolCall {
            tool: tool.to_string(),
            agent: b.agent.map(Cow::into_owned).unwrap_or_default(),
            session: b.session.map(Cow::into_owned).unwrap_or_default(),
            agent_depth: 0,
            params,
            input: None,
            workdir,
        },
        command: Some(command),
        path: None,
        url: None,
        enforce: b.enforce.unwrap_or(false),
        wait: b.wait.unwrap_or(false),
        verification: false,
        audit_params: None,
    })
}

/// Parse any request body for `tool` (see the module documentation).
// Kept out of line: the hook's bodies never get here, and inlined into `parse`
// it spread the hook's path over several more pages of code.
#[inline(never)]
fn parse_general(tool: &str, body: &[u8]) -> Result<Preflight, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
    let Value::Object(mut top) = v else {
        return Err("request body must be a JSON object".into());
    };
    let agent = opt_str(&top, "agent", "")?.unwrap_or_default();
    let session = opt_str(&top, "session", "")?.unwrap_or_default();
    for k in ["run_id", "tool_call_id", "response"] {
        opt_str(&top, k, "")?;
    }
    let enforce = opt_bool(&top, "enforce")?;
    let wait = opt_bool(&top, "wait")?;
    let verification = opt_bool(&top, "verification")?;
    if enforce && verification {
        return Err("`verification` and `enforce` cannot be combined".into());
    }
    // Both are read only from here on, and the top level is no alias layer for
    // `params` or (see `gather`) `input`: move them out rather than copy them.
    let mut params = take_obj(&mut top, "params")?.unwrap_or_default();
    let input = take_obj(&mut top, "input")?;
    let arguments = opt_obj(&params, "arguments", "params.")?;
    let tool_input = opt_obj(&params, "tool_input", "params.")?;
    for k in ["pid", "ppid"] {
        match params.get(k) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.is_i64() => {}
            Some(_) => return Err(format!("field `params.{k}`: expected an integer")),
        }
    }
    opt_str(&params, "resolved_path", "params.")?;

    let empty = Map::new();
    let layers: [(&str, &Map<String, Value>); 5] = [
        ("", &top),
        ("params.", &params),
        ("input.", input.as_ref().unwrap_or(&empty)),
        ("params.arguments.", arguments.as_ref().unwrap_or(&empty)),
        ("params.tool_input.", tool_input.as_ref().unwrap_or(&empty)),
    ];
    let command_keys: &[&str] = match tool {
        "exec" => &["command", "cmd", "input"],
        "agent" => &["command", "description", "prompt"],
        _ => &["command"],
    };
    let path_keys: &[&str] = match tool {
        "read" | "write" | "edit" | "mcp-destructive" => {
            &["file_path", "path", "file", "filepath", "target"]
        }
        _ => &["file_path", "path"],
    };
    let url_keys: &[&str] = match tool {
        "fetch" | "http" | "web_fetch" | "browser" => &["url", "uri", "href"],
        _ => &["url"],
    };
    let command = gather(&layers, command_keys, "command")?;
    let path = gather(&layers, path_keys, "path")?;
    let url = gather(&layers, url_keys, "url")?;
    let workdir = gather(&layers, &["workdir", "cwd"], "workdir")?;
    let mut domain = gather(&layers, &["domain"], "domain")?;
    let mut scheme = gather(&layers, &["scheme"], "scheme")?;
    if tool == "exec" && command.is_none() {
        return Err("missing field `params.command`".into());
    }
    if let Some(u) = &url {
        let (s, h) = url_parts(u);
        scheme = s;
        domain = h;
        if path.is_none() {
            if let Some(rest) = u.split_once("://").map(|x| x.1) {
                let p = rest.find('/').map_or("/", |i| &rest[i..]);
                let p = p.split(['?', '#']).next().unwrap_or("/");
                params.insert("path".into(), Value::String(p.to_string()));
            }
        }
        params.remove("domain");
        params.remove("scheme");
    }
    let audit_params = Some(params.clone());
    let engine_command = command.as_deref().map(|c| {
        if tool == "exec" {
            engine::shell::strip_leading_comment_lines(c).to_string()
        } else {
            c.to_string()
        }
    });
    if let Some(c) = &engine_command {
        params.insert("command".into(), Value::String(c.clone()));
    }
    if let Some(p) = &path {
        params.insert("path".into(), Value::String(p.clone()));
    }
    if let Some(u) = &url {
        params.insert("url".into(), Value::String(u.clone()));
    }
    if let Some(d) = domain {
        params.insert("domain".into(), Value::String(d));
    }
    if let Some(s) = scheme {
        params.insert("scheme".into(), Value::String(s));
    }
    if let Some(w) = &workdir {
        params.insert("workdir".into(), Value::String(w.clone()));
    }
    let input = input.or(arguments).or(tool_input);
    Ok(Preflight {
        call: ToolCall {
            tool: tool.to_string(),
            agent,
            session,
            agent_depth: 0,
            params,
            input,
            workdir,
        },
        command,
        path,
        url,
        enforce,
        wait,
        verification,
        audit_params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(tool: &str, body: &str) -> Result<Preflight, String> {
        parse(tool, body.as_bytes())
    }

    #[test]
    fn preload_body_parses_into_an_exec_call() {
        let r = p(
            "exec",
            r#"{"agent":"a","session":"s","params":{"command":"ls -l","cwd":"/tmp","resolved_path":"/bin/ls","pid":5,"ppid":1},"enforce":true,"wait":true}"#,
        )
        .unwrap();
        assert_eq!(r.call.agent, "a");
        assert_eq!(r.call.params["command"], "ls -l");
        assert_eq!(r.call.workdir.as_deref(), Some("/tmp"));
        assert!(r.enforce && r.wait && !r.verification);
        assert_eq!(r.clone().take_audit_params()["pid"], 5);
    }

    /// `pf` shown with its audited params settled (as `routes::event_body`
    /// records them), so that both parsers' results compare.
    fn settled(pf: Preflight) -> String {
        let mut audited = pf.clone().take_audit_params();
        if let Some(c) = &pf.command {
            audited.insert("command".into(), Value::String(c.clone()));
        }
        format!(
            "{:?}",
            Preflight {
                audit_params: Some(audited),
                ..pf
            }
        )
    }

    /// `parse_hook_body` takes `body`, and gives what `parse_general` gives.
    fn assert_taken_as_general(body: &[u8]) {
        let shown = String::from_utf8_lossy(body);
        let fast = parse_hook_body("exec", body);
        assert!(fast.is_some(), "not taken: {shown}");
        let general = parse_general("exec", body).unwrap();
        assert_eq!(settled(fast.unwrap()), settled(general), "{shown}");
    }

    /// `parse_hook_body` leaves `body` to `parse_general`, and `parse` answers
    /// what `parse_general` answers.
    fn assert_left_to_general(tool: &str, body: &[u8]) {
        let shown = String::from_utf8_lossy(body);
        assert!(parse_hook_body(tool, body).is_none(), "taken: {shown}");
        assert_eq!(
            format!("{:?}", parse(tool, body)),
            format!("{:?}", parse_general(tool, body)),
            "{shown}"
        );
    }

    #[test]
    fn the_hook_body_parses_as_the_general_parser_parses_it() {
        let taken = [
            r#"{"agent":"a","session":"s","params":{"command":"ls -l","cwd":"/tmp","resolved_path":"/bin/ls","pid":5,"ppid":1},"enforce":true,"wait":true}"#,
            r#"{"params":{"command":"ls"}}"#,
            r##"{"agent":"a","params":{"command":"# note\nrm -rf x","cwd":"  ","pid":-3}}"##,
            r#"{"params":{"command":"echo \"q\" \u00e9 \t","cwd":"/a b","resolved_path":""},"enforce":false,"wait":false}"#,
            r#"{"params":{"command":"x 2>/dev/null","ppid":9223372036854775807}}"#,
            r#"{"session":"","params":{"cwd":"/w","command":" ls "}}"#,
            // Every escape, upper- and lower-case hex, a surrogate pair, raw non-ASCII.
            r#"{"params":{"command":"a\"b\\c\/d\be\ff\ng\rh\ti \u0041\u00e9\u00E9\u65e5\uFFFF \ud83d\ude00\uD83D\uDE00"}}"#,
            "{\"agent\":\"caf\u{e9}\",\"params\":{\"command\":\"echo \u{65e5}\u{672c} \u{1f600}\",\"cwd\":\"/t\u{e9}mp\"}}",
            r#"{"params":{"command":"printf '\u0000' \u007f"}}"#,
            // Whitespace between every token, before and after the body.
            " \t\r\n{ \"agent\" :\n\"a\" ,\t\"params\"\r\n:\r\n{ \"command\" : \"ls\" , \"pid\" : 5 , \"ppid\" : 1 } , \"wait\" : true } \n",
            // Keys in another order, `params` first.
            r#"{"params":{"ppid":1,"pid":2,"resolved_path":"/bin/ls","cwd":"/tmp","command":"ls"},"wait":true,"enforce":true,"session":"s","agent":"a"}"#,
            r#"{"wait":false,"params":{"pid":7,"command":"ls"},"agent":"a"}"#,
            // Escaped keys are the same keys.
            r#"{"\u0061gent":"a","params":{"comm\u0061nd":"ls","\u0063wd":"/w"}}"#,
            r#"{"params":{"command":"ls","pid":-9223372036854775808,"ppid":0}}"#,
            // A command that is only comments: kept as sent, stripped for the engine.
            r##"{"params":{"command":"# only a comment\n","cwd":"/w"}}"##,
        ];
        for body in taken {
            assert_taken_as_general(body.as_bytes());
        }
        // Near misses go to the general parser, which answers them as before.
        let left: &[(&[u8], &str)] = &[
            (br#"{"params":{"command":"ls","cwd":null}}"#, "exec"),
            (br#"{"agent":null,"params":{"command":"ls"}}"#, "exec"),
            (br#"{"params":{"command":"ls","pid":5.0}}"#, "exec"),
            (br#"{"params":{"command":"ls","pid":"5"}}"#, "exec"),
            (
                br#"{"params":{"command":"ls","pid":18446744073709551615}}"#,
                "exec",
            ),
            (br#"{"params":{"command":"ls","cmd":"ls"}}"#, "exec"),
            (br#"{"command":"ls","params":{"command":"ls"}}"#, "exec"),
            (
                br#"{"params":{"command":"ls"},"verification":false}"#,
                "exec",
            ),
            (br#"{"params":{"command":"ls","command":"rm"}}"#, "exec"),
            (br#"{"params":{"command":"   "}}"#, "exec"),
            (br#"{"params":{"command":7}}"#, "exec"),
            (br#"{"params":{"command":"ls"}} {}"#, "exec"),
            (br#"{"params":{"command":"ls"}}"#, "shell"),
            (
                br#"{"params":{"command":"ls"},"input":{"command":"ls"}}"#,
                "exec",
            ),
            // Lone surrogates, a bad escape, a raw newline, invalid UTF-8.
            (br#"{"params":{"command":"a\ud83d"}}"#, "exec"),
            (br#"{"params":{"command":"a\ud83d\u0041"}}"#, "exec"),
            (br#"{"params":{"command":"a\ude00"}}"#, "exec"),
            (br#"{"params":{"command":"a\x41"}}"#, "exec"),
            (br#"{"params":{"command":"a\u00g1"}}"#, "exec"),
            (b"{\"params\":{\"command\":\"a\nb\"}}", "exec"),
            (b"{\"params\":{\"command\":\"a\x01b\"}}", "exec"),
            (b"{\"params\":{\"command\":\"a\xffb\"}}", "exec"),
            (b"{\"params\":{\"command\":\"a\xc3\"}}", "exec"),
            (b"{\"params\":{\"command\":\"\xed\xa0\xbd\"}}", "exec"),
            (
                b"{\"agent\":\"\xc3(\",\"params\":{\"command\":\"ls\"}}",
                "exec",
            ),
            // Unknown keys, nested or not, and repeated ones (the general parser
            // keeps the last; it is audited as sent, so the hook path leaves it).
            (
                br#"{"params":{"command":"ls","arguments":{"cwd":"/x"}}}"#,
                "exec",
            ),
            (
                br#"{"params":{"command":"ls","cwd":"/w","workdir":"/w"}}"#,
                "exec",
            ),
            (
                br#"{"agent":"a","agent":"b","params":{"command":"ls"}}"#,
                "exec",
            ),
            (
                br#"{"params":{"command":"ls"},"params":{"command":"rm"}}"#,
                "exec",
            ),
            (br#"{"params":{"command":"ls","pid":1,"pid":2}}"#, "exec"),
            (
                br#"{"params":{"command":"ls"},"wait":true,"wait":true}"#,
                "exec",
            ),
            // Numbers that are not integers fitting an i64, or not JSON.
            (br#"{"params":{"command":"ls","pid":-0}}"#, "exec"),
            (br#"{"params":{"command":"ls","pid":01}}"#, "exec"),
            (br#"{"params":{"command":"ls","pid":-01}}"#, "exec"),
            (br#"{"params":{"command":"ls","pid":1e3}}"#, "exec"),
            (br#"{"params":{"command":"ls","pid":1E3}}"#, "exec"),
            (br#"{"params":{"command":"ls","ppid":-1.5}}"#, "exec"),
            (
                br#"{"params":{"command":"ls","pid":9223372036854775808}}"#,
                "exec",
            ),
            (
                br#"{"params":{"command":"ls","pid":-9223372036854775809}}"#,
                "exec",
            ),
            (br#"{"params":{"command":"ls","pid":+1}}"#, "exec"),
            // Other types, trailing garbage, missing pieces.
            (br#"{"params":{"command":"ls"},"enforce":"true"}"#, "exec"),
            (br#"{"params":{"command":"ls"},"enforce":1}"#, "exec"),
            (br#"{"params":{"command":"ls"}}x"#, "exec"),
            (b"{\"params\":{\"command\":\"ls\"}}\x00", "exec"),
            (b"\x0c{\"params\":{\"command\":\"ls\"}}", "exec"),
            (b"{\"params\":{\"command\":\"ls\"}\x0c}", "exec"),
            (br#"{"params":{"command":"ls"}},"#, "exec"),
            (br#"{"params":{"command":"ls"},}"#, "exec"),
            (br#"{"params":{"command":"ls",}}"#, "exec"),
            (b"{}", "exec"),
            (b"", "exec"),
            (b"null", "exec"),
            (br#"{"params":{}}"#, "exec"),
            (br#"{"params":null}"#, "exec"),
            (br#"{"agent":"a"}"#, "exec"),
            // Arrays in place of the objects (serde's derived structs took these).
            (br#"{"params":["ls"]}"#, "exec"),
            (br#"["a","s",["ls","/w"],true,true]"#, "exec"),
        ];
        for &(body, tool) in left {
            assert_left_to_general(tool, body);
        }
        assert!(p("exec", r#"{"params":["ls"]}"#)
            .unwrap_err()
            .contains("`params`"));
        // Every proper prefix of a taken body is left to the general parser.
        let whole = "{\"agent\":\"a\",\"session\":\"s\",\"params\":{\"command\":\"ls \\\"\u{e9}\\\" \\ud83d\\ude00 \u{65e5}\",\"cwd\":\"/tmp\",\"resolved_path\":\"/bin/ls\",\"pid\":-5,\"ppid\":1},\"enforce\":true,\"wait\":false}";
        assert_taken_as_general(whole.as_bytes());
        for end in 0..whole.len() {
            assert_left_to_general("exec", &whole.as_bytes()[..end]);
        }
    }

    /// The serde-derived reading of the hook's body that [`hook_body::scan`]
    /// replaced: the reference for what the scanner takes.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SerdeHookBody {
        #[serde(default, deserialize_with = "present")]
        agent: Option<String>,
        #[serde(default, deserialize_with = "present")]
        session: Option<String>,
        params: SerdeHookParams,
        #[serde(default, deserialize_with = "present")]
        enforce: Option<bool>,
        #[serde(default, deserialize_with = "present")]
        wait: Option<bool>,
    }

    /// `params` of [`SerdeHookBody`].
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SerdeHookParams {
        command: String,
        #[serde(default, deserialize_with = "present")]
        cwd: Option<String>,
        #[serde(default, deserialize_with = "present")]
        resolved_path: Option<String>,
        #[serde(default, deserialize_with = "present")]
        pid: Option<i64>,
        #[serde(default, deserialize_with = "present")]
        ppid: Option<i64>,
    }

    /// A key that is there holds a value of its type: `null` is refused.
    fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: serde::Deserializer<'de>,
        T: serde::Deserialize<'de>,
    {
        T::deserialize(d).map(Some)
    }

    /// `body` read by [`SerdeHookBody`], as a [`hook_body::HookBody`].
    fn serde_reading(body: &[u8]) -> Option<hook_body::HookBody<'static>> {
        let b: SerdeHookBody = serde_json::from_slice(body).ok()?;
        Some(hook_body::HookBody {
            agent: b.agent.map(Cow::Owned),
            session: b.session.map(Cow::Owned),
            params: hook_body::HookParams {
                command: Cow::Owned(b.params.command),
                cwd: b.params.cwd.map(Cow::Owned),
                resolved_path: b.params.resolved_path.map(Cow::Owned),
                pid: b.params.pid,
                ppid: b.params.ppid,
            },
            enforce: b.enforce,
            wait: b.wait,
        })
    }

    use super::hook_body::tests::XorShift;

    /// How a generated body is spoiled, if it is.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Mutation {
        /// The body as generated: the scanner must take it.
        None,
        /// A string value JSON refuses.
        BadString,
        /// A `pid`/`ppid` that is no integer fitting an i64, or no JSON number.
        BadNumber,
        /// A value replaced by `null`.
        Null,
        /// A value replaced by one of another type.
        WrongType,
        /// A member given twice.
        Duplicate,
        /// A key the hook does not send.
        UnknownKey,
        /// `params` as an array.
        ArrayParams,
        /// One byte dropped.
        DropByte,
        /// One byte inserted.
        InsertByte,
        /// The body cut short.
        Truncate,
        /// Bytes after the body.
        Trailing,
    }

    /// The mutations a body may receive.
    const MUTATIONS: [Mutation; 11] = [
        Mutation::BadString,
        Mutation::BadNumber,
        Mutation::Null,
        Mutation::WrongType,
        Mutation::Duplicate,
        Mutation::UnknownKey,
        Mutation::ArrayParams,
        Mutation::DropByte,
        Mutation::InsertByte,
        Mutation::Truncate,
        Mutation::Trailing,
    ];

    /// JSON string literals and what they decode to.
    const STRINGS: &[(&str, &str)] = &[
        (r#""ls -l""#, "ls -l"),
        (r#""""#, ""),
        (r#""  ""#, "  "),
        (r#""/tmp/a b""#, "/tmp/a b"),
        (r##""# note\nrm -rf x""##, "# note\nrm -rf x"),
        (r##""#\n\n""##, "#\n\n"),
        (r#""echo \"q\" \\ \/""#, "echo \"q\" \\ /"),
        (r#""\b\f\r\t""#, "\u{8}\u{c}\r\t"),
        (
            "\"caf\u{e9} \u{65e5}\u{672c} \u{1f600}\"",
            "caf\u{e9} \u{65e5}\u{672c} \u{1f600}",
        ),
        (r#""\u00e9\u65E5 \ud83d\ude00""#, "\u{e9}\u{65e5} \u{1f600}"),
        (r#""\u0000x""#, "\u{0}x"),
        ("\"x\u{7f}\"", "x\u{7f}"),
    ];

    /// String literals JSON refuses.
    const BAD_STRINGS: &[&[u8]] = &[
        br#""\ud83d""#,
        br#""\ude00""#,
        br#""\ud83d\u0041""#,
        br#""\x""#,
        br#""\u12""#,
        b"\"a\nb\"",
        b"\"a\x01\"",
        b"\"a\xffb\"",
        b"\"\xe6\x97\"",
    ];

    /// Integers that fit an i64.
    const INTEGERS: &[(&str, i64)] = &[
        ("0", 0),
        ("1", 1),
        ("-3", -3),
        ("4194304", 4_194_304),
        ("9223372036854775807", i64::MAX),
        ("-9223372036854775808", i64::MIN),
    ];

    /// Numbers that are not integers fitting an i64, or not JSON.
    const BAD_NUMBERS: &[&str] = &[
        "-0",
        "01",
        "1e3",
        "5.0",
        "-1.5e2",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
    ];

    /// Values of a type no hook key has, or of the wrong one.
    const WRONG_TYPES: &[&str] = &["1", "true", "\"5\"", "[]", "{}", "[\"ls\"]"];

    /// Top-level keys the hook never sends, with values.
    const UNKNOWN_TOP: &[(&str, &str)] = &[
        ("verification", "false"),
        ("cmd", "\"ls\""),
        ("input", "{\"command\":\"ls\"}"),
        ("run_id", "\"r\""),
        ("Agent", "\"a\""),
    ];
    /// Keys of `params` the hook never sends, with values.
    const UNKNOWN_PARAMS: &[(&str, &str)] = &[
        ("arguments", "{\"cwd\":\"/x\"}"),
        ("cmd", "\"ls\""),
        ("workdir", "\"/w\""),
        ("tool_input", "{}"),
        ("env", "{\"A\":null}"),
    ];

    /// Whitespace between tokens, mostly none.
    const WHITESPACE: &[&str] = &["", "", "", "", " ", "\n", "\t", "\r\n", "  \t "];

    /// Spelling of a key: mostly plain, sometimes with an escape.
    fn key_literal(rng: &mut XorShift, key: &str) -> Vec<u8> {
        if rng.one_in(10) {
            let mut chars = key.chars();
            let first = chars.next().unwrap();
            format!("\"\\u{:04x}{}\"", u32::from(first), chars.as_str()).into_bytes()
        } else {
            format!("\"{key}\"").into_bytes()
        }
    }

    /// `{ members }` with random whitespace between the tokens.
    fn object(rng: &mut XorShift, members: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut out = b"{".to_vec();
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(rng.pick(WHITESPACE).as_bytes());
                out.push(b',');
            }
            out.extend_from_slice(rng.pick(WHITESPACE).as_bytes());
            out.extend_from_slice(key);
            out.extend_from_slice(rng.pick(WHITESPACE).as_bytes());
            out.push(b':');
            out.extend_from_slice(rng.pick(WHITESPACE).as_bytes());
            out.extend_from_slice(value);
        }
        out.extend_from_slice(rng.pick(WHITESPACE).as_bytes());
        out.push(b'}');
        out
    }

    /// Shuffles `items` in place (Fisher–Yates).
    fn shuffle<T>(rng: &mut XorShift, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, rng.below(i + 1));
        }
    }

    /// A generated body, the mutation it received and, when it received none,
    /// what the scanner must read from it.
    /// Half the time, a member `key` with a value from `value` (its literal
    /// pushed to `members`, its reading returned).
    fn optional<'k, T>(
        rng: &mut XorShift,
        key: &'k str,
        members: &mut Vec<(&'k str, Vec<u8>)>,
        value: impl Fn(&mut XorShift) -> (Vec<u8>, T),
    ) -> Option<T> {
        rng.one_in(2).then(|| {
            let (lit, v) = value(rng);
            members.push((key, lit));
            v
        })
    }

    fn generate(rng: &mut XorShift) -> (Vec<u8>, Mutation, hook_body::HookBody<'static>) {
        let mutation = if rng.one_in(3) {
            Mutation::None
        } else {
            *rng.pick(&MUTATIONS)
        };
        let string = |rng: &mut XorShift| -> (Vec<u8>, Cow<'static, str>) {
            let (lit, decoded) = *rng.pick(STRINGS);
            (lit.as_bytes().to_vec(), Cow::Borrowed(decoded))
        };
        let integer = |rng: &mut XorShift| -> (Vec<u8>, i64) {
            let (lit, n) = *rng.pick(INTEGERS);
            (lit.as_bytes().to_vec(), n)
        };
        let boolean = |rng: &mut XorShift| -> (Vec<u8>, bool) {
            let b = rng.one_in(2);
            (b.to_string().into_bytes(), b)
        };

        let mut params: Vec<(&str, Vec<u8>)> = Vec::new();
        let (command_lit, command) = string(rng);
        params.push(("command", command_lit));
        let cwd = optional(rng, "cwd", &mut params, string);
        let resolved_path = optional(rng, "resolved_path", &mut params, string);
        let pid = optional(rng, "pid", &mut params, integer);
        let ppid = optional(rng, "ppid", &mut params, integer);

        let mut top: Vec<(&str, Vec<u8>)> = Vec::new();
        let agent = optional(rng, "agent", &mut top, string);
        let session = optional(rng, "session", &mut top, string);
        let enforce = optional(rng, "enforce", &mut top, boolean);
        let wait = optional(rng, "wait", &mut top, boolean);
        let expected = hook_body::HookBody {
            agent,
            session,
            params: hook_body::HookParams {
                command,
                cwd,
                resolved_path,
                pid,
                ppid,
            },
            enforce,
            wait,
        };

        // Structural mutations, on `params` or on the top level.
        let in_params = rng.one_in(2);
        match mutation {
            Mutation::BadString => {
                let bad = rng.pick(BAD_STRINGS).to_vec();
                let layer = if in_params || top.is_empty() {
                    &mut params
                } else {
                    &mut top
                };
                let strings: Vec<usize> = (0..layer.len())
                    .filter(|&i| layer[i].1.first() == Some(&b'"'))
                    .collect();
                match strings.is_empty() {
                    true => layer.push(("cwd", bad)),
                    false => layer[*rng.pick(&strings)].1 = bad,
                }
            }
            Mutation::BadNumber => {
                let bad = rng.pick(BAD_NUMBERS).as_bytes().to_vec();
                let key = if rng.one_in(2) { "pid" } else { "ppid" };
                match params.iter_mut().find(|(k, _)| *k == key) {
                    Some(member) => member.1 = bad,
                    None => params.push((key, bad)),
                }
            }
            Mutation::Null | Mutation::WrongType => {
                let value = match mutation {
                    Mutation::Null => b"null".to_vec(),
                    _ => rng.pick(WRONG_TYPES).as_bytes().to_vec(),
                };
                let layer = if in_params || top.is_empty() {
                    &mut params
                } else {
                    &mut top
                };
                let i = rng.below(layer.len());
                layer[i].1 = value;
            }
            Mutation::Duplicate => {
                let layer = if in_params || top.is_empty() {
                    &mut params
                } else {
                    &mut top
                };
                let copy = layer[rng.below(layer.len())].clone();
                layer.push(copy);
            }
            Mutation::UnknownKey => {
                if in_params {
                    let (k, v) = *rng.pick(UNKNOWN_PARAMS);
                    params.push((k, v.as_bytes().to_vec()));
                } else {
                    let (k, v) = *rng.pick(UNKNOWN_TOP);
                    top.push((k, v.as_bytes().to_vec()));
                }
            }
            _ => {}
        }

        shuffle(rng, &mut params);
        let params: Vec<(Vec<u8>, Vec<u8>)> = params
            .into_iter()
            .map(|(k, v)| (key_literal(rng, k), v))
            .collect();
        let params_value = if mutation == Mutation::ArrayParams {
            b"[\"ls\"]".to_vec()
        } else {
            object(rng, &params)
        };
        top.push(("params", params_value));
        shuffle(rng, &mut top);
        let top: Vec<(Vec<u8>, Vec<u8>)> = top
            .into_iter()
            .map(|(k, v)| (key_literal(rng, k), v))
            .collect();
        let mut body = rng.pick(WHITESPACE).as_bytes().to_vec();
        body.extend_from_slice(&object(rng, &top));
        body.extend_from_slice(rng.pick(WHITESPACE).as_bytes());

        // Byte mutations.
        match mutation {
            Mutation::DropByte => {
                body.remove(rng.below(body.len()));
            }
            Mutation::InsertByte => {
                let byte = *rng.pick(b"\"\\,:{}[]0-.e \n\x0c\x01\xff\xc3n");
                body.insert(rng.below(body.len() + 1), byte);
            }
            Mutation::Truncate => body.truncate(rng.below(body.len())),
            Mutation::Trailing => {
                let garbage: &[&[u8]] = &[b"x", b"{}", b",", b"\x00", b"}"];
                let tail: &&[u8] = rng.pick(garbage);
                body.extend_from_slice(tail);
            }
            _ => {}
        }
        (body, mutation, expected)
    }

    #[test]
    fn generated_hook_bodies_parse_as_the_general_parser_parses_them() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let (mut whole, mut spoiled_taken, mut spoiled_left) = (0, 0, 0);
        let mut left_but_general_ok = 0;
        for _ in 0..4000 {
            let (body, mutation, expected) = generate(&mut rng);
            let shown = String::from_utf8_lossy(&body);
            let scanned = hook_body::scan(&body);
            // The scanner takes what the serde-derived structs took, with the
            // same values, except arrays in place of objects, which the general
            // parser refuses.
            if mutation == Mutation::ArrayParams {
                assert_eq!(scanned, None, "{shown}");
                assert!(parse_general("exec", &body).is_err(), "{shown}");
            } else {
                assert_eq!(scanned, serde_reading(&body), "{shown}");
            }
            let fast = parse_hook_body("exec", &body);
            let general = parse_general("exec", &body);
            if let Some(fast) = &fast {
                let general = general
                    .as_ref()
                    .expect("taken, but the general parser fails");
                assert_eq!(settled(fast.clone()), settled(general.clone()), "{shown}");
            }
            if mutation == Mutation::None {
                assert_eq!(scanned.as_ref(), Some(&expected), "{shown}");
                // A blank command is the general parser's error.
                let blank = expected.params.command.trim().is_empty();
                assert_eq!(fast.is_some(), !blank, "{shown}");
                whole += 1;
            } else if fast.is_some() {
                spoiled_taken += 1;
            } else {
                spoiled_left += 1;
                if general.is_ok() {
                    left_but_general_ok += 1;
                }
            }
        }
        // Each kind of body occurs often enough to mean something.
        assert!(whole > 1000, "{whole} whole bodies");
        assert!(spoiled_taken > 50, "{spoiled_taken} spoiled bodies taken");
        assert!(spoiled_left > 1000, "{spoiled_left} spoiled bodies left");
        assert!(
            left_but_general_ok > 200,
            "{left_but_general_ok} left bodies the general parser takes"
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert!(p("exec", r#"{"params":{}}"#)
            .unwrap_err()
            .contains("params.command"));
        assert!(p("exec", r#"{"agent":1,"params":{"command":"x"}}"#)
            .unwrap_err()
            .contains("`agent`"));
        assert!(p("exec", r#"{"enforce":"yes","params":{"command":"x"}}"#)
            .unwrap_err()
            .contains("`enforce`"));
        assert!(p("exec", r#"{"params":{"command":7}}"#)
            .unwrap_err()
            .contains("`params.command`"));
        assert!(p("exec", r#"{"params":"x"}"#)
            .unwrap_err()
            .contains("`params`"));
        assert!(p("exec", r#"{"params":{"command":"x","pid":"1"}}"#)
            .unwrap_err()
            .contains("params.pid"));
        assert!(p("exec", r#"[1]"#).unwrap_err().contains("object"));
        assert!(p("exec", r#"{"params":{"command":"x"}} {}"#)
            .unwrap_err()
            .contains("invalid JSON"));
    }

    #[test]
    fn conflicting_aliases_are_rejected_and_identical_ones_accepted() {
        let e = p("exec", r#"{"command":"ls","params":{"command":"rm x"}}"#).unwrap_err();
        assert!(e.contains("conflicting command aliases"), "{e}");
        assert!(p("exec", r#"{"command":"ls","params":{"cmd":"ls"}}"#).is_ok());
        let e = p(
            "exec",
            r#"{"params":{"command":"ls","cwd":"/a","workdir":"/b"}}"#,
        )
        .unwrap_err();
        assert!(e.contains("workdir"), "{e}");
    }

    #[test]
    fn url_derives_domain_and_scheme_and_drops_callers() {
        let r = p(
            "fetch",
            r#"{"params":{"uri":"HTTPS://user:pw@Example.COM:8443/a/b?q","domain":"evil"}}"#,
        )
        .unwrap();
        assert_eq!(r.call.params["domain"], "example.com");
        assert_eq!(r.call.params["scheme"], "https");
        assert_eq!(r.call.params["path"], "/a/b");
    }

    #[test]
    fn tool_names_are_validated() {
        assert!(validate_tool("exec").is_ok());
        assert!(validate_tool("My_Tool.v1:x-y").is_ok());
        assert!(validate_tool("Exec").is_err());
        assert!(validate_tool("").is_err());
        assert!(validate_tool("a b").is_err());
        assert!(validate_tool(&"a".repeat(129)).is_err());
    }
}
