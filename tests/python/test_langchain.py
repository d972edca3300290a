"""LangChain without LiteLLM: ``ChatLLMSwitch`` (a ``langchain_core`` chat model) and
``LLMSwitchEmbeddings``, against the loopback mock server in OpenAI's wire format: invoke,
stream, batch, tools, structured output, usage and response metadata, a Router backend, and
a multi-turn tool-using agent."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

import llmswitch
from conftest import TEST_KEY, chunk, sse
from llmswitch.integrations.langchain import ChatLLMSwitch, LLMSwitchEmbeddings


def completion(
    content: str | None = "Hi there.",
    tool_calls: list[dict[str, Any]] | None = None,
    finish: str = "stop",
    usage: dict[str, Any] | None = None,
    **message: Any,
) -> dict[str, Any]:
    # Unique, as providers' are (LangGraph merges messages by id).
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "tool_calls": tool_calls, **message},
                "finish_reason": finish,
            }
        ],
        "usage": usage or {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
    }


def tool_call(name: str, args: dict[str, Any] | str, call_id: str = "call_1") -> dict[str, Any]:
    arguments = args if isinstance(args, str) else json.dumps(args)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.fixture()
def model(server) -> ChatLLMSwitch:
    return ChatLLMSwitch(model="openai/gpt-4o", api_base=server.base_url, api_key=TEST_KEY, temperature=0)


def sent(server, i: int = -1) -> dict[str, Any]:
    return server.requests[i]["body"]


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}, 21 C"


class Person(BaseModel):
    """A person."""

    name: str = Field(description="Their name")
    age: int


def test_import_llmswitch_does_not_import_langchain():
    code = "import sys, llmswitch; assert 'langchain_core' not in sys.modules, 'imported'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_invoke_maps_messages_usage_and_metadata(server, model):
    server.enqueue(
        json=completion(
            "Hello!",
            usage={
                "prompt_tokens": 20,
                "completion_tokens": 5,
                "total_tokens": 25,
                "prompt_tokens_details": {"cached_tokens": 8},
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
            reasoning_content="They greeted me.",
        )
    )
    history = [
        SystemMessage("Be brief."),
        HumanMessage("What is the weather?"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_9"}]),
        ToolMessage("Sunny", tool_call_id="call_9"),
        HumanMessage("Thanks"),
    ]
    answer = model.invoke(history, stop=["END"])
    body = sent(server)
    assert body["model"] == "gpt-4o" and body["temperature"] == 0 and body["stop"] == ["END"]
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assert body["messages"][2]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_9", "content": "Sunny"}
    assert isinstance(answer, AIMessage)
    assert answer.content == "Hello!"
    assert answer.id.startswith("chatcmpl-")
    assert answer.usage_metadata == {
        "input_tokens": 20,
        "output_tokens": 5,
        "total_tokens": 25,
        "input_token_details": {"cache_read": 8},
        "output_token_details": {"reasoning": 2},
    }
    meta = answer.response_metadata
    assert meta["model_name"] == "gpt-4o" and meta["finish_reason"] == "stop"
    assert meta["llm_provider"] == "openai"
    assert meta["cost"] > 0
    assert answer.additional_kwargs["reasoning_content"] == "They greeted me."
    assert any(b["type"] == "reasoning" for b in answer.content_blocks)


def test_ainvoke_and_batch(server, model):
    server.enqueue(json=completion("async answer"))
    answer = asyncio.run(model.ainvoke("hi"))
    assert answer.content == "async answer"
    assert sent(server)["messages"] == [{"role": "user", "content": "hi"}]

    mock = ChatLLMSwitch(model="mock/m", model_kwargs={"mock_response": "same"})
    answers = mock.batch(["a", "b", "c"])
    assert [a.content for a in answers] == ["same"] * 3
    assert all(a.usage_metadata["total_tokens"] > 0 for a in answers)
    answers = asyncio.run(mock.abatch(["a", "b"]))
    assert [a.content for a in answers] == ["same"] * 2


def text_stream() -> list[str]:
    return [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({"content": " world"}),
        chunk({}, "stop"),
        sse(
            {
                "id": "chatcmpl-x",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o",
                "choices": [],
                "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
            }
        ),
        "data: [DONE]",
    ]


def test_stream_yields_tokens_then_usage_and_cost(server, model):
    server.enqueue(sse=text_stream())
    chunks = list(model.stream("hi"))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(c.content for c in chunks) == "Hello world"
    whole = chunks[0]
    for c in chunks[1:]:
        whole = whole + c
    assert whole.usage_metadata == {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}
    assert whole.response_metadata["finish_reason"] == "stop"
    assert whole.response_metadata["model_name"] == "gpt-4o"
    assert whole.response_metadata["cost"] > 0
    assert chunks[-1].chunk_position == "last"
    assert sent(server)["stream"] is True

    # invoke with streaming=True streams underneath and gives the same message.
    server.enqueue(sse=text_stream())
    streamed = ChatLLMSwitch(
        model="openai/gpt-4o", api_base=server.base_url, api_key=TEST_KEY, streaming=True
    ).invoke("hi")
    assert streamed.content == "Hello world" and streamed.usage_metadata["total_tokens"] == 9
    assert sent(server)["stream"] is True


def test_astream(server, model):
    server.enqueue(sse=text_stream())

    async def read() -> list[Any]:
        return [c async for c in model.astream("hi")]

    chunks = asyncio.run(read())
    assert "".join(c.content for c in chunks) == "Hello world"
    assert sum((c.usage_metadata or {}).get("total_tokens", 0) for c in chunks) == 9


def test_bind_tools_accepts_tools_models_and_dicts(server, model):
    server.enqueue(json=completion(None, [tool_call("get_weather", {"city": "Paris"})], "tool_calls"))
    as_dict = {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look up.",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    bound = model.bind_tools([get_weather, Person, as_dict], tool_choice="any")
    answer = bound.invoke("Weather in Paris?")
    body = sent(server)
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "Person", "lookup"]
    assert body["tools"][0]["function"]["parameters"]["properties"]["city"]["type"] == "string"
    assert body["tool_choice"] == "required"
    assert answer.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
    ]
    assert answer.response_metadata["finish_reason"] == "tool_calls"

    server.enqueue(json=completion(None, [tool_call("get_weather", '{"city": ')], "tool_calls"))
    broken = model.bind_tools([get_weather], tool_choice="get_weather", parallel_tool_calls=False).invoke("x")
    body = sent(server)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False
    assert broken.tool_calls == []
    assert broken.invalid_tool_calls[0]["name"] == "get_weather"


def test_streamed_tool_calls_become_tool_call_chunks(server, model):
    server.enqueue(
        sse=[
            chunk(
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_7",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ],
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
            chunk({}, "tool_calls"),
            "data: [DONE]",
        ]
    )
    chunks = list(model.bind_tools([get_weather]).stream("Weather in Oslo?"))
    first = next(c for c in chunks if c.tool_call_chunks)
    assert first.tool_call_chunks[0] == {
        "name": "get_weather",
        "args": "",
        "id": "call_7",
        "index": 0,
        "type": "tool_call_chunk",
    }
    whole = chunks[0]
    for c in chunks[1:]:
        whole = whole + c
    assert whole.tool_calls == [
        {"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_7", "type": "tool_call"}
    ]


def test_structured_output_by_tool_calling_and_json_schema(server, model):
    server.enqueue(json=completion(None, [tool_call("Person", {"name": "Ada", "age": 36})], "tool_calls"))
    person = model.with_structured_output(Person).invoke("Who wrote the first program?")
    assert person == Person(name="Ada", age=36)
    assert sent(server)["tool_choice"] == {"type": "function", "function": {"name": "Person"}}

    server.enqueue(json=completion(json.dumps({"name": "Grace", "age": 85})))
    person = model.with_structured_output(Person, method="json_schema", strict=True).invoke("Who?")
    assert person == Person(name="Grace", age=85)
    fmt = sent(server)["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Person"
    assert fmt["json_schema"]["strict"] is True
    assert set(fmt["json_schema"]["schema"]["properties"]) == {"name", "age"}

    server.enqueue(json=completion('{"name": "Alan", "age": 41}'))
    as_dict = model.with_structured_output(Person.model_json_schema(), method="json_mode").invoke("Who?")
    assert as_dict == {"name": "Alan", "age": 41}
    assert sent(server)["response_format"] == {"type": "json_object"}

    server.enqueue(json=completion("not json"))
    raw = model.with_structured_output(Person, method="json_schema", include_raw=True).invoke("Who?")
    assert raw["parsed"] is None and raw["parsing_error"] is not None
    assert raw["raw"].content == "not json"


def test_a_router_as_backend(server):
    router = llmswitch.Router(
        model_list=[
            {
                "model_name": "smart",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": server.base_url,
                    "api_key": TEST_KEY,
                },
                "model_info": {"id": "primary"},
            }
        ]
    )
    model = ChatLLMSwitch(router=router, model="smart")
    server.enqueue(json=completion("routed"))
    answer = model.invoke("hi")
    assert answer.content == "routed"
    assert answer.response_metadata["deployment"] == "primary"
    assert answer.response_metadata["model_group"] == "smart"
    server.enqueue(sse=text_stream())
    chunks = list(model.stream("hi"))
    assert "".join(c.content for c in chunks) == "Hello world"
    assert chunks[-1].response_metadata["deployment"] == "primary"
    server.enqueue(json=completion("async routed"))
    assert asyncio.run(model.ainvoke("hi")).content == "async routed"


@pytest.mark.filterwarnings("ignore:create_react_agent has been moved")
def test_a_multi_turn_tool_using_agent(server, model):
    """LangGraph's prebuilt ReAct agent: the model calls a tool, gets its result, answers."""
    langgraph = pytest.importorskip("langgraph.prebuilt")
    server.enqueue(json=completion(None, [tool_call("get_weather", {"city": "Lisbon"})], "tool_calls"))
    server.enqueue(json=completion("It is sunny in Lisbon, 21 C."))
    agent = langgraph.create_react_agent(model, [get_weather])
    result = agent.invoke({"messages": [("user", "What's the weather in Lisbon?")]})
    messages = result["messages"]
    assert [type(m).__name__ for m in messages] == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert messages[2].content == "Sunny in Lisbon, 21 C"
    assert messages[-1].content == "It is sunny in Lisbon, 21 C."
    assert server.hits == 2
    second = sent(server, 1)
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool"]
    tool_result = second["messages"][2]
    assert (tool_result["tool_call_id"], tool_result["content"]) == ("call_1", "Sunny in Lisbon, 21 C")
    assert second["tools"][0]["function"]["name"] == "get_weather"


def test_a_hand_written_agent_loop_async(server, model):
    """The same loop by hand, async: model → tool call → tool result → answer."""
    server.enqueue(
        json=completion(None, [tool_call("get_weather", {"city": "Rome"}, "call_r")], "tool_calls")
    )
    server.enqueue(json=completion("Rome is sunny."))
    bound = model.bind_tools([get_weather])

    async def run() -> list[Any]:
        messages: list[Any] = [HumanMessage("Weather in Rome?")]
        while True:
            reply = await bound.ainvoke(messages)
            messages.append(reply)
            if not reply.tool_calls:
                return messages
            for call in reply.tool_calls:
                messages.append(await get_weather.ainvoke(call))

    messages = asyncio.run(run())
    assert messages[-1].content == "Rome is sunny."
    assert isinstance(messages[2], ToolMessage) and messages[2].tool_call_id == "call_r"


def test_embeddings(server):
    emb = LLMSwitchEmbeddings("mock/embedder", dimensions=8)
    docs = emb.embed_documents(["alpha", "beta"])
    assert len(docs) == 2 and all(len(v) == 8 for v in docs)
    assert emb.embed_query("beta") == docs[1]
    assert asyncio.run(emb.aembed_documents(["alpha"])) == [docs[0]]
    assert asyncio.run(emb.aembed_query("alpha")) == docs[0]
    assert emb.embed_documents([]) == []

    router = llmswitch.Router(
        model_list=[
            {
                "model_name": "emb",
                "litellm_params": {
                    "model": "openai/text-embedding-3-small",
                    "api_base": server.base_url,
                    "api_key": TEST_KEY,
                },
            }
        ]
    )
    routed = LLMSwitchEmbeddings("emb", router=router)
    vectors = routed.embed_documents(["x", "y"])
    assert len(vectors) == 2
    assert sent(server)["input"] == ["x", "y"]
    assert len(asyncio.run(routed.aembed_query("z"))) == len(vectors[0])


def test_errors_are_llmswitchs_and_the_cache_applies(server, model):
    server.enqueue(status=429, json={"error": {"message": "slow down", "type": "rate_limit"}})
    with pytest.raises(llmswitch.RateLimitError):
        model.invoke("hi")
    llmswitch.cache = llmswitch.Cache()
    try:
        cached = ChatLLMSwitch(model="mock/m", model_kwargs={"mock_response": "kept"})
        question = f"q {uuid.uuid4().hex}"
        assert "cache_hit" not in cached.invoke(question).response_metadata
        again = cached.invoke(question)
        assert again.response_metadata["cache_hit"] is True
        assert again.response_metadata["cost"] == 0.0
    finally:
        llmswitch.cache = None
