//! Reading a runbook file: size and encoding checks, YAML, the model, includes, validation.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::de::{Problem, from_node};
use super::diag::{Diag, Severity};
use super::model::{Fragment, Phase, Runbook};
use super::yaml::{self, Budget, Kind, Pos};
use super::{literal_secrets, validate};
use crate::runbook::de::Spanned;

/// The file could not be read at all (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot read: {source}", path.display())]
pub struct Unreadable {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A runbook as read, with everything found wrong in it. Usable when [`Loaded::ok`].
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub runbook: Runbook,
    pub diags: Vec<Diag>,
    /// `sha256:HEX` of the main file's bytes: notices a runbook changed under a resumed run, and
    /// anchors the run's journal (its first line's `prev`).
    pub digest: String,
}

impl Loaded {
    pub fn ok(&self) -> bool {
        self.diags.is_empty()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diag> {
        self.diags.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The folder relative paths in the runbook are resolved from.
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

fn read_capped(path: &Path, max: usize) -> Result<Vec<u8>, Unreadable> {
    let unreadable = |source| Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.is_dir() {
        return Err(unreadable(std::io::Error::other("is a directory")));
    }
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    Ok(bytes)
}

fn problems_to_diags(file: &Path, problems: Vec<Problem>) -> Vec<Diag> {
    problems
        .into_iter()
        .map(|p| Diag::error(file, p.pos, p.message))
        .collect()
}

/// Reads a file into a YAML tree, with the secret scan's warnings.
fn read_tree(path: &Path, diags: &mut Vec<Diag>) -> Result<Option<yaml::Node>, Unreadable> {
    let budget = Budget::default();
    let bytes = read_capped(path, budget.max_bytes)?;
    if bytes.len() > budget.max_bytes {
        diags.push(Diag::error(
            path,
            Pos::new(1, 1),
            format!(
                "file is larger than {} bytes; a runbook is never that big",
                budget.max_bytes
            ),
        ));
        return Ok(None);
    }
    let text = match yaml::to_text(&bytes) {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diag::error(path, e.pos, e.message));
            return Ok(None);
        }
    };
    if let Some(pos) = manifest_stream(text) {
        diags.push(Diag::error(
            path,
            pos,
            "this is a Kubernetes manifest (a cluster fixture for `tollgate sandbox --fixture`), not a runbook",
        ));
        return Ok(None);
    }
    for f in literal_secrets::scan(text) {
        diags.push(Diag {
            file: path.to_path_buf(),
            pos: f.pos,
            severity: Severity::Warning,
            message: f.message,
        });
    }
    match yaml::parse(text, budget) {
        Ok(node) => {
            if !matches!(node.kind, Kind::Map(_)) {
                diags.push(Diag::error(
                    path,
                    node.pos,
                    format!(
                        "a runbook is a YAML mapping with `name` and `phases`; found {}",
                        node.describe()
                    ),
                ));
                return Ok(None);
            }
            Ok(Some(node))
        }
        Err(e) => {
            diags.push(Diag::error(path, e.pos, e.message));
            Ok(None)
        }
    }
}

/// Where a file that is a Kubernetes manifest stream, not a runbook, says so: it opens (after
/// comments) with a top-level `apiVersion:` or `kind:`, has both, and has no `phases:`.
fn manifest_stream(text: &str) -> Option<Pos> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| {
        let t = l.trim();
        !(t.is_empty() || t.starts_with('#') || t == "---")
    });
    let (first, line) = lines.next()?;
    if !(line.starts_with("apiVersion:") || line.starts_with("kind:")) {
        return None;
    }
    let (mut api, mut kind) = (false, false);
    for l in text.lines() {
        if l.starts_with("phases:") {
            return None;
        }
        api |= l.starts_with("apiVersion:");
        kind |= l.starts_with("kind:");
    }
    (api && kind).then_some(Pos {
        line: first as u32 + 1,
        col: 1,
    })
}

/// Loads and validates a runbook and everything it includes.
pub fn load(path: &Path) -> Result<Loaded, Unreadable> {
    let bytes = read_capped(path, Budget::default().max_bytes)?;
    let digest = format!("sha256:{}", crate::text::sha256_hex(&bytes));
    let mut diags = Vec::new();
    let mut runbook = Runbook::default();
    if let Some(node) = read_tree(path, &mut diags)? {
        match from_node::<Runbook>(&node) {
            Ok((rb, reported)) => {
                runbook = rb;
                let mut stack = vec![canonical(path)];
                runbook.phases = expand(
                    std::mem::take(&mut runbook.phases),
                    path,
                    &mut stack,
                    &mut runbook.variables,
                    &mut diags,
                )?;
                if diags.iter().all(|d| d.severity != Severity::Error) {
                    validate::validate_tree(&runbook, path, Some(&node), &mut diags);
                }
                // Problems found while reading that left a usable runbook (a step with two
                // actions): listed with the rest.
                diags.extend(problems_to_diags(path, reported));
            }
            Err(problems) => diags.extend(problems_to_diags(path, problems)),
        }
    }
    diags.sort_by(|a, b| (&a.file, a.pos, a.severity).cmp(&(&b.file, b.pos, b.severity)));
    diags.dedup();
    Ok(Loaded {
        path: path.to_path_buf(),
        runbook,
        diags,
        digest,
    })
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// Replaces `include:` entries with the phases of the named files, recursively.
fn expand(
    phases: Vec<Spanned<Phase>>,
    file: &Path,
    stack: &mut Vec<PathBuf>,
    variables: &mut indexmap::IndexMap<String, Spanned<super::model::Variable>>,
    diags: &mut Vec<Diag>,
) -> Result<Vec<Spanned<Phase>>, Unreadable> {
    let mut out = Vec::new();
    for mut phase in phases {
        phase.value.source = file.to_path_buf();
        let Some(include) = phase.include.clone() else {
            out.push(phase);
            continue;
        };
        let p = &phase.value;
        let others: Vec<String> = [
            ("id", !p.id.is_empty()),
            ("title", !p.title.is_empty()),
            ("description", !p.description.is_empty()),
            ("gate", p.gate.is_some()),
            ("checklist", !p.checklist.is_empty()),
            ("steps", !p.steps.is_empty()),
            ("validation", !p.validation.is_empty()),
            ("when", p.when.is_some()),
            ("rollback", p.rollback),
            ("allow_skip", p.allow_skip),
            ("on_failure", p.on_failure.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(key, _)| format!("`{key}`"))
        .collect();
        if !others.is_empty() {
            diags.push(Diag::error(
                file,
                phase.pos,
                format!(
                    "an `include` entry takes no other keys; found {}",
                    others.join(", ")
                ),
            ));
            continue;
        }
        let target = file
            .parent()
            .unwrap_or(Path::new("."))
            .join(include.value.as_str());
        if !target.is_file() {
            diags.push(Diag::error(
                file,
                include.pos,
                format!("included file `{}` does not exist", include.value),
            ));
            continue;
        }
        let key = canonical(&target);
        if let Some(first) = stack.iter().position(|p| *p == key) {
            let name = |p: &Path| {
                p.file_name()
                    .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
            };
            let chain: Vec<String> = stack[first..]
                .iter()
                .chain([&key])
                .map(|p| name(p))
                .collect();
            diags.push(Diag::error(
                file,
                include.pos,
                format!("include cycle: {}", chain.join(" -> ")),
            ));
            continue;
        }
        let Some(node) = read_tree(&target, diags)? else {
            continue;
        };
        let fragment = match from_node::<Fragment>(&node) {
            Ok((f, reported)) => {
                diags.extend(problems_to_diags(&target, reported));
                f
            }
            Err(problems) => {
                diags.extend(problems_to_diags(&target, problems));
                continue;
            }
        };
        for (name, var) in fragment.variables {
            if variables.contains_key(&name) {
                diags.push(Diag::error(
                    &target,
                    var.pos,
                    format!("variable `{name}` is already declared by the including runbook"),
                ));
            } else {
                variables.insert(name, var);
            }
        }
        stack.push(key);
        out.extend(expand(fragment.phases, &target, stack, variables, diags)?);
        stack.pop();
    }
    Ok(out)
}
