use clap::Parser;

fn main() {
    let cli = outpost::cli::Cli::parse();
    std::process::exit(outpost::cli::run(cli));
}
