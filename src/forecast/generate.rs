//! A generated but realistic history of events, with known rules, for tests and benchmarks.
//!
//! Deterministic: the same `n` and `seed` give the same file on every machine (a SplitMix64
//! generator written here; no platform-dependent randomness).
//!
//! ## Rules
//!
//! Events are drawn independently, then sorted by date (ids `EV00001`… in date order, so "the last
//! 20 %" is a chronological hold-out).
//!
//! * **date**: uniform over 2019-01-01 … 2024-12-31; weekend and season follow from it.
//! * **nature**: market 22 %, concert 15 %, demonstration 14 %, match 12 %, other 12 %,
//!   festival 10 %, fair 8 %, sport_race 7 %.
//! * **location** (venue kind) depends on the nature: a match is at a stadium (85 %) or an arena;
//!   a demonstration in the streets (60 %) or on a square; a market on a square, streets or a quay;
//!   a concert in an arena, park, square or hall; a festival in a park, on a quay or a square; a
//!   race in the streets or a park; a fair in a hall or a park; other anywhere.
//! * **sector**: centre 25 %, north, south, east, west 11 % each, port 10 %, university 10 %,
//!   industrial 11 %.
//! * **participants**: log-uniform in a range per nature (market 200–5 000, concert 300–40 000,
//!   match 2 000–45 000, demonstration 50–30 000, festival 500–50 000, sport_race 200–15 000,
//!   fair 300–20 000, other 20–5 000).
//! * **footprint_m2**: log-uniform per location (stadium 15 000–60 000, arena 3 000–15 000, square
//!   2 000–20 000, street 5 000–60 000, park 10 000–200 000, hall 1 000–10 000, quay 5 000–40 000,
//!   other 500–20 000), at least participants / 4 (no more than 4 persons per m²), rounded to 10 m².
//! * **duration_h**: uniform per nature, rounded to half hours (match 2–3, concert 2–6,
//!   demonstration 1.5–5, market 3–8, festival 4–14, sport_race 2–6, fair 6–10, other 1–8).
//!
//! The **expected score** (see [`expected_score`]) multiplies:
//! a base per nature (demonstration 3.0, match 2.5, festival 1.6, concert 1.4, other 1.0,
//! fair 0.7, sport_race 0.6, market 0.5) × a sector factor (centre 1.3, port 1.2, north 1.1,
//! east 1.0, university 1.0, south 0.9, west 0.8, industrial 0.7) × a location factor (street 1.2,
//! square 1.1, stadium, quay and other 1.0, park and arena 0.9, hall 0.7) × √(participants / 1000)
//! × (1 + 0.5 × density in persons/m²) × (duration_h / 3)^0.3 × 1.3 on weekends × 1.2 in summer.
//! The **observed score** is the expected score × a log-normal noise (σ = 0.35, mean 1), rounded
//! to 0.1: two identical events do not get the same score, as in life.

use time::{Date, Duration, Month};

use super::schema::{calendar_of, Factors, Location, Nature, PastEvent, Sector};

/// SplitMix64: small, fast, good enough for generating data, identical everywhere.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Log-uniform in [lo, hi).
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.uniform(lo.ln(), hi.ln()).exp()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Index drawn with the given weights.
    pub fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut r = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if r < *w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }
}

fn nature_base(n: Nature) -> f64 {
    match n {
        Nature::Demonstration => 3.0,
        Nature::Match => 2.5,
        Nature::Festival => 1.6,
        Nature::Concert => 1.4,
        Nature::Other => 1.0,
        Nature::Fair => 0.7,
        Nature::SportRace => 0.6,
        Nature::Market => 0.5,
    }
}

fn sector_factor(s: Sector) -> f64 {
    match s {
        Sector::Centre => 1.3,
        Sector::Port => 1.2,
        Sector::North => 1.1,
        Sector::East | Sector::University => 1.0,
        Sector::South => 0.9,
        Sector::West => 0.8,
        Sector::Industrial => 0.7,
    }
}

fn location_factor(l: Location) -> f64 {
    match l {
        Location::Street => 1.2,
        Location::Square => 1.1,
        Location::Stadium | Location::Quay | Location::Other => 1.0,
        Location::Park | Location::Arena => 0.9,
        Location::Hall => 0.7,
    }
}

/// The generator's expected score for given factors (the rule the forest has to discover).
pub fn expected_score(f: &Factors) -> f64 {
    let density = f.participants as f64 / f.footprint_m2;
    nature_base(f.nature)
        * sector_factor(f.sector)
        * location_factor(f.location)
        * (f.participants as f64 / 1000.0).sqrt()
        * (1.0 + 0.5 * density)
        * (f.duration_h / 3.0).powf(0.3)
        * if f.weekend { 1.3 } else { 1.0 }
        * if f.season == super::schema::Season::Summer {
            1.2
        } else {
            1.0
        }
}

const NATURE_WEIGHTS: &[(Nature, f64)] = &[
    (Nature::Market, 22.0),
    (Nature::Concert, 15.0),
    (Nature::Demonstration, 14.0),
    (Nature::Match, 12.0),
    (Nature::Other, 12.0),
    (Nature::Festival, 10.0),
    (Nature::Fair, 8.0),
    (Nature::SportRace, 7.0),
];

const SECTOR_WEIGHTS: &[(Sector, f64)] = &[
    (Sector::Centre, 25.0),
    (Sector::North, 11.0),
    (Sector::South, 11.0),
    (Sector::East, 11.0),
    (Sector::West, 11.0),
    (Sector::Port, 10.0),
    (Sector::University, 10.0),
    (Sector::Industrial, 11.0),
];

fn locations_for(n: Nature) -> &'static [(Location, f64)] {
    use Location::*;
    match n {
        Nature::Match => &[(Stadium, 85.0), (Arena, 15.0)],
        Nature::Demonstration => &[(Street, 60.0), (Square, 40.0)],
        Nature::Market => &[(Square, 50.0), (Street, 30.0), (Quay, 20.0)],
        Nature::Concert => &[(Arena, 40.0), (Park, 25.0), (Square, 20.0), (Hall, 15.0)],
        Nature::Festival => &[(Park, 50.0), (Quay, 25.0), (Square, 25.0)],
        Nature::SportRace => &[(Street, 70.0), (Park, 30.0)],
        Nature::Fair => &[(Hall, 60.0), (Park, 40.0)],
        Nature::Other => &[
            (Stadium, 1.0),
            (Arena, 1.0),
            (Square, 1.0),
            (Street, 1.0),
            (Park, 1.0),
            (Hall, 1.0),
            (Quay, 1.0),
            (Other, 1.0),
        ],
    }
}

fn participants_range(n: Nature) -> (f64, f64) {
    match n {
        Nature::Market => (200.0, 5_000.0),
        Nature::Concert => (300.0, 40_000.0),
        Nature::Match => (2_000.0, 45_000.0),
        Nature::Demonstration => (50.0, 30_000.0),
        Nature::Festival => (500.0, 50_000.0),
        Nature::SportRace => (200.0, 15_000.0),
        Nature::Fair => (300.0, 20_000.0),
        Nature::Other => (20.0, 5_000.0),
    }
}

fn footprint_range(l: Location) -> (f64, f64) {
    match l {
        Location::Stadium => (15_000.0, 60_000.0),
        Location::Arena => (3_000.0, 15_000.0),
        Location::Square => (2_000.0, 20_000.0),
        Location::Street => (5_000.0, 60_000.0),
        Location::Park => (10_000.0, 200_000.0),
        Location::Hall => (1_000.0, 10_000.0),
        Location::Quay => (5_000.0, 40_000.0),
        Location::Other => (500.0, 20_000.0),
    }
}

fn duration_range(n: Nature) -> (f64, f64) {
    match n {
        Nature::Match => (2.0, 3.0),
        Nature::Concert => (2.0, 6.0),
        Nature::Demonstration => (1.5, 5.0),
        Nature::Market => (3.0, 8.0),
        Nature::Festival => (4.0, 14.0),
        Nature::SportRace => (2.0, 6.0),
        Nature::Fair => (6.0, 10.0),
        Nature::Other => (1.0, 8.0),
    }
}

fn pick_from<T: Copy>(rng: &mut SplitMix64, table: &[(T, f64)]) -> T {
    let weights: Vec<f64> = table.iter().map(|(_, w)| *w).collect();
    table[rng.pick(&weights)].0
}

/// Generates `n` past events with `seed` (see the module docs for the rules), in date order.
pub fn generate(n: usize, seed: u64) -> Vec<PastEvent> {
    let mut rng = SplitMix64::new(seed);
    let start = Date::from_calendar_date(2019, Month::January, 1).unwrap_or(Date::MIN);
    let days = 6 * 365 + 2; // 2019-01-01 ..= 2024-12-31
    let mut drawn: Vec<(Date, Factors, f64)> = Vec::with_capacity(n);
    for _ in 0..n {
        let date = start + Duration::days((rng.unit() * days as f64).floor() as i64);
        let (weekend, season) = calendar_of(date);
        let nature = pick_from(&mut rng, NATURE_WEIGHTS);
        let location = pick_from(&mut rng, locations_for(nature));
        let sector = pick_from(&mut rng, SECTOR_WEIGHTS);
        let (plo, phi) = participants_range(nature);
        let participants = rng.log_uniform(plo, phi).round() as u64;
        let (flo, fhi) = footprint_range(location);
        let footprint = rng
            .log_uniform(flo, fhi)
            .max(participants as f64 / 4.0)
            .max(10.0);
        let footprint_m2 = (footprint / 10.0).round() * 10.0;
        let (dlo, dhi) = duration_range(nature);
        let duration_h = ((rng.uniform(dlo, dhi) * 2.0).round() / 2.0).max(0.5);
        let factors = Factors {
            location,
            participants,
            nature,
            sector,
            weekend,
            season,
            footprint_m2,
            duration_h,
        };
        const SIGMA: f64 = 0.35;
        let noise = (SIGMA * rng.normal() - SIGMA * SIGMA / 2.0).exp();
        let score = ((expected_score(&factors) * noise) * 10.0).round() / 10.0;
        drawn.push((date, factors, score));
    }
    // Stable sort: same-day events keep their draw order.
    drawn.sort_by_key(|(d, _, _)| *d);
    drawn
        .into_iter()
        .enumerate()
        .map(|(i, (date, factors, score))| PastEvent {
            id: format!("EV{:05}", i + 1),
            date: Some(format!(
                "{:04}-{:02}-{:02}",
                date.year(),
                date.month() as u8,
                date.day()
            )),
            factors,
            score,
        })
        .collect()
}
