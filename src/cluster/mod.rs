//! The cluster side of a run, with no UI: which cluster (pinned), and the watches that feed the
//! pods and logs panes.

pub mod logs;
pub mod pods;
pub mod target;
