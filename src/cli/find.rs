//! `find`: the runbooks a responder can start that match what they know, best first.

use super::exit;
use crate::catalog;

/// `tollgate find`: the runbooks under the folders that match, best first, one line each.
pub(super) fn find(query: &str, dirs: Vec<std::path::PathBuf>) -> i32 {
    let cwd = std::env::current_dir().unwrap_or_default();
    let roots = if dirs.is_empty() {
        catalog::roots(std::env::var_os(catalog::RUNBOOKS_ENV).as_deref(), &cwd)
    } else {
        dirs
    };
    let missing: Vec<String> = roots
        .iter()
        .filter(|r| !r.is_dir())
        .map(|r| r.display().to_string())
        .collect();
    if missing.len() == roots.len() {
        eprintln!(
            "tollgate: no folder of runbooks: {} (give --dir DIR, or set {})",
            missing.join(", "),
            catalog::RUNBOOKS_ENV
        );
        return exit::USAGE;
    }
    let entries = catalog::discover(&roots);
    let found = catalog::find(&entries, query);
    if found.is_empty() {
        eprintln!(
            "tollgate: no runbook matches `{query}` ({} runbooks under {})",
            entries.len(),
            roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return exit::FAILED;
    }
    for f in found {
        let e = f.entry;
        let broken = e
            .problem
            .as_ref()
            .map(|p| format!("  [cannot start: {p}]"))
            .unwrap_or_default();
        let path = e.path.strip_prefix(&cwd).unwrap_or(&e.path);
        println!("{}  {}  ({}){broken}", path.display(), e.name, f.why);
    }
    exit::OK
}
