//! Events to alerts: rule events and camera faults go through the same [`publish`], which builds
//! the alert with [`NewAlert::from_event`] and journals it before anyone hears of it.

use std::time::Instant;

use super::camera::CameraCtx;
use super::lock;
use crate::alerts::{AlertBus, AlertOrigin, JournalError, NewAlert};
use crate::frames::Frame;
use crate::health::{Fault, FaultEvent, FaultKind};
use crate::metrics::Metrics;
use crate::rules::{Event, EventType};

/// When an alert happened: wall clock, stream time, and the instant its frame was captured (for
/// the frame-to-alert latency).
#[derive(Debug, Clone, Copy)]
pub(super) struct Moment {
    pub time_ms: i64,
    pub stream_ts_ns: u64,
    pub captured: Instant,
}

impl Moment {
    pub fn of(frame: &Frame) -> Moment {
        Moment {
            time_ms: frame.captured_at_ms,
            stream_ts_ns: frame.pts_ns,
            captured: frame.captured,
        }
    }

    /// Now, for an alert about the present rather than about a frame.
    pub fn now(stream_ts_ns: u64) -> Moment {
        let time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Moment {
            time_ms,
            stream_ts_ns,
            captured: Instant::now(),
        }
    }
}

/// Under which configuration an event fired: its version, and whether its rule is in shadow
/// mode.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Under {
    pub config_version: Option<i64>,
    pub shadow: bool,
}

/// What an alert shows: the frame its snapshot is drawn on (none: no image), and whether a
/// full-resolution still of its instant will be attached after it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Shown<'a> {
    pub frame: Option<&'a Frame>,
    pub still_follows: bool,
}

impl<'a> Shown<'a> {
    /// Drawn on `frame`, nothing attached later.
    pub fn on(frame: Option<&'a Frame>) -> Shown<'a> {
        Shown {
            frame,
            still_follows: false,
        }
    }
}

/// Journals `event` as an alert of camera `cam`, drawn as `shown` says, under configuration
/// version and mode `under`. Returns the journal id of the alert (`None`: withheld or failed,
/// logged here).
pub(super) fn publish(
    cam: &CameraCtx,
    event: &Event,
    shown: Shown<'_>,
    at: Moment,
    labels: &[String],
    bus: &AlertBus,
    under: Under,
) -> Option<i64> {
    let name = cam.name();
    let origin = AlertOrigin {
        camera_id: &cam.id,
        camera_name: &name,
        labels,
        frame: shown.frame,
        time_ms: at.time_ms,
        stream_ts_ns: at.stream_ts_ns,
        config_version: under.config_version,
        shadow: under.shadow,
    };
    let mut new = NewAlert::from_event(event, &origin);
    new.still_expected = shown.still_follows;
    match bus.publish(new, at.captured) {
        Ok(alert) => {
            tracing::info!(
                camera = %cam.id,
                rule = %event.rule_id,
                event = %event.event_type,
                alert_id = alert.id,
                shadow = alert.shadow,
                "alert journaled"
            );
            return Some(alert.id);
        }
        // The governance gate refused it (stopped, not authorised): counted, not an error.
        Err(JournalError::Withheld(reason)) => tracing::debug!(
            camera = %cam.id,
            rule = %event.rule_id,
            %reason,
            "alert withheld"
        ),
        Err(e) => tracing::error!(
            camera = %cam.id,
            rule = %event.rule_id,
            error = %e,
            "alert could not be journaled"
        ),
    }
    None
}

/// A camera fault: updates the camera's status and metrics, then journals it as an alert (rule
/// `camera_health`) with the last frame as snapshot when there is one.
pub(super) fn publish_fault(
    cam: &CameraCtx,
    ev: FaultEvent,
    frame: Option<&Frame>,
    bus: &AlertBus,
    metrics: &Metrics,
) {
    let open = match ev.kind {
        FaultKind::Offline => Some(Fault::Offline),
        FaultKind::Frozen => Some(Fault::Frozen),
        FaultKind::Obstructed => Some(Fault::Obstructed),
        FaultKind::Restored { .. } => None,
    };
    cam.status.set_fault(open.map(Fault::as_str));
    for f in Fault::ALL {
        metrics
            .health_fault_open
            .with_label_values(&[&cam.id, f.as_str()])
            .set(i64::from(open == Some(f)));
    }
    metrics
        .health_faults
        .with_label_values(&[&cam.id, ev.kind.label()])
        .inc();
    // An offline alert is about now, not about the last (old) frame.
    let at = match (frame, ev.kind) {
        (Some(f), k) if k != FaultKind::Offline => Moment::of(f),
        (Some(f), _) => Moment::now(f.pts_ns),
        (None, _) => Moment::now(0),
    };
    let event = Event::new(
        "camera_health",
        fault_event_type(ev.kind),
        at.stream_ts_ns,
        ev.explanation,
    );
    let under = Under {
        config_version: lock(&cam.analysis).config_version,
        shadow: false,
    };
    publish(cam, &event, Shown::on(frame), at, &[], bus, under);
}

fn fault_event_type(kind: FaultKind) -> EventType {
    match kind {
        FaultKind::Offline => EventType::CameraOffline,
        FaultKind::Frozen => EventType::CameraFrozen,
        FaultKind::Obstructed => EventType::CameraObstructed,
        FaultKind::Restored { .. } => EventType::CameraRestored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_event_types_match_the_health_names() {
        for kind in [
            FaultKind::Offline,
            FaultKind::Frozen,
            FaultKind::Obstructed,
            FaultKind::Restored { of: Fault::Frozen },
        ] {
            let t = fault_event_type(kind);
            assert_eq!(t.as_str(), kind.event_type());
            assert!(t.is_camera_fault());
        }
    }
}
