//! A Rust program that starts `sh -c SCRIPT` with `std::process::Command`,
//! for the end-to-end tests of Rust std's spawn paths:
//! * `default`: inherited environment (posix_spawnp);
//! * `env-clear-bare`: `env_clear().env("PATH", ..)` and a bare program name
//!   (std then forks, swaps `environ` and calls `execvp`);
//! * `env-clear-abs`: `env_clear()` and `/bin/sh` (posix_spawn path).

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(script)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: rust-spawner MODE SCRIPT");
        return ExitCode::from(2);
    };
    let mut cmd = match mode.as_str() {
        "default" => Command::new("sh"),
        "env-clear-bare" => {
            let mut c = Command::new("sh");
            c.env_clear().env("PATH", "/usr/bin:/bin");
            c
        }
        "env-clear-abs" => {
            let mut c = Command::new("/bin/sh");
            c.env_clear();
            c
        }
        other => {
            eprintln!("unknown mode {other}");
            return ExitCode::from(2);
        }
    };
    match cmd.arg("-c").arg(script).status() {
        Ok(s) => ExitCode::from(u8::try_from(s.code().unwrap_or(1)).unwrap_or(1)),
        Err(e) => {
            eprintln!("rust-spawner: {e}");
            ExitCode::from(126)
        }
    }
}
