//! Connection streams and connection tracking.
//!
//! [`SharedStream`] is one accepted socket (Unix or TCP) behind an `Arc`: hyper
//! drives it through [`ConnIo`], and request handlers keep a second handle for
//! interim `102 Processing` heads (see [`super::interim`]) without duplicating the
//! file descriptor or re-registering it with the reactor.
//!
//! [`Tracker`] knows every open connection and what it is doing, seen from the
//! bytes that cross it:
//! - *fresh*: accepted, nothing received yet;
//! - *busy*: request bytes received, the answer not written yet;
//! - *idle*: answered, nothing received since (a kept-alive connection between
//!   requests).
//!
//! It serves two purposes:
//! - admission: when `--max-connections` slots are all taken, the accept loop asks
//!   the connection that has been fresh or idle the longest (at least
//!   [`EVICT_MIN_IDLE`]) to close, so idle kept-alive connections cannot starve a
//!   new client for hyper's 30 s header timeout. A connection whose request is
//!   in the service (being decided, or waiting for an approval) is never chosen.
//!   One that has been receiving an incomplete request for [`EVICT_MIN_STALL`]
//!   (a slow-loris client trickling header bytes) is a candidate too, or such
//!   clients could hold every slot for the header timeout. An idle victim is
//!   closed by hyper's graceful shutdown (at once: no request in progress); a
//!   stalled one is dropped, since graceful shutdown would wait for its head.
//! - graceful shutdown: every connection is asked to finish what it is doing and
//!   close (the same hyper graceful shutdown).

use std::collections::HashMap;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// A fresh or idle connection must have been so for this long before it may be
/// closed to admit a new one (a client that just connected has not had its request
/// read yet).
pub const EVICT_MIN_IDLE: Duration = Duration::from_millis(100);

/// A connection that has been receiving an incomplete request for this long may be
/// closed to admit a new one: longer than the preload's default 1 s timeout, so a
/// real client sending its request is never cut off.
pub const EVICT_MIN_STALL: Duration = Duration::from_millis(1500);

/// An accepted socket.
#[derive(Debug)]
pub enum SharedStream {
    /// Unix socket connection.
    Unix(tokio::net::UnixStream),
    /// Loopback TCP connection.
    Tcp(tokio::net::TcpStream),
}

impl SharedStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            SharedStream::Unix(s) => s.poll_read_ready(cx),
            SharedStream::Tcp(s) => s.poll_read_ready(cx),
        }
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            SharedStream::Unix(s) => s.poll_write_ready(cx),
            SharedStream::Tcp(s) => s.poll_write_ready(cx),
        }
    }

    /// Non-blocking read into the unfilled part of `buf`, advancing it. Reads into
    /// uninitialized memory: zeroing hyper's whole read buffer before every read
    /// (what `ReadBuf::initialize_unfilled` does, since each `poll_read` gets a fresh
    /// `ReadBuf`) cost more instructions than anything else a request does.
    fn try_read_buf(&self, buf: &mut ReadBuf<'_>) -> io::Result<usize> {
        match self {
            SharedStream::Unix(s) => s.try_read_buf(buf),
            SharedStream::Tcp(s) => s.try_read_buf(buf),
        }
    }

    /// Non-blocking write; `WouldBlock` when the send buffer is full.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            SharedStream::Unix(s) => s.try_write(buf),
            SharedStream::Tcp(s) => s.try_write(buf),
        }
    }

    /// Write now with a plain `send(2)`, whatever tokio last saw of the socket's
    /// readiness (its `try_write` answers `WouldBlock` from that without trying,
    /// and a connection the accept thread handed over was registered moments ago,
    /// before the runtime has polled it). For writes made outside hyper's
    /// polling: the interim head.
    pub fn send_now(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            SharedStream::Unix(s) => socket2::SockRef::from(s).send(buf),
            SharedStream::Tcp(s) => socket2::SockRef::from(s).send(buf),
        }
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            SharedStream::Unix(s) => s.try_write_vectored(bufs),
            SharedStream::Tcp(s) => s.try_write_vectored(bufs),
        }
    }

    /// `shutdown(2)` one or both directions.
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        match self {
            SharedStream::Unix(s) => socket2::SockRef::from(s).shutdown(how),
            SharedStream::Tcp(s) => socket2::SockRef::from(s).shutdown(how),
        }
    }
}

const FRESH: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

const SIGNAL_NONE: u8 = 0;
const SIGNAL_EVICT: u8 = 1;
const SIGNAL_SHUTDOWN: u8 = 2;

/// What a connection is doing (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing received yet.
    Fresh,
    /// A request is being received or handled.
    Busy,
    /// Answered; nothing received since.
    Idle,
}

/// Why a connection was asked to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Make room for a new connection.
    Evict,
    /// The daemon is shutting down.
    Shutdown,
}

/// One tracked connection.
#[derive(Debug)]
pub struct Slot {
    phase: AtomicU8,
    /// Milliseconds since the tracker's epoch when the phase last became fresh/idle.
    since_ms: AtomicU64,
    /// Requests handed to the service and not answered yet.
    in_service: AtomicU32,
    signal: AtomicU8,
    signalled: AtomicBool,
    notify: Notify,
    epoch: Instant,
}

impl Slot {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Relaxed) {
            FRESH => Phase::Fresh,
            BUSY => Phase::Busy,
            _ => Phase::Idle,
        }
    }

    /// Request bytes arrived.
    pub fn on_read(&self) {
        if self.phase.load(Relaxed) != BUSY {
            // Receiving starts now: the stall clock of an incomplete request.
            self.since_ms.store(self.now_ms(), Relaxed);
            self.phase.store(BUSY, Relaxed);
        }
    }

    /// Whether the connection is receiving a request that has not reached the
    /// service (bytes read, no request handed over and none answered yet).
    pub fn receiving(&self) -> bool {
        self.phase() == Phase::Busy && self.in_service.load(Relaxed) == 0
    }

    /// Answer bytes were written.
    pub fn on_write(&self) {
        if self.in_service.load(Relaxed) == 0 && self.phase.load(Relaxed) == BUSY {
            self.since_ms.store(self.now_ms(), Relaxed);
            self.phase.store(IDLE, Relaxed);
        }
    }

    /// A request reached the service (call [`Slot::request_done`] when it answered).
    pub fn request_started(&self) {
        self.in_service.fetch_add(1, Relaxed);
        self.phase.store(BUSY, Relaxed);
    }

    /// The service produced the answer of a request.
    pub fn request_done(&self) {
        // The stall clock restarts: the answer is being written now, and a
        // request that waited long for an approval is not a stalled one.
        self.since_ms.store(self.now_ms(), Relaxed);
        self.in_service.fetch_sub(1, Relaxed);
    }

    /// Ask the connection to close (first signal wins). Returns whether this call
    /// delivered it.
    fn send(&self, s: Signal) -> bool {
        if self.signalled.swap(true, Relaxed) {
            return false;
        }
        self.signal.store(
            match s {
                Signal::Evict => SIGNAL_EVICT,
                Signal::Shutdown => SIGNAL_SHUTDOWN,
            },
            Relaxed,
        );
        self.notify.notify_one();
        true
    }

    /// Wait until the connection is asked to close.
    pub async fn signalled(&self) -> Signal {
        loop {
            match self.signal.load(Relaxed) {
                SIGNAL_EVICT => return Signal::Evict,
                SIGNAL_SHUTDOWN => return Signal::Shutdown,
                _ => self.notify.notified().await,
            }
        }
    }
}

/// hyper's view of a connection: the shared stream, reporting traffic to its slot.
pub struct ConnIo {
    stream: Arc<SharedStream>,
    slot: Arc<Slot>,
    /// Bytes already read from the stream before hyper took it over (see
    /// [`super::direct`]) and not yet handed to hyper, which reads them first.
    prefix: Vec<u8>,
}

impl ConnIo {
    /// Wrap a stream whose first `prefix` bytes were already read from it.
    pub fn new(stream: Arc<SharedStream>, slot: Arc<Slot>, prefix: Vec<u8>) -> ConnIo {
        ConnIo {
            stream,
            slot,
            prefix,
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let this = self.get_mut();
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            // At most `direct::READ_AT_ONCE` (8 KiB), usually taken whole.
            this.prefix.drain(..n);
            this.slot.on_read();
            return Poll::Ready(Ok(()));
        }
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            match self.stream.try_read_buf(buf) {
                Ok(n) => {
                    if n > 0 {
                        self.slot.on_read();
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write(buf) {
                Ok(n) => {
                    self.slot.on_write();
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write_vectored(bufs) {
                Ok(n) => {
                    self.slot.on_write();
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.stream.shutdown(std::net::Shutdown::Write))
    }
}

/// Result of one admission attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// A connection was asked to close.
    Evicted,
    /// A connection will be old enough to close after this long.
    NotYet(Duration),
    /// Every connection has a request in flight (or is already closing).
    NoCandidate,
}

struct Inner {
    next_id: u64,
    conns: HashMap<u64, Arc<Slot>>,
    shutting_down: bool,
}

/// Every open connection (see the module docs).
pub struct Tracker {
    inner: Mutex<Inner>,
    empty: Notify,
    epoch: Instant,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            inner: Mutex::new(Inner {
                next_id: 0,
                conns: HashMap::new(),
                shutting_down: false,
            }),
            empty: Notify::new(),
            epoch: Instant::now(),
        }
    }
}

/// A connection's registration; dropping it removes the connection.
pub struct Registration {
    tracker: Arc<Tracker>,
    id: u64,
    /// The connection's slot.
    pub slot: Arc<Slot>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut g = self.tracker.lock();
        g.conns.remove(&self.id);
        if g.conns.is_empty() {
            self.tracker.empty.notify_waiters();
        }
    }
}

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Track a new connection (already asked to close if shutdown started).
    pub fn register(self: &Arc<Self>) -> Registration {
        self.register_since(Instant::now())
    }

    /// Track a connection that has had nothing to do since `since` (one the
    /// accept thread served and hands over): it is as old a candidate for
    /// eviction as it really is.
    pub fn register_since(self: &Arc<Self>, since: Instant) -> Registration {
        let since_ms = since.saturating_duration_since(self.epoch).as_millis() as u64;
        let slot = Arc::new(Slot {
            phase: AtomicU8::new(FRESH),
            since_ms: AtomicU64::new(since_ms),
            in_service: AtomicU32::new(0),
            signal: AtomicU8::new(SIGNAL_NONE),
            signalled: AtomicBool::new(false),
            notify: Notify::new(),
            epoch: self.epoch,
        });
        let mut g = self.lock();
        let id = g.next_id;
        g.next_id += 1;
        g.conns.insert(id, Arc::clone(&slot));
        if g.shutting_down {
            slot.send(Signal::Shutdown);
        }
        drop(g);
        Registration {
            tracker: Arc::clone(self),
            id,
            slot,
        }
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.lock().conns.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ask the connection that has been fresh or idle the longest, for at least
    /// `min_idle`, to close; a connection stuck receiving an incomplete request for
    /// at least [`EVICT_MIN_STALL`] is a candidate as well.
    pub fn evict_longest_idle(&self, min_idle: Duration) -> Eviction {
        let now = self.epoch.elapsed().as_millis() as u64;
        let min = min_idle.as_millis() as u64;
        let stall = EVICT_MIN_STALL.as_millis() as u64;
        let g = self.lock();
        let stalled =
            |s: &Slot| s.receiving() && now.saturating_sub(s.since_ms.load(Relaxed)) >= stall;
        let oldest = g
            .conns
            .values()
            .filter(|s| !s.signalled.load(Relaxed) && (s.phase() != Phase::Busy || stalled(s)))
            .min_by_key(|s| s.since_ms.load(Relaxed));
        match oldest {
            None => Eviction::NoCandidate,
            Some(s) => {
                let age = now.saturating_sub(s.since_ms.load(Relaxed));
                if age >= min {
                    s.send(Signal::Evict);
                    Eviction::Evicted
                } else {
                    Eviction::NotYet(Duration::from_millis(min - age))
                }
            }
        }
    }

    /// Ask every connection (and any registered later) to finish and close.
    pub fn shutdown_all(&self) {
        let mut g = self.lock();
        g.shutting_down = true;
        for s in g.conns.values() {
            s.send(Signal::Shutdown);
        }
    }

    /// Wait until every connection closed.
    pub async fn wait_empty(&self) {
        loop {
            let notified = self.empty.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_empty() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_picks_the_longest_idle_and_never_a_busy_connection() {
        let t = Arc::new(Tracker::default());
        let a = t.register();
        std::thread::sleep(Duration::from_millis(5));
        let b = t.register();
        // `a` is busy: only `b` may go, and not before it is old enough.
        a.slot.request_started();
        assert!(matches!(
            t.evict_longest_idle(Duration::from_secs(60)),
            Eviction::NotYet(_)
        ));
        assert_eq!(t.evict_longest_idle(Duration::ZERO), Eviction::Evicted);
        assert!(b.slot.signalled.load(Relaxed));
        assert!(!a.slot.signalled.load(Relaxed));
        // Already signalled connections are not chosen twice.
        assert_eq!(t.evict_longest_idle(Duration::ZERO), Eviction::NoCandidate);
        // Once answered (written with nothing in service) `a` becomes idle.
        a.slot.request_done();
        a.slot.on_write();
        assert_eq!(a.slot.phase(), Phase::Idle);
        assert_eq!(t.evict_longest_idle(Duration::ZERO), Eviction::Evicted);
        drop((a, b));
        assert!(t.is_empty());
    }

    #[test]
    fn a_connection_handed_over_idle_keeps_its_age() {
        let t = Arc::new(Tracker::default());
        std::thread::sleep(Duration::from_millis(300));
        let fresh = t.register();
        // Idle on the accept thread for 250 ms before it came here.
        let old = t.register_since(Instant::now() - Duration::from_millis(250));
        assert_eq!(
            t.evict_longest_idle(Duration::from_millis(200)),
            Eviction::Evicted
        );
        assert!(old.slot.signalled.load(Relaxed));
        assert!(!fresh.slot.signalled.load(Relaxed));
        // A time before the tracker existed counts from its start.
        let before = t
            .epoch
            .checked_sub(Duration::from_millis(100))
            .unwrap_or(t.epoch);
        let ancient = t.register_since(before);
        assert_eq!(ancient.slot.since_ms.load(Relaxed), 0);
    }

    #[test]
    fn shutdown_signals_open_and_later_connections() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let t = Arc::new(Tracker::default());
            let a = t.register();
            t.shutdown_all();
            let b = t.register();
            assert_eq!(a.slot.signalled().await, Signal::Shutdown);
            assert_eq!(b.slot.signalled().await, Signal::Shutdown);
            let waiter = {
                let t = Arc::clone(&t);
                tokio::spawn(async move { t.wait_empty().await })
            };
            drop(a);
            tokio::task::yield_now().await;
            assert!(!waiter.is_finished());
            drop(b);
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("wait_empty returns once every connection closed")
                .unwrap();
        });
    }
}
