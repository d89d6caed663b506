//! The parsed policy file, exactly as written (spec §1.2-1.5).
//!
//! Every struct rejects unknown keys. Values that can be wrong on their own (actions,
//! globs, durations, regexes, timestamps) are checked while they are decoded, so the
//! decoder reports the line and column of the offending value.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::fields;
use crate::decision::Action;

/// One policy file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Where the file came from (`path` or a label such as `embedded:standard`).
    #[serde(skip)]
    pub path: String,
    /// `version`: empty or `"1"`.
    #[serde(default, deserialize_with = "fields::version")]
    pub version: Option<String>,
    /// `default_action` as a runtime action (`log` is mapped to watch); `None` when
    /// absent or empty (which means deny at run time).
    #[serde(default, deserialize_with = "fields::default_action")]
    pub default_action: Option<Action>,
    /// The ordered policy list.
    #[serde(default)]
    pub policies: Vec<Policy>,
    /// Notification settings.
    #[serde(default)]
    pub notify: Option<Notify>,
    /// Inline tests (`rampart test`); never used for enforcement.
    #[serde(default)]
    pub tests: Vec<InlineTest>,
}

/// `notify`: where decisions are announced.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Target URL.
    #[serde(default)]
    pub url: String,
    /// `auto`, `slack`, `discord`, `teams`, `openclaw` or `webhook` (empty = auto).
    #[serde(default, deserialize_with = "fields::platform")]
    pub platform: String,
    /// Decisions that notify (`deny`, `watch`, `ask`); empty = deny and ask.
    #[serde(default, deserialize_with = "fields::notify_on")]
    pub on: Vec<Action>,
}

/// One inline test case of a policy file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineTest {
    /// Test name.
    #[serde(default)]
    pub name: String,
    /// Tool of the call.
    #[serde(default)]
    pub tool: String,
    /// Agent of the call.
    #[serde(default)]
    pub agent: String,
    /// Parameters of the call.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Expected action (`log` is watch).
    #[serde(deserialize_with = "fields::action")]
    pub expect: Action,
    /// Expected message substring, if any.
    #[serde(default)]
    pub expect_message: Option<String>,
}

/// One policy as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Unique name (required, non-empty).
    #[serde(deserialize_with = "fields::policy_name")]
    pub name: String,
    /// Documentation only.
    #[serde(default)]
    pub description: String,
    /// Sort key as written; 0 means 100. Use [`Policy::effective_priority`].
    #[serde(default)]
    pub priority: i64,
    /// `false` removes the policy from evaluation (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Scope.
    #[serde(default, rename = "match")]
    pub scope: Scope,
    /// Rules, evaluated top-down.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl Policy {
    /// Priority with the zero default mapped to 100.
    pub fn effective_priority(&self) -> i64 {
        if self.priority == 0 {
            100
        } else {
            self.priority
        }
    }
    /// Whether the policy takes part in evaluation.
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
}

/// `match`: which calls a policy applies to.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// `match.agent`: one glob (absent = `*`).
    #[serde(default, deserialize_with = "fields::opt_glob")]
    pub agent: Option<String>,
    /// `match.session`: one glob (absent = `*`).
    #[serde(default, deserialize_with = "fields::opt_glob")]
    pub session: Option<String>,
    /// `match.tool`: a glob or a list of globs (empty = every tool).
    #[serde(default, deserialize_with = "fields::tool_list")]
    pub tool: Vec<String>,
}

/// One rule as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawRule")]
pub struct Rule {
    /// Runtime action (`log` → watch).
    pub action: Action,
    /// The action word as written (lower-cased), e.g. `log`.
    pub action_written: String,
    /// Reason text.
    pub message: String,
    /// Conditions (`None` = unconditional).
    pub when: Option<Condition>,
    /// `ask` options.
    pub ask: Option<AskOptions>,
    /// `webhook` options.
    pub webhook: Option<WebhookOptions>,
    /// `expires_at`: the rule is skipped after this instant.
    pub expires_at: Option<Timestamp>,
    /// Single-use allow.
    pub once: bool,
    /// Metadata only.
    pub added: Option<Timestamp>,
}

/// The rule as decoded, before cross-field checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(deserialize_with = "fields::rule_action")]
    action: (Action, String),
    #[serde(default)]
    message: String,
    #[serde(default)]
    when: Option<Condition>,
    #[serde(default)]
    ask: Option<AskOptions>,
    #[serde(default)]
    webhook: Option<WebhookOptions>,
    #[serde(default, deserialize_with = "fields::opt_timestamp")]
    expires_at: Option<Timestamp>,
    #[serde(default)]
    once: bool,
    #[serde(default, deserialize_with = "fields::opt_timestamp")]
    added: Option<Timestamp>,
}

impl TryFrom<RawRule> for Rule {
    type Error = String;
    fn try_from(raw: RawRule) -> Result<Rule, String> {
        if raw.action.0 == Action::Webhook
            && raw.webhook.as_ref().is_none_or(|w| w.url.trim().is_empty())
        {
            return Err("rule with `action: webhook` needs a non-blank `webhook.url`".into());
        }
        Ok(Rule {
            action: raw.action.0,
            action_written: raw.action.1,
            message: raw.message,
            when: raw.when,
            ask: raw.ask,
            webhook: raw.webhook,
            expires_at: raw.expires_at,
            once: raw.once,
            added: raw.added,
        })
    }
}

/// `ask` options of a rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskOptions {
    /// Record the approval in the audit trail.
    #[serde(default)]
    pub audit: bool,
    /// Only ask in headless runs.
    #[serde(default)]
    pub headless_only: bool,
}

/// `webhook` options of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookOptions {
    /// Where to ask.
    #[serde(default)]
    pub url: String,
    /// Timeout in milliseconds (written as a Go duration; default 5s, capped at 30s).
    #[serde(
        default = "default_webhook_timeout",
        rename = "timeout",
        deserialize_with = "fields::webhook_timeout"
    )]
    pub timeout_ms: u64,
    /// Allow the call when the webhook fails.
    #[serde(default)]
    pub fail_open: bool,
}

fn default_webhook_timeout() -> u64 {
    5_000
}

/// A timestamp as written plus its instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Seconds since the Unix epoch (UTC).
    pub unix_seconds: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

/// `agent_depth` bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDepth {
    /// Depth ≥ this.
    #[serde(default)]
    pub gte: Option<i64>,
    /// Depth ≤ this.
    #[serde(default)]
    pub lte: Option<i64>,
    /// Depth = this.
    #[serde(default)]
    pub eq: Option<i64>,
}

/// `call_count`: a sliding-window count of calls to a tool.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallCount {
    /// Tool to count (default: the current tool).
    #[serde(default)]
    pub tool: Option<String>,
    /// Matches when the count is at least this (0..=1000).
    #[serde(default, deserialize_with = "fields::call_count_gte")]
    pub gte: u32,
    /// Window length in milliseconds (written as a Go duration, > 0, ≤ 720h).
    #[serde(rename = "window", deserialize_with = "fields::call_count_window")]
    pub window_ms: u64,
}

/// `when`: the conditions of a rule, as written (spec §1.5).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// `default: true`: always matches.
    #[serde(default)]
    pub default: bool,
    /// `command_matches`.
    #[serde(default, deserialize_with = "fields::globs")]
    pub command_matches: Vec<String>,
    /// `command_not_matches`.
    #[serde(default, deserialize_with = "fields::globs")]
    pub command_not_matches: Vec<String>,
    /// `command_contains` (non-blank substrings).
    #[serde(default, deserialize_with = "fields::substrings")]
    pub command_contains: Vec<String>,
    /// `command_env_assignments`.
    #[serde(default, deserialize_with = "fields::globs")]
    pub command_env_assignments: Vec<String>,
    /// `path_matches`.
    #[serde(default, deserialize_with = "fields::globs")]
    pub path_matches: Vec<String>,
    /// `path_not_matches`.
    #[serde(default, deserialize_with = "fields::globs")]
    pub path_not_matches: Vec<String>,
    /// `url_matches`.
    #[serde(default, deserialize_with = "fields::globs")]
    pub url_matches: Vec<String>,
    /// `domain_matches`.
    #[serde(default, deserialize_with = "fields::globs")]
    pub domain_matches: Vec<String>,
    /// `session_matches`.
    #[serde(default, deserialize_with = "fields::globs")]
    pub session_matches: Vec<String>,
    /// `session_not_matches`.
    #[serde(default, deserialize_with = "fields::globs")]
    pub session_not_matches: Vec<String>,
    /// `agent_depth`.
    #[serde(default)]
    pub agent_depth: Option<AgentDepth>,
    /// `tool_param_matches`: parameter name → glob, in file order.
    #[serde(default, deserialize_with = "fields::param_globs")]
    pub tool_param_matches: Vec<(String, String)>,
    /// `call_count`.
    #[serde(default)]
    pub call_count: Option<CallCount>,
    /// `response_matches` (regexes; response phase only).
    #[serde(default, deserialize_with = "fields::regexes")]
    pub response_matches: Vec<String>,
    /// `response_not_matches` (regexes; response phase only).
    #[serde(default, deserialize_with = "fields::regexes")]
    pub response_not_matches: Vec<String>,
}

impl Condition {
    /// No key set at all (an unconditional rule). `default: false` counts as unset.
    pub fn is_empty(&self) -> bool {
        self.command_matches.is_empty()
            && self.command_not_matches.is_empty()
            && self.command_contains.is_empty()
            && self.command_env_assignments.is_empty()
            && self.path_matches.is_empty()
            && self.path_not_matches.is_empty()
            && self.url_matches.is_empty()
            && self.domain_matches.is_empty()
            && self.session_matches.is_empty()
            && self.session_not_matches.is_empty()
            && self.agent_depth.is_none()
            && self.tool_param_matches.is_empty()
            && self.call_count.is_none()
            && self.response_matches.is_empty()
            && self.response_not_matches.is_empty()
    }

    /// Whether any command key that can make the rule match is present.
    pub fn has_command_keys(&self) -> bool {
        !self.command_matches.is_empty()
            || !self.command_contains.is_empty()
            || !self.command_env_assignments.is_empty()
    }

    /// A short description of the first condition, for explanations.
    pub fn summary(&self) -> String {
        fn first(key: &str, v: &[String]) -> Option<String> {
            v.first().map(|p| {
                if v.len() > 1 {
                    format!("{key}: {p} (+{} more)", v.len() - 1)
                } else {
                    format!("{key}: {p}")
                }
            })
        }
        if self.default {
            return "default: true".into();
        }
        first("command_matches", &self.command_matches)
            .or_else(|| first("command_contains", &self.command_contains))
            .or_else(|| first("command_env_assignments", &self.command_env_assignments))
            .or_else(|| first("path_matches", &self.path_matches))
            .or_else(|| first("url_matches", &self.url_matches))
            .or_else(|| first("domain_matches", &self.domain_matches))
            .or_else(|| first("session_matches", &self.session_matches))
            .or_else(|| {
                self.tool_param_matches
                    .first()
                    .map(|(k, v)| format!("tool_param_matches: {k}={v}"))
            })
            .or_else(|| {
                self.call_count
                    .as_ref()
                    .map(|c| format!("call_count: gte {} within {} ms", c.gte, c.window_ms))
            })
            .or_else(|| self.agent_depth.map(|_| "agent_depth".to_string()))
            .or_else(|| first("response_matches", &self.response_matches))
            .unwrap_or_else(|| "(only exclusions)".into())
    }
}
