//! Fault injection for the whole sandbox: added latency and a share of requests answered
//! with a server error. Faults fire before any handler runs, so a faulted request never
//! changes state. The dice are a seeded RNG: a run with the same seed and the same
//! request order fails the same requests. `/_sandbox/` control routes are never faulted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::smartlead::lock;

/// Knobs for injected faults; the default injects none.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Faults {
    /// Share of requests answered with a 5xx, 0.0 to 1.0.
    #[serde(default)]
    pub error_rate: f64,
    /// Delay added before every request is handled.
    #[serde(default)]
    pub latency_ms: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultsError {
    #[error("error_rate must be between 0.0 and 1.0, got {0}")]
    ErrorRateOutOfRange(f64),
}

impl Faults {
    pub fn validate(&self) -> Result<(), FaultsError> {
        if (0.0..=1.0).contains(&self.error_rate) {
            Ok(())
        } else {
            Err(FaultsError::ErrorRateOutOfRange(self.error_rate))
        }
    }
}

/// Shared, run-time adjustable fault settings plus the seeded dice.
#[derive(Debug)]
pub struct FaultInjector {
    settings: Mutex<Faults>,
    rng: Mutex<ChaCha8Rng>,
    injected: AtomicU64,
}

/// Keeps the fault dice independent of the data generator's stream.
const FAULT_SEED_SALT: u64 = 0x0fa1_7ed0_5eed_0001;

impl FaultInjector {
    pub fn new(faults: Faults, seed: u64) -> Result<Self, FaultsError> {
        faults.validate()?;
        Ok(Self {
            settings: Mutex::new(faults),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ FAULT_SEED_SALT)),
            injected: AtomicU64::new(0),
        })
    }

    pub fn get(&self) -> Faults {
        *lock(&self.settings)
    }

    pub fn set(&self, faults: Faults) -> Result<(), FaultsError> {
        faults.validate()?;
        *lock(&self.settings) = faults;
        Ok(())
    }

    /// Requests answered with an injected error so far.
    pub fn injected_count(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    fn should_fail(&self, error_rate: f64) -> bool {
        if error_rate <= 0.0 {
            return false;
        }
        lock(&self.rng).random_bool(error_rate.min(1.0))
    }
}

/// The error a faulted request gets: Smartlead's plain 500 under `/api/v1`, Google's
/// 503 envelope everywhere else.
fn fault_response(path: &str) -> Response {
    if path.starts_with("/api/v1") {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": "Internal Server Error" })),
        )
            .into_response()
    } else {
        let body = json!({
            "error": {
                "code": 503,
                "message": "The service is currently unavailable.",
                "errors": [{
                    "message": "The service is currently unavailable.",
                    "domain": "global",
                    "reason": "backendError"
                }],
                "status": "UNAVAILABLE"
            }
        });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

pub(crate) async fn inject(
    State(injector): State<Arc<FaultInjector>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/_sandbox") {
        return next.run(request).await;
    }
    let Faults {
        error_rate,
        latency_ms,
    } = injector.get();
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    if injector.should_fail(error_rate) {
        injector.injected.fetch_add(1, Ordering::Relaxed);
        return fault_response(&path);
    }
    next.run(request).await
}

/// `GET|PUT /_sandbox/faults` with `{"error_rate":0.2,"latency_ms":50}`.
pub(crate) fn control_routes(injector: Arc<FaultInjector>) -> Router {
    Router::new()
        .route(
            "/_sandbox/faults",
            get(read_faults).put(write_faults).post(write_faults),
        )
        .with_state(injector)
}

async fn read_faults(State(injector): State<Arc<FaultInjector>>) -> Response {
    let faults = injector.get();
    Json(json!({
        "error_rate": faults.error_rate,
        "latency_ms": faults.latency_ms,
        "injected": injector.injected_count(),
    }))
    .into_response()
}

async fn write_faults(State(injector): State<Arc<FaultInjector>>, body: Bytes) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(faults) => faults,
        Err(err) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": err.to_string() })),
            )
                .into_response();
        }
    };
    match injector.set(faults) {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(err) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": err.to_string() })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_out_of_range_rates() {
        let bad = Faults {
            error_rate: 1.5,
            latency_ms: 0,
        };
        assert!(FaultInjector::new(bad, 1).is_err());
        let injector = FaultInjector::new(Faults::default(), 1);
        assert!(injector.is_ok_and(|i| i.set(bad).is_err() && i.get() == Faults::default()));
    }

    #[test]
    fn same_seed_same_dice() {
        let rolls = |seed| {
            let faults = Faults {
                error_rate: 0.5,
                latency_ms: 0,
            };
            FaultInjector::new(faults, seed)
                .map(|i| (0..64).map(|_| i.should_fail(0.5)).collect::<Vec<_>>())
        };
        assert_eq!(rolls(9), rolls(9));
        assert_ne!(rolls(9), rolls(10));
    }

    #[test]
    fn rate_is_roughly_honoured() {
        let injector = FaultInjector::new(Faults::default(), 3);
        let failures = injector
            .map(|i| (0..10_000).filter(|_| i.should_fail(0.25)).count())
            .unwrap_or(0);
        assert!((2_200..2_800).contains(&failures), "{failures}");
    }
}
