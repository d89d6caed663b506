//! `rampart audit tail [-f]`: print the last events, optionally following new ones.

use super::chain;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One line for humans: time, action, tool, agent/session, policy and command.
/// Control characters are already escaped by JSON; the command is printed from the
/// decoded value with controls replaced, so a hostile command cannot drive the
/// terminal.
pub fn format_line(line: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return safe(line);
    };
    if let Some(h) = v.get("chain_continue").and_then(|x| x.as_str()) {
        return format!(
            "-- continued from {} ({h})",
            v["prev_file"].as_str().unwrap_or("")
        );
    }
    let s = |p: &str| {
        v.pointer(p)
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string()
    };
    let kind = v
        .get("kind")
        .and_then(|x| x.as_str())
        .map(|k| format!(" [{k}]"))
        .unwrap_or_default();
    let what = [s("/request/command"), s("/request/path"), s("/request/url")]
        .into_iter()
        .find(|x| !x.is_empty())
        .unwrap_or_default();
    let policy = s("/decision/policy");
    format!(
        "{} {:<7} {:<6} {}/{}{}{} {}",
        s("/timestamp"),
        s("/decision/action"),
        s("/tool"),
        s("/agent"),
        s("/session"),
        if policy.is_empty() {
            String::new()
        } else {
            format!(" policy={policy}")
        },
        kind,
        safe(&what)
    )
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

fn newest_file(dir: &Path) -> io::Result<Option<PathBuf>> {
    Ok(chain::list_chain_files(dir)?.pop().map(|(_, p)| p))
}

/// Print the last `n` records across chain files, then follow if asked.
pub fn run(dir: &Path, n: usize, follow: bool, json: bool) -> io::Result<()> {
    let files = chain::list_chain_files(dir)?;
    let mut last: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    for (_, p) in files.iter().rev() {
        let text = std::fs::read_to_string(p)?;
        let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        while let Some(l) = lines.pop() {
            if last.len() >= n {
                break;
            }
            last.push_front(l.to_string());
        }
        if last.len() >= n {
            break;
        }
    }
    let out = io::stdout();
    let mut out = out.lock();
    for l in &last {
        writeln!(out, "{}", if json { l.clone() } else { format_line(l) })?;
    }
    out.flush()?;
    if !follow {
        return Ok(());
    }
    drop(out);
    let mut current = newest_file(dir)?;
    let mut pos = match &current {
        Some(p) => std::fs::metadata(p)?.len(),
        None => 0,
    };
    let mut partial = String::new();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let newest = newest_file(dir)?;
        if let Some(p) = &current {
            let mut f = std::fs::File::open(p)?;
            f.seek(SeekFrom::Start(pos))?;
            let mut buf = String::new();
            f.read_to_string(&mut buf)?;
            pos += buf.len() as u64;
            partial.push_str(&buf);
            let mut out = io::stdout().lock();
            while let Some(i) = partial.find('\n') {
                let line: String = partial.drain(..=i).collect();
                let line = line.trim_end_matches('\n');
                if !line.is_empty() {
                    writeln!(
                        out,
                        "{}",
                        if json {
                            line.to_string()
                        } else {
                            format_line(line)
                        }
                    )?;
                }
            }
            out.flush()?;
        }
        if newest != current {
            current = newest;
            pos = 0;
            partial.clear();
        }
    }
}
