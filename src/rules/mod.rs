//! Rules that turn tracks into events. (Being written.)
