//! The Unix socket's accept loop, on a thread of its own.
//!
//! Nearly every request the preload library sends comes on a connection of its
//! own, from a process that was just forked and is about to `exec`: it connects,
//! sends one request, reads the answer and is gone. The rest comes from processes
//! that spawn from themselves (`posix_spawn`: `make`, Rust's `Command`, so Codex)
//! on their one kept-alive connection. Served by the tokio runtime, each fresh
//! connection woke the runtime from `epoll_wait`, went through the accept task, a
//! connection task spawned for it and a second readiness wait for the request
//! that `connect` had announced before the client sent it. This thread instead
//! sleeps in `accept` (in `poll` on the listening socket and the kept-alive
//! connections it serves, while it has any), accepts, polls a new connection for its request (yielding the CPU in
//! between) for up to the spin window while the client sends, and answers a plain
//! preflight request right there with the direct path's code
//! ([`direct::try_answer`]). Nothing on this path touches the runtime, so the
//! runtime's thread stays asleep. After an answer it keeps polling for the spin
//! window, while such windows catch the next request.
//!
//! Everything else is handed to the runtime ([`Handoff`]), which serves it as
//! before: a connection silent past the window (its request may still come: the
//! runtime waits for it with the header timeout), a kept-alive connection idle
//! for [`KEPT_IDLE`] or beyond the first [`KEPT_MAX`], an answer the socket did
//! not take whole, and anything that is not a plain preflight request, with the
//! bytes already read. A connection the thread serves holds a `--max-connections`
//! slot, as on the runtime, and keeps it when handed over. When every slot is
//! taken, the new connection goes over unread together with the kept-alive ones
//! (the runtime closes the connection idle the longest to make room, and sees
//! only those it serves), and the thread accepts nobody until the runtime has
//! admitted it, so further clients wait in the listen backlog as before.
//!
//! Shutdown: [`Stopper::stop`] raises a flag and connects to the socket, which
//! wakes the thread; it sees the flag, closes its kept-alive connections (none
//! has a request in progress: the thread answers as it reads) and ends.
//! (Shutting the listening socket down would wake it too, but would also break a
//! socket that systemd keeps for the next start.)

use super::auth::ConnInfo;
use super::direct::{self, Accepted};
use super::phases::{self, Phase};
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
    /// Its `--max-connections` slot.
    pub slot: Admission,
    /// A kept-alive connection: idle since then.
    pub idle_since: Option<Instant>,
}

/// A handed-off connection's `--max-connections` slot.
#[derive(Debug)]
pub enum Admission {
    /// The thread took it.
    Held(OwnedSemaphorePermit),
    /// Every slot was taken: the runtime waits for one (or makes one) and then
    /// says so here; the thread accepts nobody else until then, as the runtime's
    /// own accept loop did not.
    Wanted(std::sync::mpsc::Sender<()>),
}

/// What the runtime does with a handed-off connection.
#[derive(Debug, PartialEq)]
pub enum Then {
    /// Wait for its request (nothing has been read from it).
    Wait,
    /// Answered, and the client keeps it open: wait for its next request.
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
        let mut lane = Running {
            lane: &self,
            state,
            handoff,
            kept: Vec::new(),
            score: super::spin::Score::default(),
        };
        lane.run();
        drop(lane);
        let _ = self.done.send(());
    }
}

/// A kept-alive connection the thread serves between requests.
struct Kept {
    stream: UnixStream,
    info: ConnInfo,
    permit: OwnedSemaphorePermit,
    idle_since: Instant,
}

/// The thread's state while it runs.
struct Running<'a> {
    lane: &'a FastLane,
    state: &'a AppState,
    handoff: &'a mpsc::UnboundedSender<Handoff>,
    kept: Vec<Kept>,
    score: super::spin::Score,
}

/// What [`Running::poll`] found ready.
#[derive(Default)]
struct Ready {
    /// The connection being waited on has something to read (or was closed).
    conn: bool,
    /// A client waits to be accepted.
    listener: bool,
    /// Kept-alive connections with a request (or closed), by index.
    kept: Vec<usize>,
}

impl Ready {
    fn any(&self) -> bool {
        self.conn || self.listener || !self.kept.is_empty()
    }
}

impl Running<'_> {
    fn run(&mut self) {
        loop {
            let ready = self.wait_for_work();
            if self.lane.stopping.load(Ordering::SeqCst) {
                return;
            }
            let mut answered = false;
            // Highest index first: serving may remove the entry.
            for &i in ready.kept.iter().rev() {
                answered |= self.serve_kept(i);
            }
            if ready.listener {
                match self.accept() {
                    Flow::Go(a) => answered |= a,
                    Flow::Stop => return,
                }
            }
            // After an answer, poll for the next request for the spin window (while
            // that pays off) before sleeping.
            if answered && !self.lane.spin.is_zero() && self.score.should_spin() {
                let hit = self.linger();
                self.score.record(hit);
            }
        }
    }

    /// Sleep until a client connects or a kept-alive connection has something;
    /// kept-alive connections idle for [`KEPT_IDLE`] go to the runtime meanwhile.
    /// With none kept, the sleeping is left to `accept`.
    fn wait_for_work(&mut self) -> Ready {
        loop {
            if self.kept.is_empty() {
                // Nothing else to watch: sleep in `accept` itself, one system
                // call fewer per connection than `poll` and then `accept`.
                return Ready {
                    listener: true,
                    ..Ready::default()
                };
            }
            let now = Instant::now();
            let mut i = 0;
            while i < self.kept.len() {
                if now.duration_since(self.kept[i].idle_since) >= KEPT_IDLE {
                    let k = self.kept.swap_remove(i);
                    self.hand_over_kept(k, Then::Next);
                } else {
                    i += 1;
                }
            }
            let limit = self
                .kept
                .iter()
                .map(|k| KEPT_IDLE.saturating_sub(now.duration_since(k.idle_since)))
                .min();
            let ready = self.poll(None, limit.map(|d| d.max(Duration::from_millis(1))));
            if ready.any() {
                return ready;
            }
        }
    }

    /// Accept one client (waiting for one if none is there) and serve it.
    /// `Go(answered)`, or `Stop` when stopping or the runtime has gone.
    fn accept(&mut self) -> Flow {
        let stream = match self.lane.listener.accept() {
            Ok((s, _)) => {
                phases::mark(Phase::Accepted);
                s
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                ) =>
            {
                return Flow::Go(false)
            }
            Err(e) => {
                eprintln!("rampart: accept failed: {e}");
                // Out of file descriptors and similar: back off instead of spinning.
                std::thread::sleep(Duration::from_millis(50));
                return Flow::Go(false);
            }
        };
        if self.lane.stopping.load(Ordering::SeqCst) {
            return Flow::Stop;
        }
        let info = peer(&stream);
        let Ok(permit) = Arc::clone(&self.lane.slots).try_acquire_owned() else {
            // Every slot taken: the runtime waits for one, or makes one by closing
            // the connection idle the longest, which it can only see among those it
            // serves: it gets the kept-alive ones too.
            for k in std::mem::take(&mut self.kept) {
                self.hand_over_kept(k, Then::Next);
            }
            let (tx, rx) = std::sync::mpsc::channel();
            let h = Handoff {
                stream,
                info,
                then: Then::Wait,
                slot: Admission::Wanted(tx),
                idle_since: None,
            };
            if self.handoff.send(h).is_err() {
                return Flow::Stop;
            }
            // Clients beyond the limit wait in the listen backlog.
            let _ = rx.recv();
            return Flow::Go(false);
        };
        let st = self.state;
        st.metrics.connections_open.fetch_add(1, Ordering::Relaxed);
        phases::mark(Phase::Admitted);
        let out = self.serve(&stream, &info);
        phases::finish();
        match out.then {
            None => {
                st.metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
            }
            Some(Then::Next) if self.kept.len() < KEPT_MAX => self.kept.push(Kept {
                stream,
                info,
                permit,
                idle_since: Instant::now(),
            }),
            Some(then) => {
                st.metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
                let h = Handoff {
                    stream,
                    info,
                    then,
                    slot: Admission::Held(permit),
                    idle_since: None,
                };
                if self.handoff.send(h).is_err() {
                    return Flow::Stop;
                }
            }
        }
        Flow::Go(out.answered)
    }

    /// Serve what kept-alive connection `i` sent; true when it was answered.
    fn serve_kept(&mut self, i: usize) -> bool {
        let Some(k) = self.kept.get(i) else {
            return false;
        };
        let Some(out) = self.outcome(
            direct::try_answer(&k.stream, &k.info, self.state),
            &k.stream,
        ) else {
            return false;
        };
        match out.then {
            Some(Then::Next) => self.kept[i].idle_since = Instant::now(),
            None => {
                self.kept.swap_remove(i);
                self.state
                    .metrics
                    .connections_open
                    .fetch_sub(1, Ordering::Relaxed);
            }
            Some(then) => {
                let k = self.kept.swap_remove(i);
                self.hand_over_kept(k, then);
            }
        }
        out.answered
    }

    /// Give a kept-alive connection to the runtime, with its slot.
    fn hand_over_kept(&self, k: Kept, then: Then) {
        self.state
            .metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
        let _ = self.handoff.send(Handoff {
            stream: k.stream,
            info: k.info,
            then,
            slot: Admission::Held(k.permit),
            idle_since: Some(k.idle_since),
        });
    }

    /// Answer a new connection's first request if it comes within the spin
    /// window (polling) and then [`WAIT`] (sleeping) and is a plain preflight
    /// request. A connection still silent when another client is waiting to be
    /// accepted, or a kept-alive connection has a request, goes to the runtime at
    /// once, so a silent client never holds up the others.
    fn serve(&self, stream: &UnixStream, info: &ConnInfo) -> Outcome {
        let start = Instant::now();
        loop {
            if let Some(out) = self.outcome(direct::try_answer(stream, info, self.state), stream) {
                return out;
            }
            if !self.await_request(stream, start) {
                return Outcome {
                    answered: false,
                    then: Some(Then::Wait),
                };
            }
        }
    }

    /// What one [`direct::try_answer`] on `stream` leaves to do (`None`: nothing
    /// had arrived), counting the thread's answers.
    fn outcome(&self, accepted: Accepted, stream: &UnixStream) -> Option<Outcome> {
        let (answered, then) = match accepted {
            Accepted::Waiting => return None,
            Accepted::Answered { keep_alive } => (true, keep_alive.then_some(Then::Next)),
            Accepted::Unsent(rest) => (true, Some(Then::Finish(rest))),
            // End of stream before a request: nothing to serve.
            Accepted::Pass(bytes) if bytes.is_empty() && peer_closed(stream) => (false, None),
            Accepted::Pass(bytes) => (false, Some(Then::Http(bytes))),
        };
        if answered {
            self.state
                .metrics
                .accept_thread_answers
                .fetch_add(1, Ordering::Relaxed);
        }
        Some(Outcome { answered, then })
    }

    /// Wait for the connection's request: poll for the spin window (counted from
    /// `start`), then sleep up to [`WAIT`]. False when it did not come, or
    /// something else wants the thread.
    fn await_request(&self, stream: &UnixStream, start: Instant) -> bool {
        let spin = self.lane.spin;
        loop {
            let waited = start.elapsed();
            let limit = if waited < spin {
                Duration::ZERO
            } else if waited < spin + WAIT {
                WAIT
            } else {
                return false;
            };
            let ready = self.poll(Some(stream), Some(limit));
            if ready.conn {
                return true;
            }
            if ready.any() || !limit.is_zero() {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// Poll everything for the spin window, yielding the CPU between polls; true
    /// when something came within it.
    fn linger(&self) -> bool {
        let start = Instant::now();
        while start.elapsed() < self.lane.spin {
            if self.poll(None, Some(Duration::ZERO)).any() {
                return true;
            }
            std::thread::yield_now();
        }
        false
    }

    /// Poll `conn` (if given), the listener and the kept-alive connections, for
    /// at most `limit` (`None`: no limit).
    fn poll(&self, conn: Option<&UnixStream>, limit: Option<Duration>) -> Ready {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(self.kept.len() + 2);
        fds.push(PollFd::new(self.lane.listener.as_fd(), PollFlags::POLLIN));
        fds.extend(
            self.kept
                .iter()
                .map(|k| PollFd::new(k.stream.as_fd(), PollFlags::POLLIN)),
        );
        if let Some(c) = conn {
            fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
        }
        let timeout = match limit {
            None => PollTimeout::NONE,
            Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
        };
        loop {
            match poll(&mut fds, timeout) {
                Err(nix::errno::Errno::EINTR) => continue,
                Ok(n) if n > 0 => break,
                _ => return Ready::default(),
            }
        }
        let has = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
        let kept_end = 1 + self.kept.len();
        Ready {
            listener: has(&fds[0]),
            kept: (1..kept_end)
                .filter(|&i| has(&fds[i]))
                .map(|i| i - 1)
                .collect(),
            conn: conn.is_some() && fds.get(kept_end).is_some_and(has),
        }
    }
}

/// Whether the thread goes on.
enum Flow {
    /// Go on; whether a request was answered.
    Go(bool),
    /// The runtime is gone: stop.
    Stop,
}

/// At most this many kept-alive connections are served by the thread; more go
/// to the runtime.
const KEPT_MAX: usize = 64;

/// A kept-alive connection idle this long goes to the runtime, which can close
/// it to admit a new client at `--max-connections` (it only considers
/// connections idle at least [`super::conn::EVICT_MIN_IDLE`], the same time).
const KEPT_IDLE: Duration = super::conn::EVICT_MIN_IDLE;

/// How a connection was left after the thread read from it.
struct Outcome {
    /// A request was answered.
    answered: bool,
    /// What comes next: `Then::Next` keeps it open for its next request, `None`
    /// closes it, anything else goes to the runtime.
    then: Option<Then>,
}

/// How long a connection silent past the spin window is waited for (sleeping)
/// before it is handed to the runtime, unless another client connects first.
/// The preload library sends its request right after connecting; a slower
/// client is served by the runtime instead.
const WAIT: Duration = Duration::from_millis(2);

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
        nix::sys::socket::MsgFlags::MSG_PEEK | nix::sys::socket::MsgFlags::MSG_DONTWAIT,
    );
    matches!(peeked, Ok(0))
}
