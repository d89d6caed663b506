//! Signals and systemd notification.
//!
//! SIGTERM/SIGINT start a graceful shutdown: stop accepting, release approval
//! waiters, let in-flight requests finish, flush and sync the audit log, remove the
//! socket file. `sd_notify` messages go to `$NOTIFY_SOCKET` (path or `@abstract`).

use std::os::unix::net::UnixDatagram;

/// SIGTERM and SIGINT, caught from [`Signals::install`] on: installed before the
/// daemon serves anything, so a signal that comes right after the first answer
/// (or right after `READY=1`) still gets the graceful shutdown, not the default
/// action that would end the process before the audit log is synced.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Catch SIGTERM and SIGINT from now on (inside the runtime).
    pub fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolve when one of them arrives (or has arrived since `install`).
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Send a state line (`READY=1`, `STOPPING=1`, …) to systemd if it is listening.
/// Returns whether a message was sent.
pub fn sd_notify(state: &str) -> bool {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty()) else {
        return false;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    let bytes = target.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        match std::os::unix::net::SocketAddr::from_abstract_name(name) {
            Ok(addr) => sock.send_to_addr(state.as_bytes(), &addr).is_ok(),
            Err(_) => false,
        }
    } else {
        sock.send_to(state.as_bytes(), std::path::Path::new(&target))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd_notify_sends_ready_to_a_path_socket() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("notify");
        let rx = UnixDatagram::bind(&p).unwrap();
        // Set only in this test's process; other tests do not read NOTIFY_SOCKET.
        let sent = {
            std::env::set_var("NOTIFY_SOCKET", &p);
            let r = sd_notify("READY=1");
            std::env::remove_var("NOTIFY_SOCKET");
            r
        };
        assert!(sent);
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
