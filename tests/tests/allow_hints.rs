//! Denials that tell a human how to allow: the `suggestions` of the preflight
//! answer, the hint on the hook's `rampart: blocked` line, and `rampart allow`
//! end to end against a real daemon (write the override, reload, now allowed; a
//! deny stays a deny and names the policy file to edit instead).

use e2e::daemon::{spawn_serve, DENY_MARKER_POLICY};
use e2e::{clean_env, output, preloaded, scratch, stderr, stdout, workspace_bin};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

/// The `e2e-ask-marker` policy, appended to [`DENY_MARKER_POLICY`]: the test
/// policy allows everything, asks for `marker-ask`, denies `marker-denied`.
const ASK_MARKER_POLICY: &str = r#"  - name: e2e-ask-marker
    match:
      tool: ["exec"]
    rules:
      - action: ask
        when:
          command_contains: ["marker-ask"]
        message: "test policy: marker-ask needs a human"
"#;

/// A `rampart serve` with a chosen HOME and flags, killed on drop.
struct Serve {
    child: Child,
    socket: PathBuf,
    home: PathBuf,
}

impl Serve {
    /// `rampart serve --socket <dir>/d.sock --no-watch --ask-timeout 1 <extra>`
    /// with HOME=`home`.
    fn start(dir: &Path, home: &Path, extra: &[&std::ffi::OsStr]) -> Serve {
        let mut args: Vec<&std::ffi::OsStr> = ["--no-watch", "--ask-timeout", "1"]
            .iter()
            .map(|a| a.as_ref())
            .collect();
        args.extend_from_slice(extra);
        let (child, socket) = spawn_serve(dir, home, &args);
        Serve {
            child,
            socket,
            home: home.to_path_buf(),
        }
    }

    /// `POST path` with `body` (and the admin token when `admin`): the JSON answer
    /// of a 200.
    fn post(&self, path: &str, body: &str, admin: bool) -> Value {
        let auth = if admin {
            let token = std::fs::read_to_string(self.home.join(".rampart/token")).unwrap();
            format!("Authorization: Bearer {}\r\n", token.trim())
        } else {
            String::new()
        };
        let mut s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, rest) = raw.split_once("\r\n\r\n").expect("HTTP answer");
        assert!(head.starts_with("HTTP/1.1 200"), "{raw}");
        serde_json::from_str(rest.trim()).unwrap_or_else(|e| panic!("{e}: {rest}"))
    }

    /// A preview preflight of `command` (no enforce, no wait): the JSON answer.
    fn preflight(&self, command: &str) -> Value {
        let body = serde_json::json!({"params": {"command": command}}).to_string();
        self.post("/v1/preflight/exec", &body, false)
    }

    /// `rampart allow <args>` as the same user (same HOME, same socket).
    fn allow(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(workspace_bin("rampart"));
        clean_env(&mut cmd);
        output(
            cmd.arg("allow")
                .args(args)
                .env("HOME", &self.home)
                .env("RAMPART_SOCKET", &self.socket)
                .env_remove("XDG_RUNTIME_DIR"),
        )
    }

    fn overrides(&self) -> PathBuf {
        self.home.join(".rampart/policies/user-overrides.yaml")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn suggestions(v: &Value) -> Vec<String> {
    v["suggestions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A daemon in `dir` (HOME=`<dir>/home`) with the test policy as `--config`.
fn serve_test_policy(dir: &Path) -> Serve {
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, format!("{DENY_MARKER_POLICY}{ASK_MARKER_POLICY}")).unwrap();
    Serve::start(
        dir,
        &dir.join("home"),
        &["--config".as_ref(), policy.as_ref()],
    )
}

#[test]
fn ask_then_rampart_allow_then_the_same_command_runs() {
    let dir = scratch();
    let d = serve_test_policy(dir.path());
    let target = dir.path().join("marker-ask");
    let cmd = format!("touch {}", target.display());

    // The answer says exactly what a human runs.
    let v = d.preflight(&cmd);
    assert_eq!(v["decision"], "ask", "{v}");
    let hint = format!("rampart allow -- '{cmd}'");
    assert_eq!(suggestions(&v), vec![hint.clone()], "{v}");
    let allowed = d.preflight("echo hello");
    assert!(allowed.get("suggestions").is_none(), "{allowed}");

    // The hook holds the ask (1 s), then blocks it and prints the hint.
    let out = output(preloaded("sh", &d.socket).arg("-c").arg(&cmd));
    assert!(!target.exists(), "the ask ran without approval");
    let err = stderr(&out);
    assert!(err.contains("rampart: blocked touch"), "{err}");
    assert!(err.contains(&format!("; to allow: {hint}")), "{err}");

    // The human runs the suggestion (one argument, as printed).
    let out = d.allow(&["--", &cmd]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("is now allowed"), "{}", stdout(&out));
    let written = std::fs::read_to_string(d.overrides()).unwrap();
    // Idempotent: the same rule is not added twice.
    let again = d.allow(&["--", &cmd]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains("already in"), "{}", stdout(&again));
    assert_eq!(std::fs::read_to_string(d.overrides()).unwrap(), written);
    // Lint-clean.
    let lint = output(
        Command::new(workspace_bin("rampart"))
            .args(["policy", "lint", "--deny-warnings"])
            .arg(d.overrides()),
    );
    assert!(lint.status.success(), "{}", stdout(&lint));

    // The daemon reloaded: the same command now runs, another one still asks.
    let v = d.preflight(&cmd);
    assert_eq!(v["decision"], "allow", "{v}");
    let out = output(preloaded("sh", &d.socket).arg("-c").arg(&cmd));
    assert!(target.exists(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("blocked"), "{}", stderr(&out));
    let other = d.preflight(&format!("{cmd}-2"));
    assert_eq!(other["decision"], "ask", "{other}");
}

#[test]
fn a_deny_names_the_policy_file_and_rampart_allow_refuses_it() {
    let dir = scratch();
    let d = serve_test_policy(dir.path());
    let target = dir.path().join("marker-denied");
    let cmd = format!("touch {}", target.display());
    let policy_file = dir.path().join("policy.yaml");

    let v = d.preflight(&cmd);
    assert_eq!(v["decision"], "deny", "{v}");
    let s = suggestions(&v);
    assert_eq!(s.len(), 1, "{v}");
    let expected = format!(
        "a human can allow this by editing policy \"e2e-deny-marker\" in {}",
        policy_file.display()
    );
    assert!(s[0].starts_with(&expected), "{}", s[0]);
    assert!(s[0].contains("cannot override a deny"), "{}", s[0]);

    let out = output(preloaded("sh", &d.socket).arg("-c").arg(&cmd));
    assert!(!target.exists());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("(policy e2e-deny-marker); to allow: {expected}")),
        "{err}"
    );

    // `rampart allow` cannot help: it says why and writes nothing.
    let out = d.allow(&["--", &cmd]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("never overrides a deny"), "{err}");
    assert!(err.contains(&expected), "{err}");
    assert!(!d.overrides().exists());
    // Even written by hand, a durable allow does not beat the deny.
    let words = d.allow(&["--no-reload", "--", "touch", &target.display().to_string()]);
    assert!(words.status.success(), "{}", stderr(&words));
    assert!(d.overrides().exists());
    std::thread::sleep(Duration::from_millis(1100)); // the reload route's rate limit
    assert_eq!(d.post("/v1/policy/reload", "", true)["status"], "reloaded");
    let v = d.preflight(&cmd);
    assert_eq!(v["decision"], "deny", "{v}");
}

#[test]
fn without_a_daemon_the_rule_applies_at_the_next_start_over_the_embedded_policy() {
    let dir = scratch();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    // No daemon yet: the rule is written and the user is told when it applies.
    let mut cmd = Command::new(workspace_bin("rampart"));
    clean_env(&mut cmd);
    let out = output(
        cmd.args(["allow", "--", "crontab -e"])
            .env("HOME", &home)
            .env("RAMPART_SOCKET", dir.path().join("none.sock"))
            .env_remove("XDG_RUNTIME_DIR"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("applies when `rampart serve` next starts"),
        "{}",
        stdout(&out)
    );

    // The embedded standard policy asks for crontab; ~/.rampart/policies is layered
    // on top at start, so its durable allow wins for exactly that command.
    let d = Serve::start(dir.path(), &home, &[]);
    let v = d.preflight("crontab -e");
    assert_eq!(v["decision"], "allow", "{v}");
    let v = d.preflight("crontab -r");
    assert_eq!(v["decision"], "ask", "{v}");
    assert_eq!(suggestions(&v), ["rampart allow -- 'crontab -r'"], "{v}");
    // A deny of the embedded policy points at the layered directory.
    let v = d.preflight("rm -rf /");
    assert_eq!(v["decision"], "deny", "{v}");
    let s = suggestions(&v);
    assert!(s[0].contains("built-in standard profile"), "{}", s[0]);
    assert!(
        s[0].contains(&home.join(".rampart/policies").display().to_string()),
        "{}",
        s[0]
    );
}
