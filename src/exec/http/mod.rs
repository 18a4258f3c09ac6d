//! Native HTTP steps (`http.check`): requests sent with hyper over plain TCP or rustls, at a
//! steady interval or back to back, each answer checked (status, body), and the run of them
//! checked as a whole (error rate, 95th percentile latency).
//!
//! A step sends a live line to the views every 250 ms (`120/300 requests, errors 0.8 %, p50 12 ms,
//! p95 48 ms`; the banner shows it beside the running step) and writes one into its output every
//! second, a summary line, and its result as one line of JSON on stdout (for `expect` and
//! `capture`). It changes nothing: no change is journaled and nothing is undone. Header values
//! (which may hold secrets) are sent and never shown; every line goes through the step's mask.
//!
//! Where a host is reached: the executor's resolver first (a rehearsal's: every host is the
//! sandbox's traffic port, spoken to in plain HTTP whatever the URL's scheme), then the step's
//! `resolve`, then the system's resolver.

pub mod call;
pub mod client;
pub mod executor;
pub mod stats;
pub mod step;

pub use call::{HttpCall, work};
pub use client::Resolver;
pub use executor::{HttpExec, run_http};
pub use step::HttpStep;
