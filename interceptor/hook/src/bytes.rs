//! Byte-slice comparison in our own code.
//!
//! `a == b` on slices compiles to a call of libc's `bcmp`, and every libc
//! code page a forked child runs on its way to `exec` costs it a page fault
//! (about 1.5 µs here; `scripts/fault-map`). The hook compares short
//! strings (a command name with its path, environment entries with the
//! snapshot), so eight bytes at a time in place is as fast and stays in our
//! pages.

/// True when `a` and `b` hold the same bytes.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut xs = a.chunks_exact(8);
    let mut ys = b.chunks_exact(8);
    for (x, y) in xs.by_ref().zip(ys.by_ref()) {
        if word(x) != word(y) {
            return false;
        }
    }
    xs.remainder()
        .iter()
        .zip(ys.remainder())
        .all(|(x, y)| x == y)
}

/// An 8-byte chunk as one integer (any byte order: only equality is asked).
fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    for (slot, b) in w.iter_mut().zip(chunk) {
        *slot = *b;
    }
    u64::from_ne_bytes(w)
}
