//! The full-screen client: inbox, thread, composer, leads, lead, campaign
//! stats and sequences, over the Engine and its change feed.
//!
//! Shape: `App` (state, keys → actions → jobs) is pure and is what the tests
//! drive on a TestBackend; `run` adds the terminal, a worker that runs jobs
//! off the UI task, and the change feed. Events are drained, then one frame
//! is drawn if anything changed, at most every ~10 ms.

pub mod action;
pub mod app;
pub mod feed;
pub mod files;
pub mod jobs;
pub mod keymap;
pub mod panes;
mod step_edit;
pub mod terminal;
pub mod theme;
mod update;
pub mod view;
pub mod widgets;

use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::engine::Engine;
use crate::engine::remote::RemoteEngine;

pub use app::{App, Effect};
pub use feed::{Feed, FeedEvent};
pub use jobs::Backend;
pub use keymap::Keymap;
pub use theme::Theme;

/// How the caller wants the TUI opened.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// Force colours off (otherwise `NO_COLOR` decides).
    pub no_color: bool,
    /// Show the first-run screen even if accounts exist (for tests of it).
    pub force_first_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// The least time between two frames.
const FRAME_GAP: Duration = Duration::from_millis(10);
/// Spinner and countdown refresh.
const TICK: Duration = Duration::from_millis(250);

/// Builds the app for a config (keymap and theme checked, with errors by name).
pub fn build_app(
    clock: SharedClock,
    config: &Config,
    options: &TuiOptions,
) -> Result<App, TuiError> {
    let keymap =
        Keymap::with_overrides(&config.ui.keymap).map_err(|e| TuiError::Config(e.to_string()))?;
    let no_color = options.no_color || Theme::no_color_from_env();
    let theme = Theme::new(&config.ui.theme, no_color).map_err(TuiError::Config)?;
    let mut app = App::new(
        keymap,
        theme,
        clock,
        config.ui.undo_send_secs,
        config.ui.notify,
    );
    app.zone = crate::triage::RepZone::from_config(config);
    app.snippets_dir = Some(crate::snippets::folder_for(config.config_path()));
    Ok(app)
}

/// Runs the TUI until the rep quits. Background services (sync, outbox,
/// scheduler) are the caller's; the TUI only reads the engine and its feed.
pub async fn run(engine: Engine, config: &Config, options: TuiOptions) -> Result<(), TuiError> {
    let app = build_app(engine.clock().clone(), config, &options)?;
    let mut terminal = terminal::enter()?;
    let guard = terminal::Guard;
    if config.accounts.is_empty() || options.force_first_run {
        return first_run(&mut terminal, config, &app.theme).await;
    }
    let feed = Feed::local(&engine);
    let farewell = run_loop(&mut terminal, app, Backend::Local(engine), feed).await?;
    say_farewell(guard, &farewell);
    Ok(())
}

/// What the rep must know on leaving (a send that did not go out before
/// quitting), printed once the terminal is back to normal.
fn say_farewell(guard: terminal::Guard, lines: &[String]) {
    drop(guard);
    for line in lines {
        eprintln!("outpost: {line}");
    }
}

/// Runs the TUI on a daemon's engine API until the rep quits. The daemon
/// runs the background services; its accounts decide what is shown.
pub async fn run_attached(
    remote: RemoteEngine,
    config: &Config,
    options: TuiOptions,
) -> Result<(), TuiError> {
    let mut app = build_app(std::sync::Arc::new(SystemClock), config, &options)?;
    app.attach(remote.base_url());
    let mut terminal = terminal::enter()?;
    let guard = terminal::Guard;
    let feed = Feed::remote(remote.clone());
    let farewell = run_loop(&mut terminal, app, Backend::Remote(remote), feed).await?;
    say_farewell(guard, &farewell);
    Ok(())
}

async fn run_loop(
    terminal: &mut terminal::Term,
    mut app: App,
    backend: Backend,
    mut feed: Feed,
) -> Result<Vec<String>, TuiError> {
    let (results_tx, mut results) = mpsc::unbounded_channel();
    let mut events = EventStream::new();
    let mut ticker = tokio::time::interval(TICK);
    let mut last_draw = tokio::time::Instant::now() - FRAME_GAP;
    let mut frames: u32 = 0;
    let mut results_seen: u32 = 0;
    loop {
        for job in app.take_jobs() {
            let tx = results_tx.clone();
            let backend = backend.clone();
            tokio::spawn(async move {
                let _ = tx.send(jobs::run(backend, job).await);
            });
        }
        for effect in app.take_effects() {
            match effect {
                Effect::Notify(text) => terminal::notify(app.notify, &text),
                Effect::Redraw => {
                    terminal::redraw_all(terminal)?;
                    app.dirty = true;
                }
                Effect::Editor(text) => {
                    // Stop reading keys so the editor gets them all.
                    drop(events);
                    let result = terminal::edit_externally(terminal, &text);
                    events = EventStream::new();
                    app.editor_done(result);
                }
            }
        }
        if app.quit {
            break;
        }
        if app.dirty && last_draw.elapsed() >= FRAME_GAP {
            terminal.draw(|f| view::draw(f, &mut app))?;
            last_draw = tokio::time::Instant::now();
            frames += 1;
            if frames <= 3 {
                tracing::debug!(frames, elapsed = ?crate::cli::logging::since_start(), "startup: frame drawn");
            }
        }
        let next_frame = last_draw + FRAME_GAP;
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => handle_event(&mut app, event),
                Some(Err(e)) => return Err(TuiError::Terminal(e)),
                None => break,
            },
            Some(result) = results.recv() => {
                results_seen += 1;
                if results_seen <= 3 {
                    tracing::debug!(results_seen, elapsed = ?crate::cli::logging::since_start(), "startup: job result");
                }
                app.apply(result)
            }
            event = feed.recv() => app.on_feed(event),
            _ = ticker.tick() => app.on_tick(),
            _ = tokio::time::sleep_until(next_frame), if app.dirty => {}
        }
        // Drain whatever else is ready before drawing once.
        while let Ok(result) = results.try_recv() {
            app.apply(result);
        }
        while let Some(event) = feed.try_recv() {
            app.on_feed(event);
        }
    }
    Ok(std::mem::take(&mut app.farewell))
}

fn handle_event(app: &mut App, event: Event) {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => app.handle_key(key),
        Event::Mouse(mouse) => app.handle_mouse(mouse),
        Event::Resize(_, _) => app.dirty = true,
        _ => {}
    }
}

async fn first_run(
    terminal: &mut terminal::Term,
    config: &Config,
    theme: &Theme,
) -> Result<(), TuiError> {
    let mut events = EventStream::new();
    loop {
        terminal.draw(|f| view::draw_first_run(f, config.config_path(), theme))?;
        match events.next().await {
            Some(Ok(Event::Key(key))) if matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) => {
                break;
            }
            Some(Ok(Event::Key(key)))
                if key.code == KeyCode::Char('c')
                    && key
                        .modifiers
                        .contains(crossterm::event::KeyModifiers::CONTROL) =>
            {
                break;
            }
            Some(Err(e)) => return Err(TuiError::Terminal(e)),
            None => break,
            _ => {}
        }
    }
    Ok(())
}
