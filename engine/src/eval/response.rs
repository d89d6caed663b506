//! Response evaluation (spec §2.10): scanning a tool's output with the
//! `response_matches` / `response_not_matches` regexes of the rules in scope.

use regex::RegexSet;

/// The largest response scanned; larger ones are denied when a response rule is in
/// scope.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// The compiled response regexes of one rule.
#[derive(Debug)]
pub struct ResponseRule {
    /// `response_matches` (`None` if it failed to compile: it then always matches).
    matches: Option<RegexSet>,
    /// `response_not_matches` (`None`: no exclusion).
    not_matches: Option<RegexSet>,
}

impl ResponseRule {
    /// Compile a rule's response keys; `None` when it has no `response_matches`.
    pub fn new(matches: &[String], not_matches: &[String]) -> Option<ResponseRule> {
        if matches.is_empty() {
            return None;
        }
        Some(ResponseRule {
            matches: RegexSet::new(matches).ok(),
            not_matches: if not_matches.is_empty() {
                None
            } else {
                RegexSet::new(not_matches).ok()
            },
        })
    }

    /// A match regex hits and no exclusion regex does.
    pub fn is_match(&self, response: &str) -> bool {
        let hit = self.matches.as_ref().is_none_or(|s| s.is_match(response));
        hit && !self
            .not_matches
            .as_ref()
            .is_some_and(|s| s.is_match(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_veto_matches() {
        let r =
            ResponseRule::new(&["AKIA[0-9A-Z]{16}".to_string()], &["EXAMPLE".to_string()]).unwrap();
        assert!(r.is_match("key AKIAABCDEFGHIJKLMNOP here"));
        assert!(!r.is_match("key AKIAABCDEFGHIJKLMNOP EXAMPLE"));
        assert!(!r.is_match("nothing"));
        assert!(ResponseRule::new(&[], &["x".to_string()]).is_none());
    }
}
