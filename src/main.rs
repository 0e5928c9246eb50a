use clap::Parser;

#[global_allocator]
static ALLOCATOR: outpost::Allocator = mimalloc::MiMalloc;

fn main() {
    // `outpost leads | head` must end quietly when `head` has read enough,
    // as other command-line tools do, instead of panicking on the closed
    // pipe: take back the default SIGPIPE action the Rust runtime ignores.
    #[cfg(unix)]
    // SAFETY: called first thing, before any other thread exists; it only
    // resets one signal's disposition to the system default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = outpost::cli::Cli::parse_from(outpost::cli::tags::spell_removals(
        std::env::args_os().collect(),
    ));
    std::process::exit(outpost::cli::run(cli));
}
