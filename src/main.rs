use clap::Parser;

fn main() {
    let cli = tollgate::cli::Cli::parse();
    if !matches!(
        cli.command,
        None | Some(
            tollgate::cli::Command::Run { .. }
                | tollgate::cli::Command::Resume { .. }
                | tollgate::cli::Command::Demo { .. }
                | tollgate::cli::Command::Open { .. }
        )
    ) {
        // Listing commands piped into `head` end quietly, as other command-line tools do.
        // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    std::process::exit(tollgate::cli::main_with(cli));
}
