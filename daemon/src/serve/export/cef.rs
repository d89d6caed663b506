//! CEF (Common Event Format): `--cef` (as the syslog MSG) and `--cef-file PATH`.
//!
//! `CEF:0|Rampart|rampart|VERSION|SIGNATURE|NAME|SEVERITY|EXTENSIONS`, where
//! SIGNATURE is the action (`deny`, `ask`, `watch`, `allow`, `webhook`) or, for
//! non-decision events, the event kind (`approval_resolution`, …); NAME says it in
//! words; SEVERITY is deny=7, ask=5, watch=4, webhook=3, allow=1 (other kinds 3).
//! Extensions: `rt` (ms since the epoch), `dvchost`, `act`, `suser` (agent),
//! `externalId` (audit event id), `cs1` policy, `cs2` session, `cs3` tool,
//! `cs4` subject (command, path or URL: redacted as in the audit), `spid` (asking
//! process, Unix socket only), `msg`.
//! Escaping: header fields escape `\` and `|`; extension values escape `\` and `=`
//! and write newlines as `\n` / `\r`.

use super::{subject, ExportMetrics, LogLimiter};
use crate::audit::event::Event;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

/// Escape a CEF header field: `\` → `\\`, `|` → `\|` (newlines become spaces).
pub fn escape_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escape a CEF extension value: `\` → `\\`, `=` → `\=`, newline → `\n`, CR → `\r`.
pub fn escape_ext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// CEF severity (0–10) of an action.
pub fn severity(action: &str) -> u8 {
    match action {
        "deny" => 7,
        "ask" => 5,
        "watch" => 4,
        "allow" => 1,
        _ => 3,
    }
}

fn name(ev: &Event) -> String {
    if let Some(k) = &ev.kind {
        return k.replace('_', " ");
    }
    match &*ev.decision.action {
        "deny" => "Tool call denied".into(),
        "ask" => "Tool call needs approval".into(),
        "watch" => "Tool call flagged".into(),
        "allow" => "Tool call allowed".into(),
        "webhook" => "Tool call sent to a webhook".into(),
        other => format!("Tool call {other}"),
    }
}

/// Milliseconds since the epoch from the event's ULID (same instant as its timestamp).
fn epoch_ms(ev: &Event) -> Option<u64> {
    ulid::Ulid::from_string(&ev.id)
        .ok()
        .map(|u| u.timestamp_ms())
}

/// Format one CEF line (no trailing newline).
pub fn format(ev: &Event) -> String {
    let signature = ev.kind.as_deref().unwrap_or(&ev.decision.action);
    let mut line = format!(
        "CEF:0|Rampart|rampart|{}|{}|{}|{}|",
        escape_header(env!("CARGO_PKG_VERSION")),
        escape_header(signature),
        escape_header(&name(ev)),
        severity(&ev.decision.action)
    );
    let mut ext: Vec<(&str, String)> = Vec::new();
    if let Some(ms) = epoch_ms(ev) {
        ext.push(("rt", ms.to_string()));
    }
    ext.push(("dvchost", ev.host.hostname.clone()));
    ext.push(("act", ev.decision.action.to_string()));
    ext.push(("suser", ev.agent.clone()));
    ext.push(("externalId", ev.id.clone()));
    if let Some(p) = &ev.decision.policy {
        ext.push(("cs1Label", "policy".into()));
        ext.push(("cs1", p.clone()));
    }
    ext.push(("cs2Label", "session".into()));
    ext.push(("cs2", ev.session.clone()));
    ext.push(("cs3Label", "tool".into()));
    ext.push(("cs3", ev.tool.clone()));
    let subj = subject(ev);
    if !subj.is_empty() {
        ext.push(("cs4Label", "subject".into()));
        ext.push(("cs4", subj.to_string()));
    }
    if let Some(pid) = ev.peer.as_ref().and_then(|p| p.pid) {
        ext.push(("spid", pid.to_string()));
    }
    if !ev.decision.message.is_empty() {
        ext.push(("msg", ev.decision.message.clone()));
    }
    let parts: Vec<String> = ext
        .into_iter()
        .map(|(k, v)| format!("{k}={}", escape_ext(&v)))
        .collect();
    line.push_str(&parts.join(" "));
    line
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Whether `f` is still the file at `path` (not rotated away or removed).
fn still_there(f: &File, path: &Path) -> bool {
    match (f.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// The `--cef-file` thread: append one line per event.
pub fn run_file(path: PathBuf, rx: Receiver<Arc<Event>>, counters: Arc<ExportMetrics>) {
    let c = &counters.cef_file;
    let mut log = LogLimiter::new("cef_file");
    let mut file: Option<File> = None;
    while let Ok(ev) = rx.recv() {
        let mut line = format(&ev);
        line.push('\n');
        if file.as_ref().is_some_and(|f| !still_there(f, &path)) {
            file = None;
        }
        if file.is_none() {
            match open(&path) {
                Ok(f) => file = Some(f),
                Err(e) => log.failure(&format_args!("cannot open {}: {e}", path.display())),
            }
        }
        let ok = match file.as_mut() {
            Some(f) => match f.write_all(line.as_bytes()) {
                Ok(()) => true,
                Err(e) => {
                    file = None;
                    log.failure(&format_args!("write {}: {e}", path.display()));
                    false
                }
            },
            None => false,
        };
        c.count(ok);
        log.drops(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::export::sample_event;

    #[test]
    fn header_escapes_pipe_and_backslash() {
        assert_eq!(escape_header("a|b\\c\nd"), "a\\|b\\\\c d");
    }

    #[test]
    fn extension_escapes_equals_backslash_and_newlines() {
        assert_eq!(escape_ext("a=b\\c\nd\re|f"), "a\\=b\\\\c\\nd\\re|f");
    }

    #[test]
    fn format_has_header_and_labelled_extensions() {
        let mut ev = sample_event("deny", "FOO=1 rm -rf x\nls");
        ev.id = ulid::Ulid::from_parts(1_700_000_000_000, 7).to_string();
        let line = format(&ev);
        let header = format!(
            "CEF:0|Rampart|rampart|{}|deny|Tool call denied|7|",
            env!("CARGO_PKG_VERSION")
        );
        assert!(line.starts_with(&header), "{line}");
        assert!(line.contains("|rt=1700000000000 dvchost=box "), "{line}");
        assert!(line.contains("act=deny suser=claude"), "{line}");
        assert!(line.contains("cs1Label=policy cs1=p\\\\q "), "{line}");
        assert!(line.contains("cs4=FOO\\=1 rm -rf x\\nls"), "{line}");
        assert!(line.ends_with("msg=no \"rm\""), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn severity_ranks_deny_highest() {
        assert!(severity("deny") > severity("ask"));
        assert!(severity("ask") > severity("watch"));
        assert!(severity("watch") > severity("allow"));
    }
}
