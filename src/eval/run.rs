//! One run of a scenario through the real pipeline: the scenario's config with its one camera
//! reading the clip (or its segment) once, as fast as the detector goes (`realtime = false`: every
//! frame at `detect_fps` is analysed, the decoder waits), a temporary journal; then the alerts
//! read back from that journal.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::clip::{write_segment, Cut, Segment};
use super::matching::Observed;
use super::overlay::Painter;
use super::scenario::Scenario;
use super::EvalError;
use crate::alerts::{AlertBus, Journal};
use crate::config::Config;
use crate::engine::{Engine, EngineOptions};
use crate::ingest::CameraState;
use crate::metrics::Metrics;

/// A run's alerts and what it analysed.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub alerts: Vec<Observed>,
    pub detect_fps: f32,
    pub frames_analysed: u64,
    /// Frames the motion gate kept from the detector (0 without gating).
    pub frames_skipped: u64,
    /// Seconds of the original clip covered by the run.
    pub clip_start: f64,
    pub clip_end: Option<f64>,
    pub wall_seconds: f64,
}

/// The longest a run may take (a stuck pipeline fails the scenario rather than hanging).
const RUN_TIMEOUT: Duration = Duration::from_secs(1800);

/// What `vigie eval` changes in every scenario's config (each `None`/`false`: the config's own).
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    /// The camera's `detect_fps`.
    pub detect_fps: Option<f32>,
    /// `[detector] input`.
    pub input: Option<[u32; 2]>,
    /// Motion gating on the camera (`[cameras.motion] enabled = true`, its other settings kept).
    pub motion: bool,
}

/// Runs one scenario with its config changed by `overrides`.
pub fn run(
    s: &Scenario,
    overrides: Overrides,
    keep: Option<&Path>,
) -> Result<RunOutput, EvalError> {
    let started = Instant::now();
    let tmp = tempfile::tempdir().map_err(|e| EvalError::Io(format!("temporary folder: {e}")))?;
    let (clip, segment) = prepare_clip(s, tmp.path())?;
    if let Some(dir) = keep {
        let kept = dir.join(format!("{}.mkv", s.name));
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::copy(&clip, &kept))
            .map_err(|e| EvalError::Io(format!("{}: {e}", kept.display())))?;
    }
    let journal_path = tmp.path().join("journal.db");
    let config = build_config(s, &clip, &journal_path, overrides)?;
    let fps = config.cameras.first().map(|c| c.detect_fps).unwrap_or(0.0);
    let frames = run_engine(s, &config, &journal_path)?;
    let alerts = read_alerts(&journal_path, segment)
        .map_err(|e| EvalError::Io(format!("{}: reading the journal: {e}", s.name)))?;
    Ok(RunOutput {
        alerts,
        detect_fps: fps,
        frames_analysed: frames.analysed,
        frames_skipped: frames.skipped,
        clip_start: segment.origin,
        clip_end: s.file.end_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Checks that the scenario's config loads, without running anything.
pub fn check(s: &Scenario) -> Result<(), EvalError> {
    let journal = std::env::temp_dir().join("vigie-eval-check.db");
    build_config(s, &s.clip, &journal, Overrides::default()).map(|_| ())
}

fn prepare_clip(s: &Scenario, tmp: &Path) -> Result<(std::path::PathBuf, Segment), EvalError> {
    let f = &s.file;
    if f.start_seconds.is_none() && f.end_seconds.is_none() && f.speed == 1 && f.overlays.is_empty()
    {
        return Ok((s.clip.clone(), Segment::whole()));
    }
    let dst = tmp.join("segment.mkv");
    let cut = Cut {
        start: f.start_seconds.unwrap_or(0.0),
        end: f.end_seconds,
        speed: f.speed,
    };
    let mut painter = match f.overlays.as_slice() {
        [] => None,
        o => Some(
            Painter::new(o, &s.dir).map_err(|message| EvalError::Invalid {
                file: s.dir.join("scenario.toml"),
                field: "overlays".into(),
                message,
            })?,
        ),
    };
    let segment = write_segment(&s.clip, &dst, cut, painter.as_mut())?;
    tracing::info!(scenario = %s.name, frames = segment.frames, origin = segment.origin, speed = segment.speed, "clip segment written");
    Ok((dst, segment))
}

/// The scenario's config with its camera pointed at `clip` (played once, every frame at the
/// detection rate analysed) and the journal at `journal`.
fn build_config(
    s: &Scenario,
    clip: &Path,
    journal: &Path,
    overrides: Overrides,
) -> Result<Config, EvalError> {
    let bad = |message: String| EvalError::Invalid {
        file: s.config_path.clone(),
        field: String::new(),
        message,
    };
    let mut root: toml::Table = s
        .config_text
        .parse()
        .map_err(|e: toml::de::Error| bad(e.to_string()))?;
    let path_value = |p: &Path| toml::Value::String(p.to_string_lossy().into_owned());
    let journal_table = root
        .entry("journal")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(t) = journal_table.as_table_mut() {
        t.insert("path".into(), path_value(journal));
    }
    if let Some(size) = overrides.input {
        let detector = root
            .entry("detector")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(t) = detector.as_table_mut() {
            let sides = size.iter().map(|&v| toml::Value::Integer(v.into()));
            t.insert("input".into(), toml::Value::Array(sides.collect()));
        }
    }
    let camera = root
        .get_mut("cameras")
        .and_then(|c| c.as_array_mut())
        .and_then(|c| c.first_mut())
        .and_then(|c| c.as_table_mut())
        .ok_or_else(|| bad("no [[cameras]]".into()))?;
    camera.insert("source".into(), path_value(clip));
    camera.insert("loop".into(), toml::Value::Boolean(false));
    camera.insert("realtime".into(), toml::Value::Boolean(false));
    if let Some(fps) = overrides.detect_fps {
        camera.insert("detect_fps".into(), toml::Value::Float(f64::from(fps)));
    }
    if overrides.motion {
        let motion = camera
            .entry("motion")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(t) = motion.as_table_mut() {
            t.insert("enabled".into(), toml::Value::Boolean(true));
        }
    }
    let text = toml::to_string(&root).map_err(|e| bad(e.to_string()))?;
    let base = s.config_path.parent().unwrap_or(&s.dir);
    Config::from_toml(&text, base).map_err(|errors| EvalError::Config {
        scenario: s.name.clone(),
        file: s.config_path.clone(),
        errors: errors.iter().map(ToString::to_string).collect(),
    })
}

/// Frames of a run given to the detector, and kept from it by motion gating.
#[derive(Debug, Clone, Copy)]
struct Frames {
    analysed: u64,
    skipped: u64,
}

/// Runs the engine until the clip has been read and every frame decided; returns how many
/// frames were analysed and skipped.
fn run_engine(s: &Scenario, config: &Config, journal_path: &Path) -> Result<Frames, EvalError> {
    let engine_err = |e: String| EvalError::Engine {
        scenario: s.name.clone(),
        message: e,
    };
    let journal = Journal::open(journal_path).map_err(|e| engine_err(e.to_string()))?;
    let metrics = Metrics::new();
    let bus = AlertBus::new(Arc::new(journal), 1024, metrics.clone());
    let engine = Engine::start(config, bus, metrics.clone(), EngineOptions::default())
        .map_err(|e| engine_err(e.to_string()))?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let outcome = loop {
        std::thread::sleep(Duration::from_millis(50));
        let statuses = engine.statuses();
        if let Some(failed) = statuses.iter().find(|c| c.state() == CameraState::Failed) {
            let snap = failed.snapshot();
            break Err(engine_err(format!(
                "the clip could not be read: {}",
                snap.last_error.unwrap_or_default()
            )));
        }
        if engine.is_idle() {
            let analysed = statuses
                .iter()
                .map(|c| c.frames_inferred.load(std::sync::atomic::Ordering::Relaxed))
                .sum();
            let skipped = config
                .cameras
                .iter()
                .map(|c| {
                    let labels = [c.id.as_str(), "no_motion"];
                    metrics.frames_skipped.with_label_values(&labels).get()
                })
                .sum();
            break Ok(Frames { analysed, skipped });
        }
        if Instant::now() > deadline {
            break Err(engine_err(format!(
                "not finished after {} s",
                RUN_TIMEOUT.as_secs()
            )));
        }
    };
    engine.shutdown();
    outcome
}

/// Every alert of the journal, with its clip time; `incident_id` when the journal has that
/// column (journals written before incidents existed do not).
fn read_alerts(path: &Path, segment: Segment) -> rusqlite::Result<Vec<Observed>> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let has_incident = conn
        .prepare("SELECT name FROM pragma_table_info('alerts')")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .any(|c| c == "incident_id");
    let incident = if has_incident { "incident_id" } else { "NULL" };
    let mut stmt = conn.prepare(&format!(
        "SELECT id, rule_id, event_type, stream_ts_ns, {incident}, boxes, explanation FROM alerts ORDER BY id"
    ))?;
    let rows = stmt.query_map([], |r| {
        let ts: i64 = r.get(3)?;
        Ok(Observed {
            id: r.get(0)?,
            rule: r.get(1)?,
            event_type: r.get(2)?,
            t: segment.clip_seconds(u64::try_from(ts).unwrap_or(0)),
            incident_id: r.get(4)?,
            bbox: first_box(&r.get::<_, String>(5)?),
            explanation: r.get(6)?,
        })
    })?;
    rows.collect()
}

/// The first box of an alert's `boxes` JSON (`[{"box": [x1, y1, x2, y2], …}]`).
fn first_box(json: &str) -> Option<[f32; 4]> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let b = v.get(0)?.get("box")?.as_array()?;
    let f = |i: usize| b.get(i).and_then(|x| x.as_f64()).map(|x| x as f32);
    Some([f(0)?, f(1)?, f(2)?, f(3)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--motion` turns gating on and keeps the scenario's other settings; without it the
    /// scenario's config is left as it is (no gating in the shipped scenarios).
    #[test]
    fn overrides_change_only_what_they_name() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/intrusion-kerb");
        let s = Scenario::load(&dir, None).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let journal = tmp.path().join("j.db");
        let plain = build_config(&s, &s.clip, &journal, Overrides::default()).unwrap();
        let overrides = Overrides {
            detect_fps: Some(2.0),
            input: Some([416, 288]),
            motion: true,
        };
        let changed = build_config(&s, &s.clip, &journal, overrides).unwrap();
        let (a, b) = (&plain.cameras[0], &changed.cameras[0]);
        assert!(!a.motion.enabled);
        assert!(b.motion.enabled);
        assert_eq!(a.motion.min_detect_fps, b.motion.min_detect_fps);
        assert_eq!(b.detect_fps, 2.0);
        assert_eq!(changed.detector.input, Some([416, 288]));
        assert_eq!(plain.detector.input, None);
        assert_eq!(a.rules.len(), b.rules.len());
    }

    #[test]
    fn alerts_are_read_with_and_without_an_incident_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE alerts (id INTEGER PRIMARY KEY, rule_id TEXT, event_type TEXT, stream_ts_ns INTEGER, boxes TEXT, explanation TEXT);
             INSERT INTO alerts VALUES (1, 'r', 'intrusion', 1500000000, '[{\"box\": [0.1, 0.2, 0.3, 0.4]}]', 'why');",
        )
        .unwrap();
        let seg = Segment {
            origin: 10.0,
            speed: 4,
            frames: 1,
        };
        let a = read_alerts(&path, seg).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].t, 16.0);
        assert_eq!(a[0].incident_id, None);
        assert_eq!(a[0].bbox, Some([0.1, 0.2, 0.3, 0.4]));
        assert_eq!(a[0].explanation, "why");
        conn.execute_batch(
            "ALTER TABLE alerts ADD COLUMN incident_id INTEGER;
             INSERT INTO alerts VALUES (2, 'r', 'intrusion', 2000000000, '[]', 'why', 1);",
        )
        .unwrap();
        let a = read_alerts(&path, Segment::whole()).unwrap();
        assert_eq!(a[1].incident_id, Some(1));
        assert_eq!(a[1].t, 2.0);
    }
}
