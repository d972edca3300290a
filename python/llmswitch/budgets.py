"""Budget policies: a spending limit per user, project, key, tag (or everything) over a
period, with actions at thresholds.

>>> from llmswitch import budgets
>>> budgets.add(limit=5.0, scope="user", id="alice", period="daily", actions=[
...     budgets.alert(notify, at=(0.8, 1.0)),
...     budgets.downgrade(to="gpt-4o-mini", at=0.9),
...     budgets.block(),
... ])

Every call through ``completion``/``acompletion`` (and the Router) is admitted against the
budgets that match its ``metadata`` before any network call: its projected cost (counted
prompt tokens at the input price plus ``max_tokens`` — 1024 when unset — at the output
price) is reserved, and the real cost settled when the call ends.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._llmswitch import (
    _budget_add,
    _budget_clear,
    _budget_deliver_alerts,
    _budget_remove,
    _budget_reset,
    _budget_status,
)

__all__ = ["add", "alert", "block", "clear", "deliver_alerts", "downgrade", "remove", "reset", "status"]

# Annotation-only names: `typing` costs a few ms at `import llmswitch` (mypy reads
# `TYPE_CHECKING` by name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, Union

    from .types import BudgetPeriod, BudgetScope

    #: One action of a budget: ``{"type": "block" | "downgrade" | "alert", ...}``.
    Action = dict[str, Any]
    Actions = Sequence[Union[Action, Sequence[Action]]]


def block(at: float = 1.0) -> Action:
    """Refuse calls (``BudgetExceededError``, before any network call) that could take spend
    past ``at`` times the limit.

    Args:
        at: the fraction of the limit (1.0 = 100 %).
    """
    return {"action": "block", "at": at}


def downgrade(to: str | Mapping[str, str], at: float = 1.0) -> Action:
    """Send calls that could take spend past ``at`` times the limit to a cheaper model. The
    response's ``_hidden_params["budget_downgraded_from"]`` names the model asked for.

    Args:
        to: the cheaper model for every call, or a dict ``{model: cheaper_model}`` (calls on
            other models are not downgraded).
        at: the fraction of the limit.
    """
    return {"action": "downgrade", "to": to if isinstance(to, str) else dict(to), "at": at}


def alert(callback: Callable[[dict[str, Any]], Any], at: float | Sequence[float] = 1.0) -> list[Action]:
    """Call ``callback(event)`` once per period when settled spend reaches ``at`` times the limit.

    The callback runs on the Python thread whose llmswitch call returns after the crossing
    (never on an I/O thread). ``event`` has ``budget``, ``scope``, ``id``, ``threshold``,
    ``limit``, ``spent``, ``period``, ``period_start``, ``period_end`` and ``at``.

    Args:
        callback: a callable taking the event dict. Exceptions it raises go to
            ``sys.unraisablehook``; they do not fail the call.
        at: one fraction of the limit or several (``(0.8, 1.0)``).
    """
    thresholds = [at] if isinstance(at, (int, float)) else list(at)
    return [{"action": "alert", "callback": callback, "at": float(t)} for t in thresholds]


def add(
    limit: float,
    *,
    scope: BudgetScope = "global",
    id: str | None = None,
    period: BudgetPeriod | str | None = None,
    actions: Actions | None = None,
    name: str | None = None,
    start: Any = None,
) -> str:
    """Add a budget (replacing one with the same name).

    Args:
        limit: USD per period.
        scope: ``"global"`` (every call), ``"user"``, ``"project"``, ``"key"`` or ``"tag"``,
            matched against the call's ``metadata`` (``user=`` counts as the user).
        id: the user/project/key/tag counted; None: each one separately (a limit per user).
        period: ``"daily"``, ``"weekly"`` (from Monday), ``"monthly"``, ``"yearly"`` (UTC
            calendar periods), a length such as ``"30d"``, ``"1h"``, ``"90s"`` (windows
            from ``start``), or None for a total that never resets.
        actions: from :func:`block`, :func:`downgrade` and :func:`alert`; default: block
            at 100 %.
        name: unique name; default ``"<scope>:<id or *>:<period>"``.
        start: where fixed-length windows start (default: now).

    Returns:
        The budget's name. Spend the ledger already holds for the current period counts.

    Raises:
        ValueError: for an unknown scope or period, or a bad limit or threshold.
    """
    flat: list[Action] | None = None
    if actions is not None:
        flat = []
        for a in actions:
            if isinstance(a, Mapping):
                flat.append(dict(a))
            else:
                flat.extend(dict(x) for x in a)
    return _budget_add(limit, scope, id, period, flat, name, start)


def remove(name: str) -> bool:
    """Remove a budget; returns whether it existed."""
    return _budget_remove(name)


def clear() -> None:
    """Remove every budget."""
    _budget_clear()


def reset(name: str, id: str | None = None) -> bool:
    """Set a budget's spend in the current period back to zero (one member with ``id``);
    returns whether the budget exists."""
    return _budget_reset(name, id)


def status() -> list[dict[str, Any]]:
    """Every budget's ``spent``, ``reserved`` (calls in flight), ``remaining``, ``limit``
    and current ``period_start``/``period_end`` (Unix seconds), one dict per budget and
    member."""
    return _budget_status()


def deliver_alerts() -> None:
    """Call the callbacks of alerts queued so far (llmswitch also does this after every call)."""
    _budget_deliver_alerts()
