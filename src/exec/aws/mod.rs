//! Native AWS steps (`secrets.*`, `ecr.*`, `aws.identity`), run through the AWS SDK against the
//! pinned account.
//!
//! Every step first re-checks the pin ([`crate::target::PinnedAccount::checked`]): other
//! credentials or another region block it before anything is sent. An action writes its progress
//! as lines (masked like any output) that say what happened, never a value; secret values it reads
//! go back to the engine as secret variables ([`crate::exec::Outcome::secrets`]). What it changed
//! is journaled ([`change`]) and put back by `secrets.revert` ([`revert`]).

pub mod call;
pub mod change;
pub mod ecr;
pub mod executor;
pub mod revert;
pub mod secrets;
pub mod step;

pub use call::{AwsCall, TYPED, work};
pub use executor::AwsExec;
pub use step::AwsStep;
