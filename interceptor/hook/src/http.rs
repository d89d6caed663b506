//! Hand-written HTTP/1.1 for one endpoint: `POST /v1/preflight/exec`.
//!
//! Requests carry `Content-Length` only (no chunking, redirects or proxies).
//! Responses must be a status line plus headers, then a body of exactly
//! `Content-Length` bytes (or, with `Connection: close` and no length, up to
//! EOF). `Transfer-Encoding` is refused as a protocol error. Interim `1xx`
//! responses are recognised so the caller can skip them: the daemon sends
//! `102 Processing` when a decision waits for a human (`ask`), which tells the
//! hook to switch to its long read deadline. Safe code only.

use crate::buf::{parse_u64, trim, Sink};
use crate::bytes::same;
use crate::command::Command;
use crate::json::write_string;

/// Largest response body the hook accepts (UPSTREAM-SPEC §5.6).
pub const MAX_BODY: usize = 64 * 1024;
/// Largest request body the hook sends; beyond this the call is a local
/// safety failure. It equals the daemon's body limit (UPSTREAM-SPEC §5.1,
/// 64 KiB): a larger body is answered 413 and the connection closed while
/// the hook may still be writing, which surfaced as a transport error and
/// failed open (docs/RELIABILITY.md, R3).
pub const MAX_REQUEST_BODY: usize = 64 * 1024;

/// Who is asking: the identity fields of every request.
#[derive(Clone, Copy, Debug)]
pub struct Identity<'a> {
    /// `RAMPART_AGENT`.
    pub agent: &'a [u8],
    /// `RAMPART_SESSION`.
    pub session: &'a [u8],
}

/// The per-call facts sent along with the command.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// The caller's working directory, when known.
    pub cwd: Option<&'a [u8]>,
    /// The executable that will run (PATH-resolved for the `p` variants).
    pub resolved_path: Option<&'a [u8]>,
    /// The calling process.
    pub pid: i64,
    /// Its parent.
    pub ppid: i64,
}

/// Writes the JSON request body.
pub fn write_body<'a, S, I>(
    out: &mut S,
    who: &Identity<'_>,
    cmd: &Command<'a, I>,
    facts: &Facts<'_>,
) where
    S: Sink,
    I: Iterator<Item = &'a [u8]> + Clone,
{
    out.put(b"{\"agent\":");
    write_string(out, who.agent);
    out.put(b",\"session\":");
    write_string(out, who.session);
    out.put(b",\"params\":{\"command\":\"");
    let mut esc = EscapingSink { inner: out };
    cmd.write_to(&mut esc);
    out.put_byte(b'"');
    if let Some(cwd) = facts.cwd {
        out.put(b",\"cwd\":");
        write_string(out, cwd);
    }
    if let Some(path) = facts.resolved_path {
        out.put(b",\"resolved_path\":");
        write_string(out, path);
    }
    out.put(b",\"pid\":");
    out.put_i64(facts.pid);
    out.put(b",\"ppid\":");
    out.put_i64(facts.ppid);
    out.put(b"},\"enforce\":true,\"wait\":true}");
}

/// Adapts a sink so everything written to it is JSON-escaped. The command
/// string is produced word by word, and an invalid UTF-8 sequence never
/// spans two writes (words are written whole or as ASCII separators), so
/// escaping each piece equals escaping the joined string.
struct EscapingSink<'s, S> {
    inner: &'s mut S,
}

impl<S: Sink> Sink for EscapingSink<'_, S> {
    fn put(&mut self, bytes: &[u8]) {
        crate::json::write_escaped(self.inner, bytes);
    }
}

/// Where the request goes: decides the request target and `Host` header.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// Value of the `Host` header.
    pub host: &'a [u8],
    /// Path prefix before `/v1/preflight/exec` (no trailing `/`), may be empty.
    pub base_path: &'a [u8],
}

/// Writes the request line and headers, through the blank line.
pub fn write_head<S: Sink>(
    out: &mut S,
    target: &Target<'_>,
    token: Option<&[u8]>,
    body_len: usize,
    keep_alive: bool,
) {
    out.put(b"POST ");
    out.put(target.base_path);
    out.put(b"/v1/preflight/exec HTTP/1.1\r\nHost: ");
    out.put(target.host);
    out.put(b"\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: ");
    out.put_u64(body_len as u64);
    if let Some(t) = token {
        out.put(b"\r\nAuthorization: Bearer ");
        out.put(t);
    }
    out.put(if keep_alive {
        b"\r\nConnection: keep-alive\r\n\r\n".as_slice()
    } else {
        b"\r\nConnection: close\r\n\r\n".as_slice()
    });
}

/// A token is usable in a header when it is at most 4096 bytes of visible
/// ASCII (no CR/LF or other controls).
pub fn token_is_valid(token: &[u8]) -> bool {
    token.len() <= 4096 && token.iter().all(|b| (0x21..0x7f).contains(b))
}

/// A parsed response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// Bytes of status line plus headers, including the blank line.
    pub len: usize,
    /// `Content-Length`, if given.
    pub content_length: Option<usize>,
    /// The server will close the connection after this response.
    pub close: bool,
}

/// Why a response could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Not an HTTP/1.x response head.
    Malformed,
    /// `Transfer-Encoding` or a conflicting `Content-Length`.
    Unsupported,
    /// The body would exceed [`MAX_BODY`].
    TooLarge,
}

/// Looks for a complete response head at the start of `data`. `Ok(None)`
/// means more bytes are needed.
pub fn parse_head(data: &[u8]) -> Result<Option<Head>, HeadError> {
    let Some(end) = find(data, b"\r\n\r\n") else {
        // A head that does not start like one will never become one.
        let n = data.len().min(5);
        if !same(
            data.get(..n).unwrap_or(&[]),
            b"HTTP/".get(..n).unwrap_or(&[]),
        ) {
            return Err(HeadError::Malformed);
        }
        return Ok(None);
    };
    let head = data.get(..end).unwrap_or(&[]);
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or(&[]);
    let (http10, rest) = if let Some(r) = status_line.strip_prefix(b"HTTP/1.1 ") {
        (false, r)
    } else if let Some(r) = status_line.strip_prefix(b"HTTP/1.0 ") {
        (true, r)
    } else {
        return Err(HeadError::Malformed);
    };
    let code = rest.get(..3).ok_or(HeadError::Malformed)?;
    if rest.get(3).is_some_and(|b| *b != b' ') {
        return Err(HeadError::Malformed);
    }
    let status = parse_u64(code)
        .filter(|c| (100..600).contains(c))
        .ok_or(HeadError::Malformed)? as u16;
    let mut content_length: Option<usize> = None;
    let mut close = http10;
    for line in lines {
        let colon = line
            .iter()
            .position(|b| *b == b':')
            .ok_or(HeadError::Malformed)?;
        let name = line.get(..colon).unwrap_or(&[]);
        let value = trim(line.get(colon + 1..).unwrap_or(&[]));
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_u64(value).ok_or(HeadError::Malformed)?;
            let n = usize::try_from(n).map_err(|_| HeadError::TooLarge)?;
            if content_length.is_some_and(|old| old != n) {
                return Err(HeadError::Unsupported);
            }
            if n > MAX_BODY {
                return Err(HeadError::TooLarge);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(HeadError::Unsupported);
        } else if name.eq_ignore_ascii_case(b"connection") {
            if contains_token(value, b"close") {
                close = true;
            } else if contains_token(value, b"keep-alive") {
                close = false;
            }
        }
    }
    Ok(Some(Head {
        status,
        len: end + 4,
        content_length,
        close,
    }))
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token))
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What a status code means for the hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    /// Interim (`1xx`): skip and keep reading.
    Interim,
    /// `200`: the body holds the verdict.
    Ok,
    /// `5xx`: the daemon is unwell; follows the fail-open switch.
    ServerError,
    /// `401`/`403`: bad credentials; a safety failure.
    Auth,
    /// Anything else: a protocol failure.
    Unexpected,
}

/// Classifies a status code.
pub fn classify(status: u16) -> StatusClass {
    match status {
        100..=199 => StatusClass::Interim,
        200 => StatusClass::Ok,
        401 | 403 => StatusClass::Auth,
        500..=599 => StatusClass::ServerError,
        _ => StatusClass::Unexpected,
    }
}
