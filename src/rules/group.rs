//! What the movement rules (`wrong_way`, `density`, `crowd_movement`) share besides motion: their
//! configuration defaults and range checks, and the objects an event shows.

use super::context::Object;
use super::event::EventObject;
use crate::check::Problems;

/// Default `classes`: persons.
pub fn persons() -> Vec<String> {
    vec!["person".to_string()]
}

/// Default `min_score`: detections below it do not count.
pub fn default_min_score() -> f32 {
    0.4
}

/// Checks each `(key, value, lo, hi)`: `value` within `lo..=hi`, else an error at `path.key`.
pub fn ranges(p: &mut Problems, path: &str, checks: &[(&str, f32, f32, f32)]) {
    for &(key, value, lo, hi) in checks {
        p.range(format!("{path}.{key}"), value, lo, hi);
    }
}

/// The first `max` of `objects` as an event shows them (boxes on the snapshot), and the mean score
/// of all of them (0 for none): how sure the detector was of what the rule counted.
pub fn event_objects<'a>(
    objects: impl IntoIterator<Item = &'a Object>,
    max: usize,
) -> (Vec<EventObject>, f32) {
    let (mut shown, mut n, mut scores) = (Vec::new(), 0usize, 0.0f32);
    for o in objects {
        if shown.len() < max {
            shown.push(EventObject {
                track_id: Some(o.track_id),
                class_id: o.class_id,
                score: o.score,
                bbox: o.bbox,
            });
        }
        n += 1;
        scores += o.score;
    }
    let confidence = if n == 0 { 0.0 } else { scores / n as f32 };
    (shown, confidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BBox;
    use crate::rules::Scene;

    #[test]
    fn event_objects_are_bounded_and_the_confidence_is_the_mean_of_all() {
        let scene = Scene::new(Vec::new(), Vec::new());
        let objects: Vec<Object> = [0.9, 0.5, 0.4]
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                Object::detected(
                    i as u64,
                    0,
                    BBox::new(0.1, 0.1, 0.2, 0.3),
                    s,
                    (0.0, 0.0),
                    &scene,
                )
            })
            .collect();
        let (shown, confidence) = event_objects(&objects, 2);
        assert_eq!(shown.len(), 2);
        assert_eq!((shown[0].track_id, shown[1].score), (Some(0), 0.5));
        assert!((confidence - 0.6).abs() < 1e-6);
        assert_eq!(event_objects(&[], 5), (Vec::new(), 0.0));
        assert_eq!(persons(), vec!["person"]);
    }
}
