//! Hot reload: policy file watching (notify), SIGHUP, and the reload route.
//!
//! A reload builds a complete new engine off the async threads and swaps the
//! `Arc<Engine>` only when it loaded; in-flight requests keep the engine they
//! started with. A failed reload keeps the old policy, logs the error (with
//! file:line:column from the loader) and is counted in `/metrics`. A reload that would
//! drop from some policies to none is rejected the same way (a half-written file). SIGHUP also re-reads
//! the admin token file (after `rampart token rotate`).

use super::AppState;
use notify::{EventKind, RecursiveMode, Watcher};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Quiet period after the last file event before reloading.
const DEBOUNCE: Duration = Duration::from_millis(500);
/// Extra settle time after the debounce (editors write in several steps).
const SETTLE: Duration = Duration::from_millis(100);

/// Reload bookkeeping.
pub struct Reloader {
    sources: engine::Sources,
    /// A directory layered on top while it exists (`~/.rampart/policies`).
    layered: Option<PathBuf>,
    token_file: Option<PathBuf>,
    last_api: Mutex<Option<Instant>>,
}

impl Reloader {
    /// For these sources and token file.
    pub fn new(sources: engine::Sources, token_file: Option<PathBuf>) -> Reloader {
        Reloader {
            sources,
            layered: None,
            token_file,
            last_api: Mutex::new(None),
        }
    }

    /// Also load `dir` after the other sources whenever it exists at load time (so a
    /// directory created later, e.g. by `rampart allow`, is picked up by a reload).
    pub fn with_layered_dir(mut self, dir: Option<PathBuf>) -> Reloader {
        self.layered = dir;
        self
    }

    /// The layered directory, whether or not it exists now.
    pub fn layered_dir(&self) -> Option<&std::path::Path> {
        self.layered.as_deref()
    }

    /// The sources to load now: the configured ones plus the layered directory when
    /// it exists.
    pub fn current_sources(&self) -> engine::Sources {
        let mut s = self.sources.clone();
        if let Some(d) = self.layered.as_ref().filter(|d| d.is_dir()) {
            if !s.dirs.contains(d) {
                s.dirs.push(d.clone());
            }
        }
        s
    }

    /// Rate limit for `POST /v1/policy/reload`: at most one per second.
    pub fn api_allowed(&self) -> bool {
        let mut last = self.last_api.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// Load the policy again and swap it in on success.
pub async fn reload(st: &Arc<AppState>, why: &str) -> Result<(), String> {
    let sources = st.reloader.current_sources();
    let r = tokio::task::spawn_blocking(move || engine::Engine::load(&sources)).await;
    match r {
        Ok(Ok(e)) => {
            let (old, new) = (st.engine().policy_count(), e.policy_count());
            if new == 0 && old > 0 {
                // Most likely a file caught half-written: never drop to no policy.
                st.metrics.reloads_failed.fetch_add(1, Relaxed);
                let msg = format!("the new configuration has no policies (was {old}); treated as a truncated write");
                eprintln!(
                    "rampart: policy reload ({why}) rejected, keeping the previous policy: {msg}"
                );
                return Err(msg);
            }
            st.set_engine(Arc::new(e));
            st.metrics.reloads_ok.fetch_add(1, Relaxed);
            eprintln!("rampart: policy reloaded ({why}): {new} policies");
            Ok(())
        }
        Ok(Err(e)) => {
            st.metrics.reloads_failed.fetch_add(1, Relaxed);
            eprintln!("rampart: policy reload ({why}) failed, keeping the previous policy: {e}");
            Err(e.to_string())
        }
        Err(e) => {
            st.metrics.reloads_failed.fetch_add(1, Relaxed);
            eprintln!("rampart: policy reload ({why}) panicked, keeping the previous policy: {e}");
            Err(e.to_string())
        }
    }
}

/// Re-read the admin token (unless it comes from `$RAMPART_TOKEN`).
fn refresh_token(st: &AppState) {
    match crate::token::resolve(st.reloader.token_file.as_deref()) {
        Ok(t) => st.token.set(t),
        Err(e) => eprintln!("rampart: keeping the previous admin token: {e}"),
    }
}

/// Reload (and refresh the token) on every SIGHUP.
pub fn spawn_sighup(st: Arc<AppState>) -> std::io::Result<()> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            refresh_token(&st);
            let _ = reload(&st, "SIGHUP").await;
        }
    });
    Ok(())
}

/// Watch the policy files and directories; reload after changes settle.
/// The returned watcher must be kept alive.
pub fn spawn_watcher(st: Arc<AppState>) -> notify::Result<Option<notify::RecommendedWatcher>> {
    let sources = st.reloader.current_sources();
    let files: Vec<PathBuf> = sources
        .files
        .iter()
        .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()))
        .collect();
    let dirs: Vec<PathBuf> = sources
        .dirs
        .iter()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
        .collect();
    if files.is_empty() && dirs.is_empty() {
        return Ok(None);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (f2, d2) = (files.clone(), dirs.clone());
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        if matches!(ev.kind, EventKind::Access(_) | EventKind::Other) {
            return;
        }
        let relevant = ev.paths.iter().any(|p| {
            f2.iter().any(|f| f == p)
                || (d2.iter().any(|d| p.parent() == Some(d.as_path()))
                    && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        });
        if relevant {
            let _ = tx.send(());
        }
    })?;
    let mut watched: Vec<PathBuf> = Vec::new();
    for f in &files {
        if let Some(parent) = f.parent() {
            if !watched.iter().any(|w| w == parent) {
                watcher.watch(parent, RecursiveMode::NonRecursive)?;
                watched.push(parent.to_path_buf());
            }
        }
    }
    for d in &dirs {
        if !watched.iter().any(|w| w == d) {
            watcher.watch(d, RecursiveMode::NonRecursive)?;
            watched.push(d.clone());
        }
    }
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            tokio::time::sleep(SETTLE).await;
            while rx.try_recv().is_ok() {}
            let _ = reload(&st, "file change").await;
        }
    });
    Ok(Some(watcher))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedded() -> engine::Sources {
        engine::Sources {
            embedded_default: true,
            ..Default::default()
        }
    }

    #[test]
    fn the_layered_directory_is_loaded_only_while_it_exists() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("policies");
        let r = Reloader::new(embedded(), None).with_layered_dir(Some(dir.clone()));
        assert!(r.current_sources().dirs.is_empty());
        std::fs::create_dir(&dir).unwrap();
        let s = r.current_sources();
        assert_eq!(s.dirs, vec![dir.clone()]);
        assert!(s.embedded_default);
        // Over the embedded policy: a same-named policy on disk replaces the built-in
        // one, and an override file's allow beats the built-in ask.
        std::fs::write(
            dir.join("user-overrides.yaml"),
            "policies:\n  - name: mine\n    match: {tool: [exec]}\n    rules:\n      - action: allow\n        when: {command_matches: [\"crontab -e\"]}\n",
        )
        .unwrap();
        let e = engine::Engine::load(&r.current_sources()).unwrap();
        let call = engine::ToolCall::exec("crontab -e");
        assert_eq!(e.evaluate(&call).action, engine::Action::Allow);
        let base = engine::Engine::load(&embedded()).unwrap();
        assert_eq!(base.evaluate(&call).action, engine::Action::Ask);
    }

    #[test]
    fn a_given_config_dir_is_not_listed_twice() {
        let dir = tempfile::tempdir().unwrap();
        let sources = engine::Sources {
            dirs: vec![dir.path().to_path_buf()],
            ..Default::default()
        };
        let r = Reloader::new(sources, None).with_layered_dir(Some(dir.path().to_path_buf()));
        assert_eq!(r.current_sources().dirs.len(), 1);
    }
}
