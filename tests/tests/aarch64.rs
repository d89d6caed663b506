//! The hook built for aarch64 and run under qemu-user, against a recorder on
//! a real Unix socket: the `svc` system-call path (`sys.rs`), the naked
//! `execl*` trampolines (`hooks.rs`, `variadic`) and the rest of the flow on
//! the second architecture the hook has assembly for. The exec'd `touch` is
//! the host's (qemu-user hands an exec of a host binary to the kernel), so
//! what is tested is the check inside the aarch64 process.
//!
//! Needs `qemu-aarch64`, `aarch64-linux-gnu-gcc` with the arm64 C library
//! (`apt-get install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross`)
//! and the Rust target (`rustup target add aarch64-unknown-linux-gnu`);
//! `.ci/run` installs them. Missing tools fail the test, naming them.

use e2e::{build_hook, find_program, stdout, workspace_root, Case};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const TARGET: &str = "aarch64-unknown-linux-gnu";
const CROSS_CC: &str = "aarch64-linux-gnu-gcc";
const SYSROOT: &str = "/usr/aarch64-linux-gnu";

fn tool(name: &str) -> PathBuf {
    find_program(name, &[]).unwrap_or_else(|| {
        panic!(
            "{name} is missing: apt-get install qemu-user gcc-aarch64-linux-gnu \
             libc6-dev-arm64-cross (.ci/run does this)"
        )
    })
}

/// `librampart.so` for aarch64, linked by the GNU cross linker.
fn aarch64_lib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let cc = tool(CROSS_CC);
        build_hook(
            Some(TARGET),
            &[
                (
                    "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
                    cc.as_os_str(),
                ),
                ("CC_aarch64_unknown_linux_gnu", cc.as_os_str()),
            ],
        )
    })
}

/// `tests/probes/exec_entry.c` built for aarch64.
fn aarch64_probe(dir: &Path) -> PathBuf {
    let out = dir.join("exec_entry.aarch64");
    let res = Command::new(tool(CROSS_CC))
        .args(["-O1", "-Wall", "-o"])
        .arg(&out)
        .arg(workspace_root().join("tests/probes/exec_entry.c"))
        .output()
        .expect("run the cross compiler");
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    out
}

/// `exec_entry <api> <dir>/<marker>` in an aarch64 process under the hook.
/// qemu itself runs without any preload; the guest gets the aarch64 library.
fn entry(case: &Case, probe: &Path, api: &str, marker: &str) -> Output {
    let mut c = Command::new(tool("qemu-aarch64"));
    e2e::clean_env(&mut c);
    c.arg("-L")
        .arg(SYSROOT)
        .arg("-E")
        .arg(format!("LD_PRELOAD={}", aarch64_lib().display()))
        .arg("-E")
        .arg(format!("RAMPART_SOCKET={}", case.rec.socket.display()))
        .arg(probe)
        .arg(api)
        .arg(case.path(marker))
        .current_dir(case.dir.path());
    c.output().expect("run qemu-aarch64")
}

#[test]
fn the_aarch64_hook_checks_every_entry_point_under_qemu() {
    let scratch = e2e::scratch();
    let probe = aarch64_probe(scratch.path());
    for api in [
        "execl", "execle", "execlp", "execv", "execve", "execvp", "execvpe", "fexecve",
    ] {
        let case = Case::new();
        entry(&case, &probe, api, "marker-allowed");
        let out = entry(&case, &probe, api, "marker-denied");
        assert_eq!(
            stdout(&out).trim(),
            format!("{api} ret=-1 errno=1"),
            "{api}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        case.assert_outcome_for(api, &case.touch_pair());
    }
    // qemu-user 7.2 has no execveat (ENOSYS): the allowed call fails there,
    // after the hook let it through; the denied one is refused by the hook.
    let case = Case::new();
    let out = entry(&case, &probe, "execveat", "marker-allowed");
    assert_eq!(stdout(&out).trim(), "execveat ret=-1 errno=38");
    let out = entry(&case, &probe, "execveat", "marker-denied");
    assert_eq!(stdout(&out).trim(), "execveat ret=-1 errno=1");
    assert_eq!(case.seen(), case.touch_pair());
    for api in ["posix_spawn", "posix_spawnp"] {
        let case = Case::new();
        entry(&case, &probe, api, "marker-allowed");
        let out = entry(&case, &probe, api, "marker-denied");
        assert!(
            stdout(&out).starts_with(&format!("{api} ret=1 ")),
            "{api}: EPERM as the return value: {}",
            stdout(&out)
        );
        case.assert_outcome_for(api, &case.touch_pair());
    }
    for api in ["system", "popen"] {
        let case = Case::new();
        entry(&case, &probe, api, "marker-allowed");
        entry(&case, &probe, api, "marker-denied");
        case.assert_markers_for(api);
        let seen = case.seen();
        assert!(
            seen.len() == 2 && seen[1].contains("marker-denied"),
            "{api}: the shell strings were asked about: {seen:?}"
        );
    }
}
