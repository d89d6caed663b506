//! Transparent executors (spec §4.4 table): `command`, `exec`, `env`, `nohup`, `nice`,
//! `timeout`, `setsid`, `stdbuf`. One is peeled only when its options parse cleanly;
//! an unknown or query option (`command -v`, `nohup --help`, `nice -n nope`) leaves the
//! command intact, so it can never turn into a grant.

use super::tokenize::{tokenize, Dialect};

/// What peeling an executor leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peeled {
    /// Drop this many leading tokens (the executor and its options).
    Skip(usize),
    /// The command tokens that remain (after `env -S` re-tokenized its string).
    Replace(Vec<String>),
}

/// The names [`peel`] understands.
pub const EXECUTORS: &[&str] = &[
    "command", "exec", "env", "nohup", "nice", "timeout", "setsid", "stdbuf",
];

/// Peel one executor named `name` (already resolved by the caller: exact word for
/// normalization, lower-cased basename for restrictive aliases) from `tokens`, where
/// `tokens[0]` is the executor itself. `None` when it must stay.
pub fn peel(name: &str, tokens: &[String]) -> Option<Peeled> {
    let args = tokens.get(1..)?;
    let used = match name {
        "command" => peel_command(args),
        "exec" => peel_exec(args),
        "env" => return peel_env(args),
        "nohup" => peel_nohup(args),
        "nice" => peel_nice(args),
        "timeout" => peel_timeout(args),
        "setsid" => peel_setsid(args),
        "stdbuf" => peel_stdbuf(args),
        _ => None,
    }?;
    // A command must remain.
    (used < args.len()).then_some(Peeled::Skip(used + 1))
}

fn arg(args: &[String], i: usize) -> Option<&str> {
    args.get(i).map(String::as_str)
}

/// Number of option tokens before the command, for options described by `step`:
/// `step(token, next)` returns how many tokens the option uses, or `None` if unknown.
fn options(args: &[String], step: impl Fn(&str, Option<&str>) -> Option<usize>) -> Option<usize> {
    let mut i = 0;
    while let Some(t) = arg(args, i) {
        if t == "--" {
            return Some(i + 1);
        }
        if !t.starts_with('-') || t == "-" {
            return (t != "-").then_some(i);
        }
        i += step(t, arg(args, i + 1))?;
    }
    Some(i)
}

fn peel_command(args: &[String]) -> Option<usize> {
    options(args, |t, _| (t == "-p").then_some(1))
}

fn peel_exec(args: &[String]) -> Option<usize> {
    options(args, |t, next| match t {
        "-a" => next.map(|_| 2),
        _ => {
            let flags = t.strip_prefix('-')?;
            (!flags.is_empty() && flags.chars().all(|c| c == 'c' || c == 'l')).then_some(1)
        }
    })
}

fn peel_nohup(args: &[String]) -> Option<usize> {
    options(args, |_, _| None)
}

fn is_signed_decimal(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn peel_nice(args: &[String]) -> Option<usize> {
    options(args, |t, next| {
        if t == "-n" || t == "--adjustment" {
            return next.filter(|n| is_signed_decimal(n)).map(|_| 2);
        }
        let value = t
            .strip_prefix("--adjustment=")
            .or_else(|| t.strip_prefix("-n=").or_else(|| t.strip_prefix("-n")))
            .or_else(|| t.strip_prefix('-'))?;
        is_signed_decimal(value).then_some(1)
    })
}

/// `^(\d+(\.\d*)?|\.\d+)[smhd]?$`, or `inf` / `infinity`.
pub fn is_duration(s: &str) -> bool {
    if s == "inf" || s == "infinity" {
        return true;
    }
    let num = s.strip_suffix(['s', 'm', 'h', 'd']).unwrap_or(s);
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (num, None),
    };
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    match frac {
        // `\d+`
        None => !int.is_empty() && digits(int),
        // `\d+\.\d*` or `\.\d+`
        Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
    }
}

fn peel_timeout(args: &[String]) -> Option<usize> {
    let mut i = 0;
    loop {
        let t = arg(args, i)?;
        match t {
            "--preserve-status" | "--foreground" | "--verbose" | "-v" => i += 1,
            "-k" | "--kill-after" => {
                arg(args, i + 1).filter(|d| is_duration(d))?;
                i += 2;
            }
            "-s" | "--signal" => {
                arg(args, i + 1)?;
                i += 2;
            }
            "--" => {
                i += 1;
                break;
            }
            _ if t.starts_with("--kill-after=") || (t.starts_with("-k") && t.len() > 2) => {
                let d = t
                    .strip_prefix("--kill-after=")
                    .or_else(|| t.strip_prefix("-k"))?;
                if !is_duration(d) {
                    return None;
                }
                i += 1;
            }
            _ if (t.starts_with("--signal=") && t.len() > 9)
                || (t.starts_with("-s") && t.len() > 2) =>
            {
                i += 1
            }
            _ if t.starts_with('-') && t.len() > 1 => return None,
            _ => break,
        }
    }
    // A duration is required.
    arg(args, i).filter(|d| is_duration(d))?;
    Some(i + 1)
}

fn peel_setsid(args: &[String]) -> Option<usize> {
    options(args, |t, _| match t {
        "--ctty" | "--fork" | "--wait" => Some(1),
        _ => {
            let flags = t.strip_prefix('-')?;
            (!flags.is_empty() && flags.chars().all(|c| matches!(c, 'c' | 'f' | 'w'))).then_some(1)
        }
    })
}

/// `0`, `L`, `B`, or a size with an optional K/M/G…/KiB-style unit.
fn is_buffer_mode(m: &str) -> bool {
    if m == "L" || m == "B" {
        return true;
    }
    let digits = m.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let unit = m.get(digits..).unwrap_or("");
    let mut u = unit.chars();
    match u.next() {
        None => true,
        Some('k' | 'K' | 'M' | 'G' | 'T' | 'P' | 'E' | 'Z' | 'Y' | 'R' | 'Q') => {
            matches!(u.as_str(), "" | "B" | "iB")
        }
        Some('B') => u.as_str().is_empty(),
        Some(_) => false,
    }
}

fn peel_stdbuf(args: &[String]) -> Option<usize> {
    options(args, |t, next| match t {
        "-i" | "-o" | "-e" | "--input" | "--output" | "--error" => {
            next.filter(|m| is_buffer_mode(m)).map(|_| 2)
        }
        _ => {
            let mode = ["--input=", "--output=", "--error="]
                .iter()
                .find_map(|p| t.strip_prefix(p))
                .or_else(|| {
                    let rest = t
                        .strip_prefix("-i")
                        .or_else(|| t.strip_prefix("-o"))
                        .or_else(|| t.strip_prefix("-e"))?;
                    Some(rest.strip_prefix('=').unwrap_or(rest))
                })?;
            is_buffer_mode(mode).then_some(1)
        }
    })
}

/// Whether `token` is `NAME=value` with a valid shell variable name.
pub fn is_assignment(token: &str) -> bool {
    token
        .split_once('=')
        .is_some_and(|(name, _)| is_var_name(name))
}

/// A variable name: a letter (any Unicode letter) or `_`, then letters, digits or `_`.
pub fn is_var_name(name: &str) -> bool {
    let mut cs = name.chars();
    cs.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && cs.all(|c| c.is_alphanumeric() || c == '_')
}

/// `env` options, assignments and `-S` strings. Returns the command that remains.
/// Arguments are read in place; only an `-S` string makes an owned token list.
fn peel_env(args: &[String]) -> Option<Peeled> {
    let mut i = 0;
    while let Some(t) = arg(args, i) {
        match t {
            "-i" | "--ignore-environment" | "-0" | "--null" | "-v" | "--debug" => i += 1,
            "-u" | "--unset" | "-C" | "--chdir" | "--argv0" => {
                arg(args, i + 1)?;
                i += 2;
            }
            "-S" | "--split-string" => {
                let s = arg(args, i + 1)?;
                return peel_env_split(s, args.get(i + 2..).unwrap_or(&[]));
            }
            "--" => {
                i += 1;
                break;
            }
            _ if t.starts_with("--split-string=") || (t.starts_with("-S") && t.len() > 2) => {
                let s = t
                    .strip_prefix("--split-string=")
                    .or_else(|| t.strip_prefix("-S"))?;
                return peel_env_split(s, args.get(i + 1..).unwrap_or(&[]));
            }
            _ if ["--unset=", "--chdir=", "--argv0="]
                .iter()
                .any(|p| t.starts_with(p))
                || ((t.starts_with("-u") || t.starts_with("-C")) && t.len() > 2) =>
            {
                i += 1
            }
            _ if t.starts_with('-') => return None,
            _ if is_assignment(t) => i += 1,
            _ => break,
        }
    }
    // A command must remain.
    (i < args.len()).then_some(Peeled::Skip(i + 1))
}

/// The rest of an `env` invocation after `-S STR`: the words of STR are read as
/// further `env` arguments, followed by `rest`.
fn peel_env_split(s: &str, rest: &[String]) -> Option<Peeled> {
    let mut words = tokenize(s, Dialect::Posix);
    words.extend(rest.iter().cloned());
    match peel_env(&words)? {
        Peeled::Skip(n) => Some(Peeled::Replace(words.split_off(n - 1))),
        replaced => Some(replaced),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        tokenize(s, Dialect::Posix)
    }

    fn remaining(s: &str) -> Option<String> {
        let t = toks(s);
        let name = t.first()?.clone();
        match peel(&name, &t)? {
            Peeled::Skip(n) => Some(t[n..].join(" ")),
            Peeled::Replace(v) => Some(v.join(" ")),
        }
    }

    #[test]
    fn executor_command_accepts_p_and_refuses_queries() {
        assert_eq!(remaining("command -p -- rm x").as_deref(), Some("rm x"));
        assert_eq!(remaining("command -v rm"), None);
        assert_eq!(remaining("command -V rm"), None);
    }

    #[test]
    fn executor_exec_accepts_a_name_and_cl_flags() {
        assert_eq!(remaining("exec -a foo -cl rm x").as_deref(), Some("rm x"));
        assert_eq!(remaining("exec -x rm"), None);
    }

    #[test]
    fn executor_env_options_assignments_and_split_string() {
        assert_eq!(
            remaining("env -i -u X --unset=Y -uZ -C/tmp --chdir /a A=1 rm x").as_deref(),
            Some("rm x")
        );
        assert_eq!(
            remaining("env -S 'PATH=/usr/bin rm -rf /'").as_deref(),
            Some("rm -rf /")
        );
        assert_eq!(
            remaining("env --split-string='A=1 rm' -rf /").as_deref(),
            Some("rm -rf /")
        );
        assert_eq!(remaining("env -S'rm -f' x").as_deref(), Some("rm -f x"));
        assert_eq!(remaining("env A=1"), None, "no command left");
        assert_eq!(remaining("env --bogus rm"), None);
    }

    #[test]
    fn executor_nohup_refuses_help_and_version() {
        assert_eq!(remaining("nohup -- rm x").as_deref(), Some("rm x"));
        assert_eq!(remaining("nohup --help rm -rf /"), None);
        assert_eq!(remaining("nohup --version rm"), None);
    }

    #[test]
    fn executor_nice_needs_signed_decimal_adjustments() {
        for c in [
            "nice -n 5 git s",
            "nice -n5 git s",
            "nice -n=5 git s",
            "nice --adjustment=5 git s",
            "nice --adjustment -5 git s",
            "nice -5 git s",
            "nice -- git s",
        ] {
            assert_eq!(remaining(c).as_deref(), Some("git s"), "{c}");
        }
        assert_eq!(remaining("nice -n nope git status"), None);
    }

    #[test]
    fn executor_timeout_requires_a_duration() {
        assert_eq!(
            remaining("timeout -k1s -sTERM 5s rm -rf /").as_deref(),
            Some("rm -rf /")
        );
        assert_eq!(
            remaining("timeout --foreground --kill-after=1s 5s rm").as_deref(),
            Some("rm")
        );
        assert_eq!(
            remaining("timeout -s KILL -k 2 .5 rm").as_deref(),
            Some("rm")
        );
        assert_eq!(remaining("timeout inf rm").as_deref(), Some("rm"));
        assert_eq!(remaining("timeout --foreground rm -rf /"), None);
        assert_eq!(remaining("timeout --help git status"), None);
        assert_eq!(remaining("timeout 5s"), None);
    }

    #[test]
    fn executor_setsid_accepts_cfw_clusters() {
        assert_eq!(remaining("setsid -fw --ctty rm").as_deref(), Some("rm"));
        assert_eq!(remaining("setsid -x rm -rf /"), None);
    }

    #[test]
    fn executor_stdbuf_modes() {
        assert_eq!(
            remaining("stdbuf -oL -e 0 -i=4KiB --output=L rm").as_deref(),
            Some("rm")
        );
        assert_eq!(remaining("stdbuf -o X rm"), None);
    }

    #[test]
    fn durations_follow_the_timeout_grammar() {
        for d in ["5", "5s", "1.5m", "2.", ".5", "3d", "inf", "infinity"] {
            assert!(is_duration(d), "{d}");
        }
        for d in ["", ".", "s", "5x", "-1", "1.2.3", "rm"] {
            assert!(!is_duration(d), "{d}");
        }
    }

    #[test]
    fn assignments_need_a_valid_name() {
        assert!(is_assignment("FOO=bar"));
        assert!(is_assignment("_x1="));
        assert!(is_assignment("café=1"));
        assert!(!is_assignment("1X=1"));
        assert!(!is_assignment("=x"));
        assert!(!is_assignment("a-b=1"));
    }
}
