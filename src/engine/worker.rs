//! Detector workers (one ONNX Runtime session each) serving the cameras round-robin, and the
//! health ticker that notices cameras sending nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::camera::{Analysis, CameraCtx};
use super::lying::{self, LyingMemory};
use super::models::{DetectorLoader, SecondDetectors};
use super::pose::{self, PoseClock, PoseLoader, PoseModels};
use super::publish::{publish, publish_fault, Moment, Shown, Under};
use super::stills::{attach, hand_over, StillJob, StillSender};
use super::{lock, read, CameraSet};
use crate::alerts::AlertBus;
use crate::detect::{Detection, Detector};
use crate::frames::Frame;
use crate::health::FrameStats;
use crate::ingest;
use crate::metrics::{LatencySamples, Metrics};
use crate::rules::{DetectorNeed, Event, FrameInput, ModelOutput, Needs};

/// What every worker shares.
pub(super) struct Shared {
    pub bus: AlertBus,
    pub metrics: Metrics,
    pub labels: Arc<Vec<String>>,
    pub stop: Arc<AtomicBool>,
    /// Every frame's capture-to-decision time, when a benchmark asks for it.
    pub latency: Option<Arc<LatencySamples>>,
    /// Where pose models are loaded from (each worker loads its own sessions).
    pub poses: Arc<PoseLoader>,
    /// Where second detectors are loaded from (each worker loads its own sessions).
    pub detectors: Arc<DetectorLoader>,
    /// Where alerts whose snapshot is decoded on demand are published from.
    pub stills: Option<StillSender>,
}

pub(super) fn worker(
    index: usize,
    camera_set: CameraSet,
    mut detector: Option<Detector>,
    shared: Shared,
) {
    let mut cursor = index;
    let mut poses = PoseModels::new(shared.poses.clone());
    let mut second = SecondDetectors::new(shared.detectors.clone());
    while !shared.stop.load(Ordering::SeqCst) {
        let mut worked = false;
        // The current set, re-read each round: a reload adds or removes cameras between rounds.
        let cameras = read(&camera_set);
        let n = cameras.len();
        // Round-robin: one frame from the next camera that has one, so a busy camera cannot
        // starve the others.
        for k in 0..n {
            let i = (cursor + k) % n;
            let cam = &cameras[i];
            if cam.queue.is_empty()
                || cam
                    .busy
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                continue;
            }
            if let Some(frame) = cam.queue.pop() {
                if let Some(det) = detector.as_mut() {
                    decide(cam, frame, (det, &mut poses, &mut second), &shared);
                }
                worked = true;
            }
            cam.busy.store(false, Ordering::Release);
            cursor = (i + 1) % n.max(1);
            break;
        }
        if !worked {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// What happens to a frame taken from a queue, before the detector.
enum Admission {
    /// Goes to the detector.
    Analyse(Arc<Frame>),
    /// Older than the camera's `max_frame_age_ms`: dropped and counted, never analysed late.
    TooOld,
    /// Motion gating: nothing moved in the rules' zones since the last analysed frame.
    NoMotion,
}

/// One frame of one camera: admitted (or not), analysed, and the capture-to-decision time of a
/// frame decided on (analysed or skipped for lack of motion) recorded.
fn decide(cam: &Arc<CameraCtx>, frame: Frame, models: Models<'_>, shared: &Shared) {
    let captured = frame.captured;
    match admit(cam, frame, shared) {
        Admission::Analyse(frame) => process(cam, &frame, models, shared),
        Admission::NoMotion => {}
        Admission::TooOld => return,
    }
    let secs = captured.elapsed().as_secs_f64();
    shared
        .metrics
        .frame_to_decision_seconds
        .with_label_values(&[&cam.id])
        .observe(secs);
    if let Some(l) = &shared.latency {
        l.record(secs);
    }
}

/// Health statistics (every frame), the age limit, then motion gating.
fn admit(cam: &CameraCtx, frame: Frame, shared: &Shared) -> Admission {
    let frame = Arc::new(frame);
    observe_health(cam, &frame, shared);
    if too_old(cam, &frame, &shared.metrics) {
        return Admission::TooOld;
    }
    let gate = lock(&cam.analysis)
        .motion
        .as_mut()
        .map(|g| g.decide(&frame.data, frame.width, frame.height, frame.pts_ns));
    if gate.is_some_and(|d| !d.analyse()) {
        shared
            .metrics
            .frames_skipped
            .with_label_values(&[&cam.id, "no_motion"])
            .inc();
        return Admission::NoMotion;
    }
    Admission::Analyse(frame)
}

/// A worker's detector, pose and second-detector sessions.
type Models<'a> = (
    &'a mut Detector,
    &'a mut PoseModels,
    &'a mut SecondDetectors,
);

/// Detection, tracking, poses when a rule needs them, rules, alerts.
fn process(
    cam: &Arc<CameraCtx>,
    frame: &Arc<Frame>,
    (detector, poses, second): Models<'_>,
    shared: &Shared,
) {
    let Some(detections) = detect(cam, frame, detector, &shared.metrics) else {
        return;
    };
    let person = shared
        .labels
        .iter()
        .position(|l| l == "person")
        .and_then(|i| u16::try_from(i).ok());
    let (mut tracks, need, lost, due) = {
        let mut a = lock(&cam.analysis);
        let Analysis {
            tracker,
            rules,
            pose_clock,
            model_clocks,
            lying,
            ..
        } = &mut *a;
        let tracks = tracker.update(&detections, frame.pts_ns).to_vec();
        log_people(frame.pts_ns, &detections, &tracks, person);
        let wanted = rules.needs().poses.clone();
        let lost = match &wanted {
            Some(n) if n.hold_lying_seconds > 0.0 => {
                let aspect = pose::aspect(frame);
                lying.observe(frame.pts_ns, &detections, person, aspect);
                pose::lost_people(tracker, person, aspect, &detections)
            }
            _ => Vec::new(),
        };
        let need = wanted.filter(|n| {
            let anyone = !pose::people(&tracks, person).is_empty() || !lost.is_empty();
            anyone && pose_clock.due(frame.pts_ns, n.fps)
        });
        if need.is_some() {
            pose_clock.ran(frame.pts_ns);
        }
        let due = due_detectors(rules.needs(), model_clocks, frame.pts_ns);
        (tracks, need, lost, due)
    };
    // Outside the lock: the health ticker and reloads need not wait for the pose model.
    let (mut found, lying) = need.as_ref().map_or_else(Default::default, |n| {
        let people = pose::people(&tracks, person);
        let t0 = Instant::now();
        let found = pose::estimate(poses, n, frame, &people, &lost);
        let m = &shared.metrics;
        m.pose_seconds
            .with_label_values(&[&cam.id])
            .observe(t0.elapsed().as_secs_f64());
        m.pose_frames.with_label_values(&[&cam.id]).inc();
        m.pose_people
            .with_label_values(&[&cam.id])
            .inc_by(people.len() as u64);
        found
    });
    let models: Vec<ModelOutput> = due.iter().filter_map(|n| second.detect(n, frame)).collect();
    let events: Vec<(Event, Under)> = {
        let mut a = lock(&cam.analysis);
        if let Some(n) = need.as_ref().filter(|_| !lying.is_empty()) {
            let Analysis {
                tracker,
                lying: seen,
                ..
            } = &mut *a;
            let held = hold_lying(
                (tracker, seen),
                (&lying, &lost),
                (frame.pts_ns, n.hold_lying_seconds),
                &mut found,
            );
            shared
                .metrics
                .pose_holds
                .with_label_values(&[&cam.id])
                .inc_by(held);
            tracks = a.tracker.tracks().to_vec();
        }
        let events = a.rules.evaluate(FrameInput {
            t_ns: frame.pts_ns,
            tracks: &tracks,
            detections: &detections,
            frame: Some(frame),
            poses: &found,
            models: &models,
        });
        // The mode is read with the rules that fired, under the same lock as a reload.
        events
            .into_iter()
            .map(|e| {
                let under = Under {
                    config_version: a.config_version,
                    shadow: a.rules.is_shadow(&e.rule_id),
                };
                (e, under)
            })
            .collect()
    };
    publish_events(cam, &events, frame, shared);
}

/// The frame's person detections and tracks, at debug level (what the lying search starts from).
fn log_people(
    t_ns: u64,
    detections: &[crate::detect::Detection],
    tracks: &[crate::track::Track],
    person: Option<u16>,
) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let b = |b: &crate::detect::BBox| format!("({:.3},{:.3},{:.3},{:.3})", b.x1, b.y1, b.x2, b.y2);
    let dets: Vec<String> = detections
        .iter()
        .filter(|d| Some(d.class_id) == person)
        .map(|d| format!("{:.2}{}", d.score, b(&d.bbox)))
        .collect();
    let trs: Vec<String> = tracks
        .iter()
        .filter(|t| Some(t.class_id) == person && t.confirmed)
        .map(|t| {
            format!(
                "{}{}{}{}",
                t.id,
                if t.missed { "m" } else { "" },
                if t.held { "h" } else { "" },
                b(&t.bbox)
            )
        })
        .collect();
    tracing::debug!(t_ns, detections = ?dets, tracks = ?trs, "persons");
}

/// Lost person tracks continued by the lying poses found for them (the poses then go to the
/// rules with the track); a track held longer than `max_s` is refused and ends as before, and
/// so is a pose where someone already lay before the track was last seen upright (see
/// [`super::lying`]). Returns how many were held.
fn hold_lying(
    (tracker, seen): (&mut crate::track::Tracker, &mut LyingMemory),
    (lying, lost): (&[pose::Lying], &[pose::Lost]),
    (t_ns, max_s): (u64, f32),
    found: &mut Vec<crate::rules::Pose>,
) -> u64 {
    let mut held = 0;
    for l in lying {
        let Some(id) = l.pose.track_id else { continue };
        let upright_until = lost.iter().find(|x| x.id == id).map(|x| x.upright_ns);
        let before = upright_until.map_or(0, |t| t.saturating_sub(lying::BEFORE_NS));
        let since = if l.confident {
            None
        } else if let Some(first) = seen.agrees(id, t_ns, l.bbox) {
            Some(first)
        } else {
            tracing::debug!(
                track = id,
                t_ns,
                score = l.pose.pose.score,
                "weak lying pose noted: a second one must agree"
            );
            continue;
        };
        if seen.lying_before(l.bbox, before) {
            tracing::debug!(
                track = id,
                t_ns,
                "lying pose refused: someone lay there before the track was last seen upright"
            );
            continue;
        }
        if tracker.hold(id, (l.bbox, l.pose.pose.score), t_ns, max_s) {
            seen.remember(t_ns, l.bbox);
            tracing::debug!(
                track = id,
                t_ns,
                score = l.pose.pose.score,
                "lying person track held"
            );
            found.retain(|p| p.track_id != Some(id));
            found.push(crate::rules::Pose {
                lying_since_ns: since,
                ..l.pose
            });
            held += 1;
        }
    }
    held
}

/// The second detectors due on this frame (each at its rules' rate); their clocks are started.
fn due_detectors(
    needs: &Needs,
    clocks: &mut std::collections::HashMap<String, PoseClock>,
    t_ns: u64,
) -> Vec<DetectorNeed> {
    needs
        .detectors
        .iter()
        .filter(|n| {
            let clock = clocks.entry(n.model.clone()).or_default();
            let due = clock.due(t_ns, n.fps);
            if due {
                clock.ran(t_ns);
            }
            due
        })
        .cloned()
        .collect()
}

/// Health first, on every frame taken, even one too old to analyse: it is cheap, and fault
/// alerts must not degrade when the machine cannot keep up.
fn observe_health(cam: &CameraCtx, frame: &Arc<Frame>, shared: &Shared) {
    let stats = FrameStats::compute(&frame.data, frame.width, frame.height);
    let fault = lock(&cam.analysis)
        .health
        .observe_frame(stats, frame.captured);
    *lock(&cam.last_frame) = Some(frame.clone());
    if let Some(ev) = fault {
        publish_fault(cam, ev, Some(frame), &shared.bus, &shared.metrics);
    }
}

/// Drops (and counts) a frame older than the camera's limit.
fn too_old(cam: &CameraCtx, frame: &Frame, metrics: &Metrics) -> bool {
    let Some(max) = cam.max_frame_age else {
        return false;
    };
    let age = frame.captured.elapsed();
    if age <= max {
        return false;
    }
    cam.status.frame_dropped_too_old();
    metrics
        .frames_dropped
        .with_label_values(&[&cam.id, "too_old"])
        .inc();
    tracing::debug!(camera = %cam.id, age_ms = age.as_millis() as u64, "frame too old, dropped");
    true
}

fn detect(
    cam: &CameraCtx,
    frame: &Frame,
    detector: &mut Detector,
    metrics: &Metrics,
) -> Option<Vec<Detection>> {
    let t0 = Instant::now();
    let detections = detector
        .detect_bgr(&frame.data, frame.width, frame.height)
        .map_err(|e| tracing::error!(camera = %cam.id, error = %e, "detection failed"))
        .ok()?;
    metrics
        .inference_seconds
        .with_label_values(&[&cam.id])
        .observe(t0.elapsed().as_secs_f64());
    metrics.frames_inferred.with_label_values(&[&cam.id]).inc();
    cam.status.frames_inferred.fetch_add(1, Ordering::Relaxed);
    Some(detections)
}

fn publish_events(
    cam: &Arc<CameraCtx>,
    events: &[(Event, Under)],
    frame: &Arc<Frame>,
    shared: &Shared,
) {
    if events.is_empty() {
        return;
    }
    let publish_all = |shown: Shown<'_>| -> Vec<(i64, Event)> {
        events
            .iter()
            .filter_map(|(ev, under)| {
                let id = publish(
                    cam,
                    ev,
                    shown,
                    Moment::of(frame),
                    &shared.labels,
                    &shared.bus,
                    *under,
                )?;
                Some((id, ev.clone()))
            })
            .collect()
    };
    // A camera whose main stream is decoded on demand: the alerts are journaled and delivered
    // now, drawn on the detector's frame; the main stream's still of their instant is decoded
    // off this worker and attached after.
    if let (true, Some(tx)) = (cam.evidence.decodes_on_demand(), &shared.stills) {
        let shown = Shown {
            frame: Some(frame),
            still_follows: true,
        };
        let alerts = publish_all(shown);
        if alerts.is_empty() {
            return;
        }
        let job = StillJob {
            cam: cam.clone(),
            alerts,
            frame: frame.clone(),
        };
        if let Err(job) = hand_over(tx, job) {
            for (id, _) in &job.alerts {
                attach(&shared.bus, *id, Err("the still queue was full"));
            }
        }
        return;
    }
    // Drawn on the full-resolution frame of the same moment when the camera keeps them; the
    // alert's time stays the analysed frame's.
    let shown = cam.evidence.snapshot_frame(frame);
    publish_all(Shown::on(Some(&shown)));
}

/// Every 500 ms: offline detection (it must fire when no frame comes at all) and the last frame
/// age gauge.
pub(super) fn health_ticker(
    cameras: CameraSet,
    bus: AlertBus,
    metrics: Metrics,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let current = read(&cameras).clone();
        for cam in current.iter() {
            let age = cam.status.last_frame_age();
            if let Some(a) = age {
                metrics
                    .last_frame_age_seconds
                    .with_label_values(&[&cam.id])
                    .set(a.as_secs_f64());
            }
            // A file at its end (or a camera being stopped) is not a fault.
            if cam.status.state() == ingest::CameraState::Stopped {
                continue;
            }
            let ev = lock(&cam.analysis).health.tick(Instant::now(), age);
            if let Some(ev) = ev {
                let last = lock(&cam.last_frame).clone();
                publish_fault(cam, ev, last.as_deref(), &bus, &metrics);
            }
        }
        for _ in 0..10 {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
