//! `tidings demo`: the sample portal on loopback, the daemon polling it on a temporary
//! database, and the URLs to open — offline, within seconds.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::{App, Signals, bind, run_daemon};
use crate::config::Config;
use crate::portal::{PortalParams, PortalServer, generate};

/// The shipped sample-portal recipe, built in so the demo works from any directory.
const RECIPE: &str = include_str!("../../feeds/sample-portal.toml");

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the daemon listens.
    pub listen: SocketAddr,
    /// Base articles per region in the sample portal.
    pub per_region: usize,
    /// Advance the portal one epoch (new, edited, removed articles) this often, then poll.
    pub advance: Option<Duration>,
}

/// Runs the demo until `shutdown`; the temporary directory is removed at the end.
pub async fn run_demo(opts: DemoOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    let params = PortalParams {
        per_region: opts.per_region,
        ..PortalParams::default()
    };
    let portal = PortalServer::start_generated(params.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("starting the sample portal on 127.0.0.1")?;
    let dir = tempfile::Builder::new()
        .prefix("tidings-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    std::fs::create_dir(dir.path().join("feeds"))?;
    std::fs::write(dir.path().join("feeds/sample-portal.toml"), RECIPE)?;
    let config = format!(
        "[server]\nlisten = \"{listen}\"\n\
         [storage]\nurl = \"sqlite://{db}\"\n\
         [fetch]\nhost_interval = \"0s\"\n\
         [poll]\njitter = \"0s\"\n\
         [sources.sample-portal]\norigin = \"{origin}\"\nallow_private = true\nschedule = \"24h\"\n",
        listen = opts.listen,
        db = dir.path().join("demo.db").display(),
        origin = portal.base_url(),
    );
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config)?;
    let config = Config::load_with_env(&config_path, &|_| None)
        .map_err(|e| anyhow::anyhow!("demo configuration:\n{e}"))?;
    let app = App::open(config).await?;
    let listener = bind(opts.listen).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!(
        "sample portal (an offline 山西大院资讯网): {}/",
        portal.base_url()
    );
    println!(
        "database: {} (removed on exit)",
        dir.path().join("demo.db").display()
    );
    println!(
        "open {base}/  ·  {base}/feeds/region/jinzhong.atom  ·  {base}/feeds/tag/%E9%AB%98%E8%B4%A8%E9%87%8F.rss  ·  {base}/status"
    );

    if let Some(every) = opts.advance {
        let app = app.clone();
        let stop = shutdown.clone();
        let portal_state = portal.state();
        let base_url = portal.base_url();
        tokio::spawn(async move {
            let mut epoch = 0;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                epoch += 1;
                portal_state.replace(generate(&PortalParams {
                    epoch,
                    base_url: base_url.clone(),
                    ..params.clone()
                }));
                let sources = app.select_sources(&[]).unwrap_or_default();
                app.poll_round(&sources).await;
                println!("portal advanced to epoch {epoch} and polled");
            }
        });
    }
    run_daemon(app, listener, Signals::stop_only(shutdown)).await?;
    portal.shutdown().await;
    drop(dir);
    Ok(())
}
