//! The real terminal: raw mode, alternate screen and mouse capture, always
//! restored (on exit, on error and from a panic hook); suspending for `$EDITOR`.

use std::io::{self, Write};
use std::sync::Once;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
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

/// Clears the screen and makes the next draw paint every cell, not only
/// those that changed since the last frame: what was on screen is gone
/// (after `$EDITOR`) or cannot be trusted (`Ctrl-L`).
///
/// Not ratatui's `Terminal::clear`: it first asks the terminal where the
/// cursor is, and that answer never arrives while the key reader still
/// owns stdin, so the clear failed and the screen stayed blank.
pub fn redraw_all(terminal: &mut Term) -> io::Result<()> {
    execute!(io::stdout(), Clear(ClearType::All))?;
    // Drops the last frame, so the next one is drawn against an empty screen.
    terminal.swap_buffers();
    Ok(())
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

/// A new file only the rep can read (drafts may be private). The text ends
/// with a newline, as editors expect of a text file, so a line the editor
/// appends stands on its own instead of joining the last one.
fn write_private(path: &std::path::Path, text: &str) -> io::Result<()> {
    let text = if text.is_empty() || text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// The editor command as a shell would split it: `$VISUAL`, else
/// `$EDITOR`, else `vi`; arguments and quotes kept (`code --wait`,
/// `sh -c '…' sh`).
pub fn editor_command(visual: Option<&str>, editor: Option<&str>) -> Result<Vec<String>, String> {
    let (name, line) = match (visual, editor) {
        (Some(v), _) if !v.trim().is_empty() => ("$VISUAL", v),
        (_, Some(e)) if !e.trim().is_empty() => ("$EDITOR", e),
        _ => return Ok(vec!["vi".to_string()]),
    };
    let words =
        shell_words::split(line).map_err(|e| format!("cannot read {name} ({line:?}): {e}"))?;
    if words.is_empty() {
        return Ok(vec!["vi".to_string()]);
    }
    Ok(words)
}

fn run_editor(terminal: &mut Term, path: &std::path::Path) -> Result<String, String> {
    let visual = std::env::var("VISUAL").ok();
    let editor = std::env::var("EDITOR").ok();
    let command = editor_command(visual.as_deref(), editor.as_deref())?;
    let (program, args) = command.split_first().expect("never empty");
    restore();
    let status = std::process::Command::new(program)
        .args(args)
        .arg(path)
        .status();
    let back = enable_raw_mode()
        .and_then(|_| execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture))
        .and_then(|_| redraw_all(terminal));
    back.map_err(|e| format!("cannot return to the full screen: {e}"))?;
    match status {
        Ok(s) if s.success() => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {} back: {e}", path.display())),
        Ok(s) => Err(format!("{program} exited with {s}; the text is unchanged")),
        Err(e) => Err(format!("cannot run {program}: {e}")),
    }
}
