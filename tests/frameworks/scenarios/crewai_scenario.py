"""CrewAI: an LLM call and a one-task crew."""

from __future__ import annotations

from _common import KEY, MODEL, chat, report, server
from crewai import LLM, Agent, Crew, Task

s = server()
out: dict = {}
llm = LLM(model=MODEL, base_url=s.base_url, api_key=KEY, is_litellm=True)
out["llm_class"] = type(llm).__name__
s.enqueue(json=chat("Hello from the crew."))
out["call"] = llm.call([{"role": "user", "content": "Say hello"}])

agent = Agent(
    role="Mathematician", goal="Add numbers", backstory="Careful with sums.", llm=llm, verbose=False
)
task = Task(description="What is 20 + 22?", expected_output="The sum", agent=agent)
crew = Crew(agents=[agent], tasks=[task], verbose=False)
s.enqueue(json=chat("Thought: I now know the final answer\nFinal Answer: 42"))
result = crew.kickoff()
out["crew"] = str(result.raw)
out["crew_tokens_above_zero"] = (result.token_usage.total_tokens or 0) > 0
report(out)
