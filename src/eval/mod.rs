//! `vigie eval`: measures the rules on labelled footage.
//!
//! A scenario is a folder with `scenario.toml` (the clip, an optional segment of it), a Vigie
//! config (one camera, its zones and rules) and a ground-truth file (events and don't-care
//! windows, in clip seconds). Each scenario runs through the real pipeline (GStreamer decoding,
//! the ONNX detector, the tracker, the rules, the journal) on the clip read once; the journaled
//! alerts are then matched to the ground truth ([`matching`]) and scored per rule: TP, FP, FN,
//! precision, recall, and the latency from an event's start to its alert.

mod clip;
pub mod matching;
pub mod overlay;
mod report;
mod run;
mod scenario;

use std::path::{Path, PathBuf};

pub use report::{EventReport, Report, ScenarioReport};
pub use scenario::Scenario;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{}: {message}", file.display())]
    Read { file: PathBuf, message: String },
    #[error("{}: {}{message}", file.display(), if field.is_empty() { String::new() } else { format!("{field}: ") })]
    Invalid {
        file: PathBuf,
        field: String,
        message: String,
    },
    #[error("scenario `{scenario}`: its config {} does not load on this build:\n  - {}", file.display(), errors.join("\n  - "))]
    Config {
        scenario: String,
        file: PathBuf,
        errors: Vec<String>,
    },
    #[error("clip {}: {message}", clip.display())]
    Clip { clip: PathBuf, message: String },
    #[error("scenario `{scenario}`: {message}")]
    Engine { scenario: String, message: String },
    #[error("{0}")]
    Io(String),
    #[error("`{0}`: no scenario folder (with a scenario.toml) there")]
    NoScenario(String),
    #[error("{failed} of {total} scenario runs failed (see above)")]
    Failed { failed: usize, total: usize },
}

/// `vigie eval` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// Scenario folders, globs of them (quoted), or folders holding scenario folders.
    #[arg(required = true)]
    pub scenarios: Vec<String>,
    /// Also write the results (per rule, per alert, per event) as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Run each scenario at these detection rates (comma-separated) instead of its config's.
    #[arg(long, value_delimiter = ',')]
    pub detect_fps: Vec<f32>,
    /// Use this config file of each scenario folder instead of the one scenario.toml names
    /// (e.g. `config.before.toml`).
    #[arg(long)]
    pub config: Option<String>,
    /// Copy each built clip or segment (what the engine was fed) into this folder, as
    /// `<scenario>.mkv`, to look at it.
    #[arg(long)]
    pub keep_clips: Option<PathBuf>,
    /// Detector input `WIDTHxHEIGHT` for every scenario (`[detector] input`, e.g. 416x288),
    /// instead of its config's.
    #[arg(long, value_parser = crate::config::parse_input_size)]
    pub input: Option<[u32; 2]>,
    /// Motion gating on every scenario's camera (`[cameras.motion] enabled = true`, the
    /// config's other motion settings kept): does skipping still frames miss an event?
    #[arg(long)]
    pub motion: bool,
    /// Only check the scenarios (files, ground truth, config) without running them.
    #[arg(long)]
    pub check: bool,
}

/// Runs `vigie eval`: every scenario, every rate; prints the table, writes the JSON. An error
/// in one scenario is printed and the others still run; the result is then an error.
pub fn run(args: &EvalArgs) -> Result<(), EvalError> {
    let dirs = expand(&args.scenarios)?;
    let rates: Vec<Option<f32>> = if args.detect_fps.is_empty() || args.check {
        vec![None]
    } else {
        args.detect_fps.iter().map(|&f| Some(f)).collect()
    };
    if let Some(bad) = args
        .detect_fps
        .iter()
        .find(|f| !(f.is_finite() && **f > 0.0 && **f <= 120.0))
    {
        return Err(EvalError::Io(format!(
            "--detect-fps {bad} is out of range (0, 120]"
        )));
    }
    let mut report = Report::default();
    let mut failed = 0;
    let mut total = 0;
    for dir in &dirs {
        for &rate in &rates {
            total += 1;
            match evaluate(dir, args, rate) {
                Ok(Some(r)) => {
                    eprintln!("{}", report::summary_line(&r));
                    report.scenarios.push(r);
                }
                Ok(None) => {}
                Err(e) => {
                    failed += 1;
                    eprintln!("vigie eval: error: {e}");
                    report.errors.push(report::ErrorReport {
                        scenario: dir.display().to_string(),
                        error: e.to_string(),
                    });
                }
            }
        }
    }
    if !args.check {
        print!("{}", report::table(&report));
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| EvalError::Io(format!("JSON: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| EvalError::Io(format!("{}: {e}", path.display())))?;
    }
    match failed {
        0 => Ok(()),
        _ => Err(EvalError::Failed { failed, total }),
    }
}

/// One scenario at one rate; `None` in `--check` mode.
fn evaluate(
    dir: &Path,
    args: &EvalArgs,
    rate: Option<f32>,
) -> Result<Option<ScenarioReport>, EvalError> {
    let s = Scenario::load(dir, args.config.as_deref())?;
    if args.check {
        run::check(&s)?;
        println!(
            "{}: ok ({} event{}, {} don't-care window{}, config {})",
            s.name,
            s.events.len(),
            if s.events.len() == 1 { "" } else { "s" },
            s.dont_care.len(),
            if s.dont_care.len() == 1 { "" } else { "s" },
            s.config_path.display()
        );
        return Ok(None);
    }
    tracing::info!(scenario = %s.name, config = %s.config_path.display(), "evaluating");
    let overrides = run::Overrides {
        detect_fps: rate,
        input: args.input,
        motion: args.motion,
    };
    let out = run::run(&s, overrides, args.keep_clips.as_deref())?;
    Ok(Some(ScenarioReport::build(&s, &out)))
}

/// Scenario folders named by the arguments, in order, each once.
fn expand(args: &[String]) -> Result<Vec<PathBuf>, EvalError> {
    let mut out: Vec<PathBuf> = Vec::new();
    for arg in args {
        let path = Path::new(arg);
        let found: Vec<PathBuf> = if path.is_dir() {
            if path.join("scenario.toml").is_file() {
                vec![path.to_path_buf()]
            } else {
                children_with_scenario(path)
            }
        } else {
            glob::glob(arg)
                .map_err(|e| EvalError::Io(format!("`{arg}`: {e}")))?
                .filter_map(Result::ok)
                .filter(|p| p.join("scenario.toml").is_file())
                .collect()
        };
        if found.is_empty() {
            return Err(EvalError::NoScenario(arg.clone()));
        }
        for p in found {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

fn children_with_scenario(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("scenario.toml").is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
