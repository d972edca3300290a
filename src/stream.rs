//! Streaming shared by all providers: SSE / NDJSON framing of the byte stream, the
//! [`ChunkStream`] that yields OpenAI chunks, and [`StreamAccumulator`], which rebuilds a
//! full `chat.completion` from chunks (`stream_chunk_builder`).

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use serde_json::{Map, Value};

use crate::error::{ErrorKind, LlmError};
use crate::http::{timeout_error, transport_error};
use crate::types::{
    ChatChunk, ChatResponse, Choice, FunctionCall, ResponseMessage, ToolCall, Usage,
};

pub mod aws_event_stream;

/// How a provider frames its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFormat {
    /// Server-sent events (`event:` / `data:` lines, blank-line separated).
    Sse,
    /// One JSON document per line.
    Ndjson,
    /// AWS's binary `application/vnd.amazon.eventstream` (Bedrock's ConverseStream and
    /// InvokeModelWithResponseStream), CRC-checked. A frame's `event` is the
    /// `:event-type`, or `exception:<:exception-type>` / `error:<:error-code>` for the
    /// messages that report a failure; `data` is the payload (JSON), or the error message.
    AwsEventStream,
}

/// One frame: an SSE event (name and joined data lines) or one NDJSON line.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub event: Option<&'a str>,
    pub data: &'a str,
}

/// What a parser wants after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamControl {
    Continue,
    /// The provider signalled the end (`[DONE]`, `message_stop`).
    Done,
}

/// Turns a provider's stream frames into OpenAI chunks. One instance per stream, so it may
/// keep state (message id, tool-call indexes, usage seen so far). Providers implement it;
/// the stream drives it.
pub trait StreamParser: Send {
    /// Handle one frame; push the chunks it yields onto `out`.
    fn on_frame(
        &mut self,
        frame: Frame<'_>,
        out: &mut Vec<ChatChunk>,
    ) -> Result<StreamControl, LlmError>;

    /// The byte stream ended. Providers without an explicit terminator may flush here.
    fn on_end(&mut self, _out: &mut Vec<ChatChunk>) -> Result<(), LlmError> {
        Ok(())
    }
}

/// Adds the call's provider and model to an error of its stream and redacts the call's
/// keys (the pipeline passes `Target::annotate`).
pub type Annotate = Box<dyn Fn(LlmError) -> LlmError + Send + Sync>;

#[derive(Debug, Default, Clone, PartialEq)]
struct OwnedFrame {
    event: Option<String>,
    data: String,
}

/// Incremental decoder from bytes to frames. Handles `\n`, `\r\n` line ends, comments,
/// multi-line data and frames split across reads; and AWS event-stream messages.
#[derive(Debug)]
pub struct FrameDecoder {
    format: FrameFormat,
    buf: Vec<u8>,
    event: Option<String>,
    data: String,
    has_data: bool,
    event_stream: aws_event_stream::Decoder,
}

impl FrameDecoder {
    pub fn new(format: FrameFormat) -> Self {
        FrameDecoder {
            format,
            buf: Vec::new(),
            event: None,
            data: String::new(),
            has_data: false,
            event_stream: aws_event_stream::Decoder::default(),
        }
    }

    fn too_large(limit: usize) -> String {
        format!(
            "an event is larger than max_response_bytes ({limit} bytes); raise \
             llmswitch.max_response_bytes (or {}) to accept it",
            crate::http::MAX_RESPONSE_BYTES_ENV
        )
    }

    /// Feed bytes; complete frames are appended to `out`. Lines are read in place (no
    /// copy unless a line spans reads, no allocation per line): this runs per chunk. Only
    /// a binary format can fail (a corrupt message); the error says why.
    fn push(&mut self, bytes: &[u8], out: &mut Vec<OwnedFrame>) -> Result<(), String> {
        // The largest event (line, SSE event or binary message) held in memory.
        let limit = crate::http::max_response_bytes();
        if self.format == FrameFormat::AwsEventStream {
            self.event_stream.push(bytes, out, limit)?;
            return if self.event_stream.pending() > limit {
                Err(Self::too_large(limit))
            } else {
                Ok(())
            };
        }
        if self.buf.is_empty() {
            let consumed = self.lines(bytes, out);
            self.buf.extend_from_slice(&bytes[consumed..]);
        } else {
            let mut buf = std::mem::take(&mut self.buf);
            buf.extend_from_slice(bytes);
            let consumed = self.lines(&buf, out);
            buf.drain(..consumed);
            self.buf = buf;
        }
        // An unfinished line, or the data lines of an unfinished event, past the limit.
        if self.buf.len() + self.data.len() > limit {
            self.buf = Vec::new();
            self.data = String::new();
            return Err(Self::too_large(limit));
        }
        Ok(())
    }

    /// Handle every complete line of `data`; returns how many bytes they took.
    fn lines(&mut self, data: &[u8], out: &mut Vec<OwnedFrame>) -> usize {
        let mut start = 0;
        while let Some(nl) = data[start..].iter().position(|b| *b == b'\n') {
            let end = start + nl;
            let mut line = &data[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            match std::str::from_utf8(line) {
                Ok(text) => self.line(text, out),
                Err(_) => self.line(&String::from_utf8_lossy(line), out),
            }
            start = end + 1;
        }
        start
    }

    fn line(&mut self, line: &str, out: &mut Vec<OwnedFrame>) {
        match self.format {
            FrameFormat::Ndjson => {
                if !line.trim().is_empty() {
                    out.push(OwnedFrame {
                        event: None,
                        data: line.to_owned(),
                    });
                }
            }
            FrameFormat::AwsEventStream => {}
            FrameFormat::Sse => {
                if line.is_empty() {
                    self.dispatch(out);
                    return;
                }
                if line.starts_with(':') {
                    return;
                }
                let (field, value) = match line.find(':') {
                    Some(i) => {
                        let v = &line[i + 1..];
                        (&line[..i], v.strip_prefix(' ').unwrap_or(v))
                    }
                    None => (line, ""),
                };
                match field {
                    "data" => {
                        if self.has_data {
                            self.data.push('\n');
                        }
                        self.data.push_str(value);
                        self.has_data = true;
                    }
                    "event" => self.event = Some(value.to_owned()),
                    _ => {}
                }
            }
        }
    }

    fn dispatch(&mut self, out: &mut Vec<OwnedFrame>) {
        if self.has_data || self.event.is_some() {
            out.push(OwnedFrame {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        self.has_data = false;
    }

    /// Decode `bytes` into (event, data) pairs (for providers' tests).
    #[cfg(test)]
    pub fn decode_for_test(
        &mut self,
        bytes: &[u8],
    ) -> Result<Vec<(Option<String>, String)>, String> {
        let mut out = Vec::new();
        self.push(bytes, &mut out)?;
        Ok(out.into_iter().map(|f| (f.event, f.data)).collect())
    }

    /// End of input: flush a final frame that was not terminated by a blank line. A binary
    /// stream that ends inside a message is an error.
    fn finish(&mut self, out: &mut Vec<OwnedFrame>) -> Result<(), String> {
        if self.format == FrameFormat::AwsEventStream {
            return self.event_stream.finish();
        }
        if !self.buf.is_empty() {
            let rest = String::from_utf8_lossy(&self.buf).into_owned();
            self.buf.clear();
            self.line(rest.trim_end_matches('\r'), out);
        }
        if self.format == FrameFormat::Sse {
            self.dispatch(out);
        }
        Ok(())
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

enum Source {
    Http {
        body: ByteStream,
        decoder: Box<FrameDecoder>,
        parser: Box<dyn StreamParser>,
        /// Adds provider and model to the stream's errors and redacts its keys.
        annotate: Annotate,
        host: String,
        /// What the response said it was (`content-type`, `content-encoding`), for the
        /// error when it holds no event stream.
        received: String,
        read_timeout: Duration,
        /// One timer for the whole stream, armed lazily: re-registering a timeout for each
        /// read showed up in the per-chunk cost. It fires `read_timeout` after the last
        /// complete event (or the opening of the stream), re-armed from `last_data` when it
        /// fires early.
        idle_timer: Option<Pin<Box<tokio::time::Sleep>>>,
        last_data: tokio::time::Instant,
    },
    /// Chunks known up front (the mock provider), with an optional wait before the first.
    Replay { first_delay: Option<Duration> },
}

/// How a stream ended, for the hooks that run when it is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOutcome {
    /// Read to the end.
    Completed,
    /// Failed with an error of this kind.
    Failed(ErrorKind),
    /// Dropped before the end (closed early by the caller).
    Closed,
}

/// What a close hook learns about the stream: its usage and how it ended. The usage is the
/// provider's when it arrived, else (`estimated`) the counted prompt and the counted text of
/// the chunks received (see [`ChunkStream::count_usage`]).
#[derive(Debug, Clone, Copy)]
pub struct StreamEnd<'a> {
    pub usage: Option<&'a Usage>,
    pub estimated: bool,
    pub outcome: StreamOutcome,
}

/// The prompt's token count, known or counted when first needed.
pub enum PromptTokens {
    Known(u64),
    Later(Box<dyn FnOnce() -> u64 + Send>),
}

/// What a stream needs to estimate its usage when the provider's never arrives.
struct Counting {
    provider: String,
    model: String,
    prompt: PromptTokens,
    /// The text of the chunks handed out (content, reasoning, tool-call arguments).
    text: String,
}

impl Counting {
    fn usage(&mut self) -> Usage {
        let prompt = match std::mem::replace(&mut self.prompt, PromptTokens::Known(0)) {
            PromptTokens::Known(n) => n,
            PromptTokens::Later(count) => count(),
        };
        self.prompt = PromptTokens::Known(prompt);
        let completion = crate::tokens::count_text_tokens(&self.provider, &self.model, &self.text);
        Usage::new(prompt, completion)
    }
}

/// Whether `chunk` finishes every choice still open (`open`): then the frames after it (the
/// provider's usage, the end of the stream) are read before it is handed out, so a caller
/// that stops at the finish reason leaves a stream that is complete and charged.
fn finishes_all(open: &[u32], chunk: &ChatChunk) -> bool {
    !chunk.choices.is_empty()
        && chunk.choices.iter().all(|c| c.finish_reason.is_some())
        && open
            .iter()
            .all(|i| chunk.choices.iter().any(|c| c.index == *i))
}

/// A stream not read to its end holds a final chunk in front (see [`finishes_all`]).
fn holds(finished: bool, pending: &VecDeque<ChatChunk>, open: &[u32]) -> bool {
    !finished && pending.front().is_some_and(|c| finishes_all(open, c))
}

/// Whether any of `chunks` finishes a choice.
fn has_finish(chunks: &[ChatChunk]) -> bool {
    chunks
        .iter()
        .any(|c| c.choices.iter().any(|ch| ch.finish_reason.is_some()))
}

/// The text of a chunk that the provider bills as completion tokens.
fn chunk_text(chunk: &ChatChunk, mut each: impl FnMut(&str)) {
    for choice in &chunk.choices {
        let d = &choice.delta;
        for t in [&d.content, &d.reasoning_content, &d.refusal]
            .into_iter()
            .flatten()
        {
            each(t);
        }
        for call in d.tool_calls.iter().flatten() {
            if let Some(f) = &call.function {
                if let Some(a) = &f.arguments {
                    each(a);
                }
            }
        }
    }
}

/// Called once when a [`ChunkStream`] is dropped (spend ledger and budgets, router
/// bookkeeping).
pub type CloseHook = Box<dyn FnOnce(&StreamEnd<'_>) + Send>;

/// Given every chunk of a stream read to the end (the response cache stores them).
pub type RecordHook = Box<dyn FnOnce(Vec<ChatChunk>) + Send>;

/// The chunks handed out so far (hidden usage chunks included), for a [`RecordHook`].
struct Recorder {
    chunks: Vec<ChatChunk>,
    on_complete: RecordHook,
}

/// A stream of OpenAI chunks from any provider. Dropping it closes the connection.
pub struct ChunkStream {
    source: Source,
    pending: VecDeque<ChatChunk>,
    frames: Vec<OwnedFrame>,
    scratch: Vec<ChatChunk>,
    include_usage: bool,
    usage: Option<Usage>,
    finished: bool,
    /// A transport error that arrived after chunks still pending; raised once they are out.
    deferred_error: Option<LlmError>,
    /// The kind of the error the stream ended with.
    failed: Option<ErrorKind>,
    /// Run in order when the stream is dropped.
    close_hooks: Vec<CloseHook>,
    recorder: Option<Recorder>,
    /// Counting for a usage estimate, when asked for.
    counting: Option<Box<Counting>>,
    /// The indexes of the choices handed out that have not finished yet.
    open_choices: Vec<u32>,
    /// Events the parser took (of an HTTP stream), and whether a finish reason came: a
    /// stream that ends without one did not succeed.
    events: usize,
    finish_seen: bool,
}

impl Drop for ChunkStream {
    fn drop(&mut self) {
        self.settle();
    }
}

impl ChunkStream {
    /// Run the close hooks (once): when the stream has been read to its end, or when it is
    /// dropped.
    fn settle(&mut self) {
        if self.close_hooks.is_empty() && self.recorder.is_none() {
            return;
        }
        let outcome = match self.failed {
            Some(kind) => StreamOutcome::Failed(kind),
            None if self.ended() => StreamOutcome::Completed,
            None => StreamOutcome::Closed,
        };
        if let Some(mut r) = self.recorder.take() {
            if outcome == StreamOutcome::Completed {
                // The trailing usage chunk the caller had no reason to ask for.
                r.chunks.extend(self.pending.iter().cloned());
                (r.on_complete)(r.chunks);
            }
        }
        let usage = self.final_usage();
        let end = StreamEnd {
            usage: usage.as_ref().map(|(u, _)| u),
            estimated: usage.as_ref().is_some_and(|(_, e)| *e),
            outcome,
        };
        for hook in self.close_hooks.drain(..) {
            hook(&end);
        }
    }
}

impl ChunkStream {
    /// A stream over an HTTP response body.
    pub fn from_http(
        response: reqwest::Response,
        format: FrameFormat,
        parser: Box<dyn StreamParser>,
        annotate: Annotate,
        include_usage: bool,
        read_timeout: Duration,
    ) -> Self {
        let host = crate::http::host_of(response.url().as_str()).to_owned();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(100).collect::<String>())
        };
        let received = match (
            header(reqwest::header::CONTENT_TYPE),
            header(reqwest::header::CONTENT_ENCODING),
        ) {
            (t, Some(e)) => format!(
                "content-type {}, content-encoding {e}",
                t.as_deref().unwrap_or("none")
            ),
            (Some(t), None) => format!("content-type {t}"),
            (None, None) => "no content-type".to_owned(),
        };
        ChunkStream {
            source: Source::Http {
                body: Box::pin(response.bytes_stream()),
                decoder: Box::new(FrameDecoder::new(format)),
                parser,
                annotate,
                host,
                received,
                read_timeout,
                idle_timer: None,
                last_data: tokio::time::Instant::now(),
            },
            pending: VecDeque::new(),
            frames: Vec::new(),
            scratch: Vec::new(),
            include_usage,
            usage: None,
            finished: false,
            deferred_error: None,
            failed: None,
            close_hooks: Vec::new(),
            recorder: None,
            counting: None,
            open_choices: Vec::new(),
            events: 0,
            finish_seen: false,
        }
    }

    /// A stream replaying chunks known up front.
    pub fn from_chunks(
        chunks: Vec<ChatChunk>,
        include_usage: bool,
        first_delay: Option<Duration>,
    ) -> Self {
        ChunkStream {
            source: Source::Replay { first_delay },
            pending: chunks.into(),
            frames: Vec::new(),
            scratch: Vec::new(),
            include_usage,
            usage: None,
            finished: true,
            deferred_error: None,
            failed: None,
            close_hooks: Vec::new(),
            recorder: None,
            counting: None,
            open_choices: Vec::new(),
            events: 0,
            finish_seen: false,
        }
    }

    /// Put a chunk back in front of the stream: the router reads the first chunk before
    /// handing a stream out, so that a failure before it can still fall back.
    pub fn push_front(&mut self, chunk: ChatChunk) {
        // It was recorded and counted when it was taken; it will be again when handed out.
        if let Some(r) = &mut self.recorder {
            r.chunks.pop();
        }
        if let Some(c) = &mut self.counting {
            let mut len = 0;
            chunk_text(&chunk, |t| len += t.len());
            let keep = c.text.len().saturating_sub(len);
            if c.text.is_char_boundary(keep) {
                c.text.truncate(keep);
            }
        }
        self.pending.push_front(chunk);
    }

    /// Keep every chunk handed out from now on (usage chunks hidden from the caller
    /// included) and give them to `on_complete` when the stream is dropped, if it was read
    /// to the end without an error.
    pub fn record(&mut self, on_complete: RecordHook) {
        self.recorder = Some(Recorder {
            chunks: Vec::new(),
            on_complete,
        });
    }

    /// The last usage among the chunks not handed out yet (of a replayed stream: its usage).
    pub fn pending_usage(&self) -> Option<&Usage> {
        self.pending.iter().rev().find_map(|c| c.usage.as_deref())
    }

    /// Run `hook` when the stream is dropped (after its end, on close, or on error); hooks
    /// run in the order added.
    pub fn on_close(&mut self, hook: CloseHook) {
        self.close_hooks.push(hook);
    }

    /// Usage reported by the provider so far (kept even when the caller did not ask for
    /// the usage chunk, for cost accounting).
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// Count what is needed to estimate the usage if the provider's never arrives (the
    /// stream is closed, cancelled or cut off first, or the provider sends none): the
    /// prompt's tokens and the text of every chunk handed out from now on.
    pub fn count_usage(&mut self, provider: &str, model: &str, prompt: PromptTokens) {
        self.counting = Some(Box::new(Counting {
            provider: provider.to_owned(),
            model: model.to_owned(),
            prompt,
            text: String::new(),
        }));
    }

    /// The usage to charge now: the provider's (received, or already buffered), else the
    /// estimate (`true`) when counting, else `None`.
    pub fn final_usage(&mut self) -> Option<(Usage, bool)> {
        if let Some(u) = self.usage.as_ref().or_else(|| self.pending_usage()) {
            return Some((u.clone(), false));
        }
        self.counting.as_mut().map(|c| (c.usage(), true))
    }

    /// Read to its end without an error: nothing left but usage chunks. The stream is
    /// settled (ledger, budgets) as soon as this holds, even if the caller keeps it.
    pub fn ended(&self) -> bool {
        self.finished
            && self.deferred_error.is_none()
            && self.pending.iter().all(|c| c.choices.is_empty())
    }

    /// Track open choices and count the text of a chunk being handed out.
    fn hand_out(&mut self, chunk: &ChatChunk) {
        for c in &chunk.choices {
            match (
                c.finish_reason.is_some(),
                self.open_choices.iter().position(|i| *i == c.index),
            ) {
                (true, Some(at)) => {
                    self.open_choices.swap_remove(at);
                }
                (false, None) => self.open_choices.push(c.index),
                _ => {}
            }
        }
        if let Some(counting) = &mut self.counting {
            chunk_text(chunk, |t| counting.text.push_str(t));
        }
    }

    /// The chunk in front is a final one held until the rest of the stream is read.
    fn holds_front(&self) -> bool {
        holds(self.finished, &self.pending, &self.open_choices)
    }

    /// The next chunk already received, without waiting for I/O. Lets blocking and async
    /// callers skip a runtime round trip for the many chunks that arrive together.
    pub fn next_buffered(&mut self) -> Option<ChatChunk> {
        if matches!(
            &self.source,
            Source::Replay {
                first_delay: Some(_)
            }
        ) {
            return None;
        }
        while !self.holds_front() {
            let Some(mut chunk) = self.pending.pop_front() else {
                break;
            };
            if let Some(r) = &mut self.recorder {
                r.chunks.push(chunk.clone());
            }
            self.hand_out(&chunk);
            if let Some(u) = &chunk.usage {
                self.usage = Some(Usage::clone(u));
                if !self.include_usage {
                    chunk.usage = None;
                    if chunk.choices.is_empty() {
                        continue;
                    }
                }
            }
            if self.failed.is_none() && self.ended() {
                self.settle();
            }
            return Some(chunk);
        }
        None
    }

    /// Whether the stream has ended (nothing buffered and nothing more to read).
    pub fn is_finished(&self) -> bool {
        self.finished && self.pending.is_empty() && self.deferred_error.is_none()
    }

    /// The next chunk, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<ChatChunk, LlmError>> {
        if let Source::Replay { first_delay } = &mut self.source {
            if let Some(d) = first_delay.take() {
                tokio::time::sleep(d).await;
            }
        }
        loop {
            if let Some(chunk) = self.next_buffered() {
                return Some(Ok(chunk));
            }
            if self.finished {
                let err = self.deferred_error.take();
                if let Some(e) = &err {
                    self.failed = Some(e.kind);
                }
                return err.map(Err);
            }
            if let Err(e) = self.fill().await {
                self.finished = true;
                self.failed = Some(e.kind);
                self.pending.clear();
                return Some(Err(e));
            }
        }
    }

    /// Read from the body until at least one chunk is pending or the stream ends.
    async fn fill(&mut self) -> Result<(), LlmError> {
        let Source::Http {
            body,
            decoder,
            parser,
            annotate,
            host,
            received,
            read_timeout,
            idle_timer,
            last_data,
        } = &mut self.source
        else {
            self.finished = true;
            return Ok(());
        };
        while !self.finished
            && (self.pending.is_empty() || holds(false, &self.pending, &self.open_choices))
        {
            let first = match body.next().now_or_never() {
                Some(n) => n,
                None => {
                    let timer = idle_timer.get_or_insert_with(|| {
                        Box::pin(tokio::time::sleep_until(*last_data + *read_timeout))
                    });
                    loop {
                        tokio::select! {
                            biased;
                            n = body.next() => break n,
                            () = timer.as_mut() => {
                                let due = *last_data + *read_timeout;
                                if tokio::time::Instant::now() >= due {
                                    return Err(annotate(timeout_error(*read_timeout, host)));
                                }
                                timer.as_mut().reset(due);
                            }
                        }
                    }
                }
            };
            self.frames.clear();
            // Take everything that has already arrived, not just one HTTP chunk: providers
            // send one frame per chunk, and a runtime round trip per frame would dominate.
            let mut next = first;
            let mut broke = None;
            let corrupt = |why: String| {
                annotate(LlmError::new(
                    ErrorKind::ApiConnection,
                    format!("The stream from {host} is corrupt: {why}"),
                ))
            };
            loop {
                match next {
                    Some(Ok(bytes)) => {
                        if let Err(why) = decoder.push(&bytes, &mut self.frames) {
                            broke = Some(corrupt(why));
                            break;
                        }
                    }
                    Some(Err(e)) => {
                        let mut err = transport_error(&e, host);
                        if err.kind == ErrorKind::ApiConnection {
                            err.message = format!(
                                "The stream from {host} broke before it finished: {}",
                                err.message
                            );
                        }
                        broke = Some(annotate(err));
                        break;
                    }
                    None => {
                        if let Err(why) = decoder.finish(&mut self.frames) {
                            broke = Some(corrupt(why));
                        }
                        self.finished = true;
                        break;
                    }
                }
                match body.next().now_or_never() {
                    Some(n) => next = n,
                    None => break,
                }
            }
            // The timeout runs between events, not between reads: a provider that trickles
            // bytes without completing an event still times out.
            if !self.frames.is_empty() {
                *last_data = tokio::time::Instant::now();
            }
            for frame in &self.frames {
                let parsed = parser.on_frame(
                    Frame {
                        event: frame.event.as_deref(),
                        data: &frame.data,
                    },
                    &mut self.scratch,
                );
                self.finish_seen |= has_finish(&self.scratch);
                self.pending.extend(self.scratch.drain(..));
                if parsed.is_ok() {
                    self.events += 1;
                }
                match parsed {
                    Ok(StreamControl::Continue) => {}
                    Ok(StreamControl::Done) => {
                        self.finished = true;
                        break;
                    }
                    Err(e) => {
                        broke = Some(annotate(e));
                        break;
                    }
                }
            }
            if self.finished && broke.is_none() {
                if let Err(e) = parser.on_end(&mut self.scratch) {
                    broke = Some(annotate(e));
                }
                self.finish_seen |= has_finish(&self.scratch);
                self.pending.extend(self.scratch.drain(..));
            }
            if self.finished && broke.is_none() && !self.finish_seen {
                // An empty 200, a JSON body instead of an event stream, a compressed stream:
                // not a success, and retryable (the Router retries and falls back).
                let message = if self.events == 0 {
                    format!(
                        "The response from {host} held no stream events ({received}); expected an event stream"
                    )
                } else {
                    format!(
                        "The stream from {host} ended without a finish reason after {} events",
                        self.events
                    )
                };
                broke = Some(annotate(LlmError::new(ErrorKind::ApiConnection, message)));
            }
            if let Some(err) = broke {
                // Hand out the chunks that came before the failure, then the error.
                self.finished = true;
                if self.pending.is_empty() {
                    return Err(err);
                }
                self.deferred_error = Some(err);
            }
        }
        Ok(())
    }
}

/// Rebuilds a full `chat.completion` from chunks: content and reasoning concatenated,
/// tool-call arguments joined by index, the last finish reason and usage kept.
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    id: Option<String>,
    created: i64,
    model: Option<String>,
    system_fingerprint: Option<String>,
    choices: Vec<ChoiceState>,
    usage: Option<Usage>,
}

#[derive(Debug, Default)]
struct ChoiceState {
    index: u32,
    role: Option<String>,
    content: Option<String>,
    reasoning: Option<String>,
    refusal: Option<String>,
    thinking_blocks: Vec<Value>,
    tool_calls: Vec<ToolCallState>,
    finish_reason: Option<String>,
    logprobs: Vec<Value>,
    /// Delta fields outside the ones above (`images`, `audio`, `annotations`,
    /// `provider_specific_fields`, ...), merged chunk by chunk (see [`merge_delta_field`]).
    extra: Map<String, Value>,
}

/// Fold a delta field outside OpenAI's declared ones into what earlier chunks gave:
/// lists are concatenated (`images`, `annotations`), objects merged key by key, text
/// joined at the top level and in the streamed pieces of an object (`audio.data`,
/// `audio.transcript`); any other value replaces the earlier one. Nothing a chunk
/// carries is dropped.
fn merge_delta_field(slot: &mut Value, piece: &Value, top_level: bool, key: &str) {
    match (slot, piece) {
        (_, Value::Null) => {}
        (Value::Array(have), Value::Array(more)) => have.extend(more.iter().cloned()),
        (Value::Object(have), Value::Object(more)) => {
            for (k, v) in more {
                match have.get_mut(k) {
                    Some(existing) if !existing.is_null() => {
                        merge_delta_field(existing, v, false, k)
                    }
                    _ => {
                        have.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::String(have), Value::String(more))
            if top_level || matches!(key, "data" | "transcript" | "text") =>
        {
            have.push_str(more);
        }
        (slot, piece) => *slot = piece.clone(),
    }
}

#[derive(Debug, Default)]
struct ToolCallState {
    index: u32,
    id: String,
    kind: String,
    name: String,
    arguments: String,
}

fn append(slot: &mut Option<String>, piece: &str) {
    slot.get_or_insert_with(String::new).push_str(piece);
}

impl StreamAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fold one chunk in.
    pub fn push(&mut self, chunk: &ChatChunk) {
        if self.id.is_none() && !chunk.id.is_empty() {
            self.id = Some(chunk.id.clone());
        }
        if self.created == 0 {
            self.created = chunk.created;
        }
        if self.model.is_none() && !chunk.model.is_empty() {
            self.model = Some(chunk.model.clone());
        }
        if self.system_fingerprint.is_none() {
            self.system_fingerprint
                .clone_from(&chunk.system_fingerprint);
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(Usage::clone(u));
        }
        for c in &chunk.choices {
            let state = match self.choices.iter_mut().position(|s| s.index == c.index) {
                Some(i) => &mut self.choices[i],
                None => {
                    self.choices.push(ChoiceState {
                        index: c.index,
                        ..Default::default()
                    });
                    let last = self.choices.len() - 1;
                    &mut self.choices[last]
                }
            };
            let d = &c.delta;
            if let Some(r) = &d.role {
                state.role = Some(r.clone());
            }
            if let Some(t) = &d.content {
                append(&mut state.content, t);
            }
            if let Some(t) = &d.reasoning_content {
                append(&mut state.reasoning, t);
            }
            if let Some(t) = &d.refusal {
                append(&mut state.refusal, t);
            }
            if let Some(blocks) = &d.thinking_blocks {
                state.thinking_blocks.extend(blocks.iter().cloned());
            }
            if let Some(calls) = &d.tool_calls {
                for tc in calls {
                    let call = match state
                        .tool_calls
                        .iter_mut()
                        .position(|t| t.index == tc.index)
                    {
                        Some(i) => &mut state.tool_calls[i],
                        None => {
                            state.tool_calls.push(ToolCallState {
                                index: tc.index,
                                kind: "function".to_owned(),
                                ..Default::default()
                            });
                            let last = state.tool_calls.len() - 1;
                            &mut state.tool_calls[last]
                        }
                    };
                    if let Some(id) = &tc.id {
                        if call.id.is_empty() {
                            call.id = id.clone();
                        }
                    }
                    if let Some(k) = &tc.kind {
                        call.kind = k.clone();
                    }
                    if let Some(f) = &tc.function {
                        if let Some(n) = &f.name {
                            if call.name.is_empty() {
                                call.name = n.clone();
                            }
                        }
                        if let Some(a) = &f.arguments {
                            call.arguments.push_str(a);
                        }
                    }
                }
            }
            if let Some(fr) = &c.finish_reason {
                state.finish_reason = Some(fr.clone());
            }
            if let Some(Value::Object(lp)) = &c.logprobs {
                if let Some(Value::Array(items)) = lp.get("content") {
                    state.logprobs.extend(items.iter().cloned());
                }
            }
            for (key, value) in &d.extra {
                match state.extra.get_mut(key) {
                    Some(existing) if !existing.is_null() => {
                        merge_delta_field(existing, value, true, key);
                    }
                    _ => {
                        state.extra.insert(key.clone(), value.clone());
                    }
                }
            }
        }
    }

    /// Usage seen so far.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The rebuilt response.
    pub fn finish(self) -> ChatResponse {
        let mut resp = ChatResponse::new(self.model.unwrap_or_default());
        if let Some(id) = self.id {
            resp.id = id;
        }
        if self.created != 0 {
            resp.created = self.created;
        }
        resp.system_fingerprint = self.system_fingerprint;
        resp.usage = self.usage;
        let mut choices = self.choices;
        choices.sort_by_key(|c| c.index);
        resp.choices = choices
            .into_iter()
            .map(|mut s| {
                s.tool_calls.sort_by_key(|t| t.index);
                let tool_calls: Vec<ToolCall> = s
                    .tool_calls
                    .into_iter()
                    .map(|t| ToolCall {
                        id: t.id,
                        kind: t.kind,
                        function: FunctionCall {
                            name: t.name,
                            arguments: t.arguments,
                        },
                    })
                    .collect();
                Choice {
                    index: s.index,
                    message: ResponseMessage {
                        role: s.role.unwrap_or_else(|| "assistant".to_owned()),
                        content: s.content,
                        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                        refusal: s.refusal,
                        reasoning_content: s.reasoning,
                        thinking_blocks: (!s.thinking_blocks.is_empty())
                            .then_some(s.thinking_blocks),
                        extra: s.extra,
                        ..Default::default()
                    },
                    finish_reason: s.finish_reason,
                    logprobs: (!s.logprobs.is_empty())
                        .then(|| serde_json::json!({ "content": s.logprobs })),
                    extra: Default::default(),
                }
            })
            .collect();
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Delta, FunctionDelta, ToolCallDelta};

    fn decode(format: FrameFormat, pieces: &[&str]) -> Vec<OwnedFrame> {
        let mut d = FrameDecoder::new(format);
        let mut out = Vec::new();
        for p in pieces {
            d.push(p.as_bytes(), &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn sse_frames_split_across_reads() {
        let frames = decode(
            FrameFormat::Sse,
            &[
                "event: a\r\nda",
                "ta: {\"x\":1}\r\n\r\n: comment\n\ndata: one\ndata: two\n\n",
                "data: [DONE]",
            ],
        );
        assert_eq!(
            frames,
            vec![
                OwnedFrame {
                    event: Some("a".into()),
                    data: "{\"x\":1}".into()
                },
                OwnedFrame {
                    event: None,
                    data: "one\ntwo".into()
                },
                OwnedFrame {
                    event: None,
                    data: "[DONE]".into()
                },
            ]
        );
    }

    #[test]
    fn ndjson_lines() {
        let frames = decode(
            FrameFormat::Ndjson,
            &["{\"a\":1}\n{\"b\"", ":2}\n\n", "{\"c\":3}"],
        );
        let data: Vec<&str> = frames.iter().map(|f| f.data.as_str()).collect();
        assert_eq!(data, vec!["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
    }

    #[test]
    fn accumulator_joins_text_and_tool_calls() {
        let mut acc = StreamAccumulator::new();
        let base = ChatChunk::new("id1", 5, "m");
        acc.push(&base.clone().with_delta(
            0,
            Delta {
                role: Some("assistant".into()),
                ..Default::default()
            },
            None,
        ));
        acc.push(&base.clone().with_delta(0, Delta::text("Hel"), None));
        acc.push(&base.clone().with_delta(0, Delta::text("lo"), None));
        let tc = |id: Option<&str>, name: Option<&str>, args: &str| Delta {
            tool_calls: Some(vec![ToolCallDelta {
                index: 0,
                id: id.map(str::to_owned),
                kind: id.map(|_| "function".to_owned()),
                function: Some(FunctionDelta {
                    name: name.map(str::to_owned),
                    arguments: Some(args.to_owned()),
                }),
            }]),
            ..Default::default()
        };
        acc.push(
            &base
                .clone()
                .with_delta(0, tc(Some("call_1"), Some("get"), "{\"a\""), None),
        );
        acc.push(
            &base
                .clone()
                .with_delta(0, tc(None, None, ":1}"), Some("tool_calls".into())),
        );
        let mut usage_chunk = base.clone();
        usage_chunk.usage = Some(Box::new(Usage::new(3, 4)));
        acc.push(&usage_chunk);
        let r = acc.finish();
        assert_eq!(r.id, "id1");
        assert_eq!(r.text(), Some("Hello"));
        let call = &r.choices[0].message.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.id, "call_1");
        assert_eq!(call.function.arguments, "{\"a\":1}");
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(r.usage.unwrap().total_tokens, 7);
    }
}
