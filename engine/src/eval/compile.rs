//! Policies compiled once at load: globs, path patterns, command conditions, and a
//! per-tool index of the policies that can apply (spec §2.2 step 3).

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::command::{CommandConditions, Prefilter, PrefilterBuilder, SlotRange};
use crate::decision::{Action, NameList};
use crate::glob::{DomainGlob, Glob};
use crate::policy::{
    AgentDepth, AskOptions, Condition, LoadedPolicy, Origin, PolicySet, Rule, Timestamp,
    WebhookOptions,
};

use super::paths::PathPattern;
use super::response::ResponseRule;

pub use crate::decision::RESERVED_TOOLS;

/// A compiled `call_count`.
#[derive(Debug, Clone)]
pub struct CallCountRule {
    /// Tool counted (`None` = the current tool).
    pub tool: Option<String>,
    /// Threshold.
    pub gte: usize,
    /// Window.
    pub window: Duration,
}

/// Compiled path conditions.
#[derive(Debug, Clone)]
pub struct PathCond {
    /// `path_matches`.
    pub matches: Vec<PathPattern>,
    /// `path_not_matches`.
    pub not_matches: Vec<PathPattern>,
}

/// The checks of a rule that has at least one key able to make it match.
#[derive(Debug)]
pub struct Checks {
    /// Command keys (present when `command_matches`, `command_contains` or
    /// `command_env_assignments` is).
    pub command: Option<CommandConditions>,
    /// Path keys (present when `path_matches` is).
    pub paths: Option<PathCond>,
    /// `url_matches`.
    pub urls: Vec<Glob>,
    /// `domain_matches`.
    pub domains: Vec<DomainGlob>,
    /// `session_matches`.
    pub sessions: Vec<Glob>,
    /// `session_not_matches`.
    pub not_sessions: Vec<Glob>,
    /// `agent_depth`.
    pub agent_depth: Option<AgentDepth>,
    /// `tool_param_matches` with lower-cased patterns.
    pub tool_params: Vec<(String, Glob)>,
    /// `call_count`.
    pub call_count: Option<CallCountRule>,
    /// Only `command` is set (see [`Checks::only_command`]): the evaluator then
    /// skips every other check without touching it.
    pub command_only: bool,
}

impl Checks {
    /// Whether `command` is the only check present.
    pub fn only_command(&self) -> bool {
        self.command.is_some()
            && self.paths.is_none()
            && self.urls.is_empty()
            && self.domains.is_empty()
            && self.sessions.is_empty()
            && self.not_sessions.is_empty()
            && self.agent_depth.is_none()
            && self.tool_params.is_empty()
            && self.call_count.is_none()
    }
}

/// A compiled `when`.
#[derive(Debug)]
pub enum Cond {
    /// `default: true` or an empty `when`.
    Always,
    /// Only exclusions (or only `response_*`): never matches a request.
    Never,
    /// Real checks.
    Check(Box<Checks>),
}

/// A compiled rule.
#[derive(Debug)]
pub struct CompiledRule {
    /// Index in its policy.
    pub index: usize,
    /// Action.
    pub action: Action,
    /// deny/ask.
    pub restrictive: bool,
    /// Message as written.
    pub message: String,
    /// What a decision by this rule says when the rule has no message and no
    /// other text applies: which policy decided (written once here, not
    /// formatted for every call).
    pub unexplained: String,
    /// Short description for explanations.
    pub summary: String,
    /// Conditions.
    pub cond: Cond,
    /// Skip after this instant.
    pub expires_at: Option<Timestamp>,
    /// Single-use allow.
    pub once: bool,
    /// Consumed by an enforcing evaluation (in memory).
    pub consumed: AtomicBool,
    /// `ask` options.
    pub ask: AskOptions,
    /// `webhook` options.
    pub webhook: Option<WebhookOptions>,
    /// Response-phase regexes (`response_matches` / `response_not_matches`).
    pub response: Option<ResponseRule>,
}

/// A compiled policy.
#[derive(Debug)]
pub struct CompiledPolicy {
    /// Name.
    pub name: String,
    /// The same name, shared with the decisions that list it.
    pub shared_name: Arc<str>,
    /// Effective priority.
    pub priority: i64,
    /// File or label.
    pub file: String,
    /// Profile name.
    pub profile: String,
    /// Provenance.
    pub origin: Origin,
    /// Durable operator override.
    pub durable: bool,
    /// Index of the policy in its file.
    pub index_in_file: usize,
    /// `match.agent` (None = any).
    pub agent: Option<Glob>,
    /// `match.session` (None = any).
    pub session: Option<Glob>,
    /// `match.tool` (empty = any).
    pub tools: Vec<Glob>,
    /// Rules.
    pub rules: Vec<CompiledRule>,
    /// When every rule needs its command keys to match and each has a prefilter
    /// slot: their slots, so the whole policy is skipped when none can match.
    pub command_gate: Option<SlotRange>,
}

impl CompiledPolicy {
    /// Whether `match.tool` admits a tool name.
    pub fn admits_tool(&self, tool: &str) -> bool {
        self.tools.is_empty() || self.tools.iter().any(|g| g.is_match(tool))
    }
    /// Whether the policy comes from a project file.
    pub fn is_project(&self) -> bool {
        self.origin == Origin::Project
    }
}

fn scope_glob(p: &Option<String>) -> Option<Glob> {
    match p.as_deref() {
        None | Some("*") => None,
        Some(p) => Some(Glob::new(p)),
    }
}

fn compile_cond(when: Option<&Condition>) -> Cond {
    let Some(c) = when else {
        return Cond::Always;
    };
    if c.default || c.is_empty() {
        return Cond::Always;
    }
    let positive = c.has_command_keys()
        || !c.path_matches.is_empty()
        || !c.url_matches.is_empty()
        || !c.domain_matches.is_empty()
        || !c.session_matches.is_empty()
        || c.agent_depth.is_some()
        || !c.tool_param_matches.is_empty()
        || c.call_count.is_some();
    if !positive {
        return Cond::Never;
    }
    let globs = |v: &[String]| v.iter().map(|p| Glob::new(p)).collect::<Vec<_>>();
    let paths = |v: &[String]| v.iter().map(|p| PathPattern::new(p)).collect::<Vec<_>>();
    let mut checks = Checks {
        command: c.has_command_keys().then(|| {
            CommandConditions::new(
                &c.command_matches,
                &c.command_not_matches,
                &c.command_contains,
                &c.command_env_assignments,
            )
        }),
        paths: (!c.path_matches.is_empty()).then(|| PathCond {
            matches: paths(&c.path_matches),
            not_matches: paths(&c.path_not_matches),
        }),
        urls: globs(&c.url_matches),
        domains: c
            .domain_matches
            .iter()
            .map(|p| DomainGlob::new(p))
            .collect(),
        sessions: globs(&c.session_matches),
        not_sessions: globs(&c.session_not_matches),
        agent_depth: c.agent_depth,
        tool_params: c
            .tool_param_matches
            .iter()
            .map(|(k, p)| (k.clone(), Glob::new(&p.to_lowercase())))
            .collect(),
        call_count: c.call_count.as_ref().map(|cc| CallCountRule {
            tool: cc.tool.clone().filter(|t| !t.is_empty()),
            gte: cc.gte as usize,
            window: Duration::from_millis(cc.window_ms),
        }),
        command_only: false,
    };
    checks.command_only = checks.only_command();
    Cond::Check(Box::new(checks))
}

fn rule_summary(rule: &Rule) -> String {
    let cond = match &rule.when {
        Some(c) if !c.is_empty() => c.summary(),
        _ => "unconditional".to_string(),
    };
    if rule.message.is_empty() {
        format!("{} when {cond}", rule.action_written)
    } else {
        format!("{} when {cond}: {}", rule.action_written, rule.message)
    }
}

fn compile_policy(lp: &LoadedPolicy) -> CompiledPolicy {
    let p = &lp.policy;
    CompiledPolicy {
        name: p.name.clone(),
        shared_name: Arc::from(p.name.as_str()),
        priority: p.effective_priority(),
        file: lp.file.clone(),
        profile: lp.profile.clone(),
        origin: lp.origin,
        durable: lp.durable,
        index_in_file: lp.index_in_file,
        agent: scope_glob(&p.scope.agent),
        session: scope_glob(&p.scope.session),
        tools: p
            .scope
            .tool
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| Glob::new(t))
            .collect(),
        rules: p
            .rules
            .iter()
            .enumerate()
            .map(|(index, r)| CompiledRule {
                index,
                action: r.action,
                restrictive: matches!(r.action, Action::Deny | Action::Ask),
                message: r.message.clone(),
                unexplained: unexplained(r.action, &p.name),
                summary: rule_summary(r),
                cond: compile_cond(r.when.as_ref()),
                expires_at: r.expires_at,
                once: r.once,
                consumed: AtomicBool::new(false),
                ask: r.ask.unwrap_or_default(),
                webhook: r.webhook.clone(),
                response: r
                    .when
                    .as_ref()
                    .and_then(|w| ResponseRule::new(&w.response_matches, &w.response_not_matches)),
            })
            .collect(),
        // Set by `Compiled::new` once every rule has its prefilter slot.
        command_gate: None,
    }
}

/// The message of a decision by a rule without one: `<verb> by policy "<name>"`.
pub fn unexplained(action: Action, policy: &str) -> String {
    let verb = match action {
        Action::Deny => "denied",
        Action::Ask => "approval required",
        Action::Watch => "allowed and flagged",
        Action::Allow => "allowed",
        Action::Webhook => "delegated to a webhook",
    };
    format!("{verb} by policy {policy:?}")
}

/// Everything the evaluator needs, precomputed.
#[derive(Debug, Default)]
pub struct Compiled {
    /// Enabled policies, stably sorted by priority (file order for ties).
    pub policies: Vec<CompiledPolicy>,
    /// Per known tool name: the policies whose `match.tool` admits it.
    pub by_tool: HashMap<String, ToolScope>,
    /// Parameters read by some `tool_param_matches` (size-checked per call).
    pub param_keys: Vec<String>,
    /// Tools counted by `call_count` rules.
    pub counted_tools: Vec<String>,
    /// Policies with a `call_count` rule that counts "the current tool".
    pub current_tool_counters: Vec<u32>,
    /// Longest `call_count` window.
    pub max_window: Duration,
    /// Some rule has `expires_at`.
    pub has_expiry: bool,
    /// Some rule has `once`.
    pub has_once: bool,
    /// The literal prefilter of every command rule.
    pub prefilter: Prefilter,
}

/// The policies whose `match.tool` admits one tool name.
#[derive(Debug, Clone, Default)]
pub struct ToolScope {
    /// Their indices in [`Compiled::policies`], in priority order.
    pub policies: Vec<usize>,
    /// Their names, when none of them has a `match.agent` or `match.session`: the
    /// scope list of every call of the tool, shared by its decisions.
    pub names: Option<NameList>,
}

impl ToolScope {
    /// The scope of the policies admitting `tool`.
    pub fn new(policies: &[CompiledPolicy], tool: &str) -> ToolScope {
        let list: Vec<usize> = policies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.admits_tool(tool))
            .map(|(i, _)| i)
            .collect();
        let fixed = list.iter().all(|&i| {
            let p = &policies[i];
            p.agent.is_none() && p.session.is_none()
        });
        let names = fixed.then(|| {
            list.iter()
                .map(|&i| policies[i].shared_name.clone())
                .collect()
        });
        ToolScope {
            policies: list,
            names,
        }
    }
}

/// Whether a tool pattern is a plain name (no glob syntax).
fn literal(p: &str) -> bool {
    !p.contains(['*', '?', '[', '\\'])
}

impl Compiled {
    /// Compile a merged policy set.
    pub fn new(set: &PolicySet) -> Compiled {
        let mut policies: Vec<CompiledPolicy> = set
            .policies
            .iter()
            .filter(|lp| lp.policy.is_enabled())
            .map(compile_policy)
            .collect();
        policies.sort_by_key(|p| p.priority); // stable: file order for ties
        let mut names: Vec<String> = RESERVED_TOOLS.iter().map(|s| s.to_string()).collect();
        for lp in &set.policies {
            for t in &lp.policy.scope.tool {
                if literal(t) && !names.contains(t) {
                    names.push(t.clone());
                }
            }
        }
        let mut out = Compiled::default();
        for p in &set.policies {
            for r in &p.policy.rules {
                out.has_expiry |= r.expires_at.is_some();
                out.has_once |= r.once;
                let Some(w) = &r.when else { continue };
                for (k, _) in &w.tool_param_matches {
                    if !out.param_keys.contains(k) {
                        out.param_keys.push(k.clone());
                    }
                }
            }
        }
        for (i, p) in policies.iter().enumerate() {
            for r in &p.rules {
                let Cond::Check(c) = &r.cond else { continue };
                let Some(cc) = &c.call_count else { continue };
                out.max_window = out.max_window.max(cc.window);
                match &cc.tool {
                    Some(t) => {
                        if !out.counted_tools.contains(t) {
                            out.counted_tools.push(t.clone());
                        }
                    }
                    None => {
                        if !out.current_tool_counters.contains(&(i as u32)) {
                            out.current_tool_counters.push(i as u32);
                        }
                    }
                }
            }
        }
        for name in names {
            let scope = ToolScope::new(&policies, &name);
            out.by_tool.insert(name, scope);
        }
        let mut prefilter = PrefilterBuilder::new();
        for p in &mut policies {
            let from = prefilter.mark();
            // Whether every rule of the policy needs its command keys to match.
            let mut gated = true;
            for r in &mut p.rules {
                let slotted = match &mut r.cond {
                    Cond::Never => true,
                    Cond::Always => false,
                    Cond::Check(c) => c.command.as_mut().is_some_and(|cc| prefilter.register(cc)),
                };
                gated &= slotted;
            }
            p.command_gate = gated.then(|| prefilter.range_since(from));
        }
        out.prefilter = prefilter.build();
        out.policies = policies;
        out
    }

    /// Whether an enforcing evaluation of `tool` must count the call.
    pub fn counts(&self, tool: &str) -> bool {
        self.counted_tools.iter().any(|t| t == tool)
            || self
                .current_tool_counters
                .iter()
                .any(|&i| self.policies[i as usize].admits_tool(tool))
    }
}
