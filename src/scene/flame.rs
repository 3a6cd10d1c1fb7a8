//! Classical fire cues over a polygon, always available (no model): each cue is measured and
//! reported so an alert can say why.
//!
//! 1. **Colour**: flame-coloured cells in YCbCr (after Çelik & Demirel, 2009): red-to-yellow
//!    (`R >= G >= B`, `R >= min_red`), `Y > Cb`, `Cr > Cb`, `Cr - Cb >= min_cr_minus_cb`, and
//!    brighter than the frame's mean luminance.
//!
//! Cells that have been flame-coloured most of the time over `scenery_seconds` are **scenery**
//! (brick, traffic cones, a red door): a fire start is a change, they are left out.
//!
//! The other cues are measured per **blob**: an 8-connected set of new flame-coloured cells at
//! some point of the last `window` frames (M).
//! 2. **Minimum area**: the blob's flame cells cover at least `min_area` of the frame...
//! 3. **Persistence**: ...in at least `min_present` (N) of the M frames.
//! 4. **Flicker**: the **luminance flicker**, the fraction of the blob's cells whose luminance
//!    jumps by more than `flicker_delta` from one frame to the next **while flame-coloured in
//!    both**, on average over the window, is at least `min_flicker` (painted, lit or parked
//!    things are steady; a person passing in front of an orange wall changes its colour, not a
//!    flame's brightness), **or** the boundary flicker (below) is at least `min_edge_flicker`.
//! 5. **Stable core**: the cells flame-coloured on **every** frame of the window are at least
//!    `min_core` (0.25) of the blob's mean flame area: a flame's base and body stay lit while its
//!    outline flickers; a blinking light, brake or hazard lights, a faulty sign go dark as a
//!    whole, so no cell is core.
//! 6. **Still**: the centre of its flame cells drifts less than `max_drift` times the square root
//!    of its area across the window (a red car or red clothing moves through; a fire stays).
//! 7. **Not shrinking**: over `growth_seconds`, its mean flame area in the last half is at least
//!    `min_area_ratio` of the first half's (a fire start grows or holds).
//!
//!
//! **Boundary flicker (measured and reported; decisive only when `min_edge_flicker` is set,
//! off by default).** After Töreyin, Dedeoğlu & Çetin ("Flame detection in video using hidden
//! Markov models", ICIP 2005; Pattern Recognition Letters 27, 2006): a flame's outline flickers,
//! so the cells at its edge switch between flame and non-flame colour back and forth,
//! irregularly, while its core stays lit; a rigid thing moving changes a cell once.
//! `edge_flicker` counts the blob's cells that switch at least three times over the window (two
//! switches are also one thing passing over a cell), each switch with a colour step of more than
//! `flicker_delta` in Y, Cb or Cr, over the blob's mean flame area. With `min_edge_flicker` set
//! (0.1 was tried: the luminance flicker's one cell in ten), either flicker holds cue 4. Measured
//! with 0.1: the flame `vigie eval` draws into vtest.avi is found (0.17-0.88); but vtest's
//! pedestrians recoloured orange stay candidates on 48 frames (59 without the person cue: the
//! detector finds 938 person boxes on those frames against 2600 on the clip as it is, and the
//! blobs are 9 % inside them) and the warm-tinted scene under a low sun on 17 (38 without; its
//! blob 20-28 % inside person boxes). Those are the detector's raw boxes of each frame; the fire
//! rule gets the boxes of the camera's confirmed person tracks, which coast (on their predicted
//! box) through up to 1.5 s of missed detections. Given those instead (the engine's detector at
//! score 0.1, its `Tracker` with the default `[tracker]` and `min_score` 0.35; `EngineTracks` in
//! the tests), little changes: 48 candidate frames of orange-clad people (longest run 14, 2.8 s;
//! 1414 confirmed person-track boxes on the edited frames, 397 of them coasting, against 2563 on
//! the clip as it is; the first blobs 10-27 % inside them) and 15 of the low sun (longest run 6;
//! 2468 boxes, 301 coasting; the first blobs 26-35 % inside them): the candidate blobs stay under
//! half inside the boxes. So it stays off until real fire footage says more.
//! Why those blobs pass the other cues (measured blob by blob, issue 8): they are people
//! **standing** or shuffling in place (in the low-sun trap too: none is the sun's disc or halo,
//! which is there from the first frame and so scenery), one person per blob, not the union of
//! several walkers: over the 10 frames the blob's lowest row spans a median of 1 grid cell (orange
//! clothing; 90 % within 2) or 4 (low sun; at most 9 for both), its centre strays at most 0.6-4.2
//! cells (clothing) or 1.0-8.3 (sun) from the first frame's (drift 0.00-0.42), and the trunk is lit
//! on every frame (6-142 cells of core), as a flame's body is (the unit tests' flame: lowest row
//! within 0-2 cells, centre strays 0.8-4.4). The cues that would tell a standing person from a
//! flame, a rooted base and a still core, hold for both; what differs is the flicker, and both
//! flickers overlap: the cells whose outline jumps by two cells or more in one step (a flame's
//! tongue lengthening, not a person's sway) are 0.01-0.28 of the area per step on the traps'
//! candidates against 0.01-0.29 on the unit tests' drawn flame. The luminance flicker over only the
//! cells flame-coloured in both frames (rather than the window's union of cells) was tried too: the
//! drawn flame of fire-built reads 0.12-0.25 (0.06-0.10 as measured here), but the orange-clad
//! standing people reach 0.141 (0.064 here) with every other cue held and their person boxes given:
//! 7 candidate frames of that trap at 0.1, so it is not used either.
//!
//! 8. **Not a person**: less than `max_person_cover` (0.5) of the blob's flame cells, over the
//!    window, lie inside the person boxes of their frame (each grown by `person_margin` of its
//!    height on every side), given to [`FlameDetector::update`] by the caller (the fire rule: its
//!    confirmed person tracks). A flame-coloured blob that is mostly a person is clothing, as a
//!    static blob mostly under a person box is that person for the abandoned-object rule. It
//!    only works where the detector sees the person. The price: a person on fire, or a fire
//!    right behind or beside a person whose box covers most of it, is dropped too.
//!
//! Colour alone means little: on the real clip a brick wall, traffic cones, gravel and yellow
//! road lines are flame-coloured (about 5 % of the picture); the temporal cues carry the
//! decision. Limits: smoke is not detected; a blob's growth is measured inside its current
//! bounds; flames in front of flame-coloured scenery (a brick wall) count only where they
//! spill over it.

use std::collections::VecDeque;

use super::blobs::{label_blobs, Blob};
use super::region::{small_frame, Region};
use super::{check_range, SceneError};
use crate::detect::BBox;

/// Parameters of [`FlameDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlameParams {
    /// Downscale factor of the analysis grid (2: 416x416 becomes 208x208).
    pub scale: u32,
    pub min_red: f32,
    pub min_cr_minus_cb: f32,
    /// Fraction of the frame.
    pub min_area: f32,
    /// Frames in the persistence and flicker window (M).
    pub window: usize,
    /// Frames of the window with enough flame area (N).
    pub min_present: usize,
    /// Luminance jump (0..255) that counts as flicker between two frames; also the colour step
    /// (Y, Cb or Cr) a flame <-> non-flame switch needs to count in the boundary flicker.
    pub flicker_delta: f32,
    pub min_flicker: f32,
    /// Boundary flicker (cells switching flame <-> non-flame at least three times over the
    /// window, over the mean area) that holds the flicker cue when the luminance flicker does not;
    /// `None` (default): measured and reported, not decisive (see the module's documentation).
    pub min_edge_flicker: Option<f32>,
    /// A blob with at least this fraction of its flame cells inside person boxes is a person.
    pub max_person_cover: f32,
    /// Each person box grows by this fraction of its height on every side.
    pub person_margin: f32,
    /// Cells flame-coloured on every frame of the window, over the blob's mean flame area.
    pub min_core: f32,
    /// Largest centre drift across the window, in multiples of the square root of the area.
    pub max_drift: f32,
    /// Span of the not-shrinking check, seconds.
    pub growth_seconds: f32,
    pub min_area_ratio: f32,
    /// A cell flame-coloured more than half the time over about this long is scenery, seconds.
    pub scenery_seconds: f32,
}

impl Default for FlameParams {
    fn default() -> Self {
        FlameParams {
            scale: 2,
            min_red: 150.0,
            min_cr_minus_cb: 40.0,
            min_area: 0.0005,
            window: 10,
            min_present: 8,
            flicker_delta: 20.0,
            min_flicker: 0.1,
            min_edge_flicker: None,
            max_person_cover: 0.5,
            person_margin: 0.1,
            min_core: 0.25,
            max_drift: 0.5,
            growth_seconds: 4.0,
            min_area_ratio: 0.8,
            scenery_seconds: 300.0,
        }
    }
}

impl FlameParams {
    fn validate(&self) -> Result<(), SceneError> {
        check_range("scale", self.scale as f32, 1.0, 16.0)?;
        check_range("min_red", self.min_red, 0.0, 255.0)?;
        check_range("min_cr_minus_cb", self.min_cr_minus_cb, 0.0, 255.0)?;
        check_range("min_area", self.min_area, 0.0, 1.0)?;
        check_range("window", self.window as f32, 2.0, 300.0)?;
        check_range(
            "min_present",
            self.min_present as f32,
            1.0,
            self.window as f32,
        )?;
        check_range("flicker_delta", self.flicker_delta, 1.0, 255.0)?;
        check_range("min_flicker", self.min_flicker, 0.0, 1.0)?;
        if let Some(e) = self.min_edge_flicker {
            check_range("min_edge_flicker", e, 0.0, 10.0)?;
        }
        check_range("max_person_cover", self.max_person_cover, 0.0, 1.0)?;
        check_range("person_margin", self.person_margin, 0.0, 1.0)?;
        check_range("min_core", self.min_core, 0.0, 1.0)?;
        check_range("max_drift", self.max_drift, 0.0, 100.0)?;
        check_range("growth_seconds", self.growth_seconds, 0.0, 600.0)?;
        check_range("min_area_ratio", self.min_area_ratio, 0.0, 10.0)?;
        check_range("scenery_seconds", self.scenery_seconds, 1.0, 86400.0)
    }
}

/// Which of the two flickers held on a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flickers {
    #[default]
    Neither,
    Luminance,
    Boundary,
    Both,
}

impl Flickers {
    fn new(luminance: bool, boundary: bool) -> Self {
        match (luminance, boundary) {
            (true, true) => Flickers::Both,
            (true, false) => Flickers::Luminance,
            (false, true) => Flickers::Boundary,
            (false, false) => Flickers::Neither,
        }
    }

    /// Either held.
    pub fn held(self) -> bool {
        self != Flickers::Neither
    }

    fn words(self) -> &'static str {
        match self {
            Flickers::Neither => "no flicker held",
            Flickers::Luminance => "the luminance flicker held",
            Flickers::Boundary => "the boundary flicker held",
            Flickers::Both => "both flickers held",
        }
    }
}

/// The cues of the most fire-like blob on one frame (a candidate if there is one, else the one
/// meeting the most cues, then the largest).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FlameReading {
    /// Every cue holds: a fire-start candidate (for a person to check).
    pub candidate: bool,
    /// The blob's flame-coloured area now, fraction of the frame.
    pub area: f32,
    /// The blob's bounds (normalised frame coordinates); `None` without any flame colour.
    pub bbox: Option<BBox>,
    /// Flame-coloured area of the whole polygon now, fraction of the frame.
    pub total_area: f32,
    /// Frames of the window with at least `min_area` in the blob (N of `window`).
    pub present: usize,
    pub window: usize,
    /// Mean fraction of the blob's cells whose luminance jumps by more than `flicker_delta`
    /// from one frame to the next while flame-coloured in both (the decision's flicker).
    pub flicker: f32,
    /// Cells switching flame <-> non-flame at least three times over the window, each switch a
    /// colour step of more than `flicker_delta`, over the mean area (the boundary flicker).
    pub edge_flicker: f32,
    /// Which flicker held (either is enough).
    pub flickers: Flickers,
    /// The blob's flame cells inside the person boxes of their frame, over all its flame cells
    /// in the window (at `max_person_cover` or more it is a person, never a candidate).
    pub person_cover: f32,
    /// Cells flame-coloured on every frame of the window, over the mean area.
    pub core: f32,
    /// Centre drift across the window, in multiples of the square root of the area.
    pub drift: f32,
    /// Mean area of the last half of `growth_seconds` over the first half's; `None` until that
    /// much history exists.
    pub area_ratio: Option<f32>,
}

impl FlameReading {
    /// Plain words for an alert's explanation.
    pub fn explain(&self) -> String {
        format!(
            "flame-coloured blob of {:.2} % of the image, present in {} of {} frames, luminance \
             flicker {:.2}, boundary flicker {:.2} ({}), stable core {:.2}, drift {:.2}, {:.0} % \
             of it inside person boxes, area ratio over time {}",
            self.area * 100.0,
            self.present,
            self.window,
            self.flicker,
            self.edge_flicker,
            self.flickers.words(),
            self.core,
            self.drift,
            self.person_cover * 100.0,
            match self.area_ratio {
                None => "not yet known".to_string(),
                Some(r) if r.is_infinite() => "new (nothing there before)".to_string(),
                Some(r) => format!("{r:.2}"),
            }
        )
    }
}

/// One analysed frame.
#[derive(Debug, Clone)]
struct Sample {
    t: f64,
    /// `(Y, Cb, Cr)` of each grid cell (row-major; 0 outside the polygon).
    colour: Vec<[u8; 3]>,
    /// Flame colour of each grid cell (false outside the polygon).
    flame: Vec<bool>,
    /// Grid cells inside the frame's person boxes (grown by `person_margin`).
    person: Vec<bool>,
    /// Flame cells in the polygon.
    count: usize,
}

/// Fire cues over one polygon of one camera; feed every analysed frame in time order.
#[derive(Debug, Clone)]
pub struct FlameDetector {
    params: FlameParams,
    frame: (u32, u32),
    region: Region,
    small: Vec<u8>,
    /// The last frames: at least `window`, and `growth_seconds` back.
    samples: VecDeque<Sample>,
    /// Per grid cell, how often it has been flame-coloured (moving average over
    /// `scenery_seconds`); empty before the first frame.
    scenery: Vec<f32>,
}

/// `(Y, Cb, Cr)` of a BGR pixel (BT.601, full range).
fn ycbcr(b: f32, g: f32, r: f32) -> (f32, f32, f32) {
    (
        0.299 * r + 0.587 * g + 0.114 * b,
        128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b,
        128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b,
    )
}

impl FlameDetector {
    /// A detector for frames of `frame_w x frame_h` over `polygon` (normalised coordinates).
    pub fn new(
        polygon: &[(f32, f32)],
        frame_w: u32,
        frame_h: u32,
        params: FlameParams,
    ) -> Result<FlameDetector, SceneError> {
        params.validate()?;
        let region = Region::from_polygon(polygon, frame_w / params.scale, frame_h / params.scale)?;
        Ok(FlameDetector {
            params,
            frame: (frame_w, frame_h),
            region,
            small: Vec::new(),
            samples: VecDeque::new(),
            scenery: Vec::new(),
        })
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.samples.clear();
        self.scenery.clear();
    }

    /// Whether a pixel is flame-coloured, given the frame's mean luminance.
    pub fn is_flame_colour(&self, b: u8, g: u8, r: u8, mean_luma: f32) -> bool {
        let (b, g, r) = (f32::from(b), f32::from(g), f32::from(r));
        let (y, cb, cr) = ycbcr(b, g, r);
        r >= self.params.min_red
            && r >= g
            && g >= b
            && y > cb
            && cr > cb
            && cr - cb >= self.params.min_cr_minus_cb
            && y > mean_luma
    }

    /// Feeds one packed BGR frame taken at `t` seconds with the boxes of the persons seen on it
    /// (normalised frame coordinates; empty: no person exclusion); returns the cues now.
    pub fn update(
        &mut self,
        bgr: &[u8],
        t: f64,
        persons: &[BBox],
    ) -> Result<FlameReading, SceneError> {
        small_frame(bgr, self.frame, self.params.scale, &mut self.small)?;
        let dt = self
            .samples
            .back()
            .map_or(0.0, |s| (t - s.t).clamp(0.0, 5.0) as f32);
        let mut sample = self.sample(t, dt);
        sample.person = self.person_cells(persons);
        let total_area = sample.count as f32 / self.cells_total();
        self.samples.push_back(sample);
        let keep_from = t - f64::from(self.params.growth_seconds) - 0.5;
        while self.samples.len() > self.params.window
            && self.samples.front().is_some_and(|s| s.t < keep_from)
        {
            self.samples.pop_front();
        }
        let mut best = self
            .blobs()
            .into_iter()
            .max_by(|a, b| a.rank().total_cmp(&b.rank()))
            .map(|b| b.reading)
            .unwrap_or(FlameReading {
                window: self.params.window,
                ..Default::default()
            });
        best.total_area = total_area;
        Ok(best)
    }

    fn cells_total(&self) -> f32 {
        let (gw, gh) = self.region.size();
        (gw * gh) as f32
    }

    /// The grid cells inside `persons`, each box grown by `person_margin` of its height.
    fn person_cells(&self, persons: &[BBox]) -> Vec<bool> {
        let (gw, gh) = self.region.size();
        let mut cells = vec![false; gw * gh];
        let m = self.params.person_margin;
        for b in persons {
            let grow = m * b.height();
            let span = |lo: f32, hi: f32, n: usize| {
                let lo = ((lo - grow).max(0.0) * n as f32).floor() as usize;
                let hi = ((hi + grow).min(1.0) * n as f32).ceil() as usize;
                lo.min(n)..hi.min(n)
            };
            for y in span(b.y1, b.y2, gh) {
                for x in span(b.x1, b.x2, gw) {
                    cells[y * gw + x] = true;
                }
            }
        }
        cells
    }

    fn sample(&mut self, t: f64, dt: f32) -> Sample {
        let px = |i: usize| {
            (
                self.small[i * 3],
                self.small[i * 3 + 1],
                self.small[i * 3 + 2],
            )
        };
        let n_all = self.small.len() / 3;
        let mean_luma = (0..n_all)
            .map(|i| {
                let (b, g, r) = px(i);
                ycbcr(f32::from(b), f32::from(g), f32::from(r)).0
            })
            .sum::<f32>()
            / n_all.max(1) as f32;
        let mut colour = vec![[0u8; 3]; n_all];
        let mut flame = vec![false; n_all];
        let mut count = 0;
        let first = self.scenery.is_empty();
        if first {
            self.scenery = vec![0.0; n_all];
        }
        let a = 1.0 - (-dt / self.params.scenery_seconds).exp();
        for &c in self.region.cells() {
            let c = c as usize;
            let (b, g, r) = px(c);
            let (y, cb, cr) = ycbcr(f32::from(b), f32::from(g), f32::from(r));
            colour[c] = [y, cb, cr].map(|v| v.round().clamp(0.0, 255.0) as u8);
            let coloured = self.is_flame_colour(b, g, r, mean_luma);
            let seen = if coloured { 1.0 } else { 0.0 };
            let scenery = &mut self.scenery[c];
            *scenery = if first {
                seen
            } else {
                *scenery + a * (seen - *scenery)
            };
            if coloured && *scenery < 0.5 {
                flame[c] = true;
                count += 1;
            }
        }
        Sample {
            t,
            colour,
            flame,
            person: Vec::new(),
            count,
        }
    }

    /// The blobs of the window's flame cells, each with its cues.
    fn blobs(&self) -> Vec<Scored> {
        let p = &self.params;
        let window: Vec<&Sample> = self.samples.iter().rev().take(p.window).rev().collect();
        let (gw, gh) = self.region.size();
        let mut union = vec![false; gw * gh];
        for s in &window {
            for (u, f) in union.iter_mut().zip(&s.flame) {
                *u |= *f;
            }
        }
        let min_cells = (p.min_area * self.cells_total()).ceil().max(1.0) as usize;
        label_blobs(&union, gw, gh, min_cells)
            .into_iter()
            .map(|blob| self.score(&blob, &window, min_cells))
            .collect()
    }

    fn score(&self, blob: &Blob, window: &[&Sample], min_cells: usize) -> Scored {
        let p = &self.params;
        let total = self.cells_total();
        let counts: Vec<usize> = window.iter().map(|s| flame_in(s, &blob.cells)).collect();
        let present = counts.iter().filter(|&&n| n >= min_cells).count();
        let mean_area = (counts.iter().sum::<usize>() as f32 / counts.len().max(1) as f32).max(1.0);
        let (toggling, core) = toggles(blob, window, p.flicker_delta);
        let edge_flicker = toggling as f32 / mean_area;
        let core = core as f32 / mean_area;
        let flicker = luma_flicker(blob, window, p.flicker_delta);
        let flickers = Flickers::new(
            flicker >= p.min_flicker,
            p.min_edge_flicker.is_some_and(|e| edge_flicker >= e),
        );
        let person_cover = person_cover(blob, window);
        let drift = self.drift(blob, window);
        let area_ratio = self.area_ratio(blob);
        let last = window.last().map_or(0, |s| flame_in(s, &blob.cells));
        let (gw, gh) = self.region.size();
        let reading = FlameReading {
            candidate: false,
            area: last as f32 / total,
            bbox: Some(BBox::new(
                blob.x0 as f32 / gw as f32,
                blob.y0 as f32 / gh as f32,
                blob.x1 as f32 / gw as f32,
                blob.y1 as f32 / gh as f32,
            )),
            total_area: 0.0,
            present,
            window: p.window,
            flicker,
            edge_flicker,
            flickers,
            person_cover,
            core,
            drift,
            area_ratio,
        };
        tracing::trace!(
            bbox = ?reading.bbox,
            area = reading.area,
            present,
            flicker,
            edge_flicker,
            person_cover,
            core,
            drift,
            area_ratio = ?area_ratio,
            "flame blob"
        );
        let cues = [
            window.len() == p.window && present >= p.min_present,
            flickers.held(),
            core >= p.min_core,
            drift <= p.max_drift,
            area_ratio.is_some_and(|r| r >= p.min_area_ratio),
            person_cover < p.max_person_cover,
        ];
        let met = cues.iter().filter(|&&c| c).count();
        Scored {
            reading: FlameReading {
                candidate: met == cues.len(),
                ..reading
            },
            met,
        }
    }

    /// Distance between the centres of the blob's flame cells on the first and last frames that
    /// have some, over the square root of its mean flame area (both in grid cells).
    fn drift(&self, blob: &Blob, window: &[&Sample]) -> f32 {
        let (gw, _) = self.region.size();
        let centres: Vec<((f32, f32), usize)> = window
            .iter()
            .filter_map(|s| {
                let (mut n, mut sx, mut sy) = (0usize, 0.0f32, 0.0f32);
                for &i in blob.cells.iter().filter(|&&i| s.flame[i as usize]) {
                    n += 1;
                    sx += (i as usize % gw) as f32;
                    sy += (i as usize / gw) as f32;
                }
                (n > 0).then(|| ((sx / n as f32, sy / n as f32), n))
            })
            .collect();
        let (Some(first), Some(last)) = (centres.first(), centres.last()) else {
            return 0.0;
        };
        let mean = centres.iter().map(|c| c.1).sum::<usize>() as f32 / centres.len() as f32;
        (last.0 .0 - first.0 .0).hypot(last.0 .1 - first.0 .1) / mean.sqrt()
    }

    /// Mean flame cells of the blob in the last half of `growth_seconds` over the first half's;
    /// `None` until that much history exists.
    fn area_ratio(&self, blob: &Blob) -> Option<f32> {
        let g = f64::from(self.params.growth_seconds);
        let now = self.samples.back()?.t;
        if now - self.samples.front()?.t < g * 0.95 {
            return None;
        }
        let mean = |from: f64, to: f64| {
            let v: Vec<usize> = self
                .samples
                .iter()
                .filter(|s| s.t >= from && s.t < to)
                .map(|s| flame_in(s, &blob.cells))
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<usize>() as f32 / v.len() as f32)
        };
        let early = mean(now - g, now - g / 2.0)?;
        let late = mean(now - g / 2.0, now + 1e-6)?;
        Some(if early > 0.0 {
            late / early
        } else if late > 0.0 {
            f32::INFINITY
        } else {
            0.0
        })
    }
}

/// Mean fraction of the blob's cells whose luminance jumps by more than `delta` between two
/// frames running while flame-coloured in both.
fn luma_flicker(blob: &Blob, window: &[&Sample], delta: f32) -> f32 {
    let jumps: usize = window
        .iter()
        .zip(window.iter().skip(1))
        .map(|(a, b)| {
            blob.cells
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| {
                    a.flame[i]
                        && b.flame[i]
                        && f32::from(a.colour[i][0].abs_diff(b.colour[i][0])) > delta
                })
                .count()
        })
        .sum();
    jumps as f32 / (blob.cells.len() * (window.len().max(2) - 1)) as f32
}

/// `(toggling, core)`: the blob's cells whose flame state changes at least three times over
/// `window` (back and forth and back), each change with a colour step of more than `delta` in Y,
/// Cb or Cr, and those flame-coloured on every frame of it.
fn toggles(blob: &Blob, window: &[&Sample], delta: f32) -> (usize, usize) {
    let (mut toggling, mut core) = (0, 0);
    for &i in &blob.cells {
        let i = i as usize;
        let mut states = window.iter().map(|s| (s.flame[i], s.colour[i]));
        let Some((mut prev, mut prev_colour)) = states.next() else {
            continue;
        };
        let (mut switches, mut always) = (0, prev);
        for (state, colour) in states {
            let step = (0..3).map(|c| colour[c].abs_diff(prev_colour[c])).max();
            if state != prev && step.is_some_and(|d| f32::from(d) > delta) {
                switches += 1;
            }
            always &= state;
            (prev, prev_colour) = (state, colour);
        }
        if always {
            core += 1;
        } else if switches >= 3 {
            toggling += 1;
        }
    }
    (toggling, core)
}

/// The blob's flame cells inside their frame's person boxes over all its flame cells, across
/// `window` (0 without flame cells).
fn person_cover(blob: &Blob, window: &[&Sample]) -> f32 {
    let (mut flame, mut person) = (0usize, 0usize);
    for s in window {
        for &i in &blob.cells {
            let i = i as usize;
            if s.flame[i] {
                flame += 1;
                person += usize::from(s.person.get(i).copied().unwrap_or(false));
            }
        }
    }
    if flame == 0 {
        0.0
    } else {
        person as f32 / flame as f32
    }
}

/// Flame cells of `s` among `cells`.
fn flame_in(s: &Sample, cells: &[u32]) -> usize {
    cells.iter().filter(|&&i| s.flame[i as usize]).count()
}

/// A blob's reading and how many of its cues hold.
struct Scored {
    reading: FlameReading,
    met: usize,
}

impl Scored {
    fn rank(&self) -> f32 {
        self.met as f32 * 10.0 + self.reading.area
    }
}

#[cfg(test)]
#[path = "flame_tests.rs"]
mod tests;
