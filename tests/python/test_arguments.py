"""Call arguments go through the core's front door: wrong values are explained in words a
person can act on (no Rust or serde jargon), mistyped keywords and providers get the
closest name, and nothing reaches the network."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import llmswitch

MESSAGES = [{"role": "user", "content": "hi"}]
JARGON = [
    "invalid type",
    "invalid value",
    "expected f64",
    "u32",
    "untagged",
    "variant",
    "`",
    "is not an instance",
]


def no_jargon(message: str) -> None:
    for word in JARGON:
        assert word not in message, message


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"temperature": "hot"}, "temperature must be a number, got the string 'hot'"),
        ({"max_tokens": -1}, "max_tokens must be a positive integer, got -1"),
        ({"max_tokens": 2.5}, "max_tokens must be a positive integer, got 2.5"),
        ({"stream": "yes"}, "stream must be True or False, got the string 'yes'"),
        ({"stop": 5}, "stop must be a string or a list of strings"),
        ({"tools": [{"type": "function"}]}, "tools[0] is missing the required field 'function'"),
        (
            {"messages": [{"role": "usr", "content": "hi"}]},
            "messages[0].role 'usr' is not one of system, user, assistant, tool, developer",
        ),
        (
            {"messages": [{"role": "user", "content": 5}]},
            "messages[0].content must be a string or a list of content parts",
        ),
        ({"metadata": "alice"}, "metadata must be a dict"),
        ({"model": None}, 'model must be a string like "openai/gpt-4o", got None'),
        ({"model": 5}, 'model must be a string like "openai/gpt-4o", got 5'),
    ],
)
def test_wrong_values_are_explained(server, openai_kw, kwargs: dict[str, Any], expected: str) -> None:
    call: dict[str, Any] = {"model": "openai/gpt-4o", "messages": MESSAGES, **openai_kw, **kwargs}
    with pytest.raises(llmswitch.BadRequestError) as info:
        llmswitch.completion(**call)
    assert expected in str(info.value)
    no_jargon(str(info.value))
    assert server.hits == 0


def test_async_and_router_calls_explain_the_same(server, openai_kw) -> None:
    with pytest.raises(llmswitch.BadRequestError, match="temperature must be a number"):
        asyncio.run(
            llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, temperature="hot", **openai_kw)
        )
    router = llmswitch.Router(
        model_list=[{"model_name": "g", "litellm_params": {"model": "openai/gpt-4o", **openai_kw}}]
    )
    with pytest.raises(llmswitch.BadRequestError, match="temperature must be a number, got the string 'hot'"):
        router.completion(model="g", messages=MESSAGES, temperature="hot")
    with pytest.raises(llmswitch.UnsupportedParamsError, match="did you mean 'temperature'"):
        router.completion(model="g", messages=MESSAGES, temprature=0.1)
    with pytest.raises(llmswitch.BadRequestError, match="hedge"):
        router.completion(model="g", messages=MESSAGES, hedge={"after_ms": "soon"})
    assert server.hits == 0


def test_a_mistyped_provider_gets_a_suggestion(server, openai_kw) -> None:
    with pytest.raises(llmswitch.BadRequestError) as info:
        llmswitch.completion(model="opneai/gpt-4o", messages=MESSAGES, **openai_kw)
    assert "Unknown provider 'opneai'" in str(info.value)
    assert "did you mean 'openai'?" in str(info.value).lower()
    with pytest.raises(llmswitch.BadRequestError, match="Did you mean 'anthropic'"):
        llmswitch.completion(model="claude-x", custom_llm_provider="antropic", messages=MESSAGES)
    assert server.hits == 0


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("temprature", "temperature"),
        ("max_token", "max_tokens"),
        ("api_bsae", "api_base"),
        ("timeuot", "timeout"),
    ],
)
def test_a_keyword_one_edit_from_a_known_one_is_not_sent(server, openai_kw, typo: str, meant: str) -> None:
    with pytest.raises(llmswitch.UnsupportedParamsError) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw, **{typo: 1})
    assert f"'{typo}'" in str(info.value)
    assert f"did you mean '{meant}'?" in str(info.value)
    assert server.hits == 0


def test_provider_specific_keywords_still_pass_through(server, openai_kw) -> None:
    llmswitch.completion(
        model="openai/gpt-4o", messages=MESSAGES, top_k=5, min_tokens=2, safety_mode="strict", **openai_kw
    )
    body = server.requests[0]["body"]
    assert (body["top_k"], body["min_tokens"], body["safety_mode"]) == (5, 2, "strict")


def test_embeddings_explain_and_suggest(server, openai_kw) -> None:
    with pytest.raises(llmswitch.UnsupportedParamsError, match="did you mean 'dimensions'"):
        llmswitch.embedding(model="openai/text-embedding-3-small", input="hi", dimension=8, **openai_kw)
    with pytest.raises(llmswitch.BadRequestError, match="model must be a string"):
        llmswitch.embedding(model=None, input="hi", **openai_kw)
    assert server.hits == 0


def test_an_exception_is_only_a_mock_response(server, openai_kw) -> None:
    with pytest.raises(llmswitch.BadRequestError, match="temperature cannot be an exception"):
        llmswitch.completion(
            model="openai/gpt-4o", messages=MESSAGES, temperature=ValueError("x"), **openai_kw
        )
    with pytest.raises(llmswitch.RateLimitError):
        llmswitch.completion(
            model="openai/gpt-4o",
            messages=MESSAGES,
            mock_response=llmswitch.RateLimitError("slow", "openai", "m"),
        )
