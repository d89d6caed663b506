//! The shape of librampart.so: exactly the hooked symbols exported, libc the
//! only dynamic dependency, immediate binding, no hooked name imported.

use e2e::{hook_lib, output, stdout};
use std::process::Command;

const HOOKS: [&str; 15] = [
    "execl",
    "execle",
    "execlp",
    "execv",
    "execve",
    "execveat",
    "execvp",
    "execvpe",
    "fexecve",
    "pidfd_spawn",
    "pidfd_spawnp",
    "popen",
    "posix_spawn",
    "posix_spawnp",
    "system",
];

#[test]
fn exports_exactly_the_hooked_symbols() {
    let out = output(
        Command::new("nm")
            .args(["-D", "--defined-only"])
            .arg(hook_lib()),
    );
    let mut names: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names, HOOKS.to_vec());
}

#[test]
fn imports_none_of_the_hooked_names() {
    // The library must only ever reach the real functions through dlsym.
    let out = output(
        Command::new("nm")
            .args(["-D", "--undefined-only"])
            .arg(hook_lib()),
    );
    let imports: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .last()
                .map(|s| s.split('@').next().unwrap_or(s).to_string())
        })
        .collect();
    for h in HOOKS {
        assert!(!imports.iter().any(|i| i == h), "imports {h}: {imports:?}");
    }
    for banned in [
        "malloc",
        "calloc",
        "pthread_mutex_lock",
        "pthread_atfork",
        "curl_easy_init",
    ] {
        assert!(!imports.iter().any(|i| i == banned), "imports {banned}");
    }
}

#[test]
fn needs_only_libc_and_binds_now() {
    let out = output(Command::new("readelf").arg("-d").arg(hook_lib()));
    let text = stdout(&out);
    let needed: Vec<&str> = text.lines().filter(|l| l.contains("(NEEDED)")).collect();
    assert_eq!(needed.len(), 1, "{needed:?}");
    assert!(needed[0].contains("[libc.so.6]"));
    assert!(
        text.contains("BIND_NOW") || text.contains("Flags: NOW"),
        "{text}"
    );
}

/// Every static a load or hook call touches is in `.data`, ahead of the
/// state (hook/src/real.rs): a `.bss` after the state's 23 KiB can spill onto
/// a page of its own, which the loader maps anonymously and every process
/// then faults on (one more fault per launch, measured with
/// `scripts/fault-map`). Zero-filled are only the thread-local reentrancy
/// flag (`.tbss`) and lld's padding of the read-only-after-relocation pages
/// to their page end (`.relro_padding`, never a page of its own).
#[test]
fn no_zero_filled_data_besides_the_thread_local_flag() {
    let out = output(Command::new("readelf").args(["-SW"]).arg(hook_lib()));
    let nobits: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| l.contains(" NOBITS "))
        .filter_map(|l| {
            l.split(']')
                .nth(1)?
                .split_whitespace()
                .next()
                .map(str::to_string)
        })
        .filter(|name| name != ".relro_padding")
        .collect();
    assert_eq!(nobits, vec![".tbss".to_string()], "{}", stdout(&out));
}
