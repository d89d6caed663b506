//! The policy file's `notify:` webhook: POST a JSON message on chosen decisions.
//!
//! Which events: decisions (not approval resolutions or other event kinds) whose
//! action is in `notify.on` (default deny and ask; `log` is watch and
//! `require_approval` is ask). In monitor mode the decision the policy made counts
//! (the answer was rewritten to allow). The settings are read from the live engine at
//! decision time, so a policy reload changes them.
//!
//! Payloads by `platform`: `slack` `{"text": …}`, `discord` `{"content": …}`, `teams`
//! `{"text": …}`; `webhook`, `openclaw` and `auto` send the generic event
//! `{decision, tool, command, policy, message, agent, session, timestamp, audit_id}`
//! (`auto` picks slack/discord/teams from well-known hook hosts). Text fields carry
//! the audit's redacted values.
//!
//! Transport: plain `http://` only (an HTTP/1.1 client on std sockets; for an
//! `https://` endpoint run a local relay): `https://` URLs are counted as failed and
//! logged. Each POST has a 5 s deadline for connect, write and the status line; a 2xx
//! status counts as sent.

use super::{subject, ExportMetrics, LogLimiter};
use crate::audit::event::Event;
use engine::policy::Notify;
use engine::Action;
use serde_json::json;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Deadline of one POST.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The decision an event may notify about: `deny`, `ask` or `watch`, else `None`.
pub fn candidate(ev: &Event) -> Option<&str> {
    if ev.kind.is_some() {
        return None;
    }
    let key = ev
        .decision
        .policy_decision
        .as_deref()
        .unwrap_or(&ev.decision.action);
    matches!(key, "deny" | "ask" | "watch").then_some(key)
}

/// Whether `notify` asks for decisions named `key`.
pub fn wanted(n: &Notify, key: &str) -> bool {
    if n.url.trim().is_empty() {
        return false;
    }
    if n.on.is_empty() {
        return matches!(key, "deny" | "ask");
    }
    n.on.iter().any(|a| match a {
        Action::Deny => key == "deny",
        Action::Ask => key == "ask",
        Action::Watch => key == "watch",
        _ => false,
    })
}

/// The payload shape for a platform and URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"text": …}`.
    Slack,
    /// `{"content": …}`.
    Discord,
    /// `{"text": …}`.
    Teams,
    /// The generic JSON event.
    Generic,
}

/// Pick the payload shape: explicit platform, else by well-known host for `auto`.
pub fn shape(platform: &str, url: &str) -> Shape {
    match platform {
        "slack" => Shape::Slack,
        "discord" => Shape::Discord,
        "teams" => Shape::Teams,
        "" | "auto" => {
            let host = url
                .split_once("://")
                .map_or(url, |(_, r)| r)
                .split(['/', '?'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if host == "hooks.slack.com" {
                Shape::Slack
            } else if host.ends_with("discord.com") || host.ends_with("discordapp.com") {
                Shape::Discord
            } else if host.ends_with("webhook.office.com") || host.ends_with("logic.azure.com") {
                Shape::Teams
            } else {
                Shape::Generic
            }
        }
        _ => Shape::Generic,
    }
}

/// The one-line text of chat payloads.
pub fn text(ev: &Event, key: &str) -> String {
    let verb = match key {
        "deny" => "denied",
        "ask" => "needs approval for",
        "watch" => "flagged",
        other => other,
    };
    let mut t = format!("Rampart {verb} {}", ev.tool);
    let subj = subject(ev);
    if !subj.is_empty() {
        t.push_str(&format!(": `{}`", subj.replace('`', "'")));
    }
    if let Some(p) = &ev.decision.policy {
        t.push_str(&format!(" (policy {p}"));
        if !ev.decision.message.is_empty() {
            t.push_str(&format!(": {}", ev.decision.message));
        }
        t.push(')');
    } else if !ev.decision.message.is_empty() {
        t.push_str(&format!(" ({})", ev.decision.message));
    }
    t.push_str(&format!(" - agent {}, session {}", ev.agent, ev.session));
    if ev.decision.policy_decision.is_some() {
        t.push_str(" [monitor mode: allowed]");
    }
    t
}

/// The JSON body for a notification.
pub fn payload(ev: &Event, n: &Notify) -> serde_json::Value {
    let key = candidate(ev).unwrap_or(&ev.decision.action);
    match shape(&n.platform, &n.url) {
        Shape::Slack | Shape::Teams => json!({ "text": text(ev, key) }),
        Shape::Discord => {
            let mut t = text(ev, key);
            super::truncate(&mut t, 2000);
            json!({ "content": t })
        }
        Shape::Generic => json!({
            "decision": key,
            "tool": ev.tool,
            "command": subject(ev),
            "policy": ev.decision.policy,
            "message": ev.decision.message,
            "agent": ev.agent,
            "session": ev.session,
            "timestamp": ev.timestamp,
            "audit_id": ev.id,
        }),
    }
}

/// Why a POST failed.
#[derive(Debug, Error)]
pub enum PostError {
    /// Not an `http://` URL.
    #[error("unsupported URL {0:?}: only http:// is supported (use a local relay for https)")]
    Unsupported(String),
    /// Network error.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The deadline passed.
    #[error("timed out after {}s", TIMEOUT.as_secs())]
    Timeout,
    /// Not an HTTP response.
    #[error("malformed HTTP response")]
    Malformed,
    /// A non-2xx status.
    #[error("HTTP status {0}")]
    Status(u16),
}

/// `http://HOST[:PORT]/PATH` split into (authority, host:port, path).
fn split_url(url: &str) -> Result<(String, String, String), PostError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| PostError::Unsupported(url.into()))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') || path.contains([' ', '\r', '\n']) {
        return Err(PostError::Unsupported(url.into()));
    }
    let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty() && !p.contains(']') && (!h.contains(':') || h.ends_with(']'))
    });
    let addr = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority.to_string(), addr, path))
}

fn remaining(deadline: Instant) -> Result<Duration, PostError> {
    let r = deadline.saturating_duration_since(Instant::now());
    if r.is_zero() {
        Err(PostError::Timeout)
    } else {
        Ok(r)
    }
}

fn timed_out(e: io::Error) -> PostError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => PostError::Timeout,
        _ => PostError::Io(e),
    }
}

/// POST a JSON body; returns the status on 2xx.
pub fn post(url: &str, body: &[u8]) -> Result<u16, PostError> {
    let deadline = Instant::now() + TIMEOUT;
    let (authority, addr, path) = split_url(url)?;
    let mut stream = None;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, remaining(deadline)?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut s = stream.ok_or_else(|| timed_out(last))?;
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: rampart/{}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.set_write_timeout(Some(remaining(deadline)?))?;
    s.write_all(&req).map_err(timed_out)?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") {
        s.set_read_timeout(Some(remaining(deadline)?))?;
        let n = s.read(&mut buf).map_err(timed_out)?;
        if n == 0 || head.len() > 4096 {
            return Err(PostError::Malformed);
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or(PostError::Malformed)?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(PostError::Status(status))
    }
}

/// The URL without its path and query (chat webhook paths are credentials).
pub fn url_for_logs(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    format!("{scheme}://{host}/…")
}

/// The webhook thread: one POST per queued notification.
pub fn run(rx: Receiver<(Arc<Event>, Notify)>, counters: Arc<ExportMetrics>) {
    let c = &counters.webhook;
    let mut log = LogLimiter::new("webhook");
    while let Ok((ev, n)) = rx.recv() {
        let body = payload(&ev, &n).to_string();
        match post(n.url.trim(), body.as_bytes()) {
            Ok(_) => {
                c.sent.fetch_add(1, Relaxed);
            }
            Err(e) => {
                c.failed.fetch_add(1, Relaxed);
                log.failure(&format_args!("POST {}: {e}", url_for_logs(n.url.trim())));
            }
        }
        log.drops(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::export::sample_event;

    fn notify(platform: &str, on: Vec<Action>) -> Notify {
        Notify {
            url: "http://127.0.0.1:9/hook".into(),
            platform: platform.into(),
            on,
        }
    }

    #[test]
    fn default_on_is_deny_and_ask() {
        let n = notify("", vec![]);
        assert!(wanted(&n, "deny"));
        assert!(wanted(&n, "ask"));
        assert!(!wanted(&n, "watch"));
        let w = notify("", vec![Action::Watch]);
        assert!(wanted(&w, "watch"));
        assert!(!wanted(&w, "deny"));
        let empty_url = Notify {
            url: " ".into(),
            ..notify("", vec![])
        };
        assert!(!wanted(&empty_url, "deny"));
    }

    #[test]
    fn candidate_skips_allow_and_other_kinds_and_sees_through_monitor_mode() {
        assert_eq!(candidate(&sample_event("deny", "rm x")), Some("deny"));
        assert_eq!(candidate(&sample_event("allow", "ls")), None);
        let mut m = sample_event("allow", "rm x");
        m.decision.policy_decision = Some("deny".into());
        assert_eq!(candidate(&m), Some("deny"));
        let mut k = sample_event("deny", "rm x");
        k.kind = Some("approval_resolved".into());
        assert_eq!(candidate(&k), None);
    }

    #[test]
    fn payload_shapes_by_platform() {
        let ev = sample_event("deny", "rm -rf x");
        let slack = payload(&ev, &notify("slack", vec![]));
        assert!(slack["text"]
            .as_str()
            .unwrap()
            .contains("denied exec: `rm -rf x`"));
        let discord = payload(&ev, &notify("discord", vec![]));
        assert!(discord["content"].is_string());
        let teams = payload(&ev, &notify("teams", vec![]));
        assert!(teams["text"].is_string());
        let g = payload(&ev, &notify("webhook", vec![]));
        assert_eq!(g["decision"], "deny");
        assert_eq!(g["command"], "rm -rf x");
        assert_eq!(g["audit_id"], ev.id.as_str());
        assert_eq!(g["agent"], "claude");
    }

    #[test]
    fn auto_platform_recognizes_well_known_hosts() {
        assert_eq!(
            shape("auto", "https://hooks.slack.com/services/x"),
            Shape::Slack
        );
        assert_eq!(
            shape("", "https://discord.com/api/webhooks/1"),
            Shape::Discord
        );
        assert_eq!(
            shape("auto", "https://x.webhook.office.com/y"),
            Shape::Teams
        );
        assert_eq!(shape("auto", "http://127.0.0.1:1/h"), Shape::Generic);
        assert_eq!(
            shape("openclaw", "https://hooks.slack.com/"),
            Shape::Generic
        );
    }

    #[test]
    fn split_url_handles_ports_paths_and_rejects_https() {
        let (a, addr, p) = split_url("http://127.0.0.1:8080/a/b?c=1").unwrap();
        assert_eq!(
            (a.as_str(), addr.as_str(), p.as_str()),
            ("127.0.0.1:8080", "127.0.0.1:8080", "/a/b?c=1")
        );
        let (_, addr, p) = split_url("http://relay.local").unwrap();
        assert_eq!((addr.as_str(), p.as_str()), ("relay.local:80", "/"));
        let (_, addr, _) = split_url("http://[::1]/x").unwrap();
        assert_eq!(addr, "[::1]:80");
        assert!(matches!(
            split_url("https://x/"),
            Err(PostError::Unsupported(_))
        ));
        assert!(matches!(
            split_url("http://u:p@x/"),
            Err(PostError::Unsupported(_))
        ));
    }

    #[test]
    fn url_for_logs_hides_path_and_userinfo() {
        assert_eq!(
            url_for_logs("https://u:pw@hooks.slack.com/services/T/B/SECRET"),
            "https://hooks.slack.com/…"
        );
    }
}
