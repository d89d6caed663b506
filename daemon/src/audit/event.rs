//! The audit event (one JSON line) and its timestamp format.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
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
    pub transport: Cow<'static, str>,
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
    pub action: Cow<'static, str>,
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
    #[serde(default, skip_serializing_if = "str::is_empty")]
    pub mode: Cow<'static, str>,
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

/// An event borrowed for encoding: the keys of [`Event`], in its order, with the
/// same omissions, so that both encode to the same bytes (tested). The writer
/// encodes this instead of building an [`Event`], which would copy the host, the
/// id and the previous hash for every line.
#[derive(Serialize)]
pub struct EventRef<'a> {
    /// See [`Event::schema_version`].
    pub schema_version: &'a str,
    /// See [`Event::id`].
    pub id: &'a str,
    /// See [`Event::timestamp`].
    pub timestamp: &'a str,
    /// See [`Event::kind`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'a str>,
    /// See [`Event::agent`].
    pub agent: &'a str,
    /// See [`Event::session`].
    pub session: &'a str,
    /// See [`Event::host`].
    pub host: &'a Host,
    /// See [`Event::tool`].
    pub tool: &'a str,
    /// See [`Event::request`].
    pub request: &'a Map<String, Value>,
    /// See [`Event::peer`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<&'a Peer>,
    /// See [`Event::decision`].
    pub decision: &'a EventDecision,
    /// See [`Event::prev_hash`].
    pub prev_hash: &'a str,
    /// See [`Event::hash`].
    pub hash: &'a str,
}

impl EventRef<'_> {
    /// An owned copy.
    pub fn to_event(&self) -> Event {
        Event {
            schema_version: self.schema_version.to_owned(),
            id: self.id.to_owned(),
            timestamp: self.timestamp.to_owned(),
            kind: self.kind.map(str::to_owned),
            agent: self.agent.to_owned(),
            session: self.session.to_owned(),
            host: self.host.clone(),
            tool: self.tool.to_owned(),
            request: self.request.clone(),
            peer: self.peer.cloned(),
            decision: self.decision.clone(),
            prev_hash: self.prev_hash.to_owned(),
            hash: self.hash.to_owned(),
        }
    }
}

#[cfg(test)]
impl Event {
    /// This event, borrowed.
    pub fn borrowed(&self) -> EventRef<'_> {
        EventRef {
            schema_version: &self.schema_version,
            id: &self.id,
            timestamp: &self.timestamp,
            kind: self.kind.as_deref(),
            agent: &self.agent,
            session: &self.session,
            host: &self.host,
            tool: &self.tool,
            request: &self.request,
            peer: self.peer.as_ref(),
            decision: &self.decision,
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }
}

/// A short ASCII text built on the stack (timestamps, dates). 40 bytes hold the
/// longest timestamp a `SystemTime` can give (a 12-digit year: 38 bytes).
#[derive(Clone, Copy)]
pub struct Stamp {
    bytes: [u8; 40],
    len: usize,
}

impl Stamp {
    fn new() -> Stamp {
        Stamp {
            bytes: [0; 40],
            len: 0,
        }
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    /// `v` in decimal, zero-padded to `width` digits (written from the last
    /// digit back, straight into place).
    fn push_num(&mut self, v: u64, width: usize) {
        let mut digits = 1;
        let mut x = v / 10;
        while x > 0 {
            digits += 1;
            x /= 10;
        }
        let end = self.len + digits.max(width);
        let Some(slots) = self.bytes.get_mut(self.len..end) else {
            return;
        };
        let mut x = v;
        for slot in slots.iter_mut().rev() {
            *slot = b'0' + (x % 10) as u8;
            x /= 10;
        }
        self.len = end;
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are pushed.
        std::str::from_utf8(self.bytes.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }

    /// `YYYY-MM-DD` of `days` (not negative) since 1970-01-01; years past 9999
    /// take more digits, as `format!("{y:04}")` does.
    fn date(days: i64) -> Stamp {
        let (y, m, d) = civil_from_days(days);
        let mut s = Stamp::new();
        s.push_num(y.max(0) as u64, 4);
        s.push(b'-');
        s.push_num(u64::from(m), 2);
        s.push(b'-');
        s.push_num(u64::from(d), 2);
        s
    }
}

/// RFC 3339 UTC with nanoseconds, trailing zeros trimmed (Go's `RFC3339Nano`),
/// on the stack. Times before 1970 read as 1970-01-01T00:00:00Z.
pub fn rfc3339_nano_stamp(t: SystemTime) -> Stamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let mut s = Stamp::date(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u64;
    s.push(b'T');
    s.push_num(sod / 3600, 2);
    s.push(b':');
    s.push_num((sod / 60) % 60, 2);
    s.push(b':');
    s.push_num(sod % 60, 2);
    let mut nanos = d.subsec_nanos();
    if nanos > 0 {
        s.push(b'.');
        let mut digits = 9;
        while nanos % 10 == 0 {
            nanos /= 10;
            digits -= 1;
        }
        s.push_num(u64::from(nanos), digits);
    }
    s.push(b'Z');
    s
}

/// RFC 3339 UTC with nanoseconds, trailing zeros trimmed (Go's `RFC3339Nano`).
pub fn rfc3339_nano(t: SystemTime) -> String {
    rfc3339_nano_stamp(t).as_str().to_owned()
}

/// `YYYY-MM-DD` (UTC) of a time, on the stack.
pub fn utc_date_stamp(t: SystemTime) -> Stamp {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    Stamp::date(secs.div_euclid(86_400))
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

    /// The `format!` versions the stack ones replaced, as the oracle.
    fn formatted(t: SystemTime) -> (String, String) {
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
        (s, format!("{y:04}-{m:02}-{day:02}"))
    }

    #[test]
    fn stack_timestamps_equal_the_formatted_ones() {
        let mut secs: u64 = 0;
        let mut nanos: u32 = 0;
        let fixed = [
            (0, 0),
            (0, 1),
            (59, 999_999_999),
            (951_782_400, 100),
            (1_700_000_000, 120_000_000),
            (4_102_444_799, 10),
            (253_402_300_799, 999_000_000),
        ];
        let mut cases: Vec<(u64, u32)> = fixed.to_vec();
        for _ in 0..2000 {
            // A cheap deterministic walk over dates and fractions.
            secs = secs
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407)
                % 253_402_300_800;
            nanos = nanos.wrapping_mul(1_103_515_245).wrapping_add(12_345) % 1_000_000_000;
            let trimmed = nanos - nanos % 10u32.pow(nanos % 9);
            cases.push((secs, trimmed));
        }
        for (s, n) in cases {
            let t = UNIX_EPOCH + Duration::new(s, n);
            let (ts, date) = formatted(t);
            assert_eq!(rfc3339_nano(t), ts, "{s}.{n}");
            assert_eq!(utc_date_stamp(t).as_str(), date, "{s}");
        }
        // Past year 9999 the year takes more digits, as with format!; the
        // largest SystemTime still fits the buffer.
        for far in [
            UNIX_EPOCH + Duration::new(253_402_300_800, 5),
            UNIX_EPOCH + Duration::new(i64::MAX as u64, 999_999_999),
        ] {
            assert_eq!(rfc3339_nano(far), formatted(far).0);
            assert_eq!(utc_date_stamp(far).as_str(), formatted(far).1);
        }
        assert!(
            rfc3339_nano(UNIX_EPOCH + Duration::from_secs(253_402_300_800))
                .starts_with("10000-01-01T")
        );
    }

    #[test]
    fn a_borrowed_event_encodes_to_the_same_bytes() {
        let mut request = Map::new();
        request.insert("command".into(), Value::String("ls <a> & b\u{2028}".into()));
        request.insert("n".into(), Value::from(3));
        let base = Event {
            schema_version: SCHEMA_VERSION.into(),
            id: "01M8XB828R1D144Z8NXJC45PD0".into(),
            timestamp: "2026-12-03T07:00:07.0640309Z".into(),
            kind: None,
            agent: "a".into(),
            session: "s".into(),
            host: Host {
                hostname: "vm".into(),
                os: "linux".into(),
                arch: "amd64".into(),
            },
            tool: "exec".into(),
            request,
            peer: None,
            decision: EventDecision {
                action: "deny".into(),
                message: "no <rm>".into(),
                policy: Some("p".into()),
                components: vec!["rm -rf x".into()],
                enforced: true,
                mode: "enforce".into(),
                ..Default::default()
            },
            prev_hash: "sha256:ab".into(),
            hash: String::new(),
        };
        let with_all = Event {
            kind: Some("approval_resolved".into()),
            peer: Some(Peer {
                transport: "unix".into(),
                pid: Some(7),
                uid: Some(1000),
                gid: Some(1000),
                addr: None,
            }),
            hash: "sha256:cd".into(),
            ..base.clone()
        };
        for e in [base, with_all] {
            let owned = crate::audit::chain::to_canonical_json(&e).unwrap();
            let borrowed = crate::audit::chain::to_canonical_json(&e.borrowed()).unwrap();
            assert_eq!(
                String::from_utf8(borrowed).unwrap(),
                String::from_utf8(owned).unwrap()
            );
        }
    }

    #[test]
    fn rfc3339_nano_trims_trailing_zeros_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20.12Z");
        let t = UNIX_EPOCH + Duration::new(951_782_400, 0);
        assert_eq!(rfc3339_nano(t), "2000-02-29T00:00:00Z");
        assert_eq!(utc_date_stamp(t).as_str(), "2000-02-29");
    }
}
