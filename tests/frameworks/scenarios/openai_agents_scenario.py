"""OpenAI Agents SDK: an agent on LitellmModel that calls a tool, then answers."""

from __future__ import annotations

from _common import KEY, MODEL, chat, report, server
from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.extensions.models.litellm_model import LitellmModel

set_tracing_disabled(True)


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"It is sunny in {city}."


s = server()
out: dict = {}
agent = Agent(
    name="Assistant",
    instructions="Answer briefly.",
    model=LitellmModel(model=MODEL, base_url=s.base_url, api_key=KEY),
    tools=[get_weather],
)
s.enqueue(json=chat(None, [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]))
s.enqueue(json=chat("It is sunny in Tokyo."))
result = Runner.run_sync(agent, "Weather in Tokyo?")
out["final"] = result.final_output
out["tool_calls"] = [
    (i.raw_item.name, i.raw_item.arguments) for i in result.new_items if type(i).__name__ == "ToolCallItem"
]
out["tool_output"] = [i.output for i in result.new_items if type(i).__name__ == "ToolCallOutputItem"]
out["tokens"] = result.context_wrapper.usage.total_tokens
out["requests"] = result.context_wrapper.usage.requests
report(out)
