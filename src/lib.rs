//! llmswitch: one call for every LLM provider.
//!
//! The crate is a pure-Rust core (OpenAI-format types, providers, HTTP, errors, and the
//! call pipeline) plus one optional pyo3 layer in [`python`], enabled by the `python`
//! feature. Nothing outside `src/python/` knows about Python.

pub mod budget;
pub mod cache;
pub mod call;
pub mod catalog;
pub mod cost;
pub mod environ;
pub mod error;
pub mod http;
pub mod mock_server;
pub mod model_id;
pub mod params;
pub mod providers;
pub mod proxy;
pub mod redact;
pub mod router;
pub mod spend;
pub mod stream;
pub mod suggest;
#[cfg(test)]
mod test_redis;
pub mod tokens;
pub mod types;

#[cfg(feature = "python")]
mod python;

pub use error::{ErrorKind, LlmError};

/// mimalloc for every Rust allocation (the extension's and the gateway's): fewer
/// instructions per allocation than glibc's malloc and no per-thread arenas that keep
/// freed memory, so the gateway's RSS stays flat under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
