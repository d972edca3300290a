"""langchain-litellm: ChatLiteLLM invoke, stream, tools and structured output, and
ChatLiteLLMRouter."""

from __future__ import annotations

import litellm
from _common import KEY, MODE, MODEL, chat, report, server, stream_text  # noqa: F401
from langchain_core.tools import tool
from langchain_litellm import ChatLiteLLM, ChatLiteLLMRouter
from pydantic import BaseModel

s = server()
llm = ChatLiteLLM(model=MODEL, api_base=s.base_url, api_key=KEY)
out: dict = {}

s.enqueue(json=chat("Paris."))
r = llm.invoke("Capital of France?")
out["invoke"] = r.content
out["invoke_usage"] = r.usage_metadata and r.usage_metadata["total_tokens"]

s.enqueue(sse=stream_text("Hel", "lo ", "there"))
out["stream"] = "".join(c.content for c in llm.stream("Say hello"))


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


s.enqueue(json=chat(None, [{"name": "get_weather", "arguments": {"city": "Oslo"}}]))
r = llm.bind_tools([get_weather]).invoke("Weather in Oslo?")
out["tool_calls"] = [(c["name"], c["args"]) for c in r.tool_calls]


class Person(BaseModel):
    name: str
    age: int


s.enqueue(json=chat('{"name": "Ada", "age": 36}'))
p = llm.with_structured_output(Person).invoke("Ada, 36")
out["structured"] = p.model_dump()

router = litellm.Router(
    model_list=[
        {"model_name": "smart", "litellm_params": {"model": MODEL, "api_base": s.base_url, "api_key": KEY}}
    ]
)
s.enqueue(json=chat("Routed answer."))
rr = ChatLiteLLMRouter(router=router, model_name="smart").invoke("hi")
out["router"] = rr.content
report(out)
