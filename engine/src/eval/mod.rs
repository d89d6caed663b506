//! The evaluator (spec §2): scoping, priority order, first match inside a policy,
//! deny wins across policies, folding, durable overrides, project policies, default
//! action.
//!
//! [`Engine::evaluate`] is a pure preview; [`Engine::enforce`] also counts calls for
//! `call_count` and consumes `once` rules (removing them from their file);
//! [`Engine::evaluate_response`] scans a tool's output (spec §2.10). Both request
//! entry points have `_with` variants taking [`EvalOptions`] (per-agent profile
//! filter, forced default deny). After a hot reload, [`Engine::with_counters_from`]
//! keeps the `call_count` windows of the engine being replaced.
//!
//! Cost per call: policies are compiled once ([`compile`]) and indexed by tool, so a
//! call only visits the policies whose `match.tool` admits it, already in priority
//! order; the command is analysed at most once per call and shared by every rule;
//! path candidates are built at most once per call.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::decision::{Action, Decision, NameList, RuleRef, ToolCall, WebhookTarget};
use crate::policy::{LoadError, Notify, Origin, PolicySet, Sources, Timestamp};

pub mod compile;
pub mod conditions;
pub mod counter;
pub mod inputs;
pub mod paths;
pub mod response;

use compile::{Compiled, CompiledPolicy, CompiledRule, ToolScope};
use conditions::CallCtx;
use counter::CallCounter;
use inputs::Inputs;
use response::MAX_RESPONSE_BYTES;

/// Message when no policy is in scope.
pub const MSG_NO_POLICY: &str = "no matching policy; using default action";
/// Message when policies are in scope but no rule fired.
pub const MSG_NO_RULE: &str = "no matching rule; using default action";
/// Message when no response rule matched.
pub const MSG_NO_RESPONSE_RULE: &str = "no matching response rule";
/// Message when a `once` rule could not be removed from its file.
pub const MSG_ONCE_UNCLAIMED: &str = "one-time authorization could not be claimed";

/// Options of one evaluation (spec §2.2).
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// Only evaluate policies of this profile (file base name without extension, or
    /// the embedded name), as a per-agent token does. Durable overrides are looked up
    /// before the filter.
    pub policy_filter: Option<String>,
    /// Use deny as the default action whatever the configuration says.
    pub default_deny: bool,
    /// Leave [`Decision::policies_in_scope`] empty: saves one allocation per policy
    /// in scope on hot paths that never show it (the preflight route, the audit).
    pub omit_scope_list: bool,
}

/// Compiled policies, ready to decide. Cheap to share (`Arc<Engine>`) across threads.
#[derive(Debug, Default)]
pub struct Engine {
    compiled: Compiled,
    default_action: Option<Action>,
    notify: Option<Notify>,
    files: Vec<String>,
    counter: Arc<CallCounter>,
    once_lock: Mutex<()>,
    /// Scope lists of tool names not known at load time, computed on first use.
    dynamic_scopes: RwLock<HashMap<String, Arc<ToolScope>>>,
}

/// Most tool names whose scope list is cached.
const MAX_DYNAMIC_SCOPES: usize = 1024;

/// Which class of the fold a fired rule belongs to, and what it carries.
struct Pick<'e> {
    policy: &'e CompiledPolicy,
    rule: &'e CompiledRule,
    component: Option<String>,
}

/// A decision plus the `once` rule that granted it, if any.
struct Outcome {
    decision: Decision,
    once: Option<(usize, usize)>,
}

impl From<Decision> for Outcome {
    fn from(decision: Decision) -> Outcome {
        Outcome {
            decision,
            once: None,
        }
    }
}

/// Wall-clock now as (Unix seconds, nanoseconds).
fn wall_now() -> (i64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos())
}

/// The unexpired rules of a policy that have response regexes.
fn response_rules(
    p: &CompiledPolicy,
    wall: Option<(i64, u32)>,
) -> impl Iterator<Item = &CompiledRule> {
    p.rules.iter().filter(move |r| {
        r.response.is_some() && !r.expires_at.as_ref().is_some_and(|t| expired(t, wall))
    })
}

fn expired(t: &Timestamp, now: Option<(i64, u32)>) -> bool {
    now.is_some_and(|n| n > (t.unix_seconds, t.nanos))
}

impl Engine {
    /// Load and compile policies from sources.
    pub fn load(sources: &Sources) -> Result<Engine, LoadError> {
        Ok(Engine::from_set(PolicySet::load(sources)?))
    }

    /// Load one policy document from text; `label` names it in errors.
    pub fn from_yaml(label: &str, text: &str) -> Result<Engine, LoadError> {
        Ok(Engine::from_set(PolicySet::from_text(label, text)?))
    }

    /// Compile a merged policy set.
    pub fn from_set(set: PolicySet) -> Engine {
        Engine {
            compiled: Compiled::new(&set),
            default_action: set.default_action,
            notify: set.notify,
            files: set.files,
            counter: Arc::default(),
            once_lock: Mutex::new(()),
            dynamic_scopes: RwLock::new(HashMap::new()),
        }
    }

    /// The embedded shipped standard policy.
    ///
    /// # Panics
    /// Only if the embedded policy does not load, which a unit test rules out.
    pub fn standard() -> Engine {
        Engine::from_yaml(
            crate::policy::sources::EMBEDDED_STANDARD_LABEL,
            crate::STANDARD_POLICY,
        )
        .expect("the embedded standard policy loads")
    }

    /// Keep counting `call_count` windows across a reload: share the call counter of
    /// the engine this one replaces.
    pub fn with_counters_from(mut self, previous: &Engine) -> Engine {
        self.counter = Arc::clone(&previous.counter);
        self
    }

    /// The configured default action (deny when none is configured).
    pub fn default_action(&self) -> Action {
        self.default_action.unwrap_or(Action::Deny)
    }

    /// The configured default as written (`None` when no file set one), e.g. to
    /// reject a reload that looks like a truncated write (empty default, no policies).
    pub fn configured_default(&self) -> Option<Action> {
        self.default_action
    }

    /// The effective `notify` settings.
    pub fn notify(&self) -> Option<&Notify> {
        self.notify.as_ref()
    }

    /// Every file the policies came from, in load order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Names of the enabled policies, in evaluation order.
    pub fn policy_names(&self) -> impl Iterator<Item = &str> {
        self.compiled.policies.iter().map(|p| p.name.as_str())
    }

    /// Number of enabled policies.
    pub fn policy_count(&self) -> usize {
        self.compiled.policies.len()
    }

    /// Decide without side effects (preview).
    pub fn evaluate(&self, call: &ToolCall) -> Decision {
        self.evaluate_with(call, &EvalOptions::default())
    }

    /// Decide without side effects, with options.
    pub fn evaluate_with(&self, call: &ToolCall, opts: &EvalOptions) -> Decision {
        self.decide(call, opts, None).decision
    }

    /// Decide and record: counts `call_count` calls and consumes `once` rules.
    pub fn enforce(&self, call: &ToolCall) -> Decision {
        self.enforce_with(call, &EvalOptions::default())
    }

    /// Decide and record, with options.
    pub fn enforce_with(&self, call: &ToolCall, opts: &EvalOptions) -> Decision {
        let now = Instant::now();
        if self.compiled.counts(&call.tool) {
            if let Err(e) = self
                .counter
                .record(&call.tool, now, self.compiled.max_window)
            {
                return Decision::early(
                    Action::Deny,
                    format!("call counter unavailable ({e:?}); failing closed"),
                );
            }
        }
        let out = self.decide(call, opts, Some(now));
        match out.once {
            Some(once) if out.decision.action == Action::Allow => self.claim(call, opts, now, once),
            _ => out.decision,
        }
    }

    /// Consume a `once` rule that granted a call: re-evaluate under the lock, remove
    /// the rule from its file, and only then allow.
    fn claim(
        &self,
        call: &ToolCall,
        opts: &EvalOptions,
        now: Instant,
        once: (usize, usize),
    ) -> Decision {
        let _guard = self.once_lock.lock().unwrap_or_else(|e| e.into_inner());
        let again = self.decide(call, opts, Some(now));
        if again.once != Some(once) || again.decision.action != Action::Allow {
            return again.decision;
        }
        let policy = &self.compiled.policies[once.0];
        let rule = &policy.rules[once.1];
        let removed = match policy.origin {
            Origin::File | Origin::Directory | Origin::Project => {
                let earlier_consumed = policy.rules[..once.1]
                    .iter()
                    .filter(|r| r.consumed.load(Ordering::Acquire))
                    .count();
                crate::policy::rewrite::remove_once_rule(
                    std::path::Path::new(&policy.file),
                    policy.index_in_file,
                    &policy.name,
                    once.1 - earlier_consumed,
                )
                .map_err(|e| e.to_string())
            }
            // No file to edit: the rule is consumed in memory only.
            Origin::Embedded | Origin::Text => Ok(()),
        };
        match removed {
            Ok(()) => {
                rule.consumed.store(true, Ordering::Release);
                again.decision
            }
            Err(why) => {
                let mut d = again.decision;
                d.action = Action::Deny;
                d.message = format!("{MSG_ONCE_UNCLAIMED} ({why})");
                d
            }
        }
    }

    /// The first rule of a policy (skipping expired and consumed rules) that matches
    /// under its own action, or under grant semantics when `grant` is set.
    fn first_rule<'e>(
        &'e self,
        policy: &'e CompiledPolicy,
        ctx: &CallCtx<'_>,
        wall: Option<(i64, u32)>,
        grant: bool,
    ) -> Option<Pick<'e>> {
        // Every rule needs its command keys: skip the policy when the command is
        // empty or the prefilter rules all of them out.
        if let Some(gate) = &policy.command_gate {
            if ctx.inputs.command.is_empty() || !ctx.view().may_match_any(gate) {
                return None;
            }
        }
        for rule in &policy.rules {
            if rule.expires_at.as_ref().is_some_and(|t| expired(t, wall)) {
                continue;
            }
            if rule.once && rule.consumed.load(Ordering::Acquire) {
                continue;
            }
            let restrictive = rule.restrictive && !grant;
            if let Some(component) = rule.cond.eval(ctx, restrictive) {
                return Some(Pick {
                    policy,
                    rule,
                    component,
                });
            }
        }
        None
    }

    /// Scan a tool's response (spec §2.10): only rules with `response_matches` count;
    /// deny, ask and webhook become deny (the response phase never asks); otherwise
    /// watch or allow. A response over 1 MiB is denied when a response rule is in
    /// scope.
    pub fn evaluate_response<'e>(&'e self, call: &ToolCall, response: &str) -> Decision {
        let c = &self.compiled;
        let inputs = match Inputs::extract(call, &c.param_keys) {
            Ok(i) => i,
            Err(why) => return Decision::early(Action::Deny, why),
        };
        let ctx = CallCtx::new(call, inputs, None);
        let wall = c.has_expiry.then(wall_now);
        let (scope, names) = self.scope(call);
        let rules = |p: &'e CompiledPolicy| response_rules(p, wall);
        let in_scope = names.unwrap_or_else(|| self.scope_names(&scope));
        if response.len() > MAX_RESPONSE_BYTES
            && scope
                .iter()
                .any(|&i| rules(&c.policies[i]).next().is_some())
        {
            let mut d = Decision::early(
                Action::Deny,
                format!(
                    "response exceeds the {MAX_RESPONSE_BYTES}-byte scanning limit; failing closed"
                ),
            );
            d.policies_in_scope = in_scope;
            return d;
        }
        let mut matched = Vec::new();
        let mut watch: Option<Pick> = None;
        let mut allow: Option<Pick> = None;
        for (pos, &i) in scope.iter().enumerate() {
            let p = &c.policies[i];
            let Some(rule) =
                rules(p).find(|r| r.response.as_ref().is_some_and(|rr| rr.is_match(response)))
            else {
                continue;
            };
            matched.push(p.shared_name.clone());
            let pick = Pick {
                policy: p,
                rule,
                component: None,
            };
            match rule.action {
                Action::Deny | Action::Ask | Action::Webhook => {
                    matched.extend(
                        scope[pos + 1..]
                            .iter()
                            .map(|&j| c.policies[j].shared_name.clone()),
                    );
                    return self.rule_decision(&ctx, Action::Deny, &pick, None, matched, in_scope);
                }
                Action::Watch => {
                    watch.get_or_insert(pick);
                }
                Action::Allow => {
                    allow.get_or_insert(pick);
                }
            }
        }
        match (watch, allow) {
            (Some(pick), _) => {
                self.rule_decision(&ctx, Action::Watch, &pick, None, matched, in_scope)
            }
            (None, Some(pick)) => {
                self.rule_decision(&ctx, Action::Allow, &pick, None, matched, in_scope)
            }
            (None, None) => {
                let mut d = Decision::early(Action::Allow, MSG_NO_RESPONSE_RULE);
                d.policies_in_scope = in_scope;
                d
            }
        }
    }

    /// The policies in scope for a call (tool, agent, session), in priority order,
    /// with their names when they depend on the tool alone.
    fn scope(&self, call: &ToolCall) -> (Cow<'_, [usize]>, Option<NameList>) {
        match self.compiled.by_tool.get(call.tool.as_str()) {
            Some(t) => self.narrow(call, t, Cow::Borrowed(t.policies.as_slice())),
            None => {
                let t = self.dynamic_scope(&call.tool);
                self.narrow(call, &t, Cow::Owned(t.policies.clone()))
            }
        }
    }

    /// The policies of a tool's scope that admit the call's agent and session:
    /// `whole` (the tool's list, borrowed when it can be) and its shared names when
    /// no policy of the tool matches on agent or session.
    fn narrow<'s>(
        &self,
        call: &ToolCall,
        tool: &ToolScope,
        whole: Cow<'s, [usize]>,
    ) -> (Cow<'s, [usize]>, Option<NameList>) {
        if let Some(names) = &tool.names {
            return (whole, Some(names.clone()));
        }
        let c = &self.compiled;
        let scope: Vec<usize> = whole
            .iter()
            .copied()
            .filter(|&i| {
                let p = &c.policies[i];
                p.agent.as_ref().is_none_or(|g| g.is_match(&call.agent))
                    && p.session.as_ref().is_none_or(|g| g.is_match(&call.session))
            })
            .collect();
        (Cow::Owned(scope), None)
    }

    /// The names of the policies of a scope.
    fn scope_names(&self, scope: &[usize]) -> NameList {
        scope
            .iter()
            .map(|&i| self.compiled.policies[i].shared_name.clone())
            .collect()
    }

    /// The policies admitting a tool name that no policy names literally.
    fn dynamic_scope(&self, tool: &str) -> Arc<ToolScope> {
        if let Some(list) = self
            .dynamic_scopes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tool)
        {
            return list.clone();
        }
        let list = Arc::new(ToolScope::new(&self.compiled.policies, tool));
        let mut cache = self
            .dynamic_scopes
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if cache.len() < MAX_DYNAMIC_SCOPES && tool.len() <= counter::MAX_TOOL_NAME {
            cache.insert(tool.to_string(), list.clone());
        }
        list
    }

    /// The request-phase algorithm of spec §2.2.
    fn decide(&self, call: &ToolCall, opts: &EvalOptions, stamp: Option<Instant>) -> Outcome {
        let c = &self.compiled;
        // 1. Ambiguity and size checks.
        let inputs = match Inputs::extract(call, &c.param_keys) {
            Ok(i) => i,
            Err(why) => return Decision::early(Action::Deny, why).into(),
        };
        let ctx = CallCtx::new(call, inputs, Some(&self.counter)).with_prefilter(&c.prefilter);
        if let Some(t) = stamp {
            ctx.set_now(t);
        }
        // 2. Default.
        let default = if opts.default_deny {
            Action::Deny
        } else {
            self.default_action()
        };
        // 3. Scope, already in priority order.
        let (mut scope, mut names) = self.scope(call);
        let wall = c.has_expiry.then(wall_now);
        // 4. Durable operator overrides, before the profile filter.
        let durable = scope.iter().find_map(|&i| {
            let p = &c.policies[i];
            if !p.durable {
                return None;
            }
            self.first_rule(p, &ctx, wall, true)
                .filter(|pick| pick.rule.action == Action::Allow)
                .map(|pick| (i, pick))
        });
        // 5. Profile filter.
        if let Some(profile) = &opts.policy_filter {
            let before = scope.len();
            scope
                .to_mut()
                .retain(|&i| c.policies[i].profile == *profile);
            if scope.len() != before {
                names = None;
            }
        }
        let in_scope = || -> NameList {
            if opts.omit_scope_list {
                return NameList::new();
            }
            match &names {
                Some(n) => n.clone(),
                None => self.scope_names(&scope),
            }
        };
        // 6. Nothing in scope.
        if scope.is_empty() {
            if let Some((i, pick)) = durable {
                return self.granted(&ctx, Action::Allow, pick, vec![], in_scope(), i);
            }
            return self.fallback(&ctx, default, MSG_NO_POLICY, vec![], NameList::new());
        }
        // 7. Evaluate in order: first match inside a policy, deny wins across.
        let mut matched: Vec<Arc<str>> = Vec::new();
        let mut fired_base = false;
        let mut webhook: Option<(usize, Pick)> = None;
        let mut ask: Option<(usize, Pick)> = None;
        let mut watch: Option<(usize, Pick)> = None;
        let mut allow: Option<(usize, Pick)> = None;
        // For allow, the first policy with a non-empty message supplies the details.
        let mut allow_with_message: Option<(usize, Pick)> = None;
        for (pos, &i) in scope.iter().enumerate() {
            let p = &c.policies[i];
            let Some(pick) = self.first_rule(p, &ctx, wall, false) else {
                continue;
            };
            matched.push(p.shared_name.clone());
            fired_base |= !p.is_project();
            let slot = match pick.rule.action {
                Action::Deny => {
                    matched.extend(
                        scope[pos + 1..]
                            .iter()
                            .map(|&j| c.policies[j].shared_name.clone()),
                    );
                    let d =
                        self.rule_decision(&ctx, Action::Deny, &pick, None, matched, in_scope());
                    return d.into();
                }
                Action::Webhook => &mut webhook,
                Action::Ask => &mut ask,
                Action::Watch => &mut watch,
                Action::Allow if allow_with_message.is_none() && !pick.rule.message.is_empty() => {
                    &mut allow_with_message
                }
                Action::Allow => &mut allow,
            };
            if slot.is_none() {
                *slot = Some((i, pick));
            }
        }
        // 8. A durable override beats ask, watch and webhook (not deny).
        if let Some((i, pick)) = durable {
            return self.granted(&ctx, Action::Allow, pick, matched, in_scope(), i);
        }
        let chosen = webhook
            .map(|p| (Action::Webhook, p))
            .or_else(|| ask.map(|p| (Action::Ask, p)))
            .or_else(|| watch.map(|p| (Action::Watch, p)))
            .or_else(|| allow_with_message.or(allow).map(|p| (Action::Allow, p)));
        let folded = chosen.as_ref().map(|(action, _)| *action);
        // 9. Project policies cannot weaken the global default. As in the original,
        //    this also runs when no rule fired at all (with or without project
        //    policies): the action is then the default, only the message differs.
        if !fired_base {
            let floor = match default {
                Action::Deny | Action::Ask => Some(default),
                Action::Watch if matches!(folded, None | Some(Action::Allow)) => Some(default),
                _ => None,
            };
            if let Some(action) = floor {
                let msg = format!("project policy cannot weaken global default {action}");
                return self.fallback(&ctx, action, &msg, matched, in_scope());
            }
        }
        // 10. Nothing fired.
        let Some((action, (i, pick))) = chosen else {
            return self.fallback(&ctx, default, MSG_NO_RULE, matched, in_scope());
        };
        // 11. The folded result; the first policy of the class supplies the details.
        if action == Action::Allow {
            return self.granted(&ctx, action, pick, matched, in_scope(), i);
        }
        self.rule_decision(&ctx, action, &pick, None, matched, in_scope())
            .into()
    }

    /// An allow (or durable allow) decision, remembering a `once` rule.
    fn granted(
        &self,
        ctx: &CallCtx<'_>,
        action: Action,
        pick: Pick<'_>,
        matched: Vec<Arc<str>>,
        in_scope: NameList,
        policy_index: usize,
    ) -> Outcome {
        let once = pick.rule.once.then_some((policy_index, pick.rule.index));
        let fallback_msg = pick
            .policy
            .durable
            .then_some("allowed by a durable operator override");
        Outcome {
            decision: self.rule_decision(ctx, action, &pick, fallback_msg, matched, in_scope),
            once,
        }
    }

    fn rule_decision(
        &self,
        ctx: &CallCtx<'_>,
        action: Action,
        pick: &Pick<'_>,
        fallback_message: Option<&str>,
        matched: Vec<Arc<str>>,
        in_scope: NameList,
    ) -> Decision {
        let mut d = self.base_decision(ctx, action, String::new(), matched, in_scope);
        d.message = if !pick.rule.message.is_empty() {
            pick.rule.message.clone()
        } else if let Some(m) = fallback_message {
            m.to_string()
        } else if action == pick.rule.action {
            // The rule has no message: say which policy decided, so the decision
            // still explains itself.
            pick.rule.unexplained.clone()
        } else {
            compile::unexplained(action, &pick.policy.name)
        };
        d.policy = Some(pick.policy.name.clone());
        d.rule = Some(RuleRef {
            index: pick.rule.index,
            summary: pick.rule.summary.clone(),
        });
        d.matched_component = pick.component.clone();
        d.source = Some(pick.policy.file.clone());
        if action == Action::Ask {
            d.ask_audit = pick.rule.ask.audit;
            d.headless_only = pick.rule.ask.headless_only;
        }
        if action == Action::Webhook {
            d.webhook = pick.rule.webhook.as_ref().map(|w| WebhookTarget {
                url: w.url.clone(),
                timeout_ms: w.timeout_ms,
                fail_open: w.fail_open,
            });
        }
        d
    }

    fn fallback(
        &self,
        ctx: &CallCtx<'_>,
        action: Action,
        message: &str,
        matched: Vec<Arc<str>>,
        in_scope: NameList,
    ) -> Outcome {
        self.base_decision(ctx, action, message.to_string(), matched, in_scope)
            .into()
    }

    fn base_decision(
        &self,
        ctx: &CallCtx<'_>,
        action: Action,
        message: String,
        matched: Vec<Arc<str>>,
        in_scope: NameList,
    ) -> Decision {
        let mut d = Decision::early(action, message);
        d.matched_policies = NameList::from(matched);
        d.policies_in_scope = in_scope;
        if !ctx.inputs.command.is_empty() {
            let view = ctx.view();
            d.components = view.components();
            d.opaque = view.opaque();
        }
        d
    }
}

#[cfg(test)]
mod tests;
