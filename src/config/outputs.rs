//! `[[outputs]]`: where alerts, decisions and camera states go besides the console (MQTT
//! brokers, webhooks), and the settings every output shares: `server.public_url` (absolute
//! snapshot links) and `state_dir`.
//!
//! One output type = one variant of [`OutputConfig`] and its struct here, plus its delivery code
//! in `delivery/`. Secrets (MQTT password, webhook key) come from the file itself, from a file
//! (`*_file`) or from an environment variable (`*_env`); they are never printed (`Debug` shows
//! `[redacted]`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{valid_id, ConfigError};

/// One configured output.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputConfig {
    Mqtt(MqttConfig),
    Webhook(WebhookConfig),
}

/// A secret value; never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

fn default_prefix() -> String {
    "vigie".to_string()
}
fn default_keep_alive() -> u64 {
    30
}
fn default_max_packet_kib() -> u32 {
    1024
}
fn default_ack_timeout() -> f32 {
    10.0
}
fn default_retry_max() -> f32 {
    60.0
}
fn default_webhook_timeout() -> f32 {
    5.0
}

/// An MQTT 3.1.1 broker: QoS 1, persistent session (`clean_session = false`) under a fixed
/// client id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Stable name of this output (outbox rows and metrics carry it).
    pub id: String,
    /// `mqtt://host:port` (plain TCP; port 1883 when absent).
    pub url: String,
    /// Fixed client id of the persistent session; `vigie-<id>` when absent.
    pub client_id: Option<String>,
    /// First level of every topic.
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    #[serde(default = "default_keep_alive")]
    pub keep_alive_seconds: u64,
    /// Largest MQTT packet sent or received, KiB.
    #[serde(default = "default_max_packet_kib")]
    pub max_packet_kib: u32,
    /// A message not acknowledged (PUBACK) within this is sent again later.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_seconds: f32,
    /// Longest wait between two attempts (exponential backoff from 1 s).
    #[serde(default = "default_retry_max")]
    pub retry_max_seconds: f32,
}

/// An HTTP endpoint that receives a signed POST per event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub id: String,
    /// `http://host:port/path`.
    pub url: String,
    /// HMAC-SHA256 key of `X-Vigie-Signature`: exactly one of `secret`, `secret_file`,
    /// `secret_env`.
    pub secret: Option<Secret>,
    pub secret_file: Option<PathBuf>,
    pub secret_env: Option<String>,
    /// Whole request (connect, send, answer), seconds.
    #[serde(default = "default_webhook_timeout")]
    pub timeout_seconds: f32,
    #[serde(default = "default_retry_max")]
    pub retry_max_seconds: f32,
}

impl OutputConfig {
    pub fn id(&self) -> &str {
        match self {
            OutputConfig::Mqtt(c) => &c.id,
            OutputConfig::Webhook(c) => &c.id,
        }
    }

    /// `mqtt` or `webhook`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            OutputConfig::Mqtt(_) => "mqtt",
            OutputConfig::Webhook(_) => "webhook",
        }
    }

    pub fn retry_max_seconds(&self) -> f32 {
        match self {
            OutputConfig::Mqtt(c) => c.retry_max_seconds,
            OutputConfig::Webhook(c) => c.retry_max_seconds,
        }
    }

    fn validate(&self, base: &Path, p: &str, errors: &mut Vec<ConfigError>) {
        let mut err = |field: &str, message: String| {
            errors.push(ConfigError {
                path: format!("{p}.{field}"),
                message,
            })
        };
        if !valid_id(self.id()) {
            err(
                "id",
                format!(
                    "`{}` must be 1 to 64 letters, digits, `-` or `_`",
                    self.id()
                ),
            );
        }
        let retry = self.retry_max_seconds();
        if !(1.0..=3600.0).contains(&retry) {
            err(
                "retry_max_seconds",
                format!("{retry} is out of range 1..=3600"),
            );
        }
        match self {
            OutputConfig::Mqtt(c) => c.validate(base, &mut err),
            OutputConfig::Webhook(c) => c.validate(base, &mut err),
        }
    }
}

impl MqttConfig {
    /// Host and port from `url`.
    pub fn host_port(&self) -> Result<(String, u16), String> {
        let url = url::Url::parse(&self.url).map_err(|e| format!("`{}`: {e}", self.url))?;
        if url.scheme() != "mqtt" {
            return Err(format!(
                "`{}`: only mqtt:// (plain TCP) is supported; mqtts:// (TLS) is not built in",
                crate::config::redact_url(&self.url)
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("put credentials in `username` and `password_file`, not in the URL".into());
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(format!("`{}`: no path or query expected", self.url));
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or("no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok((host.to_string(), url.port().unwrap_or(1883)))
    }

    /// The fixed client id of the persistent session.
    pub fn client_id(&self) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| format!("vigie-{}", self.id))
    }

    /// The password, read from wherever it is configured (`None` without one).
    pub fn password(&self, base: &Path) -> Result<Option<Secret>, String> {
        read_secret(
            "password",
            &self.password,
            &self.password_file,
            &self.password_env,
            base,
        )
    }

    fn validate(&self, base: &Path, err: &mut impl FnMut(&str, String)) {
        if let Err(m) = self.host_port() {
            err("url", m);
        }
        let client_id = self.client_id();
        if client_id.is_empty() || client_id.len() > 128 || client_id.chars().any(char::is_control)
        {
            err(
                "client_id",
                "must be 1 to 128 printable characters".to_string(),
            );
        }
        if let Err(m) = valid_topic_prefix(&self.topic_prefix) {
            err("topic_prefix", m);
        }
        match self.password(base) {
            Ok(Some(_)) if self.username.is_none() => {
                err("username", "a password needs a username".to_string())
            }
            Ok(_) => {}
            Err(m) => err("password", m),
        }
        if !(5..=3600).contains(&self.keep_alive_seconds) {
            err(
                "keep_alive_seconds",
                format!("{} is out of range 5..=3600", self.keep_alive_seconds),
            );
        }
        if !(16..=262_144).contains(&self.max_packet_kib) {
            err(
                "max_packet_kib",
                format!(
                    "{} is out of range 16..=262144 (256 MiB, the MQTT limit)",
                    self.max_packet_kib
                ),
            );
        }
        if !(0.5..=300.0).contains(&self.ack_timeout_seconds) {
            err(
                "ack_timeout_seconds",
                format!("{} is out of range 0.5..=300", self.ack_timeout_seconds),
            );
        }
    }
}

impl WebhookConfig {
    /// The signing key, read from wherever it is configured.
    pub fn secret(&self, base: &Path) -> Result<Secret, String> {
        read_secret(
            "secret",
            &self.secret,
            &self.secret_file,
            &self.secret_env,
            base,
        )?
        .ok_or_else(|| {
            "a webhook is signed: set one of `secret`, `secret_file`, `secret_env`".to_string()
        })
    }

    fn validate(&self, base: &Path, err: &mut impl FnMut(&str, String)) {
        match url::Url::parse(&self.url) {
            Ok(u) if !u.username().is_empty() || u.password().is_some() => err(
                "url",
                "no credentials in the URL: the signature authenticates Vigie".to_string(),
            ),
            Ok(u) if u.scheme() == "http" && u.host_str().is_some() => {}
            Ok(u) if u.scheme() == "https" => err(
                "url",
                "https:// is not supported yet (no TLS stack built in); use http:// on a trusted network or a local TLS proxy"
                    .to_string(),
            ),
            Ok(_) => err("url", "expected an http:// URL with a host".to_string()),
            Err(e) => err("url", format!("not a URL: {e}")),
        }
        if let Err(m) = self.secret(base) {
            err("secret", m);
        }
        if !(0.5..=300.0).contains(&self.timeout_seconds) {
            err(
                "timeout_seconds",
                format!("{} is out of range 0.5..=300", self.timeout_seconds),
            );
        }
    }
}

/// A secret from exactly one of: the value, a file (trimmed; relative to the config file), an
/// environment variable. `None` when none is set. Error messages never contain the value.
fn read_secret(
    name: &str,
    value: &Option<Secret>,
    file: &Option<PathBuf>,
    env: &Option<String>,
    base: &Path,
) -> Result<Option<Secret>, String> {
    let set = [value.is_some(), file.is_some(), env.is_some()];
    if set.iter().filter(|s| **s).count() > 1 {
        return Err(format!(
            "set only one of `{name}`, `{name}_file`, `{name}_env`"
        ));
    }
    let secret = if let Some(v) = value {
        v.clone()
    } else if let Some(f) = file {
        let path = super::resolve(base, f);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read `{name}_file` {}: {e}", path.display()))?;
        Secret(text.trim().to_string())
    } else if let Some(var) = env {
        let v = std::env::var(var)
            .map_err(|_| format!("environment variable {var} (`{name}_env`) is not set"))?;
        Secret(v.trim().to_string())
    } else {
        return Ok(None);
    };
    if secret.0.is_empty() {
        return Err(format!("the {name} is empty"));
    }
    Ok(Some(secret))
}

fn valid_topic_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > 200 {
        return Err("must be 1 to 200 characters".into());
    }
    if prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
        return Err(format!("`{prefix}`: no leading, trailing or double `/`"));
    }
    if prefix.contains(['+', '#', '\0']) {
        return Err(format!("`{prefix}`: `+`, `#` are MQTT wildcards"));
    }
    Ok(())
}

/// Checks `[[outputs]]` (ids unique, each output valid) and `server.public_url`.
pub(super) fn validate(
    outputs: &[(usize, OutputConfig)],
    public_url: Option<&str>,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) {
    let mut ids = std::collections::HashSet::new();
    for (i, out) in outputs {
        let p = format!("outputs[{i}]");
        out.validate(base, &p, errors);
        if valid_id(out.id()) && !ids.insert(out.id().to_string()) {
            errors.push(ConfigError {
                path: format!("{p}.id"),
                message: format!("`{}` is used by another output", out.id()),
            });
        }
    }
    if let Some(u) = public_url {
        let ok = url::Url::parse(u)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .filter(|u| u.query().is_none() && u.fragment().is_none());
        if ok.is_none() {
            errors.push(ConfigError {
                path: "server.public_url".into(),
                message: format!(
                    "`{u}` is not an http(s) URL like https://vigie.example.org (no query)"
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqtt(url: &str) -> MqttConfig {
        MqttConfig {
            id: "hyper".into(),
            url: url.into(),
            client_id: None,
            topic_prefix: "vigie".into(),
            username: None,
            password: None,
            password_file: None,
            password_env: None,
            keep_alive_seconds: 30,
            max_packet_kib: 1024,
            ack_timeout_seconds: 10.0,
            retry_max_seconds: 60.0,
        }
    }

    fn check(out: OutputConfig) -> Vec<String> {
        let mut errors = Vec::new();
        validate(&[(0, out)], None, Path::new("/nonexistent"), &mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn mqtt_url_gives_host_and_port() {
        assert_eq!(
            mqtt("mqtt://broker.local:1884").host_port().unwrap(),
            ("broker.local".to_string(), 1884)
        );
        assert_eq!(
            mqtt("mqtt://10.0.0.2").host_port().unwrap(),
            ("10.0.0.2".to_string(), 1883)
        );
        assert!(mqtt("mqtts://b:8883").host_port().is_err());
        assert!(mqtt("mqtt://u:p@b:1883")
            .host_port()
            .unwrap_err()
            .contains("username"));
        assert!(mqtt("b:1883").host_port().is_err());
        assert_eq!(mqtt("mqtt://b").client_id(), "vigie-hyper");
    }

    #[test]
    fn every_mqtt_error_has_its_path() {
        let mut c = mqtt("http://b");
        c.topic_prefix = "a/#".into();
        c.keep_alive_seconds = 1;
        c.password = Some(Secret::new("pw"));
        c.retry_max_seconds = 0.0;
        let errors = check(OutputConfig::Mqtt(c));
        for field in [
            "url",
            "topic_prefix",
            "keep_alive_seconds",
            "username",
            "retry_max_seconds",
        ] {
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with(&format!("outputs[0].{field}:"))),
                "{field} missing in {errors:?}"
            );
        }
    }

    #[test]
    fn webhook_needs_exactly_one_secret_and_http() {
        let base = WebhookConfig {
            id: "vms".into(),
            url: "http://127.0.0.1:9000/hook".into(),
            secret: None,
            secret_file: None,
            secret_env: None,
            timeout_seconds: 5.0,
            retry_max_seconds: 60.0,
        };
        let errors = check(OutputConfig::Webhook(base.clone()));
        assert!(errors[0].starts_with("outputs[0].secret: a webhook is signed"));
        let mut two = base.clone();
        two.secret = Some(Secret::new("k"));
        two.secret_env = Some("X".into());
        assert!(check(OutputConfig::Webhook(two))[0].contains("only one"));
        let mut ok = base.clone();
        ok.secret = Some(Secret::new("k"));
        assert!(check(OutputConfig::Webhook(ok.clone())).is_empty());
        ok.url = "https://vms/hook".into();
        assert!(check(OutputConfig::Webhook(ok))[0].contains("https"));
        let mut missing = base;
        missing.secret_env = Some("VIGIE_TEST_SURELY_UNSET_VARIABLE".into());
        assert!(check(OutputConfig::Webhook(missing))[0].contains("is not set"));
    }

    #[test]
    fn secret_from_a_file_is_trimmed_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hook.key"), "s3cr3t-value\n").unwrap();
        let c = WebhookConfig {
            id: "vms".into(),
            url: "http://h/".into(),
            secret: None,
            secret_file: Some("hook.key".into()),
            secret_env: None,
            timeout_seconds: 5.0,
            retry_max_seconds: 60.0,
        };
        assert_eq!(c.secret(dir.path()).unwrap().expose(), "s3cr3t-value");
        let mut inline = c.clone();
        inline.secret_file = None;
        inline.secret = Some(Secret::new("s3cr3t-value"));
        let shown = format!("{:?}", OutputConfig::Webhook(inline));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    /// A minimal valid config (the repository's model) with `extra` appended.
    fn load(top: &str, extra: &str) -> Result<crate::config::Config, Vec<String>> {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        let text = format!(
            "{top}\n[detector]\nmanifest = \"../models/models.toml\"\n[[cameras]]\nid = \"c\"\nsource = \"test:ball\"\n{extra}"
        );
        crate::config::Config::from_toml(&text, &base)
            .map_err(|e| e.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn outputs_are_read_from_the_file_with_defaults() {
        let cfg = load(
            "state_dir = \"/srv/vigie\"",
            "[[outputs]]\ntype = \"mqtt\"\nid = \"m\"\nurl = \"mqtt://b\"\n\
             [[outputs]]\ntype = \"webhook\"\nid = \"w\"\nurl = \"http://h/x\"\nsecret = \"k\"\n",
        )
        .unwrap();
        assert_eq!(cfg.outputs.len(), 2);
        let OutputConfig::Mqtt(m) = &cfg.outputs[0] else {
            panic!("{:?}", cfg.outputs[0]);
        };
        assert_eq!(m.topic_prefix, "vigie");
        assert_eq!(m.max_packet_kib, 1024);
        assert_eq!(m.retry_max_seconds, 60.0);
        assert_eq!(cfg.outputs[1].kind(), "webhook");
        assert_eq!(cfg.state_dir(), Path::new("/srv/vigie"));
        assert_eq!(cfg.journal_path(), Path::new("/srv/vigie/journal.db"));
        // Without state_dir: var/ beside the config file, as before.
        let plain = load("", "").unwrap();
        assert!(plain.journal_path().ends_with("deploy/var/journal.db"));
        assert!(plain.outputs.is_empty());
    }

    #[test]
    fn output_errors_in_the_file_name_their_path() {
        let errors = load(
            "",
            "[[outputs]]\ntype = \"kafka\"\nid = \"k\"\n\
             [[outputs]]\ntype = \"mqtt\"\nid = \"m\"\nurl = \"mqtt://b\"\ncolour = 1\n\
             [[outputs]]\ntype = \"webhook\"\nid = \"m\"\nurl = \"http://u:p@h/\"\nsecret = \"k\"\n",
        )
        .unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("outputs[0]") && e.contains("kafka")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("outputs[1]") && e.contains("colour")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("outputs[2].url:") && e.contains("credentials")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("outputs[2].id:") && e.contains("another output")),
            "{errors:?}"
        );
    }

    #[test]
    fn changing_an_output_or_the_state_dir_needs_a_restart() {
        let old = load(
            "",
            "[[outputs]]\ntype = \"webhook\"\nid = \"w\"\nurl = \"http://h/x\"\nsecret = \"k1\"\n",
        )
        .unwrap();
        let new = load(
            "",
            "[[outputs]]\ntype = \"webhook\"\nid = \"w\"\nurl = \"http://h/x\"\nsecret = \"k2\"\n",
        )
        .unwrap();
        assert!(crate::config::diff::restart_required(&old, &old.clone()).is_empty());
        let fields = crate::config::diff::restart_required(&old, &new);
        assert_eq!(
            fields,
            vec!["[[outputs]]".to_string()],
            "the secret itself is never shown"
        );
        let moved = load(
            "state_dir = \"/elsewhere\"",
            "[[outputs]]\ntype = \"webhook\"\nid = \"w\"\nurl = \"http://h/x\"\nsecret = \"k1\"\n",
        )
        .unwrap();
        let fields = crate::config::diff::restart_required(&old, &moved);
        assert!(
            fields.iter().any(|f| f.starts_with("journal.path")),
            "{fields:?}"
        );
        assert!(
            fields.iter().any(|f| f.starts_with("state_dir")),
            "{fields:?}"
        );
    }

    #[test]
    fn duplicate_ids_and_bad_public_url_are_reported() {
        let a = OutputConfig::Mqtt(mqtt("mqtt://b"));
        let mut errors = Vec::new();
        validate(
            &[(0, a.clone()), (1, a)],
            Some("ftp://x"),
            Path::new("."),
            &mut errors,
        );
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(text.iter().any(|e| e.starts_with("outputs[1].id:")));
        assert!(text.iter().any(|e| e.starts_with("server.public_url:")));
    }
}
