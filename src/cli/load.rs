//! Runbooks loaded for a command: `check` prints every problem; `plan`, `run` and `resume`
//! refuse a runbook with errors.

use std::path::{Path, PathBuf};

use super::exit;
use crate::runbook::{self, Loaded};

fn print_diags(loaded: &Loaded) {
    for d in &loaded.diags {
        eprintln!("{d}");
    }
}

pub(super) fn check(files: &[PathBuf]) -> i32 {
    let mut code = exit::OK;
    for f in files {
        match runbook::load(f) {
            Err(e) => {
                eprintln!("{e}");
                code = exit::USAGE;
            }
            Ok(loaded) => {
                for d in &loaded.diags {
                    println!("{d}");
                }
                if !loaded.ok() && code == exit::OK {
                    code = exit::FAILED;
                }
            }
        }
    }
    code
}

/// Loads a runbook for plan/run; prints what is wrong and returns the exit code if unusable.
pub(super) fn load_usable(file: &Path) -> Result<Loaded, i32> {
    let loaded = runbook::load(file).map_err(|e| {
        eprintln!("{e}");
        exit::USAGE
    })?;
    print_diags(&loaded);
    if loaded.errors().next().is_some() {
        eprintln!("tollgate: {} has errors; nothing was run", file.display());
        return Err(exit::USAGE);
    }
    Ok(loaded)
}

/// A variable's value from the environment.
pub(super) fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
