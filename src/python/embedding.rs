//! `embedding` and `aembedding`, and the reading of an embeddings call from Python (shared
//! with `Router.embedding`).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use serde_json::Value;

use super::callbacks::{self, PendingLog};
use super::completion::{global_drop_params, logged_coroutine, AsyncOutcome};
use super::convert::{self, from_py, parse_call, ParsedCall};
use super::coroutine::Coroutine;
use super::exceptions::to_pyerr;
use super::runtime::{block_on_thread, shared_client};
use crate::call::{self, CallOptions, PreparedEmbedding};
use crate::error::{ErrorKind, LlmError};
use crate::providers::mock::MockSpec;
use crate::types::{ChatRequest, EmbeddingInput, EmbeddingRequest, EncodingFormat};

/// Read an embeddings call's `input` and keyword arguments. The keywords are read as for
/// `completion()` (credentials, `timeout`, `num_retries`, `mock_response`, `metadata`, ...),
/// then the embedding parameters are taken out; see [`embedding_request`].
pub fn parse_embedding(
    py: Python<'_>,
    model: &str,
    input: &Bound<'_, PyAny>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> Result<(ParsedCall, EmbeddingRequest), LlmError> {
    let input = input_from_py(input)?;
    let (vector, owned) = take_mock_vector(py, kwargs)?;
    let kwargs = owned.as_ref().or(kwargs);
    let mut parsed = parse_call(py, model, None, kwargs, global_drop_params(py))?;
    set_mock_vector(&mut parsed.options, vector);
    let request = embedding_request(&mut parsed.request, input, parsed.options.drop_params)?;
    Ok((parsed, request))
}

/// A `mock_response` vector, and the keywords without it (`None` when unchanged).
type MockVector<'py> = (Option<Vec<f64>>, Option<Bound<'py, PyDict>>);

/// LiteLLM's embedding `mock_response` may be the vector itself; `completion()`'s reading
/// knows only texts and errors, so a vector is taken out first: returns it and the
/// keywords without it (`None` when unchanged).
pub fn take_mock_vector<'py>(
    py: Python<'py>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> Result<MockVector<'py>, LlmError> {
    let Some(kw) = kwargs else {
        return Ok((None, None));
    };
    let Some(m) = kw
        .get_item(pyo3::intern!(py, "mock_response"))
        .ok()
        .flatten()
    else {
        return Ok((None, None));
    };
    if !(m.is_instance_of::<PyList>() || m.is_instance_of::<PyTuple>()) {
        return Ok((None, None));
    }
    let vector = from_py::<Vec<f64>>(&m, "mock_response")?;
    let copy = kw
        .copy()
        .map_err(|e| LlmError::bad_request(e.to_string()))?;
    let _ = copy.del_item("mock_response");
    Ok((Some(vector), Some(copy)))
}

/// Answer with `vector` (from [`take_mock_vector`]) when there is one.
pub fn set_mock_vector(options: &mut CallOptions, vector: Option<Vec<f64>>) {
    if let Some(v) = vector {
        options.mock = Some(MockSpec {
            vector: Some(v),
            ..options.mock.take().unwrap_or_default()
        });
    }
}

/// `input=`: a string, a list of strings, a list of token ids or a list of token-id lists.
pub fn input_from_py(input: &Bound<'_, PyAny>) -> Result<EmbeddingInput, LlmError> {
    if let Ok(s) = input.cast::<PyString>() {
        let text = s
            .to_cow()
            .map_err(|e| LlmError::bad_request(e.to_string()))?;
        return Ok(EmbeddingInput::Text(text.into_owned()));
    }
    let value: Value = from_py(input, "input")?;
    EmbeddingInput::from_value(value).map_err(LlmError::bad_request)
}

/// The embeddings request in a call read by `parse_call`: `dimensions` and
/// `encoding_format` come out of the pass-through fields, `user` out of the chat
/// parameters; any other chat parameter is not an embedding parameter, so it fails (or,
/// with `drop_params`, is dropped). Other keywords pass through to the provider's body.
pub fn embedding_request(
    chat: &mut ChatRequest,
    input: EmbeddingInput,
    drop_params: bool,
) -> Result<EmbeddingRequest, LlmError> {
    let mut req = EmbeddingRequest::new(std::mem::take(&mut chat.model), input);
    req.user = chat.params.user.take();
    let others: Vec<&'static str> = chat.params.set_names();
    if !others.is_empty() && !drop_params {
        return Err(LlmError::new(
            ErrorKind::UnsupportedParams,
            format!(
                "Not embedding parameters: {}. Embeddings take dimensions, encoding_format and user (and provider-specific fields); pass drop_params=True to drop the others",
                others.join(", ")
            ),
        ));
    }
    let mut extra = std::mem::take(&mut chat.extra);
    if let Some(v) = extra.remove("dimensions").filter(|v| !v.is_null()) {
        let n = v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                LlmError::bad_request(format!("dimensions must be a positive integer, got {v}"))
            })?;
        req.dimensions = Some(n);
    }
    if let Some(v) = extra.remove("encoding_format").filter(|v| !v.is_null()) {
        req.encoding_format = Some(serde_json::from_value::<EncodingFormat>(v.clone()).map_err(
            |_| {
                LlmError::bad_request(format!(
                    "encoding_format must be \"float\" or \"base64\", got {v}"
                ))
            },
        )?);
    }
    req.extra = extra;
    Ok(req)
}

fn prepare_from_py(
    py: Python<'_>,
    model: &str,
    input: &Bound<'_, PyAny>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> Result<PreparedEmbedding, LlmError> {
    let (parsed, request) = parse_embedding(py, model, input, kwargs)?;
    call::prepare(
        &parsed.model,
        parsed.custom_llm_provider.as_deref(),
        request,
        &parsed.target,
        parsed.options,
    )
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
    model: &str,
    input: &Bound<'py, PyAny>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let log = callbacks::start_blocking(py, "embedding", model, Some(input), kwargs)?;
    let result = (|| {
        let call = prepare_from_py(py, model, input, kwargs).map_err(to_pyerr)?;
        let done = block_on_thread(py, move |client| async move {
            call::execute(&client, &call).await
        })?;
        convert::embedding_response_to_py(py, &done.response, &done.meta)
    })();
    callbacks::settle(py, log, result)
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
    model: &str,
    input: &Bound<'py, PyAny>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Coroutine> {
    let pending = PendingLog::capture(py, "aembedding", model, Some(input), kwargs);
    let prepared = prepare_from_py(py, model, input, kwargs);
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
