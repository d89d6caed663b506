//! The admin token: where it comes from, how it is created, compared and rotated.
//!
//! Order: `$RAMPART_TOKEN` (non-empty), else `--token-file`, else `~/.rampart/token`.
//! A missing file is created at first use, mode 0600, holding 32 random bytes as hex.

use sha2::{Digest, Sha256};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `rampart token …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Print the admin token (creating it if missing).
    Show {
        /// Token file (default: ~/.rampart/token).
        #[arg(long = "token-file")]
        token_file: Option<PathBuf>,
    },
    /// Replace the token file with a new random token. A running daemon picks it up
    /// on SIGHUP or `POST /v1/policy/reload`.
    Rotate {
        /// Token file (default: ~/.rampart/token).
        #[arg(long = "token-file")]
        token_file: Option<PathBuf>,
    },
}

/// `~/.rampart/token`.
pub fn default_token_file() -> PathBuf {
    crate::audit::rampart_home().join("token")
}

/// 32 random bytes from the kernel, as 64 lower-case hex characters.
pub fn generate() -> io::Result<String> {
    let mut buf = [0u8; 32];
    fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(crate::audit::chain::hex(&buf))
}

/// Write a token file atomically with mode 0600 (parent created 0700).
pub fn write_token_file(path: &Path, token: &str) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(token.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// Read a token file (trimmed), creating it with a fresh token when missing.
pub fn load_or_create(path: &Path) -> io::Result<String> {
    match fs::read_to_string(path) {
        Ok(s) => {
            let t = s.trim().to_string();
            if t.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is empty", path.display()),
                ));
            }
            if let Ok(m) = fs::metadata(path) {
                if m.permissions().mode() & 0o077 != 0 {
                    eprintln!(
                        "rampart: warning: {} is readable by others (mode {:o}); run chmod 600",
                        path.display(),
                        m.permissions().mode() & 0o777
                    );
                }
            }
            Ok(t)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let t = generate()?;
            write_token_file(path, &t)?;
            Ok(t)
        }
        Err(e) => Err(e),
    }
}

/// The admin token: `$RAMPART_TOKEN`, else the token file (created if missing).
pub fn resolve(token_file: Option<&Path>) -> io::Result<String> {
    match env_token() {
        Some(t) => Ok(t),
        None => load_or_create(&token_path(token_file)),
    }
}

/// `$RAMPART_TOKEN`, trimmed, when set and not blank.
fn env_token() -> Option<String> {
    let t = std::env::var("RAMPART_TOKEN").ok()?;
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `token_file`, else the default token file.
fn token_path(token_file: Option<&Path>) -> PathBuf {
    token_file
        .map(Path::to_path_buf)
        .unwrap_or_else(default_token_file)
}

/// The admin token for a client: `$RAMPART_TOKEN`, else the existing token file
/// (never created: a client must not invent a token the daemon does not know).
pub fn resolve_existing(token_file: Option<&Path>) -> io::Result<String> {
    if let Some(t) = env_token() {
        return Ok(t);
    }
    let path = token_path(token_file);
    let t = fs::read_to_string(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok(t.trim().to_string())
}

/// Constant-time token comparison: both sides are hashed first, so neither the
/// content nor the length of the expected token leaks through timing.
pub fn token_eq(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    crate::audit::chain::ct_eq(&a, &b) && !expected.is_empty()
}

/// Run `rampart token …`.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Show { token_file } => {
            let t = resolve(token_file.as_deref())?;
            println!("{t}");
        }
        Command::Rotate { token_file } => {
            let path = token_file.unwrap_or_else(default_token_file);
            let t = generate()?;
            write_token_file(&path, &t)?;
            eprintln!(
                "rampart: new token written to {}; send SIGHUP to a running daemon to use it",
                path.display()
            );
            println!("{t}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_or_create_writes_a_0600_hex_token_once() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/token");
        let t1 = load_or_create(&p).unwrap();
        assert_eq!(t1.len(), 64);
        assert!(t1.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load_or_create(&p).unwrap(), t1);
    }

    #[test]
    fn token_eq_accepts_only_the_exact_token() {
        assert!(token_eq("abc", "abc"));
        assert!(!token_eq("abd", "abc"));
        assert!(!token_eq("ab", "abc"));
        assert!(!token_eq("", ""));
    }

    #[test]
    fn token_eq_takes_as_long_whatever_byte_differs() {
        // A short-circuiting comparison returns at the first differing byte: on a
        // 256 KiB token a first-byte mismatch would be thousands of times faster
        // than a last-byte one. Both sides are hashed first, so the two cost the
        // same; the bound is loose enough for a busy machine. (Minimum of
        // interleaved runs, to discount preemption.)
        let expected = "a".repeat(256 * 1024);
        let differ_at = |i: usize| {
            let mut b = expected.clone().into_bytes();
            b[i] = b'b';
            String::from_utf8(b).unwrap()
        };
        let (first, last) = (differ_at(0), differ_at(expected.len() - 1));
        let time = |p: &str| {
            let t = std::time::Instant::now();
            assert!(!token_eq(std::hint::black_box(p), &expected));
            t.elapsed()
        };
        let (mut a, mut b) = (std::time::Duration::MAX, std::time::Duration::MAX);
        for _ in 0..15 {
            a = a.min(time(&first));
            b = b.min(time(&last));
        }
        let ratio = a.as_secs_f64() / b.as_secs_f64();
        assert!(
            (0.33..3.0).contains(&ratio),
            "first-byte mismatch {a:?}, last-byte mismatch {b:?}"
        );
    }
}
