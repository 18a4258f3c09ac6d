//! `init [DIR]`: a starter runbook a newcomer can edit, with the two decisions files that
//! rehearse it (its happy path and its way back), all local: nothing it runs leaves DIR. Nothing
//! that exists is overwritten: every file is checked first, and a new DIR is written in a
//! folder next to it and renamed into place, so a refusal or a failure leaves nothing behind.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::exit;
use crate::runbook;

/// Where `init` writes without a DIR: next to the seeds' `runbooks/<system>/`.
pub const DEFAULT_DIR: &str = "runbooks/example";

const RUNBOOK: &str = include_str!("init/runbook.yaml");
const HAPPY: &str = include_str!("init/happy.yaml");
const ROLLBACK: &str = include_str!("init/rollback.yaml");

/// The runbook's file name in DIR.
const RUNBOOK_FILE: &str = "runbook.yaml";
/// The schema's file name when DIR has no project schema above it.
const SCHEMA_FILE: &str = "runbook.schema.json";
/// Where a project keeps the schema, relative to its root (`tollgate schema` writes it).
const PROJECT_SCHEMA: &str = "schema/runbook.schema.json";

pub(super) fn init(dir: Option<PathBuf>) -> i32 {
    let dir = dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    match write(&dir) {
        Ok(written) => {
            for f in &written {
                println!("wrote {}", f.display());
            }
            let runbook = quote(&dir.join(RUNBOOK_FILE));
            let happy = quote(&dir.join("rehearsals").join("happy.yaml"));
            println!("next:");
            println!("  tollgate check {runbook}");
            println!("  tollgate plan {runbook}");
            println!("  tollgate rehearse {runbook} --decisions {happy}");
            exit::OK
        }
        Err(e) => {
            eprintln!("tollgate: init: {e}");
            exit::USAGE
        }
    }
}

/// The files of a starter runbook in DIR, relative to it: the runbook, the schema when DIR has
/// no project schema above it, and the decisions files.
fn files(dir: &Path) -> Vec<(PathBuf, String)> {
    let (schema_ref, schema) = match project_schema(dir) {
        Some(rel) => (rel, None),
        None => (
            SCHEMA_FILE.to_string(),
            Some(serde_json::to_string_pretty(&runbook::schema()).unwrap_or_default() + "\n"),
        ),
    };
    let mut files = vec![(
        PathBuf::from(RUNBOOK_FILE),
        format!("# yaml-language-server: $schema={schema_ref}\n{RUNBOOK}"),
    )];
    if let Some(schema) = schema {
        files.push((PathBuf::from(SCHEMA_FILE), schema));
    }
    let rehearsals = Path::new("rehearsals");
    files.push((rehearsals.join("happy.yaml"), HAPPY.to_string()));
    files.push((rehearsals.join("rollback.yaml"), ROLLBACK.to_string()));
    files
}

/// The project schema in a folder above DIR (`schema/runbook.schema.json`, as in this
/// repository), as the path from DIR to it: `../../schema/runbook.schema.json`.
fn project_schema(dir: &Path) -> Option<String> {
    let abs = lexical(&std::path::absolute(dir).ok()?);
    abs.ancestors()
        .skip(1)
        .enumerate()
        .find(|(_, a)| a.join(PROJECT_SCHEMA).is_file())
        .map(|(up, _)| format!("{}{PROJECT_SCHEMA}", "../".repeat(up + 1)))
}

/// `a/b/../c` as `a/c`, without asking the file system (DIR need not exist yet).
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes the files; the paths written, or one line saying why nothing was.
fn write(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let shown = dir.display().to_string();
    if shown.chars().any(char::is_control) {
        return Err("the folder's name holds a control character; nothing written".into());
    }
    let files = files(dir);
    // A link to a folder is that folder; anything else that is there is not one.
    match (fs::symlink_metadata(dir).is_ok(), dir.is_dir()) {
        (true, false) => {
            return Err(format!(
                "{shown} exists and is not a folder; nothing written"
            ));
        }
        (true, true) => {
            for (rel, _) in &files {
                let path = dir.join(rel);
                if fs::symlink_metadata(&path).is_ok() {
                    return Err(format!("{} exists; nothing written", path.display()));
                }
            }
            into_existing(dir, &files)?;
        }
        (false, _) => into_new(dir, &files)?,
    }
    Ok(files.iter().map(|(rel, _)| dir.join(rel)).collect())
}

/// DIR does not exist: everything is written in a folder next to it, then renamed to DIR.
fn into_new(dir: &Path, files: &[(PathBuf, String)]) -> Result<(), String> {
    let Some(name) = dir.file_name() else {
        // `a/..` and the like: no sibling to write next to; the files are written one by one.
        fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}; nothing written", dir.display()))?;
        return into_existing(dir, files);
    };
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}; nothing written", parent.display()))?;
    let tmp = parent.join(format!(
        ".{}.tollgate-init-{}-{:08x}",
        name.to_string_lossy(),
        std::process::id(),
        fastrand::u32(..)
    ));
    let written = fs::create_dir(&tmp)
        .map_err(|e| format!("cannot create {}: {e}; nothing written", tmp.display()))
        .and_then(|()| {
            for (rel, text) in files {
                create_new(&tmp.join(rel), text)?;
            }
            Ok(())
        })
        .and_then(|()| {
            fs::rename(&tmp, dir)
                .map_err(|e| format!("cannot create {}: {e}; nothing written", dir.display()))
        });
    if written.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    written
}

/// DIR exists: each file is created only where nothing is (checked again as it is created);
/// on any failure, what this wrote is removed again.
fn into_existing(dir: &Path, files: &[(PathBuf, String)]) -> Result<(), String> {
    let mut created_files = Vec::new();
    let mut created_dirs = Vec::new();
    let mut result = Ok(());
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent()
            && !parent.exists()
        {
            if let Err(e) = fs::create_dir(parent) {
                result = Err(format!(
                    "cannot create {}: {e}; nothing written",
                    parent.display()
                ));
                break;
            }
            created_dirs.push(parent.to_path_buf());
        }
        if let Err(e) = create_new(&path, text) {
            result = Err(e);
            break;
        }
        created_files.push(path);
    }
    if result.is_err() {
        for f in created_files {
            let _ = fs::remove_file(f);
        }
        for d in created_dirs.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
    result
}

/// Creates a file that must not exist yet (and its folder inside a fresh DIR).
fn create_new(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        let _ = fs::create_dir_all(parent);
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                format!("{} exists; nothing written", path.display())
            } else {
                format!("cannot write {}: {e}; nothing written", path.display())
            }
        })?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}; nothing written", path.display()))
}

/// A path as a shell word: as it is when that is safe, else in single quotes.
fn quote(p: &Path) -> String {
    let s = p.to_string_lossy();
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./=+:,@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
