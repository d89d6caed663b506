//! Where policies come from and how files merge (spec §1.8).

use std::path::{Path, PathBuf};

use super::load::{check_project_file, invalid, parse_str, read_policy_text};
use super::locate;
use super::model::{Notify, Policy, PolicyFile};
use super::LoadError;
use crate::decision::Action;

/// The environment variable that disables project policies when non-empty.
pub const NO_PROJECT_POLICY_ENV: &str = "RAMPART_NO_PROJECT_POLICY";
/// Label of the embedded standard policy.
pub const EMBEDDED_STANDARD_LABEL: &str = "embedded:standard";
/// File base names that hold durable operator overrides (spec §2.6).
pub const DURABLE_OVERRIDE_FILES: [&str; 2] = ["user-overrides.yaml", "auto-allowed.yaml"];
/// The one legacy duplicate name tolerated across a directory (first one kept).
const LEGACY_DUPLICATE: &str = "block-self-modification";

/// Where policies come from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Policy files, in order; the first file wins name collisions and `default_action`.
    pub files: Vec<PathBuf>,
    /// Directories of `*.yaml`/`*.yml` files (not recursive), merged after the files.
    pub dirs: Vec<PathBuf>,
    /// Use the embedded standard policy when no file is given (directories are then
    /// layered on top, and their policies replace embedded ones of the same name).
    pub embedded_default: bool,
    /// Directory to search upwards for `.rampart/policy.yaml` (a project policy that
    /// can only tighten). Skipped when `RAMPART_NO_PROJECT_POLICY` is set.
    pub project_dir: Option<PathBuf>,
}

/// Where one loaded policy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An explicitly given file (a primary file wins name collisions).
    File,
    /// A file found in a policy directory.
    Directory,
    /// The embedded standard policy.
    Embedded,
    /// The project policy `.rampart/policy.yaml` (`source=project`).
    Project,
    /// Text handed to [`PolicySet::from_text`].
    Text,
}

/// One policy with its provenance.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    /// The policy as written.
    pub policy: Policy,
    /// The file (or label) it came from.
    pub file: String,
    /// Profile name: the file base name without `.yaml`/`.yml`, or the embedded name.
    pub profile: String,
    /// Provenance.
    pub origin: Origin,
    /// From `user-overrides.yaml` or `auto-allowed.yaml` (spec §2.6).
    pub durable: bool,
    /// Position of the policy in its file's `policies` list.
    pub index_in_file: usize,
}

impl LoadedPolicy {
    /// Whether the policy comes from a project file (`source=project`).
    pub fn is_project(&self) -> bool {
        self.origin == Origin::Project
    }
}

/// Policies merged from every source, in file order (not yet sorted by priority).
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// Merged policies.
    pub policies: Vec<LoadedPolicy>,
    /// The effective configured default (`None` = deny at run time).
    pub default_action: Option<Action>,
    /// The effective notify settings.
    pub notify: Option<Notify>,
    /// Every file read, in order.
    pub files: Vec<String>,
}

fn profile_of(label: &str) -> String {
    if let Some(name) = label.strip_prefix("embedded:") {
        return name.to_string();
    }
    let base = Path::new(label)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| label.to_string());
    base.strip_suffix(".yaml")
        .or_else(|| base.strip_suffix(".yml"))
        .unwrap_or(&base)
        .to_string()
}

fn is_durable(label: &str) -> bool {
    Path::new(label)
        .file_name()
        .is_some_and(|n| DURABLE_OVERRIDE_FILES.iter().any(|d| n == *d))
}

impl PolicySet {
    /// One document from text (`label` names it in errors).
    pub fn from_text(label: &str, text: &str) -> Result<PolicySet, LoadError> {
        let file = parse_str(label, text)?;
        let mut set = PolicySet::default();
        set.add(file, Origin::Text, text)?;
        Ok(set)
    }

    /// Load and merge every source.
    pub fn load(sources: &Sources) -> Result<PolicySet, LoadError> {
        let mut set = PolicySet::default();
        for f in &sources.files {
            let text = read_policy_text(f)?;
            let file = parse_str(&f.display().to_string(), &text)?;
            set.add(file, Origin::File, &text)?;
        }
        if sources.files.is_empty() && sources.embedded_default {
            let file = parse_str(EMBEDDED_STANDARD_LABEL, crate::STANDARD_POLICY)?;
            set.add(file, Origin::Embedded, crate::STANDARD_POLICY)?;
        }
        for d in &sources.dirs {
            for f in dir_files(d)? {
                let text = read_policy_text(&f)?;
                let file = parse_str(&f.display().to_string(), &text)?;
                set.add(file, Origin::Directory, &text)?;
            }
        }
        if let Some(dir) = &sources.project_dir {
            let disabled = std::env::var_os(NO_PROJECT_POLICY_ENV).is_some_and(|v| !v.is_empty());
            if !disabled {
                if let Some(path) = project_policy_path(dir) {
                    let text = read_policy_text(&path)?;
                    let file = parse_str(&path.display().to_string(), &text)?;
                    check_project_file(&text, &file)?;
                    set.add(file, Origin::Project, &text)?;
                }
            }
        }
        Ok(set)
    }

    /// Merge one parsed file with the precedence of its origin.
    fn add(&mut self, file: PolicyFile, origin: Origin, text: &str) -> Result<(), LoadError> {
        // Policies record the absolute path of their file (errors keep the path as given).
        let label = match origin {
            Origin::File | Origin::Directory | Origin::Project => std::path::absolute(&file.path)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| file.path.clone()),
            Origin::Embedded | Origin::Text => file.path.clone(),
        };
        let given = file.path.clone();
        let durable = is_durable(&label);
        let profile = profile_of(&label);
        if origin != Origin::Project {
            if self.default_action.is_none() {
                self.default_action = file.default_action;
            }
            if self.notify.is_none() {
                self.notify = file.notify.clone();
            }
        }
        self.files.push(label.clone());
        for (index_in_file, policy) in file.policies.into_iter().enumerate() {
            let existing = self
                .policies
                .iter()
                .position(|p| p.policy.name == policy.name);
            if let Some(at) = existing {
                let prior = self.policies[at].origin;
                match (prior, origin) {
                    // Primary files and the base config win; project duplicates are skipped.
                    (Origin::File, _) | (_, Origin::Project) => continue,
                    // On-disk policies replace embedded ones of the same name.
                    (Origin::Embedded, _) => {
                        self.policies.remove(at);
                    }
                    _ if policy.name == LEGACY_DUPLICATE => continue,
                    _ => {
                        let hits = locate::find_key_values(text, "name", &policy.name, false);
                        let pos = hits.first().copied().unwrap_or((1, 1));
                        return Err(invalid(
                            &given,
                            pos,
                            format!(
                                "duplicate policy name {:?} (already defined in {})",
                                policy.name, self.policies[at].file
                            ),
                        ));
                    }
                }
            }
            self.policies.push(LoadedPolicy {
                policy,
                file: label.clone(),
                profile: profile.clone(),
                origin,
                durable,
                index_in_file,
            });
        }
        Ok(())
    }
}

/// `*.yaml` / `*.yml` files directly inside a directory, sorted by path.
pub fn dir_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let io = |source| LoadError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if yaml && path.is_file() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// `<root>/.rampart/policy.yaml`, where root is the nearest ancestor of `dir`
/// (inclusive) holding `.git`, or `dir` itself; `None` when the file does not exist.
pub fn project_policy_path(dir: &Path) -> Option<PathBuf> {
    let root = dir
        .ancestors()
        .find(|a| a.join(".git").exists())
        .unwrap_or(dir);
    let path = root.join(".rampart").join("policy.yaml");
    path.exists().then_some(path)
}
