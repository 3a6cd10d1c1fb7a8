//! The factors that describe an event, their categories, and the input formats (CSV for past and
//! planned events, TOML or JSON for one planned event).
//!
//! Only event-level factors are accepted: a column or field that is not one of the known ones is
//! refused by name, so that no personal data can slip into a history or a model file.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Month, Weekday};

use super::{ForecastError, InputIssue};

/// Most issues collected from one input before giving up (the rest are counted, not listed).
pub const MAX_ISSUES: usize = 50;
/// Largest accepted `participants`.
pub const MAX_PARTICIPANTS: u64 = 10_000_000;
/// Largest accepted `footprint_m2` (100 km², a whole city).
pub const MAX_FOOTPRINT_M2: f64 = 1.0e8;
/// Smallest accepted `footprint_m2` (a kiosk: below it, an event is not a public gathering).
pub const MIN_FOOTPRINT_M2: f64 = 10.0;
/// Largest accepted `duration_h` (a month).
pub const MAX_DURATION_H: f64 = 24.0 * 31.0;
/// Smallest accepted `duration_h` (six minutes).
pub const MIN_DURATION_H: f64 = 0.1;
/// Largest accepted density, participants per m² of footprint: beyond about 9 persons per m² a
/// crowd cannot physically stand (crowd-safety literature); higher means a wrong figure.
pub const MAX_DENSITY: f64 = 10.0;
/// Longest accepted `id`.
pub const MAX_ID_LEN: usize = 64;

macro_rules! category {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every category, in encoding order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The category as written in files.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Position in [`Self::ALL`] (the one-hot column).
            pub fn index(self) -> usize {
                Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
            }

            /// The accepted spellings, comma separated (for error messages and docs).
            pub fn choices() -> String {
                Self::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let t = s.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|c| c.as_str().eq_ignore_ascii_case(t))
                    .ok_or_else(|| format!("unknown {} `{}` (expected one of: {})", $what, t, Self::choices()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

category!(
    /// What kind of event it is.
    Nature, "nature", {
        /// Concert, open-air or indoor.
        Concert => "concert",
        /// Sports match with supporters (football, rugby…).
        Match => "match",
        /// Declared demonstration or march.
        Demonstration => "demonstration",
        /// Open-air market, flea market.
        Market => "market",
        /// Multi-day or street festival, city celebration.
        Festival => "festival",
        /// Running race, cycling race, marathon.
        SportRace => "sport_race",
        /// Trade fair, exhibition, funfair.
        Fair => "fair",
        /// Anything else.
        Other => "other",
    }
);

category!(
    /// The city sector the event takes place in.
    Sector, "sector", {
        /// Historic centre.
        Centre => "centre",
        /// Northern districts.
        North => "north",
        /// Southern districts.
        South => "south",
        /// Eastern districts.
        East => "east",
        /// Western districts.
        West => "west",
        /// Port and docks.
        Port => "port",
        /// University campus.
        University => "university",
        /// Industrial and commercial zones.
        Industrial => "industrial",
    }
);

category!(
    /// The kind of place (venue) the event occupies.
    Location, "location", {
        /// Stadium.
        Stadium => "stadium",
        /// Indoor arena or concert hall of large capacity.
        Arena => "arena",
        /// Public square.
        Square => "square",
        /// Streets (a route, a march, a street market).
        Street => "street",
        /// Park or open green space.
        Park => "park",
        /// Exhibition or meeting hall.
        Hall => "hall",
        /// Quays, riverside, waterfront.
        Quay => "quay",
        /// Anything else.
        Other => "other",
    }
);

category!(
    /// Winter (October–March) or summer (April–September).
    Season, "season", {
        /// October to March.
        Winter => "winter",
        /// April to September.
        Summer => "summer",
    }
);

/// The eight factors of an event: everything the forest learns from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factors {
    pub location: Location,
    pub participants: u64,
    pub nature: Nature,
    pub sector: Sector,
    /// Saturday or Sunday.
    pub weekend: bool,
    pub season: Season,
    /// Area the event occupies, in m².
    pub footprint_m2: f64,
    /// Duration in hours.
    pub duration_h: f64,
}

/// A past event with its observed score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastEvent {
    pub id: String,
    /// `YYYY-MM-DD` when the history gave a date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(flatten)]
    pub factors: Factors,
    /// Weighted incidents recorded around the event (see the module docs).
    pub score: f64,
}

/// A planned event: the same factors, no score yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedEvent {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(flatten)]
    pub factors: Factors,
}

/// A history of past events, as read from a CSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub events: Vec<PastEvent>,
}

/// Day-of-week and season of a date: Saturday and Sunday are the weekend; April to September is
/// summer, October to March winter.
pub fn calendar_of(date: Date) -> (bool, Season) {
    let weekend = matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday);
    let season = match date.month() {
        Month::April
        | Month::May
        | Month::June
        | Month::July
        | Month::August
        | Month::September => Season::Summer,
        _ => Season::Winter,
    };
    (weekend, season)
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<Date, String> {
    let t = s.trim();
    let bad = || format!("bad date `{t}` (expected YYYY-MM-DD, e.g. 2024-06-21)");
    let parts: Vec<&str> = t.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
        return Err(bad());
    }
    let year: i32 = parts[0].parse().map_err(|_| bad())?;
    let month: u8 = parts[1].parse().map_err(|_| bad())?;
    let day: u8 = parts[2].parse().map_err(|_| bad())?;
    let month = Month::try_from(month).map_err(|_| bad())?;
    Date::from_calendar_date(year, month, day).map_err(|_| bad())
}

/// Checks an event label: 1–64 characters among letters, digits and `_ . : / -`, and no run of
/// 7 digits or more (a phone or identity number has no place in a label).
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty id".into());
    }
    if id.chars().count() > MAX_ID_LEN {
        return Err(format!("id longer than {MAX_ID_LEN} characters"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-')))
    {
        return Err(format!(
            "id `{id}` has the character {c:?}: an id is an event label made of letters, digits and _ . : / - only"
        ));
    }
    let mut run = 0;
    for c in id.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 7 {
            return Err(format!(
                "id `{id}` has a run of 7 digits or more, which looks like a phone or identity number"
            ));
        }
    }
    Ok(())
}

fn parse_participants(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let v: u64 = t
        .parse()
        .map_err(|_| format!("participants `{t}` is not a whole number ≥ 0"))?;
    if v > MAX_PARTICIPANTS {
        return Err(format!(
            "participants {v} above the limit {MAX_PARTICIPANTS}"
        ));
    }
    Ok(v)
}

fn parse_positive(name: &str, unit: &str, s: &str, range: (f64, f64)) -> Result<f64, String> {
    let t = s.trim();
    let v: f64 = t
        .parse()
        .map_err(|_| format!("{name} `{t}` is not a number ({unit})"))?;
    check_positive(name, v, range)
}

/// A positive number within its physical bounds `(min, max)`.
fn check_positive(name: &str, v: f64, (min, max): (f64, f64)) -> Result<f64, String> {
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("{name} must be a number > 0, got {v}"));
    }
    if v < min {
        return Err(format!("{name} {v} below the minimum {min}"));
    }
    if v > max {
        return Err(format!("{name} {v} above the limit {max}"));
    }
    Ok(v)
}

/// Participants per m² within [`MAX_DENSITY`].
fn check_density(participants: u64, footprint_m2: f64) -> Result<(), String> {
    let density = participants as f64 / footprint_m2;
    if density > MAX_DENSITY {
        return Err(format!(
            "{participants} participants on {footprint_m2} m² is {density:.1} persons per m², \
             above the physical limit of {MAX_DENSITY}"
        ));
    }
    Ok(())
}

fn parse_score(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v: f64 = t
        .parse()
        .map_err(|_| format!("score `{t}` is not a number"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("score must be a number ≥ 0, got {t}"));
    }
    Ok(v)
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "weekend" => Ok(true),
        "0" | "false" | "no" | "weekday" => Ok(false),
        t => Err(format!(
            "weekend `{t}` is not one of true/false, 1/0, yes/no, weekend/weekday"
        )),
    }
}

/// The columns a CSV may have.
pub const COLUMNS: &[&str] = &[
    "id",
    "date",
    "weekend",
    "season",
    "location",
    "participants",
    "nature",
    "sector",
    "footprint_m2",
    "duration_h",
    "score",
];

#[derive(Clone, Copy, PartialEq)]
enum ScoreColumn {
    Required,
    Forbidden,
}

struct Columns {
    id: usize,
    date: Option<usize>,
    weekend: Option<usize>,
    season: Option<usize>,
    location: usize,
    participants: usize,
    nature: usize,
    sector: usize,
    footprint: usize,
    duration: usize,
    score: Option<usize>,
    count: usize,
}

/// One row of a CSV, split in fields; `Err` when a quote is not closed.
fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    let mut quoted_field = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && cur.trim().is_empty() && !quoted_field {
            cur.clear();
            in_quotes = true;
            quoted_field = true;
        } else if c == ',' {
            fields.push(std::mem::take(&mut cur));
            quoted_field = false;
        } else {
            cur.push(c);
        }
    }
    if in_quotes {
        return Err("a quoted field is not closed (fields cannot span lines)".into());
    }
    fields.push(cur);
    Ok(fields)
}

fn issue(line: usize, column: Option<&str>, reason: impl Into<String>) -> InputIssue {
    InputIssue {
        line,
        column: column.map(str::to_string),
        reason: reason.into(),
    }
}

fn read_header(header: &str, score: ScoreColumn) -> Result<Columns, Vec<InputIssue>> {
    let mut issues = Vec::new();
    let names: Vec<String> = match split_csv_line(header.trim_start_matches('\u{feff}')) {
        Ok(f) => f
            .into_iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect(),
        Err(e) => return Err(vec![issue(1, None, e)]),
    };
    let mut seen: Vec<&str> = Vec::new();
    for name in &names {
        if !COLUMNS.contains(&name.as_str()) {
            issues.push(issue(
                1,
                Some(name),
                format!(
                    "column `{name}` is not a known factor and is refused (only event-level factors are accepted, never personal data); known columns: {}",
                    COLUMNS.join(", ")
                ),
            ));
        } else if seen.contains(&name.as_str()) {
            issues.push(issue(
                1,
                Some(name),
                format!("column `{name}` appears twice"),
            ));
        } else {
            seen.push(name);
        }
    }
    let find = |n: &str| names.iter().position(|c| c == n);
    let required = |n: &str, issues: &mut Vec<InputIssue>| {
        let p = find(n);
        if p.is_none() {
            issues.push(issue(1, Some(n), format!("missing column `{n}`")));
        }
        p.unwrap_or(0)
    };
    let id = required("id", &mut issues);
    let location = required("location", &mut issues);
    let participants = required("participants", &mut issues);
    let nature = required("nature", &mut issues);
    let sector = required("sector", &mut issues);
    let footprint = required("footprint_m2", &mut issues);
    let duration = required("duration_h", &mut issues);
    let (date, weekend, season) = (find("date"), find("weekend"), find("season"));
    match (date, weekend, season) {
        (Some(_), None, None) | (None, Some(_), Some(_)) => {}
        (Some(_), _, _) => issues.push(issue(
            1,
            Some("date"),
            "give either `date` or both `weekend` and `season`, not both (they could disagree)",
        )),
        (None, _, _) => issues.push(issue(
            1,
            Some("date"),
            "missing column `date` (or, instead of it, both `weekend` and `season`)",
        )),
    }
    let score_col = find("score");
    match (score, score_col) {
        (ScoreColumn::Required, None) => issues.push(issue(
            1,
            Some("score"),
            "missing column `score` (past events carry their observed score)",
        )),
        (ScoreColumn::Forbidden, Some(_)) => issues.push(issue(
            1,
            Some("score"),
            "column `score` is for past events; a planned event has no score yet",
        )),
        _ => {}
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(Columns {
        id,
        date,
        weekend,
        season,
        location,
        participants,
        nature,
        sector,
        footprint,
        duration,
        score: score_col,
        count: names.len(),
    })
}

struct Row {
    id: String,
    date: Option<String>,
    factors: Factors,
    score: Option<f64>,
}

fn read_row(line_no: usize, fields: &[String], c: &Columns) -> Result<Row, Vec<InputIssue>> {
    let mut issues = Vec::new();
    let get = |i: usize, name: &str, issues: &mut Vec<InputIssue>| -> Option<String> {
        let v = fields[i].trim();
        if v.is_empty() {
            issues.push(issue(line_no, Some(name), format!("empty `{name}`")));
            None
        } else {
            Some(v.to_string())
        }
    };
    macro_rules! field {
        ($idx:expr, $name:literal, $parse:expr) => {
            match get($idx, $name, &mut issues) {
                Some(v) => match $parse(&v) {
                    Ok(x) => Some(x),
                    Err(e) => {
                        issues.push(issue(line_no, Some($name), e));
                        None
                    }
                },
                None => None,
            }
        };
    }
    let id = field!(c.id, "id", |v: &str| check_id(v).map(|_| v.to_string()));
    let mut date_text = None;
    let calendar = match c.date {
        Some(i) => field!(i, "date", |v: &str| {
            let d = parse_date(v)?;
            date_text = Some(v.to_string());
            Ok::<_, String>(calendar_of(d))
        }),
        None => {
            let w = c
                .weekend
                .and_then(|i| field!(i, "weekend", |v: &str| parse_bool(v)));
            let s = c
                .season
                .and_then(|i| field!(i, "season", |v: &str| Season::from_str(v)));
            w.zip(s)
        }
    };
    let location = field!(c.location, "location", |v: &str| Location::from_str(v));
    let participants = field!(c.participants, "participants", parse_participants);
    let nature = field!(c.nature, "nature", |v: &str| Nature::from_str(v));
    let sector = field!(c.sector, "sector", |v: &str| Sector::from_str(v));
    let footprint = field!(c.footprint, "footprint_m2", |v: &str| parse_positive(
        "footprint_m2",
        "m²",
        v,
        (MIN_FOOTPRINT_M2, MAX_FOOTPRINT_M2)
    ));
    let duration = field!(c.duration, "duration_h", |v: &str| parse_positive(
        "duration_h",
        "hours",
        v,
        (MIN_DURATION_H, MAX_DURATION_H)
    ));
    if let (Some(p), Some(f)) = (participants, footprint) {
        if let Err(e) = check_density(p, f) {
            issues.push(issue(line_no, Some("footprint_m2"), e));
        }
    }
    let score = match c.score {
        Some(i) => field!(i, "score", parse_score),
        None => None,
    };
    if !issues.is_empty() {
        return Err(issues);
    }
    match (
        id,
        calendar,
        location,
        participants,
        nature,
        sector,
        footprint,
        duration,
    ) {
        (
            Some(id),
            Some((weekend, season)),
            Some(location),
            Some(participants),
            Some(nature),
            Some(sector),
            Some(footprint_m2),
            Some(duration_h),
        ) => Ok(Row {
            id,
            date: date_text,
            factors: Factors {
                location,
                participants,
                nature,
                sector,
                weekend,
                season,
                footprint_m2,
                duration_h,
            },
            score,
        }),
        _ => Err(vec![issue(line_no, None, "incomplete row")]),
    }
}

fn parse_csv(text: &str, source: &str, score: ScoreColumn) -> Result<Vec<Row>, ForecastError> {
    let invalid = |issues: Vec<InputIssue>, more: usize| ForecastError::Input {
        source_name: source.to_string(),
        issues,
        more,
    };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let header = loop {
        match lines.next() {
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((_, l)) => break l,
            None => return Err(invalid(vec![issue(1, None, "empty file: no header")], 0)),
        }
    };
    let cols = read_header(header, score).map_err(|i| invalid(i, 0))?;
    let mut rows = Vec::new();
    let mut issues: Vec<InputIssue> = Vec::new();
    let mut more = 0usize;
    let mut ids = std::collections::HashSet::new();
    for (line_no, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let row_issues = match split_csv_line(line) {
            Err(e) => vec![issue(line_no, None, e)],
            Ok(fields) if fields.len() != cols.count => vec![issue(
                line_no,
                None,
                format!(
                    "{} fields where the header has {} columns",
                    fields.len(),
                    cols.count
                ),
            )],
            Ok(fields) => match read_row(line_no, &fields, &cols) {
                Ok(row) => {
                    if !ids.insert(row.id.clone()) {
                        vec![issue(
                            line_no,
                            Some("id"),
                            format!("id `{}` already used on an earlier line", row.id),
                        )]
                    } else {
                        rows.push(row);
                        Vec::new()
                    }
                }
                Err(i) => i,
            },
        };
        for i in row_issues {
            if issues.len() < MAX_ISSUES {
                issues.push(i);
            } else {
                more += 1;
            }
        }
    }
    if !issues.is_empty() {
        return Err(invalid(issues, more));
    }
    if rows.is_empty() {
        return Err(invalid(vec![issue(1, None, "no event in the file")], 0));
    }
    Ok(rows)
}

fn read_text(path: &Path) -> Result<String, ForecastError> {
    std::fs::read_to_string(path).map_err(|source| ForecastError::Io {
        path: path.display().to_string(),
        source,
    })
}

impl Dataset {
    /// Reads a history of past events (CSV with header, see the module docs). Every bad row is
    /// reported with its line number and reason (up to [`MAX_ISSUES`]).
    pub fn from_csv(path: impl AsRef<Path>) -> Result<Dataset, ForecastError> {
        let path = path.as_ref();
        Self::from_csv_str(&read_text(path)?, &path.display().to_string())
    }

    /// Same as [`Dataset::from_csv`], from text; `source` names it in errors.
    pub fn from_csv_str(text: &str, source: &str) -> Result<Dataset, ForecastError> {
        let rows = parse_csv(text, source, ScoreColumn::Required)?;
        Ok(Dataset {
            events: rows
                .into_iter()
                .map(|r| PastEvent {
                    id: r.id,
                    date: r.date,
                    factors: r.factors,
                    score: r.score.unwrap_or(0.0),
                })
                .collect(),
        })
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when there is no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Splits chronologically as stored: the first `len - n_test` events, then the last `n_test`
    /// with `n_test = round(len × test_fraction)`.
    pub fn split_last(&self, test_fraction: f64) -> (Dataset, Dataset) {
        let n = self.events.len();
        let n_test = ((n as f64) * test_fraction.clamp(0.0, 1.0)).round() as usize;
        let cut = n - n_test.min(n);
        (
            Dataset {
                events: self.events[..cut].to_vec(),
            },
            Dataset {
                events: self.events[cut..].to_vec(),
            },
        )
    }

    /// Writes the history as CSV (`id,date,…,score`, or `weekend,season` columns for events
    /// without a date).
    pub fn to_csv(&self) -> String {
        write_csv(
            self.events
                .iter()
                .map(|e| (&e.id, &e.date, &e.factors, Some(e.score))),
        )
    }
}

fn write_csv<'a>(
    rows: impl Iterator<Item = (&'a String, &'a Option<String>, &'a Factors, Option<f64>)>,
) -> String {
    let rows: Vec<_> = rows.collect();
    let with_date = rows.iter().all(|r| r.1.is_some());
    let with_score = rows.iter().all(|r| r.3.is_some());
    let mut out = String::new();
    out.push_str("id,");
    out.push_str(if with_date {
        "date,"
    } else {
        "weekend,season,"
    });
    out.push_str("location,participants,nature,sector,footprint_m2,duration_h");
    out.push_str(if with_score { ",score\n" } else { "\n" });
    for (id, date, f, score) in rows {
        out.push_str(id);
        out.push(',');
        match date {
            Some(d) if with_date => out.push_str(d),
            _ => out.push_str(&format!("{},{}", f.weekend, f.season)),
        }
        out.push_str(&format!(
            ",{},{},{},{},{},{}",
            f.location, f.participants, f.nature, f.sector, f.footprint_m2, f.duration_h
        ));
        if let (true, Some(s)) = (with_score, score) {
            out.push_str(&format!(",{s}"));
        }
        out.push('\n');
    }
    out
}

/// One planned event as written in TOML (or in the JSON body of `POST /api/forecast`): the
/// factors of a past event without `score`; `date`, or both `weekend` and `season`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedEventInput {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub weekend: Option<bool>,
    #[serde(default)]
    pub season: Option<Season>,
    pub location: Location,
    pub participants: u64,
    pub nature: Nature,
    pub sector: Sector,
    pub footprint_m2: f64,
    pub duration_h: f64,
}

impl PlannedEventInput {
    /// Checks the values and derives weekend and season from the date.
    pub fn validate(self) -> Result<PlannedEvent, Vec<InputIssue>> {
        let mut issues = Vec::new();
        let id = self.id.unwrap_or_else(|| "planned".to_string());
        if let Err(e) = check_id(&id) {
            issues.push(issue(0, Some("id"), e));
        }
        let calendar = match (&self.date, self.weekend, self.season) {
            (Some(d), None, None) => match parse_date(d) {
                Ok(d) => Some(calendar_of(d)),
                Err(e) => {
                    issues.push(issue(0, Some("date"), e));
                    None
                }
            },
            (None, Some(w), Some(s)) => Some((w, s)),
            (Some(_), _, _) => {
                issues.push(issue(
                    0,
                    Some("date"),
                    "give either `date` or both `weekend` and `season`, not both",
                ));
                None
            }
            (None, _, _) => {
                issues.push(issue(
                    0,
                    Some("date"),
                    "missing `date` (or, instead of it, both `weekend` and `season`)",
                ));
                None
            }
        };
        if self.participants > MAX_PARTICIPANTS {
            issues.push(issue(
                0,
                Some("participants"),
                format!(
                    "participants {} above the limit {MAX_PARTICIPANTS}",
                    self.participants
                ),
            ));
        }
        let footprint = (MIN_FOOTPRINT_M2, MAX_FOOTPRINT_M2);
        match check_positive("footprint_m2", self.footprint_m2, footprint) {
            Ok(f) => {
                if let Err(e) = check_density(self.participants, f) {
                    issues.push(issue(0, Some("footprint_m2"), e));
                }
            }
            Err(e) => issues.push(issue(0, Some("footprint_m2"), e)),
        }
        let duration = (MIN_DURATION_H, MAX_DURATION_H);
        if let Err(e) = check_positive("duration_h", self.duration_h, duration) {
            issues.push(issue(0, Some("duration_h"), e));
        }
        match calendar {
            Some((weekend, season)) if issues.is_empty() => Ok(PlannedEvent {
                id,
                date: self.date,
                factors: Factors {
                    location: self.location,
                    participants: self.participants,
                    nature: self.nature,
                    sector: self.sector,
                    weekend,
                    season,
                    footprint_m2: self.footprint_m2,
                    duration_h: self.duration_h,
                },
            }),
            _ => Err(issues),
        }
    }
}

impl PlannedEvent {
    /// Reads one planned event from a TOML file (unknown keys are refused).
    pub fn from_toml(path: impl AsRef<Path>) -> Result<PlannedEvent, ForecastError> {
        let path = path.as_ref();
        Self::from_toml_str(&read_text(path)?, &path.display().to_string())
    }

    /// Same as [`PlannedEvent::from_toml`], from text.
    pub fn from_toml_str(text: &str, source: &str) -> Result<PlannedEvent, ForecastError> {
        let input: PlannedEventInput = toml::from_str(text).map_err(|e| ForecastError::Input {
            source_name: source.to_string(),
            issues: vec![issue(0, None, e.to_string().trim().replace('\n', " "))],
            more: 0,
        })?;
        input.validate().map_err(|issues| ForecastError::Input {
            source_name: source.to_string(),
            issues,
            more: 0,
        })
    }

    /// Reads several planned events from a CSV file: the past-event columns without `score`.
    pub fn from_csv(path: impl AsRef<Path>) -> Result<Vec<PlannedEvent>, ForecastError> {
        let path = path.as_ref();
        Self::from_csv_str(&read_text(path)?, &path.display().to_string())
    }

    /// Same as [`PlannedEvent::from_csv`], from text.
    pub fn from_csv_str(text: &str, source: &str) -> Result<Vec<PlannedEvent>, ForecastError> {
        Ok(parse_csv(text, source, ScoreColumn::Forbidden)?
            .into_iter()
            .map(|r| PlannedEvent {
                id: r.id,
                date: r.date,
                factors: r.factors,
            })
            .collect())
    }

    /// A past event seen as if it were planned (its score left aside).
    pub fn from_past(e: &PastEvent) -> PlannedEvent {
        PlannedEvent {
            id: e.id.clone(),
            date: e.date.clone(),
            factors: e.factors.clone(),
        }
    }
}
