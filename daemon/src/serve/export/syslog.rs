//! `--syslog`: RFC 5424 messages over UDP, TCP (RFC 6587 octet counting) or a Unix
//! socket.
//!
//! One message per audit event:
//! `<PRI>1 TIMESTAMP HOSTNAME rampart PID - [rampart@32473 action="deny" policy="…"
//! agent="…" session="…" tool="…" id="…"] MSG`, where PRI is facility×8 + severity
//! (deny=warning, ask=notice, everything else=info), TIMESTAMP is the event's time
//! (microseconds, UTC), the SD-PARAM values escape `"`, `\` and `]`, and MSG is
//! `ACTION TOOL: SUBJECT - MESSAGE` (or the CEF line with `--cef`) on one line.
//! Messages are at most [`MAX_MESSAGE`] bytes (the MSG is cut with `…`).
//!
//! Transports: UDP (one datagram per message); TCP with `LEN SP MSG` framing;
//! Unix datagram (`/dev/log`; a Unix stream socket is used if the path is one, with a
//! newline after each message). Connection failures are retried with exponential
//! backoff (100 ms to 30 s); writes time out after 5 s.

use super::{one_line, subject, truncate, ExportError, ExportMetrics, LogLimiter};
use crate::audit::event::Event;
use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest message sent (header, structured data and MSG).
pub const MAX_MESSAGE: usize = 8192;
/// The structured-data id (32473 is the IANA example enterprise number).
pub const SD_ID: &str = "rampart@32473";
/// Write and connect timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Where syslog messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `udp://HOST:PORT`.
    Udp(String),
    /// `tcp://HOST:PORT`.
    Tcp(String),
    /// `unix:///path` or `/path`.
    Unix(PathBuf),
}

impl Target {
    /// Parse a `--syslog` value.
    pub fn parse(s: &str) -> Result<Target, ExportError> {
        let bad = || ExportError::BadTarget(s.to_string());
        let host_port = |rest: &str| -> Result<String, ExportError> {
            if rest.is_empty() || rest.contains('/') {
                return Err(bad());
            }
            let has_port = match rest.rsplit_once(':') {
                Some((h, p)) => {
                    !p.is_empty()
                        && p.bytes().all(|b| b.is_ascii_digit())
                        && (!h.contains(':') || (h.starts_with('[') && h.ends_with(']')))
                }
                None => false,
            };
            if has_port {
                let port: u32 = rest
                    .rsplit_once(':')
                    .map_or(0, |(_, p)| p.parse().unwrap_or(0));
                if port == 0 || port > 65535 {
                    return Err(bad());
                }
                Ok(rest.to_string())
            } else if rest.contains(':') && !rest.starts_with('[') {
                // A bare IPv6 address.
                Ok(format!("[{rest}]:514"))
            } else {
                Ok(format!("{rest}:514"))
            }
        };
        if let Some(rest) = s.strip_prefix("udp://") {
            Ok(Target::Udp(host_port(rest)?))
        } else if let Some(rest) = s.strip_prefix("tcp://") {
            Ok(Target::Tcp(host_port(rest)?))
        } else if let Some(rest) = s.strip_prefix("unix://") {
            if rest.starts_with('/') {
                Ok(Target::Unix(PathBuf::from(rest)))
            } else {
                Err(bad())
            }
        } else if s.starts_with('/') {
            Ok(Target::Unix(PathBuf::from(s)))
        } else {
            Err(bad())
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Udp(a) => write!(f, "udp://{a}"),
            Target::Tcp(a) => write!(f, "tcp://{a}"),
            Target::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

/// Syslog facility (default `auth`: these are access-control decisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Facility {
    /// Security/authorization messages (4).
    Auth,
    /// Private security/authorization messages (10).
    Authpriv,
    /// System daemons (3).
    Daemon,
    /// User-level messages (1).
    User,
    /// Local use 0 (16).
    Local0,
    /// Local use 1 (17).
    Local1,
    /// Local use 2 (18).
    Local2,
    /// Local use 3 (19).
    Local3,
    /// Local use 4 (20).
    Local4,
    /// Local use 5 (21).
    Local5,
    /// Local use 6 (22).
    Local6,
    /// Local use 7 (23).
    Local7,
}

impl Facility {
    /// The facility code.
    pub fn code(self) -> u8 {
        match self {
            Facility::Auth => 4,
            Facility::Authpriv => 10,
            Facility::Daemon => 3,
            Facility::User => 1,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

/// Severity of an action: deny=warning (4), ask=notice (5), others=informational (6).
pub fn severity(action: &str) -> u8 {
    match action {
        "deny" => 4,
        "ask" => 5,
        _ => 6,
    }
}

/// Escape an SD-PARAM value (RFC 5424 §6.3.3): `"`, `\` and `]` get a backslash.
pub fn escape_param(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The RFC 5424 TIMESTAMP of an RFC 3339 event time: at most 6 fraction digits.
pub fn timestamp(ts: &str) -> String {
    let Some(body) = ts.strip_suffix('Z') else {
        return if ts.is_empty() { "-".into() } else { ts.into() };
    };
    match body.split_once('.') {
        Some((secs, frac)) => format!("{secs}.{}Z", &frac[..frac.len().min(6)]),
        None => ts.into(),
    }
}

/// A header field: printable US-ASCII without spaces, at most `max` bytes, or `-`.
fn header_field(s: &str, max: usize) -> String {
    let v: String = s
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '-' })
        .take(max)
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v
    }
}

/// The plain-text MSG: `ACTION TOOL: SUBJECT - MESSAGE`.
pub fn text_message(ev: &Event) -> String {
    let mut m = format!("{} {}", ev.decision.action, ev.tool);
    if let Some(k) = &ev.kind {
        m = format!("{k}: {m}");
    }
    let subj = subject(ev);
    if !subj.is_empty() {
        m.push_str(": ");
        m.push_str(subj);
    }
    if !ev.decision.message.is_empty() {
        m.push_str(" - ");
        m.push_str(&ev.decision.message);
    }
    one_line(&m)
}

/// Format one RFC 5424 message (no framing) with the given MSG.
pub fn format(ev: &Event, facility: Facility, pid: u32, msg: &str) -> String {
    let pri = u32::from(facility.code()) * 8 + u32::from(severity(&ev.decision.action));
    let mut sd = format!("[{SD_ID}");
    let mut param = |name: &str, v: &str| {
        sd.push_str(&format!(" {name}=\"{}\"", escape_param(v)));
    };
    param("action", &ev.decision.action);
    param("policy", ev.decision.policy.as_deref().unwrap_or(""));
    param("agent", &ev.agent);
    param("session", &ev.session);
    param("tool", &ev.tool);
    param("id", &ev.id);
    if let Some(k) = &ev.kind {
        param("kind", k);
    }
    if let Some(orig) = &ev.decision.policy_decision {
        param("policy_decision", orig);
    }
    sd.push(']');
    let mut line = format!(
        "<{pri}>1 {} {} rampart {pid} - {sd} ",
        timestamp(&ev.timestamp),
        header_field(&ev.host.hostname, 255),
    );
    let room = MAX_MESSAGE.saturating_sub(line.len());
    let mut m = msg.to_string();
    truncate(&mut m, room);
    line.push_str(&m);
    line
}

/// Sink settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Destination.
    pub target: Target,
    /// Facility.
    pub facility: Facility,
    /// MSG is a CEF line.
    pub cef: bool,
    /// PROCID.
    pub pid: u32,
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Dgram(UnixDatagram),
    Stream(UnixStream),
}

fn connect(target: &Target) -> io::Result<Conn> {
    match target {
        Target::Udp(addr) => {
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
            for a in addr.to_socket_addrs()? {
                let local = if a.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                match UdpSocket::bind(local).and_then(|s| s.connect(a).map(|_| s)) {
                    Ok(s) => return Ok(Conn::Udp(s)),
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        Target::Tcp(addr) => {
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
            for a in addr.to_socket_addrs()? {
                match TcpStream::connect_timeout(&a, IO_TIMEOUT) {
                    Ok(s) => {
                        s.set_write_timeout(Some(IO_TIMEOUT))?;
                        let _ = s.set_nodelay(true);
                        return Ok(Conn::Tcp(s));
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        Target::Unix(path) => {
            let s = UnixDatagram::unbound()?;
            match s.connect(path) {
                Ok(()) => {
                    s.set_write_timeout(Some(IO_TIMEOUT))?;
                    Ok(Conn::Dgram(s))
                }
                Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
                    let s = UnixStream::connect(path)?;
                    s.set_write_timeout(Some(IO_TIMEOUT))?;
                    Ok(Conn::Stream(s))
                }
                Err(e) => Err(e),
            }
        }
    }
}

impl Conn {
    fn send(&mut self, msg: &str) -> io::Result<()> {
        match self {
            Conn::Udp(s) => s.send(msg.as_bytes()).map(drop),
            Conn::Dgram(s) => s.send(msg.as_bytes()).map(drop),
            Conn::Tcp(s) => {
                let framed = format!("{} {msg}", msg.len());
                s.write_all(framed.as_bytes())
            }
            Conn::Stream(s) => {
                let mut framed = msg.to_string();
                framed.push('\n');
                s.write_all(framed.as_bytes())
            }
        }
    }
}

/// The sink's thread: drain the queue until the daemon exits.
pub fn run(cfg: Config, rx: Receiver<Arc<Event>>, counters: Arc<ExportMetrics>) {
    let c = &counters.syslog;
    let mut log = LogLimiter::new("syslog");
    let mut conn: Option<Conn> = None;
    let mut backoff = BACKOFF_MIN;
    let mut next_try = Instant::now();
    while let Ok(ev) = rx.recv() {
        let msg = if cfg.cef {
            super::cef::format(&ev)
        } else {
            text_message(&ev)
        };
        let line = format(&ev, cfg.facility, cfg.pid, &msg);
        let mut delivered = false;
        // One try on the current connection, one more on a fresh one.
        for _ in 0..2 {
            if conn.is_none() {
                let wait = next_try.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
                match connect(&cfg.target) {
                    Ok(k) => {
                        conn = Some(k);
                        backoff = BACKOFF_MIN;
                    }
                    Err(e) => {
                        next_try = Instant::now() + backoff;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        log.failure(&format_args!("cannot connect to {}: {e}", cfg.target));
                        break;
                    }
                }
            }
            if let Some(k) = conn.as_mut() {
                match k.send(&line) {
                    Ok(()) => {
                        delivered = true;
                        break;
                    }
                    Err(e) => {
                        conn = None;
                        log.failure(&format_args!("send to {} failed: {e}", cfg.target));
                    }
                }
            }
        }
        c.count(delivered);
        log.drops(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::export::sample_event as sample;

    #[test]
    fn target_parse_accepts_the_documented_forms() {
        let good = [
            ("udp://127.0.0.1:5514", Target::Udp("127.0.0.1:5514".into())),
            ("tcp://logs.example", Target::Tcp("logs.example:514".into())),
            ("udp://[::1]:9", Target::Udp("[::1]:9".into())),
            ("unix:///dev/log", Target::Unix("/dev/log".into())),
            ("/run/x.sock", Target::Unix("/run/x.sock".into())),
        ];
        for (text, want) in good {
            assert_eq!(Target::parse(text).unwrap(), want, "{text}");
        }
        for bad in [
            "http://x",
            "udp://",
            "udp://h:0",
            "udp://h:70000",
            "unix://rel",
            "x",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_has_rfc5424_header_sd_and_escapes() {
        let ev = sample("deny", "rm -rf x");
        let line = format(&ev, Facility::Auth, 42, &text_message(&ev));
        assert_eq!(
            line,
            "<36>1 2026-11-22T03:19:37.123456Z box rampart 42 - [rampart@32473 action=\"deny\" \
             policy=\"p\\\\q\" agent=\"claude\" session=\"s\\]1\" tool=\"exec\" \
             id=\"01JD0000000000000000000000\"] deny exec: rm -rf x - no \"rm\""
        );
    }

    #[test]
    fn severity_follows_the_action() {
        assert_eq!(severity("deny"), 4);
        assert_eq!(severity("ask"), 5);
        assert_eq!(severity("allow"), 6);
        assert_eq!(severity("watch"), 6);
        let ev = sample("ask", "touch x");
        assert!(format(&ev, Facility::Local0, 1, "m").starts_with("<133>1 "));
    }

    #[test]
    fn message_is_one_line_and_capped() {
        let ev = sample("allow", &format!("echo a\nb{}", "x".repeat(20_000)));
        let line = format(&ev, Facility::Auth, 1, &text_message(&ev));
        assert!(line.len() <= MAX_MESSAGE);
        assert!(!line.contains('\n'));
        assert!(line.ends_with('…'));
    }

    #[test]
    fn timestamp_keeps_at_most_microseconds() {
        assert_eq!(timestamp("2026-01-02T03:04:05Z"), "2026-01-02T03:04:05Z");
        assert_eq!(
            timestamp("2026-01-02T03:04:05.5Z"),
            "2026-01-02T03:04:05.5Z"
        );
        assert_eq!(
            timestamp("2026-01-02T03:04:05.123456789Z"),
            "2026-01-02T03:04:05.123456Z"
        );
    }
}
