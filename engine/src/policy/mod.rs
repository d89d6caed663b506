//! Policy files: the model, strict loading with file:line:column errors, sources and
//! merging (spec §1).
//!
//! # For tools that read policy files (`rampart policy lint`, `rampart test`)
//!
//! - [`parse_file`]`(path)` / [`parse_str`]`(label, text)` decode one file strictly and
//!   return a [`PolicyFile`]: `policies` (each [`Policy`] with `name`, `description`,
//!   `priority`, `enabled`, `scope` (`match`), `rules`), every [`Rule`] with its
//!   `action`, `action_written` (e.g. `log`), `message`, `when` ([`Condition`], the
//!   keys as written), `ask`, `webhook`, `expires_at`, `once`, `added`; the
//!   `default_action`, `notify`, and the inline `tests` ([`InlineTest`]: `name`,
//!   `tool`, `agent`, `params`, `expect`, `expect_message`).
//! - Every failure is a [`LoadError`]; [`LoadError::Invalid`] carries the file, the
//!   1-based line and column, and a message naming the key (for example
//!   `policies[0].rules[1].action: action \`require_approval\` was removed ...`).
//! - [`PolicySet::load`] merges [`Sources`] (files, directories, the embedded standard
//!   policy, the project policy) the way the original does; [`crate::Engine`] compiles a
//!   set into matchers.
//!
//! Submodules: [`model`] (the structs), [`load`] (decoding), [`sources`] (merging),
//! `fields` (checked value decoders), `locate` (positions), [`time`] (Go durations and
//! RFC 3339), [`rewrite`] (removing consumed `once` rules from their file, adding the
//! exact allow rules of `rampart allow`).

use thiserror::Error;

mod fields;
pub mod load;
pub(crate) mod locate;
pub mod model;
pub mod rewrite;
pub mod sources;
pub mod time;

pub use fields::check_regex;
pub use load::{parse_file, parse_str, MAX_POLICY_FILE_BYTES};
pub use model::{
    AgentDepth, AskOptions, CallCount, Condition, InlineTest, Notify, Policy, PolicyFile, Rule,
    Scope, Timestamp, WebhookOptions,
};
pub use sources::{LoadedPolicy, Origin, PolicySet, Sources};

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
