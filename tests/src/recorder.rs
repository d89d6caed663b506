//! A scripted, recording stand-in for the policy daemon.
//!
//! It speaks just enough HTTP/1.1 (keep-alive, `Content-Length`) on a Unix
//! socket or loopback TCP port, records every `POST /v1/preflight/exec`
//! (headers and JSON body), and answers per a rule: allow, deny, a status
//! code, raw bytes, an oversized body, a hang, or an `ask` that first sends
//! `102 Processing`. Used for exact "which commands were seen" assertions
//! and for the failure-mode tests (5xx, 401, malformed, oversized, hung).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the recorder saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `params.command`.
    pub command: String,
    /// The whole JSON body.
    pub body: serde_json::Value,
    /// Request headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The request line.
    pub request_line: String,
}

impl Seen {
    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How to answer a request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with a JSON verdict.
    Json {
        /// `allowed`.
        allowed: bool,
        /// `decision`.
        decision: String,
        /// `message`.
        message: String,
        /// `policy`.
        policy: String,
    },
    /// A status code with a body.
    Status(u16, String),
    /// Exactly these bytes, then close.
    Raw(Vec<u8>),
    /// Never answer (the connection stays open).
    Hang,
    /// `102 Processing`, wait, then the inner reply.
    Interim(Duration, Box<Reply>),
    /// Wait (having read the request), then the inner reply: how the real
    /// daemon holds a `wait:true` ask.
    Delay(Duration, Box<Reply>),
}

impl Reply {
    /// `{"allowed":true,"decision":"allow"}`.
    pub fn allow() -> Reply {
        Reply::Json {
            allowed: true,
            decision: "allow".into(),
            message: "allowed".into(),
            policy: String::new(),
        }
    }

    /// A denial with message and policy name.
    pub fn deny(message: &str, policy: &str) -> Reply {
        Reply::Json {
            allowed: false,
            decision: "deny".into(),
            message: message.into(),
            policy: policy.into(),
        }
    }
}

type Rule = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// The running recorder. Stops (and removes its socket) on drop.
pub struct Recorder {
    /// The Unix socket path (for Unix recorders).
    pub socket: PathBuf,
    /// The TCP port (for TCP recorders; 0 otherwise).
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
}

trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

impl Recorder {
    /// Starts a recorder on the Unix socket `socket`.
    pub fn unix(socket: &Path, rule: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Recorder {
        let listener = UnixListener::bind(socket).expect("bind recorder socket");
        listener.set_nonblocking(true).expect("nonblocking");
        Recorder::start(socket.to_path_buf(), 0, Arc::new(rule), move || {
            listener.accept().map(|(c, _)| Box::new(c) as Box<dyn Conn>)
        })
    }

    /// Starts a recorder on a loopback TCP port.
    pub fn tcp(rule: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind recorder port");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        Recorder::start(PathBuf::new(), port, Arc::new(rule), move || {
            listener.accept().map(|(c, _)| {
                let _ = c.set_nodelay(true);
                Box::new(c) as Box<dyn Conn>
            })
        })
    }

    /// Runs the accept loop over the non-blocking `accept` in a thread.
    fn start(
        socket: PathBuf,
        port: u16,
        rule: Rule,
        accept: impl Fn() -> std::io::Result<Box<dyn Conn>> + Send + 'static,
    ) -> Recorder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let (s, st, n) = (seen.clone(), stop.clone(), connections.clone());
        std::thread::spawn(move || accept_loop(accept, &s, &st, &rule, &n));
        Recorder {
            socket,
            port,
            seen,
            stop,
            connections,
        }
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("recorder lock").clone()
    }

    /// The requests seen so far for which `keep` holds, in arrival order.
    pub fn seen_where(&self, keep: impl Fn(&Seen) -> bool) -> Vec<Seen> {
        let seen = self.seen.lock().expect("recorder lock");
        seen.iter().filter(|s| keep(s)).cloned().collect()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The commands seen so far, in arrival order.
    pub fn commands(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.command).collect()
    }

    /// The commands seen so far, sorted (for multiset comparisons when
    /// children run concurrently).
    pub fn sorted_commands(&self) -> Vec<String> {
        let mut c = self.commands();
        c.sort();
        c
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if !self.socket.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

fn accept_loop(
    accept: impl Fn() -> std::io::Result<Box<dyn Conn>>,
    seen: &Arc<Mutex<Vec<Seen>>>,
    stop: &Arc<AtomicBool>,
    rule: &Rule,
    connections: &AtomicUsize,
) {
    while !stop.load(Ordering::SeqCst) {
        match accept() {
            Ok(conn) => {
                connections.fetch_add(1, Ordering::SeqCst);
                let (seen, rule, stop) = (seen.clone(), rule.clone(), stop.clone());
                std::thread::spawn(move || serve_conn(conn, &seen, &rule, &stop));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve_conn(conn: Box<dyn Conn>, seen: &Mutex<Vec<Seen>>, rule: &Rule, stop: &AtomicBool) {
    let mut reader = BufReader::new(conn);
    loop {
        let mut request_line = String::new();
        match read_line_blocking(&mut reader, &mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if read_line_blocking(&mut reader, &mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end().to_string();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim().to_string();
                if k == "content-length" {
                    len = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0u8; len];
        if read_exact_blocking(&mut reader, &mut body).is_err() {
            return;
        }
        if request_line.starts_with("GET /healthz") {
            if !respond(
                reader.get_mut(),
                200,
                r#"{"service":"rampart","status":"ok"}"#,
            ) {
                return;
            }
            continue;
        }
        let body: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        let command = body["params"]["command"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let s = Seen {
            command,
            body,
            headers,
            request_line: request_line.trim_end().to_string(),
        };
        let reply = rule(&s);
        seen.lock().expect("recorder lock").push(s);
        let conn = reader.get_mut();
        if !write_reply(conn, &reply, stop) {
            return;
        }
    }
}

fn read_line_blocking(
    r: &mut BufReader<Box<dyn Conn>>,
    line: &mut String,
) -> std::io::Result<usize> {
    loop {
        match r.read_line(line) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            other => return other,
        }
    }
}

fn read_exact_blocking(
    r: &mut BufReader<Box<dyn Conn>>,
    mut buf: &mut [u8],
) -> std::io::Result<()> {
    while !buf.is_empty() {
        match r.read(buf) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn write_all_blocking(w: &mut Box<dyn Conn>, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match w.write(data) {
            Ok(0) => return false,
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(_) => return false,
        }
    }
    true
}

/// Writes the reply; returns whether the connection may serve another request.
fn write_reply(conn: &mut Box<dyn Conn>, reply: &Reply, stop: &AtomicBool) -> bool {
    match reply {
        Reply::Json {
            allowed,
            decision,
            message,
            policy,
        } => {
            let body = serde_json::json!({
                "allowed": allowed, "decision": decision, "message": message,
                "policy": policy, "matched_policies": if policy.is_empty() { vec![] } else { vec![policy.clone()] },
            })
            .to_string();
            respond(conn, 200, &body)
        }
        Reply::Status(code, body) => respond(conn, *code, body),
        Reply::Raw(bytes) => {
            write_all_blocking(conn, bytes);
            false
        }
        Reply::Hang => {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        }
        Reply::Delay(wait, inner) => {
            std::thread::sleep(*wait);
            write_reply(conn, inner, stop)
        }
        Reply::Interim(wait, inner) => {
            if !write_all_blocking(conn, b"HTTP/1.1 102 Processing\r\n\r\n") {
                return false;
            }
            std::thread::sleep(*wait);
            write_reply(conn, inner, stop)
        }
    }
}

fn respond(conn: &mut Box<dyn Conn>, code: u16, body: &str) -> bool {
    let head = format!(
        "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    write_all_blocking(conn, head.as_bytes()) && write_all_blocking(conn, body.as_bytes())
}
