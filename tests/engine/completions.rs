//! `tollgate completions SHELL` and `tollgate man`, generated from the command line's definition:
//! bash really completes commands, flags and their values from the script, and the manual page
//! is roff that groff reads without a warning.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

fn tollgate(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run tollgate");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What bash's completion offers for the words `line` (the last one being completed).
fn bash_completes(script: &std::path::Path, line: &[&str]) -> Vec<String> {
    let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n_tollgate tollgate '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.join(" "),
        line.len() - 1,
        line.join(" "),
        line[line.len() - 1],
        if line.len() > 1 {
            line[line.len() - 2]
        } else {
            ""
        },
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(program)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_commands_flags_and_their_values() {
    let (code, script, err) = tollgate(&["completions", "bash"]);
    assert_eq!(code, Some(0), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tollgate.bash");
    std::fs::write(&file, script).unwrap();
    let mut got = bash_completes(&file, &["tollgate", "re"]);
    got.sort();
    assert_eq!(got, ["rehearse", "report", "resume"]);
    assert_eq!(
        bash_completes(&file, &["tollgate", "check", "--fo"]),
        ["--format"]
    );
    let mut formats = bash_completes(&file, &["tollgate", "check", "--format", ""]);
    formats.sort();
    assert_eq!(formats, ["json", "text"]);
    // An empty word: the shells, and the flags.
    let mut shells: Vec<String> = bash_completes(&file, &["tollgate", "completions", ""])
        .into_iter()
        .filter(|w| !w.starts_with('-'))
        .collect();
    shells.sort();
    assert_eq!(shells, ["bash", "elvish", "fish", "powershell", "zsh"]);
}

/// `tollgate resume <TAB>` offers the runs `resume` can take, asked of `tollgate runs --ids`: a
/// paused run is offered, a succeeded one is not.
#[test]
fn bash_completes_the_run_ids_resume_takes() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let rb = dir.path().join("gated.yaml");
    std::fs::write(
        &rb,
        "name: Gated\nphases:\n  - id: p\n    gate: true\n    steps:\n      - id: s\n        run: \"true\"\n",
    )
    .unwrap();
    let run = |approve: bool| {
        let mut c = Command::new(BIN);
        c.arg("--state-dir")
            .arg(&state)
            .arg("run")
            .arg(&rb)
            .arg("--headless");
        if approve {
            c.arg("--approve-all");
        }
        c.output().expect("run tollgate").status.code()
    };
    assert_eq!(run(false), Some(3), "an unapproved gate pauses the run");
    assert_eq!(run(true), Some(0));
    let out = Command::new(BIN)
        .arg("--state-dir")
        .arg(&state)
        .args(["runs", "--ids"])
        .output()
        .unwrap();
    let ids = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(ids.lines().count(), 1, "only the paused run: {ids}");
    let paused = ids.trim().to_string();

    let (_, script, _) = tollgate(&["completions", "bash"]);
    let file = dir.path().join("tollgate.bash");
    std::fs::write(&file, script).unwrap();
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let program = format!(
        "source '{}'\nCOMP_WORDS=(tollgate resume '')\nCOMP_CWORD=2\nCOMP_LINE='tollgate resume '\nCOMP_POINT=${{#COMP_LINE}}\n_tollgate_with_runs tollgate '' resume\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    // The completion script run by bash, tollgate on its PATH.
    let complete = |program: &str| {
        Command::new("bash")
            .arg("-c")
            .arg(program)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin_dir.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("TOLLGATE_STATE_DIR", &state)
            .output()
            .expect("run bash")
    };
    let out = complete(&program);
    let offered = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        offered.trim(),
        paused,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `report` takes every run, the succeeded one too (`tollgate runs --all-ids`).
    let out = complete(&program.replace("resume", "report"));
    let offered = String::from_utf8_lossy(&out.stdout);
    let mut offered: Vec<&str> = offered.lines().collect();
    offered.sort();
    assert_eq!(offered.len(), 2, "both runs: {offered:?}");
    assert!(offered.contains(&paused.as_str()), "{offered:?}");
    // The other words still complete as before.
    let mut got = bash_completes(&file, &["tollgate", "re"]);
    got.sort();
    assert_eq!(got, ["rehearse", "report", "resume"]);
}

#[test]
fn zsh_and_fish_scripts_offer_files_for_runbooks() {
    let (code, zsh, _) = tollgate(&["completions", "zsh"]);
    assert_eq!(code, Some(0));
    assert!(zsh.starts_with("#compdef tollgate"), "{}", &zsh[..80]);
    // A runbook argument completes as a file.
    assert!(
        zsh.contains(":file -- The runbook") || zsh.contains("_files"),
        "{zsh}"
    );
    // The run id `resume` takes completes from `tollgate runs --ids`.
    assert!(
        zsh.contains("'::run_id -- a run to resume:_tollgate_run_ids'")
            && zsh.contains("tollgate runs --ids"),
        "{zsh}"
    );
    // `report`'s and `verify`'s, from `tollgate runs --all-ids`.
    assert!(
        zsh.contains("':run_id -- a run to report:_tollgate_all_run_ids'")
            && zsh.contains("':run_id -- a run to verify:_tollgate_all_run_ids'")
            && zsh.contains("tollgate runs --all-ids"),
        "{zsh}"
    );
    let (code, fish, _) = tollgate(&["completions", "fish"]);
    assert_eq!(code, Some(0));
    assert!(fish.contains("complete -c tollgate"), "{fish}");
    assert!(
        fish.contains("__fish_tollgate_using_subcommand resume\" -f -a \"(tollgate runs --ids"),
        "{fish}"
    );
    assert!(
        fish.contains("__fish_tollgate_using_subcommand report\" -f -a \"(tollgate runs --all-ids"),
        "{fish}"
    );
    assert!(
        fish.contains("__fish_tollgate_using_subcommand verify\" -f -a \"(tollgate runs --all-ids"),
        "{fish}"
    );
    let (code, _, err) = tollgate(&["completions", "tcsh"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
}

#[test]
fn the_manual_page_names_every_command_and_is_roff_groff_reads() {
    let (code, page, err) = tollgate(&["man"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(page.contains(".TH tollgate 1"), "{page}");
    for command in [
        "check",
        "plan",
        "run",
        "rehearse",
        "resume",
        "runs",
        "report",
        "schema",
        "sandbox",
        "demo",
        "completions",
        "man",
    ] {
        assert!(
            page.contains(&format!("tollgate\\-{command}(1)"))
                || page.contains(&format!("\\fB{command}\\fR")),
            "{command} is not in the page"
        );
    }
    let Ok(groff) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("note: no groff here; the page's roff is not read");
        return;
    };
    use std::io::Write as _;
    let mut groff = groff;
    groff
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = groff.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "groff warned");
}
