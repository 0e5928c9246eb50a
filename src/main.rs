use clap::Parser;

#[global_allocator]
static ALLOCATOR: outpost::Allocator = mimalloc::MiMalloc;

fn main() {
    let cli = outpost::cli::Cli::parse();
    std::process::exit(outpost::cli::run(cli));
}
