//! `rampart audit verify`: walk the chain and report the first bad line.
//!
//! Detected: an edited line (hash mismatch), a deleted, inserted or reordered line
//! (`prev_hash` does not link), a torn or truncated last line, a missing or wrong
//! continuation header, a deleted first file (the chain must start at `""`), and
//! events cut from the end up to the last checkpoint (`audit-anchor.json` and
//! `.audit-chain-state.json` must still name an event at the same position with the
//! same hash).

use super::chain::{self, ContinuationHeader};
use super::writer::{Anchor, ChainState, ANCHOR_FILE, STATE_FILE};
use std::fmt;
use std::path::Path;

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Events in the chain.
    pub events: u64,
    /// Chain files.
    pub files: usize,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// File name (or side file).
    pub file: String,
    /// 1-based line number, 0 when not about a line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.reason)
        } else {
            write!(f, "{}: {}", self.file, self.reason)
        }
    }
}

fn broken(file: &str, line: usize, reason: impl Into<String>) -> Broken {
    Broken {
        file: file.into(),
        line,
        reason: reason.into(),
    }
}

/// Verify every chain file in `dir` and the anchor and checkpoint side files.
pub fn verify_dir(dir: &Path) -> Result<Verified, Broken> {
    let dname = dir.display().to_string();
    // Side files are read first: the writer only updates them after the lines exist.
    let anchor: Option<Anchor> = read_side(dir, ANCHOR_FILE)?;
    let state: Option<ChainState> = read_side(dir, STATE_FILE)?;
    let files = chain::list_chain_files(dir).map_err(|e| broken(&dname, 0, e.to_string()))?;

    let mut prev_hash = String::new();
    let mut prev_file: Option<String> = None;
    let mut count: u64 = 0;
    let mut anchor_ok = anchor.is_none();
    let mut state_ok = state.is_none();
    for (name, path) in &files {
        let fname = name.file_name();
        let bytes = std::fs::read(path).map_err(|e| broken(&fname, 0, e.to_string()))?;
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            let n = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
            return Err(broken(
                &fname,
                n,
                "unterminated last line (truncated or torn write)",
            ));
        }
        let mut first_record = true;
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let lines = if body.is_empty() {
            Vec::new()
        } else {
            body.split(|&b| b == b'\n').collect()
        };
        for (i, line) in lines.into_iter().enumerate() {
            let lineno = i + 1;
            if line.is_empty() {
                return Err(broken(&fname, lineno, "empty line"));
            }
            let v: serde_json::Value = serde_json::from_slice(line)
                .map_err(|e| broken(&fname, lineno, format!("not valid JSON: {e}")))?;
            if v.get("chain_continue").is_some() {
                let h: ContinuationHeader = serde_json::from_value(v)
                    .map_err(|e| broken(&fname, lineno, format!("bad continuation header: {e}")))?;
                if !first_record {
                    return Err(broken(&fname, lineno, "continuation header is not the first record of its file (lines inserted or reordered)"));
                }
                if prev_file.is_none() {
                    return Err(broken(
                        &fname,
                        lineno,
                        "the chain starts with a continuation header: earlier files were deleted",
                    ));
                }
                if h.chain_continue != prev_hash {
                    return Err(broken(&fname, lineno, "continuation header does not continue the previous file's last hash (events deleted or files reordered)"));
                }
                if Some(&h.prev_file) != prev_file.as_ref() {
                    return Err(broken(
                        &fname,
                        lineno,
                        format!(
                            "continuation header names previous file {:?}, expected {:?}",
                            h.prev_file,
                            prev_file.clone().unwrap_or_default()
                        ),
                    ));
                }
                first_record = false;
                continue;
            }
            if first_record && prev_file.is_some() {
                return Err(broken(
                    &fname,
                    lineno,
                    "file does not start with a continuation header",
                ));
            }
            first_record = false;
            let id = v.get("id").and_then(|x| x.as_str()).unwrap_or("");
            if id.is_empty() {
                return Err(broken(
                    &fname,
                    lineno,
                    "record has no id and is not a continuation header",
                ));
            }
            let stated_prev = v
                .get("prev_hash")
                .and_then(|x| x.as_str())
                .ok_or_else(|| broken(&fname, lineno, "record has no prev_hash"))?;
            let Some((unsealed, stated)) = chain::unseal(line) else {
                return Err(broken(
                    &fname,
                    lineno,
                    "record does not end with a sha256 hash",
                ));
            };
            if !chain::ct_eq(stated_prev.as_bytes(), prev_hash.as_bytes()) {
                return Err(broken(&fname, lineno, "prev_hash does not match the previous event's hash (an event was deleted, inserted or reordered)"));
            }
            let computed = chain::chain_hash(&prev_hash, &unsealed);
            if !chain::ct_eq(computed.as_bytes(), stated.as_bytes()) {
                return Err(broken(
                    &fname,
                    lineno,
                    "hash mismatch: the event was modified",
                ));
            }
            count += 1;
            if let Some(a) = &anchor {
                if a.event_id == id {
                    if a.hash != stated || a.event_count != count {
                        return Err(broken(ANCHOR_FILE, 0, format!("CHAIN BROKEN: anchor event {id} is at position {count} with hash {stated}, anchor says {} / {}", a.event_count, a.hash)));
                    }
                    anchor_ok = true;
                }
            }
            if let Some(s) = &state {
                if s.event_count == count {
                    if s.last_hash != stated {
                        return Err(broken(STATE_FILE, 0, format!("CHAIN BROKEN: event #{count} has hash {stated}, checkpoint says {}", s.last_hash)));
                    }
                    state_ok = true;
                }
            }
            prev_hash = stated.to_string();
        }
        prev_file = Some(fname);
    }
    if let Some(a) = anchor.filter(|_| !anchor_ok) {
        return Err(broken(
            ANCHOR_FILE,
            0,
            format!(
                "CHAIN BROKEN: anchored event {} (#{}) is missing (events deleted)",
                a.event_id, a.event_count
            ),
        ));
    }
    if let Some(s) = state.filter(|_| !state_ok) {
        return Err(broken(STATE_FILE, 0, format!("CHAIN BROKEN: the log holds {count} events but {} were written (events deleted from the end)", s.event_count)));
    }
    Ok(Verified {
        events: count,
        files: files.len(),
    })
}

fn read_side<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<Option<T>, Broken> {
    match std::fs::read(dir.join(name)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| broken(name, 0, format!("unreadable: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(broken(name, 0, e.to_string())),
    }
}
