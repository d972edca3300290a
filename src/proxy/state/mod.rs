//! The gateway's admin and state plane: virtual keys, teams, end users (customers), their
//! limits and budgets, and the spend log, over a [`store::Store`] (SQLite by default).
//!
//! [`plane::StatePlane`] is the request path (authenticate, admit, record); the admin
//! operations (`keys`, `teams`, `customers`, `reports`) are methods on it that take and
//! return LiteLLM's JSON; [`routes`] are thin axum handlers over them.

pub mod cache;
pub mod counters;
pub mod customers;
pub mod error;
pub mod hooks;
pub mod invalidation;
pub mod journal;
pub mod keys;
pub mod plane;
pub mod pricing;
pub mod redis_counters;
pub mod reports;
pub mod requests;
pub mod routes;
pub mod spend_writer;
pub mod store;
pub mod teams;
pub mod time;
pub mod token;
pub mod views;

pub use error::ApiError;
pub use plane::{Admitted, CallRequest, Caller, Changed, KeyAuth, StateConfig, StatePlane};

/// Report a problem of the state plane that no request can be told about (a failing
/// database, dropped spend rows) on standard error.
#[allow(clippy::print_stderr)]
pub(crate) fn warn(message: &str) {
    eprintln!("llmswitch proxy: warning: {message}");
}

#[cfg(test)]
mod tests;
