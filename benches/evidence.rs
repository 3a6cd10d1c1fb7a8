//! The full-resolution still of a sub-stream camera's alert: one frame of the 720p25 bench clip
//! (2 s GOP) decoded on demand from its compressed ring, as `clips::still` does per alert, with
//! `decodebin` and with the named parser and one-thread decoder; the target at the start of a
//! group of pictures (1 frame to decode) and near its end (about 50).
//!
//! `deploy/make-bench-clip.sh` (writes `.deps/media/vtest-720p25.mp4`), then
//! `cargo bench --bench evidence`

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use vigie::clips::still::{decode_with, Chain};
use vigie::clips::ClipRing;

const CLIP: &str = ".deps/media/vtest-720p25.mp4";

/// The clip's first 8 s, parsed as ingest taps it, stamped 40 ms apart from 0.
fn ring(clip: &Path) -> Arc<ClipRing> {
    let ring = Arc::new(ClipRing::new(60_000, usize::MAX));
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! appsink name=sink sync=false",
        clip.display()
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("playing");
    for i in 0..200i64 {
        let Ok(sample) = sink.pull_sample() else {
            break;
        };
        let caps = sample.caps().map(|c| c.to_owned());
        ring.push(
            i * 40,
            caps.as_deref(),
            sample.buffer_owned().expect("buffer"),
        );
    }
    let _ = pipeline.set_state(gst::State::Null);
    ring
}

fn stills(c: &mut Criterion) {
    let clip = Path::new(CLIP);
    if !clip.exists() {
        eprintln!("{CLIP} missing: run deploy/make-bench-clip.sh first");
        return;
    }
    gst::init().expect("gstreamer");
    let ring = ring(clip);
    let mut group = c.benchmark_group("evidence/still_720p");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    // 4.0 s: a keyframe (GOP 2 s); 5.92 s: the last frame of that group of pictures.
    for (name, at_ms) in [("gop_start", 4_000), ("gop_end", 5_920)] {
        let gop = ring.gop_at(at_ms, 250).expect("held");
        for chain in [Chain::Decodebin, Chain::ForCaps] {
            group.bench_with_input(
                BenchmarkId::new(
                    format!("{chain:?}"),
                    format!("{name}_{}_packets", gop.packets.len()),
                ),
                &gop,
                |b, gop| {
                    b.iter(|| {
                        let deadline = Instant::now() + Duration::from_secs(10);
                        decode_with(chain, gop, deadline).expect("decoded")
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, stills);
criterion_main!(benches);
