//! Sockets: non-blocking connect with a deadline, `send` with
//! `MSG_NOSIGNAL`, `recv` with `poll`, EINTR retried until the deadline, the
//! per-process kept-alive connection, and a `mmap`ed buffer for large
//! replies. One of the FFI modules allowed to use `unsafe`.
//!
//! Cached connection rules: only the process that loaded the library (see
//! `real::State::load_pid`) may take or store it, and only one thread at a
//! time (an atomic busy flag, never waited on: a busy slot means "open a
//! one-shot connection"). Before reuse, `fstat` must still show the same
//! socket inode, since programs close and reuse descriptor numbers. A fork
//! or vfork child has another pid and never touches the slot.

use core::cell::Cell;
use core::ffi::c_int;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use crate::buf::Sink;
use crate::config::Transport;
use crate::sys;

/// Why the daemon could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// The socket file does not exist.
    Missing,
    /// Nobody listens.
    Refused,
    /// The deadline passed.
    Timeout,
    /// The peer closed or reset the connection.
    Closed,
    /// Any other socket error.
    Io,
    /// The datagram lane did not take the request (too long for one
    /// datagram, no lane, its queue full): ask on the stream socket.
    Misdirected,
}

impl NetError {
    /// A one-line description.
    pub fn reason(self) -> &'static [u8] {
        match self {
            NetError::Missing => b"the policy daemon socket does not exist",
            NetError::Refused => b"the policy daemon refused the connection",
            NetError::Timeout => b"the policy daemon did not answer in time",
            NetError::Closed => b"the policy daemon closed the connection",
            NetError::Io => b"talking to the policy daemon failed",
            NetError::Misdirected => b"the datagram lane did not take the request",
        }
    }
}

/// The datagram lane's path: the stream socket's with this appended.
#[cfg(target_os = "linux")]
const LANE_SUFFIX: &[u8] = b".dgram";

/// Control data carrying one descriptor (`SCM_RIGHTS`): the header, the
/// descriptor, and the padding to `CMSG_SPACE(sizeof(int))`.
#[cfg(target_os = "linux")]
#[repr(C)]
struct OneFd {
    head: libc::cmsghdr,
    fd: c_int,
    _pad: c_int,
}

/// A Unix socket address for `path` followed by `suffix`; `None` when it does
/// not fit (with its NUL).
fn unix_address(path: &[u8], suffix: &[u8]) -> Option<libc::sockaddr_un> {
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut sa: libc::sockaddr_un = unsafe { core::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if path.len() + suffix.len() >= sa.sun_path.len() {
        return None;
    }
    for (d, s) in sa.sun_path.iter_mut().zip(path.iter().chain(suffix)) {
        *d = *s as libc::c_char;
    }
    Some(sa)
}

/// Microseconds on the monotonic clock.
fn now_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    sys::monotonic(&mut ts);
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000)
        .saturating_add((ts.tv_nsec as u64) / 1_000)
}

/// Milliseconds on the monotonic clock.
pub fn now_ms() -> u64 {
    now_us() / 1000
}

/// How long [`Socket::recv`] polls before it sleeps (`RAMPART_SPIN_US`), set
/// once at load.
static SPIN_US: AtomicU64 = AtomicU64::new(crate::config::DEFAULT_SPIN_US);

/// Sets the spin budget of [`Socket::recv`] (from the configuration at load).
pub fn set_spin_us(us: u64) {
    SPIN_US.store(us, Ordering::Relaxed);
}

/// Polls `fd` for input without sleeping for up to the spin budget, yielding
/// the CPU between checks (the daemon may be waiting for this very CPU).
/// Returns when input arrived or the budget ran out. Waking a process that sleeps in `poll` costs tens
/// of microseconds on a virtual machine, often more than the daemon needs to
/// answer, so a short poll before sleeping shortens every round trip.
fn spin_until_readable(fd: c_int) {
    let budget = SPIN_US.load(Ordering::Relaxed);
    if budget == 0 {
        return;
    }
    let start = now_us();
    loop {
        sys::sched_yield();
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        if sys::poll_one(&mut p, 0) > 0 || now_us().saturating_sub(start) >= budget {
            return;
        }
    }
}

/// A connected socket (non-blocking, close-on-exec): a stream, or one end of
/// a datagram socket pair for the daemon's datagram lane (see
/// [`Socket::datagram`]).
pub struct Socket {
    fd: c_int,
    datagram: bool,
    /// The pair's other end, until it goes to the daemon with the request
    /// (-1 for a stream, and once sent).
    pair: Cell<c_int>,
}

fn poll_fd(fd: c_int, events: i16, deadline: u64) -> Result<(), NetError> {
    loop {
        let now = now_ms();
        if now >= deadline {
            return Err(NetError::Timeout);
        }
        let wait = c_int::try_from(deadline - now).unwrap_or(c_int::MAX);
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let r = sys::poll_one(&mut p, wait);
        if r > 0 {
            return Ok(());
        }
        if r < 0 && r != -libc::EINTR {
            return Err(NetError::Io);
        }
    }
}

/// The errno of a failed byte count (`sys` returns `-errno`).
fn failure(n: isize) -> c_int {
    c_int::try_from(n.unsigned_abs()).unwrap_or(0)
}

fn close_fd(fd: c_int) {
    // Closing a descriptor we own; errors are irrelevant here.
    sys::close(fd);
}

/// A non-blocking, close-on-exec stream socket (or `-errno`).
#[cfg(not(target_os = "macos"))]
fn open_stream_socket(family: c_int) -> c_int {
    sys::socket(
        family,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
        0,
    )
}

/// A non-blocking, close-on-exec stream socket (or `-errno`). macOS has no
/// `SOCK_CLOEXEC`/`SOCK_NONBLOCK` nor `MSG_NOSIGNAL`: the flags are set with
/// `fcntl` and SIGPIPE is suppressed per socket with `SO_NOSIGPIPE`.
#[cfg(target_os = "macos")]
fn open_stream_socket(family: c_int) -> c_int {
    let fd = sys::socket(family, libc::SOCK_STREAM, 0);
    if fd < 0 {
        return fd;
    }
    let one: c_int = 1;
    // SAFETY: `fd` is our new socket; the option buffer is one valid int.
    let ok = unsafe {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0
            && libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) == 0
            && sys::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_NOSIGPIPE,
                (&one as *const c_int).cast(),
                core::mem::size_of::<c_int>() as libc::socklen_t,
            ) == 0
    };
    if !ok {
        close_fd(fd);
        return -1;
    }
    fd
}

/// `send` flags: no SIGPIPE on a closed peer (macOS: `SO_NOSIGPIPE` instead).
#[cfg(not(target_os = "macos"))]
const SEND_FLAGS: c_int = libc::MSG_NOSIGNAL;
#[cfg(target_os = "macos")]
const SEND_FLAGS: c_int = 0;

impl Socket {
    /// Connects to the daemon before `deadline`.
    pub fn connect(transport: &Transport, deadline: u64) -> Result<Socket, NetError> {
        match transport {
            Transport::Unix(path) => {
                let sa = unix_address(path.as_bytes(), b"").ok_or(NetError::Io)?;
                let len = core::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
                Self::connect_raw(
                    libc::AF_UNIX,
                    (&sa as *const libc::sockaddr_un).cast(),
                    len,
                    deadline,
                )
            }
            Transport::Tcp { addr, port, .. } => {
                // SAFETY: all-zero is a valid sockaddr_in.
                let mut sa: libc::sockaddr_in = unsafe { core::mem::zeroed() };
                sa.sin_family = libc::AF_INET as libc::sa_family_t;
                sa.sin_port = port.to_be();
                sa.sin_addr = libc::in_addr {
                    s_addr: u32::from_ne_bytes(*addr),
                };
                let len = core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                let s = Self::connect_raw(
                    libc::AF_INET,
                    (&sa as *const libc::sockaddr_in).cast(),
                    len,
                    deadline,
                )?;
                let one: c_int = 1;
                // SAFETY: valid fd and option buffer; failure is harmless.
                unsafe {
                    sys::setsockopt(
                        s.fd,
                        libc::IPPROTO_TCP,
                        libc::TCP_NODELAY,
                        (&one as *const c_int).cast(),
                        core::mem::size_of::<c_int>() as libc::socklen_t,
                    )
                };
                Ok(s)
            }
            Transport::Unset | Transport::Invalid(_) => Err(NetError::Missing),
        }
    }

    fn connect_raw(
        family: c_int,
        sa: *const libc::sockaddr,
        len: libc::socklen_t,
        deadline: u64,
    ) -> Result<Socket, NetError> {
        let fd = open_stream_socket(family);
        if fd < 0 {
            return Err(NetError::Io);
        }
        let sock = Socket {
            fd,
            datagram: false,
            pair: Cell::new(-1),
        };
        loop {
            // SAFETY: `sa` points to a sockaddr of `len` bytes owned by the caller.
            let r = unsafe { sys::connect(fd, sa, len) };
            if r == 0 {
                return Ok(sock);
            }
            match -r {
                libc::EINTR => continue,
                libc::EINPROGRESS | libc::EAGAIN => break,
                e => {
                    sock.close();
                    return Err(match e {
                        libc::ENOENT | libc::ENOTDIR => NetError::Missing,
                        libc::ECONNREFUSED => NetError::Refused,
                        _ => NetError::Io,
                    });
                }
            }
        }
        if let Err(e) = poll_fd(fd, libc::POLLOUT, deadline) {
            sock.close();
            return Err(e);
        }
        let mut err: c_int = 0;
        let mut len = core::mem::size_of::<c_int>() as libc::socklen_t;
        // SAFETY: valid fd and out-buffers of the right size.
        let r = unsafe {
            sys::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut c_int).cast(),
                &mut len,
            )
        };
        if r != 0 || err != 0 {
            sock.close();
            return Err(if err == libc::ECONNREFUSED {
                NetError::Refused
            } else {
                NetError::Io
            });
        }
        Ok(sock)
    }

    /// A datagram socket pair for the daemon's datagram lane, the socket
    /// `<path>.dgram` next to the stream socket at `path` (Linux). The request
    /// goes to the lane as one datagram from this end, with the other end
    /// attached (`SCM_RIGHTS`, [`SocketSink`]); the daemon answers on
    /// it, so the answer arrives here as one datagram, from the only socket
    /// that can send to an unnamed end of a pair. This wakes the daemon once
    /// per question instead of twice (at `connect` and again for the request),
    /// and, unlike an answer sent to an address, reaches a client in another
    /// network namespace (whose abstract addresses the daemon cannot see).
    /// `None` when there is no lane (an older daemon, the original's,
    /// `--no-datagram`; one `access` finds out, so that an absent daemon
    /// costs no pair and no gathering of facts) or the stream socket's path
    /// is too long for the suffix: ask on the stream socket.
    #[cfg(target_os = "linux")]
    pub fn datagram(transport: &Transport) -> Option<Socket> {
        let Transport::Unix(path) = transport else {
            return None;
        };
        let lane = unix_address(path.as_bytes(), LANE_SUFFIX)?;
        // SAFETY: `sun_path` is NUL-terminated (`unix_address` leaves room).
        if unsafe { sys::access(lane.sun_path.as_ptr(), libc::F_OK) } != 0 {
            return None;
        }
        let mut fds: [c_int; 2] = [-1, -1];
        let ty = libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
        if sys::socketpair(libc::AF_UNIX, ty, &mut fds) != 0 {
            return None;
        }
        let [fd, other] = fds;
        Some(Socket {
            fd,
            datagram: true,
            pair: Cell::new(other),
        })
    }

    /// Sends `data` as one datagram to the lane of `transport`'s stream
    /// socket, with the pair's other end attached, which is then closed here
    /// (the daemon holds it until it answers). No lane there: the same socket
    /// `connect`s to the stream socket's path, which a datagram socket cannot
    /// do to a listening stream socket (`EPROTOTYPE`: ask there,
    /// [`NetError::Misdirected`]); `ENOENT` or `ECONNREFUSED` mean no daemon
    /// listens at all, found with one system call more than the stream
    /// socket's own failed `connect`. A full lane (a daemon that does not read)
    /// is misdirected too.
    #[cfg(target_os = "linux")]
    fn send_datagram(&self, data: &[u8], transport: &Transport) -> Result<(), NetError> {
        let Transport::Unix(path) = transport else {
            return Err(NetError::Misdirected);
        };
        let Some(mut lane) = unix_address(path.as_bytes(), LANE_SUFFIX) else {
            return Err(NetError::Misdirected);
        };
        let mut control = OneFd {
            // SAFETY: all-zero is a valid cmsghdr (padding fields on some libcs).
            head: unsafe { core::mem::zeroed() },
            fd: self.pair.get(),
            _pad: 0,
        };
        control.head.cmsg_len = (core::mem::size_of::<libc::cmsghdr>() + 4) as _;
        control.head.cmsg_level = libc::SOL_SOCKET;
        control.head.cmsg_type = libc::SCM_RIGHTS;
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut core::ffi::c_void,
            iov_len: data.len(),
        };
        // SAFETY: all-zero is a valid msghdr (padding fields on some libcs).
        let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
        msg.msg_name = (&mut lane as *mut libc::sockaddr_un).cast();
        msg.msg_namelen = core::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = (&mut control as *mut OneFd).cast();
        msg.msg_controllen = core::mem::size_of::<OneFd>() as _;
        let sent = loop {
            // SAFETY: `msg` points to `lane`, `iov` (over `data`) and
            // `control`, all alive and of the lengths it gives.
            let r = unsafe { sys::sendmsg(self.fd, &msg, SEND_FLAGS) };
            if r != -(libc::EINTR as isize) {
                break r;
            }
        };
        if sent >= 0 {
            close_fd(self.pair.replace(-1));
            return Ok(());
        }
        match failure(sent) {
            libc::ENOENT | libc::ENOTDIR | libc::ECONNREFUSED => {}
            _ => return Err(NetError::Misdirected),
        }
        let Some(stream) = unix_address(path.as_bytes(), b"") else {
            return Err(NetError::Misdirected);
        };
        let len = core::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        // SAFETY: `stream` is a complete sockaddr_un of `len` bytes.
        let probe =
            unsafe { sys::connect(self.fd, (&stream as *const libc::sockaddr_un).cast(), len) };
        Err(match -probe {
            libc::ENOENT | libc::ENOTDIR => NetError::Missing,
            libc::ECONNREFUSED => NetError::Refused,
            _ => NetError::Misdirected,
        })
    }

    /// Whether this is a datagram socket (see [`Socket::datagram`]).
    pub fn is_datagram(&self) -> bool {
        self.datagram
    }

    /// Sends all of `data` before `deadline` (a stream socket).
    pub fn send_all(&self, data: &[u8], deadline: u64) -> Result<(), NetError> {
        let mut rest = data;
        while !rest.is_empty() {
            // SAFETY: `rest` is a valid readable slice; SEND_FLAGS avoids SIGPIPE.
            let n = unsafe { sys::send(self.fd, rest.as_ptr().cast(), rest.len(), SEND_FLAGS) };
            match usize::try_from(n) {
                Ok(n) => rest = rest.get(n..).unwrap_or(&[]),
                Err(_) => match failure(n) {
                    libc::EINTR => {}
                    libc::EAGAIN => poll_fd(self.fd, libc::POLLOUT, deadline)?,
                    libc::EPIPE | libc::ECONNRESET => return Err(NetError::Closed),
                    _ => return Err(NetError::Io),
                },
            }
        }
        Ok(())
    }

    /// Receives some bytes before `deadline`; `Ok(0)` is end of stream.
    pub fn recv(&self, buf: &mut [u8], deadline: u64) -> Result<usize, NetError> {
        let mut spun = false;
        loop {
            // A datagram longer than `buf` would lose its tail: MSG_TRUNC
            // makes `recv` report its whole length, so it is caught.
            let flags = if self.datagram { libc::MSG_TRUNC } else { 0 };
            // SAFETY: `buf` is a valid writable slice.
            let n = unsafe { sys::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
            match usize::try_from(n) {
                Ok(n) if n > buf.len() => return Err(NetError::Io),
                Ok(n) => return Ok(n),
                Err(_) => match failure(n) {
                    libc::EINTR => {}
                    libc::EAGAIN if !spun => {
                        // Then read again: the answer arrived, or the budget
                        // ran out and the next EAGAIN sleeps in `poll`.
                        spun = true;
                        spin_until_readable(self.fd);
                    }
                    libc::EAGAIN => poll_fd(self.fd, libc::POLLIN, deadline)?,
                    libc::ECONNRESET => return Err(NetError::Closed),
                    _ => return Err(NetError::Io),
                },
            }
        }
    }

    /// macOS has no `SIOCOUTQ`: always `None`, so the long `ask` deadline
    /// is never taken from this test there (see the Linux version).
    #[cfg(target_os = "macos")]
    pub fn unread_outgoing(&self) -> Option<usize> {
        None
    }

    /// Bytes we sent that the peer has not read yet (`SIOCOUTQ`). On a Unix
    /// socket this tells a daemon that is working on our request (it read
    /// it) from one that is stopped or wedged before reading. On TCP the
    /// kernel's own buffering makes it meaningless, so callers only use it
    /// for Unix sockets.
    #[cfg(not(target_os = "macos"))]
    pub fn unread_outgoing(&self) -> Option<usize> {
        let mut n: c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int through the pointer.
        let r = unsafe { sys::ioctl_int(self.fd, libc::TIOCOUTQ, &mut n) };
        if r == 0 {
            usize::try_from(n).ok()
        } else {
            None
        }
    }

    /// Closes the socket (and a pair's other end if it was not sent).
    pub fn close(self) {
        close_fd(self.fd);
        let pair = self.pair.get();
        if pair >= 0 {
            close_fd(pair);
        }
    }

    fn identity(fd: c_int) -> Option<(u64, u64)> {
        // SAFETY: all-zero is a valid `struct stat`.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        // SAFETY: fstat on any integer is safe; `st` is a valid out-pointer.
        if unsafe { sys::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            return None;
        }
        Some(crate::cstr::file_id(&st))
    }
}

#[cfg_attr(target_os = "linux", link_section = ".data")]
static CACHE_BUSY: AtomicBool = AtomicBool::new(false);
static CACHE_FD: AtomicI32 = AtomicI32::new(-1);
#[cfg_attr(target_os = "linux", link_section = ".data")]
static CACHE_DEV: AtomicU64 = AtomicU64::new(0);
#[cfg_attr(target_os = "linux", link_section = ".data")]
static CACHE_INO: AtomicU64 = AtomicU64::new(0);

/// A claim on the cached-connection slot; give it back with [`Lease::store`]
/// or [`Lease::release`].
pub struct Lease(());

impl Lease {
    /// Claims the slot (caller checked it is the owning process); `None` if
    /// another thread holds it.
    pub fn acquire() -> Option<Lease> {
        CACHE_BUSY
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Lease(()))
    }

    /// Takes the cached socket if it is still ours.
    pub fn take(&mut self) -> Option<Socket> {
        let fd = CACHE_FD.swap(-1, Ordering::AcqRel);
        if fd < 0 {
            return None;
        }
        let want = (
            CACHE_DEV.load(Ordering::Acquire),
            CACHE_INO.load(Ordering::Acquire),
        );
        // A different inode means the program closed our fd and reused the
        // number: forget it without closing someone else's file.
        (Socket::identity(fd) == Some(want)).then_some(Socket {
            fd,
            datagram: false,
            pair: Cell::new(-1),
        })
    }

    /// Stores `sock` for the next call and frees the slot.
    pub fn store(self, sock: Socket) {
        match Socket::identity(sock.fd) {
            Some((dev, ino)) => {
                CACHE_DEV.store(dev, Ordering::Release);
                CACHE_INO.store(ino, Ordering::Release);
                CACHE_FD.store(sock.fd, Ordering::Release);
            }
            None => sock.close(),
        }
        self.release();
    }

    /// Frees the slot.
    pub fn release(self) {
        CACHE_BUSY.store(false, Ordering::Release);
    }
}

/// Bytes a [`SocketSink`] buffers between sends: a usual request (head and
/// body, ~0.5 KiB) goes out in one. Under a page, so the sender's frame is
/// not probed page by page, and never zero-filled: only what is written is
/// touched (a forked child faults in each stack page the hook reaches).
const SINK_BUF: usize = 2048;

/// Buffers writes and streams them to a socket (a datagram socket: sends them
/// as one datagram, or not at all).
pub struct SocketSink<'s> {
    sock: &'s Socket,
    /// Where a datagram goes (the lane is Linux only).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    transport: &'s Transport,
    /// The first `len` bytes are initialised.
    buf: [MaybeUninit<u8>; SINK_BUF],
    len: usize,
    deadline: u64,
    /// First error seen; later writes are dropped.
    pub error: Option<NetError>,
}

impl<'s> SocketSink<'s> {
    /// A sink sending to `sock` (connected to `transport`) before `deadline`.
    pub fn new(sock: &'s Socket, transport: &'s Transport, deadline: u64) -> Self {
        SocketSink {
            sock,
            transport,
            buf: [MaybeUninit::uninit(); SINK_BUF],
            len: 0,
            deadline,
            error: None,
        }
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) -> Result<(), NetError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let len = self.len.min(SINK_BUF);
        // SAFETY: the first `len` bytes of `buf` were written by `put`.
        let data = unsafe { core::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), len) };
        let r = self.send(data);
        self.len = 0;
        if let Err(e) = r {
            self.error = Some(e);
        }
        r
    }
}

impl SocketSink<'_> {
    /// One send of `data`: a datagram to the lane (see [`Socket::datagram`]),
    /// else a stream write.
    fn send(&self, data: &[u8]) -> Result<(), NetError> {
        #[cfg(target_os = "linux")]
        if self.sock.datagram {
            return self.sock.send_datagram(data, self.transport);
        }
        self.sock.send_all(data, self.deadline)
    }
}

impl Sink for SocketSink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() && self.error.is_none() {
            let room = self.buf.len().saturating_sub(self.len);
            if room == 0 && self.sock.datagram {
                // A datagram goes out whole or not at all.
                self.error = Some(NetError::Misdirected);
                return;
            }
            if room == 0 {
                let _ = self.flush();
                continue;
            }
            let n = room.min(rest.len());
            let end = self.len + n;
            if let (Some(d), Some(s)) = (self.buf.get_mut(self.len..end), rest.get(..n)) {
                for (slot, b) in d.iter_mut().zip(s) {
                    *slot = MaybeUninit::new(*b);
                }
            }
            self.len = end;
            rest = rest.get(n..).unwrap_or(&[]);
        }
    }
}

/// An anonymous private mapping, unmapped on drop. Used only for replies
/// larger than the stack buffer (never kept across calls, so nothing leaks
/// into a vfork parent).
pub struct Mapped {
    ptr: *mut u8,
    len: usize,
}

impl Mapped {
    /// Maps `len` zeroed bytes.
    pub fn new(len: usize) -> Option<Mapped> {
        let p = sys::mmap_anon(
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        );
        if p == libc::MAP_FAILED {
            return None;
        }
        Some(Mapped { ptr: p.cast(), len })
    }

    /// The mapped bytes.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` maps `len` writable bytes owned by `self`.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Mapped {
    /// The mapping viewed as pointer slots (all null initially).
    pub fn as_ptr_slots(&mut self) -> &mut [MaybeUninit<*const core::ffi::c_char>] {
        let n = self.len / core::mem::size_of::<*const core::ffi::c_char>();
        // SAFETY: the mapping is page-aligned, zero-filled (null pointers) and
        // holds `n` pointer-sized slots owned by `self`.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.cast(), n) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region `new` mapped.
        unsafe { sys::munmap(self.ptr.cast(), self.len) };
    }
}
