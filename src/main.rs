use clap::Parser;

fn main() {
    let cli = tollgate::cli::Cli::parse();
    std::process::exit(tollgate::cli::main_with(cli));
}
