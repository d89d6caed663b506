//! Editing policy files in place: removing a consumed `once` rule (spec §2.8) and
//! adding an exact allow rule to an operator-override file (`rampart allow`, §2.6).
//!
//! The file is re-read under a cross-process lock file, checked, and rewritten
//! atomically (temporary file in the same directory, then rename). Comments inside
//! the document are not preserved by the rewrite, as in the original, which
//! re-serializes the document; [`add_command_allow`] keeps the leading comment block.

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
    write_atomically(path, out.as_bytes()).map_err(io)
}

/// Replace `path` with `bytes` atomically: a temporary file in the same directory,
/// synced, given the old file's permissions, then renamed over the target.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{base}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// An exact allow rule for one command, to add to an operator-override file.
#[derive(Debug, Clone, Copy)]
pub struct CommandAllow<'a> {
    /// Name of the policy that holds the rules (created when missing).
    pub policy: &'a str,
    /// The tool the policy applies to (`match.tool`), e.g. `exec`.
    pub tool: &'a str,
    /// The `command_matches` pattern (already escaped to match literally).
    pub pattern: &'a str,
    /// The rule's message.
    pub message: &'a str,
    /// RFC 3339 time for the rule's `added` key, if any.
    pub added: Option<&'a str>,
}

/// What [`add_command_allow`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowAdded {
    /// The rule was appended (and the file created if needed).
    Added,
    /// An allow rule with exactly this pattern was already there: nothing written.
    AlreadyPresent,
}

/// Header of an override file created by [`add_command_allow`].
const OVERRIDES_HEADER: &str = "\
# Operator overrides written by `rampart allow`. Allow rules in a file named
# user-overrides.yaml beat ask and watch decisions of other policies, never a deny
# (to allow something a policy denies, narrow that policy's rule instead).
";

/// Append an allow rule (`command_matches: [pattern]`) to the policy `rule.policy`
/// of the file at `path`, creating the file, its directory and the policy when
/// missing. Idempotent: an allow rule of that policy with exactly this pattern
/// already present leaves the file untouched. The result is checked to load before
/// it replaces the file; the leading comment block of an existing file is kept.
pub fn add_command_allow(path: &Path, rule: &CommandAllow<'_>) -> Result<AllowAdded, RewriteError> {
    let label = path.display().to_string();
    let io = |source| RewriteError::Io {
        path: label.clone(),
        source,
    };
    let parse_err = |message: String| RewriteError::Parse {
        path: label.clone(),
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let _lock = LockFile::acquire(path).map_err(io)?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(e)),
    };
    let mut doc: Value = if text.trim().is_empty() {
        Value::Mapping(Default::default())
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| parse_err(e.to_string()))?
    };
    let Some(top) = doc.as_mapping_mut() else {
        return Err(parse_err("the document is not a mapping".into()));
    };
    if !top.contains_key("version") {
        top.insert("version".into(), Value::String("1".into()));
    }
    let policies = top
        .entry("policies".into())
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if policies.is_null() {
        *policies = Value::Sequence(Vec::new());
    }
    let Some(policies) = policies.as_sequence_mut() else {
        return Err(parse_err("`policies` is not a list".into()));
    };
    let named = |v: &Value| v.get("name").and_then(Value::as_str) == Some(rule.policy);
    let at = match policies.iter().position(named) {
        Some(at) => at,
        None => {
            let mut m = serde_yaml_ng::Mapping::new();
            m.insert("name".into(), rule.policy.into());
            m.insert(
                "description".into(),
                format!("Exact `{}` calls allowed by an operator", rule.tool).into(),
            );
            let mut scope = serde_yaml_ng::Mapping::new();
            scope.insert("tool".into(), Value::Sequence(vec![rule.tool.into()]));
            m.insert("match".into(), Value::Mapping(scope));
            m.insert("rules".into(), Value::Sequence(Vec::new()));
            policies.push(Value::Mapping(m));
            policies.len() - 1
        }
    };
    let no_rules = || parse_err(format!("policy {:?} has no `rules` list", rule.policy));
    let slot = policies[at].get_mut("rules").ok_or_else(no_rules)?;
    if slot.is_null() {
        *slot = Value::Sequence(Vec::new());
    }
    let rules = slot.as_sequence_mut().ok_or_else(no_rules)?;
    let present = rules.iter().any(|r| {
        r.get("action").and_then(Value::as_str) == Some("allow")
            && r.get("when")
                .and_then(|w| w.get("command_matches"))
                .and_then(Value::as_sequence)
                .is_some_and(|ps| ps.len() == 1 && ps[0].as_str() == Some(rule.pattern))
    });
    if present {
        return Ok(AllowAdded::AlreadyPresent);
    }
    let mut r = serde_yaml_ng::Mapping::new();
    r.insert("action".into(), "allow".into());
    let mut when = serde_yaml_ng::Mapping::new();
    when.insert(
        "command_matches".into(),
        Value::Sequence(vec![rule.pattern.into()]),
    );
    r.insert("when".into(), Value::Mapping(when));
    if !rule.message.is_empty() {
        r.insert("message".into(), rule.message.into());
    }
    if let Some(added) = rule.added {
        r.insert("added".into(), added.into());
    }
    rules.push(Value::Mapping(r));
    let body = serde_yaml_ng::to_string(&doc).map_err(|e| parse_err(e.to_string()))?;
    let header: String = if text.trim().is_empty() {
        OVERRIDES_HEADER.to_string()
    } else {
        text.lines()
            .take_while(|l| l.trim_start().starts_with('#') || l.trim().is_empty())
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let out = format!("{header}{body}");
    super::load::parse_str(&label, &out).map_err(|e| parse_err(e.to_string()))?;
    write_atomically(path, out.as_bytes()).map_err(io)?;
    Ok(AllowAdded::Added)
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

    fn allow<'a>(pattern: &'a str) -> CommandAllow<'a> {
        CommandAllow {
            policy: "rampart-allow-exec",
            tool: "exec",
            pattern,
            message: "allowed by an operator",
            added: Some("2026-11-22T03:00:00Z"),
        }
    }

    #[test]
    fn add_command_allow_creates_the_file_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policies").join("user-overrides.yaml");
        assert_eq!(
            add_command_allow(&path, &allow("shred --help")).unwrap(),
            AllowAdded::Added
        );
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(first.starts_with("# Operator overrides"), "{first}");
        assert_eq!(
            add_command_allow(&path, &allow("shred --help")).unwrap(),
            AllowAdded::AlreadyPresent
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        assert_eq!(
            add_command_allow(&path, &allow("ls [*]")).unwrap(),
            AllowAdded::Added
        );
        let parsed = crate::policy::parse_file(&path).unwrap();
        assert_eq!(parsed.policies.len(), 1);
        let rules = &parsed.policies[0].rules;
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].action, crate::Action::Allow);
        assert_eq!(
            rules[1].when.as_ref().unwrap().command_matches,
            vec!["ls [*]".to_string()]
        );
        assert!(!dir
            .path()
            .join("policies/user-overrides.yaml.lock")
            .exists());
    }

    #[test]
    fn add_command_allow_keeps_other_policies_and_the_leading_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user-overrides.yaml");
        std::fs::write(&path, format!("# mine\n{FILE}")).unwrap();
        add_command_allow(&path, &allow("make test")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# mine\n"), "{text}");
        let parsed = crate::policy::parse_file(&path).unwrap();
        let names: Vec<&str> = parsed.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["p", "rampart-allow-exec"]);
        assert_eq!(parsed.policies[0].rules.len(), 2);
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
