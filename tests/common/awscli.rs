//! The `aws` CLI (PyPI `awscli` 1.x, in the venv `tests/awscli/setup.sh` makes): what runbooks'
//! shell steps call, run against the AWS stand-in.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The `aws` CLI of the venv `tests/awscli/setup.sh` makes (run once per test process), or why
/// there is none.
pub fn binary() -> Result<PathBuf, String> {
    static CLI: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CLI.get_or_init(|| {
        super::venv::setup("awscli")?;
        Ok(super::venv::dir("awscli", "AWSCLI_VENV").join("bin/aws"))
    })
    .clone()
}
