"""llmswitch as ``litellm``: ``install_as_litellm()`` / ``LLMSWITCH_AS_LITELLM=1``, the module
tree, LiteLLM's type names, ``async def`` entry points, exception messages and the
module-level settings the core reads."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap

import pytest

import llmswitch
from conftest import MESSAGES, TEST_KEY, chunk

#: Every module the stand-in registers (docs/litellm-compat.md lists their names).
MODULES = [
    "litellm",
    "litellm.types",
    "litellm.types.utils",
    "litellm.types.router",
    "litellm.types.llms",
    "litellm.types.llms.openai",
    "litellm.utils",
    "litellm.main",
    "litellm.router",
    "litellm.exceptions",
    "litellm.integrations",
    "litellm.integrations.custom_logger",
    "litellm.caching",
    "litellm.caching.caching",
    "litellm.cost_calculator",
    "litellm.budget_manager",
    "litellm._logging",
    "litellm.litellm_core_utils",
    "litellm.litellm_core_utils.get_supported_openai_params",
    "litellm.litellm_core_utils.get_llm_provider_logic",
    "litellm.litellm_core_utils.litellm_logging",
]


def run(script: str, env: dict[str, str] | None = None) -> dict:
    """Run `script` in a fresh interpreter (the stand-in changes sys.modules for good); it
    prints one JSON document as its last line."""
    full_env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_llmswitch_does_not_build_the_stand_in():
    out = run(
        """
        import json, sys
        import llmswitch
        print(json.dumps({"loaded": sorted(n for n in sys.modules if "litellm" in n)}))
        """
    )
    assert out["loaded"] == []


def test_the_module_tree_is_llmswitchs_own_objects(server):
    out = run(
        f"""
        import importlib, json
        import llmswitch
        litellm = llmswitch.install_as_litellm()
        import litellm as again
        mods = {MODULES!r}
        for m in mods:
            importlib.import_module(m)
        from litellm.caching.caching import Cache
        from litellm.integrations.custom_logger import CustomLogger
        from litellm.litellm_core_utils.get_supported_openai_params import get_supported_openai_params
        from litellm.types.router import Deployment, LiteLLM_Params, RetryPolicy, DeploymentTypedDict
        from litellm.types.utils import CallTypes, StandardCallbackDynamicParams, StandardLoggingPayload, Logprobs
        caught = None
        try:
            litellm.completion(model="mock/m", messages=[{{"role": "user", "content": "hi"}}],
                               mock_response="litellm.RateLimitError")
        except litellm.exceptions.RateLimitError as e:
            caught = str(e)
        print(json.dumps({{
            "same": litellm is again and litellm.completion is llmswitch.completion,
            "exceptions": litellm.exceptions is llmswitch.exceptions
                and litellm.RateLimitError is llmswitch.RateLimitError,
            "cache": Cache is llmswitch.Cache and litellm.caching.Cache is llmswitch.Cache,
            "logger": CustomLogger is llmswitch.integrations.custom_logger.CustomLogger,
            "params": get_supported_openai_params("gpt-4o") == llmswitch.get_supported_openai_params("gpt-4o"),
            "router": litellm.Router is llmswitch.Router and litellm.router.Router is llmswitch.Router,
            "caught": caught,
            "utils_attr": litellm.utils.ModelResponse is llmswitch.ModelResponse,
            "idempotent": llmswitch.install_as_litellm() is litellm,
        }}))
        """
    )
    assert out.pop("caught").startswith("litellm.RateLimitError: ")
    assert all(out.values()), out


def test_env_var_installs_at_import():
    out = run(
        """
        import json, sys
        import llmswitch
        import litellm
        print(json.dumps({"standin": getattr(litellm, "__llmswitch__", False)}))
        """,
        env={"LLMSWITCH_AS_LITELLM": "1"},
    )
    assert out == {"standin": True}


def test_an_already_imported_litellm_is_not_half_replaced():
    out = run(
        """
        import json, sys, types
        real = types.ModuleType("litellm")
        real.__file__ = "/site-packages/litellm/__init__.py"
        sys.modules["litellm"] = real
        import llmswitch
        try:
            llmswitch.install_as_litellm()
            msg = None
        except RuntimeError as e:
            msg = str(e)
        print(json.dumps({"msg": msg, "kept": sys.modules["litellm"] is real}))
        """
    )
    assert out["kept"] and "already imported" in out["msg"] and "/site-packages/litellm" in out["msg"]


def test_responses_are_litellm_classes_with_model_extra(server, openai_kw):
    out = run(
        """
        import json
        import llmswitch
        llmswitch.install_as_litellm()
        import litellm
        from litellm.types.utils import (ModelResponse, ModelResponseBase, Choices, Message, Usage,
            ChatCompletionMessageToolCall, Function, EmbeddingResponse, Embedding)
        calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
        r = litellm.completion(model="mock/m", messages=[{"role": "user", "content": "hi"}],
                               mock_tool_calls=calls)
        e = litellm.embedding(model="mock/e", input=["a"])
        m = r.choices[0].message
        print(json.dumps({
            "isinstance": [isinstance(r, ModelResponse), isinstance(r, ModelResponseBase),
                isinstance(r.choices[0], Choices), isinstance(m, Message), isinstance(r.usage, Usage),
                isinstance(m.tool_calls[0], ChatCompletionMessageToolCall),
                isinstance(m.tool_calls[0].function, Function), isinstance(e, EmbeddingResponse),
                isinstance(e.data[0], Embedding), isinstance(e.usage, Usage), isinstance(r, dict)],
            "module": type(r).__module__,
            "extra": sorted(r.model_extra),
            "message_extra": m.model_extra,
        }))
        """
    )
    assert all(out["isinstance"]), out
    assert out["module"] == "litellm.types.utils"
    # As LiteLLM's pydantic ModelResponse: `usage` is outside its declared fields.
    assert out["extra"] == ["usage"]
    assert out["message_extra"] == {}


def test_streamed_tool_call_deltas_carry_every_field(server, openai_kw):
    server.enqueue(
        sse=[
            chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                   "function": {"name": "lookup", "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"q": 1}'}}]}),
            chunk({}, "tool_calls"),
            "data: [DONE]",
        ]
    )  # fmt: skip
    chunks = list(llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw))
    first, second = (c.choices[0].delta.tool_calls[0] for c in chunks[:2])
    assert type(first).__name__ == "ChatCompletionDeltaToolCall"
    assert (first.id, first.type, first.index, first.function.name, first.function.arguments) == (
        "call_1",
        "function",
        0,
        "lookup",
        "",
    )
    # LiteLLM's objects have every field on every chunk, None where the chunk has none.
    assert (second.id, second.type, second.index, second.function.name, second.function.arguments) == (
        None,
        None,
        0,
        None,
        '{"q": 1}',
    )
    assert type(chunks[0].choices[0]).__name__ == "StreamingChoices"
    assert type(chunks[0].choices[0].delta).__name__ == "Delta"
    assert chunks[0].choices[0].delta.model_extra["role"] == "assistant"


def test_async_entry_points_are_coroutine_functions():
    assert inspect.iscoroutinefunction(llmswitch.acompletion)
    assert inspect.iscoroutinefunction(llmswitch.aembedding)
    assert inspect.iscoroutinefunction(llmswitch.Router.acompletion)
    assert inspect.iscoroutinefunction(llmswitch.Router.aembedding)
    router = llmswitch.Router(model_list=[{"model_name": "m", "litellm_params": {"model": "mock/m"}}])
    assert inspect.iscoroutinefunction(router.acompletion)


def test_router_can_be_subclassed():
    class Tracking(llmswitch.Router):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.calls = 0

        def completion(self, model, messages=None, **kwargs):
            self.calls += 1
            return super().completion(model, messages, **kwargs)

    r = Tracking(model_list=[{"model_name": "m", "litellm_params": {"model": "mock/m"}}])
    out = r.completion("m", MESSAGES, mock_response="hello")
    assert out.choices[0].message.content == "hello" and r.calls == 1
    assert r.get_model_names() == ["m"]

    import asyncio

    async def go():
        return await r.acompletion("m", MESSAGES, mock_response="async hello")

    assert asyncio.run(go()).choices[0].message.content == "async hello"


def test_exception_messages_and_codes_are_litellms():
    e = llmswitch.RateLimitError("slow down", llm_provider="openai", model="gpt-4o")
    assert e.message == "litellm.RateLimitError: slow down" and str(e).startswith(e.message)
    assert e.code == "429"
    assert llmswitch.BadRequestError("bad", "openai", "m").code is None
    assert llmswitch.AuthenticationError("x").provider_specific_fields is None
    m = llmswitch.MidStreamFallbackError(
        "cut", model="gpt-4o", llm_provider="openai", generated_content="Hel", is_pre_first_chunk=False
    )
    assert isinstance(m, llmswitch.ServiceUnavailableError) and m.status_code == 503
    assert m.generated_content == "Hel" and m.message == "litellm.MidStreamFallbackError: cut"
    # Re-raised from mock_response, the prefix is not doubled.
    with pytest.raises(llmswitch.RateLimitError) as info:
        llmswitch.completion(model="mock/m", messages=MESSAGES, mock_response=e)
    assert info.value.message.count("litellm.RateLimitError") == 1


def test_get_llm_provider_is_litellms_4_tuple(monkeypatch):
    assert llmswitch.get_llm_provider("gpt-4o") == ("gpt-4o", "openai", None, None)
    assert llmswitch.get_llm_provider("groq/llama3") == (
        "llama3",
        "groq",
        None,
        "https://api.groq.com/openai/v1",
    )
    monkeypatch.setenv("GROQ_API_KEY", "gsk-from-env")
    assert llmswitch.get_llm_provider("groq/llama3")[2] == "gsk-from-env"
    assert llmswitch.get_llm_provider("x", "openai", "http://h", "k") == ("x", "openai", "k", "http://h")


# --- module settings the core reads -------------------------------------------------------


@pytest.fixture()
def settings(monkeypatch):
    """Module settings are process-wide: each test puts back what it changed."""
    for name in ("api_key", "api_base", "num_retries", "request_timeout", "drop_params"):
        monkeypatch.setattr(llmswitch, name, getattr(llmswitch, name))
    yield
    for name in ("api_key", "api_base", "num_retries", "request_timeout"):
        llmswitch._set_default(name, None)


def test_module_api_key_and_api_base_are_used(server, settings):
    llmswitch.api_key = "sk-module-0123456789"
    llmswitch.api_base = server.base_url
    r = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES)
    assert r.choices[0].message.content
    sent = server.requests[0]
    assert sent["headers"]["authorization"] == "Bearer sk-module-0123456789"
    # A key given on the call wins.
    llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, api_key=TEST_KEY)
    assert server.requests[1]["headers"]["authorization"] == f"Bearer {TEST_KEY}"


def test_module_num_retries_retries(server, openai_kw, settings):
    server.enqueue(status=429, json={"error": {"message": "slow"}}, headers={"retry-after-ms": "1"})
    with pytest.raises(llmswitch.RateLimitError):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    server.reset()
    server.enqueue(status=429, json={"error": {"message": "slow"}}, headers={"retry-after-ms": "1"})
    llmswitch.num_retries = 1
    r = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    assert r.choices[0].message.content and server.hits == 2


def test_module_request_timeout_applies(server, openai_kw, settings):
    llmswitch.request_timeout = 0.2
    server.enqueue(delay=5)
    with pytest.raises(llmswitch.Timeout):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)


def test_module_drop_params_applies(server, openai_kw, settings):
    with pytest.raises(llmswitch.UnsupportedParamsError):
        llmswitch.completion(model="perplexity/sonar", messages=MESSAGES, n=2, **openai_kw)
    assert server.hits == 0
    llmswitch.drop_params = True
    r = llmswitch.completion(model="perplexity/sonar", messages=MESSAGES, n=2, **openai_kw)
    assert r.choices[0].message.content
    assert "n" not in server.requests[-1]["body"]


def test_litellm_module_settings_reach_the_core(server):
    out = run(
        f"""
        import json
        import llmswitch
        litellm = llmswitch.install_as_litellm()
        litellm.openai_key = "sk-openai-only-0123"
        litellm.api_base = {server.base_url!r}
        litellm.drop_params = True
        r = litellm.completion(model="openai/gpt-4o", messages=[{{"role": "user", "content": "hi"}}])
        print(json.dumps({{"ok": bool(r.choices[0].message.content), "drop": llmswitch.drop_params,
                          "base": llmswitch.api_base == litellm.api_base}}))
        """
    )
    assert out == {"ok": True, "drop": True, "base": True}
    assert server.requests[-1]["headers"]["authorization"] == "Bearer sk-openai-only-0123"


def test_fields_litellm_objects_always_have_read_as_none():
    r = llmswitch.completion(model="mock/m", messages=MESSAGES, mock_response="hi")
    assert r.usage.prompt_tokens_details is None and r.usage.completion_tokens_details is None
    assert r.choices[0].message.function_call is None
    assert r.choices[0].message.provider_specific_fields is None
    with pytest.raises(AttributeError):
        r.choices[0].message.no_such_field  # noqa: B018


def test_router_keeps_litellms_model_list():
    entries = [
        {"model_name": "fast", "litellm_params": {"model": "mock/a"}},
        {"model_name": "smart", "litellm_params": {"model": "mock/b"}, "model_info": {"id": "dep-b"}},
    ]
    router = llmswitch.Router(model_list=entries, default_litellm_params={"temperature": 0.1})
    assert [d["model_name"] for d in router.model_list] == ["fast", "smart"]
    assert router.model_list[1]["model_info"] == {"id": "dep-b"}
    assert router.model_list[0]["litellm_params"] == {"model": "mock/a"}
    assert router.default_litellm_params == {"temperature": 0.1}
