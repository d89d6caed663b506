//! Builds the C shim (variadic `execl*`, the TLS reentrancy flag) and sets
//! the link flags of librampart.so:
//! * the shim archive linked whole, its three exec symbols exported through
//!   an extra version script (rustc's own script hides every C symbol);
//! * `-z now` (no lazy PLT binding: lazy binding would run the dynamic
//!   resolver inside fork/vfork children) and `-z relro`.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let shim = manifest.join("src/shim.c");
    let map = manifest.join("exports.map");
    println!("cargo:rerun-if-changed={}", shim.display());
    println!("cargo:rerun-if-changed={}", map.display());

    cc::Build::new()
        .file(&shim)
        .pic(true)
        .opt_level(2)
        .flag("-fvisibility=hidden")
        .warnings(true)
        .extra_warnings(true)
        .cargo_metadata(false)
        .compile("rampartshim");

    let archive = out.join("librampartshim.a");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--whole-archive");
    println!("cargo:rustc-cdylib-link-arg={}", archive.display());
    println!("cargo:rustc-cdylib-link-arg=-Wl,--no-whole-archive");
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
        map.display()
    );
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,now");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,relro");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--as-needed");
}
