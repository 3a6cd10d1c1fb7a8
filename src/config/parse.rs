//! Reading TOML sections into serde structs with every problem reported at its path: unknown
//! keys are all collected (each is removed and the section read again), type errors name the
//! field.

use serde::de::DeserializeOwned;

use crate::check::Problems;
use crate::rules::{RuleConfig, RuleMode};

/// The result of deserialising one section with its path tracked.
pub(crate) type Tracked<T> = Result<T, serde_path_to_error::Error<toml::de::Error>>;

pub(crate) fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if rest.starts_with('[') => format!("{prefix}{rest}"),
        (false, false) => format!("{prefix}.{rest}"),
    }
}

/// Removes an array of tables from `table[key]` so it can be read item by item.
pub(crate) fn take_array(
    value: &mut toml::Value,
    key: &str,
    prefix: &str,
    problems: &mut Problems,
) -> Vec<toml::Value> {
    let Some(table) = value.as_table_mut() else {
        return Vec::new();
    };
    match table.remove(key) {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                if item.is_table() {
                    out.push(item);
                } else {
                    problems.push(
                        format!("{}[{i}]", join_path(prefix, key)),
                        format!("expected a table, found a {}", item.type_str()),
                    );
                }
            }
            out
        }
        Some(other) => {
            problems.push(
                join_path(prefix, key),
                format!(
                    "expected an array of tables ([[{key}]]), found a {}",
                    other.type_str()
                ),
            );
            Vec::new()
        }
    }
}

/// Deserialises one section, collecting **every** unknown key (each one is removed and the
/// section read again) and the first type error, each with its full path. Unknown keys alone do
/// not stop the section from being read, so its values are still checked.
pub(crate) fn section<T: DeserializeOwned>(
    value: toml::Value,
    prefix: &str,
    problems: &mut Problems,
) -> Option<T> {
    section_with(value, prefix, problems, |v| {
        serde_path_to_error::deserialize(v)
    })
}

/// [`section`] with the deserialiser given (e.g. one variant of a tagged enum).
pub(crate) fn section_with<T>(
    mut value: toml::Value,
    prefix: &str,
    problems: &mut Problems,
    de: impl Fn(toml::Value) -> Tracked<T>,
) -> Option<T> {
    for _ in 0..64 {
        match de(value.clone()) {
            Ok(t) => return Some(t),
            Err(e) => {
                let inner = e.inner().to_string();
                let at = e.path().to_string();
                let at = if at == "." { String::new() } else { at };
                if let Some(key) = unknown_field(&inner) {
                    // The path ends with the unknown key itself.
                    problems.push(
                        join_path(prefix, &at),
                        format!("unknown key `{key}`{}", expected_suffix(&inner)),
                    );
                    if remove_at(&mut value, e.path(), &key) {
                        continue;
                    }
                } else {
                    problems.push(join_path(prefix, &at), clean_message(&inner));
                }
                return None;
            }
        }
    }
    None
}

fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    let end = rest.find('`')?;
    Some(rest[..end].to_string())
}

fn expected_suffix(msg: &str) -> String {
    match msg.find("expected") {
        Some(i) => format!(" ({})", msg[i..].trim_end_matches('\n')),
        None => String::new(),
    }
}

fn clean_message(msg: &str) -> String {
    msg.lines().next().unwrap_or(msg).trim().to_string()
}

/// Removes `key` from the table that holds it; `path` ends with the key itself.
fn remove_at(value: &mut toml::Value, path: &serde_path_to_error::Path, key: &str) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let parents = match segments.last() {
        Some(Segment::Map { key: last }) if last == key => &segments[..segments.len() - 1],
        _ => &segments[..],
    };
    let mut cur = value;
    for seg in parents {
        cur = match seg {
            Segment::Map { key } => match cur.get_mut(key.as_str()) {
                Some(v) => v,
                None => return false,
            },
            Segment::Seq { index } => match cur.get_mut(*index) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    cur.as_table_mut()
        .map(|t| t.remove(key).is_some())
        .unwrap_or(false)
}

/// Reads one `[[cameras.rules]]` table: its `type` chooses the rule's own configuration.
pub(crate) fn rule(
    mut value: toml::Value,
    path: &str,
    problems: &mut Problems,
) -> Option<RuleConfig> {
    let expected = || {
        let names: Vec<String> = RuleConfig::TYPES.iter().map(|t| format!("`{t}`")).collect();
        names.join(", ")
    };
    let type_name = match value.as_table_mut().and_then(|t| t.remove("type")) {
        Some(toml::Value::String(s)) => s,
        Some(other) => {
            problems.push(
                format!("{path}.type"),
                format!("expected a string, found a {}", other.type_str()),
            );
            return None;
        }
        None => {
            problems.push(
                format!("{path}.type"),
                format!("missing: the rule type, one of {}", expected()),
            );
            return None;
        }
    };
    let Some(reader) = RuleConfig::deserializer(&type_name) else {
        problems.push(
            format!("{path}.type"),
            format!(
                "unknown variant `{type_name}`, expected one of {}",
                expected()
            ),
        );
        return None;
    };
    let mode = rule_mode(&mut value, path, problems);
    let rule = section_with(value, path, problems, reader)?;
    Some(RuleConfig {
        mode: mode?,
        ..rule
    })
}

/// Takes the `mode` key every rule has off its table: `live` (the default) or `shadow`. `None`
/// (reported) for any other value.
fn rule_mode(value: &mut toml::Value, path: &str, problems: &mut Problems) -> Option<RuleMode> {
    match value.as_table_mut().and_then(|t| t.remove("mode")) {
        None => Some(RuleMode::Live),
        Some(toml::Value::String(s)) if s == "live" => Some(RuleMode::Live),
        Some(toml::Value::String(s)) if s == "shadow" => Some(RuleMode::Shadow),
        Some(other) => {
            problems.push(
                format!("{path}.mode"),
                format!(
                    "expected \"live\" (alerts go to the operators) or \"shadow\" (journaled \
                     for evaluation only), found {other}"
                ),
            );
            None
        }
    }
}
