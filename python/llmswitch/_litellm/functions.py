"""LiteLLM's module-level helper functions that have no llmswitch twin."""

from __future__ import annotations

import logging
import os
from typing import Any

from .. import _types

_TRUE = ("true", "1", "yes", "on")


def get_secret(secret_name: str, default_value: Any = None) -> Any:
    """LiteLLM's ``get_secret``: the environment variable ``secret_name`` (an
    ``os.environ/NAME`` reference is read as ``NAME``), or ``default_value``."""
    if secret_name.startswith("os.environ/"):
        secret_name = secret_name[len("os.environ/") :]
    value = os.environ.get(secret_name)
    if value is None:
        return default_value
    if value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def get_secret_bool(secret_name: str, default_value: bool | None = None) -> bool | None:
    """LiteLLM's ``get_secret_bool``: the environment variable as a bool."""
    if secret_name.startswith("os.environ/"):
        secret_name = secret_name[len("os.environ/") :]
    value = os.environ.get(secret_name)
    if value is None:
        return default_value
    return value.strip().lower() in _TRUE


def _turn_on_debug() -> None:
    """LiteLLM's ``_turn_on_debug``: debug logging for llmswitch's logger."""
    import llmswitch

    logger = logging.getLogger("llmswitch")
    logger.setLevel(logging.DEBUG)
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler())
    setattr(llmswitch, "set_verbose", True)  # noqa: B010


def _run(coro: Any) -> Any:
    """Run ``coro`` to completion from synchronous code, also when the calling thread
    already runs an event loop (a notebook): then in a helper thread with its own loop."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _progress(total: int, enabled: bool) -> Any:
    """A tqdm progress bar (the notebook one in notebooks) when asked for and installed."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    return tqdm(total=total)


def batch_completion(
    model: str, messages: list[Any] | None = None, *, show_progress: bool = False, **kwargs: Any
) -> list[Any]:
    """LiteLLM's ``batch_completion``: one completion per conversation in ``messages``, all
    at once; the results (a response, or the exception that call raised) in the order of
    the conversations. ``show_progress=True`` shows a progress bar (tqdm, if installed)."""
    import asyncio

    import llmswitch

    conversations = list(messages or [])
    bar = _progress(len(conversations), show_progress)

    async def one(conversation: Any) -> Any:
        try:
            return await llmswitch.acompletion(model, conversation, **kwargs)
        except Exception as e:  # returned in place, as LiteLLM does
            return e
        finally:
            if bar is not None:
                bar.update(1)

    async def all_of() -> list[Any]:
        return list(await asyncio.gather(*(one(c) for c in conversations)))

    try:
        return _run(all_of())  # type: ignore[no-any-return]
    finally:
        if bar is not None:
            bar.close()


def batch_completion_models(*args: Any, **kwargs: Any) -> Any:
    """LiteLLM's ``batch_completion_models``: the same call to every model in ``models=``
    at once; the first answer wins and the other requests are cancelled. Raises the last
    error if every model fails."""
    import asyncio

    import llmswitch

    models = list(kwargs.pop("models", None) or [])
    if "model" in kwargs:
        models.insert(0, kwargs.pop("model"))
    if not models:
        raise llmswitch.BadRequestError("batch_completion_models needs models=[...]")

    async def first() -> Any:
        pending = {asyncio.ensure_future(llmswitch.acompletion(m, *args, **kwargs)) for m in models}
        error: BaseException | None = None
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is None:
                        return task.result()
                    error = task.exception()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        assert error is not None
        raise error

    return _run(first())


def batch_completion_models_all_responses(*args: Any, **kwargs: Any) -> list[Any]:
    """LiteLLM's ``batch_completion_models_all_responses``: the same call to every model in
    ``models=`` at once; every response, in the order of ``models`` (an exception in place
    of a failed one)."""
    import asyncio

    import llmswitch

    models = list(kwargs.pop("models", None) or [])

    async def all_of() -> list[Any]:
        calls = (llmswitch.acompletion(m, *args, **kwargs) for m in models)
        return list(await asyncio.gather(*calls, return_exceptions=True))

    return _run(all_of())  # type: ignore[no-any-return]


def text_completion(prompt: Any = None, model: str | None = None, **kwargs: Any) -> Any:
    """LiteLLM's ``text_completion``: a prompt (or a list of prompts, one choice each)
    answered through the chat API, as a ``TextCompletionResponse`` (``object:
    "text_completion"``, ``choices[i].text``)."""
    import llmswitch

    from .types.utils import TextChoices, TextCompletionResponse

    if model is None:
        raise llmswitch.BadRequestError("text_completion needs model=")
    kwargs.pop("stream", None)
    prompts = prompt if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt) else [prompt]
    conversations = [[{"role": "user", "content": p if isinstance(p, str) else str(p)}] for p in prompts]
    if len(conversations) == 1:
        responses = [llmswitch.completion(model, conversations[0], **kwargs)]
    else:
        responses = batch_completion(model, conversations, **kwargs)
        for r in responses:
            if isinstance(r, BaseException):
                raise r
    first = responses[0]
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    choices = []
    for i, r in enumerate(responses):
        for key in usage:
            usage[key] += (r.get("usage") or {}).get(key, 0)
        c = r.choices[0]
        choices.append(
            TextChoices(
                text=c.message.content or "",
                index=i,
                logprobs=c.get("logprobs"),
                finish_reason=c.finish_reason,
            )
        )
    out = TextCompletionResponse(
        id=first.id,
        object="text_completion",
        created=first.created,
        model=first.model,
        choices=choices,
        usage=_types.Usage(usage),
    )
    out._hidden_params = dict(first._hidden_params)
    return out


def get_model_cost_map(url: str | None = None, **_kwargs: Any) -> dict[str, Any]:
    """LiteLLM's ``get_model_cost_map``: the model catalogue as a plain dict in LiteLLM's
    price-file format (llmswitch's built-in catalogue; ``url`` is not fetched)."""
    import llmswitch

    return {name: dict(info) for name, info in llmswitch.model_cost.items()}


def trim_messages(
    messages: list[dict[str, Any]],
    model: str | None = None,
    trim_ratio: float = 0.75,
    return_response_tokens: bool = False,
    max_tokens: int | None = None,
) -> Any:
    """LiteLLM's ``trim_messages``: drop the oldest non-system messages until the prompt
    fits ``max_tokens`` (default: ``trim_ratio`` of the model's input limit), keeping the
    system messages; with ``return_response_tokens`` also the tokens left for the
    answer."""
    import llmswitch

    if max_tokens is None:
        if model is None:
            return (messages, 0) if return_response_tokens else messages
        try:
            info = llmswitch.get_model_info(model)
            limit = info.get("max_input_tokens") or info.get("max_tokens")
        except Exception:
            limit = None
        if not limit:
            return (messages, 0) if return_response_tokens else messages
        max_tokens = int(limit * trim_ratio)

    def count(ms: list[dict[str, Any]]) -> int:
        return int(llmswitch.token_counter(model=model or "gpt-4o", messages=ms)) if ms else 0

    system = [m for m in messages if m.get("role") == "system"]
    rest = [m for m in messages if m.get("role") != "system"]
    while rest and count(system + rest) > max_tokens:
        rest.pop(0)
    while system and count(system + rest) > max_tokens:
        system.pop(0)
    kept_ids = {id(m) for m in system + rest}
    trimmed = [m for m in messages if id(m) in kept_ids]
    if return_response_tokens:
        return trimmed, max(max_tokens - count(trimmed), 0)
    return trimmed


def get_valid_models(
    check_provider_endpoint: bool | None = None,
    custom_llm_provider: str | None = None,
    litellm_params: Any = None,
    api_key: str | None = None,
    api_base: str | None = None,
) -> list[str]:
    """LiteLLM's ``get_valid_models``: the catalogue's models of every provider whose key
    is set (in the environment or on the module), or of ``custom_llm_provider`` only. The
    providers' endpoints are not queried."""
    import llmswitch

    from .._llmswitch import _keyed_providers

    providers = set(_keyed_providers())
    if custom_llm_provider is not None:
        providers &= {custom_llm_provider}
    return sorted(
        name for name, info in llmswitch.model_cost.items() if info.get("litellm_provider") in providers
    )
