use super::*;
use crate::rules::RuleConfig;

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
    let RuleConfig::Intrusion(r) = &cfg.cameras[0].rules[0] else {
        panic!("an intrusion rule: {:?}", cfg.cameras[0].rules[0]);
    };
    assert_eq!(r.min_seconds, 2.0);
    assert_eq!(r.cooldown_seconds, 30.0);
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
