//! Language runtimes under the preload: Python, Node, Perl, Rust std.
//! Each case: the allowed command runs, the denied one does not happen,
//! and the recording daemon saw exactly the expected commands.

use e2e::{assert_success, find_program, output, python3, stdout, Case};

fn allowed(case: &Case) -> String {
    case.touch("marker-allowed")
}

fn denied(case: &Case) -> String {
    case.touch("marker-denied")
}

/// A shell line whose text does not contain the denied word; the shell
/// assembles it, so the nested commands are what gets checked.
fn indirect(case: &Case) -> String {
    format!(
        "m=marker; touch {}; touch {}/$m-denied; echo end",
        case.path("marker-allowed"),
        case.dir.path().display()
    )
}

/// A fresh case that ran `python3 -c <code(case)>` successfully, and its stdout.
fn python(code: impl FnOnce(&Case) -> String) -> (Case, String) {
    let case = Case::new();
    let out = output(case.cmd(python3()).arg("-c").arg(code(&case)));
    assert_success(&out);
    let text = stdout(&out);
    (case, text)
}

/// Python that runs `<program> marker-allowed`, then `<program> marker-denied`
/// through `subprocess.run`, printing `denied <errno>` for the refusal.
fn subprocess_pair(case: &Case, program: &str) -> String {
    format!(
        "import subprocess\nsubprocess.run([{program:?}, {a:?}])\ntry:\n    subprocess.run([{program:?}, {d:?}])\nexcept PermissionError as e:\n    print('denied', e.errno)\n",
        a = case.path("marker-allowed"),
        d = case.path("marker-denied")
    )
}

#[test]
fn python_subprocess_absolute_path() {
    let (case, out) = python(|c| subprocess_pair(c, "/usr/bin/touch"));
    assert!(out.contains("denied 1"), "{out}");
    case.assert_outcome(&[
        format!("/usr/bin/{}", allowed(&case)),
        format!("/usr/bin/{}", denied(&case)),
    ]);
}

#[test]
fn python_subprocess_bare_name_asks_once_per_command() {
    let (case, out) = python(|c| subprocess_pair(c, "touch"));
    assert!(out.contains("denied 1"), "{out}");
    // CPython walks PATH itself; missing candidates are not asked about and
    // the repeat through /bin -> /usr/bin is not asked twice.
    case.assert_outcome(&[allowed(&case), denied(&case)]);
}

#[test]
fn python_subprocess_with_env_keeps_protection_in_grandchildren() {
    let (case, _) = python(|c| {
        format!(
            "import subprocess\nsubprocess.run(['sh', '-c', {s:?}], env={{'PATH': '/usr/bin:/bin'}})\n",
            s = indirect(c)
        )
    });
    case.assert_outcome(&[
        format!("sh -c '{}'", indirect(&case)),
        allowed(&case),
        denied(&case),
    ]);
}

#[test]
fn python_shell_true_and_os_system() {
    let (case, _) = python(|c| {
        format!(
            "import subprocess, os\nsubprocess.run({s:?}, shell=True)\nos.system({s:?})\n",
            s = indirect(c)
        )
    });
    case.assert_outcome(&[
        format!("/bin/sh -c '{}'", indirect(&case)),
        allowed(&case),
        denied(&case),
        indirect(&case),
        allowed(&case),
        denied(&case),
    ]);
}

#[test]
fn python_os_system_denied_returns_error() {
    let (case, out) = python(|c| {
        format!(
            "import os\nprint('status', os.system({d:?}))\n",
            d = denied(c)
        )
    });
    // system() returned -1 (EPERM): Python reports -1.
    assert!(out.contains("status -1"), "{out}");
    assert!(!case.exists("marker-denied"));
    assert_eq!(case.seen(), vec![denied(&case)]);
}

#[test]
fn python_os_popen() {
    let (case, out) = python(|c| {
        format!(
            "import os\nprint(os.popen({a:?}).read().strip())\n",
            a = format!("{} && echo popen-ok", allowed(c))
        )
    });
    assert!(out.contains("popen-ok"), "{out}");
    assert!(case.exists("marker-allowed"));
    // os.popen is built on subprocess (shell=True), not on popen(3); the C
    // probe covers popen(3) itself.
    let line = format!("/bin/sh -c '{} && echo popen-ok'", allowed(&case));
    assert_eq!(case.seen(), vec![line, allowed(&case)]);
}

#[test]
fn python_os_execvp_and_posix_spawn() {
    let (case, out) = python(|c| {
        format!(
            "import os\npid = os.posix_spawn('/usr/bin/touch', ['touch', {a:?}], os.environ)\nos.waitpid(pid, 0)\ntry:\n    os.posix_spawn('/usr/bin/touch', ['touch', {d:?}], os.environ)\nexcept PermissionError:\n    print('spawn denied')\npid = os.fork()\nif pid == 0:\n    try:\n        os.execvp('touch', ['touch', {d:?}])\n    except PermissionError:\n        os._exit(7)\n_, st = os.waitpid(pid, 0)\nprint('child', os.waitstatus_to_exitcode(st))\n",
            a = c.path("marker-allowed"),
            d = c.path("marker-denied")
        )
    });
    assert!(out.contains("spawn denied"), "{out}");
    assert!(out.contains("child 7"), "{out}");
    case.assert_outcome(&[allowed(&case), denied(&case), denied(&case)]);
}

fn node() -> Option<std::path::PathBuf> {
    find_program("node", &[])
}

#[test]
fn node_child_process_spawn_exec_execfile() {
    let Some(node) = node() else {
        panic!("node is required for this test (install nodejs)");
    };
    let case = Case::new();
    let js = format!(
        r#"const cp = require('child_process');
cp.spawnSync('touch', [{a:?}]);
cp.execFileSync('/bin/sh', ['-c', {s:?}]);
cp.spawnSync('/bin/sh', ['-c', {s:?}], {{env: {{}}}});
try {{ cp.execSync({d:?}, {{stdio: 'ignore'}}); }} catch (e) {{ console.log('exec failed'); }}
"#,
        a = case.path("marker-allowed"),
        s = indirect(&case),
        d = denied(&case)
    );
    let out = output(case.cmd(node).arg("-e").arg(js));
    assert_success(&out);
    assert!(stdout(&out).contains("exec failed"), "{}", stdout(&out));
    let sh = format!("/bin/sh -c '{}'", indirect(&case));
    case.assert_outcome(&[
        allowed(&case),
        sh.clone(),
        allowed(&case),
        denied(&case),
        // env: {} — libuv swaps environ to an empty one; the grandchildren
        // are still checked.
        sh,
        allowed(&case),
        denied(&case),
        format!("/bin/sh -c '{}'", denied(&case)),
    ]);
}

/// A single-quoted Perl string literal (no interpolation).
fn perl_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[test]
fn perl_system_list_and_string() {
    let case = Case::new();
    let code = format!(
        "system('touch', {a}); system({s}); print \"ok\\n\";",
        a = perl_quote(&case.path("marker-allowed")),
        s = perl_quote(&indirect(&case))
    );
    let out = output(case.cmd("perl").arg("-e").arg(code));
    assert_success(&out);
    // A list runs execvp directly; a string with metacharacters runs
    // execl("/bin/sh", "sh", "-c", ...), which the C shim forwards.
    case.assert_outcome(&[
        allowed(&case),
        format!("sh -c '{}'", indirect(&case)),
        allowed(&case),
        denied(&case),
    ]);
}

#[test]
fn rust_command_default_and_env_clear() {
    let spawner = env!("CARGO_BIN_EXE_rust-spawner");
    for mode in ["default", "env-clear-bare", "env-clear-abs"] {
        let case = Case::new();
        let out = output(case.cmd(spawner).arg(mode).arg(indirect(&case)));
        assert_success(&out);
        assert!(case.exists("marker-allowed"), "{mode}");
        assert!(!case.exists("marker-denied"), "{mode}");
        let first = if mode == "env-clear-abs" {
            "/bin/sh"
        } else {
            "sh"
        };
        assert_eq!(
            case.seen(),
            vec![
                format!("{first} -c '{}'", indirect(&case)),
                allowed(&case),
                denied(&case)
            ],
            "{mode}"
        );
    }
}

#[test]
fn a_later_identical_retry_is_asked_again() {
    // The PATH-walk shortcut must not turn into a sticky denial for a
    // long-running agent process: after a pause the same command is asked again.
    let (case, out) = python(|c| {
        format!(
            "import os, time\nfor _ in range(2):\n    try:\n        os.posix_spawn('/usr/bin/touch', ['touch', {d:?}], os.environ)\n    except PermissionError:\n        print('denied')\n    time.sleep(0.7)\n",
            d = c.path("marker-denied")
        )
    });
    assert_eq!(out, "denied\ndenied\n");
    assert_eq!(case.seen(), vec![denied(&case), denied(&case)]);
}
