//! Exporting audit events: syslog (RFC 5424), CEF (to syslog or a file) and the
//! policy file's `notify:` webhook.
//!
//! The hook is the audit writer's tap ([`crate::audit::writer::AuditWriter::set_tap`]):
//! after an event line was written, a copy of the event (already redacted, exactly as
//! in the audit) is offered to one bounded queue per sink with a non-blocking
//! `try_send`. Each sink drains its queue on its own thread, so a slow, dead or hostile
//! receiver never slows or blocks a decision: when a queue is full the event is
//! dropped for that sink, counted in `rampart_export_dropped_total{sink}` and logged
//! (at most every 10 s per sink, by the sink's thread). Deliveries are counted in
//! `rampart_export_sent_total{sink}` and `rampart_export_failed_total{sink}`.
//!
//! - [`syslog`]: `--syslog udp://HOST:PORT | tcp://HOST:PORT | unix:///dev/log | /path`;
//! - [`cef`]: `--cef` (syslog messages in CEF) and `--cef-file PATH`;
//! - [`webhook`]: `notify: {url, platform, on}` from the policy (`http://` or
//!   `https://`; `--webhook-ca FILE` for a private CA).
//!
//! Events still queued when the daemon exits are not delivered (best effort); the
//! audit log remains the record.

pub mod cef;
pub mod syslog;
pub mod webhook;

use super::AppState;
use crate::audit::event::{Event, EventRef};
use engine::policy::Notify;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Default capacity of each sink's queue.
pub const DEFAULT_QUEUE: usize = 1024;
/// How often a sink's thread may log about drops or failures.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Export flags of `rampart serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Send every audit event to syslog as an RFC 5424 message:
    /// `udp://HOST[:PORT]`, `tcp://HOST[:PORT]` (RFC 6587 octet-counting framing),
    /// `unix:///dev/log` or an absolute socket path (Unix datagram). Default port 514.
    /// Severity: deny=warning, ask=notice, others=info. Delivery runs on its own
    /// thread behind a bounded queue (reconnecting with backoff): it never delays a
    /// decision; events that do not fit are dropped and counted in /metrics.
    #[arg(long, value_name = "ADDR", value_parser = syslog::Target::parse)]
    pub syslog: Option<syslog::Target>,
    /// Syslog facility.
    #[arg(long = "syslog-facility", value_enum, default_value_t = syslog::Facility::Auth)]
    pub syslog_facility: syslog::Facility,
    /// Format syslog messages as CEF (Common Event Format) instead of plain text;
    /// needs --syslog or --cef-file.
    #[arg(long)]
    pub cef: bool,
    /// Append one CEF line per audit event to this file (reopened when it is moved
    /// or removed, so rename-style log rotation works).
    #[arg(long = "cef-file", value_name = "PATH")]
    pub cef_file: Option<PathBuf>,
    /// Verify `https://` notify webhooks against only the CA certificates in this PEM
    /// file (a private CA), instead of the system trust store. Read at start-up; an
    /// unreadable file or one without certificates stops the daemon.
    #[arg(long = "webhook-ca", value_name = "FILE")]
    pub webhook_ca: Option<PathBuf>,
    /// Capacity of each export queue (events); tests make it small.
    #[arg(long = "export-queue", value_name = "N", default_value_t = DEFAULT_QUEUE, hide = true)]
    pub export_queue: usize,
}

/// Export configuration errors.
#[derive(Debug, Error)]
pub enum ExportError {
    /// `--syslog` value not understood.
    #[error("--syslog {0:?}: expected udp://HOST[:PORT], tcp://HOST[:PORT], unix:///PATH or an absolute socket path")]
    BadTarget(String),
    /// `--cef` with nowhere to send it.
    #[error("--cef needs --syslog ADDR or --cef-file PATH")]
    CefWithoutDestination,
    /// An empty `--cef-file` path.
    #[error("--cef-file needs a file path")]
    EmptyCefFile,
    /// `--webhook-ca` unusable.
    #[error(transparent)]
    WebhookCa(#[from] webhook::TrustError),
}

impl ExportArgs {
    /// Check flag combinations (before anything is bound).
    pub fn validate(&self) -> Result<(), ExportError> {
        if self.cef && self.syslog.is_none() && self.cef_file.is_none() {
            return Err(ExportError::CefWithoutDestination);
        }
        if self
            .cef_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(ExportError::EmptyCefFile);
        }
        if let Some(path) = &self.webhook_ca {
            webhook::Trust::CaFile(path.clone()).client_config()?;
        }
        Ok(())
    }
}

/// Delivery counters of one sink.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Events delivered.
    pub sent: AtomicU64,
    /// Events whose delivery failed (after the sink's retry).
    pub failed: AtomicU64,
    /// Events dropped because the sink's queue was full.
    pub dropped: AtomicU64,
}

impl SinkCounters {
    /// Counts one event as sent (`delivered`) or failed.
    pub fn count(&self, delivered: bool) {
        let n = if delivered { &self.sent } else { &self.failed };
        n.fetch_add(1, Relaxed);
    }
}

/// Counters of every sink, rendered at `/metrics`.
#[derive(Debug, Default)]
pub struct ExportMetrics {
    /// `--syslog`.
    pub syslog: SinkCounters,
    /// `--cef-file`.
    pub cef_file: SinkCounters,
    /// `notify:` webhook.
    pub webhook: SinkCounters,
}

impl ExportMetrics {
    /// The sinks with their metric label.
    pub fn sinks(&self) -> [(&'static str, &SinkCounters); 3] {
        [
            ("syslog", &self.syslog),
            ("cef_file", &self.cef_file),
            ("webhook", &self.webhook),
        ]
    }

    /// Append the export counters in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        type Field = fn(&SinkCounters) -> &AtomicU64;
        let families: [(&str, &str, Field); 3] = [
            (
                "rampart_export_sent_total",
                "Audit events delivered to an export sink.",
                |c| &c.sent,
            ),
            (
                "rampart_export_failed_total",
                "Audit events an export sink failed to deliver.",
                |c| &c.failed,
            ),
            (
                "rampart_export_dropped_total",
                "Audit events dropped because an export queue was full.",
                |c| &c.dropped,
            ),
        ];
        for (name, help, field) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (sink, c) in self.sinks() {
                let _ = writeln!(out, "{name}{{sink=\"{sink}\"}} {}", field(c).load(Relaxed));
            }
        }
    }
}

/// The sending end of one sink's bounded queue.
struct Queue<T> {
    tx: SyncSender<T>,
    counters: Arc<ExportMetrics>,
    pick: fn(&ExportMetrics) -> &SinkCounters,
}

impl<T> Queue<T> {
    /// Never blocks: a full (or closed) queue drops the item and counts it.
    fn offer(&self, item: T) {
        match self.tx.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                (self.pick)(&self.counters).dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Where the current `notify:` settings come from (the live engine).
pub type NotifySource = Box<dyn Fn() -> Option<Notify> + Send + Sync>;

/// The fan-out installed as the audit writer's tap.
pub struct Exporter {
    syslog: Option<Queue<Arc<Event>>>,
    cef_file: Option<Queue<Arc<Event>>>,
    webhook: Queue<(Arc<Event>, Notify)>,
    notify: NotifySource,
}

impl Exporter {
    /// Offer one event to every interested sink. Never blocks.
    pub fn offer(&self, ev: &EventRef<'_>) {
        let mut shared: Option<Arc<Event>> = None;
        let mut arc = || {
            shared
                .get_or_insert_with(|| Arc::new(ev.to_event()))
                .clone()
        };
        if let Some(q) = &self.syslog {
            q.offer(arc());
        }
        if let Some(q) = &self.cef_file {
            q.offer(arc());
        }
        if let Some(key) = webhook::candidate_of(ev.kind, ev.decision) {
            if let Some(n) = (self.notify)() {
                if webhook::wanted(&n, key) {
                    self.webhook.offer((arc(), n));
                }
            }
        }
    }
}

/// Tracks when a sink last logged, so logs stay rate-limited (failures and drops
/// separately, each at most every [`LOG_EVERY`]).
struct LogLimiter {
    sink: &'static str,
    last_failure: Option<Instant>,
    last_drop: Option<Instant>,
    drops_logged: u64,
    failures: u64,
}

fn due(last: &mut Option<Instant>) -> bool {
    if last.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
        *last = Some(Instant::now());
        true
    } else {
        false
    }
}

impl LogLimiter {
    fn new(sink: &'static str) -> LogLimiter {
        LogLimiter {
            sink,
            last_failure: None,
            last_drop: None,
            drops_logged: 0,
            failures: 0,
        }
    }

    /// Log a delivery failure (rate-limited).
    fn failure(&mut self, what: &dyn std::fmt::Display) {
        self.failures += 1;
        if due(&mut self.last_failure) {
            eprintln!(
                "rampart: export {}: {what} ({} failures so far)",
                self.sink, self.failures
            );
        }
    }

    /// Log new drops (rate-limited).
    fn drops(&mut self, c: &SinkCounters) {
        let d = c.dropped.load(Relaxed);
        if d > self.drops_logged && due(&mut self.last_drop) {
            eprintln!(
                "rampart: export {}: queue full, {} events dropped so far",
                self.sink, d
            );
            self.drops_logged = d;
        }
    }
}

fn spawn_sink<T: Send + 'static>(
    name: &'static str,
    cap: usize,
    counters: &Arc<ExportMetrics>,
    pick: fn(&ExportMetrics) -> &SinkCounters,
    body: impl FnOnce(Receiver<T>, Arc<ExportMetrics>) + Send + 'static,
) -> Option<Queue<T>> {
    let (tx, rx) = mpsc::sync_channel(cap.max(1));
    let c2 = Arc::clone(counters);
    match std::thread::Builder::new()
        .name(format!("export-{name}"))
        .spawn(move || body(rx, c2))
    {
        Ok(_) => Some(Queue {
            tx,
            counters: Arc::clone(counters),
            pick,
        }),
        Err(e) => {
            eprintln!("rampart: export {name}: cannot start its thread ({e}); sink disabled");
            None
        }
    }
}

/// Start the configured sinks and install them as the audit writer's tap.
/// `args` must have passed [`ExportArgs::validate`].
pub fn install(state: &Arc<AppState>, args: &ExportArgs) {
    let counters = Arc::clone(&state.metrics.export);
    let cap = args.export_queue;
    let syslog = args.syslog.clone().and_then(|target| {
        let cfg = syslog::Config {
            target,
            facility: args.syslog_facility,
            cef: args.cef,
            pid: std::process::id(),
        };
        spawn_sink(
            "syslog",
            cap,
            &counters,
            |m| &m.syslog,
            move |rx, c| syslog::run(cfg, rx, c),
        )
    });
    let cef_file = args.cef_file.clone().and_then(|path| {
        spawn_sink(
            "cef_file",
            cap,
            &counters,
            |m| &m.cef_file,
            move |rx, c| cef::run_file(path, rx, c),
        )
    });
    // The system store is read on the first https:// POST (most setups never need
    // it); a --webhook-ca file (checked by `validate`) is read now.
    let mut client = webhook::Client::new(
        args.webhook_ca
            .clone()
            .map_or(webhook::Trust::System, webhook::Trust::CaFile),
    );
    if args.webhook_ca.is_some() {
        if let Err(e) = client.preload() {
            eprintln!("rampart: export webhook: {e}");
        }
    }
    let Some(webhook) = spawn_sink(
        "webhook",
        cap,
        &counters,
        |m| &m.webhook,
        move |rx, c| webhook::run(client, rx, c),
    ) else {
        return;
    };
    let weak: Weak<AppState> = Arc::downgrade(state);
    let exporter = Exporter {
        syslog,
        cef_file,
        webhook,
        notify: Box::new(move || weak.upgrade().and_then(|s| s.engine().notify().cloned())),
    };
    state
        .audit
        .set_tap(Box::new(move |ev: &EventRef<'_>| exporter.offer(ev)));
}

/// The subject of an event's request: its command, else path, else URL.
pub fn subject(ev: &Event) -> &str {
    ["command", "path", "url"]
        .iter()
        .find_map(|k| ev.request.get(*k).and_then(|v| v.as_str()))
        .unwrap_or("")
}

/// Replace control characters (newlines, tabs, escapes) with spaces.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Cut `s` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub fn truncate(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

/// A decision event for unit tests.
#[cfg(test)]
fn sample_event(action: &str, command: &str) -> Event {
    let mut request = serde_json::Map::new();
    request.insert("command".into(), serde_json::Value::String(command.into()));
    Event {
        schema_version: "rampart.audit.v1".into(),
        id: "01JD0000000000000000000000".into(),
        timestamp: "2026-11-22T03:19:37.123456789Z".into(),
        kind: None,
        agent: "claude".into(),
        session: "s]1".into(),
        host: crate::audit::event::Host {
            hostname: "box".into(),
            os: "linux".into(),
            arch: "amd64".into(),
        },
        tool: "exec".into(),
        request,
        peer: None,
        decision: crate::audit::event::EventDecision {
            action: action.to_string().into(),
            message: "no \"rm\"".into(),
            policy: Some("p\\q".into()),
            ..Default::default()
        },
        prev_hash: String::new(),
        hash: "h".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_and_counts_without_blocking() {
        let counters = Arc::new(ExportMetrics::default());
        let (tx, _rx) = mpsc::sync_channel(2);
        let q = Queue {
            tx,
            counters: Arc::clone(&counters),
            pick: |m: &ExportMetrics| &m.syslog,
        };
        for i in 0..5 {
            q.offer(i);
        }
        assert_eq!(counters.syslog.dropped.load(Relaxed), 3);
        let mut text = String::new();
        counters.render(&mut text);
        assert!(text.contains("rampart_export_dropped_total{sink=\"syslog\"} 3"));
        assert!(text.contains("rampart_export_sent_total{sink=\"webhook\"} 0"));
    }

    #[test]
    fn truncate_cuts_on_a_char_boundary() {
        let mut s = "ééééé".to_string();
        truncate(&mut s, 6);
        assert!(s.len() <= 6);
        assert!(s.ends_with('…'));
        let mut short = "abc".to_string();
        truncate(&mut short, 6);
        assert_eq!(short, "abc");
    }

    #[test]
    fn cef_flag_without_destination_is_rejected() {
        let mut a = ExportArgs {
            syslog: None,
            syslog_facility: syslog::Facility::Auth,
            cef: true,
            cef_file: None,
            webhook_ca: None,
            export_queue: DEFAULT_QUEUE,
        };
        assert!(matches!(
            a.validate(),
            Err(ExportError::CefWithoutDestination)
        ));
        a.cef_file = Some("/tmp/x.cef".into());
        assert!(a.validate().is_ok());
    }
}
