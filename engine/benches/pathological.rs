//! Whole decisions (`Engine::enforce` with the shipped standard policy) on
//! hostile commands: the per-command cost the daemon pays for the worst input
//! an agent can send. Run with
//! `cargo bench -p engine --bench pathological`; figures in docs/RELIABILITY.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use engine::{Engine, ToolCall};

/// Hostile commands, by name (the same set as `tests/tests/reliability_hostile.rs`).
fn inputs() -> Vec<(&'static str, String)> {
    let nested = |n: usize| format!("echo {}x{}", "$(echo ".repeat(n), ")".repeat(n));
    let quotes = |n: usize| {
        let open: String = (0..n)
            .map(|i| if i % 2 == 0 { '"' } else { '\'' })
            .collect();
        let close: String = open.chars().rev().collect();
        format!("echo {open}{close}")
    };
    let mut bash_c = "rm -rf /".to_string();
    for _ in 0..10 {
        bash_c = format!("bash -c {bash_c:?}");
    }
    vec![
        ("baseline_git_status", "git status".to_string()),
        ("argv_1MiB", format!("echo {}", "a".repeat(1 << 20))),
        (
            "args_10000",
            format!(
                "touch {}",
                (0..10_000)
                    .map(|i| format!("f{i}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        (
            "binary_bytes",
            format!(
                "echo {}",
                (0u8..=255).map(|b| b as char).collect::<String>()
            ),
        ),
        (
            "newlines_cr_ansi",
            "echo a\nrm -rf /\r\u{1b}[2K\u{1b}[1Aok".to_string(),
        ),
        ("nested_subst_50", nested(50)),
        ("nested_subst_1000", nested(1_000)),
        ("nested_quotes_2000", quotes(2_000)),
        ("backticks_5000", format!("echo {}", "`".repeat(5_000))),
        ("pipes_1000", vec!["cat"; 1_000].join(" | ")),
        (
            "wrappers_500",
            format!("{}rm -rf /", "sudo env nice ".repeat(500)),
        ),
        ("bash_c_nested_10", bash_c),
    ]
}

fn pathological(c: &mut Criterion) {
    let engine = Engine::standard();
    let mut g = c.benchmark_group("pathological");
    for (name, cmd) in inputs() {
        let call = ToolCall::exec(cmd);
        g.bench_function(name, |b| b.iter(|| engine.enforce(black_box(&call))));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(1)).warm_up_time(std::time::Duration::from_millis(300));
    targets = pathological
}
criterion_main!(benches);
