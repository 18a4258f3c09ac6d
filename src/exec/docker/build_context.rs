//! The build context as the daemon takes it: a tar of the context folder.
//!
//! `.dockerignore` is honoured for plain patterns, as the Docker CLI reads them: one pattern a
//! line, `#` comments, `*` and `?` within a path segment, `**` across segments, `[...]` classes,
//! `!` to take an earlier exclusion back (the last pattern that matches wins), a pattern that
//! matches a folder excluding what is under it. The Dockerfile and `.dockerignore` are always sent.
//! Symbolic links go in as links (not followed).

use std::path::Path;

use regex::Regex;

/// The `.dockerignore` rules of a context.
#[derive(Debug, Default)]
pub struct Ignore {
    /// `(exclude, pattern)`, in order; `exclude` is false for a `!` exception.
    rules: Vec<(bool, Regex)>,
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclude, pat) = match line.strip_prefix('!') {
                Some(p) => (false, p.trim()),
                None => (true, line),
            };
            let pat = pat.trim_start_matches('/').trim_end_matches('/');
            let pat = pat.strip_prefix("./").unwrap_or(pat);
            if pat.is_empty() {
                continue;
            }
            if let Ok(re) = Regex::new(&glob_regex(pat)) {
                rules.push((exclude, re));
            }
        }
        Ignore { rules }
    }

    /// Whether `rel` (a `/`-separated path inside the context) is left out: the last rule that
    /// matches it or one of its parent folders decides.
    pub fn excluded(&self, rel: &str) -> bool {
        let prefixes: Vec<&str> = rel
            .match_indices('/')
            .map(|(i, _)| &rel[..i])
            .chain(std::iter::once(rel))
            .collect();
        let mut out = false;
        for (exclude, re) in &self.rules {
            if prefixes.iter().any(|p| re.is_match(p)) {
                out = *exclude;
            }
        }
        out
    }

    fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|(exclude, _)| !exclude)
    }
}

/// A glob as an anchored regex.
fn glob_regex(pat: &str) -> String {
    let mut re = String::from("^");
    let chars: Vec<char> = pat.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                if chars.get(i + 2) == Some(&'/') {
                    re.push_str("(.*/)?");
                    i += 3;
                } else {
                    re.push_str(".*");
                    i += 2;
                }
                continue;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => match chars[i..].iter().position(|&c| c == ']') {
                Some(end) if end > 1 => {
                    let class: String = chars[i + 1..i + end].iter().collect();
                    let class = class.replace('\\', "\\\\");
                    match class.strip_prefix('^').or_else(|| class.strip_prefix('!')) {
                        Some(rest) => re.push_str(&format!("[^/{rest}]")),
                        None => re.push_str(&format!("[{class}]")),
                    }
                    i += end + 1;
                    continue;
                }
                _ => re.push_str("\\["),
            },
            '\\' if i + 1 < chars.len() => {
                re.push_str(&regex::escape(&chars[i + 1].to_string()));
                i += 2;
                continue;
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    re
}

/// The context folder `dir` as an uncompressed tar, `.dockerignore` applied; `dockerfile` (a
/// path inside the context) is always included.
pub fn tar_context(dir: &Path, dockerfile: &str) -> Result<Vec<u8>, String> {
    let ignore = match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(t) => Ignore::parse(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::default(),
        Err(e) => {
            return Err(format!(
                "cannot read {}: {e}",
                dir.join(".dockerignore").display()
            ));
        }
    };
    let keep = [
        dockerfile.trim_start_matches("./").to_string(),
        ".dockerignore".to_string(),
    ];
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Deterministic);
    add_dir(&mut tar, dir, "", &ignore, &keep)?;
    tar.into_inner()
        .map_err(|e| format!("cannot pack the build context: {e}"))
}

fn add_dir(
    tar: &mut tar::Builder<Vec<u8>>,
    dir: &Path,
    rel: &str,
    ignore: &Ignore,
    keep: &[String],
) -> Result<(), String> {
    let full = if rel.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(rel)
    };
    let mut entries: Vec<_> = std::fs::read_dir(&full)
        .map_err(|e| format!("cannot read {}: {e}", full.display()))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path_rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let kept = keep.iter().any(|k| k == &path_rel);
        let excluded = !kept && ignore.excluded(&path_rel);
        let ft = entry
            .file_type()
            .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
        let fail = |e: std::io::Error| format!("cannot pack {}: {e}", entry.path().display());
        if ft.is_dir() {
            // An excluded folder may still hold what a `!` exception takes back.
            if excluded && !ignore.has_exceptions() {
                continue;
            }
            if !excluded {
                tar.append_dir(&path_rel, entry.path()).map_err(fail)?;
            }
            add_dir(tar, dir, &path_rel, ignore, keep)?;
        } else if !excluded {
            tar.append_path_with_name(entry.path(), &path_rel)
                .map_err(fail)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_patterns() {
        let ig = Ignore::parse(
            "# comment\n\n*.log\n/target\nsecrets/**\n!secrets/public.pem\ndocs/?.md\n**/tmp\n",
        );
        assert!(ig.excluded("a.log"));
        assert!(!ig.excluded("sub/a.log"), "* stays in one segment");
        assert!(ig.excluded("target"));
        assert!(ig.excluded("target/debug/x"));
        assert!(ig.excluded("secrets/key.pem"));
        assert!(!ig.excluded("secrets/public.pem"));
        assert!(ig.excluded("docs/a.md"));
        assert!(!ig.excluded("docs/ab.md"));
        assert!(ig.excluded("tmp"));
        assert!(ig.excluded("x/y/tmp/z"));
        assert!(!ig.excluded("src/main.rs"));
    }

    #[test]
    fn tar_leaves_out_what_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(d.join(".dockerignore"), "*.log\nDockerfile\ncache\n").unwrap();
        std::fs::write(d.join("a.txt"), "a").unwrap();
        std::fs::write(d.join("b.log"), "b").unwrap();
        std::fs::create_dir_all(d.join("cache/deep")).unwrap();
        std::fs::write(d.join("cache/deep/x"), "x").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/c.txt"), "c").unwrap();
        let bytes = tar_context(d, "Dockerfile").unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![".dockerignore", "Dockerfile", "a.txt", "sub", "sub/c.txt"]
        );
    }
}
