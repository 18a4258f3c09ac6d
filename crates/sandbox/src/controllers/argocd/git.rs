//! An Application's source read from a git repository on local disk with the `git` CLI, as Argo CD's
//! repo-server reads a `Directory` source: the revision resolved to a commit, then the plain YAML/JSON
//! manifests under the path at that commit (recursively only with `directory.recurse`).
//!
//! Every git run is bounded in time ([`GIT_TIMEOUT`]) and output ([`MAX_OUTPUT`]); a bad repository,
//! revision or path is an error message, never a panic.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The longest a git command may run before it is killed.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes read from one git command's output.
pub const MAX_OUTPUT: usize = 16 << 20;
/// The most manifest files read from one source.
pub const MAX_FILES: usize = 1000;

/// The directory of a repository URL the sandbox serves: `file:///abs/path` or `/abs/path`.
pub fn repo_path(url: &str) -> Result<PathBuf, String> {
    let path = url.strip_prefix("file://").unwrap_or(url);
    if path.starts_with('/') && !path.contains('\0') {
        return Ok(PathBuf::from(path));
    }
    Err(format!(
        "repository \"{url}\" is not served: the sandbox serves only local git repositories (file:///abs/path or /abs/path)"
    ))
}

/// Run `git -C repo ARGS`, bounded in time and output; the error is git's first line of stderr.
fn run(repo: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut over = false;
            if let Some(mut r) = r {
                let mut buf = [0u8; 64 * 1024];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if out.len() + n > MAX_OUTPUT {
                                over = true;
                            } else {
                                out.extend_from_slice(&buf[..n]);
                            }
                        }
                    }
                }
            }
            (out, over)
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + GIT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "git {} timed out after {}s",
                    args.first().copied().unwrap_or(""),
                    GIT_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => break Err(format!("git: {e}")),
        }
    };
    let (stdout, over) = out.join().unwrap_or_default();
    let (stderr, _) = err.join().unwrap_or_default();
    let status = status?;
    if !status.success() {
        let text = String::from_utf8_lossy(&stderr);
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(if line.is_empty() {
            format!(
                "git {} failed ({status})",
                args.first().copied().unwrap_or("")
            )
        } else {
            line.trim().to_string()
        });
    }
    if over {
        return Err(format!("git output is larger than {MAX_OUTPUT} bytes"));
    }
    Ok(stdout)
}

/// The commit a revision names (`HEAD`, a branch, a tag or a sha; empty is `HEAD`), as a full sha.
pub fn resolve(repo: &Path, revision: &str) -> Result<String, String> {
    let rev = match revision.trim() {
        "" => "HEAD",
        r => r,
    };
    if rev.starts_with('-') || rev.contains(char::is_whitespace) {
        return Err(format!("unable to resolve '{rev}' to a commit SHA"));
    }
    let spec = format!("{rev}^{{commit}}");
    match run(repo, &["rev-parse", "--verify", "--quiet", &spec]) {
        Ok(out) => {
            let sha = String::from_utf8_lossy(&out).trim().to_string();
            if sha.len() >= 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(sha)
            } else {
                Err(format!("unable to resolve '{rev}' to a commit SHA"))
            }
        }
        Err(e) if e.contains("not a git repository") || e.starts_with("cannot run git") => {
            Err(format!("{}: {e}", repo.display()))
        }
        Err(e) if e.contains("cannot change to") => {
            Err(format!("repository {}: no such directory", repo.display()))
        }
        Err(_) => Err(format!("unable to resolve '{rev}' to a commit SHA")),
    }
}

/// An app path inside the repository: no leading `/` or `./`, no `..`; "" is the root.
fn clean_path(path: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => return Err(format!("app path \"{path}\" leaves the repository")),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The manifests of `path` at commit `sha`: every `.yaml`, `.yml` and `.json` file of the directory
/// (and of its subdirectories with `recurse`), in path order, `List`s flattened. A kustomization or a
/// Helm chart in the directory is an error: only plain directories are served.
pub fn manifests(repo: &Path, sha: &str, path: &str, recurse: bool) -> Result<Vec<Value>, String> {
    let dir = clean_path(path)?;
    let mut args = vec!["ls-tree", "-z"];
    if recurse {
        args.push("-r");
    }
    args.push(sha);
    let spec = format!("{dir}/");
    if !dir.is_empty() {
        args.push("--");
        args.push(&spec);
    }
    let listing = run(repo, &args)?;
    let mut files = Vec::new();
    let mut any = false;
    for entry in listing.split(|b| *b == 0) {
        let entry = String::from_utf8_lossy(entry);
        let Some((head, file)) = entry.split_once('\t') else {
            continue;
        };
        any = true;
        if head.split(' ').nth(1) != Some("blob") {
            continue;
        }
        let base = file.rsplit('/').next().unwrap_or(file);
        let top = file.rsplit_once('/').map(|(d, _)| d).unwrap_or("") == dir;
        if top
            && matches!(
                base,
                "kustomization.yaml" | "kustomization.yml" | "Kustomization"
            )
        {
            return Err(format!(
                "app path \"{path}\" is a Kustomize application: the sandbox serves only plain directories of YAML/JSON manifests"
            ));
        }
        if top && base == "Chart.yaml" {
            return Err(format!(
                "app path \"{path}\" is a Helm chart: the sandbox serves only plain directories of YAML/JSON manifests"
            ));
        }
        let lower = base.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json") {
            files.push(file.to_string());
        }
    }
    if !any {
        return Err(format!("app path does not exist: \"{path}\""));
    }
    if files.len() > MAX_FILES {
        return Err(format!(
            "app path \"{path}\" has {} manifest files, more than the {MAX_FILES} served",
            files.len()
        ));
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let blob = run(repo, &["cat-file", "blob", &format!("{sha}:{f}")])?;
        let text = String::from_utf8_lossy(&blob);
        for m in crate::fixture::parse(&text, &f)? {
            if m.get("apiVersion")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
                || m.get("kind")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                return Err(format!("{f}: Object 'Kind' is missing in a manifest"));
            }
            out.push(m);
        }
    }
    Ok(out)
}

/// The files under `dir` at commit `sha`, recursively, as repository paths in path order; an empty
/// list when `dir` does not exist there.
pub fn files_under(repo: &Path, sha: &str, dir: &str) -> Result<Vec<String>, String> {
    let dir = clean_path(dir)?;
    let spec = format!("{dir}/");
    let mut args = vec!["ls-tree", "-z", "-r", sha];
    if !dir.is_empty() {
        args.push("--");
        args.push(&spec);
    }
    let listing = run(repo, &args)?;
    let mut files: Vec<String> = listing
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (head, file) = entry.split_once('\t')?;
            (head.split(' ').nth(1) == Some("blob")).then(|| file.to_string())
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The text of one file at commit `sha`, or `None` when there is no such file.
pub fn read_file(repo: &Path, sha: &str, file: &str) -> Result<Option<String>, String> {
    let file = clean_path(file)?;
    let listing = run(repo, &["ls-tree", "-z", sha, "--", &file])?;
    let blob = listing.split(|b| *b == 0).any(|entry| {
        let entry = String::from_utf8_lossy(entry);
        entry
            .split_once('\t')
            .is_some_and(|(head, f)| f == file && head.split(' ').nth(1) == Some("blob"))
    });
    if !blob {
        return Ok(None);
    }
    let text = run(repo, &["cat-file", "blob", &format!("{sha}:{file}")])?;
    Ok(Some(String::from_utf8_lossy(&text).into_owned()))
}
