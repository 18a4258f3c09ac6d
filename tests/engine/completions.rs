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
    assert_eq!(got, ["rehearse", "resume"]);
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
    let (code, fish, _) = tollgate(&["completions", "fish"]);
    assert_eq!(code, Some(0));
    assert!(fish.contains("complete -c tollgate"), "{fish}");
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
