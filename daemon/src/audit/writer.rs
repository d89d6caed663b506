//! The append-only audit writer: one sealed JSON line per event, rotation with
//! continuation headers, anchors, fsync policies, and crash recovery.
//!
//! Durability contract: [`AuditWriter::append`] returns only after `write(2)` of the
//! whole line returned, so a decision is in the kernel's page cache before its answer
//! is sent. Syncing to disk follows [`FsyncPolicy`]: `always` (fdatasync per event,
//! inline), `batch` (a background thread runs fdatasync at most every 10 ms when
//! something was written, and on shutdown), `never`.
//!
//! Side files: `audit-anchor.json` (the latest event whose position is a multiple of
//! [`ANCHOR_EVERY`]: id, hash, count) and `.audit-chain-state.json` (the writer's
//! checkpoint), both rewritten by the background thread at most every
//! [`SIDE_FILES_EVERY`] (within 10 ms when none was for that long), after
//! the events they name were synced, and on shutdown. `rampart audit verify` checks
//! that both still point at an event with the same hash and position, which also
//! detects events deleted from the end of the log.

use super::chain::{self, ChainName, ContinuationHeader};
use super::event::{
    rfc3339_nano_stamp, utc_date_stamp, EventBody, EventDecision, EventRef, Host, SCHEMA_VERSION,
};
use super::line;
use crate::serve::phases::{self, Phase};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;

/// An anchor is written every this many events.
pub const ANCHOR_EVERY: u64 = 100;
/// Default rotation size.
pub const DEFAULT_ROTATE_BYTES: u64 = 100 * 1024 * 1024;
/// Anchor file name.
pub const ANCHOR_FILE: &str = "audit-anchor.json";
/// Checkpoint file name.
pub const STATE_FILE: &str = ".audit-chain-state.json";

/// When to call fdatasync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FsyncPolicy {
    /// After every event, before the answer.
    Always,
    /// Group commit: at most every 10 ms when dirty, and on shutdown.
    Batch,
    /// Leave it to the kernel.
    Never,
}

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Audit directory (created 0700).
    pub dir: PathBuf,
    /// Sync policy.
    pub fsync: FsyncPolicy,
    /// Rotate when a file would exceed this many bytes.
    pub rotate_bytes: u64,
}

/// Audit failures.
#[derive(Debug, Error)]
pub enum AuditError {
    /// Filesystem error, with what was being done.
    #[error("{what} {path}: {source}")]
    Io {
        /// Action.
        what: &'static str,
        /// Path involved.
        path: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The directory is a symlink or not a directory.
    #[error("audit directory {0} is not a real directory")]
    NotADirectory(String),
    /// An event could not be serialized.
    #[error("cannot encode audit event: {0}")]
    Encode(#[from] serde_json::Error),
    /// A chain file ends in something that is not an event or header.
    #[error("{0}: cannot find the last hash to continue the chain")]
    Unrecoverable(String),
    /// The writer was shut down.
    #[error("audit writer is closed")]
    Closed,
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> AuditError + 'a {
    move |source| AuditError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// Anchor file contents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Anchor {
    /// Event id.
    pub event_id: String,
    /// Its hash.
    pub hash: String,
    /// Its 1-based position in the chain.
    pub event_count: u64,
    /// When the anchor was written.
    pub timestamp: String,
    /// File holding the event.
    pub file: String,
}

/// Checkpoint file contents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChainState {
    /// Hash of the last event written.
    pub last_hash: String,
    /// Its id.
    pub last_id: String,
    /// Number of events in the chain.
    pub event_count: u64,
    /// Current file.
    pub file: String,
}

struct State {
    file: Option<Arc<File>>,
    name: Option<ChainName>,
    size: u64,
    last_hash: String,
    last_id: String,
    count: u64,
    /// Written since the last fdatasync.
    dirty: bool,
    /// Checkpoint last persisted.
    saved: Option<ChainState>,
    /// An anchor not written yet: the background thread writes it (with its
    /// fdatasync and rename, which must not hold up an answer) after syncing the
    /// events it names. A later anchor due before that replaces it.
    anchor_due: Option<Anchor>,
    ids: ulid::Generator,
    closed: bool,
    /// The sync thread waits for work (see [`sync_loop`]): the next append
    /// wakes it.
    syncer_idle: bool,
}

impl State {
    /// Data written but not synced yet (under a policy that syncs).
    fn sync_due(&self, fsync: FsyncPolicy) -> bool {
        self.dirty && fsync != FsyncPolicy::Never
    }

    /// A side file is behind the chain: an anchor to write, or a checkpoint that
    /// does not name the last event.
    fn side_due(&self) -> bool {
        self.anchor_due.is_some()
            || (self.count > 0 && self.saved.as_ref().map(|s| s.event_count) != Some(self.count))
    }
}

struct Shared {
    cfg: WriterConfig,
    host: Host,
    state: Mutex<State>,
    stop: AtomicBool,
    /// Signalled when an append finds the sync thread idle, and on close.
    wake: Condvar,
}

/// Called with every event right after its line was written (see [`AuditWriter::set_tap`]).
pub type Tap = Box<dyn Fn(&EventRef<'_>) + Send + Sync>;

/// The audit writer. Cheap to share behind an `Arc`.
pub struct AuditWriter {
    shared: Arc<Shared>,
    syncer: Mutex<Option<JoinHandle<()>>>,
    tap: OnceLock<Tap>,
}

/// What recovery found when opening an existing log.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// Events already in the chain.
    pub events: u64,
    /// Bytes of a torn last line that were cut off (a truncation event was written).
    pub truncated_bytes: u64,
}

impl AuditWriter {
    /// Open (or create) the audit directory, recover the chain and start the sync
    /// thread. A torn last line is truncated and an `audit_truncated` event recorded.
    pub fn open(cfg: WriterConfig) -> Result<(AuditWriter, Recovery), AuditError> {
        ensure_dir(&cfg.dir)?;
        let mut state = State {
            file: None,
            name: None,
            size: 0,
            last_hash: String::new(),
            last_id: String::new(),
            count: 0,
            dirty: false,
            saved: None,
            anchor_due: None,
            ids: ulid::Generator::new(),
            closed: false,
            syncer_idle: false,
        };
        let recovery = recover(&cfg.dir, &mut state)?;
        let truncated = recovery.truncated_bytes;
        let shared = Arc::new(Shared {
            cfg,
            host: Host::current(),
            state: Mutex::new(state),
            stop: AtomicBool::new(false),
            wake: Condvar::new(),
        });
        let s2 = Arc::clone(&shared);
        let syncer = std::thread::Builder::new()
            .name("audit-sync".into())
            .spawn(move || sync_loop(s2))
            .map_err(io_err("spawn sync thread for", Path::new("audit")))?;
        let w = AuditWriter {
            shared,
            syncer: Mutex::new(Some(syncer)),
            tap: OnceLock::new(),
        };
        if truncated > 0 {
            let mut request = serde_json::Map::new();
            request.insert("truncated_bytes".into(), truncated.into());
            w.append(EventBody {
                kind: Some("audit_truncated".into()),
                agent: "rampart".into(),
                session: "rampart".into(),
                tool: "audit".into(),
                request,
                peer: None,
                decision: EventDecision {
                    action: "watch".into(),
                    message: format!(
                        "torn last line of {truncated} bytes removed at startup (crash during write)"
                    ),
                    ..Default::default()
                },
            })?;
        }
        Ok((w, recovery))
    }

    /// Append one event; returns its id once `write(2)` returned.
    pub fn append(&self, body: EventBody) -> Result<String, AuditError> {
        let sh = &*self.shared;
        let mut st = sh.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.closed {
            return Err(AuditError::Closed);
        }
        phases::mark(Phase::AuditLocked);
        let now = SystemTime::now();
        let id = st
            .ids
            .generate_from_datetime(now)
            .unwrap_or_else(|_| ulid::Ulid::from_datetime(now))
            .to_string();
        let stamp = rfc3339_nano_stamp(now);
        let timestamp = stamp.as_str();
        // Encoded from borrowed parts; an owned `Event` is built only for a tap.
        let unsealed = line::encode(&event_ref(
            &body,
            &id,
            timestamp,
            &sh.host,
            &st.last_hash,
            "",
        ));
        let (mut line, hash) = chain::seal(&st.last_hash, unsealed)
            .ok_or_else(|| AuditError::Unrecoverable("encoder did not end with hash".into()))?;
        line.push(b'\n');
        phases::mark(Phase::AuditSealed);

        let date = utc_date_stamp(now);
        let today = date.as_str();
        let needs_rotation = match &st.name {
            None => true,
            Some(n) => {
                n.date != today
                    || (st.size > 0 && st.size + line.len() as u64 > sh.cfg.rotate_bytes)
            }
        };
        if needs_rotation {
            rotate(&sh.cfg, &mut st, today)?;
        }
        let file = st.file.clone().ok_or(AuditError::Closed)?;
        // The file's name and path, for error messages and anchors only.
        let name = |st: &State| {
            st.name
                .as_ref()
                .map(ChainName::file_name)
                .unwrap_or_default()
        };
        // A measuring build (scripts/bench-parts) may leave the write out.
        let written =
            if crate::serve::cost_probe::skipped() == crate::serve::cost_probe::Part::AuditWrite {
                Ok(())
            } else {
                (&*file).write_all(&line)
            };
        if let Err(e) = written {
            // Keep the file a sequence of whole lines: cut off whatever got written.
            let _ = file.set_len(st.size);
            return Err(io_err("write", &sh.cfg.dir.join(name(&st)))(e));
        }
        phases::mark(Phase::AuditWritten);
        st.size += line.len() as u64;
        let prev_hash = std::mem::replace(&mut st.last_hash, hash);
        // Into the buffer the last id had (ids are all as long): no allocation.
        st.last_id.clear();
        st.last_id.push_str(&id);
        st.count += 1;
        st.dirty = true;
        if st.syncer_idle {
            // Only the first event after a quiet spell pays for the wake-up.
            st.syncer_idle = false;
            sh.wake.notify_one();
        }
        if sh.cfg.fsync == FsyncPolicy::Always {
            file.sync_data()
                .map_err(io_err("fdatasync", &sh.cfg.dir.join(name(&st))))?;
            st.dirty = false;
        }
        if st.count % ANCHOR_EVERY == 0 {
            let anchor = Anchor {
                event_id: id.clone(),
                hash: st.last_hash.clone(),
                event_count: st.count,
                timestamp: timestamp.to_owned(),
                file: name(&st),
            };
            st.anchor_due = Some(anchor);
        }
        if let Some(tap) = self.tap.get() {
            // Still under the lock, so taps see events in chain order. The tap
            // copies the event only if a sink takes it.
            tap(&event_ref(
                &body,
                &id,
                timestamp,
                &sh.host,
                &prev_hash,
                &st.last_hash,
            ));
        }
        Ok(id)
    }

    /// Install the tap that sees every event (sealed, as written: already redacted)
    /// right after it was appended, in chain order, while the writer's lock is held:
    /// it must not block (exporters hand a copy to a bounded queue). Only the first
    /// call installs; later calls return `false`.
    pub fn set_tap(&self, tap: Tap) -> bool {
        self.tap.set(tap).is_ok()
    }

    /// Number of events in the chain.
    pub fn event_count(&self) -> u64 {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .count
    }

    /// Flush, stop the sync thread and refuse further events.
    pub fn close(&self) -> Result<(), AuditError> {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            // Under the lock: the sync thread checks `stop` under it before waiting.
            let _st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        if let Some(h) = self.syncer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
        let r = flush_shared(&self.shared, true).map(|_| ());
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed = true;
        r
    }
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// The event for `body` as written: what the writer adds (id, timestamp, host,
/// hashes) and what the caller sent, borrowed.
fn event_ref<'a>(
    body: &'a EventBody,
    id: &'a str,
    timestamp: &'a str,
    host: &'a Host,
    prev_hash: &'a str,
    hash: &'a str,
) -> EventRef<'a> {
    EventRef {
        schema_version: SCHEMA_VERSION,
        id,
        timestamp,
        kind: body.kind.as_deref(),
        agent: &body.agent,
        session: &body.session,
        host,
        tool: &body.tool,
        request: &body.request,
        peer: body.peer.as_ref(),
        decision: &body.decision,
        prev_hash,
        hash,
    }
}

/// How long the sync thread gathers events before one `fdatasync` covers them
/// all (`--fsync batch`).
const GROUP_COMMIT: Duration = Duration::from_millis(10);

/// The side files (anchor and checkpoint) are rewritten at most this often, and
/// at shutdown. Each rewrite is a create, write, `fdatasync` and rename; with the
/// anchor at every 100th event and the checkpoint every 100 ms, an exec burst of
/// 1,000 a second paid 20 of them a second (docs/BENCHMARKS.md, "The daemon's CPU
/// per exec").
pub const SIDE_FILES_EVERY: Duration = Duration::from_secs(1);

/// The sync thread: group commit every [`GROUP_COMMIT`] while events come, the
/// side files at most every [`SIDE_FILES_EVERY`], and asleep (no timer) while
/// there is nothing to do, so an idle daemon is not woken 100 times a second.
/// While a side file waits for its turn the thread keeps its 10 ms rhythm
/// instead of sleeping until woken: an append then never has to wake it.
fn sync_loop(sh: Arc<Shared>) {
    // The first side-file write after a second or more without one is not held back.
    let mut last_side: Option<Instant> = None;
    loop {
        {
            let mut st = sh.state.lock().unwrap_or_else(|e| e.into_inner());
            while !sh.stop.load(Ordering::SeqCst) && !st.sync_due(sh.cfg.fsync) && !st.side_due() {
                st.syncer_idle = true;
                st = sh.wake.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            st.syncer_idle = false;
        }
        if sh.stop.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(GROUP_COMMIT);
        let want_side = last_side.is_none_or(|t| t.elapsed() >= SIDE_FILES_EVERY);
        let r = flush_shared(&sh, want_side);
        // Written, or failed (retried in turn, not every 10 ms).
        if want_side && !matches!(r, Ok(false)) {
            last_side = Some(Instant::now());
        }
    }
}

/// Sync if dirty (per policy) and, with `save_side`, write a due anchor and
/// refresh the checkpoint; true when a side file was written.
fn flush_shared(sh: &Shared, save_side: bool) -> Result<bool, AuditError> {
    let (file, snapshot, name, anchor) = {
        let mut st = sh.state.lock().unwrap_or_else(|e| e.into_inner());
        let file = if st.dirty && sh.cfg.fsync != FsyncPolicy::Never {
            st.dirty = false;
            st.file.clone()
        } else {
            None
        };
        let (snap, anchor) = if save_side {
            let snap = ChainState {
                last_hash: st.last_hash.clone(),
                last_id: st.last_id.clone(),
                event_count: st.count,
                file: st
                    .name
                    .as_ref()
                    .map(ChainName::file_name)
                    .unwrap_or_default(),
            };
            let behind = st.count > 0 && st.saved.as_ref() != Some(&snap);
            (behind.then_some(snap), st.anchor_due.take())
        } else {
            (None, None)
        };
        (
            file,
            snap,
            st.name.as_ref().map(ChainName::file_name),
            anchor,
        )
    };
    if let Some(f) = file {
        let path = sh.cfg.dir.join(name.unwrap_or_default());
        f.sync_data().map_err(io_err("fdatasync", &path))?;
    }
    // Like the checkpoint, an anchor never runs ahead of synced data in batch mode:
    // the sync above covered every event written before it was taken.
    let wrote_side = anchor.is_some() || snapshot.is_some();
    if let Some(anchor) = anchor {
        write_atomic(
            &sh.cfg.dir,
            ANCHOR_FILE,
            &serde_json::to_vec(&anchor)?,
            sh.cfg.fsync,
        )?;
    }
    if let Some(snap) = snapshot {
        // The checkpoint must never run ahead of synced data in batch mode: the sync
        // above covered everything written before the snapshot was taken.
        write_atomic(
            &sh.cfg.dir,
            STATE_FILE,
            &serde_json::to_vec(&snap)?,
            sh.cfg.fsync,
        )?;
        let mut st = sh.state.lock().unwrap_or_else(|e| e.into_inner());
        st.saved = Some(snap);
    }
    Ok(wrote_side)
}

fn ensure_dir(dir: &Path) -> Result<(), AuditError> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(AuditError::NotADirectory(dir.display().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err("create directory", dir)),
        Err(e) => Err(io_err("inspect", dir)(e)),
    }
}

/// Replace `dir/name` with `bytes` through a temporary file and a rename, with an
/// `fdatasync` before the rename unless the policy is `--fsync never`.
fn write_atomic(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    fsync: FsyncPolicy,
) -> Result<(), AuditError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let dst = dir.join(name);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    if fsync != FsyncPolicy::Never {
        f.sync_data().map_err(io_err("fdatasync", &tmp))?;
    }
    fs::rename(&tmp, &dst).map_err(io_err("rename", &dst))
}

fn open_append(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW) // never follow a planted symlink
        .open(path)
        .map_err(io_err("open", path))
}

/// Close the current file and start the next: same day → next part, new day → base.
#[cold]
#[inline(never)]
fn rotate(cfg: &WriterConfig, st: &mut State, today: &str) -> Result<(), AuditError> {
    let prev = st.name.clone();
    let mut next = match &prev {
        Some(p) if p.date == today => ChainName {
            date: today.into(),
            part: p.part + 1,
        },
        _ => ChainName {
            date: today.into(),
            part: 0,
        },
    };
    while cfg.dir.join(next.file_name()).exists() && Some(&next) != prev.as_ref() {
        next.part += 1;
    }
    let path = cfg.dir.join(next.file_name());
    let file = open_append(&path)?;
    let mut size = file.metadata().map_err(io_err("stat", &path))?.len();
    if st.count > 0 || !st.last_hash.is_empty() {
        let header = ContinuationHeader {
            chain_continue: st.last_hash.clone(),
            prev_file: prev.as_ref().map(ChainName::file_name).unwrap_or_default(),
        };
        let mut line = serde_json::to_vec(&header)?;
        line.push(b'\n');
        (&file).write_all(&line).map_err(io_err("write", &path))?;
        size += line.len() as u64;
    }
    if cfg.fsync != FsyncPolicy::Never {
        let _ = file.sync_data();
        if let Ok(d) = File::open(&cfg.dir) {
            let _ = d.sync_all();
        }
    }
    if let Some(old) = st.file.replace(Arc::new(file)) {
        if cfg.fsync != FsyncPolicy::Never {
            let _ = old.sync_data();
        }
    }
    st.name = Some(next);
    st.size = size;
    Ok(())
}

/// Find where the chain stopped: the last hash, the event count, and a torn last line.
fn recover(dir: &Path, st: &mut State) -> Result<Recovery, AuditError> {
    let files = chain::list_chain_files(dir).map_err(io_err("list", dir))?;
    let mut rec = Recovery::default();
    let Some((last_name, last_path)) = files.last().cloned() else {
        return Ok(rec);
    };
    // Count events in every file; cut a torn line off the last one.
    for (i, (_, path)) in files.iter().enumerate() {
        let mut bytes = fs::read(path).map_err(io_err("read", path))?;
        if i == files.len() - 1 && !bytes.is_empty() && !bytes.ends_with(b"\n") {
            let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            rec.truncated_bytes = (bytes.len() - keep) as u64;
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io_err("open", path))?;
            f.set_len(keep as u64).map_err(io_err("truncate", path))?;
            f.sync_all().map_err(io_err("fsync", path))?;
            bytes.truncate(keep);
        }
        rec.events += bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty() && !l.starts_with(b"{\"chain_continue\""))
            .count() as u64;
    }
    // The last hash: the last event or header, searching back across files.
    for (_, path) in files.iter().rev() {
        let bytes = fs::read(path).map_err(io_err("read", path))?;
        let Some(line) = bytes.split(|&b| b == b'\n').rev().find(|l| !l.is_empty()) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_slice(line)
            .map_err(|_| AuditError::Unrecoverable(path.display().to_string()))?;
        if let Some(h) = v.get("hash").and_then(|h| h.as_str()) {
            st.last_hash = h.into();
            st.last_id = v.get("id").and_then(|x| x.as_str()).unwrap_or("").into();
            break;
        }
        if let Some(h) = v.get("chain_continue").and_then(|h| h.as_str()) {
            st.last_hash = h.into();
            break;
        }
        return Err(AuditError::Unrecoverable(path.display().to_string()));
    }
    let file = open_append(&last_path)?;
    st.size = file.metadata().map_err(io_err("stat", &last_path))?.len();
    st.file = Some(Arc::new(file));
    st.name = Some(last_name);
    st.count = rec.events;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    Ok(rec)
}
