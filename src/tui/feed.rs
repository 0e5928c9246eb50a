//! What tells the app that data changed: the local store's feed, or a
//! daemon's change stream followed over HTTP. Both hand the app the same
//! `Change` values; the remote one also says when the daemon is unreachable
//! and reconnects with backoff, asking for a full reload once it is back
//! (changes made meanwhile were missed).

use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use super::app::App;
use crate::engine::Engine;
use crate::engine::remote::{RemoteChange, RemoteEngine, RemoteError};
use crate::store::Change;

/// The first wait before reconnecting; doubled per failure up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// How many remote events may wait for the UI before the stream is slowed.
const REMOTE_BUFFER: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    Change(Change),
    /// Changes were missed: reload everything shown.
    Reload,
    /// The daemon's stream is open again.
    Connected,
    /// The daemon cannot be reached; the text says why. Retrying.
    Unreachable(String),
}

/// Where an attached TUI gets its data, for the status bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub url: String,
    /// Why the daemon is unreachable now, if it is.
    pub down: Option<String>,
}

pub enum Feed {
    Local(broadcast::Receiver<Change>),
    Remote(mpsc::Receiver<FeedEvent>),
}

impl Feed {
    pub fn local(engine: &Engine) -> Feed {
        Feed::Local(engine.subscribe())
    }

    /// Follows the daemon's change stream on a task that ends when the feed
    /// is dropped.
    pub fn remote(remote: RemoteEngine) -> Feed {
        let (tx, rx) = mpsc::channel(REMOTE_BUFFER);
        tokio::spawn(follow(remote, tx));
        Feed::Remote(rx)
    }

    /// The next event; waits forever once the source is gone (the app then
    /// simply gets no more updates).
    pub async fn recv(&mut self) -> FeedEvent {
        match self {
            Feed::Local(rx) => loop {
                match rx.recv().await {
                    Ok(change) => return FeedEvent::Change(change),
                    Err(broadcast::error::RecvError::Lagged(_)) => return FeedEvent::Reload,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            },
            Feed::Remote(rx) => match rx.recv().await {
                Some(event) => event,
                None => std::future::pending().await,
            },
        }
    }

    /// An event that is already waiting, if any.
    pub fn try_recv(&mut self) -> Option<FeedEvent> {
        match self {
            Feed::Local(rx) => match rx.try_recv() {
                Ok(change) => Some(FeedEvent::Change(change)),
                Err(broadcast::error::TryRecvError::Lagged(_)) => Some(FeedEvent::Reload),
                Err(_) => None,
            },
            Feed::Remote(rx) => rx.try_recv().ok(),
        }
    }
}

/// Keeps a change stream open, reconnecting with backoff, until `tx` closes.
async fn follow(remote: RemoteEngine, tx: mpsc::Sender<FeedEvent>) {
    let mut delay = FIRST_RETRY;
    let mut lost = false;
    loop {
        let why = match remote.changes().await {
            Ok(mut stream) => {
                if tx.send(FeedEvent::Connected).await.is_err() {
                    return;
                }
                if lost && tx.send(FeedEvent::Reload).await.is_err() {
                    return;
                }
                delay = FIRST_RETRY;
                loop {
                    let item = tokio::select! {
                        _ = tx.closed() => return,
                        item = stream.next() => item,
                    };
                    let event = match item {
                        Some(Ok(RemoteChange::Change(change))) => FeedEvent::Change(change),
                        Some(Ok(RemoteChange::Lagged)) => FeedEvent::Reload,
                        // A change this build cannot read: reload rather than miss it.
                        Some(Err(RemoteError::Decode(_))) => FeedEvent::Reload,
                        Some(Err(e)) => break e.to_string(),
                        None => break "the daemon closed the connection".to_string(),
                    };
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => e.to_string(),
        };
        lost = true;
        if tx.send(FeedEvent::Unreachable(why)).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_RETRY);
    }
}

impl App {
    /// Marks the app as attached to the daemon at `url` and says so.
    pub fn attach(&mut self, url: &str) {
        self.attached = Some(Attachment {
            url: url.to_string(),
            down: None,
        });
        self.info(format!("attached to daemon at {url}"));
        self.dirty = true;
    }

    pub fn on_feed(&mut self, event: FeedEvent) {
        match event {
            FeedEvent::Change(change) => self.on_change(change),
            FeedEvent::Reload => self.refresh_all(),
            FeedEvent::Connected => {
                if let Some(attached) = &mut self.attached
                    && attached.down.take().is_some()
                {
                    let text = format!("reconnected to daemon at {}", attached.url);
                    self.info(text);
                    self.dirty = true;
                }
            }
            FeedEvent::Unreachable(why) => {
                if let Some(attached) = &mut self.attached
                    && attached.down.as_deref() != Some(why.as_str())
                {
                    attached.down = Some(why);
                    self.dirty = true;
                }
            }
        }
    }

    /// The status bar's note about the daemon, and whether it is a problem.
    pub fn attachment_note(&self) -> Option<(String, bool)> {
        let attached = self.attached.as_ref()?;
        Some(match &attached.down {
            Some(_) => (
                format!("daemon unreachable at {}; retrying…", attached.url),
                true,
            ),
            None => (format!("attached to daemon at {}", attached.url), false),
        })
    }
}
