//! The scheduler (see `schedule` for the time arithmetic).

pub mod schedule;
