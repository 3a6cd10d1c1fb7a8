//! Incidents: the same people, one alert. An incident groups the people of one situation (those
//! who entered a zone together, and the same persons again when they re-enter or get a new track
//! id) so that the operator gets one alert, then count updates, never a storm.
//!
//! "The same person" is decided from where and when tracks were seen, never from appearance
//! (no re-identification): a new track that first appears where a member was lost, soon enough to
//! have walked there, takes that member's place ([`Incidents::relink`]).
//!
//! Positions are in the rule plane (metres, or image-height units when uncalibrated: see
//! [`super::context`]); distances are compared with thresholds the caller converts.

use std::sync::atomic::{AtomicU64, Ordering};

use super::dwell::Cooldown;
use super::event::IncidentRef;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A new incident id, unique in the process (the alert bus maps it to the first alert's id).
pub fn next_incident_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A reference to a new incident (the event opens it: a new alert), for rules that keep their
/// own incident state.
pub fn new_incident() -> IncidentRef {
    IncidentRef {
        id: next_incident_id(),
        update: false,
    }
}

/// One person (one object) of an incident.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Member {
    /// Current track id (changes when a new track is relinked to this person).
    pub track_id: u64,
    /// Last time the track was observed (as evidence), where and how fast (rule plane, units
    /// per second).
    pub last_seen_ns: u64,
    pub last_position: (f32, f32),
    pub last_velocity: (f32, f32),
}

/// An open incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: u64,
    pub opened_ns: u64,
    /// Last time a member joined (or the opening): "entering together" is measured from it.
    pub last_joined_ns: u64,
    /// Last time a member was active (e.g. inside the zone): the incident closes a window after.
    pub last_active_ns: u64,
    pub members: Vec<Member>,
    /// People in the last alert of this incident.
    pub reported: u32,
    /// Spacing of this incident's alerts.
    pub cooldown: Cooldown,
}

impl Incident {
    pub fn people(&self) -> u32 {
        u32::try_from(self.members.len()).unwrap_or(u32::MAX)
    }

    pub fn member(&self, track_id: u64) -> Option<&Member> {
        self.members.iter().find(|m| m.track_id == track_id)
    }
}

/// The open incidents of one rule.
#[derive(Debug, Clone, Default)]
pub struct Incidents {
    open: Vec<Incident>,
    /// An incident closes this long after its last activity.
    window_ns: u64,
    cooldown_ns: u64,
}

impl Incidents {
    /// `window_ns`: how long after its last activity an incident stays open; `cooldown_ns`: the
    /// least time between two alerts of one incident.
    pub fn new(window_ns: u64, cooldown_ns: u64) -> Self {
        Incidents {
            open: Vec::new(),
            window_ns,
            cooldown_ns,
        }
    }

    pub fn open_incidents(&self) -> &[Incident] {
        &self.open
    }

    pub fn get(&self, id: u64) -> Option<&Incident> {
        self.open.iter().find(|i| i.id == id)
    }

    /// The incident `track_id` is a member of.
    pub fn of_track(&self, track_id: u64) -> Option<u64> {
        self.open
            .iter()
            .find(|i| i.member(track_id).is_some())
            .map(|i| i.id)
    }

    /// Opens an incident with `members` at `t_ns`; its first alert is due now (the cooldown
    /// starts).
    pub fn open(&mut self, t_ns: u64, members: Vec<Member>) -> &Incident {
        let mut cooldown = Cooldown::new(self.cooldown_ns);
        cooldown.start(t_ns);
        let incident = Incident {
            id: next_incident_id(),
            opened_ns: t_ns,
            last_joined_ns: t_ns,
            last_active_ns: t_ns,
            reported: u32::try_from(members.len()).unwrap_or(u32::MAX),
            members,
            cooldown,
        };
        self.open.push(incident);
        &self.open[self.open.len() - 1]
    }

    /// Adds a member to incident `id`.
    pub fn join(&mut self, id: u64, member: Member, t_ns: u64) {
        if let Some(i) = self.open.iter_mut().find(|i| i.id == id) {
            i.members.push(member);
            i.last_joined_ns = t_ns;
            i.last_active_ns = t_ns;
        }
    }

    /// A member's track was observed (`seen`: time, position and velocity are taken from it);
    /// `active`: it is in the situation (inside).
    pub fn observe(&mut self, seen: &Member, active: bool) {
        let t_ns = seen.last_seen_ns;
        for i in &mut self.open {
            if let Some(m) = i.members.iter_mut().find(|m| m.track_id == seen.track_id) {
                *m = *seen;
                if active {
                    i.last_active_ns = t_ns;
                }
            }
        }
    }

    /// People entering together: the incident whose latest joining is at most `within_ns`
    /// before `who` was seen, with a member seen at the same time within `reach` of `who` and
    /// moving alike (velocities differing by at most `speed`).
    pub fn together(&self, who: &Member, reach: f32, speed: f32, within_ns: u64) -> Option<u64> {
        let t_ns = who.last_seen_ns;
        self.open
            .iter()
            .filter(|i| t_ns.saturating_sub(i.last_joined_ns) <= within_ns)
            .find(|i| {
                i.members.iter().any(|m| {
                    m.last_seen_ns == t_ns
                        && distance(m.last_position, who.last_position) <= reach
                        && distance(m.last_velocity, who.last_velocity) <= speed
                })
            })
            .map(|i| i.id)
    }

    /// A new track first seen at `first_ns` at `first_position` takes the place of a member lost
    /// before then, at most `max_gap_ns` earlier, when it could have walked there: the distance
    /// is at most `reach(seconds since the member was last seen)`. The nearest such member is
    /// relinked; returns its incident.
    pub fn relink(
        &mut self,
        track_id: u64,
        (first_ns, first_position): (u64, (f32, f32)),
        max_gap_ns: u64,
        reach: impl Fn(f32) -> f32,
    ) -> Option<u64> {
        let window = self.window_ns.min(max_gap_ns);
        let mut best: Option<(f32, usize, usize)> = None;
        for (ii, inc) in self.open.iter().enumerate() {
            for (mi, m) in inc.members.iter().enumerate() {
                if m.last_seen_ns >= first_ns || first_ns - m.last_seen_ns > window {
                    continue;
                }
                let gap = (first_ns - m.last_seen_ns) as f32 / 1e9;
                let d = distance(m.last_position, first_position);
                if d <= reach(gap) && best.is_none_or(|b| d < b.0) {
                    best = Some((d, ii, mi));
                }
            }
        }
        let (_, ii, mi) = best?;
        self.open[ii].members[mi].track_id = track_id;
        Some(self.open[ii].id)
    }

    /// Incidents with more people than their last alert told, whose cooldown allows an alert
    /// now; each is marked as reported (the caller raises the update).
    pub fn due_updates(&mut self, t_ns: u64) -> Vec<u64> {
        let mut due = Vec::new();
        for i in &mut self.open {
            if i.people() > i.reported && i.cooldown.ready(t_ns) {
                i.reported = i.people();
                i.cooldown.start(t_ns);
                due.push(i.id);
            }
        }
        due
    }

    /// Closes the incidents inactive for longer than the window.
    pub fn expire(&mut self, t_ns: u64) {
        let window = self.window_ns;
        self.open
            .retain(|i| t_ns.saturating_sub(i.last_active_ns) <= window);
    }

    pub fn clear(&mut self) {
        self.open.clear();
    }
}

fn distance(a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn member(track_id: u64, t: u64, at: (f32, f32)) -> Member {
        Member {
            track_id,
            last_seen_ns: t,
            last_position: at,
            last_velocity: (1.0, 0.0),
        }
    }

    #[test]
    fn ids_are_unique() {
        let a = next_incident_id();
        let b = next_incident_id();
        assert!(b > a);
    }

    #[test]
    fn open_join_update_and_expire() {
        let mut inc = Incidents::new(30 * S, 10 * S);
        let id = inc.open(S, vec![member(1, S, (0.0, 0.0))]).id;
        assert_eq!(inc.of_track(1), Some(id));
        // Someone next to member 1, two seconds later, walking alike: together.
        inc.observe(&member(1, 3 * S, (0.5, 0.0)), true);
        let who = member(2, 3 * S, (1.0, 0.0));
        assert_eq!(inc.together(&who, 2.0, 0.5, 3 * S), Some(id));
        let far = member(2, 3 * S, (5.0, 0.0));
        assert_eq!(inc.together(&far, 2.0, 0.5, 3 * S), None, "too far");
        let crossing = Member {
            last_velocity: (-1.0, 0.0),
            ..who
        };
        assert_eq!(
            inc.together(&crossing, 2.0, 0.5, 3 * S),
            None,
            "the other way"
        );
        let late = member(2, 5 * S, (1.0, 0.0));
        inc.observe(&member(1, 5 * S, (0.5, 0.0)), true);
        assert_eq!(inc.together(&late, 2.0, 0.5, 3 * S), None, "too late");
        inc.join(id, member(2, 3 * S, (1.0, 0.0)), 3 * S);
        assert_eq!(inc.get(id).map(Incident::people), Some(2));
        // The update waits for the incident's cooldown, then is due once.
        assert!(inc.due_updates(5 * S).is_empty());
        assert_eq!(inc.due_updates(11 * S), vec![id]);
        assert!(inc.due_updates(30 * S).is_empty());
        // Open while active, closed a window after the last activity.
        inc.expire(33 * S);
        assert!(inc.get(id).is_some());
        inc.expire(34 * S);
        assert!(inc.get(id).is_none());
    }

    #[test]
    fn relink_takes_the_nearest_lost_member_that_could_have_walked_there() {
        let mut inc = Incidents::new(30 * S, 10 * S);
        let id = inc
            .open(0, vec![member(1, 0, (0.0, 0.0)), member(2, 0, (10.0, 0.0))])
            .id;
        inc.observe(&member(1, 4 * S, (1.0, 0.0)), true);
        inc.observe(&member(2, 5 * S, (10.0, 0.0)), true);
        let reach = |gap: f32| 1.0 + 1.5 * gap;
        // Track 3 appears at 5 s next to where 1 was lost at 4 s: 1's new id.
        assert_eq!(inc.relink(3, (5 * S, (1.5, 0.0)), 5 * S, reach), Some(id));
        assert_eq!(inc.of_track(3), Some(id));
        assert_eq!(inc.of_track(1), None);
        // Member 2 is still seen at 5 s: nobody new at 5 s can be it.
        assert_eq!(inc.relink(4, (5 * S, (10.0, 0.0)), 5 * S, reach), None);
        // Too far for the time elapsed.
        assert_eq!(inc.relink(5, (6 * S, (20.0, 0.0)), 5 * S, reach), None);
        // Near enough at walking pace, but lost too long ago.
        assert_eq!(inc.relink(6, (12 * S, (12.0, 0.0)), 5 * S, reach), None);
        assert_eq!(inc.get(id).map(Incident::people), Some(2));
    }
}
