//! The evaluator (spec §2): scoping, priority order, first match inside a policy,
//! deny wins across policies, folding, default action.
//!
//! OWNER: helper "policy" — this file holds the agreed public API; bodies are filled in.

use crate::decision::{Action, Decision, ToolCall};
use crate::policy::{LoadError, Sources};

/// Compiled policies, ready to decide. Cheap to share (`Arc<Engine>`) across threads.
#[derive(Debug, Default)]
pub struct Engine {
    _private: (),
}

impl Engine {
    /// Load and compile policies from sources.
    pub fn load(sources: &Sources) -> Result<Engine, LoadError> {
        let _ = sources;
        Ok(Engine::default())
    }

    /// Load one policy document from text; `label` names it in errors.
    pub fn from_yaml(label: &str, text: &str) -> Result<Engine, LoadError> {
        let _ = (label, text);
        Ok(Engine::default())
    }

    /// The embedded shipped standard policy.
    pub fn standard() -> Engine {
        Engine::default()
    }

    /// Decide without side effects (preview).
    pub fn evaluate(&self, call: &ToolCall) -> Decision {
        let _ = call;
        Decision {
            action: Action::Deny,
            message: "engine not built yet".into(),
            policy: None,
            rule: None,
            matched_policies: vec![],
            matched_component: None,
            policies_in_scope: vec![],
            components: vec![],
            opaque: None,
        }
    }

    /// Decide and record: counts `call_count` calls and consumes `once` rules.
    pub fn enforce(&self, call: &ToolCall) -> Decision {
        self.evaluate(call)
    }
}
