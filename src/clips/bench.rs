//! `vigie bench-ingest --clips`: what the clip rings hold after the measured window, and the cost
//! of one clip written from the first camera's ring (remux when the stream is H.264, and a
//! transcode with a privacy mask), measured once the cameras are stopped so the process's CPU
//! time is the writer's alone.

use std::sync::Arc;
use std::time::Instant;

use super::still;
use super::writer::{self, ClipFile};
use super::{ClipRing, MaskFn};
use crate::bench_ingest::{cpu_seconds, memory_mib};

/// Prints the rings' size, then writes the newest `seconds` of the first ring both ways.
pub fn report(rings: &[Arc<ClipRing>], seconds: i64) {
    let (packets, bytes): (usize, usize) = rings
        .iter()
        .map(|r| r.stats())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let n = rings.len().max(1);
    let span = rings.iter().map(|r| r.span_ms()).max().unwrap_or(0);
    println!(
        "clip rings: {:.1} MiB held in all ({:.2} MiB, {} packets per camera; up to {:.1} s held)",
        bytes as f64 / 1048576.0,
        bytes as f64 / 1048576.0 / n as f64,
        packets / n,
        span as f64 / 1000.0
    );
    let Some(ring) = rings.first() else {
        return;
    };
    let newest = ring.newest_ms().unwrap_or(0);
    let Some(clip) = ring.clip(newest - seconds * 1000, newest, newest) else {
        println!("clip: nothing to write (no compressed stream tapped)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("vigie-bench-clips-{}", std::process::id()));
    // A mask over the left quarter: the transcode path with its masking cost.
    let mask: MaskFn = Arc::new(|px: &mut [u8], w: u32, _h: u32| {
        for row in px.chunks_exact_mut(w as usize * 3) {
            row[..(w as usize / 4) * 3].fill(0);
        }
    });
    for masked in [false, true] {
        let cpu0 = cpu_seconds("self").unwrap_or(0.0);
        let t0 = Instant::now();
        let out = dir.join(format!("clip-{masked}.mp4"));
        match writer::write(&clip, masked.then_some(&mask), &out) {
            Ok(f) => print_clip(
                &f,
                t0.elapsed().as_secs_f64(),
                cpu_seconds("self").unwrap_or(0.0) - cpu0,
            ),
            Err(e) => println!("clip (masked: {masked}): {e}"),
        }
    }
    let (rss, hwm) = memory_mib();
    println!("RSS after the clips: {rss:.1} MiB now, {hwm:.1} MiB peak");
    let _ = std::fs::remove_dir_all(&dir);
}

fn print_clip(f: &ClipFile, wall_s: f64, cpu_s: f64) {
    println!(
        "clip {}{}: {:.1} s of {} video, {} frames, {:.2} MiB; written in {:.0} ms, {:.0} ms of CPU",
        f.method.as_str(),
        if f.masked { " (masked)" } else { "" },
        f.duration_ms as f64 / 1000.0,
        f.codec,
        f.frames,
        f.bytes as f64 / 1048576.0,
        wall_s * 1000.0,
        cpu_s * 1000.0
    );
}

/// `--detect-url` with `--full-resolution`: the cost of one snapshot decoded on demand from the
/// first camera's ring, for instants spread over its last 2 s (each decodes from the keyframe
/// before it), once the cameras are stopped.
pub fn report_stills(rings: &[Arc<ClipRing>]) {
    let Some(ring) = rings.first() else {
        return;
    };
    let newest = ring.newest_ms().unwrap_or(0);
    let (packets, bytes) = ring.stats();
    println!(
        "snapshot ring: {packets} packets, {:.2} MiB, {:.1} s held per camera",
        bytes as f64 / 1048576.0,
        ring.span_ms() as f64 / 1000.0
    );
    for back_ms in [2000, 1500, 1000, 500, 0] {
        let Some(gop) = ring.gop_at(newest - back_ms, 250) else {
            println!("snapshot at -{back_ms} ms: nothing held");
            continue;
        };
        let cpu0 = cpu_seconds("self").unwrap_or(0.0);
        let t0 = Instant::now();
        let deadline = t0 + std::time::Duration::from_secs(30);
        match still::decode(&gop, deadline) {
            Ok(f) => println!(
                "snapshot at -{back_ms} ms: {}x{} decoded from {} packets (target {}) in {:.0} ms, {:.0} ms of CPU",
                f.width,
                f.height,
                gop.packets.len(),
                gop.target,
                t0.elapsed().as_secs_f64() * 1000.0,
                (cpu_seconds("self").unwrap_or(0.0) - cpu0) * 1000.0
            ),
            Err(e) => println!("snapshot at -{back_ms} ms: {e}"),
        }
    }
}
