//! The `tidings` binary: parse the command line, load the configuration, run one command.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tidings::app::{
    App, DemoOptions, Signals, bind, check_source, poll_table, render_site, run_daemon, run_demo,
    sources_table,
};
use tidings::cli::{Cli, Command, ConfigAction, LogFormat, SourcesAction};
use tidings::config::{Config, load_recipe_file};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIDINGS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,html5ever=error")),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Human => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(cli: &Cli) -> anyhow::Result<Config> {
    Config::load(&cli.config).map_err(|errs| anyhow::anyhow!("invalid configuration:\n{errs}"))
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Config {
            action: ConfigAction::Check,
        } => match Config::load(&cli.config) {
            Ok(c) => {
                println!(
                    "{}: ok, {} sources ({} enabled)",
                    cli.config.display(),
                    c.sources.len(),
                    c.sources.iter().filter(|s| s.enabled).count()
                );
                for f in &c.secrets.features {
                    println!("{}: {}", f.name, f.reason);
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(errs) => {
                eprintln!("{errs}");
                eprintln!("{} error(s) in the configuration", errs.0.len());
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Check {
            source_or_file,
            limit,
            json,
        } => {
            let config = load(&cli)?;
            let path = std::path::Path::new(source_or_file);
            // A recipe file of the feeds directory is its source, with its `[sources.<id>]`
            // override applied.
            let configured = config.source(source_or_file).or_else(|| {
                let stem = path.file_stem()?.to_str()?;
                let same = |a: &std::path::Path, b: &std::path::Path| {
                    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
                };
                config
                    .source(stem)
                    .filter(|_| same(path, &config.feeds_dir.join(format!("{stem}.toml"))))
            });
            let recipe = match configured {
                Some(r) => r.clone(),
                None if path.is_file() => load_recipe_file(path, &config.poll.defaults, config.allow_private)
                    .map_err(|errs| anyhow::anyhow!("invalid recipe:\n{errs}"))?,
                None => anyhow::bail!("`{source_or_file}` is neither a source id nor a recipe file"),
            };
            let app = App::with_store(config.clone(), tidings::store::open("sqlite::memory:").await?)?;
            let report = check_source(&app.ingest.fetcher, &config.regions, &recipe, *limit).await;
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.table());
            }
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Poll { sources } => {
            let app = App::open(load(&cli)?).await?;
            let chosen = app.select_sources(sources)?;
            if chosen.is_empty() {
                anyhow::bail!(
                    "no enabled sources; enable one in {} or name it",
                    cli.config.display()
                );
            }
            let results = app.poll_round(&chosen).await;
            let rows: Vec<_> = chosen.iter().map(|r| r.id.clone()).zip(results).collect();
            println!("{}", poll_table(&rows));
            let failed = rows
                .iter()
                .any(|(_, r)| r.as_ref().map_or(true, |r| r.failed > 0));
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Backfill { source, pages } => {
            let app = App::open(load(&cli)?).await?;
            print!("{}", app.backfill(source, *pages).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sources { action } => {
            let app = App::open(load(&cli)?).await?;
            if let Some(SourcesAction::Accept { source }) = action {
                app.select_sources(std::slice::from_ref(source))?;
                if app.store.accept_flood(source).await? {
                    println!(
                        "{source}: accepted; the next poll stores the held entries as the known articles under their new URLs"
                    );
                } else {
                    println!("{source}: nothing is held");
                }
                return Ok(ExitCode::SUCCESS);
            }
            let states = app.store.source_states().await?;
            let mut inputs = Vec::new();
            for r in &app.config.sources {
                inputs.extend(app.store.input_states(&r.id).await?);
            }
            println!("{}", sources_table(&app.config.sources, &states, &inputs));
            Ok(ExitCode::SUCCESS)
        }
        Command::Render { out } => {
            let app = App::open(load(&cli)?).await?;
            let n = render_site(&app, out).await.context("tidings render")?;
            println!("wrote {n} files to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { listen } => {
            let app = App::open(load(&cli)?).await?;
            let signals = daemon_signals();
            let listener = bind(listen.unwrap_or(app.config.server.listen)).await?;
            run_daemon(app, listener, signals).await.context("tidings run")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Deliver => {
            let app = App::open(load(&cli)?).await?;
            let outbox = app.outbox()?;
            let report = outbox.deliver_due().await?;
            let digests = outbox.send_digests().await?;
            println!(
                "sent {}, retried later {}, failed {}, recipients deactivated {}, digests sent {digests}",
                report.sent, report.retried, report.failed, report.deactivated
            );
            Ok(if report.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Subscribe(args) => {
            let app = App::open(load(&cli)?).await?;
            println!("{}", app.subscribe_cli(args).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Unsubscribe { who, thread } => {
            let app = App::open(load(&cli)?).await?;
            println!("{}", app.unsubscribe_cli(who, *thread).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { from, to } => {
            let report = tidings::app::migrate(from, to).await.context("tidings migrate")?;
            print!("{report}");
            println!("done: every table copied and its row count verified");
            Ok(ExitCode::SUCCESS)
        }
        Command::Subscriptions => {
            let app = App::open(load(&cli)?).await?;
            print!("{}", app.subscriptions_table().await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportOpml { file, dir, dry_run } => {
            let config = load(&cli)?;
            let opts = tidings::app::ImportOptions {
                file,
                dir: dir.as_deref(),
                dry_run: *dry_run,
            };
            let report = tidings::app::import_opml(&config, &opts)?;
            print!("{}", report.render());
            if let Some(next) = report.next_steps(&cli.config) {
                println!("{next}");
            }
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Demo {
            listen,
            per_region,
            advance,
        } => {
            let opts = DemoOptions {
                listen: *listen,
                per_region: *per_region,
                advance: *advance,
            };
            run_demo(opts, shutdown_on_signal())
                .await
                .context("tidings demo")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// SIGINT/SIGTERM stop the daemon; SIGHUP reloads its configuration.
fn daemon_signals() -> Signals {
    let shutdown = shutdown_on_signal();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    // A reload already waiting covers this one too.
                    let _ = tx.try_send(());
                }
            });
        }
        Err(e) => tracing::warn!("SIGHUP will not reload the configuration: {e}"),
    }
    #[cfg(not(unix))]
    drop(tx);
    Signals {
        shutdown,
        reload: Some(rx),
    }
}

/// A token cancelled by SIGINT or SIGTERM.
fn shutdown_on_signal() -> CancellationToken {
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        trigger.cancel();
    });
    shutdown
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or_default(),
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or_default();
}
