//! Where the accept thread's time goes, per answered request (`scripts/bench-phases`).
//!
//! Built only with the `phase-probe` feature: [`mark`] then records the time a
//! request reaches each [`Phase`], [`finish`] files the request's marks, and the
//! daemon prints the median time from `accept` to each phase when it shuts down.
//! Without the feature both are empty and inlined away, so the marks cost nothing
//! in a normal build.

/// A point on the accept thread's way from `accept` to a sent answer, in order.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "phase-probe"), allow(dead_code))]
pub enum Phase {
    /// `accept` returned a connection.
    Accepted,
    /// Peer credentials read and a connection slot taken.
    Admitted,
    /// The request's bytes read.
    Read,
    /// The HTTP head parsed.
    HeadParsed,
    /// The body parsed into the engine's call.
    BodyParsed,
    /// The engine's decision made.
    Evaluated,
    /// The audit writer's lock taken (event built).
    AuditLocked,
    /// The audit line encoded and sealed (hash).
    AuditSealed,
    /// The audit line written to the file.
    AuditWritten,
    /// The answer's bytes built (after the audit).
    Concluded,
    /// The answer sent.
    Answered,
}

#[cfg(feature = "phase-probe")]
impl Phase {
    /// Every phase, in order: a phase's index here is its discriminant (checked
    /// below), which is where [`mark`] files its time.
    const ALL: [Phase; 11] = [
        Phase::Accepted,
        Phase::Admitted,
        Phase::Read,
        Phase::HeadParsed,
        Phase::BodyParsed,
        Phase::Evaluated,
        Phase::AuditLocked,
        Phase::AuditSealed,
        Phase::AuditWritten,
        Phase::Concluded,
        Phase::Answered,
    ];
}

/// How many phases there are.
#[cfg(feature = "phase-probe")]
const PHASES: usize = Phase::ALL.len();

#[cfg(feature = "phase-probe")]
const _: () = {
    let mut i = 0;
    while i < PHASES {
        assert!(Phase::ALL[i] as usize == i, "Phase::ALL out of order");
        i += 1;
    }
    assert!(
        Phase::Answered as usize == PHASES - 1,
        "a phase is missing from Phase::ALL"
    );
};

#[cfg(feature = "phase-probe")]
mod probe {
    use super::{Phase, PHASES};
    use std::cell::Cell;
    use std::sync::Mutex;
    use std::time::Instant;

    thread_local! {
        /// This thread's marks for the request in progress.
        static MARKS: Cell<[Option<Instant>; PHASES]> = const { Cell::new([None; PHASES]) };
    }

    /// Microseconds from `accept` to each phase, per finished request.
    static ROWS: Mutex<Vec<[Option<f64>; PHASES]>> = Mutex::new(Vec::new());

    pub fn mark(phase: Phase) {
        MARKS.with(|m| {
            let mut a = m.get();
            if matches!(phase, Phase::Accepted) {
                a = [None; PHASES];
            }
            if let Some(slot) = a.get_mut(phase as usize) {
                *slot = Some(Instant::now());
            }
            m.set(a);
        });
    }

    pub fn finish() {
        let a = MARKS.with(|m| m.replace([None; PHASES]));
        let (Some(start), Some(_)) = (a[0], a[Phase::Answered as usize]) else {
            return;
        };
        let row = a.map(|t| t.map(|t| t.duration_since(start).as_secs_f64() * 1e6));
        ROWS.lock().unwrap_or_else(|e| e.into_inner()).push(row);
    }

    pub fn report() {
        let rows = ROWS.lock().unwrap_or_else(|e| e.into_inner());
        eprintln!(
            "rampart: phase probe: {} answered requests, median µs from accept:",
            rows.len()
        );
        for phase in Phase::ALL.into_iter().skip(1) {
            let i = phase as usize;
            let mut v: Vec<f64> = rows.iter().filter_map(|r| r[i]).collect();
            v.sort_by(f64::total_cmp);
            if let Some(m) = v.get(v.len() / 2) {
                let name = format!("{phase:?}");
                eprintln!(
                    "rampart: phase probe: {name:<14} {m:8.1} ({} requests)",
                    v.len()
                );
            }
        }
    }
}

/// Note that the request in progress on this thread reached `phase`.
#[inline(always)]
pub fn mark(phase: Phase) {
    #[cfg(feature = "phase-probe")]
    probe::mark(phase);
    #[cfg(not(feature = "phase-probe"))]
    let _ = phase;
}

/// The request in progress on this thread is done: file its marks (only
/// requests answered on the accept thread are counted).
#[inline(always)]
pub fn finish() {
    #[cfg(feature = "phase-probe")]
    probe::finish();
}

/// Print the medians (at shutdown).
pub fn report() {
    #[cfg(feature = "phase-probe")]
    probe::report();
}
