//! Helpers shared by the install, doctor and replay tests: the built artefacts a user
//! would install (`rampart`, `rampart-preload`, `librampart.so`).
//!
//! OWNER: helper "ops".
#![allow(dead_code)]

use std::path::{Path, PathBuf};

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

/// The preload library, built once per test process by the end-to-end harness
/// (release, its own workspace, where scripts/install.sh looks for it).
pub fn hook_lib() -> &'static Path {
    e2e::hook_lib()
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
