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
use super::leader::Leadership;
use crate::config::Recipe;
use crate::notify::outbox::Duties;
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
    let lock = app.store.lock_daemon().await?;
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
    // `[server] metrics_listen`: /metrics on a private address of its own.
    if let Some(addr) = app.config.server.metrics_listen {
        let metrics = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} ([server] metrics_listen)"))?;
        let metrics_addr = metrics.local_addr()?;
        let router = crate::serve::metrics_router(app.clone());
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let served = axum::serve(metrics, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!("metrics server stopped: {e}");
            }
        });
        println!("metrics on http://{metrics_addr}/metrics");
    }

    let worker = app.worker_name();
    let slots = Arc::new(Semaphore::new(app.config.poll.concurrency));
    for recipe in app.config.sources.iter().filter(|s| s.enabled).cloned() {
        let poller = Poller {
            app: app.clone(),
            recipe,
            worker: worker.clone(),
        };
        tasks.spawn(poller.run(slots.clone(), shutdown.clone()));
    }
    tasks.spawn(prune_loop(app.clone(), shutdown.clone()));
    let outbox = app.outbox()?;
    if lock.is_exclusive() {
        tasks.spawn(outbox.run(Duties::All, shutdown.clone()));
        tasks.spawn(crate::notify::telegram::run_bot(app.clone(), shutdown.clone()));
    } else {
        // Shared database: every instance sends mail; the leader does the rest.
        let leadership = Leadership::campaign(app.store.clone(), worker, shutdown.clone());
        tasks.spawn(outbox.clone().run(Duties::Mail, shutdown.clone()));
        let leader_app = app.clone();
        tasks.spawn(leadership.while_leading(shutdown.clone(), move |term| {
            let app = leader_app.clone();
            let outbox = outbox.clone();
            async move {
                tokio::join!(
                    outbox.run(Duties::Leader, term.clone()),
                    crate::notify::telegram::run_bot(app, term)
                );
            }
        }));
    }
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

/// How long a poll claim lasts beyond the poll timeout (a dead instance's tick is polled
/// by another after it).
const CLAIM_MARGIN: Duration = Duration::from_secs(60);
/// How long an instance that lost a tick to another waits before looking again.
const LOST_TICK_PAUSE: Duration = Duration::from_secs(2);

/// One source's polling loop in this daemon.
struct Poller {
    app: App,
    recipe: Recipe,
    /// This daemon's name in claims.
    worker: String,
}

impl Poller {
    /// Polls the source on its schedule forever: a failing, slow or hanging source only
    /// delays itself. Each scheduled tick is claimed in the store first, so that of several
    /// daemons sharing the database exactly one polls it.
    async fn run(self, slots: Arc<Semaphore>, shutdown: CancellationToken) {
        let (app, recipe) = (&self.app, &self.recipe);
        let spread = app.config.poll.jitter;
        loop {
            let now = Utc::now();
            let first = now
                + chrono::Duration::from_std(jitter(spread.min(Duration::from_secs(5)))).unwrap_or_default();
            let tick = match app.store.first_poll_at(&recipe.id, first).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(source = %recipe.id, "cannot read the poll schedule: {e}");
                    first
                }
            };
            let wait = (tick - now).to_std().unwrap_or_default();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            let Ok(_slot) = slots.acquire().await else { return };
            let ttl = app.config.poll.timeout + CLAIM_MARGIN;
            match app
                .store
                .claim_poll(&recipe.id, tick, &self.worker, Utc::now(), ttl)
                .await
            {
                Ok(true) => self.poll(tick).await,
                Ok(false) => {
                    // Another daemon has this tick: look again once it has moved on.
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(LOST_TICK_PAUSE) => {}
                    }
                }
                Err(e) => {
                    tracing::error!(source = %recipe.id, "cannot claim the poll: {e}");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(LOST_TICK_PAUSE) => {}
                    }
                }
            }
        }
    }

    /// Polls the claimed `tick` (a poll under way finishes — its writes are one
    /// transaction — before the daemon stops), schedules the next, and marks it done.
    async fn poll(&self, tick: chrono::DateTime<Utc>) {
        let (app, recipe) = (&self.app, &self.recipe);
        match app.poll_one(recipe).await {
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
            + chrono::Duration::from_std(jitter(app.config.poll.jitter)).unwrap_or_default();
        if let Err(e) = app.store.set_next_poll(&recipe.id, next).await {
            tracing::error!(source = %recipe.id, "cannot record next poll: {e}");
        }
        if let Err(e) = app.store.finish_poll(&recipe.id, tick, &self.worker).await {
            tracing::error!(source = %recipe.id, "cannot release the poll claim: {e}");
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
