//! The datagram lane: preflight requests as Unix datagrams, next to the
//! stream socket.
//!
//! A process that was just forked and is about to `exec` asks one question and
//! is gone. On the stream socket that costs the daemon two wake-ups: `connect`
//! wakes the accept thread, which then waits (polling, see [`super::fast_lane`])
//! for the request the client writes after connecting, and then accepts, reads
//! the peer's credentials and the request, answers and closes: five system
//! calls, more while it polls. On this lane the client sends the
//! whole request as one datagram to `<socket>.dgram`, and this thread, asleep in
//! `recvmsg`, wakes once, with the request and the sender's credentials
//! (`SCM_CREDENTIALS`) in hand, and answers with one datagram.
//!
//! Where the answer goes: the preload library attaches one end of a socket
//! pair (`SCM_RIGHTS`) and keeps the other; the answer is sent on the attached
//! end, which is then closed. That reaches a client in another network
//! namespace (Codex runs commands in one), whose abstract addresses this
//! daemon cannot see. The attached socket must be a Unix socket whose peer has
//! no address (an end of a pair), so that a client cannot make the daemon
//! write to a service it is connected to (a syslog socket, say) under the
//! daemon's credentials; anything else is closed unanswered, and a datagram
//! without such a socket is not answered at all (not even at the sender's own
//! address: one way back, the one that works across namespaces).
//!
//! The bytes are the stream socket's: an HTTP/1.1 `POST /v1/preflight/{tool}`
//! with a `Content-Length` body, answered by the same code as the direct path
//! ([`direct::answer_with`]), with the answer shortened to fit
//! [`MAX_ANSWER`] if it would not. Whatever that path does not answer (a
//! request that is not plain, one the route would refuse, an `ask` that must
//! wait for a human, a datagram too long for [`MAX_REQUEST`]) gets
//! [`MISDIRECTED`] before anything is decided or audited, and the client asks
//! again on the stream socket. Not started under `--fsync always` (no request
//! would be answered here), nor with `--no-datagram`.
//!
//! Shutdown: [`Stopper::stop`] raises a flag and sends an empty datagram, which
//! wakes the thread; it sees the flag and ends.

use super::auth::ConnInfo;
use super::cost_probe;
use super::direct;
use super::phases::{self, Phase};
use super::AppState;
use anyhow::Context;
use nix::sys::socket::{self, sockopt, ControlMessageOwned, MsgFlags, UnixAddr};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest request taken: the preload library sends a request as a
/// datagram only when it fits in 2 KiB; anything longer (which `recvmsg`
/// reports truncated) is misdirected.
pub const MAX_REQUEST: usize = 8 * 1024;

/// The longest answer sent: the preload library reads the answer into a 3 KiB
/// buffer.
pub const MAX_ANSWER: usize = 3 * 1024;

/// The answer to anything this lane does not decide: ask on the stream socket.
pub const MISDIRECTED: &[u8] =
    b"HTTP/1.1 421 Misdirected Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Where the datagram socket of a stream socket at `stream` lives.
pub fn path_for(stream: &Path) -> PathBuf {
    let mut p = stream.as_os_str().to_owned();
    p.push(".dgram");
    PathBuf::from(p)
}

/// The bound datagram socket, before its thread starts.
pub struct DatagramLane {
    socket: UnixDatagram,
    path: PathBuf,
    /// We bound it (and remove its file at the end); not when systemd passed it.
    owned: bool,
    /// Answer plain requests; when false (`--no-datagram` or `--fsync always`
    /// with a socket systemd passed anyway), everything is misdirected, so
    /// that no client waits for an answer that never comes.
    decides: bool,
}

/// Stops the lane's thread and removes its socket file (if we bound it).
pub struct Stopper {
    stop: Arc<AtomicBool>,
    path: PathBuf,
    owned: bool,
    thread: std::thread::JoinHandle<()>,
}

impl DatagramLane {
    /// Bind the datagram socket next to the stream socket at `stream`, with
    /// the stream socket's permissions. Called once the stream socket is
    /// bound, so a socket file left at the path by a daemon that died is ours
    /// to replace.
    pub fn bind(stream: &Path) -> anyhow::Result<DatagramLane> {
        let path = path_for(stream);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
                std::fs::remove_file(&path)
                    .with_context(|| format!("remove stale socket {}", path.display()))?;
            }
            Ok(_) => anyhow::bail!(
                "{}: exists and is not a socket; refusing to replace it",
                path.display()
            ),
            Err(_) => {}
        }
        let socket =
            UnixDatagram::bind(&path).with_context(|| format!("bind {}", path.display()))?;
        let lane = DatagramLane {
            socket,
            path,
            owned: true,
            decides: true,
        };
        let meta =
            std::fs::metadata(stream).with_context(|| format!("stat {}", stream.display()))?;
        let mode = meta.permissions().mode() & 0o777;
        std::fs::set_permissions(&lane.path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", lane.path.display()))?;
        std::os::unix::fs::chown(
            &lane.path,
            None,
            Some(std::os::unix::fs::MetadataExt::gid(&meta)),
        )
        .with_context(|| format!("chgrp {}", lane.path.display()))?;
        socket::setsockopt(&lane.socket, sockopt::PassCred, &true).context("SO_PASSCRED")?;
        Ok(lane)
    }

    /// Serve a datagram socket that systemd passed (`ListenDatagram=`); it
    /// must be bound to a path, which wakes the thread at shutdown.
    /// `decides`: see [`DatagramLane::decides`](DatagramLane).
    pub fn adopt(socket: UnixDatagram, decides: bool) -> anyhow::Result<DatagramLane> {
        let path = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(Path::to_path_buf))
            .context("the passed datagram socket is not bound to a path")?;
        socket::setsockopt(&socket, sockopt::PassCred, &true).context("SO_PASSCRED")?;
        Ok(DatagramLane {
            socket,
            path,
            owned: false,
            decides,
        })
    }

    /// Where the socket is bound.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Start the thread: it answers until stopped.
    pub fn spawn(self, state: Arc<AppState>) -> anyhow::Result<Stopper> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (path, owned) = (self.path.clone(), self.owned);
        let thread = std::thread::Builder::new()
            .name("rampart-dgram".into())
            .spawn(move || self.run(&state, &flag))
            .context("datagram thread")?;
        Ok(Stopper {
            stop,
            path,
            owned,
            thread,
        })
    }

    fn run(self, st: &AppState, stop: &AtomicBool) {
        let fd = self.socket.as_raw_fd();
        let mut buf = vec![0u8; MAX_REQUEST];
        // Room for the most descriptors one message can carry (SCM_MAX_FD), so
        // that the kernel never cuts the control data (nix would not list it,
        // and the descriptors it did install would leak).
        let mut control = nix::cmsg_space!(nix::sys::socket::UnixCredentials, [RawFd; SCM_MAX_FD]);
        loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let got =
                socket::recvmsg::<()>(fd, &mut iov, Some(&mut control), MsgFlags::MSG_CMSG_CLOEXEC);
            if stop.load(Ordering::Acquire) {
                return;
            }
            phases::mark(Phase::Accepted);
            let msg = match got {
                Ok(m) => m,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    eprintln!("rampart: datagram socket: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            let started = Instant::now();
            let (len, truncated) = (msg.bytes, msg.flags.contains(MsgFlags::MSG_TRUNC));
            let (conn, attached) = ancillary(&msg);
            // Nowhere to answer: nothing is decided.
            let Some(end) = attached else {
                continue;
            };
            let end = Answerable(end);
            let request = buf.get(..len).unwrap_or_default();
            if len == 0 {
                continue;
            }
            phases::mark(Phase::Read);
            let reply = |answer: &[u8]| end.send(answer);
            if cost_probe::skipped() == cost_probe::Part::Everything {
                reply(cost_probe::CANNED);
                continue;
            }
            let answered = self.decides
                && !truncated
                && direct::answer_with(request, &conn, st, started, Some(MAX_ANSWER), |a, _| {
                    reply(&a)
                })
                .is_some();
            if answered {
                st.metrics.datagram_answers.fetch_add(1, Ordering::Relaxed);
                phases::finish();
            } else {
                reply(MISDIRECTED);
            }
        }
    }
}

/// The most descriptors one message can carry (Linux's `SCM_MAX_FD`).
const SCM_MAX_FD: usize = 253;

/// The attached end of the client's socket pair, closed when dropped.
struct Answerable(RawFd);

impl Answerable {
    /// Send `answer` (one datagram). The client's queue holds at most this
    /// answer: never wait on it.
    fn send(&self, answer: &[u8]) {
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        let _ = socket::send(self.0, answer, flags);
    }
}

impl Drop for Answerable {
    fn drop(&mut self) {
        let _ = nix::unistd::close(self.0);
    }
}

/// The sender's credentials, and the end of a socket pair it attached to
/// answer on: the first descriptor, when it is a Unix socket whose peer has no
/// address; every other descriptor is closed.
fn ancillary(msg: &socket::RecvMsg<'_, '_, ()>) -> (ConnInfo, Option<RawFd>) {
    let mut cred = None;
    let mut attached = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::ScmCredentials(c) => cred = Some(c),
                ControlMessageOwned::ScmRights(fds) => {
                    for fd in fds {
                        if attached.is_none() && answerable(fd) {
                            attached = Some(fd);
                        } else {
                            let _ = nix::unistd::close(fd);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let conn = ConnInfo::Unix {
        pid: cred.map(|c| c.pid()),
        uid: cred.map(|c| c.uid()),
        gid: cred.map(|c| c.gid()),
    };
    (conn, attached)
}

/// `fd` is a Unix socket connected to a peer without an address: an end of a
/// socket pair, whose other end only the client holds. (An address without
/// a path or name is only its family; nix's accessors must not see a shorter
/// one.)
fn answerable(fd: RawFd) -> bool {
    use nix::sys::socket::SockaddrLike;
    socket::getpeername::<UnixAddr>(fd).is_ok_and(|a| {
        a.len() as usize <= std::mem::size_of::<nix::libc::sa_family_t>()
            || (a.path().is_none() && a.as_abstract().is_none())
    })
}

impl Stopper {
    /// Stop the thread (waiting at most `limit` for it) and remove the socket.
    pub async fn stop(self, limit: Duration) {
        self.stop.store(true, Ordering::Release);
        if let Ok(s) = UnixDatagram::unbound() {
            let _ = s.send_to(&[], &self.path);
        }
        let start = Instant::now();
        while !self.thread.is_finished() && start.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if self.owned {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
