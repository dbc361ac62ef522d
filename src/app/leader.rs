//! Leadership among the daemons sharing a database: exactly one at a time runs the work
//! that must not run twice — the Telegram update loop (a second `getUpdates` gets 409 from
//! Telegram), the digest scheduler, operator alerts and Telegram sending (so that the bot's
//! flood limits hold for the bot as a whole).
//!
//! The leader holds the `leader` lease in the store and renews it every
//! [`RENEW`]; when it dies, the lease runs out after [`LEASE`] and the next instance to ask
//! takes over — within a minute. A daemon with an exclusive lock on its database (SQLite)
//! leads at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How long the leader lease lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often the lease is renewed (and asked for by the others).
pub const RENEW: Duration = Duration::from_secs(10);
/// The lease's name in the store.
const NAME: &str = "leader";

/// Whether this daemon leads now; cheap to clone and watch.
#[derive(Debug, Clone)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
    /// Keeps a sole leader's channel open.
    _sole: Option<Arc<watch::Sender<bool>>>,
}

impl Leadership {
    /// Always the leader (the only daemon on its database).
    pub fn sole() -> Leadership {
        let (tx, rx) = watch::channel(true);
        Leadership {
            rx,
            _sole: Some(Arc::new(tx)),
        }
    }

    /// Campaigns for the lease as `holder` until `shutdown`, then gives it up.
    pub fn campaign(store: Arc<dyn Store>, holder: String, shutdown: CancellationToken) -> Leadership {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let held = match store.acquire_lease(NAME, &holder, Utc::now(), LEASE).await {
                    Ok(held) => held,
                    Err(e) => {
                        tracing::warn!("cannot renew the leader lease: {e}");
                        false
                    }
                };
                if held != *tx.borrow() {
                    if held {
                        tracing::info!("leading: Telegram updates, digests and alerts run here");
                    } else {
                        tracing::info!("no longer leading");
                    }
                    tx.send_replace(held);
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(RENEW) => {}
                }
            }
            tx.send_replace(false);
            if let Err(e) = store.release_lease(NAME, &holder).await {
                tracing::warn!("cannot release the leader lease: {e}");
            }
        });
        Leadership { rx, _sole: None }
    }

    /// Whether this daemon leads now.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Runs `task` whenever this daemon leads, until `shutdown`: started when leadership
    /// is gained, cancelled (through the token it is given) when it is lost.
    pub async fn while_leading<F, Fut>(mut self, shutdown: CancellationToken, task: F)
    where
        F: Fn(CancellationToken) -> Fut,
        Fut: Future<Output = ()>,
    {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                led = self.rx.wait_for(|leading| *leading) => if led.is_err() { return },
            }
            let term = shutdown.child_token();
            let run = task(term.clone());
            tokio::pin!(run);
            let lost = async {
                let _ = self.rx.wait_for(|leading| !*leading).await;
            };
            tokio::select! {
                () = &mut run => return,
                () = lost => {
                    term.cancel();
                    run.await;
                }
            }
        }
    }
}
