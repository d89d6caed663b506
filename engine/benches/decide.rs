//! Decision latency: a realistic mix of ~50 everyday and dangerous commands against
//! our standard policy and the original's, plus scaling checks: 10× more policies
//! or rules that cannot apply to an exec call (out of scope, or in scope with
//! patterns the literal prefilter rules out) must not make exec decisions 10× slower.
//!
//! Run: `cargo bench -p engine --bench decide -- --warm-up-time 1 --measurement-time 3`
//! (`-- '_mix|git_status'` for the mixes only, `-- _each/` for the per-command runs).
//! The per-command median over the mix is the median of the 50
//! `<criterion dir>/ours_each/NN/new/estimates.json` `median.point_estimate` values
//! (`upstream_each` for upstream's file); see docs/BENCHMARKS.md. For figures that
//! hold on a loaded machine, `examples/decide_mix.rs` counts instructions or CPU time.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use engine::policy::PolicySet;
use engine::{Engine, EvalOptions, ToolCall};

const UPSTREAM_STANDARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/upstream-policies/standard.yaml"
);

#[path = "data/mix.rs"]
mod mix;
use mix::MIX;

fn calls() -> Vec<ToolCall> {
    MIX.iter().map(|c| ToolCall::exec(*c)).collect()
}

fn bench_mix(c: &mut Criterion, name: &str, engine: &Engine, calls: &[ToolCall]) {
    let mut i = 0usize;
    c.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % calls.len();
            black_box(engine.evaluate(black_box(&calls[i])))
        })
    });
}

/// Each command of the mix on its own (`<group>/NN`, NN = index in [`MIX`]), briefly,
/// for the per-command median: the mix figures are means, dominated by the few
/// compound commands.
fn bench_each(c: &mut Criterion, group: &str, engine: &Engine, calls: &[ToolCall]) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(400));
    for (i, call) in calls.iter().enumerate() {
        g.bench_function(format!("{i:02}"), |b| {
            b.iter(|| black_box(engine.evaluate(black_box(call))))
        });
    }
    g.finish();
}

/// `n` policies scoped to read/write tools (never in scope for exec), each with
/// `rules` rules.
fn non_exec_policies(n: usize, rules: usize) -> String {
    let mut y = String::from("policies:\n");
    for p in 0..n {
        y.push_str(&format!(
            "  - name: extra-files-{p}\n    match:\n      tool: [\"read\", \"write\", \"edit\"]\n    rules:\n"
        ));
        for r in 0..rules {
            y.push_str(&format!(
                "      - action: deny\n        message: extra {p}/{r}\n        when:\n          path_matches: [\"**/secret-{p}-{r}/**\"]\n          path_not_matches: [\"**/*.md\"]\n"
            ));
        }
    }
    y
}

/// `n` exec policies of `rules` deny rules each whose patterns never match the mix
/// (rules that cannot apply but are in scope: the literal prefilter skips them).
fn inapplicable_exec_policies(n: usize, rules: usize) -> String {
    let mut y = String::from("policies:\n");
    for p in 0..n {
        y.push_str(&format!(
            "  - name: extra-exec-{p}\n    match:\n      tool: [\"exec\"]\n    rules:\n"
        ));
        for r in 0..rules {
            y.push_str(&format!(
                "      - action: deny\n        message: extra {p}/{r}\n        when:\n          command_matches: [\"tool{p}x{r} *\", \"*--flag{p}x{r}*\", \"**/bin{p}x{r}/**\"]\n          command_contains: [\"secret{p}x{r}\"]\n"
            ));
        }
    }
    y
}

fn upstream_plus(extra: &str) -> Engine {
    let text = std::fs::read_to_string(UPSTREAM_STANDARD).unwrap();
    let mut set = PolicySet::from_text(UPSTREAM_STANDARD, &text).unwrap();
    let more = PolicySet::from_text("extra.yaml", extra).unwrap();
    set.policies.extend(more.policies);
    Engine::from_set(set)
}

fn decide(c: &mut Criterion) {
    let calls = calls();
    let ours = Engine::standard();
    bench_mix(c, "ours_standard/exec_mix", &ours, &calls);
    let git_status = [ToolCall::exec("git status")];
    bench_mix(c, "ours_standard/git_status", &ours, &git_status);
    let lean = EvalOptions {
        omit_scope_list: true,
        ..Default::default()
    };
    c.bench_function("ours_standard/git_status_omit_scope_list", |b| {
        b.iter(|| black_box(ours.evaluate_with(black_box(&git_status[0]), &lean)))
    });

    let upstream = Engine::load(&engine::Sources {
        files: vec![Path::new(UPSTREAM_STANDARD).to_path_buf()],
        ..Default::default()
    })
    .unwrap();
    bench_mix(c, "upstream_standard/exec_mix", &upstream, &calls);

    let policies = upstream.policy_count();
    let rules_per_policy = 3;
    // 10× more policies that an exec call never looks at.
    let more_policies = upstream_plus(&non_exec_policies(policies * 10, 1));
    bench_mix(c, "upstream_10x_policies/exec_mix", &more_policies, &calls);
    // 10× more rules (in read/write/edit policies).
    let more_rules = upstream_plus(&non_exec_policies(policies, rules_per_policy * 10));
    bench_mix(c, "upstream_10x_rules/exec_mix", &more_rules, &calls);
    // 10× more exec rules, in scope but unable to match.
    let text = std::fs::read_to_string(UPSTREAM_STANDARD).unwrap();
    let all_rules: usize = PolicySet::from_text(UPSTREAM_STANDARD, &text)
        .unwrap()
        .policies
        .iter()
        .map(|lp| lp.policy.rules.len())
        .sum();
    let per_policy = (all_rules * 10).div_ceil(policies.max(1));
    let more_exec = upstream_plus(&inapplicable_exec_policies(policies, per_policy));
    bench_mix(c, "upstream_10x_exec_rules/exec_mix", &more_exec, &calls);

    let read = |p: &str| {
        let mut call = ToolCall {
            tool: "read".into(),
            ..Default::default()
        };
        call.params.insert("path".into(), p.into());
        call
    };
    let reads = vec![
        read("/home/user/project/src/main.rs"),
        read("~/.ssh/id_rsa"),
        read("/home/user/.env"),
        read("/etc/hosts"),
    ];
    bench_mix(c, "upstream_standard/read_mix", &upstream, &reads);

    bench_each(c, "ours_each", &ours, &calls);
    bench_each(c, "upstream_each", &upstream, &calls);
}

criterion_group!(benches, decide);
criterion_main!(benches);
