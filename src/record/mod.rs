//! A run's record beyond its journal: what each step printed, kept in the run's folder (masked,
//! bounded), for a resumed run, the followers and the report; the tap that keeps it, and writes
//! the event stream for `--events`.

pub mod cast;
pub mod output;
pub mod tap;
