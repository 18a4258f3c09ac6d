//! The runbooks a responder can start, found under folders (`./runbooks`, or the folders of
//! `TOLLGATE_RUNBOOKS`), each with what a search matches: its name, description, owner and the
//! alerts and symptoms it declares as `triggers`. A fuzzy search (nucleo's matcher, as helix and
//! television use) finds the runbook from the alert's name.
//!
//! Imports the runbook model only; `tollgate find` prints it, the launcher will show it.

use std::cmp::Reverse;
use std::path::{Path, PathBuf};

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};

use crate::runbook;

/// The environment variable holding the folders to look in (a path list, as `PATH`).
pub const RUNBOOKS_ENV: &str = "TOLLGATE_RUNBOOKS";

/// Folders that hold what is not a runbook: decisions files, manifests, checkouts, builds.
const NOT_RUNBOOKS: &[&str] = &["rehearsals", "manifests", "parts", "node_modules", "target"];

/// One runbook as a search sees it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub path: PathBuf,
    /// Its folder under the root it was found in (`labelmint`), empty at the root itself.
    pub system: String,
    pub name: String,
    pub description: String,
    pub owner: Option<String>,
    /// `(alert|symptom, text)`, as declared.
    pub triggers: Vec<(&'static str, String)>,
    /// The first problem `check` finds, when it finds an error: such a runbook is listed, not
    /// hidden, and cannot be started.
    pub problem: Option<String>,
}

/// The folders to look in: `TOLLGATE_RUNBOOKS` (a path list) when set and not empty, else
/// `runbooks` under `cwd`.
pub fn roots(env: Option<&std::ffi::OsStr>, cwd: &Path) -> Vec<PathBuf> {
    match env {
        Some(v) if !v.is_empty() => std::env::split_paths(v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        _ => vec![cwd.join("runbooks")],
    }
}

/// Every runbook under `roots` (a YAML file with top-level `name:` and `phases:`; decisions
/// files, Kubernetes manifests and included fragments are not), by path.
///
/// The files are read and checked on every core (a folder of 200 runbooks is the launcher's
/// first frame), and listed in the order found.
pub fn discover(roots: &[PathBuf]) -> Vec<Entry> {
    let mut files = Vec::new();
    for root in roots {
        let mut found = Vec::new();
        walk(root, 0, &mut found);
        found.sort();
        files.extend(found.into_iter().map(|p| (root, p)));
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().div_ceil(8).max(1));
    if threads <= 1 {
        return files.iter().filter_map(|(r, p)| entry(r, p)).collect();
    }
    let per = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = files
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter_map(|(r, p)| entry(r, p))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            // A part whose thread panicked is read again on this thread: the panic is not lost.
            .zip(files.chunks(per))
            .flat_map(|(h, part)| {
                h.join()
                    .unwrap_or_else(|_| part.iter().filter_map(|(r, p)| entry(r, p)).collect())
            })
            .collect()
    })
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    // Deep enough for runbooks/<system>/<area>/x.yaml; a symlink loop ends here too.
    if depth > 6 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            if !NOT_RUNBOOKS.contains(&name.as_ref()) {
                walk(&path, depth + 1, out);
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(path);
        }
    }
}

/// A runbook's entry, when `path` is one.
fn entry(root: &Path, path: &Path) -> Option<Entry> {
    let text = std::fs::read_to_string(path).ok()?;
    let top = |key: &str| text.lines().any(|l| l.starts_with(key));
    if !(top("name:") && top("phases:")) {
        return None;
    }
    let system = path
        .strip_prefix(root)
        .ok()
        .and_then(|rel| rel.parent())
        .and_then(|p| p.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    let loaded = runbook::load(path).ok()?;
    let rb = &loaded.runbook;
    let mut triggers = Vec::new();
    if let Some(t) = &rb.triggers {
        triggers.extend(t.alerts.iter().map(|a| ("alert", a.value.clone())));
        triggers.extend(t.symptoms.iter().map(|s| ("symptom", s.value.clone())));
    }
    // A runbook that cannot be read whole still shows the name its file gives.
    let name = if rb.name.trim().is_empty() {
        text.lines()
            .find_map(|l| l.strip_prefix("name:"))
            .map(|n| n.trim().trim_matches(['"', '\'']).to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| {
                path.file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
    } else {
        rb.name.value.clone()
    };
    Some(Entry {
        path: path.to_path_buf(),
        system,
        name,
        description: crate::text::one_line(rb.description.trim()),
        owner: rb.owner.clone(),
        triggers,
        problem: loaded.errors().next().map(|d| d.to_string()),
    })
}

/// A runbook a search found: how well, and the field that matched best.
#[derive(Clone, Debug)]
pub struct Found<'a> {
    pub entry: &'a Entry,
    pub score: u32,
    /// e.g. `alert PaymentFailureRate > 10%`, `name LabelMint — payout failures`.
    pub why: String,
}

/// The entries `query` matches, best first: each field on its own (so an alert's name typed
/// finds the runbook that declares it, and says so), else all of them together (words found in
/// different fields). Case is ignored unless the query has capitals; an empty query matches all.
pub fn find<'a>(entries: &'a [Entry], query: &str) -> Vec<Found<'a>> {
    let pattern = Pattern::parse(query, CaseMatching::Smart, Normalization::Smart);
    let mut matcher = Matcher::new(Config::DEFAULT);
    let mut buf = Vec::new();
    let mut score = |text: &str| pattern.score(Utf32Str::new(text, &mut buf), &mut matcher);
    let mut out = Vec::new();
    for e in entries {
        let mut fields: Vec<(&str, &str)> = vec![("name", &e.name)];
        fields.extend(e.triggers.iter().map(|(k, t)| (*k, t.as_str())));
        fields.push(("description", &e.description));
        if let Some(o) = &e.owner {
            fields.push(("owner", o));
        }
        let path = e.path.to_string_lossy();
        fields.push(("path", &path));
        let best = fields
            .iter()
            .filter_map(|(k, t)| score(t).map(|s| (s, *k, *t)))
            .max_by_key(|(s, _, _)| *s);
        let found = match best {
            Some((s, k, t)) => Some((s, format!("{k} {}", crate::text::one_line(t)))),
            None => {
                let all: Vec<&str> = fields.iter().map(|(_, t)| *t).collect();
                score(&all.join(" · "))
                    .map(|s| (s, "name, description and triggers together".into()))
            }
        };
        if let Some((score, why)) = found {
            out.push(Found {
                entry: e,
                score,
                why,
            });
        }
    }
    out.sort_by_key(|f| (Reverse(f.score), f.entry.path.clone()));
    out
}
