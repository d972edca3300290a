//! The pyo3 layer: the only place that knows about Python. It reads arguments into the
//! core's types, runs the core's futures with the GIL released, and turns results and
//! errors into Python objects.

mod completion;
mod convert;
mod coroutine;
mod cost;
mod embedding;
mod exceptions;
mod router;
mod runtime;
mod stream;
mod testing;

use pyo3::prelude::*;

/// The native core of llmswitch. Import ``llmswitch``, not this module.
#[pymodule]
mod _llmswitch {
    #[pymodule_export]
    use super::completion::{
        acompletion, completion, get_llm_provider, get_supported_openai_params, provider_names,
        stream_chunk_builder,
    };
    #[pymodule_export]
    use super::coroutine::Coroutine;
    #[pymodule_export]
    use super::cost::{
        completion_cost, cost_per_token, get_max_tokens, get_model_info, register_model,
        supports_function_calling, supports_parallel_function_calling, supports_prompt_caching,
        supports_reasoning, supports_response_schema, supports_vision, token_counter, ModelCostMap,
    };
    #[pymodule_export]
    use super::embedding::{aembedding, embedding};
    #[pymodule_export]
    use super::router::Router;
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
