//! The gateway's admin and state plane: virtual keys, teams, end users (customers), their
//! limits and budgets, and the spend log, over a [`store::Store`] (SQLite by default).

pub mod counters;
pub mod store;
pub mod time;
pub mod token;
