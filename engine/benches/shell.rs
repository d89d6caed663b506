//! Command analysis and command-condition matching: a typical command, a compound
//! one, and pathological inputs the parser must bound (run with
//! `cargo bench -p engine --bench shell`).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use engine::command::{CommandConditions, CommandView};
use engine::shell;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A deny rule with exclusions, an env rule and a grant, like `standard.yaml`'s.
fn rules() -> Vec<(CommandConditions, bool)> {
    vec![
        (
            CommandConditions::new(
                &strings(&["rm -rf /", "rm -rf /var/**", "*curl*bash*", "sudo **"]),
                &strings(&["rm -rf /tmp/**", "rm -rf /var/log/**"]),
                &strings(&["base64 -d", "pkill rampart"]),
                &[],
            ),
            true,
        ),
        (
            CommandConditions::new(&[], &[], &[], &strings(&["LD_PRELOAD", "RAMPART_*"])),
            true,
        ),
        (
            CommandConditions::new(&strings(&["git *"]), &[], &[], &[]),
            false,
        ),
    ]
}

fn inputs() -> Vec<(&'static str, String)> {
    vec![
        ("simple", "git status".to_string()),
        ("compound", "ls -la && cat README.md | grep x".to_string()),
        (
            "evasive",
            "FOO=1 bash -lc 'echo ok; /bin/rm -fr /tmp/../'".to_string(),
        ),
        ("1MiB", "a".repeat(1 << 20)),
        (
            "deep_dollar_paren",
            format!("{}x{}", "$(".repeat(2700), ")".repeat(2700)),
        ),
        ("many_segments", "a;".repeat(4096)),
        ("many_lines", (0..1000).map(|i| format!("l{i}\n")).collect()),
        ("env_chain", format!("{}rm -rf /", "env ".repeat(2000))),
        ("eval_chain", format!("{}x", "eval ".repeat(1600))),
    ]
}

fn bench(c: &mut Criterion) {
    let rules = rules();
    for (name, cmd) in inputs() {
        c.bench_function(&format!("analyze/{name}"), |b| {
            b.iter(|| shell::analyze(black_box(&cmd)))
        });
        c.bench_function(&format!("view_and_rules/{name}"), |b| {
            b.iter(|| {
                let view = CommandView::new(black_box(&cmd));
                for (r, restrictive) in &rules {
                    black_box(r.evaluate(&view, *restrictive));
                }
            })
        });
    }
    // Per-rule cost once the view is built (the work every further rule adds).
    let view = CommandView::new("git status");
    for (r, restrictive) in &rules {
        r.evaluate(&view, *restrictive);
    }
    c.bench_function("rule_on_built_view/simple", |b| {
        b.iter(|| {
            for (r, restrictive) in &rules {
                black_box(r.evaluate(black_box(&view), *restrictive));
            }
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
