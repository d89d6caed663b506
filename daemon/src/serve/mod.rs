//! `rampart serve`: the policy daemon.
//!
//! Modules: [`config`] (flags), [`listeners`] (Unix, TCP, socket activation),
//! [`routes`] (the HTTP API), [`preflight`] (request canonicalization), [`auth`]
//! (peer credentials and the admin token), [`approvals`], [`metrics`], [`reload`],
//! [`shutdown`] (signals, sd_notify).
//!
//! Connections are served by hyper's HTTP/1.1 server directly (keep-alive,
//! `Connection: close`, 16 KiB header buffer, 30 s header timeout, which also closes
//! keep-alive connections idle for 30 s: clients reconnect on EOF) with the axum
//! router as the service; a semaphore bounds concurrent connections and each request
//! has an overall deadline.

pub mod approvals;
pub mod auth;
pub mod config;
pub mod export;
pub mod hints;
pub mod interim;
pub mod listeners;
pub mod metrics;
pub mod preflight;
pub mod reload;
pub mod routes;
pub mod shutdown;

use crate::audit::writer::{AuditWriter, FsyncPolicy, WriterConfig};
use anyhow::{anyhow, Context};
use auth::{AdminToken, ConnInfo};
use axum::Router;
use config::{Args, AuditFailure, Mode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use listeners::Bound;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
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

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rampart")
        .build()
        .context("tokio runtime")?;
    let result = rt.block_on(serve(state.clone(), bound, &args, &audit_dir));
    for p in &owned_sockets {
        let _ = std::fs::remove_file(p);
    }
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
    let app = routes::router(state.clone());
    let graceful = Arc::new(GracefulShutdown::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let sem = Arc::new(Semaphore::new(args.max_connections.max(1)));
    let settings = ConnSettings {
        request_timeout: state.ask_timeout + Duration::from_secs(15),
    };
    let labels: Vec<String> = bound.iter().map(|b| b.label().to_string()).collect();
    let mut loops = Vec::new();
    for b in bound {
        let ctx = AcceptCtx {
            app: app.clone(),
            graceful: graceful.clone(),
            sem: sem.clone(),
            stop: stop_rx.clone(),
            settings: settings.clone(),
            state: state.clone(),
        };
        match b {
            Bound::Unix { listener, .. } => {
                let l = tokio::net::UnixListener::from_std(listener)?;
                loops.push(tokio::spawn(accept_unix(l, ctx)));
            }
            Bound::Tcp { listener, .. } => {
                let l = tokio::net::TcpListener::from_std(listener)?;
                loops.push(tokio::spawn(accept_tcp(l, ctx)));
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

    let sig = shutdown::wait_for_signal().await?;
    eprintln!("rampart: {sig}: shutting down");
    shutdown::sd_notify("STOPPING=1");
    let _ = stop_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
    state.approvals.deny_all_pending("shutdown");
    match Arc::try_unwrap(graceful) {
        Ok(g) => {
            if tokio::time::timeout(Duration::from_secs(10), g.shutdown())
                .await
                .is_err()
            {
                eprintln!("rampart: some connections did not finish within 10 s");
            }
        }
        Err(_) => eprintln!("rampart: internal: connection tracker still shared at shutdown"),
    }
    Ok(())
}

struct AcceptCtx {
    app: Router,
    graceful: Arc<GracefulShutdown>,
    sem: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
    settings: ConnSettings,
    state: Arc<AppState>,
}

impl AcceptCtx {
    /// A connection permit, or `None` once shutdown started.
    async fn permit(&mut self) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            p = self.sem.clone().acquire_owned() => p.ok(),
            _ = self.stop.wait_for(|s| *s) => None,
        }
    }
}

async fn accept_unix(l: tokio::net::UnixListener, mut ctx: AcceptCtx) {
    loop {
        let Some(permit) = ctx.permit().await else {
            break;
        };
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
                match interim::Interim::unix(s) {
                    Ok((s, dup)) => spawn_connection(s, info, dup, &ctx, permit),
                    Err(e) => accept_error(e).await,
                }
            }
            Err(e) => accept_error(e).await,
        }
    }
}

async fn accept_tcp(l: tokio::net::TcpListener, mut ctx: AcceptCtx) {
    loop {
        let Some(permit) = ctx.permit().await else {
            break;
        };
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
                match interim::Interim::tcp(s) {
                    Ok((s, dup)) => spawn_connection(s, info, dup, &ctx, permit),
                    Err(e) => accept_error(e).await,
                }
            }
            Err(e) => accept_error(e).await,
        }
    }
}

async fn accept_error(e: std::io::Error) {
    eprintln!("rampart: accept failed: {e}");
    // Out of file descriptors and similar: back off instead of spinning.
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn spawn_connection<S>(
    stream: S,
    info: ConnInfo,
    interim: Option<interim::Interim>,
    ctx: &AcceptCtx,
    permit: OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let app = ctx.app.clone();
    let timeout = ctx.settings.request_timeout;
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(info.clone());
        if let Some(i) = &interim {
            req.extensions_mut().insert(i.clone());
        }
        let mut app = app.clone();
        async move {
            match tokio::time::timeout(timeout, app.call(req)).await {
                Ok(r) => r,
                Err(_) => Ok(routes::json_error(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "request timed out",
                )),
            }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .max_buf_size(16 * 1024)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    let fut = ctx.graceful.watch(conn);
    let state = ctx.state.clone();
    state.metrics.connections_open.fetch_add(1, Relaxed);
    tokio::spawn(async move {
        let _ = fut.await;
        state.metrics.connections_open.fetch_sub(1, Relaxed);
        drop(permit);
    });
}
