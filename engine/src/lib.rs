//! Rampart policy engine.
//!
//! Decides whether one tool call (most often an `exec` of a shell command) may run,
//! using policy files in the format of the original Rampart. The crate is pure: it
//! reads policy files and nothing else.
//!
//! Module map:
//! - [`glob`]: the original's glob dialect (command, path and domain globs), compiled once.
//! - [`shell`]: shell-aware normalization: sanitize, split, tokenize, unwrap, subcommands.
//! - [`command`]: command conditions (`command_matches` & co) under granting and
//!   restrictive semantics.
//! - [`policy`]: the policy file model, strict loading with file:line:column errors,
//!   sources and merging.
//! - [`eval`]: the evaluator: scoping, priority, first match, deny wins, folding.
//! - [`decision`]: tool calls in, explained decisions out.
//! - [`lint`]: static checks of policy files (unreachable and shadowed rules, ...).
#![forbid(unsafe_code)]

pub mod command;
pub mod decision;
pub mod eval;
pub mod glob;
pub mod lint;
pub mod policy;
pub mod shell;

pub use decision::{Action, Decision, NameList, ToolCall};
pub use eval::{Engine, EvalOptions};
pub use policy::{LoadError, Sources};

/// Our shipped default policy (`policies/standard.yaml`), embedded so that a fresh
/// install needs no files.
pub const STANDARD_POLICY: &str = include_str!("../../policies/standard.yaml");
/// Our shipped strict policy (`policies/paranoid.yaml`).
pub const PARANOID_POLICY: &str = include_str!("../../policies/paranoid.yaml");
/// Our shipped observe-only policy (`policies/monitor.yaml`).
pub const MONITOR_POLICY: &str = include_str!("../../policies/monitor.yaml");
