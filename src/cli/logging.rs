//! Where logs go: stderr for commands (stdout stays clean for `--json`), a
//! file in the data dir for the full-screen client (stderr would draw over
//! the screen). `RUST_LOG` overrides the config's `[logging] level`.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

use crate::config::Config;

fn filter(config: Option<&Config>) -> EnvFilter {
    let level = config
        .map(|c| c.logging.level.to_tracing())
        .unwrap_or(tracing::Level::WARN);
    // sled reports a failing disk in its own words (and colours) on every
    // retry; outpost's one-line error about the data dir says it better.
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},sled=off", level.as_str())))
}

/// Logs to stderr (commands). Safe to call more than once.
pub fn to_stderr(config: Option<&Config>) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(config))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Logs to `<data dir>/outpost.log` (the TUI). Safe to call more than once.
pub fn to_file(config: &Config, data_dir: &Path) {
    let appender = tracing_appender::rolling::never(data_dir, "outpost.log");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(Some(config)))
        .with_writer(appender)
        .with_ansi(false)
        .try_init();
}

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Notes when the process began its work, for the startup timings the TUI
/// logs at debug level (where the first frame's time goes).
pub fn mark_start() {
    STARTED.get_or_init(Instant::now);
}

/// Time since [`mark_start`] (zero when it was never called).
pub fn since_start() -> Duration {
    STARTED.get().map(Instant::elapsed).unwrap_or_default()
}
