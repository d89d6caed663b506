//! Removing a consumed `once` rule from its policy file (spec §2.8).
//!
//! The file is re-read under a cross-process lock file, the rule is checked to still
//! be the same single-use rule, and the file is rewritten atomically (temporary file
//! in the same directory, then rename). Comments are not preserved by the rewrite,
//! as in the original, which re-serializes the document.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_yaml_ng::Value;
use thiserror::Error;

/// Why a rule could not be removed.
#[derive(Debug, Error)]
pub enum RewriteError {
    /// Reading, locking or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file no longer parses.
    #[error("{path}: {message}")]
    Parse {
        /// File.
        path: String,
        /// Decoder message.
        message: String,
    },
    /// The rule is not where it was, or is no longer a `once` rule.
    #[error("{path}: rule {rule} of policy {policy:?} is no longer a single-use rule")]
    Gone {
        /// File.
        path: String,
        /// Policy name.
        policy: String,
        /// Rule index.
        rule: usize,
    },
}

/// A lock file held for the duration of a rewrite.
struct LockFile(PathBuf);

impl LockFile {
    fn acquire(target: &Path) -> std::io::Result<LockFile> {
        let mut name = target.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        for _ in 0..200 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(LockFile(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // A lock older than 10 s is left over from a crash.
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .is_some_and(|age| age > Duration::from_secs(10));
                    if stale {
                        let _ = std::fs::remove_file(&path);
                    } else {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "policy file is locked by another process",
        ))
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Remove rule `rule` of the policy named `policy` (expected at `policy_index` of the
/// file's `policies` list) from `path`, provided it is still a `once: true` rule.
pub fn remove_once_rule(
    path: &Path,
    policy_index: usize,
    policy: &str,
    rule: usize,
) -> Result<(), RewriteError> {
    let label = path.display().to_string();
    let io = |source| RewriteError::Io {
        path: label.clone(),
        source,
    };
    let gone = || RewriteError::Gone {
        path: label.clone(),
        policy: policy.to_string(),
        rule,
    };
    let _lock = LockFile::acquire(path).map_err(io)?;
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| RewriteError::Parse {
        path: label.clone(),
        message: e.to_string(),
    })?;
    let policies = doc
        .get_mut("policies")
        .and_then(Value::as_sequence_mut)
        .ok_or_else(gone)?;
    let named = |v: &Value| v.get("name").and_then(Value::as_str) == Some(policy);
    let at = if policies.get(policy_index).is_some_and(named) {
        policy_index
    } else {
        policies.iter().position(named).ok_or_else(gone)?
    };
    let rules = policies[at]
        .get_mut("rules")
        .and_then(Value::as_sequence_mut)
        .ok_or_else(gone)?;
    let still_once = rules
        .get(rule)
        .and_then(|r| r.get("once"))
        .and_then(Value::as_bool)
        == Some(true);
    if !still_once {
        return Err(gone());
    }
    rules.remove(rule);
    let out = serde_yaml_ng::to_string(&doc).map_err(|e| RewriteError::Parse {
        path: label.clone(),
        message: e.to_string(),
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{base}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(out.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "version: \"1\"\npolicies:\n  - name: p\n    rules:\n      - action: allow\n        once: true\n        when:\n          command_matches: [\"make deploy\"]\n      - action: deny\n        when:\n          default: true\n";

    #[test]
    fn removes_exactly_the_once_rule_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user-overrides.yaml");
        std::fs::write(&path, FILE).unwrap();
        remove_once_rule(&path, 0, "p", 0).unwrap();
        let parsed = crate::policy::parse_file(&path).unwrap();
        assert_eq!(parsed.policies[0].rules.len(), 1);
        assert_eq!(parsed.policies[0].rules[0].action, crate::Action::Deny);
        assert!(!dir.path().join("user-overrides.yaml.lock").exists());
    }

    #[test]
    fn refuses_when_the_rule_is_no_longer_single_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, FILE).unwrap();
        assert!(matches!(
            remove_once_rule(&path, 0, "p", 1),
            Err(RewriteError::Gone { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), FILE);
    }
}
