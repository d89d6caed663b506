//! Tool calls in, explained decisions out.

use std::sync::Arc;

use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The reserved tool classes (spec §1.7): host-chosen names that must be spelled in
/// lower case. The loader, the linter and the daemon's request validation share it.
pub const RESERVED_TOOLS: [&str; 11] = [
    "exec",
    "read",
    "write",
    "edit",
    "fetch",
    "http",
    "web_fetch",
    "browser",
    "mcp",
    "mcp-dangerous",
    "mcp-destructive",
];

/// What a policy decides for one tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The call may run.
    Allow,
    /// The call must not run.
    Deny,
    /// The call needs a human's approval first.
    Ask,
    /// The call may run, and is flagged for review (`log` is an alias).
    Watch,
    /// An external webhook decides.
    Webhook,
}

impl Action {
    /// The lower-case name used in policy files, the wire format and the audit.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::Ask => "ask",
            Action::Watch => "watch",
            Action::Webhook => "webhook",
        }
    }

    /// Whether a caller may go ahead (`allow` and `watch` only, as the original).
    pub fn is_allowed(self) -> bool {
        matches!(self, Action::Allow | Action::Watch)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tool call to decide on (spec §2.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Tool name, chosen by the host (`exec`, `read`, `write`, `fetch`, ...).
    pub tool: String,
    /// Agent name (matched by `match.agent`).
    #[serde(default)]
    pub agent: String,
    /// Session name (matched by `match.session` and `session_matches`).
    #[serde(default)]
    pub session: String,
    /// Depth of the agent in a tree of agents (`agent_depth` condition).
    #[serde(default)]
    pub agent_depth: i64,
    /// The tool's parameters (`command`, `path`, `url`, ...).
    #[serde(default)]
    pub params: Map<String, Value>,
    /// The raw tool input, when it differs from `params` (`tool_param_matches`).
    #[serde(default)]
    pub input: Option<Map<String, Value>>,
    /// Working directory of the call, when known.
    #[serde(default)]
    pub workdir: Option<String>,
}

impl ToolCall {
    /// An `exec` call of one shell command, as the preload library asks.
    pub fn exec(command: impl Into<String>) -> Self {
        let mut params = Map::new();
        params.insert("command".into(), Value::String(command.into()));
        ToolCall {
            tool: "exec".into(),
            params,
            ..Default::default()
        }
    }
}

/// Which rule decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRef {
    /// Zero-based index of the rule inside its policy.
    pub index: usize,
    /// A short human description of the rule (its message, or its first condition).
    pub summary: String,
}

/// An explained decision: what a user reads when a command is blocked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The folded action.
    pub action: Action,
    /// The message of the deciding rule, or the default-action text.
    pub message: String,
    /// The policy whose rule decided, if any rule did.
    pub policy: Option<String>,
    /// The rule that decided, if any.
    pub rule: Option<RuleRef>,
    /// Policies whose rule fired, in order (for deny: then every later policy in scope,
    /// as the original reports). Names are shared with the compiled policies.
    pub matched_policies: NameList,
    /// The normalized command component (or alias) that the deciding rule matched.
    pub matched_component: Option<String>,
    /// Every policy in scope for this call, in evaluation order. Shared with the
    /// compiled policies when the scope depends on the tool alone.
    pub policies_in_scope: NameList,
    /// The executed components the engine saw after normalization (exec calls).
    pub components: Vec<String>,
    /// Set when the command could not be parsed safely (unbalanced quotes or
    /// substitutions, size limits): restrictive rules then match conservatively.
    pub opaque: Option<String>,
    /// The file (or label such as `embedded:standard`) of the deciding policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `ask.audit` of the deciding ask rule.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ask_audit: bool,
    /// `ask.headless_only` of the deciding ask rule.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub headless_only: bool,
    /// Where to ask when the action is `webhook`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTarget>,
}

/// The webhook a `webhook` decision delegates to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTarget {
    /// URL to POST `{tool, params, agent, session, policy, timestamp}` to.
    pub url: String,
    /// Timeout in milliseconds (at most 30 000).
    pub timeout_ms: u64,
    /// Allow the call when the webhook fails.
    pub fail_open: bool,
}

impl Decision {
    /// A decision made before any rule ran (ambiguous input, size limits, counters).
    pub fn early(action: Action, message: impl Into<String>) -> Decision {
        Decision {
            action,
            message: message.into(),
            policy: None,
            rule: None,
            matched_policies: NameList::new(),
            matched_component: None,
            policies_in_scope: NameList::new(),
            components: Vec::new(),
            opaque: None,
            source: None,
            ask_audit: false,
            headless_only: false,
            webhook: None,
        }
    }
}

/// An immutable list of names (policy names in [`Decision::policies_in_scope`]),
/// cheap to clone: the list is shared, so a decision can hand out a list precomputed
/// at load time without copying a string. Derefs to `[Arc<str>]`; serializes as a
/// JSON array of strings, exactly as a `Vec<String>` does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NameList(Option<Arc<[Arc<str>]>>);

impl NameList {
    /// The empty list (no allocation).
    pub const fn new() -> NameList {
        NameList(None)
    }

    /// Whether `name` is in the list.
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|n| &**n == name)
    }

    /// The names as owned strings.
    pub fn to_strings(&self) -> Vec<String> {
        self.iter().map(|n| n.to_string()).collect()
    }
}

impl std::ops::Deref for NameList {
    type Target = [Arc<str>];

    fn deref(&self) -> &[Arc<str>] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl From<Vec<Arc<str>>> for NameList {
    fn from(v: Vec<Arc<str>>) -> NameList {
        if v.is_empty() {
            NameList::new()
        } else {
            NameList(Some(v.into()))
        }
    }
}

impl FromIterator<Arc<str>> for NameList {
    fn from_iter<I: IntoIterator<Item = Arc<str>>>(iter: I) -> NameList {
        NameList::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> FromIterator<&'a str> for NameList {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> NameList {
        iter.into_iter().map(Arc::from).collect()
    }
}

impl FromIterator<String> for NameList {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> NameList {
        iter.into_iter().map(Arc::from).collect()
    }
}

impl From<Vec<String>> for NameList {
    fn from(v: Vec<String>) -> NameList {
        v.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a NameList {
    type Item = &'a Arc<str>;
    type IntoIter = std::slice::Iter<'a, Arc<str>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for NameList {
    fn eq(&self, other: &Vec<S>) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| **a == *b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for NameList {
    fn eq(&self, other: &[S; N]) -> bool {
        self.len() == N && self.iter().zip(other).all(|(a, b)| **a == *b.as_ref())
    }
}

impl Serialize for NameList {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for name in self.iter() {
            seq.serialize_element(&**name)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for NameList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<NameList, D::Error> {
        Vec::<String>::deserialize(deserializer).map(NameList::from)
    }
}
