//! `rampart doctor` against a real daemon and real processes: some under the real
//! preload library, one without it, a static executable, a set-user-ID copy.

mod ops;
mod support;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Allows everything but `rm`, so the preloaded shells below may start `sleep`.
const PERMISSIVE: &str = r#"version: "1"
default_action: allow
policies:
  - name: no-rm
    match:
      tool: exec
    rules:
      - action: deny
        when:
          command_matches: ["rm *"]
        message: rm is blocked in tests
"#;

/// A child killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `rampart doctor --json --socket <socket> --pid <pid>` with `env`.
fn doctor_pid(socket: &Path, pid: u32, env: &[(&str, &Path)]) -> (Output, Value) {
    doctor(
        &[
            "--socket",
            socket.to_str().unwrap(),
            "--pid",
            &pid.to_string(),
        ],
        env,
    )
}

fn doctor(args: &[&str], env: &[(&str, &Path)]) -> (Output, Value) {
    let mut cmd = Command::new(ops::rampart());
    cmd.arg("doctor")
        .arg("--json")
        .args(args)
        .env_remove("LD_PRELOAD")
        .env_remove("RAMPART_SOCKET")
        .env_remove("RAMPART_LIB")
        .env_remove("RAMPART_MODE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run rampart doctor");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor JSON ({e}): {}", ops::describe(&out)));
    (out, v)
}

fn preloaded(program: &str, socket: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("LD_PRELOAD", ops::hook_lib())
        .env("RAMPART_SOCKET", socket)
        .env("RAMPART_MODE", "enforce")
        .env("RAMPART_QUIET", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

/// Waits until `pid` has `n` descendants (the shell started its children).
fn wait_children(pid: u32, n: usize) {
    let t0 = Instant::now();
    loop {
        let kids =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if kids.split_whitespace().count() >= n {
            // Give each child time to exec its program.
            std::thread::sleep(Duration::from_millis(300));
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "children of {pid}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn by_pid(report: &Value, pid: u32) -> &Value {
    report["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not in {report:#}"))
}

/// A static executable that sleeps, if this machine can link one.
fn static_sleeper(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("static_sleeper.c");
    std::fs::write(
        &src,
        "#include <unistd.h>\nint main(void) { sleep(30); return 0; }\n",
    )
    .unwrap();
    let exe = dir.join("static_sleeper");
    let ok = Command::new("cc")
        .args(["-static", "-O0", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(exe)
}

#[test]
fn doctor_sees_the_preload_mapped_in_a_process_tree_and_a_static_gap() {
    let d = support::Daemon::start_with(support::Opts {
        policy: PERMISSIVE,
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let lib = ops::hook_lib();

    // A preloaded sleep on its own: everything in place, exit 0.
    let sleeper = Proc(
        preloaded("sleep", &d.socket)
            .arg("30")
            .spawn()
            .expect("spawn sleep"),
    );
    let pid = sleeper.0.id();
    let t0 = Instant::now();
    while !std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_default()
        .contains("librampart")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "sleep never mapped the library"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (out, r) = doctor_pid(&d.socket, pid, &[("RAMPART_LIB", lib)]);
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    assert_eq!(r["protected"], true);
    assert_eq!(r["daemon"]["reachable"], true);
    assert_eq!(r["daemon"]["mode"], "enforce");
    assert_eq!(r["daemon"]["pid"], d.child.id());
    assert_eq!(
        r["policies"][0]["source"],
        d.policy.display().to_string(),
        "{r:#}"
    );
    assert_eq!(r["policies"][0]["policies"], 1);
    assert_eq!(
        r["library"]["path"],
        lib.canonicalize().unwrap().display().to_string()
    );
    let hooks: Vec<&str> = r["library"]["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for h in [
        "execve",
        "execvp",
        "execl",
        "posix_spawn",
        "system",
        "popen",
    ] {
        assert!(hooks.contains(&h), "{h} missing from {hooks:?}");
    }
    assert_eq!(by_pid(&r, pid)["coverage"], "covered");

    // A preloaded shell with a preloaded child and, when it links, a static child.
    let stat = static_sleeper(tmp.path());
    let script = match &stat {
        Some(s) => format!("sleep 30 & {} & wait", s.display()),
        None => {
            eprintln!("cc -static does not link here: the static case is not run");
            "sleep 30 & wait".to_string()
        }
    };
    let shell = Proc(
        preloaded("sh", &d.socket)
            .args(["-c", &script])
            .spawn()
            .expect("spawn sh"),
    );
    let sh_pid = shell.0.id();
    wait_children(sh_pid, if stat.is_some() { 2 } else { 1 });
    let (out, r) = doctor_pid(&d.socket, sh_pid, &[("RAMPART_LIB", lib)]);
    let procs = r["processes"].as_array().unwrap();
    assert_eq!(by_pid(&r, sh_pid)["coverage"], "covered", "{r:#}");
    assert_eq!(by_pid(&r, sh_pid)["depth"], 0);
    let sleep = procs
        .iter()
        .find(|p| p["name"] == "sleep")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(sleep["coverage"], "covered");
    assert_eq!(sleep["ppid"], sh_pid);
    assert_eq!(sleep["depth"], 1);
    match &stat {
        Some(_) => {
            let s = procs
                .iter()
                .find(|p| p["name"] == "static_sleeper")
                .unwrap_or_else(|| panic!("{r:#}"));
            assert_eq!(s["coverage"], "static", "{r:#}");
            assert_eq!(out.status.code(), Some(1), "{r:#}");
            assert!(r["problems"][0].as_str().unwrap().contains("static"));
        }
        None => assert_eq!(out.status.code(), Some(0), "{r:#}"),
    }
}

#[test]
fn doctor_reports_uncovered_and_setuid_processes_and_a_missing_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    // A set-user-ID copy of sleep, run without the preload.
    let suid = tmp.path().join("suid-sleep");
    let sleep = ["/usr/bin/sleep", "/bin/sleep"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sleep");
    std::fs::copy(sleep, &suid).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let plain = Proc(Command::new(sleep).arg("30").spawn().unwrap());
    // Another test thread may be forking while the copy's write descriptor is still
    // open (inherited until that child execs): exec then fails with ETXTBSY for a
    // moment, so retry that one error.
    let setuid = Proc(
        (0..100)
            .find_map(|_| match Command::new(&suid).arg("30").spawn() {
                Err(e) if e.raw_os_error() == Some(libc_etxtbsy()) => {
                    std::thread::sleep(Duration::from_millis(20));
                    None
                }
                r => Some(r.unwrap()),
            })
            .expect("suid copy stayed busy"),
    );
    std::thread::sleep(Duration::from_millis(200));

    let nowhere = tmp.path().join("no-daemon.sock");
    let (out, r) = doctor_pid(&nowhere, plain.0.id(), &[("RAMPART_LIB", ops::hook_lib())]);
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert_eq!(r["daemon"]["reachable"], false);
    assert!(r["daemon"].get("datagram_lane").is_none(), "{r:#}");
    assert_eq!(r["protected"], false);
    assert_eq!(by_pid(&r, plain.0.id())["coverage"], "not-covered");
    let problems = r["problems"].to_string();
    assert!(problems.contains("no daemon answers"), "{problems}");

    let (_, r) = doctor_pid(&nowhere, setuid.0.id(), &[]);
    assert_eq!(by_pid(&r, setuid.0.id())["coverage"], "setuid", "{r:#}");
}

#[test]
fn doctor_checks_its_own_shell_for_the_preload_and_prints_for_humans() {
    let d = support::Daemon::start_with(support::Opts {
        policy: PERMISSIVE,
        ..Default::default()
    });
    let lib = ops::hook_lib();
    // Not preloaded: the shell check fails.
    let (out, r) = doctor(&[], &[("RAMPART_SOCKET", &d.socket), ("RAMPART_LIB", lib)]);
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert_eq!(r["shell"]["mapped"], false);
    assert_eq!(r["daemon"]["reachable"], true, "{r:#}");
    assert_eq!(r["daemon"]["datagram_lane"], true, "{r:#}");

    // Preloaded (as under `rampart-preload -- $SHELL`): protected.
    let (out, r) = doctor(&[], &[("RAMPART_SOCKET", &d.socket), ("LD_PRELOAD", lib)]);
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    assert_eq!(r["shell"]["mapped"], true);
    assert_eq!(r["shell"]["preload_env"], true);

    // The human report names each part.
    let out = Command::new(ops::rampart())
        .arg("doctor")
        .env("RAMPART_SOCKET", &d.socket)
        .env("LD_PRELOAD", lib)
        .env_remove("RAMPART_LIB")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for want in [
        "daemon",
        "mode enforce",
        "datagram lane)",
        d.policy.to_str().unwrap(),
        "librampart.so",
        "runs under the preload",
        "protected",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }

    // A daemon without the datagram lane is still a protecting one.
    let plain = support::Daemon::start_with(support::Opts {
        policy: PERMISSIVE,
        args: vec!["--no-datagram".into()],
        ..Default::default()
    });
    let (out, r) = doctor(
        &[],
        &[("RAMPART_SOCKET", &plain.socket), ("LD_PRELOAD", lib)],
    );
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    assert_eq!(r["daemon"]["datagram_lane"], false, "{r:#}");
}

/// `ETXTBSY` on Linux.
fn libc_etxtbsy() -> i32 {
    26
}
