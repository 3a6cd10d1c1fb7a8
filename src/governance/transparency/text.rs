//! The words of the transparency documents: plain French, built from the journaled values, and
//! their two renderings (text for `vigie audit`, HTML for the API; every value escaped).

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{CameraSummary, Data, Explanation, Operation, Parameters};
use crate::alerts::{Action, Alert, FalseAlarmReason, Transition};

/// One part of a document: a title and its sentences.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    pub title: String,
    pub lines: Vec<String>,
}

fn section(title: &str, lines: Vec<String>) -> Section {
    Section {
        title: title.to_string(),
        lines,
    }
}

/// `le 01/03/2025 à 12:00:00 UTC`.
pub(crate) fn fr_time(ms: i64) -> String {
    match OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(t) => format!(
            "le {:02}/{:02}/{} à {:02}:{:02}:{:02} UTC",
            t.day(),
            u8::from(t.month()),
            t.year(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("à {ms} ms"),
    }
}

/// A number as people read it: `0.4`, `1`, `2.5` (at most 3 decimals).
fn num(x: f64) -> String {
    let text = format!("{x:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// `key = value` for every key of an object (nested objects as `outer.key`), `skip` left out.
fn keys(value: &Value, skip: &[&str]) -> String {
    crate::governance::audit::flat_with(value, skip, " = ").join(", ")
}

fn reason_fr(r: FalseAlarmReason) -> &'static str {
    match r {
        FalseAlarmReason::ShadowOrReflection => "ombre ou reflet",
        FalseAlarmReason::Animal => "animal",
        FalseAlarmReason::Object => "objet",
        FalseAlarmReason::Weather => "météo",
        FalseAlarmReason::Other => "autre",
    }
}

fn action_fr(a: Action) -> &'static str {
    match a {
        Action::Take => "a pris l'alerte en charge",
        Action::Release => "a relâché l'alerte",
        Action::Confirm => "a confirmé l'alerte",
        Action::FalseAlarm => "a déclaré une fausse alerte",
        Action::Close => "a clôturé l'alerte",
        Action::Reopen => "a rouvert la décision",
        Action::Comment => "a ajouté un commentaire",
    }
}

fn step_line(t: &Transition) -> String {
    let role = t
        .role
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let mut line = format!(
        "{} : l'agent {}{role} {}",
        capitalise(&fr_time(t.at_ms)),
        t.account,
        action_fr(t.action)
    );
    if let Some(r) = t.reason {
        line.push_str(&format!(" (motif : {})", reason_fr(r)));
    }
    if let Some(c) = &t.comment {
        line.push_str(&format!(" ; commentaire : « {c} »"));
    }
    line.push('.');
    line
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The one-sentence summary: "the system signalled; agent X decided Y at Z".
fn verdict(e: &Explanation) -> String {
    let decision = e
        .contribution
        .steps
        .iter()
        .rev()
        .find(|t| matches!(t.action, Action::Confirm | Action::FalseAlarm));
    let signalled = format!(
        "Le système a signalé « {} » {}",
        e.event_label,
        fr_time(e.contribution.signalled_at_ms)
    );
    match decision {
        Some(d) => format!(
            "{signalled} ; l'agent {} a décidé « {} » {}.",
            d.account,
            if d.action == Action::Confirm {
                "alerte confirmée"
            } else {
                "fausse alerte"
            },
            fr_time(d.at_ms)
        ),
        None if e.shadow => format!(
            "{signalled} en mode évaluation : l'alerte n'a été montrée à aucun opérateur et \
             aucun agent n'a eu à décider."
        ),
        None => format!("{signalled} ; aucune décision d'agent n'est enregistrée à ce jour."),
    }
}

fn contribution(e: &Explanation) -> Section {
    let c = &e.contribution;
    let mut lines = vec![verdict(e)];
    lines.push(format!(
        "Explication enregistrée par le système : {} (confiance {}).",
        c.explanation,
        num(f64::from(c.confidence))
    ));
    if let Some(n) = c.people {
        lines.push(format!("Personnes concernées : {n}."));
    }
    if let Some(first) = c.incident_id {
        lines.push(format!(
            "Cette alerte met à jour l'incident ouvert par l'alerte n° {first} : la décision se \
             prend sur cet incident."
        ));
    }
    lines.extend(c.steps.iter().map(step_line));
    lines.push("Le système ne décide rien : il signale, un agent vérifie et décide.".to_string());
    section("1. Contribution du système et décision humaine", lines)
}

fn data_lines(d: &Data) -> Vec<String> {
    let mut lines = vec![format!(
        "Caméra : {} (identifiant {}){}.",
        d.camera_name,
        d.camera_id,
        d.location
            .as_deref()
            .map(|l| format!(", emplacement : {l}"))
            .unwrap_or_default()
    )];
    lines.push(format!(
        "Image analysée : prise {} (horodatage du flux {} s){}.",
        fr_time(d.frame_time_ms),
        num(d.stream_ts_ns as f64 / 1e9),
        d.detect_fps
            .map(|f| format!(", la caméra étant analysée {} fois par seconde", num(f)))
            .unwrap_or_default()
    ));
    lines.push(match (&d.image_sha256, &d.image_purged) {
        (Some(h), Some(p)) => format!(
            "Image supprimée {} par la purge de conservation ({} jours) ; son empreinte SHA-256 \
             reste au journal : {h}.",
            fr_time(p.at_ms),
            p.retention_days
        ),
        (Some(h), None) => format!("Empreinte SHA-256 de l'image conservée : {h}."),
        (None, _) => "Aucune image n'a été conservée avec cette alerte.".to_string(),
    });
    if let Some(h) = &d.still_sha256 {
        lines.push(format!(
            "L'image ci-dessus est celle analysée par le détecteur (flux secondaire) ; l'image du              flux principal au même instant, jointe ensuite, a pour empreinte SHA-256 : {h}."
        ));
    }
    for b in &d.objects {
        lines.push(format!(
            "Objet détecté : {} (score {}), cadre [{}, {}, {}, {}] (fractions de l'image).",
            b.label,
            num(f64::from(b.score)),
            num(f64::from(b.bbox[0])),
            num(f64::from(b.bbox[1])),
            num(f64::from(b.bbox[2])),
            num(f64::from(b.bbox[3]))
        ));
    }
    lines.push(match (&d.model, &d.model_sha256) {
        (Some(m), Some(h)) => format!("Modèle de détection : {m}, empreinte SHA-256 {h}."),
        (None, Some(h)) => format!("Modèle de détection d'empreinte SHA-256 {h}."),
        _ => "Le modèle en vigueur n'est pas enregistré pour cette alerte (journal antérieur)."
            .to_string(),
    });
    lines
}

fn parameter_lines(p: &Parameters) -> Vec<String> {
    let mut lines = Vec::new();
    match (p.config_version, &p.config_sha256, p.in_force_from_ms) {
        (Some(v), Some(sha), Some(at)) => lines.push(format!(
            "Configuration en vigueur : version n° {v}, en vigueur depuis {} (empreinte SHA-256 \
             des paramètres {sha}). Les valeurs ci-dessous sont celles de cette version, pas \
             celles d'aujourd'hui.",
            fr_time(at)
        )),
        _ => lines.push(
            "Aucune version de configuration n'est enregistrée pour cette alerte (journal \
             antérieur) : les seuils de l'époque ne sont pas connus."
                .to_string(),
        ),
    }
    match &p.rule {
        Some(r) => lines.push(format!("Règle « {} » : {}.", p.rule_id, keys(r, &["id"]))),
        None if p.rule_id == "camera_health" => lines.push(
            "Aucune règle : défaut technique de la caméra, détecté par la surveillance de son \
             image."
                .to_string(),
        ),
        None => lines.push(format!(
            "La règle « {} » n'est pas dans la version enregistrée.",
            p.rule_id
        )),
    }
    for (what, v) in [("Zone", &p.zone), ("Ligne", &p.line)] {
        if let Some(v) = v {
            let points = v["points"].as_array().map_or(0, Vec::len);
            lines.push(format!(
                "{what} « {} » : {points} points (coordonnées en fractions de l'image : {}).",
                v["id"].as_str().unwrap_or("?"),
                v["points"]
            ));
        }
    }
    if let Some(d) = &p.detector {
        lines.push(format!(
            "Détecteur : {}.",
            keys(
                d,
                &[
                    "manifest",
                    "onnxruntime",
                    "workers",
                    "intra_threads",
                    "spinning"
                ]
            )
        ));
    }
    if let Some(t) = &p.tracker {
        lines.push(format!("Suivi des objets : {}.", keys(t, &[])));
    }
    for m in &p.measurements {
        lines.push(match m.threshold {
            Some(t) => format!(
                "Valeur mesurée « {} » : {} {} pour un seuil de {} {}.",
                m.name,
                num(m.value),
                m.unit,
                num(t),
                m.unit
            ),
            None => format!(
                "Valeur mesurée « {} » : {} {}.",
                m.name,
                num(m.value),
                m.unit
            ),
        });
    }
    if p.measurements.is_empty() {
        lines.push("Aucune valeur mesurée n'est enregistrée avec cette alerte.".to_string());
    }
    lines.extend(authorisation_lines(p));
    lines
}

fn authorisation_lines(p: &Parameters) -> Vec<String> {
    if !p.authorisations_configured {
        return vec![
            "Aucune autorisation n'était configurée : le contrôle des autorisations était \
             désactivé."
                .to_string(),
        ];
    }
    if p.authorisations.is_empty() {
        return vec!["Aucune autorisation ne couvrait cette caméra et ce type d'événement.".into()];
    }
    p.authorisations
        .iter()
        .map(|a| {
            format!(
                "Autorisation : {} ({}), pour : {}, du {} au {} ; {} au moment de l'alerte.",
                a.record.reference,
                a.record.authority,
                a.record.purpose,
                a.record.start,
                a.record.end,
                if a.in_force {
                    "en vigueur"
                } else {
                    "pas en vigueur"
                }
            )
        })
        .collect()
}

/// The operations that produced `alert`, in the order the engine runs them.
pub(super) fn operations(alert: &Alert, d: &Data, p: &Parameters) -> Vec<Operation> {
    let mut ops: Vec<(&'static str, String)> = vec![(
        "decode",
        format!(
            "Décodage du flux de la caméra {} et prélèvement des images à analyser{}.",
            d.camera_id,
            d.detect_fps
                .map(|f| format!(" ({} par seconde)", num(f)))
                .unwrap_or_default()
        ),
    )];
    if alert.rule_id == "camera_health" {
        ops.push((
            "camera_health",
            "Mesure de la luminosité, du détail et du mouvement de chaque image pour repérer \
             une caméra en panne, figée ou masquée."
                .to_string(),
        ));
    } else {
        let score = p
            .detector
            .as_ref()
            .and_then(|d| d["score_threshold"].as_f64())
            .map(|s| format!(", retenus à partir d'un score de {}", num(s)))
            .unwrap_or_default();
        ops.push((
            "detection",
            format!(
                "Détection des objets (personnes, véhicules, objets) par le modèle {}{score}.",
                d.model.as_deref().unwrap_or("de détection")
            ),
        ));
        ops.push((
            "tracking",
            "Suivi de chaque objet d'une image à la suivante par sa position et son mouvement \
             (aucune caractéristique d'apparence, aucune ré-identification, aucune biométrie)."
                .to_string(),
        ));
        if let Some(extra) = extra_operation(&alert.event_type) {
            ops.push(extra);
        }
        ops.push((
            "rule",
            format!(
                "Évaluation de la règle « {} » avec les seuils ci-dessus : l'alerte naît quand \
                 les valeurs mesurées les franchissent.",
                alert.rule_id
            ),
        ));
    }
    ops.push((
        "gate",
        "Contrôle avant émission : type d'événement de la liste fermée du décret 2023-828, \
         autorisation en vigueur, arrêt des alertes non actionné."
            .to_string(),
    ));
    ops.push((
        "journal",
        "Inscription de l'alerte au journal chaîné (SHA-256) avant que quiconque en soit \
         informé."
            .to_string(),
    ));
    ops.push(if alert.shadow {
        (
            "shadow",
            "Mode évaluation : l'alerte n'est transmise à aucun opérateur ni à aucun système \
             externe ; un évaluateur peut la juger a posteriori."
                .to_string(),
        )
    } else {
        (
            "human",
            "Présentation à un opérateur, qui vérifie l'image et décide (confirmation ou \
             fausse alerte) ; le système n'agit jamais de lui-même."
                .to_string(),
        )
    });
    ops.into_iter()
        .enumerate()
        .map(|(i, (name, description))| Operation {
            order: i + 1,
            name,
            description,
        })
        .collect()
}

/// The step some rule types add between tracking and the rule.
fn extra_operation(event_type: &str) -> Option<(&'static str, String)> {
    let text = match event_type {
        "person_on_ground" => (
            "pose",
            "Estimation de la posture des personnes détectées (points du squelette, sans \
             identification).",
        ),
        "fire" => (
            "scene",
            "Analyse de la couleur et du scintillement de l'image pour repérer une flamme.",
        ),
        "abandoned_object" => (
            "scene",
            "Comparaison de l'image avec l'arrière-plan appris pour repérer un objet resté \
             immobile.",
        ),
        _ => return None,
    };
    Some((text.0, text.1.to_string()))
}

/// The four parts of one alert's explanation.
pub(super) fn explanation(e: &Explanation) -> Vec<Section> {
    vec![
        contribution(e),
        section("2. Données et sources", data_lines(&e.data)),
        section(
            "3. Paramètres et seuils en vigueur, valeurs mesurées",
            parameter_lines(&e.parameters),
        ),
        section(
            "4. Opérations, dans l'ordre où elles ont eu lieu",
            e.operations
                .iter()
                .map(|o| format!("{}. {}", o.order, o.description))
                .collect(),
        ),
    ]
}

/// The public summary of one camera.
pub(super) fn summary(s: &CameraSummary) -> Vec<Section> {
    let mut what = Vec::new();
    if !s.enabled {
        what.push("Cette caméra n'est pas analysée actuellement.".to_string());
    }
    what.push(format!(
        "Les images de cette caméra sont analysées{} par un modèle de détection d'objets{} pour \
         signaler à un agent les situations suivantes :",
        s.detect_fps
            .map(|f| format!(" {} fois par seconde", num(f)))
            .unwrap_or_default(),
        s.model
            .as_deref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default()
    ));
    for r in &s.rules {
        what.push(format!(
            "– {} : {}",
            r.label,
            if r.mode == "shadow" {
                "en évaluation, aucune alerte n'est transmise aux agents"
            } else {
                "en service"
            }
        ));
    }
    if s.rules.is_empty() {
        what.push("– aucune : seul l'état technique de la caméra est surveillé.".to_string());
    }
    what.push(
        "L'état technique de la caméra (panne, image figée ou masquée) est aussi surveillé."
            .to_string(),
    );
    let mut legal: Vec<String> = s
        .authorisations
        .iter()
        .map(|a| {
            let types: Vec<String> = a.event_types.iter().map(|t| super::label_of(t)).collect();
            format!(
                "{}, délivrée par {}, pour : {} ; du {} au {} ; situations autorisées : {}.",
                a.reference,
                a.authority,
                a.purpose,
                a.start,
                a.end,
                types.join(", ")
            )
        })
        .collect();
    if legal.is_empty() {
        legal.push(if s.authorisations_configured {
            "Aucune autorisation ne couvre cette caméra : aucune alerte ne peut y être émise."
                .to_string()
        } else {
            "Aucune autorisation n'est enregistrée dans la configuration de Vigie.".to_string()
        });
    }
    let keep = vec![format!(
        "Images : {} jours. Journal des alertes et des décisions : {} jours.",
        s.images_days.map_or("?".into(), |d| d.to_string()),
        s.journal_days.map_or("?".into(), |d| d.to_string())
    )];
    let guarantees = vec![
        "Aucune reconnaissance faciale, aucune donnée biométrique, aucune ré-identification des \
         personnes."
            .to_string(),
        "Chaque signalement est vérifié par un agent, qui seul décide ; le système ne déclenche \
         aucune action de lui-même."
            .to_string(),
        format!("Configuration en vigueur depuis {}.", fr_time(s.since_ms)),
    ];
    vec![
        section("Ce qui est analysé", what),
        section("Cadre légal", legal),
        section("Durées de conservation", keep),
        section("Garanties", guarantees),
    ]
}

/// A document as text: its title, then each section's title and lines.
pub fn to_text(title: &str, sections: &[Section]) -> String {
    let mut out = format!("{title}\n");
    for s in sections {
        out.push_str(&format!("\n{}\n", s.title));
        for l in &s.lines {
            out.push_str(&format!("  {l}\n"));
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A document as an HTML page in French, every value escaped; `parts` are (heading, sections).
pub fn to_html(title: &str, parts: &[(String, Vec<Section>)]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"fr\">\n<head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{0}</title></head>\n<body>\n<h1>{0}</h1>\n",
        escape(title)
    );
    for (heading, sections) in parts {
        out.push_str("<article>\n");
        if !heading.is_empty() {
            out.push_str(&format!("<h2>{}</h2>\n", escape(heading)));
        }
        for s in sections {
            out.push_str(&format!("<section>\n<h3>{}</h3>\n<ul>\n", escape(&s.title)));
            for l in &s.lines {
                out.push_str(&format!("<li>{}</li>\n", escape(l)));
            }
            out.push_str("</ul>\n</section>\n");
        }
        out.push_str("</article>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_every_value() {
        let s = vec![section(
            "<b>",
            vec!["a & \"b\" <script>'x'</script>".into()],
        )];
        let html = to_html("T<>", &[("h&".into(), s)]);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("a &amp; &quot;b&quot; &lt;script&gt;&#39;x&#39;"));
        assert!(html.contains("<title>T&lt;&gt;</title>"));
        assert!(html.contains("<h2>h&amp;</h2>"));
    }

    #[test]
    fn numbers_and_times_read_plainly() {
        assert_eq!(num(0.4000000059604645), "0.4");
        assert_eq!(num(1.0), "1");
        assert_eq!(num(2.125), "2.125");
        assert_eq!(
            fr_time(86_400_000 + 3_723_000),
            "le 02/01/1970 à 01:02:03 UTC"
        );
        assert_eq!(
            keys(
                &serde_json::json!({"b": 1, "a": {"x": "y"}, "id": "r"}),
                &["id"]
            ),
            "a.x = y, b = 1"
        );
    }
}
