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
//! Transport: `http://` and `https://` (HTTP/1.1, one connection per POST, no
//! redirects followed). HTTPS uses rustls (ring) and verifies the server's certificate
//! chain and name against the system trust store (the distribution's CA bundle, or
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` when set), or against only the certificates of
//! `rampart serve --webhook-ca FILE` (PEM) for a private CA. Proxy variables
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) are not read: the daemon
//! always connects directly. Each POST has one 5 s deadline covering connect, TLS
//! handshake, write and the status line; a 2xx status counts as sent. Host name
//! resolution happens first and is bounded only by the system resolver.

use super::{subject, ExportMetrics, LogLimiter};
use crate::audit::event::{Event, EventDecision};
use engine::policy::Notify;
use engine::Action;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::json;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Deadline of one POST.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The decision an event may notify about: `deny`, `ask` or `watch`, else `None`.
pub fn candidate(ev: &Event) -> Option<&str> {
    candidate_of(ev.kind.as_deref(), &ev.decision)
}

/// [`candidate`] from an event's kind and decision.
pub fn candidate_of<'a>(kind: Option<&str>, decision: &'a EventDecision) -> Option<&'a str> {
    if kind.is_some() {
        return None;
    }
    let key = decision
        .policy_decision
        .as_deref()
        .unwrap_or(&decision.action);
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
    /// Not an `http://` or `https://` URL, or one with user info or a bad path.
    #[error("unsupported URL {0:?}: expected http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH")]
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
    /// No usable trust anchors for `https://`.
    #[error("TLS setup: {0}")]
    Trust(#[from] TrustError),
    /// The TLS handshake or record layer failed (an untrusted or mismatched
    /// certificate shows up here).
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// Why no HTTPS client configuration could be built.
#[derive(Debug, Error)]
pub enum TrustError {
    /// `--webhook-ca` could not be read or parsed.
    #[error("--webhook-ca {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// `--webhook-ca` holds no certificate.
    #[error("--webhook-ca {0}: no PEM certificate in the file")]
    EmptyCaFile(PathBuf),
    /// The system trust store yielded no certificate.
    #[error("no certificate in the system trust store ({0})")]
    NoSystemRoots(String),
    /// rustls refused the configuration.
    #[error("{0}")]
    Config(#[from] rustls::Error),
}

/// Read the PEM certificates of a `--webhook-ca` file (at least one).
pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let bad = |reason: String| TrustError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(TrustError::EmptyCaFile(path.to_path_buf()));
    }
    Ok(certs)
}

/// Which certificates `https://` webhooks are verified against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trust {
    /// The system trust store (`SSL_CERT_FILE`/`SSL_CERT_DIR` when set).
    #[default]
    System,
    /// Only the CA certificates in this PEM file (`--webhook-ca`).
    CaFile(PathBuf),
}

impl Trust {
    /// Build the rustls client configuration (ring provider, TLS 1.2 and 1.3).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TrustError> {
        let mut roots = RootCertStore::empty();
        match self {
            Trust::CaFile(path) => {
                let (added, _) = roots.add_parsable_certificates(load_ca_file(path)?);
                if added == 0 {
                    return Err(TrustError::CaFile {
                        path: path.clone(),
                        reason: "no usable CA certificate".into(),
                    });
                }
            }
            Trust::System => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    let why = found
                        .errors
                        .first()
                        .map_or_else(|| "nothing found".to_string(), |e| e.to_string());
                    return Err(TrustError::NoSystemRoots(why));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// A parsed webhook URL.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    /// `https://`.
    tls: bool,
    /// `HOST[:PORT]` as written (the `Host:` header).
    authority: String,
    /// The host without brackets (TLS server name).
    host: String,
    /// `HOST:PORT` to connect to.
    addr: String,
    /// Path and query, starting with `/`.
    path: String,
}

/// Split `http[s]://HOST[:PORT]/PATH` (scheme case-insensitive).
fn split_url(url: &str) -> Result<Target, PostError> {
    let unsupported = || PostError::Unsupported(url.into());
    let (scheme, rest) = url.split_once("://").ok_or_else(unsupported)?;
    let (tls, default_port) = if scheme.eq_ignore_ascii_case("http") {
        (false, 80)
    } else if scheme.eq_ignore_ascii_case("https") {
        (true, 443)
    } else {
        return Err(unsupported());
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') || path.contains([' ', '\r', '\n']) {
        return Err(unsupported());
    }
    let port_split = authority.rsplit_once(':').filter(|(h, p)| {
        !p.is_empty() && !p.contains(']') && (!h.contains(':') || h.ends_with(']'))
    });
    let (host, addr) = match port_split {
        Some((h, _)) => (h, authority.to_string()),
        None => (authority, format!("{authority}:{default_port}")),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(unsupported());
    }
    Ok(Target {
        tls,
        authority: authority.to_string(),
        host: host.to_string(),
        addr,
        path,
    })
}

/// The time left before `deadline`, or a timeout error.
fn left(deadline: Instant) -> io::Result<Duration> {
    let r = deadline.saturating_duration_since(Instant::now());
    if r.is_zero() {
        Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
    } else {
        Ok(r)
    }
}

/// A socket whose every read and write is bounded by one overall deadline, so a
/// peer that trickles bytes (during the TLS handshake too) cannot stretch a POST.
struct Deadlined {
    sock: TcpStream,
    deadline: Instant,
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.set_read_timeout(Some(left(self.deadline)?))?;
        self.sock.read(buf)
    }
}

impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.set_write_timeout(Some(left(self.deadline)?))?;
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// Classify an I/O error: timeouts, TLS failures (rustls reports them as I/O
/// errors carrying a `rustls::Error`), else plain network errors.
fn classify(e: io::Error) -> PostError {
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        return PostError::Timeout;
    }
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => PostError::Tls(tls.clone()),
        None => PostError::Io(e),
    }
}

/// Connect to the first address that answers before the deadline.
fn connect(addr: &str, deadline: Instant) -> Result<TcpStream, PostError> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, left(deadline).map_err(classify)?) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(classify(last))
}

/// Send the request and read the status line.
fn exchange(s: &mut impl ReadWrite, req: &[u8]) -> Result<u16, PostError> {
    s.write_all(req).map_err(classify)?;
    s.flush().map_err(classify)?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut buf).map_err(classify)?;
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

/// Read + Write, for [`exchange`].
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// The webhook HTTP(S) client: the trust settings and, once built, the TLS
/// configuration (built on the first `https://` POST, then reused).
#[derive(Debug, Default)]
pub struct Client {
    trust: Trust,
    tls: Option<Arc<ClientConfig>>,
}

impl Client {
    /// A client verifying `https://` peers against `trust`.
    pub fn new(trust: Trust) -> Client {
        Client { trust, tls: None }
    }

    /// Build the TLS configuration now (a `--webhook-ca` file is then read once, at
    /// start-up) instead of on the first `https://` POST.
    pub fn preload(&mut self) -> Result<(), TrustError> {
        self.tls_config().map(drop)
    }

    fn tls_config(&mut self) -> Result<Arc<ClientConfig>, TrustError> {
        if let Some(c) = &self.tls {
            return Ok(Arc::clone(c));
        }
        let c = self.trust.client_config()?;
        self.tls = Some(Arc::clone(&c));
        Ok(c)
    }

    /// POST a JSON body; returns the status on 2xx.
    pub fn post(&mut self, url: &str, body: &[u8]) -> Result<u16, PostError> {
        let deadline = Instant::now() + TIMEOUT;
        let t = split_url(url)?;
        let mut req = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: rampart/{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            t.path,
            t.authority,
            env!("CARGO_PKG_VERSION"),
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        if !t.tls {
            let mut s = Deadlined {
                sock: connect(&t.addr, deadline)?,
                deadline,
            };
            return exchange(&mut s, &req);
        }
        let config = self.tls_config()?;
        let name =
            ServerName::try_from(t.host.clone()).map_err(|_| PostError::Unsupported(url.into()))?;
        let conn = ClientConnection::new(config, name)?;
        let sock = Deadlined {
            sock: connect(&t.addr, deadline)?,
            deadline,
        };
        let mut s = StreamOwned::new(conn, sock);
        let status = exchange(&mut s, &req);
        if status.is_ok() {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
        status
    }
}

/// The URL without its path and query (chat webhook paths are credentials).
pub fn url_for_logs(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    format!("{scheme}://{host}/…")
}

/// The webhook thread with a given client: one POST per queued notification.
pub fn run(mut client: Client, rx: Receiver<(Arc<Event>, Notify)>, counters: Arc<ExportMetrics>) {
    let c = &counters.webhook;
    let mut log = LogLimiter::new("webhook");
    while let Ok((ev, n)) = rx.recv() {
        let body = payload(&ev, &n).to_string();
        match client.post(n.url.trim(), body.as_bytes()) {
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
    fn split_url_handles_schemes_ports_paths_and_rejects_the_rest() {
        let t = split_url("http://127.0.0.1:8080/a/b?c=1").unwrap();
        assert_eq!(
            t,
            Target {
                tls: false,
                authority: "127.0.0.1:8080".into(),
                host: "127.0.0.1".into(),
                addr: "127.0.0.1:8080".into(),
                path: "/a/b?c=1".into(),
            }
        );
        let t = split_url("http://relay.local").unwrap();
        assert_eq!((t.addr.as_str(), t.path.as_str()), ("relay.local:80", "/"));
        let t = split_url("http://[::1]/x").unwrap();
        assert_eq!((t.addr.as_str(), t.host.as_str()), ("[::1]:80", "::1"));
        let t = split_url("https://hooks.slack.com/services/T/B/X").unwrap();
        assert!(t.tls);
        assert_eq!(t.addr, "hooks.slack.com:443");
        assert_eq!(t.host, "hooks.slack.com");
        assert_eq!(t.path, "/services/T/B/X");
        let t = split_url("HTTPS://[::1]:8443?q").unwrap();
        assert!(t.tls);
        assert_eq!((t.addr.as_str(), t.host.as_str()), ("[::1]:8443", "::1"));
        assert_eq!(t.path, "/?q");
        for bad in [
            "ftp://x/",
            "x/y",
            "http://u:p@x/",
            "https:///path",
            "https://x/a b",
        ] {
            assert!(
                matches!(split_url(bad), Err(PostError::Unsupported(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(matches!(
            load_ca_file(&empty),
            Err(TrustError::EmptyCaFile(_))
        ));
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            load_ca_file(&missing),
            Err(TrustError::CaFile { .. })
        ));
        assert!(Trust::CaFile(missing).client_config().is_err());
    }

    #[test]
    fn https_peer_trickling_a_handshake_hits_the_overall_deadline() {
        // A "server" that announces a 16 KiB TLS record and then sends one byte every
        // 20 ms for a minute: every single read succeeds, only the POST's overall
        // deadline can end the wait (without it the result would be an EOF error).
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let Ok((mut s, _)) = l.accept() else { return };
            let _ = s.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]);
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(60) {
                if s.write_all(&[0]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth();
        let mut client = Client {
            trust: Trust::System,
            tls: Some(Arc::new(config)),
        };
        let r = client.post(&format!("https://127.0.0.1:{port}/hook"), b"{}");
        assert!(matches!(r, Err(PostError::Timeout)), "{r:?}");
    }

    #[test]
    fn url_for_logs_hides_path_and_userinfo() {
        assert_eq!(
            url_for_logs("https://u:pw@hooks.slack.com/services/T/B/SECRET"),
            "https://hooks.slack.com/…"
        );
    }
}
