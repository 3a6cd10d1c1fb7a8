//! Vigie: real-time video analytics for city video-supervision centres.
//!
//! Data flows one way: `ingest → frames → detect → track → rules → alerts → delivery`.
//! Each stage is a module with a small public face; a stage knows the ones before it, never the
//! ones after. `config` (with `check`) and `metrics` are read by every stage; `engine` wires the stages
//! together, `app` the parts of `vigie run` no stage may know (hot reload).
//!
//! The engine never acts on its own: it signals, a human operator decides.

pub mod alerts;
pub mod app;
pub mod auth;
pub mod bench;
pub mod bench_ingest;
pub mod bench_pose;
pub mod check;
pub mod clips;
pub mod config;
pub mod delivery;
pub mod detect;
pub mod engine;
pub mod eval;
pub mod evidence;
pub mod forecast;
pub mod frames;
pub mod governance;
pub mod health;
pub mod ingest;
pub mod metrics;
pub mod rtsp_server;
pub mod rules;
pub mod scene;
#[doc(hidden)]
pub mod testing;
pub mod tools;
pub mod track;
