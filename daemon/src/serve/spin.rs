//! Poll instead of sleeping for a short while after each connection or answer.
//!
//! On a virtual machine, waking a thread that sleeps in `epoll_wait` costs tens
//! of microseconds (the idle virtual CPU is halted and must be woken by the host:
//! `scripts/bench-daemon` prints this machine's floor), which is more than a
//! decision costs. So for `--spin-us` after each answered request the runtime
//! keeps polling its event queue without blocking (a task that yields, which
//! makes tokio's scheduler poll the I/O driver with a zero timeout) and only then
//! goes back to sleep.
//!
//! The spin adapts to the traffic. A window pays off when the next request
//! arrives while the runtime is still polling (a hit); it is wasted when it
//! closes with nothing arriving (a miss), as between the launches of an exec
//! burst, where each process opens its own connection about a millisecond after
//! the last one. Each hit raises a score (up to [`MAX_SCORE`]), each miss lowers
//! it, and while it is negative the daemon sleeps at once and only probes with a
//! spin every [`PROBE_EVERY`] activities, a gap that doubles with each probe that
//! misses, up to [`PROBE_EVERY_MAX`]. So a kept-alive client talking back to
//! back keeps the daemon polling, and traffic the spin cannot catch costs about
//! one window per [`PROBE_EVERY_MAX`] requests once the probes have backed off.
//! While polling, the thread also yields the CPU (`sched_yield`) between polls,
//! so other work on that CPU runs first.
//! `--spin-us 0` turns it off.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Default `--spin-us`: see the `Daemon` section of docs/BENCHMARKS.md for the
/// measurements that chose it.
pub const DEFAULT_SPIN_US: u64 = 300;

/// Highest score: after a long run of hits, this many misses in a row stop the
/// spinning.
pub const MAX_SCORE: i32 = 8;

/// While the score is negative, one activity in this many still spins (a probe
/// that finds out whether the traffic changed); each probe that misses doubles
/// the gap to the next, up to [`PROBE_EVERY_MAX`], and a hit brings it back.
pub const PROBE_EVERY: u32 = 32;

/// The longest gap between probes. In an exec burst (one fresh connection per
/// process, a millisecond apart) no window ever hits, so a probe is pure cost:
/// one window (`--spin-us`, 300 µs by default) per gap, 9 µs of daemon CPU per
/// exec at a gap of 32 and under 0.3 µs at this one. Traffic that turns back to
/// back is caught again within this many requests.
pub const PROBE_EVERY_MAX: u32 = 1024;

/// The shared spin state: when the last activity happened and whether the
/// spinning task is running.
#[derive(Debug)]
pub struct Spinner {
    window: Duration,
    epoch: Instant,
    /// Nanoseconds since `epoch` of the last activity.
    last: AtomicU64,
    /// The spinning task is polling (a touch need not wake it).
    active: AtomicBool,
    /// Hits and misses (see the module docs).
    score: Mutex<Score>,
    wake: Notify,
}

impl Spinner {
    /// A spinner that keeps polling for `window` after each activity; `None` when
    /// the window is zero (spinning off).
    pub fn new(window: Duration) -> Option<Arc<Spinner>> {
        (!window.is_zero()).then(|| {
            Arc::new(Spinner {
                window,
                epoch: Instant::now(),
                last: AtomicU64::new(0),
                active: AtomicBool::new(false),
                score: Mutex::new(Score::default()),
                wake: Notify::new(),
            })
        })
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records an answered request: the runtime polls for another window from now
    /// (unless the score says the windows keep being wasted).
    pub fn touch(&self) {
        self.last.store(self.now_ns(), Ordering::Relaxed);
        if self.active.load(Ordering::Relaxed) {
            // Caught while polling: the window paid off.
            self.score().record(true);
            return;
        }
        if self.score().should_spin() {
            self.wake.notify_one();
        }
    }

    fn score(&self) -> std::sync::MutexGuard<'_, Score> {
        self.score.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the window after the last activity is still open.
    fn open(&self) -> bool {
        let since = self
            .now_ns()
            .saturating_sub(self.last.load(Ordering::Relaxed));
        u128::from(since) < self.window.as_nanos()
    }

    /// The spinning task: sleeps until touched, then yields to the scheduler
    /// (which polls for events without blocking) until the window closes.
    pub async fn run(self: Arc<Self>) {
        loop {
            self.wake.notified().await;
            self.active.store(true, Ordering::Relaxed);
            while self.open() {
                // Let other threads on this CPU run first, then let the runtime
                // poll its events without blocking.
                std::thread::yield_now();
                tokio::task::yield_now().await;
            }
            self.active.store(false, Ordering::Relaxed);
            // The window closed with nothing arriving: a miss.
            self.score().record(false);
            // A touch that lands between the last `open()` and clearing
            // `active` counts as a hit but opens no new window: the request
            // after it may pay one wake-up. Nothing else depends on it.
        }
    }
}

/// The hit-and-miss scoring, for the spinner above and for a thread that polls by
/// itself (the Unix socket's accept thread, `serve::fast_lane`):
/// [`Score::should_spin`] after an activity, then [`Score::record`] whether the
/// window caught the next one.
#[derive(Debug)]
pub struct Score {
    score: i32,
    skipped: u32,
    /// Activities between probes while the score is negative.
    probe_gap: u32,
    /// The current window is a probe.
    probing: bool,
}

impl Default for Score {
    fn default() -> Score {
        Score {
            score: 0,
            skipped: 0,
            probe_gap: PROBE_EVERY,
            probing: false,
        }
    }
}

impl Score {
    /// Whether to poll after this answer: always while windows pay off, one time
    /// in the probe gap ([`PROBE_EVERY`] to [`PROBE_EVERY_MAX`]) while they do not.
    pub fn should_spin(&mut self) -> bool {
        if self.score >= 0 {
            return true;
        }
        self.skipped += 1;
        if self.skipped < self.probe_gap {
            return false;
        }
        self.skipped = 0;
        self.score = 0;
        self.probing = true;
        true
    }

    /// How the window went: the next client came within it (`hit`) or not.
    pub fn record(&mut self, hit: bool) {
        if hit {
            self.probe_gap = PROBE_EVERY;
        } else if self.probing {
            self.probe_gap = self.probe_gap.saturating_mul(2).min(PROBE_EVERY_MAX);
        }
        self.probing = false;
        self.score = if hit {
            (self.score + 1).min(MAX_SCORE)
        } else {
            self.score - 1
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_window_means_no_spinner() {
        assert!(Spinner::new(Duration::ZERO).is_none());
        assert!(Spinner::new(Duration::from_micros(1)).is_some());
    }

    #[test]
    fn window_opens_on_touch_and_closes_after_it() {
        let long = Spinner::new(Duration::from_secs(30)).unwrap();
        long.touch();
        assert!(long.open());
        let short = Spinner::new(Duration::from_millis(1)).unwrap();
        short.touch();
        std::thread::sleep(Duration::from_millis(20));
        assert!(!short.open());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn spinning_task_returns_to_sleep_and_wakes_on_touch() {
        let s = Spinner::new(Duration::from_millis(300)).unwrap();
        let task = tokio::spawn(Arc::clone(&s).run());
        s.touch();
        // The runtime is single-threaded: the spinner only runs while we wait.
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(
            s.active.load(Ordering::Relaxed),
            "spinning within the window"
        );
        // A touch while spinning is a hit and keeps the window open.
        s.touch();
        assert_eq!(s.score().score, 1);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!s.active.load(Ordering::Relaxed), "asleep after the window");
        assert_eq!(s.score().score, 0, "one hit, one miss");
        s.touch();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(
            s.active.load(Ordering::Relaxed),
            "spinning again after a touch"
        );
        task.abort();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn wasted_windows_stop_the_spinning_except_for_probes() {
        let s = Spinner::new(Duration::from_millis(200)).unwrap();
        let task = tokio::spawn(Arc::clone(&s).run());
        s.touch();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!s.active.load(Ordering::Relaxed));
        assert_eq!(s.score().score, -1, "a window with no hit");
        for _ in 1..PROBE_EVERY {
            s.touch();
            tokio::time::sleep(Duration::from_millis(1)).await;
            assert!(!s.active.load(Ordering::Relaxed), "no spin while negative");
        }
        assert_eq!(s.score().score, -1, "skipped touches score nothing");
        s.touch();
        assert_eq!(s.score().score, 0, "the probe resets the score");
        assert_eq!(s.score().skipped, 0);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(s.active.load(Ordering::Relaxed), "the probe opens a window");
        task.abort();
    }

    #[test]
    fn a_thread_score_stops_spinning_after_misses_and_probes() {
        let mut s = Score::default();
        assert!(s.should_spin());
        s.record(true);
        s.record(true);
        // Two hits carry it through two misses.
        for _ in 0..2 {
            assert!(s.should_spin());
            s.record(false);
        }
        assert!(s.should_spin());
        s.record(false);
        // Negative: a probe after PROBE_EVERY answers, then after twice as many
        // for each probe that missed, up to PROBE_EVERY_MAX.
        let mut gaps = Vec::new();
        let mut since = 0;
        for _ in 0..PROBE_EVERY_MAX * 4 {
            since += 1;
            if s.should_spin() {
                gaps.push(since);
                since = 0;
                s.record(false);
            }
        }
        let mut want = vec![32, 64, 128, 256, 512, 1024, 1024, 1024, 1024];
        assert_eq!(PROBE_EVERY, want[0]);
        assert_eq!(PROBE_EVERY_MAX, want[5]);
        assert_eq!(gaps.len(), 8, "{gaps:?}");
        want.truncate(gaps.len());
        assert_eq!(gaps, want);
        // A probe that hits brings the spinning back, and the short gap with it.
        while !s.should_spin() {}
        s.record(true);
        assert!(s.should_spin());
        s.record(false);
        s.record(false);
        let mut n = 1;
        while !s.should_spin() {
            n += 1;
        }
        assert_eq!(n, PROBE_EVERY, "the gap starts short again after a hit");
        s.record(true);
        assert!(s.should_spin());
        for _ in 0..MAX_SCORE + 5 {
            s.record(true);
        }
        for _ in 0..MAX_SCORE {
            s.record(false);
        }
        assert!(s.should_spin(), "at most MAX_SCORE hits are banked");
        s.record(false);
        assert!(!s.should_spin());
    }
}
