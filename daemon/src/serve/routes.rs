//! The HTTP API (identical on the Unix socket and loopback TCP).
//!
//! - `POST /v1/preflight/{tool}`: decide (always 200 for an evaluated call);
//! - `GET /healthz` (no auth);
//! - `GET /v1/approvals`, `GET /v1/approvals/{id}`, `POST /v1/approvals/{id}/resolve`;
//! - `POST /v1/policy/reload` (admin, at most once a second);
//! - `GET /metrics` (Prometheus text).
//!
//! Errors are `{"error":"…"}` with a 4xx/5xx status.

// Guards return the finished error response; boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use super::approvals::{Fingerprint, NewAsk, ResolveError, Status};
use super::auth::ConnInfo;
use super::config::{AuditFailure, Mode};
use super::interim::Interim;
use super::preflight;
use super::AppState;
use crate::audit::event::{EventBody, EventDecision};
use crate::audit::redact;
use crate::audit::writer::FsyncPolicy;
use crate::json_writer::{Escaping, JsonWriter};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest accepted request body.
pub const MAX_BODY: usize = 64 * 1024;
/// Time allowed to receive a body once headers arrived.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

type St = State<Arc<AppState>>;

/// Build the router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/preflight/{tool}", post(preflight_route))
        .route("/v1/approvals", get(list_approvals))
        .route("/v1/approvals/{id}", get(get_approval))
        .route("/v1/approvals/{id}/resolve", post(resolve_approval))
        .route("/v1/policy/reload", post(reload_route))
        .route("/metrics", get(metrics_route))
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "no such route") })
        .with_state(state)
}

/// `{"error": msg}` with a status.
pub fn json_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({ "error": msg.into() }))).into_response()
}

fn bad_request(st: &AppState, msg: impl Into<String>) -> Response {
    st.metrics.bad_requests.fetch_add(1, Relaxed);
    json_error(StatusCode::BAD_REQUEST, msg)
}

/// Admin check: the bearer token must match.
fn require_admin(st: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    st.token.check(headers).map_err(|e| {
        st.metrics.auth_failures.fetch_add(1, Relaxed);
        json_error(StatusCode::UNAUTHORIZED, e.message())
    })
}

/// Read routes: token needed over TCP only.
fn require_reader(st: &AppState, conn: &ConnInfo, headers: &HeaderMap) -> Result<(), Response> {
    if conn.is_tcp() {
        require_admin(st, headers)
    } else {
        Ok(())
    }
}

async fn read_body(st: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        st.metrics.bad_requests.fetch_add(1, Relaxed);
        return Err(json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds {MAX_BODY} bytes"),
        ));
    }
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => {
            st.metrics.bad_requests.fetch_add(1, Relaxed);
            let too_big = std::error::Error::source(&e)
                .is_some_and(|s| s.to_string().contains("length limit"))
                || e.to_string().contains("length limit");
            Err(if too_big {
                json_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body exceeds {MAX_BODY} bytes"),
                )
            } else {
                json_error(StatusCode::BAD_REQUEST, format!("cannot read body: {e}"))
            })
        }
        Err(_) => Err(json_error(
            StatusCode::REQUEST_TIMEOUT,
            "request body not received in time",
        )),
    }
}

/// Preflight answer (spec §5.2 plus `policy`, `rule`, `matched_component`),
/// written by [`PreflightResponse::to_json`]; the derived `Serialize` is the
/// tests' reference for it.
#[derive(Debug, Serialize)]
struct PreflightResponse {
    allowed: bool,
    decision: String,
    message: String,
    matched_policies: Option<engine::NameList>,
    eval_duration_us: u64,
    enforced: bool,
    enforcement_requested: bool,
    audit_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_decision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_message: Option<String>,
    policy: Option<String>,
    rule: Option<engine::decision::RuleRef>,
    matched_component: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_status: Option<Status>,
    /// How a human can allow the call (`rampart allow ...`, or which policy to edit);
    /// only for calls that were not allowed, and only when non-empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suggestions: Vec<String>,
}

impl PreflightResponse {
    /// The answer's JSON: the derived encoding's keys, order and omissions
    /// (`null` for absent values unless skipped), written by hand: this runs for
    /// every exec, and serde's generic code is large and cold between launches.
    fn to_json(&self) -> Vec<u8> {
        let mut w = JsonWriter::new(Escaping::Json, 512);
        w.raw(b"{\"allowed\":");
        w.bool(self.allowed);
        w.string_field("decision", &self.decision);
        w.string_field("message", &self.message);
        w.key("matched_policies");
        match &self.matched_policies {
            Some(names) => w.strings(names),
            None => w.raw(b"null"),
        }
        w.key("eval_duration_us");
        w.unsigned(self.eval_duration_us);
        w.key("enforced");
        w.bool(self.enforced);
        w.key("enforcement_requested");
        w.bool(self.enforcement_requested);
        w.key("audit_id");
        w.opt_string(self.audit_id.as_deref());
        w.opt_string_field("policy_decision", self.policy_decision.as_deref());
        w.opt_string_field("policy_message", self.policy_message.as_deref());
        w.key("policy");
        w.opt_string(self.policy.as_deref());
        w.key("rule");
        match &self.rule {
            Some(r) => {
                w.raw(b"{\"index\":");
                w.unsigned(r.index as u64);
                w.string_field("summary", &r.summary);
                w.byte(b'}');
            }
            None => w.raw(b"null"),
        }
        w.key("matched_component");
        w.opt_string(self.matched_component.as_deref());
        w.opt_string_field("approval_id", self.approval_id.as_deref());
        w.opt_string_field("approval_status", self.approval_status.map(Status::as_str));
        if !self.suggestions.is_empty() {
            w.key("suggestions");
            w.strings(&self.suggestions);
        }
        w.byte(b'}');
        w.into_bytes()
    }
}

/// The deciding rule as the audit line carries it: `{"index", "summary"}`.
fn rule_value(r: engine::decision::RuleRef) -> Value {
    let mut m = Map::new();
    m.insert("index".into(), Value::from(r.index));
    m.insert("summary".into(), Value::String(r.summary));
    Value::Object(m)
}

fn scrub(s: &str) -> String {
    redact::scrub(s).into_owned()
}

/// [`scrub`] of a string the caller gives up: returned as it is when it holds
/// nothing to redact (most do), instead of copied.
fn scrub_owned(s: String) -> String {
    if let Cow::Owned(scrubbed) = redact::scrub(&s) {
        return scrubbed;
    }
    s
}

/// Write an audit event under the configured fsync policy.
async fn audit(st: &Arc<AppState>, body: EventBody) -> Result<String, String> {
    if st.fsync != FsyncPolicy::Always {
        return audit_now(st, body);
    }
    let st2 = Arc::clone(st);
    let r = tokio::task::spawn_blocking(move || st2.audit.append(body))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    audit_outcome(st, r)
}

/// Write an audit event on the calling thread.
fn audit_now(st: &AppState, body: EventBody) -> Result<String, String> {
    let r = st.audit.append(body).map_err(|e| e.to_string());
    audit_outcome(st, r)
}

fn audit_outcome(st: &AppState, r: Result<String, String>) -> Result<String, String> {
    match r {
        Ok(id) => Ok(id),
        Err(e) => {
            let n = st.metrics.audit_write_errors.fetch_add(1, Relaxed);
            if n < 10 || n.is_power_of_two() {
                eprintln!("rampart: audit write failed ({} so far): {e}", n + 1);
            }
            Err(e)
        }
    }
}

/// The answer when the audit record could not be written and policy says deny.
///
/// This is an evaluated refusal, so it is a 200 with `allowed:false`: preload clients
/// (ours and the original's) treat any 5xx as a transport failure and fail open, which
/// would turn `--audit-failure deny` into "allow, unrecorded".
fn audit_failed(e: &str) -> Response {
    (StatusCode::OK, Json(audit_failed_body(e))).into_response()
}

fn audit_failed_body(e: &str) -> Value {
    json!({
        "allowed": false,
        "decision": "deny",
        "message": format!("audit write failed, refusing unrecorded execution: {e}"),
        "policy": "rampart-audit",
        "error": format!("audit write failed: {e}"),
    })
}

/// The audit record of an evaluated call. What only the record needs is moved
/// out of `pf` and `d` instead of copied (the caller is done with them: the
/// audited params, agent, session, tool and command, the deciding policy, rule,
/// component and components); each string the answer still needs is copied
/// from `resp`.
fn event_body(
    pf: &mut preflight::Preflight,
    conn: &ConnInfo,
    resp: &PreflightResponse,
    d: &mut engine::Decision,
    mode: Mode,
    kind: Option<&str>,
) -> EventBody {
    let mut request = pf.take_audit_params();
    if let Some(c) = pf.command.take() {
        request.insert("command".into(), Value::String(c));
    }
    if pf.enforce {
        request.insert("enforce".into(), Value::Bool(true));
    }
    redact::redact_map(&mut request);
    let call = &mut pf.call;
    EventBody {
        kind: kind.map(str::to_string),
        agent: std::mem::take(&mut call.agent),
        session: std::mem::take(&mut call.session),
        tool: std::mem::take(&mut call.tool),
        request,
        peer: Some(conn.peer()),
        decision: EventDecision {
            // Monitor mode may have rewritten the decision the engine made.
            action: if resp.decision == d.action.as_str() {
                Cow::Borrowed(d.action.as_str())
            } else {
                Cow::Owned(resp.decision.clone())
            },
            matched_policies: std::mem::take(&mut d.matched_policies),
            evaluation_time_us: resp.eval_duration_us,
            // The answer's message is the engine's unless monitor mode rewrote it.
            message: if resp.message == d.message {
                scrub_owned(std::mem::take(&mut d.message))
            } else {
                scrub(&resp.message)
            },
            policy: d.policy.take(),
            rule: d.rule.take().map(rule_value),
            matched_component: d.matched_component.take().map(scrub_owned),
            components: std::mem::take(&mut d.components)
                .into_iter()
                .map(scrub_owned)
                .collect(),
            enforced: resp.enforced,
            mode: mode.as_str().into(),
            policy_decision: resp.policy_decision.clone(),
            approval_id: resp.approval_id.clone(),
        },
    }
}

/// A preflight request evaluated by the engine, not yet audited.
pub(super) struct Evaluated {
    pf: preflight::Preflight,
    d: engine::Decision,
    resp: PreflightResponse,
}

/// Why a preflight request was refused before evaluation.
pub(super) enum Refusal {
    /// 400 with this message.
    BadRequest(String),
    /// `verification` without the admin token: 403.
    VerificationForbidden,
}

impl Refusal {
    fn respond(self, st: &AppState) -> Response {
        match self {
            Refusal::BadRequest(e) => bad_request(st, e),
            Refusal::VerificationForbidden => {
                st.metrics.auth_failures.fetch_add(1, Relaxed);
                json_error(
                    StatusCode::FORBIDDEN,
                    "verification requires the admin token",
                )
            }
        }
    }
}

/// Parse and decide a preflight body (no side effects: nothing is counted or
/// audited yet, so a caller may drop the result and start again elsewhere).
pub(super) fn evaluate(
    st: &AppState,
    tool: &str,
    body: &[u8],
    headers: &HeaderMap,
) -> Result<Evaluated, Refusal> {
    preflight::validate_tool(tool).map_err(Refusal::BadRequest)?;
    let pf = preflight::parse(tool, body).map_err(Refusal::BadRequest)?;
    super::phases::mark(super::phases::Phase::BodyParsed);
    if pf.verification && st.token.check(headers).is_err() {
        return Err(Refusal::VerificationForbidden);
    }

    let engine = st.engine();
    let t0 = Instant::now();
    let d = if st.mode == Mode::Disabled {
        engine::Decision::early(engine::Action::Allow, "policy evaluation disabled")
    } else if pf.enforce {
        engine.enforce(&pf.call)
    } else {
        engine.evaluate(&pf.call)
    };
    let eval_us = t0.elapsed().as_micros() as u64;
    drop(engine);

    let mut resp = PreflightResponse {
        allowed: d.action.is_allowed(),
        decision: d.action.as_str().into(),
        message: d.message.clone(),
        matched_policies: (!d.matched_policies.is_empty()).then(|| d.matched_policies.clone()),
        eval_duration_us: eval_us,
        enforced: pf.enforce && st.mode == Mode::Enforce,
        enforcement_requested: pf.enforce,
        audit_id: None,
        policy_decision: None,
        policy_message: None,
        policy: d.policy.clone(),
        rule: d.rule.clone(),
        matched_component: d.matched_component.clone(),
        approval_id: None,
        approval_status: None,
        suggestions: Vec::new(),
    };

    if st.mode == Mode::Monitor && pf.enforce && !resp.allowed {
        let orig = std::mem::replace(&mut resp.decision, "allow".into());
        let msg = std::mem::take(&mut resp.message);
        resp.message = if msg.is_empty() {
            format!("monitor mode observed {orig}; action allowed")
        } else {
            format!("monitor mode observed {orig}; action allowed: {msg}")
        };
        resp.allowed = true;
        resp.policy_decision = Some(orig);
        resp.policy_message = Some(msg);
    }
    Ok(Evaluated { pf, d, resp })
}

impl Evaluated {
    /// The concluded answer's JSON in at most `max` bytes, for a client that
    /// reads it into a buffer of that size (the datagram lane): without the
    /// suggestions, then with its texts (message, policy message, rule summary,
    /// matched component) cut to ever shorter prefixes, marked with `…`. The
    /// decision itself, the policy and the audit id are never cut; the audit
    /// record keeps everything. Longer than `max` only when even that is.
    pub(super) fn answer_within(&mut self, max: usize) -> Vec<u8> {
        let resp = &mut self.resp;
        resp.suggestions.clear();
        let mut json = resp.to_json();
        for cap in [1024, 256, 64, 0] {
            if json.len() <= max {
                break;
            }
            shorten(&mut resp.message, cap);
            if let Some(m) = &mut resp.policy_message {
                shorten(m, cap);
            }
            if let Some(r) = &mut resp.rule {
                shorten(&mut r.summary, cap);
            }
            if let Some(c) = &mut resp.matched_component {
                shorten(c, cap);
            }
            json = resp.to_json();
        }
        json
    }

    /// The decision needs the approval queue (an `ask` being enforced): only the
    /// asynchronous route can hold the caller for a human.
    pub(super) fn needs_approval(&self, st: &AppState) -> bool {
        st.mode == Mode::Enforce
            && self.pf.enforce
            && self.d.action == engine::Action::Ask
            && !self.pf.verification
    }

    /// Add the suggestions of a call that was not allowed.
    fn suggest(&mut self, st: &AppState) {
        if self.resp.allowed {
            return;
        }
        let resp = &self.resp;
        let pending = (resp.approval_status == Some(Status::Pending))
            .then_some(resp.approval_id.as_deref())
            .flatten();
        let suggestions = super::hints::suggestions(
            &self.d,
            &super::hints::Subject {
                tool: &self.pf.call.tool,
                command: self.pf.call.params.get("command").and_then(Value::as_str),
                pending_approval: pending,
                layered_dir: st.reloader.layered_dir(),
            },
        );
        self.resp.suggestions = suggestions;
    }
}

/// Finish a decision that needs no human, on the calling thread: suggestions, the
/// audit record (written before the answer exists), metrics. Returns the JSON
/// answer (always status 200). The caller must not use it with `--fsync always`,
/// whose append waits for the disk (the asynchronous route moves that off the
/// runtime). `ev` is borrowed so that the caller can free it after answering;
/// the audit record moves out of it what the answer does not need (see
/// [`event_body`]).
pub(super) fn conclude_now(
    st: &AppState,
    conn: &ConnInfo,
    ev: &mut Evaluated,
    started: Instant,
) -> Vec<u8> {
    ev.suggest(st);
    if !ev.pf.verification && super::cost_probe::skipped() != super::cost_probe::Part::Audit {
        let body = event_body(&mut ev.pf, conn, &ev.resp, &mut ev.d, st.mode, None);
        match audit_now(st, body) {
            Ok(id) => ev.resp.audit_id = Some(id),
            Err(e) => {
                if st.audit_failure == AuditFailure::Deny {
                    return serde_json::to_vec(&audit_failed_body(&e)).unwrap_or_default();
                }
            }
        }
    }
    st.metrics
        .record_decision(&ev.resp.decision, started.elapsed().as_micros() as u64);
    ev.resp.to_json()
}

async fn preflight_route(
    State(st): St,
    Extension(conn): Extension<ConnInfo>,
    interim: Option<Extension<Interim>>,
    version: Version,
    Path(tool): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    if conn.is_tcp() {
        if let Err(r) = require_admin(&st, &headers) {
            return r;
        }
    }
    if let Err(e) = preflight::validate_tool(&tool) {
        return bad_request(&st, e);
    }
    let bytes = match read_body(&st, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut ev = match evaluate(&st, &tool, &bytes, &headers) {
        Ok(ev) => ev,
        Err(refusal) => return refusal.respond(&st),
    };

    let mut waited = Duration::ZERO;
    let mut kind = None;
    if ev.needs_approval(&st) {
        let Evaluated { pf, d, resp } = &mut ev;
        let subject = pf
            .command
            .clone()
            .or_else(|| pf.path.clone())
            .or_else(|| pf.url.clone())
            .unwrap_or_default();
        let fp = Fingerprint {
            tool: pf.call.tool.clone(),
            agent: pf.call.agent.clone(),
            session: pf.call.session.clone(),
            subject: subject.clone(),
        };
        if let Some(id) = st.approvals.take_grant(&fp) {
            resp.allowed = true;
            resp.decision = "allow".into();
            resp.message = format!("approved by an operator (approval {id})");
            resp.approval_id = Some(id);
            resp.approval_status = Some(Status::Approved);
        } else {
            match st.approvals.ask(NewAsk {
                fp,
                command: scrub(&subject),
                message: d.message.clone(),
                policy: d.policy.clone(),
                requester_pid: conn.pid(),
            }) {
                None => {
                    resp.message = format!("{} (approval queue full)", resp.message);
                }
                Some((id, mut rx, _new)) => {
                    resp.approval_id = Some(id.clone());
                    resp.approval_status = Some(Status::Pending);
                    if pf.wait {
                        // Record the ask before holding the caller.
                        // The call is audited again when it is resolved: this
                        // record takes copies.
                        let body =
                            event_body(&mut pf.clone(), &conn, resp, &mut d.clone(), st.mode, None);
                        if let Err(e) = audit(&st, body).await {
                            if st.audit_failure == AuditFailure::Deny {
                                return audit_failed(&e);
                            }
                        }
                        // Tell the client we are alive and waiting for a human.
                        if version == Version::HTTP_11 {
                            if let Some(Extension(i)) = &interim {
                                i.processing();
                            }
                        }
                        let w0 = Instant::now();
                        let r = tokio::time::timeout(
                            st.ask_timeout,
                            rx.wait_for(|s| *s != Status::Pending),
                        )
                        .await;
                        waited = w0.elapsed();
                        let status = match r {
                            Ok(Ok(s)) => *s,
                            _ => st.approvals.expire(&id),
                        };
                        resp.approval_status = Some(status);
                        kind = Some("approval_resolved");
                        match status {
                            Status::Approved => {
                                st.approvals.consume(&id);
                                resp.allowed = true;
                                resp.decision = "allow".into();
                                resp.message = format!("approved by an operator (approval {id})");
                            }
                            Status::Denied
                                if st.approvals.resolved_by(&id).as_deref() == Some("shutdown") =>
                            {
                                resp.decision = "deny".into();
                                resp.message =
                                    format!("approval {id} abandoned: the daemon is shutting down");
                            }
                            Status::Denied => {
                                resp.decision = "deny".into();
                                resp.message = format!("denied by an operator (approval {id})");
                            }
                            Status::Expired | Status::Pending => {
                                resp.decision = "deny".into();
                                resp.message = format!(
                                    "approval {id} timed out after {}s",
                                    st.ask_timeout.as_secs()
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    ev.suggest(&st);
    let Evaluated {
        mut pf,
        mut d,
        mut resp,
    } = ev;
    if !pf.verification {
        let body = event_body(&mut pf, &conn, &resp, &mut d, st.mode, kind);
        match audit(&st, body).await {
            Ok(id) => resp.audit_id = Some(id),
            Err(e) => {
                if st.audit_failure == AuditFailure::Deny {
                    return audit_failed(&e);
                }
            }
        }
    }
    let handling = started.elapsed().saturating_sub(waited);
    st.metrics
        .record_decision(&resp.decision, handling.as_micros() as u64);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        resp.to_json(),
    )
        .into_response()
}

async fn healthz(State(st): St) -> Response {
    Json(json!({
        "service": "rampart",
        "status": "ok",
        "mode": st.mode.as_str(),
        "uptime_seconds": st.started.elapsed().as_secs(),
        "version": env!("CARGO_PKG_VERSION"),
        "audit_write_errors": st.metrics.audit_write_errors.load(Relaxed),
        "audit_events": st.audit.event_count(),
        "pending_approvals": st.approvals.pending(),
    }))
    .into_response()
}

async fn list_approvals(
    State(st): St,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = require_reader(&st, &conn, &headers) {
        return r;
    }
    Json(json!({
        "approvals": st.approvals.list(),
        "run_groups": [],
        "run_grant_ttl_ms": 0,
    }))
    .into_response()
}

async fn get_approval(
    State(st): St,
    Extension(conn): Extension<ConnInfo>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = require_reader(&st, &conn, &headers) {
        return r;
    }
    match st.approvals.list().into_iter().find(|a| a.id == id) {
        Some(a) => Json(a).into_response(),
        None => json_error(StatusCode::NOT_FOUND, format!("no approval {id}")),
    }
}

async fn resolve_approval(
    State(st): St,
    Extension(conn): Extension<ConnInfo>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(r) = require_admin(&st, &headers) {
        return r;
    }
    let bytes = match read_body(&st, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let v: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return bad_request(&st, format!("invalid JSON body: {e}")),
    };
    let approved = match v.get("approved") {
        Some(Value::Bool(b)) => *b,
        Some(_) => return bad_request(&st, "field `approved`: expected a boolean"),
        None => return bad_request(&st, "missing field `approved`"),
    };
    let resolved_by = match v.get("resolved_by") {
        None | Some(Value::Null) => "api".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return bad_request(&st, "field `resolved_by`: expected a string"),
    };
    match v.get("persist") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            return bad_request(&st, "`persist` is not supported by this daemon")
        }
        Some(_) => return bad_request(&st, "field `persist`: expected a boolean"),
    }
    match st
        .approvals
        .resolve(&id, approved, &resolved_by, conn.pid())
    {
        Ok(view) => {
            let mut request = Map::new();
            request.insert("command".into(), Value::String(view.command.clone()));
            request.insert("resolved_by".into(), Value::String(resolved_by));
            let _ = audit(
                &st,
                EventBody {
                    kind: Some("approval_resolution".into()),
                    agent: view.agent.clone(),
                    session: view.session.clone(),
                    tool: view.tool.clone(),
                    request,
                    peer: Some(conn.peer()),
                    decision: EventDecision {
                        action: if approved { "allow" } else { "deny" }.into(),
                        message: format!(
                            "approval {} {}",
                            view.id,
                            if approved { "approved" } else { "denied" }
                        ),
                        policy: view.policy.clone(),
                        approval_id: Some(view.id.clone()),
                        mode: st.mode.as_str().into(),
                        ..Default::default()
                    },
                },
            )
            .await;
            Json(json!({
                "id": view.id,
                "status": view.status,
                "approved": approved,
                "persisted": false,
            }))
            .into_response()
        }
        Err(ResolveError::NotFound) => {
            json_error(StatusCode::NOT_FOUND, format!("no approval {id}"))
        }
        Err(ResolveError::AlreadyResolved(s)) => json_error(
            StatusCode::GONE,
            format!(
                "approval {id} is already {}",
                serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
        ),
        Err(ResolveError::SelfApproval(why)) => json_error(StatusCode::FORBIDDEN, why),
    }
}

async fn reload_route(State(st): St, headers: HeaderMap) -> Response {
    if let Err(r) = require_admin(&st, &headers) {
        return r;
    }
    if !st.reloader.api_allowed() {
        return json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "policy reload is limited to once per second",
        );
    }
    match super::reload::reload(&st, "api").await {
        Ok(()) => Json(json!({"status": "reloaded"})).into_response(),
        Err(e) => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("reload rejected, previous policy kept: {e}"),
        ),
    }
}

async fn metrics_route(
    State(st): St,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = require_reader(&st, &conn, &headers) {
        return r;
    }
    let text = st.metrics.render(
        st.approvals.pending(),
        st.audit.event_count(),
        st.started.elapsed().as_secs(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Cut `text` to at most `cap` bytes (at a character boundary) and mark the cut
/// with `…`.
fn shorten(text: &mut String, cap: usize) {
    if text.len() <= cap {
        return;
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_writer::tests::CHARS;

    #[test]
    fn the_answer_is_written_as_serde_writes_it() {
        let full = PreflightResponse {
            allowed: false,
            decision: "deny".into(),
            message: "blocked <rm> & \"quotes\"\n\u{2028}".into(),
            matched_policies: Some(["p1", "p\\2"].into_iter().collect()),
            eval_duration_us: u64::MAX,
            enforced: true,
            enforcement_requested: true,
            audit_id: Some("01ABC".into()),
            policy_decision: Some("deny".into()),
            policy_message: Some("m\t".into()),
            policy: Some("p1".into()),
            rule: Some(engine::decision::RuleRef {
                index: 7,
                summary: "deny when command matches \"rm *\"".into(),
            }),
            matched_component: Some("rm -rf x".into()),
            approval_id: Some("01APPROVAL".into()),
            approval_status: Some(Status::Pending),
            suggestions: vec!["rampart allow 'rm -rf x'".into(), "edit p1".into()],
        };
        let mut cases = vec![full, bare()];
        for status in [Status::Approved, Status::Denied, Status::Expired] {
            cases.push(PreflightResponse {
                approval_status: Some(status),
                message: CHARS.concat(),
                matched_policies: Some(engine::NameList::new()),
                ..bare()
            });
        }
        for r in &cases {
            assert_eq!(
                String::from_utf8(r.to_json()).unwrap(),
                String::from_utf8(serde_json::to_vec(r).unwrap()).unwrap()
            );
        }
    }

    fn bare() -> PreflightResponse {
        PreflightResponse {
            allowed: true,
            decision: "allow".into(),
            message: String::new(),
            matched_policies: None,
            eval_duration_us: 0,
            enforced: false,
            enforcement_requested: false,
            audit_id: None,
            policy_decision: None,
            policy_message: None,
            policy: None,
            rule: None,
            matched_component: None,
            approval_id: None,
            approval_status: None,
            suggestions: Vec::new(),
        }
    }

    #[test]
    fn the_audited_rule_is_the_rule_as_serialized() {
        let r = engine::decision::RuleRef {
            index: 3,
            summary: "allow when <x>".into(),
        };
        assert_eq!(rule_value(r.clone()), serde_json::to_value(&r).unwrap());
    }
}
