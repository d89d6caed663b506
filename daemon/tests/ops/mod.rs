//! Helpers shared by the install, doctor and replay tests: the built artefacts a user
//! would install (`rampart`, `rampart-preload`, `librampart.so`).
//!
//! OWNER: helper "ops".
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("daemon/ has a parent")
        .to_path_buf()
}

/// The `rampart` binary under test.
pub fn rampart() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rampart"))
}

/// `rampart-preload`, built next to `rampart` by `cargo build --workspace --bins`
/// (which scripts/test runs before the tests).
pub fn rampart_preload() -> PathBuf {
    let p = rampart().with_file_name("rampart-preload");
    assert!(
        p.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`, or run scripts/test)",
        p.display()
    );
    p
}

/// The preload library, built once per test process (release, its own workspace,
/// where scripts/install.sh looks for it).
pub fn hook_lib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let root = workspace_root();
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(root.join("interceptor/hook/Cargo.toml"))
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .output()
            .expect("run cargo to build librampart.so");
        assert!(
            out.status.success(),
            "building librampart.so failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lib = root.join("interceptor/hook/target/release/librampart.so");
        assert!(lib.exists(), "{} missing after build", lib.display());
        lib
    })
}

/// Output text of a finished command, for assertion messages.
pub fn describe(out: &std::process::Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
