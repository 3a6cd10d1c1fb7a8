//! HTTP delivery: REST, live stream, console, metrics. (Being written.)
