//! Time logic shared by the rules: a condition held for a while with hysteresis ([`Dwell`]), a
//! cooldown ([`Cooldown`]), and per-track state that disappears with the track ([`PerTrack`]).
//! Times are stream timestamps in nanoseconds.

use std::collections::HashMap;

/// Seconds to nanoseconds; non-finite or negative values count as 0.
pub fn seconds_to_ns(s: f32) -> u64 {
    if s.is_finite() && s > 0.0 {
        (f64::from(s) * 1e9).round() as u64
    } else {
        0
    }
}

/// Nanoseconds to seconds.
pub fn ns_to_seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// One reading of a condition that has a hysteresis band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Clearly true (e.g. inside a zone by the margin, density above the alarm level).
    On,
    /// In the band between: keeps an active condition active, restarts a pending one.
    Between,
    /// Clearly false: ends an active or pending condition.
    Off,
    /// No evidence this time (object not detected, score too low): changes nothing.
    Unknown,
}

impl Level {
    /// `On` at or above `on`, `Off` at or below `off`, `Between` otherwise (`off <= on`).
    /// A non-finite value reads `Unknown`.
    pub fn of(value: f32, on: f32, off: f32) -> Level {
        if !value.is_finite() {
            Level::Unknown
        } else if value >= on {
            Level::On
        } else if value <= off {
            Level::Off
        } else {
            Level::Between
        }
    }
}

/// What an update of a [`Dwell`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    None,
    /// The condition has read `On` continuously for the hold time: it is active now. `since_ns`
    /// is the first reading of the run.
    Activated {
        since_ns: u64,
    },
    /// An active condition read `Off`.
    Deactivated,
}

/// A condition that becomes active after reading [`Level::On`] continuously for a hold time,
/// and inactive again only on [`Level::Off`] (hysteresis).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dwell {
    /// Start of the current run of `On` readings while not active.
    pending_since: Option<u64>,
    /// Active since (the start of the run that activated it).
    active_since: Option<u64>,
}

impl Dwell {
    pub fn update(&mut self, t_ns: u64, level: Level, hold_ns: u64) -> Change {
        match (self.active_since, level) {
            (_, Level::Unknown) => Change::None,
            (Some(_), Level::Off) => {
                self.active_since = None;
                self.pending_since = None;
                Change::Deactivated
            }
            (Some(_), _) => Change::None,
            (None, Level::On) => {
                let since = *self.pending_since.get_or_insert(t_ns);
                if t_ns.saturating_sub(since) >= hold_ns {
                    self.pending_since = None;
                    self.active_since = Some(since);
                    Change::Activated { since_ns: since }
                } else {
                    Change::None
                }
            }
            (None, Level::Between | Level::Off) => {
                self.pending_since = None;
                Change::None
            }
        }
    }

    pub fn is_active(&self) -> bool {
        self.active_since.is_some()
    }

    /// Start of the run that is counting towards activation, if any.
    pub fn pending_since(&self) -> Option<u64> {
        self.pending_since
    }

    pub fn active_since(&self) -> Option<u64> {
        self.active_since
    }
}

/// At most one action per period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cooldown {
    period_ns: u64,
    last_ns: Option<u64>,
}

impl Cooldown {
    pub fn new(period_ns: u64) -> Self {
        Cooldown {
            period_ns,
            last_ns: None,
        }
    }

    /// No action within the period before `t_ns`.
    pub fn ready(&self, t_ns: u64) -> bool {
        self.last_ns
            .is_none_or(|last| t_ns.saturating_sub(last) >= self.period_ns)
    }

    /// Records an action at `t_ns`.
    pub fn start(&mut self, t_ns: u64) {
        self.last_ns = Some(t_ns);
    }

    pub fn reset(&mut self) {
        self.last_ns = None;
    }
}

/// State kept per track id, dropped when the track is no longer live. Call
/// [`PerTrack::begin`] once per frame, [`PerTrack::get_mut`]/[`PerTrack::entry`] for each track
/// seen (which marks it), then [`PerTrack::sweep`] to drop the tracks not seen in this frame.
#[derive(Debug, Clone)]
pub struct PerTrack<T> {
    map: HashMap<u64, (T, u64)>,
    generation: u64,
}

impl<T> Default for PerTrack<T> {
    fn default() -> Self {
        PerTrack {
            map: HashMap::new(),
            generation: 0,
        }
    }
}

impl<T> PerTrack<T> {
    pub fn begin(&mut self) {
        self.generation += 1;
    }

    /// The state of `id`, created with `init` if absent; marks it seen.
    pub fn entry(&mut self, id: u64, init: impl FnOnce() -> T) -> &mut T {
        let generation = self.generation;
        let slot = self.map.entry(id).or_insert_with(|| (init(), generation));
        slot.1 = generation;
        &mut slot.0
    }

    /// The state of `id` if present; marks it seen.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        let generation = self.generation;
        self.map.get_mut(&id).map(|slot| {
            slot.1 = generation;
            &mut slot.0
        })
    }

    pub fn get(&self, id: u64) -> Option<&T> {
        self.map.get(&id).map(|slot| &slot.0)
    }

    pub fn remove(&mut self, id: u64) -> Option<T> {
        self.map.remove(&id).map(|slot| slot.0)
    }

    /// Drops every track not marked since [`PerTrack::begin`].
    pub fn sweep(&mut self) {
        let generation = self.generation;
        self.map.retain(|_, slot| slot.1 == generation);
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        self.map.iter().map(|(&id, slot)| (id, &slot.0))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn dwell_activates_after_hold_and_ends_only_when_clearly_off() {
        let mut d = Dwell::default();
        assert_eq!(d.update(0, Level::On, 2 * S), Change::None);
        assert_eq!(d.update(S, Level::Unknown, 2 * S), Change::None);
        assert_eq!(
            d.update(2 * S, Level::On, 2 * S),
            Change::Activated { since_ns: 0 }
        );
        assert!(d.is_active());
        assert_eq!(d.update(3 * S, Level::Between, 2 * S), Change::None);
        assert!(d.is_active(), "the band keeps it active");
        assert_eq!(d.update(4 * S, Level::Off, 2 * S), Change::Deactivated);
        assert!(!d.is_active());
    }

    #[test]
    fn dwell_band_restarts_a_pending_run() {
        let mut d = Dwell::default();
        d.update(0, Level::On, 2 * S);
        d.update(S, Level::Between, 2 * S);
        assert_eq!(d.pending_since(), None);
        d.update(2 * S, Level::On, 2 * S);
        assert_eq!(d.update(3 * S, Level::On, 2 * S), Change::None);
        assert_eq!(
            d.update(4 * S, Level::On, 2 * S),
            Change::Activated { since_ns: 2 * S }
        );
        assert_eq!(Level::of(f32::NAN, 1.0, 0.0), Level::Unknown);
        assert_eq!(Level::of(0.5, 1.0, 0.0), Level::Between);
        assert_eq!(Level::of(1.0, 1.0, 0.0), Level::On);
        assert_eq!(Level::of(0.0, 1.0, 0.0), Level::Off);
    }

    #[test]
    fn cooldown_and_per_track_state() {
        let mut c = Cooldown::new(10 * S);
        assert!(c.ready(0));
        c.start(S);
        assert!(!c.ready(10 * S));
        assert!(c.ready(11 * S));

        let mut p: PerTrack<u32> = PerTrack::default();
        p.begin();
        *p.entry(1, || 0) += 1;
        *p.entry(2, || 0) += 1;
        p.sweep();
        assert_eq!(p.len(), 2);
        p.begin();
        *p.entry(1, || 0) += 1;
        p.sweep();
        assert_eq!(p.get(1), Some(&2));
        assert_eq!(p.get(2), None);
    }
}
