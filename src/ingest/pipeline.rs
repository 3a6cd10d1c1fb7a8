//! GStreamer launch descriptions, rendered from the templates in `pipelines/` (embedded in the
//! binary so it runs from anywhere).

use crate::config::{RtspTransport, Source};

const FILE_TEMPLATE: &str = include_str!("../../pipelines/file.pipeline");
const RTSP_TEMPLATE: &str = include_str!("../../pipelines/rtsp.pipeline");
const TEST_TEMPLATE: &str = include_str!("../../pipelines/test.pipeline");
const HTTP_TEMPLATE: &str = include_str!("../../pipelines/http-mjpeg.pipeline");

/// What a pipeline needs to know about its camera.
#[derive(Debug, Clone)]
pub struct PipelineParams {
    pub source: Source,
    pub rtsp_transport: RtspTransport,
    /// RTSP only: jitter buffer in milliseconds.
    pub rtsp_latency_ms: u32,
    /// Frames per second handed on to detection; 0 = every decoded frame.
    pub detect_fps: f32,
    /// Output size (the detector's input).
    pub width: u32,
    pub height: u32,
    /// Play a file at its own frame rate (true) or as fast as possible (false).
    pub realtime: bool,
}

impl PipelineParams {
    /// `true` when frames are pulled with back-pressure (a file read as fast as possible) rather
    /// than pushed from the streaming thread into a drop-oldest queue.
    pub fn pull_mode(&self) -> bool {
        matches!(self.source, Source::File { .. }) && !self.realtime
    }
}

/// Quotes a value for gst-launch syntax.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Splits `scheme://user:password@host/…` into the URL without credentials and the
/// (percent-decoded) user and password.
pub fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let Some(scheme_end) = url.find("://") else {
        return (url.to_string(), None);
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return (url.to_string(), None);
    };
    let userinfo = &authority[..at];
    let (user, pw) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let clean = format!(
        "{}://{}{}",
        &url[..scheme_end],
        &authority[at + 1..],
        &rest[authority_end..]
    );
    (clean, Some((percent_decode(user), percent_decode(pw))))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Strips comments and joins the template's lines.
fn template_body(t: &str) -> String {
    t.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A second branch that keeps full-resolution frames for evidence (appsink `full`, I420).
#[derive(Debug, Clone, PartialEq)]
pub enum FullBranch {
    /// Split the detection source after the rate filter: the full frame of every analysed frame.
    Tee,
    /// The camera's main stream, decoded next to the detection sub-stream in the same pipeline
    /// (same clock), at twice the detection rate so a frame close in time is always there.
    MainSource(Source),
    /// The camera's main stream, parsed but never decoded (`parsebin name=main_parse ! fakesink
    /// name=main_sink`): its compressed buffers are tapped into the camera's ring, and a
    /// snapshot decodes only the group of pictures it needs, per alert.
    MainCompressed(Source),
}

/// The full branch's tail: keeps the decoder's format when it is already I420 (no conversion).
/// A file played in real time is paced by its synchronised appsink, like the detection branch
/// (a leaky queue there would drop most frames: the decoder runs ahead of the clock); otherwise
/// the branch never blocks the detection branch (leaky queue, dropping appsink).
fn full_tail(p: &PipelineParams) -> String {
    let sync = matches!(p.source, Source::File { .. }) && p.realtime;
    let leaky = if sync { "" } else { " leaky=downstream" };
    format!(
        "queue max-size-buffers=2 max-size-bytes=0 max-size-time=0{leaky} \
         ! videoconvert ! video/x-raw,format=I420 \
         ! appsink name=full sync={sync} max-buffers=1 drop=true emit-signals=false"
    )
}

/// The detection description, plus the full-resolution branch when asked.
pub fn launch_description_with(p: &PipelineParams, full: Option<&FullBranch>) -> String {
    let detect = launch_description(p);
    match full {
        None => detect,
        Some(FullBranch::Tee) => {
            let rate = rate_element(p.detect_fps);
            // A queue per tee branch, or the first appsink's preroll would block the second.
            let split = format!(
                "{rate} ! tee name=evidence ! queue max-size-buffers=1 max-size-bytes=0 max-size-time=0"
            );
            format!(
                "{} evidence. ! {}",
                detect.replacen(&rate, &split, 1),
                full_tail(p)
            )
        }
        Some(FullBranch::MainCompressed(main)) => {
            let mp = PipelineParams {
                source: main.clone(),
                ..p.clone()
            };
            let body = source_body(&mp);
            let head = body.split("{rate}").next().unwrap_or_default();
            // Paced by the clock for a file played in real time, like the detection branch.
            let sync = matches!(main, Source::File { .. }) && p.realtime;
            format!(
                "{detect} {}fakesink name=main_sink sync={sync} async=false",
                head.replace("decodebin name=dec", "parsebin name=main_parse")
            )
        }
        Some(FullBranch::MainSource(main)) => {
            let mp = PipelineParams {
                source: main.clone(),
                ..p.clone()
            };
            let body = source_body(&mp);
            let head = body.split("{rate}").next().unwrap_or_default();
            let rate = if p.detect_fps > 0.0 {
                format!(
                    "videorate name=main_rate drop-only=true max-rate={}",
                    (2.0 * p.detect_fps).ceil().max(1.0) as u32
                )
            } else {
                "identity name=main_rate silent=true".to_string()
            };
            format!(
                "{detect} {}{rate} ! {}",
                head.replace("name=dec", "name=main_dec"),
                full_tail(&mp)
            )
        }
    }
}

/// The rate filter in front of detection.
fn rate_element(detect_fps: f32) -> String {
    if detect_fps > 0.0 {
        // videorate's max-rate is an integer: round up so the configured rate is reached.
        format!(
            "videorate name=rate drop-only=true max-rate={}",
            detect_fps.ceil().max(1.0) as u32
        )
    } else {
        "identity name=rate silent=true".to_string()
    }
}

/// Renders the launch description for one camera.
pub fn launch_description(p: &PipelineParams) -> String {
    let rate = rate_element(p.detect_fps);
    let appsink = if p.pull_mode() {
        // Back-pressure: the decoder waits for the detector, nothing is dropped.
        "sync=false max-buffers=2 drop=false emit-signals=false"
    } else if matches!(p.source, Source::File { .. }) {
        // A file played as if it were a camera: at its own rate.
        "sync=true max-buffers=2 drop=true emit-signals=false"
    } else {
        "sync=false max-buffers=2 drop=true emit-signals=false"
    };
    source_body(p)
        .replace("{rate}", &rate)
        .replace("{width}", &p.width.to_string())
        .replace("{height}", &p.height.to_string())
        .replace("{appsink}", appsink)
}

/// The template of the source with its own placeholders filled (`{rate}` and the detection
/// tail's placeholders left).
fn source_body(p: &PipelineParams) -> String {
    let (template, fills): (&str, Vec<(&str, String)>) = match &p.source {
        Source::File { path } => (
            FILE_TEMPLATE,
            vec![("{location}", quote(&path.to_string_lossy()))],
        ),
        Source::Rtsp { url } => (
            RTSP_TEMPLATE,
            vec![
                ("{location}", quote(url)),
                ("{protocols}", p.rtsp_transport.as_gst().to_string()),
                ("{latency_ms}", p.rtsp_latency_ms.to_string()),
            ],
        ),
        Source::Http { url } => {
            let (location, user) = split_credentials(url);
            let credentials = match user {
                Some((u, pw)) => format!("user-id=\"{}\" user-pw=\"{}\"", quote(&u), quote(&pw)),
                None => String::new(),
            };
            (
                HTTP_TEMPLATE,
                vec![
                    ("{location}", quote(&location)),
                    ("{credentials}", credentials),
                ],
            )
        }
        Source::Test { pattern } => (TEST_TEMPLATE, vec![("{pattern}", pattern.clone())]),
    };
    let mut out = template_body(template);
    for (k, v) in fills {
        out = out.replace(k, &v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gstreamer::prelude::*;
    use std::path::PathBuf;

    fn params(source: Source) -> PipelineParams {
        PipelineParams {
            source,
            rtsp_transport: RtspTransport::Tcp,
            rtsp_latency_ms: 200,
            detect_fps: 5.0,
            width: 416,
            height: 416,
            realtime: true,
        }
    }

    #[test]
    fn templates_render_without_placeholders() {
        for src in [
            Source::File {
                path: PathBuf::from("/data/a \"b\".avi"),
            },
            Source::Rtsp {
                url: "rtsp://127.0.0.1:8554/cam".into(),
            },
            Source::Test {
                pattern: "ball".into(),
            },
            Source::Http {
                url: "http://127.0.0.1:8080/video.mjpg".into(),
            },
        ] {
            let d = launch_description(&params(src));
            assert!(!d.contains('{'), "{d}");
            assert!(!d.contains('#'), "{d}");
            // Scale before colour conversion.
            let scale = d.find("videoscale").unwrap();
            let convert = d.find("videoconvert").unwrap();
            assert!(scale < convert, "{d}");
            assert!(d.contains("width=416,height=416"), "{d}");
            assert!(d.contains("max-rate=5"), "{d}");
        }
    }

    #[test]
    fn quotes_are_escaped_and_transport_is_set() {
        let d = launch_description(&params(Source::File {
            path: PathBuf::from("/data/a \"b\".avi"),
        }));
        assert!(d.contains(r#"location="/data/a \"b\".avi""#), "{d}");
        let mut p = params(Source::Rtsp {
            url: "rtsp://h/x".into(),
        });
        p.rtsp_transport = RtspTransport::Udp;
        p.detect_fps = 0.0;
        let d = launch_description(&p);
        assert!(d.contains("protocols=udp"), "{d}");
        assert!(d.contains("identity name=rate"), "{d}");
        assert!(d.contains("latency=200"), "{d}");
    }

    #[test]
    fn http_credentials_become_properties() {
        let d = launch_description(&params(Source::Http {
            url: "http://admin:s3%40cret@10.0.0.9:8080/video.mjpg".into(),
        }));
        assert!(
            d.contains(r#"location="http://10.0.0.9:8080/video.mjpg""#),
            "{d}"
        );
        assert!(d.contains(r#"user-id="admin" user-pw="s3@cret""#), "{d}");
        assert!(d.contains("multipartdemux"), "{d}");
        let (clean, creds) = split_credentials("http://10.0.0.9/x");
        assert_eq!(clean, "http://10.0.0.9/x");
        assert!(creds.is_none());
    }

    #[test]
    fn every_template_parses_in_gstreamer() {
        gstreamer::init().unwrap();
        for src in [
            Source::Rtsp {
                url: "rtsp://127.0.0.1:1/none".into(),
            },
            Source::Test {
                pattern: "ball".into(),
            },
            Source::File {
                path: PathBuf::from("/nonexistent.avi"),
            },
            Source::Http {
                url: "http://u:p%40ss@127.0.0.1:1/video.mjpg".into(),
            },
        ] {
            let d = launch_description(&params(src.clone()));
            gstreamer::parse::launch(&d).unwrap_or_else(|e| panic!("{d}: {e}"));
            let main = Source::File {
                path: PathBuf::from("/main.mp4"),
            };
            for full in [FullBranch::Tee, FullBranch::MainSource(main.clone())] {
                let d = launch_description_with(&params(src.clone()), Some(&full));
                assert!(!d.contains('{'), "{d}");
                let p = gstreamer::parse::launch(&d).unwrap_or_else(|e| panic!("{d}: {e}"));
                let bin = p.downcast::<gstreamer::Bin>().unwrap();
                assert!(bin.by_name("full").is_some() && bin.by_name("sink").is_some());
            }
            let compressed = FullBranch::MainCompressed(main);
            let d = launch_description_with(&params(src.clone()), Some(&compressed));
            let p = gstreamer::parse::launch(&d).unwrap_or_else(|e| panic!("{d}: {e}"));
            let bin = p.downcast::<gstreamer::Bin>().unwrap();
            assert!(bin.by_name("main_sink").is_some() && bin.by_name("sink").is_some());
        }
    }

    /// With a sub-stream, the main stream is parsed for the compressed ring, never decoded: no
    /// decoder and no full-resolution branch in the pipeline for it.
    #[test]
    fn the_main_stream_of_a_sub_stream_camera_is_not_decoded() {
        let mut p = params(Source::Rtsp {
            url: "rtsp://10.0.0.5/sub".into(),
        });
        p.realtime = true;
        for main in [
            Source::Rtsp {
                url: "rtsp://10.0.0.5/main".into(),
            },
            Source::File {
                path: PathBuf::from("/main.mp4"),
            },
        ] {
            let d = launch_description_with(&p, Some(&FullBranch::MainCompressed(main)));
            // One decoder: the sub-stream's.
            assert_eq!(d.matches("decodebin").count(), 1, "{d}");
            assert!(d.contains("parsebin name=main_parse"), "{d}");
            assert!(!d.contains("main_dec") && !d.contains("name=full"), "{d}");
            assert!(d.contains("fakesink name=main_sink"), "{d}");
        }
    }
}
