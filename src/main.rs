//! The `vigie` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use vigie::alerts::{AlertBus, Journal};
use vigie::app::FileReloader;
use vigie::config::Config;
use vigie::delivery::{self, AppState};
use vigie::engine::{Engine, EngineOptions};
use vigie::governance::gate::AlertingGate;
use vigie::metrics::Metrics;

#[derive(Parser)]
#[command(
    name = "vigie",
    version,
    about = "Real-time video analytics for supervision centres: every alert goes to a human operator."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine: cameras, detection, rules, journal, HTTP API and console.
    Run {
        /// Configuration file (TOML).
        config: PathBuf,
    },
    /// Validate a configuration file without opening any camera; lists every error.
    CheckConfig { config: PathBuf },
    /// Measure throughput: N copies of a clip through the full pipeline, then decode-only and
    /// inference-only on the same machine in the same run. `vigie bench capacity …`: how many
    /// live cameras this machine holds at a target detection rate.
    Bench(Box<BenchCli>),
    /// Planned-event risk forecast: train on past events, predict for planned ones.
    Forecast(vigie::forecast::ForecastArgs),
    /// Camera ingest cost: N live cameras through decode and scaling only (no detection).
    BenchIngest(vigie::bench_ingest::BenchIngestArgs),
    /// Serve a video file over RTSP (H.264 or H.265), looping, for tests and demonstrations.
    ServeRtsp(vigie::rtsp_server::ServeArgs),
    /// Measure the rules on labelled scenarios (clip, config, ground truth): TP, FP, FN,
    /// precision, recall and latency per rule.
    Eval(vigie::eval::EvalArgs),
    /// The journal's record: verify its hash chain, export a bundle an auditor verifies
    /// offline, the configuration in force at a time, the chain's head, the retention purge.
    Audit(vigie::governance::audit::AuditArgs),
    /// Accounts of the console and API: add, passwd, disable, enable, list.
    User(vigie::auth::cli::UserArgs),
    /// API tokens for machine clients (VMS, hypervision): add, revoke, list.
    Token(vigie::auth::cli::TokenArgs),
}

/// `vigie bench --clip …` (throughput), or `vigie bench capacity …`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct BenchCli {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    #[command(flatten)]
    args: vigie::bench::BenchArgs,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// How many live cameras this machine holds at a target detection rate: N cameras through
    /// the whole engine, N raised until a camera falls below 98 % of its rate, > 1 % of frames
    /// are dropped, or p95 frame-to-decision passes the limit.
    Capacity(vigie::tools::capacity::CapacityArgs),
}

fn bench(cli: BenchCli) -> Result<()> {
    match cli.command {
        Some(BenchCommand::Capacity(a)) => Ok(vigie::tools::capacity::run(&a)?),
        None => Ok(vigie::bench::run(&cli.args)?),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Run { config } => run(config),
        Command::CheckConfig { config } => return check_config(config),
        Command::Audit(args) => return audit(args),
        Command::Bench(cli) => bench(*cli),
        Command::Forecast(args) => vigie::forecast::cli(args).map_err(anyhow::Error::from),
        Command::BenchIngest(args) => vigie::bench_ingest::run(&args).map_err(anyhow::Error::from),
        Command::ServeRtsp(args) => vigie::rtsp_server::serve(&args).map_err(anyhow::Error::from),
        Command::Eval(args) => vigie::eval::run(&args).map_err(anyhow::Error::from),
        Command::User(args) => vigie::auth::cli::user(args).map_err(anyhow::Error::from),
        Command::Token(args) => vigie::auth::cli::token(args).map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigie: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// 0: what was checked holds; 1: it is broken; 2: the command could not run.
fn audit(args: vigie::governance::audit::AuditArgs) -> ExitCode {
    match vigie::governance::audit::run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("vigie: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn check_config(path: PathBuf) -> ExitCode {
    match Config::load(&path) {
        Ok(cfg) => {
            let zones: usize = cfg.cameras.iter().map(|c| c.zones.len()).sum();
            let rules: usize = cfg.cameras.iter().map(|c| c.rules.len()).sum();
            println!(
                "{}: ok ({} camera{}, {} zone{}, {} rule{})",
                path.display(),
                cfg.cameras.len(),
                plural(cfg.cameras.len()),
                zones,
                plural(zones),
                rules,
                plural(rules)
            );
            for line in cfg.cameras.iter().filter_map(|c| c.calibration_summary()) {
                println!("  {line}");
            }
            let shadow: Vec<String> = cfg
                .cameras
                .iter()
                .flat_map(|c| {
                    c.rules
                        .iter()
                        .filter(|r| r.mode == vigie::rules::RuleMode::Shadow)
                        .map(move |r| format!("{}/{}", c.id, r.id()))
                })
                .collect();
            if !shadow.is_empty() {
                println!(
                    "  shadow mode (journaled for evaluation, shown to no operator): {}",
                    shadow.join(", ")
                );
            }
            print!(
                "{}",
                vigie::governance::authorisations::report(&cfg, vigie::alerts::now_ms())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn run(config_path: PathBuf) -> Result<()> {
    let config = Config::load(&config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let journal_path = config.journal_path();
    let outputs: Vec<String> = config.outputs.iter().map(|o| o.id().to_string()).collect();
    let journal = Arc::new(
        Journal::open(&journal_path)
            .with_context(|| format!("opening the journal {}", journal_path.display()))?
            .with_outputs(outputs),
    );
    let forecast = match &config.forecast.model {
        Some(p) => {
            let path = config.resolve(p);
            let model = vigie::forecast::ForecastModel::load(&path)
                .with_context(|| format!("loading the forecast model {}", path.display()))?;
            Some(Arc::new(model))
        }
        None => None,
    };
    let metrics = Metrics::new();
    // Every event passes the governance gate (authorisations, stop switch) before it is an alert.
    let gate = Arc::new(
        AlertingGate::open(journal.clone(), &config.authorisations)
            .context("reading the alerting state from the journal")?,
    );
    if config.authorisations.is_empty() {
        tracing::warn!("no [[authorisations]] configured: the authorisation gate is off");
    }
    // Alert clips: each camera's compressed stream kept in a ring, a clip written per alert.
    let clips = Arc::new(vigie::clips::ClipRings::new(config.clips));
    let bus = AlertBus::new(journal.clone(), 1024, metrics.clone())
        .with_gate(gate.clone())
        .with_clips(clips.clone());
    if config.clips.enabled {
        let dir = config.state_dir().join("clips");
        vigie::clips::service::spawn(clips.clone(), &bus, dir, metrics.clone())
            .context("starting the clip thread")?;
    }
    let engine = Arc::new(
        Engine::start(
            &config,
            bus.clone(),
            metrics.clone(),
            EngineOptions {
                clips: Some(clips),
                ..EngineOptions::default()
            },
        )
        .context("starting the engine")?,
    );
    // Hot reload (POST /api/config/reload and SIGHUP) re-reads this same file.
    let reload_gate = gate.clone();
    let reloader = Arc::new(
        FileReloader::new(config_path.clone(), engine.clone()).with_on_applied(Box::new(
            move |cfg: &Config| {
                if let Err(e) = reload_gate.set_authorisations(&cfg.authorisations) {
                    tracing::error!(error = %e, "cannot journal the reloaded authorisations");
                }
            },
        )),
    );

    let addr: SocketAddr = config
        .listen_addr()
        .context("server.listen is not an address")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let auth = open_auth(&config, &journal_path)?;
    let tls = match &config.server.tls {
        Some(t) => Some(
            delivery::tls::acceptor(&config.resolve(&t.cert), &config.resolve(&t.key))
                .context("loading the TLS certificate")?,
        ),
        None => None,
    };
    let state = AppState::new(bus, engine.status_list(), auth)
        .with_forecast(forecast)
        .with_reloader(Some(reloader.clone() as Arc<dyn delivery::Reloader>))
        .with_guard(delivery::Guard::new(addr, &config.server.allowed_hosts))
        .with_gate(gate.clone());
    let delivery_journal = journal.clone();
    let retention_journal = journal.clone();
    let served = runtime.block_on(async move {
        // MQTT and webhooks, fed by the journal's outbox (items left by a previous run included).
        let _outputs = delivery::output::start(&config, delivery_journal, &metrics)
            .context("starting the outputs")?;
        reload_on_sighup(reloader);
        vigie::governance::gate::spawn_watch(gate);
        vigie::governance::retention::spawn_daily(
            retention_journal,
            config.retention,
            metrics.clone(),
        );
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        let local = listener.local_addr().context("local address")?;
        let (listener, scheme) = match tls {
            Some(acceptor) => (delivery::tls::Listener::tls(listener, acceptor), "https"),
            None => (delivery::tls::Listener::plain(listener), "http"),
        };
        let listener = listener.context("listener")?;
        // The one line a user or a test looks for.
        println!("Vigie console: {scheme}://{local}/");
        tracing::info!(%local, scheme, "HTTP API and console listening");
        delivery::serve_on(listener, state, shutdown_signal())
            .await
            .context("HTTP server")
    });
    engine.shutdown();
    drop(journal);
    served
}

/// The accounts of the journal; warns when there is none yet (nobody can log in).
fn open_auth(config: &Config, journal_path: &std::path::Path) -> Result<Arc<vigie::auth::Auth>> {
    let settings = config.auth.settings(config.server.tls.is_some());
    let auth = vigie::auth::Auth::open(journal_path, settings)
        .with_context(|| format!("opening the accounts in {}", journal_path.display()))?;
    let users = auth.store().users().context("reading the accounts")?;
    let tokens = auth.store().tokens().context("reading the API tokens")?;
    if users.is_empty() && tokens.is_empty() {
        tracing::warn!(
            "no account and no API token yet: nobody can use the console or the API. Create the \
             first admin with `vigie user add NAME --role admin --config FILE`"
        );
    }
    Ok(Arc::new(auth))
}

/// Reloads the configuration on every SIGHUP, logging the outcome (every error listed).
fn reload_on_sighup(reloader: Arc<FileReloader>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP: reload only through the API");
            return;
        }
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            let r = reloader.clone();
            match tokio::task::spawn_blocking(move || r.reload_report()).await {
                Ok(Ok(report)) => {
                    tracing::info!(report = %serde_json::json!(report), "SIGHUP reload done")
                }
                Ok(Err(e)) => {
                    let errors = match &e {
                        delivery::ReloadError::Invalid { errors, .. }
                        | delivery::ReloadError::Refused { errors, .. } => errors.clone(),
                        delivery::ReloadError::Failed(_) => Vec::new(),
                    };
                    tracing::error!(error = %e, ?errors, "SIGHUP reload failed")
                }
                Err(e) => tracing::error!(error = %e, "SIGHUP reload task failed"),
            }
        }
    });
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}
