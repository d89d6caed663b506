//! Links the functions that answer the preload library next to each other
//! (`hot-path.order`, written by `scripts/order-hot-path`): the daemon meets that
//! code cold once per exec, and packed (with its cold parts kept out of line) a
//! datagram request touches ~50 code pages instead of ~160 (callgrind,
//! `scripts/bench-daemon-instr`; see docs/BENCHMARKS.md).
//!
//! Only where the file is known to work: a release build for
//! x86_64-unknown-linux-gnu with the toolchain that wrote it (its first line),
//! whose default linker is rust-lld (`--symbol-ordering-file` is an lld option;
//! GNU ld would refuse it), and no linker chosen by the user. Anywhere else the
//! binary is linked as usual. `RAMPART_HOT_ORDER=0` turns it off.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=hot-path.order");
    for var in [
        "RAMPART_HOT_ORDER",
        "RUSTC_LINKER",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let file =
        Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("hot-path.order");
    match why_not(&file) {
        None => {
            println!(
                "cargo:rustc-link-arg-bin=rampart=-Wl,--symbol-ordering-file={}",
                file.display()
            );
            // Functions of the list that this build inlined or renamed are not
            // an error: the rest is still ordered.
            println!("cargo:rustc-link-arg-bin=rampart=-Wl,--no-warn-symbol-ordering");
        }
        // Said only where the list was meant to apply: a release build for
        // x86_64 Linux that cannot use it (another toolchain, another linker).
        Some(Skip::Say(reason)) => println!("cargo:warning=hot-path.order not used: {reason}"),
        Some(Skip::Quiet) => {}
    }
}

/// Why the list is not used.
enum Skip {
    /// Not meant for this build (debug, another target, turned off).
    Quiet,
    /// Meant for it but unusable: the build says why.
    Say(String),
}

/// Why the order file is not passed to the linker, or `None` when it is.
fn why_not(file: &Path) -> Option<Skip> {
    let var = |k: &str| env::var(k).unwrap_or_default();
    if var("RAMPART_HOT_ORDER") == "0" {
        return Some(Skip::Quiet);
    }
    if var("PROFILE") != "release" {
        return Some(Skip::Quiet);
    }
    if (
        var("CARGO_CFG_TARGET_ARCH"),
        var("CARGO_CFG_TARGET_OS"),
        var("CARGO_CFG_TARGET_ENV"),
    ) != ("x86_64".into(), "linux".into(), "gnu".into())
    {
        return Some(Skip::Quiet);
    }
    if !var("RUSTC_LINKER").is_empty()
        || !var("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_empty()
        || var("CARGO_ENCODED_RUSTFLAGS").contains("link")
    {
        return Some(Skip::Say(
            "a linker or link flags were chosen; it needs rust-lld".into(),
        ));
    }
    let sysroot = rustc(&["--print", "sysroot"]);
    let lld = Path::new(&sysroot).join("lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld/ld.lld");
    if !lld.exists() {
        return Some(Skip::Say(format!(
            "this toolchain has no {}",
            lld.display()
        )));
    }
    let Ok(order) = std::fs::read_to_string(file) else {
        return Some(Skip::Say("daemon/hot-path.order is missing".into()));
    };
    let made_with = order
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .unwrap_or_default();
    let ours = rustc(&["--version"]);
    if ours != made_with {
        return Some(Skip::Say(format!(
            "written for {made_with}, this is {ours} (regenerate: scripts/order-hot-path)"
        )));
    }
    None
}

/// What the build's `rustc` prints for `args` (trimmed; empty if it cannot run).
fn rustc(args: &[&str]) -> String {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
