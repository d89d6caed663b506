//! Configuration read once from the environment at load time.
//!
//! | variable | meaning |
//! |---|---|
//! | `RAMPART_MODE` | `enforce` (default; also any unknown value), `monitor`, `disabled` |
//! | `RAMPART_FAIL_OPEN` | unset or `1`: transport errors and 5xx allow (default); anything else denies |
//! | `RAMPART_TIMEOUT_MS` | connect + answer deadline, default 1000 |
//! | `RAMPART_ASK_TIMEOUT_MS` | read deadline after the daemon sent `102 Processing` (an `ask` waiting for a human), default 130000 |
//! | `RAMPART_SOCKET` | Unix socket of the daemon |
//! | `RAMPART_URL` | `unix:///path` or `http://127.0.0.1:PORT[/base]`; wins over `RAMPART_SOCKET` |
//! | `RAMPART_TOKEN` | bearer token (sent over TCP and Unix) |
//! | `RAMPART_AGENT` | default `preload` |
//! | `RAMPART_SESSION` | default `preload-<pid at load>` |
//! | `RAMPART_DEBUG` | `1`: `[rampart] ` diagnostics on stderr, never the command text |
//! | `RAMPART_QUIET` | `1`: no "blocked" / fail-open lines |
//! | `RAMPART_FLOOR` | `0` disables the compiled-in floor |
//! | `RAMPART_SPIN_US` | poll for the answer this many microseconds before sleeping, default 200; `0` off |
//!
//! Without `RAMPART_URL`/`RAMPART_SOCKET` the socket is
//! `$XDG_RUNTIME_DIR/rampart/rampart.sock`, else `$HOME/.rampart/rampart.sock`
//! (the daemon's own rule). Safe code only.

use crate::buf::{parse_u64, Buf, Sink};

/// Default `RAMPART_SPIN_US`: long enough for a daemon that is awake to read,
/// decide, audit and answer (tens of microseconds), short enough that a daemon
/// which went to sleep costs the agent's process little CPU before it sleeps too.
pub const DEFAULT_SPIN_US: u64 = 200;

/// Largest accepted `RAMPART_SPIN_US`: spinning longer only burns CPU.
pub const MAX_SPIN_US: u64 = 10_000;

/// Enforcement mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Ask and obey.
    Enforce,
    /// Ask, always allow.
    Monitor,
    /// Do not ask.
    Disabled,
}

/// A short byte string stored inline.
#[derive(Clone, Copy)]
pub struct Text<const N: usize> {
    data: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    /// The empty string.
    pub const EMPTY: Self = Text {
        data: [0; N],
        len: 0,
    };

    /// Copies `s`; `None` when it does not fit.
    pub fn from_bytes(s: &[u8]) -> Option<Self> {
        let mut t = Self::EMPTY;
        let dst = t.data.get_mut(..s.len())?;
        dst.copy_from_slice(s);
        t.len = s.len();
        Some(t)
    }

    /// Stores `s` in place (only its bytes are written); `false`, and
    /// nothing stored, when it does not fit.
    pub fn set(&mut self, s: &[u8]) -> bool {
        match self.data.get_mut(..s.len()) {
            Some(dst) => {
                dst.copy_from_slice(s);
                self.len = s.len();
                true
            }
            None => false,
        }
    }

    /// The stored bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.data.get(..self.len).unwrap_or(&[])
    }
}

/// Where the daemon listens.
#[derive(Clone, Copy)]
pub enum Transport {
    /// A Unix stream socket (path without the trailing NUL).
    Unix(Text<108>),
    /// Loopback TCP.
    Tcp {
        /// IPv4 address, network order bytes.
        addr: [u8; 4],
        /// Port.
        port: u16,
        /// `Host` header value.
        host: Text<32>,
        /// Path prefix, no trailing `/`.
        base: Text<256>,
    },
    /// Nothing configured and no default could be derived.
    Unset,
    /// A value we refuse (bad URL, socket path too long).
    Invalid(&'static [u8]),
}

/// `RAMPART_TOKEN` when it is set and can be sent (see
/// [`Config::token_invalid`]).
pub fn token<'e, F>(get: F) -> Option<&'e [u8]>
where
    F: Fn(&[u8]) -> Option<&'e [u8]>,
{
    get(b"RAMPART_TOKEN").filter(|t| !t.is_empty() && crate::http::token_is_valid(t))
}

/// The whole configuration.
#[derive(Clone, Copy)]
pub struct Config {
    /// Enforcement mode.
    pub mode: Mode,
    /// Fail-open switch.
    pub fail_open: bool,
    /// Diagnostics on stderr.
    pub debug: bool,
    /// Suppress "blocked" and fail-open lines.
    pub quiet: bool,
    /// The compiled-in floor is active (enforce mode only).
    pub floor: bool,
    /// Deadline for connect + answer.
    pub timeout_ms: u64,
    /// Read deadline after an interim `102` answer.
    pub ask_timeout_ms: u64,
    /// How long to poll for an answer before sleeping in `poll(2)`.
    pub spin_us: u64,
    /// Agent name.
    pub agent: Text<256>,
    /// Session name.
    pub session: Text<256>,
    /// The token was set but cannot be sent (too long, control bytes). The
    /// token itself is kept apart (`real::State::token`), in a buffer that
    /// is written only when a token is set: 4 KiB in here would be copied,
    /// and its pages faulted in, in every process that loads the library.
    pub token_invalid: bool,
    /// The daemon's address.
    pub transport: Transport,
    /// `$HOME` at load, for the floor.
    pub home: Text<1024>,
}

impl Config {
    /// The configuration before the environment was read.
    pub const UNSET: Config = Config {
        mode: Mode::Enforce,
        fail_open: true,
        debug: false,
        quiet: false,
        floor: true,
        timeout_ms: 1000,
        ask_timeout_ms: 130_000,
        spin_us: DEFAULT_SPIN_US,
        agent: Text::EMPTY,
        session: Text::EMPTY,
        token_invalid: false,
        transport: Transport::Unset,
        home: Text::EMPTY,
    };

    /// Builds the configuration from `get(name)` lookups; `pid` names the
    /// default session.
    pub fn from_env<'e, F>(get: F, pid: i64) -> Config
    where
        F: Fn(&[u8]) -> Option<&'e [u8]>,
    {
        let mode = match get(b"RAMPART_MODE") {
            Some(b"monitor") => Mode::Monitor,
            Some(b"disabled") => Mode::Disabled,
            _ => Mode::Enforce,
        };
        let fail_open = matches!(get(b"RAMPART_FAIL_OPEN"), None | Some(b"1"));
        let timeout_ms = get(b"RAMPART_TIMEOUT_MS")
            .and_then(parse_u64)
            .filter(|v| *v > 0)
            .unwrap_or(1000);
        let ask_timeout_ms = get(b"RAMPART_ASK_TIMEOUT_MS")
            .and_then(parse_u64)
            .filter(|v| *v > 0)
            .unwrap_or(130_000);
        let spin_us = get(b"RAMPART_SPIN_US")
            .and_then(parse_u64)
            .map_or(DEFAULT_SPIN_US, |v| v.min(MAX_SPIN_US));
        let agent = get(b"RAMPART_AGENT")
            .filter(|v| !v.is_empty())
            .and_then(Text::from_bytes)
            .unwrap_or_else(|| Text::from_bytes(b"preload").unwrap_or(Text::EMPTY));
        let session = match get(b"RAMPART_SESSION")
            .filter(|v| !v.is_empty())
            .and_then(Text::from_bytes)
        {
            Some(s) => s,
            None => default_session(pid),
        };
        let token_invalid = get(b"RAMPART_TOKEN")
            .filter(|t| !t.is_empty())
            .is_some_and(|t| !crate::http::token_is_valid(t));
        let transport = match get(b"RAMPART_URL").filter(|u| !u.is_empty()) {
            Some(url) => parse_url(url),
            None => match get(b"RAMPART_SOCKET").filter(|s| !s.is_empty()) {
                Some(p) => unix_transport(p),
                None => default_socket(get(b"XDG_RUNTIME_DIR"), get(b"HOME")),
            },
        };
        let home = get(b"HOME")
            .and_then(Text::from_bytes)
            .unwrap_or(Text::EMPTY);
        Config {
            mode,
            fail_open,
            debug: get(b"RAMPART_DEBUG") == Some(b"1"),
            quiet: get(b"RAMPART_QUIET") == Some(b"1"),
            floor: get(b"RAMPART_FLOOR") != Some(b"0"),
            timeout_ms,
            ask_timeout_ms,
            spin_us,
            agent,
            session,
            token_invalid,
            transport,
            home,
        }
    }
}

/// `preload-<pid>`.
pub fn default_session(pid: i64) -> Text<256> {
    let mut store = [0u8; 32];
    let mut b = Buf::new(&mut store);
    b.put(b"preload-");
    b.put_i64(pid);
    Text::from_bytes(b.as_bytes()).unwrap_or(Text::EMPTY)
}

fn unix_transport(path: &[u8]) -> Transport {
    // sun_path holds 108 bytes including the terminating NUL.
    if path.len() >= 108 || path.contains(&0) {
        return Transport::Invalid(b"socket path longer than 107 bytes");
    }
    match Text::from_bytes(path) {
        Some(t) => Transport::Unix(t),
        None => Transport::Invalid(b"socket path longer than 107 bytes"),
    }
}

fn default_socket(xdg: Option<&[u8]>, home: Option<&[u8]>) -> Transport {
    let mut store = [0u8; 256];
    let mut b = Buf::new(&mut store);
    match (
        xdg.filter(|x| !x.is_empty()),
        home.filter(|h| !h.is_empty()),
    ) {
        (Some(x), _) => {
            b.put(x);
            b.put(b"/rampart/rampart.sock");
        }
        (None, Some(h)) => {
            b.put(h);
            b.put(b"/.rampart/rampart.sock");
        }
        (None, None) => return Transport::Unset,
    }
    if b.overflowed() {
        return Transport::Invalid(b"socket path longer than 107 bytes");
    }
    unix_transport(b.as_bytes())
}

/// Parses `RAMPART_URL`: `unix:///abs/path` or `http://IPv4[:port][/base]`.
pub fn parse_url(url: &[u8]) -> Transport {
    if url
        .iter()
        .any(|b| *b <= 0x20 || *b == 0x7f || matches!(b, b'\\' | b'?' | b'#'))
    {
        return Transport::Invalid(b"RAMPART_URL contains forbidden characters");
    }
    if let Some(path) = strip_prefix_ci(url, b"unix://") {
        if path.first() != Some(&b'/') {
            return Transport::Invalid(b"unix:// URL needs an absolute path");
        }
        return unix_transport(path);
    }
    let Some(rest) = strip_prefix_ci(url, b"http://") else {
        return Transport::Invalid(
            b"RAMPART_URL must be unix:// or http:// (no TLS in the preload)",
        );
    };
    let slash = rest.iter().position(|b| *b == b'/').unwrap_or(rest.len());
    let authority = rest.get(..slash).unwrap_or(&[]);
    let mut base = rest.get(slash..).unwrap_or(&[]);
    while let Some(b) = base.strip_suffix(b"/") {
        base = b;
    }
    if authority.is_empty() || authority.contains(&b'@') {
        return Transport::Invalid(b"RAMPART_URL has an empty or credentialed authority");
    }
    let (host, port) = match authority.iter().position(|b| *b == b':') {
        Some(i) => {
            let port = authority.get(i + 1..).unwrap_or(&[]);
            match parse_u64(port).filter(|p| (1..=65535).contains(p)) {
                Some(p) => (authority.get(..i).unwrap_or(&[]), p as u16),
                None => return Transport::Invalid(b"RAMPART_URL has a bad port"),
            }
        }
        None => (authority, 80),
    };
    let addr = if host.eq_ignore_ascii_case(b"localhost") {
        Some([127, 0, 0, 1])
    } else {
        parse_ipv4(host)
    };
    let Some(addr) = addr else {
        return Transport::Invalid(b"RAMPART_URL host must be a numeric IPv4 address");
    };
    match (Text::from_bytes(authority), Text::from_bytes(base)) {
        (Some(host), Some(base)) => Transport::Tcp {
            addr,
            port,
            host,
            base,
        },
        _ => Transport::Invalid(b"RAMPART_URL too long"),
    }
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Parses dotted-quad IPv4.
pub fn parse_ipv4(s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split(|b| *b == b'.');
    for slot in out.iter_mut() {
        let p = parts.next()?;
        if p.len() > 3 {
            return None;
        }
        *slot = u8::try_from(parse_u64(p)?).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}
