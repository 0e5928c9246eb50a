//! The sandbox: a stateful loopback emulator of the Smartlead API (and, merged in
//! `compose_router`, the Gmail API and Google OAuth) over a deterministic data set.
//! `outpost demo`, the tests and the benchmarks run the real clients against it.

pub mod faults;
pub mod google;
mod names;
pub mod smartlead;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::{SharedClock, SystemClock};
pub use faults::{FaultInjector, Faults, FaultsError};
pub use smartlead::generate::{Dataset, generate};
pub use smartlead::{
    AddedLead, CampaignTruth, InjectError, InjectReply, InjectedReply, ReplyPost, SmartleadState,
    UnsubscribeCall,
};

/// A person for the Gmail mailbox generator, taken from the Smartlead leads so both
/// emulators talk about the same people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
}

/// Requests allowed per API key within a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max_requests: u32,
    pub window: Duration,
}

impl Default for RateLimit {
    /// Smartlead's documented 10 requests per 2 seconds.
    fn default() -> Self {
        Self {
            max_requests: 10,
            window: Duration::from_secs(2),
        }
    }
}

impl RateLimit {
    /// Effectively no limit, for load tests and benchmarks.
    pub fn unlimited() -> Self {
        Self {
            max_requests: u32::MAX,
            window: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub leads: usize,
    pub seed: u64,
    pub listen: SocketAddr,
    pub rate_limit: RateLimit,
    pub faults: Faults,
    /// Sets "now" for the generated data and stamps new events.
    pub clock: SharedClock,
    /// Overrides the Smartlead API key derived from the seed.
    pub smartlead_api_key: Option<String>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            leads: 1000,
            seed: 7,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            rate_limit: RateLimit::default(),
            faults: Faults::default(),
            clock: Arc::new(SystemClock),
            smartlead_api_key: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on {addr}: {source} (pick another --listen address or port 0)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid fault settings: {0}")]
    Faults(#[from] FaultsError),
    #[error("generating sandbox data failed: {0}")]
    Generate(String),
    #[error("sandbox server failed: {0}")]
    Server(String),
    #[error(transparent)]
    Inject(#[from] InjectError),
}

/// Credentials and addresses the Google side of the sandbox answers to; derived from the
/// seed so a demo can be restarted with the same configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct GoogleIdentity {
    pub client_id: String,
    pub client_secret: String,
    pub gmail_email: String,
}

impl std::fmt::Debug for GoogleIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleIdentity")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("gmail_email", &self.gmail_email)
            .finish()
    }
}

/// Keeps the credential stream independent of the data generator's.
const CREDENTIAL_SEED_SALT: u64 = 0xc4ed_5eed_0000_0002;

fn random_text(rng: &mut ChaCha8Rng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

fn credentials(seed: u64) -> (String, GoogleIdentity) {
    const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    const MIXED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ CREDENTIAL_SEED_SALT);
    let api_key = format!(
        "{}_{}",
        uuid::Builder::from_random_bytes(rng.random()).into_uuid(),
        random_text(&mut rng, LOWER, 6)
    );
    let first = names::FIRST_NAMES[rng.random_range(0..names::FIRST_NAMES.len())];
    let last = names::LAST_NAMES[rng.random_range(0..names::LAST_NAMES.len())];
    let identity = GoogleIdentity {
        client_id: format!(
            "{}-{}.apps.googleusercontent.com",
            rng.random_range(100_000_000_000u64..999_999_999_999),
            random_text(&mut rng, LOWER, 32)
        ),
        client_secret: format!("GOCSPX-{}", random_text(&mut rng, MIXED, 28)),
        gmail_email: format!(
            "{}.{}@acme-sales.example",
            first.to_lowercase(),
            last.to_lowercase()
        ),
    };
    (api_key, identity)
}

/// What a client needs to reach the sandbox; `outpost sandbox` prints it as one JSON line.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxInfo {
    pub smartlead_base_url: String,
    pub smartlead_api_key: String,
    pub gmail_api_base_url: String,
    pub oauth_auth_url: String,
    pub oauth_token_url: String,
    pub oauth_client_id: String,
    pub oauth_client_secret: String,
    pub gmail_email: String,
}

impl std::fmt::Debug for SandboxInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxInfo")
            .field("smartlead_base_url", &self.smartlead_base_url)
            .field("smartlead_api_key", &"[redacted]")
            .field("gmail_api_base_url", &self.gmail_api_base_url)
            .field("oauth_auth_url", &self.oauth_auth_url)
            .field("oauth_token_url", &self.oauth_token_url)
            .field("oauth_client_id", &self.oauth_client_id)
            .field("oauth_client_secret", &"[redacted]")
            .field("gmail_email", &self.gmail_email)
            .finish()
    }
}

impl SandboxInfo {
    fn new(addr: SocketAddr, api_key: &str, google: &GoogleIdentity) -> Self {
        let base = format!("http://{addr}");
        Self {
            smartlead_base_url: format!("{base}/api/v1"),
            smartlead_api_key: api_key.to_string(),
            gmail_api_base_url: base.clone(),
            oauth_auth_url: format!("{base}/o/oauth2/v2/auth"),
            oauth_token_url: format!("{base}/token"),
            oauth_client_id: google.client_id.clone(),
            oauth_client_secret: google.client_secret.clone(),
            gmail_email: google.gmail_email.clone(),
        }
    }
}

/// Request and fault counters across the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Smartlead requests per route template, e.g. `GET /api/v1/campaigns/{id}`.
    pub requests_by_route: BTreeMap<String, u64>,
    /// Smartlead requests answered 429, all keys.
    pub throttled_total: u64,
    /// Requests answered with an injected fault.
    pub faults_injected: u64,
}

/// The one place the emulators' routers are combined. The Google (Gmail + OAuth)
/// router is merged here too; none of the merged routers may set a top-level fallback.
fn compose_router(
    smartlead: Arc<SmartleadState>,
    google: Arc<google::GoogleSandbox>,
    faults: Arc<FaultInjector>,
) -> Router {
    Router::new()
        .merge(smartlead::router(smartlead))
        .merge(google::router(google))
        .merge(faults::control_routes(faults.clone()))
        // Outermost, so a faulted request never reaches a handler.
        .layer(from_fn_with_state(faults, faults::inject))
}

/// A running sandbox. Dropping it stops the server; `shutdown` also waits for it.
#[derive(Debug)]
pub struct SandboxHandle {
    addr: SocketAddr,
    info: SandboxInfo,
    google: GoogleIdentity,
    smartlead: Arc<SmartleadState>,
    google_state: Arc<google::GoogleSandbox>,
    faults: Arc<FaultInjector>,
    stop: CancellationToken,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// Binds, generates the data and serves on the current tokio runtime.
pub async fn start(opts: SandboxOptions) -> Result<SandboxHandle, SandboxError> {
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| SandboxError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
        addr: opts.listen,
        source,
    })?;
    let (derived_key, google) = credentials(opts.seed);
    let api_key = opts.smartlead_api_key.clone().unwrap_or(derived_key);
    let faults = Arc::new(FaultInjector::new(opts.faults, opts.seed)?);
    let (seed, leads, clock, rate_limit) =
        (opts.seed, opts.leads, opts.clock.clone(), opts.rate_limit);
    let key_for_state = api_key.clone();
    let smartlead = tokio::task::spawn_blocking(move || {
        SmartleadState::new(seed, leads, key_for_state, clock, rate_limit)
    })
    .await
    .map(Arc::new)
    .map_err(|err| SandboxError::Generate(err.to_string()))?;
    // The mailbox corresponds with a slice of the same leads, so a lead's
    // timeline can merge both providers.
    let contacts = smartlead.gmail_contacts(gmail_contact_count(opts.leads));
    // The rep's mailbox sends one of the Smartlead accounts' campaigns, so
    // those conversations reach a client from both APIs, as they do when a
    // rep connects their own Gmail to Smartlead.
    smartlead.adopt_mailbox(
        &google.gmail_email,
        &google::display_name_of(&google.gmail_email),
    );
    let campaign_copies = smartlead.mailbox_copies(&google.gmail_email);
    let google_state = google::GoogleSandbox::new(google::GoogleOptions {
        mailbox_email: google.gmail_email.clone(),
        client_id: google.client_id.clone(),
        client_secret: google.client_secret.clone(),
        contacts,
        campaign_copies,
        seed: opts.seed,
        clock: opts.clock.clone(),
    });
    // From now on, what Smartlead sends or receives through the rep's
    // mailbox lands in that mailbox too.
    smartlead.set_mailbox_mirror(
        &google.gmail_email,
        Arc::new(GmailMirror(google_state.clone())),
    );
    let router = compose_router(smartlead.clone(), google_state.clone(), faults.clone());
    let stop = CancellationToken::new();
    let server = tokio::spawn(
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );
    Ok(SandboxHandle {
        addr,
        info: SandboxInfo::new(addr, &api_key, &google),
        google,
        smartlead,
        google_state,
        faults,
        stop,
        server: Some(server),
    })
}

/// Smartlead's copies of the campaign mail it handles through the rep's
/// Gmail, filed in the Gmail emulator's mailbox.
struct GmailMirror(Arc<google::GoogleSandbox>);

impl smartlead::MailboxMirror for GmailMirror {
    fn mirror(&self, copy: &smartlead::MailboxCopy, earlier: &[String]) {
        if let Err(err) = self.0.file_campaign_message(copy, earlier) {
            tracing::warn!(error = %err, "sandbox: the Gmail mailbox could not file a campaign message");
        }
    }
}

/// How many leads also appear in the generated Gmail mailbox.
fn gmail_contact_count(leads: usize) -> usize {
    (leads / 10).clamp(1, 300)
}

impl SandboxHandle {
    pub fn info(&self) -> &SandboxInfo {
        &self.info
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OAuth client and mailbox the Google emulator serves.
    pub fn google_identity(&self) -> &GoogleIdentity {
        &self.google
    }

    /// The Smartlead emulator's state, for controls not mirrored here.
    pub fn smartlead(&self) -> &Arc<SmartleadState> {
        &self.smartlead
    }

    /// The Gmail + OAuth emulator's state (inject inbound mail, revoke tokens, ...).
    pub fn google(&self) -> &Arc<google::GoogleSandbox> {
        &self.google_state
    }

    pub fn inject_reply(&self, request: &InjectReply) -> Result<InjectedReply, SandboxError> {
        Ok(self.smartlead.inject_reply(request)?)
    }

    pub fn reply_posts(&self) -> Vec<ReplyPost> {
        self.smartlead.reply_posts()
    }

    pub fn added_leads(&self) -> Vec<AddedLead> {
        self.smartlead.added_leads()
    }

    pub fn ground_truth(&self) -> Vec<CampaignTruth> {
        self.smartlead.ground_truth()
    }

    pub fn gmail_contacts(&self, n: usize) -> Vec<Contact> {
        self.smartlead.gmail_contacts(n)
    }

    pub fn faults(&self) -> Faults {
        self.faults.get()
    }

    pub fn set_faults(&self, faults: Faults) -> Result<(), SandboxError> {
        Ok(self.faults.set(faults)?)
    }

    pub fn rate_limit(&self) -> RateLimit {
        self.smartlead.rate_limit()
    }

    pub fn set_rate_limit(&self, limit: RateLimit) {
        self.smartlead.set_rate_limit(limit);
    }

    /// 429 answers given to requests carrying `api_key`.
    pub fn throttled_count(&self, api_key: &str) -> u64 {
        self.smartlead.throttled_count(api_key)
    }

    pub fn counters(&self) -> Counters {
        Counters {
            requests_by_route: self.smartlead.requests_by_route(),
            throttled_total: self.smartlead.throttled_total(),
            faults_injected: self.faults.injected_count(),
        }
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) -> Result<(), SandboxError> {
        self.stop.cancel();
        match self.server.take() {
            Some(server) => server
                .await
                .map_err(|err| SandboxError::Server(err.to_string()))?
                .map_err(|err| SandboxError::Server(err.to_string())),
            None => Ok(()),
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// `outpost sandbox`: start, print the info JSON as exactly one stdout line, serve until Ctrl-C.
pub async fn run_cli(opts: SandboxOptions) -> anyhow::Result<()> {
    let handle = start(opts).await?;
    let line = serde_json::to_string(handle.info())?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
        stdout.flush()?;
    }
    tracing::info!(addr = %handle.addr(), "sandbox listening");
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_deterministic_and_shaped() {
        let (key_a, google_a) = credentials(7);
        let (key_b, google_b) = credentials(7);
        let (key_c, _) = credentials(8);
        assert_eq!((key_a.clone(), google_a.clone()), (key_b, google_b));
        assert_ne!(key_a, key_c);
        assert!(google_a.client_id.ends_with(".apps.googleusercontent.com"));
        assert!(google_a.client_secret.starts_with("GOCSPX-"));
        assert!(!format!("{google_a:?}").contains(&google_a.client_secret));
    }

    #[test]
    fn info_json_has_exactly_the_documented_keys() {
        let (key, google) = credentials(1);
        let info = SandboxInfo::new(SocketAddr::from(([127, 0, 0, 1], 4242)), &key, &google);
        let value = serde_json::to_value(&info).unwrap_or_default();
        let mut keys: Vec<&str> = value
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "gmail_api_base_url",
                "gmail_email",
                "oauth_auth_url",
                "oauth_client_id",
                "oauth_client_secret",
                "oauth_token_url",
                "smartlead_api_key",
                "smartlead_base_url",
            ]
        );
        assert_eq!(info.smartlead_base_url, "http://127.0.0.1:4242/api/v1");
        assert_eq!(
            info.oauth_auth_url,
            "http://127.0.0.1:4242/o/oauth2/v2/auth"
        );
        assert!(!format!("{info:?}").contains(&key));
    }
}
