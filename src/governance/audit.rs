//! `vigie audit …`: check the journal's hash chain, export a bundle an auditor verifies offline
//! with the same command, print the configuration in force at a time, print the chain's head to
//! anchor it elsewhere, and run the retention purge now.
//!
//! Exit status: 0 when everything checked holds, 1 when the chain or a bundle is broken, 2 when
//! the command could not run (no journal, unreadable file, bad argument).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use super::time::{format_ms, parse_ms};
use super::transparency;
use crate::alerts::chain::{self, ChainError};
use crate::alerts::verify::{self, Position, Problem};
use crate::alerts::{versions, ConfigVersion, Journal, JournalError};
use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Which journal: the file itself, or the configuration naming it.
#[derive(Debug, Clone, clap::Args)]
pub struct JournalArg {
    /// The journal (SQLite file).
    #[arg(long, conflicts_with = "config")]
    pub journal: Option<PathBuf>,
    /// The configuration file whose journal to read.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and recompute every chained row: reports the first broken link with
    /// its row and exits 1. With --bundle, checks an exported bundle offline instead.
    Verify {
        #[command(flatten)]
        journal: JournalArg,
        /// A bundle written by `vigie audit export` (no database needed).
        #[arg(long, conflicts_with_all = ["journal", "config"])]
        bundle: Option<PathBuf>,
        /// `SEQ:HASH` kept elsewhere (from `vigie audit head`): that link must have that hash.
        #[arg(long)]
        anchor: Option<String>,
    },
    /// Write the links chained in a period, with their rows, the link before and the chain's
    /// head, as JSON lines.
    Export {
        #[command(flatten)]
        journal: JournalArg,
        /// Start (RFC 3339, a date, or `now`); the beginning when absent.
        #[arg(long)]
        from: Option<String>,
        /// End, excluded; now when absent.
        #[arg(long)]
        to: Option<String>,
        /// Output file; standard output when absent.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// The rules and thresholds in force at TIME (RFC 3339, a date, or `now`).
    ConfigAt {
        time: String,
        #[command(flatten)]
        journal: JournalArg,
        /// The whole version as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One alert explained in plain French, from what the journal recorded (not from today's
    /// configuration): the system's contribution and the agents' decisions, the data and
    /// sources, the parameters and thresholds in force with the measured values, the operations.
    Explain {
        /// The alert's id.
        id: i64,
        #[command(flatten)]
        journal: JournalArg,
        /// The document as JSON.
        #[arg(long)]
        json: bool,
    },
    /// For the public, per camera: what is analysed, under which authorisation, which rules,
    /// the retention periods (the configuration in force, as journaled).
    Summary {
        /// Only this camera.
        #[arg(long)]
        camera: Option<String>,
        #[command(flatten)]
        journal: JournalArg,
        /// The summaries as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The chain's newest link (`SEQ:HASH`), to keep outside this machine.
    Head {
        #[command(flatten)]
        journal: JournalArg,
    },
    /// Apply `[retention]` now (the engine does it every day).
    Purge {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// Runs a command; `Ok(false)` when what it checked is broken.
pub fn run(args: AuditArgs) -> Result<bool, AuditError> {
    match args.command {
        AuditCommand::Verify {
            journal,
            bundle,
            anchor,
        } => {
            let anchor = anchor.as_deref().map(parse_anchor).transpose()?;
            match bundle {
                Some(path) => verify_bundle(&path, anchor.as_ref()),
                None => verify_journal(&journal_path(&journal)?, anchor.as_ref()),
            }
        }
        AuditCommand::Export {
            journal,
            from,
            to,
            out,
        } => export(&journal_path(&journal)?, from, to, out.as_deref()),
        AuditCommand::ConfigAt {
            time,
            journal,
            json,
        } => config_at(&journal_path(&journal)?, &time, json),
        AuditCommand::Explain { id, journal, json } => explain(&journal_path(&journal)?, id, json),
        AuditCommand::Summary {
            camera,
            journal,
            json,
        } => summary(&journal_path(&journal)?, camera.as_deref(), json),
        AuditCommand::Head { journal } => head(&journal_path(&journal)?),
        AuditCommand::Purge { config } => purge(&config),
    }
}

fn journal_path(arg: &JournalArg) -> Result<PathBuf, AuditError> {
    match (&arg.journal, &arg.config) {
        (Some(j), _) => Ok(j.clone()),
        (None, Some(c)) => Ok(Config::load(c)
            .map_err(|e| AuditError::Usage(e.to_string()))?
            .journal_path()),
        (None, None) => Err(AuditError::Usage(
            "name the journal: --journal FILE or --config FILE".into(),
        )),
    }
}

/// Opens a journal read-only: the audit commands (and the transparency routes) never write to it.
pub fn open_read_only(path: &Path) -> Result<Connection, AuditError> {
    let fail = |message: String| AuditError::File {
        path: path.to_path_buf(),
        message,
    };
    if !path.is_file() {
        return Err(fail("no journal here".into()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| fail(e.to_string()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| fail(e.to_string()))?;
    Ok(conn)
}

fn parse_anchor(text: &str) -> Result<Position, AuditError> {
    let bad = || AuditError::Usage(format!("--anchor {text:?}: expected SEQ:HASH"));
    let (seq, hash) = text.split_once(':').ok_or_else(bad)?;
    let hash = hash.trim().to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok(Position {
        seq: seq.trim().parse().map_err(|_| bad())?,
        hash,
    })
}

fn print_problems(problems: &[Problem]) {
    if let Some(first) = problems.first() {
        println!("first broken link: {first}");
    }
    if problems.len() > 1 {
        println!("{} problems in all:", problems.len());
        for p in problems.iter().take(50) {
            println!("  - {p}");
        }
        if problems.len() > 50 {
            println!("  - … and {} more", problems.len() - 50);
        }
    }
}

fn verify_journal(path: &Path, anchor: Option<&Position>) -> Result<bool, AuditError> {
    let conn = open_read_only(path)?;
    let mut report = verify::verify(&conn)?;
    if let Some(a) = anchor {
        let hash: Option<String> = conn
            .query_row("SELECT hash FROM chain WHERE seq = ?1", [a.seq], |r| {
                r.get(0)
            })
            .ok();
        if hash.as_deref() != Some(a.hash.as_str()) {
            report.problems.insert(
                0,
                Problem {
                    seq: Some(a.seq),
                    table: None,
                    row_id: None,
                    message: format!(
                        "the anchored hash is {}, the journal has {}",
                        a.hash,
                        hash.as_deref().unwrap_or("no such link")
                    ),
                },
            );
        }
    }
    let rows: Vec<String> = report
        .rows
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    if report.intact() {
        println!("{}: chain intact", path.display());
    } else {
        println!("{}: chain BROKEN", path.display());
        print_problems(&report.problems);
    }
    println!(
        "  links: {} ({} with purged rows)",
        report.links, report.links_purged
    );
    if let Some(h) = &report.head {
        println!("  head: {}:{} at {}", h.seq, h.hash, format_ms(h.at_ms));
    }
    println!("  rows: {}", rows.join(", "));
    println!(
        "  images: {} checked, {} deleted by retention purges",
        report.images_checked, report.images_purged
    );
    if anchor.is_some() && report.intact() {
        println!("  anchor: matches");
    }
    Ok(report.intact())
}

fn verify_bundle(path: &Path, anchor: Option<&Position>) -> Result<bool, AuditError> {
    let file = File::open(path).map_err(|e| AuditError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let report = verify::verify_bundle(&mut BufReader::new(file), anchor)?;
    let h = &report.header;
    if report.intact() {
        println!("{}: bundle intact", path.display());
    } else {
        println!("{}: bundle BROKEN", path.display());
        print_problems(&report.problems);
    }
    println!(
        "  journal {}, links {}..={} ({}), following {}:{}",
        h.journal_id.as_deref().unwrap_or("?"),
        h.first_seq,
        h.last_seq,
        report.links,
        h.before.seq,
        h.before.hash
    );
    println!(
        "  head when exported ({}): {}:{}{}",
        format_ms(h.exported_at_ms),
        h.head.seq,
        h.head.hash,
        if report.reaches_head {
            " (reached and checked)"
        } else {
            " (beyond this bundle: compare it with an anchored copy)"
        }
    );
    Ok(report.intact())
}

fn export(
    path: &Path,
    from: Option<String>,
    to: Option<String>,
    out: Option<&Path>,
) -> Result<bool, AuditError> {
    let from_ms = from
        .as_deref()
        .map(parse_ms)
        .transpose()
        .map_err(AuditError::Usage)?;
    let to_ms = to
        .as_deref()
        .map(parse_ms)
        .transpose()
        .map_err(AuditError::Usage)?;
    let conn = open_read_only(path)?;
    let header = match out {
        Some(p) => {
            let file = File::create(p).map_err(|e| AuditError::File {
                path: p.to_path_buf(),
                message: e.to_string(),
            })?;
            let mut w = BufWriter::new(file);
            let header = verify::export(&conn, from_ms, to_ms, &mut w)?;
            w.flush().map_err(|e| AuditError::File {
                path: p.to_path_buf(),
                message: e.to_string(),
            })?;
            header
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            let header = verify::export(&conn, from_ms, to_ms, &mut w)?;
            let _ = w.flush();
            header
        }
    };
    eprintln!(
        "exported links {}..={} ({}) of journal {}; head {}:{}",
        header.first_seq,
        header.last_seq,
        header.links,
        header.journal_id.as_deref().unwrap_or("?"),
        header.head.seq,
        header.head.hash
    );
    Ok(true)
}

fn head(path: &Path) -> Result<bool, AuditError> {
    let conn = open_read_only(path)?;
    let head =
        chain::head(&conn)?.ok_or_else(|| ChainError::Invalid("the chain is empty".into()))?;
    println!("{}:{} {}", head.seq, head.hash, format_ms(head.at_ms));
    Ok(true)
}

fn config_at(path: &Path, time: &str, json: bool) -> Result<bool, AuditError> {
    let at = parse_ms(time).map_err(AuditError::Usage)?;
    let conn = open_read_only(path)?;
    let Some((version, next)) = versions::config_at(&conn, at)? else {
        return Err(AuditError::Usage(format!(
            "no configuration was in force at {} (none recorded before)",
            format_ms(at)
        )));
    };
    if json {
        let mut v = serde_json::to_value(&version).unwrap_or(Value::Null);
        v["until_ms"] = serde_json::json!(next);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print!("{}", describe(&version, next));
    }
    Ok(true)
}

/// A configuration version in words: when, which model, then every section's values.
pub fn describe(v: &ConfigVersion, next: Option<i64>) -> String {
    let mut out = format!(
        "configuration version {} ({}), in force from {} {}\n",
        v.id,
        v.reason,
        format_ms(v.at_ms),
        match next {
            Some(n) => format!("until {}", format_ms(n)),
            None => "until now".into(),
        }
    );
    out.push_str(&format!("parameters sha256 {}\n", v.sha256));
    if let (Some(m), Some(h)) = (&v.model, &v.model_sha256) {
        out.push_str(&format!("model {m} sha256 {h}\n"));
    }
    let p = &v.parameters;
    for section in ["detector", "tracker", "retention"] {
        out.push_str(&format!(
            "{section}: {}\n",
            flat(&p[section], &[]).join(" ")
        ));
    }
    for cam in p["cameras"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "camera {}: {}\n",
            cam["id"].as_str().unwrap_or("?"),
            flat(cam, &["id", "zones", "rules"]).join(" ")
        ));
        for zone in cam["zones"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  zone {}: {}\n",
                zone["id"].as_str().unwrap_or("?"),
                flat(zone, &["id"]).join(" ")
            ));
        }
        for rule in cam["rules"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  rule {}: {}\n",
                rule["id"].as_str().unwrap_or("?"),
                flat(rule, &["id"]).join(" ")
            ));
        }
    }
    out
}

/// `key=value` for every scalar or array of an object, nested objects as `outer.key=value`,
/// keys sorted, `skip` left out.
fn flat(value: &Value, skip: &[&str]) -> Vec<String> {
    flat_with(value, skip, "=")
}

/// [`flat`] with `sep` between a key and its value.
pub(crate) fn flat_with(value: &Value, skip: &[&str], sep: &str) -> Vec<String> {
    let mut out = Vec::new();
    flatten_into(value, "", skip, sep, &mut out);
    out
}

fn flatten_into(value: &Value, prefix: &str, skip: &[&str], sep: &str, out: &mut Vec<String>) {
    let Some(map) = value.as_object() else {
        return;
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in keys {
        if prefix.is_empty() && skip.contains(&k.as_str()) {
            continue;
        }
        let name = format!("{prefix}{k}");
        match &map[k] {
            Value::Null => {}
            Value::Object(_) => flatten_into(&map[k], &format!("{name}."), &[], sep, out),
            Value::String(s) => out.push(format!("{name}{sep}{s}")),
            other => out.push(format!("{name}{sep}{other}")),
        }
    }
}

fn explain(path: &Path, id: i64, json: bool) -> Result<bool, AuditError> {
    let conn = open_read_only(path)?;
    let e = transparency::explain(&conn, id)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
    } else {
        print!(
            "{}",
            transparency::to_text(&transparency::alert_title(&e), &e.text)
        );
    }
    Ok(true)
}

fn summary(path: &Path, camera: Option<&str>, json: bool) -> Result<bool, AuditError> {
    let conn = open_read_only(path)?;
    let all = transparency::summary(&conn, camera)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
    } else {
        for s in &all {
            print!(
                "{}",
                transparency::to_text(&transparency::camera_title(s), &s.text)
            );
        }
    }
    Ok(true)
}

fn purge(config: &Path) -> Result<bool, AuditError> {
    let cfg = Config::load(config).map_err(|e| AuditError::Usage(e.to_string()))?;
    let journal = Journal::open(cfg.journal_path())?;
    let run = super::retention::purge(&journal, &cfg.retention, crate::alerts::now_ms())?;
    println!(
        "retention purge (images {} days, journal {} days): {}",
        cfg.retention.images_days,
        cfg.retention.journal_days,
        serde_json::json!(run)
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_seq_and_a_sha256() {
        let h = "a".repeat(64);
        assert_eq!(
            parse_anchor(&format!("12:{h}")).unwrap(),
            Position { seq: 12, hash: h }
        );
        assert!(parse_anchor("12").is_err());
        assert!(parse_anchor("x:abc").is_err());
    }

    #[test]
    fn a_version_reads_as_sections_then_cameras() {
        let v = ConfigVersion {
            id: 2,
            at_ms: 0,
            reason: "reload".into(),
            sha256: "s".into(),
            model: Some("nanodet".into()),
            model_sha256: Some("m".into()),
            parameters: serde_json::json!({
                "detector": {"score_threshold": 0.35},
                "tracker": {"min_hits": 2},
                "retention": {"images_days": 30},
                "cameras": [{"id": "a", "health": {"offline_seconds": 10.0},
                    "zones": [{"id": "z", "points": [[0.1, 0.2]]}],
                    "rules": [{"id": "r", "type": "intrusion", "min_score": 0.6}]}]
            }),
        };
        let text = describe(&v, None);
        assert!(text.contains("version 2 (reload)"), "{text}");
        assert!(text.contains("model nanodet sha256 m"), "{text}");
        assert!(text.contains("detector: score_threshold=0.35"), "{text}");
        assert!(
            text.contains("camera a: health.offline_seconds=10.0"),
            "{text}"
        );
        assert!(text.contains("  zone z: points=[[0.1,0.2]]"), "{text}");
        assert!(
            text.contains("  rule r: min_score=0.6 type=intrusion"),
            "{text}"
        );
    }
}
