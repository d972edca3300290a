//! `completion`, `acompletion`, `stream_chunk_builder` and the parameter helpers.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::args::{call_args, model_text};
use super::budget::deliver_alerts;
use super::callbacks::{self, CallLog, PendingLog};
use super::convert;
use super::coroutine::Coroutine;
use super::exceptions::to_pyerr_in;
use super::runtime::{block_on_thread, shared_client, spawn_for_coroutine, thread_runtime};
use super::stream::{AsyncStream, SyncStream};
use super::values::from_py;
use crate::call::{self, CallArgs, Completion, PreparedCall, ResponseMeta};
use crate::error::LlmError;
use crate::stream::{ChunkStream, StreamAccumulator};
use crate::types::{ChatChunk, ChatRequest};
use crate::{model_id, providers};

/// A chat call read from its Python arguments: one call, checked and prepared; or, with
/// fallbacks (the call's `fallbacks=`, or `llmswitch.model_fallbacks`), the attempts to
/// make in turn (see [`CallArgs::into_attempts`]).
enum Planned {
    One(Box<PreparedCall>),
    Attempts {
        attempts: Vec<CallArgs>,
        stream: bool,
    },
}

/// Read and check a call from its Python arguments, through the core's front door.
fn prepare_from_py(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    messages: Option<&Bound<'_, PyAny>>,
    kwargs: Option<&Bound<'_, PyDict>>,
    asynchronous: bool,
) -> Result<Planned, LlmError> {
    let mut args = call_args(py, model, "messages", messages, kwargs, asynchronous)?;
    let mut attempts = args.take_fallbacks()?;
    if attempts.is_empty() {
        return Ok(Planned::One(Box::new(args.prepare::<ChatRequest>()?)));
    }
    let stream = args.is_stream();
    attempts.insert(0, args);
    Ok(Planned::Attempts { attempts, stream })
}

/// Send a chat completion request to any provider, in OpenAI format.
///
/// Args:
///     model: ``"provider/model"`` (``"anthropic/claude-sonnet-4-20250514"``,
///         ``"groq/llama-3.3-70b-versatile"``, ``"mock/anything"``) or a bare name whose
///         family is known (``"gpt-4o"``).
///     messages: OpenAI chat messages.
///     **kwargs: OpenAI parameters (``temperature``, ``tools``, ``stream``, ...), call
///         options (``timeout``, ``num_retries``, ``api_key``, ``api_base``,
///         ``extra_headers``, ``drop_params``, ``mock_response``, ``metadata``, ...) and
///         provider-specific parameters, passed through.
///
/// Returns:
///     A ``ModelResponse`` (an OpenAI ``chat.completion`` dict with attribute access),
///     or, with ``stream=True``, an iterator of ``ModelResponseStream`` chunks.
///
/// Raises:
///     BadRequestError, AuthenticationError, UnsupportedParamsError: before any network
///     call, for an unknown provider, malformed messages, a missing key or an unsupported
///     parameter. Provider errors map to the LiteLLM exception classes.
#[pyfunction]
#[pyo3(signature = (model, messages=None, **kwargs))]
pub fn completion<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    messages: Option<&Bound<'py, PyAny>>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let log = callbacks::start_blocking(py, "completion", &model_text(model), messages, kwargs)?;
    settle(py, log, completion_unlogged(py, model, messages, kwargs))
}

fn completion_unlogged<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    messages: Option<&Bound<'py, PyAny>>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    // Each path in its own function: deep arguments are read below this frame, on
    // threads with small stacks too.
    match prepare_from_py(py, model, messages, kwargs, false)? {
        Planned::One(call) => complete_one(py, call),
        Planned::Attempts { attempts, stream } => complete_with_fallbacks(py, attempts, stream),
    }
}

#[inline(never)]
fn complete_one(py: Python<'_>, call: Box<PreparedCall>) -> PyResult<Bound<'_, PyAny>> {
    if call.options.stream {
        // The stream's connection lives on this thread's runtime, which it keeps.
        let rt = thread_runtime()?;
        let opened = rt.block_on(py, call::execute_stream(&rt.client, &call));
        deliver_alerts(py);
        let (stream, meta) = opened?;
        let stream = SyncStream::new(stream, meta, rt);
        return Ok(Bound::new(py, stream)?.into_any());
    }
    let done = block_on_thread(py, move |client| async move {
        call::execute(&client, &call).await
    });
    deliver_alerts(py);
    let done = done?;
    convert::response_to_py(py, &done.response, &done.meta)
}

#[inline(never)]
fn complete_with_fallbacks(
    py: Python<'_>,
    attempts: Vec<CallArgs>,
    stream: bool,
) -> PyResult<Bound<'_, PyAny>> {
    if stream {
        let rt = thread_runtime()?;
        let opened = rt.block_on(py, call::execute_stream_attempts(&rt.client, attempts));
        deliver_alerts(py);
        let (stream, meta) = opened?;
        let stream = SyncStream::new(stream, meta, rt);
        return Ok(Bound::new(py, stream)?.into_any());
    }
    let done = block_on_thread(py, move |client| async move {
        call::execute_attempts(&client, attempts).await
    });
    deliver_alerts(py);
    let done = done?;
    convert::response_to_py(py, &done.response, &done.meta)
}

/// Report `result` to `log`, if there is one, and hand the result on: a response is
/// reported now; a stream gets the log, to report its chunks and its end; an error is
/// reported as a failure.
pub(super) fn settle<'py>(
    py: Python<'py>,
    log: Option<CallLog>,
    result: PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(log) = log else {
        return result;
    };
    match &result {
        Ok(obj) => {
            if let Ok(stream) = obj.cast::<SyncStream>() {
                stream.borrow().set_log(log);
            } else if let Ok(stream) = obj.cast::<AsyncStream>() {
                stream.borrow().set_log(log);
            } else {
                log.success(obj);
            }
        }
        Err(e) => log.failure(py, e),
    }
    result
}

/// The outcome of an async call, turned into a Python object (or exception) under the GIL
/// when the asyncio future is resolved.
pub(super) enum AsyncOutcome {
    Response(Box<Completion>),
    Embedding(Box<call::EmbeddingCompletion>),
    Stream(Box<(ChunkStream, ResponseMeta)>),
    Failed(LlmError),
}

impl<'py> IntoPyObject<'py> for AsyncOutcome {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        deliver_alerts(py);
        match self {
            AsyncOutcome::Response(done) => convert::response_to_py(py, &done.response, &done.meta),
            AsyncOutcome::Embedding(done) => {
                convert::embedding_response_to_py(py, &done.response, &done.meta)
            }
            AsyncOutcome::Stream(s) => {
                let (stream, meta) = *s;
                let stream = AsyncStream::new(stream, meta);
                Ok(Bound::new(py, stream)?.into_any())
            }
            AsyncOutcome::Failed(e) => Err(to_pyerr_in(py, e)),
        }
    }
}

/// An async call's outcome, with the callback log (if any) that hears it.
pub(super) struct Logged(AsyncOutcome, Option<CallLog>);

impl<'py> IntoPyObject<'py> for Logged {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        settle(py, self.1, self.0.into_pyobject(py))
    }
}

/// The coroutine of an async call: when first awaited (inside the caller's event loop)
/// the callback log starts, then `outcome` runs on the shared runtime.
pub(super) fn logged_coroutine(
    name: &'static str,
    pending: Option<PendingLog>,
    outcome: impl std::future::Future<Output = AsyncOutcome> + Send + 'static,
) -> Coroutine {
    Coroutine::new(name, move |py| {
        let log = match pending {
            Some(p) => p.start(py, true)?,
            None => None,
        };
        spawn_for_coroutine(py, async move { Ok(Logged(outcome.await, log)) })
    })
}

/// Async twin of :func:`completion`: same arguments, returns an awaitable.
///
/// ``await acompletion(...)`` gives a ``ModelResponse``; with ``stream=True`` it gives an
/// async iterator of ``ModelResponseStream`` chunks (``async for chunk in await
/// acompletion(..., stream=True)``). Errors, including those found before any network
/// call, are raised when it is awaited. It returns a coroutine, as LiteLLM's ``async def``
/// does: create it anywhere, run it with ``await``, ``asyncio.create_task`` or
/// ``asyncio.run``.
#[pyfunction]
#[pyo3(signature = (model, messages=None, **kwargs))]
pub fn acompletion<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    messages: Option<&Bound<'py, PyAny>>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Coroutine> {
    let pending = PendingLog::capture(py, "acompletion", &model_text(model), messages, kwargs);
    let prepared = prepare_from_py(py, model, messages, kwargs, true);
    Ok(logged_coroutine("acompletion", pending, async move {
        let planned = match prepared {
            Ok(c) => c,
            Err(e) => return AsyncOutcome::Failed(e),
        };
        let client = match shared_client() {
            Ok(c) => c,
            Err(e) => return AsyncOutcome::Failed(e),
        };
        let call = match planned {
            Planned::One(call) => *call,
            Planned::Attempts {
                attempts,
                stream: true,
            } => {
                return match call::execute_stream_attempts(client, attempts).await {
                    Ok((stream, meta)) => AsyncOutcome::Stream(Box::new((stream, meta))),
                    Err(e) => AsyncOutcome::Failed(e),
                }
            }
            Planned::Attempts { attempts, .. } => {
                return match call::execute_attempts(client, attempts).await {
                    Ok(done) => AsyncOutcome::Response(Box::new(done)),
                    Err(e) => AsyncOutcome::Failed(e),
                }
            }
        };
        if call.options.stream {
            match call::execute_stream(client, &call).await {
                Ok((stream, meta)) => AsyncOutcome::Stream(Box::new((stream, meta))),
                Err(e) => AsyncOutcome::Failed(e),
            }
        } else {
            match call::execute(client, &call).await {
                Ok(done) => AsyncOutcome::Response(Box::new(done)),
                Err(e) => AsyncOutcome::Failed(e),
            }
        }
    }))
}

/// Rebuild a full ``ModelResponse`` from streamed chunks: text and reasoning joined,
/// tool-call arguments reassembled by index, the last finish reason and usage kept, and
/// ``_hidden_params["response_cost"]`` computed from the rebuilt usage.
///
/// Args:
///     chunks: the chunks of one stream, in order (dicts or ``ModelResponseStream``).
///     messages: the prompt; used to count prompt tokens when the chunks carry no usage
///         (the rebuilt ``usage`` and cost then come from counted tokens).
#[pyfunction]
#[pyo3(signature = (chunks, messages=None))]
pub fn stream_chunk_builder<'py>(
    py: Python<'py>,
    chunks: &Bound<'py, PyAny>,
    messages: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let stream_meta = stream_meta_of(chunks)?;
    let chunks: Vec<ChatChunk> = from_py(chunks, "chunks")?;
    let mut acc = StreamAccumulator::new();
    for c in &chunks {
        acc.push(c);
    }
    let mut response = acc.finish();
    let (provider, model, stream_cost) = match stream_meta {
        Some(m) => m,
        None => {
            let r = super::cost::resolve(&response.model, None);
            (r.provider, r.model, None)
        }
    };
    let mut meta = ResponseMeta {
        provider,
        model,
        ..Default::default()
    };
    meta.cost = match &response.usage {
        Some(usage) => meta.cost_of(usage),
        None => {
            // As LiteLLM's stream_chunk_builder does, count the tokens when the chunks
            // carried no usage (the caller did not ask for the usage chunk).
            let usage = estimate_usage(&meta.provider, &meta.model, messages, &response)?;
            // The chunks' stream was costed from the real usage it kept hidden from the
            // caller; that beats an estimate.
            let cost = stream_cost.or_else(|| meta.cost_of(&usage));
            response.usage = Some(usage);
            cost
        }
    };
    convert::response_to_py(py, &response, &meta)
}

/// Provider, model and cost from the `_hidden_params` an llmswitch stream puts on its
/// first chunk.
fn stream_meta_of(chunks: &Bound<'_, PyAny>) -> PyResult<Option<(String, String, Option<f64>)>> {
    let Ok(list) = chunks.cast::<PyList>() else {
        return Ok(None);
    };
    for chunk in list.iter().take(2) {
        let Ok(hidden) = chunk.getattr(pyo3::intern!(chunk.py(), "_hidden_params")) else {
            continue;
        };
        let Ok(hidden) = hidden.cast::<PyDict>() else {
            continue;
        };
        let text = |key: &str| -> PyResult<String> {
            Ok(hidden
                .get_item(key)?
                .and_then(|v| v.extract::<String>().ok())
                .unwrap_or_default())
        };
        let cost = hidden
            .get_item("response_cost")?
            .and_then(|v| v.extract::<f64>().ok());
        return Ok(Some((text("custom_llm_provider")?, text("model")?, cost)));
    }
    Ok(None)
}

/// Usage counted from the prompt messages and the rebuilt reply, for chunks without usage.
fn estimate_usage(
    provider: &str,
    model: &str,
    messages: Option<&Bound<'_, PyAny>>,
    response: &crate::types::ChatResponse,
) -> PyResult<crate::types::Usage> {
    let enc = crate::tokens::encoding_for(provider, model);
    let prompt = match messages.filter(|m| !m.is_none()) {
        Some(m) => {
            let msgs: Vec<crate::types::Message> = from_py(m, "messages")?;
            crate::tokens::count_messages(enc, &msgs)
        }
        None => 0,
    };
    let completion = response
        .choices
        .iter()
        .map(|c| {
            enc.count(c.message.content.as_deref().unwrap_or_default())
                + c.message
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(|t| enc.count(&t.function.arguments))
                    .sum::<u64>()
        })
        .sum();
    Ok(crate::types::Usage::new(prompt, completion))
}

/// The OpenAI parameters ``model`` accepts (after translation by its provider).
///
/// Args:
///     model: a model string as for :func:`completion`.
///     custom_llm_provider: overrides the provider inferred from ``model``.
///
/// Raises:
///     BadRequestError: if the provider is unknown.
#[pyfunction]
#[pyo3(signature = (model, custom_llm_provider=None))]
pub fn get_supported_openai_params(
    model: &str,
    custom_llm_provider: Option<&str>,
) -> PyResult<Vec<&'static str>> {
    let id = model_id::resolve(model, custom_llm_provider)?;
    let provider = providers::get(&id.provider)
        .ok_or_else(|| LlmError::bad_request(format!("Unknown provider '{}'", id.provider)))?;
    Ok(provider.supported_params(&id.model))
}

/// Split a model string into LiteLLM's 4-tuple ``(model, provider, dynamic_api_key,
/// api_base)``.
///
/// Args:
///     model: a model string as for :func:`completion`.
///     custom_llm_provider: overrides the provider inferred from ``model``.
///     api_base: returned as given; otherwise an OpenAI-compatible host's default base
///         URL (None for OpenAI itself and the native APIs), as LiteLLM returns them.
///     api_key: returned as given; otherwise an OpenAI-compatible host's key from its
///         environment variable, if set (None for OpenAI itself and the native APIs).
///
/// Raises:
///     BadRequestError: if the provider cannot be determined.
#[pyfunction]
#[pyo3(signature = (model, custom_llm_provider=None, api_base=None, api_key=None))]
pub fn get_llm_provider(
    model: &str,
    custom_llm_provider: Option<&str>,
    api_base: Option<String>,
    api_key: Option<String>,
) -> PyResult<(String, String, Option<String>, Option<String>)> {
    let id = model_id::resolve(model, custom_llm_provider)?;
    let host = (id.provider != "openai")
        .then(|| {
            providers::openai_compatible::hosts()
                .iter()
                .find(|h| h.name == id.provider || h.aliases.contains(&id.provider))
        })
        .flatten();
    let api_base = api_base.or_else(|| {
        host.and_then(|h| h.api_base.clone())
            .filter(|b| !b.contains('{'))
    });
    let api_key = api_key.or_else(|| host.and_then(|h| providers::env_first(&h.api_key_env)));
    Ok((id.model, id.provider, api_key, api_base))
}

/// Every provider name llmswitch knows, sorted.
#[pyfunction]
pub fn provider_names<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, providers::names())
}
