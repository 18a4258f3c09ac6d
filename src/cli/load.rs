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

/// `tollgate check`: every problem of every file, as text lines or (`json`) one JSON object per
/// line; exit 0 when none, 1 when any (warnings too), 2 when a file cannot be read.
pub(super) fn check(files: &[PathBuf], json: bool) -> i32 {
    let mut code = exit::OK;
    for f in files {
        match runbook::load(f) {
            Err(e) => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "file": f.display().to_string(),
                            "line": null,
                            "column": null,
                            "severity": "error",
                            "message": e.to_string(),
                        })
                    );
                } else {
                    eprintln!("{e}");
                }
                code = exit::USAGE;
            }
            Ok(loaded) => {
                for d in &loaded.diags {
                    if json {
                        println!("{}", diag_json(d));
                    } else {
                        println!("{d}");
                    }
                }
                if !loaded.ok() && code == exit::OK {
                    code = exit::FAILED;
                }
            }
        }
    }
    code
}

/// One problem as a JSON object: where (1-based line and column), how bad, what.
fn diag_json(d: &runbook::Diag) -> serde_json::Value {
    let pos = if d.pos.line == 0 {
        runbook::Pos::new(1, 1)
    } else {
        d.pos
    };
    serde_json::json!({
        "file": d.file.display().to_string(),
        "line": pos.line,
        "column": pos.col,
        "severity": match d.severity {
            runbook::Severity::Error => "error",
            runbook::Severity::Warning => "warning",
        },
        "message": d.message,
    })
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
