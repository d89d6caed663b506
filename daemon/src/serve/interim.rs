//! Interim `102 Processing` responses for requests held for a human (`ask` with
//! `wait:true`).
//!
//! hyper offers no server API for 1xx responses, but while a request is being
//! handled hyper writes nothing to the connection, so the handler may write the
//! interim head itself through a duplicate of the socket's file descriptor. The
//! preload client treats a 1xx head as "the daemon is alive and waiting" and switches
//! to its long deadline; standard HTTP/1.1 clients skip 1xx responses.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The interim head.
pub const PROCESSING: &[u8] = b"HTTP/1.1 102 Processing\r\n\r\n";

enum Sock {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
}

/// A second handle on a connection's socket, attached to each request.
#[derive(Clone)]
pub struct Interim(Arc<Sock>);

impl Interim {
    /// Split a tokio Unix stream into itself and a duplicate handle.
    pub fn unix(
        s: tokio::net::UnixStream,
    ) -> io::Result<(tokio::net::UnixStream, Option<Interim>)> {
        let std = s.into_std()?;
        let dup = std
            .try_clone()
            .ok()
            .map(|d| Interim(Arc::new(Sock::Unix(d))));
        Ok((tokio::net::UnixStream::from_std(std)?, dup))
    }

    /// Split a tokio TCP stream into itself and a duplicate handle.
    pub fn tcp(s: tokio::net::TcpStream) -> io::Result<(tokio::net::TcpStream, Option<Interim>)> {
        let std = s.into_std()?;
        let dup = std
            .try_clone()
            .ok()
            .map(|d| Interim(Arc::new(Sock::Tcp(d))));
        Ok((tokio::net::TcpStream::from_std(std)?, dup))
    }

    /// Write `102 Processing`. The descriptor is non-blocking (shared with tokio), so
    /// a full send buffer is retried briefly; a head is written whole or the
    /// connection is shut down (never left half-written).
    pub fn processing(&self) -> bool {
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut rest = PROCESSING;
        while !rest.is_empty() {
            let r = match &*self.0 {
                Sock::Unix(s) => (&*s).write(rest),
                Sock::Tcp(s) => (&*s).write(rest),
            };
            match r {
                Ok(0) => return false,
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => {
                    if rest.len() != PROCESSING.len() {
                        self.shutdown();
                    }
                    return false;
                }
            }
        }
        true
    }

    fn shutdown(&self) {
        let _ = match &*self.0 {
            Sock::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            Sock::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}
