//! The Python venvs the tests take their tools from (moto, kmock, kubectl, the aws CLI): each
//! made by its `tests/NAME/setup.sh` (idempotent: a stamp file makes a second run a no-op), at
//! `$VAR` or `~/.cache/tollgate/NAME-venv`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs `tests/NAME/setup.sh`; why it failed, when it did.
pub fn setup(name: &str) -> Result<(), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/{name}/setup.sh"));
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}):\n{}{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The venv of `tests/NAME/setup.sh`: `$var` when set, else `~/.cache/tollgate/NAME-venv`.
pub fn dir(name: &str, var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => {
            let home = std::env::var_os("HOME").expect("HOME is not set");
            Path::new(&home).join(format!(".cache/tollgate/{name}-venv"))
        }
    }
}
