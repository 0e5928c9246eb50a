//! Read marks the rep sets reach Gmail. Marking is local and instant
//! (`Engine::set_thread_read` leaves a `ReadChange` per Gmail message); this
//! takes each waiting change to Gmail (`messages.modify` on `UNREAD`) and
//! forgets it once Gmail has it, unless the rep changed it again meanwhile.

use crate::engine::Engine;
use crate::model::ReadChange;
use crate::providers::gmail::GmailError;
use crate::providers::registry::GmailAccount;

use super::SyncError;

/// Pushes the account's waiting read marks; returns how many reached Gmail.
pub async fn push_read_changes(
    engine: &Engine,
    account: &GmailAccount,
) -> Result<usize, SyncError> {
    let store = engine.store();
    let pending: Vec<ReadChange> = store
        .scan_prefix::<ReadChange>(&format!("{}/", account.name))
        .collect::<Result<_, _>>()?;
    let mut pushed = 0;
    for change in pending {
        let (add, remove): (&[&str], &[&str]) = if change.read {
            (&[], &["UNREAD"])
        } else {
            (&["UNREAD"], &[])
        };
        match account.client.modify(&change.gmail_id, add, remove).await {
            Ok(_) => pushed += 1,
            // Deleted in Gmail since: nothing left to mark.
            Err(GmailError::Api { status: 404, .. }) => {}
            Err(err) => return Err(err.into()),
        }
        store.delete_if_unchanged(&change)?;
    }
    Ok(pushed)
}

/// Pushes every Gmail account's waiting read marks; an account that fails
/// keeps its marks for the next try and does not stop the others.
pub async fn push_all(engine: &Engine) -> usize {
    let mut pushed = 0;
    for account in engine.providers().gmail.values() {
        match push_read_changes(engine, account).await {
            Ok(n) => pushed += n,
            Err(err) => {
                tracing::warn!(account = %account.name, error = %err, "read marks not pushed yet")
            }
        }
    }
    pushed
}
