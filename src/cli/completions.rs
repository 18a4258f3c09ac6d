//! `completions SHELL`: the script clap generates from the command line's definition (commands,
//! flags, their values, files for runbooks), and for bash, zsh and fish the run ids `resume` takes,
//! asked of `tollgate runs --ids` when the shell completes them, and those `report` and `verify`
//! take (every run: `tollgate runs --all-ids`).

use std::io::Write as _;

use clap_complete::Shell;

use super::exit;

/// Bash: `tollgate resume <TAB>` offers the run ids; everything else as clap's `_tollgate` does.
const BASH_RUNS: &str = r#"
# Run ids for `tollgate resume`, from `tollgate runs --ids`; for `tollgate report`, every run.
_tollgate_with_runs() {
    if [ "${COMP_CWORD}" -eq 2 ] && [[ "${COMP_WORDS[2]}" != -* ]]; then
        local ids
        case "${COMP_WORDS[1]}" in
            resume) ids=$("${COMP_WORDS[0]}" runs --ids 2>/dev/null) ;;
            report|verify) ids=$("${COMP_WORDS[0]}" runs --all-ids 2>/dev/null) ;;
            *) _tollgate "$@"; return ;;
        esac
        COMPREPLY=($(compgen -W "${ids}" -- "${COMP_WORDS[2]}"))
        return 0
    fi
    _tollgate "$@"
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _tollgate_with_runs -o nosort -o bashdefault -o default tollgate
else
    complete -F _tollgate_with_runs -o bashdefault -o default tollgate
fi
"#;

/// Zsh: the run id argument of `resume` completes from `tollgate runs --ids`, of `report` from
/// `tollgate runs --all-ids`.
const ZSH_RUNS: &str = r#"
# Run ids for `tollgate resume`, from `tollgate runs --ids`.
(( $+functions[_tollgate_run_ids] )) ||
_tollgate_run_ids() {
    local -a ids
    ids=(${(f)"$(tollgate runs --ids 2>/dev/null)"})
    _describe -t runs 'run' ids
}
(( $+functions[_tollgate_all_run_ids] )) ||
_tollgate_all_run_ids() {
    local -a ids
    ids=(${(f)"$(tollgate runs --all-ids 2>/dev/null)"})
    _describe -t runs 'run' ids
}
"#;

/// Fish: `tollgate resume`, `report` and `verify` offer the run ids.
const FISH_RUNS: &str = r#"
# Run ids for `tollgate resume`, from `tollgate runs --ids`.
complete -c tollgate -n "__fish_tollgate_using_subcommand resume" -f -a "(tollgate runs --ids 2>/dev/null)" -d 'run'
complete -c tollgate -n "__fish_tollgate_using_subcommand report" -f -a "(tollgate runs --all-ids 2>/dev/null)" -d 'run'
complete -c tollgate -n "__fish_tollgate_using_subcommand verify" -f -a "(tollgate runs --all-ids 2>/dev/null)" -d 'run'
"#;

/// The script for `shell`, with the run ids where the shell allows.
pub fn script(shell: Shell) -> String {
    let mut cmd = <super::args::Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "tollgate", &mut out);
    let mut text = String::from_utf8_lossy(&out).into_owned();
    match shell {
        Shell::Bash => text.push_str(BASH_RUNS),
        Shell::Zsh => {
            // clap's zsh script leaves the run id to `_default`: the ids instead.
            text = text.replace(
                "'::run_id:_default'",
                "'::run_id -- a run to resume:_tollgate_run_ids'",
            );
            text = text.replace(
                "':run_id -- The run (as `tollgate runs` lists it):_default'",
                "':run_id -- a run to report:_tollgate_all_run_ids'",
            );
            text = text.replace(
                "':run_id -- The run'\\''s id (as `tollgate runs` lists it):_default'",
                "':run_id -- a run to verify:_tollgate_all_run_ids'",
            );
            text.push_str(ZSH_RUNS);
        }
        Shell::Fish => text.push_str(FISH_RUNS),
        _ => {}
    }
    text
}

pub(super) fn print(shell: Shell) -> i32 {
    let _ = std::io::stdout().write_all(script(shell).as_bytes());
    exit::OK
}
