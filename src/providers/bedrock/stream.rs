//! Bedrock streams (binary event-stream frames, see `crate::stream::aws_event_stream`):
//!
//! - ConverseStream: `messageStart`, `contentBlockStart` (tool use), `contentBlockDelta`
//!   (text, tool input, reasoning), `contentBlockStop`, `messageStop` (stop reason),
//!   `metadata` (usage) → OpenAI chunks with one id and model for the whole stream.
//! - InvokeModelWithResponseStream for Claude: `chunk` events whose `bytes` are Anthropic's
//!   stream events, base64-encoded → `AnthropicStreamParser`.
//!
//! An `exception:` frame raises the same class as the HTTP error of that type.

use base64::Engine;
use serde_json::{json, Value};

use super::{converse, errors};
use crate::error::{ErrorKind, LlmError};
use crate::providers::anthropic::{AnthropicStreamParser, JSON_TOOL_NAME};
use crate::providers::{StreamParser, Target};
use crate::stream::{Frame, StreamControl};
use crate::types::{unix_now, ChatChunk, Delta, FunctionDelta, ToolCallDelta};

/// What a content block of the stream is.
#[derive(Debug, Clone)]
enum Block {
    Text,
    /// A tool call, its OpenAI index, and whether any input arrived.
    Tool {
        index: u32,
        had_input: bool,
    },
    /// The forced `json_tool_call` of `response_format`: its input is the content.
    JsonTool,
    /// Reasoning text and signature, emitted as a thinking block at the end.
    Reasoning {
        text: String,
        signature: String,
    },
}

/// ConverseStream → chunks.
pub struct ConverseStreamParser {
    target: Target,
    id: String,
    created: i64,
    blocks: Vec<Option<Block>>,
    tool_calls: u32,
    json_output: bool,
}

impl ConverseStreamParser {
    pub fn new(target: &Target) -> Self {
        ConverseStreamParser {
            target: target.clone(),
            id: crate::types::new_id("chatcmpl-"),
            created: unix_now(),
            blocks: Vec::new(),
            tool_calls: 0,
            json_output: false,
        }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<String>) -> ChatChunk {
        ChatChunk::new(&self.id, self.created, &self.target.model).with_delta(
            0,
            delta,
            finish_reason,
        )
    }

    fn tool_delta(
        &self,
        index: u32,
        id: Option<String>,
        name: Option<String>,
        args: String,
    ) -> ChatChunk {
        let first = id.is_some();
        self.chunk(
            Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index,
                    id,
                    kind: first.then(|| "function".to_owned()),
                    function: Some(FunctionDelta {
                        name,
                        arguments: Some(args),
                    }),
                }]),
                ..Default::default()
            },
            None,
        )
    }

    fn block(&mut self, index: usize) -> &mut Option<Block> {
        if self.blocks.len() <= index {
            self.blocks.resize(index + 1, None);
        }
        &mut self.blocks[index]
    }

    fn bad_event(&self, why: &str, data: &str) -> LlmError {
        self.target.annotate(LlmError::new(
            ErrorKind::Api,
            format!(
                "Could not parse a Bedrock stream event: {why}. Event: {}",
                data.chars().take(300).collect::<String>()
            ),
        ))
    }

    fn start(&mut self, event: &Value, out: &mut Vec<ChatChunk>) {
        let index = block_index(event);
        let Some(tool) = event.pointer("/start/toolUse") else {
            return;
        };
        let s = |k: &str| tool.get(k).and_then(Value::as_str).unwrap_or_default();
        if s("name") == JSON_TOOL_NAME {
            self.json_output = true;
            *self.block(index) = Some(Block::JsonTool);
            return;
        }
        let tool_index = self.tool_calls;
        self.tool_calls += 1;
        out.push(self.tool_delta(
            tool_index,
            Some(s("toolUseId").to_owned()),
            Some(s("name").to_owned()),
            String::new(),
        ));
        *self.block(index) = Some(Block::Tool {
            index: tool_index,
            had_input: false,
        });
    }

    fn delta(&mut self, event: &Value, out: &mut Vec<ChatChunk>) {
        let index = block_index(event);
        let Some(delta) = event.get("delta") else {
            return;
        };
        if let Some(text) = delta.get("text").and_then(Value::as_str) {
            if self.block(index).is_none() {
                *self.block(index) = Some(Block::Text);
            }
            if !text.is_empty() {
                out.push(self.chunk(Delta::text(text), None));
            }
        } else if let Some(input) = delta.pointer("/toolUse/input").and_then(Value::as_str) {
            match self.block(index) {
                Some(Block::Tool { index, had_input }) => {
                    *had_input = true;
                    let i = *index;
                    if !input.is_empty() {
                        out.push(self.tool_delta(i, None, None, input.to_owned()));
                    }
                }
                Some(Block::JsonTool) if !input.is_empty() => {
                    out.push(self.chunk(Delta::text(input), None));
                }
                _ => {}
            }
        } else if let Some(reasoning) = delta.get("reasoningContent") {
            let block = self.block(index);
            if block.is_none() {
                *block = Some(Block::Reasoning {
                    text: String::new(),
                    signature: String::new(),
                });
            }
            if let Some(Block::Reasoning { text, signature }) = block {
                if let Some(t) = reasoning.get("text").and_then(Value::as_str) {
                    text.push_str(t);
                }
                if let Some(s) = reasoning.get("signature").and_then(Value::as_str) {
                    signature.push_str(s);
                }
            }
            if let Some(t) = reasoning.get("text").and_then(Value::as_str) {
                out.push(self.chunk(
                    Delta {
                        reasoning_content: Some(t.to_owned()),
                        ..Default::default()
                    },
                    None,
                ));
            } else if let Some(data) = reasoning.get("redactedContent") {
                out.push(self.chunk(
                    Delta {
                        thinking_blocks: Some(vec![
                            json!({"type": "redacted_thinking", "data": data}),
                        ]),
                        ..Default::default()
                    },
                    None,
                ));
            }
        }
    }

    fn stop(&mut self, event: &Value, out: &mut Vec<ChatChunk>) {
        let index = block_index(event);
        match self.block(index).take() {
            // A tool called without input still gets `{}` as its arguments.
            Some(Block::Tool {
                index,
                had_input: false,
            }) => out.push(self.tool_delta(index, None, None, "{}".to_owned())),
            Some(Block::Reasoning { text, signature }) => {
                let mut block = json!({"type": "thinking", "thinking": text});
                if !signature.is_empty() {
                    block["signature"] = json!(signature);
                }
                out.push(self.chunk(
                    Delta {
                        thinking_blocks: Some(vec![block]),
                        ..Default::default()
                    },
                    None,
                ));
            }
            _ => {}
        }
    }
}

fn block_index(event: &Value) -> usize {
    event
        .get("contentBlockIndex")
        .and_then(Value::as_u64)
        .and_then(|i| usize::try_from(i).ok())
        .unwrap_or(0)
}

impl StreamParser for ConverseStreamParser {
    fn on_frame(
        &mut self,
        frame: Frame<'_>,
        out: &mut Vec<ChatChunk>,
    ) -> Result<StreamControl, LlmError> {
        let name = frame.event.unwrap_or_default();
        if let Some(kind) = name
            .strip_prefix("exception:")
            .or_else(|| name.strip_prefix("error:"))
        {
            return Err(errors::from_stream(kind, frame.data, &self.target));
        }
        let event: Value = serde_json::from_str(frame.data)
            .map_err(|e| self.bad_event(&e.to_string(), frame.data))?;
        match name {
            "messageStart" => out.push(self.chunk(
                Delta {
                    role: Some("assistant".to_owned()),
                    content: Some(String::new()),
                    ..Default::default()
                },
                None,
            )),
            "contentBlockStart" => self.start(&event, out),
            "contentBlockDelta" => self.delta(&event, out),
            "contentBlockStop" => self.stop(&event, out),
            "messageStop" => {
                let reason = event
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .unwrap_or("end_turn");
                let finish = if reason == "tool_use" && self.json_output && self.tool_calls == 0 {
                    "stop"
                } else {
                    converse::finish_reason(reason)
                };
                out.push(self.chunk(Delta::default(), Some(finish.to_owned())));
            }
            "metadata" => {
                if let Some(u) = event.get("usage") {
                    let mut chunk = ChatChunk::new(&self.id, self.created, &self.target.model);
                    chunk.usage = Some(Box::new(converse::usage(u, None)));
                    out.push(chunk);
                }
                // The last event of a ConverseStream.
                return Ok(StreamControl::Done);
            }
            // Future event types.
            _ => {}
        }
        Ok(StreamControl::Continue)
    }
}

/// InvokeModelWithResponseStream for Claude: each `chunk` carries an Anthropic stream
/// event as base64 `bytes`.
pub struct InvokeStreamParser {
    target: Target,
    inner: AnthropicStreamParser,
}

impl InvokeStreamParser {
    pub fn new(target: &Target) -> Self {
        InvokeStreamParser {
            target: target.clone(),
            inner: AnthropicStreamParser::new(target),
        }
    }
}

impl StreamParser for InvokeStreamParser {
    fn on_frame(
        &mut self,
        frame: Frame<'_>,
        out: &mut Vec<ChatChunk>,
    ) -> Result<StreamControl, LlmError> {
        let name = frame.event.unwrap_or_default();
        if let Some(kind) = name
            .strip_prefix("exception:")
            .or_else(|| name.strip_prefix("error:"))
        {
            return Err(errors::from_stream(kind, frame.data, &self.target));
        }
        if name != "chunk" {
            return Ok(StreamControl::Continue);
        }
        let bad = |why: String| {
            self.target.annotate(LlmError::new(
                ErrorKind::Api,
                format!("Could not read a Bedrock InvokeModel stream chunk: {why}"),
            ))
        };
        let wrapper: Value = serde_json::from_str(frame.data).map_err(|e| bad(e.to_string()))?;
        let encoded = wrapper
            .get("bytes")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no \"bytes\"".to_owned()))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| bad(e.to_string()))?;
        let event = String::from_utf8(decoded).map_err(|e| bad(e.to_string()))?;
        let kind = serde_json::from_str::<Value>(&event)
            .ok()
            .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned));
        self.inner.on_frame(
            Frame {
                event: kind.as_deref(),
                data: &event,
            },
            out,
        )
    }

    fn on_end(&mut self, out: &mut Vec<ChatChunk>) -> Result<(), LlmError> {
        self.inner.on_end(out)
    }
}
