//! Rules turn tracks into events: one [`CameraRules`] per camera runs every rule of that camera
//! on each analysed frame. An event is a *signal* for a human operator, never an action: it
//! carries a plain-words explanation and the measured values behind it.
//!
//! ## A rule is one file
//! Each rule type lives in its own file (`intrusion.rs`, …) with:
//! - its `Config` (serde, `deny_unknown_fields`) implementing [`RuleSpec`]: it validates itself
//!   against the camera ([`CameraCheck`], every error with its path) and builds its running state
//!   ([`CameraBuild`]);
//! - its running state implementing [`Rule`]: `evaluate` looks at a [`FrameContext`] and pushes
//!   [`Event`]s.
//!
//! Registering it is one line in [`rule_types!`] below (the `type` name in the configuration),
//! plus its [`EventType`] line with French and English labels in `event.rs` if the type is new.
//! Shared logic: [`dwell`] (hold time, hysteresis, cooldown, per-track state), [`incident`]
//! (the same people, one alert), [`geometry`], [`calibration`], and the units of [`context`].

pub mod abandoned_object;
pub mod calibration;
pub mod context;
pub mod dwell;
pub mod event;
pub mod fire;
pub mod geometry;
pub mod incident;
pub mod intrusion;
pub mod person_on_ground;
#[cfg(test)]
pub(crate) mod testing;
pub mod weapon;

// Movement rules (décret 2023-828: wrong way, excessive density, crowd movement) and their
// shared plane motion.
pub mod crowd_movement;
pub mod density;
pub mod group;
pub mod motion;
pub mod wrong_way;

use crate::check::Problems;
use crate::detect::{Detection, Manifest, ModelKind, ModelUse};
use crate::frames::Frame;
use crate::track::Track;

pub use calibration::{Calibration, CalibrationError};
pub use context::{
    FrameContext, Ground, Length, Line, ModelOutput, Object, Pose, Scene, Zone, DEFAULT_ASPECT,
};
pub use event::{Arrow, Event, EventObject, EventType, IncidentRef, Measurement, Overlay};
pub use geometry::{point_in_polygon, BOUNDARY_EPSILON};

/// The running state of one configured rule.
pub trait Rule: Send {
    /// The rule's `id` from the configuration (an alert's `rule_id`).
    fn id(&self) -> &str;
    fn event_type(&self) -> EventType;
    /// Looks at one frame; pushes the events that fire now.
    fn evaluate(&mut self, cx: &FrameContext<'_>, out: &mut Vec<Event>);
    /// Forgets everything (a file source looped: time went backwards).
    fn reset(&mut self);
}

/// The part of a [`RuleSpec`] every rule writes alike, in one line inside its `impl`:
/// `id` from the config's `id` field, the rule's event type, and the zone it watches, a
/// required (`zone: field`) or optional (`optional_zone: field`) zone id field.
///
/// ```ignore
/// impl RuleSpec for Config {
///     rule_identity!(EventType::Fire, zone: zone);
///     // validate, build…
/// }
/// ```
macro_rules! rule_identity {
    ($event:expr, $kind:ident: $field:ident) => {
        fn id(&self) -> &str {
            &self.id
        }

        fn event_type(&self) -> $crate::rules::EventType {
            $event
        }

        fn zone(&self) -> Option<&str> {
            rule_identity!(@zone $kind, self.$field)
        }
    };
    (@zone zone, $value:expr) => {
        Some(&$value)
    };
    (@zone optional_zone, $value:expr) => {
        $value.as_deref()
    };
}
pub(crate) use rule_identity;

/// One rule's configuration: checks itself and builds its [`Rule`].
pub trait RuleSpec {
    fn id(&self) -> &str;
    fn event_type(&self) -> EventType;
    /// The zone the rule watches (motion gating looks there), `None`: the whole image.
    fn zone(&self) -> Option<&str> {
        None
    }
    /// The second models the rule needs besides the detector (none by default).
    fn needs(&self) -> Needs {
        Needs::default()
    }
    /// Every problem, each with its path under `path` (`cameras[0].rules[1]`).
    fn validate(&self, cx: &CameraCheck<'_>, path: &str, problems: &mut Problems);
    /// The running rule. `None` (with a warning) only for a configuration that did not pass
    /// [`RuleSpec::validate`].
    fn build(&self, cx: &CameraBuild<'_>) -> Option<Box<dyn Rule>>;
}

/// What a rule needs from models other than the detector; the engine runs a second model on
/// a camera only when one of its rules needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Needs {
    /// Poses of the persons in view.
    pub poses: Option<PoseNeed>,
    /// Second detectors run on the whole frame (a city's fire model), one entry per model.
    pub detectors: Vec<DetectorNeed>,
}

/// Detections of the second detector `model` (a manifest name, `kind = "detector"`) on the
/// whole frame, at most `fps` times per second.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorNeed {
    pub model: String,
    pub fps: f32,
}

/// Poses from pose model `model` (a manifest name), at most `fps` times per second, only on
/// frames where the detector saw persons.
#[derive(Debug, Clone, PartialEq)]
pub struct PoseNeed {
    pub model: String,
    pub fps: f32,
    /// How long (s) the engine may hold the track of a person who lies and is no longer
    /// detected, on lying poses found where the track was lost (`engine::pose`); 0: never.
    /// The longest a rule needs to watch someone lying to decide.
    pub hold_lying_seconds: f32,
}

impl Needs {
    /// What `a` and `b` need together: one pose model (the first named), at the higher rate,
    /// the longer hold.
    pub fn union(a: Needs, b: Needs) -> Needs {
        let poses = match (a.poses, b.poses) {
            (Some(x), Some(y)) => Some(PoseNeed {
                fps: x.fps.max(y.fps),
                hold_lying_seconds: x.hold_lying_seconds.max(y.hold_lying_seconds),
                ..x
            }),
            (x, y) => x.or(y),
        };
        let mut detectors = a.detectors;
        for d in b.detectors {
            match detectors.iter_mut().find(|x| x.model == d.model) {
                Some(x) => x.fps = x.fps.max(d.fps),
                None => detectors.push(d),
            }
        }
        Needs { poses, detectors }
    }
}

/// Reads one rule type's table (see [`RuleConfig::deserializer`]).
pub type RuleReader =
    fn(toml::Value) -> Result<RuleConfig, serde_path_to_error::Error<toml::de::Error>>;

/// Whether a rule's alerts go to the operators (`live`, the default) or only to the journal, for
/// evaluators to review before going live (`shadow`). Every rule type has the `mode` key; going
/// live is a configuration change (a reload), journaled as a new configuration version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleMode {
    #[default]
    Live,
    Shadow,
}

impl RuleMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleMode::Live => "live",
            RuleMode::Shadow => "shadow",
        }
    }
}

/// One `[[cameras.rules]]` entry: its type's own configuration and the keys every rule has
/// (`mode`).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleConfig {
    pub mode: RuleMode,
    pub kind: RuleKind,
}

/// Declares [`RuleKind`], one line per rule type: `"type name" => Variant(module::Config)`.
macro_rules! rule_types {
    ($($name:literal => $variant:ident($config:ty),)+) => {
        /// A rule's own configuration, by its `type`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum RuleKind {
            $($variant($config),)+
        }

        impl RuleConfig {
            /// The accepted `type` names.
            pub const TYPES: &'static [&'static str] = &[$($name),+];

            /// The reader of rule type `type_name`, `None` for an unknown type. It reads the
            /// rule's table without its `type` and `mode` keys (a live rule); errors carry the
            /// path of the offending key.
            pub fn deserializer(type_name: &str) -> Option<RuleReader> {
                match type_name {
                    $($name => Some(|v| serde_path_to_error::deserialize(v).map(|c| RuleConfig {
                        mode: RuleMode::Live,
                        kind: RuleKind::$variant(c),
                    })),)+
                    _ => None,
                }
            }

            fn spec(&self) -> &dyn RuleSpec {
                match &self.kind {
                    $(RuleKind::$variant(c) => c,)+
                }
            }
        }

        /// As the configuration writes it: `type`, `mode` and the rule's keys, defaults filled
        /// in.
        impl serde::Serialize for RuleConfig {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                #[derive(serde::Serialize)]
                struct Typed<'a, T> {
                    r#type: &'static str,
                    mode: RuleMode,
                    #[serde(flatten)]
                    rule: &'a T,
                }
                let mode = self.mode;
                match &self.kind {
                    $(RuleKind::$variant(rule) => Typed { r#type: $name, mode, rule }.serialize(s),)+
                }
            }
        }
    };
}

rule_types! {
    "intrusion" => Intrusion(intrusion::Config),
    "wrong_way" => WrongWay(wrong_way::Config),
    "density" => Density(density::Config),
    "crowd_movement" => CrowdMovement(crowd_movement::Config),
    "person_on_ground" => PersonOnGround(person_on_ground::Config),
    "abandoned_object" => AbandonedObject(abandoned_object::Config),
    "fire" => Fire(fire::Config),
    "weapon" => Weapon(weapon::Config),
}

impl RuleConfig {
    pub fn id(&self) -> &str {
        self.spec().id()
    }
    pub fn event_type(&self) -> EventType {
        self.spec().event_type()
    }
    pub fn zone(&self) -> Option<&str> {
        self.spec().zone()
    }
    pub fn needs(&self) -> Needs {
        self.spec().needs()
    }
    pub fn validate(&self, cx: &CameraCheck<'_>, path: &str, problems: &mut Problems) {
        self.spec().validate(cx, path, problems)
    }
    pub fn build(&self, cx: &CameraBuild<'_>) -> Option<Box<dyn Rule>> {
        self.spec().build(cx)
    }
}

/// What a rule's configuration is checked against: the camera's zones, lines and calibration,
/// and the model's labels.
#[derive(Debug, Clone)]
pub struct CameraCheck<'a> {
    pub camera: &'a str,
    pub zones: Vec<&'a str>,
    pub lines: Vec<&'a str>,
    pub calibrated: bool,
    /// The model's labels; empty when the manifest could not be read (reported elsewhere).
    pub labels: &'a [String],
    pub model: &'a str,
    /// The model manifest, `None` when it could not be read (reported elsewhere).
    pub manifest: Option<&'a Manifest>,
}

impl CameraCheck<'_> {
    /// `id` names a zone of this camera.
    pub fn zone(&self, problems: &mut Problems, path: String, id: &str) {
        if !self.zones.contains(&id) {
            problems.push(path, format!("no zone `{id}` on camera `{}`", self.camera));
        }
    }

    /// `id` names a line of this camera.
    pub fn line(&self, problems: &mut Problems, path: String, id: &str) {
        if !self.lines.contains(&id) {
            problems.push(path, format!("no line `{id}` on camera `{}`", self.camera));
        }
    }

    /// `name` is a pose model of the manifest.
    pub fn pose_model(&self, problems: &mut Problems, path: &str, name: &str) {
        let Some(m) = self.manifest else { return };
        match m.model(name) {
            None => problems.push(path, format!("no model `{name}` in {}", m.path.display())),
            Some(spec) if spec.kind != ModelKind::Pose => problems.push(
                path,
                format!(
                    "model `{name}` is a {} model in {}, not a pose model (kind = \"pose\")",
                    spec.kind,
                    m.path.display()
                ),
            ),
            Some(_) => {}
        }
    }

    /// `name` is a detector of the manifest declaring `use_`, and every one of `labels` (at
    /// least one, at `labels_path`) is among its labels.
    pub fn second_detector(
        &self,
        problems: &mut Problems,
        (path, labels_path): (&str, &str),
        (name, use_): (&str, ModelUse),
        labels: &[String],
    ) {
        let Some(m) = self.manifest else { return };
        let Some(spec) = m.model(name) else {
            problems.push(path, format!("no model `{name}` in {}", m.path.display()));
            return;
        };
        if spec.kind != ModelKind::Detector || !spec.uses.contains(&use_) {
            problems.push(
                path,
                format!(
                    "model `{name}` in {} is not a detector declaring use = [\"{}\"]",
                    m.path.display(),
                    use_.as_str()
                ),
            );
            return;
        }
        if labels.is_empty() {
            problems.push(labels_path, "name at least one label");
        }
        for (k, l) in labels.iter().enumerate() {
            if !spec.labels.contains(l) {
                problems.push(
                    format!("{labels_path}[{k}]"),
                    format!("`{l}` is not a label of model `{name}`"),
                );
            }
        }
    }

    /// Every name is a class of the model; `required`: at least one.
    pub fn classes(&self, problems: &mut Problems, path: &str, classes: &[String], required: bool) {
        if required && classes.is_empty() {
            problems.push(path, "name at least one class");
        }
        if self.labels.is_empty() {
            return;
        }
        for (k, c) in classes.iter().enumerate() {
            if !self.labels.iter().any(|l| l == c) {
                problems.push(
                    format!("{path}[{k}]"),
                    format!("`{c}` is not a class of model `{}`", self.model),
                );
            }
        }
    }
}

/// What a rule is built with: the camera's scene and the model's labels.
#[derive(Debug, Clone, Copy)]
pub struct CameraBuild<'a> {
    pub scene: &'a Scene,
    pub labels: &'a [String],
}

impl CameraBuild<'_> {
    /// Class ids of the named classes (unknown names are skipped: validation reports them).
    pub fn class_ids(&self, names: &[String]) -> Vec<u16> {
        names
            .iter()
            .filter_map(|n| self.labels.iter().position(|l| l == n))
            .filter_map(|i| u16::try_from(i).ok())
            .collect()
    }

    /// Index of a zone, with a warning when absent.
    pub fn zone(&self, rule: &str, id: &str) -> Option<usize> {
        let z = self.scene.zone(id);
        if z.is_none() {
            tracing::warn!(rule, zone = id, "rule ignored: no such zone");
        }
        z
    }
}

/// One analysed frame, as the engine hands it to [`CameraRules::evaluate`].
#[derive(Debug, Clone, Copy)]
pub struct FrameInput<'a> {
    /// Stream timestamp (ns).
    pub t_ns: u64,
    /// Every live track, as [`crate::track::Tracker::update`] returns them.
    pub tracks: &'a [Track],
    pub detections: &'a [Detection],
    pub frame: Option<&'a Frame>,
    pub poses: &'a [Pose],
    /// Outputs of the second detectors that ran on this frame.
    pub models: &'a [ModelOutput],
}

/// The rules of one camera and their shared scene.
pub struct CameraRules {
    scene: Scene,
    rules: Vec<Box<dyn Rule>>,
    /// Ids of the rules in `mode = "shadow"`.
    shadow: Vec<String>,
    labels: Vec<String>,
    needs: Needs,
    objects: Vec<Object>,
    last_t_ns: Option<u64>,
}

impl CameraRules {
    /// Builds every rule of `configs` (validated) for `scene`.
    pub fn build(scene: Scene, configs: &[RuleConfig], labels: Vec<String>) -> Self {
        let cx = CameraBuild {
            scene: &scene,
            labels: &labels,
        };
        let rules = configs.iter().filter_map(|c| c.build(&cx)).collect();
        let needs = configs
            .iter()
            .map(RuleConfig::needs)
            .fold(Needs::default(), Needs::union);
        let shadow = configs
            .iter()
            .filter(|c| c.mode == RuleMode::Shadow)
            .map(|c| c.id().to_string())
            .collect();
        CameraRules {
            needs,
            shadow,
            ..CameraRules::new(scene, rules, labels)
        }
    }

    pub fn new(scene: Scene, rules: Vec<Box<dyn Rule>>, labels: Vec<String>) -> Self {
        CameraRules {
            scene,
            rules,
            labels,
            shadow: Vec::new(),
            needs: Needs::default(),
            objects: Vec::new(),
            last_t_ns: None,
        }
    }

    pub fn scene(&self) -> &Scene {
        &self.scene
    }

    /// What the rules need besides the detector.
    pub fn needs(&self) -> &Needs {
        &self.needs
    }

    /// Whether rule `id` is in `mode = "shadow"` (its alerts reach no operator).
    pub fn is_shadow(&self, id: &str) -> bool {
        self.shadow.iter().any(|s| s == id)
    }

    pub fn rule_ids(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.id()).collect()
    }

    /// Forgets the state of every rule.
    pub fn reset(&mut self) {
        for r in &mut self.rules {
            r.reset();
        }
        self.last_t_ns = None;
    }

    /// Runs every rule on one frame; returns the events that fire now, in rule order. If time
    /// went backwards (a file source looping), every rule is reset first.
    pub fn evaluate(&mut self, input: FrameInput<'_>) -> Vec<Event> {
        if self.last_t_ns.is_some_and(|last| input.t_ns < last) {
            tracing::debug!(
                t_ns = input.t_ns,
                "rules: timestamp went backwards, resetting"
            );
            self.reset();
        }
        self.last_t_ns = Some(input.t_ns);
        if let Some(f) = input.frame.filter(|f| f.source_height > 0) {
            self.scene
                .set_aspect(f.source_width as f32 / f.source_height as f32);
        }
        let scene = &self.scene;
        self.objects.clear();
        self.objects
            .extend(input.tracks.iter().map(|t| Object::from_track(t, scene)));
        let cx = FrameContext {
            t_ns: input.t_ns,
            objects: &self.objects,
            detections: input.detections,
            scene,
            frame: input.frame,
            poses: input.poses,
            models: input.models,
            labels: &self.labels,
            calibrated: scene.is_calibrated(),
        };
        let mut events = Vec::new();
        for rule in &mut self.rules {
            rule.evaluate(&cx, &mut events);
        }
        events
    }
}
