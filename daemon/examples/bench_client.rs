//! Preflight round-trip benchmark client for `rampart serve` (used by
//! `scripts/bench-daemon`).
//!
//! Usage: `bench_client (--socket PATH | --tcp ADDR --token T) --scenario
//! keepalive|fresh|concurrent [--requests N] [--clients C] [--spin-us US]
//! [--gap-us US]`
//!
//! `--spin-us US` makes the client wait for each answer the way `librampart.so`
//! does (`RAMPART_SPIN_US`): poll the socket without sleeping, yielding the CPU
//! between checks, for up to US microseconds, then block. Without it the client
//! blocks in `read` at once.
//!
//! `fresh` opens a connection per request and sends `Connection: close`, as the
//! preload library does from a forked child.
//!
//! `--gap-us US` sleeps US microseconds between requests (keepalive, fresh): with
//! a few milliseconds the daemon's CPU idles between requests and each one runs
//! from cold caches, as between the launches of an exec burst; the round trip
//! then measures how much code and data the answer touches, not only how many
//! instructions it runs.
//!
//! Prints one line of JSON: scenario, transport, requests, client spin, median/p99
//! round trip in microseconds and decisions per second.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

trait Stream: Read + Write {
    fn nonblocking(&self, on: bool);
}
impl Stream for std::os::unix::net::UnixStream {
    fn nonblocking(&self, on: bool) {
        self.set_nonblocking(on).expect("set_nonblocking");
    }
}
impl Stream for std::net::TcpStream {
    fn nonblocking(&self, on: bool) {
        self.set_nonblocking(on).expect("set_nonblocking");
    }
}

/// Reads into `tmp`, first polling for up to `spin` (see the module docs).
fn read_answer(s: &mut dyn Stream, tmp: &mut [u8], spin: Duration) -> usize {
    if !spin.is_zero() {
        let t0 = Instant::now();
        s.nonblocking(true);
        loop {
            match s.read(tmp) {
                Ok(n) => {
                    s.nonblocking(false);
                    return n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock && t0.elapsed() < spin => {
                    std::thread::yield_now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        s.nonblocking(false);
    }
    s.read(tmp).expect("read")
}

struct Target {
    socket: Option<String>,
    tcp: Option<String>,
    token: Option<String>,
}

impl Target {
    fn connect(&self) -> Box<dyn Stream> {
        if let Some(s) = &self.socket {
            Box::new(std::os::unix::net::UnixStream::connect(s).expect("connect socket"))
        } else {
            let s = std::net::TcpStream::connect(self.tcp.as_ref().expect("--tcp"))
                .expect("connect tcp");
            s.set_nodelay(true).unwrap();
            Box::new(s)
        }
    }

    /// The preload library's request; `close`: one request per connection, as the
    /// library sends from a forked child (`Connection: close`).
    fn request(&self, command: &str, close: bool) -> Vec<u8> {
        let body = format!(
            r#"{{"agent":"bench","session":"bench-1","params":{{"command":"{command}","cwd":"/tmp","pid":1,"ppid":1}},"enforce":true}}"#
        );
        let mut req = format!(
            "POST /v1/preflight/exec HTTP/1.1\r\nHost: rampart\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(t) = &self.token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if close {
            req.push_str("Connection: close\r\n");
        }
        req.push_str("\r\n");
        req.push_str(&body);
        req.into_bytes()
    }
}

/// Send one request and read one response (Content-Length framed).
fn round_trip(s: &mut dyn Stream, req: &[u8], buf: &mut Vec<u8>, spin: Duration) {
    s.write_all(req).expect("write");
    buf.clear();
    let mut tmp = [0u8; 4096];
    loop {
        let n = read_answer(s, &mut tmp, spin);
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&tmp[..n]);
        if let Some(h) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .expect("content-length");
            if buf.len() >= h + 4 + len {
                assert!(buf[h + 4..].starts_with(b"{\"allowed\":"));
                return;
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_nanos() as f64 / 1000.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut target = Target {
        socket: None,
        tcp: None,
        token: None,
    };
    let mut scenario = "keepalive".to_string();
    let mut requests = 20_000usize;
    let mut clients = 8usize;
    let mut command = "git status".to_string();
    let mut spin = Duration::ZERO;
    let mut gap = Duration::ZERO;
    while let Some(a) = args.next() {
        let mut v = || args.next().expect("flag value");
        match a.as_str() {
            "--socket" => target.socket = Some(v()),
            "--tcp" => target.tcp = Some(v()),
            "--token" => target.token = Some(v()),
            "--scenario" => scenario = v(),
            "--requests" => requests = v().parse().unwrap(),
            "--clients" => clients = v().parse().unwrap(),
            "--command" => command = v(),
            "--spin-us" => spin = Duration::from_micros(v().parse().unwrap()),
            "--gap-us" => gap = Duration::from_micros(v().parse().unwrap()),
            other => panic!("unknown flag {other}"),
        }
    }
    let req = target.request(&command, false);
    let req_close = target.request(&command, true);
    let transport = if target.socket.is_some() {
        "unix"
    } else {
        "tcp"
    };
    // Warm up.
    {
        let mut s = target.connect();
        let mut buf = Vec::new();
        for _ in 0..200 {
            round_trip(&mut *s, &req, &mut buf, spin);
        }
    }
    let (mut lat, elapsed) = match scenario.as_str() {
        "keepalive" | "fresh" => {
            let fresh = scenario == "fresh";
            let req = if fresh { &req_close } else { &req };
            let mut lat = Vec::with_capacity(requests);
            let mut buf = Vec::new();
            let mut s = target.connect();
            let t0 = Instant::now();
            for _ in 0..requests {
                let r0 = Instant::now();
                if fresh {
                    s = target.connect();
                }
                round_trip(&mut *s, req, &mut buf, spin);
                lat.push(r0.elapsed());
                if !gap.is_zero() {
                    std::thread::sleep(gap);
                }
            }
            (lat, t0.elapsed())
        }
        "concurrent" => {
            let per = requests / clients;
            let t0 = Instant::now();
            let target = std::sync::Arc::new(target);
            let handles: Vec<_> = (0..clients)
                .map(|_| {
                    let target = target.clone();
                    let req = req.clone();
                    std::thread::spawn(move || {
                        let mut s = target.connect();
                        let mut buf = Vec::new();
                        let mut lat = Vec::with_capacity(per);
                        for _ in 0..per {
                            let r0 = Instant::now();
                            round_trip(&mut *s, &req, &mut buf, spin);
                            lat.push(r0.elapsed());
                        }
                        lat
                    })
                })
                .collect();
            let lat: Vec<Duration> = handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect();
            (lat, t0.elapsed())
        }
        other => panic!("unknown scenario {other}"),
    };
    lat.sort();
    let n = lat.len();
    println!(
        "{{\"scenario\":\"{scenario}\",\"transport\":\"{transport}\",\"requests\":{n},\"clients\":{},\"client_spin_us\":{},\"gap_us\":{},\"median_us\":{:.1},\"p99_us\":{:.1},\"decisions_per_s\":{:.0}}}",
        if scenario == "concurrent" { clients } else { 1 },
        spin.as_micros(),
        gap.as_micros(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        n as f64 / elapsed.as_secs_f64()
    );
}
