//! `tidings run`: one polling loop per source, retention pruning, and the HTTP listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::App;
use crate::config::Recipe;
use crate::schedule::jitter;
use tokio::net::TcpListener;

/// Binds the HTTP listener (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}; pick another address with --listen"))
}

/// Runs until `shutdown` is cancelled: polls every enabled source on its schedule and
/// serves HTTP on `listener`. Fails at once if another daemon holds the database.
pub async fn run_daemon(app: App, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let _lock = app.store.lock_daemon().await?;
    let local = listener.local_addr()?;
    let app = with_public_url(app, local);
    let router = crate::serve::router(app.clone());
    let tasks = TaskTracker::new();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
        if let Err(e) = served {
            tracing::error!("HTTP server stopped: {e}");
        }
    });
    println!("listening on http://{local}/");

    let slots = Arc::new(Semaphore::new(app.config.poll.concurrency));
    for recipe in app.config.sources.iter().filter(|s| s.enabled).cloned() {
        tasks.spawn(source_loop(app.clone(), recipe, slots.clone(), shutdown.clone()));
    }
    tasks.spawn(prune_loop(app.clone(), shutdown.clone()));
    tasks.spawn(app.outbox()?.run(shutdown.clone()));
    tasks.spawn(crate::notify::telegram::run_bot(app.clone(), shutdown.clone()));
    tasks.close();
    shutdown.cancelled().await;
    tracing::info!("stopping: finishing in-flight polls");
    tasks.wait().await;
    Ok(())
}

/// Without a configured `public_url`, links are built from the address actually bound
/// (which differs from the configured one with `--listen` or port 0).
fn with_public_url(app: App, local: SocketAddr) -> App {
    if app.config.server.public_url.is_some() {
        return app;
    }
    let mut config = (*app.config).clone();
    config.server.listen = local;
    // Mail links are built from the public URL too.
    let mail = match App::mail_channel(&config) {
        Ok(mail) => mail,
        Err(e) => {
            tracing::error!("email is off: {e:#}");
            None
        }
    };
    App {
        config: Arc::new(config),
        mail,
        ..app
    }
}

/// Polls one source forever: a failing, slow or hanging source only delays itself.
async fn source_loop(app: App, recipe: Recipe, slots: Arc<Semaphore>, shutdown: CancellationToken) {
    let spread = app.config.poll.jitter;
    loop {
        let now = Utc::now();
        let state = app.store.source_state(&recipe.id).await.ok().flatten();
        let due = match state.and_then(|s| s.next_poll) {
            Some(t) => t,
            None => {
                now + chrono::Duration::from_std(jitter(spread.min(Duration::from_secs(5))))
                    .unwrap_or_default()
            }
        };
        let wait = (due - now).to_std().unwrap_or_default();
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let Ok(_slot) = slots.acquire().await else { return };
        // A poll already under way finishes (its writes are one transaction) before we stop.
        match app.poll_one(&recipe).await {
            Ok(r) => tracing::info!(
                source = %recipe.id,
                new = r.new.len(),
                updated = r.updated.len(),
                failed = r.failed,
                baseline = r.baseline,
                "poll done"
            ),
            Err(e) => tracing::warn!(source = %recipe.id, "poll failed: {e}"),
        }
        let next = recipe.schedule.next_after(Utc::now(), recipe.timezone)
            + chrono::Duration::from_std(jitter(spread)).unwrap_or_default();
        if let Err(e) = app.store.set_next_poll(&recipe.id, next).await {
            tracing::error!(source = %recipe.id, "cannot record next poll: {e}");
        }
    }
}

/// Sent deliveries are kept this long (for `tidings subscriptions` and `/status`).
const SENT_RETENTION_DAYS: i64 = 30;

/// Deletes items past the retention period and old sent deliveries, hourly.
async fn prune_loop(app: App, shutdown: CancellationToken) {
    loop {
        let cutoff =
            Utc::now() - chrono::Duration::from_std(app.config.storage.retention).unwrap_or_default();
        match app.store.prune(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("pruned {n} items older than the retention period"),
            Err(e) => tracing::warn!("pruning failed: {e}"),
        }
        let sent_cutoff = Utc::now() - chrono::Duration::days(SENT_RETENTION_DAYS);
        match app.store.prune_deliveries(sent_cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("pruned {n} deliveries sent more than {SENT_RETENTION_DAYS} days ago"),
            Err(e) => tracing::warn!("pruning deliveries failed: {e}"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}
