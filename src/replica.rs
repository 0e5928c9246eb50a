//! Replicas: several outpost processes sharing one store, each doing a piece
//! of work exactly once.
//!
//! Each process is a [`Replica`] with an id. Work that only one replica may
//! do at a time (an outbox send, polling an account) is guarded by a
//! [`Lease`]: a holder and an expiry, taken and renewed by compare-and-swap
//! through the `Store` API, so it holds across processes on any backend
//! whose transactions are serializable. A replica that dies stops renewing;
//! once its lease has expired another replica takes the work over.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreResult};

/// Who holds a piece of work, and until when. Past `expires_at` anyone may
/// take it over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    pub fn new(holder: &str, now: DateTime<Utc>, term: Duration) -> Lease {
        Lease {
            holder: holder.to_string(),
            expires_at: now + term,
        }
    }

    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// Whether `holder` may take (or renew) work leased as `current` at `now`:
/// nobody holds it, `holder` does already, or the lease ran out. Work with no
/// lease at all (written before leases existed) is free.
pub fn free_for(current: Option<&Lease>, holder: &str, now: DateTime<Utc>) -> bool {
    current.is_none_or(|lease| lease.holder == holder || lease.expired(now))
}

/// How long a poller holds its account past each poll: the other replicas
/// wait this long after the holder's last poll before one takes over.
pub fn poll_lease_term(interval: std::time::Duration) -> Duration {
    let interval = Duration::from_std(interval).unwrap_or(Duration::hours(1));
    (interval * 2).max(Duration::minutes(2))
}

/// Which replica polls an account (kept per account name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollLease {
    pub account: String,
    pub lease: Lease,
}

impl PollLease {
    pub fn key(&self) -> String {
        self.account.clone()
    }
}

/// Takes or renews the lease on polling `account` for `replica`, in one
/// compare-and-swap; false while another replica holds it unexpired.
pub fn take_poll_lease(
    store: &Store,
    account: &str,
    replica: &str,
    now: DateTime<Utc>,
    term: Duration,
) -> StoreResult<bool> {
    let taken = store.modify::<PollLease, ()>(&[account.to_string()], |_, current| {
        if !free_for(current.as_ref().map(|c| &c.lease), replica, now) {
            return None;
        }
        let lease = PollLease {
            account: account.to_string(),
            lease: Lease::new(replica, now, term),
        };
        Some((lease, ()))
    })?;
    Ok(!taken.is_empty())
}

/// Gives up `replica`'s lease on polling `account` (a daemon stopping), so
/// another replica takes the account over at its next poll instead of
/// after the lease runs out. Another replica's lease is left alone.
pub fn release_poll_lease(
    store: &Store,
    account: &str,
    replica: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    store.modify::<PollLease, ()>(&[account.to_string()], |_, current| {
        let mut held = current.filter(|c| c.lease.holder == replica && !c.lease.expired(now))?;
        held.lease.expires_at = now;
        Some((held, ()))
    })?;
    Ok(())
}

/// This process as one of the replicas sharing a store: its id, and the
/// work it has in flight right now (which no lease check may take from it,
/// even one of its own from before a restart).
#[derive(Debug)]
pub struct Replica {
    id: String,
    in_flight: Mutex<HashSet<String>>,
}

/// Every replica this process runs as, by id, so two engines of one
/// process with one id also share what is in flight.
fn registry() -> &'static Mutex<HashMap<String, Weak<Replica>>> {
    static REPLICAS: OnceLock<Mutex<HashMap<String, Weak<Replica>>>> = OnceLock::new();
    REPLICAS.get_or_init(Mutex::default)
}

/// The file in a data dir that keeps its replica id across restarts.
const ID_FILE: &str = "replica-id";

impl Replica {
    /// The process-wide replica with this id.
    pub fn named(id: &str) -> Arc<Replica> {
        let mut all = registry().lock().expect("replica registry");
        all.retain(|_, weak| weak.strong_count() > 0);
        if let Some(found) = all.get(id).and_then(Weak::upgrade) {
            return found;
        }
        let replica = Arc::new(Replica {
            id: id.to_string(),
            in_flight: Mutex::default(),
        });
        all.insert(id.to_string(), Arc::downgrade(&replica));
        replica
    }

    /// A replica with a fresh random id (a store in memory, a test).
    pub fn random() -> Arc<Replica> {
        Replica::named(&random_id())
    }

    /// The replica a data dir runs as: its id is made at random on first
    /// use and kept in the data dir, so after a restart the process knows
    /// the work it left half-done as its own and settles it at once instead
    /// of waiting out its lease. Each replica has its own data dir.
    pub fn for_data_dir(data_dir: &Path) -> Arc<Replica> {
        let file = data_dir.join(ID_FILE);
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Some(id) = Some(text.trim()).filter(|id| !id.is_empty())
        {
            return Replica::named(id);
        }
        let id = random_id();
        if let Err(err) = std::fs::write(&file, format!("{id}\n")) {
            tracing::warn!(path = %file.display(), error = %err, "cannot keep the replica id; a restart gets a new one");
        }
        Replica::named(&id)
    }

    /// The replica for a store: its data dir's, or a random one in memory.
    pub fn for_store(store: &Store) -> Arc<Replica> {
        let path = store.path();
        if path.is_dir() {
            Replica::for_data_dir(path)
        } else {
            Replica::random()
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Marks `key` as worked on by this process until the guard drops.
    pub fn begin(self: &Arc<Self>, key: &str) -> InFlight {
        self.in_flight
            .lock()
            .expect("in-flight lock")
            .insert(key.to_string());
        InFlight {
            replica: self.clone(),
            key: key.to_string(),
        }
    }

    pub fn is_in_flight(&self, key: &str) -> bool {
        self.in_flight.lock().expect("in-flight lock").contains(key)
    }

    /// Whether this replica may take work leased as `lease` at `now`: free
    /// for it (see [`free_for`]) and not in flight here already.
    pub fn may_take(&self, key: &str, lease: Option<&Lease>, now: DateTime<Utc>) -> bool {
        free_for(lease, &self.id, now) && !self.is_in_flight(key)
    }
}

/// Work in flight in this process; dropping it (also by cancellation) ends it.
#[derive(Debug)]
pub struct InFlight {
    replica: Arc<Replica>,
    key: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut keys) = self.replica.in_flight.lock() {
            keys.remove(&self.key);
        }
    }
}

fn random_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("replica-{}", &hex[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_770_000_000 + minute * 60, 0).unwrap()
    }

    #[test]
    fn a_lease_is_free_when_absent_ours_or_expired() {
        let lease = Lease::new("a", at(0), Duration::minutes(2));
        assert!(free_for(None, "b", at(0)));
        assert!(free_for(Some(&lease), "a", at(1)));
        assert!(!free_for(Some(&lease), "b", at(1)));
        assert!(free_for(Some(&lease), "b", at(2)));
    }

    #[test]
    fn work_in_flight_is_not_taken_even_by_its_own_replica() {
        let replica = Replica::random();
        let lease = Lease::new(replica.id(), at(0), Duration::minutes(2));
        let guard = replica.begin("out-1");
        assert!(!replica.may_take("out-1", Some(&lease), at(5)));
        // The same id elsewhere in the process sees it too.
        assert!(Replica::named(replica.id()).is_in_flight("out-1"));
        drop(guard);
        assert!(replica.may_take("out-1", Some(&lease), at(0)));
    }

    #[test]
    fn a_data_dir_keeps_its_replica_id_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = Replica::for_data_dir(dir.path()).id().to_string();
        let again = Replica::for_data_dir(dir.path()).id().to_string();
        assert_eq!(first, again);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(Replica::for_data_dir(other.path()).id(), first);
    }

    #[test]
    fn one_poller_holds_an_account_until_its_lease_runs_out() {
        let store = Store::temporary().unwrap();
        let term = poll_lease_term(std::time::Duration::from_secs(60));
        assert_eq!(term, Duration::minutes(2));
        assert!(take_poll_lease(&store, "sl", "a", at(0), term).unwrap());
        assert!(!take_poll_lease(&store, "sl", "b", at(0), term).unwrap());
        assert!(take_poll_lease(&store, "sl", "a", at(1), term).unwrap());
        assert!(!take_poll_lease(&store, "sl", "b", at(2), term).unwrap());
        // "a" stops renewing: once its lease from minute 1 runs out, "b" takes over.
        assert!(take_poll_lease(&store, "sl", "b", at(3), term).unwrap());
        assert!(!take_poll_lease(&store, "sl", "a", at(4), term).unwrap());
        // Another account is leased on its own.
        assert!(take_poll_lease(&store, "gm", "a", at(4), term).unwrap());
    }

    #[test]
    fn a_released_poll_lease_is_free_at_once_and_only_its_holder_releases_it() {
        let store = Store::temporary().unwrap();
        let term = Duration::minutes(2);
        assert!(take_poll_lease(&store, "sl", "a", at(0), term).unwrap());
        release_poll_lease(&store, "sl", "b", at(0)).unwrap();
        assert!(!take_poll_lease(&store, "sl", "b", at(0), term).unwrap());
        release_poll_lease(&store, "sl", "a", at(0)).unwrap();
        assert!(take_poll_lease(&store, "sl", "b", at(0), term).unwrap());
        // Releasing an account never leased writes nothing.
        release_poll_lease(&store, "gm", "a", at(0)).unwrap();
        assert_eq!(store.get::<PollLease>("gm").unwrap(), None);
    }
}
