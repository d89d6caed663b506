//! The Unix socket's accept loop, on a thread of its own.
//!
//! Nearly every request the preload library sends comes on a connection of its
//! own, from a process that was just forked and is about to `exec`: it connects,
//! sends one request, reads the answer and is gone. Served by the tokio runtime,
//! each one woke the runtime from `epoll_wait`, went through the accept task, a
//! connection task spawned for it and a second readiness wait for the request
//! that `connect` had announced before the client sent it. This thread instead
//! sleeps in a blocking `accept`, polls the new connection (non-blocking reads,
//! yielding the CPU in between) for up to the spin window while the client sends,
//! and answers a plain preflight request right there with the direct path's code
//! ([`direct::try_answer`]). Nothing on this path touches the runtime, so the
//! runtime's thread stays asleep.
//!
//! Everything else is handed to the runtime ([`Handoff`]), which serves it as
//! before: a connection silent past the window (its request may still come: the
//! runtime waits for it with the header timeout), a kept-alive connection after
//! its first answer, an answer the socket did not take whole, and anything that
//! is not a plain preflight request, with the bytes already read. The connection
//! the thread serves holds a `--max-connections` slot, as on the runtime, and
//! keeps it when handed over; when every slot is taken, the connection is handed
//! over unread, and the runtime waits for a slot or makes one.
//!
//! Shutdown: [`Stopper::stop`] raises a flag and connects to the socket, which
//! wakes the blocking `accept`; the thread sees the flag and ends. (Shutting the
//! listening socket down would wake it too, but would also break a socket that
//! systemd keeps for the next start.)

use super::auth::ConnInfo;
use super::direct::{self, Accepted};
use super::AppState;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// A connection the accept thread passes to the runtime.
#[derive(Debug)]
pub struct Handoff {
    /// The connection (non-blocking).
    pub stream: UnixStream,
    /// Its peer.
    pub info: ConnInfo,
    /// How the runtime goes on with it.
    pub then: Then,
    /// Its `--max-connections` slot, if the thread got one.
    pub permit: Option<OwnedSemaphorePermit>,
    /// Without a slot: told once the runtime has one for it (the thread
    /// accepts nobody else until then, as the runtime's accept loop did not).
    pub admitted: Option<std::sync::mpsc::Sender<()>>,
}

/// What the runtime does with a handed-off connection.
#[derive(Debug, PartialEq)]
pub enum Then {
    /// Wait for its request (nothing has been read from it).
    Wait,
    /// Its first request was answered and it stays open: wait for the next.
    Next,
    /// Serve it with the general server; these bytes were already read.
    Http(Vec<u8>),
    /// Write the rest of an answer, then close.
    Finish(Vec<u8>),
}

/// Stops an accept thread (see the module docs).
#[derive(Debug)]
pub struct Stopper {
    addr: std::os::unix::net::SocketAddr,
    stopping: Arc<AtomicBool>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl Stopper {
    /// Make the thread's `accept` return, and wait (at most `limit`) for the
    /// thread to end. It finishes the connection it is serving first.
    pub async fn stop(self, limit: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        // A connection of our own wakes the blocking `accept`. Non-blocking, so
        // a full backlog cannot hold the shutdown; a thread not woken is left to
        // end with the process.
        if let Some(path) = self.addr.as_pathname() {
            if let Ok(s) = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)
            {
                let _ = s.set_nonblocking(true);
                if let Ok(a) = socket2::SockAddr::unix(path) {
                    let _ = s.connect(&a);
                }
            }
        }
        let _ = tokio::time::timeout(limit, self.done).await;
    }
}

/// The accept thread's parts, before it starts.
#[derive(Debug)]
pub struct FastLane {
    listener: UnixListener,
    stopping: Arc<AtomicBool>,
    spin: Duration,
    slots: Arc<Semaphore>,
    done: tokio::sync::oneshot::Sender<()>,
}

impl FastLane {
    /// Take over `listener` (made blocking); `spin` is how long a new connection
    /// is polled for its request before the thread sleeps on it; `slots` are the
    /// `--max-connections` permits.
    pub fn new(
        listener: UnixListener,
        spin: Duration,
        slots: Arc<Semaphore>,
    ) -> std::io::Result<(FastLane, Stopper)> {
        listener.set_nonblocking(false)?;
        let stopping = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let stopper = Stopper {
            addr: listener.local_addr()?,
            stopping: Arc::clone(&stopping),
            done: done_rx,
        };
        Ok((
            FastLane {
                listener,
                stopping,
                spin,
                slots,
                done: done_tx,
            },
            stopper,
        ))
    }

    /// Start the thread: it accepts and answers until stopped, and hands what it
    /// does not finish to `handoff`. Call inside the runtime's context (the
    /// thread enters it too: the answer path may spawn tasks).
    pub fn spawn(
        self,
        state: Arc<AppState>,
        handoff: mpsc::UnboundedSender<Handoff>,
    ) -> std::io::Result<()> {
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("rampart-accept".into())
            .spawn(move || {
                let _entered = runtime.enter();
                self.run(&state, &handoff);
            })
            .map(drop)
    }

    fn run(self, state: &AppState, handoff: &mpsc::UnboundedSender<Handoff>) {
        let mut score = super::spin::Score::default();
        let mut answered = false;
        loop {
            // After an answer, poll for the next client for the spin window (while
            // that pays off) before sleeping in `accept`.
            if answered && !self.spin.is_zero() && score.should_spin() {
                score.record(self.linger());
            }
            let accepted = self.listener.accept();
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            let stream = match accepted {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("rampart: accept failed: {e}");
                    // Out of file descriptors and similar: back off instead of spinning.
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let info = peer(&stream);
            // Every slot taken: the runtime waits for one (or makes one, closing
            // the connection idle the longest) before anything is read.
            let (then, permit) = match Arc::clone(&self.slots).try_acquire_owned() {
                Ok(permit) => {
                    state
                        .metrics
                        .connections_open
                        .fetch_add(1, Ordering::Relaxed);
                    let served = self.serve(&stream, &info, state);
                    state
                        .metrics
                        .connections_open
                        .fetch_sub(1, Ordering::Relaxed);
                    answered = matches!(served, Served::Answered(_));
                    (served.into_then(), Some(permit))
                }
                Err(_) => {
                    answered = false;
                    (Some(Then::Wait), None)
                }
            };
            if let Some(then) = then {
                let (admitted, wait_admission) = match permit {
                    Some(_) => (None, None),
                    None => {
                        let (tx, rx) = std::sync::mpsc::channel();
                        (Some(tx), Some(rx))
                    }
                };
                let h = Handoff {
                    stream,
                    info,
                    then,
                    permit,
                    admitted,
                };
                if handoff.send(h).is_err() {
                    break;
                }
                // Clients beyond the limit wait in the listen backlog.
                if let Some(rx) = wait_admission {
                    let _ = rx.recv();
                }
            }
        }
        let _ = self.done.send(());
    }

    /// Answer the connection's first request if it comes within the spin window
    /// (polling) and then [`WAIT`] (sleeping) and is a plain preflight request. A
    /// connection still silent when another client is waiting to be accepted goes to the runtime
    /// at once, so a silent client never holds up the others.
    fn serve(&self, stream: &UnixStream, info: &ConnInfo, st: &AppState) -> Served {
        let start = Instant::now();
        loop {
            let then = match direct::try_answer(stream, info, st) {
                Accepted::Answered { keep_alive } => keep_alive.then_some(Then::Next),
                Accepted::Unsent(rest) => Some(Then::Finish(rest)),
                // End of stream before a request: nothing to serve.
                Accepted::Pass(bytes) if bytes.is_empty() && peer_closed(stream) => {
                    return Served::Other(None)
                }
                Accepted::Pass(bytes) => return Served::Other(Some(Then::Http(bytes))),
                Accepted::Waiting if self.await_request(stream, start) => continue,
                Accepted::Waiting => return Served::Other(Some(Then::Wait)),
            };
            st.metrics
                .accept_thread_answers
                .fetch_add(1, Ordering::Relaxed);
            return Served::Answered(then);
        }
    }

    /// Wait for the connection's request: poll for the spin window (counted from
    /// `start`), then sleep up to [`WAIT`]. False when it did not come, or another
    /// client is waiting to be accepted.
    fn await_request(&self, stream: &UnixStream, start: Instant) -> bool {
        loop {
            let waited = start.elapsed();
            let limit = if waited < self.spin {
                Duration::ZERO
            } else if waited < self.spin + WAIT {
                WAIT
            } else {
                return false;
            };
            match self.wait(stream, limit) {
                Ready::Request => return true,
                Ready::NextClient => return false,
                Ready::Nothing if limit.is_zero() => std::thread::yield_now(),
                Ready::Nothing => return false,
            }
        }
    }

    /// Poll the listening socket for the spin window, yielding the CPU between
    /// polls; true when a client came within it.
    fn linger(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let start = Instant::now();
        while start.elapsed() < self.spin {
            let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
            if matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) {
                return true;
            }
            std::thread::yield_now();
        }
        false
    }

    /// Wait at most `limit` (zero: just look) for `stream` to have something to
    /// read or another client to wait for `accept`.
    fn wait(&self, stream: &UnixStream, limit: Duration) -> Ready {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut fds = [
            PollFd::new(stream.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
        ];
        let timeout = PollTimeout::try_from(limit).unwrap_or(PollTimeout::ZERO);
        loop {
            match poll(&mut fds, timeout) {
                Err(nix::errno::Errno::EINTR) => continue,
                Ok(n) if n > 0 => break,
                _ => return Ready::Nothing,
            }
        }
        let has = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        if has(&fds[0]) {
            Ready::Request
        } else if has(&fds[1]) {
            Ready::NextClient
        } else {
            Ready::Nothing
        }
    }
}

/// How [`FastLane::serve`] left a connection: answered or not, and what the
/// runtime must do with it (`None`: nothing, it is closed).
enum Served {
    Answered(Option<Then>),
    Other(Option<Then>),
}

impl Served {
    fn into_then(self) -> Option<Then> {
        match self {
            Served::Answered(t) | Served::Other(t) => t,
        }
    }
}

/// What [`FastLane::wait`] saw.
enum Ready {
    /// The connection has something to read (or was closed).
    Request,
    /// Another client is waiting to be accepted.
    NextClient,
    /// Neither, within the limit.
    Nothing,
}

/// How long a connection silent past the spin window is waited for (sleeping)
/// before it is handed to the runtime, unless another client connects first.
/// The preload library sends its request right after connecting; a slower
/// client is served by the runtime instead.
pub const WAIT: Duration = Duration::from_millis(2);

/// The peer's credentials (`SO_PEERCRED`).
fn peer(stream: &UnixStream) -> ConnInfo {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let cred = getsockopt(stream, PeerCredentials).ok();
    ConnInfo::Unix {
        pid: cred.map(|c| c.pid()),
        uid: cred.map(|c| c.uid()),
        gid: cred.map(|c| c.gid()),
    }
}

/// The peer has closed its side (a read returns end of stream).
fn peer_closed(stream: &UnixStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = [0u8; 1];
    // std's `peek` is unstable for Unix sockets.
    let peeked = nix::sys::socket::recv(
        stream.as_raw_fd(),
        &mut byte,
        nix::sys::socket::MsgFlags::MSG_PEEK,
    );
    matches!(peeked, Ok(0))
}
