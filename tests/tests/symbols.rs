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

/// The data the loader writes while relocating and then makes read-only
/// (`GNU_RELRO`: `.init_array` to `.got.plt`, well under a page) lies in one
/// page: straddling two, it cost every process one page fault more
/// (`scripts/fault-map`). build.rs links with `-z separate-loadable-segments`
/// so that it starts a page wherever the code ends.
#[test]
fn the_relocated_read_only_data_lies_in_one_page() {
    let out = output(Command::new("readelf").args(["-lW"]).arg(hook_lib()));
    let text = stdout(&out);
    let relro = text
        .lines()
        .find(|l| l.trim_start().starts_with("GNU_RELRO"))
        .unwrap_or_else(|| panic!("no GNU_RELRO segment:\n{text}"));
    let words: Vec<&str> = relro.split_whitespace().collect();
    let hex = |w: &str| u64::from_str_radix(w.trim_start_matches("0x"), 16).unwrap();
    let (start, file_size) = (hex(words[2]), hex(words[4]));
    assert!(file_size > 0, "{relro}");
    assert_eq!(
        start / 4096,
        (start + file_size - 1) / 4096,
        "the relocated data straddles a page boundary: {relro}"
    );
}

/// Start and end address of section `name` in the library (`readelf -S`).
fn section_bounds(name: &str) -> (u64, u64) {
    let out = output(Command::new("readelf").args(["-S", "-W"]).arg(hook_lib()));
    let text = stdout(&out);
    for line in text.lines() {
        let words: Vec<&str> = line
            .trim_start_matches(|c: char| c == ' ' || c == '[' || c.is_ascii_digit() || c == ']')
            .split_whitespace()
            .collect();
        if words.first() == Some(&name) {
            let addr = u64::from_str_radix(words[2], 16).unwrap();
            let size = u64::from_str_radix(words[4], 16).unwrap();
            return (addr, addr + size);
        }
    }
    panic!("no section {name} in {}:\n{text}", hook_lib().display());
}

#[test]
fn the_exec_path_and_the_constructor_are_linked_together() {
    // hot.ld groups the code a forked child runs on its way to exec, and the
    // constructor's, so that each takes as few 64 KiB fault-around windows as
    // possible. A function renamed out of its pattern falls back into
    // `.text`: this names the large ones of each path.
    let exec = section_bounds(".text.rampart_exec");
    let load = section_bounds(".text.rampart_load");
    let out = output(Command::new("nm").arg("-C").arg(hook_lib()));
    let symbols = stdout(&out);
    let address_of = |name: &str| -> Vec<u64> {
        symbols
            .lines()
            .filter_map(|l| {
                let (addr, rest) = l.split_once(' ')?;
                let (_, sym) = rest.split_once(' ')?;
                (sym == name).then(|| u64::from_str_radix(addr, 16).ok())?
            })
            .collect()
    };
    let exec_path = [
        "execve",
        "rampart_guard_enter",
        "memcpy",
        "memset",
        "rampart::hooks::check",
        "rampart::hooks::check_fresh",
        "rampart::hooks::with_protected_env",
        "rampart::floor::check_words",
        "rampart::client::Request<I>::send",
        "rampart::client::read_reply",
        "rampart::client::judge",
        "rampart::http::write_body",
        "rampart::net::Socket::connect",
        "rampart::net::Socket::recv",
    ];
    for name in exec_path {
        let at = address_of(name);
        assert!(!at.is_empty(), "no symbol {name}");
        for a in at {
            assert!(
                (exec.0..exec.1).contains(&a),
                "{name} at {a:#x}, outside .text.rampart_exec {exec:x?}"
            );
        }
    }
    for name in [
        "rampart::hooks::on_load",
        "rampart::hooks::init_state",
        "rampart::hooks::fill_snapshot",
        "rampart::real::table::lookup",
    ] {
        let at = address_of(name);
        assert!(!at.is_empty(), "no symbol {name}");
        for a in at {
            assert!(
                (load.0..load.1).contains(&a),
                "{name} at {a:#x}, outside .text.rampart_load {load:x?}"
            );
        }
    }
}
