"""Small fidelity points where llmswitch follows LiteLLM 1.106.2 (issue 10): Anthropic's
default max_tokens and counted reasoning tokens, a provider's service_tier outside OpenAI's
set, and token_counter on plain text."""

from __future__ import annotations

import json
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmswitch
from conftest import MESSAGES, TEST_KEY, chunk

CLAUDE = "anthropic/claude-sonnet-4-20250514"
THINKING = "Let me think about this carefully. The user says hi."


def anthropic_reply(content: list[dict[str, Any]], output_tokens: int) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": output_tokens},
    }


def test_anthropic_default_max_tokens_is_4096_not_the_output_limit(server):
    kw = {"api_base": server.url, "api_key": TEST_KEY}
    llmswitch.completion(model=CLAUDE, messages=MESSAGES, **kw)
    assert llmswitch.get_model_info(CLAUDE)["max_output_tokens"] > 4096
    assert server.requests[-1]["body"]["max_tokens"] == 4096
    llmswitch.completion(model=CLAUDE, messages=MESSAGES, reasoning_effort="low", **kw)
    assert server.requests[-1]["body"]["max_tokens"] == 1024 + 4096
    llmswitch.completion(model=CLAUDE, messages=MESSAGES, max_tokens=300, **kw)
    assert server.requests[-1]["body"]["max_tokens"] == 300


def test_anthropic_thinking_reports_counted_reasoning_tokens(server):
    server.enqueue(
        json=anthropic_reply(
            [{"type": "thinking", "thinking": THINKING, "signature": "s"}, {"type": "text", "text": "Hello"}],
            30,
        )
    )
    r = llmswitch.completion(model=CLAUDE, messages=MESSAGES, api_base=server.url, api_key=TEST_KEY)
    ChatCompletion.model_validate(r)
    # LiteLLM 1.106.2 reports 12 for this reply: the thinking text's tokens.
    assert r.usage.completion_tokens_details["reasoning_tokens"] == 12
    assert r.usage.completion_tokens == 30
    assert llmswitch.token_counter(model=CLAUDE, text=THINKING) == 12


def test_anthropic_stream_reports_counted_reasoning_tokens(server):
    def event(payload: dict[str, Any]) -> str:
        return f"event: {payload['type']}\ndata: {json.dumps(payload)}"

    start = anthropic_reply([], 1)
    server.enqueue(
        sse=[
            event({"type": "message_start", "message": start}),
            event(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "thinking", "thinking": ""},
                }
            ),
            event(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": THINKING},
                }
            ),
            event(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "signature_delta", "signature": "s"},
                }
            ),
            event({"type": "content_block_stop", "index": 0}),
            event({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            event(
                {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hello"}}
            ),
            event({"type": "content_block_stop", "index": 1}),
            event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 30},
                }
            ),
            event({"type": "message_stop"}),
        ]
    )
    chunks = list(
        llmswitch.completion(
            model=CLAUDE,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            api_base=server.url,
            api_key=TEST_KEY,
        )
    )
    usage = chunks[-1].usage
    assert (usage.completion_tokens, usage.completion_tokens_details["reasoning_tokens"]) == (30, 12)


def _groq_reply(tier: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "llama-3.3-70b-versatile",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        "service_tier": tier,
    }


def test_service_tier_outside_openais_set_is_normalised(server):
    kw = {"api_base": server.base_url, "api_key": TEST_KEY}
    server.enqueue(json=_groq_reply("on_demand"))
    r = llmswitch.completion(model="groq/llama-3.3-70b-versatile", messages=MESSAGES, **kw)
    # Groq's own tier would fail the openai SDK's types; LiteLLM maps it to "auto" too.
    assert r.service_tier == "auto"
    ChatCompletion.model_validate(r)
    assert r._hidden_params["provider_service_tier"] == "on_demand"

    server.enqueue(json=_groq_reply("flex"))
    r = llmswitch.completion(model="groq/llama-3.3-70b-versatile", messages=MESSAGES, **kw)
    assert r.service_tier == "flex"
    assert "provider_service_tier" not in r._hidden_params


def test_stream_chunks_service_tier_is_normalised(server):
    server.enqueue(
        sse=[
            chunk({"role": "assistant", "content": "hi"}, service_tier="on_demand"),
            chunk({}, "stop", service_tier="on_demand"),
            "data: [DONE]",
        ]
    )
    chunks = list(
        llmswitch.completion(
            model="groq/llama-3.3-70b-versatile",
            messages=MESSAGES,
            stream=True,
            api_base=server.base_url,
            api_key=TEST_KEY,
        )
    )
    assert [c.service_tier for c in chunks] == ["auto", "auto"]
    for c in chunks:
        ChatCompletionChunk.model_validate(c)


def test_token_counter_counts_text_without_chat_overhead():
    assert llmswitch.token_counter(model="gpt-4o", text="hello world") == 2
    assert llmswitch.token_counter(model="gpt-4o", text="hello world", count_response_tokens=True) == 2
    chat = llmswitch.token_counter(model="gpt-4o", messages=[{"role": "user", "content": "hello world"}])
    assert chat == 2 + 3 + 1 + 3  # text, per-message overhead, role, reply priming
