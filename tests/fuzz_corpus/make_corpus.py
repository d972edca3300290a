"""Writes the seed corpus that `tests/fuzz.rs` replays and mutates from.

Run from the repository root: ``python tests/fuzz_corpus/make_corpus.py``. The files are
committed; rerun only to add seeds (a failing input found by a long run is added by hand to
its directory, named after what it broke).

- ``responses/``: success bodies of every provider family (chat and embeddings), in the
  shapes the providers document: tool calls, reasoning, refusals, safety blocks, logprobs.
- ``errors/``: error bodies (each family's error object, and non-JSON ones).
- ``streams/``: whole stream bodies: OpenAI-style SSE, Anthropic's and Cohere's named events,
  Gemini's SSE, Ollama's NDJSON and AWS's binary event stream (CRC-correct).
- ``configs/``: gateway ``config.yaml`` files.
- ``requests/``: OpenAI-format chat and embedding request bodies.
- ``anthropic_requests/``: Anthropic Messages bodies (the gateway's ``/v1/messages``).
"""

from __future__ import annotations

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "python"))

import faults  # noqa: E402


def write(kind: str, name: str, data: bytes | str | object) -> None:
    d = HERE / kind
    d.mkdir(exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    elif not isinstance(data, bytes):
        data = json.dumps(data, indent=1, ensure_ascii=False).encode()
    (d / name).write_bytes(data)


def main() -> None:
    text = 'Hello, wörld 😀 — "quoted" \\ back\nslash'
    for f in faults.FAMILIES:
        write("responses", f"{f.name}_chat.json", f.answer(text))
        write("errors", f"{f.name}_error.json", f.error_200)
        ext = {"application/x-ndjson": "ndjson", "application/vnd.amazon.eventstream": "eventstream"}.get(
            f.stream_type, "sse"
        )
        write("streams", f"{f.name}.{ext}", b"".join(f.frames(text)))
    # OpenAI: tool calls, logprobs, refusal, reasoning tokens, several choices.
    write(
        "responses",
        "openai_tools_logprobs.json",
        {
            "id": "chatcmpl-9",
            "object": "chat.completion",
            "created": 1733000000,
            "model": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_1",
            "service_tier": "default",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "refusal": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                            },
                            {
                                "id": "call_2",
                                "type": "function",
                                "function": {"name": "noop", "arguments": ""},
                            },
                        ],
                        "annotations": [],
                    },
                    "logprobs": {
                        "content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}]
                    },
                    "finish_reason": "tool_calls",
                },
                {
                    "index": 1,
                    "message": {"role": "assistant", "content": None, "refusal": "I can't help with that."},
                    "finish_reason": "stop",
                },
            ],
            "usage": {
                "prompt_tokens": 120,
                "completion_tokens": 30,
                "total_tokens": 150,
                "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 12, "audio_tokens": 0},
            },
        },
    )
    write(
        "responses",
        "anthropic_thinking_tools.json",
        {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-20250514",
            "content": [
                {"type": "thinking", "thinking": "Let me think.", "signature": "EqQBCkYIARgCIkB"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                {"type": "text", "text": "I'll check."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 100,
                "output_tokens": 40,
                "cache_creation_input_tokens": 10,
                "cache_read_input_tokens": 20,
            },
        },
    )
    write(
        "responses",
        "gemini_safety_block.json",
        {
            "candidates": [
                {
                    "finishReason": "SAFETY",
                    "index": 0,
                    "safetyRatings": [
                        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}
                    ],
                }
            ],
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
            "modelVersion": "gemini-2.5-flash",
        },
    )
    write(
        "responses",
        "gemini_function_thought.json",
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {"text": "plan", "thought": True},
                            {
                                "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                                "thoughtSignature": "c2ln",
                            },
                            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                        ],
                    },
                    "finishReason": "STOP",
                    "avgLogprobs": -0.2,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 10,
                "candidatesTokenCount": 5,
                "thoughtsTokenCount": 7,
                "cachedContentTokenCount": 2,
                "totalTokenCount": 22,
            },
        },
    )
    write(
        "responses",
        "bedrock_converse_tools.json",
        {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
                        {"text": "Calling."},
                        {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}},
                    ],
                }
            },
            "stopReason": "tool_use",
            "usage": {"inputTokens": 30, "outputTokens": 12, "totalTokens": 42, "cacheReadInputTokens": 4},
            "metrics": {"latencyMs": 321},
        },
    )
    write(
        "responses",
        "openai_embeddings.json",
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2, 3e-5]}],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 2, "total_tokens": 2},
        },
    )
    write(
        "responses",
        "openai_embeddings_base64.json",
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": "AACAPwAAAEA="}],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 2, "total_tokens": 2},
        },
    )
    write(
        "responses",
        "gemini_embeddings.json",
        {"embeddings": [{"values": [0.5, 0.25]}, {"values": [1.0, 0.0]}]},
    )
    write(
        "responses",
        "cohere_embeddings.json",
        {
            "id": "e",
            "embeddings": {"float": [[0.1, 0.2]]},
            "texts": ["a"],
            "meta": {"billed_units": {"input_tokens": 1}},
        },
    )
    write(
        "responses",
        "ollama_embeddings.json",
        {"model": "nomic-embed-text", "embeddings": [[0.1, 0.2]], "prompt_eval_count": 2},
    )
    write("responses", "titan_embedding.json", {"embedding": [0.1, 0.2], "inputTextTokenCount": 2})
    # Errors.
    write(
        "errors",
        "openai_rate_limit.json",
        {
            "error": {
                "message": "Rate limit reached for gpt-4o",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
    )
    write(
        "errors",
        "openai_context.json",
        {
            "error": {
                "message": "This model's maximum context length is 128000 tokens.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    )
    write(
        "errors",
        "anthropic_overloaded.json",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    write(
        "errors",
        "gemini_quota.json",
        {
            "error": {
                "code": 429,
                "message": "Resource has been exhausted",
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}],
            }
        },
    )
    write(
        "errors",
        "bedrock_throttling.json",
        {"message": "Too many requests, please wait before trying again."},
    )
    write(
        "errors",
        "azure_content_filter.json",
        {
            "error": {
                "message": "The response was filtered",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": {"hate": {"filtered": True, "severity": "high"}},
                },
            }
        },
    )
    write("errors", "html_gateway.html", "<html><body><h1>502 Bad Gateway</h1></body></html>\n")
    write("errors", "empty", b"")

    # Streams beyond the families' own: OpenAI tool-call deltas and a usage-only chunk.
    def chunk(delta: dict, finish: str | None = None, **extra: object) -> str:
        return (
            "data: "
            + json.dumps(
                {
                    "id": "chatcmpl-s",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "gpt-4o",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    **extra,
                }
            )
            + "\n\n"
        )

    write(
        "streams",
        "openai_tool_calls.sse",
        "".join(
            [
                chunk(
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ],
                    }
                ),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
                chunk({}, "tool_calls"),
                "data: "
                + json.dumps(
                    {
                        "id": "chatcmpl-s",
                        "object": "chat.completion.chunk",
                        "created": 1,
                        "model": "gpt-4o",
                        "choices": [],
                        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
                    }
                )
                + "\n\n",
                ": keep-alive comment\n\n",
                "data: [DONE]\n\n",
            ]
        ),
    )
    write(
        "streams",
        "openai_crlf_multiline.sse",
        (
            "retry: 100\r\nid: 1\r\nevent: message\r\n"
            'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",\r\n'
            'data: "choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\r\n\r\n'
            "data: [DONE]\r\n\r\n"
        ),
    )
    write(
        "streams",
        "anthropic_error_event.sse",
        'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n',
    )
    write(
        "streams",
        "anthropic_ping_thinking.sse",
        "".join(
            f"event: {e['type']}\ndata: {json.dumps(e)}\n\n"
            for e in [
                {
                    "type": "message_start",
                    "message": {
                        "id": "m",
                        "type": "message",
                        "role": "assistant",
                        "content": [],
                        "model": "claude",
                        "usage": {"input_tokens": 5, "output_tokens": 1},
                    },
                },
                {"type": "ping"},
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "thinking", "thinking": ""},
                },
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": "hmm"},
                },
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "signature_delta", "signature": "sig"},
                },
                {"type": "content_block_stop", "index": 0},
                {
                    "type": "content_block_start",
                    "index": 1,
                    "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                },
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": '{"a": '},
                },
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": "1}"},
                },
                {"type": "content_block_stop", "index": 1},
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use"},
                    "usage": {"output_tokens": 9},
                },
                {"type": "message_stop"},
            ]
        ),
    )
    write(
        "streams",
        "bedrock_exception.eventstream",
        faults.aws_event("throttlingException", {"message": "slow down"}),
    )
    write(
        "streams",
        "not_a_stream.json",
        faults.FAMILIES[0].answer("a JSON answer where a stream was asked for"),
    )
    # Gateway configs.
    write(
        "configs",
        "basic.yaml",
        """\
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
      rpm: 60
  - model_name: claude
    litellm_params:
      model: anthropic/claude-sonnet-4-20250514
      api_key: os.environ/ANTHROPIC_API_KEY
      timeout: 30
    model_info:
      id: claude-1
      input_cost_per_token: 0.000003
      output_cost_per_token: 0.000015
router_settings:
  routing_strategy: usage-based-routing-v2
  num_retries: 2
  allowed_fails: 3
  cooldown_time: 30
litellm_settings:
  drop_params: true
  fallbacks: [{"gpt-4o": ["claude"]}]
  success_callback: ["prometheus"]
general_settings:
  master_key: sk-llmswitch-fuzz-master
  database_url: /tmp/llmswitch-fuzz.sqlite
  proxy_batch_write_at: 10
""",
    )
    write(
        "configs",
        "everything.yaml",
        """\
environment_variables:
  FUZZ_KEY: sk-fuzz
model_list:
  - model_name: bedrock
    litellm_params:
      model: bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0
      aws_region_name: us-east-1
      aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID
  - model_name: vertex
    litellm_params:
      model: vertex_ai/gemini-2.5-flash
      vertex_project: p
      vertex_location: us-central1
  - model_name: azure
    litellm_params:
      model: azure/my-deployment
      api_base: https://example.openai.azure.com
      api_version: "2024-10-21"
      api_key: os.environ/FUZZ_KEY
  - model_name: embed
    litellm_params:
      model: openai/text-embedding-3-small
    model_info:
      mode: embedding
router_settings:
  routing_strategy: latency-based-routing
  retry_policy: {RateLimitErrorRetries: 3, TimeoutErrorRetries: 1}
  context_window_fallbacks: [{"azure": ["vertex"]}]
  enable_pre_call_checks: true
litellm_settings:
  cache: true
  cache_params: {type: local, ttl: 600}
  request_timeout: 60
  redis_host: ignored
general_settings:
  master_key: os.environ/FUZZ_KEY
  max_request_size_mb: 8
  shutdown_grace_seconds: 5
  header_read_timeout_seconds: 10
  disable_spend_logs: false
""",
    )
    write(
        "configs",
        "wrong_types.yaml",
        """\
model_list: {not: a list}
router_settings: [1, 2]
general_settings:
  max_request_size_mb: lots
""",
    )
    write(
        "configs",
        "anchors.yaml",
        """\
base: &base
  model: openai/gpt-4o
  api_key: sk-x
model_list:
  - model_name: a
    litellm_params: *base
  - model_name: b
    litellm_params:
      <<: *base
      temperature: 0.2
general_settings: {master_key: sk-llmswitch-fuzz-master}
""",
    )
    # OpenAI-format requests.
    write(
        "requests",
        "chat_tools.json",
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What's in this image?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "d",
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "city": {"type": "string", "enum": ["Paris", "Rome"]},
                                "days": {"type": "integer", "minimum": 1},
                            },
                            "required": ["city"],
                            "additionalProperties": False,
                            "$defs": {"x": {"type": "string"}},
                        },
                    },
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 100,
            "stop": ["\n\n"],
            "seed": 7,
            "n": 1,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "r",
                    "strict": True,
                    "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
                },
            },
            "stream": True,
            "stream_options": {"include_usage": True},
            "logit_bias": {"50256": -100},
            "user": "u-1",
            "metadata": {"tag": "fuzz"},
        },
    )
    write(
        "requests",
        "chat_reasoning.json",
        {
            "model": "o3-mini",
            "messages": [{"role": "developer", "content": "x"}, {"role": "user", "content": "hi"}],
            "reasoning_effort": "high",
            "max_completion_tokens": 1000,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "parallel_tool_calls": False,
        },
    )
    write(
        "requests",
        "embedding.json",
        {
            "model": "text-embedding-3-small",
            "input": ["a", "b"],
            "dimensions": 256,
            "encoding_format": "base64",
            "user": "u",
        },
    )
    write("requests", "embedding_tokens.json", {"model": "text-embedding-3-small", "input": [[1, 2, 3], [4]]})
    write(
        "anthropic_requests",
        "messages.json",
        {
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 1024,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "t", "signature": "s"},
                        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok", "is_error": False}
                    ],
                },
            ],
            "tools": [
                {
                    "name": "f",
                    "description": "d",
                    "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}},
                }
            ],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "stop_sequences": ["END"],
            "temperature": 1,
            "top_k": 5,
            "stream": True,
            "metadata": {"user_id": "u"},
        },
    )


if __name__ == "__main__":
    main()
