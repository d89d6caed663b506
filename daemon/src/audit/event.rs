//! The audit event (one JSON line) and its timestamp format.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Schema tag written on every event.
pub const SCHEMA_VERSION: &str = "rampart.audit.v1";

/// The machine that wrote an event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Host {
    /// Host name, or `unknown`.
    pub hostname: String,
    /// OS name in Go's spelling (`linux`).
    pub os: String,
    /// Architecture in Go's spelling (`amd64`, `arm64`).
    pub arch: String,
}

impl Host {
    /// This machine.
    pub fn current() -> Host {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into());
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            other => other,
        };
        Host {
            hostname,
            os: std::env::consts::OS.into(),
            arch: arch.into(),
        }
    }
}

/// The process on the other end of the connection that asked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Peer {
    /// Transport: `unix` or `tcp`.
    pub transport: String,
    /// Peer process id (SO_PEERCRED), Unix socket only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Peer user id, Unix socket only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Peer group id, Unix socket only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// Peer address, TCP only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
}

/// The decision part of an event.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventDecision {
    /// `allow`, `deny`, `ask`, `watch`, `webhook`.
    pub action: String,
    /// Policies whose rule fired.
    #[serde(default, skip_serializing_if = "no_names")]
    pub matched_policies: engine::NameList,
    /// Engine time in microseconds.
    pub evaluation_time_us: u64,
    /// Rule message (secrets scrubbed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Deciding policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Deciding rule (`{index, summary}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Value>,
    /// The component the deciding rule matched (scrubbed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_component: Option<String>,
    /// Normalized executed components (scrubbed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Whether the decision was enforced (`enforce:true` and server mode enforce).
    #[serde(default)]
    pub enforced: bool,
    /// Server mode at decision time.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    /// The original decision when monitor mode rewrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_decision: Option<String>,
    /// Approval this event created or resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
}

/// What a caller hands to the writer; the writer adds id, timestamp, host and hashes.
#[derive(Debug, Clone, Default)]
pub struct EventBody {
    /// `None` for decisions; `approval_resolved`, `audit_truncated`, … otherwise.
    pub kind: Option<String>,
    /// Agent name.
    pub agent: String,
    /// Session name.
    pub session: String,
    /// Tool name.
    pub tool: String,
    /// Request fields (already redacted by the caller via [`super::redact`]).
    pub request: Map<String, Value>,
    /// Who asked.
    pub peer: Option<Peer>,
    /// What was decided.
    pub decision: EventDecision,
}

/// One line of the audit log, in the field order written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// [`SCHEMA_VERSION`].
    pub schema_version: String,
    /// ULID.
    pub id: String,
    /// RFC 3339 with nanoseconds, trailing zeros trimmed, `Z`.
    pub timestamp: String,
    /// Event kind; absent for decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Agent.
    pub agent: String,
    /// Session.
    pub session: String,
    /// Writer's host.
    pub host: Host,
    /// Tool.
    pub tool: String,
    /// Request (redacted).
    pub request: Map<String, Value>,
    /// Who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Peer>,
    /// Decision.
    pub decision: EventDecision,
    /// Previous event's hash (`""` for the first event).
    pub prev_hash: String,
    /// This event's hash; always the last key.
    pub hash: String,
}

/// RFC 3339 UTC with nanoseconds, trailing zeros trimmed (Go's `RFC3339Nano`).
pub fn rfc3339_nano(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let nanos = d.subsec_nanos();
    let (y, m, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut s = format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// `YYYY-MM-DD` (UTC) of a time.
pub fn utc_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `skip_serializing_if` for a name list (shared with the decision, not copied).
fn no_names(names: &engine::NameList) -> bool {
    names.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_nano_trims_trailing_zeros_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20.12Z");
        let t = UNIX_EPOCH + Duration::new(951_782_400, 0);
        assert_eq!(rfc3339_nano(t), "2000-02-29T00:00:00Z");
        assert_eq!(utc_date(t), "2000-02-29");
    }
}
