//! What a reload changes between two validated configurations, camera by camera.
//!
//! Only `[[cameras]]` (with their zones, lines, calibration and rules) can change at run time.
//! `state_dir`, `[server]`, `[journal]`, `[detector]`, `[tracker]`, `[forecast]`, `[retention]`, `[clips]`
//! and `[[outputs]]` are read once at start: a reload that changes any of them is refused as a whole
//! ("restart required", naming the field) and changes nothing.

use serde::Serialize;

use super::{CameraConfig, Config};

/// What a reload did, camera ids in configuration order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// New cameras, started.
    pub added: Vec<String>,
    /// Cameras no longer in the file (or now disabled), stopped.
    pub removed: Vec<String>,
    /// Cameras whose source or pipeline settings changed: stopped and started again.
    pub restarted: Vec<String>,
    /// Cameras whose zones, rules, name or location changed: new rules swapped in place, the
    /// pipeline untouched.
    pub updated: Vec<String>,
    /// Cameras left exactly as they were.
    pub unchanged: Vec<String>,
}

impl ReloadReport {
    pub fn is_noop(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.restarted.is_empty()
            && self.updated.is_empty()
    }
}

/// What changed for one camera id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraChange {
    Added,
    Removed,
    Restarted,
    Updated,
    Unchanged,
}

/// The settings that only a restart of the process can change, with both values, as
/// `"detector.workers (2 -> 3)"`. Empty when the reload may go ahead.
pub fn restart_required(old: &Config, new: &Config) -> Vec<String> {
    let mut fields = Vec::new();
    let mut check = |name: &str, a: String, b: String| {
        if a != b {
            fields.push(format!("{name} ({a} -> {b})"));
        }
    };
    // Plain fields, compared by value and named `section.field`.
    macro_rules! fields {
        ($section:ident: $($field:ident),+) => {
            $(check(
                concat!(stringify!($section), ".", stringify!($field)),
                format!("{:?}", old.$section.$field),
                format!("{:?}", new.$section.$field),
            );)+
        };
    }
    fields!(server: listen, allowed_hosts);
    check(
        "journal.path",
        old.journal_path().display().to_string(),
        new.journal_path().display().to_string(),
    );
    check(
        "state_dir",
        old.state_dir().display().to_string(),
        new.state_dir().display().to_string(),
    );
    check(
        "detector.manifest",
        old.resolve(&old.detector.manifest).display().to_string(),
        new.resolve(&new.detector.manifest).display().to_string(),
    );
    fields!(detector: model, input, workers, intra_threads, score_threshold, nms_iou, onnxruntime, spinning, execution_provider);
    fields!(tracker: iou_threshold, min_hits, max_missed_seconds, low_score, new_track_margin);
    fields!(forecast: model);
    fields!(retention: images_days, journal_days);
    fields!(clips: enabled, pre_seconds, post_seconds, ring_max_mb);
    // Compared by value, never printed: outputs hold secrets.
    if old.outputs != new.outputs {
        fields.push("[[outputs]]".to_string());
    }
    // A field added later to one of these sections and not listed above still cannot slip
    // through: the whole section is compared too.
    let sections = [
        ("server", dbg(&old.server), dbg(&new.server)),
        ("journal", dbg(&old.journal), dbg(&new.journal)),
        ("detector", dbg(&old.detector), dbg(&new.detector)),
        ("tracker", dbg(&old.tracker), dbg(&new.tracker)),
        ("forecast", dbg(&old.forecast), dbg(&new.forecast)),
        ("retention", dbg(&old.retention), dbg(&new.retention)),
        ("clips", dbg(&old.clips), dbg(&new.clips)),
        ("auth", dbg(&old.auth), dbg(&new.auth)),
    ];
    for (name, a, b) in sections {
        if a != b && !fields.iter().any(|f| f.starts_with(&format!("{name}."))) {
            fields.push(format!("[{name}]"));
        }
    }
    fields
}

fn dbg<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}")
}

/// The camera's settings that its pipeline is built from: everything except zones, lines,
/// calibration, rules, name and location. Any difference here (source, loop, realtime,
/// rtsp_transport, detect_fps, queue_capacity, enabled, privacy_masks, detect_source,
/// snapshot_full_resolution, and any setting added later) restarts the camera: ingest applies the
/// masks and builds the sub-stream and full-resolution branches when the pipeline starts.
fn pipeline_key(c: &CameraConfig) -> String {
    let mut c = c.clone();
    c.name.clear();
    c.location.clear();
    c.zones.clear();
    c.lines.clear();
    c.rules.clear();
    c.calibration = None;
    c.fitted_calibration = None;
    c.parsed_source = None;
    c.parsed_detect_source = None;
    // Where entries stood in the file: one zone or rule more is not a pipeline change.
    c.positions = Default::default();
    dbg(&c)
}

fn analysis_key(c: &CameraConfig) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        c.name, c.location, c.zones, c.lines, c.calibration, c.rules
    )
}

/// Compares two validated configurations camera by camera (by id). A camera counts only when
/// enabled: disabling one removes it, enabling one adds it. The result lists the new
/// configuration's cameras in order, then the removed ones.
pub fn diff(old: &Config, new: &Config) -> Vec<(String, CameraChange)> {
    let running = |cfg: &Config| -> Vec<CameraConfig> {
        cfg.cameras.iter().filter(|c| c.enabled).cloned().collect()
    };
    let (before, after) = (running(old), running(new));
    let mut out = Vec::new();
    for cam in &after {
        let change = match before.iter().find(|c| c.id == cam.id) {
            None => CameraChange::Added,
            Some(prev) if pipeline_key(prev) != pipeline_key(cam) => CameraChange::Restarted,
            Some(prev) if analysis_key(prev) != analysis_key(cam) => CameraChange::Updated,
            Some(_) => CameraChange::Unchanged,
        };
        out.push((cam.id.clone(), change));
    }
    for cam in &before {
        if !after.iter().any(|c| c.id == cam.id) {
            out.push((cam.id.clone(), CameraChange::Removed));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> String {
        format!("{}/models/models.toml", env!("CARGO_MANIFEST_DIR"))
    }

    fn cam(id: &str, source: &str, extra: &str, zone: &str) -> String {
        format!(
            "[[cameras]]\nid = \"{id}\"\nsource = \"{source}\"\n{extra}\n\
             [[cameras.zones]]\nid = \"z\"\npoints = {zone}\n\
             [[cameras.rules]]\nid = \"r\"\ntype = \"intrusion\"\nzone = \"z\"\nclasses = [\"person\"]\n"
        )
    }

    const SQUARE: &str = "[[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]";
    const OTHER: &str = "[[0.2, 0.2], [0.9, 0.2], [0.9, 0.9]]";

    fn config(detector_extra: &str, cams: &[String]) -> Config {
        let text = format!(
            "[detector]\nmanifest = {:?}\n{detector_extra}\n{}",
            manifest(),
            cams.concat()
        );
        Config::from_toml(&text, std::path::Path::new("."))
            .unwrap_or_else(|e| panic!("invalid test config: {e:?}"))
    }

    fn of(d: &[(String, CameraChange)], id: &str) -> Option<CameraChange> {
        d.iter().find(|(i, _)| i == id).map(|(_, c)| *c)
    }

    #[test]
    fn diff_sorts_every_camera_into_one_kind() {
        let old = config(
            "",
            &[
                cam("a", "test:ball", "", SQUARE),
                cam("b", "test:ball", "", SQUARE),
                cam("c", "test:ball", "", SQUARE),
                cam("d", "test:ball", "detect_fps = 5", SQUARE),
                cam("e", "test:ball", "", SQUARE),
                cam("f", "test:ball", "", SQUARE),
            ],
        );
        let new = config(
            "",
            &[
                // a: untouched.
                cam("a", "test:ball", "", SQUARE),
                // c: zone moved only.
                cam("c", "test:ball", "", OTHER),
                // d: detection rate changed.
                cam("d", "test:ball", "detect_fps = 2", SQUARE),
                // e: renamed only.
                cam(
                    "e",
                    "test:ball",
                    "name = \"Parvis\"\nlocation = \"Place\"",
                    SQUARE,
                ),
                // f: now disabled, so it stops.
                cam("f", "test:ball", "enabled = false", SQUARE),
                // g: new.
                cam("g", "test:smpte", "", SQUARE),
            ],
        );
        let d = diff(&old, &new);
        assert_eq!(of(&d, "a"), Some(CameraChange::Unchanged));
        assert_eq!(of(&d, "b"), Some(CameraChange::Removed));
        assert_eq!(of(&d, "c"), Some(CameraChange::Updated));
        assert_eq!(of(&d, "d"), Some(CameraChange::Restarted));
        assert_eq!(of(&d, "e"), Some(CameraChange::Updated));
        assert_eq!(of(&d, "f"), Some(CameraChange::Removed));
        assert_eq!(of(&d, "g"), Some(CameraChange::Added));
        assert_eq!(d.len(), 7);
        assert!(restart_required(&old, &new).is_empty());
    }

    #[test]
    fn every_pipeline_setting_restarts_the_camera() {
        let base = cam("a", "test:ball", "", SQUARE);
        let old = config("", &[base]);
        for extra in [
            "realtime = false",
            "rtsp_transport = \"udp\"",
            "detect_fps = 1",
            "queue_capacity = 4",
            "detect_source = \"test:smpte\"",
            "privacy_masks = [{ points = [[0.6, 0.1], [0.9, 0.1], [0.9, 0.4]] }]",
            "snapshot_full_resolution = false",
        ] {
            let new = config("", &[cam("a", "test:ball", extra, SQUARE)]);
            assert_eq!(
                diff(&old, &new),
                vec![("a".to_string(), CameraChange::Restarted)],
                "{extra}"
            );
        }
        let new = config("", &[cam("a", "test:smpte", "", SQUARE)]);
        assert_eq!(of(&diff(&old, &new), "a"), Some(CameraChange::Restarted));
        // Enabling a disabled camera starts it.
        let off = config("", &[cam("a", "test:ball", "enabled = false", SQUARE)]);
        assert_eq!(
            diff(&off, &old),
            vec![("a".to_string(), CameraChange::Added)]
        );
    }

    #[test]
    fn a_rule_setting_only_updates_the_camera() {
        let old = config("", &[cam("a", "test:ball", "", SQUARE)]);
        let text = cam("a", "test:ball", "", SQUARE).replace(
            "classes = [\"person\"]",
            "classes = [\"person\"]\nmin_seconds = 3",
        );
        let new = config("", &[text]);
        assert_eq!(diff(&old, &new), vec![("a".into(), CameraChange::Updated)]);
        // One rule more: the same.
        let two = format!(
            "{}[[cameras.rules]]\nid = \"r2\"\ntype = \"intrusion\"\nzone = \"z\"\nclasses = [\"car\"]\n",
            cam("a", "test:ball", "", SQUARE)
        );
        let new = config("", &[two]);
        assert_eq!(diff(&old, &new), vec![("a".into(), CameraChange::Updated)]);
    }

    /// Issue 10 §6: going live is a configuration change: the camera's rules are updated in
    /// place and the parameters (what a configuration version hashes) differ.
    #[test]
    fn a_rule_going_live_updates_the_camera_and_its_parameters() {
        let shadow = cam("a", "test:ball", "", SQUARE).replace(
            "classes = [\"person\"]",
            "classes = [\"person\"]\nmode = \"shadow\"",
        );
        let old = config("", &[shadow]);
        let new = config("", &[cam("a", "test:ball", "", SQUARE)]);
        assert_eq!(diff(&old, &new), vec![("a".into(), CameraChange::Updated)]);
        let (before, after) = (old.parameters(), new.parameters());
        assert_eq!(before["cameras"][0]["rules"][0]["mode"], "shadow");
        assert_eq!(after["cameras"][0]["rules"][0]["mode"], "live");
        assert!(restart_required(&old, &new).is_empty());
    }

    #[test]
    fn engine_wide_settings_need_a_restart_and_are_named() {
        let cams = [cam("a", "test:ball", "", SQUARE)];
        let old = config("workers = 2", &cams);
        assert!(restart_required(&old, &old.clone()).is_empty());
        let new = config("workers = 3\nscore_threshold = 0.5", &cams);
        let fields = restart_required(&old, &new);
        assert_eq!(
            fields,
            vec![
                "detector.workers (2 -> 3)".to_string(),
                "detector.score_threshold (0.35 -> 0.5)".to_string()
            ]
        );
        let mut moved = old.clone();
        moved.server.listen = "127.0.0.1:9999".into();
        moved.tracker.min_hits = 5;
        let fields = restart_required(&old, &moved);
        assert!(fields[0].starts_with("server.listen"), "{fields:?}");
        assert!(fields[1].starts_with("tracker.min_hits"), "{fields:?}");
    }
}
