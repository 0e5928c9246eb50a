//! `outpost --daemon`: sync pollers, the outbox worker, the sequence
//! scheduler and the HTTP server in one process, on one data dir.
//!
//! Start: logs (text or JSON, stderr or a file), the data-dir lock (a second
//! outpost is refused, naming the holder), the listener, then the lock file
//! is updated with the API URL so a local TUI can attach. Stop (SIGTERM or
//! SIGINT): stop accepting, let in-flight requests finish, stop the workers,
//! flush the store, all within [`SHUTDOWN_BUDGET`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, LogFormat};
use crate::engine::Engine;
use crate::providers::registry::Providers;
use crate::sequences::TrackingKey;
use crate::server::state::{ServerParts, webhook_routes};
use crate::server::{Ingest, Metrics, ServerState};
use crate::store::{LockInfo, Store};

/// The API token file in the data dir, made on first start (mode 0600).
pub const TOKEN_FILE: &str = "api.token";
/// Everything stops within this after a signal.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Setup(String),
    #[error(
        "cannot listen on {addr}: {detail}; pick another address with --listen or [daemon] listen"
    )]
    Listen { addr: SocketAddr, detail: String },
    #[error("cannot use the API token file {path}: {detail}")]
    Token { path: PathBuf, detail: String },
}

impl DaemonError {
    /// 2 for problems the user must fix in config or flags, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            DaemonError::Config(c) => c.exit_code(),
            DaemonError::Listen { .. } => 2,
            _ => 1,
        }
    }
}

/// Reads the API token from the data dir, creating it (random, 0600) if absent.
pub fn load_or_create_token(data_dir: &Path) -> Result<SecretString, DaemonError> {
    use std::io::Write;
    let path = data_dir.join(TOKEN_FILE);
    let fail = |detail: String| DaemonError::Token {
        path: path.clone(),
        detail,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(SecretString::from(text.trim())),
        Ok(_) => {
            return Err(fail(
                "the file is empty; delete it to make a new token".into(),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e.to_string())),
    }
    std::fs::create_dir_all(data_dir).map_err(|e| fail(e.to_string()))?;
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(token.as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(|e| fail(e.to_string()))?;
            Ok(SecretString::from(token))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_token(data_dir),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// The outpost process (daemon or TUI) that holds the data dir and serves
/// the engine API there, with the token to use; None when nobody holds it,
/// or the holder serves nothing (an older outpost, a `cli` verb).
pub fn serving_holder(config: &Config) -> Option<(LockInfo, SecretString)> {
    let holder = crate::store::current_holder(config.data_dir())?;
    holder.api_url.as_ref()?;
    let token = match &config.daemon.api_token {
        Some(secret) => secret.resolve().ok()?,
        None => {
            let text = std::fs::read_to_string(config.data_dir().join(TOKEN_FILE)).ok()?;
            SecretString::from(text.trim())
        }
    };
    Some((holder, token))
}

/// The token the engine API of this data dir takes: the configured one, else
/// the data dir's token file (made on first use, 0600).
pub fn api_token(config: &Config) -> Result<SecretString, DaemonError> {
    match &config.daemon.api_token {
        Some(secret) => Ok(secret.resolve()?),
        None => load_or_create_token(config.data_dir()),
    }
}

/// Keeps the log writer alive; logs are lost after it is dropped.
pub struct LogGuard {
    _writer: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Sets up tracing as the config asks. Does nothing if a subscriber is set.
pub fn init_logging(config: &Config) -> Result<LogGuard, DaemonError> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.logging.level.as_str()));
    let (writer, guard) = match &config.daemon.log_file {
        Some(path) => {
            let dir = path.parent().unwrap_or(Path::new("."));
            let name = path.file_name().ok_or_else(|| {
                DaemonError::Setup(format!("log_file {} has no file name", path.display()))
            })?;
            std::fs::create_dir_all(dir).map_err(|e| {
                DaemonError::Setup(format!(
                    "cannot create the log directory {}: {e}",
                    dir.display()
                ))
            })?;
            let appender = tracing_appender::rolling::never(dir, name);
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (writer, Some(guard))
        }
        None => {
            let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
            (writer, Some(guard))
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false);
    let result = match config.daemon.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.event_format(json_log::JsonLines).try_init(),
    };
    if result.is_err() {
        // Someone (a test harness) already set a subscriber: keep theirs.
        return Ok(LogGuard { _writer: None });
    }
    Ok(LogGuard { _writer: guard })
}

/// What the running daemon tells its starter.
#[derive(Debug, Clone)]
pub struct Started {
    pub addr: SocketAddr,
    pub api_url: String,
}

/// Runs the daemon until `shutdown` is cancelled. `ready` receives the bound
/// address once requests are being served.
pub async fn run(
    config: Config,
    listen: Option<SocketAddr>,
    shutdown: CancellationToken,
    ready: Option<tokio::sync::oneshot::Sender<Started>>,
) -> Result<(), DaemonError> {
    let clock: SharedClock = Arc::new(SystemClock);
    let data_dir = config.data_dir().to_path_buf();
    let webhook_secret = match &config.daemon.webhook_secret {
        Some(secret) => Some(secret.resolve()?),
        None => {
            tracing::warn!(
                "no [daemon] webhook_secret is configured: Smartlead webhooks will be refused (503)"
            );
            None
        }
    };
    let api_token = api_token(&config)?;
    let mut providers = Providers::from_config(&config, &data_dir, clock.clone())
        .map_err(|e| DaemonError::Setup(e.to_string()))?;
    let store = Store::open_at(&data_dir, "daemon", &config.store_location()?)?;
    // Accounts added through the API sync and send like configured ones.
    providers
        .add_stored(&store, &config, clock.clone())
        .map_err(|e| DaemonError::Setup(e.to_string()))?;
    providers.require_one_usable(&config)?;
    let addr = listen.unwrap_or(config.daemon.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| DaemonError::Listen {
            addr,
            detail: e.to_string(),
        })?;
    let bound = listener.local_addr().map_err(|e| DaemonError::Listen {
        addr,
        detail: e.to_string(),
    })?;
    let api_url = format!("http://{bound}");
    store.set_lock_info(&LockInfo {
        pid: std::process::id(),
        mode: "daemon".into(),
        api_url: Some(api_url.clone()),
    })?;
    let tracking_key =
        TrackingKey::load_or_create(&data_dir).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let engine = Engine::with_providers(store.clone(), clock.clone(), Arc::new(providers))
        .with_settings(crate::engine::EngineSettings::from_config(&config));
    let metrics = Arc::new(Metrics::default());
    // The same background work as beside a TUI (sync, outbox, scheduler,
    // snooze and reminder timers, the notify hook, read marks to Gmail,
    // unsubscribes to Smartlead), with the scheduler's ticks measured.
    let ticks = metrics.clone();
    let services = crate::services::Services::start_observed(&engine, &config, move |took| {
        ticks.record_tick(took)
    })
    .map_err(|e| DaemonError::Setup(e.to_string()))?;
    let sync = services.sync.clone();
    let scheduler = services.scheduler.clone();
    let (ingest, writer) = Ingest::start(engine.clone());
    let state = ServerState::new(ServerParts {
        engine: engine.clone(),
        ingest,
        metrics: metrics.clone(),
        routes: webhook_routes(&config),
        webhook_secret,
        api_token,
        tracking_key: Some(tracking_key),
        sync: Some(sync.clone()),
        scheduler: Some(scheduler.clone()),
        shutdown: shutdown.clone(),
    });

    let server = tokio::spawn(crate::server::serve(listener, state, shutdown.clone()));
    tracing::info!(%api_url, data_dir = %data_dir.display(), "outpost daemon listening");
    if let Some(ready) = ready {
        let _ = ready.send(Started {
            addr: bound,
            api_url: api_url.clone(),
        });
    }

    shutdown.cancelled().await;
    let deadline = Instant::now() + SHUTDOWN_BUDGET - Duration::from_millis(500);
    tracing::info!("stopping: no new requests; finishing those in flight");
    let left = || deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left(), server).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the server stopped with an error"),
        Err(_) => tracing::warn!("requests still open at the deadline were dropped"),
        _ => {}
    }
    // The server's state held the last ingest handle: the writer answers
    // what it holds and applies its queue, as far as the time allows.
    if tokio::time::timeout(left(), writer).await.is_err() {
        tracing::warn!(
            "the webhook writer did not apply its whole queue in time; \
             what is left stays queued and is applied at the next start"
        );
    }
    services.stop(left()).await;
    engine.flush().await?;
    tracing::info!("stopped; the store is flushed");
    Ok(())
}

/// Waits for SIGTERM or SIGINT, then cancels `shutdown`.
pub async fn cancel_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                    _ = shutdown.cancelled() => return,
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    shutdown.cancel();
}

/// The token as the API expects it in `Authorization: Bearer`.
pub fn bearer_value(token: &SecretString) -> String {
    format!("Bearer {}", token.expose_secret())
}

mod json_log {
    //! One JSON object per log line, for log shippers.

    use std::fmt;

    use serde_json::{Map, Value};
    use tracing::field::{Field, Visit};
    use tracing::{Event, Subscriber};
    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
    use tracing_subscriber::registry::LookupSpan;

    pub struct JsonLines;

    struct Fields<'a>(&'a mut Map<String, Value>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.insert(
                field.name().to_string(),
                Value::String(format!("{value:?}")),
            );
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0
                .insert(field.name().to_string(), Value::String(value.to_string()));
        }
        fn record_i64(&mut self, field: &Field, value: i64) {
            self.0.insert(field.name().to_string(), Value::from(value));
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            self.0.insert(field.name().to_string(), Value::from(value));
        }
        fn record_bool(&mut self, field: &Field, value: bool) {
            self.0.insert(field.name().to_string(), Value::from(value));
        }
        fn record_f64(&mut self, field: &Field, value: f64) {
            self.0.insert(field.name().to_string(), Value::from(value));
        }
    }

    impl<S, N> FormatEvent<S, N> for JsonLines
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        fn format_event(
            &self,
            _ctx: &FmtContext<'_, S, N>,
            mut writer: Writer<'_>,
            event: &Event<'_>,
        ) -> fmt::Result {
            let meta = event.metadata();
            let mut line = Map::new();
            line.insert(
                "ts".into(),
                Value::String(
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                ),
            );
            line.insert("level".into(), Value::String(meta.level().to_string()));
            line.insert("target".into(), Value::String(meta.target().to_string()));
            let mut fields = Map::new();
            event.record(&mut Fields(&mut fields));
            line.extend(fields);
            writeln!(writer, "{}", Value::Object(line))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn token_file_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_token(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create_token(dir.path()).unwrap();
        assert_eq!(first.expose_secret(), again.expose_secret());
        assert_eq!(first.expose_secret().len(), 64);
    }
}
