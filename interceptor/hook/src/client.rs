//! One policy round trip: build the request, send it, read and judge the
//! answer. Safe code over the socket layer in `net`.
//!
//! Deadlines: `RAMPART_TIMEOUT_MS` bounds connect + send + the reply. Because
//! we send `"wait":true`, an `ask` decision is held by the daemon until a
//! human answers, which takes longer than that. The hook switches to the long
//! `RAMPART_ASK_TIMEOUT_MS` deadline once the daemon has shown it accepted
//! the request:
//! * on a Unix socket, when the short deadline passes and the daemon has
//!   read our whole request (`SIOCOUTQ` reports no unread bytes) — a stopped
//!   (SIGSTOP) or wedged daemon never reads it, so it still times out on the
//!   short deadline and the fail-open switch applies;
//! * on any transport, when the daemon sends an interim `102 Processing`.
//!
//! A daemon that reads the request and then never answers therefore holds
//! the call for up to `RAMPART_ASK_TIMEOUT_MS` (default 130 s, above the
//! daemon's ask timeout).
//!
//! A reused kept-alive connection that fails before any reply byte (the
//! daemon closed it while idle) is retried once on a fresh connection.

use core::mem::MaybeUninit;

use crate::buf::{Buf, Counter, Sink};
use crate::command::Command;
use crate::config::{Config, Transport};
use crate::cstr::PATH_MAX;
use crate::decide::Outcome;
use crate::http::{
    self, Facts, Head, HeadError, Identity, StatusClass, Target, MAX_BODY, MAX_REQUEST_BODY,
};
use crate::json::{parse_answer, Answer};
use crate::net::{now_ms, Lease, Mapped, NetError, Socket, SocketSink};

/// Replies up to this size (head and body) are read on the stack; larger ones
/// into a mapping. A deny with its suggestion is about 1.3-1.9 KiB, an allow
/// about 0.4 KiB. Kept small because a forked child faults in every stack page
/// the hook's frames reach (with 8 KiB a fork+execve reached 31,296 bytes below
/// the caller, 26,176 with 3 KiB; see docs/BENCHMARKS.md for the rest).
const STACK_REPLY: usize = 3 * 1024;

/// The datagram lane's answer to a question it does not decide (`421
/// Misdirected Request`): ask again on the stream socket.
const MISDIRECTED: u16 = 421;

/// How much the facts gathered late can add to the body: the working
/// directory (`,"cwd":` and a quoted string of up to PATH_MAX bytes, each
/// escaped to at most 6) and a relative executable joined to it (at most
/// PATH_MAX bytes in place of the relative name, escaped alike). The parent
/// pid is counted early at its longest.
const LATE_FACTS_MAX: usize = 9 + 12 * PATH_MAX;

/// Bytes of working directory (and joined executable) the usual request
/// gathers on the stack; a longer one takes a `PATH_MAX` store in a frame
/// of its own. A frame larger than a page is probed page by page on entry,
/// and a forked child faults in each stack page the hook reaches.
const SHORT_LATE: usize = 512;

/// What a [`Gather`] that breaks its contract is reported as.
const LATE_FACTS_FAILED: &[u8] = b"the working directory could not be read";

/// Completes the facts of a request in a store provided by [`ask`] (a
/// trait, not a closure: the facts borrow both the store and data of the
/// caller's, `'r`, which outlives it).
pub trait Gather<'r> {
    /// The complete facts, borrowing `store` and the caller's data; `None`
    /// when `store`, shorter than `PATH_MAX`, is too short for them.
    fn gather<'s>(&self, store: &'s mut [MaybeUninit<u8>]) -> Option<Facts<'s>>
    where
        'r: 's;
}

/// Asks the daemon about `cmd`, with `token` as the bearer token when set.
/// `early` are the facts known without a system call (`cwd` unset, `ppid`
/// anything); `gather` completes them (the working directory, the parent
/// pid). They are gathered once a connection is open, so an absent daemon
/// costs no `getcwd` or `getppid` and has no store for them on its stack (a
/// forked child faults in each stack page the hook reaches), except on the
/// datagram lane, whose absence shows only when the request is sent; unless the body
/// could come near [`MAX_REQUEST_BODY`], in which case they are gathered
/// first, since an oversized request is refused even when no daemon answers.
/// `may_cache`: this process owns the kept-alive connection slot.
#[allow(clippy::too_many_arguments)]
pub fn ask<'a, 'r, I, G>(
    cfg: &Config,
    token: Option<&[u8]>,
    cmd: &Command<'a, I>,
    early: &Facts<'_>,
    gather: G,
    answer: &mut Answer<'_, '_>,
    may_cache: bool,
) -> Outcome
where
    I: Iterator<Item = &'a [u8]> + Clone,
    G: Gather<'r>,
{
    let (host, base): (&[u8], &[u8]) = match &cfg.transport {
        Transport::Unix(_) => (b"localhost", b""),
        Transport::Tcp { host, base, .. } => (host.as_bytes(), base.as_bytes()),
        Transport::Unset => return Outcome::Transport(b"no policy daemon socket is configured"),
        Transport::Invalid(why) => return Outcome::Local(why),
    };
    if cfg.token_invalid {
        return Outcome::Local(b"RAMPART_TOKEN is too long or contains control characters");
    }
    let talk = Talk {
        cfg,
        token,
        target: Target {
            host,
            base_path: base,
        },
        who: Identity {
            agent: cfg.agent.as_bytes(),
            session: cfg.session.as_bytes(),
        },
        may_cache,
    };
    let bound = Facts {
        ppid: i64::MIN,
        ..*early
    };
    let near_limit =
        body_len(&talk.who, cmd, &bound).saturating_add(LATE_FACTS_MAX) > MAX_REQUEST_BODY;
    let deadline = now_ms().saturating_add(cfg.timeout_ms);
    if near_limit {
        return talk.gather_long_then_exchange(cmd, gather, None, deadline, answer);
    }
    match open(cfg, may_cache, deadline) {
        Ok(conn) => talk.gather_then_exchange(cmd, gather, conn, deadline, answer),
        Err(outcome) => outcome,
    }
}

/// An open connection: the socket, the lease on the kept-alive slot, and
/// whether it was reused.
type Conn = (Socket, Option<Lease>, bool);

/// What every request of one question shares.
struct Talk<'c> {
    cfg: &'c Config,
    token: Option<&'c [u8]>,
    target: Target<'c>,
    who: Identity<'c>,
    may_cache: bool,
}

impl Talk<'_> {
    /// Connected: gathers the late facts (the store lives in this frame
    /// only) and exchanges the request.
    #[inline(never)]
    fn gather_then_exchange<'a, 'r, I, G>(
        &self,
        cmd: &Command<'a, I>,
        gather: G,
        conn: Conn,
        deadline: u64,
        answer: &mut Answer<'_, '_>,
    ) -> Outcome
    where
        I: Iterator<Item = &'a [u8]> + Clone,
        G: Gather<'r>,
    {
        let mut store = [MaybeUninit::uninit(); SHORT_LATE];
        match gather.gather(&mut store) {
            Some(facts) => self.exchange(cmd, &facts, conn, deadline, answer),
            None => self.gather_long_then_exchange(cmd, gather, Some(conn), deadline, answer),
        }
    }

    /// The facts gathered in a `PATH_MAX` store (in this frame only, taken
    /// on the rare paths), then the exchange: on `conn` when connected
    /// already (a working directory longer than [`SHORT_LATE`]), else after
    /// the size check and the connection (a body that may come near the
    /// limit; it is refused locally when too large).
    #[inline(never)]
    fn gather_long_then_exchange<'a, 'r, I, G>(
        &self,
        cmd: &Command<'a, I>,
        gather: G,
        conn: Option<Conn>,
        deadline: u64,
        answer: &mut Answer<'_, '_>,
    ) -> Outcome
    where
        I: Iterator<Item = &'a [u8]> + Clone,
        G: Gather<'r>,
    {
        let mut store = [MaybeUninit::uninit(); PATH_MAX];
        // A PATH_MAX store always suffices (the trait's contract).
        let Some(facts) = gather.gather(&mut store) else {
            return Outcome::Local(LATE_FACTS_FAILED);
        };
        let conn = match conn {
            Some(conn) => conn,
            None => {
                if body_len(&self.who, cmd, &facts) > MAX_REQUEST_BODY {
                    return Outcome::Local(b"the command is too large to check (over 64 KiB)");
                }
                match open(self.cfg, self.may_cache, deadline) {
                    Ok(conn) => conn,
                    Err(outcome) => return outcome,
                }
            }
        };
        self.exchange(cmd, &facts, conn, deadline, answer)
    }

    /// Sends the request on `conn` and reads the answer, once more on a
    /// fresh connection when a reused one turns out closed.
    fn exchange<'a, I>(
        &self,
        cmd: &Command<'a, I>,
        facts: &Facts<'_>,
        (sock, lease, reused): Conn,
        deadline: u64,
        answer: &mut Answer<'_, '_>,
    ) -> Outcome
    where
        I: Iterator<Item = &'a [u8]> + Clone,
    {
        let cfg = self.cfg;
        let request = Request {
            cfg,
            token: self.token,
            target: self.target,
            who: self.who,
            cmd,
            facts,
            body_len: body_len(&self.who, cmd, facts),
        };
        let keep = lease.is_some();
        let first = request.round_trip(&sock, keep, deadline, answer);
        // Once more on a fresh stream connection: when the question was too
        // long for a datagram or one the datagram lane does not decide
        // (nothing was decided or audited), or when the daemon closed the
        // kept-alive connection while it was idle.
        let again = matches!(first, Err(Failure::Misdirected))
            || (reused && matches!(first, Err(Failure::Stale)));
        let (sock, result) = if again {
            sock.close();
            match Socket::connect(&cfg.transport, deadline) {
                Ok(fresh) => {
                    let second = request.round_trip(&fresh, keep, deadline, answer);
                    (fresh, second)
                }
                Err(e) => {
                    release(lease);
                    return Outcome::Transport(e.reason());
                }
            }
        } else {
            (sock, first)
        };
        match result {
            Ok((outcome, reusable)) => {
                finish(lease, sock, reusable && keep);
                outcome
            }
            Err(Failure::Stale) => {
                sock.close();
                release(lease);
                Outcome::Transport(NetError::Closed.reason())
            }
            Err(Failure::Final(outcome)) => {
                sock.close();
                release(lease);
                outcome
            }
            // Only a datagram is misdirected, and it was asked again above.
            Err(Failure::Misdirected) => {
                sock.close();
                release(lease);
                protocol()
            }
        }
    }
}

/// This process's kept-alive connection when it owns the slot and one is
/// open (`true`: reused), else a new one; the lease goes with it.
fn open(cfg: &Config, may_cache: bool, deadline: u64) -> Result<Conn, Outcome> {
    let mut lease = if may_cache { Lease::acquire() } else { None };
    if let Some(sock) = lease.as_mut().and_then(Lease::take) {
        return Ok((sock, lease, true));
    }
    // A connection this process will not keep: one datagram each way when
    // the daemon offers its datagram lane.
    #[cfg(target_os = "linux")]
    if lease.is_none() {
        if let Some(sock) = Socket::datagram(&cfg.transport) {
            return Ok((sock, None, false));
        }
    }
    match Socket::connect(&cfg.transport, deadline) {
        Ok(sock) => Ok((sock, lease, false)),
        Err(e) => {
            release(lease);
            Err(Outcome::Transport(e.reason()))
        }
    }
}

/// The length of the request body for these facts.
fn body_len<'a, I>(who: &Identity<'_>, cmd: &Command<'a, I>, facts: &Facts<'_>) -> usize
where
    I: Iterator<Item = &'a [u8]> + Clone,
{
    let mut count = Counter::default();
    http::write_body(&mut count, who, cmd, facts);
    count.len
}

fn finish(lease: Option<Lease>, sock: Socket, reusable: bool) {
    match lease {
        Some(l) if reusable => l.store(sock),
        Some(l) => {
            sock.close();
            l.release();
        }
        None => sock.close(),
    }
}

fn release(lease: Option<Lease>) {
    if let Some(l) = lease {
        l.release();
    }
}

enum Failure {
    /// Nothing came back on a reused connection: retry on a fresh one.
    Stale,
    /// The datagram lane did not take the question: ask on the stream socket.
    Misdirected,
    /// Give up with this outcome.
    Final(Outcome),
}

struct Request<'r, 'a, I> {
    cfg: &'r Config,
    token: Option<&'r [u8]>,
    target: Target<'r>,
    who: Identity<'r>,
    cmd: &'r Command<'a, I>,
    facts: &'r Facts<'r>,
    body_len: usize,
}

impl<'a, I> Request<'_, 'a, I>
where
    I: Iterator<Item = &'a [u8]> + Clone,
{
    /// Composes and sends the request. Not inlined: its 4 KiB send buffer
    /// is gone before the reply buffer is taken, so both use the same stack
    /// pages (a forked child faults in every page the hook reaches).
    #[inline(never)]
    fn send(&self, sock: &Socket, keep_alive: bool, deadline: u64) -> Result<(), NetError> {
        let mut sink = SocketSink::new(sock, &self.cfg.transport, deadline);
        http::write_head(
            &mut sink,
            &self.target,
            self.token,
            self.body_len,
            keep_alive,
        );
        http::write_body(&mut sink, &self.who, self.cmd, self.facts);
        sink.flush()
    }

    fn round_trip(
        &self,
        sock: &Socket,
        keep_alive: bool,
        deadline: u64,
        answer: &mut Answer<'_, '_>,
    ) -> Result<(Outcome, bool), Failure> {
        if let Err(e) = self.send(sock, keep_alive, deadline) {
            return Err(if keep_alive && matches!(e, NetError::Closed) {
                Failure::Stale
            } else if e == NetError::Misdirected {
                Failure::Misdirected
            } else {
                Failure::Final(Outcome::Transport(e.reason()))
            });
        }
        // A human's decision is never awaited on the datagram lane.
        let unix = matches!(self.cfg.transport, Transport::Unix(_)) && !sock.is_datagram();
        let long = Extension {
            ask_timeout_ms: self.cfg.ask_timeout_ms,
            by_read_check: unix,
        };
        read_reply(sock, deadline, long, keep_alive, answer)
    }
}

/// How the read deadline may be extended for a human decision.
#[derive(Clone, Copy)]
struct Extension {
    ask_timeout_ms: u64,
    /// Extend when the peer has read the whole request (Unix sockets).
    by_read_check: bool,
}

/// Not inlined, like [`Request::send`]: its reply buffer takes the stack pages
/// the send buffer used.
#[inline(never)]
fn read_reply(
    sock: &Socket,
    mut deadline: u64,
    long: Extension,
    reused: bool,
    answer: &mut Answer<'_, '_>,
) -> Result<(Outcome, bool), Failure> {
    let ask_timeout_ms = long.ask_timeout_ms;
    let mut extended = false;
    let mut stack = [0u8; STACK_REPLY];
    let mut have = 0usize;
    let mut got_any = false;
    // Read until a final (non-1xx) head is complete.
    let head: Head = loop {
        match http::parse_head(stack.get(..have).unwrap_or(&[])) {
            Ok(Some(h)) if http::classify(h.status) == StatusClass::Interim => {
                // Drop the interim response; the daemon is alive and waiting
                // for a human: switch to the long deadline.
                stack.copy_within(h.len..have, 0);
                have -= h.len;
                deadline = now_ms().saturating_add(ask_timeout_ms);
                extended = true;
                continue;
            }
            Ok(Some(h)) if h.status == MISDIRECTED && sock.is_datagram() => {
                return Err(Failure::Misdirected)
            }
            Ok(Some(h)) => break h,
            Ok(None) => {}
            Err(e) => return Err(Failure::Final(head_error(e))),
        }
        let Some(room) = stack.get_mut(have..) else {
            return Err(Failure::Final(protocol()));
        };
        if room.is_empty() {
            return Err(Failure::Final(Outcome::Protocol(
                b"the policy daemon sent oversized headers",
            )));
        }
        match sock.recv(room, deadline) {
            Ok(0) if !got_any && reused => return Err(Failure::Stale),
            Ok(0) => {
                return Err(Failure::Final(Outcome::Transport(
                    NetError::Closed.reason(),
                )))
            }
            Ok(n) => {
                got_any = true;
                have += n;
            }
            Err(NetError::Closed) if !got_any && reused => return Err(Failure::Stale),
            Err(NetError::Timeout)
                if !extended && long.by_read_check && sock.unread_outgoing() == Some(0) =>
            {
                // The daemon read the request and is still deciding: a
                // human is being asked. Wait for the long deadline.
                extended = true;
                deadline = now_ms().saturating_add(ask_timeout_ms);
            }
            Err(e) => return Err(Failure::Final(Outcome::Transport(e.reason()))),
        }
    };
    let class = http::classify(head.status);
    let in_stack = have.saturating_sub(head.len);
    let body_fits = head
        .content_length
        .is_some_and(|n| head.len.saturating_add(n) <= STACK_REPLY);
    let (outcome, complete) = if body_fits {
        let want = head.content_length.unwrap_or(0);
        let end = head.len + want;
        if let Err(f) = fill(sock, &mut stack, have, end, deadline) {
            return Err(Failure::Final(f));
        }
        (
            judge(
                class,
                head.status,
                stack.get(head.len..end).unwrap_or(&[]),
                answer,
            ),
            have <= end,
        )
    } else {
        // Larger (or unknown-length) body: move it to a mapping.
        let Some(mut big) = Mapped::new(MAX_BODY + 1) else {
            return Err(Failure::Final(Outcome::Local(
                b"out of memory reading the reply",
            )));
        };
        let buf = big.as_mut_slice();
        let start = stack.get(head.len..have).unwrap_or(&[]);
        let Some(dst) = buf.get_mut(..in_stack) else {
            return Err(Failure::Final(Outcome::Protocol(
                b"the policy daemon reply is too large",
            )));
        };
        dst.copy_from_slice(start);
        let len = match head.content_length {
            Some(n) => {
                if let Err(f) = fill(sock, buf, in_stack, n, deadline) {
                    return Err(Failure::Final(f));
                }
                n
            }
            None => {
                if !head.close {
                    return Err(Failure::Final(Outcome::Protocol(
                        b"the policy daemon reply has no length",
                    )));
                }
                match read_to_eof(sock, buf, in_stack, deadline) {
                    Ok(n) => n,
                    Err(f) => return Err(Failure::Final(f)),
                }
            }
        };
        (
            judge(class, head.status, buf.get(..len).unwrap_or(&[]), answer),
            head.content_length.is_some(),
        )
    };
    Ok((
        outcome,
        complete && !head.close && head.content_length.is_some(),
    ))
}

fn protocol() -> Outcome {
    Outcome::Protocol(b"the policy daemon sent a malformed reply")
}

fn head_error(e: HeadError) -> Outcome {
    match e {
        HeadError::Malformed => protocol(),
        HeadError::Unsupported => {
            Outcome::Protocol(b"the policy daemon used an unsupported transfer encoding")
        }
        HeadError::TooLarge => Outcome::Protocol(b"the policy daemon reply is larger than 64 KiB"),
    }
}

/// Reads into `buf[have..end]`.
fn fill(
    sock: &Socket,
    buf: &mut [u8],
    mut have: usize,
    end: usize,
    deadline: u64,
) -> Result<(), Outcome> {
    while have < end {
        let Some(room) = buf.get_mut(have..end) else {
            return Err(protocol());
        };
        match sock.recv(room, deadline) {
            Ok(0) => return Err(Outcome::Transport(NetError::Closed.reason())),
            Ok(n) => have += n,
            Err(e) => return Err(Outcome::Transport(e.reason())),
        }
    }
    Ok(())
}

/// Reads until EOF; more than [`MAX_BODY`] bytes is a protocol error.
fn read_to_eof(
    sock: &Socket,
    buf: &mut [u8],
    mut have: usize,
    deadline: u64,
) -> Result<usize, Outcome> {
    loop {
        let Some(room) = buf.get_mut(have..) else {
            return Err(protocol());
        };
        if room.is_empty() {
            return Err(Outcome::Protocol(
                b"the policy daemon reply is larger than 64 KiB",
            ));
        }
        match sock.recv(room, deadline) {
            Ok(0) => return Ok(have),
            Ok(n) => have += n,
            Err(e) => return Err(Outcome::Transport(e.reason())),
        }
    }
}

fn judge(class: StatusClass, status: u16, body: &[u8], answer: &mut Answer<'_, '_>) -> Outcome {
    match class {
        StatusClass::Ok => match parse_answer(body, answer) {
            Ok(true) => Outcome::Allowed,
            Ok(false) => Outcome::Refused,
            Err(_) => {
                Outcome::Protocol(b"the policy daemon reply has no single boolean \"allowed\"")
            }
        },
        StatusClass::ServerError => Outcome::ServerError(status),
        StatusClass::Auth => Outcome::Auth(status),
        StatusClass::Interim | StatusClass::Unexpected => {
            Outcome::Protocol(b"the policy daemon answered with an unexpected HTTP status")
        }
    }
}

/// Exposed so `hooks` can size its display buffer.
pub fn write_display<'a, S, I>(out: &mut S, cmd: &Command<'a, I>)
where
    S: Sink,
    I: Iterator<Item = &'a [u8]> + Clone,
{
    let mut store = [0u8; 600];
    let mut b = Buf::new(&mut store);
    cmd.write_to(&mut b);
    for &c in b.as_bytes() {
        out.put_byte(if c < 0x20 || c == 0x7f { b'?' } else { c });
    }
    if b.overflowed() {
        out.put("…".as_bytes());
    }
}
