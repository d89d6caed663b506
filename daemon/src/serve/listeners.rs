//! Listening sockets: the Unix socket (default), loopback TCP (optional), and
//! sockets passed by systemd socket activation (`LISTEN_FDS`/`LISTEN_PID`).

use anyhow::{bail, Context};
use std::fs;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A bound listener.
pub enum Bound {
    /// Unix socket; `owned` is the path to remove on shutdown (None when systemd
    /// owns it).
    Unix {
        /// Listener (non-blocking).
        listener: std::os::unix::net::UnixListener,
        /// Path we created.
        owned: Option<PathBuf>,
        /// Shown in logs.
        label: String,
    },
    /// A Unix datagram socket passed by systemd (`ListenDatagram=`): the
    /// datagram lane (serve::datagram), which systemd owns.
    Datagram {
        /// The socket (blocking).
        socket: std::os::unix::net::UnixDatagram,
        /// Shown in logs.
        label: String,
    },
    /// Loopback TCP.
    Tcp {
        /// Listener (non-blocking).
        listener: std::net::TcpListener,
        /// Shown in logs.
        label: String,
    },
}

impl Bound {
    /// Human label.
    pub fn label(&self) -> &str {
        match self {
            Bound::Unix { label, .. }
            | Bound::Datagram { label, .. }
            | Bound::Tcp { label, .. } => label,
        }
    }
}

/// Take listeners handed over by systemd. Must run before any thread is started
/// (it clears `LISTEN_FDS`/`LISTEN_PID` from the environment).
pub fn from_systemd() -> anyhow::Result<Vec<Bound>> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut out = Vec::new();
    for i in 0..fds.len() {
        if let Ok(Some(l)) = fds.take_unix_listener(i) {
            l.set_nonblocking(true)?;
            let label = activated_label(l.local_addr(), i);
            out.push(Bound::Unix {
                listener: l,
                owned: None,
                label: format!("unix:{label} (socket activation)"),
            });
        } else if let Ok(Some(socket)) = fds.take_unix_datagram(i) {
            socket.set_nonblocking(false)?;
            let label = activated_label(socket.local_addr(), i);
            out.push(Bound::Datagram {
                socket,
                label: format!("datagram lane unix:{label} (socket activation)"),
            });
        } else if let Ok(Some(l)) = fds.take_tcp_listener(i) {
            let addr = l.local_addr()?;
            if !addr.ip().is_loopback() {
                bail!("socket activation passed non-loopback TCP address {addr}; refusing");
            }
            l.set_nonblocking(true)?;
            out.push(Bound::Tcp {
                listener: l,
                label: format!("tcp:{addr} (socket activation)"),
            });
        } else {
            bail!(
                "LISTEN_FDS: fd {} is neither a Unix socket (stream listener or datagram) nor a TCP listener",
                i + 3
            );
        }
    }
    Ok(out)
}

/// How the `i`th socket passed by systemd shows in logs: its path, or its
/// descriptor number.
fn activated_label(addr: io::Result<std::os::unix::net::SocketAddr>, i: usize) -> String {
    addr.ok()
        .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
        .unwrap_or_else(|| format!("fd {}", i + 3))
}

/// Bind the Unix socket: a stale socket file (connection refused) is replaced, a live
/// one refused. Mode 0600, or 0660 with a group.
pub fn bind_unix(path: &Path, group: Option<u32>) -> anyhow::Result<Bound> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => bail!(
                "{}: another rampart daemon is already listening there (stop it, or pass --socket)",
                path.display()
            ),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                fs::remove_file(path)
                    .with_context(|| format!("remove stale socket {}", path.display()))?;
                eprintln!("rampart: replaced stale socket {}", path.display());
            }
            Err(e) => bail!("{}: exists and cannot be probed: {e}", path.display()),
        },
        Ok(_) => bail!(
            "{}: exists and is not a socket; refusing to replace it",
            path.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("inspect {}", path.display())),
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("bind {}", path.display()))?;
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid))
            .with_context(|| format!("chgrp {gid} {}", path.display()))?;
    }
    listener.set_nonblocking(true)?;
    Ok(Bound::Unix {
        listener,
        owned: Some(path.to_path_buf()),
        label: format!("unix:{}", path.display()),
    })
}

/// Parse a `--listen` address and refuse anything that is not loopback.
pub fn loopback_addr(spec: &str) -> anyhow::Result<SocketAddr> {
    let addr: SocketAddr = match spec.parse() {
        Ok(a) => a,
        Err(_) => {
            let (host, _) = spec
                .rsplit_once(':')
                .with_context(|| format!("--listen {spec}: expected HOST:PORT"))?;
            if host != "localhost" {
                bail!("--listen {spec}: only loopback addresses are allowed (127.0.0.1, ::1, localhost)");
            }
            spec.to_socket_addrs()
                .with_context(|| format!("--listen {spec}"))?
                .find(|a| a.ip().is_loopback())
                .with_context(|| {
                    format!("--listen {spec}: localhost does not resolve to loopback")
                })?
        }
    };
    if !addr.ip().is_loopback() {
        bail!("--listen {spec}: non-loopback address refused; the daemon only serves this machine");
    }
    Ok(addr)
}

/// Bind loopback TCP.
pub fn bind_tcp(spec: &str) -> anyhow::Result<Bound> {
    let addr = loopback_addr(spec)?;
    let l = std::net::TcpListener::bind(addr).with_context(|| format!("bind {addr}"))?;
    l.set_nonblocking(true)?;
    let actual = l.local_addr()?;
    Ok(Bound::Tcp {
        listener: l,
        label: format!("tcp:{actual}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addr_refuses_non_loopback() {
        assert!(loopback_addr("127.0.0.1:9090").is_ok());
        assert!(loopback_addr("[::1]:9090").is_ok());
        assert!(loopback_addr("0.0.0.0:9090").is_err());
        assert!(loopback_addr("192.168.1.2:80").is_err());
        assert!(loopback_addr("example.com:80").is_err());
    }

    #[test]
    fn bind_unix_replaces_stale_and_refuses_live_sockets() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.sock");
        let first = bind_unix(&p, None).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let err = bind_unix(&p, None).err().unwrap().to_string();
        assert!(err.contains("already listening"), "{err}");
        drop(first);
        bind_unix(&p, None).unwrap();
        let f = d.path().join("plain");
        fs::write(&f, "x").unwrap();
        assert!(bind_unix(&f, None).is_err());
    }
}
