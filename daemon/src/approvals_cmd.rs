//! `rampart approvals list|allow|deny`: a small HTTP/1.1 client over the daemon's
//! Unix socket (or loopback TCP with `--url`), sending the admin token.

use anyhow::{bail, Context};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `rampart approvals …`
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// Daemon socket (default: as `rampart serve`).
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Talk to loopback TCP instead, e.g. 127.0.0.1:9090.
    #[arg(long, global = true, value_name = "ADDR", conflicts_with = "socket")]
    tcp: Option<String>,
    /// Admin token file (default: ~/.rampart/token; $RAMPART_TOKEN wins).
    #[arg(long = "token-file", global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// List approvals (pending and recently resolved).
    List {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending request.
    Allow {
        /// Approval id.
        id: String,
    },
    /// Deny a pending request.
    Deny {
        /// Approval id.
        id: String,
    },
}

/// A minimal HTTP response.
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: String,
}

/// Send one request with `Connection: close` and read the whole answer.
pub fn request<S: Read + Write>(
    mut stream: S,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<HttpResponse> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: rampart\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if method != "GET" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("malformed HTTP status line")?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok(HttpResponse { status, body })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

impl Args {
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<HttpResponse> {
        let token =
            crate::token::resolve_existing(self.token_file.as_deref()).context("admin token")?;
        if let Some(addr) = &self.tcp {
            let s =
                std::net::TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            return request(s, method, path, Some(&token), body);
        }
        let sock = self
            .socket
            .clone()
            .unwrap_or_else(crate::serve::config::default_socket_path);
        let s = std::os::unix::net::UnixStream::connect(&sock)
            .with_context(|| format!("connect {} (is `rampart serve` running?)", sock.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        request(s, method, path, Some(&token), body)
    }
}

/// Run `rampart approvals …`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        Command::List { json } => {
            let r = args.call("GET", "/v1/approvals", None)?;
            if r.status != 200 {
                bail!("daemon answered {}: {}", r.status, r.body.trim());
            }
            if *json {
                println!("{}", r.body.trim());
                return Ok(ExitCode::SUCCESS);
            }
            let v: serde_json::Value = serde_json::from_str(&r.body)?;
            let items = v["approvals"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                println!("no approvals");
            }
            for a in items {
                let s = |k: &str| a[k].as_str().unwrap_or("").to_string();
                let cmd: String = s("command")
                    .chars()
                    .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                    .collect();
                println!(
                    "{}  {:<8} {} {}/{}  {}  ({})",
                    s("id"),
                    s("status"),
                    s("tool"),
                    s("agent"),
                    s("session"),
                    cmd,
                    s("message")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Allow { id } | Command::Deny { id } => {
            let approved = matches!(args.command, Command::Allow { .. });
            let body = serde_json::json!({"approved": approved, "resolved_by": "cli"}).to_string();
            let r = args.call("POST", &format!("/v1/approvals/{id}/resolve"), Some(&body))?;
            if r.status == 200 {
                println!("{id}: {}", if approved { "approved" } else { "denied" });
                Ok(ExitCode::SUCCESS)
            } else {
                let msg = serde_json::from_str::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_string))
                    .unwrap_or_else(|| r.body.trim().to_string());
                eprintln!("rampart: {id}: {msg} (HTTP {})", r.status);
                Ok(ExitCode::from(1))
            }
        }
    }
}
