//! Static checks of a parsed policy file: rules that can never decide anything, and
//! constructs that are legal but probably not what the author meant.
//!
//! The analysis is pure: it reads a [`PolicyFile`] (and, when given, the file's text
//! to attach line and column numbers) and returns [`Finding`]s. Load errors are not
//! findings; they come from [`crate::policy::parse_str`] before linting starts.
//!
//! ```
//! let text = "policies:\n  - name: p\n    rules:\n      - action: allow\n      - action: deny\n";
//! let file = engine::policy::parse_str("p.yaml", text).unwrap();
//! let findings = engine::lint::lint(&file, Some(text), 0);
//! assert_eq!(findings[0].kind, engine::lint::LintKind::UnreachableRule);
//! assert_eq!((findings[0].line, findings[0].column), (5, 9));
//! ```

use crate::decision::Action;
use crate::policy::{Condition, Policy, PolicyFile, Rule};

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LintKind {
    /// A rule after an unconditional rule of the same policy: it is never reached.
    UnreachableRule,
    /// A rule whose patterns are all covered by an earlier `allow` rule of the same
    /// policy: the allow wins first.
    ShadowedRule,
    /// A rule whose conditions are only exclusions (`*_not_matches`): it never matches.
    ExclusionOnly,
    /// An exclusion key without the positive key it belongs to: it has no effect.
    InertExclusion,
    /// A policy with `enabled: false`.
    DisabledPolicy,
    /// A policy without rules.
    EmptyPolicy,
    /// A rule whose `expires_at` is in the past: it is skipped.
    ExpiredRule,
    /// `log` used as an action: it is a deprecated alias of `watch`.
    LogAlias,
    /// `ask:` options on a rule whose action is not `ask`: they are ignored.
    AskOptionsIgnored,
    /// A webhook over plain `http://`.
    InsecureWebhook,
    /// A reserved tool class written with capitals in `match.tool`: reserved tool names
    /// are lower-case, so the policy never applies.
    ToolNameCase,
    /// `command_env_assignments` next to `command_matches`/`command_contains` in one
    /// rule: unlike those two (which are ORed), it is ANDed with them.
    EnvAssignmentsAnded,
    /// A policy name also used by another file linted together: loading both files
    /// from one policy directory fails.
    DuplicateAcrossFiles,
}

impl LintKind {
    /// A stable short code, printed next to each finding.
    pub fn code(self) -> &'static str {
        match self {
            LintKind::UnreachableRule => "unreachable-rule",
            LintKind::ShadowedRule => "shadowed-rule",
            LintKind::ExclusionOnly => "exclusion-only",
            LintKind::InertExclusion => "inert-exclusion",
            LintKind::DisabledPolicy => "disabled-policy",
            LintKind::EmptyPolicy => "empty-policy",
            LintKind::ExpiredRule => "expired-rule",
            LintKind::LogAlias => "log-alias",
            LintKind::AskOptionsIgnored => "ask-options-ignored",
            LintKind::InsecureWebhook => "insecure-webhook",
            LintKind::ToolNameCase => "tool-name-case",
            LintKind::EnvAssignmentsAnded => "env-assignments-anded",
            LintKind::DuplicateAcrossFiles => "duplicate-across-files",
        }
    }
}

impl std::fmt::Display for LintKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// One warning about a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind of problem.
    pub kind: LintKind,
    /// The policy concerned, if any.
    pub policy: Option<String>,
    /// Zero-based index of the rule concerned inside its policy, if any.
    pub rule: Option<usize>,
    /// 1-based line, 0 when the text was not given or the place was not found.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// A sentence for the policy author: what is wrong and what to do.
    pub message: String,
}

use crate::decision::RESERVED_TOOLS;

/// Check one parsed policy file.
///
/// `text` is the file's source, used only to find line and column numbers of block-style
/// YAML; without it every position is `0:0`. `now_unix` is the current time in seconds
/// since the Unix epoch, for `expires_at`. Findings come in file order.
pub fn lint(file: &PolicyFile, text: Option<&str>, now_unix: i64) -> Vec<Finding> {
    let map = text.map(Outline::of).unwrap_or_default();
    let mut out = Vec::new();
    if let Some(t) = text {
        if let Some(pos) = default_action_log(t) {
            out.push(Finding {
                kind: LintKind::LogAlias,
                policy: None,
                rule: None,
                line: pos.0,
                column: pos.1,
                message: "`default_action: log` is a deprecated alias; write `watch`".into(),
            });
        }
    }
    for (pi, policy) in file.policies.iter().enumerate() {
        lint_policy(&map, pi, policy, now_unix, &mut out);
    }
    out
}

/// Policy names that several files share. `files` are `(label, parsed file, text)`;
/// each finding is returned with the index of the file it is reported in (every
/// occurrence after the first).
pub fn duplicates_across(files: &[(&str, &PolicyFile, Option<&str>)]) -> Vec<(usize, Finding)> {
    let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (fi, (_, file, text)) in files.iter().enumerate() {
        let map = text.map(Outline::of).unwrap_or_default();
        for (pi, p) in file.policies.iter().enumerate() {
            match first.get(p.name.as_str()) {
                Some(&earlier) if earlier != fi => {
                    let (line, column) = map.policy(pi);
                    out.push((
                        fi,
                        Finding {
                            kind: LintKind::DuplicateAcrossFiles,
                            policy: Some(p.name.clone()),
                            rule: None,
                            line,
                            column,
                            message: format!(
                                "policy `{}` is also defined in {}; the two files cannot be loaded from one policy directory",
                                p.name, files[earlier].0
                            ),
                        },
                    ));
                }
                Some(_) => {}
                None => {
                    first.insert(p.name.as_str(), fi);
                }
            }
        }
    }
    out
}

fn lint_policy(map: &Outline, pi: usize, policy: &Policy, now: i64, out: &mut Vec<Finding>) {
    let at_policy = map.policy(pi);
    let mut push = |kind, rule: Option<usize>, message: String| {
        let (line, column) = match rule {
            Some(ri) => map.rule(pi, ri),
            None => at_policy,
        };
        out.push(Finding {
            kind,
            policy: Some(policy.name.clone()),
            rule,
            line,
            column,
            message,
        });
    };
    if !policy.is_enabled() {
        push(
            LintKind::DisabledPolicy,
            None,
            format!(
                "policy `{}` has `enabled: false` and is never evaluated",
                policy.name
            ),
        );
    }
    if policy.rules.is_empty() {
        push(
            LintKind::EmptyPolicy,
            None,
            format!(
                "policy `{}` has no rules; it never decides anything",
                policy.name
            ),
        );
    }
    for tool in &policy.scope.tool {
        let lower = tool.to_ascii_lowercase();
        if lower != *tool && RESERVED_TOOLS.contains(&lower.as_str()) {
            push(
                LintKind::ToolNameCase,
                None,
                format!(
                    "`match.tool: {tool}` never matches: reserved tool names are lower-case; write `{lower}`"
                ),
            );
        }
    }

    let mut blocker: Option<usize> = None;
    for (ri, rule) in policy.rules.iter().enumerate() {
        let n = ri + 1;
        if let Some(b) = blocker {
            push(
                LintKind::UnreachableRule,
                Some(ri),
                format!(
                    "rule {n} can never be reached: rule {} above it matches every call of this policy",
                    b + 1
                ),
            );
            continue;
        }
        rule_findings(rule, n, now, &mut |kind, msg| push(kind, Some(ri), msg));
        if let Some((earlier, covered)) = shadowing_allow(&policy.rules[..ri], rule) {
            push(
                LintKind::ShadowedRule,
                Some(ri),
                format!(
                    "rule {n} ({}) is shadowed by allow rule {} above it: {covered}; the first matching rule wins inside a policy, so move this rule above rule {}",
                    rule.action,
                    earlier + 1,
                    earlier + 1
                ),
            );
        }
        if is_unconditional(rule) && rule.expires_at.is_none() {
            blocker = Some(ri);
        }
    }
}

/// Findings about one rule on its own.
fn rule_findings(rule: &Rule, n: usize, now: i64, push: &mut dyn FnMut(LintKind, String)) {
    if rule.action_written == "log" {
        push(
            LintKind::LogAlias,
            format!("rule {n} uses `action: log`, a deprecated alias; write `action: watch`"),
        );
    }
    if let Some(exp) = rule.expires_at {
        if exp.unix_seconds < now {
            push(
                LintKind::ExpiredRule,
                format!("rule {n} expired (expires_at is in the past) and is skipped; remove it or extend it"),
            );
        }
    }
    if rule.ask.is_some() && rule.action != Action::Ask {
        push(
            LintKind::AskOptionsIgnored,
            format!(
                "rule {n} has `ask:` options but its action is `{}`; they are ignored",
                rule.action
            ),
        );
    }
    if let Some(w) = &rule.webhook {
        if w.url
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("http://")
        {
            push(
                LintKind::InsecureWebhook,
                format!("rule {n} sends calls to a webhook over plain http://; use https://"),
            );
        }
    }
    let Some(c) = &rule.when else { return };
    if c.default || c.is_empty() {
        return;
    }
    if !has_positive_key(c) {
        push(
            LintKind::ExclusionOnly,
            format!(
                "rule {n} has only exclusions (`*_not_matches`) and therefore never matches; add the positive key (for example `command_matches`)"
            ),
        );
        return;
    }
    if !c.command_env_assignments.is_empty()
        && (!c.command_matches.is_empty() || !c.command_contains.is_empty())
    {
        push(
            LintKind::EnvAssignmentsAnded,
            format!("rule {n}: `command_env_assignments` is ANDed with `command_matches`/`command_contains` (the rule needs both to fire); if either should be enough, put it in a rule of its own"),
        );
    }
    if !c.command_not_matches.is_empty() && !c.has_command_keys() {
        push(
            LintKind::InertExclusion,
            format!("rule {n}: `command_not_matches` has no effect without `command_matches`, `command_contains` or `command_env_assignments`"),
        );
    }
    if !c.path_not_matches.is_empty() && c.path_matches.is_empty() {
        push(
            LintKind::InertExclusion,
            format!("rule {n}: `path_not_matches` has no effect without `path_matches`"),
        );
    }
    if !c.response_not_matches.is_empty() && c.response_matches.is_empty() {
        push(
            LintKind::InertExclusion,
            format!("rule {n}: `response_not_matches` has no effect without `response_matches`"),
        );
    }
}

/// A rule that matches every call in its policy's scope.
fn is_unconditional(rule: &Rule) -> bool {
    rule.when.as_ref().is_none_or(|c| c.default || c.is_empty())
}

/// Whether a condition has a key that can make it match.
fn has_positive_key(c: &Condition) -> bool {
    c.default
        || c.has_command_keys()
        || !c.path_matches.is_empty()
        || !c.url_matches.is_empty()
        || !c.domain_matches.is_empty()
        || !c.session_matches.is_empty()
        || c.agent_depth.is_some()
        || !c.tool_param_matches.is_empty()
        || c.call_count.is_some()
        || !c.response_matches.is_empty()
}

/// Which single positive key a "pure" allow condition uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Command,
    Path,
    Domain,
}

/// The one positive key of a condition made only of that key (no exclusions, no other
/// keys), and its patterns.
fn pure_key(c: &Condition) -> Option<(Key, &[String])> {
    let only = |set: usize| {
        let counts = [
            !c.command_matches.is_empty(),
            !c.command_contains.is_empty(),
            !c.command_env_assignments.is_empty(),
            !c.command_not_matches.is_empty(),
            !c.path_matches.is_empty(),
            !c.path_not_matches.is_empty(),
            !c.url_matches.is_empty(),
            !c.domain_matches.is_empty(),
            !c.session_matches.is_empty(),
            !c.session_not_matches.is_empty(),
            c.agent_depth.is_some(),
            !c.tool_param_matches.is_empty(),
            c.call_count.is_some(),
            !c.response_matches.is_empty(),
            !c.response_not_matches.is_empty(),
            c.default,
        ];
        counts.iter().enumerate().all(|(i, &on)| on == (i == set))
    };
    if only(0) {
        Some((Key::Command, &c.command_matches))
    } else if only(4) {
        Some((Key::Path, &c.path_matches))
    } else if only(7) {
        Some((Key::Domain, &c.domain_matches))
    } else {
        None
    }
}

/// The patterns of `rule` for `key`, when nothing else in the rule widens what it
/// matches under that key (narrowing keys are fine: they only make it match less).
fn later_patterns(c: &Condition, key: Key) -> Option<&[String]> {
    match key {
        Key::Command
            if !c.command_matches.is_empty()
                && c.command_contains.is_empty()
                && c.command_env_assignments.is_empty() =>
        {
            Some(&c.command_matches)
        }
        Key::Path if !c.path_matches.is_empty() => Some(&c.path_matches),
        Key::Domain if !c.domain_matches.is_empty() => Some(&c.domain_matches),
        _ => None,
    }
}

/// The first earlier unconditional-on-everything-else allow rule whose patterns cover all
/// patterns of `rule`, with a human description of the covering.
fn shadowing_allow(earlier: &[Rule], rule: &Rule) -> Option<(usize, String)> {
    let later = rule.when.as_ref()?;
    if later.default || later.is_empty() {
        return None;
    }
    for (i, e) in earlier.iter().enumerate() {
        if e.action != Action::Allow || e.expires_at.is_some() || e.once {
            continue;
        }
        let Some((key, allow)) = e.when.as_ref().and_then(pure_key) else {
            continue;
        };
        let Some(pats) = later_patterns(later, key) else {
            continue;
        };
        let covers = |a: &str, b: &str| match key {
            Key::Command => command_glob_covers(a, b),
            Key::Path => path_glob_covers(a, b),
            Key::Domain => a == b || a == "*",
        };
        let mut pairs = Vec::new();
        let all = pats.iter().all(|b| {
            allow.iter().find(|a| covers(a, b)).is_some_and(|a| {
                pairs.push((a.as_str(), b.as_str()));
                true
            })
        });
        if all {
            let text = match pairs.as_slice() {
                [(a, b)] if a == b => format!("it lists the same pattern `{a}`"),
                [(a, b)] => format!("`{a}` already matches everything `{b}` matches"),
                _ => format!(
                    "its patterns already match everything this rule's {} patterns match",
                    pairs.len()
                ),
            };
            return Some((i, text));
        }
    }
    None
}

/// The text before the first glob metacharacter: every input a pattern matches starts
/// with it (an empty pattern matches nothing, so it needs no care).
fn literal_prefix(p: &str) -> &str {
    let end = p.find(['*', '?', '[']).unwrap_or(p.len());
    &p[..end]
}

/// Whether command glob `a` matches every input command glob `b` matches (a sound but
/// incomplete check: equal patterns, `*`, and the trailing-`*` literal-prefix form).
pub fn command_glob_covers(a: &str, b: &str) -> bool {
    if a == b || a == "*" {
        return true;
    }
    if b.is_empty() {
        return false;
    }
    // `prefix*` (no `**`, not starting with `*`) is a literal prefix test.
    match a.strip_suffix('*') {
        Some(prefix) if !a.contains("**") && !prefix.starts_with('*') => {
            literal_prefix(b).starts_with(prefix)
        }
        _ => false,
    }
}

/// Whether path glob `a` matches every path that path glob `b` matches (sound but
/// incomplete: equal patterns, `**`, and `literal/**` over a pattern under that prefix).
pub fn path_glob_covers(a: &str, b: &str) -> bool {
    if a == b || a == "**" {
        return true;
    }
    match a.strip_suffix("**") {
        Some(prefix) if prefix.ends_with('/') && literal_prefix(prefix) == prefix => {
            literal_prefix(b).starts_with(prefix)
        }
        _ => false,
    }
}

/// Position of a `default_action: log` line.
fn default_action_log(text: &str) -> Option<(usize, usize)> {
    crate::policy::locate::lines(text)
        .enumerate()
        .find_map(|(i, line)| {
            let rest = line.strip_prefix("default_action:")?;
            let v = strip_comment(rest)
                .trim()
                .trim_matches(|c| c == '"' || c == '\'');
            v.eq_ignore_ascii_case("log")
                .then(|| (i + 1, line.len() - rest.trim_start().len() + 1))
        })
}

fn strip_comment(s: &str) -> &str {
    match s.find(" #") {
        Some(i) => &s[..i],
        None => s,
    }
}

/// A 1-based (line, column).
type Pos = (usize, usize);

/// Where one policy and its rules start.
#[derive(Debug)]
struct PolicySpot {
    at: Pos,
    rules: Vec<Pos>,
}

/// Positions of policies and rules in block-style YAML, found by indentation.
#[derive(Debug, Default)]
struct Outline {
    policies: Vec<PolicySpot>,
}

/// One source line: its 1-based number, indentation and content.
struct Line<'a> {
    number: usize,
    indent: usize,
    body: &'a str,
}

impl Outline {
    fn of(text: &str) -> Outline {
        let lines: Vec<Line> = crate::policy::locate::lines(text)
            .enumerate()
            .filter_map(|(i, raw)| {
                let body = raw.trim_start();
                (!body.is_empty() && !body.starts_with('#')).then(|| Line {
                    number: i + 1,
                    indent: raw.len() - body.len(),
                    body,
                })
            })
            .collect();
        let Some(start) = lines
            .iter()
            .position(|l| l.indent == 0 && l.body.starts_with("policies:"))
        else {
            return Outline::default();
        };
        let block: Vec<&Line> = lines[start + 1..]
            .iter()
            .take_while(|l| l.indent > 0 || is_item(l.body))
            .collect();
        let policies = items(&block)
            .into_iter()
            .map(|(at, body)| PolicySpot {
                at,
                rules: rules_of(body),
            })
            .collect();
        Outline { policies }
    }

    fn policy(&self, pi: usize) -> (usize, usize) {
        self.policies.get(pi).map_or((0, 0), |p| p.at)
    }

    fn rule(&self, pi: usize, ri: usize) -> (usize, usize) {
        self.policies
            .get(pi)
            .map_or((0, 0), |p| p.rules.get(ri).copied().unwrap_or(p.at))
    }
}

fn is_item(body: &str) -> bool {
    body == "-" || body.starts_with("- ")
}

/// Split a block into its top sequence items: (position of the item's content, the
/// item's lines, the first of which has the `- ` removed).
fn items<'a>(block: &[&'a Line<'a>]) -> Vec<(Pos, Vec<Line<'a>>)> {
    let Some(first) = block.iter().find(|l| is_item(l.body)) else {
        return Vec::new();
    };
    let indent = first.indent;
    let mut out: Vec<(Pos, Vec<Line<'a>>)> = Vec::new();
    for l in block {
        if l.indent == indent && is_item(l.body) {
            let content = l.body[1..].trim_start();
            let col = l.indent + (l.body.len() - content.len()) + 1;
            out.push((
                (l.number, col),
                vec![Line {
                    number: l.number,
                    indent: col - 1,
                    body: content,
                }],
            ));
        } else if l.indent > indent {
            if let Some(last) = out.last_mut() {
                last.1.push(Line {
                    number: l.number,
                    indent: l.indent,
                    body: l.body,
                });
            }
        }
    }
    out
}

/// Positions of the rules inside one policy item.
fn rules_of(policy: Vec<Line>) -> Vec<Pos> {
    let Some(k) = policy.iter().position(|l| l.body.starts_with("rules:")) else {
        return Vec::new();
    };
    let key_indent = policy[k].indent;
    let block: Vec<&Line> = policy[k + 1..]
        .iter()
        .take_while(|l| l.indent > key_indent || (l.indent == key_indent && is_item(l.body)))
        .collect();
    items(&block).into_iter().map(|(at, _)| at).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::parse_str;

    fn run(text: &str) -> Vec<Finding> {
        let file = parse_str("t.yaml", text).expect("test policy parses");
        lint(&file, Some(text), 1_800_000_000)
    }

    fn kinds(text: &str) -> Vec<LintKind> {
        run(text).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn rule_after_unconditional_rule_is_unreachable_with_its_position() {
        let text = "\
version: \"1\"
policies:
  - name: p
    rules:
      - action: deny
        message: everything
      - action: allow
        when:
          command_matches: [\"git *\"]
";
        let f = run(text);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, LintKind::UnreachableRule);
        assert_eq!(f[0].rule, Some(1));
        assert_eq!((f[0].line, f[0].column), (7, 9));
        assert!(f[0].message.contains("rule 2"), "{}", f[0].message);
    }

    #[test]
    fn default_true_rule_also_blocks_later_rules() {
        let text = "policies:\n- name: p\n  rules:\n  - action: watch\n    when: {default: true}\n  - action: deny\n    when: {command_matches: [\"x\"]}\n";
        let f = run(text);
        assert_eq!(f[0].kind, LintKind::UnreachableRule);
        assert_eq!((f[0].line, f[0].column), (6, 5));
    }

    #[test]
    fn expiring_unconditional_rule_does_not_hide_later_rules() {
        let text = "policies:\n  - name: p\n    rules:\n      - action: allow\n        expires_at: \"2999-01-01T00:00:00Z\"\n      - action: deny\n        when: {command_matches: [\"x\"]}\n";
        assert!(kinds(text).is_empty());
    }

    #[test]
    fn same_pattern_after_allow_is_shadowed() {
        let text = "policies:\n  - name: p\n    rules:\n      - action: allow\n        when: {command_matches: [\"git push\"]}\n      - action: deny\n        when: {command_matches: [\"git push\"]}\n";
        let f = run(text);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, LintKind::ShadowedRule);
        assert!(
            f[0].message.contains("same pattern `git push`"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].line, 6);
    }

    #[test]
    fn trailing_star_prefix_allow_shadows_narrower_patterns() {
        let text = "policies:\n  - name: p\n    rules:\n      - action: allow\n        when: {command_matches: [\"git *\"]}\n      - action: ask\n        when: {command_matches: [\"git push *\", \"git\"]}\n";
        // A bare `git` is not matched by `git *` (the space is required).
        assert!(kinds(text).is_empty());
        let text = text.replace(", \"git\"]", ", \"git reset --hard*\"]");
        assert_eq!(kinds(&text), vec![LintKind::ShadowedRule]);
    }

    #[test]
    fn allow_with_exclusions_does_not_shadow() {
        let text = "policies:\n  - name: p\n    rules:\n      - action: allow\n        when: {command_matches: [\"git *\"], command_not_matches: [\"git push*\"]}\n      - action: deny\n        when: {command_matches: [\"git push *\"]}\n";
        assert!(kinds(text).is_empty());
    }

    #[test]
    fn later_rule_with_contains_is_not_shadowed() {
        let text = "policies:\n  - name: p\n    rules:\n      - action: allow\n        when: {command_matches: [\"git *\"]}\n      - action: deny\n        when: {command_matches: [\"git x*\"], command_contains: [\"rm\"]}\n";
        assert!(kinds(text).is_empty());
    }

    #[test]
    fn path_prefix_allow_shadows_deeper_paths() {
        let text = "policies:\n  - name: p\n    match: {tool: read}\n    rules:\n      - action: allow\n        when: {path_matches: [\"/srv/**\"]}\n      - action: deny\n        when: {path_matches: [\"/srv/secret/*.key\"]}\n";
        assert_eq!(kinds(text), vec![LintKind::ShadowedRule]);
    }

    #[test]
    fn exclusion_only_rule_never_matches() {
        let text = "policies:\n  - name: p\n    rules:\n      - action: deny\n        when:\n          command_not_matches: [\"git *\"]\n";
        assert_eq!(kinds(text), vec![LintKind::ExclusionOnly]);
    }

    #[test]
    fn response_rule_alone_is_not_exclusion_only() {
        let text = "policies:\n  - name: p\n    rules:\n      - action: deny\n        when:\n          response_matches: [\"AKIA[0-9A-Z]{16}\"]\n";
        assert!(kinds(text).is_empty());
    }

    #[test]
    fn path_exclusion_without_path_matches_is_inert() {
        let text = "policies:\n  - name: p\n    rules:\n      - action: deny\n        when:\n          command_matches: [\"x\"]\n          path_not_matches: [\"/tmp/**\"]\n";
        assert_eq!(kinds(text), vec![LintKind::InertExclusion]);
    }

    #[test]
    fn disabled_and_empty_policies_are_reported_at_the_policy() {
        let text = "policies:\n  - name: off\n    enabled: false\n    rules:\n      - action: deny\n  - name: hollow\n";
        let f = run(text);
        assert_eq!(f[0].kind, LintKind::DisabledPolicy);
        assert_eq!((f[0].line, f[0].column), (2, 5));
        assert_eq!(f[1].kind, LintKind::EmptyPolicy);
        assert_eq!(f[1].line, 6);
    }

    #[test]
    fn expired_rule_is_reported() {
        let text = "policies:\n  - name: p\n    rules:\n      - action: allow\n        expires_at: \"2001-01-01T00:00:00Z\"\n        when: {command_matches: [\"x\"]}\n";
        assert_eq!(kinds(text), vec![LintKind::ExpiredRule]);
    }

    #[test]
    fn log_alias_is_reported_for_rules_and_default() {
        let text = "default_action: log\npolicies:\n  - name: p\n    rules:\n      - action: LOG\n        when: {command_matches: [\"x\"]}\n";
        let f = run(text);
        assert_eq!(
            f.iter().map(|f| f.kind).collect::<Vec<_>>(),
            vec![LintKind::LogAlias, LintKind::LogAlias]
        );
        assert_eq!((f[0].line, f[0].column), (1, 17));
        assert_eq!(f[1].line, 5);
    }

    #[test]
    fn env_assignments_next_to_command_matches_are_flagged() {
        let text = "policies:\n  - name: p\n    rules:\n      - action: deny\n        when:\n          command_matches: [\"history -c\"]\n          command_env_assignments: [\"HISTFILE\"]\n";
        assert_eq!(kinds(text), vec![LintKind::EnvAssignmentsAnded]);
        let alone = "policies:\n  - name: p\n    rules:\n      - action: deny\n        when:\n          command_env_assignments: [\"HISTFILE\"]\n";
        assert!(kinds(alone).is_empty());
    }

    #[test]
    fn duplicate_names_across_files_are_reported_in_the_later_file() {
        let a = "policies:\n  - name: shared\n    rules: [{action: deny}]\n";
        let b = "policies:\n  - name: own\n    rules: [{action: deny}]\n  - name: shared\n    rules: [{action: deny}]\n";
        let fa = parse_str("a.yaml", a).expect("parses");
        let fb = parse_str("b.yaml", b).expect("parses");
        let f = duplicates_across(&[("a.yaml", &fa, Some(a)), ("b.yaml", &fb, Some(b))]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, 1);
        assert_eq!(f[0].1.kind, LintKind::DuplicateAcrossFiles);
        assert_eq!((f[0].1.line, f[0].1.column), (4, 5));
        assert!(f[0].1.message.contains("a.yaml"));
    }

    #[test]
    fn capitalised_reserved_tool_never_matches() {
        let text = "policies:\n  - name: p\n    match: {tool: [Exec, MyTool]}\n    rules:\n      - action: deny\n";
        assert_eq!(kinds(text), vec![LintKind::ToolNameCase]);
    }

    #[test]
    fn ask_options_on_deny_and_http_webhook_are_reported() {
        let text = "policies:\n  - name: p\n    rules:\n      - action: deny\n        ask: {audit: true}\n        when: {command_matches: [\"x\"]}\n      - action: webhook\n        webhook: {url: \"http://hook.internal/decide\"}\n        when: {command_matches: [\"y\"]}\n";
        assert_eq!(
            kinds(text),
            vec![LintKind::AskOptionsIgnored, LintKind::InsecureWebhook]
        );
    }

    #[test]
    fn positions_are_zero_without_text() {
        let text = "policies:\n  - name: p\n    enabled: false\n    rules: [{action: deny}]\n";
        let file = parse_str("t.yaml", text).expect("parses");
        let f = lint(&file, None, 0);
        assert_eq!((f[0].line, f[0].column), (0, 0));
    }

    #[test]
    fn command_cover_handles_prefix_forms_only() {
        assert!(command_glob_covers("git *", "git push *"));
        assert!(command_glob_covers("git *", "git [ps]*"));
        assert!(command_glob_covers("*", "anything"));
        assert!(!command_glob_covers("git *", "git"));
        assert!(!command_glob_covers("git *", "*git push*"));
        assert!(!command_glob_covers("*git *", "git push"));
        assert!(!command_glob_covers("git **", "git push"));
    }

    #[test]
    fn path_cover_handles_directory_prefixes_only() {
        assert!(path_glob_covers("/etc/**", "/etc/ssh/*"));
        assert!(path_glob_covers("**", "/x"));
        assert!(!path_glob_covers("/etc/**", "/etcetera/x"));
        assert!(!path_glob_covers("/e*/**", "/etc/x"));
    }

    #[test]
    fn flow_style_policy_list_falls_back_to_unknown_positions() {
        let text = "policies: [{name: p, enabled: false, rules: [{action: deny}]}]\n";
        let f = run(text);
        assert_eq!(f[0].kind, LintKind::DisabledPolicy);
        assert_eq!((f[0].line, f[0].column), (0, 0));
    }
}
