//! The state folder is the owner's alone whatever the umask: folders 0700, files 0600.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::binary::{Bin, text};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn state_folders_and_files_are_private_even_at_umask_000() {
    let bin = Bin::new();
    let decisions = concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/demo/decisions.yaml");
    // The demo rehearsed (its files written to the state folder), scripted: exit 0 when it
    // ends as the decisions file expects.
    let cmd = bin.command(&["demo", "--decisions", decisions, "--speed", "4"]);
    // `sh -c 'umask 000; exec tollgate …'`: the same binary and arguments, under umask 000.
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg(r#"umask 000; exec "$0" "$@""#)
        .arg(program)
        .args(args)
        .current_dir(bin.dir())
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(std::process::Stdio::null());
    let out = sh.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    let state = bin.state();
    let (_, journal) = bin.only_run();
    let run = journal.parent().unwrap();
    for dir in [
        state.clone(),
        state.join("runs"),
        run.to_path_buf(),
        state.join("logs"),
        state.join("demo"),
        state.join("demo/app"),
    ] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    let logs: Vec<_> = std::fs::read_dir(state.join("logs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(!logs.is_empty());
    for file in logs.iter().chain([
        &journal,
        &state.join("demo/first-deploy.yaml"),
        &state.join("demo/cluster.yaml"),
        &state.join("demo/app/Dockerfile"),
    ]) {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
}
