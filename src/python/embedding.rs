//! `embedding` and `aembedding`.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::args::{call_args, model_text};
use super::callbacks::{self, PendingLog};
use super::completion::{logged_coroutine, settle, AsyncOutcome};
use super::convert;
use super::coroutine::Coroutine;
use super::runtime::{block_on_thread, shared_client};
use crate::call::{self, PreparedEmbedding};
use crate::error::LlmError;
use crate::types::EmbeddingRequest;

/// Read and check an embeddings call from its Python arguments, through the core's front
/// door.
fn prepare_from_py(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    input: &Bound<'_, PyAny>,
    kwargs: Option<&Bound<'_, PyDict>>,
    asynchronous: bool,
) -> Result<PreparedEmbedding, LlmError> {
    call_args(py, model, "input", Some(input), kwargs, asynchronous)?.prepare::<EmbeddingRequest>()
}

/// Embed texts (or token ids) with any provider that has an embeddings API, in OpenAI's
/// format.
///
/// Args:
///     model: ``"provider/model"`` (``"openai/text-embedding-3-small"``,
///         ``"mistral/mistral-embed"``, ``"mock/anything"``) or a bare name whose family is
///         known.
///     input: a string, a list of strings, a list of token ids, or a list of token-id
///         lists; each list item gets its own vector.
///     **kwargs: ``dimensions``, ``encoding_format`` (``"float"`` or ``"base64"``),
///         ``user``; call options as for :func:`completion` (``timeout``, ``num_retries``,
///         ``api_key``, ``api_base``, ``api_version``, ``custom_llm_provider``,
///         ``extra_headers``, ``drop_params``, ``metadata``, ``mock_response`` (a vector,
///         an exception or an exception name), ``mock_delay``); other keywords pass
///         through to the provider's request body (``input_type``, ...).
///
/// Returns:
///     An ``EmbeddingResponse`` (an OpenAI embeddings ``list`` dict with attribute
///     access) whose ``_hidden_params`` hold ``custom_llm_provider``, ``api_base`` and
///     ``response_cost``.
///
/// Raises:
///     BadRequestError: before any network call, for an unknown provider, a provider
///         without embeddings, or no or empty input.
///     AuthenticationError: before any network call, for a missing key.
///     UnsupportedParamsError: before any network call, for a parameter the provider or
///         model does not take (``dimensions`` on ``text-embedding-ada-002``), unless
///         ``drop_params``. Provider errors map to the LiteLLM exception classes.
#[pyfunction]
#[pyo3(signature = (model, input, **kwargs))]
pub fn embedding<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    input: &Bound<'py, PyAny>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let log = callbacks::start_blocking(py, "embedding", &model_text(model), Some(input), kwargs)?;
    let result = (|| {
        let call = prepare_from_py(py, model, input, kwargs, false)?;
        let done = block_on_thread(py, move |client| async move {
            call::execute(&client, &call).await
        });
        super::budget::deliver_alerts(py);
        let done = done?;
        convert::embedding_response_to_py(py, &done.response, &done.meta)
    })();
    settle(py, log, result)
}

/// Async twin of :func:`embedding`: same arguments, returns a coroutine (as LiteLLM's
/// ``async def`` does: create it anywhere, run it with ``await``, ``asyncio.create_task``
/// or ``asyncio.run``).
///
/// Args:
///     model: as for :func:`embedding`.
///     input: as for :func:`embedding`.
///     **kwargs: as for :func:`embedding`.
///
/// Returns:
///     A coroutine of an ``EmbeddingResponse``.
///
/// Raises:
///     As :func:`embedding`, when awaited (errors found before any network call too).
#[pyfunction]
#[pyo3(signature = (model, input, **kwargs))]
pub fn aembedding<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    input: &Bound<'py, PyAny>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Coroutine> {
    let pending = PendingLog::capture(py, "aembedding", &model_text(model), Some(input), kwargs);
    let prepared = prepare_from_py(py, model, input, kwargs, true);
    Ok(logged_coroutine("aembedding", pending, async move {
        let outcome = async {
            let call = prepared?;
            call::execute(shared_client()?, &call).await
        }
        .await;
        match outcome {
            Ok(done) => AsyncOutcome::Embedding(Box::new(done)),
            Err(e) => AsyncOutcome::Failed(e),
        }
    }))
}
