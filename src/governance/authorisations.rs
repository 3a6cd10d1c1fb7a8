//! What `vigie check-config` says about the legal state: each authorisation's state now, a
//! warning 30 days before one expires, and each rule's authorisation state (the gate itself is
//! [`super::gate`]).

use super::gate::{describe, AuthorisationState};
use super::time::format_ms;
use crate::config::Config;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Lines for `check-config`, each ending with a newline.
pub fn report(cfg: &Config, now_ms: i64) -> String {
    if cfg.authorisations.is_empty() {
        return "authorisations: none configured, the authorisation gate is off (every event \
                type of décret 2023-828 is raised; the city's record stays outside Vigie)\n"
            .into();
    }
    let views = describe(&cfg.authorisations, now_ms);
    let mut out = String::new();
    for v in &views {
        out.push_str(&format!(
            "authorisation {:?} ({}): {} from {} until {}; cameras {}; event types {}\n",
            v.record.reference,
            v.record.authority,
            v.state.as_str().replace('_', " "),
            format_ms(v.start_ms),
            format_ms(v.end_ms),
            v.record.cameras.join(", "),
            v.record.event_types.join(", ")
        ));
        if v.expires_soon {
            out.push_str(&format!(
                "warning: authorisation {:?} expires in {} day(s), on {}\n",
                v.record.reference,
                (v.end_ms - now_ms + DAY_MS - 1) / DAY_MS,
                format_ms(v.end_ms)
            ));
        }
    }
    for cam in &cfg.cameras {
        for rule in &cam.rules {
            let ev = rule.event_type().as_str().to_string();
            let covering: Vec<_> = views
                .iter()
                .filter(|v| v.record.covers(&cam.id, &ev))
                .collect();
            let line = match covering
                .iter()
                .find(|v| v.state == AuthorisationState::InForce)
            {
                Some(v) => format!(
                    "active: authorised by {:?} until {}",
                    v.record.reference,
                    format_ms(v.end_ms)
                ),
                None => match covering.first() {
                    Some(v) => format!(
                        "INACTIVE: authorisation {:?} is {}",
                        v.record.reference,
                        v.state.as_str().replace('_', " ")
                    ),
                    None => format!("INACTIVE: no authorisation covers {ev} on this camera"),
                },
            };
            let shadow = if rule.mode == crate::rules::RuleMode::Shadow {
                ", shadow mode"
            } else {
                ""
            };
            out.push_str(&format!(
                "rule {}/{} ({ev}{shadow}): {line}\n",
                cam.id,
                rule.id()
            ));
        }
    }
    out
}
