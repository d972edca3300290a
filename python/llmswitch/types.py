"""Names for type annotations: the response classes and the closed sets of strings that
llmswitch's functions take.

``completion()`` returns a :class:`ModelResponse` (with ``stream=True`` a
:class:`SyncStream`), ``await acompletion()`` the same (an :class:`AsyncStream` for
streams), ``embedding()`` an :class:`EmbeddingResponse`. Their parts are typed in the stubs
with LiteLLM's class names (``Choices``, ``Message``, ``StreamingChoices``, ``Delta``,
``Usage``, ``ChatCompletionMessageToolCall``, ``Embedding``), so editors complete
``r.choices[0].message.content`` and mypy flags ``r.choices[0].mesage``.

Strategy names and budget scopes are closed sets: a wrong one is a type error. Spend-report
group keys and budget periods are ``Literal`` names plus open forms (``"metadata.<field>"``,
a length such as ``"30d"``) that no ``Literal`` can spell, so those parameters also take a
``str`` (checked when the call runs).

Not imported by ``import llmswitch``: import it for annotations.
"""

from __future__ import annotations

from typing import Literal

from ._llmswitch import AsyncStream, SyncStream
from ._types import EmbeddingResponse, ModelResponse, ModelResponseStream

#: ``Router(routing_strategy=...)``: LiteLLM's strategy names (and their aliases).
RoutingStrategy = Literal[
    "simple-shuffle",
    "shuffle",
    "round-robin",
    "round_robin",
    "least-busy",
    "latency-based-routing",
    "cost-based-routing",
    "usage-based-routing",
    "usage-based-routing-v2",
]

#: ``spend_report(group_by=...)`` keys (also ``"metadata.<field>"``, any field).
SpendGroupKey = Literal[
    "model", "provider", "deployment", "user", "project", "key", "tag", "status", "error", "day", "hour"
]

#: ``budgets.add(scope=...)``.
BudgetScope = Literal["global", "user", "project", "key", "tag"]

#: ``budgets.add(period=...)`` calendar periods (UTC); a length such as ``"30d"``, ``"12h"``,
#: ``"15m"``, ``"90s"`` or ``"2w"`` is a run of fixed windows instead.
BudgetPeriod = Literal["daily", "weekly", "monthly", "yearly"]

__all__ = [
    "AsyncStream",
    "BudgetPeriod",
    "BudgetScope",
    "EmbeddingResponse",
    "ModelResponse",
    "ModelResponseStream",
    "RoutingStrategy",
    "SpendGroupKey",
    "SyncStream",
]
