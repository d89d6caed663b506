//! Fixed-capacity byte output: the `Sink` trait and its stack-buffer writers.
//!
//! Everything the hook sends or prints is produced through a [`Sink`], so the
//! same serializer can first count bytes (for `Content-Length`), then write
//! into a stack buffer or stream to a socket. Safe code only; never panics.

/// A destination for bytes. Writers never fail loudly: a sink that runs out
/// of room records the overflow and drops the rest.
pub trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);

    /// Appends one byte.
    fn put_byte(&mut self, b: u8) {
        self.put(&[b]);
    }

    /// Appends the decimal form of `n`.
    fn put_u64(&mut self, n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = n;
        loop {
            i = i.saturating_sub(1);
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || i == 0 {
                break;
            }
        }
        self.put(digits.get(i..).unwrap_or(&[]));
    }

    /// Appends the decimal form of a signed `n`.
    fn put_i64(&mut self, n: i64) {
        if n < 0 {
            self.put_byte(b'-');
        }
        self.put_u64(n.unsigned_abs());
    }
}

/// Counts bytes without storing them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Bytes seen so far.
    pub len: usize,
}

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.len = self.len.saturating_add(bytes.len());
    }
}

/// Writes into a borrowed byte slice; remembers whether anything was cut.
#[derive(Debug)]
pub struct Buf<'a> {
    data: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl<'a> Buf<'a> {
    /// An empty writer over `data`.
    pub fn new(data: &'a mut [u8]) -> Self {
        Buf {
            data,
            len: 0,
            overflow: false,
        }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.data.get(..self.len).unwrap_or(&[])
    }

    /// Number of bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when a write did not fit and was truncated.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// Forgets everything written so far.
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// Appends a NUL byte and returns the written bytes without it, or `None`
    /// when the buffer overflowed (the result would not be the full string).
    pub fn finish_cstr(&mut self) -> Option<usize> {
        self.put_byte(0);
        if self.overflow {
            None
        } else {
            Some(self.len.saturating_sub(1))
        }
    }
}

impl Sink for Buf<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let room = self.data.len().saturating_sub(self.len);
        let n = bytes.len().min(room);
        if n < bytes.len() {
            self.overflow = true;
        }
        let end = self.len.saturating_add(n);
        if let (Some(dst), Some(src)) = (self.data.get_mut(self.len..end), bytes.get(..n)) {
            dst.copy_from_slice(src);
            self.len = end;
        }
    }
}

/// Appends at most `max` bytes of `text` with control bytes as spaces, never
/// ending inside a UTF-8 sequence, then `…` when anything was left out (or
/// `already_cut` says `text` itself was truncated).
pub fn put_clipped<S: Sink>(out: &mut S, text: &[u8], max: usize, already_cut: bool) {
    let end = text.len().min(max);
    let cut = already_cut || end < text.len();
    let end = if cut { utf8_boundary(text, end) } else { end };
    for &c in text.get(..end).unwrap_or(&[]) {
        out.put_byte(if c < 0x20 || c == 0x7f { b' ' } else { c });
    }
    if cut {
        out.put("…".as_bytes());
    }
}

/// The largest `n <= end` such that `text[..n]` does not end inside a UTF-8
/// sequence (a partial last character is dropped).
pub fn utf8_boundary(text: &[u8], end: usize) -> usize {
    let end = end.min(text.len());
    let mut start = end;
    // Back over continuation bytes (at most 3) to the last character's lead byte.
    while start > 0 && end - start < 3 && text.get(start - 1).is_some_and(|b| b & 0xc0 == 0x80) {
        start -= 1;
    }
    let Some(lead_at) = start.checked_sub(1) else {
        return end;
    };
    let need = match text.get(lead_at).copied().unwrap_or(0) {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return end,
    };
    if end - lead_at < need {
        lead_at
    } else {
        end
    }
}

/// Copies `src` into `dst`, returning how many bytes fit.
#[cfg_attr(target_os = "macos", allow(dead_code))] // used by the Linux-only execveat
pub fn copy_into(dst: &mut [u8], src: &[u8]) -> usize {
    let n = dst.len().min(src.len());
    if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
        d.copy_from_slice(s);
    }
    n
}

/// Parses an unsigned decimal number; `None` on empty input, junk or overflow.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// `s` without leading and trailing ASCII spaces and tabs.
pub fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(s.len());
    let rest = s.get(start..).unwrap_or(&[]);
    let end = rest
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(0, |i| i + 1);
    rest.get(..end).unwrap_or(&[])
}

/// FNV-1a (64-bit) over everything written; used to recognise a repeated
/// identical request without storing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Sink for Fnv {
    fn put(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}
