//! Interim `102 Processing` responses for requests held for a human (`ask` with
//! `wait:true`).
//!
//! hyper offers no server API for 1xx responses, but while a request is being
//! handled hyper writes nothing to the connection, so the handler may write the
//! interim head itself through a second handle on the socket ([`super::conn::SharedStream`]). The
//! preload client treats a 1xx head as "the daemon is alive and waiting" and switches
//! to its long deadline; standard HTTP/1.1 clients skip 1xx responses.

use super::conn::SharedStream;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The interim head.
pub const PROCESSING: &[u8] = b"HTTP/1.1 102 Processing\r\n\r\n";

/// A second handle on a connection's socket, attached to each request.
#[derive(Clone)]
pub struct Interim(Arc<SharedStream>);

impl Interim {
    /// A handle on the connection's shared stream (no descriptor is duplicated).
    pub fn new(stream: Arc<SharedStream>) -> Interim {
        Interim(stream)
    }

    /// Write `102 Processing`. The socket is non-blocking (shared with tokio), so
    /// a full send buffer is retried briefly; a head is written whole or the
    /// connection is shut down (never left half-written).
    pub fn processing(&self) -> bool {
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut rest = PROCESSING;
        while !rest.is_empty() {
            match self.0.send_now(rest) {
                Ok(0) => return false,
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => {
                    if rest.len() != PROCESSING.len() {
                        let _ = self.0.shutdown(std::net::Shutdown::Both);
                    }
                    return false;
                }
            }
        }
        true
    }
}
