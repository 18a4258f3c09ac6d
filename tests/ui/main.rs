//! The interface: whole screens on a test terminal (snapshots under `snapshots/`), the pods and
//! logs panes, themes, and the real binary driven inside tmux.
//!
//! One test binary for the area, a module per former test file.

#[path = "../common/mod.rs"]
mod common;

mod contrast;
mod deadline;
mod dialogs;
mod launcher;
mod logs_pane;
mod panes;
mod pods_pane;
mod rehearsal;
mod rollout_view;
mod themes;
mod tmux;
mod tmux_aws;
mod tmux_cluster;
mod tmux_demo;
mod tmux_follow;
mod tmux_four_eyes;
mod tmux_launcher;
mod tmux_record;
mod tmux_share;
mod tui;
mod tui_cluster;
