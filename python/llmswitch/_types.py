"""Response objects: plain ``dict`` subclasses whose keys also read as attributes.

``ModelResponse`` is a ``chat.completion``, ``ModelResponseStream`` a
``chat.completion.chunk`` and ``EmbeddingResponse`` an embeddings ``list``, exactly as the
OpenAI API returns them: ``json.dumps`` works,
``isinstance(r, dict)`` holds, and ``r.choices[0].message.content`` equals
``r["choices"][0]["message"]["content"]``. Metadata outside the OpenAI shape (provider,
api_base, cost) lives on ``r._hidden_params``, as in LiteLLM.
"""

from __future__ import annotations

# Annotation-only imports: `import llmswitch` must stay cheap, and `typing`, `json` and
# `copy` are imported where used (mypy reads `TYPE_CHECKING` by name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class AttrDict(dict):  # type: ignore[type-arg]
    """A ``dict`` whose keys can also be read (and set) as attributes."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!s} has no attribute or key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {k for k in self if isinstance(k, str)})

    def model_dump(self, **_kwargs: Any) -> dict[str, Any]:
        """A deep copy as plain dicts and lists (pydantic-style, for LiteLLM users)."""
        return _plain(self)  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        """Same as :meth:`model_dump`."""
        return _plain(self)  # type: ignore[no-any-return]

    def model_dump_json(self, **kwargs: Any) -> str:
        """The object as a JSON string."""
        import json

        return json.dumps(self, **kwargs)

    def json(self, **kwargs: Any) -> str:
        """The object as a JSON string (pydantic v1 name)."""
        import json

        return json.dumps(self, **kwargs)

    def __copy__(self) -> AttrDict:
        new = type(self)(self)
        state = getattr(self, "__dict__", None)
        if state:
            new.__dict__.update(state)
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> AttrDict:
        import copy

        new = type(self)()
        memo[id(self)] = new
        for k, v in self.items():
            new[copy.deepcopy(k, memo)] = copy.deepcopy(v, memo)
        state = getattr(self, "__dict__", None)
        if state:
            new.__dict__.update(copy.deepcopy(state, memo))
        return new


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class ModelResponse(AttrDict):
    """An OpenAI ``chat.completion``. ``_hidden_params`` holds llmswitch's metadata."""

    # No __slots__: instances carry a __dict__ for _hidden_params.
    _hidden_params: dict[str, Any]


class ModelResponseStream(AttrDict):
    """An OpenAI ``chat.completion.chunk``."""

    _hidden_params: dict[str, Any]


class EmbeddingResponse(AttrDict):
    """An OpenAI embeddings ``list``: ``data[i].embedding`` is the vector of input ``i``.
    ``_hidden_params`` holds llmswitch's metadata (provider, api_base, ``response_cost``)."""

    _hidden_params: dict[str, Any]
