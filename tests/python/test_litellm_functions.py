"""LiteLLM's module functions on the stand-in: validate_environment, get_valid_models,
get_model_cost_map, trim_messages, supports_*, text_completion and the batch calls."""

from __future__ import annotations

import pytest

import llmswitch
from conftest import MESSAGES, TEST_KEY
from llmswitch._litellm import functions as f
from llmswitch._litellm.types.utils import TextCompletionResponse


def test_validate_environment_names_the_missing_key(monkeypatch):
    assert llmswitch.validate_environment("anthropic/claude-sonnet-4-5") == {
        "keys_in_environment": False,
        "missing_keys": ["ANTHROPIC_API_KEY"],
    }
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    assert llmswitch.validate_environment("anthropic/claude-sonnet-4-5") == {
        "keys_in_environment": True,
        "missing_keys": [],
    }
    assert llmswitch.validate_environment("gpt-4o", api_key="sk-given")["keys_in_environment"]
    assert llmswitch.validate_environment() == {"keys_in_environment": False, "missing_keys": []}


def test_get_valid_models_lists_the_keyed_providers_models(monkeypatch):
    assert f.get_valid_models() == []
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    models = f.get_valid_models()
    assert "gpt-4o" in models and not any(m.startswith("claude") for m in models)
    assert f.get_valid_models(custom_llm_provider="anthropic") == []


def test_get_model_cost_map_is_the_catalogue_as_a_dict():
    cost = f.get_model_cost_map("https://not-fetched.invalid/prices.json")
    assert isinstance(cost, dict) and isinstance(cost["gpt-4o"], dict)
    assert cost["gpt-4o"]["input_cost_per_token"] == llmswitch.model_cost["gpt-4o"]["input_cost_per_token"]


def test_trim_messages_keeps_the_system_prompt_and_the_latest_turns():
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "old " * 200},
        {"role": "assistant", "content": "older answer " * 50},
        {"role": "user", "content": "latest question"},
    ]
    trimmed = f.trim_messages(messages, model="gpt-4o", max_tokens=40)
    assert trimmed == [messages[0], messages[3]]
    kept, left = f.trim_messages(messages, model="gpt-4o", max_tokens=40, return_response_tokens=True)
    assert kept == trimmed and 0 < left < 40
    assert f.trim_messages(messages[:1], model="gpt-4o", max_tokens=1000) == messages[:1]


def test_supports_functions_read_the_catalogue():
    assert llmswitch.supports_tool_choice("gpt-4o")
    assert llmswitch.supports_pdf_input("claude-sonnet-4-5")
    assert not llmswitch.supports_pdf_input("no-such-model-xyz")
    assert llmswitch.supports_web_search("gpt-4o-search-preview")
    assert not llmswitch.supports_web_search("text-embedding-3-small")


def test_text_completion_answers_as_a_text_completion():
    r = f.text_completion(prompt="Say hi", model="mock/m", mock_response="hi there")
    assert isinstance(r, TextCompletionResponse) and r.object == "text_completion"
    assert r.choices[0].text == "hi there" and r.choices[0].finish_reason == "stop"
    assert r.usage.total_tokens > 0
    many = f.text_completion(prompt=["a", "b"], model="mock/m", mock_response="x")
    assert [c.index for c in many.choices] == [0, 1] and [c.text for c in many.choices] == ["x", "x"]


def test_batch_completion_keeps_the_order_and_returns_errors_in_place(server):
    conversations = [[{"role": "user", "content": f"q{i}"}] for i in range(5)]
    out = f.batch_completion("mock/m", conversations)
    assert [r.choices[0].message.content for r in out] == [
        llmswitch.completion("mock/m", c).choices[0].message.content for c in conversations
    ]
    server.enqueue(status=401, json={"error": {"message": "bad key"}})
    mixed = f.batch_completion("openai/gpt-4o", [MESSAGES], api_base=server.base_url, api_key=TEST_KEY)
    assert isinstance(mixed[0], llmswitch.AuthenticationError)


def test_batch_completion_models_takes_the_first_answer(server):
    # The OpenAI-format model's answer is held back; the mock's comes first.
    server.enqueue(delay=5)
    r = f.batch_completion_models(
        models=["openai/gpt-4o", "mock/fast"], messages=MESSAGES, api_base=server.base_url, api_key=TEST_KEY
    )
    assert r._hidden_params["custom_llm_provider"] == "mock"


def test_batch_completion_models_raises_when_every_model_fails():
    with pytest.raises(llmswitch.RateLimitError):
        f.batch_completion_models(
            models=["mock/a", "mock/b"], messages=MESSAGES, mock_response="litellm.RateLimitError"
        )


def test_batch_completion_models_all_responses_in_model_order():
    out = f.batch_completion_models_all_responses(
        models=["mock/a", "mock/b"], messages=MESSAGES, mock_response="ok"
    )
    assert [r.model for r in out] == ["a", "b"]


def test_batch_calls_work_inside_a_running_event_loop():
    import asyncio

    async def inside() -> list:
        return f.batch_completion("mock/m", [MESSAGES, MESSAGES], mock_response="x")

    out = asyncio.run(inside())
    assert [r.choices[0].message.content for r in out] == ["x", "x"]


def test_get_secret_reads_the_environment(monkeypatch):
    monkeypatch.setenv("SOME_SECRET", "s3")
    monkeypatch.setenv("SOME_FLAG", "True")
    assert f.get_secret("SOME_SECRET") == "s3" and f.get_secret("os.environ/SOME_SECRET") == "s3"
    assert f.get_secret("MISSING_SECRET", "d") == "d"
    assert f.get_secret_bool("SOME_FLAG") is True and f.get_secret_bool("MISSING_FLAG") is None
