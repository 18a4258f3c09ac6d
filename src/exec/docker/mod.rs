//! Native Docker steps (`docker.*`), run through bollard against the daemon `DOCKER_HOST` names
//! (the default socket when unset), at the API version both sides speak.
//!
//! As with `kube.*` steps, an action writes its progress as lines (masked like any output), leaves
//! text in stdout for `expect` and `capture` (`image=sha256:…` after a build or a tag,
//! `digest=sha256:…` after a push), and returns what it changed, as JSON values for the journal
//! (`{"change":"built"|"tagged"|"pushed", …}`).

pub mod build_context;
pub mod call;
pub mod daemon;
pub mod executor;
mod image;
pub mod login;
pub mod step;

pub use call::{DockerCall, work};
pub use daemon::{connect, connect_to, describe_error};
pub use executor::{DockerExec, run_docker};
pub use step::{ActionResult, DockerStep};
