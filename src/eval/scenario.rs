//! A scenario on disk: `scenario.toml` (the clip and how to play it), a Vigie config (one
//! camera, its zones and rules) and a ground-truth file. Every problem is an error naming the file
//! and the field.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::matching::{DontCare, GtEvent};
use super::overlay::Overlay;
use super::EvalError;

/// Event types of décret 2023-828 that a ground truth may name.
pub const EVENT_TYPES: &[&str] = &[
    "intrusion",
    "wrong_way",
    "density",
    "crowd_movement",
    "person_on_ground",
    "abandoned_object",
    "fire",
    "weapon",
];

fn default_config() -> String {
    "config.toml".to_string()
}
fn default_ground_truth() -> String {
    "ground_truth.toml".to_string()
}
fn default_tolerance() -> f64 {
    2.0
}
fn default_speed() -> u32 {
    1
}

/// `scenario.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// One line: what the scenario measures.
    pub description: String,
    /// The clip: a path relative to the scenario, or a file name found via `$VIGIE_CLIP` or a
    /// `.deps/media/` folder above the scenario or the working directory.
    pub clip: String,
    #[serde(default = "default_config")]
    pub config: String,
    #[serde(default = "default_ground_truth")]
    pub ground_truth: String,
    /// Play only from here (clip seconds).
    pub start_seconds: Option<f64>,
    /// Play only up to here (clip seconds, excluded).
    pub end_seconds: Option<f64>,
    /// Keep one frame in `speed`, played at the clip's frame rate: a built clip where everyone
    /// moves `speed` times faster. Ground-truth times stay in the original clip's seconds.
    #[serde(default = "default_speed")]
    pub speed: u32,
    /// An alert matches an event up to this long after the event's end.
    #[serde(default = "default_tolerance")]
    pub tolerance_seconds: f64,
    /// Things drawn into the clip's frames (a BUILT clip, see [`super::overlay`]).
    #[serde(default)]
    pub overlays: Vec<Overlay>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroundTruthFile {
    #[serde(default)]
    events: Vec<EventEntry>,
    #[serde(default)]
    dont_care: Vec<DontCareEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventEntry {
    #[serde(rename = "type")]
    event_type: String,
    rule: String,
    start: f64,
    end: f64,
    #[serde(default)]
    note: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DontCareEntry {
    start: f64,
    end: f64,
    rule: Option<String>,
    #[serde(default)]
    note: String,
}

/// A rule of the scenario's config, as read from the TOML itself (so a rule type this build
/// does not know yet is still named in the report).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleRef {
    pub id: String,
    pub event_type: String,
}

/// A loaded, checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub dir: PathBuf,
    pub file: ScenarioFile,
    pub clip: PathBuf,
    /// The config file in use (`config` of scenario.toml, or the `--config` override).
    pub config_path: PathBuf,
    pub config_text: String,
    pub rules: Vec<RuleRef>,
    pub events: Vec<GtEvent>,
    pub notes: Vec<String>,
    pub dont_care: Vec<DontCare>,
}

fn invalid(file: &Path, field: impl Into<String>, message: impl Into<String>) -> EvalError {
    EvalError::Invalid {
        file: file.to_path_buf(),
        field: field.into(),
        message: message.into(),
    }
}

fn read(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|e| EvalError::Read {
        file: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Parses TOML into `T`, an error naming the field (`events[2].start`) when it does not fit.
fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, EvalError> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        let message = e.inner().message().trim().to_string();
        invalid(path, field, message)
    })
}

impl Scenario {
    /// Reads and checks a scenario folder; `config` replaces the config file it names.
    pub fn load(dir: &Path, config: Option<&str>) -> Result<Scenario, EvalError> {
        let path = dir.join("scenario.toml");
        let file: ScenarioFile = parse(&path, &read(&path)?)?;
        check_file(&path, &file)?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let clip = find_clip(dir, &file.clip).ok_or_else(|| {
            invalid(
                &path,
                "clip",
                format!(
                    "`{}` not found beside the scenario, as $VIGIE_CLIP, nor in a .deps/media/ \
                     folder (run deploy/setup.sh)",
                    file.clip
                ),
            )
        })?;
        let config_path = dir.join(config.unwrap_or(&file.config));
        let config_text = read(&config_path)?;
        let rules = config_rules(&config_path, &config_text)?;
        let gt_path = dir.join(&file.ground_truth);
        let gt: GroundTruthFile = parse(&gt_path, &read(&gt_path)?)?;
        let (events, notes, dont_care) = check_ground_truth(&gt_path, gt, &rules)?;
        Ok(Scenario {
            name,
            dir: dir.to_path_buf(),
            file,
            clip,
            config_path,
            config_text,
            rules,
            events,
            notes,
            dont_care,
        })
    }
}

fn check_file(path: &Path, f: &ScenarioFile) -> Result<(), EvalError> {
    if f.description.trim().is_empty() {
        return Err(invalid(
            path,
            "description",
            "say what the scenario measures",
        ));
    }
    for (field, v) in [
        ("start_seconds", f.start_seconds),
        ("end_seconds", f.end_seconds),
    ] {
        if v.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
            return Err(invalid(path, field, "must be a number of seconds >= 0"));
        }
    }
    if let (Some(s), Some(e)) = (f.start_seconds, f.end_seconds) {
        if e <= s {
            return Err(invalid(
                path,
                "end_seconds",
                format!("{e} is not after start_seconds {s}"),
            ));
        }
    }
    if !(1..=16).contains(&f.speed) {
        return Err(invalid(
            path,
            "speed",
            format!("{} is out of range 1..=16", f.speed),
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    for (i, o) in f.overlays.iter().enumerate() {
        if let Some((field, message)) = o.problem(dir) {
            return Err(invalid(path, format!("overlays[{i}].{field}"), message));
        }
    }
    if !(f.tolerance_seconds.is_finite() && (0.0..=60.0).contains(&f.tolerance_seconds)) {
        return Err(invalid(
            path,
            "tolerance_seconds",
            format!("{} is out of range 0..=60", f.tolerance_seconds),
        ));
    }
    Ok(())
}

/// The clip, relative to the scenario first, then `$VIGIE_CLIP` when it has that file name, then
/// `.deps/media/NAME` in the folders above the scenario and above the working directory.
pub fn find_clip(dir: &Path, clip: &str) -> Option<PathBuf> {
    let direct = dir.join(clip);
    if direct.is_file() {
        return Some(direct);
    }
    let name = Path::new(clip).file_name()?;
    if let Some(env) = std::env::var_os("VIGIE_CLIP").map(PathBuf::from) {
        if env.file_name() == Some(name) && env.is_file() {
            return Some(env);
        }
    }
    let cwd = std::env::current_dir().ok();
    let abs = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        cwd.clone()?.join(dir)
    };
    abs.ancestors()
        .chain(cwd.iter().flat_map(|c| c.ancestors()))
        .map(|d| d.join(".deps/media").join(name))
        .find(|p| p.is_file())
}

/// The rules of the config's one camera, read from the TOML (id and type only).
fn config_rules(path: &Path, text: &str) -> Result<Vec<RuleRef>, EvalError> {
    let root: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| invalid(path, "", e.message().trim().to_string()))?;
    let cameras = root.get("cameras").and_then(|c| c.as_array());
    let camera = match cameras.map(|c| c.as_slice()) {
        Some([one]) => one,
        _ => {
            return Err(invalid(
                path,
                "cameras",
                "a scenario's config has exactly one camera",
            ))
        }
    };
    let rules = camera.get("rules").and_then(|r| r.as_array());
    let Some(rules) = rules.filter(|r| !r.is_empty()) else {
        return Err(invalid(path, "cameras[0].rules", "no rule to evaluate"));
    };
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let get = |key: &str| {
                r.get(key)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        invalid(
                            path,
                            format!("cameras[0].rules[{i}].{key}"),
                            "missing string",
                        )
                    })
            };
            Ok(RuleRef {
                id: get("id")?,
                event_type: get("type")?,
            })
        })
        .collect()
}

type GroundTruth = (Vec<GtEvent>, Vec<String>, Vec<DontCare>);

fn check_ground_truth(
    path: &Path,
    gt: GroundTruthFile,
    rules: &[RuleRef],
) -> Result<GroundTruth, EvalError> {
    let interval = |field: String, start: f64, end: f64| {
        if !(start.is_finite() && end.is_finite() && start >= 0.0) {
            return Err(invalid(path, field, "start and end are seconds >= 0"));
        }
        if end < start {
            return Err(invalid(
                path,
                field,
                format!("end {end} is before start {start}"),
            ));
        }
        Ok(())
    };
    let mut events = Vec::new();
    let mut notes = Vec::new();
    for (i, e) in gt.events.into_iter().enumerate() {
        let field = format!("events[{i}]");
        interval(format!("{field}.end"), e.start, e.end)?;
        if !EVENT_TYPES.contains(&e.event_type.as_str()) {
            return Err(invalid(
                path,
                format!("{field}.type"),
                format!(
                    "`{}` is not one of {}",
                    e.event_type,
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        match rules.iter().find(|r| r.id == e.rule) {
            None => {
                return Err(invalid(
                    path,
                    format!("{field}.rule"),
                    format!("no rule `{}` in the scenario's config", e.rule),
                ))
            }
            Some(r) if r.event_type != e.event_type => {
                return Err(invalid(
                    path,
                    format!("{field}.type"),
                    format!(
                        "`{}` but rule `{}` is of type `{}`",
                        e.event_type, r.id, r.event_type
                    ),
                ))
            }
            Some(_) => {}
        }
        events.push(GtEvent {
            event_type: e.event_type,
            rule: e.rule,
            start: e.start,
            end: e.end,
        });
        notes.push(e.note);
    }
    let mut dont_care = Vec::new();
    for (i, w) in gt.dont_care.into_iter().enumerate() {
        let field = format!("dont_care[{i}]");
        interval(format!("{field}.end"), w.start, w.end)?;
        if let Some(rule) = w
            .rule
            .as_ref()
            .filter(|r| !rules.iter().any(|x| x.id == **r))
        {
            return Err(invalid(
                path,
                format!("{field}.rule"),
                format!("no rule `{rule}` in the scenario's config"),
            ));
        }
        let _ = w.note;
        dont_care.push(DontCare {
            start: w.start,
            end: w.end,
            rule: w.rule,
        });
    }
    Ok((events, notes, dont_care))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
[[cameras]]
id = "cam"
source = "clip.avi"
[[cameras.zones]]
id = "z"
points = [[0, 0], [1, 0], [1, 1]]
[[cameras.rules]]
id = "z-intrusion"
type = "intrusion"
zone = "z"
classes = ["person"]
"#;

    fn write(dir: &Path, scenario: &str, gt: &str) {
        std::fs::write(dir.join("scenario.toml"), scenario).unwrap();
        std::fs::write(dir.join("config.toml"), CONFIG).unwrap();
        std::fs::write(dir.join("ground_truth.toml"), gt).unwrap();
        std::fs::write(dir.join("clip.avi"), b"not a video").unwrap();
    }

    fn err(scenario: &str, gt: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), scenario, gt);
        Scenario::load(dir.path(), None).unwrap_err().to_string()
    }

    const OK: &str = "description = \"d\"\nclip = \"clip.avi\"\n";
    const GT: &str = "[[events]]\ntype = \"intrusion\"\nrule = \"z-intrusion\"\nstart = 1.0\nend = 2.0\nnote = \"n\"\n[[dont_care]]\nstart = 3\nend = 4\n";

    #[test]
    fn a_good_scenario_loads() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), OK, GT);
        let s = Scenario::load(dir.path(), None).unwrap();
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.dont_care.len(), 1);
        assert_eq!(s.dont_care[0].rule, None);
        assert_eq!(
            s.rules,
            vec![RuleRef {
                id: "z-intrusion".into(),
                event_type: "intrusion".into()
            }]
        );
        assert_eq!(s.file.tolerance_seconds, 2.0);
        assert!(s.clip.ends_with("clip.avi"));
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let e = err(&format!("{OK}speed = 0\n"), GT);
        assert!(e.contains("scenario.toml") && e.contains("speed"), "{e}");
        let e = err(&format!("{OK}colour = 1\n"), GT);
        assert!(e.contains("scenario.toml") && e.contains("colour"), "{e}");
        let e = err(&format!("{OK}start_seconds = 5\nend_seconds = 4\n"), GT);
        assert!(e.contains("end_seconds"), "{e}");
        let e = err("clip = \"clip.avi\"\n", GT);
        assert!(e.contains("description"), "{e}");
        let e = err(
            "description = \"d\"\nclip = \"nowhere-to-be-found.avi\"\n",
            GT,
        );
        assert!(
            e.contains("clip") && e.contains("nowhere-to-be-found.avi"),
            "{e}"
        );
    }

    #[test]
    fn ground_truth_errors_name_the_entry() {
        let e = err(OK, &GT.replace("end = 2.0", "end = 0.5"));
        assert!(
            e.contains("ground_truth.toml") && e.contains("events[0].end"),
            "{e}"
        );
        let e = err(OK, &GT.replace("rule = \"z-intrusion\"", "rule = \"nope\""));
        assert!(e.contains("events[0].rule") && e.contains("nope"), "{e}");
        let e = err(
            OK,
            &GT.replace("type = \"intrusion\"", "type = \"wrong_way\""),
        );
        assert!(e.contains("events[0].type"), "{e}");
        let e = err(OK, &GT.replace("start = 1.0", "start = \"soon\""));
        assert!(e.contains("events[0].start"), "{e}");
        let e = err(OK, &format!("{GT}rule = \"ghost\"\n"));
        assert!(e.contains("dont_care[0].rule"), "{e}");
        let e = err(OK, &GT.replace("note = \"n\"", "nite = \"n\""));
        assert!(e.contains("nite"), "{e}");
    }
}
