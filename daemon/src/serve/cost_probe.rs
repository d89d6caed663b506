//! What each part of an exec answer costs the launches (`scripts/bench-parts`).
//!
//! Built only with the `cost-probe` feature: `RAMPART_COST_PROBE` (read once)
//! then takes one part of the datagram lane's answer away, so that the same
//! binary measures the lane alone, deciding, building the audit record and
//! writing it, side by side. Such a daemon answers without deciding or records
//! nothing: it is a measuring instrument, never a daemon to run. Without the
//! feature [`skipped`] is a constant `Part::Nothing` and every check is compiled
//! away.

/// What the probe leaves out of an answer, from everything to nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "cost-probe"), allow(dead_code))]
pub enum Part {
    /// `canned`: the lane answers a fixed "allowed" at once (nothing parsed,
    /// decided or audited).
    Everything,
    /// `noaudit`: parse, decide and answer; no audit record.
    Audit,
    /// `nowrite`: build, hash and seal the audit record, but do not write it.
    AuditWrite,
    /// Unset or anything else: the daemon as it is.
    Nothing,
}

/// The fixed answer of [`Part::Everything`].
#[cfg_attr(not(feature = "cost-probe"), allow(dead_code))]
pub const CANNED: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 35\r\n\r\n{\"allowed\":true,\"decision\":\"allow\"}";

/// What this process leaves out.
#[cfg(feature = "cost-probe")]
pub fn skipped() -> Part {
    static PART: std::sync::OnceLock<Part> = std::sync::OnceLock::new();
    *PART.get_or_init(|| {
        let part = match std::env::var("RAMPART_COST_PROBE").as_deref() {
            Ok("canned") => Part::Everything,
            Ok("noaudit") => Part::Audit,
            Ok("nowrite") => Part::AuditWrite,
            _ => Part::Nothing,
        };
        if part != Part::Nothing {
            eprintln!("rampart: cost probe: leaving out {part:?} (a measuring build)");
        }
        part
    })
}

/// What this process leaves out: nothing, in a normal build.
#[cfg(not(feature = "cost-probe"))]
#[inline(always)]
pub const fn skipped() -> Part {
    Part::Nothing
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_canned_answer_is_framed_for_its_body() {
        let text = std::str::from_utf8(super::CANNED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.ends_with(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["allowed"], true);
    }
}
