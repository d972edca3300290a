//! OpenAI chunks → Anthropic's SSE event sequence: `message_start`, `ping`, then per
//! content block `content_block_start` / `content_block_delta`* / `content_block_stop`
//! (text, thinking with its signature, tool_use with `input_json_delta`), then
//! `message_delta` (stop reason and usage) and `message_stop`.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Value};

use super::response::{message_id, stop_reason, usage_to_anthropic};
use crate::types::{ChatChunk, Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A tool call, by its OpenAI `index`.
    Tool(u32),
}

/// Writes one stream's events. Feed it every chunk, then [`EventWriter::finish`].
#[derive(Debug)]
pub struct EventWriter {
    id: String,
    model: String,
    started: bool,
    open: Option<Block>,
    /// Index of the next content block.
    next: u32,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    input_estimate: u64,
}

fn event<T: Serialize>(out: &mut String, name: &str, data: &T) {
    let _ = write!(out, "event: {name}\ndata: ");
    // Serialising a JSON value cannot fail.
    out.push_str(&serde_json::to_string(data).unwrap_or_default());
    out.push_str("\n\n");
}

impl EventWriter {
    /// `model` is what the client asked for; `input_estimate` the prompt's counted tokens
    /// (shown in `message_start`; the real count follows in `message_delta`).
    pub fn new(model: &str, input_estimate: u64) -> Self {
        EventWriter {
            id: String::new(),
            model: model.to_owned(),
            started: false,
            open: None,
            next: 0,
            finish_reason: None,
            usage: None,
            input_estimate,
        }
    }

    fn start(&mut self, id: &str, out: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = message_id(id);
        event(
            out,
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": self.input_estimate, "output_tokens": 1,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
            }}),
        );
        event(out, "ping", &json!({"type": "ping"}));
    }

    fn close(&mut self, out: &mut String) {
        if self.open.take().is_some() {
            event(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": self.next - 1}),
            );
        }
    }

    /// Open `block` unless it is the one open.
    fn open(&mut self, block: Block, start: Value, out: &mut String) {
        if self.open == Some(block) {
            return;
        }
        self.close(out);
        event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": self.next, "content_block": start}),
        );
        self.next += 1;
        self.open = Some(block);
    }

    fn delta(&self, delta: Value, out: &mut String) {
        event(
            out,
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": self.next - 1, "delta": delta}),
        );
    }

    /// The events for one chunk, appended to `out`.
    pub fn chunk(&mut self, chunk: &ChatChunk, out: &mut String) {
        self.start(&chunk.id, out);
        if let Some(u) = &chunk.usage {
            self.usage = Some((**u).clone());
        }
        let Some(choice) = chunk.choices.first() else {
            return;
        };
        let d = &choice.delta;
        if let Some(r) = d.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
            self.open(
                Block::Thinking,
                json!({"type": "thinking", "thinking": "", "signature": ""}),
                out,
            );
            self.delta(json!({"type": "thinking_delta", "thinking": r}), out);
        }
        for b in d.thinking_blocks.iter().flatten() {
            let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or_default();
            match s("type") {
                "thinking" => {
                    // The whole block arrives when it ends: its text was streamed already
                    // unless no thinking block is open.
                    if self.open != Some(Block::Thinking) {
                        self.open(
                            Block::Thinking,
                            json!({"type": "thinking", "thinking": "", "signature": ""}),
                            out,
                        );
                        if !s("thinking").is_empty() {
                            self.delta(
                                json!({"type": "thinking_delta", "thinking": s("thinking")}),
                                out,
                            );
                        }
                    }
                    if !s("signature").is_empty() {
                        self.delta(
                            json!({"type": "signature_delta", "signature": s("signature")}),
                            out,
                        );
                    }
                    self.close(out);
                }
                "redacted_thinking" => {
                    self.close(out);
                    self.open(
                        Block::Thinking,
                        json!({"type": "redacted_thinking", "data": s("data")}),
                        out,
                    );
                    self.close(out);
                }
                _ => {}
            }
        }
        if let Some(t) = d.content.as_deref().filter(|t| !t.is_empty()) {
            self.open(Block::Text, json!({"type": "text", "text": ""}), out);
            self.delta(json!({"type": "text_delta", "text": t}), out);
        }
        for call in d.tool_calls.iter().flatten() {
            let f = call.function.as_ref();
            if self.open != Some(Block::Tool(call.index)) {
                let id = call.id.clone().unwrap_or_else(|| {
                    format!("toolu_{}", crate::proxy::new_request_id().replace('-', ""))
                });
                let name = f.and_then(|f| f.name.clone()).unwrap_or_default();
                self.open(
                    Block::Tool(call.index),
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    out,
                );
            }
            if let Some(args) = f
                .and_then(|f| f.arguments.as_deref())
                .filter(|a| !a.is_empty())
            {
                self.delta(
                    json!({"type": "input_json_delta", "partial_json": args}),
                    out,
                );
            }
        }
        if let Some(r) = &choice.finish_reason {
            self.finish_reason = Some(r.clone());
        }
    }

    /// The closing events: the open block's stop, `message_delta`, `message_stop`.
    /// `usage` is the stream's final usage when known.
    pub fn finish(&mut self, usage: Option<&Usage>, out: &mut String) {
        self.start("", out);
        self.close(out);
        let usage = usage.cloned().or_else(|| self.usage.clone());
        let mut u = usage
            .as_ref()
            .map(usage_to_anthropic)
            .unwrap_or_else(|| json!({"input_tokens": self.input_estimate, "output_tokens": 0}));
        if let Value::Object(m) = &mut u {
            // message_delta usage is cumulative; the SDK reads output_tokens from it.
            m.entry("output_tokens").or_insert(json!(0));
        }
        event(
            out,
            "message_delta",
            &json!({"type": "message_delta",
                    "delta": {"stop_reason": stop_reason(self.finish_reason.as_deref()), "stop_sequence": null},
                    "usage": u}),
        );
        event(out, "message_stop", &json!({"type": "message_stop"}));
    }

    /// An `error` event (the stream broke after it started).
    pub fn error(&mut self, error_type: &str, message: &str, out: &mut String) {
        event(
            out,
            "error",
            &json!({"type": "error", "error": {"type": error_type, "message": message}}),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Delta, FunctionDelta, ToolCallDelta};

    fn chunk(delta: Delta, finish: Option<&str>) -> ChatChunk {
        ChatChunk::new("chatcmpl-9", 1, "gpt-4o").with_delta(0, delta, finish.map(str::to_owned))
    }

    fn events(text: &str) -> Vec<(String, Value)> {
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .filter_map(|e| {
                let (name, data) = e.split_once('\n')?;
                Some((
                    name.strip_prefix("event: ")?.to_owned(),
                    serde_json::from_str(data.strip_prefix("data: ")?).ok()?,
                ))
            })
            .collect()
    }

    #[test]
    fn text_thinking_and_tool_calls_become_blocks() {
        let mut w = EventWriter::new("gpt", 12);
        let mut out = String::new();
        w.chunk(
            &chunk(
                Delta {
                    role: Some("assistant".into()),
                    ..Default::default()
                },
                None,
            ),
            &mut out,
        );
        w.chunk(
            &chunk(
                Delta {
                    reasoning_content: Some("Hmm".into()),
                    ..Default::default()
                },
                None,
            ),
            &mut out,
        );
        w.chunk(
            &chunk(
                Delta {
                    thinking_blocks: Some(vec![
                        json!({"type": "thinking", "thinking": "Hmm", "signature": "sig"}),
                    ]),
                    ..Default::default()
                },
                None,
            ),
            &mut out,
        );
        w.chunk(&chunk(Delta::text("Hel"), None), &mut out);
        w.chunk(&chunk(Delta::text("lo"), None), &mut out);
        let call = |id: Option<&str>, name: Option<&str>, args: &str| Delta {
            tool_calls: Some(vec![ToolCallDelta {
                index: 0,
                id: id.map(str::to_owned),
                kind: None,
                function: Some(FunctionDelta {
                    name: name.map(str::to_owned),
                    arguments: Some(args.into()),
                }),
            }]),
            ..Default::default()
        };
        w.chunk(&chunk(call(Some("call_1"), Some("f"), ""), None), &mut out);
        w.chunk(&chunk(call(None, None, "{\"a\":"), None), &mut out);
        w.chunk(&chunk(call(None, None, "1}"), Some("tool_calls")), &mut out);
        w.finish(Some(&Usage::new(12, 9)), &mut out);
        let ev = events(&out);
        let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        assert_eq!(ev[0].1["message"]["id"], "msg_chatcmpl-9");
        assert_eq!(ev[0].1["message"]["usage"]["input_tokens"], 12);
        assert_eq!(ev[2].1["content_block"]["type"], "thinking");
        assert_eq!(
            ev[4].1["delta"],
            json!({"type": "signature_delta", "signature": "sig"})
        );
        assert_eq!(
            ev[6].1["content_block"],
            json!({"type": "text", "text": ""})
        );
        assert_eq!(ev[8].1["delta"]["text"], "lo");
        assert_eq!(ev[10].1["index"], 2);
        assert_eq!(ev[10].1["content_block"]["id"], "call_1");
        assert_eq!(
            ev[11].1["delta"],
            json!({"type": "input_json_delta", "partial_json": "{\"a\":"})
        );
        assert_eq!(ev[14].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(ev[14].1["usage"]["output_tokens"], 9);
    }

    #[test]
    fn an_empty_stream_still_is_a_complete_message() {
        let mut w = EventWriter::new("gpt", 3);
        let mut out = String::new();
        w.finish(None, &mut out);
        let names: Vec<String> = events(&out).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["message_start", "ping", "message_delta", "message_stop"]
        );
    }
}
