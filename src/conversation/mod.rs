//! One conversation, whichever provider copies it.
//!
//! When Smartlead sends through the rep's own Gmail mailbox, the same
//! messages reach outpost twice: once from Smartlead's message history, once
//! from Gmail. Messages are known by their RFC Message-ID, so two provider
//! threads that share one are one conversation: it is listed once, under
//! its *primary* thread (the Smartlead one when there is one: it carries the
//! campaign and category, and a reply through Smartlead stops its sequence),
//! and the other threads point at it with `merged_into`.
//!
//! Every writer of threads (both syncs, the webhooks, the outbox) calls
//! [`settle`] after writing, and every thread summary is computed by
//! [`summarize`], so the rules live here once.

mod merge;
pub mod smartlead;
mod summary;

pub use merge::{merge_copies, settle, settle_all, settle_if_linked};
pub use summary::{fold, lead_name_for, readable_text, split_quoted, summarize};
