//! The parameters in force, as the journal's parameter history keeps them: detector, tracker,
//! retention, authorisations and every camera with its zones and rules, defaults filled in. Secrets are left
//! out: `[[outputs]]` entirely, credentials in camera URLs redacted.

use serde::Serialize;
use serde_json::Value;

use super::Config;

/// A value as JSON, numbers as the configuration writes them (`0.4`, not the `f32` widened to
/// `0.4000000059604645`).
fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_string(value)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null)
}

impl Config {
    /// What `vigie audit config-at` prints and what each configuration version hashes.
    pub fn parameters(&self) -> Value {
        let cameras: Vec<Value> = self
            .cameras
            .iter()
            .map(|cam| {
                let mut v = json(cam);
                v["source"] = Value::from(match &cam.parsed_source {
                    Some(s) => s.redacted(),
                    None => super::redact_url(&cam.source),
                });
                if let Some(sub) = &cam.detect_source {
                    v["detect_source"] = Value::from(match &cam.parsed_detect_source {
                        Some(s) => s.redacted(),
                        None => super::redact_url(sub),
                    });
                }
                v["zones"] = json(&cam.zones);
                v["lines"] = json(&cam.lines);
                v["rules"] = json(&cam.rules);
                v
            })
            .collect();
        serde_json::json!({
            "detector": json(&self.detector),
            "tracker": json(&self.tracker),
            "retention": json(&self.retention),
            "authorisations": json(&self.authorisations),
            "cameras": cameras,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn parameters_hold_thresholds_with_defaults_and_no_secrets() {
        let text = format!(
            "[detector]\nmanifest = {:?}\n\
             [[cameras]]\nid = \"a\"\nsource = \"rtsp://user:secret@10.0.0.1/live\"\n\
             detect_source = \"rtsp://user:secret@10.0.0.1/sub\"\n\
             [[cameras.privacy_masks]]\nid = \"windows\"\npoints = [[0.6, 0.1], [0.9, 0.1], [0.9, 0.4]]\n\
             [[cameras.zones]]\nid = \"z\"\npoints = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]\n\
             [[cameras.rules]]\nid = \"r\"\ntype = \"intrusion\"\nzone = \"z\"\nclasses = [\"person\"]\n\
             [[outputs]]\nid = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/x\"\nsecret = \"hmac-key\"\n",
            format!("{}/models/models.toml", env!("CARGO_MANIFEST_DIR"))
        );
        let cfg = Config::from_toml(&text, Path::new(".")).unwrap();
        let p = cfg.parameters();
        let rule = &p["cameras"][0]["rules"][0];
        assert_eq!(rule["min_score"], serde_json::json!(0.4));
        assert_eq!(rule["min_seconds"], serde_json::json!(1.0));
        assert_eq!(rule["type"], "intrusion");
        assert_eq!(p["detector"]["score_threshold"], serde_json::json!(0.35));
        assert_eq!(p["retention"]["journal_days"], 365);
        assert_eq!(p["cameras"][0]["zones"][0]["id"], "z");
        let all = p.to_string();
        assert!(!all.contains("secret"), "{all}");
        assert!(!all.contains("hmac-key"), "{all}");
        assert!(all.contains("rtsp://***@10.0.0.1/live"), "{all}");
        assert_eq!(p["cameras"][0]["detect_source"], "rtsp://***@10.0.0.1/sub");
        assert_eq!(p["cameras"][0]["privacy_masks"][0]["id"], "windows");
    }
}
