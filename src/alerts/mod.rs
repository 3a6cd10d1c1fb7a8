//! Alert journal and bus. (Being written.)
