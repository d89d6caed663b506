//! Policy-author subcommands: `check`, `eval`, `policy lint`, `test`.
//!
//! They load policies the way `serve` does (files given with `--config`, or the
//! embedded standard policy), evaluate with the engine only (nothing is executed), and
//! print for a human or as JSON.
//!
//! OWNER: helper "cli".

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use engine::{Action, Engine, Sources};

pub mod check;
pub mod eval;
pub mod policy;
pub mod test;

/// Load the engine from `--config` files, or the embedded standard policy when none
/// is given.
pub(crate) fn load_engine(config: &[PathBuf]) -> anyhow::Result<Engine> {
    if config.is_empty() {
        return Engine::from_yaml(
            engine::policy::sources::EMBEDDED_STANDARD_LABEL,
            engine::STANDARD_POLICY,
        )
        .context("cannot load the embedded standard policy");
    }
    let sources = Sources {
        files: config.to_vec(),
        ..Sources::default()
    };
    Engine::load(&sources)
        .map_err(|e| anyhow::anyhow!("cannot load policy: {}", load_error_text(&e)))
}

/// ANSI styling, enabled only when the stream is a terminal and `NO_COLOR` is unset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    enabled: bool,
}

impl Style {
    /// Styling for standard output.
    pub(crate) fn stdout() -> Style {
        Style {
            enabled: std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// An action name in its colour (bold).
    pub(crate) fn action(self, action: Action, text: &str) -> String {
        let code = match action {
            Action::Allow => "1;32",
            Action::Deny => "1;31",
            Action::Ask => "1;33",
            Action::Watch => "1;36",
            Action::Webhook => "1;35",
        };
        self.paint(code, text)
    }

    /// Green "ok"-style text.
    pub(crate) fn good(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Red "failed"-style text.
    pub(crate) fn bad(self, text: &str) -> String {
        self.paint("31", text)
    }

    /// Yellow warning text.
    pub(crate) fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Dimmed secondary text.
    pub(crate) fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// `file:line:column` for messages, leaving out an unknown position.
pub(crate) fn location(path: &str, line: usize, column: usize) -> String {
    match (line, column) {
        (0, _) => path.to_string(),
        (l, 0) => format!("{path}:{l}"),
        (l, c) => format!("{path}:{l}:{c}"),
    }
}

/// A [`engine::LoadError`] as `file:line:column: message`.
pub(crate) fn load_error_text(e: &engine::LoadError) -> String {
    let (at, message) = load_error_parts(e);
    format!("{at}: {message}")
}

/// A [`engine::LoadError`] split into its `file:line:column` and its message.
pub(crate) fn load_error_parts(e: &engine::LoadError) -> (String, String) {
    match e {
        engine::LoadError::Invalid {
            path,
            line,
            column,
            message,
        } => (location(path, *line, *column), message.clone()),
        // Other variants print as `file: message`.
        other => {
            let text = other.to_string();
            match text.split_once(": ") {
                Some((at, message)) => (at.to_string(), message.to_string()),
                None => ("policy".to_string(), text),
            }
        }
    }
}
