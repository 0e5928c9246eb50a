//! Export and import: every record as one JSON line `{"kind": ..., "record": ...}`.
//! The export is readable without outpost, and an import rebuilds the cache
//! (records and every index) from it.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{Kind, Record, Store, StoreError};
use crate::model::*;
use crate::replica::PollLease;

#[derive(Serialize)]
struct Line<'a, R: Serialize> {
    kind: Kind,
    record: &'a R,
}

#[derive(Deserialize)]
struct RawLine<'a> {
    kind: Kind,
    #[serde(borrow)]
    record: &'a RawValue,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortableSummary {
    pub records: u64,
    pub by_kind: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum PortableError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {detail}; nothing after line {last_good} was imported")]
    BadLine {
        line: u64,
        last_good: u64,
        detail: String,
    },
}

macro_rules! for_each_kind {
    ($kind:expr, $body:ident) => {
        match $kind {
            Kind::Account => $body!(Account),
            Kind::Campaign => $body!(Campaign),
            Kind::CampaignDay => $body!(CampaignDay),
            Kind::Mailbox => $body!(Mailbox),
            Kind::Lead => $body!(Lead),
            Kind::Thread => $body!(Thread),
            Kind::Message => $body!(Message),
            Kind::Activity => $body!(Activity),
            Kind::ActivityPage => $body!(ActivityPage),
            Kind::Sequence => $body!(Sequence),
            Kind::Enrollment => $body!(Enrollment),
            Kind::Execution => $body!(StepExecution),
            Kind::Outbox => $body!(OutboxItem),
            Kind::Suppression => $body!(Suppression),
            Kind::Task => $body!(Task),
            Kind::Draft => $body!(Draft),
            Kind::ReadChange => $body!(ReadChange),
            Kind::Triage => $body!(Triage),
            Kind::Reminder => $body!(Reminder),
            Kind::Notified => $body!(Notified),
            Kind::Cursor => $body!(Cursor),
            Kind::MailboxPause => $body!(MailboxPause),
            Kind::PendingUnsubscribe => $body!(PendingUnsubscribe),
            Kind::BulkChange => $body!(BulkChange),
            Kind::Tags => $body!(TagSet),
            Kind::GmailLabels => $body!(GmailLabels),
            Kind::PollLease => $body!(PollLease),
            Kind::UserToken => $body!(UserToken),
            Kind::Assignment => $body!(Assignment),
            Kind::StoredAccount => $body!(StoredAccount),
            Kind::QueuedDelivery => $body!(QueuedDelivery),
        }
    };
}

fn export_kind<R: Record>(
    store: &Store,
    out: &mut dyn Write,
    summary: &mut PortableSummary,
) -> Result<(), PortableError> {
    for record in store.iter::<R>() {
        let record = record?;
        serde_json::to_writer(
            &mut *out,
            &Line {
                kind: R::KIND,
                record: &record,
            },
        )
        .map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
        summary.records += 1;
        *summary
            .by_kind
            .entry(R::KIND.tree().to_string())
            .or_default() += 1;
    }
    Ok(())
}

/// Writes every record of every kind, one JSON line each.
pub fn export(store: &Store, out: &mut dyn Write) -> Result<PortableSummary, PortableError> {
    let mut summary = PortableSummary::default();
    for kind in Kind::ALL {
        macro_rules! one {
            ($t:ty) => {
                export_kind::<$t>(store, out, &mut summary)?
            };
        }
        for_each_kind!(kind, one);
    }
    out.flush()?;
    Ok(summary)
}

/// Reads an export and writes its records (with their indexes) in batches.
/// A malformed line stops the import with its number; earlier batches stay.
pub fn import(store: &Store, input: &mut dyn BufRead) -> Result<PortableSummary, PortableError> {
    import_at(store, input, 1)
}

/// [`import`] of a part of an export whose first line is line `first_line`
/// of the whole, so an error names the line in the rep's file.
pub fn import_at(
    store: &Store,
    input: &mut dyn BufRead,
    first_line: u64,
) -> Result<PortableSummary, PortableError> {
    let mut summary = PortableSummary::default();
    let mut batch: Vec<String> = Vec::new();
    let mut batch_kind: Option<Kind> = None;
    let mut line_no = first_line.saturating_sub(1);
    let mut last_good = line_no;
    let mut text = String::new();
    loop {
        text.clear();
        let read = input.read_line(&mut text)?;
        if read == 0 {
            break;
        }
        line_no += 1;
        if text.trim().is_empty() {
            continue;
        }
        let parsed: RawLine =
            serde_json::from_str(text.trim_end()).map_err(|e| PortableError::BadLine {
                line: line_no,
                last_good,
                detail: e.to_string(),
            })?;
        if batch_kind.is_some_and(|k| k != parsed.kind) || batch.len() >= 500 {
            flush_batch(
                store,
                batch_kind,
                &mut batch,
                &mut summary,
                line_no,
                last_good,
            )?;
            last_good = line_no - 1;
        }
        batch_kind = Some(parsed.kind);
        batch.push(parsed.record.get().to_string());
    }
    flush_batch(
        store,
        batch_kind,
        &mut batch,
        &mut summary,
        line_no,
        last_good,
    )?;
    store.flush()?;
    Ok(summary)
}

fn flush_batch(
    store: &Store,
    kind: Option<Kind>,
    batch: &mut Vec<String>,
    summary: &mut PortableSummary,
    line: u64,
    last_good: u64,
) -> Result<(), PortableError> {
    let Some(kind) = kind else {
        return Ok(());
    };
    macro_rules! one {
        ($t:ty) => {{
            let records = batch
                .iter()
                .map(|raw| serde_json::from_str::<$t>(raw))
                .collect::<Result<Vec<$t>, _>>()
                .map_err(|e| PortableError::BadLine {
                    line,
                    last_good,
                    detail: format!("a {} record does not fit: {e}", kind.tree()),
                })?;
            store.put_all(&records)?;
        }};
    }
    for_each_kind!(kind, one);
    summary.records += batch.len() as u64;
    *summary.by_kind.entry(kind.tree().to_string()).or_default() += batch.len() as u64;
    batch.clear();
    Ok(())
}

pub type PortableResult<T> = Result<T, PortableError>;
