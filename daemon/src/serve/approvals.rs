//! Pending approvals for `ask` decisions.
//!
//! An enforced `ask` creates (or joins, when an identical call is already pending) an
//! approval with a ULID id. A `wait:true` preflight is held until an operator resolves
//! it or the ask timeout passes. Without `wait` the caller is answered at once (not
//! allowed); once approved, the next identical call consumes the approval exactly once.
//!
//! Self-approval is refused: the resolving process may not be the asking process,
//! one of its descendants, or a process running in the same preload session
//! (`RAMPART_SESSION` in its environment).

use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Approval state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for an operator.
    Pending,
    /// Approved.
    Approved,
    /// Denied.
    Denied,
    /// Nobody answered in time.
    Expired,
}

impl Status {
    /// The name as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::Expired => "expired",
        }
    }
}

/// What identifies "the same call" (tool, agent, session, command).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// Tool.
    pub tool: String,
    /// Agent.
    pub agent: String,
    /// Session.
    pub session: String,
    /// Exact command (or path/url) the decision was about.
    pub subject: String,
}

/// What is shown to operators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalView {
    /// ULID.
    pub id: String,
    /// Tool.
    pub tool: String,
    /// Command (redacted).
    pub command: String,
    /// Agent.
    pub agent: String,
    /// Session.
    pub session: String,
    /// The rule's message.
    pub message: String,
    /// Deciding policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Status.
    pub status: Status,
    /// Asking process (Unix peer pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester_pid: Option<i32>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// RFC 3339, once resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    /// Who resolved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
}

struct Item {
    view: ApprovalView,
    fp: Fingerprint,
    expires: SystemTime,
    resolved: Option<SystemTime>,
    consumed: bool,
    tx: watch::Sender<Status>,
}

/// Why a resolution was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// No such approval.
    NotFound,
    /// Already approved, denied or expired.
    AlreadyResolved(Status),
    /// The resolver is the asker (or runs inside its session).
    SelfApproval(String),
}

/// Details of a new ask.
pub struct NewAsk {
    /// Fingerprint.
    pub fp: Fingerprint,
    /// Redacted command for display.
    pub command: String,
    /// Rule message.
    pub message: String,
    /// Policy.
    pub policy: Option<String>,
    /// Asking pid.
    pub requester_pid: Option<i32>,
}

/// The approval store.
pub struct Approvals {
    items: Mutex<HashMap<String, Item>>,
    timeout: Duration,
}

/// How long resolved approvals stay listed.
const KEEP_RESOLVED: Duration = Duration::from_secs(600);
/// Hard cap on stored approvals.
const MAX_ITEMS: usize = 1000;

fn ts(t: SystemTime) -> String {
    crate::audit::event::rfc3339_nano(t)
}

impl Approvals {
    /// A store whose approvals expire after `timeout`.
    pub fn new(timeout: Duration) -> Approvals {
        Approvals {
            items: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Item>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sweep(items: &mut HashMap<String, Item>, now: SystemTime) {
        for it in items.values_mut() {
            if it.view.status == Status::Pending && now >= it.expires {
                it.view.status = Status::Expired;
                it.resolved = Some(now);
                it.view.resolved_at = Some(ts(now));
                it.view.resolved_by = Some("timeout".into());
                let _ = it.tx.send(Status::Expired);
            }
        }
        items.retain(|_, it| {
            it.resolved
                .is_none_or(|r| now.duration_since(r).unwrap_or_default() < KEEP_RESOLVED)
        });
    }

    /// Consume an approved, unused, unexpired approval of the same call, if any.
    pub fn take_grant(&self, fp: &Fingerprint) -> Option<String> {
        let now = SystemTime::now();
        let mut items = self.lock();
        Self::sweep(&mut items, now);
        let it = items.values_mut().find(|it| {
            it.fp == *fp
                && it.view.status == Status::Approved
                && !it.consumed
                && it
                    .resolved
                    .is_some_and(|r| now.duration_since(r).unwrap_or_default() < self.timeout)
        })?;
        it.consumed = true;
        Some(it.view.id.clone())
    }

    /// Create an approval, or join an identical pending one. Returns its id and a
    /// receiver that changes when it is resolved. `None` when the store is full.
    pub fn ask(&self, ask: NewAsk) -> Option<(String, watch::Receiver<Status>, bool)> {
        let now = SystemTime::now();
        let mut items = self.lock();
        Self::sweep(&mut items, now);
        if let Some(it) = items
            .values()
            .find(|it| it.fp == ask.fp && it.view.status == Status::Pending)
        {
            return Some((it.view.id.clone(), it.tx.subscribe(), false));
        }
        if items.len() >= MAX_ITEMS {
            return None;
        }
        let id = ulid::Ulid::new().to_string();
        let expires = now + self.timeout;
        let (tx, rx) = watch::channel(Status::Pending);
        let view = ApprovalView {
            id: id.clone(),
            tool: ask.fp.tool.clone(),
            command: ask.command,
            agent: ask.fp.agent.clone(),
            session: ask.fp.session.clone(),
            message: ask.message,
            policy: ask.policy,
            status: Status::Pending,
            requester_pid: ask.requester_pid,
            created_at: ts(now),
            expires_at: ts(expires),
            resolved_at: None,
            resolved_by: None,
        };
        items.insert(
            id.clone(),
            Item {
                view,
                fp: ask.fp,
                expires,
                resolved: None,
                consumed: false,
                tx,
            },
        );
        Some((id, rx, true))
    }

    /// Mark an approval as used by the waiter it was approved for.
    pub fn consume(&self, id: &str) {
        if let Some(it) = self.lock().get_mut(id) {
            it.consumed = true;
        }
    }

    /// Expire a pending approval now (its waiter timed out).
    pub fn expire(&self, id: &str) -> Status {
        let now = SystemTime::now();
        let mut items = self.lock();
        match items.get_mut(id) {
            Some(it) if it.view.status == Status::Pending => {
                it.view.status = Status::Expired;
                it.resolved = Some(now);
                it.view.resolved_at = Some(ts(now));
                it.view.resolved_by = Some("timeout".into());
                let _ = it.tx.send(Status::Expired);
                Status::Expired
            }
            Some(it) => it.view.status,
            None => Status::Expired,
        }
    }

    /// Resolve an approval. `resolver_pid` is the resolving connection's peer pid.
    pub fn resolve(
        &self,
        id: &str,
        approved: bool,
        resolved_by: &str,
        resolver_pid: Option<i32>,
    ) -> Result<ApprovalView, ResolveError> {
        let now = SystemTime::now();
        let mut items = self.lock();
        Self::sweep(&mut items, now);
        let it = items.get_mut(id).ok_or(ResolveError::NotFound)?;
        if it.view.status != Status::Pending {
            return Err(ResolveError::AlreadyResolved(it.view.status));
        }
        if let Some(why) = self_approval(resolver_pid, it.view.requester_pid, &it.fp.session) {
            return Err(ResolveError::SelfApproval(why));
        }
        let status = if approved {
            Status::Approved
        } else {
            Status::Denied
        };
        it.view.status = status;
        it.resolved = Some(now);
        it.view.resolved_at = Some(ts(now));
        it.view.resolved_by = Some(resolved_by.to_string());
        let _ = it.tx.send(status);
        Ok(it.view.clone())
    }

    /// Who resolved an approval, if it is resolved.
    pub fn resolved_by(&self, id: &str) -> Option<String> {
        self.lock().get(id).and_then(|i| i.view.resolved_by.clone())
    }

    /// Every listed approval, oldest first.
    pub fn list(&self) -> Vec<ApprovalView> {
        let mut items = self.lock();
        Self::sweep(&mut items, SystemTime::now());
        let mut v: Vec<ApprovalView> = items.values().map(|i| i.view.clone()).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Pending approvals.
    pub fn pending(&self) -> usize {
        self.lock()
            .values()
            .filter(|i| i.view.status == Status::Pending)
            .count()
    }

    /// Deny everything pending (shutdown), releasing waiters.
    pub fn deny_all_pending(&self, by: &str) {
        let now = SystemTime::now();
        for it in self.lock().values_mut() {
            if it.view.status == Status::Pending {
                it.view.status = Status::Denied;
                it.resolved = Some(now);
                it.view.resolved_at = Some(ts(now));
                it.view.resolved_by = Some(by.into());
                let _ = it.tx.send(Status::Denied);
            }
        }
    }
}

/// Parent pid from `/proc/<pid>/stat` (field after the command name).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Why `resolver` may not resolve an approval asked by `requester`, if it may not.
pub fn self_approval(
    resolver: Option<i32>,
    requester: Option<i32>,
    session: &str,
) -> Option<String> {
    let r = resolver?;
    if let Some(q) = requester {
        if r == q {
            return Some("the asking process cannot approve its own request".into());
        }
        let mut p = r;
        for _ in 0..128 {
            match parent_of(p) {
                Some(pp) if pp == q => {
                    return Some(
                        "a descendant of the asking process cannot approve its request".into(),
                    )
                }
                Some(pp) if pp > 1 => p = pp,
                _ => break,
            }
        }
    }
    if !session.is_empty() {
        if let Ok(env) = std::fs::read(format!("/proc/{r}/environ")) {
            let needle = format!("RAMPART_SESSION={session}");
            if env.split(|&b| b == 0).any(|e| e == needle.as_bytes()) {
                return Some(
                    "a process inside the asking agent's session cannot approve its request".into(),
                );
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(cmd: &str) -> Fingerprint {
        Fingerprint {
            tool: "exec".into(),
            agent: "a".into(),
            session: "s".into(),
            subject: cmd.into(),
        }
    }

    fn ask(a: &Approvals, cmd: &str, pid: Option<i32>) -> (String, watch::Receiver<Status>, bool) {
        a.ask(NewAsk {
            fp: fp(cmd),
            command: cmd.into(),
            message: "m".into(),
            policy: None,
            requester_pid: pid,
        })
        .unwrap()
    }

    #[test]
    fn identical_pending_asks_share_one_approval() {
        let a = Approvals::new(Duration::from_secs(60));
        let (id1, _, new1) = ask(&a, "x", None);
        let (id2, _, new2) = ask(&a, "x", None);
        let (id3, _, _) = ask(&a, "y", None);
        assert_eq!(id1, id2);
        assert!(new1 && !new2);
        assert_ne!(id1, id3);
        assert_eq!(a.pending(), 2);
    }

    #[test]
    fn resolve_twice_reports_already_resolved_and_unknown_is_not_found() {
        let a = Approvals::new(Duration::from_secs(60));
        let (id, rx, _) = ask(&a, "x", None);
        assert_eq!(
            a.resolve(&id, true, "t", None).unwrap().status,
            Status::Approved
        );
        assert_eq!(*rx.borrow(), Status::Approved);
        assert_eq!(
            a.resolve(&id, false, "t", None),
            Err(ResolveError::AlreadyResolved(Status::Approved))
        );
        assert_eq!(
            a.resolve("nope", true, "t", None),
            Err(ResolveError::NotFound)
        );
    }

    #[test]
    fn approved_grant_is_consumed_exactly_once() {
        let a = Approvals::new(Duration::from_secs(60));
        let (id, _, _) = ask(&a, "x", None);
        assert_eq!(a.take_grant(&fp("x")), None);
        a.resolve(&id, true, "t", None).unwrap();
        assert_eq!(a.take_grant(&fp("y")), None);
        assert_eq!(a.take_grant(&fp("x")), Some(id));
        assert_eq!(a.take_grant(&fp("x")), None);
    }

    #[test]
    fn the_asking_process_and_its_children_cannot_approve() {
        let a = Approvals::new(Duration::from_secs(60));
        let me = std::process::id() as i32;
        let (id, _, _) = ask(&a, "x", Some(me));
        assert!(matches!(
            a.resolve(&id, true, "t", Some(me)),
            Err(ResolveError::SelfApproval(_))
        ));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let r = a.resolve(&id, true, "t", Some(child.id() as i32));
        let _ = child.kill();
        let _ = child.wait();
        assert!(matches!(r, Err(ResolveError::SelfApproval(_))), "{r:?}");
        assert_eq!(a.pending(), 1);
    }

    #[test]
    fn expire_releases_waiters() {
        let a = Approvals::new(Duration::from_secs(60));
        let (id, rx, _) = ask(&a, "x", None);
        assert_eq!(a.expire(&id), Status::Expired);
        assert_eq!(*rx.borrow(), Status::Expired);
        assert_eq!(a.pending(), 0);
    }
}
