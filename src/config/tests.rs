use super::*;

/// The repository's own folder, so the real model manifest is used.
fn base() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn clip() -> String {
    // Any existing file will do as a "video" for validation: validation never opens it.
    format!("{}/Cargo.toml", env!("CARGO_MANIFEST_DIR"))
}

fn good() -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[detector]
manifest = "../models/models.toml"

[[cameras]]
id = "cam-1"
name = "Parvis"
source = "{clip}"
loop = true

[[cameras.zones]]
id = "lawn"
points = [[0.1, 0.5], [0.5, 0.5], [0.5, 0.9]]

[[cameras.rules]]
id = "lawn-intrusion"
type = "intrusion"
zone = "lawn"
classes = ["person", "bicycle"]
min_seconds = 2.0

[[cameras]]
id = "cam-2"
source = "rtsp://admin:pw@127.0.0.1:8554/cam"
"#,
        clip = clip()
    )
}

fn errors_of(text: &str) -> Vec<String> {
    match Config::from_toml(text, &base()) {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn a_good_file_loads_with_defaults() {
    let cfg = Config::from_toml(&good(), &base()).expect("valid");
    assert_eq!(cfg.cameras.len(), 2);
    assert_eq!(cfg.cameras[0].zones.len(), 1);
    assert_eq!(cfg.cameras[0].rules[0].mode, crate::rules::RuleMode::Live);
    let crate::rules::RuleKind::Intrusion(r) = &cfg.cameras[0].rules[0].kind else {
        panic!("an intrusion rule: {:?}", cfg.cameras[0].rules[0]);
    };
    assert_eq!(r.min_seconds, 2.0);
    assert_eq!(r.cooldown_seconds, 15.0);
    assert_eq!((r.margin_m, r.margin_body), (0.3, 0.15));
    assert_eq!(r.incident_seconds, 30.0);
    assert_eq!(cfg.cameras[1].name, "cam-2");
    assert_eq!(cfg.cameras[1].rtsp_transport, RtspTransport::Tcp);
    assert_eq!(cfg.class_id("person"), Some(0));
    assert_eq!(cfg.class_id("bicycle"), Some(1));
    assert!(matches!(
        cfg.cameras[1].parsed_source,
        Some(Source::Rtsp { .. })
    ));
}

#[test]
fn every_error_is_reported_at_once_with_its_path() {
    let text = format!(
        r#"
colour = "blue"

[server]
listen = "not an address"

[detector]
manifest = "../models/models.toml"
workers = 0

[[cameras]]
id = "cam-1"
source = "{clip}"
fps = 3

[[cameras.zones]]
id = "lawn"
points = [[0.1, 0.5], [0.5, 0.5]]

[[cameras.rules]]
id = "r1"
type = "intrusion"
zone = "roof"
classes = ["person", "unicorn"]

[[cameras]]
id = "cam-1"
source = "ftp://x/y"

[[cameras.zones]]
id = "z"
points = [[0.1, 0.5], [1.5, 0.5], [0.5, 0.9]]
colour = "red"
shape = "square"

[[cameras.rules]]
id = "r2"
type = "loitering"
zone = "z"
classes = ["person"]
"#,
        clip = clip()
    );
    let errs = errors_of(&text);
    let expect = [
        "colour: unknown key `colour`",
        "server.listen: `not an address`",
        "detector.workers: 0 is out of range",
        "cameras[0].fps: unknown key `fps`",
        "cameras[0].zones[0].points: a polygon needs at least 3 points, got 2",
        "cameras[0].rules[0].zone: no zone `roof`",
        "cameras[0].rules[0].classes[1]: `unicorn` is not a class",
        "cameras[1].id: `cam-1` is used by another camera",
        "cameras[1].source: unsupported scheme `ftp`",
        "cameras[1].zones[0].points[1]: [1.5, 0.5] is outside the image",
        "cameras[1].zones[0].colour: unknown key `colour`",
        "cameras[1].zones[0].shape: unknown key `shape`",
        "cameras[1].rules[0].type: unknown variant `loitering`",
    ];
    for e in expect {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "missing error {e:?} in {errs:#?}"
        );
    }
}

#[test]
fn type_errors_name_the_field() {
    let text = good().replace("min_seconds = 2.0", "min_seconds = \"two\"");
    let errs = errors_of(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with("cameras[0].rules[0].min_seconds: invalid type"),
        "{errs:#?}"
    );
}

#[test]
fn missing_required_fields_are_named() {
    let errs = errors_of("[[cameras]]\nname = \"x\"\n");
    assert!(
        errs.iter()
            .any(|e| e.contains("cameras[0]") && e.contains("missing field `id`")),
        "{errs:#?}"
    );
}

#[test]
fn syntax_errors_and_missing_files_are_clear() {
    let errs = errors_of("[server\nlisten=1");
    assert!(errs[0].starts_with("not valid TOML"), "{errs:#?}");
    let e = Config::load(Path::new("/nonexistent/vigie.toml")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/vigie.toml"));
    assert!(e.to_string().contains("cannot read"));
}

#[test]
fn a_missing_clip_and_a_missing_manifest_are_reported() {
    let text = good()
        .replace(&clip(), "/nonexistent/clip.avi")
        .replace("../models/models.toml", "nowhere/models.toml");
    let errs = errors_of(&text);
    assert!(
        errs.iter()
            .any(|e| e.starts_with("cameras[0].source: file /nonexistent/clip.avi does not exist")),
        "{errs:#?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with("detector.manifest:")),
        "{errs:#?}"
    );
}

#[test]
fn the_example_configs_are_valid() {
    {
        let name = "vigie.example.toml";
        let path = base().join(name);
        if let Err(e) = Config::load(&path) {
            // The example points at the demo clip, which setup downloads; only that may be missing.
            let others: Vec<_> = e
                .errors
                .iter()
                .filter(|e| !e.message.contains("does not exist"))
                .collect();
            assert!(others.is_empty(), "{name}: {e}");
        }
    }
}

#[test]
fn health_thresholds_have_defaults_and_are_checked_with_their_path() {
    let cfg = Config::from_toml(&good(), &base()).expect("valid");
    let c = &cfg.cameras[0];
    assert_eq!(c.max_frame_age_ms, 1000);
    assert_eq!(c.health.offline_seconds, 10.0);
    assert_eq!(c.health.frozen_seconds, 20.0);
    assert_eq!(c.health.obstructed_seconds, 5.0);
    assert_eq!(c.health.obstructed_ratio, 0.25);

    let text = format!(
        "{}max_frame_age_ms = 0\n[cameras.health]\noffline_seconds = 3\nfrozen_seconds = 0\n",
        good()
    );
    let cfg = Config::from_toml(&text, &base()).expect("valid");
    assert_eq!(cfg.cameras[1].max_frame_age_ms, 0);
    assert_eq!(cfg.cameras[1].health.offline_seconds, 3.0);
    assert_eq!(cfg.cameras[1].health.frozen_seconds, 0.0);
    assert_eq!(cfg.cameras[0].health.offline_seconds, 10.0);

    let text = format!(
        "{}max_frame_age_ms = 900000\n[cameras.health]\noffline_seconds = 0.1\nobstructed_seconds = -1\nobstructed_ratio = 1.5\nfrozen = 3\n",
        good()
    );
    let errs = errors_of(&text);
    for want in [
        "cameras[1].health.frozen: unknown key `frozen`",
        "cameras[1].max_frame_age_ms: 900000 is out of range",
        "cameras[1].health.offline_seconds: 0.1 is out of range",
        "cameras[1].health.obstructed_seconds: -1 is out of range",
        "cameras[1].health.obstructed_ratio: 1.5 must be between 0 and 1",
    ] {
        assert!(
            errs.iter().any(|e| e.starts_with(want)),
            "{want}: {errs:#?}"
        );
    }
}

#[test]
fn reconnect_settings_have_defaults_and_are_checked_with_their_path() {
    let cfg = Config::from_toml(&good(), &base()).expect("valid");
    let cam = &cfg.cameras[1];
    assert_eq!(cam.stall_seconds, 10.0);
    assert_eq!(cam.reconnect_max_seconds, 30.0);
    assert_eq!(cam.decode_threads, 1);
    assert_eq!(cam.rtsp_latency_ms, 200);

    let text = good().replace(
        "source = \"rtsp://admin:pw@127.0.0.1:8554/cam\"",
        "source = \"rtsp://admin:pw@127.0.0.1:8554/cam\"\nstall_seconds = 0\nreconnect_max_seconds = -1\ndecode_threads = 65\nrtsp_latency_ms = 20000\nrtsp_transport = \"udp\"",
    );
    let errs = errors_of(&text);
    for e in [
        "cameras[1].stall_seconds: 0 is out of range",
        "cameras[1].reconnect_max_seconds: -1 is out of range",
        "cameras[1].decode_threads: 65 is out of range",
        "cameras[1].rtsp_latency_ms: 20000 is out of range",
    ] {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "missing error {e:?} in {errs:#?}"
        );
    }
    // An HTTP MJPEG camera is accepted; its credentials never show.
    let text = good().replace(
        "rtsp://admin:pw@127.0.0.1:8554/cam",
        "http://admin:pw@127.0.0.1:8080/video.mjpg",
    );
    let cfg = Config::from_toml(&text, &base()).expect("valid");
    let src = cfg.cameras[1].parsed_source.as_ref().expect("parsed");
    assert!(matches!(src, Source::Http { .. }));
    assert_eq!(src.redacted(), "http://***@127.0.0.1:8080/video.mjpg");
    assert!(src.is_live());
}

/// `good()` with `extra` appended to the first camera (before the second).
fn with_first_camera(extra: &str) -> String {
    good().replace(
        "\n[[cameras]]\nid = \"cam-2\"",
        &format!("\n{extra}\n[[cameras]]\nid = \"cam-2\""),
    )
}

const CALIBRATION: &str = "[cameras.calibration]\nimage = [[0.1, 0.9], [0.9, 0.9], [0.7, 0.4], [0.3, 0.4]]\nground = [[0.0, 0.0], [12.0, 0.0], [12.0, 20.0], [0.0, 20.0]]\n";

#[test]
fn lines_and_a_calibration_load_and_the_scene_is_on_the_ground() {
    let text = with_first_camera(&format!(
        "[[cameras.lines]]\nid = \"kerb\"\nname = \"Bordure\"\npoints = [[0.1, 0.6], [0.9, 0.55]]\n{CALIBRATION}"
    ));
    let cfg = Config::from_toml(&text, &base()).expect("valid");
    let cam = &cfg.cameras[0];
    assert_eq!(cam.lines[0].name, "Bordure");
    let cal = cam.fitted_calibration.as_ref().expect("fitted");
    assert!(cal.rms_error_m < 1e-6);
    let summary = cam.calibration_summary().expect("summary");
    assert!(
        summary.contains("4 point pairs") && summary.contains("add a fifth"),
        "{summary}"
    );
    let scene = cam.scene();
    assert!(scene.is_calibrated());
    // The kerb on the ground, in metres, between the near and far sides.
    assert!(scene.lines[0].plane.iter().all(|p| p.1 > 0.0 && p.1 < 20.0));
    assert!(cfg.cameras[1].fitted_calibration.is_none());
}

#[test]
fn bad_lines_and_calibrations_are_errors_with_their_path() {
    let cases = [
        (
            "[[cameras.lines]]\nid = \"kerb\"\npoints = [[0.1, 0.6]]\n",
            "cameras[0].lines[0].points: a line needs at least 2 points, got 1",
        ),
        (
            "[[cameras.lines]]\nid = \"k\"\npoints = [[0.1, 0.6], [1.1, 0.6]]\n[[cameras.lines]]\nid = \"k\"\npoints = [[0.1, 0.6], [0.2, 0.6]]\n",
            "cameras[0].lines[0].points[1]: [1.1, 0.6] is outside the image",
        ),
        (
            "[[cameras.lines]]\nid = \"k\"\npoints = [[0.1, 0.6], [0.9, 0.6]]\n[[cameras.lines]]\nid = \"k\"\npoints = [[0.1, 0.6], [0.2, 0.6]]\n",
            "cameras[0].lines[1].id: `k` is used by another line",
        ),
        (
            "[cameras.calibration]\nimage = [[0.1, 0.9], [0.5, 0.9], [0.9, 0.9], [0.3, 0.4]]\nground = [[0.0, 0.0], [6.0, 0.0], [12.0, 0.0], [0.0, 20.0]]\n",
            "cameras[0].calibration.image: image points 0, 1 and 2 are on one line",
        ),
        (
            "[cameras.calibration]\nimage = [[0.1, 0.9], [0.9, 0.9], [0.7, 0.4], [0.3, 0.4]]\nground = [[0.0, 0.0], [12.0, 0.0], [12.0, 20.0]]\n",
            "cameras[0].calibration.ground: 4 image points but 3 ground points",
        ),
        (
            "[cameras.calibration]\nimage = [[0.1, 0.9], [0.9, 0.9], [0.7, 0.4]]\nground = [[0.0, 0.0], [12.0, 0.0], [12.0, 20.0]]\n",
            "cameras[0].calibration.image: 3 point pairs: a ground calibration needs at least 4",
        ),
        (
            // A fifth pair 4 m away from where the first four put it.
            "[cameras.calibration]\nimage = [[0.1, 0.9], [0.9, 0.9], [0.7, 0.4], [0.3, 0.4], [0.5, 0.65]]\nground = [[0.0, 0.0], [12.0, 0.0], [12.0, 20.0], [0.0, 20.0], [10.0, 6.67]]\n",
            "cameras[0].calibration: RMS reprojection error",
        ),
        (
            "[cameras.calibration]\nimage = [[0.1, 0.9], [0.9, 0.9], [0.7, 0.4], [0.3, 0.4]]\nground = [[0.0, 0.0], [12.0, 0.0], [12.0, 20.0], [0.0, 20.0]]\nheight = 3\n",
            "cameras[0].calibration.height: unknown key `height`",
        ),
    ];
    for (extra, want) in cases {
        let errs = errors_of(&with_first_camera(extra));
        assert!(
            errs.iter().any(|e| e.starts_with(want)),
            "{want}: {errs:#?}"
        );
    }
    // Ground corners listed in another order than the image's.
    let errs = errors_of(&with_first_camera("[cameras.calibration]\nimage = [[0.1, 0.9], [0.9, 0.9], [0.7, 0.4], [0.3, 0.4]]\nground = [[0.0, 0.0], [12.0, 20.0], [12.0, 0.0], [0.0, 20.0]]\n"));
    assert!(
        errs.iter()
            .any(|e| e.starts_with("cameras[0].calibration") && e.contains("order")),
        "{errs:#?}"
    );
    // A 12 m x 20 m square whose far side looks 4 times narrower: the sides of the trapezoid
    // meet at y = 0.9 - 0.5 * 4 / 3 ≈ 0.233, the horizon. A zone reaching the top of the image
    // is not on the ground.
    let steep = "[cameras.calibration]\nimage = [[0.1, 0.9], [0.9, 0.9], [0.6, 0.4], [0.4, 0.4]]\nground = [[0.0, 0.0], [12.0, 0.0], [12.0, 20.0], [0.0, 20.0]]\n";
    let text = with_first_camera(steep).replace(
        "points = [[0.1, 0.5], [0.5, 0.5], [0.5, 0.9]]",
        "points = [[0.1, 0.0], [0.5, 0.5], [0.5, 0.9]]",
    );
    let errs = errors_of(&text);
    assert!(
        errs.iter()
            .any(|e| e
                .starts_with("cameras[0].zones[0].points[0]: [0.1, 0] is at or above the horizon")),
        "{errs:#?}"
    );
}

#[test]
fn a_rule_without_a_known_type_is_named() {
    let errs = errors_of(&good().replace("type = \"intrusion\"\n", ""));
    assert!(
        errs.iter().any(|e| e
            .starts_with("cameras[0].rules[0].type: missing: the rule type, one of `intrusion`")),
        "{errs:#?}"
    );
    let errs = errors_of(&good().replace("type = \"intrusion\"", "type = 3"));
    assert!(
        errs.iter()
            .any(|e| e.starts_with("cameras[0].rules[0].type: expected a string")),
        "{errs:#?}"
    );
}

/// Issue 10 §6: every rule has `mode`, `live` by default or `shadow`; anything else is an error
/// at its path, reported with the rule's other errors.
#[test]
fn a_rule_mode_is_live_or_shadow() {
    let cfg = Config::from_toml(
        &good().replace("min_seconds = 2.0", "min_seconds = 2.0\nmode = \"shadow\""),
        &base(),
    )
    .expect("valid");
    assert_eq!(cfg.cameras[0].rules[0].mode, crate::rules::RuleMode::Shadow);
    let errs =
        errors_of(&good().replace("min_seconds = 2.0", "min_seconds = \"x\"\nmode = \"pilot\""));
    assert!(
        errs.iter().any(|e| {
            e.starts_with(
            "cameras[0].rules[0].mode: expected \"live\" (alerts go to the operators) or \"shadow\""
        )
        }),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("cameras[0].rules[0].min_seconds")),
        "{errs:#?}"
    );
    let errs = errors_of(&good().replace("min_seconds = 2.0", "mode = 1"));
    assert!(errs.iter().any(|e| e.contains("found 1")), "{errs:#?}");
}

/// The intrusion part of the shared contract (`rules-spec.md`) as written there.
#[test]
fn the_shared_contract_example_parses() {
    let text = format!(
        r#"
[detector]
manifest = "../models/models.toml"

[[cameras]]
id = "vtest"
source = "{clip}"

[[cameras.zones]]            # unchanged: polygon, normalised image coords (0..1, origin top left)
id = "square"
name = "Esplanade"
points = [[0.57, 0.41], [1.0, 0.41], [1.0, 0.73]]

[[cameras.lines]]            # new: a polyline, >= 2 points, normalised image coords
id = "kerb"
name = "Bordure"
points = [[0.1, 0.6], [0.9, 0.55]]

[cameras.calibration]        # new, optional: image points (normalised) and their ground coords (m)
image  = [[0.1, 0.9], [0.9, 0.9], [0.8, 0.4], [0.2, 0.4]]   # >= 4, no 3 collinear
ground = [[0.0, 0.0], [12.0, 0.0], [12.0, 20.0], [0.0, 20.0]]
max_error_m = 0.5           # reprojection error (RMS, metres) above which check-config refuses

[[cameras.rules]]            # every rule: id (unique per camera), type, and its own keys
id = "square-intrusion"
type = "intrusion"           # one of: intrusion, wrong_way, density, crowd_movement
zone = "square"
classes = ["person"]
min_score = 0.4
min_seconds = 1.0
margin_m = 0.3               # calibrated cameras: ground point inside by this much (m)
margin_body = 0.15           # uncalibrated: inside by this fraction of the box height
cooldown_seconds = 15        # per incident, never zone-wide
incident_seconds = 30        # re-entries / new track ids of the same people update the incident
"#,
        clip = clip()
    );
    let cfg = Config::from_toml(&text, &base()).unwrap_or_else(|e| panic!("{e:#?}"));
    let cam = &cfg.cameras[0];
    assert!(cam.fitted_calibration.is_some());
    assert_eq!(cam.rules[0].id(), "square-intrusion");
    // Out of range values of the rule's own keys are named with their path.
    let errs = errors_of(
        &text
            .replace("margin_m = 0.3", "margin_m = -1")
            .replace("incident_seconds = 30", "incident_seconds = \"long\""),
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("cameras[0].rules[0].incident_seconds: invalid type")),
        "{errs:#?}"
    );
    let errs = errors_of(&text.replace("margin_m = 0.3", "margin_m = -1"));
    assert_eq!(
        errs,
        vec!["cameras[0].rules[0].margin_m: -1 is out of range 0..=10".to_string()]
    );
}
#[test]
fn allowed_hosts_are_bare_names_or_addresses() {
    let with = |hosts: &str| {
        good().replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:0\"\nallowed_hosts = {hosts}"),
        )
    };
    let cfg = Config::from_toml(
        &with(r#"["vigie.csu.local", "10.0.0.5", "[::1]"]"#),
        &base(),
    )
    .expect("valid");
    assert_eq!(cfg.server.allowed_hosts.len(), 3);
    assert!(Config::from_toml(&good(), &base())
        .unwrap()
        .server
        .allowed_hosts
        .is_empty());
    let errors = errors_of(&with(
        r#"["http://vigie.local", "vigie.local:8080", "*.csu.local", "a b", ""]"#,
    ));
    for i in 0..5 {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&format!("server.allowed_hosts[{i}]"))),
            "{i}: {errors:?}"
        );
    }
}

#[test]
fn an_rtsp_port_above_65535_is_refused_with_its_path() {
    let text = good().replace("127.0.0.1:8554/cam", "127.0.0.1:99999/cam");
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("cameras[1].source:"), "{errors:?}");
    assert!(errors[0].contains("port"), "{errors:?}");
    assert!(!errors[0].contains(":pw@"), "no credentials: {errors:?}");
}

#[test]
fn a_pose_model_as_detector_is_an_error_naming_the_field() {
    let text = good().replace(
        "manifest = \"../models/models.toml\"",
        "manifest = \"../models/models.toml\"\nmodel = \"movenet-multipose\"",
    );
    let errs = errors_of(&text);
    assert!(
        errs.iter().any(|e| e.starts_with("detector.model:")
            && e.contains("`movenet-multipose` is a pose model")
            && e.contains("not a detector")),
        "{errs:#?}"
    );
}

#[test]
fn retention_defaults_and_the_legal_minimum_of_the_journal() {
    let cfg = Config::from_toml(&good(), &base()).expect("valid");
    assert_eq!(cfg.retention, RetentionConfig::default());
    assert_eq!(
        (cfg.retention.images_days, cfg.retention.journal_days),
        (30, 365)
    );
    let short = format!("{}\n[retention]\njournal_days = 182\n", good());
    let errors = errors_of(&short);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("retention.journal_days"),
        "{errors:?}"
    );
    assert!(errors[0].contains("183"), "{errors:?}");
    let ok = format!(
        "{}\n[retention]\njournal_days = 183\nimages_days = 7\n",
        good()
    );
    assert!(errors_of(&ok).is_empty());
    let images = format!("{}\n[retention]\nimages_days = 400\n", good());
    assert!(errors_of(&images)[0].starts_with("retention.images_days"));
    let unknown = format!("{}\n[retention]\nclips_days = 3\n", good());
    assert!(
        errors_of(&unknown)[0].contains("clips_days"),
        "{:?}",
        errors_of(&unknown)
    );
}

#[test]
fn authorisation_errors_name_their_path() {
    let auth = |cameras: &str, types: &str, start: &str, end: &str| {
        format!(
            "{}\n[[authorisations]]\nreference = \"AP 2025-1\"\nauthority = \"Préfecture\"\n\
             purpose = \"test\"\ncameras = {cameras}\nevent_types = {types}\n\
             start = \"{start}\"\nend = \"{end}\"\n",
            good()
        )
    };
    let ok = auth("[\"cam-1\"]", "[\"intrusion\"]", "2025-01-01", "2025-06-30");
    let cfg = Config::from_toml(&ok, &base()).expect("valid");
    assert_eq!(cfg.authorisations.len(), 1);
    let errors = errors_of(&auth(
        "[\"cam-9\"]",
        "[\"intrusion\"]",
        "2025-01-01",
        "2025-06-30",
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("authorisations[0].cameras[0]"),
        "{errors:?}"
    );
    assert!(errors[0].contains("cam-9"), "{errors:?}");
    let errors = errors_of(&auth(
        "[\"cam-1\"]",
        "[\"face_recognition\"]",
        "2025-01-01",
        "2025-06-30",
    ));
    assert!(
        errors[0].starts_with("authorisations[0].event_types[0]"),
        "{errors:?}"
    );
    assert!(errors[0].contains("2023-828"), "{errors:?}");
    let errors = errors_of(&auth(
        "[\"cam-1\"]",
        "[\"intrusion\"]",
        "2025-06-30",
        "2025-01-01",
    ));
    assert!(errors[0].starts_with("authorisations[0].end"), "{errors:?}");
}

#[test]
fn entries_after_one_that_fails_to_parse_keep_their_file_position() {
    let text = with_first_camera(
        "[[cameras.zones]]\nid = \"broken\"\npoints = \"not a list\"\n\
         [[cameras.zones]]\nid = \"lawn\"\npoints = [[0.1, 0.5], [0.5, 0.5], [0.5, 0.9]]\n\
         [[cameras.lines]]\nid = 3\n\
         [[cameras.lines]]\nid = \"kerb\"\npoints = [[0.1, 0.6]]\n\
         [[cameras.rules]]\nid = \"bad\"\ntype = \"intrusion\"\nzone = 4\n\
         [[cameras.rules]]\nid = \"lawn-intrusion\"\ntype = \"intrusion\"\nzone = \"roof\"\nclasses = [\"person\"]\n",
    );
    let errs = errors_of(&text);
    let has = |prefix: &str| errs.iter().any(|e| e.starts_with(prefix));
    // The file's `good()` camera already has one zone and one rule: the added ones follow.
    assert!(has("cameras[0].zones[1].points: invalid type"), "{errs:#?}");
    assert!(
        has("cameras[0].zones[2].id: `lawn` is used by another zone"),
        "{errs:#?}"
    );
    assert!(has("cameras[0].lines[0].id: invalid type"), "{errs:#?}");
    assert!(
        has("cameras[0].lines[1].points: a line needs at least 2 points"),
        "{errs:#?}"
    );
    assert!(has("cameras[0].rules[1].zone: invalid type"), "{errs:#?}");
    assert!(
        has("cameras[0].rules[2].id: `lawn-intrusion` is used by another rule"),
        "{errs:#?}"
    );
    assert!(has("cameras[0].rules[2].zone: no zone `roof`"), "{errs:#?}");
}

#[test]
fn detector_input_is_checked_against_the_model() {
    let with = |input: &str, manifest: &str| {
        good().replace(
            "manifest = \"../models/models.toml\"",
            &format!("manifest = {manifest:?}\ninput = {input}"),
        )
    };
    let repo = "../models/models.toml";
    let cfg = Config::from_toml(&with("[416, 288]", repo), &base()).expect("valid");
    assert_eq!(cfg.detector.input, Some([416, 288]));
    assert_eq!(cfg.detector_options().input_size, Some((416, 288)));
    let cfg = Config::from_toml(&good(), &base()).expect("valid");
    assert_eq!(
        cfg.detector_options().input_size,
        None,
        "default: the model's shape"
    );
    for (input, why) in [
        ("[400, 288]", "multiples of 32"),
        ("[96, 96]", "128..=1280"),
        ("[416, 2048]", "128..=1280"),
    ] {
        let errs = errors_of(&with(input, repo));
        assert!(
            errs.iter()
                .any(|e| e.starts_with("detector.input:") && e.contains(why)),
            "{input}: {errs:#?}"
        );
    }
    // A model that does not declare `input.dynamic_size` takes only its own shape.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(base().join(repo)).unwrap();
    let fixed = dir.path().join("models.toml");
    std::fs::write(&fixed, text.replace("dynamic_size = { multiple = 32 }", "")).unwrap();
    let fixed = fixed.to_string_lossy().to_string();
    assert!(errors_of(&with("[416, 416]", &fixed)).is_empty());
    let errs = errors_of(&with("[416, 288]", &fixed));
    assert!(
        errs.iter().any(|e| e.starts_with("detector.input:")
            && e.contains("fixed 416x416 input")
            && e.contains("dynamic_size")),
        "{errs:#?}"
    );
}

#[test]
fn input_sizes_parse_from_the_command_line() {
    assert_eq!(parse_input_size("416x288"), Ok([416, 288]));
    assert_eq!(parse_input_size("416X224"), Ok([416, 224]));
    for bad in ["416", "416x", "x288", "416*288", "-1x2"] {
        assert!(
            parse_input_size(bad).unwrap_err().contains("WIDTHxHEIGHT"),
            "{bad}"
        );
    }
}
