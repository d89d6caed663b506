//! The policy file model, strict loading and sources (spec §1).
//!
//! OWNER: helper "policy" — this file holds the agreed public API; bodies are filled in.

use std::path::PathBuf;
use thiserror::Error;

/// Where policies come from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Policy files, in order; the first file wins name collisions and `default_action`.
    pub files: Vec<PathBuf>,
    /// Directories of `*.yaml`/`*.yml` files (not recursive), merged after the files.
    pub dirs: Vec<PathBuf>,
    /// Use the embedded standard policy when no file or directory is given.
    pub embedded_default: bool,
    /// Directory to search upwards for `.rampart/policy.yaml` (a project policy that
    /// can only tighten). Skipped when `RAMPART_NO_PROJECT_POLICY` is set.
    pub project_dir: Option<PathBuf>,
}

/// Why a policy load failed. Every variant names the file, and where known the line,
/// column and offending key.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid policy YAML.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// File.
        path: String,
        /// 1-based line, 0 when unknown.
        line: usize,
        /// 1-based column, 0 when unknown.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
}
