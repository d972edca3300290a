//! The gateway's admin and state plane: virtual keys, teams, end users (customers), their
//! limits and budgets, and the spend log, over a [`store::Store`] (SQLite by default).

pub mod counters;
pub mod spend_writer;
pub mod store;
pub mod time;
pub mod token;

/// Report a problem of the state plane that no request can be told about (a failing
/// database, dropped spend rows) on standard error.
#[allow(clippy::print_stderr)]
pub(crate) fn warn(message: &str) {
    eprintln!("llmswitch proxy: warning: {message}");
}
