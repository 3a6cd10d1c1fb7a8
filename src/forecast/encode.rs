//! From factors to the numeric features the forest splits on.
//!
//! | feature            | from                 | encoding                                   |
//! |--------------------|----------------------|--------------------------------------------|
//! | `participants_log` | participants         | ln(1 + participants)                       |
//! | `footprint_log`    | footprint_m2         | ln(footprint_m2)                           |
//! | `density`          | participants, footprint | participants / footprint_m2 (persons/m²) |
//! | `duration_h`       | duration_h           | hours, as is                               |
//! | `weekend`          | weekend              | 1 Saturday/Sunday, 0 otherwise             |
//! | `summer`           | season               | 1 April–September, 0 October–March         |
//! | `nature=<c>`       | nature               | one-hot, one column per category           |
//! | `sector=<c>`       | sector               | one-hot                                    |
//! | `location=<c>`     | location             | one-hot                                    |
//!
//! A tree is unchanged by a monotone transform of one feature, so the logarithms only make the
//! thresholds easier to read. `density` is the one derived feature: it mixes two factors, which
//! single-feature splits can only approximate. The categories are one-hot rather than ordinal
//! codes: an ordinal code would impose an order (concert < match < …) that means nothing.

use super::schema::{Factors, Location, Nature, Season, Sector};

/// The factor a feature comes from (feature importances are added up per factor).
pub fn factor_names() -> Vec<&'static str> {
    vec![
        "participants",
        "footprint_m2",
        "density (participants / footprint)",
        "duration_h",
        "weekend",
        "season",
        "nature",
        "sector",
        "location",
    ]
}

/// Names of the features, in column order.
pub fn feature_names() -> Vec<String> {
    let mut v: Vec<String> = [
        "participants_log",
        "footprint_log",
        "density",
        "duration_h",
        "weekend",
        "summer",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(Nature::ALL.iter().map(|c| format!("nature={c}")));
    v.extend(Sector::ALL.iter().map(|c| format!("sector={c}")));
    v.extend(Location::ALL.iter().map(|c| format!("location={c}")));
    v
}

/// For each feature, the index of its factor in [`factor_names`].
pub fn feature_factor() -> Vec<usize> {
    let mut v = vec![0, 1, 2, 3, 4, 5];
    v.extend(std::iter::repeat_n(6, Nature::ALL.len()));
    v.extend(std::iter::repeat_n(7, Sector::ALL.len()));
    v.extend(std::iter::repeat_n(8, Location::ALL.len()));
    v
}

/// Number of features.
pub fn n_features() -> usize {
    6 + Nature::ALL.len() + Sector::ALL.len() + Location::ALL.len()
}

/// The feature vector of an event.
pub fn encode(f: &Factors) -> Vec<f64> {
    let p = f.participants as f64;
    let mut v = Vec::with_capacity(n_features());
    v.push((1.0 + p).ln());
    v.push(f.footprint_m2.ln());
    v.push(p / f.footprint_m2);
    v.push(f.duration_h);
    v.push(if f.weekend { 1.0 } else { 0.0 });
    v.push(if f.season == Season::Summer { 1.0 } else { 0.0 });
    let one_hot = |v: &mut Vec<f64>, n: usize, i: usize| {
        for j in 0..n {
            v.push(if j == i { 1.0 } else { 0.0 });
        }
    };
    one_hot(&mut v, Nature::ALL.len(), f.nature.index());
    one_hot(&mut v, Sector::ALL.len(), f.sector.index());
    one_hot(&mut v, Location::ALL.len(), f.location.index());
    v
}
