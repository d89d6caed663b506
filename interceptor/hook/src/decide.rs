//! From "what happened when we asked" to "may the call proceed".
//!
//! | outcome | enforce | monitor | disabled |
//! |---|---|---|---|
//! | `allowed: true` | allow | allow | (not asked) |
//! | `allowed: false` (deny, ask, webhook) | deny | allow | — |
//! | transport error, timeout, 5xx | allow + warning if fail-open, else deny | allow | — |
//! | 401/403 | deny | allow | — |
//! | malformed/oversized reply, other status | deny | allow | — |
//! | local failure (bad URL, bad token, env too large) | deny | allow | — |
//!
//! Safe code only.

use crate::config::Mode;

/// The result of one policy round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The daemon said `allowed: true`.
    Allowed,
    /// The daemon said `allowed: false`.
    Refused,
    /// Could not reach the daemon or it did not answer in time.
    Transport(&'static [u8]),
    /// The daemon answered 5xx.
    ServerError(u16),
    /// The daemon refused our credentials.
    Auth(u16),
    /// The answer was unusable.
    Protocol(&'static [u8]),
    /// We could not even ask (configuration, oversized request).
    Local(&'static [u8]),
}

/// What the hook does with the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Run it.
    Allow,
    /// Run it, but the daemon could not be asked (warn once per process).
    AllowFailOpen,
    /// Refuse it.
    Deny,
}

/// Applies the table in the module docs.
pub fn decide(mode: Mode, fail_open: bool, outcome: Outcome) -> Verdict {
    match mode {
        Mode::Disabled => return Verdict::Allow,
        Mode::Monitor => {
            return match outcome {
                Outcome::Transport(_) | Outcome::ServerError(_) => Verdict::AllowFailOpen,
                _ => Verdict::Allow,
            }
        }
        Mode::Enforce => {}
    }
    match outcome {
        Outcome::Allowed => Verdict::Allow,
        Outcome::Refused => Verdict::Deny,
        Outcome::Transport(_) | Outcome::ServerError(_) => {
            if fail_open {
                Verdict::AllowFailOpen
            } else {
                Verdict::Deny
            }
        }
        Outcome::Auth(_) | Outcome::Protocol(_) | Outcome::Local(_) => Verdict::Deny,
    }
}

/// A one-line reason for a denial that did not come from the daemon.
pub fn failure_reason(outcome: Outcome) -> &'static [u8] {
    match outcome {
        Outcome::Allowed | Outcome::Refused => b"",
        Outcome::Transport(r) => r,
        Outcome::ServerError(_) => {
            b"the policy daemon failed (HTTP 5xx) and RAMPART_FAIL_OPEN is off"
        }
        Outcome::Auth(_) => b"the policy daemon rejected our credentials",
        Outcome::Protocol(r) => r,
        Outcome::Local(r) => r,
    }
}
