//! `rampart watch` in a real terminal (tmux): decisions sent to the real daemon show
//! up colour-coded with counts, a pending `ask` is approved with `a` and another
//! denied with `d` (the waiting callers get the answers), and `q` quits.

mod ops;
mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A tmux server of our own, killed when dropped.
struct Tmux {
    name: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.name);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            ops::describe(&out)
        );
        out
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "w"]).stdout).into_owned()
    }

    /// Waits until the screen satisfies `pred`.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "screen never showed {what}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, k: &str) {
        self.run(&["send-keys", "-t", "w", k]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// Sends a `wait:true` ask from a thread; the join handle yields the decision.
fn ask_and_wait(d: &support::Daemon, command: &str) -> std::thread::JoinHandle<String> {
    let mut conn = d.conn();
    let body = format!(
        r#"{{"agent":"claude","session":"s1","params":{{"command":"{command}"}},"enforce":true,"wait":true}}"#
    );
    std::thread::spawn(move || {
        let r = conn.request("POST", "/v1/preflight/exec", &[], body.as_bytes());
        r.json()["decision"].as_str().unwrap().to_string()
    })
}

#[test]
fn watch_shows_decisions_and_resolves_approvals_with_keys() {
    let d = support::Daemon::start();
    for cmd in ["ls -l", "rm -f marker", "cat notes.txt"] {
        let body = format!(
            r#"{{"agent":"claude","session":"s1","params":{{"command":"{cmd}"}},"enforce":true}}"#
        );
        let r = d
            .conn()
            .request("POST", "/v1/preflight/exec", &[], body.as_bytes());
        assert_eq!(r.status, 200);
    }

    let tmux = Tmux {
        name: format!("rampart-watch-test-{}", std::process::id()),
    };
    let script = format!(
        "'{}' watch --socket '{}' --audit-dir '{}' --token-file '{}'; echo WATCH-EXIT $?; sleep 60",
        ops::rampart().display(),
        d.socket.display(),
        d.audit.display(),
        d.dir.join("token").display()
    );
    let out = tmux
        .cmd()
        .args([
            "new-session",
            "-d",
            "-s",
            "w",
            "-x",
            "180",
            "-y",
            "40",
            &script,
        ])
        .env_remove("RAMPART_TOKEN")
        .env("TERM", "xterm-256color")
        .output()
        .expect("tmux new-session");
    assert!(out.status.success(), "{}", ops::describe(&out));

    let s = tmux.wait_for("the three decisions", |s| s.contains("cat notes.txt"));
    assert!(s.contains("mode enforce"), "{s}");
    assert!(s.contains("rm -f marker"), "{s}");
    assert!(s.contains("test-deny: rm is blocked in tests"), "{s}");
    assert!(s.contains("allow 1  deny 1  ask 0  watch 1"), "{s}");
    assert!(s.contains("pending approvals: 0"), "{s}");

    // An ask held by the daemon: shown, approved with `a`, the caller is allowed.
    let waiting = ask_and_wait(&d, "touch approved-file");
    tmux.wait_for("the pending approval", |s| {
        s.contains("pending approvals: 1") && s.contains("> ")
    });
    tmux.keys("a");
    assert_eq!(waiting.join().unwrap(), "allow");
    let s = tmux.wait_for("the approval resolved", |s| {
        s.contains("pending approvals: 0") && s.contains("approved")
    });
    assert!(s.contains("ask 1"), "{s}");

    // Another, denied with `d`.
    let waiting = ask_and_wait(&d, "touch denied-file");
    tmux.wait_for("the second approval", |s| {
        s.contains("pending approvals: 1") && s.contains("touch denied-file")
    });
    tmux.keys("d");
    assert_eq!(waiting.join().unwrap(), "deny");
    tmux.wait_for("the denial", |s| {
        s.contains("pending approvals: 0") && s.contains("denied")
    });

    tmux.keys("q");
    tmux.wait_for("watch to exit 0", |s| s.contains("WATCH-EXIT 0"));
}
