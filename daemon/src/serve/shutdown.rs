//! Signals and systemd notification.
//!
//! SIGTERM/SIGINT start a graceful shutdown: stop accepting, release approval
//! waiters, let in-flight requests finish, flush and sync the audit log, remove the
//! socket file. `sd_notify` messages go to `$NOTIFY_SOCKET` (path or `@abstract`).

use std::os::unix::net::UnixDatagram;

/// Resolve when SIGTERM or SIGINT arrives.
pub async fn wait_for_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
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
