//! A streamed answer as an SSE response body: each chunk is written as it arrives
//! (chunks already buffered go out in the same write), in OpenAI's chunk format or as
//! Anthropic's events. When the body ends, or is dropped because the client went away, the
//! request is recorded (completed, failed, or cancelled with the usage seen so far) and the
//! upstream stream is dropped, which closes its connection.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;

use crate::call::ResponseMeta;
use crate::error::LlmError;
use crate::proxy::anthropic_api::EventWriter;
use crate::proxy::calls::{CallContext, Ending};
use crate::proxy::error::ProxyError;
use crate::proxy::hooks::RequestStatus;
use crate::stream::ChunkStream;
use crate::types::{ChatChunk, ChatRequest, Usage};

/// How chunks are written.
pub(crate) enum Format {
    /// `data: {chunk}` frames and `data: [DONE]`; `model` overrides each chunk's model.
    OpenAi { model: Option<String> },
    /// Anthropic's events.
    Anthropic(Box<EventWriter>),
}

struct SseState {
    ctx: CallContext,
    stream: ChunkStream,
    meta: ResponseMeta,
    format: Format,
    /// The request, to count the prompt if the stream ends without usage.
    request: Option<ChatRequest>,
    prompt_estimate: Option<u64>,
    /// Text passed through so far, to count the completion if the stream ends early.
    text: String,
    first_chunk: Option<Duration>,
    done: bool,
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// A streaming response for `stream`.
pub(crate) fn response(
    ctx: CallContext,
    stream: ChunkStream,
    meta: ResponseMeta,
    format: Format,
    request: Option<ChatRequest>,
    prompt_estimate: Option<u64>,
) -> Response {
    let mut headers = axum::http::HeaderMap::new();
    ctx.headers(&meta, None, &mut headers);
    let stop = Box::pin(ctx.state.streams_stopped());
    let state = SseState {
        ctx,
        stream,
        meta,
        format,
        request,
        prompt_estimate,
        text: String::new(),
        first_chunk: None,
        done: false,
        stop,
    };
    let body = futures_util::stream::unfold(state, |mut st| async move {
        st.next_frame()
            .await
            .map(|b| (Ok::<Bytes, Infallible>(b), st))
    });
    let mut response = Response::new(Body::from_stream(body));
    let h = response.headers_mut();
    h.extend(headers);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

impl SseState {
    async fn next_frame(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let item = tokio::select! {
            biased;
            () = &mut self.stop => {
                // The shutdown grace period is over: end the stream as the server's choice.
                self.done = true;
                self.end(RequestStatus::Cancelled, None);
                return None;
            }
            item = self.stream.next() => item,
        };
        let mut out = String::new();
        match item {
            Some(Ok(chunk)) => {
                if self.first_chunk.is_none() {
                    self.first_chunk = Some(self.ctx.started.elapsed());
                }
                self.write_chunk(chunk, &mut out);
                while let Some(chunk) = self.stream.next_buffered() {
                    self.write_chunk(chunk, &mut out);
                }
            }
            Some(Err(e)) => {
                self.done = true;
                self.write_error(&e, &mut out);
                self.end(RequestStatus::Failure, Some(&e));
            }
            None => {
                self.done = true;
                let usage = self.stream.usage().cloned();
                match &mut self.format {
                    Format::OpenAi { .. } => out.push_str("data: [DONE]\n\n"),
                    Format::Anthropic(w) => w.finish(usage.as_ref(), &mut out),
                }
                self.end(RequestStatus::Success, None);
            }
        }
        Some(Bytes::from(out))
    }

    fn write_chunk(&mut self, mut chunk: ChatChunk, out: &mut String) {
        for c in &chunk.choices {
            let d = &c.delta;
            for t in [&d.content, &d.reasoning_content].into_iter().flatten() {
                self.text.push_str(t);
            }
            for call in d.tool_calls.iter().flatten() {
                if let Some(a) = call.function.as_ref().and_then(|f| f.arguments.as_deref()) {
                    self.text.push_str(a);
                }
            }
        }
        match &mut self.format {
            Format::OpenAi { model } => {
                if let Some(m) = model {
                    chunk.model.clone_from(m);
                }
                out.push_str("data: ");
                // Serialising a chunk cannot fail.
                out.push_str(&serde_json::to_string(&chunk).unwrap_or_default());
                out.push_str("\n\n");
            }
            Format::Anthropic(w) => w.chunk(&chunk, out),
        }
    }

    fn write_error(&mut self, e: &LlmError, out: &mut String) {
        let pe = ProxyError::Llm(e.clone());
        match &mut self.format {
            Format::OpenAi { .. } => {
                let body = serde_json::json!({"error": {
                    "message": e.message, "type": pe.error_type(), "param": null,
                    "code": pe.status().as_u16().to_string(),
                }});
                out.push_str("data: ");
                out.push_str(&body.to_string());
                out.push_str("\n\n");
            }
            Format::Anthropic(w) => w.error(anthropic_error_type(&pe), &e.message, out),
        }
    }

    /// Usage for the record: the stream's own, else counted (prompt and what was passed
    /// through).
    fn usage(&self) -> Usage {
        if let Some(u) = self.stream.usage() {
            return u.clone();
        }
        let (provider, model) = (&self.meta.provider, &self.meta.model);
        let prompt = self.prompt_estimate.unwrap_or_else(|| {
            self.request.as_ref().map_or(0, |r| {
                crate::tokens::count_request_tokens(provider, model, r)
            })
        });
        let completion = if self.text.is_empty() {
            0
        } else {
            crate::tokens::count_text_tokens(provider, model, &self.text)
        };
        Usage::new(prompt, completion)
    }

    fn end(&mut self, status: RequestStatus, error: Option<&LlmError>) {
        let usage = self.usage();
        let cost = self.meta.cost_of(&usage);
        let (error, http_status) = match error {
            Some(e) => {
                let pe = ProxyError::Llm(e.clone());
                (Some(pe.class_name()), pe.status().as_u16())
            }
            None if status == RequestStatus::Cancelled => (None, 499),
            None => (None, 200),
        };
        self.ctx.finish(Ending {
            status,
            meta: Some(&self.meta),
            usage: Some(&usage),
            cost,
            error,
            http_status,
            time_to_first_token: self.first_chunk,
        });
    }
}

impl Drop for SseState {
    fn drop(&mut self) {
        if !self.done {
            // The client went away mid-stream.
            self.done = true;
            self.end(RequestStatus::Cancelled, None);
        }
    }
}

/// Anthropic's `error.type` for an error.
pub(crate) fn anthropic_error_type(e: &ProxyError) -> &'static str {
    match e.status().as_u16() {
        400 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}
