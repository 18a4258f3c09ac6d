//! Shell steps: a script run by an interpreter in its own process group, output streamed in
//! chunks of whole lines, the whole group killed on timeout, abort, or when the step ends.

pub mod call;
pub mod executor;
mod hold;
mod readbuf;

pub use call::{ShellCall, work};
pub use executor::Shell;

/// What runs a script when the step names no `interpreter`.
pub const DEFAULT_INTERPRETER: &[&str] = &["sh", "-e", "-c"];
