//! A call that is not routed, with fallbacks (LiteLLM's `completion(..., fallbacks=[...])`
//! and `litellm.model_fallbacks`): each attempt of [`CallArgs::into_attempts`] in turn,
//! the first answer wins. An attempt that cannot even be prepared (an unknown model, a
//! missing key) counts as failed, as in LiteLLM, where each fallback is its own call.

use super::{execute, execute_stream, CallArgs, Completion, ResponseMeta};
use crate::error::LlmError;
use crate::http::HttpClient;
use crate::stream::ChunkStream;
use crate::types::ChatRequest;

/// The first answer of `attempts`, else the last attempt's error.
pub async fn execute_attempts(
    client: &HttpClient,
    attempts: Vec<CallArgs>,
) -> Result<Completion, LlmError> {
    let mut last = None;
    for args in attempts {
        let outcome = match args.prepare::<ChatRequest>() {
            Ok(call) => execute(client, &call).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(done) => return Ok(done),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| LlmError::bad_request("no model to call")))
}

/// [`execute_attempts`] for a stream: the first attempt whose stream opens.
pub async fn execute_stream_attempts(
    client: &HttpClient,
    attempts: Vec<CallArgs>,
) -> Result<(ChunkStream, ResponseMeta), LlmError> {
    let mut last = None;
    for args in attempts {
        let outcome = match args.prepare::<ChatRequest>() {
            Ok(call) => execute_stream(client, &call).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(opened) => return Ok(opened),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| LlmError::bad_request("no model to call")))
}
