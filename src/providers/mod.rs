//! Remote service clients.

pub mod gmail;
