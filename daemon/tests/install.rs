//! scripts/install.sh: a user install into a temp HOME and prefix, run twice, used,
//! then uninstalled; a system install into a staging tree (`--root`), never the real
//! machine's /usr/local.

mod ops;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

fn install_sh(home: &Path, args: &[&str]) -> Output {
    let out = Command::new("sh")
        .arg(ops::workspace_root().join("scripts/install.sh"))
        .args(args)
        .env("HOME", home)
        .env_remove("CARGO_TARGET_DIR")
        .current_dir(home)
        .output()
        .expect("run scripts/install.sh");
    assert!(out.status.success(), "{}", ops::describe(&out));
    out
}

fn artefact_args() -> Vec<String> {
    let bin_dir = ops::rampart().parent().unwrap().to_path_buf();
    ops::rampart_preload();
    vec![
        "--no-build".into(),
        "--from".into(),
        bin_dir.display().to_string(),
        "--lib".into(),
        ops::hook_lib().display().to_string(),
    ]
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn user_install_is_idempotent_usable_and_uninstalls_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let prefix = home.join("prefix");
    let mut args: Vec<String> = vec!["--prefix".into(), prefix.display().to_string()];
    args.extend(artefact_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let first = install_sh(home, &args);
    let bin = prefix.join("bin");
    let lib = home.join(".rampart/lib/librampart.so");
    for p in [
        bin.join("rampart"),
        bin.join("rampart-preload"),
        lib.clone(),
    ] {
        assert_eq!(mode(&p), 0o755, "{}", p.display());
    }
    assert_eq!(mode(&home.join(".rampart")), 0o700);
    assert_eq!(
        std::fs::read(&lib).unwrap(),
        std::fs::read(ops::hook_lib()).unwrap()
    );
    assert!(stdout(&first).contains("installed"), "{}", stdout(&first));

    // Second run: same files (same inodes), and it says nothing changed.
    let inode = std::fs::metadata(bin.join("rampart")).unwrap().ino();
    let second = install_sh(home, &args);
    assert!(
        stdout(&second).contains("nothing changed"),
        "{}",
        stdout(&second)
    );
    assert!(
        !stdout(&second).contains("installed /"),
        "{}",
        stdout(&second)
    );
    assert_eq!(std::fs::metadata(bin.join("rampart")).unwrap().ino(), inode);

    // The installed binary works.
    let check = Command::new(bin.join("rampart"))
        .args(["check", "--", "ls"])
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", ops::describe(&check));
    assert!(stdout(&check).starts_with("ALLOW"), "{}", stdout(&check));

    // The installed launcher finds the installed library (mode disabled: no daemon).
    let run = Command::new(bin.join("rampart-preload"))
        .args(["--mode", "disabled", "--", "true"])
        .env("HOME", home)
        .env_remove("RAMPART_LIB")
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", ops::describe(&run));
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(
        said.contains(&lib.canonicalize().unwrap().display().to_string()),
        "{said}"
    );

    // State the daemon would have written: kept by --uninstall.
    std::fs::create_dir_all(home.join(".rampart/audit")).unwrap();
    std::fs::write(home.join(".rampart/audit/2026-01-01.jsonl"), "{}\n").unwrap();
    std::fs::write(home.join(".rampart/token"), "t\n").unwrap();

    let un = install_sh(home, &["--uninstall"]);
    for p in [&bin.join("rampart"), &bin.join("rampart-preload"), &lib] {
        assert!(!p.exists(), "{} left behind:\n{}", p.display(), stdout(&un));
    }
    assert!(!bin.exists() && !prefix.exists(), "{}", stdout(&un));
    assert!(!home.join(".rampart/lib").exists());
    assert!(!home.join(".rampart/install-manifest").exists());
    assert!(home.join(".rampart/audit/2026-01-01.jsonl").exists());
    assert!(home.join(".rampart/token").exists());

    // A second uninstall finds nothing to do.
    let again = install_sh(home, &["--uninstall"]);
    assert!(
        stdout(&again).contains("nothing removed"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn uninstall_purge_removes_audit_and_token_too() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let args = artefact_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    install_sh(home, &args);
    assert!(home.join(".local/bin/rampart").exists());
    std::fs::create_dir_all(home.join(".rampart/audit")).unwrap();
    std::fs::write(home.join(".rampart/token"), "t\n").unwrap();
    install_sh(home, &["--uninstall", "--purge"]);
    assert!(!home.join(".rampart").exists());
    assert!(!home.join(".local").exists());
}

#[test]
fn system_install_into_a_staging_root_places_units_config_and_keeps_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("stage");
    let mut args: Vec<String> = vec![
        "--system".into(),
        "--root".into(),
        root.display().to_string(),
    ];
    args.extend(artefact_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    install_sh(tmp.path(), &args);
    let repo = ops::workspace_root();
    let expect = [
        ("usr/local/bin/rampart", 0o755),
        ("usr/local/bin/rampart-preload", 0o755),
        ("usr/local/lib/librampart.so", 0o755),
        ("etc/rampart/rampart.yaml", 0o644),
        ("etc/systemd/system/rampart.service", 0o644),
        ("etc/systemd/system/rampart.socket", 0o644),
    ];
    for (p, m) in expect {
        assert_eq!(mode(&root.join(p)), m, "{p}");
    }
    assert_eq!(
        std::fs::read(root.join("etc/rampart/rampart.yaml")).unwrap(),
        std::fs::read(repo.join("policies/standard.yaml")).unwrap()
    );
    assert_eq!(
        std::fs::read(root.join("etc/systemd/system/rampart.service")).unwrap(),
        std::fs::read(repo.join("scripts/systemd/rampart.service")).unwrap()
    );

    let second = install_sh(tmp.path(), &args);
    assert!(
        stdout(&second).contains("nothing changed"),
        "{}",
        stdout(&second)
    );

    // An administrator's edit of the policy survives both reinstall and uninstall.
    let cfg = root.join("etc/rampart/rampart.yaml");
    let mut edited = std::fs::read_to_string(&cfg).unwrap();
    edited.push_str("# local edit\n");
    std::fs::write(&cfg, &edited).unwrap();
    let third = install_sh(tmp.path(), &args);
    assert!(
        stdout(&third).contains("kept existing"),
        "{}",
        stdout(&third)
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), edited);

    let mut un: Vec<&str> = vec!["--system", "--root"];
    let root_s = root.display().to_string();
    un.push(&root_s);
    un.push("--uninstall");
    let out = install_sh(tmp.path(), &un);
    for (p, _) in expect {
        let gone = !root.join(p).exists();
        assert_eq!(
            gone,
            p != "etc/rampart/rampart.yaml",
            "{p}\n{}",
            stdout(&out)
        );
    }
    assert!(!root.join("usr").exists(), "{}", stdout(&out));
    assert!(!root.join("etc/systemd").exists(), "{}", stdout(&out));
}
