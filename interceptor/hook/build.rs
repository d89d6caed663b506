//! Builds the C shim (variadic `execl*`, the TLS reentrancy flag) and sets
//! the link flags of librampart.
//!
//! Linux (`librampart.so`):
//! * the shim archive linked whole; on x86_64 and aarch64 its variadic
//!   `execl*` bodies are hidden and reached through exported Rust entry
//!   points (`hooks.rs`, `variadic`), elsewhere the C symbols are exported
//!   through an extra version script (rustc's own script hides every C
//!   symbol; merging two scripts needs lld, GNU ld refuses it);
//! * `-z now` (no lazy PLT binding: lazy binding would run the dynamic
//!   resolver inside fork/vfork children) and `-z relro`;
//! * `hot.ld`, an `INSERT` linker script: the functions an exec runs linked
//!   together, then the constructor's (a forked child faults in each 64 KiB
//!   window of our code it runs);
//! * `-nostartfiles`: the C runtime's start files only add `_init`/`_fini`
//!   and C++/TM-clone/profiling hooks (four undefined weak symbols the loader
//!   looks up in every process) that a no_std library without destructors
//!   never uses; the constructor is an `.init_array` entry.
//!
//! macOS (`librampart.dylib`): the shim archive force-loaded (its
//! `__interpose` entries must not be dropped) and `-bind_at_load` (the
//! `-z now` equivalent). When cross-checking for macOS from a machine with
//! no Apple C toolchain (`cargo check --target x86_64-apple-darwin` on
//! Linux: the host `cc` rejects `-arch`), the C compile is skipped with a
//! warning: type-checking the Rust code needs no C object, and a real link
//! could not happen there anyway. A macOS host, or a `CC_<target>` /
//! `TARGET_CC` cross compiler, compiles it as usual.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let shim = manifest.join("src/shim.c");
    let map = manifest.join("exports.map");
    let layout = manifest.join("hot.ld");
    println!("cargo:rerun-if-changed={}", shim.display());
    println!("cargo:rerun-if-changed={}", map.display());
    println!("cargo:rerun-if-changed={}", layout.display());
    let target = env::var("TARGET").unwrap_or_default();
    let macos = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "macos");

    if macos && !have_apple_cc(&target) {
        println!(
            "cargo:warning=no Apple C toolchain for {target}: shim.c not compiled \
             (enough for `cargo check`; build on macOS to link librampart.dylib)"
        );
        return;
    }

    cc::Build::new()
        .file(&shim)
        .pic(true)
        .opt_level(2)
        .flag("-fvisibility=hidden")
        // The shim defines memcpy & co. (Linux): no builtin expansion or loop
        // idiom may turn their bodies into calls of themselves.
        .flag_if_supported("-fno-builtin")
        .flag_if_supported("-fno-tree-loop-distribute-patterns")
        .warnings(true)
        .extra_warnings(true)
        .cargo_metadata(false)
        .compile("rampartshim");

    let archive = out.join("librampartshim.a");
    if macos {
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,-force_load,{}",
            archive.display()
        );
        println!("cargo:rustc-cdylib-link-arg=-Wl,-bind_at_load");
        return;
    }
    println!("cargo:rustc-cdylib-link-arg=-Wl,--whole-archive");
    println!("cargo:rustc-cdylib-link-arg={}", archive.display());
    println!("cargo:rustc-cdylib-link-arg=-Wl,--no-whole-archive");
    // On Linux x86_64 and aarch64 the `execl*` entry points are Rust items
    // (hooks.rs, `variadic`) that rustc exports itself; elsewhere the C
    // functions are exported through a second version script.
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !(linux && (arch == "x86_64" || arch == "aarch64")) {
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
            map.display()
        );
    }
    // The code layout (hot.ld): the exec path's functions together, then
    // the constructor's, ahead of the rest. An INSERT script, so the
    // linker's default layout stays otherwise (GNU ld and lld both take it).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-T,{}", layout.display());
    // Each segment at a page-aligned offset: the data read-only after
    // relocation (`.init_array` to `.got.plt`, under a page) then starts a
    // page of its own. Placed right after the code, it straddled two pages
    // whenever the code ended in the last ~0.7 KiB of one, and every process
    // faulted on both while the loader relocated them (scripts/fault-map;
    // tests/tests/symbols.rs checks it). An lld option (x86_64's default
    // linker); GNU ld ignores it with a warning.
    if linux && arch == "x86_64" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,separate-loadable-segments");
    }
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,now");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,relro");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--as-needed");
    println!("cargo:rustc-cdylib-link-arg=-nostartfiles");
}

/// True when a C compiler for the Apple `target` is available: building on
/// a macOS host, or a cross compiler named by `CC_<target>` / `TARGET_CC`
/// (the variables the `cc` crate reads).
fn have_apple_cc(target: &str) -> bool {
    let host = env::var("HOST").unwrap_or_default();
    if host.contains("apple") {
        return true;
    }
    let underscored = target.replace('-', "_");
    [
        format!("CC_{target}"),
        format!("CC_{underscored}"),
        "TARGET_CC".to_owned(),
    ]
    .iter()
    .any(|v| {
        println!("cargo:rerun-if-env-changed={v}");
        env::var_os(v).is_some_and(|s| !s.is_empty())
    })
}
