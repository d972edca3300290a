"""smolagents: a tool-calling agent with LiteLLMModel, then the same agent streamed."""

from __future__ import annotations

from _common import KEY, MODEL, chat, report, server, stream_tool_call
from smolagents import LiteLLMModel, ToolCallingAgent, tool


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first number.
        b: the second number.
    """
    return a + b


s = server()
out: dict = {}
model = LiteLLMModel(model_id=MODEL, api_base=s.base_url, api_key=KEY)
agent = ToolCallingAgent(tools=[add], model=model, max_steps=4)
s.enqueue(json=chat(None, [{"name": "add", "arguments": {"a": 2, "b": 3}}]))
s.enqueue(json=chat(None, [{"name": "final_answer", "arguments": {"answer": "5"}}]))
out["answer"] = str(agent.run("What is 2 + 3?"))
steps = [m for m in agent.memory.steps if getattr(m, "tool_calls", None)]
out["tools"] = [(c.name, c.arguments) for m in steps for c in m.tool_calls]
out["tokens_above_zero"] = (agent.monitor.get_total_token_counts().total_tokens or 0) > 0

streamed = ToolCallingAgent(tools=[add], model=model, max_steps=4, stream_outputs=True)
s.enqueue(sse=stream_tool_call("add", {"a": 4, "b": 5}))
s.enqueue(sse=stream_tool_call("final_answer", {"answer": "9"}))
events = list(streamed.run("What is 4 + 5?", stream=True))
out["stream_answer"] = str(events[-1].output if hasattr(events[-1], "output") else events[-1])
out["stream_deltas"] = sum(1 for e in events if type(e).__name__ == "ChatMessageStreamDelta") > 0
report(out)
