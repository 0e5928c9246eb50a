//! The real terminal: raw mode, alternate screen and mouse capture, always
//! restored (on exit, on error and from a panic hook); suspending for `$EDITOR`.

use std::io::{self, Write};
use std::sync::Once;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::config::Notify;

pub type Term = Terminal<CrosstermBackend<io::Stdout>>;

pub fn enter() -> io::Result<Term> {
    install_panic_hook();
    enable_raw_mode()?;
    let mut out = io::stdout();
    if let Err(e) = execute!(out, EnterAlternateScreen, EnableMouseCapture) {
        restore();
        return Err(e);
    }
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    Ok(terminal)
}

/// Puts the terminal back as the shell expects it. Safe to call twice.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// Restores the terminal when dropped, whatever way `run` ends.
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// A bell, or an OSC 9 desktop notification, for a new reply.
pub fn notify(kind: Notify, text: &str) {
    let clean: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    let seq = match kind {
        Notify::Bell => "\x07".to_string(),
        Notify::Osc => format!("\x1b]9;{clean}\x07"),
        Notify::Off => return,
    };
    let mut out = io::stdout();
    let _ = out.write_all(seq.as_bytes());
    let _ = out.flush();
}

/// Leaves the TUI, edits `text` in `$VISUAL`/`$EDITOR` (else `vi`), and
/// comes back. The caller must have stopped reading terminal events.
pub fn edit_externally(terminal: &mut Term, text: &str) -> Result<String, String> {
    let path = std::env::temp_dir().join(format!("outpost-{}.txt", uuid::Uuid::new_v4().simple()));
    write_private(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let result = run_editor(terminal, &path);
    let _ = std::fs::remove_file(&path);
    result
}

/// A new file only the rep can read (drafts may be private).
fn write_private(path: &std::path::Path, text: &str) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

fn run_editor(terminal: &mut Term, path: &std::path::Path) -> Result<String, String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_string());
    restore();
    // `$EDITOR` may carry arguments ("code --wait").
    let mut parts = editor.split_whitespace();
    let program = parts.next().unwrap_or("vi").to_string();
    let status = std::process::Command::new(&program)
        .args(parts)
        .arg(path)
        .status();
    let back = enable_raw_mode()
        .and_then(|_| execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture));
    let _ = terminal.clear();
    back.map_err(|e| format!("cannot return to the full screen: {e}"))?;
    match status {
        Ok(s) if s.success() => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {} back: {e}", path.display())),
        Ok(s) => Err(format!("{program} exited with {s}; the text is unchanged")),
        Err(e) => Err(format!("cannot run {program}: {e}")),
    }
}
