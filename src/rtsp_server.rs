//! A small RTSP server (gst-rtsp-server) that serves a video file as a camera would: H.264,
//! H.265 or MJPEG over RTP, at the file's own rate. Used by the ingest tests and for demos.
//!
//! Each client gets its own media (a non-shared factory): gst-rtsp-server 1.22 can abort with a
//! shared factory when clients connect at the same instant. A client reaching the end of the clip
//! gets end-of-stream, as a camera that goes away would send.

use std::path::PathBuf;

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    H264,
    H265,
    Mjpeg,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Video file to serve.
    #[arg(long)]
    pub clip: PathBuf,
    /// TCP port of the RTSP server (0 picks a free one; the URL is printed).
    #[arg(long, default_value_t = 8554)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: String,
    /// Path of the stream.
    #[arg(long, default_value = "/cam")]
    pub mount: String,
    #[arg(long, value_enum, default_value_t = Codec::H264)]
    pub codec: Codec,
    /// Serve the clip's own H.264/H.265 stream without decoding or re-encoding it (the clip must
    /// be of `--codec`): almost no CPU per client, for the many-camera ingest benchmark. The
    /// clip is not looped: make it as long as the run.
    #[arg(long)]
    pub passthrough: bool,
    /// Inject a camera fault (for tests): `black` (covered lens) or `freeze` (the last image
    /// repeated), from `--fault-after` seconds of stream time on, for every client.
    #[arg(long, value_enum, default_value_t = FaultMode::None)]
    pub fault: FaultMode,
    /// Stream seconds before the fault starts.
    #[arg(long, default_value_t = 5.0)]
    pub fault_after: f64,
}

/// A fault injected into the served stream, before the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FaultMode {
    None,
    Black,
    Freeze,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error("clip {0} does not exist")]
    NoClip(PathBuf),
    #[error("the RTSP server could not listen on {0}")]
    Attach(String),
    #[error("--passthrough serves an H.264 or H.265 clip as it is; use --codec h264 or h265")]
    Passthrough,
}

/// The launch line of the media for one client.
pub fn media_launch(clip: &str, codec: Codec) -> String {
    let clip = clip.replace('\\', "\\\\").replace('"', "\\\"");
    let enc = match codec {
        Codec::H264 => "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bitrate=1500 ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=1",
        Codec::H265 => "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bitrate=1500 ! rtph265pay name=pay0 pt=96 config-interval=1",
        Codec::Mjpeg => "jpegenc quality=80 ! rtpjpegpay name=pay0 pt=26",
    };
    format!("( filesrc location=\"{clip}\" ! decodebin ! videoconvert ! video/x-raw,format=I420 ! identity name=fault silent=true ! {enc} )")
}

/// Replaces, from `after_ns` of stream time on, every raw I420 frame reaching `identity` by black
/// or by a copy of the last frame before the fault.
fn inject_fault(identity: &gst::Element, mode: FaultMode, after_ns: u64) {
    let Some(pad) = identity.static_pad("src") else {
        return;
    };
    let frozen: std::sync::Mutex<Option<Vec<u8>>> = std::sync::Mutex::new(None);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let pts = buffer.pts().map(|t| t.nseconds()).unwrap_or(0);
        if pts < after_ns {
            if mode == FaultMode::Freeze {
                if let Ok(map) = buffer.map_readable() {
                    if let Ok(mut f) = frozen.lock() {
                        *f = Some(map.to_vec());
                    }
                }
            }
            return gst::PadProbeReturn::Ok;
        }
        // Where the chroma planes start (I420): Y is black at 16, U and V neutral at 128.
        let chroma_at = pad
            .current_caps()
            .and_then(|c| gstreamer_video::VideoInfo::from_caps(&c).ok())
            .map(|i| i.offset()[1]);
        let buf = buffer.make_mut();
        let Ok(mut map) = buf.map_writable() else {
            return gst::PadProbeReturn::Ok;
        };
        let still = frozen.lock().ok();
        match (mode, still.as_ref().and_then(|s| s.as_ref())) {
            (FaultMode::Freeze, Some(still)) if still.len() == map.len() => {
                map.copy_from_slice(still);
            }
            (FaultMode::Black, _) => {
                let y = chroma_at.unwrap_or(map.len() * 2 / 3).min(map.len());
                map[..y].fill(16);
                map[y..].fill(128);
            }
            _ => {}
        }
        gst::PadProbeReturn::Ok
    });
}

/// The launch line of a passthrough media: the clip's encoded stream, parsed and payloaded as is.
pub fn passthrough_launch(clip: &str, codec: Codec) -> Result<String, ServeError> {
    let clip = clip.replace('\\', "\\\\").replace('"', "\\\"");
    let pay = match codec {
        Codec::H264 => {
            "h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1"
        }
        Codec::H265 => {
            "h265parse config-interval=-1 ! rtph265pay name=pay0 pt=96 config-interval=-1"
        }
        Codec::Mjpeg => return Err(ServeError::Passthrough),
    };
    Ok(format!(
        "( filesrc location=\"{clip}\" ! parsebin ! {pay} )"
    ))
}

/// Serves until the process is killed.
pub fn serve(args: &ServeArgs) -> Result<(), ServeError> {
    if !args.clip.is_file() {
        return Err(ServeError::NoClip(args.clip.clone()));
    }
    gst::init().map_err(|e| ServeError::Gst(e.to_string()))?;
    let main_loop = gstreamer::glib::MainLoop::new(None, false);
    let server = rtsp::RTSPServer::new();
    server.set_address(&args.address);
    server.set_service(&args.port.to_string());
    let mounts = server
        .mount_points()
        .ok_or_else(|| ServeError::Gst("no mount points".into()))?;
    let factory = rtsp::RTSPMediaFactory::new();
    let clip = args.clip.to_string_lossy();
    let launch = if args.passthrough {
        passthrough_launch(&clip, args.codec)?
    } else {
        media_launch(&clip, args.codec)
    };
    factory.set_launch(&launch);
    factory.set_shared(false);
    if args.fault != FaultMode::None {
        let mode = args.fault;
        let after_ns = (args.fault_after.max(0.0) * 1e9) as u64;
        factory.connect_media_configure(move |_, media| {
            if let Some(identity) = media
                .element()
                .downcast::<gst::Bin>()
                .ok()
                .and_then(|bin| bin.by_name("fault"))
            {
                inject_fault(&identity, mode, after_ns);
            }
        });
    }
    mounts.add_factory(&args.mount, factory);
    let _source = server
        .attach(None)
        .map_err(|e| ServeError::Attach(format!("{}:{} ({e})", args.address, args.port)))?;
    println!(
        "RTSP server: rtsp://{}:{}{}",
        args.address,
        server.bound_port(),
        args.mount
    );
    main_loop.run();
    Ok(())
}
