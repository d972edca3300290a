"""instructor: from_litellm with completion (sync) and acompletion (async client)."""

from __future__ import annotations

import asyncio

import instructor
import litellm
from _common import KEY, MODEL, chat, report, server
from pydantic import BaseModel


class User(BaseModel):
    name: str
    age: int


s = server()
out: dict = {}
client = instructor.from_litellm(litellm.completion)
s.enqueue(json=chat(None, [{"name": "User", "arguments": {"name": "Jason", "age": 25}}]))
u = client.chat.completions.create(
    model=MODEL, messages=[{"role": "user", "content": "Jason is 25"}], response_model=User,
    api_base=s.base_url, api_key=KEY,
)  # fmt: skip
out["sync"] = u.model_dump()

aclient = instructor.from_litellm(litellm.acompletion)
out["async_client"] = type(aclient).__name__


async def main() -> dict:
    s.enqueue(json=chat(None, [{"name": "User", "arguments": {"name": "Ivy", "age": 31}}]))
    v = await aclient.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Ivy is 31"}], response_model=User,
        api_base=s.base_url, api_key=KEY,
    )  # fmt: skip
    return v.model_dump()


out["async"] = asyncio.run(main())
report(out)
