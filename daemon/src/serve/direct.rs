//! Plain preflight requests on the Unix socket, answered without the general
//! HTTP server.
//!
//! What `librampart.so` sends is always the same shape: `POST
//! /v1/preflight/exec` with a `Content-Length` body, written in one piece. Most
//! of it comes from a process that was just forked and is about to `exec`: it
//! connects, sends one request with `Connection: close`, reads the answer and is
//! gone; the rest comes from the process that loaded the library, on its one
//! kept-alive connection. Served the general way, each request went through
//! hyper (a connection's buffers and timers, its dispatcher) and the router, and
//! a one-shot connection woke the daemon a second time to see the peer close:
//! 204,017 instructions per one-shot request in the daemon against 153,303 this
//! way when it came (later figures: docs/BENCHMARKS.md). [`try_answer`] reads what the client
//! sent as soon as the connection becomes readable and, when it is a complete,
//! plain preflight request, decides, audits and answers it right there, with the
//! same code as the HTTP route ([`routes::evaluate`], [`routes::conclude_now`]);
//! a one-shot connection is then closed, a kept-alive one waits for its next
//! request the same way.
//!
//! Anything else is passed on unchanged, with the bytes already read, to the
//! general server, which keeps the connection from then on: an incomplete
//! request, another route or method, HTTP/1.0, chunked bodies, `Expect`,
//! pipelined bytes, a call that needs the approval queue, a request the route
//! would refuse (it answers the error), and every request under `--fsync always`
//! (whose append waits for the disk, which the general route does off the
//! runtime). Only Unix socket connections come here; loopback TCP clients always
//! take the general route.

use super::auth::ConnInfo;
use super::phases::{self, Phase};
use super::routes::{self, MAX_BODY};
use super::AppState;
use crate::audit::writer::FsyncPolicy;
use axum::http::{header, HeaderMap, HeaderValue};
use nix::sys::socket::MsgFlags;
use std::cell::RefCell;
use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Instant, SystemTime};

/// How much the direct path reads at once. The preload library's requests
/// are a few hundred bytes; a larger one (a long command) goes to the general
/// server, which reads the rest.
const READ_AT_ONCE: usize = 8 * 1024;

/// Headers parsed; requests with more go to the general server.
const MAX_HEADERS: usize = 24;

/// What became of what a connection sent.
#[derive(Debug, PartialEq)]
pub enum Accepted {
    /// Answered in full. `keep_alive`: the client keeps the connection for more
    /// requests; otherwise drop the stream to close it.
    Answered {
        /// The connection stays open.
        keep_alive: bool,
    },
    /// Answered, but the socket took only part of the answer: write the rest,
    /// then close.
    Unsent(Vec<u8>),
    /// Not a plain preflight request: serve the connection the general way;
    /// these bytes were already read from it.
    Pass(Vec<u8>),
    /// Nothing has arrived yet (nothing was read).
    Waiting,
}

/// A connected socket the direct path reads and writes without waiting: a
/// tokio stream (served on the runtime) or a non-blocking std stream (served on
/// the accept thread, see [`super::fast_lane`]).
pub trait Peer {
    /// Append what has arrived (at most [`READ_AT_ONCE`] bytes) to `buf`;
    /// `WouldBlock` when nothing has.
    fn read_some(&self, buf: &mut Vec<u8>) -> io::Result<usize>;
    /// Write what the socket takes now; `WouldBlock` when it takes nothing.
    fn write_some(&self, bytes: &[u8]) -> io::Result<usize>;
}

impl Peer for tokio::net::UnixStream {
    fn read_some(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        buf.reserve(READ_AT_ONCE);
        self.try_read_buf(buf)
    }

    fn write_some(&self, bytes: &[u8]) -> io::Result<usize> {
        self.try_write(bytes)
    }
}

thread_local! {
    /// Where a std stream reads into: zeroed once per thread, not per read (safe
    /// code cannot read into a `Vec`'s spare capacity, and zeroing 8 KiB for each
    /// request of a few hundred bytes cost 8,200 instructions, callgrind).
    static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_AT_ONCE].into_boxed_slice());
}

/// A std stream as the accept thread holds it: blocking (it saves a system call
/// per connection), so each read and write says `MSG_DONTWAIT` itself.
impl Peer for std::os::unix::net::UnixStream {
    fn read_some(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        READ_BUF.with_borrow_mut(|tmp| {
            let n = nix::sys::socket::recv(self.as_raw_fd(), tmp, MsgFlags::MSG_DONTWAIT)?;
            buf.extend_from_slice(tmp.get(..n).unwrap_or_default());
            Ok(n)
        })
    }

    fn write_some(&self, bytes: &[u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        Ok(nix::sys::socket::send(self.as_raw_fd(), bytes, flags)?)
    }
}

/// Read what the peer has sent so far and answer it if it is a complete, plain
/// preflight request (see the module documentation). Never waits.
pub fn try_answer(stream: &impl Peer, conn: &ConnInfo, st: &AppState) -> Accepted {
    if st.fsync == FsyncPolicy::Always {
        return Accepted::Pass(Vec::new());
    }
    let started = Instant::now();
    // Each stream reserves what it reads into: the std one copies only what came
    // (a few hundred bytes; an 8 KiB request is a "large" one to glibc, which
    // consolidates its fast bins for each).
    let mut buf = Vec::new();
    match stream.read_some(&mut buf) {
        Ok(n) if n > 0 => phases::mark(Phase::Read),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Accepted::Waiting,
        // End of stream or an error: hyper sees the same.
        _ => return Accepted::Pass(buf),
    }
    let sent = answer_with(&buf, conn, st, started, None, |answer, close| {
        write_now(stream, answer, !close)
    });
    match sent {
        Some(answered) => answered,
        None => Accepted::Pass(buf),
    }
}

/// Decide, audit and answer `bytes` when they are one complete, plain
/// preflight request that needs no human: `send` gets the whole HTTP response
/// and whether the client asked to close, and what it returns comes back.
/// `None` (nothing decided, nothing audited): the general server must serve
/// it. `limit`: the answer must not be longer (a datagram the client reads
/// into a fixed buffer); a longer one is shortened
/// ([`routes::Evaluated::answer_within`]).
pub(super) fn answer_with<R>(
    bytes: &[u8],
    conn: &ConnInfo,
    st: &AppState,
    started: Instant,
    limit: Option<usize>,
    send: impl FnOnce(Vec<u8>, bool) -> R,
) -> Option<R> {
    let req = Plain::parse(bytes)?;
    phases::mark(Phase::HeadParsed);
    let mut headers = HeaderMap::new();
    if let Some(v) = req
        .authorization
        .and_then(|a| HeaderValue::from_bytes(a).ok())
    {
        headers.insert(header::AUTHORIZATION, v);
    }
    let mut ev = routes::evaluate(st, req.tool, req.body, &headers).ok()?;
    phases::mark(Phase::Evaluated);
    if ev.needs_approval(st) {
        return None;
    }
    let mut body = routes::conclude_now(st, conn, &mut ev, started);
    phases::mark(Phase::Concluded);
    st.metrics.direct_answers.fetch_add(1, Relaxed);
    let mut answer = response(&body, req.close);
    if let Some(max) = limit.filter(|&max| answer.len() > max) {
        let head = answer.len() - body.len();
        body = ev.answer_within(max.saturating_sub(head));
        answer = response(&body, req.close);
    }
    let sent = send(answer, req.close);
    phases::mark(Phase::Answered);
    // The request, its evaluation and the answer are freed after it is sent
    // (about 5,200 instructions, callgrind): the client waits for the answer.
    drop((ev, body));
    Some(sent)
}

/// A complete HTTP/1.1 `POST /v1/preflight/{tool}` with a `Content-Length`
/// body, nothing after it.
#[derive(Debug, PartialEq)]
struct Plain<'a> {
    tool: &'a str,
    body: &'a [u8],
    authorization: Option<&'a [u8]>,
    /// `Connection: close`: the client sends nothing more.
    close: bool,
}

impl<'a> Plain<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Plain<'a>> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let head_len = match req.parse(bytes) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => return None,
        };
        if req.method != Some("POST") || req.version != Some(1) {
            return None;
        }
        // Percent-encoding, queries and deeper paths: the router decides.
        let tool = req.path?.strip_prefix("/v1/preflight/")?;
        if tool.is_empty() || tool.bytes().any(|b| matches!(b, b'/' | b'?' | b'#' | b'%')) {
            return None;
        }
        let mut length = None;
        let mut close = false;
        let mut authorization = None;
        for h in req.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                if length.is_some() {
                    return None;
                }
                let v = std::str::from_utf8(h.value).ok()?.trim();
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                length = Some(v.parse::<usize>().ok()?);
            } else if name.eq_ignore_ascii_case("connection") {
                close |= h
                    .value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
            } else if name.eq_ignore_ascii_case("authorization") {
                if authorization.is_some() {
                    return None;
                }
                authorization = Some(h.value);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("expect")
                || name.eq_ignore_ascii_case("upgrade")
            {
                return None;
            }
        }
        let length = length.filter(|&n| n <= MAX_BODY)?;
        if bytes.len() != head_len.checked_add(length)? {
            return None;
        }
        Some(Plain {
            tool,
            body: bytes.get(head_len..)?,
            authorization,
            close,
        })
    }
}

/// The whole HTTP response for a JSON body, as the general server would send it.
fn response(body: &[u8], close: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 160);
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ");
    crate::json_writer::push_decimal(&mut out, body.len() as u64);
    out.extend_from_slice(b"\r\n");
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"date: ");
    with_http_date(|date| out.extend_from_slice(date.as_bytes()));
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}

thread_local! {
    /// The `Date` header's text and the second it is for.
    static HTTP_DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// The current time as an HTTP date, formatted once per second per thread.
fn with_http_date(f: impl FnOnce(&str)) {
    let now = SystemTime::now();
    let second = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    HTTP_DATE.with_borrow_mut(|(at, text)| {
        if *at != second {
            *at = second;
            *text = httpdate::fmt_http_date(now);
        }
        f(text)
    });
}

/// Write as much of `answer` as the socket takes now.
fn write_now(stream: &impl Peer, answer: Vec<u8>, keep_alive: bool) -> Accepted {
    let mut sent = 0;
    while sent < answer.len() {
        match stream.write_some(&answer[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Accepted::Unsent(answer[sent..].to_vec())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The peer is gone; the decision is audited, as on the general route.
            Err(_) => return Accepted::Answered { keep_alive: false },
        }
    }
    Accepted::Answered { keep_alive }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(head: &str, body: &str) -> Vec<u8> {
        format!("{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    const POST: &str = "POST /v1/preflight/exec HTTP/1.1\r\nHost: localhost\r\nConnection: close";

    #[test]
    fn a_complete_plain_request_is_taken() {
        let r = req(POST, r#"{"params":{"command":"ls"}}"#);
        let p = Plain::parse(&r).unwrap();
        assert_eq!(p.tool, "exec");
        assert_eq!(p.body, br#"{"params":{"command":"ls"}}"#);
        assert_eq!(p.authorization, None);
        assert!(p.close);
        let with_token = req(&format!("{POST}\r\nAuthorization: Bearer abc"), "{}");
        assert_eq!(
            Plain::parse(&with_token).unwrap().authorization,
            Some(&b"Bearer abc"[..])
        );
        let listed = req(
            "POST /v1/preflight/read HTTP/1.1\r\nConnection: TE, Close",
            "{}",
        );
        assert_eq!(Plain::parse(&listed).unwrap().tool, "read");
        assert!(Plain::parse(&listed).unwrap().close);
        // Kept alive, explicitly or by HTTP/1.1's default.
        for head in [
            "POST /v1/preflight/exec HTTP/1.1\r\nConnection: keep-alive",
            "POST /v1/preflight/exec HTTP/1.1\r\nHost: x",
        ] {
            let r = req(head, "{}");
            assert!(!Plain::parse(&r).unwrap().close, "{head}");
        }
    }

    #[test]
    fn everything_else_is_passed_on() {
        let body = "{}";
        let cases = [
            // HTTP/1.0, other methods and routes
            req(
                "POST /v1/preflight/exec HTTP/1.0\r\nConnection: close",
                body,
            ),
            req("GET /v1/preflight/exec HTTP/1.1\r\nConnection: close", body),
            req("POST /v1/approvals/x HTTP/1.1\r\nConnection: close", body),
            req("POST /v1/preflight/ HTTP/1.1\r\nConnection: close", body),
            req(
                "POST /v1/preflight/exec?x=1 HTTP/1.1\r\nConnection: close",
                body,
            ),
            req(
                "POST /v1/preflight/ex%65c HTTP/1.1\r\nConnection: close",
                body,
            ),
            req("POST /v1/preflight/a/b HTTP/1.1\r\nConnection: close", body),
            // framing the general server must judge
            req(&format!("{POST}\r\nTransfer-Encoding: chunked"), body),
            req(&format!("{POST}\r\nExpect: 100-continue"), body),
            req(&format!("{POST}\r\nContent-Length: 2"), body),
            req(
                &format!("{POST}\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b"),
                body,
            ),
            format!("{POST}\r\nContent-Length: +2\r\n\r\n{{}}").into_bytes(),
            format!("{POST}\r\n\r\n{{}}").into_bytes(),
            format!("{POST}\r\nContent-Length: 99999999\r\n\r\n{{}}").into_bytes(),
            // incomplete head or body, or bytes after the body
            b"POST /v1/preflight/exec HTTP/1.1\r\nConnection: cl".to_vec(),
            format!("{POST}\r\nContent-Length: 10\r\n\r\n{{}}").into_bytes(),
            [req(POST, body), b"GET /healthz HTTP/1.1\r\n\r\n".to_vec()].concat(),
            b"not http at all\r\n\r\n".to_vec(),
        ];
        for c in cases {
            assert_eq!(Plain::parse(&c), None, "{}", String::from_utf8_lossy(&c));
        }
    }

    #[test]
    fn the_response_is_framed_as_the_general_server_frames_it() {
        let kept = String::from_utf8(response(b"{}", false)).unwrap();
        assert!(!kept.to_ascii_lowercase().contains("connection:"), "{kept}");
        let r = response(br#"{"allowed":true}"#, true);
        let text = String::from_utf8(r).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, r#"{"allowed":true}"#);
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut parsed = httparse::Response::new(&mut headers);
        let full = format!("{head}\r\n\r\n");
        assert!(parsed.parse(full.as_bytes()).unwrap().is_complete());
        assert_eq!(parsed.code, Some(200));
        let get = |n: &str| {
            parsed
                .headers
                .iter()
                .find(|h| h.name == n)
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        assert_eq!(get("content-length").as_deref(), Some("16"));
        assert_eq!(get("connection").as_deref(), Some("close"));
        assert_eq!(get("content-type").as_deref(), Some("application/json"));
        let date = httpdate::parse_http_date(&get("date").unwrap()).unwrap();
        let skew = SystemTime::now()
            .duration_since(date)
            .unwrap_or_else(|e| e.duration());
        assert!(skew.as_secs() <= 2, "date off by {skew:?}");
        for len in [0, 9, 10, 12_345] {
            let text = String::from_utf8(response(&vec![b'x'; len], false)).unwrap();
            assert!(
                text.contains(&format!("\r\ncontent-length: {len}\r\n")),
                "{text:.120}"
            );
        }
    }
}
