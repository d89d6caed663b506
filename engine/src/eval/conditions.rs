//! Matching one compiled `when` against one call (spec §1.5 and §3.2).

use std::cell::OnceCell;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::command::{CommandOutcome, CommandView, Prefilter};
use crate::decision::ToolCall;

use super::compile::{Checks, Cond, PathCond};
use super::counter::CallCounter;
use super::inputs::{go_format, tool_param_source, Inputs};
use super::paths::Candidates;

/// Per-call state shared by every rule: inputs, and lazily the command analysis, the
/// path candidates and the clock.
pub struct CallCtx<'a> {
    /// The call.
    pub call: &'a ToolCall,
    /// Its resolved inputs.
    pub inputs: Inputs<'a>,
    /// The call counter (`None`: `call_count` never matches).
    pub counter: Option<&'a CallCounter>,
    view: OnceCell<CommandView<'a>>,
    paths: OnceCell<Candidates>,
    now: OnceCell<Instant>,
    params: &'a Map<String, Value>,
    prefilter: Option<&'a Prefilter>,
}

impl<'a> CallCtx<'a> {
    /// Prepare a call.
    pub fn new(call: &'a ToolCall, inputs: Inputs<'a>, counter: Option<&'a CallCounter>) -> Self {
        CallCtx {
            call,
            inputs,
            counter,
            view: OnceCell::new(),
            paths: OnceCell::new(),
            now: OnceCell::new(),
            params: tool_param_source(call),
            prefilter: None,
        }
    }

    /// Let the command view skip the rules of the engine that built `prefilter`
    /// which cannot match this command (see [`Prefilter`]).
    pub fn with_prefilter(mut self, prefilter: &'a Prefilter) -> Self {
        self.prefilter = Some(prefilter);
        self
    }

    /// The command analysis, built once.
    pub fn view(&self) -> &CommandView<'a> {
        self.view.get_or_init(|| match self.prefilter {
            Some(p) => CommandView::with_prefilter(self.inputs.command, p),
            None => CommandView::new(self.inputs.command),
        })
    }

    /// Whether the command has been analysed already.
    pub fn view_if_built(&self) -> Option<&CommandView<'a>> {
        self.view.get()
    }

    /// The instant of this evaluation.
    pub fn now(&self) -> Instant {
        *self.now.get_or_init(Instant::now)
    }

    /// Set the instant (enforcing evaluations stamp the arrival time).
    pub fn set_now(&self, t: Instant) {
        let _ = self.now.set(t);
    }

    fn candidates(&self, path: &str) -> &Candidates {
        self.paths
            .get_or_init(|| Candidates::new(path, self.inputs.workdir))
    }
}

/// The result of matching a rule: `None` = no match; `Some(component)` = match, with
/// the command component that matched when a command key decided.
pub type RuleMatch = Option<Option<String>>;

impl Cond {
    /// Match under a rule's own action (`restrictive` for deny/ask).
    pub fn eval(&self, ctx: &CallCtx<'_>, restrictive: bool) -> RuleMatch {
        match self {
            Cond::Always => Some(None),
            Cond::Never => None,
            Cond::Check(c) => c.eval(ctx, restrictive),
        }
    }
}

impl Checks {
    fn eval(&self, ctx: &CallCtx<'_>, restrictive: bool) -> RuleMatch {
        if self.command_only {
            return self.eval_command(ctx, restrictive);
        }
        let call = ctx.call;
        if self.not_sessions.iter().any(|g| g.is_match(&call.session)) {
            return None;
        }
        if !self.sessions.is_empty() && !self.sessions.iter().any(|g| g.is_match(&call.session)) {
            return None;
        }
        if let Some(d) = &self.agent_depth {
            let depth = call.agent_depth;
            if d.gte.is_some_and(|v| depth < v)
                || d.lte.is_some_and(|v| depth > v)
                || d.eq.is_some_and(|v| depth != v)
            {
                return None;
            }
        }
        if !self.urls.is_empty() {
            let url = ctx.inputs.url.filter(|u| !u.is_empty())?;
            if !self.urls.iter().any(|g| g.is_match(url)) {
                return None;
            }
        }
        if !self.domains.is_empty() {
            let domain = ctx
                .inputs
                .domain
                .as_deref()
                .filter(|d| !d.trim().is_empty())?;
            if !self.domains.iter().any(|g| g.is_match(domain)) {
                return None;
            }
        }
        if !self.tool_params.is_empty() {
            let hit = self.tool_params.iter().any(|(key, glob)| {
                ctx.params.get(key).is_some_and(|v| {
                    let text = match v {
                        Value::String(s) => s.to_lowercase(),
                        other => go_format(other).to_lowercase(),
                    };
                    glob.is_match(&text)
                })
            });
            if !hit {
                return None;
            }
        }
        if let Some(cc) = &self.call_count {
            let counter = ctx.counter?;
            let tool = cc.tool.as_deref().unwrap_or(&call.tool);
            if counter.count(tool, ctx.now(), cc.window) < cc.gte {
                return None;
            }
        }
        if let Some(paths) = &self.paths {
            let path = ctx.inputs.path.filter(|p| !p.is_empty())?;
            if !path_match(paths, ctx.candidates(path), ctx.inputs.workdir, restrictive) {
                return None;
            }
        }
        self.eval_command(ctx, restrictive)
    }

    /// The command keys, last (they are the costliest check).
    fn eval_command(&self, ctx: &CallCtx<'_>, restrictive: bool) -> RuleMatch {
        let mut component = None;
        if let Some(cmd) = &self.command {
            if ctx.inputs.command.is_empty() {
                return None;
            }
            match cmd.evaluate(ctx.view(), restrictive) {
                CommandOutcome::NotApplicable => {}
                CommandOutcome::NoMatch => return None,
                CommandOutcome::Match(c) => component = Some(c),
            }
        }
        Some(component)
    }
}

/// Path keys: restrictive rules need any candidate, granting rules every candidate;
/// exclusions the other way round (spec §3.2).
fn path_match(p: &PathCond, cands: &Candidates, workdir: Option<&str>, restrictive: bool) -> bool {
    let hits = |pats: &[super::paths::PathPattern], c: &(String, bool)| {
        pats.iter().any(|pat| pat.matches(&c.0, c.1, workdir))
    };
    let matched = if restrictive {
        cands.items.iter().any(|c| hits(&p.matches, c))
    } else {
        !cands.items.is_empty() && cands.items.iter().all(|c| hits(&p.matches, c))
    };
    if !matched {
        return false;
    }
    if p.not_matches.is_empty() {
        return true;
    }
    let excluded = if restrictive {
        cands.items.iter().all(|c| hits(&p.not_matches, c))
    } else {
        cands.items.iter().any(|c| hits(&p.not_matches, c))
    };
    !excluded
}
