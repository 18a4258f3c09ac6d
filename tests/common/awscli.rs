//! The `aws` CLI (PyPI `awscli` 1.x, in the venv `tests/awscli/setup.sh` makes): what runbooks'
//! shell steps call, run against the AWS stand-in.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The `aws` CLI of the venv `tests/awscli/setup.sh` makes (run once per test process), or why
/// there is none.
pub fn binary() -> Result<PathBuf, String> {
    static CLI: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CLI.get_or_init(|| {
        let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/awscli/setup.sh");
        let out = Command::new("bash")
            .arg(&setup)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", setup.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}): {}",
                setup.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let venv = match std::env::var_os("AWSCLI_VENV") {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => Path::new(&std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/tollgate/awscli-venv"),
        };
        Ok(venv.join("bin/aws"))
    })
    .clone()
}
