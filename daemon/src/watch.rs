//! `rampart watch`: a live terminal view of decisions and pending approvals.
//!
//! - Decisions: the audit directory is tailed (the last events of the chain files,
//!   then new lines as they are written, following rotation into new files), newest
//!   first, colour-coded by action, with policy and message; counts per action.
//! - Approvals: `GET /v1/approvals` over the daemon's socket once a second; the
//!   pending ones are listed and the selected one is approved with `a` or denied with
//!   `d` (`POST /v1/approvals/{id}/resolve`, which needs the admin token from
//!   `$RAMPART_TOKEN` or the token file).
//! - Keys: `↑`/`↓` (or `k`/`j`) select an approval, `a` approve, `d` deny, `q`/`Esc`
//!   quit.
//!
//! Recorded text is shown with control characters replaced, so a hostile command
//! line cannot drive the terminal.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph};
use ratatui::Frame;
use serde_json::Value;

use crate::audit::chain;

/// Most decisions kept on screen.
const KEEP: usize = 1000;

/// `rampart watch`.
#[derive(clap::Args)]
pub struct Args {
    /// Daemon socket (default: as `rampart serve`).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Audit directory (default: ~/.rampart/audit).
    #[arg(long = "audit-dir", value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,
    /// Admin token file, for approving and denying (default: ~/.rampart/token;
    /// $RAMPART_TOKEN wins).
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// How many past decisions to show at start.
    #[arg(short = 'n', long, default_value_t = 100)]
    pub lines: usize,
}

/// One decision line.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `HH:MM:SS` (UTC).
    pub time: String,
    /// Action answered.
    pub action: String,
    /// Tool.
    pub tool: String,
    /// `agent/session`.
    pub who: String,
    /// Command, path or URL.
    pub subject: String,
    /// Deciding policy.
    pub policy: String,
    /// Rule message.
    pub message: String,
    /// Event kind (`approval_resolved`, ...); `None` for a policy decision.
    pub kind: Option<String>,
}

/// Control characters replaced.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// A decision row from one audit line; `None` for headers and unreadable lines.
pub fn parse_row(line: &[u8]) -> Option<Row> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let d = v.get("decision")?;
    let s = |x: &Value, p: &str| safe(x.pointer(p).and_then(Value::as_str).unwrap_or(""));
    let ts = s(&v, "/timestamp");
    let time = ts
        .split_once('T')
        .map(|(_, t)| t.chars().take(8).collect())
        .unwrap_or(ts);
    let subject = ["/request/command", "/request/path", "/request/url"]
        .iter()
        .map(|p| s(&v, p))
        .find(|x| !x.is_empty())
        .unwrap_or_default();
    let mut action = s(d, "/action");
    if let Some(orig) = d.get("policy_decision").and_then(Value::as_str) {
        action = format!("{action} ({})", safe(orig));
    }
    let kind = v.get("kind").and_then(Value::as_str).map(safe);
    if let Some(k) = &kind {
        action = format!("{action} [{k}]");
    }
    Some(Row {
        time,
        action,
        tool: s(&v, "/tool"),
        who: format!("{}/{}", s(&v, "/agent"), s(&v, "/session")),
        subject,
        policy: s(d, "/policy"),
        message: s(d, "/message"),
        kind,
    })
}

/// Follows the chain files of an audit directory.
pub struct Tail {
    dir: PathBuf,
    current: Option<PathBuf>,
    pos: u64,
    partial: Vec<u8>,
}

impl Tail {
    /// Start at the end of the newest file; returns the last `n` decisions before it.
    pub fn open(dir: &Path, n: usize) -> std::io::Result<(Tail, Vec<Row>)> {
        let files = list(dir);
        let mut rows: VecDeque<Row> = VecDeque::new();
        for (_, p) in files.iter().rev() {
            let text = std::fs::read(p)?;
            for line in text.split(|b| *b == b'\n').rev() {
                if rows.len() >= n {
                    break;
                }
                if let Some(r) = parse_row(line) {
                    rows.push_front(r);
                }
            }
            if rows.len() >= n {
                break;
            }
        }
        let current = files.last().map(|(_, p)| p.clone());
        let pos = match &current {
            Some(p) => std::fs::metadata(p)?.len(),
            None => 0,
        };
        Ok((
            Tail {
                dir: dir.to_path_buf(),
                current,
                pos,
                partial: Vec::new(),
            },
            rows.into(),
        ))
    }

    /// Decisions written since the last call, oldest first.
    pub fn poll(&mut self) -> std::io::Result<Vec<Row>> {
        let files = list(&self.dir);
        let start = match &self.current {
            Some(c) => files.iter().position(|(_, p)| p == c).unwrap_or(0),
            None => 0,
        };
        let mut rows = Vec::new();
        for (i, (_, p)) in files.iter().enumerate().skip(start) {
            let from = if i == start && self.current.as_ref() == Some(p) {
                self.pos
            } else {
                self.partial.clear();
                0
            };
            let mut f = std::fs::File::open(p)?;
            f.seek(SeekFrom::Start(from))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            self.current = Some(p.clone());
            self.pos = from + buf.len() as u64;
            self.partial.extend_from_slice(&buf);
            while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=i).collect();
                if let Some(r) = parse_row(&line[..line.len() - 1]) {
                    rows.push(r);
                }
            }
        }
        Ok(rows)
    }
}

fn list(dir: &Path) -> Vec<(chain::ChainName, PathBuf)> {
    chain::list_chain_files(dir).unwrap_or_default()
}

/// A pending approval.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    id: String,
    tool: String,
    command: String,
    who: String,
    message: String,
    policy: String,
}

struct App {
    socket: PathBuf,
    audit_dir: PathBuf,
    token_file: Option<PathBuf>,
    rows: VecDeque<Row>,
    counts: BTreeMap<String, usize>,
    pending: Vec<Pending>,
    selected: ListState,
    daemon: Result<String, String>,
    status: String,
}

impl App {
    fn add(&mut self, rows: Vec<Row>) {
        for r in rows {
            // Policy decisions only: resolutions of an `ask` are not decisions again.
            if r.kind.is_none() {
                let base = r.action.split(' ').next().unwrap_or("").to_string();
                *self.counts.entry(base).or_default() += 1;
            }
            self.rows.push_front(r);
        }
        self.rows.truncate(KEEP);
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> anyhow::Result<Value> {
        let s = UnixStream::connect(&self.socket)
            .with_context(|| format!("connect {}", self.socket.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.set_write_timeout(Some(Duration::from_secs(3)))?;
        let r = crate::approvals_cmd::request(s, method, path, token, body)?;
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        if r.status != 200 {
            let msg = v["error"].as_str().unwrap_or(r.body.trim()).to_string();
            anyhow::bail!("HTTP {}: {msg}", r.status);
        }
        Ok(v)
    }

    fn refresh_daemon(&mut self) {
        self.daemon = self
            .call("GET", "/healthz", None, None)
            .map(|v| v["mode"].as_str().unwrap_or("?").to_string())
            .map_err(|e| format!("{e:#}"));
        if self.daemon.is_err() {
            self.pending.clear();
            return;
        }
        match self.call("GET", "/v1/approvals", None, None) {
            Ok(v) => {
                let keep = self.selected_id();
                self.pending = v["approvals"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter(|a| a["status"] == "pending")
                    .map(|a| {
                        let s = |k: &str| safe(a[k].as_str().unwrap_or(""));
                        Pending {
                            id: s("id"),
                            tool: s("tool"),
                            command: s("command"),
                            who: format!("{}/{}", s("agent"), s("session")),
                            message: s("message"),
                            policy: s("policy"),
                        }
                    })
                    .collect();
                let idx = keep
                    .and_then(|id| self.pending.iter().position(|p| p.id == id))
                    .or((!self.pending.is_empty()).then_some(0));
                self.selected.select(idx);
            }
            Err(e) => self.status = format!("approvals: {e:#}"),
        }
    }

    fn selected_id(&self) -> Option<String> {
        self.selected
            .selected()
            .and_then(|i| self.pending.get(i))
            .map(|p| p.id.clone())
    }

    fn move_selection(&mut self, down: bool) {
        if self.pending.is_empty() {
            return;
        }
        let i = self.selected.selected().unwrap_or(0);
        let n = self.pending.len();
        self.selected
            .select(Some(if down { (i + 1) % n } else { (i + n - 1) % n }));
    }

    fn resolve(&mut self, approved: bool) {
        let Some(id) = self.selected_id() else {
            self.status = "no pending approval selected".into();
            return;
        };
        let token = match crate::token::resolve_existing(self.token_file.as_deref()) {
            Ok(t) => t,
            Err(e) => {
                self.status = format!("cannot resolve without the admin token: {e}");
                return;
            }
        };
        let body = serde_json::json!({"approved": approved, "resolved_by": "watch"}).to_string();
        let verb = if approved { "approved" } else { "denied" };
        self.status = match self.call(
            "POST",
            &format!("/v1/approvals/{id}/resolve"),
            Some(&token),
            Some(&body),
        ) {
            Ok(_) => format!("{id} {verb}"),
            Err(e) => format!("{id}: {e:#}"),
        };
        self.refresh_daemon();
    }
}

fn action_color(action: &str) -> Color {
    match action.split(' ').next().unwrap_or("") {
        "allow" => Color::Green,
        "deny" => Color::Red,
        "ask" => Color::Yellow,
        "watch" => Color::Cyan,
        "webhook" => Color::Magenta,
        _ => Color::Gray,
    }
}

fn draw(f: &mut Frame, app: &mut App) {
    let [head, body, approvals, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(5),
        Constraint::Length(8),
        Constraint::Length(1),
    ])
    .areas(f.area());

    let daemon = match &app.daemon {
        Ok(mode) => Span::styled(
            format!("daemon {} (mode {mode})", app.socket.display()),
            Style::default().fg(if mode == "enforce" {
                Color::Green
            } else {
                Color::Yellow
            }),
        ),
        Err(e) => Span::styled(
            format!("daemon unreachable: {e}"),
            Style::default().fg(Color::Red),
        ),
    };
    let mut counts = vec![Span::raw("decisions: ")];
    for a in ["allow", "deny", "ask", "watch", "webhook"] {
        counts.push(Span::styled(
            format!("{a} {}  ", app.counts.get(a).copied().unwrap_or(0)),
            Style::default().fg(action_color(a)),
        ));
    }
    counts.push(Span::raw(format!("(audit {})", app.audit_dir.display())));
    f.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                Span::styled(
                    "rampart watch  ",
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                daemon,
            ]),
            Line::from(counts),
        ]),
        head,
    );

    let items: Vec<ListItem> = app
        .rows
        .iter()
        .map(|r| {
            ListItem::new(Line::from(vec![
                Span::raw(format!("{} ", r.time)),
                Span::styled(
                    format!("{:<7} ", r.action),
                    Style::default().fg(action_color(&r.action)),
                ),
                Span::raw(format!("{:<5} {}  ", r.tool, r.subject)),
                Span::styled(
                    format!(
                        "{}{}{}  {}",
                        r.policy,
                        if r.policy.is_empty() { "" } else { ": " },
                        r.message,
                        r.who
                    ),
                    Style::default().fg(Color::DarkGray),
                ),
            ]))
        })
        .collect();
    f.render_widget(
        List::new(items).block(
            Block::default()
                .borders(Borders::TOP)
                .title("recent decisions (newest first)"),
        ),
        body,
    );

    let items: Vec<ListItem> = app
        .pending
        .iter()
        .map(|p| {
            ListItem::new(Line::from(vec![
                Span::styled(format!("{} ", p.id), Style::default().fg(Color::Yellow)),
                Span::raw(format!("{} {}  ", p.tool, p.command)),
                Span::styled(
                    format!("{}: {}  {}", p.policy, p.message, p.who),
                    Style::default().fg(Color::DarkGray),
                ),
            ]))
        })
        .collect();
    let title = format!("pending approvals: {}", app.pending.len());
    f.render_stateful_widget(
        List::new(items)
            .block(Block::default().borders(Borders::TOP).title(title))
            .highlight_symbol("> ")
            .highlight_style(Style::default().add_modifier(Modifier::REVERSED)),
        approvals,
        &mut app.selected,
    );

    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                "a approve  d deny  ↑/↓ select  q quit  ",
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(app.status.clone()),
        ])),
        foot,
    );
}

/// Run `rampart watch`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let audit_dir = args.audit_dir.unwrap_or_else(crate::audit::default_dir);
    let (mut tail, initial) = Tail::open(&audit_dir, args.lines)
        .with_context(|| format!("read audit directory {}", audit_dir.display()))?;
    let mut app = App {
        socket: args
            .socket
            .unwrap_or_else(crate::serve::config::default_socket_path),
        audit_dir,
        token_file: args.token_file,
        rows: VecDeque::new(),
        counts: BTreeMap::new(),
        pending: Vec::new(),
        selected: ListState::default(),
        daemon: Err("not asked yet".into()),
        status: String::new(),
    };
    app.add(initial);
    app.refresh_daemon();

    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let result = event_loop(&mut terminal, &mut app, &mut tail);
    ratatui::try_restore().context("cannot restore the terminal")?;
    result?;
    Ok(ExitCode::SUCCESS)
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    tail: &mut Tail,
) -> anyhow::Result<()> {
    let mut last_refresh = Instant::now();
    loop {
        terminal.draw(|f| draw(f, app))?;
        if event::poll(Duration::from_millis(200))? {
            if let Event::Key(k) = event::read()? {
                if k.kind != KeyEventKind::Press {
                    continue;
                }
                match k.code {
                    KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Ok(())
                    }
                    KeyCode::Char('a') => app.resolve(true),
                    KeyCode::Char('d') => app.resolve(false),
                    KeyCode::Down | KeyCode::Char('j') => app.move_selection(true),
                    KeyCode::Up | KeyCode::Char('k') => app.move_selection(false),
                    _ => {}
                }
            }
        }
        match tail.poll() {
            Ok(rows) => app.add(rows),
            Err(e) => app.status = format!("audit: {e}"),
        }
        if last_refresh.elapsed() >= Duration::from_secs(1) {
            app.refresh_daemon();
            last_refresh = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_monitor_originals_kinds_and_scrub_controls() {
        let line = br#"{"timestamp":"2026-01-02T03:04:05.6Z","tool":"exec","agent":"a","session":"s","request":{"command":"ls\u001b[2J"},"decision":{"action":"allow","policy_decision":"deny","policy":"p","message":"m"}}"#;
        let r = parse_row(line).unwrap();
        assert_eq!(r.time, "03:04:05");
        assert_eq!(r.action, "allow (deny)");
        assert_eq!(r.subject, "ls\u{fffd}[2J");
        assert_eq!(r.who, "a/s");
        assert!(parse_row(br#"{"chain_continue":"x","prev_file":"y"}"#).is_none());
    }

    #[test]
    fn tail_follows_appends_and_rotation_into_new_files() {
        let tmp = tempfile::tempdir().unwrap();
        let ev = |cmd: &str| {
            format!(
                r#"{{"timestamp":"2026-01-02T00:00:00Z","tool":"exec","agent":"","session":"","request":{{"command":"{cmd}"}},"decision":{{"action":"allow"}}}}"#
            ) + "\n"
        };
        let f1 = tmp.path().join("2026-01-02.jsonl");
        std::fs::write(&f1, ev("one") + &ev("two")).unwrap();
        let (mut t, rows) = Tail::open(tmp.path(), 1).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].subject, "two");
        assert!(t.poll().unwrap().is_empty());
        let mut f = std::fs::OpenOptions::new().append(true).open(&f1).unwrap();
        std::io::Write::write_all(&mut f, ev("three").as_bytes()).unwrap();
        // Half a line is held back until its newline arrives.
        std::io::Write::write_all(&mut f, b"{\"timestamp\"").unwrap();
        let got: Vec<String> = t.poll().unwrap().into_iter().map(|r| r.subject).collect();
        assert_eq!(got, ["three"]);
        std::io::Write::write_all(&mut f, &ev("four").as_bytes()[12..]).unwrap();
        std::fs::write(
            tmp.path().join("2026-01-02.p1.jsonl"),
            r#"{"chain_continue":"h","prev_file":"2026-01-02.jsonl"}"#.to_string()
                + "\n"
                + &ev("five"),
        )
        .unwrap();
        let got: Vec<String> = t.poll().unwrap().into_iter().map(|r| r.subject).collect();
        assert_eq!(got, ["four", "five"]);
    }
}
