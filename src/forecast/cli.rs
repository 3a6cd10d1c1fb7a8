//! `vigie forecast …` subcommands.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::encode::{encode, feature_names};
use super::generate::generate;
use super::model::{evaluate, Evaluation, Forecast, ForecastModel, TrainOptions, DEFAULT_K};
use super::schema::{Dataset, PlannedEvent};
use super::ForecastError;

/// `println!` that ignores a closed stdout (`vigie forecast predict … | head`) instead of
/// panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that ignores a closed stdout.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `vigie forecast`: planned-event risk forecast.
#[derive(Debug, clap::Args)]
pub struct ForecastArgs {
    #[command(subcommand)]
    pub command: ForecastCommand,
}

/// Forest hyper-parameters on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct ForestArgs {
    /// Number of trees.
    #[arg(long, default_value_t = 200)]
    pub trees: usize,
    /// Deepest a tree may grow (default: unlimited).
    #[arg(long)]
    pub max_depth: Option<u16>,
    /// Fewest training events in a leaf.
    #[arg(long, default_value_t = 3)]
    pub min_samples_leaf: usize,
    /// Features drawn as split candidates at each node (default: a third of them).
    #[arg(long)]
    pub max_features: Option<usize>,
    /// Seed of the forest: same data and seed, same forest.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl ForestArgs {
    fn options(&self) -> TrainOptions {
        TrainOptions {
            n_trees: self.trees,
            max_depth: self.max_depth,
            min_samples_leaf: self.min_samples_leaf,
            min_samples_split: 2,
            max_features: self.max_features,
            seed: self.seed,
        }
    }
}

/// The forecast subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ForecastCommand {
    /// Train a forest on past events (CSV) and write the model file.
    Train {
        /// Past events, CSV (see src/forecast/README.md for the columns).
        #[arg(long)]
        events: PathBuf,
        /// Model file to write (JSON).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        forest: ForestArgs,
    },
    /// Forecast the score of planned events: one in TOML (--event) or several in CSV (--csv).
    Predict {
        /// Model file written by `vigie forecast train`.
        #[arg(long)]
        model: PathBuf,
        /// One planned event, TOML.
        #[arg(long, conflicts_with = "csv", required_unless_present = "csv")]
        event: Option<PathBuf>,
        /// Several planned events, CSV (the past-event columns without `score`).
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Number of most similar past events the score is transferred from.
        #[arg(long, default_value_t = DEFAULT_K)]
        k: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show how a model was trained: options, sizes, out-of-bag R², importances (JSON).
    Info {
        #[arg(long)]
        model: PathBuf,
    },
    /// Write a generated history of events with known rules (for tests and benchmarks).
    Generate {
        /// Number of events.
        #[arg(long, default_value_t = 5000)]
        n: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// CSV file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Train on one file, predict another, print held-out R² and timings.
    Evaluate {
        /// Past events to train on (CSV).
        #[arg(long)]
        train: PathBuf,
        /// Held-out past events (CSV, with their observed scores).
        #[arg(long)]
        test: PathBuf,
        #[command(flatten)]
        forest: ForestArgs,
        #[arg(long, default_value_t = DEFAULT_K)]
        k: usize,
        /// Also write the encoded features (X_train.csv, y_train.csv, X_test.csv, y_test.csv)
        /// to this folder, so another tool can train on exactly the same numbers.
        #[arg(long)]
        export_features: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve `POST /api/forecast` and the `/forecast` page alone (the console merges
    /// `vigie::forecast::router` instead).
    Serve {
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:8091")]
        listen: String,
    },
}

fn write_file(path: &Path, text: &str) -> Result<(), ForecastError> {
    std::fs::write(path, text).map_err(|source| ForecastError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, ForecastError> {
    serde_json::to_string_pretty(v).map_err(|e| ForecastError::Usage(e.to_string()))
}

/// Runs a `vigie forecast` subcommand, printing to stdout.
pub fn cli(args: ForecastArgs) -> Result<(), ForecastError> {
    match args.command {
        ForecastCommand::Train {
            events,
            out,
            forest,
        } => {
            let data = Dataset::from_csv(&events)?;
            let model = ForecastModel::train(&data, &forest.options())?;
            model.save(&out)?;
            let t = model.training();
            say!(
                "trained {} trees on {} past events in {:.2} s; out-of-bag R² {}; model written to {}",
                t.options.n_trees,
                t.n_events,
                t.train_seconds,
                t.oob_r2.map_or("n/a".to_string(), |v| format!("{v:.3}")),
                out.display()
            );
            say!("factors that weigh most:");
            for i in model.importances() {
                say!("  {:<36} {:.3}", i.factor, i.weight);
            }
            Ok(())
        }
        ForecastCommand::Predict {
            model,
            event,
            csv,
            k,
            json,
        } => {
            let planned = match (event, csv) {
                (Some(p), _) => vec![PlannedEvent::from_toml(p)?],
                (None, Some(p)) => PlannedEvent::from_csv(p)?,
                (None, None) => {
                    return Err(ForecastError::Usage(
                        "give --event planned.toml or --csv planned.csv".into(),
                    ))
                }
            };
            let model = ForecastModel::load(&model)?;
            let forecasts: Vec<Forecast> = planned.iter().map(|p| model.predict(p, k)).collect();
            if json {
                if forecasts.len() == 1 {
                    say!("{}", to_json(&forecasts[0])?);
                } else {
                    say!("{}", to_json(&forecasts)?);
                }
            } else {
                for f in &forecasts {
                    say_raw!("{}", render_forecast(f));
                }
            }
            Ok(())
        }
        ForecastCommand::Info { model } => {
            let model = ForecastModel::load(&model)?;
            say!("{}", to_json(&model.summary())?);
            Ok(())
        }
        ForecastCommand::Generate { n, seed, out } => {
            let data = Dataset {
                events: generate(n, seed),
            };
            write_file(&out, &data.to_csv())?;
            say!("{} events (seed {seed}) written to {}", n, out.display());
            Ok(())
        }
        ForecastCommand::Evaluate {
            train,
            test,
            forest,
            k,
            export_features,
            json,
        } => {
            let train = Dataset::from_csv(&train)?;
            let test = Dataset::from_csv(&test)?;
            if let Some(dir) = export_features {
                export(&dir, &train, &test)?;
            }
            let (_, eval) = evaluate(&train, &test, &forest.options(), k)?;
            if json {
                say!("{}", to_json(&eval)?);
            } else {
                say_raw!("{}", render_evaluation(&eval));
            }
            Ok(())
        }
        ForecastCommand::Serve { model, listen } => {
            let model = match model {
                Some(p) => Some(Arc::new(ForecastModel::load(&p)?)),
                None => None,
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|source| ForecastError::Io {
                    path: "tokio runtime".into(),
                    source,
                })?;
            rt.block_on(async move {
                let io = |source| ForecastError::Io {
                    path: listen.clone(),
                    source,
                };
                let listener = tokio::net::TcpListener::bind(&listen).await.map_err(io)?;
                say!("forecast page on http://{listen}/forecast");
                axum::serve(listener, super::router(model))
                    .await
                    .map_err(io)
            })
        }
    }
}

fn export(dir: &Path, train: &Dataset, test: &Dataset) -> Result<(), ForecastError> {
    std::fs::create_dir_all(dir).map_err(|source| ForecastError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let header = feature_names().join(",");
    for (name, data) in [("train", train), ("test", test)] {
        let mut x = format!("{header}\n");
        let mut y = String::from("score\n");
        for e in &data.events {
            let row: Vec<String> = encode(&e.factors).iter().map(|v| format!("{v}")).collect();
            x.push_str(&row.join(","));
            x.push('\n');
            let _ = writeln!(y, "{}", e.score);
        }
        write_file(&dir.join(format!("X_{name}.csv")), &x)?;
        write_file(&dir.join(format!("y_{name}.csv")), &y)?;
    }
    Ok(())
}

/// A forecast as text for the terminal.
pub fn render_forecast(f: &Forecast) -> String {
    let e = &f.event;
    let p = &e.factors;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Planned event {}: {} at {} ({} sector), {} participants, {} m², {} h, {}, {}{}",
        e.id,
        p.nature,
        p.location,
        p.sector,
        p.participants,
        p.footprint_m2,
        p.duration_h,
        if p.weekend { "weekend" } else { "weekday" },
        p.season,
        e.date
            .as_ref()
            .map(|d| format!(", {d}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "  Predicted score: {:.2}  (transferred from the {} most similar past events)",
        f.score,
        f.neighbours.len()
    );
    let _ = writeln!(s, "  Forest prediction: {:.2}", f.forest_score);
    let _ = writeln!(s, "  Most similar past events:");
    let _ = writeln!(
        s,
        "    {:>3}  {:<12} {:<10} {:>10} {:>6}  {:<13} {:<9} {:<10} {:>8} {:>9} {:>5}",
        "#",
        "id",
        "date",
        "similarity",
        "score",
        "nature",
        "location",
        "sector",
        "people",
        "m²",
        "h"
    );
    for n in &f.neighbours {
        let _ = writeln!(
            s,
            "    {:>3}  {:<12} {:<10} {:>10.3} {:>6.1}  {:<13} {:<9} {:<10} {:>8} {:>9} {:>5}",
            n.rank,
            n.id,
            n.date.as_deref().unwrap_or("-"),
            n.similarity,
            n.score,
            n.factors.nature.as_str(),
            n.factors.location.as_str(),
            n.factors.sector.as_str(),
            n.factors.participants,
            n.factors.footprint_m2,
            n.factors.duration_h
        );
    }
    let _ = writeln!(s, "  Factors that weigh most (mean decrease in impurity):");
    for i in &f.importances {
        let _ = writeln!(s, "    {:<36} {:.3}", i.factor, i.weight);
    }
    s
}

fn render_evaluation(e: &Evaluation) -> String {
    let mut s = String::new();
    let o = &e.options;
    let _ = writeln!(
        s,
        "train {} events, held-out {} events; {} trees, max_depth {:?}, min_samples_leaf {}, max_features {:?}, seed {}",
        e.n_train, e.n_test, o.n_trees, o.max_depth, o.min_samples_leaf, o.max_features, o.seed
    );
    let _ = writeln!(
        s,
        "R² forest {:.4}   R² transfer (k={}) {:.4}   OOB R² {}",
        e.r2_forest,
        e.k,
        e.r2_transfer,
        e.oob_r2.map_or("n/a".into(), |v| format!("{v:.4}"))
    );
    let _ = writeln!(
        s,
        "MAE forest {:.3}   MAE transfer {:.3}",
        e.mae_forest, e.mae_transfer
    );
    let _ = writeln!(
        s,
        "fit {:.3} s (whole training incl. OOB and proximity index {:.3} s); predict {:.4} s; forecasts with neighbours {:.4} s",
        e.train_seconds, e.train_total_seconds, e.predict_seconds, e.transfer_seconds
    );
    s
}
