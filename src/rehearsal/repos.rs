//! The git repositories a rehearsal serves (`rehearsal.repos`): each made, before anything runs,
//! as a bare repository in the rehearsal's folder whose branch holds one commit per folder the
//! runbook lists. The sandbox's Argo CD reads an Application whose `repoURL` is the repository's
//! URL from it, and the shell steps' `git` reaches it by that URL ([`git_environment`]), so a
//! runbook that clones, commits and pushes runs unchanged. No other git remote is reachable.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A repository to serve, from the runbook (folders resolved against the runbook's).
#[derive(Clone, Debug, PartialEq)]
pub struct Repo {
    pub url: String,
    pub branch: String,
    pub commits: Vec<PathBuf>,
}

/// The author and committer of a rehearsal's commits, in the history made here and in the
/// shell steps' (which have no operator's identity in a rehearsal).
pub const AUTHOR: (&str, &str) = ("tollgate rehearsal", "rehearsal@tollgate.invalid");

/// The date of the history's first commit; each next one is a minute later, so the same folders
/// always make the same commits (and the same shas).
const EPOCH: i64 = 1_748_736_000; // 2025-06-01T00:00:00Z

/// The repositories the runbook's `rehearsal.repos` lists, their folders relative to `dir`.
pub fn of(rb: &crate::runbook::Runbook, dir: &Path) -> Vec<Repo> {
    rb.rehearsal
        .iter()
        .flat_map(|r| r.repos.iter())
        .map(|r| Repo {
            url: r.url.trim().to_string(),
            branch: r.branch().to_string(),
            commits: r.commits.iter().map(|c| dir.join(c.as_str())).collect(),
        })
        .collect()
}

/// Makes each repository under `dir` (`git/N.git`), and returns (URL, bare repository) pairs.
pub fn make(dir: &Path, repos: &[Repo]) -> Result<Vec<(String, PathBuf)>, String> {
    let root = dir.join("git");
    let mut out = Vec::new();
    for (i, repo) in repos.iter().enumerate() {
        let bare = root.join(format!("{i}.git"));
        let work = root.join(format!("{i}.work"));
        make_one(repo, &bare, &work).map_err(|e| format!("repository {}: {e}", repo.url))?;
        let _ = std::fs::remove_dir_all(&work);
        out.push((repo.url.clone(), bare));
    }
    Ok(out)
}

fn make_one(repo: &Repo, bare: &Path, work: &Path) -> Result<(), String> {
    std::fs::create_dir_all(work).map_err(|e| format!("cannot make {}: {e}", work.display()))?;
    git(
        None,
        &["init", "-q", "--bare", "-b", &repo.branch, &path(bare)],
        0,
    )?;
    git(None, &["init", "-q", "-b", &repo.branch, &path(work)], 0)?;
    for (n, folder) in repo.commits.iter().enumerate() {
        clear(work)?;
        copy_tree(folder, work)?;
        git(Some(work), &["add", "-A"], 0)?;
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("commit {}", n + 1));
        git(
            Some(work),
            &["commit", "-q", "--allow-empty", "--no-verify", "-m", &name],
            EPOCH + 60 * n as i64,
        )?;
    }
    git(Some(work), &["push", "-q", &path(bare), &repo.branch], 0)?;
    Ok(())
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// Runs git with nothing of the machine's configuration (no hooks, signing or templates of the
/// operator's), the rehearsal's identity, and `date` (seconds since the epoch) when not 0.
fn git(dir: Option<&Path>, args: &[&str], date: i64) -> Result<(), String> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", AUTHOR.0)
        .env("GIT_AUTHOR_EMAIL", AUTHOR.1)
        .env("GIT_COMMITTER_NAME", AUTHOR.0)
        .env("GIT_COMMITTER_EMAIL", AUTHOR.1)
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    if date != 0 {
        let d = format!("@{date} +0000");
        cmd.env("GIT_AUTHOR_DATE", &d).env("GIT_COMMITTER_DATE", &d);
    }
    let out = cmd.output().map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "git {} failed: {}",
        args.first().copied().unwrap_or_default(),
        err.lines().next().unwrap_or("no message")
    ))
}

/// Removes everything in the work tree but `.git`.
fn clear(work: &Path) -> Result<(), String> {
    let entries =
        std::fs::read_dir(work).map_err(|e| format!("cannot read {}: {e}", work.display()))?;
    for e in entries.flatten() {
        if e.file_name() == ".git" {
            continue;
        }
        let p = e.path();
        let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
    }
    Ok(())
}

/// Copies the folder's files (modes kept, symbolic links refused, `.git` left out) into `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(from)
        .map_err(|e| format!("cannot read the commit folder {}: {e}", from.display()))?;
    for e in entries.flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e
            .file_type()
            .map_err(|e| format!("cannot read {}: {e}", src.display()))?;
        if e.file_name() == ".git" {
            continue;
        } else if t.is_symlink() {
            return Err(format!(
                "{} is a symbolic link: a commit folder holds plain files",
                src.display()
            ));
        } else if t.is_dir() {
            std::fs::create_dir_all(&dst)
                .map_err(|e| format!("cannot make {}: {e}", dst.display()))?;
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| format!("cannot copy {}: {e}", src.display()))?;
        }
    }
    Ok(())
}

/// The shell steps' git in a rehearsal: each served URL rewritten to its bare repository
/// (`url.<repo>.insteadOf`, as `GIT_CONFIG_*` variables), only local repositories reachable
/// (`GIT_ALLOW_PROTOCOL=file`: any other remote is refused), and the rehearsal's identity.
pub fn git_environment(served: &[(String, PathBuf)]) -> Vec<(String, String)> {
    let mut set = vec![
        ("GIT_ALLOW_PROTOCOL".to_string(), "file".to_string()),
        ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ("GIT_AUTHOR_NAME".into(), AUTHOR.0.into()),
        ("GIT_AUTHOR_EMAIL".into(), AUTHOR.1.into()),
        ("GIT_COMMITTER_NAME".into(), AUTHOR.0.into()),
        ("GIT_COMMITTER_EMAIL".into(), AUTHOR.1.into()),
        ("GIT_CONFIG_COUNT".into(), served.len().to_string()),
    ];
    for (i, (url, bare)) in served.iter().enumerate() {
        set.push((
            format!("GIT_CONFIG_KEY_{i}"),
            format!("url.file://{}.insteadOf", bare.display()),
        ));
        set.push((format!("GIT_CONFIG_VALUE_{i}"), url.clone()));
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git_out(dir: &Path, args: &[&str], env: &[(String, String)]) -> (bool, String) {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("git runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tollgate-repos-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn folders_become_commits_on_the_branch_and_git_reaches_them_by_the_remote_url() {
        let d = tmp("history");
        for (folder, tag) in [("v1.8.2", "v1.8.2"), ("v1.9.0", "v1.9.0")] {
            let c = d.join("src").join(folder).join("charts");
            std::fs::create_dir_all(&c).unwrap();
            std::fs::write(c.join("values.yaml"), format!("tag: {tag}\n")).unwrap();
        }
        let url = "https://github.com/example/deploy.git";
        let repo = Repo {
            url: url.into(),
            branch: "main".into(),
            commits: vec![d.join("src/v1.8.2"), d.join("src/v1.9.0")],
        };
        let served = make(&d.join("rehearsal"), std::slice::from_ref(&repo)).unwrap();
        assert_eq!(served[0].0, url);
        let env = git_environment(&served);
        let (ok, log) = git_out(&served[0].1, &["log", "--format=%s", "main"], &env);
        assert!(ok, "{log}");
        assert_eq!(log, "v1.9.0\nv1.8.2\n");
        // The same folders make the same commits.
        let again = make(&d.join("again"), &[repo]).unwrap();
        let sha = |p: &Path| git_out(p, &["rev-parse", "main"], &env).1;
        assert_eq!(sha(&served[0].1), sha(&again[0].1));
        // A clone by the remote's URL, a commit and a push land in the served repository.
        let (ok, out) = git_out(&d, &["clone", "-q", url, "checkout"], &env);
        assert!(ok, "{out}");
        let co = d.join("checkout");
        assert_eq!(
            std::fs::read_to_string(co.join("charts/values.yaml")).unwrap(),
            "tag: v1.9.0\n"
        );
        let (ok, out) = git_out(&co, &["revert", "--no-edit", "HEAD"], &env);
        assert!(ok, "{out}");
        let (ok, out) = git_out(&co, &["push", "-q", "origin", "HEAD:main"], &env);
        assert!(ok, "{out}");
        let (_, shown) = git_out(&served[0].1, &["show", "main:charts/values.yaml"], &env);
        assert_eq!(shown, "tag: v1.8.2\n");
        // Any other remote is refused before anything is sent.
        let (ok, out) = git_out(
            &d,
            &["ls-remote", "https://github.com/example/other.git"],
            &env,
        );
        assert!(!ok);
        assert!(out.contains("transport 'https' not allowed"), "{out}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_folder_is_one_line_naming_the_repository() {
        let d = tmp("missing");
        let e = make(
            &d.join("rehearsal"),
            &[Repo {
                url: "https://example.invalid/x.git".into(),
                branch: "main".into(),
                commits: vec![d.join("nowhere")],
            }],
        )
        .unwrap_err();
        assert!(
            e.starts_with(
                "repository https://example.invalid/x.git: cannot read the commit folder"
            ),
            "{e}"
        );
        assert!(!e.contains('\n'));
        let _ = std::fs::remove_dir_all(&d);
    }
}
