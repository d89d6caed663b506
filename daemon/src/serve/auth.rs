//! Who is on the other end of a connection, and the admin-token check.
//!
//! Rules: over TCP every route except `/healthz` needs `Authorization: Bearer <admin
//! token>`. Over the Unix socket (0600: reaching it is the credential) reading routes
//! and preflight need no token, but anything that changes state (approval
//! resolution, reload) does.

use crate::audit::event::Peer;
use axum::http::HeaderMap;
use std::sync::RwLock;

/// Connection facts attached to every request as an extension.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnInfo {
    /// Unix socket peer credentials (SO_PEERCRED).
    Unix {
        /// Peer pid, when the kernel reports it.
        pid: Option<i32>,
        /// Peer uid.
        uid: Option<u32>,
        /// Peer gid.
        gid: Option<u32>,
    },
    /// Loopback TCP peer.
    Tcp {
        /// Peer address.
        addr: String,
    },
}

impl ConnInfo {
    /// As recorded in the audit event.
    pub fn peer(&self) -> Peer {
        match self {
            ConnInfo::Unix { pid, uid, gid } => Peer {
                transport: "unix".into(),
                pid: *pid,
                uid: *uid,
                gid: *gid,
                addr: None,
            },
            ConnInfo::Tcp { addr } => Peer {
                transport: "tcp".into(),
                addr: Some(addr.clone()),
                ..Default::default()
            },
        }
    }

    /// Peer pid (Unix only).
    pub fn pid(&self) -> Option<i32> {
        match self {
            ConnInfo::Unix { pid, .. } => *pid,
            ConnInfo::Tcp { .. } => None,
        }
    }

    /// Whether the connection is TCP (token required everywhere but /healthz).
    pub fn is_tcp(&self) -> bool {
        matches!(self, ConnInfo::Tcp { .. })
    }
}

/// The current admin token (re-read on SIGHUP).
pub struct AdminToken {
    token: RwLock<String>,
}

/// Why a credential check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that is not the admin token.
    Invalid,
}

impl AuthError {
    /// Text for the `{"error":…}` body.
    pub fn message(self) -> &'static str {
        match self {
            AuthError::Missing => "missing Authorization: Bearer token",
            AuthError::Invalid => "invalid token",
        }
    }
}

impl AdminToken {
    /// Wrap a token.
    pub fn new(token: String) -> AdminToken {
        AdminToken {
            token: RwLock::new(token),
        }
    }

    /// Replace the token.
    pub fn set(&self, token: String) {
        *self.token.write().unwrap_or_else(|e| e.into_inner()) = token;
    }

    /// Check the `Authorization: Bearer` header against the admin token.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let v = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthError::Missing)?;
        let (scheme, token) = v.trim().split_once(' ').ok_or(AuthError::Missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Missing);
        }
        let expected = self.token.read().unwrap_or_else(|e| e.into_inner());
        if crate::token::token_eq(token.trim(), &expected) {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", v.parse().unwrap());
        h
    }

    #[test]
    fn check_requires_the_exact_bearer_token() {
        let t = AdminToken::new("s3cret".into());
        assert_eq!(t.check(&HeaderMap::new()), Err(AuthError::Missing));
        assert_eq!(t.check(&headers("Basic s3cret")), Err(AuthError::Missing));
        assert_eq!(t.check(&headers("Bearer nope")), Err(AuthError::Invalid));
        assert_eq!(t.check(&headers("Bearer s3cret")), Ok(()));
        assert_eq!(t.check(&headers("bearer s3cret")), Ok(()));
        t.set("new".into());
        assert_eq!(t.check(&headers("Bearer s3cret")), Err(AuthError::Invalid));
    }
}
