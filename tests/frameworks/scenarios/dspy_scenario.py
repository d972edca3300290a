"""DSPy: a prediction and a streamed prediction through its LiteLLM engine."""

from __future__ import annotations

import asyncio

import dspy
from _common import KEY, MODEL, chat, report, server, stream_text

s = server()
out: dict = {}
lm = dspy.LM(MODEL, engine="litellm", api_base=s.base_url, api_key=KEY, cache=False)
dspy.configure(lm=lm, track_usage=True)

s.enqueue(json=chat("[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]"))
pred = dspy.Predict("question -> answer")(question="What is 2 + 2?")
out["answer"] = pred.answer
usage = pred.get_lm_usage() or {}
out["usage_total"] = sum((u or {}).get("total_tokens", 0) for u in usage.values())

streaming = dspy.streamify(
    dspy.Predict("question -> answer"),
    stream_listeners=[dspy.streaming.StreamListener(signature_field_name="answer")],
)


async def run_stream() -> tuple[list[str], str]:
    pieces: list[str] = []
    final = None
    async for value in streaming(question="What is 3 + 4?"):
        if isinstance(value, dspy.streaming.StreamResponse):
            pieces.append(value.chunk)
        elif isinstance(value, dspy.Prediction):
            final = value.answer
    return pieces, final


s.enqueue(sse=stream_text("[[ ## answer ## ]]\n", "Seven", " it is", "\n\n[[ ## completed ## ]]"))
pieces, final = asyncio.run(run_stream())
out["stream_text"] = "".join(pieces).strip()
out["stream_final"] = final
out["stream_pieces_above_one"] = len(pieces) > 1
report(out)
