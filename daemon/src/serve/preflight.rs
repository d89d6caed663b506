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
    /// The request's params as received plus canonical values (for the audit).
    pub audit_params: Map<String, Value>,
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
    let lower = tool.to_ascii_lowercase();
    if lower != tool && RESERVED.contains(&lower.as_str()) {
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
    let audit_params = params.clone();
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
        audit_params,
    })
}

/// Parse any request body for `tool` (see the module documentation).
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
    let audit_params = params.clone();
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
        assert_eq!(r.audit_params["pid"], 5);
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
        ];
        for body in taken {
            let fast = parse_hook_body("exec", body.as_bytes());
            assert!(fast.is_some(), "not taken: {body}");
            let general = parse_general("exec", body.as_bytes()).unwrap();
            assert_eq!(
                format!("{:?}", fast.unwrap()),
                format!("{general:?}"),
                "{body}"
            );
        }
        // Near misses go to the general parser, which answers them as before.
        let left = [
            (r#"{"params":{"command":"ls","cwd":null}}"#, "exec"),
            (r#"{"agent":null,"params":{"command":"ls"}}"#, "exec"),
            (r#"{"params":{"command":"ls","pid":5.0}}"#, "exec"),
            (r#"{"params":{"command":"ls","pid":"5"}}"#, "exec"),
            (
                r#"{"params":{"command":"ls","pid":18446744073709551615}}"#,
                "exec",
            ),
            (r#"{"params":{"command":"ls","cmd":"ls"}}"#, "exec"),
            (r#"{"command":"ls","params":{"command":"ls"}}"#, "exec"),
            (
                r#"{"params":{"command":"ls"},"verification":false}"#,
                "exec",
            ),
            (r#"{"params":{"command":"ls","command":"rm"}}"#, "exec"),
            (r#"{"params":{"command":"   "}}"#, "exec"),
            (r#"{"params":{"command":7}}"#, "exec"),
            (r#"{"params":{"command":"ls"}} {}"#, "exec"),
            (r#"{"params":{"command":"ls"}}"#, "shell"),
            (
                r#"{"params":{"command":"ls"},"input":{"command":"ls"}}"#,
                "exec",
            ),
        ];
        for (body, tool) in left {
            assert!(
                parse_hook_body(tool, body.as_bytes()).is_none(),
                "taken: {body}"
            );
            assert_eq!(
                format!("{:?}", parse(tool, body.as_bytes())),
                format!("{:?}", parse_general(tool, body.as_bytes())),
                "{body}"
            );
        }
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
