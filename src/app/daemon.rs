//! `tidings run`: one polling loop per source, the outbox and the bot, retention pruning,
//! and the HTTP listener.
//!
//! The pollers, outbox, bot and pruning of one configuration form a *generation*. SIGHUP
//! reads the configuration and recipes again: when they are valid the running generation
//! drains and a new one starts, and the HTTP routes are swapped under the open listener (no
//! connection is dropped); when they are not, the old configuration keeps running and the
//! located errors are logged. SIGTERM drains the generation within `[server]
//! drain_timeout` and then releases every claim this instance still holds.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use chrono::Utc;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::App;
use super::leader::Leadership;
use crate::config::{Config, Recipe};
use crate::notify::outbox::{Duties, Outbox};
use crate::schedule::jitter;
use tokio::net::TcpListener;

/// Binds the HTTP listener (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}; pick another address with --listen"))
}

/// What tells a running daemon to stop or to read its configuration again.
pub struct Signals {
    /// Cancelled to stop (SIGINT, SIGTERM): drain, release, exit.
    pub shutdown: CancellationToken,
    /// One message per request to reload the configuration and recipes (SIGHUP).
    pub reload: Option<mpsc::Receiver<()>>,
}

impl Signals {
    /// Stops on `shutdown`; never reloads.
    pub fn stop_only(shutdown: CancellationToken) -> Signals {
        Signals {
            shutdown,
            reload: None,
        }
    }
}

/// Runs until `signals.shutdown` is cancelled: polls every enabled source on its schedule,
/// delivers, and serves HTTP on `listener`; reloads on `signals.reload`. Fails at once if
/// another daemon holds the database.
pub async fn run_daemon(app: App, listener: TcpListener, signals: Signals) -> anyhow::Result<()> {
    let lock = app.store.lock_daemon().await?;
    let local = listener.local_addr()?;
    let configured_listen = app.config.server.listen;
    let mut app = with_public_url(app, local);
    let routes = LiveRoutes::new(crate::serve::router(app.clone()));
    let http = TaskTracker::new();
    let stop = signals.shutdown.clone();
    let service = routes.service();
    http.spawn(async move {
        let served = axum::serve(
            listener,
            service.into_make_service_with_connect_info::<SocketAddr>(),
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
        let stop = signals.shutdown.clone();
        http.spawn(async move {
            let served = axum::serve(metrics, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!("metrics server stopped: {e}");
            }
        });
        println!("metrics on http://{metrics_addr}/metrics");
    }
    http.close();

    let worker = app.worker_name();
    let exclusive = lock.is_exclusive();
    let mut reload = signals.reload;
    let mut outbox = app.outbox()?;
    let drained = loop {
        let generation = Generation::start(&app, outbox, &worker, exclusive);
        let next = tokio::select! {
            () = signals.shutdown.cancelled() => None,
            next = reloaded(&app, configured_listen, local, &mut reload) => Some(next),
        };
        let deadline = tokio::time::Instant::now() + app.config.server.drain_timeout;
        match next {
            None => {
                tracing::info!(
                    "stopping: no new work is claimed; waiting up to {:?} for work under way",
                    app.config.server.drain_timeout
                );
                break generation.stop(deadline).await;
            }
            Some((next, next_outbox)) => {
                tracing::info!("configuration reloaded: restarting pollers and senders");
                generation.stop(deadline).await;
                routes.replace(crate::serve::router(next.clone()));
                tracing::info!(
                    sources = next.config.sources.iter().filter(|s| s.enabled).count(),
                    "running the new configuration"
                );
                app = next;
                outbox = next_outbox;
            }
        }
    };
    let http_done = tokio::time::timeout(Duration::from_secs(2), http.wait())
        .await
        .is_ok();
    // Whatever is still claimed (a send or poll cut off by the deadline, the leader lease)
    // goes to the next instance or start now rather than when its lease runs out.
    match app.store.release_worker(&worker).await {
        Ok(0) => {}
        Ok(n) => tracing::info!("claims released for other instances: {n}"),
        Err(e) => tracing::warn!("cannot release this instance's claims (they expire on their own): {e}"),
    }
    if drained && http_done {
        tracing::info!("stopped cleanly");
    } else {
        tracing::warn!("stopped at the drain deadline; unfinished work was released and will be redone");
    }
    drop(lock);
    Ok(())
}

/// Waits for a reload request and returns the reconfigured app and its outbox; an invalid configuration
/// is logged (with its located errors) and the wait goes on. Never returns without a
/// reload channel.
async fn reloaded(
    app: &App,
    configured_listen: SocketAddr,
    local: SocketAddr,
    reload: &mut Option<mpsc::Receiver<()>>,
) -> (App, Outbox) {
    loop {
        let asked = match reload.as_mut() {
            Some(rx) => rx.recv().await.is_some(),
            None => false,
        };
        if !asked {
            *reload = None;
            std::future::pending::<()>().await;
        }
        let path = &app.config.path;
        tracing::info!("reloading {} and its recipes", path.display());
        let config = match Config::load(path) {
            Ok(config) => config,
            Err(errors) => {
                tracing::error!("the new configuration is invalid; keeping the running one:\n{errors}");
                continue;
            }
        };
        if config.server.listen != configured_listen {
            tracing::warn!("[server] listen changed: still listening on {local} until a restart");
        }
        match reconfigure(app, config, local).await {
            Ok(next) => return next,
            Err(e) => tracing::error!("cannot apply the new configuration; keeping the running one: {e:#}"),
        }
    }
}

/// The app on `config` and its outbox, sharing the running store (the storage URL and
/// listen address are read at start only: changing them needs a restart).
async fn reconfigure(app: &App, config: Config, local: SocketAddr) -> anyhow::Result<(App, Outbox)> {
    let old = &app.config;
    if config.storage.url != old.storage.url {
        tracing::warn!("[storage] url changed: the new database is used after a restart");
    }
    let flood_unchanged = config.telegram.limits == old.telegram.limits;
    let next = App::with_store(config, app.store.clone())?;
    next.sync_channels().await?;
    let next = App {
        // Telegram's per-chat clocks carry over, or a reload could send too soon.
        flood: if flood_unchanged {
            app.flood.clone()
        } else {
            next.flood
        },
        ..next
    };
    let next = with_public_url(next, local);
    let outbox = next.outbox()?;
    Ok((next, outbox))
}

/// The HTTP routes of the current configuration, replaced on reload under the running
/// listener (requests already under way finish on the routes they started on).
#[derive(Clone)]
struct LiveRoutes(Arc<RwLock<Router>>);

impl LiveRoutes {
    fn new(router: Router) -> LiveRoutes {
        LiveRoutes(Arc::new(RwLock::new(router)))
    }

    fn replace(&self, router: Router) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = router;
    }

    /// A router that hands every request to the current routes.
    fn service(&self) -> Router {
        let live = self.clone();
        Router::new().fallback(move |request: Request| {
            let current = live
                .0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            async move {
                let response: Response = match current.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                response
            }
        })
    }
}

/// The background work of one configuration: pollers, outbox, bot, pruning.
struct Generation {
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Generation {
    fn start(app: &App, outbox: Outbox, worker: &str, exclusive: bool) -> Generation {
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let slots = Arc::new(Semaphore::new(app.config.poll.concurrency));
        for recipe in app.config.sources.iter().filter(|s| s.enabled).cloned() {
            let poller = Poller {
                app: app.clone(),
                recipe,
                worker: worker.to_owned(),
            };
            tasks.spawn(poller.run(slots.clone(), stop.clone()));
        }
        tasks.spawn(prune_loop(app.clone(), stop.clone()));
        if exclusive {
            tasks.spawn(outbox.run(Duties::All, stop.clone()));
            tasks.spawn(crate::notify::telegram::run_bot(app.clone(), stop.clone()));
        } else {
            // Shared database: every instance sends mail; the leader does the rest.
            let leadership = Leadership::campaign(app.store.clone(), worker.to_owned(), stop.clone());
            tasks.spawn(outbox.clone().run(Duties::Mail, stop.clone()));
            let leader_app = app.clone();
            tasks.spawn(leadership.while_leading(stop.clone(), move |term| {
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
        Generation { stop, tasks }
    }

    /// Stops claiming and waits for the work under way until `deadline`; whether it all
    /// finished in time.
    async fn stop(self, deadline: tokio::time::Instant) -> bool {
        self.stop.cancel();
        tokio::time::timeout_at(deadline, self.tasks.wait()).await.is_ok()
    }
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
