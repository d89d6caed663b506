//! Path candidates and path pattern variants (spec §3.2).

use std::path::{Path, PathBuf};

use crate::glob::PathGlob;

/// Go `path.Clean`: lexical cleanup of `.`, `..` and repeated slashes (the same
/// cleanup the canonical `rm` aliases use).
pub use crate::shell::aliases::clean_path as clean;

fn join(dir: &str, rel: &str) -> String {
    clean(&format!("{dir}/{rel}"))
}

/// Resolve symlinks on the longest existing ancestor of an absolute path and
/// re-append the missing suffix.
fn resolve(abs: &str) -> String {
    let path = Path::new(abs);
    let mut suffix: Vec<&std::ffi::OsStr> = Vec::new();
    let mut cur: Option<&Path> = Some(path);
    while let Some(p) = cur {
        if let Ok(real) = std::fs::canonicalize(p) {
            let mut out: PathBuf = real;
            for s in suffix.iter().rev() {
                out.push(s);
            }
            return out.to_string_lossy().into_owned();
        }
        match p.file_name() {
            Some(name) => suffix.push(name),
            None => break,
        }
        cur = p.parent();
    }
    abs.to_string()
}

/// The candidates of one call's path.
#[derive(Debug, Default)]
pub struct Candidates {
    /// `(candidate, is_absolute)`, unique, in spec order.
    pub items: Vec<(String, bool)>,
}

impl Candidates {
    /// Build the candidates of a raw path (backslashes already or not yet converted).
    pub fn new(raw: &str, workdir: Option<&str>) -> Candidates {
        let p = raw.replace('\\', "/");
        let absolute = p.starts_with('/');
        let workdir = workdir.map(|w| w.replace('\\', "/"));
        let cleaned = match (&workdir, absolute) {
            (Some(w), false) => join(w, &p),
            _ => clean(&p),
        };
        let mut items: Vec<(String, bool)> = Vec::with_capacity(3);
        let mut push = |s: String| {
            if !items.iter().any(|(c, _)| *c == s) {
                let abs = s.starts_with('/');
                items.push((s, abs));
            }
        };
        let absolute_form = if cleaned.starts_with('/') {
            Some(cleaned.clone())
        } else {
            std::env::current_dir()
                .ok()
                .map(|cwd| join(&cwd.to_string_lossy(), &cleaned))
        };
        push(cleaned);
        if let Some(a) = absolute_form {
            push(resolve(&a));
        }
        if workdir.is_some() && !absolute {
            push(clean(&p));
        }
        Candidates { items }
    }
}

/// The longest literal run of a path pattern: every path the pattern matches
/// contains it (a leading `**/` is optional, so it is left out). Empty when the
/// pattern has no literal or its syntax is unusual.
fn required_literal(pattern: &str) -> String {
    let mut rest = pattern;
    while let Some(r) = rest.strip_prefix("**/") {
        rest = r;
    }
    let mut best = String::new();
    let mut run = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => {}
            '[' => {
                // Skip the class; an unclosed class makes the pattern invalid anyway.
                let closed = chars.by_ref().any(|k| k == ']');
                if !closed {
                    return String::new();
                }
            }
            other => {
                run.push(other);
                continue;
            }
        }
        if run.len() > best.len() {
            best = std::mem::take(&mut run);
        } else {
            run.clear();
        }
    }
    if run.len() > best.len() {
        best = run;
    }
    best
}

/// A path glob with a cheap literal pre-check in front of the matcher.
#[derive(Debug, Clone)]
struct Filtered {
    glob: PathGlob,
    literal: String,
}

impl Filtered {
    fn new(pattern: &str) -> Filtered {
        Filtered {
            glob: PathGlob::new(pattern),
            literal: required_literal(&pattern.replace('\\', "/")),
        }
    }
    fn is_match(&self, candidate: &str) -> bool {
        (self.literal.is_empty() || candidate.contains(self.literal.as_str()))
            && self.glob.is_match(candidate)
    }
}

/// One compiled `path_matches`/`path_not_matches` pattern with its load-time variants.
#[derive(Debug, Clone)]
pub struct PathPattern {
    text: String,
    absolute: bool,
    glob: Filtered,
    resolved: Option<Filtered>,
}

/// The pattern with its literal directory prefix symlink-resolved, if that differs.
fn resolved_variant(pattern: &str) -> Option<String> {
    if !pattern.starts_with('/') {
        return None;
    }
    let literal_end = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
    let dir_end = pattern[..literal_end].rfind('/')?;
    let dir = if dir_end == 0 {
        "/"
    } else {
        &pattern[..dir_end]
    };
    let real = std::fs::canonicalize(dir).ok()?;
    let real = real.to_string_lossy();
    if real == dir {
        return None;
    }
    let rest = &pattern[dir_end..];
    Some(format!("{}{}", real.trim_end_matches('/'), rest))
}

impl PathPattern {
    /// Compile a pattern and its symlink-resolved variant.
    pub fn new(pattern: &str) -> PathPattern {
        let text = pattern.replace('\\', "/");
        PathPattern {
            absolute: text.starts_with('/'),
            glob: Filtered::new(pattern),
            resolved: resolved_variant(&text).map(|v| Filtered::new(&v)),
            text,
        }
    }

    fn direct(&self, candidate: &str) -> bool {
        self.glob.is_match(candidate)
            || self
                .resolved
                .as_ref()
                .is_some_and(|g| g.is_match(candidate))
    }

    /// Whether one candidate matches this pattern or one of its variants.
    pub fn matches(&self, candidate: &str, candidate_abs: bool, workdir: Option<&str>) -> bool {
        if self.direct(candidate) {
            return true;
        }
        let Some(w) = workdir else {
            return false;
        };
        // A pattern that starts with `**` already matches everything that
        // `workdir/pattern` matches, so that variant is only built for the others.
        if candidate_abs && !self.absolute && !self.text.is_empty() && !self.text.starts_with("**")
        {
            let joined = join(w, &self.text);
            if PathGlob::new(&joined).is_match(candidate) {
                return true;
            }
            if let Some(v) = resolved_variant(&joined) {
                return PathGlob::new(&v).is_match(candidate);
            }
            return false;
        }
        if !candidate_abs && self.absolute {
            return self.direct(&join(w, candidate));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_literals_skip_wildcards_classes_and_a_leading_double_star() {
        assert_eq!(required_literal("**/.ssh/id_*"), ".ssh/id_");
        assert_eq!(required_literal("**/.env"), ".env");
        assert_eq!(required_literal("/etc/**"), "/etc/");
        assert_eq!(
            required_literal("**/secret-[0-9]/long-name/**"),
            "/long-name/"
        );
        assert_eq!(required_literal("/x/[abc"), "");
        assert_eq!(required_literal("*"), "");
    }

    #[test]
    fn the_literal_precheck_never_rejects_a_real_match() {
        for (pat, path) in [
            ("**/.env", ".env"),
            ("**/.env", "/a/.env"),
            ("**/.ssh/id_*", "C:/Users/A/.ssh/id_rsa"),
            ("/etc/[a-z]*/x", "/etc/ab/x"),
            ("**/café/**", "/home/user/café/notes.txt"),
        ] {
            assert_eq!(
                Filtered::new(pat).is_match(path),
                PathGlob::new(pat).is_match(path),
                "{pat} {path}"
            );
        }
    }

    #[test]
    fn clean_follows_go_path_clean() {
        assert_eq!(clean("/etc/../etc/shadow"), "/etc/shadow");
        assert_eq!(clean("/home/user/../etc/shadow"), "/home/etc/shadow");
        assert_eq!(clean("a//b/./c/"), "a/b/c");
        assert_eq!(clean("../../x"), "../../x");
        assert_eq!(clean("/.."), "/");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("./.env"), ".env");
    }

    #[test]
    fn candidates_include_cleaned_resolved_and_relative_forms() {
        let c = Candidates::new("secrets/../secrets/key", Some("/nonexistent-proj"));
        let names: Vec<&str> = c.items.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(names, vec!["/nonexistent-proj/secrets/key", "secrets/key"]);
        let c = Candidates::new("C:\\Users\\Alice\\.ssh\\id_rsa", None);
        assert_eq!(c.items[0].0, "C:/Users/Alice/.ssh/id_rsa");
        assert!(c
            .items
            .iter()
            .any(|(s, abs)| *abs && s.ends_with("/C:/Users/Alice/.ssh/id_rsa")));
    }

    #[test]
    fn candidates_resolve_symlinks_on_the_longest_existing_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let raw = format!("{}/missing/file", link.display());
        let c = Candidates::new(&raw, None);
        let want = format!(
            "{}/missing/file",
            std::fs::canonicalize(&real).unwrap().display()
        );
        assert!(c.items.iter().any(|(s, _)| *s == want), "{:?}", c.items);
    }
}
