//! Measurement tools built on the engine (they use every stage; no stage uses them).

pub mod capacity;
