"""llmswitch: one call for every LLM provider.

``llmswitch.completion(model="anthropic/claude-sonnet-4-20250514", messages=[...])`` takes the
OpenAI chat format, translates it to the provider's native API, and returns the OpenAI
response shape, whatever answered. A drop-in for LiteLLM's functions, keyword names and
exception classes, with a Rust core.
"""

from __future__ import annotations

import os as _os
import sys as _sys
from collections.abc import Coroutine as _Coroutine
from collections.abc import Mapping as _Mapping
from types import ModuleType as _ModuleType

from . import budgets, exceptions, spend
from ._llmswitch import (
    BudgetManager,
    Cache,
    ModelCostMap,
    __version__,
    _after_fork_in_child,
    _default_names,
    _set_default,
    completion,
    completion_cost,
    cost_per_token,
    embedding,
    get_llm_provider,
    get_max_tokens,
    get_model_info,
    get_supported_openai_params,
    provider_names,
    register_model,
    spend_report,
    stream_chunk_builder,
    supports_function_calling,
    supports_parallel_function_calling,
    supports_pdf_input,
    supports_prompt_caching,
    supports_reasoning,
    supports_response_schema,
    supports_tool_choice,
    supports_vision,
    supports_web_search,
    token_counter,
    validate_environment,
)
from ._llmswitch import Coroutine as _NativeCoroutine
from ._llmswitch import Router as _NativeRouter
from ._llmswitch import acompletion as _acompletion
from ._llmswitch import aembedding as _aembedding
from ._types import AttrDict, EmbeddingResponse, ModelResponse, ModelResponseStream
from .exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    LLMSwitchError,
    MidStreamFallbackError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RejectedRequestError,
    RouterRateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnknownModelCostWarning,
    UnprocessableEntityError,
    UnsupportedParamsError,
)

# Typing-only names (mypy reads `TYPE_CHECKING` by name; `typing` costs ms at import).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


async def acompletion(model: Any, messages: Any = None, **kwargs: Any) -> Any:
    """Async twin of :func:`completion`: same arguments; ``await`` it for a
    ``ModelResponse`` (with ``stream=True``, an async iterator of chunks). An ``async def``,
    as LiteLLM's is, so ``inspect.iscoroutinefunction`` holds."""
    return await _acompletion(model, messages, **kwargs)


async def aembedding(model: Any, input: Any = None, **kwargs: Any) -> Any:
    """Async twin of :func:`embedding`: same arguments; ``await`` it for an
    ``EmbeddingResponse``."""
    return await _aembedding(model, input, **kwargs)


class Router(_NativeRouter):
    """Deployments behind model-group names, with retries, cooldowns and fallbacks (see
    docs/router.md). ``acompletion`` and ``aembedding`` are ``async def``; the class can be
    subclassed (the native router is built from the constructor's arguments)."""

    #: The deployments as given (LiteLLM's ``router.model_list``): dicts with
    #: ``model_name``, ``litellm_params`` and ``model_info``.
    model_list: list[dict[str, Any]]
    #: ``default_litellm_params`` as given.
    default_litellm_params: dict[str, Any]
    #: ``model_group_alias`` as given: ``{alias: group}`` or ``{alias: {"model": group,
    #: "hidden": bool}}``.
    model_group_alias: dict[str, Any]

    if not TYPE_CHECKING:  # type checkers read the native constructor's signature

        def __new__(cls, model_list=None, *args, **kwargs):
            entries = None if model_list is None else [_entry(e) for e in model_list]
            self = _NativeRouter.__new__(cls, entries, *args, **kwargs)
            self.model_list = entries or []
            self.default_litellm_params = dict(kwargs.get("default_litellm_params") or {})
            self.model_group_alias = dict(kwargs.get("model_group_alias") or {})
            # LiteLLM's model_info.id: given, or the id the native router generated (its
            # deployments are in model_list order).
            _set_ids(self.model_list, list(_NativeRouter.stats(self)))
            return self

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # Everything was read by the native __new__; this lets subclasses call
            # super().__init__(...) with the same arguments.
            pass

    @classmethod
    def from_config(cls, config: Any, *, clock: Any = None) -> Router:
        """A Router from the proxy's config (``model_list``, ``router_settings`` and the
        router's ``litellm_settings``), as a YAML file or an already parsed mapping; an
        instance of this class (of a subclass, called on one), so ``acompletion`` is
        ``async def``. ``router_settings.redis_url`` (or ``redis_host``, ``redis_port``,
        ``redis_password``) shares cooldowns and deployment usage through that Redis, as
        the constructor's ``redis_*`` arguments do. ``litellm_settings.cache: true`` (with
        ``cache_params``, as the gateway reads them) or ``router_settings.cache_responses``
        (in that Redis if named, else in memory) sets ``llmswitch.cache`` unless one is set
        and caches the router's calls.

        Raises:
            BadRequestError: for an unreadable file, invalid YAML, or an invalid config.
        """
        self: Any = cls.__new__(cls, clock=clock)
        model_list, defaults, aliases = _NativeRouter._load_config(self, config)
        self.model_list = model_list
        self.default_litellm_params = defaults
        self.model_group_alias = aliases
        return self

    def set_model_list(self, model_list: list[Any]) -> None:
        """LiteLLM's ``set_model_list``: serve these deployments instead (the settings
        stay). Deployments whose id stays keep their cooldowns and averages; calls already
        running finish on the old list."""
        entries = [_entry(e) for e in model_list]
        _set_ids(entries, _NativeRouter._set_model_list(self, entries))
        self.model_list = entries

    def add_deployment(self, deployment: Any) -> dict[str, Any] | None:
        """LiteLLM's ``add_deployment``: add a deployment (a dict, or LiteLLM's
        ``Deployment``) to its model group (or a new one). Returns it, with its
        ``model_info.id``; None if a deployment already has its id."""
        entry = _entry(deployment)
        model_id = _NativeRouter._add_deployment(self, entry)
        if model_id is None:
            return None
        entry["model_info"].setdefault("id", model_id)
        self.model_list.append(entry)
        return entry

    def upsert_deployment(self, deployment: Any) -> dict[str, Any] | None:
        """LiteLLM's ``upsert_deployment``: add the deployment, or replace the one with its
        ``model_info.id`` (moved to the end of ``model_list``, as LiteLLM re-adds it).
        Returns it; None when that deployment is already configured exactly so."""
        entry = _entry(deployment)
        model_id = _NativeRouter._upsert_deployment(self, entry)
        if model_id is None:
            return None
        entry["model_info"].setdefault("id", model_id)
        self.model_list = [d for d in self.model_list if d["model_info"].get("id") != model_id]
        self.model_list.append(entry)
        return entry

    def delete_deployment(self, id: str) -> dict[str, Any] | None:
        """LiteLLM's ``delete_deployment``: remove the deployment with this
        ``model_info.id``. Returns it, or None for an unknown id."""
        if not _NativeRouter._delete_deployment(self, id):
            return None
        for i, d in enumerate(self.model_list):
            if d["model_info"].get("id") == id:
                return self.model_list.pop(i)
        return None

    async def acompletion(self, model: Any, messages: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Async twin of :meth:`completion`."""
        return await _NativeRouter.acompletion(self, model, messages, **kwargs)

    async def aembedding(self, model: Any, input: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Async twin of :meth:`embedding`."""
        return await _NativeRouter.aembedding(self, model, input, **kwargs)

    def _alias_target(self, name: str, listing: bool) -> str | None:
        """The group alias ``name`` names (None for a hidden alias when ``listing``)."""
        target = self.model_group_alias.get(name)
        if isinstance(target, dict):
            if listing and target.get("hidden") is True:
                return None
            target = target.get("model")
        return target if isinstance(target, str) else None

    def get_model_list(
        self, model_name: str | None = None, team_id: str | None = None
    ) -> list[dict[str, Any]]:
        """LiteLLM's ``get_model_list``: the deployments (of group ``model_name``, if
        given), with those of each ``model_group_alias`` listed under the alias (hidden
        aliases only when asked for by name), and for a name only a wildcard group
        serves, that group's deployments under the name."""
        out: list[dict[str, Any]] = []
        if model_name is not None:
            out += [d for d in self.model_list if d.get("model_name") == model_name]
        aliases = list(self.model_group_alias) if model_name is None else [model_name]
        for alias in aliases:
            if alias not in self.model_group_alias:
                continue
            target = self._alias_target(alias, listing=model_name is None)
            out += [
                {**d, "model_name": alias}
                for d in self.model_list
                if target and d.get("model_name") == target
            ]
        if not out and model_name is not None:
            group = _NativeRouter._group_of(self, model_name)
            if group is not None and "*" in group:
                out += [
                    {**d, "model_name": model_name} for d in self.model_list if d.get("model_name") == group
                ]
        if model_name is None:
            out += self.model_list
        return out

    def get_model_names(self, team_id: str | None = None) -> list[str]:
        """The model groups, in model_list order, then the aliases that are not hidden."""
        names = _NativeRouter.get_model_names(self)
        for alias in self.model_group_alias:
            if alias not in names and self._alias_target(alias, listing=True) is not None:
                names.append(alias)
        return names

    def get_deployment(self, model_id: str) -> dict[str, Any] | None:
        """The deployment whose ``model_info.id`` is ``model_id`` (ids are given in
        ``model_info``, or generated), or None."""
        for d in self.model_list:
            if d["model_info"].get("id") == model_id:
                return d
        return None

    def get_model_info(self, id: str) -> dict[str, Any] | None:
        """LiteLLM's ``Router.get_model_info``: the deployment with this id, or None."""
        return self.get_deployment(id)

    def get_model_group_info(self, model_group: str) -> dict[str, Any] | None:
        """What the group's deployments can do, from the catalogue (LiteLLM's
        ``ModelGroupInfo`` fields: ``providers``, ``max_input_tokens``, prices, ``mode``,
        ``supports_*``): the largest limits and prices over the group, or None for an
        unknown group."""
        if model_group in self.model_group_alias:
            # As LiteLLM: a hidden alias has no group info.
            target = self._alias_target(model_group, listing=True)
            if target is None:
                return None
            aliased = self.get_model_group_info(target)
            if aliased is not None:
                aliased["model_group"] = model_group
            return aliased
        deployments = self.get_model_list(model_group)
        if not deployments:
            return None
        info: dict[str, Any] = {"model_group": model_group, "providers": [], "mode": "chat"}
        flags = ("supports_vision", "supports_function_calling", "supports_parallel_function_calling",
                 "supports_web_search", "supports_reasoning")  # fmt: skip
        for flag in flags:
            info[flag] = False
        for d in deployments:
            model = str(d["litellm_params"].get("model", ""))
            try:
                provider = get_llm_provider(model)[1]
            except Exception:
                provider = model.split("/", 1)[0]
            if provider not in info["providers"]:
                info["providers"].append(provider)
            try:
                facts = get_model_info(model)
            except Exception:
                continue
            for key in (
                "max_input_tokens",
                "max_output_tokens",
                "input_cost_per_token",
                "output_cost_per_token",
            ):
                value = facts.get(key)
                if value is not None:
                    info[key] = max(info.get(key) or 0, value)
            info["mode"] = facts.get("mode") or info["mode"]
            for flag in flags:
                info[flag] = info[flag] or bool(facts.get(flag))
        for key in ("max_input_tokens", "max_output_tokens", "input_cost_per_token", "output_cost_per_token"):
            info.setdefault(key, None)
        return info


def _entry(deployment: Any) -> dict[str, Any]:
    """A model_list entry as a dict of its own (LiteLLM's pydantic ``Deployment`` through
    ``model_dump``), its ``litellm_params`` and ``model_info`` copied."""
    if not isinstance(deployment, dict) and hasattr(deployment, "model_dump"):
        deployment = deployment.model_dump()
    if not isinstance(deployment, dict):
        raise BadRequestError("a deployment must be a dict with model_name, litellm_params and model_info")
    entry = dict(deployment)
    key = (
        "litellm_params"
        if "litellm_params" in entry or "llmswitch_params" not in entry
        else "llmswitch_params"
    )
    entry[key] = dict(entry.get(key) or {})
    entry["model_info"] = dict(entry.get("model_info") or {})
    return entry


def _set_ids(entries: list[dict[str, Any]], ids: list[str]) -> None:
    """Give each entry the id the router has for it (given, or generated)."""
    if len(ids) == len(entries):
        for entry, model_id in zip(entries, ids):
            entry["model_info"].setdefault("id", model_id)


#: Drop parameters a provider does not support instead of raising
#: ``UnsupportedParamsError`` (the per-call ``drop_params=`` overrides it).
drop_params: bool = False

#: The largest response body (and the largest single stream event) read from a provider,
#: in bytes; a larger one raises ``APIError`` instead of filling memory. Process-wide,
#: applied when assigned; the environment variable ``LLMSWITCH_MAX_RESPONSE_BYTES`` sets it
#: at start-up (also for ``llmswitch proxy``). See RELIABILITY.md.
max_response_bytes: int = int(_os.environ.get("LLMSWITCH_MAX_RESPONSE_BYTES") or 256 * 1024 * 1024)

#: Call defaults used when a call gives none (LiteLLM's module settings): a key for every
#: provider, a base URL, retries and a timeout in seconds. Assigning them takes effect for
#: every later call, ``Router`` deployments included.
api_key: str | None = None
api_base: str | None = None
num_retries: int | None = None
request_timeout: float | None = None

#: LiteLLM's ``model_alias_map``: ``{"gpt-4": "openai/gpt-4o"}`` sends ``completion`` /
#: ``acompletion`` calls of ``gpt-4`` to ``openai/gpt-4o``. Assign a new dict to change it
#: (the core reads what was assigned; changing the dict in place does nothing).
model_alias_map: dict[str, str] = {}
#: LiteLLM's ``model_fallbacks``: the ``fallbacks`` of every ``completion`` /
#: ``acompletion`` call that gives none: models tried in turn after the call's own fails
#: (names, or ``{"model": ..., other arguments}`` dicts). Assign to change it.
model_fallbacks: list[Any] | None = None

#: The response cache (LiteLLM's ``litellm.cache``): ``llmswitch.Cache(type="local" |
#: "redis" | "disk", ...)``, or None for no caching. See docs/caching.md.
cache: Cache | None = None

#: Logging callbacks, as LiteLLM's: functions ``fn(kwargs, response, start_time, end_time)``
#: called when a call succeeds (a stream: when it ends) or fails, and
#: ``llmswitch.integrations.custom_logger.CustomLogger`` instances (in ``callbacks``: both).
success_callback: list[object] = []
failure_callback: list[object] = []
callbacks: list[object] = []
# LiteLLM's internal list of async success hooks, which some frameworks append to.
_async_success_callback: list[object] = []

#: Every provider name llmswitch knows.
provider_list: list[str] = provider_names()

_Mapping.register(ModelCostMap)
# The async API returns these; as registered coroutines, asyncio.create_task and
# asyncio.run accept them like LiteLLM's `async def` results.
_Coroutine.register(_NativeCoroutine)

if hasattr(_os, "register_at_fork"):
    # A forked child must not use runtimes (epoll instance, pooled sockets) it shares with
    # its parent: blocking calls get fresh ones there.
    _os.register_at_fork(after_in_child=_after_fork_in_child)


class _Package(_ModuleType):
    """The package's module class: assigning a call default (``llmswitch.api_key = ...``)
    hands it to the core, which every call reads."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CORE_SETTINGS:
            _set_default(name, value)
        super().__setattr__(name, value)


_CORE_SETTINGS = frozenset(_default_names())
_sys.modules[__name__].__class__ = _Package


def install_as_litellm() -> Any:
    """Make ``import litellm`` give llmswitch: registers the ``litellm`` module tree
    (``litellm``, ``litellm.types.utils``, ``litellm.exceptions``, ``litellm.router``, ...,
    see docs/litellm-compat.md) in ``sys.modules``, built from llmswitch's own objects.
    Call it before anything imports ``litellm``; agent frameworks that import ``litellm``
    then run on llmswitch unchanged. Returns the ``litellm`` module. Calling it again is a
    no-op.

    Raises:
        RuntimeError: if the real ``litellm`` is already imported (it cannot be replaced
            half-way: objects created by it would not be llmswitch's).
    """
    from ._litellm import install

    return install()


#: The model catalogue, read-only, in LiteLLM's price-file format:
#: ``model_cost["gpt-4o"]["input_cost_per_token"]``. Change it with :func:`register_model`.
model_cost: ModelCostMap = ModelCostMap()

__all__ = [
    "__version__",
    "completion",
    "acompletion",
    "embedding",
    "aembedding",
    "Router",
    "install_as_litellm",
    "api_key",
    "api_base",
    "num_retries",
    "request_timeout",
    "stream_chunk_builder",
    "get_supported_openai_params",
    "get_llm_provider",
    "provider_names",
    "provider_list",
    "model_cost",
    "ModelCostMap",
    "get_model_info",
    "register_model",
    "supports_vision",
    "supports_function_calling",
    "supports_parallel_function_calling",
    "supports_response_schema",
    "supports_reasoning",
    "supports_prompt_caching",
    "supports_web_search",
    "supports_pdf_input",
    "supports_tool_choice",
    "validate_environment",
    "get_max_tokens",
    "completion_cost",
    "cost_per_token",
    "token_counter",
    "spend",
    "spend_report",
    "budgets",
    "BudgetManager",
    "drop_params",
    "max_response_bytes",
    "cache",
    "Cache",
    "success_callback",
    "failure_callback",
    "callbacks",
    "AttrDict",
    "ModelResponse",
    "ModelResponseStream",
    "EmbeddingResponse",
    "exceptions",
    "LLMSwitchError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "BadRequestError",
    "ContextWindowExceededError",
    "ContentPolicyViolationError",
    "UnsupportedParamsError",
    "RejectedRequestError",
    "UnprocessableEntityError",
    "RateLimitError",
    "Timeout",
    "APIConnectionError",
    "InternalServerError",
    "ServiceUnavailableError",
    "MidStreamFallbackError",
    "APIError",
    "APIResponseValidationError",
    "BudgetExceededError",
    "RouterRateLimitError",
    "UnknownModelCostWarning",
]

if _os.environ.get("LLMSWITCH_AS_LITELLM", "").strip().lower() in ("1", "true", "yes", "on"):
    try:
        install_as_litellm()
    except RuntimeError as _e:
        import warnings as _warnings

        _warnings.warn(f"LLMSWITCH_AS_LITELLM is set, but {_e}", RuntimeWarning, stacklevel=2)
