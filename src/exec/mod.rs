//! What a step does, one folder per family behind one trait ([`Executor`]): `shell` runs
//! commands, `kube` acts on the pinned cluster, `aws` on the pinned account, `docker` on the
//! daemon, `http` sends requests and checks their answers. A job is what every step has plus
//! the family's work ([`Job`]); the [`Router`] sends it to its family; every family shares
//! [`step`]'s outcome, output sink, context core and race against the deadline and the abort.
//!
//! Adding a family: its folder here (its work, made from its action by `work()`, and an
//! executor), one variant in [`Work`] and one arm in [`Router`] (see ARCHITECTURE.md).

pub mod aws;
pub mod docker;
pub mod environment;
pub mod http;
pub mod job;
pub mod kube;
pub mod procs;
pub mod router;
pub mod shell;
pub mod step;
pub mod values;

pub use aws::{AwsCall, TYPED};
pub use docker::DockerCall;
pub use environment::Environment;
pub use http::HttpCall;
pub use job::{Executor, Job, JobCommon, Work};
pub use kube::KubeCall;
pub use router::Router;
pub use shell::ShellCall;
pub use step::{BoxFuture, Kept, LastLines, Lines, Outcome, OutputSink, StepIo, Stop, until_stop};
pub use values::{Journaled, RunValues};
