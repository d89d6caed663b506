//! Counters exposed at `GET /metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Decision latency bucket upper bounds, in microseconds.
const BUCKETS_US: [u64; 12] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 100_000, 1_000_000,
];
const ACTIONS: [&str; 5] = ["allow", "deny", "ask", "watch", "webhook"];

/// Process-wide counters (lock-free).
#[derive(Default)]
pub struct Metrics {
    decisions: [AtomicU64; 5],
    latency: [AtomicU64; BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
    /// Audit records that could not be written.
    pub audit_write_errors: AtomicU64,
    /// Successful policy reloads.
    pub reloads_ok: AtomicU64,
    /// Rejected policy reloads (old policy kept).
    pub reloads_failed: AtomicU64,
    /// Requests answered with a 4xx error.
    pub bad_requests: AtomicU64,
    /// Requests refused for missing or bad credentials.
    pub auth_failures: AtomicU64,
    /// Connections currently open.
    pub connections_open: AtomicU64,
    /// Idle connections closed to admit a new one at `--max-connections`.
    pub connections_evicted: AtomicU64,
    /// Preflight requests answered without the general HTTP server (see
    /// `serve::direct`).
    pub direct_answers: AtomicU64,
    /// Of those, answered on the Unix socket's accept thread (`serve::fast_lane`).
    pub accept_thread_answers: AtomicU64,
    /// Of those, answered on the datagram lane (`serve::datagram`).
    pub datagram_answers: AtomicU64,
    /// Export sinks' sent/failed/dropped counters (shared with their threads).
    pub export: Arc<super::export::ExportMetrics>,
}

impl Metrics {
    /// Count one decision and its end-to-end handling latency.
    pub fn record_decision(&self, action: &str, micros: u64) {
        if let Some(i) = ACTIONS.iter().position(|a| *a == action) {
            self.decisions[i].fetch_add(1, Relaxed);
        }
        let b = BUCKETS_US
            .iter()
            .position(|&ub| micros <= ub)
            .unwrap_or(BUCKETS_US.len());
        self.latency[b].fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(micros, Relaxed);
        self.latency_count.fetch_add(1, Relaxed);
    }

    /// Render in the Prometheus text exposition format.
    pub fn render(&self, pending_approvals: usize, audit_events: u64, uptime_s: u64) -> String {
        let mut s = String::with_capacity(2048);
        let _ = writeln!(
            s,
            "# HELP rampart_decisions_total Decisions answered, by action."
        );
        let _ = writeln!(s, "# TYPE rampart_decisions_total counter");
        for (i, a) in ACTIONS.iter().enumerate() {
            let _ = writeln!(
                s,
                "rampart_decisions_total{{action=\"{a}\"}} {}",
                self.decisions[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP rampart_decision_duration_seconds Time from request body to answer."
        );
        let _ = writeln!(s, "# TYPE rampart_decision_duration_seconds histogram");
        let mut cum = 0;
        for (i, ub) in BUCKETS_US.iter().enumerate() {
            cum += self.latency[i].load(Relaxed);
            let _ = writeln!(
                s,
                "rampart_decision_duration_seconds_bucket{{le=\"{}\"}} {cum}",
                *ub as f64 / 1e6
            );
        }
        cum += self.latency[BUCKETS_US.len()].load(Relaxed);
        let _ = writeln!(
            s,
            "rampart_decision_duration_seconds_bucket{{le=\"+Inf\"}} {cum}"
        );
        let _ = writeln!(
            s,
            "rampart_decision_duration_seconds_sum {}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            s,
            "rampart_decision_duration_seconds_count {}",
            self.latency_count.load(Relaxed)
        );
        let counters: [(&str, &str, u64); 10] = [
            (
                "rampart_audit_write_errors_total",
                "Audit records that could not be written.",
                self.audit_write_errors.load(Relaxed),
            ),
            (
                "rampart_bad_requests_total",
                "Requests rejected as malformed.",
                self.bad_requests.load(Relaxed),
            ),
            (
                "rampart_auth_failures_total",
                "Requests refused for missing or bad credentials.",
                self.auth_failures.load(Relaxed),
            ),
            (
                "rampart_audit_events_total",
                "Events in the audit chain.",
                audit_events,
            ),
            (
                "rampart_connections_open",
                "Connections currently open.",
                self.connections_open.load(Relaxed),
            ),
            (
                "rampart_connections_evicted_total",
                "Idle connections closed to admit a new one at --max-connections.",
                self.connections_evicted.load(Relaxed),
            ),
            (
                "rampart_direct_answers_total",
                "Plain Unix socket preflight requests answered without the general HTTP server.",
                self.direct_answers.load(Relaxed),
            ),
            (
                "rampart_accept_thread_answers_total",
                "Of the direct answers, those given on the Unix socket's accept thread.",
                self.accept_thread_answers.load(Relaxed),
            ),
            (
                "rampart_datagram_answers_total",
                "Of the direct answers, those given on the datagram lane.",
                self.datagram_answers.load(Relaxed),
            ),
            (
                "rampart_approvals_pending",
                "Approvals waiting for an operator.",
                pending_approvals as u64,
            ),
        ];
        for (name, help, v) in counters {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
        let _ = writeln!(
            s,
            "# HELP rampart_policy_reloads_total Policy reloads, by result."
        );
        let _ = writeln!(s, "# TYPE rampart_policy_reloads_total counter");
        let _ = writeln!(
            s,
            "rampart_policy_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Relaxed)
        );
        let _ = writeln!(
            s,
            "rampart_policy_reloads_total{{result=\"error\"}} {}",
            self.reloads_failed.load(Relaxed)
        );
        self.export.render(&mut s);
        let _ = writeln!(s, "# HELP rampart_uptime_seconds Seconds since start.");
        let _ = writeln!(
            s,
            "# TYPE rampart_uptime_seconds gauge\nrampart_uptime_seconds {uptime_s}"
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_every_decision() {
        let m = Metrics::default();
        m.record_decision("allow", 5);
        m.record_decision("deny", 40);
        m.record_decision("deny", 5_000_000);
        let text = m.render(0, 3, 1);
        assert!(text.contains("rampart_decisions_total{action=\"deny\"} 2"));
        assert!(text.contains("rampart_decision_duration_seconds_bucket{le=\"0.00001\"} 1"));
        assert!(text.contains("rampart_decision_duration_seconds_bucket{le=\"0.00005\"} 2"));
        assert!(text.contains("rampart_decision_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("rampart_decision_duration_seconds_count 3"));
    }
}
