//! `rampart serve`: the policy daemon.
//!
//! Modules: [`config`] (flags), [`listeners`] (Unix, TCP, socket activation),
//! [`routes`] (the HTTP API), [`preflight`] (request canonicalization; [`hook_body`]
//! reads the preload library's body), [`auth`]
//! (peer credentials and the admin token), [`approvals`], [`metrics`], [`reload`],
//! [`shutdown`] (signals, sd_notify), [`conn`] (connection streams and tracking).
//!
//! Connections are served by hyper's HTTP/1.1 server directly (keep-alive,
//! `Connection: close`, 16 KiB header buffer, 30 s header timeout, which also closes
//! keep-alive connections idle for 30 s: clients reconnect on EOF) with the axum
//! router as the service; a semaphore bounds concurrent connections
//! (`--max-connections`: when all are taken, the longest-idle connection is closed to
//! admit a new one, see [`conn`]) and each request has an overall deadline.
//! Everything runs on one thread by default (see [`THREADS_ENV`]).

pub mod approvals;
pub mod auth;
pub mod config;
pub mod conn;
pub mod cost_probe;
pub mod datagram;
pub mod direct;
pub mod export;
pub mod fast_lane;
pub mod hints;
pub mod hook_body;
pub mod interim;
pub mod listeners;
pub mod metrics;
pub mod phases;
pub mod preflight;
pub mod reload;
pub mod routes;
pub mod shutdown;
pub mod spin;

use crate::audit::writer::{AuditWriter, FsyncPolicy, WriterConfig};
use anyhow::{anyhow, Context};
use auth::{AdminToken, ConnInfo};
use axum::Router;
use config::{Args, AuditFailure, Mode};
use hyper_util::rt::{TokioIo, TokioTimer};
use listeners::Bound;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

/// Shared daemon state.
pub struct AppState {
    engine: RwLock<Arc<engine::Engine>>,
    /// Decision mode.
    pub mode: Mode,
    /// Audit writer.
    pub audit: AuditWriter,
    /// Audit fsync policy (decides whether appends go to a blocking thread).
    pub fsync: FsyncPolicy,
    /// Audit failure policy.
    pub audit_failure: AuditFailure,
    /// Admin token.
    pub token: AdminToken,
    /// Pending approvals.
    pub approvals: approvals::Approvals,
    /// Counters.
    pub metrics: metrics::Metrics,
    /// Start time.
    pub started: Instant,
    /// How long `wait:true` asks are held.
    pub ask_timeout: Duration,
    /// Reload bookkeeping.
    pub reloader: reload::Reloader,
}

impl AppState {
    /// The current engine (callers keep it for the whole request).
    pub fn engine(&self) -> Arc<engine::Engine> {
        Arc::clone(&self.engine.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Swap in a new engine.
    pub fn set_engine(&self, e: Arc<engine::Engine>) {
        *self.engine.write().unwrap_or_else(|e| e.into_inner()) = e;
    }
}

/// Per-connection HTTP settings.
#[derive(Clone)]
struct ConnSettings {
    request_timeout: Duration,
    /// A connection that sends no complete request head for this long is closed.
    header_timeout: Duration,
}

/// Environment variable choosing the runtime: unset, empty or `0` serves every
/// connection on one thread (the default), `N` uses a multi-thread runtime with N
/// workers.
pub const THREADS_ENV: &str = "RAMPART_SERVE_THREADS";

/// The tokio runtime for `serve` (see [`THREADS_ENV`]).
///
/// One thread is the default: a decision costs a few tens of microseconds of CPU,
/// so one thread keeps up with well over 20,000 decisions/s, and serving each
/// connection on the thread that accepted it avoids the cross-thread wake-ups
/// (work stealing, unparking a sleeping worker) that a fresh connection per exec
/// otherwise pays. Blocking work (fsync `always`, policy reloads) runs on tokio's
/// blocking pool either way.
fn runtime(threads: Option<&str>) -> anyhow::Result<tokio::runtime::Runtime> {
    let n: usize = match threads.map(str::trim).filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .parse()
            .with_context(|| format!("{THREADS_ENV}={t}: expected a number of threads"))?,
    };
    let mut b = if n == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(n);
        b
    };
    b.enable_all()
        .thread_name("rampart")
        .build()
        .context("tokio runtime")
}

/// Run the daemon until SIGTERM/SIGINT.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Socket activation must be read before any thread exists (it edits the env).
    let mut bound = listeners::from_systemd()?;
    let activated = !bound.is_empty();

    let token = crate::token::resolve(args.token_file.as_deref()).context("admin token")?;
    args.export.validate()?;
    let reloader = reload::Reloader::new(args.sources(), args.token_file.clone())
        .with_layered_dir(args.layered_policy_dir());
    let sources = reloader.current_sources();
    let engine = engine::Engine::load(&sources).map_err(|e| anyhow!("cannot load policy: {e}"))?;
    let audit_dir = args
        .audit_dir
        .clone()
        .unwrap_or_else(crate::audit::default_dir);
    let (audit, recovery) = AuditWriter::open(WriterConfig {
        dir: audit_dir.clone(),
        fsync: args.fsync,
        rotate_bytes: args.audit_rotate_bytes.max(1024),
    })
    .context("audit log")?;
    if recovery.truncated_bytes > 0 {
        eprintln!(
            "rampart: audit: removed a torn last line of {} bytes (recorded as an audit_truncated event)",
            recovery.truncated_bytes
        );
    }

    let mut owned_sockets: Vec<PathBuf> = Vec::new();
    if !activated {
        let path = args
            .socket
            .clone()
            .unwrap_or_else(config::default_socket_path);
        let gid = match &args.socket_group {
            Some(g) => Some(
                config::resolve_group(g)
                    .with_context(|| format!("--socket-group {g}: unknown group"))?,
            ),
            None => None,
        };
        bound.push(listeners::bind_unix(&path, gid)?);
    }
    if let Some(l) = &args.listen {
        bound.push(listeners::bind_tcp(l)?);
    }
    for b in &bound {
        if let Bound::Unix { owned: Some(p), .. } = b {
            owned_sockets.push(p.clone());
        }
    }

    let state = Arc::new(AppState {
        engine: RwLock::new(Arc::new(engine)),
        mode: args.mode,
        audit,
        fsync: args.fsync,
        audit_failure: args.audit_failure(),
        token: AdminToken::new(token),
        approvals: approvals::Approvals::new(args.ask_timeout()),
        metrics: metrics::Metrics::default(),
        started: Instant::now(),
        ask_timeout: args.ask_timeout(),
        reloader,
    });
    export::install(&state, &args.export);

    let rt = runtime(std::env::var(THREADS_ENV).ok().as_deref())?;
    let result = rt.block_on(serve(state.clone(), bound, &args, &audit_dir));
    for p in &owned_sockets {
        let _ = std::fs::remove_file(p);
    }
    phases::report();
    if let Err(e) = state.audit.close() {
        eprintln!("rampart: audit flush on shutdown failed: {e}");
    }
    result?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    state: Arc<AppState>,
    bound: Vec<Bound>,
    args: &Args,
    audit_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let mut signals = shutdown::Signals::install()?;
    let app = routes::router(state.clone());
    let tracker = Arc::new(conn::Tracker::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let sem = Arc::new(Semaphore::new(args.max_connections.max(1)));
    let settings = ConnSettings {
        request_timeout: state.ask_timeout + Duration::from_secs(15),
        header_timeout: Duration::from_secs(30),
    };
    let spinner = spin::Spinner::new(Duration::from_micros(args.spin_us));
    if let Some(s) = &spinner {
        tokio::spawn(Arc::clone(s).run());
    }
    let mut labels: Vec<String> = bound.iter().map(|b| b.label().to_string()).collect();
    let mut loops = Vec::new();
    let mut stoppers = Vec::new();
    let mut datagram_stoppers = Vec::new();
    let datagrams_wanted = !args.no_datagram && state.fsync != FsyncPolicy::Always;
    let passed_lanes: Vec<PathBuf> = bound
        .iter()
        .filter_map(|b| match b {
            Bound::Datagram { socket, .. } => {
                socket.local_addr().ok()?.as_pathname().map(PathBuf::from)
            }
            _ => None,
        })
        .collect();
    for b in bound {
        let ctx = AcceptCtx {
            app: app.clone(),
            tracker: tracker.clone(),
            sem: sem.clone(),
            stop: stop_rx.clone(),
            settings: settings.clone(),
            state: state.clone(),
            spinner: spinner.clone(),
        };
        if let (Bound::Unix { listener, .. }, true) = (&b, datagrams_wanted) {
            if let Some(lane) = bind_datagram_lane(listener, &passed_lanes) {
                labels.push(format!("datagram lane unix:{}", lane.path().display()));
                datagram_stoppers.push(lane.spawn(state.clone())?);
            }
        }
        match b {
            Bound::Unix { listener, .. } if !args.no_accept_thread => {
                let (lane, stopper) = fast_lane::FastLane::new(
                    listener,
                    Duration::from_micros(args.spin_us),
                    sem.clone(),
                )?;
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                lane.spawn(state.clone(), tx).context("accept thread")?;
                loops.push(tokio::spawn(adopt_unix(rx, ctx)));
                stoppers.push(stopper);
            }
            Bound::Unix { listener, .. } => {
                let l = tokio::net::UnixListener::from_std(listener)?;
                loops.push(tokio::spawn(accept_unix(l, ctx)));
            }
            Bound::Tcp { listener, .. } => {
                let l = tokio::net::TcpListener::from_std(listener)?;
                loops.push(tokio::spawn(accept_tcp(l, ctx)));
            }
            Bound::Datagram { socket, label } => {
                match datagram::DatagramLane::adopt(socket, datagrams_wanted) {
                    Ok(lane) => datagram_stoppers.push(lane.spawn(state.clone())?),
                    Err(e) => eprintln!("rampart: {label}: not served: {e:#}"),
                }
            }
        }
    }
    let _watcher = if args.no_watch {
        None
    } else {
        match reload::spawn_watcher(state.clone()) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("rampart: cannot watch policy files ({e}); use SIGHUP to reload");
                None
            }
        }
    };
    reload::spawn_sighup(state.clone())?;
    eprintln!(
        "rampart: serving on {}; mode {}; {} policies; audit {} (fsync {:?}); {} events in chain",
        labels.join(", "),
        state.mode.as_str(),
        state.engine().policy_count(),
        audit_dir.display(),
        args.fsync,
        state.audit.event_count()
    );
    shutdown::sd_notify("READY=1");

    let sig = signals.recv().await;
    eprintln!("rampart: {sig}: shutting down");
    shutdown::sd_notify("STOPPING=1");
    let _ = stop_tx.send(true);
    for s in stoppers {
        s.stop(Duration::from_secs(2)).await;
    }
    for s in datagram_stoppers {
        s.stop(Duration::from_secs(2)).await;
    }
    for l in loops {
        let _ = l.await;
    }
    state.approvals.deny_all_pending("shutdown");
    tracker.shutdown_all();
    if tokio::time::timeout(Duration::from_secs(10), tracker.wait_empty())
        .await
        .is_err()
    {
        eprintln!(
            "rampart: {} connections did not finish within 10 s",
            tracker.len()
        );
    }
    Ok(())
}

/// The datagram lane next to a Unix listener (see [`datagram`]), or `None`
/// with a warning when it cannot be bound: the stream socket serves alone.
/// None either when systemd passed that lane's socket already (`passed`).
fn bind_datagram_lane(
    listener: &std::os::unix::net::UnixListener,
    passed: &[PathBuf],
) -> Option<datagram::DatagramLane> {
    let addr = listener.local_addr().ok()?;
    let path = addr.as_pathname()?;
    if passed.contains(&datagram::path_for(path)) {
        return None;
    }
    match datagram::DatagramLane::bind(path) {
        Ok(lane) => Some(lane),
        Err(e) => {
            eprintln!("rampart: no datagram lane, the stream socket serves alone: {e:#}");
            None
        }
    }
}

struct AcceptCtx {
    app: Router,
    tracker: Arc<conn::Tracker>,
    sem: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
    settings: ConnSettings,
    state: Arc<AppState>,
    spinner: Option<Arc<spin::Spinner>>,
}

impl AcceptCtx {
    /// A connection slot for a connection just accepted, or `None` once shutdown
    /// started. When every slot is taken, the connection that has been idle the
    /// longest is asked to close (see [`conn`]).
    async fn permit(&mut self) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = self.sem.clone().try_acquire_owned() {
            return Some(p);
        }
        loop {
            let recheck = match self.tracker.evict_longest_idle(conn::EVICT_MIN_IDLE) {
                conn::Eviction::Evicted => {
                    self.state.metrics.connections_evicted.fetch_add(1, Relaxed);
                    // Normally the slot comes back at once; if the victim had a
                    // request after all, it finishes it first: try another soon.
                    Duration::from_millis(50)
                }
                conn::Eviction::NotYet(d) => d,
                conn::Eviction::NoCandidate => Duration::from_millis(100),
            };
            tokio::select! {
                p = self.sem.clone().acquire_owned() => return p.ok(),
                _ = self.stop.wait_for(|s| *s) => return None,
                _ = tokio::time::sleep(recheck) => {}
            }
        }
    }
}

async fn accept_unix(l: tokio::net::UnixListener, mut ctx: AcceptCtx) {
    loop {
        let r = tokio::select! {
            r = l.accept() => r,
            _ = ctx.stop.wait_for(|s| *s) => break,
        };
        match r {
            Ok((s, _)) => {
                let cred = s.peer_cred().ok();
                let info = ConnInfo::Unix {
                    pid: cred.and_then(|c| c.pid()),
                    uid: cred.map(|c| c.uid()),
                    gid: cred.map(|c| c.gid()),
                };
                let Some(permit) = ctx.permit().await else {
                    break;
                };
                // Plain preflight requests are answered directly (see `direct`),
                // in the connection's own task. tokio marks an accepted socket
                // readable, so its first read is made at once; `connect` wakes the
                // daemon before the client has sent, and that read finds nothing
                // for about 93% of execs (1.93 `recvfrom` per fork+exec, measured
                // the same whether it is made here or in the task).
                spawn_connection(
                    conn::SharedStream::Unix(s),
                    info,
                    &ctx,
                    permit,
                    Start::Direct { answered: false },
                    ctx.tracker.register(),
                );
            }
            Err(e) => accept_error(e).await,
        }
    }
}

async fn accept_tcp(l: tokio::net::TcpListener, mut ctx: AcceptCtx) {
    loop {
        let r = tokio::select! {
            r = l.accept() => r,
            _ = ctx.stop.wait_for(|s| *s) => break,
        };
        match r {
            Ok((s, addr)) => {
                let _ = s.set_nodelay(true);
                let info = ConnInfo::Tcp {
                    addr: addr.to_string(),
                };
                let Some(permit) = ctx.permit().await else {
                    break;
                };
                spawn_connection(
                    conn::SharedStream::Tcp(s),
                    info,
                    &ctx,
                    permit,
                    Start::Http(Vec::new()),
                    ctx.tracker.register(),
                );
            }
            Err(e) => accept_error(e).await,
        }
    }
}

/// Serve the connections the accept thread hands over (see [`fast_lane`]).
async fn adopt_unix(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<fast_lane::Handoff>,
    mut ctx: AcceptCtx,
) {
    use fast_lane::{Admission, Then};
    loop {
        let h = tokio::select! {
            h = rx.recv() => h,
            _ = ctx.stop.wait_for(|s| *s) => break,
        };
        let Some(h) = h else { break };
        // The accept thread reads and writes with MSG_DONTWAIT and leaves the
        // socket blocking (one system call fewer per connection); tokio needs it
        // non-blocking.
        if h.stream.set_nonblocking(true).is_err() {
            continue;
        }
        let Ok(s) = tokio::net::UnixStream::from_std(h.stream) else {
            continue;
        };
        let start = match h.then {
            // The thread holds a slot for every connection it answered.
            Then::Finish(rest) => {
                let permit = h.slot;
                tokio::spawn(async move {
                    finish_answer(s, rest).await;
                    drop(permit);
                });
                continue;
            }
            Then::Wait => Start::Direct { answered: false },
            // Mostly connections idle for a while: no reason to spin for them.
            Then::Next => Start::Direct { answered: true },
            Then::Http(prefix) => Start::Http(prefix),
        };
        let permit = match h.slot {
            Admission::Held(p) => p,
            Admission::Wanted(admitted) => {
                let Some(p) = ctx.permit().await else { break };
                let _ = admitted.send(());
                p
            }
        };
        let reg = match h.idle_since {
            Some(t) => ctx.tracker.register_since(t),
            None => ctx.tracker.register(),
        };
        spawn_connection(
            conn::SharedStream::Unix(s),
            h.info,
            &ctx,
            permit,
            start,
            reg,
        );
    }
}

/// Write the part of a direct answer the socket did not take at once, then close.
async fn finish_answer(mut s: tokio::net::UnixStream, rest: Vec<u8>) {
    use tokio::io::AsyncWriteExt;
    let _ = tokio::time::timeout(Duration::from_secs(10), s.write_all(&rest)).await;
}

async fn accept_error(e: std::io::Error) {
    eprintln!("rampart: accept failed: {e}");
    // Out of file descriptors and similar: back off instead of spinning.
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// How a connection handed to [`spawn_connection`] begins.
enum Start {
    /// Wait for a request and answer it directly if it is a plain preflight
    /// request (see [`direct`]), else serve the connection with hyper.
    /// `answered`: the connection's first request was answered already.
    Direct { answered: bool },
    /// Serve it with hyper from the start; these bytes were read from it already.
    Http(Vec<u8>),
}

/// Serve a connection: plain preflight requests on the Unix socket are answered
/// directly for as long as that is all the client sends, everything else by hyper.
fn spawn_connection(
    stream: conn::SharedStream,
    info: ConnInfo,
    ctx: &AcceptCtx,
    permit: OwnedSemaphorePermit,
    start: Start,
    reg: conn::Registration,
) {
    let app = ctx.app.clone();
    let settings = ctx.settings.clone();
    let spinner = ctx.spinner.clone();
    let state = ctx.state.clone();
    state.metrics.connections_open.fetch_add(1, Relaxed);
    tokio::spawn(async move {
        let slot = &reg.slot;
        match start {
            Start::Http(prefix) => {
                Box::pin(serve_http(
                    stream, info, app, settings, spinner, slot, prefix,
                ))
                .await;
            }
            Start::Direct { answered } => {
                let http = HttpParts {
                    app,
                    settings,
                    spinner,
                };
                serve_direct(stream, info, &state, slot, http, answered).await;
            }
        }
        drop(reg);
        state.metrics.connections_open.fetch_sub(1, Relaxed);
        drop(permit);
    });
}

/// What [`serve_http`] needs besides the stream, for a connection that may be
/// handed to it later.
struct HttpParts {
    app: Router,
    settings: ConnSettings,
    spinner: Option<Arc<spin::Spinner>>,
}

/// Answer plain preflight requests directly until the connection closes, is asked
/// to close while idle, or sends something else (then hyper serves the rest).
async fn serve_direct(
    stream: conn::SharedStream,
    info: ConnInfo,
    state: &AppState,
    slot: &Arc<conn::Slot>,
    http: HttpParts,
    mut answered: bool,
) {
    loop {
        // A silent new connection gets hyper's header timeout; between requests a
        // kept-alive one waits until the client, an eviction or the shutdown ends
        // it, as under hyper.
        let limit = (!answered).then_some(http.settings.header_timeout);
        match await_request(&stream, &info, state, slot, limit).await {
            Some(direct::Accepted::Answered { keep_alive }) => {
                touch(&http.spinner);
                slot.on_read();
                slot.on_write();
                if !keep_alive {
                    return;
                }
                answered = true;
            }
            Some(direct::Accepted::Unsent(rest)) => {
                touch(&http.spinner);
                if let conn::SharedStream::Unix(s) = stream {
                    finish_answer(s, rest).await;
                }
                return;
            }
            // A spurious wake-up: wait again.
            Some(direct::Accepted::Waiting) => {}
            Some(direct::Accepted::Pass(prefix)) => {
                let HttpParts {
                    app,
                    settings,
                    spinner,
                } = http;
                // Boxed: hyper's connection state is most of this future's size,
                // and a connection task is allocated and moved whole at spawn
                // for every exec, most of which never need it.
                Box::pin(serve_http(
                    stream, info, app, settings, spinner, slot, prefix,
                ))
                .await;
                return;
            }
            // Silent past the timeout, evicted or shutting down: close.
            None => return,
        }
    }
}

fn touch(spinner: &Option<Arc<spin::Spinner>>) {
    if let Some(s) = spinner {
        // The next request of a burst may come soon (see `spin`).
        s.touch();
    }
}

/// Wait until the peer sends something and try to answer it directly. `None`
/// when nothing came within `limit`, or the connection was asked to close while
/// waiting (no request is in progress then, so it just closes).
async fn await_request(
    stream: &conn::SharedStream,
    info: &ConnInfo,
    state: &AppState,
    slot: &conn::Slot,
    limit: Option<Duration>,
) -> Option<direct::Accepted> {
    let conn::SharedStream::Unix(s) = stream else {
        return Some(direct::Accepted::Pass(Vec::new()));
    };
    let readable = async {
        match limit {
            Some(d) => tokio::time::timeout(d, s.readable()).await.ok(),
            None => Some(s.readable().await),
        }
    };
    tokio::select! {
        biased;
        _ = slot.signalled() => return None,
        r = readable => match r {
            None => return None,
            Some(Err(_)) => return Some(direct::Accepted::Pass(Vec::new())),
            Some(Ok(())) => {}
        },
    }
    Some(direct::try_answer(s, info, state))
}

/// Serve a connection with hyper; `prefix` holds bytes already read from it.
async fn serve_http(
    stream: conn::SharedStream,
    info: ConnInfo,
    app: Router,
    settings: ConnSettings,
    spinner: Option<Arc<spin::Spinner>>,
    slot: &Arc<conn::Slot>,
    prefix: Vec<u8>,
) {
    let stream = Arc::new(stream);
    let interim = interim::Interim::new(Arc::clone(&stream));
    let io = conn::ConnIo::new(stream, Arc::clone(slot), prefix);
    let timeout = settings.request_timeout;
    let svc_slot = Arc::clone(slot);
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(info.clone());
        req.extensions_mut().insert(interim.clone());
        let mut app = app.clone();
        let slot = Arc::clone(&svc_slot);
        let spinner = spinner.clone();
        slot.request_started();
        async move {
            let r = match tokio::time::timeout(timeout, app.call(req)).await {
                Ok(r) => r,
                Err(_) => Ok(routes::json_error(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "request timed out",
                )),
            };
            slot.request_done();
            touch(&spinner);
            r
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_buf_size(16 * 1024)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    drive(conn, slot).await;
}

/// Run a connection until it ends or is asked to close: then hyper's graceful
/// shutdown closes it at once if no request is in progress (fresh or between
/// requests) and otherwise lets the request finish first; a connection evicted
/// while stuck in an incomplete request is dropped instead.
async fn drive<F>(conn: F, slot: &conn::Slot)
where
    F: std::future::Future + GracefulConn,
{
    tokio::pin!(conn);
    tokio::select! {
        biased;
        _ = conn.as_mut() => return,
        signal = slot.signalled() => {
            if signal == conn::Signal::Evict && slot.receiving() {
                // Evicted while stuck in an incomplete request: graceful shutdown
                // would wait for its head; dropping the connection closes it.
                return;
            }
            conn.as_mut().shutdown_gracefully()
        }
    }
    conn.await;
}

/// hyper's `graceful_shutdown`, behind a trait so [`drive`] can name it.
trait GracefulConn {
    fn shutdown_gracefully(self: std::pin::Pin<&mut Self>);
}

impl<I, S> GracefulConn for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn shutdown_gracefully(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_is_single_threaded_unless_threads_are_requested() {
        let flavor = |t: Option<&str>| runtime(t).unwrap().handle().runtime_flavor();
        use tokio::runtime::RuntimeFlavor::{CurrentThread, MultiThread};
        assert_eq!(flavor(None), CurrentThread);
        assert_eq!(flavor(Some("")), CurrentThread);
        assert_eq!(flavor(Some("0")), CurrentThread);
        assert_eq!(flavor(Some("2")), MultiThread);
        assert!(runtime(Some("two")).is_err());
    }
}
