//! Decide the commands of the bench mix (`benches/data/mix.rs`) against the embedded
//! standard policy, as a fixed workload outside criterion.
//!
//! - `decide_mix N [INDEX]`: decide every command (or only command `INDEX`) `N`
//!   times. For instruction counts: `valgrind --tool=callgrind
//!   target/release/examples/decide_mix 200 I` minus the same run with `0 0` (the
//!   load), divided by 200, is the instruction count of one decision of command `I`.
//! - `decide_mix --cpu SECONDS`: for each command, decide it repeatedly until this
//!   thread has used `SECONDS` of CPU time (user + system, from
//!   `/proc/thread-self/stat`, 10 ms ticks), and print the CPU time per decision,
//!   then the median and mean over the mix. CPU time does not count the time the
//!   thread waits for a core, so the figures hold on a loaded machine where
//!   wall-clock benchmarks do not.
//! - `decide_mix --policy FILE ...`: the same against the policy file `FILE`.

use std::hint::black_box;

use engine::{Engine, ToolCall};

#[path = "../benches/data/mix.rs"]
mod mix;

/// This thread's CPU time (user + system) in clock ticks (1/100 s on Linux).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum()
}

fn cpu_mode(engine: &Engine, calls: &[ToolCall], seconds: f64) {
    let ticks = ((seconds * 100.0).round() as u64).max(1);
    let mut per = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        // Warm up, then start on a tick boundary.
        for _ in 0..1000 {
            black_box(engine.evaluate(black_box(call)));
        }
        let t0 = cpu_ticks();
        let mut start = t0;
        while start == t0 {
            black_box(engine.evaluate(black_box(call)));
            start = cpu_ticks();
        }
        let mut n = 0u64;
        let mut now = start;
        while now < start + ticks {
            for _ in 0..256 {
                black_box(engine.evaluate(black_box(call)));
            }
            n += 256;
            now = cpu_ticks();
        }
        let ns = (now - start) as f64 * 1e7 / n as f64;
        println!("{i:02} {ns:8.0} ns  {}", mix::MIX[i]);
        per.push(ns);
    }
    let mut sorted = per.clone();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 0 {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    };
    let mean = per.iter().sum::<f64>() / per.len() as f64;
    println!(
        "median {median:.0} ns, mean {mean:.0} ns per decision over {} commands",
        per.len()
    );
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `--policy FILE` first: decide against that file instead of the embedded standard.
    let engine = if args.first().map(String::as_str) == Some("--policy") && args.len() > 1 {
        let path = args.remove(1);
        args.remove(0);
        let text = std::fs::read_to_string(&path).expect("the policy file is readable");
        Engine::from_yaml(&path, &text).expect("the policy file loads")
    } else {
        Engine::standard()
    };
    let all: Vec<ToolCall> = mix::MIX.iter().map(|c| ToolCall::exec(*c)).collect();
    if args.first().map(String::as_str) == Some("--cpu") {
        let seconds = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0.5);
        cpu_mode(&engine, &all, seconds);
        return;
    }
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1);
    let only: Option<usize> = args.get(1).and_then(|a| a.parse().ok());
    let calls: Vec<&ToolCall> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| only.is_none_or(|o| o == *i))
        .map(|(_, c)| c)
        .collect();
    let mut denied = 0usize;
    for _ in 0..rounds {
        for call in &calls {
            denied += usize::from(
                !black_box(engine.evaluate(black_box(call)))
                    .action
                    .is_allowed(),
            );
        }
    }
    println!("{} decisions, {denied} not allowed", rounds * calls.len());
}
