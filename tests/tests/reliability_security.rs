//! Security properties: file modes, another user locked out, admin-only
//! routes, no self-approval, the shipped standard policy protecting Rampart
//! itself, project policies that cannot loosen the global one.

use e2e::stress::{figure, http, preflight, Serve};
use e2e::{python3, scratch};
use engine::{Action, Engine, Sources, ToolCall};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ALLOW_ALL: &str = "version: \"1\"\ndefault_action: allow\npolicies: []\n";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn socket_token_and_audit_are_private() {
    let dir = scratch();
    let d = Serve::new(dir.path(), ALLOW_ALL).start();
    let token = d.home.join(".rampart/token");
    let _ = preflight(&d.socket, "ls", Duration::from_secs(5)).unwrap();
    figure(
        "modes",
        format!(
            "socket {:o}, token {:o}, ~/.rampart {:o}, audit dir {:o}, audit file {:o}",
            mode(&d.socket),
            mode(&token),
            mode(&d.home.join(".rampart")),
            mode(&d.audit_dir),
            mode(&e2e::stress::audit_files(&d.audit_dir)[0])
        ),
    );
    assert_eq!(mode(&d.socket), 0o600);
    assert_eq!(mode(&token), 0o600);
    assert_eq!(mode(&d.audit_dir), 0o700);
    assert_eq!(mode(&e2e::stress::audit_files(&d.audit_dir)[0]) & 0o077, 0);
    drop(d);

    // With --socket-group: 0660 and that group.
    let dir = scratch();
    let gid = unsafe { libc::getegid() };
    let d = Serve::new(dir.path(), ALLOW_ALL)
        .args(&["--socket-group", &gid.to_string()])
        .start();
    assert_eq!(mode(&d.socket), 0o660);
    assert_eq!(std::fs::metadata(&d.socket).unwrap().gid(), gid);
}

/// Creates (once) an unprivileged user for the lock-out test; `None` when not root.
fn other_user() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = "rampart-rel-other";
    let _ = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ])
        .output();
    let out = Command::new("id").args(["-u", name]).output().ok()?;
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    let out = Command::new("id").args(["-g", name]).output().ok()?;
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some((uid, gid))
}

const PROBE: &str = r#"
import json, os, socket, sys
sock, token, audit_dir, audit_file = sys.argv[1:5]
out = {}
def attempt(name, f):
    try:
        f(); out[name] = "OK"
    except OSError as e:
        out[name] = type(e).__name__
attempt("connect", lambda: socket.socket(socket.AF_UNIX).connect(sock))
attempt("read_token", lambda: open(token).read())
attempt("list_audit", lambda: os.listdir(audit_dir))
attempt("read_audit", lambda: open(audit_file).read())
print(json.dumps(out))
"#;

#[test]
fn another_user_cannot_connect_or_read_the_token_or_audit() {
    let Some((uid, gid)) = other_user() else {
        eprintln!("skipped: creating a second user needs root (and useradd)");
        return;
    };
    if e2e::find_program("setpriv", &["/usr/bin/setpriv", "/bin/setpriv"]).is_none() {
        eprintln!("skipped: setpriv (util-linux) is not installed");
        return;
    }
    let dir = scratch();
    // Open up the scratch tree so only Rampart's own modes stand in the way.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = Serve::new(dir.path(), ALLOW_ALL).start();
    std::fs::set_permissions(&d.home, std::fs::Permissions::from_mode(0o755)).unwrap();
    preflight(&d.socket, "ls", Duration::from_secs(5)).unwrap();
    let audit_file = e2e::stress::audit_files(&d.audit_dir)[0].clone();
    let out = Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg(python3())
        .arg("-c")
        .arg(PROBE)
        .arg(&d.socket)
        .arg(d.home.join(".rampart/token"))
        .arg(&d.audit_dir)
        .arg(&audit_file)
        .output()
        .expect("setpriv");
    let text = String::from_utf8_lossy(&out.stdout);
    figure("other_user", text.trim());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    for k in ["connect", "read_token", "list_audit", "read_audit"] {
        assert_eq!(v[k], "PermissionError", "{k}: {v}");
    }
}

const ASK_POLICY: &str = r#"version: "1"
default_action: allow
policies:
  - name: ask-deploy
    match:
      tool: ["exec"]
    rules:
      - action: ask
        when:
          command_contains: ["deploy-prod"]
        message: "deploys need a human"
"#;

/// The asking process: a preflight with `wait:true`, and meanwhile an attempt
/// to approve its own ask with the admin token. Prints two JSON lines.
const ASKER: &str = r#"
import json, socket, sys, threading, time
sock, token = sys.argv[1], sys.argv[2]
def req(method, path, body=b"", headers=()):
    s = socket.socket(socket.AF_UNIX); s.connect(sock); s.settimeout(30)
    h = "".join(f"{k}: {v}\r\n" for k, v in headers)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n{h}\r\n".encode() + body)
    data = b""
    while True:
        c = s.recv(65536)
        if not c: break
        data += c
    while data.startswith(b"HTTP/1.1 1"):
        data = data.split(b"\r\n\r\n", 1)[1]
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest.decode()
def self_approve():
    for _ in range(100):
        st, body = req("GET", "/v1/approvals")
        pend = [a for a in json.loads(body)["approvals"] if a.get("status") == "pending"]
        if pend:
            st, body = req("POST", f"/v1/approvals/{pend[0]['id']}/resolve",
                           json.dumps({"approved": True}).encode(),
                           [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")])
            print(json.dumps({"self_approve": st, "body": body}), flush=True)
            return
        time.sleep(0.05)
threading.Thread(target=self_approve).start()
st, body = req("POST", "/v1/preflight/exec",
               json.dumps({"agent": "a", "session": "", "params": {"command": "deploy-prod now"},
                           "enforce": True, "wait": True}).encode(),
               [("Content-Type", "application/json")])
print(json.dumps({"status": st, "answer": json.loads(body)}), flush=True)
"#;

#[test]
fn admin_routes_need_the_token_and_an_asker_cannot_approve_itself() {
    let dir = scratch();
    let d = Serve::new(dir.path(), ASK_POLICY)
        .args(&["--ask-timeout", "20"])
        .start();
    let token = d.token();
    let t5 = Duration::from_secs(5);
    let bearer = format!("Bearer {token}");
    let wrong = format!("Bearer {}x", &token[..token.len() - 1]);
    let reload = |h: &[(&str, &str)]| {
        http(&d.socket, "POST", "/v1/policy/reload", h, b"", t5)
            .unwrap()
            .status
    };
    let no_token = reload(&[]);
    let bad_token = reload(&[("Authorization", &wrong)]);
    let good = reload(&[("Authorization", &bearer)]);
    let resolve_no_token = http(
        &d.socket,
        "POST",
        "/v1/approvals/01ABC/resolve",
        &[],
        br#"{"approved":true}"#,
        t5,
    )
    .unwrap()
    .status;
    figure(
        "admin_routes",
        format!("reload: no token {no_token}, wrong token {bad_token}, admin token {good}; resolve without token {resolve_no_token}"),
    );
    assert_eq!(no_token, 401);
    assert_eq!(bad_token, 401);
    assert_eq!(good, 200);
    assert_eq!(resolve_no_token, 401);

    // The asker tries to approve itself (same process, with the token).
    let mut c = Command::new(python3());
    e2e::clean_env(&mut c);
    let child = c
        .arg("-c")
        .arg(ASKER)
        .arg(&d.socket)
        .arg(&token)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    // Once it tried, an operator (this test process, not its descendant) approves.
    let t = Instant::now();
    let mut approved = None;
    while t.elapsed() < Duration::from_secs(15) && approved.is_none() {
        std::thread::sleep(Duration::from_millis(300));
        let list = http(&d.socket, "GET", "/v1/approvals", &[], b"", t5)
            .unwrap()
            .json();
        let pending: Vec<String> = list["approvals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["status"] == "pending")
            .filter_map(|a| a["id"].as_str().map(str::to_string))
            .collect();
        if let Some(id) = pending.first() {
            let r = http(
                &d.socket,
                "POST",
                &format!("/v1/approvals/{id}/resolve"),
                &[
                    ("Authorization", &bearer),
                    ("Content-Type", "application/json"),
                ],
                br#"{"approved":true,"resolved_by":"operator"}"#,
                t5,
            )
            .unwrap();
            approved = Some(r.status);
        }
    }
    let out = child.wait_with_output().expect("asker");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    figure("self_approval", text.replace('\n', " | "));
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let selfie = lines
        .iter()
        .find(|v| v.get("self_approve").is_some())
        .expect("self-approval attempt");
    let answer = lines
        .iter()
        .find(|v| v.get("answer").is_some())
        .expect("preflight answer");
    assert_eq!(selfie["self_approve"], 403, "{selfie}");
    assert_eq!(approved, Some(200));
    assert_eq!(answer["answer"]["decision"], "allow", "{answer}");
}

fn std_decision(tool: &str, key: &str, value: &str) -> Action {
    let mut call = ToolCall::exec("");
    call.tool = tool.into();
    call.params.clear();
    call.params
        .insert(key.into(), serde_json::Value::String(value.into()));
    Engine::standard().enforce(&call).action
}

/// Self-protection in the shipped standard policy (engine only: nothing runs).
const PROTECTED_EXEC: &[&str] = &[
    "rm ~/.rampart/audit/2026-01-01.jsonl",
    "echo '' > ~/.rampart/audit/2026-01-01.jsonl",
    "truncate -s 0 ~/.rampart/audit/2026-01-01.jsonl",
    "sed -i 's/deny/allow/' ~/.rampart/policies/standard.yaml",
    "cp /tmp/evil.yaml ~/.rampart/policies/standard.yaml",
    "echo x > ~/.rampart/token",
    "cat ~/.rampart/token",
    "chmod 644 ~/.rampart/token",
    "rm -rf ~/.rampart",
    "mv ~/.rampart ~/.rampart.bak",
    "systemctl --user stop rampart",
    "systemctl --user disable rampart.service",
    "systemctl stop rampart",
    "pkill rampart",
    "killall rampart",
    "kill -9 $(pgrep rampart)",
    "unset LD_PRELOAD",
    "env -u LD_PRELOAD bash",
    "LD_PRELOAD= bash",
    "export LD_PRELOAD=",
    "export RAMPART_FAIL_OPEN=1",
    "RAMPART_MODE=disabled bash",
    "unset RAMPART_SOCKET",
    "export RAMPART_SOCKET=/tmp/fake.sock",
    "rampart serve --mode disabled",
    "rampart serve --mode monitor",
    "echo /tmp/x.so > /etc/ld.so.preload",
];

/// Writes and edits by file tools that must be denied.
const PROTECTED_PATHS: &[&str] = &[
    "~/.rampart/policies/standard.yaml",
    "~/.rampart/token",
    "~/.rampart/audit/2026-01-01.jsonl",
    ".rampart/policy.yaml",
];

/// Gaps found by this suite (reported in docs/RELIABILITY.md, G1): not denied today.
const GAPS_EXEC: &[&str] = &[
    "vim ~/.rampart/policies/custom.yaml",
    "systemctl --user edit rampart",
    "rm ~/.config/systemd/user/rampart.service",
    "echo x > ~/.config/systemd/user/rampart.service",
    "rampart token show",
    "rampart token rotate",
];
const GAPS_PATHS: &[&str] = &[
    "~/.config/systemd/user/rampart.service",
    "/etc/systemd/system/rampart.service",
];

#[test]
fn standard_policy_denies_tampering_with_rampart() {
    let mut allowed = Vec::new();
    for c in PROTECTED_EXEC {
        if std_decision("exec", "command", c) != Action::Deny {
            allowed.push(format!("exec {c}"));
        }
    }
    for p in PROTECTED_PATHS {
        for tool in ["write", "edit"] {
            if std_decision(tool, "path", p) != Action::Deny {
                allowed.push(format!("{tool} {p}"));
            }
        }
    }
    figure(
        "self_protection",
        format!(
            "{} exec commands and {} paths x write/edit checked, {} not denied",
            PROTECTED_EXEC.len(),
            PROTECTED_PATHS.len(),
            allowed.len()
        ),
    );
    assert!(allowed.is_empty(), "not denied: {allowed:#?}");
}

#[test]
fn standard_policy_denies_editors_units_and_token_commands() {
    let mut not_denied = Vec::new();
    for c in GAPS_EXEC {
        let a = std_decision("exec", "command", c);
        if a != Action::Deny {
            not_denied.push(format!("exec {c} -> {a}"));
        }
    }
    for p in GAPS_PATHS {
        let a = std_decision("write", "path", p);
        if a != Action::Deny {
            not_denied.push(format!("write {p} -> {a}"));
        }
    }
    assert!(not_denied.is_empty(), "not denied: {not_denied:#?}");
}

const LOOSENING_PROJECT: &str = r#"version: "1"
default_action: allow
policies:
  - name: block-recursive-delete-outside-project
    match: {tool: exec}
    rules: [{action: allow, message: "project says fine"}]
  - name: project-allow-everything
    priority: 0
    match: {tool: exec}
    rules: [{action: allow, message: "project allows all"}]
"#;

fn project_engine(dir: &Path) -> Engine {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join(".rampart")).unwrap();
    std::fs::write(repo.join(".rampart/policy.yaml"), LOOSENING_PROJECT).unwrap();
    let global = dir.join("global.yaml");
    std::fs::write(&global, engine::STANDARD_POLICY).unwrap();
    Engine::load(&Sources {
        files: vec![global],
        project_dir: Some(repo),
        ..Default::default()
    })
    .expect("load with project policy")
}

#[test]
fn a_project_policy_cannot_loosen_the_global_one() {
    if std::env::var_os("RAMPART_NO_PROJECT_POLICY").is_some() {
        return; // the child run below checks this case
    }
    let dir = tempfile::tempdir().unwrap();
    let e = project_engine(dir.path());
    assert!(
        e.files()
            .iter()
            .any(|f| f.ends_with(".rampart/policy.yaml")),
        "project file not loaded"
    );
    for c in ["rm -rf /", "unset LD_PRELOAD", "pkill rampart"] {
        let d = e.enforce(&ToolCall::exec(c));
        assert_eq!(
            d.action,
            Action::Deny,
            "{c}: project policy loosened it: {d:?}"
        );
    }
    // RAMPART_NO_PROJECT_POLICY=1 skips the project file (checked in a child
    // process: the variable is process-wide).
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "project_policy_is_skipped_when_disabled",
            "--nocapture",
        ])
        .env("RAMPART_NO_PROJECT_POLICY", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

#[test]
fn project_policy_is_skipped_when_disabled() {
    if std::env::var_os("RAMPART_NO_PROJECT_POLICY").is_none() {
        return; // run by a_project_policy_cannot_loosen_the_global_one
    }
    let dir = tempfile::tempdir().unwrap();
    let e = project_engine(dir.path());
    assert!(
        !e.files()
            .iter()
            .any(|f| f.ends_with(".rampart/policy.yaml")),
        "project policy loaded despite RAMPART_NO_PROJECT_POLICY: {:?}",
        e.files()
    );
}
