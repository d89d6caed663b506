//! Per-tool sliding-window call counter for `call_count` (spec §2.8).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most tools tracked.
pub const MAX_TOOLS: usize = 1024;
/// Longest tool name tracked, in bytes.
pub const MAX_TOOL_NAME: usize = 256;
/// Timestamps kept per tool.
pub const MAX_STAMPS: usize = 1000;

/// Why a call could not be counted (the caller fails closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterError {
    /// The tool name is longer than [`MAX_TOOL_NAME`].
    NameTooLong,
    /// [`MAX_TOOLS`] distinct tools are tracked already.
    TooManyTools,
}

/// Call timestamps per tool.
#[derive(Debug, Default)]
pub struct CallCounter {
    stamps: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl CallCounter {
    /// Record one call of `tool` at `now`, dropping stamps older than `keep`.
    pub fn record(&self, tool: &str, now: Instant, keep: Duration) -> Result<(), CounterError> {
        if tool.len() > MAX_TOOL_NAME {
            return Err(CounterError::NameTooLong);
        }
        let mut map = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(tool) && map.len() >= MAX_TOOLS {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) <= keep));
            if map.len() >= MAX_TOOLS {
                return Err(CounterError::TooManyTools);
            }
        }
        let q = map.entry(tool.to_string()).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) > keep) {
            q.pop_front();
        }
        if q.len() >= MAX_STAMPS {
            q.pop_front();
        }
        q.push_back(now);
        Ok(())
    }

    /// Calls of `tool` within `window` before `now`.
    pub fn count(&self, tool: &str, now: Instant, window: Duration) -> usize {
        let map = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        map.get(tool).map_or(0, |q| {
            q.iter()
                .rev()
                .take_while(|t| now.duration_since(**t) <= window)
                .count()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_calls_inside_the_window() {
        let c = CallCounter::default();
        let t0 = Instant::now();
        let keep = Duration::from_secs(3600);
        c.record("fetch", t0, keep).unwrap();
        c.record("fetch", t0 + Duration::from_secs(5), keep)
            .unwrap();
        let now = t0 + Duration::from_secs(8);
        assert_eq!(c.count("fetch", now, Duration::from_secs(10)), 2);
        assert_eq!(c.count("fetch", now, Duration::from_secs(4)), 1);
        assert_eq!(c.count("exec", now, Duration::from_secs(10)), 0);
    }

    #[test]
    fn keeps_at_most_a_thousand_stamps_and_rejects_long_names() {
        let c = CallCounter::default();
        let t0 = Instant::now();
        let keep = Duration::from_secs(3600);
        for _ in 0..1500 {
            c.record("fetch", t0, keep).unwrap();
        }
        assert_eq!(c.count("fetch", t0, keep), MAX_STAMPS);
        assert_eq!(
            c.record(&"x".repeat(MAX_TOOL_NAME + 1), t0, keep),
            Err(CounterError::NameTooLong)
        );
    }
}
