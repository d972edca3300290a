//! The pyo3 layer: the only place that knows about Python. It converts arguments into
//! values for the core's front door (`crate::call::args`, which decides what each one
//! means), runs the core's futures with the GIL released, and turns results and errors
//! into Python objects.

#[cfg(unix)]
mod aio;
mod args;
mod budget;
mod cache;
mod callbacks;
mod completion;
mod convert;
mod coroutine;
mod cost;
mod embedding;
mod exceptions;
mod package;
mod proxy;
mod router;
mod runtime;
mod spend;
mod stream;
mod testing;
mod token_provider;
mod values;

use pyo3::prelude::*;

/// The native core of llmswitch. Import ``llmswitch``, not this module.
#[pymodule]
mod _llmswitch {
    #[pymodule_export]
    use super::budget::{
        _budget_add, _budget_clear, _budget_deliver_alerts, _budget_remove, _budget_reset,
        _budget_status, PyBudgetManager,
    };
    #[pymodule_export]
    use super::cache::Cache;
    #[pymodule_export]
    use super::completion::{
        acompletion, completion, get_llm_provider, get_supported_openai_params, provider_names,
        stream_chunk_builder,
    };
    #[pymodule_export]
    use super::coroutine::Coroutine;
    #[pymodule_export]
    use super::cost::{
        _keyed_providers, completion_cost, cost_per_token, get_max_tokens, get_model_info,
        register_model, supports_function_calling, supports_parallel_function_calling,
        supports_pdf_input, supports_prompt_caching, supports_reasoning, supports_response_schema,
        supports_tool_choice, supports_vision, supports_web_search, token_counter,
        validate_environment, ModelCostMap,
    };
    #[pymodule_export]
    use super::embedding::{aembedding, embedding};
    #[pymodule_export]
    use super::package::{_default_names, _set_default};
    #[pymodule_export]
    use super::proxy::{_proxy_serve, _proxy_start, ProxyServer};
    #[pymodule_export]
    use super::router::Router;
    #[pymodule_export]
    use super::runtime::_after_fork_in_child;
    #[pymodule_export]
    use super::spend::{
        _set_clock, _spend_clear, _spend_configure, _spend_disable_store, _spend_enable_store,
        _spend_flush, _spend_footprint, _spend_is_recording, _spend_records, _spend_status,
        _spend_store_path, spend_report, SpendReport,
    };
    #[pymodule_export]
    use super::stream::{AsyncStream, ReadyChunk, SyncStream};
    #[pymodule_export]
    use super::testing::{ManualClock, MockServer};

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        super::cost::load_cost_map_from_env(m.py())?;
        Ok(())
    }
}
